/* leader.c - duties of the leader: TTL expiry, and telling followers
 * about commits at once.
 *
 * Expiry is decided once, by the leader, and replicated: every 500 ms, if
 * anything is due, it proposes an expire command carrying the time it
 * sweeps at, so every host expires exactly the same nodes. */
#include <stdlib.h>

#include "../log.h"
#include "node.h"

#define EXPIRY_INTERVAL_MS 500

static void on_expired(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->expiry_inflight = 0;
	if (res->error == 300)
		log_debug("raft", "expiry sweep failed: %s",
			  res->cause ? res->cause : "");
	store_result_free(res);
}

static void on_expiry_timer(uv_timer_t *t)
{
	raftnode *rn = t->data;
	if (rn->closing || rn->expiry_inflight ||
	    raft_state(&rn->raft) != RAFT_LEADER)
		return;
	int64_t due = store_next_expiry(rn->st);
	int64_t now = raftnode_wall_ns();
	if (due == 0 || due > now)
		return;
	store_cmd cmd = {.op = STORE_OP_EXPIRE,
			 .path = "/",
			 .path_len = 1,
			 .now_ns = now,
			 .prev_exist = -1};
	if (raftnode_propose(rn, &cmd, on_expired, rn) == 0)
		rn->expiry_inflight = 1;
}

static void on_nudged(struct raft_barrier *req, int status)
{
	raftnode *rn = req->data;
	rn->nudge_inflight = 0;
}

/* Every loop turn ends here (a uv_check handle, on every host).
 * canonical/raft 0.15 sends a new commit index only with the next
 * AppendEntries, up to a heartbeat later, so watches on followers would
 * lag by a heartbeat. After a loop turn that applied entries, the leader
 * appends a barrier, whose AppendEntries carries the commit index now. At
 * most one is in flight, so under load it costs one entry per round.
 * Writes already queued for the next batch (batch.c) do the same job, so
 * they go to raft here instead of a barrier, a turn earlier. */
static void on_check(uv_check_t *h)
{
	raftnode *rn = h->data;
	store_flush(rn->st); /* the turn's applied entries, one commit */
	if (!rn->nudge_wanted || rn->nudge_inflight || rn->closing)
		return;
	rn->nudge_wanted = 0;
	if (raft_state(&rn->raft) != RAFT_LEADER ||
	    rn->raft.configuration.n < 2)
		return;
	if (batch_flush_now(rn))
		return; /* their AppendEntries carries the commit index */
	rn->nudge.data = rn;
	if (raft_barrier(&rn->raft, &rn->nudge, on_nudged) == 0)
		rn->nudge_inflight = 1;
}

void nudge_start(raftnode *rn)
{
	uv_check_init(rn->loop, &rn->nudge_check);
	rn->nudge_check.data = rn;
	uv_check_start(&rn->nudge_check, on_check);
	uv_unref((uv_handle_t *)&rn->nudge_check);
}

void expiry_start(raftnode *rn)
{
	uv_timer_start(&rn->expiry_timer, on_expiry_timer, EXPIRY_INTERVAL_MS,
		       EXPIRY_INTERVAL_MS);
}
