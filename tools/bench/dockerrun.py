"""dockerrun.py - benchmark of `docker run` -> first ping answered from the
other host, ovld's Docker plugin (driver ovl) beside Docker 20.10's own
overlay driver on ovld as its cluster store, in the same run.

Setup: a 2-host netlab; on each host ovld (h2 --join h1) serving the ovl
plugin, and two dockerd 20.10 side by side: one without a cluster store
for `ovlnet` (-d ovl --ipam-driver ovl; ovld's sync talks to it), one with
--cluster-store=etcd://127.0.0.1:2379 (its local ovld, as in
test_docker.py) for `dovnet` (-d overlay). Not one engine for both: an
engine on a cluster store reads ovld's network records (Docker's key
layout) as global networks of its own, so `ovlnet` would clash there.
Each host's ovld and dockerds share a private mount namespace where
/run/docker/plugins is the host's own directory, and a UTS namespace (the
overlay driver's serf layer names nodes by hostname).

One sample: a pinger container on h2 already on the network runs iputils
ping every 5 ms at the address the new container will get (--ip); the
clock starts when `docker run -d --net NET --ip IP` is started on h1 and
stops at the first echo reply's timestamp (ping -D). Runs of the two
drivers alternate, BENCH_RUNS each (default 50). Prints p50/p99/max per
driver and a JSON summary (BENCH_JSON=path writes it too). Target: ovl's
p50 and p99 no slower than Docker's overlay. A benchmark, not a test.
Run as root from the source tree after building: python3 tools/bench/dockerrun.py
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
os.environ.setdefault("OVLD_BIN", os.path.join(HERE, "..", "..", "build",
                                               "ovld"))
from netlab import NetLab, wait_until  # noqa: E402
import dockerlab  # noqa: E402
from dockerlab import Engine, IMAGE  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "50"))
NETS = {"ovl": ("ovlnet", "10.97.0"), "overlay": ("dovnet", "10.96.0")}
STORE_OPTS = ("discovery.heartbeat=3", "discovery.ttl=9")


class HostNs:
    """Mount + UTS namespaces shared by one host's ovld and dockerd."""

    def __init__(self, host):
        self.host = host
        self.dir = os.path.join(host.lab.dir, "rt-" + host.name)
        self.plugins = os.path.join(self.dir, "plugins")
        os.makedirs(self.plugins, exist_ok=True)
        script = ("hostname %s && mkdir -p /run/docker/plugins && "
                  "mount --bind %s /run/docker/plugins && "
                  "exec sleep 100000 # %s" % (host.name, self.plugins,
                                              self.dir))
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--propagation", "slave", "--",
             "sh", "-c", script], preexec_fn=dockerlab._die_with_parent)
        pid = self.proc.pid
        wait_until(lambda: " /run/docker/plugins " in
                   open("/proc/%d/mounts" % pid).read(), 10, 0.05)

    def enter(self):
        pid = self.proc.pid
        return ["nsenter", "--mount=/proc/%d/ns/mnt" % pid,
                "--uts=/proc/%d/ns/uts" % pid,
                "--net=/run/netns/" + self.host.ns]


def start_ovld(h, ns, engine, join=None):
    h.start(join, enter=ns.enter(), extra=[
        "--control-socket", os.path.join(ns.dir, "ovld.sock"),
        "--docker-plugin", os.path.join(ns.plugins, "ovl.sock"),
        "--docker-host", "unix://" + engine.sock, "--docker-sync", "on"])


class TaggedEngine(Engine):
    """An Engine with its own directory, so two run on one host."""

    def __init__(self, host, tag, store_opts=()):
        super().__init__(host, store_opts)
        self.dir = os.path.join(host.lab.dir, "docker-%s-%s" % (tag,
                                                               host.name))
        self.sock = os.path.join(self.dir, "d.sock")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.cluster = bool(store_opts)
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")


def start_engine(e, ns):
    argv = ns.enter() + e.argv(cluster=e.cluster)
    e.proc = subprocess.Popen(argv, stdout=open(e.log, "a"),
                              stderr=subprocess.STDOUT,
                              env=dict(os.environ, DOCKER_CONFIG=e.dir + "/cli"),
                              preexec_fn=dockerlab._die_with_parent)
    return wait_until(lambda: e.proc.poll() is not None or e.up(), 40,
                      0.2) and e.proc.poll() is None


def must(rv, what):
    rc, out, err = rv
    if rc != 0:
        raise RuntimeError("%s: %s" % (what, err))
    return out


def setup_networks(eng):
    e1, e2 = eng["ovl"]
    must(e1.docker("network", "create", "-d", "ovl", "--ipam-driver", "ovl",
                   "--subnet", NETS["ovl"][1] + ".0/24", NETS["ovl"][0]),
         "create ovlnet")
    e1, e2 = eng["overlay"]
    must(e1.docker("network", "create", "-d", "overlay", "--subnet",
                   NETS["overlay"][1] + ".0/24", NETS["overlay"][0]),
         "create dovnet")
    for d, (name, _) in NETS.items():
        e2 = eng[d][1]
        if not wait_until(lambda: e2.docker("network", "inspect",
                                            name)[0] == 0, 20, 0.2):
            raise RuntimeError("%s never showed on h2" % name)
        must(e2.docker("run", "-d", "--net", name, "--name", "p-" + name,
                       IMAGE, "sleep", "100000", timeout=90),
             "pinger on " + name)


