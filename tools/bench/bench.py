#!/usr/bin/env python3
"""bench.py - ovld versus etcd 3.4 (v2 API), side by side, on one machine.

Runs every measurement against etcd first and then ovld, each alone on the
same ports and the same disk, and prints one table with both figures and
the ratio ovld/etcd. Throughput comes from wrk (kv.lua); latency-to-event
and failover are timed here with raw sockets (httpc.py) because they need
the arrival time of individual responses. --peer-tls runs only 3-host
clusters: ovld (peer mTLS), ovld before the peer TLS work, and etcd with and
without peer TLS (docs/benchmarks.md, "Peer mTLS"). Use tools/bench/run.sh.
"""

import argparse
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpc
import procs

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "kv.lua")
LAT1_SRC = os.path.join(HERE, "lat1.c")


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------- wrk


def run_wrk(port, mode, conns, duration, keys, args, prefix="/v2/keys/bench",
            query="", servers=()):
    """Runs wrk with kv.lua; returns its BENCHJSON summary plus rps, and the
    CPU time the servers used per request: unlike req/s, that figure holds
    up when other work shares the two cores."""
    cpu0 = sum(s.cpu_seconds() for s in servers)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    threads = min(args.threads, conns)
    env = dict(os.environ, BENCH_MODE=mode, BENCH_KEYS=str(keys),
               BENCH_VSIZE=str(args.value_size), BENCH_PREFIX=prefix,
               BENCH_QUERY=query, BENCH_THREADS=str(threads),
               BENCH_CONNS=str(conns))
    argv = ["wrk", "-t", str(threads), "-c", str(conns), "-d",
            "%ds" % duration, "--timeout", "5s", "-s", LUA,
            procs.url(port)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True)
    summary, finished = None, 0
    for line in p.stdout:
        if line.startswith("BENCHDONE"):
            # wrk sleeps for all of -d; a finished load ends it early.
            finished += 1
            if finished == threads:
                p.send_signal(signal.SIGINT)
        elif line.startswith("BENCHJSON "):
            summary = json.loads(line[len("BENCHJSON "):])
    p.wait()
    if summary is None:
        raise RuntimeError("wrk printed no summary (exit %d)" % p.returncode)
    return finish_summary(summary, "wrk " + mode, servers, cpu0, ru0)


def finish_summary(summary, what, servers, cpu0, ru0):
    """Adds rps, errors and the CPU figures to a BENCHJSON summary; a run
    with more than 1 % errors is refused."""
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    secs = summary["duration_us"] / 1e6
    summary["rps"] = summary["requests"] / secs if secs > 0 else 0.0
    errs = sum(summary[k] for k in summary if k.startswith("err_"))
    summary["errors"] = errs
    if servers and summary["requests"]:
        cpu = sum(s.cpu_seconds() for s in servers) - cpu0
        summary["cpu_us_per_req"] = cpu * 1e6 / summary["requests"]
        # The load generator's share of the two cores, which bounds what
        # any server can reach here (docs/benchmarks.md).
        client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime +
                                                      ru0.ru_stime)
        summary["client_cpu_us_per_req"] = (client_cpu * 1e6 /
                                            summary["requests"])
    if errs > summary["requests"] / 100:
        raise RuntimeError("%s: %d errors in %d requests" %
                           (what, errs, summary["requests"]))
    return summary


def build_lat1(args):
    """Compiles lat1.c (the one-connection PUT timer) into the out dir."""
    exe = os.path.join(args.out_dir, "lat1")
    subprocess.run(["cc", "-O2", "-o", exe, LAT1_SRC], check=True)
    args.lat1 = exe


