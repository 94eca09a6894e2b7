#!/usr/bin/env python3
"""test_peer_removed - a removed member stays out, on every host, for good.

Real ovld processes on loopback, with the cluster CA (join tokens), a static
cluster's CA (--token) and the user's own PKI (etcd's --peer-* files):
  - three hosts; the third is removed (DELETE /v2/members/<id>);
  - every remaining host restarts: one with SIGTERM, one with kill -9;
  - the removed member's certificate, presented by a raw TLS client that
    claims the removed id, is refused by every host, saying it was
    removed (where certificates carry the member id, the cluster CA's and
    a static cluster's, also without a claimed id);
  - the removed host started again on its old data dir is refused by the
    others (their logs say so), is not listed, and the cluster still
    replicates;
  - a fresh host that joins after the removal refuses it as well;
  - the leader removed through a follower (it cannot put its own removal
    on record; the next leader does): refused after the restarts too;
  - in a static cluster (--initial-cluster, --token), where a peer URL
    names the member id, the same, and POST /v2/members with the removed
    member's peer URL (its id again) is refused with 409; a member added
    by POST /v2/members that never started may be added again.
The removed member's certificate was issued moments before, so a host
that forgot the removal would take it (a fresh certificate belongs to a
join in progress), and with the user's PKI any certificate of the CA is
taken: these checks fail when the removal is kept only in memory.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clusterlab as cl  # noqa: E402
import ovldlab  # noqa: E402
from test_peer_own_pki import Pki  # noqa: E402

TERM = cl.PEER_KIND_RAFT + 3  # RAFTNODE_TERM: a harmless read


def member_id(h, name):
    for m in cl.members(h) or []:
        if m.get("name") == name:
            return int(m["id"], 16)
    return 0


def member_names(h):
    return sorted(m.get("name") or m["id"] for m in (cl.members(h) or []))


def value_of(h, key):
    st, _, doc = cl.get(h, key)
    return doc["node"]["value"] if st == 200 and doc else None


def creds_dir(lab, name, crt, key):
    """A directory with node.crt and node.key, as cl.peer_call reads."""
    d = os.path.join(lab.dir, name + "-creds")
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(crt, os.path.join(d, "node.crt"))
    shutil.copyfile(key, os.path.join(d, "node.key"))
    return d


def remove(lab, hosts, gone, gid):
    st, _, _ = cl.request(hosts[0], "DELETE", "/v2/members/%x" % gid)
    lab.check(st == 204, "DELETE /v2/members/<%s> removes it" % gone.name,
              str(st))
    for h in hosts:
        lab.check(cl.wait_until(lambda: gone.name not in member_names(h),
                                10),
                  "%s no longer lists %s" % (h.name, gone.name),
                  repr(member_names(h)))
    gone.stop()


def restart_all(lab, hosts):
    """SIGTERM for all but the last, kill -9 for the last, then all start
    again together (they need each other for a quorum)."""
    for h in hosts[:-1]:
        h.stop()
    hosts[-1].kill9()
    for h in hosts:
        h.start(wait=False)
    try:
        for h in hosts:
            h.wait_healthy(60)
    except Exception as e:  # noqa: BLE001 - reported as a check
        lab.check(False, "the remaining hosts restart", str(e))
        return False
    lab.check(True, "the remaining hosts restarted (%s with SIGTERM, %s "
              "with kill -9)" % (", ".join(h.name for h in hosts[:-1]),
                                 hosts[-1].name))
    return True


def refused_by(lab, hosts, creds, gid, name, unclaimed=True, wait=0):
    """Each host refuses the removed member's certificate, saying it was
    removed. wait: seconds a host may take to learn of the removal (none
    once it has restarted or joined: it knows from its store)."""
    def call(h, claim):
        st, why = cl.peer_call(h, creds, claim, TERM, b"")
        return st is None and "was removed" in str(why), (st, why)
    for h in hosts:
        claims = [gid, 0] if unclaimed else [gid]
        for claim in claims:
            if wait:
                cl.wait_until(lambda: call(h, claim)[0], wait, 0.2)
            ok, got = call(h, claim)
            lab.check(ok, "%s refuses the removed %s's certificate (%s): "
                      "it was removed" % (h.name, name,
                                          "claiming its id" if claim else
                                          "no claimed id"), repr(got))


def last_log(h):
    try:
        with open(h.log_paths[-1], "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def comes_back(lab, hosts, gone, gid):
    """The removed host on its old data dir: the others refuse it."""
    gone.start(wait=False)
    mark = "claims member %x at 127.0.0.1:%d" % (gid, gone.peer_port)

    def refused_everywhere():
        return all(any(mark in ln and "was removed" in ln
                       for ln in last_log(h).splitlines())
                   for h in hosts)
    ok = cl.wait_until(refused_everywhere, 20, 0.2)
    lab.check(ok, "%s, started again on its old data dir, is refused by "
              "every host as removed" % gone.name,
              "\n".join(ln for h in hosts for ln in
                        last_log(h).splitlines() if "refused" in ln)[-1500:])
    for h in hosts:
        lab.check(gone.name not in member_names(h),
                  "%s does not list %s" % (h.name, gone.name),
                  repr(member_names(h)))
    key = "/after-%s" % gone.name
    st = cl.put(hosts[0], key, "v")[0]
    lab.check(st in (200, 201) and all(
        cl.wait_until(lambda: value_of(h, key) == "v", 10) for h in hosts),
        "the remaining hosts still replicate a write")
    gone.stop()


def post_member(h, url):
    body = '{"peerURLs":["%s"]}' % url
    st, _, doc = cl.request(h, "POST", "/v2/members", body=body,
                            headers={"Content-Type": "application/json"})
    return st, doc


def placeholder_comes_back(lab, h):
    """A member added by POST /v2/members that never started held no
    credentials: removed, its peer URL (which names its id) may be added
    again."""
    url = "http://127.0.0.1:%d" % ovldlab.free_port()
    st, doc = post_member(h, url)
    mid = doc.get("id") if st == 201 and isinstance(doc, dict) else None
    lab.check(mid, "POST /v2/members adds an unstarted member", repr(doc))
    if not mid:
        return
    st, _, _ = cl.request(h, "DELETE", "/v2/members/" + mid)
    lab.check(st == 204, "DELETE removes it", str(st))
    st, doc = post_member(h, url)
    lab.check(st == 201, "an unstarted member's peer URL may be added again "
              "after its removal", "%s %r" % (st, doc))
    st, _, _ = cl.request(h, "DELETE", "/v2/members/" + mid)
    lab.check(st == 204, "and removed again", str(st))


# ---- the cluster CA ---------------------------------------------------------

def cluster_ca(lab):
    c = cl.Cluster(lab)
    if not cl.form_three(lab, c):
        return
    h1, h2, h3 = c.hosts
    keep = [h1, h2]
    h3id = member_id(h1, "h3")
    pki = os.path.join(h3.data_dir, "pki")
    creds = creds_dir(lab, "h3", os.path.join(pki, "node.crt"),
                      os.path.join(pki, "node.key"))
    st, why = cl.peer_call(h1, creds, h3id, TERM, b"")
    lab.check(st == 0, "h3's certificate opens h1's peer port while h3 is "
              "a member", repr((st, why)))
    remove(lab, keep, h3, h3id)
    refused_by(lab, keep, creds, h3id, "h3", wait=10)
    if not restart_all(lab, keep):
        return
    refused_by(lab, keep, creds, h3id, "h3")
    comes_back(lab, keep, h3, h3id)
    if cl.start_with_check(lab, "h4 joins after the removal",
                           lambda: c.join("h4", via=h2)):
        refused_by(lab, [c.hosts[-1]], creds, h3id, "h3")
    placeholder_comes_back(lab, h1)
    for h in c.hosts:
        h.stop()


def leader_removed(lab):
    """DELETE of the leader's member sent to a follower: the leader
    removes itself and cannot put that on record any more; the next
    leader does."""
    c = cl.Cluster(lab)
    if not cl.form_three(lab, c):
        return
    ld = c.leader()
    keep = [h for h in c.hosts if h is not ld]
    lid = member_id(keep[0], ld.name)
    pki = os.path.join(ld.data_dir, "pki")
    creds = creds_dir(lab, "leader-" + ld.name, os.path.join(pki, "node.crt"),
                      os.path.join(pki, "node.key"))
    st, _, doc = cl.request(keep[0], "DELETE", "/v2/members/%x" % lid)
    lab.check(st == 204, "DELETE of the leader %s through the follower %s "
              "answers 204" % (ld.name, keep[0].name), "%s %r" % (st, doc))
    for h in keep:
        lab.check(cl.wait_until(lambda: ld.name not in member_names(h), 10),
                  "%s no longer lists %s" % (h.name, ld.name),
                  repr(member_names(h)))
    refused_by(lab, keep, creds, lid, ld.name, wait=10)
    ld.stop()
    if restart_all(lab, keep):
        refused_by(lab, keep, creds, lid, ld.name)
    for h in keep:
        h.stop()


# ---- a static cluster: ids named by peer URLs -------------------------------

def static_cluster(lab):
    c = cl.Cluster(lab)
    try:
        c.static(["s1", "s2", "s3"],
                 extra=["--token", "a-static-cluster-secret"])
    except Exception as e:  # noqa: BLE001 - reported as a check
        lab.check(False, "a static cluster (--initial-cluster, --token) "
                  "forms", str(e))
        return
    lab.check(True, "a static cluster (--initial-cluster, --token) forms")
    s1, s2, s3 = c.hosts
    keep = [s1, s2]
    cl.wait_until(lambda: member_id(s1, "s3"), 10)
    s3id = member_id(s1, "s3")
    pki = os.path.join(s3.data_dir, "pki")
    creds = creds_dir(lab, "s3", os.path.join(pki, "node.crt"),
                      os.path.join(pki, "node.key"))
    remove(lab, keep, s3, s3id)
    refused_by(lab, keep, creds, s3id, "s3", wait=10)
    if not restart_all(lab, keep):
        return
    refused_by(lab, keep, creds, s3id, "s3")
    comes_back(lab, keep, s3, s3id)
    st, doc = post_member(s1, s3.peer_url)
    lab.check(st == 409, "POST /v2/members with s3's peer URL (its removed "
              "id again) is refused", "%s %r" % (st, doc))
    lab.check(all(int(m["id"], 16) != s3id for m in cl.members(s1) or []),
              "s3's id is not listed", repr(cl.members(s1)))
    for h in keep:
        h.stop()


# ---- the user's own PKI -----------------------------------------------------

def own_pki(lab):
    ours = Pki(lab.dir, "ours")
    c = cl.Cluster(lab)
    flags = {n: ours.flags(n) for n in ("p1", "p2", "p3", "p4")}
    if not (cl.start_with_check(lab, "p1 bootstraps with its own PKI",
                                lambda: c.bootstrap("p1",
                                                    extra=flags["p1"])) and
            cl.start_with_check(lab, "p2 joins with its own PKI",
                                lambda: c.join("p2", extra=flags["p2"])) and
            cl.start_with_check(lab, "p3 joins with its own PKI",
                                lambda: c.join("p3", extra=flags["p3"]))):
        return
    p1, p2, p3 = c.hosts
    keep = [p1, p2]
    p3id = member_id(p1, "p3")
    creds = creds_dir(lab, "p3", ours.path("p3.crt"), ours.path("p3.key"))
    st, why = cl.peer_call(p1, creds, p3id, TERM, b"")
    lab.check(st == 0, "p3's certificate opens p1's peer port while p3 is "
              "a member", repr((st, why)))
    remove(lab, keep, p3, p3id)
    refused_by(lab, keep, creds, p3id, "p3", unclaimed=False, wait=10)
    if not restart_all(lab, keep):
        return
    refused_by(lab, keep, creds, p3id, "p3", unclaimed=False)
    comes_back(lab, keep, p3, p3id)
    if cl.start_with_check(lab, "p4 joins after the removal",
                           lambda: c.join("p4", via=p2,
                                          extra=flags["p4"])):
        refused_by(lab, [c.hosts[-1]], creds, p3id, "p3", unclaimed=False)
    for h in c.hosts:
        h.stop()


def main():
    ovldlab.require_binary("NO_SUCH_ENV_OPENSSL", "openssl",
                           "the user-PKI certificates")
    with cl.Lab("peer-removed") as lab:
        cluster_ca(lab)
        leader_removed(lab)
        static_cluster(lab)
        own_pki(lab)
    lab.finish()


if __name__ == "__main__":
    main()
