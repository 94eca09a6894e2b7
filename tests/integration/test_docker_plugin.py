"""test_docker_plugin - ovld as Docker's network and IPAM plugin "ovl",
with real Docker 20.10 engines started WITHOUT --cluster-store.

Two netlab hosts each run ovld (h2 --join h1) and a dockerd. Docker finds
plugins only at the global path /run/docker/plugins/ovl.sock, so each host
gets a private mount namespace (a holder process made with unshare --mount,
propagation slave: nothing leaks to the machine) in which
/run/docker/plugins is a bind mount of the host's own directory; that
host's ovld and dockerd both run in it (nsenter --mount --net), so ovld
also sees the sandboxes dockerd mounts under its exec root. Each ovld
serves its plugin and control socket in the host's directory and reaches
its dockerd with --docker-host.

Checked: `docker network create -d ovl --ipam-driver ovl --subnet` on h1
makes the ovld network and the network shows on h2 with driver ovl and the
same subnet; containers on both hosts get addresses in it, MTU 1450, and
ping each other by IP; a second test1 on h2 is refused ("already exists");
`docker network rm` is refused while a container on either host uses the
network (on the container's host by dockerd itself; elsewhere dockerd
drops its copy whatever the plugin answers, ovld keeps the network and the
sync restores the copy); a dockerd restart, an ovld restart (containers
keep pinging) and a container killed with kill -9 leave the store and the
kernel consistent;
once the containers are gone `docker network rm` succeeds cluster-wide,
h2's copy disappears within seconds and is not re-created, and the store
holds no leftovers.

Exits 77 with "SKIP: reason" when dockerd cannot start here at all.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import NetLab, Checks, wait_until  # noqa: E402
import dockerlab  # noqa: E402
from dockerlab import Engine, IMAGE, DOCKERD, subnet_of  # noqa: E402
from test_docker import allocated_ids  # noqa: E402

ROOT = "/docker/network/v1.0"
SUBNET = "10.98.0.0/24"
SKIP = 77


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


class MountNs:
    """A private mount namespace for one host: /run/docker/plugins there is
    the host's own plugins directory. Held open by a sleeping process."""

    def __init__(self, host):
        self.dir = os.path.join(host.lab.dir, "rt-" + host.name)
        self.plugins = os.path.join(self.dir, "plugins")
        os.makedirs(self.plugins, exist_ok=True)
        script = ("mkdir -p /run/docker/plugins && "
                  "mount --bind %s /run/docker/plugins && "
                  "exec sleep 100000 # %s" % (self.plugins, self.dir))
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "--",
             "sh", "-c", script], stdin=subprocess.DEVNULL,
            preexec_fn=dockerlab._die_with_parent)
        self.path = "/proc/%d/ns/mnt" % self.proc.pid
        ok = wait_until(lambda: self._mounted() or
                        self.proc.poll() is not None, 10, 0.05)
        if not ok or self.proc.poll() is not None:
            raise RuntimeError("mount namespace for %s failed" % host.name)

    def _mounted(self):
        try:
            with open("/proc/%d/mounts" % self.proc.pid) as f:
                return " /run/docker/plugins " in f.read()
        except OSError:
            return False

    def enter(self, netns):
        return ["nsenter", "--mount=" + self.path,
                "--net=/run/netns/" + netns]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class PluginHost:
    """Starts a netlab host's ovld inside its mount namespace, with the
    plugin, the control socket and the Docker sync of this test."""

    def __init__(self, host, mnt, engine):
        self.h = host
        self.mnt = mnt
        self.engine = engine
        self.ctl = os.path.join(mnt.dir, "ovld.sock")

    def start(self, join=None):
        h = self.h
        h.start(join, enter=self.mnt.enter(h.ns), extra=[
            "--control-socket", self.ctl,
            "--docker-plugin", os.path.join(self.mnt.plugins, "ovl.sock"),
            "--docker-host", "unix://" + self.engine.sock,
            "--docker-sync", "on", "--log-level", "debug"])
        if not wait_until(lambda: os.path.exists(self.ctl), 20):
            raise RuntimeError("%s serves no control socket; log:\n%s" %
                               (h.name, h.tail()))

    def control(self, method, path):
        """(status, json) from the control socket."""
        p = subprocess.run(["curl", "-s", "-m", "10", "--unix-socket",
                            self.ctl, "-X", method, "-w", "\n%{http_code}",
                            "http://ovld" + path], capture_output=True,
                           text=True, timeout=20)
        body, _, code = p.stdout.rpartition("\n")
        try:
            return int(code), json.loads(body) if body else None
        except ValueError:
            return -1, body


