#!/usr/bin/env python3
"""test_cluster_members - the etcd membership API on a running cluster.

Three hosts (bootstrap + 2 joins). Checks, the etcd way: `etcdctl member
add` (POST /v2/members) shows an unstarted member; the new host started
with --initial-cluster ... --initial-cluster-state existing becomes a full
member with its name and client URL, and serves the data; PUT
/v2/members/<id> answers (never hangs); DELETE of the leader's own member
hands leadership over first, and the remaining hosts keep writing;
DELETE of an unknown id is 404. CLUSTER_IMPL=etcd runs it on etcd 3.4.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402


def main():
    cl.require_binary("ETCDCTL_BIN", "etcdctl",
                      "its checks run the real etcdctl against ovld")
    with cl.Lab("cluster-members") as lab:
        c = cl.Cluster(lab)
        if cl.form_three(lab, c):
            run(lab, c)
    lab.finish()


def started(srv, n):
    ms = cl.members(srv) or []
    return len(ms) == n and all(m["name"] and m["clientURLs"] for m in ms)


def run(lab, c):
    h1, h2, h3 = c.hosts
    cl.wait_until(lambda: started(h1, 3), 10)
    st, _, _ = cl.put(h1, "/m/before", "b", timeout=3.0)
    lab.check(st == 201, "write before the member add")

    h4 = lab.etcd("h4") if cl.is_etcd() else lab.ovld("h4")
    out = ""
    for _ in range(40):  # etcd refuses adds for a few s after a join
        rc, out, err = cl.etcdctl(h2.client_url, "member", "add", "h4",
                                  h4.peer_url)
        if rc == 0:
            break
        time.sleep(0.5)
    lab.check(rc == 0 and "ETCD_INITIAL_CLUSTER=" in out,
              "etcdctl member add h4 (POST /v2/members)", out + err)
    ms = cl.members(h3) or []
    un = [m for m in ms if h4.peer_url in m["peerURLs"]]
    lab.check(len(ms) == 4 and un and un[0]["clientURLs"] == [],
              "the added member is listed, unstarted (no client URLs)",
              repr(ms))
    init = [ln.split("=", 1)[1].strip('"') for ln in out.splitlines()
            if ln.startswith("ETCD_INITIAL_CLUSTER=")]
    if cl.is_etcd():
        h4.extra_args += ["--initial-cluster", init[0] if init else "",
                          "--initial-cluster-state", "existing"]
        how = "--initial-cluster-state existing"
    else:
        # ovld's credentials come from a join (the token's proof), so an
        # added member starts as any joining host does.
        h4.extra_args += ["--join", "127.0.0.1:%d" % h2.client_port]
        how = "--join and the token"
    c.hosts.append(h4)
    if not cl.start_with_check(lab, "h4 starts with " + how,
                               lambda: h4.start(timeout=30)):
        return
    lab.check(cl.wait_until(lambda: started(h1, 4), 15),
              "h4 is a full member with name and client URL",
              repr(cl.members(h1)))
    st, _, doc = cl.get(h4, "/m/before")
    lab.check(st == 200 and doc["node"]["value"] == "b",
              "h4 has the data written before it came", repr(doc))
    st, _, _ = cl.put(h4, "/m/from-h4", "4", timeout=3.0)
    lab.check(st == 201, "write on h4")
    same, trees = c.converged("/m", timeout=10)
    lab.check(same, "4 hosts converge", repr(trees))

    ids = {m["name"]: m["id"] for m in cl.members(h1) or []}
    t0 = time.monotonic()
    st, _, doc = cl.request(h2, "PUT", "/v2/members/%s" % ids.get("h4"),
                            body='{"peerURLs":["%s"]}' % h4.peer_url,
                            headers={"Content-Type": "application/json"})
    lab.check(st in (204, 409) and time.monotonic() - t0 < 3,
              "PUT /v2/members/<id> answers 204 or 409 at once (%s)" % st,
              repr(doc))
    st, _, doc = cl.request(h2, "DELETE", "/v2/members/123456789abcdef")
    lab.check_eq(st, 404, "DELETE of an unknown member is 404")

    ld = c.leader()
    if not lab.check(ld is not None, "a leader before removing it"):
        return
    st, _, doc = cl.request(ld, "DELETE", "/v2/members/%s" % ids[ld.name],
                            timeout=10)
    lab.check_eq(st, 204, "DELETE of the leader's own member (on itself)")
    rest = [s for s in c.hosts if s is not ld]
    new = cl.leader_among(rest, timeout=10)
    lab.check(new is not None and new is not ld,
              "leadership moved to %s" % (new.name if new else None))
    lab.check(cl.wait_until(lambda: len(cl.members(rest[0]) or []) == 3,
                            10), "3 members left")
    ld.stop()
    for s in rest:
        st, _, _ = cl.put(s, "/m/after-%s" % s.name, "a", timeout=3.0)
        lab.check(st == 201, "write on %s after the removal" % s.name)
    same, trees = c.converged("/m", timeout=10, hosts=rest)
    lab.check(same, "remaining hosts converge", repr(trees))
    rc, out, err = cl.etcdctl(rest[0].client_url, "cluster-health")
    lab.check(rc == 0 and "cluster is healthy" in out,
              "etcdctl cluster-health after the removal", out + err)


if __name__ == "__main__":
    main()
