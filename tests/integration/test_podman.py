"""test_podman - real runtimes through the CNI plugin `ovl` on a 2-host
netlab of joined ovlds: podman 4.3 with network_backend = "cni", and
containerd 1.6's `ctr run --cni`.

Nothing of the machine's runtime setup is used or changed: podman runs
with its own containers.conf and storage.conf (CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF: vfs storage, cgroupfs, file events, ulimits this
sandbox allows) and a CNI config dir in the lab's directory; containerd
runs with its own root, state and socket, and each `ctr run --cni` runs in
a private mount namespace (unshare -m) where the lab's conflist is bound
over /etc/cni/net.d and the plugin sits in a tmpfs /opt/cni/bin (go-cni's
fixed defaults). The image is Debian's busybox-static, imported.

podman: container pa on h1 (conflist naming h1's socket) and pb on h2
(h2's) ping each other; ovld names the endpoints after the containers,
runtime cni; --ip and --mac-address reach ovld; `podman rm` releases
them. containerd: a `ctr run --cni` on
h2 pings podman's pa on h1; a detached ctr container on h2 is pinged from
a ctr container on h1; it is killed without a CNI DEL (ctr 1.6 never
sends one for detached containers) and ovld releases its endpoint by
itself after --netns-gc.

Where podman or containerd cannot start at all the part prints
`SKIP: <reason>`; with nothing run the test exits 77 (skipped).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Checks, wait_until  # noqa: E402
from ovldlab import _die_with_parent  # noqa: E402
from cnilab import (NetLab, OVL, control, sock_of, start_hosts,  # noqa
                    require_plugin)

SUBNET = "10.78.0.0/24"
NETNS_GC_S = 3
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ping", "ip", "sleep", "cat")


def run(args, env=None, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, env=env,
                          timeout=timeout)


def make_rootfs(d):
    root = os.path.join(d, "rootfs")
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", a))
    return root


def conflist(path, name, sock):
    with open(path, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": name,
                   "plugins": [{"type": "ovl", "network": "demo",
                                "socket": sock}]}, f)


class Podman:
    """podman with private configs under d."""

    def __init__(self, lab, d):
        self.d = d
        self.netd = os.path.join(d, "net.d")
        os.makedirs(self.netd)
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write("""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "cni"
network_config_dir = "%s"
cni_plugin_dirs = ["%s", "/usr/lib/cni"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%s/events.log"
tmp_dir = "%s/tmp"
""" % (self.netd, os.path.dirname(os.path.abspath(OVL)), d, d))
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "vfs"\nrunroot = "%s/run"\n'
                    'graphroot = "%s/root"\n' % (d, d))
        self.env = dict(os.environ,
                        CONTAINERS_CONF=os.path.join(d, "containers.conf"),
                        CONTAINERS_STORAGE_CONF=os.path.join(
                            d, "storage.conf"))
        for h in lab.hosts:
            conflist(os.path.join(self.netd, "ovl%s.conflist" % h.name),
                     "ovl" + h.name, sock_of(h))

    def __call__(self, *args, timeout=120):
        return run(["podman"] + list(args), self.env, timeout)

    def start(self):
        """None, or why podman cannot run here."""
        p = self("info", "--format", "{{.Host.NetworkBackend}}")
        if p.returncode != 0:
            return "podman info: " + p.stderr.strip()[-300:]
        if p.stdout.strip() != "cni":
            return "podman's network backend is %r" % p.stdout.strip()
        root = make_rootfs(self.d)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."],
                               stdout=subprocess.PIPE)
        p = subprocess.run(["podman", "import", "-", "localhost/ovlbb"],
                           stdin=tar.stdout, capture_output=True, text=True,
                           env=self.env, timeout=120)
        tar.wait()
        if p.returncode != 0:
            return "podman import: " + p.stderr.strip()[-300:]
        return None

    def ip_of(self, name):
        p = self("exec", name, "ip", "-4", "addr", "show", "eth0")
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", p.stdout)
        return m.group(1) if m else None

    def cleanup(self):
        try:
            self("rm", "-af", "-t", "0", timeout=120)
        except Exception:
            pass


def podman_part(lab, c, pm):
    h1, h2 = lab.hosts
    # NET_RAW: podman 4 no longer grants it, and busybox's ping needs it
    p = pm("run", "-d", "--name", "pa", "--network", "ovlh1",
           "--cap-add", "NET_RAW", "localhost/ovlbb", "sleep", "600")
    c.check(p.returncode == 0, "podman run pa on h1's network", p.stderr)
    p = pm("run", "-d", "--name", "pb", "--network", "ovlh2",
           "--cap-add", "NET_RAW", "localhost/ovlbb", "sleep", "600")
    c.check(p.returncode == 0, "podman run pb on h2's network", p.stderr)
    ipa, ipb = pm.ip_of("pa"), pm.ip_of("pb")
    c.check(bool(ipa and ipb and ipa.startswith("10.78.0.") and
                 ipb.startswith("10.78.0.")),
            "both have an address in %s" % SUBNET, "%s %s" % (ipa, ipb))
    st, ep = control(sock_of(h1), "GET", "/v1/endpoints/demo/pa")
    c.check(st == 200 and ep.get("runtime") == "cni" and
            ep.get("host") == h1.ip and ep.get("ip") == ipa,
            "ovld's endpoint pa: on h1, runtime cni", ep)
    if ipa and ipb:
        p = pm("exec", "pa", "ping", "-c", "2", "-W", "2", ipb)
        c.check(p.returncode == 0, "podman pa (h1) pings pb (h2)",
                p.stdout + p.stderr)
        p = pm("exec", "pb", "ping", "-c", "2", "-W", "2", ipa)
        c.check(p.returncode == 0, "podman pb (h2) pings pa (h1)",
                p.stdout + p.stderr)
    p = pm("run", "-d", "--name", "pc", "--network", "ovlh2",
           "--ip", "10.78.0.50", "--mac-address", "02:00:00:4e:00:32",
           "localhost/ovlbb", "sleep", "600")
    st, ep = control(sock_of(h2), "GET", "/v1/endpoints/demo/pc")
    c.check(p.returncode == 0 and st == 200 and
            ep.get("ip") == "10.78.0.50" and
            ep.get("mac") == "02:00:00:4e:00:32" and
            pm.ip_of("pc") == "10.78.0.50",
            "podman run --ip --mac-address: ovld's endpoint has both",
            p.stderr + str(ep))
    p = pm("rm", "-f", "-t", "0", "pc")
    return ipa


class Containerd:
    def __init__(self, lab, d):
        self.d = d
        os.makedirs(d)
        self.sock = os.path.join(d, "containerd.sock")
        self.cfg = os.path.join(d, "config.toml")
        with open(self.cfg, "w") as f:
            f.write("""version = 2
root = "%s/root"
state = "%s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%s"
[ttrpc]
  address = "%s.ttrpc"
""" % (d, d, self.sock, self.sock))
        self.proc = None
        self.bin = os.path.join(d, "bin")
        os.makedirs(self.bin)
        shutil.copy(OVL, os.path.join(self.bin, "ovl"))
        for h in lab.hosts:
            netd = os.path.join(d, "net.d-" + h.name)
            os.makedirs(netd)
            conflist(os.path.join(netd, "10-ovl.conflist"), "ovlctd",
                     sock_of(h))

    def ctr(self, *args, timeout=120):
        return run(["ctr", "-a", self.sock, "-n", "ovltest"] + list(args),
                   timeout=timeout)

    def start(self, image_tar):
        log = open(os.path.join(self.d, "containerd.log"), "ab")
        self.proc = subprocess.Popen(["containerd", "--config", self.cfg],
                                     stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        if not wait_until(lambda: self.ctr("version").returncode == 0, 20,
                          0.2):
            return "containerd did not serve its socket"
        p = self.ctr("images", "import", "--snapshotter", "native",
                     image_tar)
        if p.returncode != 0:
            return "ctr images import: " + p.stderr.strip()[-300:]
        return None

    def run_cni(self, host, *args, timeout=120):
        """ctr run --cni in a private mount namespace where go-cni's fixed
        dirs hold this lab's conflist for host and the plugin."""
        netd = os.path.join(self.d, "net.d-" + host.name)
        script = ("mount --bind %s /etc/cni/net.d && "
                  "mount -t tmpfs tmpfs /opt && mkdir -p /opt/cni/bin && "
                  "mount --bind %s /opt/cni/bin && exec \"$@\"" %
                  (netd, self.bin))
        argv = ["ctr", "-a", self.sock, "-n", "ovltest", "run", "--cni",
                "--snapshotter", "native"] + list(args)
        return run(["unshare", "-m", "sh", "-c", script, "sh"] + argv,
                   timeout=timeout)

    def stop(self):
        for t in ("ctr-target",):
            self.ctr("task", "kill", "-s", "SIGKILL", t)
            self.ctr("task", "rm", "-f", t)
            self.ctr("containers", "rm", t)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # the shims of killed tasks exit on their own; their mounts live
        # under the lab dir, which netlab removes


def ctr_ping(c, ctd, host, name, ip, what):
    """A --rm container on host pings ip."""
    p = ctd.run_cni(host, "--rm", "localhost/ovlbb:latest", name, "ping",
                    "-c", "2", "-W", "2", ip)
    c.check(p.returncode == 0, what, p.stdout + p.stderr)


def containerd_part(lab, c, ctd, ipa):
    h1, h2 = lab.hosts
    img = "localhost/ovlbb:latest"
    if ipa:
        ctr_ping(c, ctd, h2, "ctr-ping", ipa,
                 "ctr run --cni on h2 pings podman's pa on h1")
        st, _ = control(sock_of(h2), "GET",
                        "/v1/endpoints/demo/ovltest-ctr-ping")
        c.check(st == 404,
                "...and its endpoint is gone after --rm (ctr's DEL)", st)
    p = ctd.run_cni(h2, "-d", img, "ctr-target", "sleep", "600")
    c.check(p.returncode == 0, "ctr run --cni -d on h2", p.stderr)
    st, ep = control(sock_of(h2), "GET",
                     "/v1/endpoints/demo/ovltest-ctr-target")
    c.check(st == 200 and ep.get("runtime") == "cni" and
            ep.get("host") == h2.ip,
            "ovld's endpoint ovltest-ctr-target on h2, runtime cni", ep)
    tip = ep.get("ip") if st == 200 else None
    if tip:
        ctr_ping(c, ctd, h1, "ctr-ping1", tip,
                 "ctr run --cni on h1 pings the ctr container on h2")
    # killed without a DEL: ovld's netns collector must release it
    t0 = time.monotonic()
    ctd.ctr("task", "kill", "-s", "SIGKILL", "ctr-target")
    gone = wait_until(lambda: control(
        sock_of(h2), "GET", "/v1/endpoints/demo/ovltest-ctr-target")[0] ==
        404, NETNS_GC_S + 30, 0.25)
    c.check(gone, "a ctr container killed without DEL is released by ovld "
            "(%.1f s)" % (time.monotonic() - t0))


def podman_rm(lab, c, pm):
    p = pm("rm", "-f", "-t", "0", "pa", "pb")
    c.check(p.returncode == 0, "podman rm pa pb", p.stderr)
    st, doc = control(sock_of(lab.hosts[0]), "GET",
                      "/v1/endpoints?network=demo")
    names = [e.get("name") for e in (doc or {}).get("endpoints", [])]
    c.check(st == 200 and "pa" not in names and "pb" not in names,
            "...their endpoints are released (podman's DEL)", names)


def main():
    require_plugin()
    if not shutil.which("podman") or not os.path.exists(BUSYBOX):
        print("SKIP: podman or busybox-static is not installed")
        return 77
    c = Checks()
    ran = 0
    with NetLab(2, checks=c) as lab:
        pm = ctd = None
        try:
            start_hosts(lab, ["--netns-gc", str(NETNS_GC_S)])
            st, doc = control(sock_of(lab.hosts[0]), "POST",
                              "/v1/networks",
                              {"name": "demo", "subnet": SUBNET})
            c.check(st == 201, "network demo", doc)
            pm = Podman(lab, os.path.join(lab.dir, "podman"))
            why = pm.start()
            ipa = None
            if why:
                print("SKIP: podman cannot run here: %s" % why)
            else:
                ran += 1
                ipa = podman_part(lab, c, pm)
            tar = os.path.join(lab.dir, "ovlbb.tar")
            if why:
                why = "no image (podman could not import it)"
            elif not shutil.which("containerd") or not shutil.which("ctr"):
                why = "containerd or ctr is not installed"
            else:
                p = pm("save", "--format", "docker-archive", "-o", tar,
                       "localhost/ovlbb")
                why = None if p.returncode == 0 else \
                    "podman save: " + p.stderr.strip()[-200:]
            if not why:
                ctd = Containerd(lab, os.path.join(lab.dir, "containerd"))
                why = ctd.start(tar)
            if why:
                print("SKIP: containerd cannot run here: %s" % why)
            else:
                ran += 1
                containerd_part(lab, c, ctd, ipa)
            if ipa:
                podman_rm(lab, c, pm)
        finally:  # an exception is the lab's failed check, after this
            if ctd:
                ctd.stop()
            if pm:
                pm.cleanup()
    if not ran:
        return 77
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
