"""test_cni - the CNI plugin `ovl` by direct exec, as cnitool does, on a
2-host netlab of joined ovlds (each with its own control socket).

ADD in a namespace on h1 and on h2, the two ping across hosts; CHECK with
the ADD result as prevResult, and CHECK noticing a lost address; a second
ADD of a name taken on the other host is refused and leaves nothing; DEL,
DEL twice, DEL without CNI_NETNS and DEL after the namespace was removed
all succeed and leave no endpoint; a fixed address and MAC (CNI_ARGS IP=,
MAC=, runtimeConfig ips) are claimed cluster-wide; version negotiation (VERSION, results
in 0.3.1/0.4.0/1.0.0 shape, an unsupported version and CHECK on 0.3.1 are
code 1); bad configs are error JSON 6/7; a namespace deleted without DEL
is released by ovld itself after --netns-gc; a stopped ovld gives code 11
within 2 s, a frozen one within the query deadline.
"""

import ipaddress
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Checks, wait_until  # noqa: E402
from cnilab import (NetLab, OVL, control, sock_of, start_hosts, conf,  # noqa
                    cni, netns_path, addr_in, require_plugin)

NETNS_GC_S = 3
SUBNET = "10.77.0.0/24"


def is_error(doc, code):
    return (isinstance(doc, dict) and doc.get("code") == code and
            isinstance(doc.get("msg"), str) and "cniVersion" in doc)


def endpoint(h, name, net="demo"):
    return control(sock_of(h), "GET", "/v1/endpoints/%s/%s" % (net, name))


def version_cmd(c):
    rc, doc, out, _ = cni("VERSION", {"cniVersion": "1.0.0"})
    c.check(rc == 0 and doc.get("cniVersion") == "1.0.0" and
            doc.get("supportedVersions") ==
            ["0.3.0", "0.3.1", "0.4.0", "1.0.0"],
            "VERSION lists 0.3.0, 0.3.1, 0.4.0 and 1.0.0", out)


def add_pair(lab, c):
    """ADD on h1 and h2; returns the two namespaces and results."""
    h1, h2 = lab.hosts
    st, doc = control(sock_of(h1), "POST", "/v1/networks",
                      {"name": "demo", "subnet": SUBNET})
    c.check(st == 201, "network demo created through h1's socket", doc)
    a, b = lab.container("ca"), lab.container("cb")
    rc, r1, out, took = cni("ADD", conf(sock=sock_of(h1)), "ctr-a",
                            netns_path(a), args="IgnoreUnknown=1;"
                            "K8S_POD_NAME=web-a;K8S_POD_NAMESPACE=prod")
    ok = rc == 0 and r1.get("cniVersion") == "1.0.0"
    c.check(ok, "ADD on h1 (%.0f ms)" % (took * 1000), out)
    if not ok:
        return a, b, None, None
    iface, ip = r1["interfaces"][0], r1["ips"][0]
    c.check(iface.get("name") == "eth0" and iface.get("mtu") == 1450 and
            iface.get("sandbox") == netns_path(a) and
            len(iface.get("mac", "")) == 17,
            "1.0.0 result: interface eth0 in the sandbox, MTU 1450", out)
    c.check(ipaddress.ip_interface(ip["address"]).network ==
            ipaddress.ip_network(SUBNET) and ip.get("interface") == 0 and
            "version" not in ip and "gateway" not in ip and
            not r1.get("routes") and r1.get("dns") == {},
            "1.0.0 result: address in the subnet on interface 0, no "
            "version, gateway or routes", out)
    c.check(addr_in(a) == ip["address"], "the namespace holds the address",
            str(addr_in(a)))
    st, ep = endpoint(h1, "web-a.prod")
    c.check(st == 200 and ep.get("runtime") == "cni" and
            ep.get("container") == "ctr-a" and
            ep.get("address") == ip["address"],
            "ovld's endpoint web-a.prod: runtime cni, the container id", ep)
    rc, out, err = h1.ovlctl("--socket", sock_of(h1), "status")
    line = [ln for ln in out.split("\n") if "web-a.prod" in ln]
    c.check(rc == 0 and line and "cni" in line[0],
            "ovlctl status lists web-a.prod with runtime cni", out + err)
    # h2 through OVLD_CONTROL_SOCKET instead of the config's key
    rc, r2, out, took = cni("ADD", conf(), "ctr-b", netns_path(b),
                            args="K8S_POD_NAME=web-b",
                            env_sock=sock_of(h2))
    c.check(rc == 0 and r2 and r2["ips"][0]["address"] != ip["address"],
            "ADD on h2 via OVLD_CONTROL_SOCKET (%.0f ms)" % (took * 1000),
            out)
    return a, b, r1, r2


