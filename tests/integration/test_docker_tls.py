"""test_docker_tls - Docker's classic two-host overlay lab over TLS: each
dockerd 20.10 reaches the ovld of its host on https://IP:2379 with a
client certificate from `ovlctl cluster client-cert`, as the README shows.

Two netlab hosts run ovld (h2 joins h1 with the join token) with the
client API on https://IP:2379 (the host's node certificate) and
http://127.0.0.1:2379 for local tools. Once both are members, each is
restarted with --trusted-ca-file DATA/pki/ca.crt --client-cert-auth (a
host joins through the client port without a client certificate, so the
requirement is turned on after the join). Each host writes a client
certificate (`ovlctl cluster client-cert docker-hN --dir D`) and its
dockerd runs with --cluster-store=etcd://IP:2379 and
--cluster-store-opt kv.cacertfile=D/ca.crt, kv.certfile=D/docker-hN.crt,
kv.keyfile=D/docker-hN.key.

Checked: a third host cannot join through a member that requires client
certificates and says so at once; /v2/members advertises https client
URLs (Docker's etcd client replaces its endpoints with them at start and
every 5 minutes); curl
without a client certificate gets no answer and plain HTTP to the port
gets no data; a dockerd without the kv.* files (it then speaks plain HTTP
to the https port) registers nothing and cannot create an overlay network;
with the files both engines register, an overlay network made on h1 shows
on h2 with the same id, and containers on the two hosts ping each other.

Skips (exit 77, "SKIP: ...") when not root, when dockerd is missing or too
new for --cluster-store, or when it cannot start at all here.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import NetLab, Checks, OVLD, wait_until  # noqa: E402
import ovldlab  # noqa: E402
import dockerlab  # noqa: E402
from ovldlab import require_binary, require_root, skip  # noqa: E402
from dockerlab import Engine, IMAGE  # noqa: E402

SUBNET = "10.98.0.0/24"
STORE_OPTS = ("discovery.heartbeat=3", "discovery.ttl=9")


def https_url(h):
    return "https://%s:2379" % h.ip


def tls_listen(h):
    """The client API on https://IP (node certificate) and plain loopback
    (what ovld picks by itself with --advertise IP; netlab's defaults
    write http:// for every listener, so it is spelt out here)."""
    return ["--listen-client-urls",
            "%s,http://127.0.0.1:2379" % https_url(h),
            "--advertise-client-urls", https_url(h)]


def cert_auth(h):
    return ["--trusted-ca-file", os.path.join(h.data, "pki", "ca.crt"),
            "--client-cert-auth"]


class TlsEngine(Engine):
    """A dockerd whose cluster store is its host's ovld over the network
    (etcd://IP:2379), with the kv.* TLS options it is given."""

    def __init__(self, host, tls_opts, tag=None):
        super().__init__(host, STORE_OPTS + tuple(tls_opts))
        if tag:
            self.dir = os.path.join(host.lab.dir, "docker-%s-%s" %
                                    (host.name, tag))
            self.sock = os.path.join(self.dir, "d.sock")
            self.log = os.path.join(self.dir, "dockerd.log")
            os.makedirs(self.dir, exist_ok=True)
            with open(os.path.join(self.dir, "daemon.json"), "w") as f:
                f.write("{}\n")
        self.store = "etcd://%s:2379" % host.ip

    def argv(self, cluster=True):
        args = super().argv(cluster=False)
        if cluster:
            args += ["--cluster-store=" + self.store,
                     "--cluster-advertise=" + self.advertise]
            for o in self.store_opts:
                args += ["--cluster-store-opt", o]
        return args


def client_cert(c, h):
    """(dir, name) of the files `ovlctl cluster client-cert` wrote on h."""
    d = os.path.join(h.lab.dir, "certs-" + h.name)
    name = "docker-" + h.name
    rc, out, err = h.ovlctl("cluster", "client-cert", name, "--dir", d)
    files = [os.path.join(d, f) for f in ("ca.crt", name + ".crt",
                                          name + ".key")]
    c.check(rc == 0 and all(os.path.exists(f) for f in files),
            "%s: ovlctl cluster client-cert %s --dir D writes ca.crt, "
            "%s.crt, %s.key" % (h.name, name, name, name), out + err)
    return d, name


def kv_opts(d, name):
    return ["kv.cacertfile=%s/ca.crt" % d,
            "kv.certfile=%s/%s.crt" % (d, name),
            "kv.keyfile=%s/%s.key" % (d, name)]


def form_cluster(c, lab):
    """h1 bootstraps, h2 joins it through https://h1:2379, then each is
    restarted (one at a time, so a quorum stays) with client-cert auth."""
    h1, h2 = lab.hosts[:2]
    h1.start(extra=tls_listen(h1))
    h2.start(join=h1.ip, extra=tls_listen(h2))
    for h in (h2, h1):
        h.stop()
        h.start(extra=tls_listen(h) + cert_auth(h))
    st, body = h2.http("GET", "/v2/members")
    try:
        urls = sorted(u for m in json.loads(body)["members"]
                      for u in m["clientURLs"])
    except (ValueError, KeyError, TypeError):
        urls = []
    c.check(st == 200 and urls == sorted(https_url(h) for h in (h1, h2)),
            "/v2/members advertises each host's https:// client URL",
            "%d %s" % (st, body))


def check_join_refused(c, lab):
    """A host cannot join through a member that requires client
    certificates (it has none before the join): it stops at once with one
    clear line instead of retrying for a minute."""
    h1, h3 = lab.hosts[0], lab.hosts[2]
    tok = ovldlab.join_token(h1.data)
    p = h3.exec("env", "OVLD_TOKEN=%s" % tok, "timeout", "90", OVLD,
                "--name", "h3", "--data-dir", h3.data, "--advertise", h3.ip,
                "--join", h1.ip, "--control-socket", h3.sock,
                "--docker-plugin", "off", "--docker-sync", "off",
                timeout=100)
    out = p.stdout + p.stderr
    c.check(p.returncode not in (0, 124) and
            "requires client certificates" in out,
            "a join through h1 (--client-cert-auth) stops with one clear "
            "line", "rc=%d %s" % (p.returncode, out[-600:]))


def curl(h, url, *args):
    """(curl's exit code, HTTP status or 0, body+stderr) run on host h."""
    p = h.exec("curl", "-sS", "-m", "5", "-o", "-", "-w", "\n%{http_code}",
               url, *args)
    body, _, code = p.stdout.rpartition("\n")
    try:
        return p.returncode, int(code), body + p.stderr
    except ValueError:
        return p.returncode, 0, body + p.stderr


def check_ovld_refuses(c, lab, certs):
    """What Docker's client sees, tried with curl from h1 on h2's ovld."""
    h1, h2 = lab.hosts[:2]
    d, name = certs[h1.name]
    url = https_url(h2) + "/v2/keys/"
    ca = ["--cacert", d + "/ca.crt"]
    rc, code, body = curl(h1, url, *ca, "--cert", "%s/%s.crt" % (d, name),
                          "--key", "%s/%s.key" % (d, name))
    c.check(code == 200, "curl with h1's client certificate reads h2's "
            "store over https", body)
    rc, code, body = curl(h1, url, *ca)
    c.check(rc != 0 and code == 0,
            "curl without a client certificate gets no answer",
            "rc=%d code=%d %s" % (rc, code, body))
    rc, code, body = curl(h1, "http://%s:2379/v2/keys/" % h2.ip)
    c.check(code == 0 and '"action"' not in body,
            "plain HTTP to the https port gets no answer (what a dockerd "
            "without kv.* files sends)", "rc=%d code=%d %s" % (rc, code,
                                                             body))


def registered(h):
    st, body = h.http("GET", "/v2/keys/docker/nodes?recursive=true")
    try:
        return [n["key"].rsplit("/", 1)[1]
                for n in json.loads(body)["node"].get("nodes", [])]
    except (ValueError, KeyError, TypeError):
        return []


def check_engine_without_certs(c, lab):
    """A dockerd pointed at the https store without the kv.* files speaks
    plain HTTP to it (libkv uses TLS only when all three are set): it
    registers nothing and cannot make an overlay network. It may still
    start (its local networks need no store)."""
    h1 = lab.hosts[0]
    e = TlsEngine(h1, (), tag="nocert")
    try:
        started = e.start(timeout=30)
        if started:
            rc, _, err = e.docker("network", "create", "-d", "overlay",
                                  "nocert", timeout=40)
            c.check(rc != 0, "a dockerd without the client certificate "
                    "cannot create an overlay network", err)
            print("observed: docker network create without kv.* files: "
                  "%s" % err.splitlines()[-1:] if err else "(no error)")
        else:
            print("observed: dockerd without kv.* files did not start:\n%s"
                  % e.tail(10))
        time.sleep(4)  # a heartbeat (3 s) would have registered it
        c.check(e.advertise not in registered(h1),
                "...and registers nothing in the store",
                str(registered(h1)))
        lines = [ln for ln in e.log_text().splitlines()
                 if ("level=error" in ln or "level=warn" in ln) and
                 ("etcd" in ln or "store" in ln)]
        print("observed in its log (first store errors):\n%s" %
              "\n".join(lines[:3]))
    finally:
        e.stop()


def start_engines(c, lab, certs):
    engines = [TlsEngine(h, kv_opts(*certs[h.name]))
               for h in lab.hosts[:2]]
    e1, e2 = engines
    if not e1.start():
        log = e1.tail()
        e1.stop()
        if not e1.start(cluster=False):
            skip("dockerd cannot start on this machine:\n" + e1.tail())
        c.check(False, "dockerd starts with ovld over TLS as its cluster "
                "store", log)
        return engines, False
    if not e2.start():
        c.check(False, "dockerd on h2 starts", e2.tail())
        return engines, False
    for e in engines:
        rc, out, err = e.docker("info", "--format", "{{.ClusterStore}}")
        c.check(out == e.store, "%s: docker info shows %s as the cluster "
                "store" % (e.host.name, e.store), out + err)
    return engines, True


def check_nodes(c, lab, engines):
    want = {e.advertise for e in engines}
    ok = wait_until(lambda: set(registered(lab.hosts[0])) >= want, 20, 0.3)
    c.check(ok, "both engines register under /docker/nodes over TLS",
            str(registered(lab.hosts[0])))


def check_network(c, e1, e2):
    rc, nid, err = e1.docker("network", "create", "-d", "overlay",
                             "--subnet", SUBNET, "demo")
    c.check(rc == 0, "h1: docker network create -d overlay demo", err)
    rc, out, err = e2.docker("network", "ls", "--no-trunc", "--filter",
                             "driver=overlay", "--format",
                             "{{.ID}} {{.Name}} {{.Scope}}")
    c.check("%s demo global" % nid in out.splitlines(),
            "h2 lists demo with the same id, scope global", out + err)




def check_containers(c, e1, e2):
    for e, name in ((e1, "c1"), (e2, "c2")):
        rc, _, err = e.docker("run", "-d", "--net", "demo", "--name", name,
                              IMAGE, "sleep", "600", timeout=90)
        c.check(rc == 0, "%s: docker run --net demo %s" %
                (e.host.name, name), err + "\n" + e.tail())
    ip1, ip2 = e1.container_ip("c1"), e2.container_ip("c2")
    c.check(ip1.startswith("10.98.0.") and ip2.startswith("10.98.0.") and
            ip1 != ip2, "containers get distinct addresses in %s" % SUBNET,
            "%r %r" % (ip1, ip2))
    for e, ctr, target in ((e1, "c1", ip2), (e2, "c2", ip1),
                           (e1, "c1", "c2")):
        ok = wait_until(lambda: e.ping(ctr, target)[0], 20, 0.5)
        c.check(ok, "%s pings %s across hosts" % (ctr, target),
                e.ping(ctr, target)[1])


def check_engine_logs(c, engines):
    """TLS or store trouble shows in dockerd's log as one of these."""
    bad = ("x509", "tls:", "malformed HTTP", "cluster is unavailable",
           "context deadline exceeded", ":2379: connect: connection refused")
    for e in engines:
        hits = [ln for ln in e.log_text().splitlines()
                if any(b in ln for b in bad)]
        c.check(not hits, "%s: no TLS or store errors in dockerd's log" %
                e.host.name, "\n".join(hits[:5]))


def run(lab, c):
    form_cluster(c, lab)
    check_join_refused(c, lab)
    certs = {h.name: client_cert(c, h) for h in lab.hosts[:2]}
    check_ovld_refuses(c, lab, certs)
    engines = []
    try:
        check_engine_without_certs(c, lab)
        engines, ok = start_engines(c, lab, certs)
        if not ok:
            return
        e1, e2 = engines
        check_nodes(c, lab, engines)
        dockerlab.import_busybox(c, engines, lab.dir)
        check_network(c, e1, e2)
        check_containers(c, e1, e2)
        for e, name in ((e1, "c1"), (e2, "c2")):
            e.docker("rm", "-f", name)
        rc, _, err = e2.docker("network", "rm", "demo", timeout=60)
        c.check(rc == 0, "h2: docker network rm demo", err)
        check_engine_logs(c, engines)
    finally:
        if c.failed:
            dockerlab.print_tails(engines, 60)
        dockerlab.cleanup(engines, lab.dir)


def main():
    require_root("network namespaces, dockerd")
    require_binary("NO_SUCH_ENV_CURL", "curl", "the test's TLS client")
    dockerlab.cluster_store_engine()
    t0 = time.monotonic()
    c = Checks()
    # h3 only tries to join
    with NetLab(n_hosts=3, checks=c) as lab:
        run(lab, c)
    print("test_docker_tls: %.0f s" % (time.monotonic() - t0))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
