/* leader.c - the leader's own duty: TTL expiry (the end of each loop turn,
 * with its commit nudge, is in end_of_turn.c).
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
	rn->expiry.inflight = 0;
	if (res->error == 300)
		log_debug("raft", "expiry sweep failed: %s",
			  res->cause ? res->cause : "");
	store_result_free(res);
}

static void on_expiry_timer(uv_timer_t *t)
{
	raftnode *rn = t->data;
	if (rn->closing || rn->expiry.inflight ||
	    raft_state(rn->raft) != RAFT_LEADER)
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
		rn->expiry.inflight = 1;
}

void raftnode_expiry_start(raftnode *rn)
{
	uv_timer_start(&rn->expiry.timer, on_expiry_timer, EXPIRY_INTERVAL_MS,
		       EXPIRY_INTERVAL_MS);
}
