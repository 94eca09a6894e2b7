"""clusterlab - multi-host helpers for ovld's cluster tests (stdlib only).

Builds on ovldlab (processes, logs, checks). Adds: forming clusters by
bootstrap + --join or by etcd-style --initial-cluster (the same calls also
build a real etcd 3.4 cluster with CLUSTER_IMPL=etcd, which validates the
tests themselves), key/value helpers with short timeouts, leader lookup,
convergence checks, and ovld hosts living in nslab's network namespaces
for partition tests.

Environment (besides ovldlab's): CLUSTER_IMPL=ovld|etcd (default ovld).
Ports come from 26000-26999 unless OVLDLAB_PORTS says otherwise.
"""

import http.client
import json
import os
import socket
import threading
import time
import urllib.parse

os.environ.setdefault("OVLDLAB_PORTS", "26000-26999")

import ovldlab  # noqa: E402
from nslab import Netns, ns_socket, sh  # noqa: E402,F401 (re-exported)
from ovldlab import (Http, Lab, etcdctl, require_binary,  # noqa: E402,F401
                     require_root, skip)

IMPL = os.environ.get("CLUSTER_IMPL", "ovld")


def is_etcd():
    return IMPL == "etcd"


def wait_until(fn, timeout, interval=0.05):
    """Polls fn() until it returns something truthy; returns that value,
    or the last (falsy) value after timeout seconds."""
    deadline = time.monotonic() + timeout
    val = None
    while True:
        try:
            val = fn()
        except (OSError, http.client.HTTPException, ValueError):
            val = None
        if val:
            return val
        if time.monotonic() >= deadline:
            return val
        time.sleep(interval)


# ---- key/value requests -------------------------------------------------

def _kpath(key):
    return "/v2/keys" + urllib.parse.quote(key)


def request(srv, method, path, timeout=5.0, **kw):
    """(status, headers, json-or-None); status -1 on a transport error
    (headers then hold {"error": text})."""
    h = srv.new_http(timeout=timeout)
    try:
        st, hd, body = h.request(method, path, **kw)
    except (OSError, http.client.HTTPException) as e:
        return -1, {"error": "%s: %s" % (type(e).__name__, e)}, None
    finally:
        h.close()
    try:
        doc = json.loads(body.decode() or "null")
    except ValueError:
        doc = None
    return st, hd, doc


def metric(srv, name, timeout=5.0):
    """The value of one unlabelled sample on srv's /metrics, or None."""
    h = srv.new_http(timeout=timeout)
    try:
        st, _, body = h.request("GET", "/metrics")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        h.close()
    for line in body.decode().splitlines() if st == 200 else ():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return None


def put(srv, key, value, timeout=5.0, **form):
    form = dict(form)
    form["value"] = value
    return request(srv, "PUT", _kpath(key), timeout=timeout, form=form)


def get(srv, key, timeout=5.0, quorum=False, recursive=False):
    q = {}
    if quorum:
        q["quorum"] = "true"
    if recursive:
        q["recursive"] = "true"
    return request(srv, "GET", _kpath(key), timeout=timeout, query=q)


def flatten(node, out=None):
    """{key: (value, modifiedIndex, createdIndex)} for every leaf."""
    out = {} if out is None else out
    if node is None:
        return out
    if node.get("dir"):
        for c in node.get("nodes", []) or []:
            flatten(c, out)
    else:
        out[node["key"]] = (node.get("value"), node.get("modifiedIndex"),
                            node.get("createdIndex"))
    return out


def tree(srv, prefix, quorum=False, timeout=20.0):
    """Flattened recursive listing of prefix on srv (local read), or None."""
    st, hd, doc = get(srv, prefix, timeout=timeout, quorum=quorum,
                      recursive=True)
    if st == 404:
        return {}
    if st != 200 or not doc:
        return None
    return flatten(doc.get("node"))


def etcd_index(srv):
    st, hd, _ = request(srv, "GET", "/v2/keys/", timeout=2.0)
    if st != 200:
        return None
    return int(hd.get("x-etcd-index", "0"))


