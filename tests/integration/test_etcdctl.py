#!/usr/bin/env python3
"""test_etcdctl - the real `ETCDCTL_API=2 etcdctl` (etcd 3.4) against ovld.

etcdctl syncs with GET /v2/members before each command and then talks to
the published clientURLs, so this also checks that ovld publishes a
reachable client URL. test_auth runs etcdctl's v2 user, role and auth
commands (with --username) last, and leaves auth off. Outputs and exit
codes are the ones etcdctl prints against a real etcd (run with
OVLD_TEST_TARGET=etcd to see them hold).
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402


class Ctl:
    def __init__(self, lab, server):
        self.lab, self.server = lab, server

    def run(self, *args, timeout=20.0):
        return ovldlab.etcdctl(self.server.client_url, *args,
                               timeout=timeout)

    def ok(self, args, want_out=None, what=None):
        """Runs etcdctl ARGS; checks exit 0 and (optionally) stdout."""
        rc, out, err = self.run(*args)
        what = what or "etcdctl %s" % " ".join(args)
        good = rc == 0 and (want_out is None or out == want_out)
        self.lab.check(good, what, "rc=%d out=%r err=%r want=%r"
                       % (rc, out, err, want_out))
        return out

    def fails(self, args, code, errno, what=None):
        """Checks exit code `code` and "Error:  <errno>: ..." on stderr."""
        rc, out, err = self.run(*args)
        what = what or "etcdctl %s fails with %d" % (" ".join(args), errno)
        good = rc == code and re.search(r"Error:\s+%d: " % errno, err)
        self.lab.check(good, what, "rc=%d out=%r err=%r" % (rc, out, err))
        return err


def key_doc(server, key):
    st, _, doc = server.http().json("GET", "/v2/keys" + key)
    return st, doc


def test_basic(lab, ctl, srv):
    ctl.ok(["set", "/k", "v1"], "v1\n")
    ctl.ok(["get", "/k"], "v1\n")
    ctl.ok(["set", "/k", "v2"], "v2\n", "set replaces")
    ctl.ok(["set", "/k", "v3", "--swap-with-value", "v2"], "v3\n",
           "set --swap-with-value")
    ctl.fails(["set", "/k", "v4", "--swap-with-value", "nope"], 4, 101)
    st, doc = key_doc(srv, "/k")
    idx = str(doc["node"]["modifiedIndex"]) if doc else "0"
    ctl.ok(["set", "/k", "v5", "--swap-with-index", idx], "v5\n",
           "set --swap-with-index")
    ctl.fails(["get", "/missing"], 4, 100, "get missing: exit 4, error 100")
    rc, out, err = ctl.run("get", "/missing")
    lab.check("Key not found (/missing)" in err,
              "get missing prints 'Key not found (/missing)'", repr(err))
    ctl.ok(["mk", "/new", "n1"], "n1\n", "mk new key")
    ctl.fails(["mk", "/new", "n2"], 4, 105, "mk existing: exit 4, error 105")
    ctl.fails(["mk", "/k/under", "x"], 4, 104, "mk under a key: error 104")


def test_dirs(lab, ctl, srv):
    ctl.ok(["mkdir", "/d"], "", "mkdir")
    ctl.fails(["mkdir", "/d"], 4, 105, "second mkdir: 105")
    ctl.ok(["setdir", "/sd"], "", "setdir")
    ctl.fails(["setdir", "/sd"], 4, 102, "setdir on a dir: 102")
    rc, out, err = ctl.run("get", "/d")
    lab.check(rc == 1 and "/d: is a directory" in out + err,
              "get on a dir: 'is a directory', exit 1",
              "rc=%d out=%r err=%r" % (rc, out, err))
    ctl.ok(["set", "/d/a", "1"], "1\n")
    ctl.ok(["set", "/d/sub/b", "2"], "2\n")
    ctl.ok(["set", "/d/_hidden", "h"], "h\n")
    ctl.ok(["ls", "/d", "--sort"], "/d/a\n/d/sub\n", "ls --sort (no hidden)")
    ctl.ok(["ls", "/d", "--sort", "-p"], "/d/a\n/d/sub/\n", "ls --sort -p")
    ctl.ok(["ls", "/d", "-r", "--sort"], "/d/a\n/d/sub\n/d/sub/b\n",
           "ls -r --sort")
    out = ctl.ok(["ls", "--sort"], None, "ls of /")
    lab.check("/d\n" in out and "/k\n" in out, "ls / lists /d and /k",
              repr(out))
    ctl.ok(["mk", "--in-order", "/q", "job1"], "job1\n", "mk --in-order")
    ctl.ok(["mk", "--in-order", "/q", "job2"], "job2\n")
    out = ctl.ok(["ls", "/q", "--sort"], None, "ls in-order dir")
    keys = out.split()
    lab.check(len(keys) == 2 and all(re.fullmatch(r"/q/\d{20}", k)
                                     for k in keys) and keys == sorted(keys),
              "in-order keys are 20 digits, sorted", repr(out))
    ctl.ok(["updatedir", "/sd", "--ttl", "100"], "", "updatedir --ttl")
    st, doc = key_doc(srv, "/sd")
    lab.check(st == 200 and 90 <= doc["node"].get("ttl", 0) <= 100,
              "updatedir set a TTL on the dir", repr(doc))
    ctl.fails(["rmdir", "/d"], 4, 108, "rmdir non-empty: 108")
    ctl.ok(["rmdir", "/sd"], "", "rmdir empty dir")
    ctl.fails(["rm", "/d"], 4, 102, "rm on a dir without -r: 102")
    ctl.ok(["rm", "-r", "/d"], "", "rm -r")
    st, _ = key_doc(srv, "/d")
    lab.check_eq(st, 404, "rm -r removed the dir")


def test_update_rm(lab, ctl, srv):
    ctl.ok(["set", "/t", "a", "--ttl", "100"], "a\n", "set --ttl")
    st, doc = key_doc(srv, "/t")
    lab.check(st == 200 and "ttl" in doc["node"], "set --ttl gave a TTL",
              repr(doc))
    ctl.ok(["update", "/t", "b"], "b\n", "update")
    st, doc = key_doc(srv, "/t")
    lab.check(st == 200 and "ttl" not in doc["node"]
              and "expiration" not in doc["node"]
              and doc["node"]["value"] == "b", "update dropped the TTL",
              repr(doc))
    ctl.ok(["update", "/t", "c", "--ttl", "50"], "c\n", "update --ttl")
    ctl.fails(["update", "/nokey", "x"], 4, 100, "update missing: 100")
    ctl.ok(["rm", "/t"], "PrevNode.Value: c\n", "rm prints PrevNode.Value")
    ctl.fails(["rm", "/t"], 4, 100, "rm missing: 100")
    ctl.ok(["set", "/w1", "val"], "val\n")
    ctl.fails(["rm", "/w1", "--with-value", "other"], 4, 101,
              "rm --with-value mismatch: 101")
    # compareAndDelete: etcdctl prints PrevNode.Value only for "delete"
    ctl.ok(["rm", "/w1", "--with-value", "val"], "\n", "rm --with-value")
    ctl.ok(["set", "/w2", "x"], "x\n")
    st, doc = key_doc(srv, "/w2")
    idx = str(doc["node"]["modifiedIndex"])
    ctl.fails(["rm", "/w2", "--with-index", str(int(idx) + 100)], 4, 101,
              "rm --with-index mismatch: 101")
    ctl.ok(["rm", "/w2", "--with-index", idx], "\n", "rm --with-index")


def spawn_etcdctl(srv, *args):
    env = dict(os.environ, ETCDCTL_API="2")
    env.pop("ETCDCTL_ENDPOINTS", None)
    argv = [ovldlab.find_binary("ETCDCTL_BIN", "etcdctl"), "--endpoints",
            srv.client_url] + list(args)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def watchers(srv):
    st, _, doc = srv.http().json("GET", "/v2/stats/store")
    return doc.get("watchers", 0) if st == 200 and doc else 0


def wait_watcher(srv, before, timeout=10.0):
    """Returns once the server counts more live watchers than `before`:
    the background etcdctl has synced and parked its long-poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watchers(srv) > before:
            return True
        time.sleep(0.05)
    return False