class PluginEngine(Engine):
    """A dockerd without a cluster store, in its host's mount namespace."""

    def __init__(self, host, mnt):
        super().__init__(host)
        self.mnt = mnt

    def start(self, cluster=False, timeout=40):
        argv = self.mnt.enter(self.host.ns) + self.argv(cluster=False)
        env = dict(os.environ, DOCKER_CONFIG=self.dir + "/cli")
        self.proc = subprocess.Popen(
            argv, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env,
            preexec_fn=dockerlab._die_with_parent)
        return bool(wait_until(
            lambda: self.proc.poll() is not None or self.up(), timeout,
            0.2)) and self.proc.poll() is None


def links(h, prefixes=("ovv-", "ovc-")):
    out = []
    for line in h.links().splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefixes):
            out.append(name)
    return out


def docker_nets(e):
    rc, out, _ = e.docker("network", "ls", "--filter", "driver=ovl",
                          "--format", "{{.Name}} {{.Driver}}")
    return out.splitlines() if rc == 0 else None




def endpoints(ph, network="demo"):
    st, doc = ph.control("GET", "/v1/endpoints?network=" + network)
    if st != 200 or not isinstance(doc, dict):
        return None
    return {e["name"]: e for e in doc.get("endpoints", [])}


def leaves(node):
    for c in node.get("nodes", []):
        yield c
        yield from leaves(c)


def leftovers(h):
    """Every key left under Docker's root and ovld's hidden claims, but for
    the hosts' heartbeats and an empty VNI allocator (Docker's idm record,
    which ovld keeps VNIs in, stays once made)."""
    bad = []
    for path in (ROOT, ROOT + "/_ovld"):
        st, body = h.http("GET", "/v2/keys%s?recursive=true&quorum=true" %
                          path)
        if st == 404:
            continue
        try:
            node = json.loads(body)["node"]
        except (ValueError, KeyError):
            return ["GET %s: %d %s" % (path, st, body[:200])]
        for n in leaves(node):
            k = n["key"]
            if n.get("dir") or "/_ovld/hosts/" in k:
                continue
            if path == ROOT and "/_ovld" in k:
                continue
            if k.endswith("/idm/vxlan-id") and \
                    allocated_ids(n.get("value")) == 0:
                continue
            bad.append(k)
    return sorted(set(bad))


def run_ctr(c, e, name):
    rc, _, err = e.docker("run", "-d", "--net", "demo", "--name", name,
                          IMAGE, "sleep", "100000", timeout=90)
    return c.check(rc == 0, "%s: docker run --net demo --name %s" %
                   (e.host.name, name), err + "\n" + e.tail(15))


def check_network(c, ph1, ph2):
    e1, e2 = ph1.engine, ph2.engine
    rc, out, err = e1.docker("network", "create", "-d", "ovl",
                             "--ipam-driver", "ovl", "--subnet", SUBNET,
                             "demo")
    c.check(rc == 0,
            "h1: docker network create -d ovl --ipam-driver ovl --subnet "
   "demo",
            err + "\n" + ph1.h.tail(10))
    ok = wait_until(lambda: ph1.control("GET", "/v1/networks/demo")[0] ==
                    200, 10, 0.2)
    st, net = ph1.control("GET", "/v1/networks/demo")
    c.check(ok and isinstance(net, dict) and net.get("subnet") == SUBNET,
            "...it is the ovld network demo with the subnet",
            "%s %s" % (st, net))
    t0 = time.monotonic()
    ok = wait_until(lambda: "demo ovl" in (docker_nets(e2) or []), 20, 0.2)
    c.check(ok, "h2's docker network ls lists demo with driver ovl (%.1f s)" %
            (time.monotonic() - t0), str(docker_nets(e2)))
    c.check(subnet_of(e2, "demo") == SUBNET, "...with the same subnet",
            str(subnet_of(e2, "demo")))