def pinger_pid(e2, name):
    return int(must(e2.docker("inspect", "-f", "{{.State.Pid}}",
                              "p-" + name), "pid"))


class FirstReply:
    """iputils ping every 5 ms from the pinger's namespace, read line by
    line: the timestamp (ping -D) of the first echo reply. Neither -c nor
    -w: with either, iputils ping gives up at the first ICMP error (an
    unresolved ARP), which Docker's overlay gives while serf has not spread
    the new peer. Killed after 35 s at the latest."""

    def __init__(self, pid, ip):
        self.t = None
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "nsenter", "--net=/proc/%d/ns/net" % pid,
             "ping", "-D", "-n", "-i", "0.005", ip],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        self.tail = []
        for line in self.proc.stdout:
            self.tail = (self.tail + [line.strip()])[-3:]
            m = re.search(r"\[(\d+\.\d+)\] \d+ bytes from", line)
            if m:
                self.t = float(m.group(1))
                self.proc.kill()
                break

    def wait(self):
        self.thread.join(35)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.t


def sample(eng, driver, i, pids):
    e1, e2 = eng[driver]
    name, prefix = NETS[driver]
    ip = "%s.%d" % (prefix, 100 + i)
    ping = FirstReply(pids[name], ip)
    time.sleep(0.05)  # ping is sending before the clock starts
    t0 = time.time()
    rc, _, err = e1.docker("run", "-d", "--net", name, "--ip", ip, "--name",
                           "b%s%d" % (driver, i), IMAGE, "sleep", "100000",
                           timeout=90)
    t_run = time.time() - t0
    t1 = ping.wait()
    e1.docker("rm", "-f", "b%s%d" % (driver, i))
    if rc != 0 or t1 is None:
        print("  %s run %d failed: rc %d %s; ping: %s" %
              (driver, i, rc, err[-200:], " | ".join(ping.tail)))
        return None, t_run
    return t1 - t0, t_run


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def summary(res):
    out = {}
    for d, (lat, run) in res.items():
        if not lat:
            out[d] = {"n": 0}
            continue
        out[d] = {"n": len(lat), "p50_ms": pct(lat, 50) * 1e3,
                  "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3,
                  "docker_run_p50_ms": pct(run, 50) * 1e3}
        print("%-8s n=%2d  run->ping p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms"
              "   (docker run returns: p50 %6.1f ms)" %
              (d, len(lat), out[d]["p50_ms"], out[d]["p99_ms"],
               out[d]["max_ms"], out[d]["docker_run_p50_ms"]))
    return out


def bench(lab):
    h1, h2 = lab.hosts
    nss = [HostNs(h) for h in lab.hosts]
    eng = {"ovl": [TaggedEngine(h, "ovl") for h in lab.hosts],
           "overlay": [TaggedEngine(h, "ov", STORE_OPTS) for h in lab.hosts]}
    engines = eng["ovl"] + eng["overlay"]
    try:
        start_ovld(h1, nss[0], eng["ovl"][0])
        start_ovld(h2, nss[1], eng["ovl"][1], join=h1.ip)
        for e, ns in zip(engines, nss + nss):
            if not start_engine(e, ns):
                print("SKIP: dockerd did not start:\n" + e.tail())
                return None
        tar = os.path.join(lab.dir, "busybox.tar")
        dockerlab.busybox_tar(tar)
        for e in engines:
            must(e.docker("import", tar, IMAGE, timeout=60), "import")
        setup_networks(eng)
        pids = {NETS[d][0]: pinger_pid(eng[d][1], NETS[d][0]) for d in NETS}
        res = {d: ([], []) for d in NETS}
        for i in range(RUNS):
            for d in (("ovl", "overlay") if i % 2 == 0 else
                      ("overlay", "ovl")):
                lat, run = sample(eng, d, i, pids)
                if lat is not None:
                    res[d][0].append(lat)
                    res[d][1].append(run)
        return summary(res)
    finally:
        dockerlab.cleanup(engines, lab.dir)
        for ns in nss:
            ns.proc.kill()


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 0
    major, text = dockerlab.engine_version()
    if major is None or major >= 23:
        print("SKIP: needs dockerd 20.10 (%s)" % text)
        return 0
    with NetLab(n_hosts=2) as lab:
        out = bench(lab)
    if out is None:
        return 0
    doc = {"runs": RUNS, "engine": text, "results": out}
    print(json.dumps(doc))
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as f:
            json.dump(doc, f, indent=1)
    o, d = out.get("ovl", {}), out.get("overlay", {})
    ok = o.get("n") and d.get("n") and o["p50_ms"] <= d["p50_ms"] and \
        o["p99_ms"] <= d["p99_ms"]
    print("target (ovl no slower than Docker's overlay, p50 and p99): %s" %
          ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
