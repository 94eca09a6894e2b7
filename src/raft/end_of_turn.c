/* end_of_turn.c - what every loop turn ends with, on every host (a
 * uv_check handle): the store's batch of applied entries is committed, the
 * leader tells the followers about new commits, and only then are the
 * turn's writes answered.
 *
 * canonical/raft 0.15 sends a new commit index only with the next
 * AppendEntries, up to a heartbeat later, so watches on followers would
 * lag by a heartbeat. After a loop turn that applied entries, the leader
 * appends a barrier (the "nudge"), whose AppendEntries carries the commit
 * index now. At most one is in flight, so under load it costs one entry
 * per round. Writes already queued for the next batch (batch.c) do the
 * same job, so they go to raft here instead of a barrier, a turn earlier.
 *
 * Answers wait for the nudge (propose.c queues them): a client told that
 * its write is done can then find it on a follower one network hop later.
 * etcd's leader, too, sends the commit index before it answers. */
#include "node.h"

static void on_nudged(struct raft_barrier *req, int status)
{
	(void)status;
	raftnode *rn = req->data;
	rn->nudge.inflight = 0;
}

static void nudge_followers(raftnode *rn)
{
	if (!rn->nudge.wanted || rn->nudge.inflight || rn->closing)
		return;
	rn->nudge.wanted = 0;
	if (raft_state(rn->raft) != RAFT_LEADER ||
	    rn->raft->configuration.n < 2)
		return;
	if (raftnode_batch_flush_now(rn))
		return; /* their AppendEntries carries the commit index */
	rn->nudge.barrier.data = rn;
	if (raft_barrier(rn->raft, &rn->nudge.barrier, on_nudged) == 0)
		rn->nudge.inflight = 1;
}

static void on_check(uv_check_t *h)
{
	raftnode *rn = h->data;
	store_flush(rn->st); /* the turn's applied entries, one commit */
	nudge_followers(rn);
	raftnode_pending_answer_queued(rn);
}

void raftnode_nudge_start(raftnode *rn)
{
	uv_check_init(rn->loop, &rn->nudge.check);
	rn->nudge.check.data = rn;
	uv_check_start(&rn->nudge.check, on_check);
	uv_unref((uv_handle_t *)&rn->nudge.check);
}
