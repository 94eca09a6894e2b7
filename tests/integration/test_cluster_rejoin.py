#!/usr/bin/env python3
"""test_cluster_rejoin - a host that lost its data dir joins again.

Three hosts (bootstrap + 2 joins). h2 is killed, its data dir wiped, and it
starts again with --join from the same address: it gets a new id, the
leader removes the stale member at that address first, and the cluster is
three healthy members again with the new h2 holding every key. ovld only
(etcd needs a manual `member remove` for this).
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402


def main():
    with cl.Lab("cluster-rejoin") as lab:
        c = cl.Cluster(lab)
        if cl.form_three(lab, c):
            run(lab, c)
    lab.finish()


def member_ids(srv):
    return sorted(m["id"] for m in (cl.members(srv) or []))


def run(lab, c):
    h1, h2, h3 = c.hosts
    cl.wait_until(lambda: len(member_ids(h1)) == 3, 10)
    for i in range(20):
        st, _, _ = cl.put(h1, "/rejoin/k%d" % i, "v%d" % i, timeout=3.0)
    lab.check(st in (200, 201), "20 writes before the wipe")
    old = member_ids(h1)
    h2.kill9()
    shutil.rmtree(h2.data_dir)
    try:
        h2.start(timeout=30)
        ok = True
    except RuntimeError as e:
        ok = False
        lab.check(False, "h2 joins again from the same address", str(e))
    if not ok:
        return
    lab.check(True, "h2 joins again from the same address")
    cl.wait_until(lambda: len(member_ids(h1)) == 3 and
                  member_ids(h1) != old, 10)
    new = member_ids(h1)
    lab.check(len(new) == 3, "still three members", repr(new))
    lab.check(len(set(old) - set(new)) == 1,
              "exactly the stale member was replaced", "%r -> %r" % (old, new))
    rc, out, err = cl.etcdctl(h1.client_url, "cluster-health")
    lab.check(rc == 0 and "cluster is healthy" in out,
              "etcdctl cluster-health: healthy", out + err)
    cl.wait_until(lambda: cl.get(h2, "/rejoin/k19")[0] == 200, 10)
    st, _, doc = cl.get(h2, "/rejoin/k19")
    value = (doc or {}).get("node", {}).get("value")
    lab.check(st == 200 and value == "v19",
              "the new h2 holds the data written before", repr(doc)[:200])


if __name__ == "__main__":
    if cl.is_etcd():
        cl.skip("test_cluster_rejoin is ovld-only")
    cl.require_binary("ETCDCTL_BIN", "etcdctl",
                      "its checks run the real etcdctl against ovld")
    main()
