#!/usr/bin/env python3
"""test_cluster_restart - the whole cluster goes down and comes back.

Three hosts (bootstrap + 2 joins) load RESTART_TEST_KEYS keys (default
100,000). Then all hosts stop (SIGTERM) and start again at once, the
joiners without --join. Checks: a quorum read is served after the
restart (the time is printed; serving within 1 s is a benchmark target,
not asserted here); the cluster id,
X-Etcd-Index and the whole tree (values and indexes) are unchanged on
every host; writes work. Then the same after kill -9 of all hosts (crash
restart), and a static --initial-cluster cluster restarted the same way
keeps its id and data.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402

KEYS = int(os.environ.get("RESTART_TEST_KEYS", "100000"))


def snapshot_state(c):
    c.converged("/r", timeout=30)
    h1 = c.hosts[0]
    return {"cid": cl.cluster_id(h1), "index": cl.etcd_index(h1),
            "tree": cl.tree(h1, "/r", timeout=60)}


def restart_all(lab, c, how):
    for s in c.hosts:
        if how == "kill":
            s.kill9()
        else:
            s.stop()
        if hasattr(s, "join_args"):
            s.extra_args = [a for a in s.extra_args
                            if a not in s.join_args]
    t0 = time.monotonic()
    for s in c.hosts:
        s.start(wait=False)

    # One client per host, as a real client would: retry while the port
    # is closed, else wait for the answer (a read parked until a leader
    # exists is fine, it is how the server should behave).
    done = []

    def reader(s):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not done:
            st, _, _ = cl.get(s, "/r/0000000", quorum=True, timeout=5.0)
            if st in (200, 404):  # 404: served, the key is not there
                done.append(time.monotonic())
                return
            time.sleep(0.02)
    ths = [threading.Thread(target=reader, args=(s,), daemon=True)
           for s in c.hosts]
    for th in ths:
        th.start()
    for th in ths:
        th.join(35)
    t1 = min(done) if done else None
    dt = (t1 - t0) if t1 else None
    print("     %s restart: first quorum read after %s" %
          (how, "%.0f ms" % (dt * 1000) if dt else "never"), flush=True)
    lab.check(dt is not None, "%s restart: quorum reads served again" % how)
    # The 1 s target is a performance figure (printed above, reported in
    # docs/benchmarks.md); a shared CI machine must not turn it into a
    # flaky failure, so only a hang counts here. Under ASan (sanitize.sh)
    # loading 100k keys is several times slower: 12-14 s seen on 2 loaded
    # cores with the code of 2026-12-01 as well.
    bound = 40.0 if os.environ.get("OVLD_SANITIZED") == "1" else 10.0
    lab.check(dt is not None and dt <= bound,
              "%s restart: a quorum read within %.0f s" % (how, bound),
              "took %s s" % dt)
    for s in c.hosts:
        try:
            s.wait_healthy(30)
        except RuntimeError as e:
            lab.check(False, "%s healthy after the restart" % s.name,
                      str(e))


def compare(lab, c, before, how):
    for s in c.hosts:
        lab.check_eq(cl.cluster_id(s), before["cid"],
                     "%s restart: %s keeps the cluster id" % (how, s.name))
        lab.check_eq(cl.etcd_index(s), before["index"],
                     "%s restart: %s keeps X-Etcd-Index" % (how, s.name))
        t = cl.tree(s, "/r", timeout=60)
        lab.check(t == before["tree"],
                  "%s restart: %s holds all %d keys, same values and "
                  "indexes" % (how, s.name, len(before["tree"] or {})),
                  "got %s keys" % (len(t) if t is not None else None))


def static_cluster(lab):
    c = cl.Cluster(lab)
    hosts = cl.start_with_check(lab, "static: 3 hosts from "
                                "--initial-cluster",
                                lambda: c.static(["s1", "s2", "s3"]))
    if not hosts:
        return
    cl.wait_until(lambda: all(
        len(cl.members(s) or []) == 3 and
        all(m["clientURLs"] for m in cl.members(s)) for s in hosts), 10)
    ids = {cl.cluster_id(s) for s in hosts}
    lab.check(len(ids) == 1 and None not in ids,
              "static: one cluster id on all hosts", repr(ids))
    rc, out, err = cl.etcdctl(hosts[0].client_url, "cluster-health")
    lab.check(rc == 0 and "cluster is healthy" in out,
              "static: etcdctl cluster-health", out + err)
    for i, s in enumerate(hosts):
        st, _, _ = cl.put(s, "/r/static%d" % i, "s", timeout=3.0)
        lab.check(st == 201, "static: write on %s" % s.name)
    before = snapshot_state(c)
    restart_all(lab, c, "static")
    compare(lab, c, before, "static")


def main():
    cl.require_binary("ETCDCTL_BIN", "etcdctl",
                      "its checks run the real etcdctl against ovld")
    with cl.Lab("cluster-restart") as lab:
        c = cl.Cluster(lab)
        if cl.form_three(lab, c):
            cl.wait_until(lambda: all(len(cl.members(s) or []) == 3
                                      for s in c.hosts), 10)
            ld = c.leader()
            ok, bad, dt = cl.bulk_put([ld], "/r", KEYS, threads=16)
            lab.check(ok == KEYS, "%d keys loaded (%.1f s, %.0f/s)" %
                      (KEYS, dt, ok / dt if dt else 0),
                      "%d failed" % bad)
            same, _ = c.converged("/r", timeout=60)
            lab.check(same, "hosts agree before the restart")
            before = snapshot_state(c)
            restart_all(lab, c, "clean")
            compare(lab, c, before, "clean")
            st, _, _ = cl.put(c.hosts[2], "/r/after", "a", timeout=3.0)
            lab.check(st == 201, "a write after the clean restart")
            before = snapshot_state(c)
            restart_all(lab, c, "kill")
            compare(lab, c, before, "kill")
            for s in c.hosts:
                s.stop()
        static_cluster(lab)
    lab.finish()


if __name__ == "__main__":
    main()
