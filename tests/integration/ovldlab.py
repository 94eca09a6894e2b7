"""ovldlab - helpers for ovld's python integration tests (stdlib only).

Starts and stops real ovld and etcd 3.4 processes on free loopback ports,
keeps their logs in the test's temporary directory (printed when a test
fails), and offers a keep-alive HTTP client, an etcdctl (API v2) runner and
a small pass/fail counter that ends every test with "N passed, N failed".

Environment:
  OVLD_BIN          path of the ovld binary (default: ./build/ovld)
  ETCD_BIN          path of etcd (default: etcd from PATH)
  ETCDCTL_BIN       path of etcdctl (default: etcdctl from PATH)
  OVLDLAB_PORTS     port range "LO-HI" (default 24000-24999)
  OVLDLAB_KEEP      keep the temporary directory even on success
  OVLD_TEST_TARGET  "ovld" (default) or "etcd": run a test against etcd to
                    check the test itself
"""

import http.client
import json
import os
import re
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

_port_lock = threading.Lock()
_ports_taken = set()
_serial = [0]


def _port_range():
    spec = os.environ.get("OVLDLAB_PORTS", "24000-24999")
    lo, hi = spec.split("-")
    return int(lo), int(hi)


def free_port():
    """A loopback TCP port in the lab range that nobody listens on now.

    Ports are handed out once per process, so two servers of one test never
    race for the same port; other processes can still race us, which the
    caller notices as a failed start."""
    lo, hi = _port_range()
    with _port_lock:
        for _ in range(4 * (hi - lo + 1)):
            port = random.randint(lo, hi)
            if port in _ports_taken:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            _ports_taken.add(port)
            return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