def cluster_id(srv):
    st, hd, _ = request(srv, "GET", "/v2/members", timeout=3.0)
    return hd.get("x-etcd-cluster-id") if st == 200 else None


def members(srv):
    st, _, doc = request(srv, "GET", "/v2/members", timeout=3.0)
    if st != 200 or not isinstance(doc, dict):
        return None
    return doc.get("members")


def self_stats(srv, timeout=2.0):
    st, _, doc = request(srv, "GET", "/v2/stats/self", timeout=timeout)
    return doc if st == 200 and isinstance(doc, dict) else None


def leader_among(servers, timeout=15.0):
    """The one alive server whose /v2/stats/self says StateLeader, once all
    alive servers agree on its id; None after timeout."""
    def find():
        alive = [s for s in servers if s.alive()]
        stats = {s: self_stats(s) for s in alive}
        leaders = [s for s, d in stats.items()
                   if d and d.get("state") == "StateLeader"]
        if len(leaders) != 1:
            return None
        lid = stats[leaders[0]].get("id")
        for s, d in stats.items():
            if not d or d.get("leaderInfo", {}).get("leader") != lid:
                return None
        return leaders[0]
    return wait_until(find, timeout, 0.1)


# ---- forming clusters ----------------------------------------------------

class Cluster:
    """The hosts of one cluster in a Lab, started on loopback."""

    def __init__(self, lab, common_args=()):
        self.lab = lab
        self.hosts = []
        self.common = list(common_args)

    def _new(self, name, extra):
        if is_etcd():
            return self.lab.etcd(name, extra_args=list(extra))
        return self.lab.ovld(name, extra_args=self.common + list(extra))

    def bootstrap(self, name="h1", extra=(), timeout=30.0):
        s = self._new(name, extra)
        self.hosts.append(s)
        return s.start(timeout=timeout)

    def join(self, name, via=None, extra=(), timeout=30.0, ctl_args=()):
        """ovld: --join via's client address. etcd: `member add` through
        via (with ctl_args, e.g. --username root:pw once v2 auth is on),
        then a start with --initial-cluster-state existing."""
        via = via or self.hosts[0]
        s = self._new(name, extra)
        if is_etcd():
            # etcd refuses a member add for a few seconds after the
            # previous one ("unhealthy cluster"): retry.
            for _ in range(40):
                rc, out, err = etcdctl(via.client_url, *ctl_args, "member",
                                       "add", name, s.peer_url)
                if rc == 0:
                    break
                time.sleep(0.5)
            if rc != 0:
                raise RuntimeError("etcdctl member add: %s" % err)
            init = [ln.split("=", 1)[1].strip('"') for ln in
                    out.splitlines()
                    if ln.startswith("ETCD_INITIAL_CLUSTER=")][0]
            s.extra_args += ["--initial-cluster", init,
                             "--initial-cluster-state", "existing"]
        else:
            s.join_args = ["--join", "127.0.0.1:%d" % via.client_port]
            s.extra_args += s.join_args
        self.hosts.append(s)
        return s.start(timeout=timeout)

    def static(self, names, extra=(), token="clusterlab", timeout=30.0):
        """etcd-style static bootstrap: all hosts at once, state new."""
        new = [self._new(n, extra) for n in names]
        init = ",".join("%s=%s" % (s.name, s.peer_url) for s in new)
        for s in new:
            s.extra_args += ["--initial-cluster", init,
                             "--initial-cluster-state", "new",
                             "--initial-cluster-token", token]
            s.start(wait=False)
        for s in new:
            s.wait_healthy(timeout)
        self.hosts += new
        return new

    def alive(self):
        return [s for s in self.hosts if s.alive()]

    def leader(self, timeout=15.0):
        return leader_among(self.hosts, timeout)

    def followers(self, timeout=15.0):
        ld = self.leader(timeout)
        return [s for s in self.alive() if s is not ld]

    def converged(self, prefix, timeout=20.0, hosts=None):
        """Waits until every (alive) host shows the same X-Etcd-Index and
        the same tree under prefix. Returns (ok, trees by host name)."""
        hosts = hosts or self.alive()
        last = {}

        def same():
            idx = {s.name: etcd_index(s) for s in hosts}
            if None in idx.values() or len(set(idx.values())) != 1:
                last.update({"index": idx})
                return False
            trees = {s.name: tree(s, prefix) for s in hosts}
            last.clear()
            last.update(trees)
            vals = list(trees.values())
            return all(t is not None and t == vals[0] for t in vals)
        ok = wait_until(same, timeout, 0.2)
        return bool(ok), dict(last)


