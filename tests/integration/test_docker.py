"""test_docker - Docker's classic two-host overlay lab, with ovld as the
cluster store (dockerd's --cluster-store=etcd://, as etcd 3.4's v2 API).

Two netlab hosts each run ovld (h2 --join h1) and a real dockerd 20.10
with --cluster-store=etcd://127.0.0.1:2379 (its local ovld) and
--cluster-advertise=<host ip>:2376. Checked: both engines register under
/docker/nodes with a TTL; /v2/members advertises the hosts' addresses (the
etcd client switches to them); Docker's request shapes answer in
milliseconds; an overlay network made on h1 shows on h2 with the same id
and the requested subnet; a duplicate name is refused (by Docker and by
ovlctl); ovld lists Docker's network (etcdctl, ovlctl) but programs no
device for it and its endpoint GC spares Docker's endpoints, while it
still programs its own network on the same hosts, whose VNI it reserves in
Docker's allocator; containers on the two hosts ping each other by IP and
by name; removing a network in use is refused; six concurrent creates get
six subnets; once all is removed the store (hidden claim keys included)
holds no leftovers; no store timeouts in dockerd's logs; a stopped
engine's node key expires (an `expire` event) and the other engine's
discovery watch sees it.

Skips (exit 77, "SKIP: ...") when not root, when dockerd is missing or too
new for --cluster-store, or when it cannot start at all here;
an engine that starts without a cluster store but not with ovld fails.
Discovery runs with a 3 s heartbeat and 9 s TTL to keep the run short.
"""

import base64
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import NetLab, Checks, wait_until  # noqa: E402
import dockerlab  # noqa: E402
from ovldlab import require_binary, require_root, skip  # noqa: E402
from dockerlab import Engine, IMAGE, subnet_of  # noqa: E402

ROOT = "/docker/network/v1.0"
SUBNET = "10.99.0.0/24"
STORE_OPTS = ("discovery.heartbeat=3", "discovery.ttl=9")


def get_json(host, path):
    st, body = host.http("GET", "/v2/keys" + path)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


def leaves(node):
    """Every node below node (recursive GET), depth first."""
    for c in node.get("nodes", []):
        yield c
        yield from leaves(c)


def ov_devices(host):
    return [l.split(":")[1].strip().split("@")[0]
            for l in host.links().splitlines()
            if l.split(":")[1].strip().startswith(("ovb-", "ovx-"))]


def registered(h, engines):
    st, doc = get_json(h, "/docker/nodes?recursive=true")
    if st != 200:
        return {}
    return {n["key"].rsplit("/", 1)[1]: n for n in leaves(doc["node"])
            if not n.get("dir")}


def check_nodes(c, lab, engines):
    h1 = lab.hosts[0]
    want = {e.advertise for e in engines}
    ok = wait_until(lambda: set(registered(h1, engines)) >= want, 20, 0.3)
    nodes = registered(h1, engines)
    c.check(ok, "both engines register under /docker/nodes",
            "got %s" % sorted(nodes))
    c.check(all(nodes.get(a, {}).get("ttl", 0) > 0 for a in want),
            "...with a TTL",
            json.dumps(nodes))
    h2n = registered(lab.hosts[1], engines)
    c.check(set(h2n) >= want,
            "...and h2's ovld serves the same registrations",
            "got %s" % sorted(h2n))


def network_id(e, name):
    rc, out, _ = e.docker("network", "inspect", "-f", "{{.Id}}", name)
    return out if rc == 0 else None


def check_network(c, lab, e1, e2):
    h1, h2 = lab.hosts
    rc, out, err = e1.docker("network", "create", "-d", "overlay",
                             "--subnet", SUBNET, "demo")
    c.check(rc == 0, "h1: docker network create -d overlay --subnet demo",
            err)
    nid = out
    rc, out, err = e2.docker("network", "ls", "--no-trunc", "--filter",
                             "driver=overlay", "--format",
                             "{{.ID}} {{.Name}} {{.Scope}}")
    c.check("%s demo global" % nid in out.splitlines(),
            "h2 lists demo with the same id, scope global", out + err)
    c.check(subnet_of(e2, "demo") == SUBNET,
            "--subnet is honoured (seen from h2)", str(subnet_of(e2, "demo")))
    rc, _, err = e2.docker("network", "create", "-d", "overlay", "demo")
    c.check(rc != 0 and "already exists" in err,
            "a duplicate network name is refused (h2)", err)
    return nid


