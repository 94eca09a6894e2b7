"""test_datapath - the overlay user story end to end on a 3-host lab of
network namespaces (netlab), real ovld processes forming a cluster with
--join, real pings between "container" namespaces.

Story: create `demo` on h1, seen on h2 with the same id; attach test1 on h1
and test2 on h2; a second test1 is refused; the two ping each other with
MTU 1450; detach breaks the ping and removes the entries on every host; 20
endpoints attached concurrently over 3 hosts get distinct addresses and all
ping each other; restarting ovld on h1 does not drop pings; removing h3 from
the cluster removes its endpoints on h1-h2; bad input gives one clear line
and leaves no kernel state behind.
"""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ovldlab  # noqa: E402
from netlab import NetLab, Checks, wait_until, OVLCTL  # noqa: E402


def one_line_error(rc, err):
    lines = [l for l in err.strip().split("\n") if l]
    return rc != 0 and len(lines) == 1 and lines[0].startswith("Error: ")


def ov_links(h):
    return sorted(l.split(":")[1].strip().split("@")[0]
                  for l in h.links().strip().split("\n")
                  if ": ov" in l)


def story(lab, c):
    h1, h2, h3 = lab.hosts
    rc, nid, err = h1.ovlctl("network", "create", "-d", "overlay",
                             "--subnet", "10.0.0.0/24", "demo")
    nid = nid.strip()
    c.check(rc == 0 and len(nid) == 64,
            "network create prints a 64-hex id", err)
    seen = wait_until(lambda: nid[:12] in h2.ovlctl("network", "ls")[1], 5)
    c.check(seen, "h2 lists demo with the same id")
    rc, out, _ = h2.ovlctl("network", "inspect", "demo")
    try:
        doc = json.loads(out)[0]
    except (ValueError, IndexError):
        doc = {}
    c.check(doc.get("Id") == nid and doc.get("Scope") == "global" and
            doc.get("Driver") == "overlay" and
            doc.get("IPAM", {}).get("Config") ==
            [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}],
            "inspect on h2: Id, Scope, Driver, IPAM", out)

    c1, c2 = lab.container("c1"), lab.container("c2")
    rc, ip1, err = h1.ovlctl("attach", "demo", "test1", "--netns", c1)
    ip1 = ip1.strip()
    c.check(rc == 0 and ip1 == "10.0.0.2",
            "attach test1 on h1 prints its address", err + ip1)
    rc, ip2, err = h2.ovlctl("attach", "demo", "test2", "--netns", c2)
    ip2 = ip2.strip()
    c.check(rc == 0 and ip2 == "10.0.0.3", "attach test2 on h2", err + ip2)
    c3 = lab.container("c3")
    rc, _, err = h2.ovlctl("attach", "demo", "test1", "--netns", c3)
    c.check(rc != 0 and "service endpoint with name test1 already exists"
            in err,
            "a second test1 is refused", err)
    c.check(lab.ping(c1, ip2, wait=2), "test1 pings test2")
    c.check(lab.ping(c2, ip1, wait=2), "test2 pings test1")
    mtu = subprocess.run(["ip", "-n", c1, "-o", "link", "show", "eth0"],
                         capture_output=True, text=True).stdout
    c.check("mtu 1450" in mtu and "02:42:0a:00:00:02" in mtu,
            "container interface MTU 1450 and MAC from IP", mtu)
    fdb = "02:42:0a:00:00:03 dev ovx-000100 dst 192.168.205.11"
    c.check(fdb in h1.fdb() and
            "10.0.0.3 dev ovx-000100 lladdr 02:42:0a:00:00:03" in h1.neigh(),
            "h1 has FDB + neighbour entries for test2")
    rc, out, _ = h3.ovlctl("endpoint", "ls")
    c.check("test1" in out and "192.168.205.10" in out and
            "test2" in out and "192.168.205.11" in out,
            "endpoint ls on h3 shows both with hosts", out)
    rc, out, err = h1.ovlctl("network", "rm", "demo")
    c.check(one_line_error(rc, err) and "active endpoints" in err,
            "network rm refused while endpoints exist", err)

    rc, _, err = h2.ovlctl("detach", "demo", "test2")
    c.check(rc == 0, "detach test2", err)
    c.check(not lab.ping(c1, ip2, wait=1), "ping fails after detach")
    def leftovers():
        # ovld's entries: self entries on vxlan devices and neighbours.
        # (A bridge may still hold a dynamically learned entry, which ages
        # out; it is the kernel's, not ovld's.)
        return [(h.name, l) for h in lab.hosts
                for l in (h.fdb() + h.neigh()).split("\n")
                if ("02:42:0a:00:00:03" in l and " self" in l) or
                l.startswith("10.0.0.3 ")]
    gone = wait_until(lambda: not leftovers(), 5)
    c.check(gone, "test2's entries gone on every host", str(leftovers()))
    c.check(not any(l.startswith("ovv-") for l in ov_links(h2)),
            "test2's veth gone on h2",
            str(ov_links(h2)))
    h1.ovlctl("detach", "demo", "test1")
    return nid


