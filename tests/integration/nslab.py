"""nslab - the network namespaces of the tests that need more than
loopback (stdlib only, needs root).

Layout: a switch namespace <prefix>-sw holding bridge br0; host namespaces
<prefix>-hN whose eth0 (<subnet>.<first+N-1>/24) is cabled to br0 through
a veth pair with switch end pN; container namespaces <prefix>-<name> with
nothing but lo. cut(N)/heal(N) set a host's switch port down/up. Every
namespace whose name starts with "<prefix>-" is deleted by teardown(), so
the prefix must be unique to the run (the default holds the pid).
"""

import ctypes
import os
import socket
import subprocess


def sh(*argv, check=True, timeout=30):
    """Runs argv; raises RuntimeError with its stderr if check and it
    failed. Returns the CompletedProcess (text)."""
    p = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.strip()))
    return p


class Netns:
    def __init__(self, prefix=None, subnet="10.77.0", first=1):
        self.prefix = prefix or "ovn%d" % os.getpid()
        self.subnet = subnet
        self.first = first
        self.sw = self.prefix + "-sw"
        self.hosts = {}  # N -> (namespace, eth0 address)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def _add_ns(self, name):
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def setup(self, n):
        """The switch and hosts 1..n; returns self."""
        self._add_ns(self.sw)
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        for i in range(1, n + 1):
            self._add_host(i)
        return self

    def host(self, i):
        """(namespace, eth0 address) of host N, made or not."""
        return ("%s-h%d" % (self.prefix, i),
                "%s.%d" % (self.subnet, self.first + i - 1))

    def _add_host(self, i):
        ns, ip = self.host(i)
        port = "p%d" % i
        self._add_ns(ns)
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer",
           "name", port, "netns", self.sw)
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", self.sw, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.sw, "link", "set", port, "up")
        self.hosts[i] = (ns, ip)

    def container(self, name):
        """A namespace with only lo, deleted with the others."""
        ns = "%s-%s" % (self.prefix, name)
        self._add_ns(ns)
        return ns

    def cut(self, i):
        sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "down")

    def heal(self, i):
        sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "up")

    def exec(self, ns, *args, check=False, timeout=30):
        return sh("ip", "netns", "exec", ns, *args, check=check,
                  timeout=timeout)

    def ping(self, ns, ip, count=1, wait=1):
        p = self.exec(ns, "ping", "-n", "-q", "-c", str(count), "-W",
                      str(wait), ip)
        return p.returncode == 0

    def left(self):
        """The namespaces of this lab that still exist."""
        out = sh("ip", "netns", "list", check=False).stdout
        names = [ln.split(" ")[0] for ln in out.split("\n")]
        return [ns for ns in names if ns.startswith(self.prefix + "-")]

    def teardown(self):
        for ns in self.left():
            sh("ip", "netns", "del", ns, check=False)
        self.hosts = {}


_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000


def _setns(fd):
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def ns_socket(ns, addr, timeout):
    """A TCP socket connected to addr from inside namespace ns: the
    thread enters the namespace only while it creates the socket."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/%s" % ns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        raise
    return s
