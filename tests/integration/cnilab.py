"""cnilab - helpers for the CNI plugin's tests (stdlib only, needs root).

A netlab of hosts whose ovlds serve their control API on a socket in the
lab's directory (never the machine's /run/ovld/ovld.sock) and no Docker
plugin; a client for that socket; and `cni()`, which runs the `ovl`
plugin the way a runtime (or cnitool) does: the CNI_* environment, the
config on stdin, the result or error JSON on stdout.

Environment: OVL_CNI_BIN (the plugin; default build/tools/cni/ovl), plus
netlab's OVLD_BIN and OVLCTL_BIN.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import NetLab  # noqa: E402
from ovldlab import require_root, skip  # noqa: E402


def _plugin_bin():
    """OVL_CNI_BIN, else the plugin built beside OVLD_BIN (the sanitizer
    pass's tree), else ./build's."""
    if os.environ.get("OVL_CNI_BIN"):
        return os.environ["OVL_CNI_BIN"]
    ovld = os.environ.get("OVLD_BIN")
    if ovld:
        cand = os.path.join(os.path.dirname(ovld), "tools", "cni", "ovl")
        if os.path.exists(cand):
            return cand
    src = os.environ.get("OVLD_SRC", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    return os.path.join(src, "build", "tools", "cni", "ovl")


OVL = _plugin_bin()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("ovld", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def control(sock_path, method, path, body=None, timeout=15):
    """(status, parsed JSON or None) from an ovld control socket."""
    conn = UnixHTTPConnection(sock_path, timeout)
    try:
        data = json.dumps(body) if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw or b"null")
        except ValueError:
            return resp.status, None
    finally:
        conn.close()


def sock_of(host):
    return os.path.join(host.lab.dir, host.name + ".sock")


def lab_args(host):
    """ovld flags that keep a lab host off the machine's default sockets."""
    return ["--control-socket", sock_of(host), "--docker-plugin", "off",
            "--docker-sync", "off"]


def start_hosts(lab, extra=()):
    h1 = lab.hosts[0]
    h1.start(extra=lab_args(h1) + list(extra))
    for h in lab.hosts[1:]:
        h.start(join=h1.ip, extra=lab_args(h) + list(extra))
    for h in lab.hosts:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock_of(h)) and \
                time.monotonic() < deadline:
            time.sleep(0.05)


def conf(network="demo", version="1.0.0", sock=None, **extra):
    c = {"cniVersion": version, "name": network, "type": "ovl"}
    if sock:
        c["socket"] = sock
    c.update(extra)
    return c


def cni(command, config, container="", netns="", ifname="eth0", args=None,
        env_sock=None, timeout=30):
    """Runs the plugin: (returncode, parsed stdout or None, raw stdout,
    seconds taken)."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": command, "CNI_CONTAINERID": container,
           "CNI_NETNS": netns, "CNI_IFNAME": ifname,
           "CNI_PATH": os.path.dirname(os.path.abspath(OVL))}
    if args is not None:
        env["CNI_ARGS"] = args
    if env_sock:
        env["OVLD_CONTROL_SOCKET"] = env_sock
    stdin = config if isinstance(config, str) else json.dumps(config)
    t0 = time.monotonic()
    p = subprocess.run([OVL], input=stdin, capture_output=True, text=True,
                       env=env, timeout=timeout)
    took = time.monotonic() - t0
    # a sanitized plugin reports on stderr; tools/sanitize.sh fails the
    # pass on these lines in a test's output
    for ln in p.stderr.splitlines():
        if "Sanitizer" in ln or "runtime error:" in ln:
            print("FAIL sanitizer report from the plugin (%s): %s" %
                  (command, ln), flush=True)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        doc = None
    return p.returncode, doc, p.stdout, took


def require_plugin():
    """Skips the test unless it runs as root and the plugin is built."""
    require_root("network namespaces")
    if not os.access(OVL, os.X_OK):
        skip("no plugin binary at %s" % OVL)


def netns_path(ns):
    return "/var/run/netns/" + ns


def addr_in(ns, ifname="eth0"):
    p = subprocess.run(["ip", "-n", ns, "-o", "-4", "addr", "show", "dev",
                        ifname], capture_output=True, text=True)
    parts = p.stdout.split()
    return parts[3] if len(parts) > 3 else None


__all__ = ["NetLab", "OVL", "control", "sock_of", "start_hosts", "conf",
           "cni", "require_plugin", "netns_path", "addr_in"]