def concurrent(lab, c):
    h = lab.hosts
    rc, _, err = h[0].ovlctl("network", "create", "many")
    c.check(rc == 0, "network create many (default pool)", err)
    results = {}

    def attach(i):
        host = h[i % 3]
        ns = lab.container("m%d" % i)
        results[i] = (ns,) + host.ovlctl("attach", "many", "e%d" % i,
                                         "--netns", ns)

    ts = [threading.Thread(target=attach, args=(i,)) for i in range(20)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    ips = [r[2].strip() for r in results.values() if r[1] == 0]
    errs = [r[3] for r in results.values() if r[1] != 0]
    c.check(len(ips) == 20, "20 concurrent attaches succeed", str(errs[:3]))
    c.check(len(set(ips)) == 20, "20 distinct addresses", str(ips))
    c.check(all(ip.startswith("10.0.1.") for ip in ips),
            "addresses from the next free /24", str(ips))
    fails = []
    nss = [results[i][0] for i in range(20) if results[i][1] == 0]
    for ns in nss:
        for ip in ips:
            if not lab.ping(ns, ip, wait=1):
                fails.append((ns, ip))
    c.check(not fails, "all 20 ping each other (400 pings)", str(fails[:5]))
    return results


def restart(lab, c, results):
    h1 = lab.hosts[0]
    src = results[0][0]           # e0 lives on h1
    dst = results[1][2].strip()   # e1 lives on h2
    p = subprocess.Popen(["ip", "netns", "exec", src, "ping", "-n", "-q",
                          "-i", "0.02", "-c", "150", "-W", "1", dst],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    before = ov_links(h1)
    h1.stop()
    time.sleep(0.3)
    h1.start()
    out, _ = p.communicate(timeout=30)
    c.check(" 0% packet loss" in out,
            "pings keep flowing while ovld on h1 restarts",
            out.strip().split("\n")[-2:])
    c.check(ov_links(h1) == before, "devices adopted, not recreated")


def remove_host(lab, c, results):
    h1, h2, h3 = lab.hosts
    st, body = h1.http("GET", "/v2/members")
    try:
        mid = [m["id"] for m in json.loads(body)["members"]
               if any("192.168.205.12" in u for u in m["peerURLs"])][0]
    except (ValueError, KeyError, IndexError):
        mid = None
    c.check(mid is not None, "h3 is a member", body)
    st, body = h1.http("DELETE", "/v2/members/%s" % mid)
    c.check(st in (200, 204), "remove h3 from the cluster", body)
    h3.stop()

    def gone():
        out = h1.ovlctl("endpoint", "ls")[1] + h2.ovlctl("endpoint", "ls")[1]
        return ("192.168.205.12" not in out and
                "dst 192.168.205.12" not in h1.fdb() + h2.fdb())
    c.check(wait_until(gone, 30, 0.5),
            "h3's endpoints gone from the store and from h1-h2's kernels")
    src, dst = results[0][0], results[1][2].strip()
    c.check(lab.ping(src, dst, wait=2), "h1-h2 traffic unaffected")


def bad_input(lab, c):
    h1 = lab.hosts[0]
    before = ov_links(h1)
    c9 = "%s-nosuch" % lab.prefix
    cx = lab.container("cx")
    cases = [
        ("bad CIDR", ["network", "create", "--subnet", "10.0.0.0/33", "b1"],
         "invalid subnet"),
        ("overlapping subnet",
         ["network", "create", "--subnet", "10.0.0.0/16", "b2"],
         "overlaps"),
        ("missing namespace", ["attach", "many", "x", "--netns", c9],
         "not found"),
        ("unknown network", ["attach", "nonet", "x", "--netns", cx],
         "No such network"),
        ("rm of a network in use", ["network", "rm", "many"],
         "active endpoints"),
    ]
    for name, args, want in cases:
        rc, _, err = h1.ovlctl(*args)
        c.check(one_line_error(rc, err) and want in err,
                "%s: one clear line" % name, err)
    c.check(ov_links(h1) == before, "no half-made kernel state",
            "%s -> %s" % (before, ov_links(h1)))
    rc, out, _ = h1.ovlctl("network", "ls")
    names = [l.split()[1] for l in out.strip().split("\n")[1:] if l]
    c.check("b1" not in names and "b2" not in names,
            "failed creates left no network", out)


def main():
    ovldlab.require_root("network namespaces, VXLAN devices")
    c = Checks()
    with NetLab(3, ovld_args=["--endpoint-gc", "600"], checks=c) as lab:
        lab.start_cluster()
        story(lab, c)
        results = concurrent(lab, c)
        bad_input(lab, c)
        restart(lab, c, results)
        remove_host(lab, c, results)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
