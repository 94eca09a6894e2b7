#!/usr/bin/env python3
"""test_cluster_failover - kill -9 the leader under continuous writes.

Three hosts (bootstrap + 2 joins). Writers PUT fresh keys round-robin on
every live host. The leader is killed with SIGKILL (twice, a few seconds
apart, the killed host restarted in between). Checks: writes resume on the
survivors; every failed write failed with an error within ~3 s (never a
hang); afterwards every acknowledged write is present with the same value
and modifiedIndex on every host, the restarted ones included; all hosts
hold identical trees and indexes; no modifiedIndex was handed out twice.
Prints the unavailability window after each kill (the benchmark measures
it properly). CLUSTER_IMPL=etcd runs the same on etcd 3.4. FAILOVER_ROUNDS
(default 2) and FAILOVER_ARGS (extra ovld flags) tune it.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402

ROUNDS = int(os.environ.get("FAILOVER_ROUNDS", "2"))
# Extra ovld flags, e.g. "--heartbeat-interval 50 --election-timeout 300"
# to see how the timeouts move the unavailability window.
ARGS = os.environ.get("FAILOVER_ARGS", "").split()


def kill_round(lab, c, w, rnd):
    ld = c.leader(timeout=15)
    if not lab.check(ld is not None, "round %d: a leader is known" % rnd):
        return False
    before = len(w.acked)
    time.sleep(1.0)
    lab.check(len(w.acked) > before,
              "round %d: writes flow before the kill (%d acked)" %
              (rnd, len(w.acked) - before))
    t_kill = time.monotonic()
    ld.kill9()
    print("     round %d: killed leader %s" % (rnd, ld.name), flush=True)
    first = cl.wait_until(lambda: w.first_ok_after(t_kill), 15, 0.02)
    lab.check(first is not None,
              "round %d: writes resume after the leader's kill -9" % rnd)
    if first:
        print("     round %d: writes unavailable for %.0f ms" %
              (rnd, (first - t_kill) * 1000), flush=True)
    time.sleep(1.5)
    lab.check(w.ok_after(t_kill + 0.5) > 10,
              "round %d: writes keep flowing on the survivors (%d)" %
              (rnd, w.ok_after(t_kill + 0.5)))
    # The killed host comes back with its data dir (no --join needed).
    if hasattr(ld, "join_args"):
        ld.extra_args = [a for a in ld.extra_args if a not in ld.join_args]
    cl.start_with_check(lab, "round %d: %s restarts after kill -9" %
                        (rnd, ld.name), ld.start)
    time.sleep(1.0)
    return True


def check_outcomes(lab, w):
    slow = [f for f in w.failed if f[1] - f[0] > w.timeout + 0.5]
    lab.check(not slow, "every failed write failed within %.1f s" %
              w.timeout, repr(slow[:5]))
    # The README's "fails within about 2 s"; a sanitized ovld runs its
    # loop several times slower, so answers come later (2.7 s seen).
    bound = 3.5 if os.environ.get("OVLD_SANITIZED") == "1" else 2.5
    hung = [f for f in w.failed if f[1] - f[0] > bound]
    lab.check(not hung, "every failed write failed within %.1f s" % bound,
              repr(hung[:5]))
    print("     %d acked, %d failed (%d took > %.1f s)" %
          (len(w.acked), len(w.failed), len(hung), bound), flush=True)
    if w.failed:
        print("     sample failure: %s" % (w.failed[0][3],), flush=True)


def check_durable(lab, c, w):
    ok, trees = c.converged("/fo", timeout=30)
    lab.check(ok, "all hosts converge to the same tree and X-Etcd-Index",
              repr({k: (len(v) if isinstance(v, dict) else v)
                    for k, v in trees.items()}))
    for s in c.hosts:
        t = cl.tree(s, "/fo")
        if t is None:
            lab.check(False, "tree readable on %s" % s.name)
            continue
        lost = [k for k in w.acked if k not in t]
        wrong = [(k, w.acked[k], t[k][:2]) for k in w.acked
                 if k in t and (t[k][0], t[k][1]) != w.acked[k]]
        lab.check(not lost, "%s: no acknowledged write lost (%d acked)" %
                  (s.name, len(w.acked)), "lost: %r" % lost[:10])
        lab.check(not wrong, "%s: every acknowledged write has the "
                  "answered value and index" % s.name, repr(wrong[:10]))
        idx = [v[1] for v in t.values()]
        lab.check(len(idx) == len(set(idx)),
                  "%s: no modifiedIndex used twice" % s.name)


def main():
    with cl.Lab("cluster-failover") as lab:
        c = cl.Cluster(lab, common_args=[] if cl.is_etcd() else ARGS)
        if cl.form_three(lab, c):
            cl.wait_until(lambda: all(len(cl.members(s) or []) == 3
                                      for s in c.hosts), 10)
            w = cl.Writer(c.alive, "/fo", threads=6, timeout=3.0).start()
            try:
                for rnd in range(1, ROUNDS + 1):
                    if not kill_round(lab, c, w, rnd):
                        break
            finally:
                w.stop()
            check_outcomes(lab, w)
            check_durable(lab, c, w)
    lab.finish()


if __name__ == "__main__":
    main()