# ---- the peer port, as a member speaks it ---------------------------------

PEER_KIND_RAFT = 0x100  # + raftnode_kind (src/raft/raftnode.h)
RAFT_FORWARD = 1


def peer_call(srv, cert_dir, claim, kind, body, timeout=5.0):
    """One request on srv's peer port with the member certificate in
    cert_dir (node.crt, node.key), claiming member id `claim`: returns
    (status, body), or (None, reason) when the port refused us."""
    import ssl
    import struct
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(os.path.join(cert_dir, "node.crt"),
                        os.path.join(cert_dir, "node.key"))
    raw = socket.create_connection(("127.0.0.1", srv.peer_port),
                                   timeout=timeout)
    try:
        try:
            s = ctx.wrap_socket(raw)
        except (ssl.SSLError, OSError) as e:
            return None, "handshake failed: %s" % e
        addr = b"127.0.0.1:1"
        s.sendall(b"OVLP\x01\x02" + struct.pack(">QH", claim, len(addr)) +
                  addr)
        try:
            head = _recv_exact(s, 3)
        except (ssl.SSLError, OSError) as e:  # TLS 1.3: the alert comes late
            return None, "handshake failed: %s" % e
        if head[0] != 0:
            n = struct.unpack(">H", head[1:3])[0]
            return None, _recv_exact(s, n).decode(errors="replace")
        frame = struct.pack(">IBQi", 13 + len(body), 1, 7, kind) + body
        s.sendall(frame)
        rest = struct.unpack(">I", _recv_exact(s, 4))[0]
        ans = _recv_exact(s, rest)
        _, _, status = struct.unpack(">BQi", ans[:13])
        return status, ans[13:]
    finally:
        raw.close()


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise OSError("connection closed")
        out += chunk
    return out


def start_with_check(lab, what, fn):
    """Runs fn(); a start-up failure becomes one failed check (with the
    exception text) instead of an aborted test. Returns fn's value/None."""
    try:
        val = fn()
        lab.check(True, what)
        return val
    except Exception as e:  # noqa: BLE001 - reported as a check
        lab.check(False, what, "%s: %s" % (type(e).__name__, e))
        return None


def form_three(lab, c):
    """h1 bootstraps, h2 and h3 join through it, each start one check.
    True when all three came up."""
    return bool(start_with_check(lab, "h1 bootstraps", c.bootstrap) and
                start_with_check(lab, "h2 joins", lambda: c.join("h2")) and
                start_with_check(lab, "h3 joins", lambda: c.join("h3")))


# ---- ovld in network namespaces -------------------------------------------


