/* install.c - a follower's answer to an installed snapshot goes to a real
 * leader address.
 *
 * libraft 0.15 answers an InstallSnapshot from installSnapshotCb, once the
 * snapshot is on disk, with the leader taken from follower_state, without
 * checking that the host is still a follower. follower_state shares a
 * union with candidate_state: if the election timer fired during the
 * install (a host restarting under load), the "leader address" it reads is
 * candidate_state's flags, 0x100 with pre-vote on, and the uv transport
 * crashes in strlen (docs/reliability.md; seen in test_cluster_failover and
 * the long fault runs). A follower whose leader was cleared meanwhile (a
 * newer term) has a NULL address, with the same end.
 *
 * The io's snapshot_put is wrapped: an install (trailing 0) records who sent
 * it, and if the host is not a follower with a known leader when the write
 * completes, the leader fields are set to that sender just for libraft's
 * callback, and the state's own bytes are put back after it.
 *
 * Upstream: canonical/raft#339 (the same 0x100 address in uvClientInit),
 * fixed by #342 (answer only as a follower), #353 (no candidacy while a
 * snapshot installs) and #357 (a new term: install, do not answer), all in
 * v0.17.1. Still needed with 0.15: test_cluster_failover crashed a
 * restarting host in 2 runs of 27 without it; test_raft_install drives the
 * two cases (candidate, cleared leader) against the wrapper. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../../log.h"
#include "../node.h"

static raftnode *node_of_io(struct raft_io *io)
{
	return (raftnode *)((char *)io - offsetof(raftnode, io));
}

/* The wrap is on rn's own raft_uv io only (init_raft), so req is in
 * rn->own. */
static raftnode *node_of_put(struct raft_io_snapshot_put *req)
{
	struct raft *r =
	    (struct raft *)((char *)req - offsetof(struct raft, snapshot.put));
	return (raftnode *)((char *)r - offsetof(raftnode, own));
}

static int leader_known(const struct raft *r)
{
	return r->state == RAFT_FOLLOWER &&
	       r->follower_state.current_leader.address != NULL;
}

static void install_done(struct raft_io_snapshot_put *req, int status)
{
	raftnode *rn = node_of_put(req);
	struct raft *r = rn->raft;
	raft_io_snapshot_put_cb cb = rn->install.cb;
	rn->install.cb = NULL;
	if (r->state == RAFT_UNAVAILABLE || leader_known(r)) {
		cb(req, status);
		goto out;
	}
	log_info("raft",
		 "snapshot installed while %s: answering its sender %016llx",
		 r->state == RAFT_FOLLOWER    ? "no leader is known"
		 : r->state == RAFT_CANDIDATE ? "a candidate"
					      : "the leader",
		 (unsigned long long)rn->install.leader_id);
	unsigned char saved[sizeof(r->follower_state)];
	memcpy(saved, &r->follower_state, sizeof(saved));
	r->follower_state.current_leader.id = rn->install.leader_id;
	r->follower_state.current_leader.address = rn->install.leader_addr;
	cb(req, status);
	memcpy(&r->follower_state, saved, sizeof(saved));
out:
	free(rn->install.leader_addr);
	rn->install.leader_addr = NULL;
}

static int put_snapshot(struct raft_io *io, unsigned trailing,
			struct raft_io_snapshot_put *req,
			const struct raft_snapshot *snapshot,
			raft_io_snapshot_put_cb cb)
{
	raftnode *rn = node_of_io(io);
	struct raft *r = rn->raft;
	/* trailing 0 is an install from a leader; anything else is ours. */
	if (trailing != 0 || !leader_known(r) || rn->install.cb != NULL)
		return rn->install.uv_put(io, trailing, req, snapshot, cb);
	char *addr = strdup(r->follower_state.current_leader.address);
	if (addr == NULL)
		return RAFT_NOMEM;
	rn->install.leader_id = r->follower_state.current_leader.id;
	rn->install.leader_addr = addr;
	rn->install.cb = cb;
	int rv = rn->install.uv_put(io, 0, req, snapshot, install_done);
	if (rv != 0) {
		rn->install.cb = NULL;
		free(rn->install.leader_addr);
		rn->install.leader_addr = NULL;
	}
	return rv;
}

void raftnode_install_wrap_io(raftnode *rn)
{
	rn->install.uv_put = rn->io.snapshot_put;
	rn->io.snapshot_put = put_snapshot;
}

void raftnode_install_free(raftnode *rn)
{
	free(rn->install.leader_addr);
	rn->install.leader_addr = NULL;
}
