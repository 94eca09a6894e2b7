#!/usr/bin/env python3
"""test_peer_own_pki - hosts that bring their own PKI (etcd's --peer-cert-file,
--peer-key-file, --peer-trusted-ca-file) instead of the cluster CA:

- a host joins with --join and its certificate of the user's CA, no token;
- a host with a certificate of another CA is not admitted;
- the client port takes no token joins on such a cluster (404);
- an etcd-style static cluster forms with the same flags and no secret;
- a client certificate signed with SHA-1 (Go's etcd serves it) is served,
  with one warning line.
Certificates are made with openssl, as a user would.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterlab as cl  # noqa: E402
import ovldlab  # noqa: E402

EXT = ("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
       "extendedKeyUsage=serverAuth,clientAuth\n")


class Pki:
    """A CA and leaves in dir d, made with openssl."""

    def __init__(self, d, name):
        self.d = d
        self.name = name
        self.ca = self.path("ca.crt")
        self.openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout",
                     "-out", self.path("ca.key"))
        self.openssl("req", "-x509", "-new", "-key", self.path("ca.key"),
                     "-subj", "/CN=%s" % name, "-days", "30", "-out",
                     self.ca)

    def path(self, n):
        return os.path.join(self.d, "%s-%s" % (self.name, n))

    def openssl(self, *args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True)

    def leaf(self, cn, digest="sha256"):
        key, csr, crt, ext = (self.path(cn + s) for s in
                              (".key", ".csr", ".crt", ".ext"))
        with open(ext, "w") as f:
            f.write(EXT)
        self.openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout",
                     "-out", key)
        self.openssl("req", "-new", "-key", key, "-subj", "/CN=%s" % cn,
                     "-out", csr)
        self.openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
                     self.path("ca.key"), "-CAcreateserial", "-days", "30",
                     "-" + digest, "-extfile", ext, "-out", crt)
        return crt, key

    def flags(self, cn):
        crt, key = self.leaf(cn)
        return ["--peer-cert-file", crt, "--peer-key-file", key,
                "--peer-trusted-ca-file", self.ca]


def member_names(h):
    return sorted(m["name"] for m in cl.members(h) or [])


def value_of(h, key):
    st, _, doc = cl.get(h, key)
    return doc["node"]["value"] if st == 200 and doc else None


def join_and_stranger(lab, ours, theirs):
    c = cl.Cluster(lab)
    if not cl.start_with_check(lab, "a host with its own PKI bootstraps",
                               lambda: c.bootstrap(
                                   "p1", extra=ours.flags("p1"))):
        return
    p1 = c.hosts[0]
    if not cl.start_with_check(lab, "a host joins with --join and its "
                               "own certificate, no token",
                               lambda: c.join("p2",
                                              extra=ours.flags("p2"))):
        return
    p2 = c.hosts[1]
    st = cl.put(p2, "/own/k", "v")[0]
    lab.check(st == 201 and cl.wait_until(lambda: value_of(p1, "/own/k"),
                                          10) == "v",
              "a write on the joined host reaches the first")
    lab.check_eq(member_names(p1), ["p1", "p2"], "both are members")
    if cl.start_with_check(lab, "a third host joins through the follower",
                           lambda: c.join("p3", via=p2,
                                          extra=ours.flags("p3"))):
        lab.check_eq(member_names(p1), ["p1", "p2", "p3"],
                     "three members")

    s = lab.ovld("evil", extra_args=theirs.flags("evil") + [
        "--join", "127.0.0.1:%d" % p1.client_port])
    proc = subprocess.Popen(s.argv(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    time.sleep(8.0)
    alive = proc.poll() is None
    proc.kill()
    out = proc.communicate()[0].decode(errors="replace")
    lab.check(alive and "ready" not in out and
              "evil" not in member_names(p1),
              "a host with another CA's certificate is not admitted",
              out[-600:])
    lab.check("join through" in out,
              "it says why it cannot join", out[-600:])
    st, body, _ = cl.request(p1, "POST", "/ovld/v1/join", body="{}")
    lab.check_eq(st, 404, "the client port takes no token joins here")


def static_own_pki(lab, ours):
    new = [lab.ovld(n) for n in ("s1", "s2", "s3")]
    init = ",".join("%s=%s" % (s.name, s.peer_url) for s in new)
    for s in new:
        s.extra_args += ours.flags(s.name) + [
            "--initial-cluster", init, "--initial-cluster-state", "new"]
        s.start(wait=False)
    ok = True
    for s in new:
        try:
            s.wait_healthy(30)
        except Exception as e:  # noqa: BLE001
            ok = False
            lab.check(False, "%s starts" % s.name, str(e))
    if not ok:
        return
    lab.check(True, "a static cluster with the peer TLS flags and no "
              "secret starts")
    st = cl.put(new[0], "/static/k", "v")[0]
    lab.check(st in (200, 201) and cl.wait_until(
        lambda: value_of(new[2], "/static/k"), 10) == "v",
        "it replicates a write")
    for s in new:
        s.stop()


def sha1_client_cert(lab, ours):
    crt, key = ours.leaf("weak", digest="sha1")
    port = ovldlab.free_port()
    s = lab.ovld("weak")
    s.extra_args += ["--listen-client-urls",
                     "https://127.0.0.1:%d,http://127.0.0.1:%d" %
                     (port, s.client_port), "--cert-file", crt,
                     "--key-file", key]
    s.start()
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w",
                        "%{http_code}", "https://127.0.0.1:%d/version" %
                        port], capture_output=True, text=True, timeout=20)
    lab.check_eq(p.stdout, "200", "a SHA-1-signed certificate is served")
    weak = [ln for ln in s.log_text().splitlines() if "weak digest" in ln]
    lab.check(len(weak) == 1 and ln_is_warning(weak[0]),
              "with one warning line", repr(weak))
    s.stop()


def ln_is_warning(line):
    return line.startswith("warn ")


def main():
    ovldlab.require_binary("NO_SUCH_ENV_OPENSSL", "openssl",
                           "the test's certificates")
    ovldlab.require_binary("NO_SUCH_ENV_CURL", "curl", "the https client")
    with cl.Lab("peer-own-pki") as lab:
        ours = Pki(lab.dir, "ours")
        theirs = Pki(lab.dir, "theirs")
        join_and_stranger(lab, ours, theirs)
        static_own_pki(lab, ours)
        sha1_client_cert(lab, ours)
    lab.finish()


if __name__ == "__main__":
    main()