def check_coexistence(c, lab, nid):
    h1, h2 = lab.hosts
    p = h1.exec("env", "ETCDCTL_API=2", "etcdctl", "--endpoints",
                "http://127.0.0.1:2379", "ls", ROOT + "/network")
    c.check(ROOT + "/network/" + nid in p.stdout.split(),
            "etcdctl ls lists Docker's network", p.stdout + p.stderr)
    rc, out, err = h2.ovlctl("network", "ls")
    c.check(rc == 0 and "demo" in out and nid[:12] in out,
            "ovlctl network ls lists Docker's network", out + err)
    rc, _, err = h1.ovlctl("network", "create", "demo")
    c.check(rc != 0 and "already exists" in err,
            "ovlctl refuses the name of a Docker network", err)
    rc, _, err = h1.ovlctl("network", "create", "ovlnet")
    c.check(rc == 0, "ovlctl creates its own network next to Docker's", err)
    st, doc = get_json(h2, ROOT + "/idm/vxlan-id")
    c.check(st == 200 and allocated_ids(doc["node"].get("value")) == 1,
            "...and reserves its VNI in Docker's vxlan-id allocator",
            "%d %s" % (st, doc))
    ns = lab.container("oc")
    rc, _, err = h1.ovlctl("attach", "ovlnet", "oc1", "--netns", ns)
    c.check(rc == 0, "ovlctl attach on h1", err)
    ok = wait_until(lambda: ov_devices(h1), 10, 0.2)
    c.check(bool(ok), "ovld programs its own network (ovb-/ovx- on h1)",
            h1.links())


def check_no_devices_for_docker(c, lab, what):
    """Only ovlnet's bridge and VXLAN device on h1; none on h2 (it has no
    ovld endpoint), whatever Docker has created."""
    for h in lab.hosts:
        devs = ov_devices(h)
        want = 2 if h is lab.hosts[0] else 0
        c.check(len(devs) == want,
                "%s: ovld made no device for Docker's network on %s" %
                (what, h.name),
                "devices %s" % devs)


def check_gc_spares_docker(c, lab):
    """ovld's endpoint GC collects endpoints of hosts that left the ovld
    cluster; a Docker endpoint (no ovld marker) whose locator is no ovld
    member must survive it (Docker's --cluster-advertise address may be
    any interface)."""
    h1 = lab.hosts[0]
    key = ROOT + "/endpoint/" + "f" * 64 + "/" + "e" * 64
    rec = json.dumps({"id": "e" * 64, "name": "foreign",
                      "locator": "192.168.205.99",
                      "ep_iface": {"addr": "10.98.0.2/24",
                                   "mac": "02:42:0a:62:00:02"}})
    p = h1.exec("curl", "-s", "-X", "PUT", "--data-urlencode",
                "value=" + rec, "http://127.0.0.1:2379/v2/keys" + key)
    time.sleep(3)  # the leader sweeps once a second
    st, _ = get_json(h1, key)
    c.check(st == 200,
            "endpoint GC leaves a Docker endpoint of a non-member alone",
            p.stdout)
    h1.http("DELETE", "/v2/keys" + key.rsplit("/", 1)[0] + "?recursive=true")


def check_members(c, lab, engines):
    """The etcd client in dockerd switches to the clientURLs of
    /v2/members: each must be a host address, not loopback."""
    st, body = lab.hosts[1].http("GET", "/v2/members")
    try:
        urls = sorted(u for m in json.loads(body)["members"]
                      for u in m["clientURLs"])
    except (ValueError, KeyError, TypeError):
        urls = []
    want = sorted("http://%s:2379" % h.ip for h in lab.hosts)
    c.check(st == 200 and urls == want,
            "/v2/members advertises each host's reachable client URL",
            "%d %s" % (st, body))


