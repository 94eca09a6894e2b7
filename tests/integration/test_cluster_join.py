#!/usr/bin/env python3
"""test_cluster_join - three hosts formed by bootstrap + two --join.

Checks: all three agree on members, leader and cluster id; etcdctl
cluster-health and member list agree with /v2/members; every member
publishes its own client URL; a write on each host is visible on all (and
readable on the host it was written to at once); a watch on host 3 sees a
write made on host 1 with the same index; quorum reads on followers; the
stats endpoints; a repeated --join and a restart without --join are
harmless. CLUSTER_IMPL=etcd runs the same checks on etcd 3.4 (the join
becomes member add + --initial-cluster-state existing).
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402


def check_membership(lab, c):
    h1, h2, h3 = c.hosts
    mems = {s.name: cl.members(s) for s in c.hosts}
    lab.check(all(m is not None and len(m) == 3 for m in mems.values()),
              "/v2/members lists 3 members on every host", repr(mems))
    norm = {n: sorted((m["id"], m["name"], tuple(m["peerURLs"]),
                       tuple(m["clientURLs"])) for m in (ms or []))
            for n, ms in mems.items()}
    lab.check(len(set(map(tuple, norm.values()))) == 1,
              "every host shows the same member list", repr(norm))
    by_name = {m["name"]: m for m in mems["h1"] or []}
    for s in c.hosts:
        m = by_name.get(s.name, {})
        lab.check_eq(m.get("clientURLs"), [s.client_url],
                     "%s publishes its own client URL" % s.name)
        lab.check_eq(m.get("peerURLs"), [s.peer_url],
                     "%s publishes its own peer URL" % s.name)
    ids = {cl.cluster_id(s) for s in c.hosts}
    lab.check(len(ids) == 1 and None not in ids and "" not in ids,
              "X-Etcd-Cluster-Id identical on all hosts", repr(ids))

    leaders = set()
    for s in c.hosts:
        st, _, doc = cl.request(s, "GET", "/v2/members/leader")
        leaders.add(doc.get("id") if st == 200 and doc else None)
    lab.check(len(leaders) == 1 and None not in leaders,
              "/v2/members/leader agrees on every host", repr(leaders))

    rc, out, err = cl.etcdctl(h3.client_url, "cluster-health")
    healthy = [ln for ln in out.splitlines()
               if ln.startswith("member ") and " is healthy" in ln]
    lab.check(rc == 0 and len(healthy) == 3 and
              "cluster is healthy" in out,
              "etcdctl cluster-health: 3 healthy members, cluster healthy",
              out + err)
    rc, out, err = cl.etcdctl(h2.client_url, "member", "list")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    listed = {ln.split(":", 1)[0] for ln in lines}
    api_ids = {m["id"] for m in mems["h1"] or []}
    lab.check(rc == 0 and listed == api_ids,
              "etcdctl member list names the same 3 ids as /v2/members",
              out + err)
    lab.check(sum("isLeader=true" in ln for ln in lines) == 1,
              "etcdctl member list shows exactly one leader", out)
    for s in c.hosts:
        lab.check(any("name=%s " % s.name in ln and s.client_url in ln
                      for ln in lines),
                  "member list shows %s with its client URL" % s.name, out)
    return by_name


def check_writes(lab, c):
    for i, s in enumerate(c.hosts):
        st, _, doc = cl.put(s, "/join/from-%s" % s.name, "v%d" % i,
                            timeout=3.0)
        lab.check(st == 201, "PUT on %s answers 201" % s.name,
                  "%s %s" % (st, doc))
        st2, _, doc2 = cl.get(s, "/join/from-%s" % s.name)
        lab.check(st2 == 200 and doc2["node"]["value"] == "v%d" % i,
                  "read-your-write on %s (local read)" % s.name,
                  "%s %s" % (st2, doc2))
    ok, trees = c.converged("/join", timeout=10)
    lab.check(ok, "all 3 writes visible on all hosts, same indexes",
              repr(trees))
    for s in c.hosts:
        st, _, doc = cl.get(s, "/join/from-h1", quorum=True)
        lab.check(st == 200 and doc["node"]["value"] == "v0",
                  "quorum read on %s" % s.name, "%s %s" % (st, doc))


def check_follower_burst(lab, c):
    """64 concurrent writes on a follower travel to the leader in batches
    (one POST per loop turn): every one is answered, each with its own
    index, and all are on every host."""
    f = [s for s in c.hosts if s is not c.leader()][0]
    res = [None] * 64

    def write(i):
        res[i] = cl.put(f, "/burst/k%02d" % i, "v%d" % i, timeout=5.0)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in res if r and r[0] == 201]
    lab.check_eq(len(ok), 64, "64 concurrent writes on follower %s answered "
                 "201" % f.name)
    idx = {r[2]["node"]["modifiedIndex"] for r in ok}
    lab.check_eq(len(idx), len(ok), "each write has its own index")
    done, trees = c.converged("/burst", timeout=10)
    lab.check(done and all(len(t) == 64 for t in trees.values()),
              "all 64 burst writes on every host", repr(trees)[:300])
    if cl.is_etcd():
        return
    # The leader's side of forwarding (over the peer port, as a member)
    # refuses malformed batches whole, and answers a bad command inside a
    # good frame with its own answer (raftnode_answer: 2 = bad request).
    ldr = c.leader()
    fol = [s for s in c.hosts if s is not ldr][0]
    fid = int([m["id"] for m in cl.members(ldr) or []
               if m["name"] == fol.name][0], 16)
    pki = os.path.join(fol.data_dir, "pki")
    before = cl.etcd_index(ldr)
    kind = cl.PEER_KIND_RAFT + cl.RAFT_FORWARD
    st, _ = cl.peer_call(ldr, pki, fid, kind, b"\x00\x00\x00\x09abc")
    lab.check_eq(st, 2, "a truncated forwarded batch is refused whole")
    st, body = cl.peer_call(ldr, pki, fid, kind, b"\x00\x00\x00\x03abc")
    lab.check(st == 0 and body == b"\x02",
              "a garbage command in a batch is answered 'bad request' on "
              "its own", repr((st, body)))
    lab.check_eq(cl.etcd_index(ldr), before,
                 "neither bad batch changed the store")


def check_watch(lab, c):
    h1, _, h3 = c.hosts
    idx = cl.etcd_index(h3)
    w = h3.watch("/v2/keys/join/watched?wait=true&waitIndex=%d" %
                 (idx + 1))
    time.sleep(0.1)
    st, _, doc = cl.put(h1, "/join/watched", "hello", timeout=3.0)
    lab.check(st == 201, "PUT on h1 for the watch", repr(doc))
    body = w.wait(10)
    ev = None
    try:
        ev = json.loads(body.decode()) if body else None
    except ValueError:
        pass
    lab.check(ev is not None and ev.get("action") == "set" and
              ev["node"]["value"] == "hello",
              "watch on h3 sees the write made on h1", repr(body or w.error))
    if ev and doc:
        lab.check_eq(ev["node"]["modifiedIndex"],
                     doc["node"]["modifiedIndex"],
                     "watch event index equals the index h1 answered")


def check_stats(lab, c):
    ld = c.leader()
    lab.check(ld is not None, "exactly one host is StateLeader, all agree")
    if ld is None:
        return
    st, _, doc = cl.request(ld, "GET", "/v2/stats/leader")
    fol = (doc or {}).get("followers", {})
    lab.check(st == 200 and len(fol) == 2,
              "/v2/stats/leader on the leader lists 2 followers",
              "%s %s" % (st, doc))
    for f in fol.values():
        lab.check("latency" in f and "counts" in f and
                  f["counts"].get("success", 0) > 0,
                  "follower stats carry latency and a success count",
                  repr(f))
        break
    for s in c.hosts:
        if s is ld:
            continue
        st, _, doc = cl.request(s, "GET", "/v2/stats/leader")
        lab.check_eq(st, 403, "/v2/stats/leader on follower %s is 403" %
                     s.name)
        d = cl.self_stats(s)
        lab.check(d and d.get("state") == "StateFollower",
                  "/v2/stats/self on %s says StateFollower" % s.name,
                  repr(d))


def check_restarts(lab, c):
    if cl.is_etcd():
        return
    h1, h2, h3 = c.hosts
    cid = cl.cluster_id(h1)
    mem_before = sorted(m["id"] for m in cl.members(h1) or [])
    # Restart h2 without --join: its data dir says who it is.
    h2.stop()
    h2.extra_args = [a for a in h2.extra_args if a not in h2.join_args]
    cl.start_with_check(lab, "h2 restarts without --join", h2.start)
    # Restart h3 with its --join again: a repeated join is harmless.
    h3.stop()
    cl.start_with_check(lab, "h3 restarts with the same --join", h3.start)
    lab.check_eq(sorted(m["id"] for m in cl.members(h1) or []), mem_before,
                 "membership unchanged after the restarts")
    lab.check_eq(cl.cluster_id(h2), cid, "h2 keeps the cluster id")
    lab.check_eq(cl.cluster_id(h3), cid, "h3 keeps the cluster id")
    st, _, _ = cl.put(h3, "/join/after-restart", "x", timeout=3.0)
    lab.check(st == 201, "write on restarted h3")
    ok, trees = c.converged("/join", timeout=10)
    lab.check(ok, "hosts converge after the restarts", repr(trees))


BARRIERS = "ovld_raft_read_barriers_total"


def check_single_quorum(lab, h1):
    """A lone host is its only voter: a quorum read needs no barrier entry
    (no fsync), yet sees every acknowledged write. Counted as barriers on
    /metrics: the Raft index also moves for the host's own member record
    or an expiry sweep landing in between."""
    st, _, _ = cl.put(h1, "/join/lone", "v1")
    lab.check(st == 201, "write on the lone h1")
    before = None if cl.is_etcd() else cl.metric(h1, BARRIERS)
    st, _, doc = cl.get(h1, "/join/lone", quorum=True)
    for i in range(20):
        cl.put(h1, "/join/lone", "v%d" % (i + 2))
        st, _, doc = cl.get(h1, "/join/lone", quorum=True)
        if st != 200 or doc["node"]["value"] != "v%d" % (i + 2):
            break
    lab.check(st == 200 and doc["node"]["value"] == "v21",
              "quorum reads on a lone host see each write just acknowledged",
              "%s %s" % (st, doc))
    if not cl.is_etcd():  # etcd logs every quorum read (QGET)
        after = cl.metric(h1, BARRIERS)
        lab.check(before is not None and after == before,
                  "21 quorum reads on a lone host issue no barrier",
                  "%s %s -> %s" % (BARRIERS, before, after))


def main():
    cl.require_binary("ETCDCTL_BIN", "etcdctl",
                      "its checks run the real etcdctl against ovld")
    with cl.Lab("cluster-join") as lab:
        c = cl.Cluster(lab)
        t0 = time.monotonic()
        if cl.start_with_check(lab, "h1 bootstraps", c.bootstrap) and \
                check_single_quorum(lab, c.hosts[0]) is None and \
                cl.start_with_check(lab, "h2 joins through h1",
                                    lambda: c.join("h2")) and \
                cl.start_with_check(lab, "h3 joins through h2",
                                    lambda: c.join("h3", via=c.hosts[1])):
            print("     cluster formed in %.1fs" % (time.monotonic() - t0))
            # Membership (and voter promotion) settles shortly after.
            cl.wait_until(lambda: all(
                len(cl.members(s) or []) == 3 and
                all(m["clientURLs"] for m in cl.members(s))
                for s in c.hosts), 10)
            check_membership(lab, c)
            check_writes(lab, c)
            check_follower_burst(lab, c)
            check_watch(lab, c)
            check_stats(lab, c)
            check_restarts(lab, c)
    lab.finish()


if __name__ == "__main__":
    main()
