#!/usr/bin/env python3
"""test_cluster_snapshot - compaction, a host far behind, a late joiner.

Three hosts with --snapshot-count 500 (raftnode keeps 8192 trailing
entries after a snapshot, so the log is compacted past its start once
~8,700 entries are applied). Checks: the hosts take snapshots; a host
stopped while ~10k writes go by catches up when restarted (through a
snapshot: its log says so); a fourth host joining after compaction is
brought up to date through a snapshot too; afterwards all four hold the
same tree with the same indexes, and a watch from an old index on the
late joiner returns the same event as on the leader.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402

BATCH = int(os.environ.get("SNAPSHOT_TEST_KEYS", "10000"))


def load(lab, hosts, prefix):
    ok, bad, dt = cl.bulk_put(hosts, prefix, BATCH, threads=8)
    lab.check(ok == BATCH and bad == 0,
              "%d writes under %s acknowledged (%.1f s, %.0f/s)" %
              (BATCH, prefix, dt, ok / dt if dt else 0),
              "%d ok, %d failed" % (ok, bad))


def restored(srv):
    return cl.log_has(srv, "restoring a snapshot")


def main():
    with cl.Lab("cluster-snapshot") as lab:
        c = cl.Cluster(lab, common_args=["--snapshot-count", "500"])
        if cl.form_three(lab, c):
            run(lab, c)
    lab.finish()


def run(lab, c):
    h1, h2, h3 = c.hosts
    cl.wait_until(lambda: all(len(cl.members(s) or []) == 3
                              for s in c.hosts), 10)
    load(lab, [h1, h2, h3], "/snap/a")
    lab.check(cl.wait_until(lambda: cl.log_has(h1, "snapshot written"),
                            10),
              "h1 took a snapshot")
    ld = c.leader()
    behind = h3 if ld is not h3 else h2
    behind.stop()
    print("     stopped %s; writing while it is down" % behind.name)
    up = [s for s in c.hosts if s.alive()]
    load(lab, up, "/snap/b")
    if hasattr(behind, "join_args"):
        behind.extra_args = [a for a in behind.extra_args
                             if a not in behind.join_args]
    cl.start_with_check(lab, "%s restarts far behind" % behind.name,
                        behind.start)
    same, trees = c.converged("/snap", timeout=60)
    lab.check(same, "%s caught up: same tree and index as the others" %
              behind.name, repr({k: len(v) if isinstance(v, dict) else v
                                 for k, v in trees.items()}))
    lab.check(restored(behind), "%s caught up through a snapshot" %
              behind.name)

    h4 = cl.start_with_check(lab, "h4 joins after compaction",
                             lambda: c.join("h4", timeout=60))
    if not h4:
        return
    same, trees = c.converged("/snap", timeout=60)
    n = len(trees.get("h1") or {}) if isinstance(trees.get("h1"),
                                                 dict) else 0
    lab.check(same and n == 2 * BATCH,
              "all 4 hosts hold the same %d keys with the same indexes" %
              (2 * BATCH), "h1 has %d" % n)
    lab.check(restored(h4), "h4 received a snapshot (its log says so)")

    # History travels with the snapshot: a watch from a recent past
    # index is answered alike on the joiner and the leader.
    t = trees.get("h1") or {}
    idx = sorted(v[1] for v in t.values())[-50] if len(t) > 50 else 1
    path = "/v2/keys/snap?wait=true&recursive=true&waitIndex=%d" % idx
    evs = []
    for s in (h1, h4):
        st, _, doc = cl.request(s, "GET", path, timeout=5.0)
        evs.append(json.dumps(doc, sort_keys=True) if st == 200 else
                   "%s %s" % (st, doc))
    lab.check(evs[0] == evs[1] and evs[0].startswith("{"),
              "watch from index %d: same event on h4 as on h1" % idx,
              repr(evs))
    st, _, _ = cl.put(h4, "/snap/after", "x", timeout=3.0)
    lab.check(st == 201, "h4 takes writes")


if __name__ == "__main__":
    main()