def ping_pair(lab, c, a, b, r1, r2):
    ip1 = r1["ips"][0]["address"].split("/")[0]
    ip2 = r2["ips"][0]["address"].split("/")[0]
    c.check(lab.ping(a, ip2, wait=2), "h1's container pings h2's")
    c.check(lab.ping(b, ip1, wait=2), "h2's container pings h1's")


def check_cmd(lab, c, a, r1):
    h1 = lab.hosts[0]
    args = "K8S_POD_NAME=web-a;K8S_POD_NAMESPACE=prod"
    cfg = conf(sock=sock_of(h1), prevResult=r1)
    rc, doc, out, _ = cni("CHECK", cfg, "ctr-a", netns_path(a), args=args)
    c.check(rc == 0 and not out.strip(),
            "CHECK with prevResult passes, prints nothing", out)
    rc, doc, out, _ = cni("CHECK", cfg, "ctr-other", netns_path(a),
                          args=args)
    c.check(rc != 0 and
            is_error(doc, 3), "CHECK for another container id: code 3", out)
    addr = r1["ips"][0]["address"]
    subprocess.run(["ip", "-n", a, "addr", "del", addr, "dev", "eth0"])
    rc, doc, out, _ = cni("CHECK", cfg, "ctr-a", netns_path(a), args=args)
    c.check(rc != 0 and is_error(doc, 105) and "address" in doc["msg"],
            "CHECK notices the address gone: code 105", out)
    subprocess.run(["ip", "-n", a, "addr", "add", addr, "dev", "eth0"])


def duplicate(lab, c, a, r1):
    h1, h2 = lab.hosts
    rc, r, out, _ = cni("ADD", conf(sock=sock_of(h1)), "ctr-a",
                        netns_path(a), args="K8S_POD_NAME=web-a;"
                        "K8S_POD_NAMESPACE=prod")
    c.check(rc == 0 and r == r1,
            "ADD retried for the same container, interface and namespace: "
            "the same result",
            out)
    d = lab.container("cdup")
    rc, doc, out, _ = cni("ADD", conf(sock=sock_of(h2)), "ctr-dup",
                          netns_path(d), args="K8S_POD_NAME=web-a;"
                          "K8S_POD_NAMESPACE=prod")
    c.check(rc != 0 and is_error(doc, 101) and "already exists" in
            doc["msg"],
            "ADD of a name taken on h1, from h2: code 101, already exists",
            out)
    c.check(addr_in(d) is None and "eth0" not in subprocess.run(
                ["ip", "-n", d, "link"], capture_output=True,
                text=True).stdout,
            "...and no interface left in its namespace")
    rc, doc, out, _ = cni("ADD", conf("nosuchnet", sock=sock_of(h2)),
                          "ctr-x", netns_path(d))
    c.check(rc != 0 and
            is_error(doc, 103), "ADD on an unknown network: code 103", out)
    rc, doc, out, _ = cni("ADD", conf(sock=sock_of(h2)), "ctr-x",
                          "/var/run/netns/does-not-exist")
    c.check(rc != 0 and
            is_error(doc, 4), "ADD into a missing namespace: code 4", out)


def delete(lab, c, b, r2):
    h2 = lab.hosts[1]
    cfg = conf(sock=sock_of(h2))
    rc, _, out, _ = cni("DEL", cfg, "ctr-b", netns_path(b),
                        args="K8S_POD_NAME=web-b")
    c.check(rc == 0 and not out.strip(), "DEL on h2", out)
    c.check(addr_in(b) is None, "...the interface is gone")
    c.check(endpoint(h2, "web-b")[0] == 404, "...and the endpoint")
    rc, _, out, _ = cni("DEL", cfg, "ctr-b", netns_path(b),
                        args="K8S_POD_NAME=web-b")
    c.check(rc == 0 and not out.strip(), "DEL twice: success", out)
    rc, _, out, _ = cni("DEL", cfg, "ctr-b", "", args="K8S_POD_NAME=web-b")
    c.check(rc == 0, "DEL without CNI_NETNS: success", out)
    rc, _, out, _ = cni("DEL", conf("nosuchnet", sock=sock_of(h2)),
                        "ctr-b", "")
    c.check(rc == 0, "DEL on an unknown network: success", out)
    # a DEL for a container that once had the name must not remove the
    # current owner's endpoint
    rc, _, out, _ = cni("DEL", conf(sock=sock_of(lab.hosts[0])), "ctr-old",
                        "", args="K8S_POD_NAME=web-a;K8S_POD_NAMESPACE=prod")
    c.check(rc == 0 and endpoint(lab.hosts[0], "web-a.prod")[0] == 200,
            "DEL by another container id leaves web-a.prod alone", out)

    # podman's DEL after a refused ADD must not remove ovlctl's endpoint
    o = lab.container("cctl")
    rc, _, err = h2.ovlctl("--socket", sock_of(h2), "attach", "demo",
                           "byctl", "--netns", o)
    rc2, doc, out, _ = cni("ADD", cfg, "ctr-ctl", netns_path(o),
                           args="K8S_POD_NAME=byctl", ifname="eth1")
    rc3, _, out3, _ = cni("DEL", cfg, "ctr-ctl", netns_path(o),
                          args="K8S_POD_NAME=byctl", ifname="eth1")
    c.check(rc == 0 and rc2 != 0 and is_error(doc, 101) and rc3 == 0 and
            endpoint(h2, "byctl")[0] == 200,
            "ADD of an ovlctl endpoint's name is refused, and the DEL that "
            "follows leaves ovlctl's endpoint alone", err + out + out3)

    g = lab.container("cgone")
    rc, r, out, _ = cni("ADD", cfg, "ctr-gone", netns_path(g))
    c.check(rc == 0, "ADD in a namespace about to go", out)
    subprocess.run(["ip", "netns", "del", g])
    rc, _, out, _ = cni("DEL", cfg, "ctr-gone", netns_path(g))
    c.check(rc == 0, "DEL after the namespace was removed: success", out)
    c.check(endpoint(h2, "ctr-gone")[0] == 404,
            "...and the endpoint is gone")
    rc, _, out, _ = cni("DEL", cfg, "ctr-gone", netns_path(g))
    c.check(rc == 0, "...DEL again: success", out)


