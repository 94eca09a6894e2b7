#!/usr/bin/env python3
"""test_peer_security - the peer port and joins, from the attacker's side.

A cluster of h1 (bootstrap) and h2 (--join with the token) is attacked:
  - a stranger's --join without a token, with a forged secret, and with a
    token that pins another CA is refused with a clear line, and the member
    list does not change;
  - a captured join request replayed is refused, and a request made with
    the token from before `ovlctl cluster token --rotate` is refused;
  - the old host-to-host paths on the client port are gone (404);
  - plain TCP to the peer port (libraft's own handshake and a RequestVote
    with a huge term) does not move the term or the leader;
  - TLS to the peer port without a certificate, or with another CA's,
    completes no session; a removed member's certificate stops working;
  - `ovlctl cluster client-cert` writes a key, a certificate and the CA;
  - `ovlctl cluster rotate-ca` under writes loses none and causes no
    election, and the old CA's certificates stop working.
Then a static cluster: --initial-cluster without --token is refused at
start with one line; with --token the hosts form a cluster. And hosts
named by localhost in every URL (--join localhost:PORT) form a cluster.
"""

import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402
import ovldlab  # noqa: E402


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], p.stderr.decode()))


def make_foreign_pki(d):
    """A CA of our own and a client certificate it signed."""
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            "evil-ca.key", cwd=d)
    openssl("req", "-x509", "-new", "-key", "evil-ca.key", "-subj",
            "/CN=evil CA", "-days", "2", "-out", "evil-ca.crt", cwd=d)
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            "evil.key", cwd=d)
    openssl("req", "-new", "-key", "evil.key", "-subj",
            "/CN=0000000000000001", "-out", "evil.csr", cwd=d)
    openssl("x509", "-req", "-in", "evil.csr", "-CA", "evil-ca.crt",
            "-CAkey", "evil-ca.key", "-CAcreateserial", "-days", "2",
            "-out", "evil.crt", cwd=d)


def csr_pem(d, name):
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            name + ".key", cwd=d)
    openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=x", "-out",
            name + ".csr", cwd=d)
    with open(os.path.join(d, name + ".csr")) as f:
        return f.read()


def join_request(token, csr, peer_url, name="ghost"):
    """A join request as a joining ovld makes it (the proof is an
    HMAC-SHA256 keyed by the token's secret)."""
    _, _, digest, secret = token.split("-")
    ident = secrets.token_hex(8)
    now = int(time.time())
    nonce = secrets.token_hex(16)
    msg = "ovld-join-1\n%s\n%s\n%s\n%s\n%s\n%d\n%s\n%s" % (
        ident, name, peer_url, "", digest, now, nonce, csr)
    proof = hmac.new(secret.encode(), msg.encode(), hashlib.sha256)
    return ident, json.dumps({
        "id": ident, "name": name, "peer_url": peer_url,
        "client_urls": "", "ca_digest": digest, "csr": csr, "time": now,
        "nonce": nonce, "proof": proof.hexdigest()})


def post_join(h, body):
    st, _, doc = cl.request(h, "POST", "/ovld/v1/join", body=body,
                            headers={"Content-Type": "application/json"})
    return st, doc


def ovlctl_bin():
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return ovldlab.find_binary("OVLCTL_BIN", "ovlctl",
                               [os.path.join(src, "build", "ovlctl")])


def member_id(h, name):
    for m in cl.members(h) or []:
        if m.get("name") == name:
            return m["id"]
    return "0"


def value_of(h, key):
    st, _, doc = cl.get(h, key)
    return doc["node"]["value"] if st == 200 and doc else None


def member_names(h):
    return sorted(m.get("name") or m["id"] for m in (cl.members(h) or []))


def raft_term(h):
    st, hd, _ = cl.request(h, "GET", "/v2/keys/")
    return int(hd.get("X-Raft-Term", hd.get("x-raft-term", "-1")))


def raw_request_vote(port):
    """libraft 0.15's plain TCP handshake, then a RequestVote for term
    2**40 from a made-up server; returns what came back."""
    addr = b"127.0.0.1:1"
    pad = (len(addr) + 8) // 8 * 8
    hs = struct.pack("<QQQ", 1, 0x1234, pad) + addr.ljust(pad, b"\0")
    body = struct.pack("<QQQQQ", 1 << 40, 0x1234, 1 << 30, 1 << 40, 0)
    msg = struct.pack("<QQ", 3, len(body)) + body
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(hs + msg)
        s.settimeout(2)
        try:
            return s.recv(100)
        except OSError:
            return b""
    finally:
        s.close()


