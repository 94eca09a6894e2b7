"""cni.py - CNI ADD and DEL latency of the `ovl` plugin beside the reference
`bridge` + `host-local` plugins (Debian's containernetworking-plugins, in
/usr/lib/cni), in the same run, on a netlab (namespaces, real ovld
processes).

Each plugin is exec'd the way a runtime does it (CNI_* environment, config
on stdin), one container namespace per ADD; the two plugins alternate in
blocks of BENCH_BLOCK operations so both see the same machine noise. Wall
time is exec to exit; CPU per operation is the plugin process's (user +
system, from wait4) plus, for ovl, every ovld's CPU over its blocks (ovld
does the work: Raft commit, the veth, the datapath), less their idle CPU
(heartbeats) measured for 3 s before. /bin/true alone costs about 3.4 ms
of CPU per exec on the 2026-12 sandbox, so that much of any plugin's CPU
is the exec itself.

  ovl:    2 joined ovlds; ADD on h1 through its control socket (the
          endpoint is claimed cluster-wide and programmed before ADD
          returns)
  bridge: bridge "cnibench0" (isGateway true, ipMasq false: no iptables)
          + host-local with a private dataDir, run inside h1's namespace

Target: ovl ADD p99 <= 2x bridge's. Prints one line per figure and a JSON
summary (BENCH_JSON=path writes it too); exit 1 if the target is missed.
A benchmark, not a test. Run as root:
    OVL_CNI_BIN=build/tools/cni/ovl OVLD_BIN=build/ovld python3 tools/bench/cni.py
Environment: BENCH_OPS (200 per plugin), BENCH_BLOCK (10).
"""

import ctypes
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "integration"))
from cnilab import (NetLab, OVL, control, sock_of, start_hosts,  # noqa: E402
                    netns_path)

N_OPS = int(os.environ.get("BENCH_OPS", "200"))
BLOCK = int(os.environ.get("BENCH_BLOCK", "10"))
REF_DIR = os.environ.get("CNI_REF_DIR", "/usr/lib/cni")
CLK = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL(None, use_errno=True)


def setns_into(path):
    """preexec_fn: the child enters a network namespace first."""
    def enter():
        fd = os.open(path, os.O_RDONLY)
        if _libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            os._exit(127)
        os.close(fd)
    return enter