def fixed_address(lab, c):
    h1, h2 = lab.hosts
    a, b = lab.container("cfix"), lab.container("cfix2")
    rc, r, out, _ = cni("ADD", conf(sock=sock_of(h1)), "ctr-fix",
                        netns_path(a), args="IgnoreUnknown=1;"
                        "IP=10.77.0.200;MAC=02:00:00:4d:00:c8")
    iface = (r or {}).get("interfaces", [{}])[0]
    c.check(rc == 0 and r["ips"][0]["address"] == "10.77.0.200/24" and
            iface.get("mac") == "02:00:00:4d:00:c8" and
            addr_in(a) == "10.77.0.200/24",
            "ADD with CNI_ARGS IP= and MAC= (podman's --ip, --mac-address)",
            out)
    cfg = conf(sock=sock_of(h2),
               runtimeConfig={"ips": ["10.77.0.200/24"]})
    rc, doc, out, _ = cni("ADD", cfg, "ctr-fix2", netns_path(b))
    c.check(rc != 0 and is_error(doc, 101),
            "the same address from h2 (runtimeConfig ips): code 101", out)
    rc, _, out, _ = cni("DEL", conf(sock=sock_of(h1)), "ctr-fix",
                        netns_path(a))
    c.check(rc == 0, "DEL frees it", out)
    rc, r, out, _ = cni("ADD", cfg, "ctr-fix2", netns_path(b))
    c.check(rc == 0 and r["ips"][0]["address"] == "10.77.0.200/24",
            "...and h2 gets it through runtimeConfig", out)
    cni("DEL", cfg, "ctr-fix2", netns_path(b))


def versions(lab, c):
    h1 = lab.hosts[0]
    for ver in ("0.3.1", "0.4.0"):
        ns = lab.container("v" + ver.replace(".", ""))
        cid = "ctr-v" + ver.replace(".", "")
        cfg = conf(version=ver, sock=sock_of(h1))
        rc, r, out, _ = cni("ADD", cfg, cid, netns_path(ns))
        ip = (r or {}).get("ips", [{}])[0]
        c.check(rc == 0 and r.get("cniVersion") == ver and
                ip.get("version") == "4" and ip.get("interface") == 0,
                "ADD with a %s config: %s result, ips version 4" %
                (ver, ver),
                out)
        if ver == "0.4.0":
            cfg["prevResult"] = r
            rc, _, out, _ = cni("CHECK", cfg, cid, netns_path(ns))
            c.check(rc == 0, "CHECK with a 0.4.0 config", out)
        else:
            rc, doc, out, _ = cni("CHECK", cfg, cid, netns_path(ns))
            c.check(rc != 0 and
                    is_error(doc, 1), "CHECK with a 0.3.1 config: code 1", out)
        rc, _, out, _ = cni("DEL", cfg, cid, netns_path(ns))
        c.check(rc == 0, "DEL with a %s config" % ver, out)
    ns = lab.container("vbad")
    rc, doc, out, _ = cni("ADD", conf(version="0.2.0", sock=sock_of(h1)),
                          "ctr-vbad", netns_path(ns))
    c.check(rc != 0 and
            is_error(doc, 1) and "0.2.0" in doc["msg"],
            "ADD with a 0.2.0 config: code 1",
            out)
    rc, doc, out, _ = cni("ADD", conf(version="1.1.0", sock=sock_of(h1)),
                          "ctr-vbad", netns_path(ns))
    c.check(rc != 0 and
            is_error(doc, 1), "ADD with a 1.1.0 config: code 1", out)