def curl_times(host, method, urls):
    """Seconds per request, with curl reusing one connection as dockerd's
    client does."""
    args = ["curl", "-s", "-w", "\nT=%{time_total}\n"]
    if method == "PUT":
        args += ["-X", "PUT", "-d", "value=x"]
    out = host.exec(*(args + urls), timeout=60).stdout
    return sorted(float(l[2:]) for l in out.split("\n") if l[:2] == "T=")


def check_latency(c, lab):
    """Docker's shapes (quorum reads, create-only writes), 20 each on a
    kept-alive connection: well inside libkv's 3 s, and no 40 ms Nagle /
    delayed-ACK stall per reply."""
    base = "http://127.0.0.1:2379/v2/keys/ovldtest-latency"
    for h in lab.hosts:
        reads = curl_times(h, "GET", [base + "?quorum=true&recursive=false"
                                      "&sorted=false"] * 20)
        writes = curl_times(h, "PUT", ["%s/%s-%d?prevExist=false" %
                                       (base, h.name, i) for i in range(20)])
        for what, t in (("quorum reads", reads), ("create writes", writes)):
            c.check(len(t) == 20 and t[10] < 0.035 and t[-1] < 1.5,
                    "%s: %s answer fast (median < 35 ms, max < 1.5 s)" %
                    (h.name, what),
                    "times %s" % t)
    lab.hosts[0].http("DELETE", "/v2/keys/ovldtest-latency?recursive=true")


def check_engine_logs(c, engines):
    """libkv gives every request 3 s; a slow or unreachable store shows in
    dockerd's log as one of these."""
    bad = ("cluster is unavailable", "context deadline exceeded",
           "Client.Timeout", ":2379: connect: connection refused")
    for e in engines:
        hits = [l for l in e.log_text().splitlines()
                if any(b in l for b in bad)]
        c.check(not hits,
                "%s: no store timeouts or refused connections in dockerd's"
      " log" % e.host.name,
                "\n".join(hits[:5]))




def check_containers(c, lab, e1, e2):
    for e, name in ((e1, "c1"), (e2, "c2")):
        rc, _, err = e.docker("run", "-d", "--net", "demo", "--name", name,
                              IMAGE, "sleep", "600", timeout=90)
        c.check(rc == 0,
                "%s: docker run --net demo %s" % (e.host.name, name),
                err + "\n" + e.tail())
    ip1, ip2 = e1.container_ip("c1"), e2.container_ip("c2")
    c.check(ip1.startswith("10.99.0.") and ip2.startswith("10.99.0.") and
            ip1 != ip2,
            "containers get distinct addresses in %s" % SUBNET,
            "%r %r" % (ip1, ip2))
    for e, ctr, target in ((e1, "c1", ip2), (e2, "c2", ip1),
                           (e1, "c1", "c2"), (e2, "c2", "c1")):
        ok = wait_until(lambda: e.ping(ctr, target)[0], 20, 0.5)
        c.check(ok, "%s pings %s across hosts" % (ctr, target),
                e.ping(ctr, target)[1])
    rc, out, err = h_ovlctl_endpoints(lab)
    c.check(rc == 0 and "c1" in out and "c2" in out,
            "ovlctl endpoint ls shows Docker's containers", out + err)
    rc, _, err = e2.docker("network", "rm", "demo")
    c.check(rc != 0 and "active endpoints" in err,
            "removing a network in use is refused", err)


def h_ovlctl_endpoints(lab):
    return lab.hosts[0].ovlctl("endpoint", "ls", "demo")