def spawn_watch(lab, srv, *args):
    # A finished watch is freed when its client's socket closes; let the
    # count of the previous one settle (this test runs one at a time).
    deadline = time.monotonic() + 5.0
    while watchers(srv) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = watchers(srv)
    proc = spawn_etcdctl(srv, *args)
    lab.check(wait_watcher(srv, before), "etcdctl %s registered its watch"
              % " ".join(args))
    return proc


def finish(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out.decode(), err.decode()
    return proc.returncode, out.decode(), err.decode()


def test_watch(lab, ctl, srv):
    # etcdctl watch prints nothing until the event: write only once its
    # long-poll is parked (the server's live watcher count says so).
    w = spawn_watch(lab, srv, "watch", "/wk")
    ctl.ok(["set", "/wk", "hello"], "hello\n", "set while watching")
    rc, out, err = finish(w, 10)
    lab.check(rc == 0 and out == "hello\n", "watch prints one event",
              "rc=%r out=%r err=%r" % (rc, out, err))

    w = spawn_watch(lab, srv, "watch", "-r", "/wd")
    ctl.ok(["set", "/wd/sub/x", "deep"], "deep\n")
    rc, out, err = finish(w, 10)
    lab.check(rc == 0 and out == "[set] /wd/sub/x\ndeep\n",
              "watch -r prints [action] key and value",
              "rc=%r out=%r err=%r" % (rc, out, err))

    w = spawn_watch(lab, srv, "watch", "/wk")
    ctl.ok(["rm", "/wk"], "PrevNode.Value: hello\n")
    rc, out, err = finish(w, 10)
    lab.check(rc == 0 and "hello" in out and "panic" not in err,
              "watch sees a delete (needs prevNode)",
              "rc=%r out=%r err=%r" % (rc, out, err))

    ctl.ok(["set", "/ai", "1"], "1\n")
    st, doc = key_doc(srv, "/ai")
    idx = doc["node"]["modifiedIndex"]
    ctl.ok(["set", "/ai", "2"], "2\n")
    rc, out, err = ctl.run("watch", "--after-index", str(idx), "/ai",
                           timeout=10)
    lab.check(rc == 0 and out == "2\n", "watch --after-index from history",
              "rc=%r out=%r err=%r" % (rc, out, err))

    marker = os.path.join(lab.dir, "exec-watch.out")
    # etcdctl 3.4 quirk: without flags, the key comes *last*.
    ew = spawn_watch(lab, srv, "exec-watch", "sh", "-c",
                     "echo \"$ETCD_WATCH_ACTION $ETCD_WATCH_KEY "
                     "$ETCD_WATCH_VALUE\" > %s" % marker, "/ew")
    ctl.ok(["set", "/ew", "run"], "run\n")
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            with open(marker) as f:
                text = f.read()
            if text.endswith("\n"):
                break
        time.sleep(0.1)
    ew.kill()
    ew.communicate()
    lab.check_eq(text, "set /ew run\n", "exec-watch runs the command")


def test_members(lab, ctl, srv):
    out = ctl.ok(["member", "list"], None, "member list")
    want = (r"^[0-9a-f]+: name=x peerURLs=%s clientURLs=%s isLeader=true\n$"
            % (re.escape(srv.peer_url), re.escape(srv.client_url)))
    lab.check(re.match(want, out), "member list line", repr(out))
    rc, out, err = ctl.run("cluster-health")
    lab.check(rc == 0 and "cluster is healthy" in out
              and "got healthy result from %s" % srv.client_url in out,
              "cluster-health: cluster is healthy",
              "rc=%d out=%r err=%r" % (rc, out, err))
    rc, out, err = ovldlab.etcdctl("http://127.0.0.1:1", "get", "/k",
                                   timeout=20)
    lab.check(rc != 0, "no server: etcdctl fails",
              "rc=%d out=%r err=%r" % (rc, out, err))


ROOT = ["--username", "root:rootpw"]
U = ["--username", "u:upw"]
E110 = ("Error:  110: The request requires user authentication "
        "(Insufficient credentials) [0]\n")

# (args, exit code, stdout, stderr): what etcdctl 3.4 prints against etcd
# 3.4.23 for the same sequence (OVLD_TEST_TARGET=etcd checks it still does).
AUTH_STEPS = [
    (["auth", "enable"], 1, "",
     "auth: No root user available, please create one\n"),
    (["user", "add", "root:rootpw"], 0, "User root created\n", ""),
    (["user", "add", "root:rootpw"], 0, "User root created\n", ""),
    (["user", "list"], 0, "root\n", ""),
    (["user", "get", "root"], 0, "User: root\nRoles:  root\n", ""),
    (["role", "list"], 0, "root\n", ""),
    (["role", "add", "ra"], 0, "Role ra created\n", ""),
    (["role", "add", "ra"], 1, "", "Role ra already exists\n"),
    (["role", "grant", "ra", "--path", "/in/*", "--readwrite"], 0,
     "Role ra updated\n", ""),
    (["role", "grant", "ra", "--path", "/ro", "--read"], 0,
     "Role ra updated\n", ""),
    (["role", "grant", "ra", "--path", "/ro", "--read"], 1, "",
     "auth: Granting duplicate read permission /ro\n"),
    (["role", "get", "ra"], 0,
     "Role: ra\nKV Read:\n\t/in/*\n\t/ro\nKV Write:\n\t/in/*\n", ""),
    (["role", "get", "nope"], 1, "", "auth: Role nope does not exist.\n"),
    (["user", "add", "u:upw"], 0, "User u created\n", ""),
    (["user", "grant", "u", "--roles", "ra"], 0, "User u updated\n", ""),
    (["user", "grant", "u", "--roles", "ra"], 1, "",
     "auth: Granting duplicate role ra for user u\n"),
    (["user", "get", "u"], 0, "User: u\nRoles:  ra\n", ""),
    (["auth", "enable"], 0, "Authentication Enabled\n", ""),
    (["auth", "enable"], 1, "", "Insufficient credentials\n"),
    (ROOT + ["auth", "enable"], 1, "", "auth: already enabled\n"),
    (["user", "list"], 1, "", "Insufficient credentials\n"),
    (ROOT + ["user", "list"], 0, "root\nu\n", ""),
    (ROOT + ["role", "list"], 0, "guest\nra\nroot\n", ""),
    (U + ["set", "/in/k", "v"], 0, "v\n", ""),
    (U + ["get", "/in/k"], 0, "v\n", ""),
    (U + ["set", "/out", "v"], 4, "", E110),
    (["--username", "u:bad", "get", "/in/k"], 4, "", E110),
    (["get", "/in/k"], 0, "v\n", ""),
    (ROOT + ["role", "revoke", "guest", "--path", "/*", "--readwrite"], 0,
     "Role guest updated\n", ""),
    (["get", "/in/k"], 4, "", E110),
    (ROOT + ["role", "revoke", "ra", "--path", "/ro", "--read"], 0,
     "Role ra updated\n", ""),
    (ROOT + ["role", "revoke", "ra", "--path", "/ro", "--read"], 1, "",
     "auth: Role not updated. Use grant/revoke to update the role.\n"),
    (ROOT + ["user", "revoke", "u", "--roles", "ra"], 0,
     "User u updated\n", ""),
    (ROOT + ["user", "revoke", "u", "--roles", "ra"], 1, "",
     "auth: Revoking ungranted role ra for user u\n"),
    (ROOT + ["user", "remove", "root"], 1, "",
     "auth: Cannot delete root user while auth is enabled.\n"),
    (ROOT + ["user", "remove", "u"], 0, "User u removed\n", ""),
    (ROOT + ["user", "remove", "u"], 1, "", "auth: User u does not exist\n"),
    (ROOT + ["role", "remove", "ra"], 0, "Role ra removed\n", ""),
    (ROOT + ["role", "remove", "ra"], 1, "",
     "auth: Role ra doesn't exist.\n"),
]


def passwd(srv, user, new, auth=None):
    """etcdctl user passwd reads the new password from its terminal; a
    pipe works (its stty complaints on stderr are expected)."""
    argv = [ovldlab.find_binary("ETCDCTL_BIN", "etcdctl"), "--endpoints",
            srv.client_url] + (auth or []) + ["user", "passwd", user]
    env = dict(os.environ, ETCDCTL_API="2")
    env.pop("ETCDCTL_ENDPOINTS", None)
    p = subprocess.run(argv, env=env, input=(new + "\n").encode(),
                       capture_output=True, timeout=20)
    return p.returncode, p.stdout.decode(errors="replace")


def test_auth(lab, ctl, srv):
    for args, code, out, err in AUTH_STEPS:
        rc, o, e = ctl.run(*args)
        lab.check(rc == code and o == out and e == err,
                  "etcdctl %s -> %d %r%s" % (" ".join(args), code, out,
                                             " " + repr(err) if err else ""),
                  "rc=%d out=%r err=%r" % (rc, o, e))
    rc, out = passwd(srv, "root", "newpw", ROOT)
    lab.check(rc == 0 and out.endswith("Password updated\n"),
              "etcdctl user passwd root", "rc=%d out=%r" % (rc, out))
    rc, o, e = ctl.run("--username", "root:rootpw", "user", "list")
    lab.check(rc == 1 and e == "Insufficient credentials\n",
              "the old root password no longer works", repr((rc, o, e)))
    ctl.ok(["--username", "root:newpw", "user", "get", "root"],
           "User: root\nRoles:  root\n", "the new root password works")
    ctl.ok(["--username", "root:newpw", "auth", "disable"],
           "Authentication Disabled\n", "auth disable")
    rc, o, e = ctl.run("auth", "disable")
    lab.check(rc == 1 and e == "auth: already disabled\n",
              "auth disable again: already disabled", repr((rc, o, e)))
    ctl.ok(["user", "remove", "root"], "User root removed\n",
           "root can go once auth is off")
    ctl.ok(["role", "remove", "guest"], "Role guest removed\n")
    ctl.ok(["get", "/in/k"], "v\n", "keys open again")


def published(srv, timeout=15.0):
    """Waits until /v2/members lists the client URL: etcdctl's first sync
    needs it, and a loaded machine can answer /health before the member
    record is applied ("no published client endpoints")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, _, doc = srv.http().json("GET", "/v2/members")
        if st == 200 and any(m.get("clientURLs")
                             for m in (doc or {}).get("members") or []):
            return
        time.sleep(0.05)


def main():
    ovldlab.require_binary("ETCDCTL_BIN", "etcdctl",
                           "its checks run the real etcdctl against ovld")
    with ovldlab.Lab("etcdctl") as lab:
        srv = lab.target("x").start()
        published(srv)
        ctl = Ctl(lab, srv)
        for t in (test_basic, test_dirs, test_update_rm, test_watch,
                  test_members, test_auth):
            print("-- %s" % t.__name__, flush=True)
            t(lab, ctl, srv)
    lab.finish()


if __name__ == "__main__":
    main()
