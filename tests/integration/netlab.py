"""netlab - a lab of "hosts" and "containers" made of network namespaces,
for the datapath tests (stdlib only, needs root).

Layout: one underlay namespace holding a bridge; hosts <prefix>-hN with an
eth0 on it (192.168.205.10, .11, ...), each running its own ovld (the first
bootstraps, the others --join the first); containers are further namespaces
that ovlctl attaches. Every namespace name starts with a prefix unique to
the run, and everything is deleted on exit, even after a failure.

Environment: OVLD_BIN, OVLCTL_BIN (built binaries).
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ovldlab import sanitizer_lines  # noqa: E402

OVLD = os.environ.get("OVLD_BIN", "build/ovld")
OVLCTL = os.environ.get("OVLCTL_BIN", "build/ovlctl")


def sh(*args, check=True, timeout=30):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def wait_until(fn, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Host:
    def __init__(self, lab, idx):
        self.lab = lab
        self.idx = idx
        self.name = "h%d" % (idx + 1)
        self.ns = "%s-%s" % (lab.prefix, self.name)
        self.ip = "192.168.205.%d" % (10 + idx)
        self.proc = None
        self.log = os.path.join(lab.dir, self.name + ".log")
        self.data = os.path.join(lab.dir, self.name + ".ovld")
        self.sock = os.path.join(lab.dir, self.name + ".sock")

    def start(self, join=None, extra=()):
        args = ["ip", "netns", "exec", self.ns, OVLD, "--name", self.name,
                "--data-dir", self.data,
                "--listen-client-urls",
                "http://%s:2379,http://127.0.0.1:2379" % self.ip,
                "--advertise-client-urls", "http://%s:2379" % self.ip,
                "--listen-peer-urls", "http://%s:2380" % self.ip,
                "--initial-advertise-peer-urls", "http://%s:2380" % self.ip,
                "--advertise", self.ip,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--control-socket", self.sock, "--docker-plugin", "off",
                "--docker-sync", "off"]
        if join:
            args += ["--join", join]
        args += list(extra) + list(self.lab.ovld_args)
        self.proc = subprocess.Popen(args, stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)
        ok = wait_until(lambda: self.http("GET", "/health")[0] == 200, 20)
        if not ok:
            raise RuntimeError("%s did not come up; log:\n%s" %
                               (self.name, self.tail()))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def tail(self, n=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def exec(self, *args, check=False, timeout=30):
        return sh("ip", "netns", "exec", self.ns, *args, check=check,
                  timeout=timeout)

    def ovlctl(self, *args, timeout=30):
        """(returncode, stdout, stderr) of ovlctl run on this host."""
        p = self.exec("env", "OVLD_CONTROL_SOCKET=" + self.sock, OVLCTL,
                      *args, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def http(self, method, path):
        """(status, body) from this host's ovld, through curl run inside
        the host's namespace (the test never routes into it)."""
        p = self.exec("curl", "-s", "-m", "5", "-X", method, "-o", "-",
                      "-w", "\n%{http_code}", "http://127.0.0.1:2379" + path)
        body, _, code = p.stdout.rpartition("\n")
        try:
            return int(code), body
        except ValueError:
            return -1, body

    def links(self):
        return self.exec("ip", "-o", "link").stdout

    def fdb(self):
        return self.exec("bridge", "fdb", "show").stdout

    def neigh(self):
        return self.exec("ip", "neigh", "show").stdout


class NetLab:
    def __init__(self, n_hosts=3, ovld_args=()):
        self.prefix = "ovt%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix=self.prefix + "-")
        self.ul = self.prefix + "-ul"
        self.ovld_args = list(ovld_args)
        self.hosts = [Host(self, i) for i in range(n_hosts)]
        self.containers = []
        atexit.register(self.cleanup)

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def setup(self):
        sh("ip", "netns", "add", self.ul)
        sh("ip", "-n", self.ul, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.ul, "link", "set", "br0", "up")
        for h in self.hosts:
            sh("ip", "netns", "add", h.ns)
            sh("ip", "-n", h.ns, "link", "set", "lo", "up")
            port = "p%d" % h.idx
            sh("ip", "-n", h.ns, "link", "add", "eth0", "type", "veth",
               "peer", "name", port, "netns", self.ul)
            sh("ip", "-n", h.ns, "addr", "add", h.ip + "/24", "dev", "eth0")
            sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.ul, "link", "set", port, "master", "br0")
            sh("ip", "-n", self.ul, "link", "set", port, "up")

    def start_cluster(self, hosts=None):
        hosts = hosts or self.hosts
        hosts[0].start()
        for h in hosts[1:]:
            h.start(join=hosts[0].ip)

    def container(self, name):
        ns = "%s-%s" % (self.prefix, name)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.containers.append(ns)
        return ns

    def ping(self, ns, ip, count=1, wait=1):
        p = sh("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c",
               str(count), "-W", str(wait), ip, check=False)
        return p.returncode == 0

    def cleanup(self):
        # Under sanitizers (tools/sanitize.sh sets OVLD_SANITIZED) hosts end
        # with SIGTERM so LeakSanitizer runs; report lines are printed as
        # FAIL lines, which sanitize.sh fails on.
        graceful = os.environ.get("OVLD_SANITIZED") == "1"
        for h in self.hosts:
            try:
                h.stop(signal.SIGTERM if graceful else signal.SIGKILL)
            except Exception:
                pass
            for ln in sanitizer_lines(h.log)[:10]:
                print("FAIL sanitizer report in %s: %s" % (h.log, ln),
                      flush=True)
        names = sh("ip", "netns", "list", check=False).stdout.split("\n")
        for line in names:
            ns = line.split(" ")[0]
            if ns.startswith(self.prefix + "-"):
                sh("ip", "netns", "del", ns, check=False)
        if os.environ.get("NETLAB_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


class Checks:
    """Counts named checks; prints one line each."""

    def __init__(self):
        self.failed = []
        self.n = 0

    def check(self, name, ok, detail=""):
        self.n += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                           (": " + detail) if (detail and not ok) else ""))
        sys.stdout.flush()
        if not ok:
            self.failed.append(name)
        return ok

    def done(self):
        print("%d checks, %d failed" % (self.n, len(self.failed)))
        return 1 if self.failed else 0