def check_containers(c, ph1, ph2):
    e1, e2 = ph1.engine, ph2.engine
    if not (run_ctr(c, e1, "test1") and run_ctr(c, e2, "test2")):
        return None
    ip1, ip2 = e1.container_ip("test1"), e2.container_ip("test2")
    pre = SUBNET.rsplit(".", 1)[0] + "."
    c.check(ip1.startswith(pre) and ip2.startswith(pre) and ip1 != ip2,
            "containers get distinct addresses in %s" % SUBNET,
            "%r %r" % (ip1, ip2))
    for e, n in ((e1, "test1"), (e2, "test2")):
        rc, out, err = e.docker("exec", n, "cat", "/sys/class/net/eth0/mtu")
        c.check(out == "1450", "%s's eth0 has MTU 1450" % n, out + err)
    for e, ctr, target in ((e1, "test1", ip2), (e2, "test2", ip1)):
        ok = wait_until(lambda: e.ping(ctr, target)[0], 20, 0.5)
        c.check(ok, "%s pings %s across hosts" % (ctr, target),
                e.ping(ctr, target)[1])
    eps = endpoints(ph1) or {}
    c.check({"test1", "test2"} <= set(eps) and
            all(eps[n].get("runtime") == "docker" for n in eps),
            "ovld lists both endpoints, runtime docker",
            json.dumps(eps)[:500])
    return ip1, ip2


def check_duplicate(c, ph1, ph2):
    e2 = ph2.engine
    rc, _, err = e2.docker("run", "-d", "--net", "demo", "--name", "test1",
                           IMAGE, "sleep", "100000", timeout=90)
    c.check(rc != 0 and "already exists" in err,
            "a second test1 (on h2) is refused with 'already exists'", err)
    e2.docker("rm", "-f", "test1")
    eps = endpoints(ph1) or {}
    c.check(eps.get("test1", {}).get("host") == ph1.h.ip,
            "...and the first test1 keeps its endpoint, on h1",
            json.dumps(eps))


def check_rm_refused(c, ph1, ph2):
    e1, e2 = ph1.engine, ph2.engine
    rc, _, err = e2.docker("network", "rm", "demo")
    c.check(rc != 0,
            "docker network rm on h2 refused while test2 (h2) uses it", err)
    rc, _, err = e1.docker("rm", "-f", "test1")
    c.check(rc == 0, "docker rm -f test1 (h1)", err)
    # dockerd honours no error of a remote driver's DeleteNetwork (libnetwork
    # network.deleteNetwork: only a types.ForbiddenError, which a plugin's
    # HTTP error never is, stops it), so on a host without a local user
    # `docker network rm` removes the local copy whatever ovld answers.
    # ovld refuses to delete its network, dockerd logs the refusal, and the
    # sync brings the local copy back.
    rc, _, err = e1.docker("network", "rm", "demo")
    c.check("has active endpoints" in e1.log_text() or rc != 0,
            "docker network rm on h1 while test2 on h2 uses it: ovld "
            "refuses (dockerd logs it)",
            "%d %s\n%s" % (rc, err, e1.tail(10)))
    st, _ = ph1.control("GET", "/v1/networks/demo")
    c.check(st == 200, "...the ovld network is still there", str(st))
    t0 = time.monotonic()
    ok = wait_until(lambda: "demo ovl" in (docker_nets(e1) or []), 15, 0.2)
    c.check(ok,
            "...and h1's copy is back (%.1f s)" % (time.monotonic() - t0),
            str(docker_nets(e1)))
    return run_ctr(c, e1, "test1")


def consistent(c, what, ph1, ph2, names):
    """ovld's endpoints are exactly names; each host has one ovv-/ovc-
    pair end per local endpoint, none for gone ones; every Docker address
    claim belongs to a live endpoint."""
    eps = wait_until(lambda: (lambda e: e if e is not None and
                              set(e) == set(names) else None)(
        endpoints(ph1)), 20, 0.3)
    c.check(eps is not None,
            "%s: ovld's endpoints are %s" % (what, sorted(names)),
            str(endpoints(ph1)))
    for ph in (ph1, ph2):
        local = [n for n, e in (eps or {}).items()
                 if e.get("host") == ph.h.ip]
        ok = wait_until(lambda: len([l for l in links(ph.h)
                                     if l.startswith("ovv-")]) ==
                        len(local), 15, 0.3)
        c.check(ok, "%s: %s has one ovv- link per local endpoint (%d)" %
                (what, ph.h.name, len(local)), str(links(ph.h)))
    st, body = ph1.h.http("GET", "/v2/keys%s/_ovld/ips?recursive=true"
                          "&quorum=true" % ROOT)
    claims = []
    if st == 200:
        claims = [n for n in leaves(json.loads(body)["node"])
                  if not n.get("dir")]
    c.check(len(claims) == len(names),
            "%s: one address claim per endpoint" % what,
            json.dumps([(n["key"], n.get("value")) for n in claims]))


