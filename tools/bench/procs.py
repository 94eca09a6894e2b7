"""procs.py - start, stop and inspect the servers under benchmark.

One Flavor per system (etcd 3.4 with the v2 API, ovld); both are driven with
the same ports, the same disk and the same defaults for Raft timing, so the
only difference is the server. Every process started here is remembered and
killed at exit, so an interrupted run leaves nothing behind.
"""

import atexit
import os
import signal
import subprocess
import time

import httpc

_started = []


def _kill_all():
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_all)


class Server:
    """One process: a member of a single-host or three-host setup."""

    def __init__(self, flavor, name, data_dir, client_port, peer_port,
                 argv, log_dir):
        self.flavor = flavor
        self.env = None  # extra environment (a joiner's OVLD_TOKEN)
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port
        self.peer_port = peer_port
        self.argv = argv  # the command for a fresh start
        self.restart_argv = argv
        self.log_path = os.path.join(log_dir, "%s-%s.log" % (flavor, name))
        self.proc = None
        self.started_at = 0.0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, restart=False):
        argv = self.restart_argv if restart else self.argv
        log = open(self.log_path, "ab")
        log.write(("\n==== %s %s\n" % (time.strftime("%H:%M:%S"),
                                      " ".join(argv))).encode())
        log.flush()
        self.started_at = time.monotonic()
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()
        _started.append(self.proc)
        return self.started_at

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signals and waits; escalates to SIGKILL after timeout."""
        if not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def cpu_seconds(self):
        """utime + stime of all threads so far (0 once gone)."""
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status_mem(self):
        """VmRSS and RssAnon in KiB from /proc/PID/status."""
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0])
        return out

    def join_token(self):
        """The join token a first ovld host writes (DATA/pki/join-token);
        None for an ovld without one (before the peer TLS work)."""
        try:
            with open(os.path.join(self.data_dir, "pki", "join-token")) as f:
                return f.read().strip() or None
        except OSError:
            return None

    def state(self):
        """'leader', 'follower', 'candidate' or None (no answer)."""
        try:
            st, doc, _ = httpc.get_json(self.client_port, "/v2/stats/self",
                                        timeout=0.5)
        except (OSError, ConnectionError):
            return None
        if st != 200 or not isinstance(doc, dict):
            return None
        s = str(doc.get("state", "")).lower()
        for word in ("leader", "follower", "candidate"):
            if word in s:
                return word
        return None


def url(port, scheme="http"):
    return "%s://127.0.0.1:%d" % (scheme, port)


class Flavor:
    """Builds command lines for one system. `label` names it in results and
    file names (several flavors of one kind can run in one benchmark);
    `peer_tls` is a directory made by make_peer_pki for etcd's peer TLS
    flags; `peer_scheme` is the scheme of the peer URLs."""

    def __init__(self, kind, binary, data_root, log_dir, extra_args=(),
                 label=None, peer_scheme="http", peer_tls=None):
        self.kind = kind
        self.binary = binary
        self.data_root = data_root
        self.log_dir = log_dir
        self.extra = list(extra_args)
        self.label = label or kind
        self.peer_scheme = peer_scheme
        self.peer_tls = peer_tls

    def _dir(self, tag, name):
        d = os.path.join(self.data_root, "%s-%s-%s" % (self.label, tag,
                                                      name))
        return d

    def _common(self, name, data_dir, cport, pport):
        purl = url(pport, self.peer_scheme)
        a = [self.binary, "--name", name, "--data-dir", data_dir,
             "--listen-client-urls", url(cport),
             "--advertise-client-urls", url(cport),
             "--listen-peer-urls", purl,
             "--initial-advertise-peer-urls", purl]
        if self.kind == "etcd":
            a += ["--enable-v2=true"]
            if self.peer_tls:
                d = self.peer_tls
                a += ["--peer-cert-file", os.path.join(d, name + ".crt"),
                      "--peer-key-file", os.path.join(d, name + ".key"),
                      "--peer-trusted-ca-file", os.path.join(d, "ca.crt"),
                      "--peer-client-cert-auth"]
        else:
            # No control socket, Docker plugin or Docker sync: a bench
            # host must not take over the machine's /run/ovld or dockerd.
            a += ["--datapath", "off", "--control-socket", "off",
                  "--docker-plugin", "off", "--docker-sync", "off"]
        return a + self.extra

    def single(self, tag, cport, pport):
        name = "s1"
        d = self._dir(tag, name)
        argv = self._common(name, d, cport, pport)
        if self.kind == "etcd":
            argv += ["--initial-cluster", "%s=%s" % (name, url(pport))]
        return Server(self.label, name + "-" + tag, d, cport, pport, argv,
                      self.log_dir)

    def cluster(self, tag, cports, pports):
        """Three members. etcd: static --initial-cluster. ovld: the first
        bootstraps, the others --join the first's client port (with the
        first's join token, set by start_cluster once it exists)."""
        names = ["c%d" % (i + 1) for i in range(len(cports))]
        servers = []
        ic = ",".join("%s=%s" % (n, url(p, self.peer_scheme))
                      for n, p in zip(names, pports))
        for i, (n, cp, pp) in enumerate(zip(names, cports, pports)):
            d = self._dir(tag, n)
            argv = self._common(n, d, cp, pp)
            if self.kind == "etcd":
                argv += ["--initial-cluster", ic,
                         "--initial-cluster-state", "new",
                         "--initial-cluster-token", "bench-" + tag]
            elif i > 0:
                argv += ["--join", "127.0.0.1:%d" % cports[0],
                         "--advertise", "127.0.0.1"]
            servers.append(Server(self.label, n + "-" + tag, d, cp, pp,
                                  argv, self.log_dir))
        return servers


def make_peer_pki(out_dir, names):
    """A CA and one peer certificate per member name (ECDSA P-256, for
    127.0.0.1, server and client use), made with the openssl command, as
    an etcd operator would; returns out_dir."""
    os.makedirs(out_dir, exist_ok=True)

    def ssl(*argv):
        subprocess.run(["openssl"] + list(argv), check=True, cwd=out_dir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "30", "-subj", "/CN=bench peer CA")
    ext = os.path.join(out_dir, "peer.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "keyUsage=digitalSignature,keyEncipherment\n")
    for n in names:
        ssl("req", "-new", *ec, "-keyout", n + ".key", "-out", n + ".csr",
            "-subj", "/CN=" + n)
        ssl("x509", "-req", "-in", n + ".csr", "-CA", "ca.crt", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "30", "-out", n + ".crt",
            "-extfile", ext)
    return out_dir


def wait_serving(port, path="/v2/keys/", timeout=30.0, interval=0.001,
                 want=200):
    """Polls GET path until it answers `want`. Returns the monotonic time of
    the first success, or None on timeout. The poll interval is 1 ms so the
    restart figure is not dominated by it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = httpc.Conn(port, timeout=0.5)
        try:
            r = c.request("GET", path)
            if r.status == want:
                return time.monotonic()
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            c.close()
        time.sleep(interval)
    return None


def wait_leader(servers, timeout=30.0):
    """Waits until every live server answers and exactly one is leader.
    Returns the leader Server or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [s for s in servers if s.alive()]
        states = [s.state() for s in live]
        if None not in states and states.count("leader") == 1:
            return live[states.index("leader")]
        time.sleep(0.05)
    return None
