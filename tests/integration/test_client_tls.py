#!/usr/bin/env python3
"""test_client_tls - the client API over TLS with etcd 3.4's flags, from
the user's side (etcdctl and curl with certificates) and the attacker's
(no certificate, another CA's certificate with a known user's CN, plain
HTTP to a TLS port, a cipher suite the server does not allow).

Certificates come from the openssl CLI in the lab directory. Needs curl,
openssl and etcdctl (etcd 3.4).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ovldlab  # noqa: E402


def run(argv, timeout=20.0, env=None):
    p = subprocess.run(argv, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=env)
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


class Pki:
    """A CA, a server certificate for 127.0.0.1, client certificates, and
    a second CA whose certificates the server must refuse."""

    def __init__(self, d):
        self.d = d
        self.ca = self.new_ca("ca", "test CA")
        self.other = self.new_ca("other", "other CA")
        self.server = self.leaf("server", "ca", "server",
                                "subjectAltName=IP:127.0.0.1,DNS:localhost"
                                "\nextendedKeyUsage=serverAuth\n")

    def path(self, name):
        return os.path.join(self.d, name)

    def openssl(self, *args):
        rc, out, err = run(["openssl"] + list(args))
        if rc != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), err))

    def new_ca(self, name, cn):
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                     "-keyout", self.path(name + ".key"),
                     "-out", self.path(name + ".pem"), "-subj", "/CN=" + cn)
        return self.path(name + ".pem")

    def leaf(self, name, ca, cn, ext="extendedKeyUsage=clientAuth\n"):
        """(cert, key) of a new certificate with CN cn, signed by ca."""
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        cert, extf = self.path(name + ".pem"), self.path(name + ".ext")
        with open(extf, "w") as f:
            f.write(ext)
        self.openssl("req", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                     "-out", csr, "-subj", "/CN=" + cn)
        self.openssl("x509", "-req", "-in", csr, "-CA", self.path(ca + ".pem"),
                     "-CAkey", self.path(ca + ".key"), "-CAcreateserial",
                     "-days", "2", "-out", cert, "-extfile", extf)
        return cert, key


def curl(url, *args, method="GET", data=None, timeout=10):
    """(curl's exit code, HTTP status or 0, body)."""
    argv = ["curl", "-sS", "-m", str(timeout), "-o", "-", "-w",
            "\n%{http_code}", "-X", method, url] + list(args)
    if data is not None:
        argv += ["--data-binary", data]
    rc, out, err = run(argv, timeout=timeout + 5)
    body, _, code = out.rpartition("\n")
    return rc, int(code or 0), body + err


def tls_args(ca=None, cert=None):
    out = ["--cacert", ca] if ca else []
    if cert:
        out += ["--cert", cert[0], "--key", cert[1]]
    return out


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def plain_http_gets_no_data(port):
    """An HTTP request sent in the clear to a TLS port: no HTTP answer
    (TLS records or nothing), and no key's value."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        s.sendall(b"GET /v2/keys/a HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        got = b""
        try:
            while len(got) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionError):
            pass
        return not got.startswith(b"HTTP/") and b"secret" not in got
    finally:
        s.close()


def published(srv, timeout=15.0):
    """Waits until /v2/members lists the client URL (on the http port):
    etcdctl's first sync needs it, and /health can answer before."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, _, doc = srv.http().json("GET", "/v2/members")
        if st == 200 and any(m.get("clientURLs")
                             for m in (doc or {}).get("members") or []):
            return
        time.sleep(0.05)


def start_tls_ovld(lab, extra, http_port=True):
    """An ovld serving https on one port and, with http_port, http on a
    second one (health is polled there or over TLS with -k)."""
    srv = lab.ovld("tls", extra_args=extra)
    srv.tls_port = ovldlab.free_port()
    urls = "https://127.0.0.1:%d" % srv.tls_port
    if http_port:
        urls += ",http://127.0.0.1:%d" % srv.client_port
    srv.extra_args = ["--listen-client-urls", urls,
                      "--advertise-client-urls",
                      "https://127.0.0.1:%d" % srv.tls_port] + extra
    srv.start(wait=http_port)
    if not http_port and not wait_port(srv.tls_port):
        raise RuntimeError("ovld did not listen on %d" % srv.tls_port)
    return srv


def test_files_and_client_certs(lab, pki):
    alice = pki.leaf("alice", "ca", "alice")
    bob = pki.leaf("bob", "ca", "bob")  # no such v2 user
    fake_alice = pki.leaf("fake-alice", "other", "alice")
    srv = start_tls_ovld(lab, ["--cert-file", pki.server[0],
                               "--key-file", pki.server[1],
                               "--trusted-ca-file", pki.ca,
                               "--client-cert-auth"])
    url = "https://127.0.0.1:%d" % srv.tls_port
    ok = tls_args(pki.ca, alice)
    published(srv)

    env = dict(os.environ, ETCDCTL_API="2")
    env.pop("ETCDCTL_ENDPOINTS", None)
    ctl = [ovldlab.find_binary("ETCDCTL_BIN", "etcdctl"), "--endpoints", url,
           "--ca-file", pki.ca, "--cert-file", alice[0],
           "--key-file", alice[1]]
    rc, out, err = run(ctl + ["set", "/a", "over-tls"], env=env)
    lab.check(rc == 0, "etcdctl set over https with a client cert",
              "rc=%d %s" % (rc, err))
    rc, out, err = run(ctl + ["get", "/a"], env=env)
    lab.check_eq((rc, out.strip()), (0, "over-tls"),
                 "etcdctl get over https reads it back")
    rc, out, err = run(ctl[:5] + ["get", "/a"], env=env)
    lab.check(rc != 0, "etcdctl without a client cert is refused",
              "rc=%d out=%r" % (rc, out))

    rc, code, body = curl(url + "/v2/keys/a", *ok)
    lab.check(code == 200 and "over-tls" in body,
              "curl --cacert --cert --key reads the key", body)
    rc, code, body = curl(url + "/v2/keys/a", *tls_args(pki.ca))
    lab.check(rc != 0 and code == 0,
              "curl without a client certificate gets no answer",
              "rc=%d code=%d %s" % (rc, code, body))
    rc, code, body = curl(url + "/v2/keys/a",
                          *tls_args(pki.ca, fake_alice))
    lab.check(rc != 0 and code == 0,
              "another CA's certificate with CN alice gets no answer",
              "rc=%d code=%d %s" % (rc, code, body))
    rc, code, body = curl(url + "/v2/keys/a", "--cert", alice[0],
                          "--key", alice[1])
    lab.check(rc != 0 and code == 0,
              "curl that does not trust the test CA refuses the server",
              "rc=%d code=%d" % (rc, code))
    lab.check(plain_http_gets_no_data(srv.tls_port),
              "plain HTTP to the https port gets no data")
    st, _, body = srv.http().request("GET", "/v2/keys/a")
    lab.check(st == 200 and b"over-tls" in body,
              "the http:// listener beside it serves the same keys")

    # v2 auth: root (basic auth) sets it up; alice's role reads /pub only
    root = ok + ["-u", "root:rootpw"]
    for path, doc in [
            ("/v2/auth/users/root", {"user": "root", "password": "rootpw"}),
            ("/v2/auth/roles/reader", {"role": "reader", "permissions": {
                "kv": {"read": ["/pub/*"], "write": []}}}),
            ("/v2/auth/users/alice", {"user": "alice", "password": "alicepw",
                                      "roles": ["reader"]})]:
        rc, code, body = curl(url + path, *ok, method="PUT",
                              data=json.dumps(doc))
        lab.check(code in (200, 201), "PUT %s" % path, body)
    for key in ("pub/x", "secret/y"):
        curl(url + "/v2/keys/" + key, *ok, method="PUT",
             data="value=v-" + key.split("/")[0])
    rc, code, body = curl(url + "/v2/auth/enable", *ok, method="PUT")
    lab.check(code == 200, "auth enabled", body)
    rc, code, body = curl(
        url + "/v2/auth/roles/guest", *root, method="PUT",
        data=json.dumps({"role": "guest", "revoke": {"kv": {
            "read": ["/*"], "write": ["/*"]}}}))
    lab.check(code == 200, "root (basic auth) revokes the guest's access",
              body)

    rc, code, body = curl(url + "/v2/keys/pub/x", *ok)
    lab.check(code == 200 and "v-pub" in body,
              "alice's certificate reads /pub/x as alice", body)
    rc, code, body = curl(url + "/v2/keys/secret/y", *ok)
    lab.check_eq(code, 401, "alice's certificate may not read /secret/y")
    rc, code, body = curl(url + "/v2/keys/pub/x", *ok, method="PUT",
                          data="value=evil")
    lab.check_eq(code, 401, "alice's certificate may not write /pub/x")
    rc, code, body = curl(url + "/v2/keys/pub/x",
                          *tls_args(pki.ca, bob))
    lab.check_eq(code, 401, "a CN that names no user is a guest")
    rc, code, body = curl(url + "/v2/keys/pub/x", *ok, "-u", "alice:wrong")
    lab.check_eq(code, 401, "a wrong password beside alice's cert is "
                 "refused (the header wins, as in etcd)")
    rc, code, body = curl(url + "/v2/keys/secret/y", *root)
    lab.check(code == 200, "root's password reads /secret/y", body)
    st, _, _ = srv.new_http().request("GET", "/v2/keys/pub/x")
    lab.check_eq(st, 401, "without TLS there is no certificate user")
    srv.stop()


def test_auto_tls(lab, pki):
    srv = start_tls_ovld(lab, ["--auto-tls"], http_port=False)
    url = "https://127.0.0.1:%d" % srv.tls_port
    rc, code, body = curl(url + "/v2/keys/k", "-k", method="PUT",
                          data="value=1")
    lab.check(code == 201, "--auto-tls: curl -k writes", body)
    rc, code, body = curl(url + "/v2/keys/k")
    lab.check(rc != 0 and code == 0,
              "--auto-tls: a verifying curl refuses the self-signed cert")
    lab.check(plain_http_gets_no_data(srv.tls_port),
              "--auto-tls: plain HTTP to the port gets no data")
    cert = os.path.join(srv.data_dir, "fixtures", "client", "cert.pem")
    rc, text, _ = run(["openssl", "x509", "-in", cert, "-noout", "-text"])
    lab.check(rc == 0 and "IP Address:127.0.0.1" in text,
              "--auto-tls: the certificate names the listen IP")
    before = open(cert).read()
    srv.stop()
    srv.start(wait=False)
    lab.check(wait_port(srv.tls_port) and open(cert).read() == before,
              "--auto-tls: a restart keeps the certificate (as etcd)")
    srv.stop()


def test_node_certificate(lab, pki):
    """An https listener without --cert-file or --auto-tls serves the
    host's node certificate, which the cluster CA verifies."""
    srv = start_tls_ovld(lab, [], http_port=False)
    url = "https://127.0.0.1:%d/version" % srv.tls_port
    ca = os.path.join(srv.data_dir, "pki", "ca.crt")
    rc, code, body = curl(url, "--cacert", ca)
    lab.check(code == 200, "https without --cert-file serves the node "
              "certificate, verified by the cluster CA", body)
    rc, code, _ = curl(url)
    lab.check(rc != 0 and code == 0, "a curl that does not trust the "
              "cluster CA refuses that certificate")
    srv.stop()


def test_cipher_suites(lab, pki):
    srv = start_tls_ovld(lab, [
        "--cert-file", pki.server[0], "--key-file", pki.server[1],
        "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"])
    url = "https://127.0.0.1:%d/version" % srv.tls_port
    ca = tls_args(pki.ca)
    rc, code, _ = curl(url, *ca, "--tls-max", "1.2", "--ciphers",
                       "ECDHE-ECDSA-AES128-GCM-SHA256")
    lab.check_eq(code, 200, "--cipher-suites: a client offering the suite "
                 "connects")
    rc, code, _ = curl(url, *ca, "--tls-max", "1.2", "--ciphers",
                       "ECDHE-ECDSA-AES256-GCM-SHA384")
    lab.check(rc != 0 and code == 0,
              "--cipher-suites: a client offering only another suite fails")
    rc, code, _ = curl(url, *ca, "--tlsv1.3")
    lab.check(rc != 0 and code == 0,
              "--cipher-suites: TLS 1.3 is off, as in etcd (its suites "
              "cannot be chosen)")
    srv.stop()


def test_bad_flags(lab, pki):
    other_key = pki.leaf("spare", "ca", "spare")[1]
    port = ovldlab.free_port()
    https = ["--listen-client-urls", "https://127.0.0.1:%d" % port]
    files = ["--cert-file", pki.server[0], "--key-file", pki.server[1]]
    cases = [
        ("a missing --cert-file", https + ["--cert-file", "/nonexistent",
                                           "--key-file", pki.server[1]],
         "/nonexistent"),
        ("a key that is not the certificate's",
         https + ["--cert-file", pki.server[0], "--key-file", other_key],
         "is not the key"),
        ("an unknown cipher suite", https + files +
         ["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
          "TLS_BOGUS"], "TLS_BOGUS"),
        ("a TLS 1.3 suite (not configurable, as in etcd)", https + files +
         ["--cipher-suites", "TLS_AES_128_GCM_SHA256"],
         "TLS_AES_128_GCM_SHA256"),
        ("--client-cert-auth without a CA", https + files +
         ["--client-cert-auth"], "--trusted-ca-file"),
    ]
    for what, args, needle in cases:
        data = os.path.join(lab.dir, "bad-%d.data" % port)
        argv = [ovldlab.ovld_bin(), "--data-dir", data,
                "--listen-peer-urls", "http://127.0.0.1:%d"
                % ovldlab.free_port()] + ovldlab.NO_LOCAL_SOCKETS + args
        rc, out, err = run(argv, timeout=15)
        lines = [ln for ln in (out + err).splitlines() if ln.strip()]
        lab.check(rc != 0 and len(lines) == 1 and needle in lines[0],
                  "%s: one line and a non-zero exit" % what,
                  "rc=%d lines=%r" % (rc, lines))
        shutil.rmtree(data, ignore_errors=True)


def main():
    for tool in ("curl", "openssl"):
        ovldlab.require_binary("NO_SUCH_ENV_" + tool.upper(), tool,
                               "the test's clients and certificates")
    ovldlab.require_binary("ETCDCTL_BIN", "etcdctl",
                           "etcdctl over https is the user's side")
    with ovldlab.Lab("client-tls") as lab:
        pki = Pki(lab.dir)
        for t in (test_files_and_client_certs, test_auto_tls,
                  test_node_certificate, test_cipher_suites,
                  test_bad_flags):
            print("-- %s" % t.__name__, flush=True)
            t(lab, pki)
    lab.finish()


if __name__ == "__main__":
    main()
