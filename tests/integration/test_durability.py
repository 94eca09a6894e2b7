#!/usr/bin/env python3
"""test_durability - acknowledged writes survive kill -9.

Several threads PUT keys over their own keep-alive connections, recording
every acknowledged (key, value, modifiedIndex). Half-way through the load
ovld is killed with SIGKILL and restarted on the same data dir. Every
acknowledged write must be there (or be overwritten by that key's one
in-flight write, which may have applied without an answer), the store
index must not go back, and a new write must get a larger index. A clean
restart afterwards must keep the cluster id. ovld runs the scenario twice:
with default settings and with frequent snapshots.

Environment: DURABILITY_WRITES (default 10000), DURABILITY_THREADS (8).
"""

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402

KEYS_PER_THREAD = 400


class Writer(threading.Thread):
    """One connection writing its own keys, so per-key order is known."""

    def __init__(self, srv, tid, count):
        super().__init__(daemon=True)
        self.srv, self.tid, self.count = srv, tid, count
        self.acked = {}     # key -> (value, modifiedIndex) of the last ack
        self.inflight = {}  # key -> value sent but never answered
        self.n_acked = 0
        self.error = None
        self.bad = []       # answers that were neither success nor error

    def run(self):
        h = self.srv.new_http(timeout=15.0, retry=False)
        for j in range(self.count):
            key = "/dur/t%d/k%d" % (self.tid, j % KEYS_PER_THREAD)
            value = "t%d-w%d" % (self.tid, j)
            body = urllib.parse.urlencode({"value": value})
            try:
                st, hd, raw = h.request(
                    "PUT", "/v2/keys" + key, body=body,
                    headers={"Content-Type":
                             "application/x-www-form-urlencoded"})
            except Exception as e:  # the crash: stop here, unanswered
                self.inflight[key] = value
                self.error = "%s: %s" % (type(e).__name__, e)
                return
            if st not in (200, 201):
                self.bad.append((key, st, raw[:200]))
                self.inflight[key] = value  # a 5xx may still have applied
                continue
            doc = json.loads(raw)
            self.acked[key] = (value, doc["node"]["modifiedIndex"])
            self.inflight.pop(key, None)
            self.n_acked += 1
        h.close()


def load_and_crash(lab, srv, total, threads):
    per = total // threads
    writers = [Writer(srv, t, per) for t in range(threads)]
    t0 = time.monotonic()
    for w in writers:
        w.start()
    killed_at = None
    while any(w.is_alive() for w in writers):
        done = sum(w.n_acked for w in writers)
        if killed_at is None and done >= total // 2:
            srv.kill9()
            killed_at = done
            print("     kill -9 after %d acknowledged writes (%.1fs)"
                  % (done, time.monotonic() - t0), flush=True)
        if time.monotonic() - t0 > 300:
            break
        time.sleep(0.005)
    for w in writers:
        w.join(20)
    lab.check(killed_at is not None, "the kill happened during the load",
              "writers finished before half of %d acks" % total)
    return writers


def read_all(srv):
    st, hd, doc = srv.http().json("GET", "/v2/keys/dur",
                                  query={"recursive": "true"})
    found = {}

    def walk(n):
        for c in n.get("nodes", []):
            if c.get("dir"):
                walk(c)
            else:
                found[c["key"]] = (c["value"], c["modifiedIndex"])
    if st == 200:
        walk(doc["node"])
    return st, hd, found


def verify(lab, writers, found, label):
    missing, wrong = [], []
    for w in writers:
        for key, (value, idx) in w.acked.items():
            got = found.get(key)
            if got is None:
                missing.append(key)
            elif got != (value, idx):
                later = w.inflight.get(key)
                if not (got[0] == later and got[1] > idx):
                    wrong.append((key, (value, idx), got))
    n = sum(len(w.acked) for w in writers)
    lab.check(not missing, "%s: none of %d acknowledged keys is missing"
              % (label, n), "missing %d, e.g. %s" % (len(missing),
                                                    missing[:5]))
    lab.check(not wrong, "%s: acknowledged values and indexes intact"
              % label, "%d wrong, e.g. %s" % (len(wrong), wrong[:5]))


def scenario(lab, total, threads, extra_args):
    srv = lab.target("x", extra_args=extra_args).start()
    st, hd, _ = srv.http().request("GET", "/v2/keys/")
    cluster_id = hd.get("x-etcd-cluster-id")
    lab.check(bool(cluster_id), "X-Etcd-Cluster-Id before the load")

    writers = load_and_crash(lab, srv, total, threads)
    acked = sum(w.n_acked for w in writers)
    bad = [b for w in writers for b in w.bad]
    lab.check(not bad, "no write answered with an error before the "
              "crash", repr(bad[:5]))
    max_idx = max((i for w in writers for _, i in w.acked.values()),
                  default=0)
    print("     %d writes acknowledged, max modifiedIndex %d"
          % (acked, max_idx), flush=True)

    t0 = time.monotonic()
    srv.start()
    print("     restarted in %.1fs" % (time.monotonic() - t0))
    st, hd, found = read_all(srv)
    lab.check_eq(st, 200, "recursive GET after the crash")
    verify(lab, writers, found, "after kill -9")
    x_index = int(hd.get("x-etcd-index", "0"))
    lab.check(x_index >= max_idx, "X-Etcd-Index %d >= max acked %d"
              % (x_index, max_idx))
    lab.check_eq(hd.get("x-etcd-cluster-id"), cluster_id,
                 "cluster id unchanged by kill -9")

    st, hd, doc = srv.http().json("PUT", "/v2/keys/dur/after",
                                  form={"value": "new"})
    new_idx = doc["node"]["modifiedIndex"] if doc and st in (
        200, 201) else 0
    lab.check(new_idx > max(max_idx, x_index),
              "a new write gets a larger index (%d > %d)"
              % (new_idx, max(max_idx, x_index)))

    code = srv.stop()
    # etcd (Go) dies by the signal; ovld handles SIGTERM and exits 0
    ok_codes = (0, -15) if srv.kind == "etcd" else (0,)
    lab.check(code in ok_codes, "clean stop (SIGTERM) exits 0",
              "exit code %r" % code)
    srv.start()
    st, hd, found = read_all(srv)
    lab.check_eq(hd.get("x-etcd-cluster-id"), cluster_id,
                 "cluster id unchanged by a clean restart")
    verify(lab, writers, found, "after clean restart")
    lab.check_eq(found.get("/dur/after"), ("new", new_idx),
                 "the post-crash write survived the clean restart")
    lab.check(int(hd.get("x-etcd-index", "0")) >= new_idx,
              "X-Etcd-Index did not go back after the clean restart")
    srv.stop()


def main():
    total = int(os.environ.get("DURABILITY_WRITES", "10000"))
    threads = int(os.environ.get("DURABILITY_THREADS", "8"))
    with ovldlab.Lab("durability") as lab:
        print("-- default settings", flush=True)
        scenario(lab, total, threads, [])
        if ovldlab.target_kind() == "ovld":
            # Snapshots every few hundred entries: the crash then lands
            # between a snapshot and the log tail that follows it.
            print("-- --snapshot-count 300", flush=True)
            scenario(lab, total, threads, ["--snapshot-count", "300"])
    lab.finish()


if __name__ == "__main__":
    main()
