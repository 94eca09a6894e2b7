"""test_mixed_runtimes - one overlay for every runtime: on a
3-host netlab of joined ovlds, a podman container (CNI plugin `ovl`, h1's
control socket), a Docker 20.10 container (the `ovl` network plugin on h2,
dockerd without a cluster store) and a plain `ip netns` attached with
`ovlctl` on h3 all sit on network `demo` and ping each other, each pair in
both directions. `ovlctl status` names the runtime of each endpoint.

Setups are those of test_podman (podman's private configs) and
test_docker_plugin (h2's private mount namespace for Docker's plugin
directory). Exits 77 with "SKIP: reason" when podman or dockerd cannot
start on this machine at all, or without root.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Checks, OVLCTL, wait_until  # noqa: E402
from cnilab import NetLab, control, sock_of  # noqa: E402
import dockerlab  # noqa: E402
from test_podman import Podman  # noqa: E402
from test_docker_plugin import (MountNs, PluginEngine, PluginHost,  # noqa
                                dockerd_runs_here)

SUBNET = "10.79.0.0/24"


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(77)


def lab_args(h):
    return ["--control-socket", sock_of(h), "--docker-plugin", "off",
            "--docker-sync", "off"]


def podman_ping(pm, name, ip, what):
    """(ok, what, detail) for Checks.check: pm's container pings ip."""
    p = pm("exec", name, "ping", "-c", "2", "-W", "2", ip)
    return p.returncode == 0, what, p.stdout + p.stderr


def docker_ping(engine, name, ip, what):
    """(ok, what, detail) for Checks.check: a container pings ip."""
    ok, out = engine.ping(name, ip)
    return ok, what, out


def run(lab, c, pm, engine):
    h1, h2, h3 = lab.hosts
    st, net = control(sock_of(h1), "POST", "/v1/networks",
                      {"name": "demo", "subnet": SUBNET})
    c.check(st == 201, "network demo created through h1's control socket",
            net)
    ok = wait_until(lambda: "demo" in engine.docker(
        "network", "ls", "--format", "{{.Name}}")[1].split(), 15, 0.2)
    c.check(bool(ok), "demo appears in h2's dockerd")

    p = pm("run", "-d", "--name", "pa", "--network", "ovlh1",
           "--cap-add", "NET_RAW", "localhost/ovlbb", "sleep", "600")
    c.check(p.returncode == 0, "podman container pa on h1", p.stderr)
    ip_pa = pm.ip_of("pa")
    rc, _, err = engine.docker("run", "-d", "--net", "demo", "--name", "db",
                               dockerlab.IMAGE, "sleep", "600")
    c.check(rc == 0, "docker container db on h2", err)
    ip_db = engine.container_ip("db")
    ns = lab.container("n3")
    p = h3.exec(OVLCTL, "--socket", sock_of(h3), "attach", "demo", "n3",
                "--netns", ns)
    ip_n3 = p.stdout.strip()
    c.check(p.returncode == 0 and ip_n3.startswith("10.79.0."),
            "plain netns n3 attached on h3 with ovlctl", p.stderr)
    c.check(len({ip_pa, ip_db, ip_n3}) == 3 and
            all(ip and ip.startswith("10.79.0.")
                for ip in (ip_pa, ip_db, ip_n3)),
            "three distinct addresses in %s" % SUBNET,
            "%s %s %s" % (ip_pa, ip_db, ip_n3))
    if not (ip_pa and ip_db and ip_n3):
        return
    c.check(*podman_ping(pm, "pa", ip_db, "podman (h1) pings docker (h2)"))
    c.check(*podman_ping(pm, "pa", ip_n3, "podman (h1) pings netns (h3)"))
    c.check(*docker_ping(engine, "db", ip_pa,
                         "docker (h2) pings podman (h1)"))
    c.check(*docker_ping(engine, "db", ip_n3,
                         "docker (h2) pings netns (h3)"))
    c.check(lab.ping(ns, ip_pa, count=2, wait=2),
            "netns (h3) pings podman (h1)")
    c.check(lab.ping(ns, ip_db, count=2, wait=2),
            "netns (h3) pings docker (h2)")
    p = h3.exec(OVLCTL, "--socket", sock_of(h3), "status")
    out = p.stdout
    c.check(p.returncode == 0 and "cni" in out and "docker" in out and
            "ovlctl" in out,
            "ovlctl status names each endpoint's runtime", out)
    pm("rm", "-f", "-t", "0", "pa")
    engine.docker("rm", "-f", "db")
    h3.exec(OVLCTL, "--socket", sock_of(h3), "detach", "demo", "n3")
    ok = wait_until(lambda: control(sock_of(h1), "GET",
                                    "/v1/endpoints?network=demo")[1]
                    == {"endpoints": []}, 15, 0.2)
    c.check(bool(ok), "every runtime released its endpoint")


def main():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, podman, dockerd)")
    for tool in ("podman", "dockerd", "unshare", "nsenter"):
        if subprocess.run(["sh", "-c", "command -v " + tool],
                          capture_output=True).returncode != 0:
            skip("%s is not installed" % tool)
    c = Checks()
    with NetLab(n_hosts=3, checks=c) as lab:
        h1, h2, h3 = lab.hosts
        pm = Podman(lab, tempfile.mkdtemp(prefix="pm-", dir=lab.dir))
        why = pm.start()
        if why:
            skip("podman cannot run here: " + why)
        mnt = MountNs(h2)
        engine = PluginEngine(h2, mnt)
        try:
            h1.start(extra=lab_args(h1))
            ph2 = PluginHost(h2, mnt, engine)
            ph2.start(join=h1.ip)
            h3.start(join=h1.ip, extra=lab_args(h3))
            if not engine.start():
                ok, log = dockerd_runs_here(lab)
                if not ok:
                    skip("dockerd cannot start on this machine:\n" + log)
                c.check(False, "dockerd on h2 starts", engine.tail())
                return c.done()
            dockerlab.import_busybox(c, [engine], lab.dir)
            run(lab, c, pm, engine)
        finally:  # an exception is the lab's failed check, after this
            pm.cleanup()
            dockerlab.cleanup([engine], lab.dir)
            mnt.stop()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
