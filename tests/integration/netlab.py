"""netlab - a lab of "hosts" and "containers" made of network namespaces,
for the datapath tests (stdlib only, needs root).

Layout: nslab's switch and hosts <prefix>-hN, eth0 192.168.205.10, .11,
..., each running its own ovld (the first bootstraps, the others --join the
first); containers are further namespaces that ovlctl attaches. Everything
is deleted on exit, even after a failure. Checks are ovldlab's.

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
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402
from nslab import Netns, sh  # noqa: E402,F401 (sh re-exported)
from ovldlab import Checks, sanitizer_lines  # noqa: E402,F401

OVLD = os.environ.get("OVLD_BIN", "build/ovld")
OVLCTL = os.environ.get("OVLCTL_BIN", "build/ovlctl")


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
        self.ns, self.ip = lab.net.host(idx + 1)
        self.proc = None
        self.log = os.path.join(lab.dir, self.name + ".log")
        self.data = os.path.join(lab.dir, self.name + ".ovld")
        self.sock = os.path.join(lab.dir, self.name + ".sock")

    def start(self, join=None, extra=(), enter=None):
        """Starts ovld in the host's namespace and waits for /health.
        enter: the command that puts ovld there (default ip netns exec);
        flags in extra win over the defaults here (the last one wins)."""
        enter = enter or ["ip", "netns", "exec", self.ns]
        args = enter + [OVLD, "--name", self.name,
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
        env = ovldlab.token_env(args, [h.data for h in self.lab.hosts
                                       if h is not self])
        self.proc = subprocess.Popen(args, stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
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
        return self.lab.net.exec(self.ns, *args, check=check,
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
    """Hosts running ovld on an nslab.Netns, and its containers.

    Use as a context manager. With checks (an ovldlab.Checks), an exception
    from the body is reported as a failed check with the hosts' logs, and
    does not propagate: the test ends with checks.done() as usual."""

    def __init__(self, n_hosts=3, ovld_args=(), checks=None):
        self.prefix = "ovt%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix=self.prefix + "-")
        self.net = Netns(self.prefix, subnet="192.168.205", first=10)
        self.ovld_args = list(ovld_args)
        self.checks = checks
        self.hosts = [Host(self, i) for i in range(n_hosts)]
        atexit.register(self.cleanup)

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, etype, evalue, tb):
        reported = (self.checks is not None and etype is not None and
                    issubclass(etype, Exception))
        if reported:
            self.report(evalue)
        self.cleanup()
        return reported

    def setup(self):
        self.net.setup(len(self.hosts))

    def start_cluster(self, hosts=None):
        hosts = hosts or self.hosts
        hosts[0].start()
        for h in hosts[1:]:
            h.start(join=hosts[0].ip)

    def container(self, name):
        return self.net.container(name)

    def ping(self, ns, ip, count=1, wait=1):
        return self.net.ping(ns, ip, count, wait)

    def report(self, exc):
        """An exception that ended the lab's body: one failed check, then
        every host's log tail (before cleanup removes the logs)."""
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        self.checks.check(False, "lab ran without exceptions", repr(exc))
        for h in self.hosts:
            print("--- %s log:\n%s" % (h.name, h.tail()), flush=True)

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
        self.net.teardown()
        if os.environ.get("NETLAB_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