def bad_configs(lab, c):
    ns = lab.container("cbad")
    sock = sock_of(lab.hosts[0])
    cases = [("not JSON", "{\"cniVersion\":", 6),
             ("an array", "[]", 6),
             ("no name", {"cniVersion": "1.0.0", "type": "ovl",
                          "socket": sock}, 7),
             ("a type that is not a string", conf(sock=sock, type=7), 7),
             ("a relative socket", conf(sock="ovld.sock"), 7),
             ("an ipam section", conf(sock=sock,
                                      ipam={"type": "host-local"}), 2)]
    for what, cfg, code in cases:
        rc, doc, out, _ = cni("ADD", cfg, "ctr-bad", netns_path(ns))
        c.check(rc != 0 and is_error(doc, code),
                "config with %s: error JSON code %d" % (what, code), out)
    rc, doc, out, _ = cni("ADD", conf(sock=sock), "", netns_path(ns))
    c.check(rc != 0 and is_error(doc, 4), "no CNI_CONTAINERID: code 4", out)
    rc, doc, out, _ = cni("ADD", conf(sock=sock), "ctr-bad", netns_path(ns),
                          ifname="much-too-long-name")
    c.check(rc != 0 and is_error(doc, 4), "a bad CNI_IFNAME: code 4", out)


def netns_gc(lab, c):
    h2 = lab.hosts[1]
    ns = lab.container("cleak")
    rc, r, out, _ = cni("ADD", conf(sock=sock_of(h2)), "ctr-leak",
                        netns_path(ns))
    c.check(rc == 0, "ADD in a namespace that will vanish without DEL", out)
    t0 = time.monotonic()
    subprocess.run(["ip", "netns", "del", ns])
    c.check(endpoint(h2, "ctr-leak")[0] == 200,
            "the endpoint stays during the grace period")
    gone = wait_until(lambda: endpoint(h2, "ctr-leak")[0] == 404,
                      NETNS_GC_S + 30, 0.25)
    c.check(gone, "ovld released it by itself after --netns-gc %d (%.1f s)" %
            (NETNS_GC_S, time.monotonic() - t0))
    st, eps = control(sock_of(h2), "GET", "/v1/endpoints?network=demo")
    addr = (r or {}).get("ips", [{}])[0].get("address")
    c.check(st == 200 and addr not in
            [e.get("address") for e in eps.get("endpoints", [])],
            "...its address is free again",
            eps)


def ovld_down(lab, c):
    h2 = lab.hosts[1]
    ns = lab.container("cdown")
    h2.proc.send_signal(signal.SIGSTOP)
    try:
        rc, doc, out, took = cni("CHECK", conf(sock=sock_of(h2)),
                                 "ctr-down", netns_path(ns))
        c.check(rc != 0 and is_error(doc, 11) and took < 3.0,
                "CHECK against a frozen ovld: code 11 in %.1f s" % took, out)
        rc, doc, out, took = cni("DEL", conf(sock=sock_of(h2)), "ctr-down",
                                 netns_path(ns))
        c.check(rc != 0 and is_error(doc, 11) and took < 3.0,
                "DEL against a frozen ovld: code 11 in %.1f s" % took, out)
    finally:
        h2.proc.send_signal(signal.SIGCONT)
    h2.stop()
    rc, doc, out, took = cni("ADD", conf(sock=sock_of(h2)), "ctr-down",
                             netns_path(ns))
    c.check(rc != 0 and is_error(doc, 11) and took < 2.0 and
            "ovld" in doc["msg"],
            "ADD with ovld stopped: code 11 in %.2f s" % took, out)
    rc, doc, out, took = cni("ADD", conf(sock="/nonexistent/ovld.sock"),
                             "ctr-down", netns_path(ns))
    c.check(rc != 0 and is_error(doc, 11) and took < 2.0,
            "ADD with no socket at all: code 11 in %.2f s" % took, out)


def main():
    require_plugin()
    c = Checks()
    with NetLab(2, checks=c) as lab:
        start_hosts(lab, ["--netns-gc", str(NETNS_GC_S)])
        version_cmd(c)
        a, b, r1, r2 = add_pair(lab, c)
        if r1 and r2:
            ping_pair(lab, c, a, b, r1, r2)
            check_cmd(lab, c, a, r1)
            duplicate(lab, c, a, r1)
            delete(lab, c, b, r2)
            fixed_address(lab, c)
        versions(lab, c)
        bad_configs(lab, c)
        netns_gc(lab, c)
        ovld_down(lab, c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
