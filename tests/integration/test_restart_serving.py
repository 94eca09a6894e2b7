#!/usr/bin/env python3
"""test_restart_serving - a restarting host answers as soon as it listens.

ovld reads its Raft snapshot and log on a thread after a restart
(src/raft/preload.c) while its loop already answers. What a client sees
from the first connection on: GETs return what the host held before the
restart; a write sent before Raft has started is not refused but answered
once it has been applied, with a larger index; a quorum read then sees it;
nothing answers with an error. The host has a snapshot to load
(--snapshot-count 200) and entries after it.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402

KEYS = 600


def first_answer(srv, path, timeout=30.0):
    """The first (status, body) for GET path once the port accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = srv.new_http(timeout=10.0)
        try:
            st, _, body = h.request("GET", path)
            return st, json.loads(body or b"null")
        except (OSError, ValueError):
            time.sleep(0.001)
        finally:
            h.close()
    return -1, None


def load(lab, srv):
    h = srv.http()
    index = 0
    for i in range(KEYS):
        st, _, body = h.request("PUT", "/v2/keys/rs/k%d" % i,
                                form={"value": "v%d" % i})
        if st != 201:
            lab.check(False, "load write %d" % i, "%d %r" % (st, body))
            return 0
        index = json.loads(body)["node"]["modifiedIndex"]
    return index


def main():
    with ovldlab.Lab("restart-serving") as lab:
        args = () if ovldlab.target_kind() == "etcd" else \
            ("--snapshot-count", "200")
        srv = lab.target("x", extra_args=args).start()
        last = load(lab, srv)
        srv.stop()
        srv.start(wait=False)
        st, doc = first_answer(srv, "/v2/keys/rs/k%d" % (KEYS - 1))
        lab.check(st == 200 and doc["node"]["value"] == "v%d" % (KEYS - 1),
                  "the first GET after the restart returns the last write",
                  "%s %r" % (st, doc))
        st, doc = first_answer(srv, "/v2/keys/rs/k0")
        lab.check(st == 200 and doc["node"]["value"] == "v0",
                  "and the first one", "%s %r" % (st, doc))
        h = srv.new_http(timeout=10.0, retry=False)
        st, _, body = h.request("PUT", "/v2/keys/rs/new",
                                form={"value": "after"})
        doc = json.loads(body or b"null")
        lab.check(st == 201 and doc["node"]["modifiedIndex"] > last,
                  "a write sent right after the restart is applied, with a "
                  "larger index", "%s %r (last %d)" % (st, doc, last))
        st, _, body = h.request("GET", "/v2/keys/rs/new",
                                query={"quorum": "true"})
        doc = json.loads(body or b"null")
        lab.check(st == 200 and doc["node"]["value"] == "after",
                  "a quorum read sees it", "%s %r" % (st, doc))
        h.close()
        srv.wait_healthy()
        st, doc = first_answer(srv, "/v2/keys/rs?recursive=true")
        n = len(doc["node"].get("nodes", [])) if st == 200 else -1
        lab.check_eq(n, KEYS + 1, "every key is there once healthy")
    lab.finish()


if __name__ == "__main__":
    main()
