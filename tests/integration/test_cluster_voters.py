#!/usr/bin/env python3
"""test_cluster_voters - five hosts with --max-voters 3.

h1 bootstraps, h2..h5 join. Checks: all five are members (API, etcdctl
member list, cluster-health); the leader assigned 2 voters and 2
standbys (its log), and /ovld/v1/members and `ovlctl member ls` on a
follower name the same roles; standbys do not
vote: with both standbys killed the cluster still writes, with two
voters killed it refuses writes although 3 of 5 hosts live; removing a
voter (etcdctl member remove) promotes a standby, proved by killing the
remaining non-leader voter afterwards and still writing.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402

ROLE_RE = re.compile(r"member ([0-9a-f]+) is now a (voter|standby)")


def roles_from_log(srv, ids_by_name):
    """name -> last role the leader's log assigned."""
    names = {v: k for k, v in ids_by_name.items()}
    out = {}
    for ln in srv.log_text(tail=100000).splitlines():
        m = ROLE_RE.search(ln)
        if m and int(m.group(1), 16) in names:
            out[names[int(m.group(1), 16)]] = m.group(2)
    return out


def writable(srv, key, timeout=4.0):
    st, _, _ = cl.put(srv, key, "x", timeout=timeout)
    return st in (200, 201)


def write_eventually(hosts, key, timeout=15):
    return cl.wait_until(lambda: any(writable(s, key) for s in hosts
                                     if s.alive()), timeout, 0.2)


def check_roles_shown(lab, srv, want):
    """/ovld/v1/members and `ovlctl member ls` on srv show want
    (name -> voter, standby or leader)."""
    st, _, doc = cl.request(srv, "GET", "/ovld/v1/members")
    got = {m["name"]: "leader" if m.get("leader") else m.get("role")
           for m in (doc or {}).get("members", [])}
    lab.check(st == 200 and got == want,
              "/ovld/v1/members on %s names every role" % srv.name,
              "got %r, want %r" % (got, want))
    p = subprocess.run([os.environ.get("OVLCTL_BIN", "build/ovlctl"),
                        "--endpoint", srv.client_url, "member", "ls"],
                       capture_output=True, text=True, timeout=10)
    rows = {ln.split()[1]: ln.split()[2]
            for ln in p.stdout.splitlines()[1:] if len(ln.split()) > 2}
    lab.check(p.returncode == 0 and rows == want,
              "ovlctl member ls shows the roles", p.stdout + p.stderr)


def main():
    cl.require_binary("ETCDCTL_BIN", "etcdctl",
                      "its checks run the real etcdctl against ovld")
    with cl.Lab("cluster-voters") as lab:
        c = cl.Cluster(lab, common_args=["--max-voters", "3"])
        ok = cl.start_with_check(lab, "h1 bootstraps", c.bootstrap)
        for i in range(2, 6):
            ok = ok and cl.start_with_check(
                lab, "h%d joins" % i, lambda i=i: c.join("h%d" % i))
        if ok:
            run(lab, c)
    lab.finish()


def run(lab, c):
    h = {s.name: s for s in c.hosts}

    def settled():
        ms = cl.members(h["h1"]) or []
        return len(ms) == 5 and all(m["clientURLs"] for m in ms)
    lab.check(cl.wait_until(settled, 15), "5 members with client URLs")
    ids = {m["name"]: int(m["id"], 16) for m in cl.members(h["h1"])}
    rc, out, err = cl.etcdctl(h["h4"].client_url, "member", "list")
    lab.check(rc == 0 and len([x for x in out.splitlines() if x]) == 5,
              "etcdctl member list shows 5", out + err)
    rc, out, err = cl.etcdctl(h["h5"].client_url, "cluster-health")
    lab.check(rc == 0 and out.count(" is healthy") >= 5,
              "etcdctl cluster-health: all 5 healthy", out + err)

    ld = c.leader()
    if not lab.check(ld is h["h1"], "h1 is still the leader"):
        return
    roles = cl.wait_until(
        lambda: (lambda r: r if len(r) == 4 else None)(
            roles_from_log(ld, ids)), 10)
    roles = roles or roles_from_log(ld, ids)
    voters = sorted(n for n, r in roles.items() if r == "voter")
    standbys = sorted(n for n, r in roles.items() if r == "standby")
    lab.check(len(voters) == 2 and len(standbys) == 2,
              "leader promoted 2 voters and made 2 standbys (%s / %s)" %
              (voters, standbys), repr(roles))
    if len(voters) != 2 or len(standbys) != 2:
        return
    check_roles_shown(lab, h["h3"], dict(roles, h1="leader"))

    # Standbys do not count for the quorum.
    for n in standbys:
        h[n].kill9()
    lab.check(write_eventually([ld], "/v/no-standbys", 5),
              "with both standbys dead the 3 voters still write")
    for n in standbys:
        cl.start_with_check(lab, "%s restarts" % n, h[n].start)
    for n in voters:
        h[n].kill9()
    time.sleep(2.5)
    alive = [s for s in c.hosts if s.alive()]
    lab.check(len(alive) == 3 and not any(writable(s, "/v/minority")
                                          for s in alive),
              "with 2 of 3 voters dead, 3 live hosts refuse writes")
    for n in voters:
        cl.start_with_check(lab, "%s restarts" % n,
                            lambda n=n: h[n].start(timeout=30))
    lab.check(write_eventually(c.hosts, "/v/back", 15),
              "writes again once the voters are back")

    # Remove a non-leader voter: a standby must take its place.
    ld = c.leader()
    gone = [n for n in voters if h[n] is not ld][0]
    rc, out, err = cl.etcdctl(h[standbys[0]].client_url, "member",
                              "remove", "%x" % ids[gone])
    lab.check(rc == 0, "etcdctl member remove %s" % gone, out + err)
    lab.check(cl.wait_until(lambda: len(cl.members(ld) or []) == 4, 10),
              "4 members after the removal")
    h[gone].stop()

    def promoted():
        r = roles_from_log(ld, ids)
        return [n for n in standbys if r.get(n) == "voter"]
    got = cl.wait_until(promoted, 10)
    lab.check(got and len(got) == 1,
              "exactly one standby was promoted to voter (%s)" % got)
    other = [n for n in voters if n != gone and h[n] is not ld]
    if ld.name in voters or ld is h["h1"]:
        # Voters now: the leader, the remaining old voter, the promoted
        # one. Without the promotion, killing the old voter would leave
        # 1 of 2 voters and no quorum.
        for n in other:
            h[n].kill9()
        lab.check(write_eventually([s for s in c.hosts if s.alive() and
                                    s.name != gone], "/v/promoted", 8),
                  "with the other old voter dead, writes go on (the "
                  "promoted standby votes)")
        for n in other:
            cl.start_with_check(lab, "%s restarts" % n, h[n].start)
    alive = [s for s in c.hosts if s.alive() and s.name != gone]
    same, trees = c.converged("/v", timeout=20, hosts=alive)
    lab.check(same, "the 4 remaining hosts converge", repr(trees))


if __name__ == "__main__":
    main()