def run_lat1(port, duration, keys, args, servers=()):
    """One connection, one PUT at a time, each timed by lat1 (wrk's latency
    histogram disagreed with the syscall timestamps for this load; see
    lat1.c). Returns the same summary shape as run_wrk."""
    cpu0 = sum(s.cpu_seconds() for s in servers)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([args.lat1, str(port), "/v2/keys/bench", str(keys),
                          str(args.value_size), str(duration)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("BENCHJSON ")]
    if not line:
        raise RuntimeError("lat1 printed no summary")
    summary = json.loads(line[0][len("BENCHJSON "):])
    return finish_summary(summary, "lat1", servers, cpu0, ru0)


def count_children(port, prefix):
    c = httpc.Conn(port, timeout=60)
    try:
        r = c.request("GET", prefix)
    finally:
        c.close()
    if r.status != 200:
        return set()
    nodes = json.loads(r.body)["node"].get("nodes", [])
    return {n["key"].rsplit("/", 1)[1] for n in nodes}


def load_keys(port, n, prefix, args):
    """Writes <prefix>/k0..k<n-1> (value_size bytes each) and checks that
    all exist. Returns seconds taken."""
    t0 = time.monotonic()
    run_wrk(port, "load", 64, args.load_timeout, n, args, prefix=prefix)
    have = count_children(port, prefix)
    missing = [i for i in range(n) if "k%d" % i not in have]
    if missing:
        log("load: %d keys missing after wrk, writing them" % len(missing))
        c = httpc.Conn(port)
        body = {"value": "v" * args.value_size}
        for i in missing:
            r = c.request("PUT", "%s/k%d" % (prefix, i), body)
            if r.status not in (200, 201):
                raise RuntimeError("load: PUT -> %d" % r.status)
        c.close()
    return time.monotonic() - t0


# ---------------------------------------------------------------- single


def bench_single(fl, args):
    res = {}
    s = fl.single("a", args.port, args.port + 1)
    s.start()
    try:
        if procs.wait_serving(s.client_port, timeout=30) is None:
            raise RuntimeError("%s did not start (see %s)" %
                               (fl.kind, s.log_path))
        load_keys(s.client_port, args.keys, "/v2/keys/bench", args)
        measure(res, "put64", lambda: run_wrk(
            s.client_port, "put", 64, args.duration, args.keys, args,
            servers=[s]))
        measure(res, "put1", lambda: run_lat1(
            s.client_port, args.duration, args.keys, args, servers=[s]))
        measure(res, "get64", lambda: run_wrk(
            s.client_port, "get", 64, args.duration, args.keys, args,
            servers=[s]))
        if args.profile_single and fl.kind == "ovld":
            profile(s, args)
    finally:
        s.stop()
    bench_big(fl, args, res)
    return res


def bench_big(fl, args, res):
    """Memory with big_keys keys (res["big"]), then restart time on that
    data (res["restart"]); each kept even if the other fails."""
    s = fl.single("b", args.port, args.port + 1)
    s.start()
    try:
        measure(res, "big", lambda: load_big(s, args))
        if "error" not in res["big"]:
            measure(res, "restart", lambda: restarts(s, args))
    finally:
        s.stop()


def load_big(s, args):
    if procs.wait_serving(s.client_port, timeout=30) is None:
        raise RuntimeError("%s did not start" % s.flavor)
    out = {"load_s": load_keys(s.client_port, args.big_keys,
                               "/v2/keys/big", args)}
    time.sleep(3)  # let background work (snapshots, GC) settle
    out["mem"] = s.status_mem()
    out["du_kib"] = du_kib(s.data_dir)
    return out


def restarts(s, args):
    """SIGTERM, wait for the exit, start again: time from exec to the first
    successful GET of the last key written."""
    probe = "/v2/keys/big/k%d" % (args.big_keys - 1)
    times = []
    for _ in range(args.trials):
        s.stop(signal.SIGTERM)
        t0 = s.start(restart=True)
        t1 = procs.wait_serving(s.client_port, probe, timeout=60,
                                interval=0.0005)
        if t1 is None:
            raise RuntimeError("no answer after restart (see %s)" %
                               s.log_path)
        times.append((t1 - t0) * 1000)
    return {"ms": times, "median_ms": statistics.median(times),
            "mem_after": s.status_mem()}


def du_kib(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total // 1024


def profile(s, args):
    """perf record of ovld under the 64-connection PUT and GET loads."""
    for mode in ("put", "get"):
        out = os.path.join(args.out_dir, "perf-single-%s.data" % mode)
        rec = subprocess.Popen(["perf", "record", "-g", "-o", out, "-p",
                                str(s.pid), "--", "sleep",
                                str(args.duration)],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        run_wrk(s.client_port, mode, 64, args.duration, args.keys, args)
        rec.wait()
        log("perf data: %s" % out)


# ---------------------------------------------------------------- cluster


def start_cluster(fl, args):
    """Starts three members and waits for a leader; stops them all if that
    fails, so that the next system finds the ports free."""
    cports = [args.port + 10 + i for i in range(3)]
    pports = [args.port + 20 + i for i in range(3)]
    servers = fl.cluster("c", cports, pports)
    try:
        if fl.kind == "etcd":
            for s in servers:
                s.start()
        else:
            start_ovld_cluster(servers)
        leader = procs.wait_leader(servers, timeout=30)
        if leader is None:
            raise RuntimeError("no leader among 3 (%s)" %
                               [s.state() for s in servers])
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers, leader


def start_ovld_cluster(servers):
    """A join needs a serving member, so one at a time; since the peer TLS
    work it also needs the first host's join token, which that host writes
    once its secret is in the replicated store."""
    token = None
    for s in servers:
        if token:
            s.env = {"OVLD_TOKEN": token}
        s.start()
        if procs.wait_serving(s.client_port, timeout=30) is None:
            raise RuntimeError("%s did not come up (see %s)" %
                               (s.name, s.log_path))
        if s is servers[0]:
            token = wait_token(s, timeout=30)


def wait_token(s, timeout):
    """The first host's join token, or None for an ovld without a PKI
    directory (before the peer TLS work)."""
    if not os.path.isdir(os.path.join(s.data_dir, "pki")):
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        token = s.join_token()
        if token:
            return token
        time.sleep(0.05)
    raise RuntimeError("%s wrote no pki/join-token in %gs" % (s.name,
                                                              timeout))


def bench_cluster(fl, args):
    res = {}
    servers, leader = start_cluster(fl, args)
    try:
        follower = next(s for s in servers if s is not leader)
        res["leader"] = leader.name
        load_keys(leader.client_port, args.keys, "/v2/keys/bench", args)
        measure(res, "cput64", lambda: run_wrk(
            leader.client_port, "put", 64, args.duration, args.keys, args,
            servers=servers))
        measure(res, "cqget64", lambda: run_wrk(
            leader.client_port, "get", 64, args.duration, args.keys, args,
            query="?quorum=true", servers=servers))
        # Docker on every host writes to its own server: most writes
        # arrive on a follower and are forwarded to the leader.
        measure(res, "cfput64", lambda: run_wrk(
            follower.client_port, "put", 64, args.duration, args.keys, args,
            servers=servers))
        measure(res, "watch", lambda: measure_watch(
            leader.client_port, follower.client_port, args.watch_samples))
        measure(res, "failover", lambda: failover(servers, args))
    finally:
        for s in servers:
            s.stop()
    return res


def body_index(resp):
    return json.loads(resp.body)["node"]["modifiedIndex"]


def measure_watch(leader_port, follower_port, samples):
    """Latency from the PUT's ack (leader) to the wake of a long-poll watch
    on a follower, one sample at a time."""
    key = "/v2/keys/wbench/k"
    pc = httpc.Conn(leader_port)
    idx = body_index(pc.request("PUT", key, {"value": "0"}))
    pc.close()
    # The follower must have the key before the first watch is armed.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st, doc, _ = httpc.get_json(follower_port, key)
        if st == 200 and doc["node"]["modifiedIndex"] >= idx:
            break
        time.sleep(0.01)
    lat, wsock, psock = [], None, None
    sel = selectors.DefaultSelector()
    try:
        for i in range(samples):
            if wsock is None:
                wsock = connect(follower_port)
                sel.register(wsock, selectors.EVENT_READ, "w")
            if psock is None:
                psock = connect(leader_port)
                sel.register(psock, selectors.EVENT_READ, "p")
            wsock.sendall(httpc.encode_request(
                "GET", "127.0.0.1", "%s?wait=true&waitIndex=%d" %
                (key, idx + 1)))
            wp, pp = httpc.Parser(), httpc.Parser()
            time.sleep(0.005)  # let the follower register the watch
            psock.sendall(httpc.encode_request(
                "PUT", "127.0.0.1", key, {"value": str(i + 1)}))
            t_ack = t_wake = None
            deadline = time.monotonic() + 5
            while (t_ack is None or t_wake is None) and \
                    time.monotonic() < deadline:
                for k, _ in sel.select(0.5):
                    data = k.fileobj.recv(65536)
                    now = time.perf_counter()
                    if k.data == "p" and pp.feed(data):
                        t_ack = now
                    elif k.data == "w" and wp.feed(data):
                        t_wake = now
            if t_ack is None or t_wake is None:
                raise RuntimeError("watch sample %d timed out (ack %s wake "
                                   "%s)" % (i, t_ack, t_wake))
            idx = body_index(pp.resp)
            if body_index(wp.resp) != idx:
                raise RuntimeError("watch woke on index %d, PUT was %d" %
                                   (body_index(wp.resp), idx))
            lat.append((t_wake - t_ack) * 1000)
            for sock, p in ((wsock, wp), (psock, pp)):
                if p.resp.headers.get("connection", "") == "close":
                    sel.unregister(sock)
                    sock.close()
                    if sock is wsock:
                        wsock = None
                    else:
                        psock = None
    finally:
        for s in (wsock, psock):
            if s:
                s.close()
    return summarize(lat)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def summarize(xs):
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"n": len(xs), "p50_ms": pick(0.50), "p90_ms": pick(0.90),
            "p99_ms": pick(0.99), "max_ms": xs[-1], "min_ms": xs[0]}


# ---------------------------------------------------------------- failover


class Writer:
    """Starts one PUT every `period` seconds on a new connection to the
    given ports in turn, each with its own deadline, all in one select loop,
    and records (key, value, sent, acked) for each."""

    def __init__(self, ports, prefix, period=0.005, timeout=3.0):
        self.ports = ports
        self.prefix = prefix
        self.period = period
        self.timeout = timeout
        self.sel = selectors.DefaultSelector()
        self.seq = 0
        self.records = []
        self.next_send = time.monotonic()

    def _send(self):
        port = self.ports[self.seq % len(self.ports)]
        rec = {"key": "%s/w%d" % (self.prefix, self.seq),
               "value": str(self.seq), "sent": time.monotonic(),
               "acked": None, "status": None}
        self.seq += 1
        self.records.append(rec)
        try:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            rec["status"] = "connect"
            return
        req = httpc.encode_request("PUT", "127.0.0.1", rec["key"],
                                   {"value": rec["value"]},
                                   {"Connection": "close"})
        st = {"rec": rec, "req": req, "parser": httpc.Parser()}
        self.sel.register(s, selectors.EVENT_WRITE, st)

    def _finish(self, s, rec, status):
        rec["status"] = status
        self.sel.unregister(s)
        s.close()

    def _event(self, key, mask):
        s, st = key.fileobj, key.data
        rec = st["rec"]
        try:
            if mask & selectors.EVENT_WRITE:
                n = s.send(st["req"])
                st["req"] = st["req"][n:]
                if not st["req"]:
                    self.sel.modify(s, selectors.EVENT_READ, st)
                return
            data = s.recv(65536)
            if st["parser"].feed(data):
                code = st["parser"].resp.status
                if code in (200, 201):
                    rec["acked"] = time.monotonic()
                self._finish(s, rec, code)
        except (OSError, ConnectionError, ValueError) as e:
            self._finish(s, rec, type(e).__name__)

    def _expire(self, now):
        for key in list(self.sel.get_map().values()):
            rec = key.data["rec"]
            if now - rec["sent"] > self.timeout:
                self._finish(key.fileobj, rec, "timeout")

    def run(self, until):
        """Runs until until(now) is true, then drains in-flight requests."""
        while True:
            now = time.monotonic()
            if until(now):
                break
            if now >= self.next_send:
                self._send()
                self.next_send += self.period
            wait = max(0, self.next_send - time.monotonic())
            for key, mask in self.sel.select(min(wait, 0.05)):
                self._event(key, mask)
            self._expire(time.monotonic())
        while self.sel.get_map():
            for key, mask in self.sel.select(0.05):
                self._event(key, mask)
            self._expire(time.monotonic())


def failover(servers, args):
    trials = []
    for t in range(args.trials):
        leader = procs.wait_leader(servers, timeout=30)
        if leader is None:
            raise RuntimeError("no leader before trial %d" % t)
        survivors = [s for s in servers if s is not leader]
        w = Writer([s.client_port for s in survivors],
                   "/v2/keys/fo/t%d" % t)
        state = {"t_kill": None}
        t_start = time.monotonic()

        def until(now):
            if state["t_kill"] is None:
                if now - t_start >= 1.0:
                    state["t_kill"] = time.monotonic()
                    leader.kill9()
                return False
            after = [r["acked"] for r in w.records
                     if r["acked"] and r["sent"] >= state["t_kill"]]
            if after and now - min(after) >= 0.5:
                return True
            return now - state["t_kill"] >= args.failover_timeout

        w.run(until)
        t_kill = state["t_kill"]
        after = [r["acked"] for r in w.records
                 if r["acked"] and r["sent"] >= t_kill]
        acked = [r for r in w.records if r["acked"]]
        unavailable = (min(after) - t_kill) * 1000 if after else None
        lost = check_lost(survivors, acked)
        log("failover trial %d: leader %s, unavailable %s ms, %d acked, "
            "%d lost" % (t, leader.name, unavailable and
                         round(unavailable, 1), len(acked), lost))
        trials.append({"killed": leader.name, "unavailable_ms": unavailable,
                       "acked": len(acked), "lost": lost,
                       "sent": len(w.records)})
        leader.start(restart=True)
        if procs.wait_leader(servers, timeout=30) is None:
            raise RuntimeError("cluster did not recover after trial %d" % t)
        time.sleep(1)
    ok = [t["unavailable_ms"] for t in trials if t["unavailable_ms"]]
    return {"trials": trials,
            "median_ms": statistics.median(ok) if len(ok) == len(trials)
            else None,
            "lost": sum(t["lost"] for t in trials)}


def check_lost(survivors, acked):
    """Acknowledged writes that a quorum read no longer returns."""
    if procs.wait_leader(survivors, timeout=30) is None:
        raise RuntimeError("survivors elected no leader")
    c = httpc.Conn(survivors[0].client_port)
    lost = 0
    for r in acked:
        resp = c.request("GET", r["key"] + "?quorum=true")
        if resp.status != 200 or \
                json.loads(resp.body)["node"].get("value") != r["value"]:
            lost += 1
    c.close()
    return lost


# ---------------------------------------------------------------- report


def measure(res, name, fn):
    log("  %s ..." % name)
    try:
        res[name] = fn()
    except Exception as e:  # one broken figure must not sink the run
        res[name] = {"error": "%s: %s" % (type(e).__name__, e)}
        log("  %s FAILED: %s" % (name, res[name]["error"]))


def median_merge(trees):
    """One tree from several rounds' results: numbers become the median of
    the rounds that have them; anything else comes from the first round."""
    first = trees[0]
    if isinstance(first, dict):
        keys = []
        for t in trees:
            keys += [k for k in t if k not in keys]
        return {k: median_merge([t[k] for t in trees if k in t])
                for k in keys}
    nums = [t for t in trees if isinstance(t, (int, float)) and
            not isinstance(t, bool)]
    if nums and len(nums) == len(trees):
        return statistics.median(nums)
    return first


def dig(res, *path):
    cur = res
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


# (label, unit, getter, target kind, target value)
#   kind "ratio>=": ovld/etcd >= v; "ratio<=": ovld/etcd <= v; "<=": ovld <= v;
#   "==": ovld == v. A figure that the disk or the CPU sets (throughput,
#   anything with an fsync in it) has a ratio target: etcd, measured in the
#   same run on the same disk, carries the machine's speed. Absolute targets
#   are left only where the machine does not set the figure (memory for a
#   given data set, failover timing from the election timeout, lost writes).
METRICS = [
    ("1 host PUT, 64 conns", "req/s",
     lambda r: dig(r, "single", "put64", "rps"), "ratio>=", 3),
    ("1 host PUT, 64 conns: server CPU per request", "µs",
     lambda r: dig(r, "single", "put64", "cpu_us_per_req"), None, None),
    ("1 host PUT, 64 conns: wrk CPU per request", "µs",
     lambda r: dig(r, "single", "put64", "client_cpu_us_per_req"), None, None),
    ("1 host PUT, 1 conn, p50", "ms",
     lambda r: ms(dig(r, "single", "put1", "p50_us")), "ratio<=", 1),
    ("1 host PUT, 1 conn, p99", "ms",
     lambda r: ms(dig(r, "single", "put1", "p99_us")), None, None),
    ("1 host GET, 64 conns", "req/s",
     lambda r: dig(r, "single", "get64", "rps"), "ratio>=", 3),
    ("1 host GET, 64 conns: server CPU per request", "µs",
     lambda r: dig(r, "single", "get64", "cpu_us_per_req"), None, None),
    ("1 host GET, 64 conns: wrk CPU per request", "µs",
     lambda r: dig(r, "single", "get64", "client_cpu_us_per_req"), None, None),
    ("RSS, 100k keys of 256 B", "MiB",
     lambda r: mib(dig(r, "single", "big", "mem", "VmRSS")), "<=", 100),
    ("RssAnon, 100k keys of 256 B", "MiB",
     lambda r: mib(dig(r, "single", "big", "mem", "RssAnon")), "<=", 40),
    ("Peak RSS (VmHWM) while loading 100k keys", "MiB",
     lambda r: mib(dig(r, "single", "big", "mem", "VmHWM")), None, None),
    ("RSS after a restart with 100k keys", "MiB",
     lambda r: mib(dig(r, "single", "restart", "mem_after", "VmRSS")),
     None, None),
    ("Restart with 100k keys (median)", "ms",
     lambda r: dig(r, "single", "restart", "median_ms"), "ratio<=", 0.1),
    ("Load 100k keys, 64 conns", "s",
     lambda r: dig(r, "single", "big", "load_s"), None, None),
    ("Data dir with 100k keys", "MiB",
     lambda r: mib(dig(r, "single", "big", "du_kib")), None, None),
    ("3 hosts PUT, 64 conns (leader)", "req/s",
     lambda r: dig(r, "cluster", "cput64", "rps"), "ratio>=", 3),
    ("3 hosts PUT: CPU per request, all 3 servers", "µs",
     lambda r: dig(r, "cluster", "cput64", "cpu_us_per_req"), None, None),
    ("3 hosts PUT via a follower, 64 conns", "req/s",
     lambda r: dig(r, "cluster", "cfput64", "rps"), None, None),
    ("3 hosts PUT via a follower: CPU per request, all 3", "µs",
     lambda r: dig(r, "cluster", "cfput64", "cpu_us_per_req"), None, None),
    ("3 hosts quorum GET, 64 conns", "req/s",
     lambda r: dig(r, "cluster", "cqget64", "rps"), "ratio>=", 5),
    ("3 hosts quorum GET: CPU per request, all 3", "µs",
     lambda r: dig(r, "cluster", "cqget64", "cpu_us_per_req"), None, None),
    ("3 hosts quorum GET: wrk CPU per request", "µs",
     lambda r: dig(r, "cluster", "cqget64", "client_cpu_us_per_req"),
     None, None),
    ("Follower watch wake after ack, p50", "ms",
     lambda r: dig(r, "cluster", "watch", "p50_ms"), "ratio<=", 1),
    ("Follower watch wake after ack, p99", "ms",
     lambda r: dig(r, "cluster", "watch", "p99_ms"), "ratio<=", 1),
    ("Writes unavailable after kill -9 leader (median)", "ms",
     lambda r: dig(r, "cluster", "failover", "median_ms"), "<=", 600),
    ("Acknowledged writes lost", "",
     lambda r: dig(r, "cluster", "failover", "lost"), "==", 0),
]


def ms(us):
    return None if us is None else us / 1000.0


def mib(kib):
    return None if kib is None else kib / 1024.0


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, int) or abs(v) >= 100:
        return "{:,.0f}".format(v)
    return "%.3g" % v if abs(v) < 1 else "%.1f" % v


def verdict(kind, target, o, e):
    if kind is None:
        return ""
    if o is None:
        return "?"
    if kind == "ratio>=":
        return "" if not e else ("yes" if o / e >= target else "**no**")
    if kind == "ratio<=":
        return "" if not e else ("yes" if o / e <= target else "**no**")
    if kind == "<=":
        return "yes" if o <= target else "**no**"
    return "yes" if o == target else "**no**"


def target_text(kind, target):
    if kind is None:
        return ""
    return {"ratio>=": "≥ %g× etcd" % target,
            "ratio<=": "≤ %g× etcd" % target, "<=": "≤ %g" % target,
            "==": "= %g" % target}.get(kind, "")


def table(results):
    e, o = results.get("etcd", {}), results.get("ovld", {})
    rows = ["| Metric | unit | etcd 3.4 | ovld | ovld/etcd | target | met |",
            "|---|---|---:|---:|---:|---|---|"]
    big = "%gk" % (results.get("params", {}).get("big_keys", 100000) / 1000)
    for label, unit, get, kind, target in METRICS:
        label = label.replace("100k", big)
        ev, ov = get(e), get(o)
        ratio = "%.2f" % (ov / ev) if ev and ov is not None else "n/a"
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, unit, fmt(ev), fmt(ov), ratio, target_text(kind, target),
            verdict(kind, target, ov, ev)))
    return "\n".join(rows)