def _die_with_parent():
    """Child pre-exec: SIGKILL the server if the test process dies (a ctest
    timeout must not leave etcd or ovld behind)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def find_binary(env, default_name, fallbacks=()):
    path = os.environ.get(env)
    if path:
        return path
    for cand in fallbacks:
        if os.path.exists(cand):
            return cand
    found = shutil.which(default_name)
    return found or default_name


def ovld_bin():
    src = os.environ.get("OVLD_SRC",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    return find_binary("OVLD_BIN", "ovld",
                       [os.path.join(src, "build", "ovld")])


class Http:
    """A keep-alive HTTP/1.1 client for one server.

    request() returns (status, headers, body): headers is a dict with
    lower-case names (a repeated header keeps its first value), body bytes.
    A connection the server closed is reopened once, transparently."""

    def __init__(self, host, port, timeout=10.0, retry=True):
        self.host, self.port, self.timeout = host, port, timeout
        self.retry = retry  # False: never resend (a write may have applied)
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port,
                                               timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, form=None,
                query=None, chunked=False):
        """chunked: send the body with Transfer-Encoding: chunked."""
        hdrs = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs.setdefault("Content-Type",
                            "application/x-www-form-urlencoded")
        if query:
            sep = "&" if "?" in path else "?"
            path = path + sep + urllib.parse.urlencode(query)
        if isinstance(body, str):
            body = body.encode()
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                if chunked:
                    hdrs["Transfer-Encoding"] = "chunked"
                    third = max(1, len(body or b"") // 3)
                    parts = [body[i:i + third]
                             for i in range(0, len(body or b""), third)]
                    self.conn.request(method, path, body=iter(parts),
                                      headers=hdrs, encode_chunked=True)
                else:
                    self.conn.request(method, path, body=body,
                                      headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.BadStatusLine,
                    http.client.RemoteDisconnected, BrokenPipeError):
                self.close()
                if attempt == 1 or not self.retry:
                    raise
                continue
            except Exception:
                self.close()
                raise
            out = {}
            for k, v in resp.getheaders():
                out.setdefault(k.lower(), v)
            if resp.will_close:
                self.close()
            return resp.status, out, data
        raise AssertionError("unreachable")

    def json(self, method, path, **kw):
        """Like request(), but the body parsed as JSON (None if it is not)."""
        st, hd, body = self.request(method, path, **kw)
        try:
            doc = json.loads(body.decode() or "null")
        except ValueError:
            doc = None
        return st, hd, doc


def expect_continue(host, port, method, path, body, headers=None,
                    wait=2.0):
    """Sends a request with `Expect: 100-continue` the way curl does: the
    headers, then up to `wait` seconds for "100 Continue", then the body.
    Returns (got_100, status, headers, body)."""
    sock = socket.create_connection((host, port), timeout=10)
    try:
        hdrs = {"Host": "%s:%d" % (host, port),
                "Content-Length": str(len(body)),
                "Expect": "100-continue"}
        hdrs.update(headers or {})
        head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join(
            "%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        sock.sendall(head.encode())
        got_100 = False
        sock.settimeout(wait)
        try:
            peek = sock.recv(64, socket.MSG_PEEK)
            if peek.startswith(b"HTTP/1.1 100") or \
                    peek.startswith(b"HTTP/1.0 100"):
                got_100 = True
                buf = b""
                while not buf.endswith(b"\r\n\r\n"):
                    c = sock.recv(1)
                    if not c:
                        break
                    buf += c
        except socket.timeout:
            pass
        sock.settimeout(10)
        sock.sendall(body)
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        out = {}
        for k, v in resp.getheaders():
            out.setdefault(k.lower(), v)
        return got_100, resp.status, out, data
    finally:
        sock.close()


class Watch:
    """A long-poll (or stream) request on its own connection, read in a
    thread. start() returns once the response headers arrived, which is
    when the server has registered the watcher."""

    def __init__(self, host, port, path, timeout=15.0, stream_events=0):
        self.host, self.port, self.path = host, port, path
        self.timeout = timeout
        self.stream_events = stream_events
        self.status, self.headers, self.body = None, {}, b""
        self.events = []
        self.error = None
        self.done = threading.Event()
        self._headers_in = threading.Event()
        self._conn = None

    def start(self, header_timeout=10.0):
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        self._headers_in.wait(header_timeout)
        return self

    def _run(self):
        try:
            self._conn = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=self.timeout)
            self._conn.request("GET", self.path)
            resp = self._conn.getresponse()
            self.status = resp.status
            for k, v in resp.getheaders():
                self.headers.setdefault(k.lower(), v)
            self._headers_in.set()
            if self.stream_events:
                self._read_stream(resp)
            else:
                self.body = resp.read()
        except Exception as e:  # reported by the test through .error
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self._headers_in.set()
            self.done.set()
            if self._conn is not None:
                self._conn.close()

    def _read_stream(self, resp):
        buf = b""
        while len(self.events) < self.stream_events:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else \
                resp.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self.events.append(json.loads(line.decode()))
        self.body = b"\n".join(json.dumps(e).encode() for e in self.events)

    def wait(self, timeout=None):
        """The body (bytes) once the watch finished, or None on timeout."""
        if not self.done.wait(self.timeout if timeout is None else timeout):
            return None
        return self.body

    def cancel(self):
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# The shared secret of the labs' static (--initial-cluster) ovld clusters.
STATIC_SECRET = "ovldlab-static-cluster-secret"


def join_token(data_dir, timeout=15.0):
    """The join token a bootstrapped ovld keeps in DATA/pki/join-token
    (written once the cluster CA is in the store), or None."""
    path = os.path.join(data_dir, "pki", "join-token")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                tok = f.read().strip()
            if tok:
                return tok
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def token_env(argv, data_dirs):
    """The environment for an ovld started with argv: a --join without
    --token gets the token of the host it joins through (data_dirs: {client
    port: data dir} of the lab's hosts, or a list to try in order), and an
    --initial-cluster without --token the labs' static secret, both through
    OVLD_TOKEN (as the Debian package passes it, out of ps)."""
    env = dict(os.environ)
    if "--token" in argv or "--peer-cert-file" in argv or \
            os.path.basename(argv[0]) == "etcd" or \
            not any("ovld" in os.path.basename(a) for a in argv[:6]):
        return env
    if "--join" in argv:
        if isinstance(data_dirs, dict):
            target = argv[len(argv) - 1 - argv[::-1].index("--join") + 1]
            port = int(target.rsplit(":", 1)[1]) if ":" in target else 2379
            data_dirs = [data_dirs[port]] if port in data_dirs else \
                list(data_dirs.values())
        for d in data_dirs:
            tok = join_token(d, timeout=15.0)
            if tok:
                env["OVLD_TOKEN"] = tok
                break
    elif "--initial-cluster" in argv:
        env["OVLD_TOKEN"] = STATIC_SECRET
    return env


class Server:
    """One daemon process with a client and a peer port on 127.0.0.1."""

    kind = "server"

    def __init__(self, lab, name, data_dir=None, extra_args=()):
        self.lab = lab
        self.name = name
        with _port_lock:
            _serial[0] += 1
            self.tag = "%s-%s-%d" % (self.kind, name, _serial[0])
        self.data_dir = data_dir or os.path.join(lab.dir, self.tag + ".data")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.starts = 0
        self.log_paths = []
        self._http = None

    @property
    def client_url(self):
        return "http://127.0.0.1:%d" % self.client_port

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def argv(self):
        raise NotImplementedError

    def start(self, wait=True, timeout=30.0):
        self.starts += 1
        log = os.path.join(self.lab.dir,
                           "%s.%d.log" % (self.tag, self.starts))
        self.log_paths.append(log)
        argv = self.argv()
        with open(log, "wb") as f:
            f.write(("# " + " ".join(argv) + "\n").encode())
            f.flush()
            env = token_env(argv, {s.client_port: s.data_dir
                                   for s in self.lab.servers
                                   if s is not self and s.kind == "ovld"})
            self.proc = subprocess.Popen(argv, stdout=f,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         cwd=self.lab.dir, env=env,
                                         preexec_fn=_die_with_parent)
        if wait:
            self.wait_healthy(timeout)
        return self

    def http(self):
        if self._http is None:
            self._http = self.new_http()
        return self._http

    def new_http(self, timeout=10.0, retry=True):
        return Http("127.0.0.1", self.client_port, timeout=timeout,
                    retry=retry)

    def watch(self, path, **kw):
        return Watch("127.0.0.1", self.client_port, path, **kw).start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout=30.0):
        """Returns once GET /health answers {"health":"true"}."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("%s %s exited with %s during start-up"
                                   % (self.kind, self.name,
                                      self.proc.returncode))
            h = self.new_http(timeout=2.0)
            try:
                st, _, body = h.request("GET", "/health")
                last = "%d %r" % (st, body[:200])
                if st == 200 and json.loads(body).get("health") == "true":
                    return
            except (OSError, ValueError, http.client.HTTPException) as e:
                last = str(e)
            finally:
                h.close()
            time.sleep(0.1)
        raise RuntimeError("%s %s not healthy after %.0fs: %s"
                           % (self.kind, self.name, timeout, last))

    def _reap(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill9(self):
        """SIGKILL: the crash case (no shutdown code runs)."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            self._reap(timeout)
        return self.proc.returncode

    def restart(self, wait=True, timeout=30.0):
        self.stop()
        return self.start(wait=wait, timeout=timeout)

    def log_text(self, tail=200):
        out = []
        for p in self.log_paths:
            try:
                with open(p, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            out.append("---- %s (last %d lines) ----" % (p, tail))
            out.extend(lines[-tail:])
        return "\n".join(out)


SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: ")


def sanitizer_lines(path):
    """The ASan/UBSan/LSan report lines in a log file (none if unreadable)."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if SANITIZER_RE.search(ln)]


class Etcd(Server):
    kind = "etcd"

    def argv(self):
        etcd = find_binary("ETCD_BIN", "etcd")
        return [etcd, "--enable-v2=true", "--name", self.name,
                "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", "%s=%s" % (self.name, self.peer_url),
                "--initial-cluster-token", "lab-%d" % self.peer_port,
                ] + self.extra_args


# Lab daemons serve no control socket or Docker plugin at the machine's
# default paths and leave any dockerd alone; tests of those pass their own
# flags after these (the last value of a flag wins).
NO_LOCAL_SOCKETS = ["--control-socket", "off", "--docker-plugin", "off",
                    "--docker-sync", "off"]


class Ovld(Server):
    kind = "ovld"

    def __init__(self, lab, name, datapath=False, **kw):
        super().__init__(lab, name, **kw)
        self.datapath = datapath

    def argv(self):
        return [ovld_bin(), "--name", self.name,
                "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--datapath", "on" if self.datapath else "off",
                ] + NO_LOCAL_SOCKETS + self.extra_args


def target_kind():
    return os.environ.get("OVLD_TEST_TARGET",
                          os.environ.get("OVLD_DIFF_TARGET", "ovld"))


def etcdctl(endpoint, *args, timeout=20.0, env=None):
    """Runs ETCDCTL_API=2 etcdctl --endpoints ENDPOINT ARGS...;
    returns (exit code, stdout, stderr) as text."""
    e = dict(os.environ)
    e.pop("ETCDCTL_ENDPOINTS", None)
    e["ETCDCTL_API"] = "2"
    if env:
        e.update(env)
    argv = [find_binary("ETCDCTL_BIN", "etcdctl"), "--endpoints",
            endpoint] + list(args)
    p = subprocess.run(argv, env=e, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


class Checks:
    """Counts named checks, prints one line each, and ends a test with
    "N passed, N failed". One signature for every lab: check(ok, what,
    detail), the detail printed only when the check failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, ok, what, detail=""):
        """Counts one check and prints it; returns ok."""
        if ok:
            self.passed += 1
            print("ok   %s" % what, flush=True)
        else:
            self.failed += 1
            self.failures.append(what)
            print("FAIL %s%s" % (what, ("\n     %s" % (detail,)) if detail
                                 else ""), flush=True)
        return bool(ok)

    def check_eq(self, got, want, what):
        return self.check(got == want, what,
                          "got %r, want %r" % (got, want))

    def done(self):
        """Prints the summary; returns the exit code (0 or 1)."""
        if self.failures:
            print("failed checks:")
            for f in self.failures[:50]:
                print("  - " + f)
        print("%d passed, %d failed" % (self.passed, self.failed),
              flush=True)
        return 1 if self.failed else 0

    def finish(self):
        """Prints the summary line and exits with 0 or 1."""
        sys.exit(self.done())


class Lab(Checks):
    """The test's world: a temporary directory and the servers in it.

    Use as a context manager; on exit every server is killed, and the logs
    are printed when the test failed (or an exception escaped)."""

    def __init__(self, title):
        super().__init__()
        self.title = title
        self.dir = tempfile.mkdtemp(prefix="ovldlab-%s-" % title)
        self.servers = []

    def etcd(self, name="x", **kw):
        s = Etcd(self, name, **kw)
        self.servers.append(s)
        return s

    def ovld(self, name="x", **kw):
        s = Ovld(self, name, **kw)
        self.servers.append(s)
        return s

    def target(self, name="x", **kw):
        """The server under test: ovld, or etcd when OVLD_TEST_TARGET=etcd
        (to validate a test itself against the real thing)."""
        if target_kind() == "etcd":
            kw.pop("datapath", None)
            return self.etcd(name, **kw)
        return self.ovld(name, **kw)

    def __enter__(self):
        print("== %s (tmp %s)" % (self.title, self.dir), flush=True)
        return self

    def shutdown(self):
        # Under sanitizers (tools/sanitize.sh sets OVLD_SANITIZED) hosts end
        # with SIGTERM, so LeakSanitizer runs at their exit.
        graceful = os.environ.get("OVLD_SANITIZED") == "1"
        for s in self.servers:
            try:
                if graceful and s.kind == "ovld":
                    s.stop()
                else:
                    s.kill9()
            except Exception:
                pass
        self.check_sanitizer_logs()

    def check_sanitizer_logs(self):
        """Any ASan/UBSan/LSan line in an ovld log fails the test."""
        for s in self.servers:
            if s.kind != "ovld":
                continue
            for p in s.log_paths:
                bad = sanitizer_lines(p)
                if bad:
                    self.check(False, "no sanitizer report in %s" % p,
                               "\n     ".join(bad[:10]))

    def __exit__(self, etype, evalue, tb):
        if etype is not None:
            self.failed += 1
            self.failures.append("exception")
            print("FAIL exception: %s" % "".join(
                traceback.format_exception(etype, evalue, tb)), flush=True)
        self.shutdown()
        if self.failed:
            for s in self.servers:
                print(s.log_text(), flush=True)
            print("logs kept in %s" % self.dir)
        elif not os.environ.get("OVLDLAB_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return True  # the exception was reported; finish() sets the code


SKIP_EXIT = 77  # ctest's SKIP_RETURN_CODE for every test (tests/CMakeLists.txt)


def skip(reason):
    """Ends a test that cannot run on this machine: ctest shows a skip,
    never a pass (exit 77 after a "SKIP: reason" line)."""
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP_EXIT)


def require_root(what):
    if os.geteuid() != 0:
        skip("%s needs root (%s)" % (os.path.basename(sys.argv[0]), what))


def require_binary(env, name, why):
    """Skips unless the binary named by $env, or name on PATH, exists."""
    path = find_binary(env, name)
    if not (shutil.which(path) or os.path.exists(path)):
        skip("%s not found (set %s): %s" % (name, env, why))
    return path


def skip_unless_binary(lab, path, what):
    """Fails the test (never silently passes) when a binary is missing."""
    if shutil.which(path) or os.path.exists(path):
        return True
    lab.check(False, "%s binary exists (%s)" % (what, path))
    return False