class _NsConnection(http.client.HTTPConnection):
    def __init__(self, ns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.ns = ns

    def connect(self):
        self.sock = ns_socket(self.ns, (self.host, self.port), self.timeout)


class NsHttp(Http):
    """ovldlab.Http whose connections are made inside a namespace."""

    def __init__(self, ns, host, port, timeout=10.0, retry=True):
        super().__init__(host, port, timeout, retry)
        self.ns = ns

    def _connect(self):
        self.conn = _NsConnection(self.ns, self.host, self.port,
                                  self.timeout)


class NsOvld(ovldlab.Server):
    """ovld inside a namespace, on its eth0 address, fixed ports."""

    kind = "ovld"

    def __init__(self, lab, name, ns, ip, client_port=26379,
                 peer_port=26380, extra_args=()):
        super().__init__(lab, name, extra_args=extra_args)
        self.ns, self.ip = ns, ip
        self.client_port, self.peer_port = client_port, peer_port

    @property
    def client_url(self):
        return "http://%s:%d" % (self.ip, self.client_port)

    @property
    def peer_url(self):
        return "http://%s:%d" % (self.ip, self.peer_port)

    def argv(self):
        return (["ip", "netns", "exec", self.ns, ovldlab.ovld_bin(),
                 "--name", self.name, "--data-dir", self.data_dir,
                 "--listen-client-urls", self.client_url,
                 "--advertise-client-urls", self.client_url,
                 "--listen-peer-urls", self.peer_url,
                 "--initial-advertise-peer-urls", self.peer_url,
                 "--datapath", "off"] + ovldlab.NO_LOCAL_SOCKETS +
                self.extra_args)

    def new_http(self, timeout=10.0, retry=True):
        return NsHttp(self.ns, self.ip, self.client_port, timeout=timeout,
                      retry=retry)


class Writer:
    """Background writers: each thread PUTs fresh keys prefix/tN/K to the
    hosts returned by targets() in turn, and records every acknowledged
    write (key -> (value, modifiedIndex)) and every outcome with its time
    (for unavailability windows)."""

    def __init__(self, targets, prefix, threads=4, timeout=3.0):
        self.targets = targets
        self.prefix = prefix
        self.n = threads
        self.timeout = timeout
        self.acked = {}
        self.failed = []      # (t_start, t_end, key, why)
        self.outcomes = []    # (t_start, t_end, ok)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = []

    def _run(self, t):
        k = 0
        while not self.stop_ev.is_set():
            hosts = self.targets()
            if not hosts:
                time.sleep(0.01)
                continue
            srv = hosts[(k + t) % len(hosts)]
            key = "%s/t%d/%06d" % (self.prefix, t, k)
            val = "v-%d-%d" % (t, k)
            k += 1
            t0 = time.monotonic()
            st, hd, doc = put(srv, key, val, timeout=self.timeout)
            t1 = time.monotonic()
            ok = st in (200, 201) and isinstance(doc, dict)
            with self.lock:
                self.outcomes.append((t0, t1, ok))
                if ok:
                    self.acked[key] = (val, doc["node"]["modifiedIndex"])
                else:
                    why = hd.get("error") if st == -1 else \
                        "%s %s" % (st, doc)
                    self.failed.append((t0, t1, key, why))
            if not ok:
                time.sleep(0.01)

    def start(self):
        for t in range(self.n):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self.threads.append(th)
        return self

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join(self.timeout + 5)

    def ok_after(self, t):
        with self.lock:
            return sum(1 for t0, _, ok in self.outcomes if ok and t0 >= t)

    def first_ok_after(self, t, grace=0.05):
        """End time of the first successful write that ended more than
        grace s after t (earlier ones were committed before t)."""
        with self.lock:
            ends = [t1 for t0, t1, ok in self.outcomes
                    if ok and t1 >= t + grace]
        return min(ends) if ends else None


def log_has(srv, text):
    return any(text in ln for ln in srv.log_text(tail=100000).splitlines())


def bulk_put(hosts, prefix, count, threads=8, timeout=10.0):
    """PUTs prefix/NNNNNNN = vNNNNNNN for count keys over keep-alive
    connections, spread over hosts; returns (acked, failed, seconds)."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "bad": 0}

    def run(t):
        conns = [h.new_http(timeout=timeout) for h in hosts]
        try:
            while True:
                with lock:
                    i = state["next"]
                    if i >= count:
                        return
                    state["next"] = i + 1
                c = conns[(i + t) % len(conns)]
                try:
                    st, _, _ = c.request(
                        "PUT", _kpath("%s/%07d" % (prefix, i)),
                        form={"value": "v%07d" % i})
                except (OSError, http.client.HTTPException):
                    st = -1
                with lock:
                    state["ok" if st in (200, 201) else "bad"] += 1
        finally:
            for c in conns:
                c.close()
    t0 = time.monotonic()
    ths = [threading.Thread(target=run, args=(t,), daemon=True)
           for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return state["ok"], state["bad"], time.monotonic() - t0
