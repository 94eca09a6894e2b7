#!/usr/bin/env python3
"""test_cluster_auth - etcd v2 auth state is replicated and durable.

Two hosts (bootstrap + --join, --snapshot-count 16). Users, roles and the
enabled switch are changed through both hosts; both then answer the same
listings and enforce the same rules (credentials checked by bcrypt on each
host). After both restart (SIGTERM, started again without --join) the state
and the passwords still hold. A third host joining after many writes gets
the state from a snapshot and enforces it at once. Runs against a real etcd
3.4 cluster too (CLUSTER_IMPL=etcd), which validates the checks.
"""

import base64
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402

SNAP = ["--snapshot-count", "16"]


def basic(user, pw):
    tok = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    return {"Authorization": "Basic " + tok}


ROOT = basic("root", "rootpw")
USER = basic("u", "upw")


def call(srv, method, path, doc=None, headers=None):
    hdrs = dict(headers or {})
    body = None
    if doc is not None:
        body = json.dumps(doc)
        hdrs["Content-Type"] = "application/json"
    st, _, got = cl.request(srv, method, path, body=body, headers=hdrs,
                            timeout=10.0)
    return st, got


def key(srv, method, k, headers=None, value=None):
    form = {"value": value} if value is not None else None
    st, _, doc = cl.request(srv, method, "/v2/keys" + k, form=form,
                            headers=headers, timeout=10.0)
    return st, doc


def setup(lab, h1, h2):
    """Root through h2 (a follower), the rest through h1."""
    steps = [
        (h2, "PUT", "/v2/auth/users/root",
         {"user": "root", "password": "rootpw"}, None, 201),
        (h1, "PUT", "/v2/auth/roles/app",
         {"role": "app", "permissions": {"kv": {"read": ["/app/*"],
                                                "write": ["/app/*"]}}},
         None, 201),
        (h2, "PUT", "/v2/auth/users/u",
         {"user": "u", "password": "upw", "roles": ["app"]}, None, 200),
        (h1, "PUT", "/v2/auth/enable", None, None, 200),
        (h2, "PUT", "/v2/auth/roles/guest",
         {"role": "guest", "revoke": {"kv": {"read": ["/*"],
                                             "write": ["/*"]}}}, ROOT, 200),
    ]
    for srv, method, path, doc, hdrs, want in steps:
        st, got = call(srv, method, path, doc, hdrs)
        lab.check(st == want, "%s %s on %s: %d" % (method, path, srv.name,
                                                  want),
                  "status %s body %r" % (st, got))


def enforced(lab, srv, what):
    """The rules of setup() hold on srv."""
    checks = [
        (call(srv, "GET", "/v2/auth/enable"), 200, {"enabled": True}),
        (key(srv, "PUT", "/app/x", USER, value=srv.name), 200, None),
        (key(srv, "GET", "/app/x", USER), 200, None),
        (key(srv, "GET", "/app/x"), 401, None),
        (key(srv, "PUT", "/other", USER, value="v"), 401, None),
        (key(srv, "GET", "/app/x", basic("u", "bad")), 401, None),
        (key(srv, "GET", "/other", ROOT), 404, None),
        (call(srv, "GET", "/v2/auth/users", headers=USER), 401, None),
    ]
    ok = True
    detail = []
    for (st, doc), want, body in checks:
        good = (st == want or (want == 200 and st == 201)) and (
            body is None or doc == body)
        ok &= good
        if not good:
            detail.append("got %s %r, want %d" % (st, doc, want))
    st, doc = call(srv, "GET", "/v2/auth/users", headers=ROOT)
    names = [u.get("user") for u in (doc or {}).get("users") or []]
    ok &= st == 200 and names == ["root", "u"]
    if names != ["root", "u"]:
        detail.append("users %s %r" % (st, doc))
    lab.check(ok, "%s: auth enforced on %s" % (what, srv.name),
              "; ".join(detail))