def check_dockerd_restart(c, ph1, ph2, ip1):
    e2 = ph2.engine
    e2.stop()
    ok = e2.start()
    c.check(ok, "h2's dockerd restarts", e2.tail(20))
    consistent(c, "after h2's dockerd restart", ph1, ph2, ["test1"])
    rc, _, err = e2.docker("start", "test2", timeout=90)
    c.check(rc == 0, "docker start test2 again", err + e2.tail(10))
    ok = wait_until(lambda: e2.ping("test2", ip1)[0], 20, 0.5)
    c.check(ok, "...and it pings test1 again", e2.ping("test2", ip1)[1])


def check_ovld_restart(c, lab, ph1, ph2, ip1, ip2):
    h1 = ph1.h
    h1.stop(signal.SIGKILL)
    ph1.start()
    ok = wait_until(lambda: ph1.engine.ping("test1", ip2, 1)[0], 20, 0.5)
    c.check(ok, "after h1's ovld restart (kill -9) test1 still pings test2",
            ph1.engine.ping("test1", ip2)[1])
    ok = wait_until(lambda: ph2.engine.ping("test2", ip1, 1)[0], 20, 0.5)
    c.check(ok, "...and test2 pings test1", ph2.engine.ping("test2",
                                                  ip1)[1])
    consistent(c, "after h1's ovld restart", ph1, ph2, ["test1", "test2"])


def check_kill9(c, ph1, ph2):
    e2 = ph2.engine
    rc, pid, _ = e2.docker("inspect", "-f", "{{.State.Pid}}", "test2")
    ok = rc == 0 and pid.isdigit() and int(pid) > 0
    if ok:
        os.kill(int(pid), signal.SIGKILL)
    c.check(ok, "kill -9 test2's process", pid)
    wait_until(lambda: e2.docker("inspect", "-f", "{{.State.Running}}",
                                 "test2")[1] == "false", 20, 0.3)
    consistent(c, "after kill -9 of test2", ph1, ph2, ["test1"])


def check_other_networks(c, ph1, ph2):
    """A network without --subnet gets a free one; one made through ovld's
    control socket shows in both dockerds; Docker's default IPAM is
    refused."""
    e1, e2 = ph1.engine, ph2.engine
    rc, _, err = e2.docker("network", "create", "-d", "ovl",
                           "--ipam-driver", "ovl", "auto")
    ok = rc == 0 and wait_until(lambda: "auto ovl" in (docker_nets(e1) or
                                                       []), 15, 0.2)
    sub = subnet_of(e2, "auto")
    c.check(ok and sub and sub != SUBNET and
            subnet_of(e1, "auto") == sub,
            "a network without --subnet (h2) gets a free subnet and shows "
            "on h1",
            "%s %s %s" % (err, sub, docker_nets(e1)))
    p = subprocess.run(["curl", "-s", "-m", "10", "--unix-socket", ph1.ctl,
                        "-X", "POST", "-d", '{"name":"viactl"}',
                        "http://ovld/v1/networks"], capture_output=True,
                       text=True, timeout=20)
    ok = wait_until(lambda: all("viactl ovl" in (docker_nets(e) or [])
                                for e in (e1, e2)), 15, 0.2)
    c.check(ok,
            "a network made on the control socket shows in both dockerds",
            p.stdout + str(docker_nets(e1)) + str(docker_nets(e2)))
    rc, _, err = e1.docker("network", "create", "-d", "ovl",
                           "--ipam-driver", "ovl", "--subnet", "10.98.0.0/16",
                           "clash")
    c.check(rc != 0 and "overlaps network demo" in err and
            "{" not in err,
            "a --subnet overlapping demo's is refused, naming demo (no "
            "raw JSON)",
            err)
    rc, _, err = e1.docker("network", "create", "-d", "ovl", "nodefault")
    c.check(rc != 0 and "ipam-driver ovl" in err,
            "-d ovl with Docker's default IPAM is refused", err)
    for n in ("auto", "viactl"):
        rc, _, err = e1.docker("network", "rm", n)
        c.check(rc == 0, "docker network rm %s" % n, err)