def check_concurrent(c, e1, e2):
    results = {}

    def create(e, name):
        results[name] = e.docker("network", "create", "-d", "overlay", name,
                                 timeout=120)
    threads = [threading.Thread(target=create,
                                args=((e1, e2)[i % 2], "par%d" % i))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = {n: r[2] for n, r in results.items() if r[0] != 0}
    c.check(not bad,
            "six concurrent network creates (both hosts) succeed", str(bad))
    subnets = [subnet_of(e1, "par%d" % i) for i in range(6)]
    c.check(None not in subnets and len(set(subnets)) == 6 and
            SUBNET not in subnets,
            "...with six distinct subnets", str(subnets))
    return subnets


def check_ovlctl_avoids_pools(c, lab, docker_subnets):
    """ovlctl's default subnet skips the pools Docker's IPAM holds."""
    h1 = lab.hosts[0]
    rc, _, err = h1.ovlctl("network", "create", "ovlnet2")
    out = h1.ovlctl("network", "inspect", "ovlnet2")[1]
    try:
        sub = json.loads(out)[0]["IPAM"]["Config"][0]["Subnet"]
    except (ValueError, KeyError, IndexError, TypeError):
        sub = None
    c.check(rc == 0 and sub and sub not in docker_subnets,
            "ovlctl's default subnet avoids Docker's pools",
            "%s %s among %s" % (err, sub, docker_subnets))
    h1.ovlctl("network", "rm", "ovlnet2")


def remove_all(c, lab, e1, e2):
    for e, name in ((e1, "c1"), (e2, "c2")):
        rc, _, err = e.docker("rm", "-f", name)
        c.check(rc == 0, "docker rm -f %s" % name, err)
    names = ["demo"] + ["par%d" % i for i in range(6)]
    rc, _, err = e2.docker("network", "rm", *names, timeout=120)
    c.check(rc == 0, "all Docker networks removed", err)
    h1 = lab.hosts[0]
    rc1, _, err1 = h1.ovlctl("detach", "ovlnet", "oc1")
    rc2, _, err2 = h1.ovlctl("network", "rm", "ovlnet")
    c.check(rc1 == 0 and rc2 == 0, "ovlctl detach + network rm",
            err1 + err2)
    ok = wait_until(lambda: not ov_devices(h1), 10, 0.2)
    c.check(ok, "ovld removed its own devices", str(ov_devices(h1)))


def allocated_ids(value):
    """How many ids a libnetwork bitmap record (idm/vxlan-id) hands out:
    its sequence starts with the bitmap size and the free count (u64 big
    endian each)."""
    try:
        raw = base64.b64decode(json.loads(value)["sequence"])
    except (ValueError, KeyError, TypeError):
        return -1
    if len(raw) < 16:
        return -1
    return int.from_bytes(raw[:8], "big") - int.from_bytes(raw[8:16], "big")


def leftovers(host):
    """Keys that still describe a removed network or endpoint. Allowed:
    directories, /docker/nodes (live engines), the empty IPAM config, an
    empty vxlan-id allocator, and ovld's own host heartbeats."""
    # quorum=true: host may be a follower a heartbeat behind the writes.
    st, doc = get_json(host, "/docker?recursive=true&quorum=true")
    if st != 200:
        return ["GET /docker: %d" % st]
    bad = []
    for n in leaves(doc["node"]):
        k, v = n["key"], n.get("value")
        if n.get("dir") or k.startswith("/docker/nodes/"):
            continue
        if k.startswith(ROOT + "/_ovld/hosts/"):
            continue
        if k.endswith("/ipam/default/config/GlobalDefault"):
            if json.loads(v or "{}").get("Subnets"):
                bad.append(k)
            continue
        if k.endswith("/idm/vxlan-id"):
            if allocated_ids(v) != 0:
                bad.append("%s (%d ids)" % (k, allocated_ids(v)))
            continue
        bad.append(k)
    # ovlctl's claim keys are hidden (leading "_"): asked for by name.
    st, doc = get_json(host, ROOT + "/_ovld?recursive=true&quorum=true")
    for n in leaves(doc["node"]) if st == 200 else []:
        if not n.get("dir") and "/_ovld/hosts/" not in n["key"]:
            bad.append(n["key"])
    return bad


def watch_expire(host, key, from_index, timeout):
    """Follows /docker/nodes from from_index (resuming by waitIndex, as
    libkv does) until key's expire event; returns that event or None."""
    deadline = time.monotonic() + timeout
    idx = from_index
    while time.monotonic() < deadline:
        p = host.exec("curl", "-s", "-m", str(max(1, int(deadline -
                                                    time.monotonic()))),
                      "http://127.0.0.1:2379/v2/keys/docker/nodes"
                      "?recursive=true&wait=true&waitIndex=%d" % idx,
                      timeout=timeout + 5)
        try:
            ev = json.loads(p.stdout)
        except ValueError:
            continue
        node = ev.get("node", {})
        if ev.get("action") == "expire" and node.get("key") == key:
            return ev
        idx = node.get("modifiedIndex", idx) + 1
    return None


def check_expiry(c, lab, e1, e2):
    h1 = lab.hosts[0]
    st, doc = get_json(h1, "/docker/nodes")
    start = int(doc.get("node", {}).get("modifiedIndex", 0)) + 1 \
        if doc else 1
    before = e1.log_text().count("Watch triggered with 1 nodes")
    key = "/docker/nodes/" + e2.advertise
    t0 = time.monotonic()
    e2.stop()
    ev = watch_expire(h1, key, start, 40)
    c.check(ev is not None,
            "a stopped engine's node key expires (expire event, %.0f s)" %
            (time.monotonic() - t0))
    c.check(e2.advertise not in registered(h1, [e1]),
            "...and is gone from the store")
    ok = wait_until(lambda: e1.log_text().count(
        "Watch triggered with 1 nodes") > before, 15, 0.3)
    c.check(ok, "the other engine's discovery watch notices",
            e1.tail(20))


def start_engines(c, lab):
    engines = [Engine(h, STORE_OPTS) for h in lab.hosts]
    e1, e2 = engines
    if not e1.start():
        log = e1.tail()
        e1.stop()
        # Does dockerd run here at all, without a cluster store?
        if not e1.start(cluster=False):
            skip("dockerd cannot start on this machine:\n" + e1.tail())
        c.check(False, "dockerd starts with ovld as its cluster store", log)
        return engines, False
    # Two engines starting at once race to create /docker/nodes (harmless,
    # but noisy); starting e2 only once e1 is up staggers them as a 2 s
    # delay between the two would.
    if not e2.start():
        c.check(False, "dockerd on h2 starts", e2.tail())
        return engines, False
    rc, out, err = e1.docker("info", "--format", "{{.ClusterStore}}")
    c.check(out == "etcd://127.0.0.1:2379",
            "docker info shows ovld as the cluster store", out + err)
    return engines, True


def run(lab, c):
    h1, h2 = lab.hosts
    lab.start_cluster()
    engines, ok = start_engines(c, lab)
    try:
        if not ok:
            return
        e1, e2 = engines
        check_nodes(c, lab, engines)
        check_members(c, lab, engines)
        check_latency(c, lab)
        dockerlab.import_busybox(c, engines, lab.dir)
        nid = check_network(c, lab, e1, e2)
        check_coexistence(c, lab, nid)
        check_no_devices_for_docker(c, lab, "after create")
        check_containers(c, lab, e1, e2)
        check_no_devices_for_docker(c, lab, "with containers")
        check_gc_spares_docker(c, lab)
        check_ovlctl_avoids_pools(c, lab, check_concurrent(c, e1, e2))
        remove_all(c, lab, e1, e2)
        bad = leftovers(h2)
        c.check(not bad, "the store holds no leftovers", "\n".join(bad))
        check_engine_logs(c, engines)
        check_expiry(c, lab, e1, e2)
    finally:
        if c.failed:
            dockerlab.print_tails(engines, 60)
        dockerlab.cleanup(engines, lab.dir)


def main():
    require_root("network namespaces, dockerd")
    require_binary("ETCDCTL_BIN", "etcdctl", "it lists Docker's keys")
    dockerlab.cluster_store_engine()
    t0 = time.monotonic()
    c = Checks()
    with NetLab(n_hosts=2, checks=c) as lab:
        run(lab, c)
    print("test_docker: %.0f s" % (time.monotonic() - t0))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