def errors(results):
    out = []

    def walk(sysname, path, node):
        if isinstance(node, dict):
            if "error" in node and isinstance(node["error"], str):
                out.append("- %s %s: %s" % (sysname, "/".join(path),
                                             node["error"]))
            for k, v in node.items():
                walk(sysname, path + [k], v)

    for sysname, r in results.items():
        if isinstance(r, dict):
            walk(sysname, [], r)
    return "\n".join(out)


def disk_sync_ms(root, n=200, size=4096):
    """What one small synced write costs on the disk under root: n rewrites
    of a 4 KiB block in a written file, each followed by fdatasync (a log
    append into a preallocated, written segment, as both systems do).
    Returns p50/p99/mean in ms."""
    path = os.path.join(root, "fsync-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"\0" * size
        for i in range(n):
            os.pwrite(fd, block, i * size)
        os.fsync(fd)
        lat = []
        for i in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, block, i * size)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    return {"p50_ms": lat[n // 2], "p99_ms": lat[min(n - 1, n * 99 // 100)],
            "mean_ms": statistics.mean(lat), "n": n}


def disk_text(d):
    return "4 KiB write + fdatasync p50 %.3f ms, p99 %.3f ms" % (
        d["p50_ms"], d["p99_ms"])


def machine_info(args):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f
                       if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ev = subprocess.run([args.etcd_bin, "--version"], capture_output=True,
                        text=True).stdout.splitlines()
    rev = os.environ.get("OVLD_REV") or subprocess.run(
        ["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True).stdout.strip() + " (worktree)"
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "cpus": os.cpu_count(), "cpu": cpu,
            "kernel": platform.release(),
            "etcd": ev[0] if ev else "?", "ovld_rev": rev,
            "loadavg_start": os.getloadavg()[0],
            "fs": subprocess.run(["stat", "-f", "-c", "%T", args.data_root],
                                 capture_output=True,
                                 text=True).stdout.strip()}


# ---------------------------------------------------------------- peer TLS

# The four clusters of --peer-tls: (label, kind, peer URL scheme, whether
# etcd gets the peer TLS flags). "ovld" is the build under test, whose
# peer port always speaks mutual TLS; "ovld-plain" is the one given by
# --ovld-plain-bin, the last commit before the peer TLS work.
PEER_TLS_SYSTEMS = [("ovld", "ovld", "https", False),
                    ("ovld-plain", "ovld", "http", False),
                    ("etcd-tls", "etcd", "https", True),
                    ("etcd", "etcd", "http", False)]


def bench_peer_tls(fl, args):
    """3 hosts: PUT and quorum GET with 64 connections on the leader, PUT
    through a follower (forwarded over the peer channel in ovld)."""
    res = {}
    servers, leader = start_cluster(fl, args)
    try:
        follower = next(s for s in servers if s is not leader)
        load_keys(leader.client_port, args.keys, "/v2/keys/bench", args)
        for name, port, mode, query in (
                ("cput64", leader.client_port, "put", ""),
                ("cqget64", leader.client_port, "get", "?quorum=true"),
                ("cfput64", follower.client_port, "put", "")):
            measure(res, name, lambda: run_wrk(
                port, mode, 64, args.duration, args.keys, args, query=query,
                servers=servers))
    finally:
        for s in servers:
            s.stop()
    return res


# (label, measurement, field, unit, better) for the --peer-tls table;
# better says which way a ratio improves ("up" for throughput).
PEER_TLS_ROWS = [
    ("3 hosts PUT, 64 conns (leader)", "cput64", "rps", "req/s", "up"),
    ("3 hosts PUT: CPU per request, all 3 servers", "cput64",
     "cpu_us_per_req", "µs", "down"),
    ("3 hosts quorum GET, 64 conns", "cqget64", "rps", "req/s", "up"),
    ("3 hosts quorum GET: CPU per request, all 3", "cqget64",
     "cpu_us_per_req", "µs", "down"),
    ("3 hosts PUT via a follower, 64 conns", "cfput64", "rps", "req/s",
     "up"),
    ("3 hosts PUT via a follower: CPU per request, all 3", "cfput64",
     "cpu_us_per_req", "µs", "down"),
]


def ratio(a, b):
    return a / b if a is not None and b else None


def rfmt(r):
    return "n/a" if r is None else "%.2f" % r


def peer_tls_table(results):
    """One row per figure: the four systems, mTLS/plain for each of ovld
    and etcd, ovld/etcd with TLS and plain, and whether the ovld/etcd ratio
    with TLS is no worse than the plain one."""
    rows = ["| Figure | unit | ovld mTLS | ovld plain (%s) | etcd peer TLS "
            "| etcd plain | ovld mTLS/plain | etcd TLS/plain "
            "| ovld/etcd, TLS | ovld/etcd, plain | TLS ratio no worse |" %
            results.get("machine", {}).get("ovld_plain_rev", "?"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, meas, field, unit, better in PEER_TLS_ROWS:
        v = {k: dig(results.get(k, {}), "cluster", meas, field)
             for k, _, _, _ in PEER_TLS_SYSTEMS}
        ot, op = ratio(v["ovld"], v["etcd-tls"]), ratio(v["ovld-plain"],
                                                        v["etcd"])
        ok = "?"
        if ot is not None and op is not None:
            ok = "yes" if (ot >= op if better == "up" else ot <= op) \
                else "**no**"
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                    % (label, unit, fmt(v["ovld"]), fmt(v["ovld-plain"]),
                       fmt(v["etcd-tls"]), fmt(v["etcd"]),
                       rfmt(ratio(v["ovld"], v["ovld-plain"])),
                       rfmt(ratio(v["etcd-tls"], v["etcd"])), rfmt(ot),
                       rfmt(op), ok))
    return "\n".join(rows)


def peer_tls_rounds(results):
    """The per-round ovld mTLS/plain ratios, to show how far the medians
    move on a shared machine, and the CPU-per-write target's verdict."""
    out = []
    for label, meas, field, unit, _ in PEER_TLS_ROWS:
        rs = [ratio(dig(r, "ovld", "cluster", meas, field),
                    dig(r, "ovld-plain", "cluster", meas, field))
              for r in results.get("rounds", [])]
        out.append("- ovld mTLS/plain, %s: %s" % (
            label, ", ".join(rfmt(x) for x in rs)))
    put = ratio(dig(results, "ovld", "cluster", "cput64", "cpu_us_per_req"),
                dig(results, "ovld-plain", "cluster", "cput64",
                    "cpu_us_per_req"))
    if put is not None:
        out.append("- target CPU per write (leader PUT) with mTLS ≤ 1.15× "
                   "without: %.2f× (%s)" % (put, "met" if put <= 1.15
                                             else "**not met**"))
    return "per round:\n" + "\n".join(out)


def main_peer_tls(args, root, results):
    """--peer-tls: the four 3-host clusters, in turn, for each round."""
    pki = procs.make_peer_pki(os.path.join(root, "etcd-peer-pki"),
                              ["c1", "c2", "c3"])
    bins = {"ovld": args.ovld_bin, "ovld-plain": args.ovld_plain_bin,
            "etcd-tls": args.etcd_bin, "etcd": args.etcd_bin}
    extra = {"ovld": args.ovld_args.split(), "etcd": args.etcd_args.split()}
    labels = [x[0] for x in PEER_TLS_SYSTEMS]
    rounds = results["rounds"] = []
    for n in range(args.rounds):
        rnd = {}
        rounds.append(rnd)
        order = PEER_TLS_SYSTEMS if n % 2 == 0 else PEER_TLS_SYSTEMS[::-1]
        for label, kind, scheme, tls in order:
            fl = procs.Flavor(kind, bins[label], root, args.out_dir,
                              extra[kind], label=label, peer_scheme=scheme,
                              peer_tls=pki if tls else None)
            log("round %d/%d: %s: 3 hosts" % (n + 1, args.rounds, label))
            measure(rnd.setdefault(label, {}), "cluster",
                    lambda: bench_peer_tls(fl, args))
        for label in labels:
            results[label] = median_merge([x[label] for x in rounds])


# ---------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default="etcd,ovld")
    ap.add_argument("--etcd-bin", default="etcd")
    ap.add_argument("--ovld-bin", default="")
    ap.add_argument("--peer-tls", action="store_true",
                    help="only 3 hosts: ovld (peer mTLS) and ovld before "
                    "peer TLS (--ovld-plain-bin), etcd with and without "
                    "peer TLS")
    ap.add_argument("--ovld-plain-bin", default="",
                    help="ovld without peer TLS, for --peer-tls")
    ap.add_argument("--port", type=int, default=28100,
                    help="base port: +0/+1 single, +10..12/+20..22 cluster")
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds per wrk run")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t")
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--big-keys", type=int, default=100000)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat everything, alternating which system goes "
                    "first; the table shows each figure's median")
    ap.add_argument("--watch-samples", type=int, default=2000)
    ap.add_argument("--failover-timeout", type=float, default=15.0)
    ap.add_argument("--load-timeout", type=int, default=300)
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--skip-cluster", action="store_true")
    ap.add_argument("--profile-single", action="store_true",
                    help="perf record ovld under PUT/GET load")
    ap.add_argument("--data-root", default="/var/tmp")
    ap.add_argument("--out-dir", default="")
    ap.add_argument("--keep", action="store_true", help="keep data dirs")
    ap.add_argument("--etcd-args", default="", help="extra etcd flags")
    ap.add_argument("--ovld-args", default="", help="extra ovld flags")
    return ap.parse_args()


def port_busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def main_all(args, root, results, systems):
    """The reference benchmark: single host and 3 hosts for each system, in
    turn, for each round."""
    bins = {"etcd": args.etcd_bin, "ovld": args.ovld_bin}
    extra = {"etcd": args.etcd_args.split(), "ovld": args.ovld_args.split()}
    rounds = results["rounds"] = []
    for n in range(args.rounds):
        rnd = {}
        rounds.append(rnd)
        # Alternate the order so that drift on a shared machine
        # (other load, thermal, page cache) favours neither system.
        order = systems if n % 2 == 0 else systems[::-1]
        for kind in order:
            fl = procs.Flavor(kind, bins[kind], root, args.out_dir,
                              extra[kind])
            r = rnd.setdefault(kind, {})
            if not args.skip_single:
                log("round %d/%d: %s: single host" %
                    (n + 1, args.rounds, kind))
                measure(r, "single", lambda: bench_single(fl, args))
            if not args.skip_cluster:
                log("round %d/%d: %s: 3 hosts" % (n + 1, args.rounds, kind))
                measure(r, "cluster", lambda: bench_cluster(fl, args))
        for kind in systems:
            results[kind] = median_merge([x[kind] for x in rounds])


def main():
    args = parse_args()
    systems = [x for x in args.systems.split(",") if x]
    ports = [args.port, args.port + 1] + \
        [args.port + d for d in (10, 11, 12, 20, 21, 22)]
    busy = [p for p in ports if port_busy(p)]
    if busy:
        sys.exit("ports in use: %s (pick another --port)" % busy)
    root = tempfile.mkdtemp(prefix="ovld-bench.", dir=args.data_root)
    args.out_dir = args.out_dir or os.path.join(root, "out")
    os.makedirs(args.out_dir, exist_ok=True)
    build_lat1(args)
    log("data and logs under %s" % root)
    disk0 = disk_sync_ms(root)
    log("disk: %s" % disk_text(disk0))
    results = {"machine": machine_info(args), "argv": sys.argv[1:],
               "disk": {"start": disk0},
               "params": {k: getattr(args, k) for k in (
                   "duration", "threads", "keys", "big_keys", "value_size",
                   "trials", "watch_samples", "rounds")}}
    if args.peer_tls:
        results["machine"]["ovld_plain_rev"] = os.environ.get(
            "OVLD_PLAIN_REV", "?")
    try:
        if args.peer_tls:
            main_peer_tls(args, root, results)
        else:
            main_all(args, root, results, systems)
    finally:
        procs._kill_all()
        results["machine"]["loadavg_end"] = os.getloadavg()[0]
        try:
            results["disk"]["end"] = disk_sync_ms(root)
        except OSError as e:
            results["disk"]["end"] = {"error": str(e)}
        with open(os.path.join(args.out_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        if not args.keep:
            for d in os.listdir(root):
                if d != "out":
                    shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    m = results["machine"]
    print("date %s, %s CPUs (%s), kernel %s, %s, ovld %s, data on %s, "
          "load average %.1f at start, %.1f at end" % (
              m["date"], m["cpus"], m["cpu"], m["kernel"], m["etcd"],
              m["ovld_rev"], m["fs"], m["loadavg_start"],
              m["loadavg_end"]))
    d = results["disk"]
    print("disk under %s: %s at start; %s at end" % (
        args.data_root, disk_text(d["start"]),
        disk_text(d["end"]) if "p50_ms" in d["end"] else d["end"]))
    print()
    if args.peer_tls:
        print(peer_tls_table(results))
        print()
        print(peer_tls_rounds(results))
    else:
        print(table(results))
    errs = errors(results)
    if errs:
        print("\nFailures:\n" + errs)
    print("\nraw results: %s" % os.path.join(args.out_dir, "results.json"))


if __name__ == "__main__":
    main()