def tls_hello(port, ca=None, cert=None, key=None, claim=0):
    """Opens TLS to the peer port (optionally with a client certificate)
    and sends a CALL-channel hello claiming member `claim`. Returns
    "handshake failed", "refused: ..." or "accepted"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s = ctx.wrap_socket(raw)
        addr = b"127.0.0.1:1"
        s.sendall(b"OVLP" + bytes([1, 2]) + struct.pack(">QH", claim,
                                                         len(addr)) + addr)
        got = s.recv(3)
        if len(got) < 3:
            return "handshake failed"  # TLS 1.3: the alert comes late
        if got[0] == 0:
            return "accepted"
        n = struct.unpack(">H", got[1:3])[0]
        return "refused: " + s.recv(n).decode(errors="replace")
    except (ssl.SSLError, OSError):
        return "handshake failed"
    finally:
        raw.close()


def stranger(lab, c, name, extra, env=None):
    """Starts a joining host that must be refused; returns (exit code,
    its log)."""
    s = lab.ovld(name, extra_args=list(extra))
    argv = s.argv()
    p = subprocess.run(argv, capture_output=True, timeout=90,
                       env=dict(os.environ, **(env or {})),
                       stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def attack_joins(lab, c, h1):
    via = ["--join", "127.0.0.1:%d" % h1.client_port]
    before = member_names(h1)
    rc, out = stranger(lab, c, "s1", via, env={"OVLD_TOKEN": ""})
    lab.check(rc != 0 and "needs a join token" in out,
              "a --join without a token is refused at start", out[-400:])
    token = ovldlab.join_token(h1.data_dir)
    digest, secret = token.split("-")[2], token.split("-")[3]
    forged = "OVLTKN-1-%s-%s" % (digest, secrets.token_hex(16))
    rc, out = stranger(lab, c, "s2", via + ["--token", forged])
    lab.check(rc != 0 and "token is not valid" in out,
              "a forged secret is refused", out[-400:])
    other = "OVLTKN-1-%s-%s" % (secrets.token_hex(32), secret)
    rc, out = stranger(lab, c, "s3", via + ["--token", other])
    lab.check(rc != 0 and "pins another CA" in out,
              "a token pinning another CA is refused", out[-400:])
    rc, out = stranger(lab, c, "s4", via + ["--token", "SWMTKN-1-abc"])
    lab.check(rc != 0 and "not an ovld token" in out,
              "a malformed token is refused with a clear line", out[-400:])
    lab.check_eq(member_names(h1), before,
                 "the refused joins added no member")

    csr = csr_pem(lab.dir, "ghost")
    ident, body = join_request(token, csr, "http://127.0.0.1:9")
    st, doc = post_join(h1, body)
    lab.check(st == 200 and "BEGIN CERTIFICATE" in (doc or {}).get(
        "cert", ""), "a valid join request is admitted", repr((st, doc)))
    st2, doc2 = post_join(h1, body)
    lab.check(st2 == 409 and "already used" in json.dumps(doc2),
              "the same request replayed is refused", repr((st2, doc2)))
    if st == 200:
        cl.request(h1, "DELETE", "/v2/members/%s" % ident)
    rc, out, err = ovlctl(h1, "cluster", "token", "--rotate")
    new = out.strip()
    lab.check(rc == 0 and new.startswith("OVLTKN-1-%s-" % digest) and
              new != token, "ovlctl cluster token --rotate: a new secret,"
              " the same CA", out + err)
    _, body = join_request(token, csr_pem(lab.dir, "late"),
                           "http://127.0.0.1:8")
    st, doc = post_join(h1, body)
    lab.check(st == 403, "the token from before the rotation is refused",
              repr((st, doc)))
    rc, out, _ = ovlctl(h1, "cluster", "token")
    lab.check_eq(out.strip(), new, "ovlctl cluster token shows the new one")


def attack_paths(lab, h1):
    for path in ("/ovld/v1/propose-batch", "/ovld/v1/propose",
                 "/ovld/v1/barrier", "/ovld/v1/term",
                 "/ovld/v1/member/add", "/ovld/v1/member/remove"):
        st, _, _ = cl.request(h1, "POST", path, body="x")
        lab.check_eq(st, 404, "POST %s on the client port: 404" % path)


def attack_peer_port(lab, c, h1, h2):
    ld = c.leader()
    term = raft_term(ld)
    for s in c.hosts:
        raw_request_vote(s.peer_port)
    time.sleep(1.0)
    lab.check(raft_term(ld) == term and c.leader() is ld,
              "a plain-TCP RequestVote moved neither term nor leader",
              "term %d -> %d" % (term, raft_term(ld)))
    lab.check_eq(tls_hello(h1.peer_port), "handshake failed",
                 "TLS without a client certificate completes no session")
    make_foreign_pki(lab.dir)
    j = lambda n: os.path.join(lab.dir, n)  # noqa: E731
    lab.check_eq(tls_hello(h1.peer_port, cert=j("evil.crt"),
                           key=j("evil.key")), "handshake failed",
                 "another CA's certificate completes no session")
    pki2 = os.path.join(h2.data_dir, "pki")
    h2id = member_id(h1, "h2")
    res = tls_hello(h1.peer_port, cert=os.path.join(pki2, "node.crt"),
                    key=os.path.join(pki2, "node.key"),
                    claim=int(h2id, 16))
    lab.check_eq(res, "accepted", "a member's own certificate is accepted")
    res = tls_hello(h1.peer_port, cert=os.path.join(pki2, "node.crt"),
                    key=os.path.join(pki2, "node.key"), claim=0x42)
    lab.check(res.startswith("refused"),
              "a member's certificate claiming another id is refused", res)
    keep = {n: open(os.path.join(pki2, n), "rb").read()
            for n in ("node.crt", "node.key")}
    st, _, _ = cl.request(h1, "DELETE", "/v2/members/%s" % h2id)
    lab.check(st == 204, "h2 is removed", str(st))
    h2.stop()
    for n, data in keep.items():
        with open(j("removed-" + n), "wb") as f:
            f.write(data)
    cl.wait_until(lambda: len(cl.members(h1) or []) == 1, 10)
    time.sleep(1.0)
    res = tls_hello(h1.peer_port, cert=j("removed-node.crt"),
                    key=j("removed-node.key"), claim=int(h2id, 16))
    lab.check(res.startswith("refused"),
              "the removed member's certificate no longer opens the port",
              res)


def ovlctl(h, *args):
    p = subprocess.run([ovlctl_bin(), "--socket", h.ctl_socket] +
                       list(args), capture_output=True, timeout=30)
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


def client_cert(lab, h1):
    d = os.path.join(lab.dir, "certs")
    os.makedirs(d, exist_ok=True)
    rc, out, err = ovlctl(h1, "cluster", "client-cert", "alice", "--dir", d)
    files = sorted(os.listdir(d)) if rc == 0 else []
    lab.check(files == ["alice.crt", "alice.key", "ca.crt"],
              "ovlctl cluster client-cert writes key, cert and CA",
              repr(files) + out + err)
    if rc == 0:
        mode = os.stat(os.path.join(d, "alice.key")).st_mode & 0o777
        lab.check_eq(mode, 0o600, "the client key is private (0600)")
        p = subprocess.run(["openssl", "verify", "-CAfile",
                            os.path.join(d, "ca.crt"),
                            os.path.join(d, "alice.crt")],
                           capture_output=True)
        lab.check(p.returncode == 0, "the client certificate verifies "
                  "against the CA", p.stdout.decode() + p.stderr.decode())
    rc, out, err = ovlctl(h1, "cluster", "client-cert", "../x")
    lab.check(rc != 0, "a client-cert name with a slash is refused",
              out + err)


def static_cluster(lab):
    c = cl.Cluster(lab)
    s = lab.ovld("lone", extra_args=["--initial-cluster",
                                     "lone=http://127.0.0.1:1"])
    p = subprocess.run(s.argv(), capture_output=True, timeout=30,
                       env=dict(os.environ, OVLD_TOKEN=""),
                       stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode(errors="replace")
    lines = [ln for ln in out.splitlines() if "refusing" in ln]
    lab.check(p.returncode != 0 and len(lines) == 1 and
              "--token" in lines[0],
              "a static cluster without a secret is refused with one line",
              out[-500:])
    hosts = c.static(["a", "b", "c"], extra=["--token", "a-static-cluster-secret"])
    ok = cl.put(hosts[0], "/static/k", "v")[0] in (200, 201)
    lab.check(ok and cl.wait_until(lambda: value_of(hosts[2], "/static/k"),
                                   10) == "v",
              "a static cluster with --token forms and replicates")
    return c


def by_name(lab, name, join=None):
    """An ovld whose URLs all say localhost (flags after the lab's win)."""
    s = lab.ovld(name)
    cu = "http://localhost:%d" % s.client_port
    pu = "http://localhost:%d" % s.peer_port
    s.extra_args += ["--listen-client-urls", cu, "--advertise-client-urls",
                     cu, "--listen-peer-urls", pu,
                     "--initial-advertise-peer-urls", pu]
    if join:
        s.extra_args += ["--join", "localhost:%d" % join.client_port]
    return s, pu


def host_names(lab):
    """etcd's users write localhost and DNS names in their URLs."""
    a, pa = by_name(lab, "n1")
    ok = cl.start_with_check(lab, "a host with localhost peer and client "
                             "URLs starts", a.start)
    b, pb = by_name(lab, "n2", join=a) if ok else (None, None)
    if not ok or not cl.start_with_check(lab, "a host joins through "
                                         "--join localhost:PORT", b.start):
        return
    st = cl.put(b, "/names/k", "v")[0]
    lab.check(st == 201 and cl.wait_until(lambda: value_of(a, "/names/k"),
                                          10) == "v",
              "a write on the joined host reaches the other (Raft and "
              "forwarding over names)")
    peers = sorted(u for m in cl.members(a) or [] for u in m["peerURLs"])
    lab.check_eq(peers, sorted([pa, pb]),
                 "/v2/members shows the peer URLs with their names")


def rotation(lab):
    """ovlctl cluster rotate-ca under continuous writes: no write lost, no
    election, a new token digest, and the old CA's certificates refused."""
    c = cl.Cluster(lab)
    socks = {}
    for n in ("r1", "r2", "r3"):
        socks[n] = os.path.join(lab.dir, n + ".sock")
        start = c.bootstrap if n == "r1" else c.join
        if not cl.start_with_check(lab, "%s starts" % n, lambda: start(
                n, extra=["--control-socket", socks[n]])):
            return
    r1, r2, r3 = c.hosts
    r2.ctl_socket = socks["r2"]
    old_token = ovldlab.join_token(r1.data_dir)
    ld = c.leader()
    term = raft_term(ld)
    old = os.path.join(lab.dir, "old-r3")
    os.makedirs(old, exist_ok=True)
    for n in ("node.crt", "node.key"):
        with open(os.path.join(r3.data_dir, "pki", n), "rb") as f, \
                open(os.path.join(old, n), "wb") as g:
            g.write(f.read())
    w = cl.Writer(lambda: c.hosts, "/rot", threads=3)
    w.start()
    time.sleep(1.0)
    rc, out, err = ovlctl(r2, "cluster", "rotate-ca")
    lab.check(rc == 0, "ovlctl cluster rotate-ca starts a rotation",
              out + err)
    done = cl.wait_until(lambda: cl.log_has(ld, "the CA rotation is "
                                            "complete"), 30, 0.3)
    time.sleep(1.0)
    w.stop()
    lab.check(done, "the leader completes the rotation")
    same, trees = c.converged("/rot", timeout=20)
    tree = trees.get("r1") or {}
    lost = [k for k in w.acked if k not in tree]
    lab.check(same and not lost and len(w.acked) > 20,
              "no acknowledged write lost across the rotation (%d acked)"
              % len(w.acked), repr(lost[:5]))
    lab.check(c.leader() is ld and raft_term(ld) == term,
              "no election during the rotation")
    new_token = ovldlab.join_token(r1.data_dir)
    lab.check(new_token and new_token.split("-")[2] !=
              old_token.split("-")[2],
              "the join token pins the new CA", new_token or "")
    r3id = int(member_id(r1, "r3"), 16)
    for h in (r1, r2):
        st, why = cl.peer_call(h, old, r3id, cl.PEER_KIND_RAFT + 3, b"")
        lab.check(st is None or st == "refused",
                  "%s refuses r3's certificate of the old CA" % h.name,
                  repr((st, why)))
    st, _ = cl.peer_call(r1, os.path.join(r3.data_dir, "pki"), r3id,
                         cl.PEER_KIND_RAFT + 3, b"")
    lab.check(st == 0, "r3's renewed certificate works", repr(st))


def run(lab):
    c = cl.Cluster(lab)
    sock = os.path.join(lab.dir, "h1.sock")
    if not cl.start_with_check(lab, "h1 bootstraps", lambda: c.bootstrap(
            "h1", extra=["--control-socket", sock])):
        return
    h1 = c.hosts[0]
    h1.ctl_socket = sock
    lab.check(ovldlab.join_token(h1.data_dir, 10),
              "h1 writes its join token to pki/join-token")
    if not cl.start_with_check(lab, "h2 joins with the token",
                               lambda: c.join("h2")):
        return
    h2 = c.hosts[1]
    client_cert(lab, h1)
    attack_joins(lab, c, h1)
    attack_paths(lab, h1)
    attack_peer_port(lab, c, h1, h2)
    static_cluster(lab)
    host_names(lab)
    rotation(lab)


def main():
    with cl.Lab("peer-security") as lab:
        run(lab)
    lab.finish()


if __name__ == "__main__":
    main()
