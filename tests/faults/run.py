#!/usr/bin/env python3
"""run - the ovld fault harness (Jepsen-style, stdlib only, needs root).

A 3- or 5-host ovld cluster, each host in its own network namespace on a
bridge (clusterlab.Netns, 10.88.0.0/24), formed by bootstrap + --join.
Client threads, each bound to one host, run random operations on a few
keys under /faults (PUT, CAS on prevValue or prevIndex, create with
prevExist=false, DELETE, compareAndDelete, quorum GET) and record each with
its invoke/complete time and outcome. A watch stream per host records every
event it delivers. The nemesis (nemesis.py) injects one random fault per
round and heals it.

At the end everything is healed, the clients stop, every key is read with
quorum on every host, each host's whole event log is read back, and the
history is checked: linearizability per key (linearizability.py), index
order, lost or doubly applied writes, event logs equal on every host and
replayable, every watch stream gapless and identical to the log (checks.py);
plus no crash (a host exiting by itself) and no sanitizer report in any
log. A summary (JSON) with the figures goes to --out.

  python3 tests/faults/run.py --rounds 50 [--hosts 3] [--seed N]

Environment: OVLD_BIN (the ovld binary; a sanitizer build works too).
"""

import argparse
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("OVLDLAB_PORTS", "29000-29999")

import checks  # noqa: E402
import clusterlab as cl  # noqa: E402
import linearizability as lz  # noqa: E402
from linearizability import FAIL, OK, UNKNOWN, Op  # noqa: E402
from nemesis import KINDS, Nemesis  # noqa: E402

PREFIX = "/faults"
CLIENT_PORT, PEER_PORT = 29379, 29380
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer")


# ---- one-shot HTTP inside a namespace ------------------------------------------