def check_rm_all(c, ph1, ph2):
    e1, e2 = ph1.engine, ph2.engine
    for e, n in ((e1, "test1"), (e2, "test2")):
        rc, _, err = e.docker("rm", "-f", n)
        c.check(rc == 0, "docker rm -f %s" % n, err)
    rc, _, err = e1.docker("network", "rm", "demo")
    c.check(rc == 0, "docker network rm demo (h1) succeeds once unused", err)
    st, _ = ph1.control("GET", "/v1/networks/demo")
    c.check(st == 404, "...the ovld network is gone", str(st))
    t0 = time.monotonic()
    ok = wait_until(lambda: docker_nets(e2) == [], 15, 0.2)
    c.check(ok, "h2's copy disappears (%.1f s)" % (time.monotonic() - t0),
            str(docker_nets(e2)))
    time.sleep(7)  # more than one periodic sync
    c.check(docker_nets(e2) == [] and docker_nets(e1) == [],
            "...and is not re-created on either host",
            "%s %s" % (docker_nets(e1), docker_nets(e2)))
    bad = wait_until(lambda: not leftovers(ph2.h), 10, 0.3)
    c.check(bad, "the store holds no leftovers", "\n".join(leftovers(ph2.h)))
    for ph in (ph1, ph2):
        c.check(not links(ph.h),
                "no ovv-/ovc- links left on %s" % ph.h.name, str(links(ph.h)))


def dockerd_runs_here(lab):
    """Can a bare dockerd start here at all (outside the test's setup)?"""
    e = Engine(lab.hosts[0])
    try:
        if e.start(cluster=False):
            return True, ""
        return False, e.tail(10)
    finally:
        dockerlab.cleanup([e], e.dir)


def run(lab, c):
    h1, h2 = lab.hosts
    mnts = [MountNs(h) for h in lab.hosts]
    engines = [PluginEngine(h, m) for h, m in zip(lab.hosts, mnts)]
    phs = [PluginHost(h, m, e) for h, m, e in zip(lab.hosts, mnts, engines)]
    try:
        phs[0].start()
        phs[1].start(join=h1.ip)
        for e in engines:
            if not e.start():
                ok, log = dockerd_runs_here(lab)
                if not ok:
                    skip("dockerd cannot start on this machine:\n" + log)
                c.check(False,
                        "dockerd on %s starts with the plugin dir mounted" %
                 e.host.name,
                        e.tail())
                return
        dockerlab.import_busybox(c, engines, lab.dir)
        ph1, ph2 = phs
        check_network(c, ph1, ph2)
        ips = check_containers(c, ph1, ph2)
        if ips is None:
            return
        check_duplicate(c, ph1, ph2)
        if not check_rm_refused(c, ph1, ph2):
            return
        ip1 = ph1.engine.container_ip("test1")
        check_dockerd_restart(c, ph1, ph2, ip1)
        ip2 = ph2.engine.container_ip("test2")
        check_ovld_restart(c, lab, ph1, ph2, ip1, ip2)
        check_kill9(c, ph1, ph2)
        check_other_networks(c, ph1, ph2)
        check_rm_all(c, ph1, ph2)
    finally:
        if c.failed:
            dockerlab.print_tails(engines, 40)
            for h in lab.hosts:
                print("---- ovld %s (tail) ----\n%s" % (h.name, h.tail(40)))
        dockerlab.cleanup(engines, lab.dir)
        for m in mnts:
            m.stop()


def main():
    if os.geteuid() != 0:
        skip("test_docker_plugin needs root (namespaces, dockerd)")
    major, text = dockerlab.engine_version()
    if major is None:
        skip(text)
    for tool in ("unshare", "nsenter", "curl"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            skip("%s not installed" % tool)
    t0 = time.monotonic()
    c = Checks()
    with NetLab(n_hosts=2, checks=c) as lab:
        run(lab, c)
    print("test_docker_plugin (%s): %.0f s" % (DOCKERD, time.monotonic() - t0))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