def run_plugin(binary, command, conf, cid, netns, netns_of_plugin=None):
    """(seconds, plugin CPU seconds, returncode, stdout)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command,
           "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
           "CNI_PATH": REF_DIR}
    r, w = os.pipe()
    os.write(w, json.dumps(conf).encode())
    os.close(w)
    out_r, out_w = os.pipe()
    pre = setns_into(netns_of_plugin) if netns_of_plugin else None
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], stdin=r, stdout=out_w, env=env,
                         preexec_fn=pre)
    os.close(out_w)
    out = b""
    while True:
        chunk = os.read(out_r, 65536)
        if not chunk:
            break
        out += chunk
    _, status, ru = os.wait4(p.pid, 0)
    took = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    os.close(r)
    os.close(out_r)
    return took, ru.ru_utime + ru.ru_stime, p.returncode, out.decode()


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Plugin:
    def __init__(self, name, binary, conf, netns_of_plugin=None,
                 daemons=()):
        self.name, self.binary, self.conf = name, binary, conf
        self.netns_of_plugin = netns_of_plugin
        self.daemons = list(daemons)  # pids whose CPU counts as ours
        self.idle_rate = 0.0  # their CPU seconds per second when idle
        self.wall = {"ADD": [], "DEL": []}
        self.cpu = {"ADD": 0.0, "DEL": 0.0}
        self.daemon_cpu = {"ADD": 0.0, "DEL": 0.0}
        self.errors = []

    def measure_idle(self, seconds=3.0):
        """The daemons' background CPU (heartbeats, upkeep), subtracted
        from their CPU over the blocks."""
        if not self.daemons:
            return
        before, t0 = sum(proc_cpu(p) for p in self.daemons), time.monotonic()
        time.sleep(seconds)
        self.idle_rate = (sum(proc_cpu(p) for p in self.daemons) - before) \
            / (time.monotonic() - t0)

    def block(self, command, items):
        before = sum(proc_cpu(p) for p in self.daemons)
        t0 = time.monotonic()
        for cid, ns in items:
            took, cpu, rc, out = run_plugin(self.binary, command, self.conf,
                                            cid, netns_path(ns),
                                            self.netns_of_plugin)
            if rc != 0:
                self.errors.append("%s %s: %s" % (command, cid, out))
            self.wall[command].append(took)
            self.cpu[command] += cpu
        self.daemon_cpu[command] += sum(
            proc_cpu(p) for p in self.daemons) - before - \
            self.idle_rate * (time.monotonic() - t0)

    def summary(self):
        out = {}
        for cmd in ("ADD", "DEL"):
            w = self.wall[cmd]
            n = max(1, len(w))
            out[cmd] = {"n": len(w), "p50_ms": pct(w, 50) * 1e3,
                        "p99_ms": pct(w, 99) * 1e3,
                        "mean_ms": sum(w) / n * 1e3,
                        "plugin_cpu_ms": self.cpu[cmd] / n * 1e3,
                        "daemon_cpu_ms": self.daemon_cpu[cmd] / n * 1e3}
        out["errors"] = len(self.errors)
        out["daemon_idle_cpu_pct"] = self.idle_rate * 100
        return out


def make_namespaces(lab, tag, n):
    names = []
    for i in range(n):
        names.append(lab.container("%s%d" % (tag, i)))
    return names


def alternate(plugins, items_of, command):
    for start in range(0, N_OPS, BLOCK):
        for pl in plugins:
            pl.block(command, items_of[pl.name][start:start + BLOCK])


def main():
    if os.geteuid() != 0:
        print("cni.py needs root")
        return 2
    for b in (OVL, os.path.join(REF_DIR, "bridge"),
              os.path.join(REF_DIR, "host-local")):
        if not os.access(b, os.X_OK):
            print("missing plugin %s" % b)
            return 2
    with NetLab(2) as lab:
        start_hosts(lab)
        h1 = lab.hosts[0]
        st, doc = control(sock_of(h1), "POST", "/v1/networks",
                          {"name": "bench", "subnet": "10.88.0.0/22"})
        if st != 201:
            print("network create failed: %s %s" % (st, doc))
            return 2
        ovl = Plugin("ovl", OVL, {"cniVersion": "1.0.0", "name": "bench",
                                  "type": "ovl", "socket": sock_of(h1)},
                     daemons=[h.proc.pid for h in lab.hosts])
        bridge = Plugin("bridge", os.path.join(REF_DIR, "bridge"), {
            "cniVersion": "1.0.0", "name": "benchbr", "type": "bridge",
            "bridge": "cnibench0", "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "subnet": "10.89.0.0/22",
                     "dataDir": os.path.join(lab.dir, "host-local")}},
            netns_of_plugin=netns_path(h1.ns))
        plugins = [ovl, bridge]
        items = {}
        for pl in plugins:
            nss = make_namespaces(lab, pl.name[:2], N_OPS)
            items[pl.name] = [("%s-%d" % (pl.name, i), ns)
                              for i, ns in enumerate(nss)]
        # one warm-up op each, not counted (page cache, first bridge)
        for pl in plugins:
            wns = lab.container(pl.name[:2] + "warm")
            run_plugin(pl.binary, "ADD", pl.conf, pl.name + "-warm",
                       netns_path(wns), pl.netns_of_plugin)
            run_plugin(pl.binary, "DEL", pl.conf, pl.name + "-warm",
                       netns_path(wns), pl.netns_of_plugin)
        ovl.measure_idle()
        alternate(plugins, items, "ADD")
        alternate(plugins, items, "DEL")
        res = {pl.name: pl.summary() for pl in plugins}
    for pl in plugins:
        for e in pl.errors[:5]:
            print("error: %s %s" % (pl.name, e.strip()))
    for name, r in res.items():
        for cmd in ("ADD", "DEL"):
            x = r[cmd]
            print("%-6s %-3s n=%d p50 %.2f ms  p99 %.2f ms  mean %.2f ms  "
                  "CPU/op plugin %.2f ms + daemons %.2f ms" %
                  (name, cmd, x["n"], x["p50_ms"], x["p99_ms"],
                   x["mean_ms"], x["plugin_cpu_ms"], x["daemon_cpu_ms"]))
    ratio = res["ovl"]["ADD"]["p99_ms"] / res["bridge"]["ADD"]["p99_ms"]
    res["ovl_add_p99_over_bridge"] = ratio
    ok = ratio <= 2.0 and not res["ovl"]["errors"] and \
        not res["bridge"]["errors"]
    print("ovl ADD p99 / bridge ADD p99 = %.2f (target <= 2): %s" %
          (ratio, "met" if ok else "MISSED"))
    print(json.dumps(res, indent=1))
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as f:
            json.dump(res, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