class _Conn(http.client.HTTPConnection):
    def __init__(self, ns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.ns = ns

    def connect(self):
        self.sock = cl.ns_socket(self.ns, (self.host, self.port),
                                 self.timeout)


REFUSED = -2


def call(srv, method, path, form=None, timeout=3.0):
    """Sends one request, never twice. (status, headers, doc): status
    REFUSED when the connection was refused (the request surely had no
    effect), -1 on any other transport error or timeout (it may have)."""
    conn = _Conn(srv.ns, srv.ip, srv.client_port, timeout)
    try:
        try:
            conn.connect()
        except ConnectionRefusedError:
            return REFUSED, {}, None
        body, hdrs = None, {}
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        hd = {k.lower(): v for k, v in resp.getheaders()}
    except (OSError, http.client.HTTPException) as e:
        return -1, {"error": "%s: %s" % (type(e).__name__, e)}, None
    finally:
        conn.close()
    try:
        doc = json.loads(data.decode() or "null")
    except ValueError:
        doc = None
    return resp.status, hd, doc


def kpath(key, **q):
    p = "/v2/keys" + urllib.parse.quote(key)
    return p + ("?" + urllib.parse.urlencode(q) if q else "")


# ---- clients ---------------------------------------------------------------------

def classify(st, doc):
    """(outcome, errorCode or None)."""
    if st == REFUSED:
        return FAIL, None
    if st in (200, 201) and isinstance(doc, dict) and "node" in doc:
        return OK, None
    if 400 <= st < 500 and isinstance(doc, dict) and "errorCode" in doc:
        return FAIL, doc["errorCode"]
    return UNKNOWN, None  # timeouts, transport errors, 5xx


def _prev(doc):
    p = doc.get("prevNode")
    return None if p is None else (p.get("value"), p.get("modifiedIndex"))


class Client:
    """One thread of operations against one host."""

    WEIGHTS = (("get", 30), ("put", 18), ("cas-value", 14),
               ("cas-index", 12), ("create", 10), ("delete", 8),
               ("cad", 8))

    def __init__(self, run, n, host):
        self.run, self.n, self.host = run, n, host
        self.rng = random.Random(run.seed * 1000 + n)
        self.process = n
        self.seq = 0
        self.known = {}  # key -> (value, modifiedIndex) last seen

    def pick(self):
        r = self.rng.uniform(0, sum(w for _, w in self.WEIGHTS))
        for name, w in self.WEIGHTS:
            r -= w
            if r <= 0:
                return name
        return "get"

    def one(self):
        key = "%s/k%d" % (PREFIX, self.rng.randrange(self.run.n_keys))
        kind = self.pick()
        self.seq += 1
        value = "c%d-%d" % (self.n, self.seq)
        known = self.known.get(key)
        op = Op(self.process, key, "get", 0, host=self.host.name)
        method, form, q = "PUT", None, {}
        if kind == "get":
            method, q = "GET", {"quorum": "true"}
        elif kind in ("delete", "cad"):
            method, op.f = "DELETE", "delete"
            if kind == "cad":
                op.prev_value = known[0] if known else "none"
                q = {"prevValue": op.prev_value}
        else:
            op.f = "cas" if kind.startswith("cas") else kind
            op.value = value
            form = {"value": value}
            if kind == "create":
                form["prevExist"] = "false"
            elif kind == "cas-value":
                op.prev_value = known[0] if known else "none"
                form["prevValue"] = op.prev_value
            elif kind == "cas-index":
                op.prev_index = known[1] if known else 1
                form["prevIndex"] = str(op.prev_index)
        op.invoke = time.monotonic()
        st, hd, doc = call(self.host, method, kpath(key, **q), form=form,
                           timeout=self.run.op_timeout)
        op.complete = time.monotonic()
        op.outcome, code = classify(st, doc)
        self.record(op, hd, doc, code)

    def record(self, op, hd, doc, code):
        ei = hd.get("x-etcd-index")
        ei = int(ei) if ei and ei.isdigit() else None
        if op.outcome == OK:
            node = doc["node"]
            op.result = {"index": node.get("modifiedIndex"),
                         "etcd_index": ei}
            if op.f == "get":
                op.result["value"] = node.get("value")
                self.known[op.key] = (node.get("value"),
                                      node.get("modifiedIndex"))
            else:
                op.result["prev"] = _prev(doc)
                self.known[op.key] = (op.value, node.get("modifiedIndex")) \
                    if op.f != "delete" else None
        elif op.outcome == FAIL:
            op.result = {"code": code, "etcd_index": ei}
        else:
            op.complete = None
            self.process += 1000  # a new process: the old one may linger
        self.run.record(op)

    def loop(self):
        while not self.run.stop.is_set():
            self.one()
            last = self.run.ops[-1] if self.run.ops else None
            # a killed host refuses at once: don't spin on it
            pause = 0.1 if last is not None and last.outcome == FAIL and \
                last.result.get("code") is None else 0
            time.sleep(pause + self.rng.uniform(0, self.run.think))


# ---- watches -------------------------------------------------------------------

def to_event(doc):
    node = doc.get("node") or {}
    act = doc.get("action")
    deleted = act in ("delete", "compareAndDelete", "expire")
    prev = doc.get("prevNode")
    return {"index": node.get("modifiedIndex"), "action": act,
            "key": node.get("key"),
            "value": None if deleted else node.get("value"),
            "prev": None if prev is None else prev.get("value")}


class Cleared(Exception):
    """The host answered 401: its history starts at .start (a host
    restored from a snapshot keeps a shorter history, by design)."""

    def __init__(self, start):
        super().__init__(start)
        self.start = start


def _cleared_start(body):
    """The oldest index kept, from a 401's cause "[start/asked]"."""
    try:
        doc = json.loads(body.decode())
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("errorCode") != 401:
        return None
    m = re.search(r"\[(\d+)/\d+\]", doc.get("cause") or "")
    return int(m.group(1)) if m else None


def stream_events(srv, from_index, stop, on_event, until=None,
                  timeout=2.0):
    """Reads a recursive stream watch on PREFIX from from_index, calling
    on_event(event) for each; returns the next index to ask for when the
    stream ends, stop is set, or an event with index >= until came.
    Raises Cleared on a 401."""
    nxt = from_index
    conn = _Conn(srv.ns, srv.ip, srv.client_port, timeout)
    try:
        conn.request("GET", kpath(PREFIX, wait="true", recursive="true",
                                  stream="true", waitIndex=str(nxt)))
        resp = conn.getresponse()
        if resp.status != 200:
            start = _cleared_start(resp.read())
            if start is not None and start > nxt:
                raise Cleared(start)
            return nxt
        buf = b""
        while not stop.is_set():
            try:
                chunk = resp.read1(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                ev = to_event(json.loads(line.decode()))
                on_event(ev)
                nxt = ev["index"] + 1
                if until is not None and ev["index"] >= until:
                    return nxt
    except (OSError, http.client.HTTPException, ValueError):
        pass
    finally:
        conn.close()
    return nxt


class Watcher:
    """Keeps a stream watch open on one host for the whole run, resuming
    after each disconnect from the next index, as etcd clients do."""

    def __init__(self, srv):
        self.srv = srv
        self.events = []
        self.jumps = []  # (asked index, oldest kept) of each 401
        self.next = 1
        self.reconnects = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.is_set():
            if self.srv.alive():
                try:
                    self.next = stream_events(self.srv, self.next,
                                              self.stop, self.events.append)
                except Cleared as c:
                    # what an etcd client does: re-list, then watch on
                    self.jumps.append((self.next, c.start))
                    self.next = c.start
                self.reconnects += 1
            self.stop.wait(0.2)

    def last(self):
        return self.events[-1]["index"] if self.events else 0


def read_log(srv, until, timeout=30.0):
    """The host's event log under PREFIX, from the oldest event it keeps
    up to index until."""
    out, stop = [], threading.Event()
    deadline = time.monotonic() + timeout
    nxt = 1
    while nxt <= until and time.monotonic() < deadline:
        try:
            nxt = stream_events(srv, nxt, stop, out.append, until=until)
        except Cleared as c:
            nxt = c.start
    return out


def merge_logs(logs):
    """One log from every host's (possibly shorter) log; the checks compare
    the hosts on the indexes they share."""
    by_index = {}
    for evs in logs.values():
        for ev in evs:
            by_index.setdefault(ev["index"], ev)
    return [by_index[i] for i in sorted(by_index)]


# ---- the run ---------------------------------------------------------------------

class Run:
    def __init__(self, lab, args):
        self.lab, self.args = lab, args
        self.seed = args.seed
        self.rng = random.Random(args.seed)
        self.n_keys = args.keys
        self.op_timeout = args.op_timeout
        self.think = args.think
        self.ops, self.lock = [], threading.Lock()
        self.stop = threading.Event()
        self.problems = {}  # category -> [text]
        self.hosts, self.net = [], None
        self.t_start = time.monotonic()

    def record(self, op):
        with self.lock:
            self.ops.append(op)

    def problem(self, cat, text):
        self.problems.setdefault(cat, []).append(text)

    def say(self, text):
        print(text, flush=True)

    # -- cluster --

    def start_cluster(self):
        n = self.args.hosts
        self.net = cl.Netns("ovf%d" % (os.getpid() % 100000),
                            subnet="10.88.0").setup(n)
        # The checks read every host's whole event log back through the
        # history, so the hosts keep all of it (the default window of
        # 10,000 events is shorter than a long run); --ovld-args can
        # still set a smaller one.
        timing = ["--heartbeat-interval", str(self.args.heartbeat),
                  "--election-timeout", str(self.args.election),
                  "--history-window", "100000000"] + \
            self.args.ovld_args.split()
        first_ip = self.net.hosts[1][1]
        for i in range(1, n + 1):
            ns, ip = self.net.hosts[i]
            s = cl.NsOvld(self.lab, "h%d" % i, ns, ip, CLIENT_PORT,
                          PEER_PORT, extra_args=list(timing))
            if i > 1:
                s.join_args = ["--join", "%s:%d" % (first_ip, CLIENT_PORT)]
                s.extra_args += s.join_args
            self.lab.servers.append(s)
            self.hosts.append(s)
            s.start(timeout=40)
        ok = cl.wait_until(lambda: all(
            len(cl.members(s) or []) == n for s in self.hosts), 30)
        if not ok:
            raise RuntimeError("the cluster did not form")

    def leader(self, timeout=1.0):
        return cl.leader_among(self.hosts, timeout=timeout)

    def check_alive(self, nem, when):
        """A host that is down although the nemesis did not kill it has
        crashed: recorded (exit status, log tail), then handed to the
        nemesis as if killed, so the heal restarts it and the run goes on
        with a full cluster."""
        for i, h in enumerate(self.hosts):
            if i in nem.killed or h.proc is None:
                continue
            rc = h.proc.poll()
            if rc is not None:
                tail = "\n".join(h.log_text(tail=15).splitlines()[-15:])
                self.problem("crash", "%s exited by itself with %s (%s)\n"
                             "%s" % (h.name, rc, when, tail))
                self.say("     CRASH: %s exited with %s" % (h.name, rc))
                nem.killed.add(i)

    # -- main loop --

    def go(self):
        self.start_cluster()
        self.say("     cluster of %d up (%s)" % (len(self.hosts),
                                                 ", ".join(self.net.hosts[i][1]
                                                           for i in
                                                           self.net.hosts)))
        watchers = [Watcher(h) for h in self.hosts]
        for w in watchers:
            w.thread.start()
        clients = [Client(self, n, self.hosts[n % len(self.hosts)])
                   for n in range(self.args.clients)]
        threads = [threading.Thread(target=c.loop, daemon=True)
                   for c in clients]
        for t in threads:
            t.start()
        nem = Nemesis(self.net, self.hosts, self.rng,
                      lambda: self.leader(2.0), log=self.say)
        kinds = self.args.faults.split(",") if self.args.faults else KINDS
        no_leader = 0
        try:
            for r in range(self.args.rounds):
                kind = self.rng.choice(kinds)
                self.say("  round %d/%d" % (r + 1, self.args.rounds))
                nem.start(kind)
                time.sleep(self.rng.uniform(self.args.fault_min,
                                            self.args.fault_max))
                self.check_alive(nem, "round %d, %s" % (r + 1, kind))
                for p in nem.heal():
                    self.problem("restart", p)
                if self.leader(timeout=20.0) is None:
                    no_leader += 1
                    self.problem("recovery", "round %d (%s): no leader 20 s "
                                 "after healing" % (r + 1, kind))
                time.sleep(self.args.settle)
                self.check_alive(nem, "after round %d" % (r + 1))
        finally:
            self.stop.set()
            for t in threads:
                t.join(self.op_timeout + 5)
            self.check_alive(nem, "at the end")
            for p in nem.heal():
                self.problem("restart", p)
        self.faults = dict(nem.counts)
        self.finish(watchers)

    def finish(self, watchers):
        ld = self.leader(timeout=30.0)
        if ld is None:
            self.problem("recovery", "no leader after the final heal")
        c = cl.Cluster(self.lab)
        c.hosts = self.hosts
        same, trees = c.converged(PREFIX, timeout=30)
        if not same:
            self.problem("converge", "hosts differ after healing: %r" %
                         (trees,))
        # final quorum reads of every key on every host
        fin = Client(self, 999, None)
        for h in self.hosts:
            fin.host = h
            for k in range(self.n_keys):
                key = "%s/k%d" % (PREFIX, k)
                op = Op(fin.process, key, "get", time.monotonic(),
                        host=h.name)
                st, hd, doc = call(h, "GET", kpath(key, quorum="true"),
                                   timeout=10.0)
                op.complete = time.monotonic()
                op.outcome, code = classify(st, doc)
                fin.record(op, hd, doc, code)
                if op.outcome == UNKNOWN:
                    self.problem("final-read", "%s: %s %r" % (h.name, st,
                                                              doc))
        final = cl.etcd_index(self.hosts[0]) or 0
        logs = {h.name: read_log(h, final) for h in self.hosts}
        cl.wait_until(lambda: all(w.last() >= final for w in watchers), 20)
        for w in watchers:
            w.stop.set()
        for w in watchers:
            w.thread.join(5)
        # a clean stop: shutdown code runs, and a sanitized build reports
        # leaks at exit (into the log the checks scan)
        for h in self.hosts:
            rc = h.stop(timeout=20.0)
            if rc != 0:
                self.problem("shutdown", "%s exited with %s on SIGTERM" %
                             (h.name, rc))
        self.check_all(logs, watchers, final)

    # -- checks --

    def save(self, path, logs, watchers, final):
        """Everything the checks read, for re-checking offline."""
        with open(path, "w") as f:
            json.dump({"final": final,
                       "ops": [op.to_dict() for op in self.ops],
                       "logs": logs,
                       "watches": {w.srv.name: {"events": w.events,
                                                "jumps": w.jumps}
                                   for w in watchers}}, f)

    def check_all(self, logs, watchers, final):
        if self.args.history:
            self.save(self.args.history, logs, watchers, final)
        ops = self.ops
        log = merge_logs(logs)
        whole = bool(log) and log[0]["index"] == 1 and \
            log[-1]["index"] == final and len(log) == final
        if not whole:
            self.problem("event-log", "the hosts' logs together hold %d "
                         "events (%s..%s), the index is %d" % (
                             len(log), log[0]["index"] if log else None,
                             log[-1]["index"] if log else None, final))
        self.short_logs = {h: evs[0]["index"] for h, evs in logs.items()
                           if evs and evs[0]["index"] > 1}
        t = time.monotonic()
        # without the whole log, unknown writes are left to the search
        results = lz.check(ops, log=log if whole else None,
                           budget=self.args.budget,
                           apply_window=self.args.apply_window)
        self.check_time = time.monotonic() - t
        for r in results:
            if r.ok is None:
                self.problem("undecided", "%s: %s" % (r.key, r.why))
            elif not r.ok:
                self.problem("linearizability", "%s: %s\n%s" % (
                    r.key, r.why, "\n".join("        %r" % o
                                            for o in r.ops)))
        for p in checks.check_indexes(ops):
            self.problem("indexes", p)
        for p in checks.check_log(log):
            self.problem("event-log", p)
        for p in checks.check_lost(ops, log):
            self.problem("lost-write", p)
        for p in checks.check_logs_agree(logs):
            self.problem("logs-agree", p)
        for w in watchers:
            for p in checks.check_watch(w.srv.name, w.events, log,
                                        from_index=1 if log else None,
                                        jumps=w.jumps):
                self.problem("watch", p)
        for h in self.hosts:
            text = h.log_text(tail=1000000)
            for mark in SANITIZER_MARKS:
                if mark in text:
                    self.problem("sanitizer", "%s: %s in its log" %
                                 (h.name, mark))
                    break
        self.sanity(ops, log, watchers)
        self.watch_events = {w.srv.name: len(w.events) for w in watchers}
        self.watch_reconnects = {w.srv.name: w.reconnects
                                 for w in watchers}
        self.watch_401 = {w.srv.name: len(w.jumps) for w in watchers
                          if w.jumps}
        self.final_index = final

    def sanity(self, ops, log, watchers):
        """The checkers must notice damage done on purpose to this run's
        own records: a lost acknowledged write, a stale read, a watch
        gap. (Proves that green means checked, not skipped.)"""
        acked = [op for op in checks.acked_writes(ops)
                 if op.f != "delete"]
        if not acked or not log:
            self.problem("checker-sanity", "nothing to corrupt")
            return
        victim = acked[len(acked) // 2]
        lost = [ev for ev in log if ev["index"] != victim.result["index"]]
        if not checks.check_lost(ops, lost):
            self.problem("checker-sanity", "a dropped write went unseen")
        later = [op for op in checks.acked_writes(ops)
                 if op.key == victim.key and op.invoke > victim.complete]
        t = min((op.complete for op in later), default=float("inf"))
        reads = [op for op in ops if op.f == "get" and op.outcome == OK and
                 op.key == victim.key and op.invoke > t]
        if reads:
            bad = [Op.from_dict(op.to_dict()) for op in ops]
            for b, op in zip(bad, ops):
                b.id = op.id
            target = next(b for b in bad if b.id == reads[-1].id)
            # the read now returns a value overwritten long before
            target.result = dict(target.result, value=victim.value,
                                 index=victim.result["index"])
            rs = lz.check([b for b in bad if b.key == victim.key], log=log,
                          budget=self.args.budget,
                          apply_window=self.args.apply_window)
            if all(r.ok for r in rs):
                self.problem("checker-sanity", "a stale read went unseen")
        w = max(watchers, key=lambda w: len(w.events))
        if len(w.events) > 2:
            gap = w.events[:1] + w.events[2:]
            if not checks.check_watch(w.srv.name, gap, log, from_index=1):
                self.problem("checker-sanity", "a watch gap went unseen")

    def summary(self):
        ops = self.ops
        return {
            "hosts": self.args.hosts, "rounds": self.args.rounds,
            "seed": self.seed, "seconds": round(time.monotonic() -
                                                self.t_start, 1),
            "operations": len(ops),
            "by_outcome": {o: sum(1 for x in ops if x.outcome == o)
                           for o in (OK, FAIL, UNKNOWN)},
            "refused": sum(1 for x in ops if x.outcome == FAIL and
                           x.result.get("code") is None),
            "by_kind": checks.summary_counts(ops),
            "faults": getattr(self, "faults", {}),
            "final_index": getattr(self, "final_index", None),
            "watch_events": getattr(self, "watch_events", {}),
            "watch_reconnects": getattr(self, "watch_reconnects", {}),
            "watch_401": getattr(self, "watch_401", {}),
            "hosts_with_short_history": getattr(self, "short_logs", {}),
            "check_seconds": round(getattr(self, "check_time", 0), 2),
            "problems": {k: len(v) for k, v in self.problems.items()},
        }


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=3, choices=(3, 5))
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--seed", type=int,
                    default=int(time.time()) % 100000)
    ap.add_argument("--faults", default="",
                    help="comma-separated subset of: " + ",".join(KINDS))
    ap.add_argument("--fault-min", type=float, default=1.0)
    ap.add_argument("--fault-max", type=float, default=2.5)
    ap.add_argument("--settle", type=float, default=0.3)
    ap.add_argument("--op-timeout", type=float, default=3.0)
    ap.add_argument("--think", type=float, default=0.02,
                    help="max pause between a client's operations (s)")
    ap.add_argument("--heartbeat", type=int, default=50)
    ap.add_argument("--election", type=int, default=500)
    ap.add_argument("--budget", type=int, default=3_000_000)
    ap.add_argument("--apply-window", type=float, default=30.0,
                    help="latest an unanswered DELETE may apply after it "
                    "was sent (s); only makes the check stricter")
    ap.add_argument("--ovld-args", default="",
                    help="extra ovld flags, e.g. '--snapshot-count 200'")
    ap.add_argument("--out", default="", help="write the JSON summary here")
    ap.add_argument("--history", default="",
                    help="write the recorded history (JSON) here")
    return ap.parse_args(argv)


def main(argv=None, title="faults"):
    args = parse(argv if argv is not None else sys.argv[1:])
    cl.require_root("network namespaces, iptables and tc")
    run = None
    with cl.Lab(title) as lab:
        run = Run(lab, args)
        print("     seed %d, %d hosts, %d rounds" % (args.seed, args.hosts,
                                                     args.rounds))
        try:
            run.go()
        finally:
            for s in lab.servers:
                s.kill9()
            if run.net is not None:
                run.net.teardown()
        report(lab, run, args)
    lab.finish()


CATEGORIES = ("crash", "restart", "recovery", "converge", "final-read",
              "linearizability", "undecided", "indexes", "event-log",
              "lost-write", "logs-agree", "watch", "shutdown", "sanitizer",
              "checker-sanity")


def report(lab, run, args):
    s = run.summary()
    print("     summary: " + json.dumps(s, sort_keys=True), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(s, f, indent=1, sort_keys=True)
    lab.check(s["operations"] > 20 * max(1, args.rounds) // 2,
              "clients ran %d operations (%d ok, %d failed, %d unknown)" %
              (s["operations"], s["by_outcome"][OK], s["by_outcome"][FAIL],
               s["by_outcome"][UNKNOWN]))
    acked = s["by_kind"]
    lab.check(sum(v for k, v in acked.items() if k.endswith(".ok") and
                  not k.startswith("get")) > 0, "some writes succeeded")
    for cat in CATEGORIES:
        ps = run.problems.get(cat, [])
        lab.check(not ps, "%s: no problems" % cat,
                  "\n     ".join(ps[:10]) +
                  ("\n     ... %d more" % (len(ps) - 10)
                   if len(ps) > 10 else ""))
    left = cl.sh("ip", "netns", "list").stdout
    lab.check(run.net is None or run.net.prefix + "-" not in left,
              "namespaces deleted")


if __name__ == "__main__":
    main()