def race(lab, h1, h2):
    """The same user created (with roles: etcd's CreateUser, which answers
    200) through both hosts at once: each host checks its own copy, hashes
    and proposes; the apply lets one win (etcd's prevExist=false), the
    other answers 409 as etcd does, and both keep the winner's password."""
    got = {}

    def create(s):
        got[s.name] = call(s, "PUT", "/v2/auth/users/twin",
                           {"user": "twin", "password": s.name,
                            "roles": ["app"]}, ROOT)[0]
    ths = [threading.Thread(target=create, args=(s,)) for s in (h1, h2)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    codes = sorted(got.values())
    lab.check(codes == [200, 409],
              "the same user created on both hosts at once: 200 and 409",
              repr(got))
    if codes == [200, 409]:
        win = [n for n, c in got.items() if c == 200][0]
        lose = [n for n, c in got.items() if c == 409][0]
        ok = all(key(s, "GET", "/app/x", basic("twin", win))[0] == 200 and
                 key(s, "GET", "/app/x", basic("twin", lose))[0] == 401
                 for s in (h1, h2))
        lab.check(ok, "both hosts keep the winner's password")
    st, _ = call(h1, "DELETE", "/v2/auth/users/twin", headers=ROOT)
    lab.check(st == 200, "remove twin", str(st))


def restart(c):
    for s in c.hosts:
        s.stop()
        if hasattr(s, "join_args"):
            s.extra_args = [a for a in s.extra_args
                            if a not in s.join_args]
    for s in c.hosts:
        s.start(wait=False)
    for s in c.hosts:
        s.wait_healthy(30)


def main():
    with cl.Lab("cluster_auth") as lab:
        c = cl.Cluster(lab, SNAP if not cl.is_etcd() else ())
        h1 = c.bootstrap("h1")
        h2 = c.join("h2")
        setup(lab, h1, h2)
        for s in (h1, h2):
            cl.wait_until(lambda: call(s, "GET", "/v2/auth/enable")[1] ==
                          {"enabled": True}, 10)
            enforced(lab, s, "replicated")
        race(lab, h1, h2)
        restart(c)
        cl.wait_until(lambda: key(h1, "GET", "/app/x", USER)[0] == 200, 15)
        for s in (h1, h2):
            enforced(lab, s, "after restart")
        st, _ = call(h1, "PUT", "/v2/auth/users/u",
                     {"user": "u", "password": "new"}, ROOT)
        lab.check(st == 200, "password change through h1", str(st))
        for s in (h1, h2):
            ok = cl.wait_until(
                lambda: key(s, "GET", "/app/x", basic("u", "new"))[0] ==
                200, 10)
            old = key(s, "GET", "/app/x", USER)[0]
            lab.check(ok and old == 401,
                      "%s: new password works, old one is refused" % s.name,
                      "old -> %s" % old)
        st, _ = call(h2, "PUT", "/v2/auth/users/u",
                     {"user": "u", "password": "upw"}, ROOT)
        for i in range(40):  # past --snapshot-count: h3 gets a snapshot
            key(h1, "PUT", "/app/k%d" % i, ROOT, value="v")
        h3 = c.join("h3", ctl_args=["--username", "root:rootpw"])
        cl.wait_until(lambda: key(h3, "GET", "/app/x", USER)[0] == 200, 15)
        enforced(lab, h3, "joined after a snapshot")
        st, _ = call(h3, "POST", "/v2/members",
                     {"peerURLs": ["http://127.0.0.1:1"]})
        lab.check(st == 401, "member add without root: 401", str(st))
        st, _ = call(h3, "DELETE", "/v2/auth/enable", headers=ROOT)
        lab.check(st == 200, "disable through h3", str(st))
        for s in c.hosts:
            ok = cl.wait_until(lambda: key(s, "GET", "/app/x")[0] == 200,
                               10)
            lab.check(ok, "%s: keys open after disable" % s.name)
    lab.finish()


if __name__ == "__main__":
    main()
