"""dockerlab - real Docker 20.10 engines on netlab hosts, each pointed at
the ovld of its own host through --cluster-store (stdlib only, needs root).

Each dockerd runs in its host's network namespace (nsenter --net, which
keeps the root mount namespace so runc sees /sys/fs/cgroup) and in a UTS
namespace of its own: the overlay driver's serf layer uses the hostname as
its node name, and two engines called alike evict each other. Data root,
exec root, socket, pid file and config file all live in the lab's
temporary directory. Cleanup stops the engines, then kills any process
still naming that directory on its command line (containerd shims outlive
dockerd on purpose) and unmounts whatever is left below it.
"""

import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time

from netlab import sh, wait_until  # noqa: F401 (wait_until re-exported)
from ovldlab import skip

DOCKERD = os.environ.get("DOCKERD_BIN", "/usr/sbin/dockerd")
# /usr/local/bin/docker may be a newer client that refuses to talk to a
# 20.10 engine's options; Debian's client matches the engine.
DOCKER = os.environ.get("DOCKER_BIN", "/usr/bin/docker")
BUSYBOX = "/bin/busybox"
IMAGE = "ovldbb:local"
APPLETS = ("sh", "sleep", "ping", "ip", "cat", "hostname", "nslookup",
           "true", "ls")


def engine_version():
    """(major, text) of dockerd, or (None, reason) if it cannot run."""
    if not os.path.exists(DOCKERD):
        return None, "%s not installed (apt-get install docker.io)" % DOCKERD
    p = subprocess.run([DOCKERD, "--version"], capture_output=True,
                       text=True, timeout=20)
    m = re.search(r"version (\d+)\.(\d+)", p.stdout)
    if p.returncode != 0 or not m:
        return None, "dockerd --version failed: %s" % p.stderr.strip()
    return int(m.group(1)), p.stdout.strip()


def busybox_tar(path):
    """A one-binary root file system (busybox-static plus applet links),
    for `docker import`: no registry is reachable from here."""
    with tarfile.open(path, "w") as tar:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti)
        tar.add(os.path.realpath(BUSYBOX), "bin/busybox")
        for a in APPLETS:
            ti = tarfile.TarInfo("bin/" + a)
            ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(ti)
        passwd = b"root:x:0:0:root:/:/bin/sh\n"
        ti = tarfile.TarInfo("etc/passwd")
        ti.size = len(passwd)
        tar.addfile(ti, io.BytesIO(passwd))


class Engine:
    """One dockerd on one netlab host."""

    def __init__(self, host, store_opts=()):
        self.host = host
        self.dir = os.path.join(host.lab.dir, "docker-" + host.name)
        self.sock = os.path.join(self.dir, "d.sock")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.advertise = "%s:2376" % host.ip
        self.store_opts = list(store_opts)
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")

    def argv(self, cluster=True):
        d = self.dir
        args = [DOCKERD, "--config-file", d + "/daemon.json",
                "--data-root", d + "/root", "--exec-root", d + "/exec",
                "-H", "unix://" + self.sock, "--pidfile", d + "/d.pid",
                "--storage-driver=vfs", "--iptables=false",
                "--ip-masq=false", "--bridge=none", "--debug"]
        if cluster:
            args += ["--cluster-store=etcd://127.0.0.1:2379",
                     "--cluster-advertise=" + self.advertise]
            for o in self.store_opts:
                args += ["--cluster-store-opt", o]
        return args

    def start(self, cluster=True, timeout=40):
        """True once the engine answers; False if it exited or hung."""
        inner = "hostname %s && exec nsenter --net=/run/netns/%s %s" % (
            self.host.name, self.host.ns, " ".join(self.argv(cluster)))
        env = dict(os.environ, DOCKER_CONFIG=self.dir + "/cli")
        self.proc = subprocess.Popen(
            ["unshare", "--uts", "--", "sh", "-c", inner],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        return bool(wait_until(
            lambda: self.proc.poll() is not None or self.up(), timeout,
            0.2)) and self.proc.poll() is None

    def up(self):
        return self.docker("version", "--format", "{{.Server.Version}}",
                           timeout=5)[0] == 0

    def docker(self, *args, timeout=60):
        """(returncode, stdout, stderr) of the Debian docker client."""
        env = dict(os.environ, DOCKER_CONFIG=self.dir + "/cli")
        env.pop("DOCKER_HOST", None)
        try:
            p = subprocess.run([DOCKER, "-H", "unix://" + self.sock] +
                               list(args), capture_output=True, text=True,
                               timeout=timeout, env=env,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return -1, "", "docker %s: timed out" % " ".join(args)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def inspect(self, *args):
        rc, out, err = self.docker(*args)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def container_ip(self, name, network="demo"):
        """A container's address on network, or "" if it has none."""
        rc, out, _ = self.docker(
            "inspect", "-f",
            '{{(index .NetworkSettings.Networks "%s").IPAddress}}' % network,
            name)
        return out if rc == 0 else ""

    def ping(self, ctr, target, count=2):
        """(ok, output) of ping -c count from inside container ctr."""
        rc, out, err = self.docker("exec", ctr, "ping", "-c", str(count),
                                   "-W", "2", target, timeout=30)
        return rc == 0, out + err

    def stop(self, timeout=20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # sh exec'd nsenter, which exec'd dockerd: one pid.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


def import_busybox(c, engines, workdir):
    """Each engine gets the test image (busybox from the host's binary)."""
    tar = os.path.join(workdir, "busybox.tar")
    busybox_tar(tar)
    for e in engines:
        rc, _, err = e.docker("import", tar, IMAGE, timeout=60)
        c.check(rc == 0, "busybox image imported on %s" % e.host.name, err)


def print_tails(engines, n=60):
    """Each engine's last log lines, for a test that failed."""
    for e in engines:
        print("---- dockerd %s (tail) ----\n%s" % (e.host.name, e.tail(n)))


def cluster_store_engine():
    """Skips the test unless dockerd still has --cluster-store (< 23)."""
    major, text = engine_version()
    if major is None:
        skip(text)
    if major >= 23:
        skip("dockerd %s has no --cluster-store (removed in 23)" % text)


def subnet_of(e, name):
    """The first IPAM subnet of network name as engine e shows it."""
    doc = e.inspect("network", "inspect", name)
    try:
        return doc[0]["IPAM"]["Config"][0]["Subnet"]
    except (TypeError, KeyError, IndexError):
        return None


def _die_with_parent():
    """Child pre-exec: a killed test (ctest timeout) takes dockerd along.
    unshare, sh's last command and nsenter all exec, so the setting reaches
    dockerd itself; dockerd gives its containerd the same."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _pids_naming(text):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(int(pid))
    return out


def cleanup(engines, workdir):
    """Stops the engines and removes what they leave below workdir."""
    for e in engines:
        try:
            e.stop()
        except Exception:
            pass
    for pid in _pids_naming(workdir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    wait_until(lambda: not _pids_naming(workdir), 5, 0.1)
    with open("/proc/self/mounts") as f:
        mounts = [l.split()[1] for l in f]
    for m in reversed(mounts):
        m = m.encode().decode("unicode_escape")
        if m.startswith(workdir + "/"):
            subprocess.run(["umount", "-l", m], capture_output=True)
