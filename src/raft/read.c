/* read.c - linearizable (quorum=true) reads.
 *
 * canonical/raft 0.15 has no ReadIndex, so a read point is a barrier on
 * the leader: once it is applied, every write committed before the read
 * arrived is applied too. Reads that arrive while a barrier is in flight
 * wait for the next one (one barrier serves a whole batch). A follower asks
 * the leader for a barrier and then waits until it has applied up to the
 * index the leader reports. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static void finish_list(read_waiter **list, int status, const char *why)
{
	read_waiter *w = *list;
	*list = NULL;
	while (w) {
		read_waiter *next = w->next;
		w->cb(w->ctx, status, why);
		free(w);
		w = next;
	}
}

/* Waiters whose batch is done move here until the local apply catches up
 * with the leader's index. */
static void await_index(raftnode *rn, read_waiter *list, uint64_t index)
{
	while (list) {
		read_waiter *next = list->next;
		list->index = index;
		list->next = rn->read_applying;
		rn->read_applying = list;
		list = next;
	}
	read_after_apply(rn);
}

void read_after_apply(raftnode *rn)
{
	/* Inside fsm_apply raft has not bumped last_applied yet, but the
	 * store already recorded the entry; barriers only move raft's. */
	uint64_t applied = raft_last_applied(&rn->raft);
	uint64_t stored = store_applied_raft_index(rn->st);
	if (stored > applied)
		applied = stored;
	read_waiter **pp = &rn->read_applying;
	while (*pp) {
		read_waiter *w = *pp;
		if (w->index <= applied) {
			*pp = w->next;
			w->cb(w->ctx, 0, NULL);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void issue_barrier(raftnode *rn);

/* Reads queued during one loop turn share one barrier, issued with the
 * turn's other batched work (batch.c's idle handle, which runs after the
 * turn's callbacks). Issued at once, the first read of a turn got a
 * barrier of its own and the rest waited for the next one. */
static void schedule_barrier(raftnode *rn)
{
	if (!rn->barrier_busy)
		batch_kick(rn);
}

void raftnode_read_flush(raftnode *rn)
{
	if (rn->read_next && !rn->barrier_busy && !rn->closing)
		issue_barrier(rn);
}

static void batch_end(raftnode *rn, int ok, uint64_t index, const char *why)
{
	read_waiter *batch = rn->read_inflight;
	rn->read_inflight = NULL;
	rn->barrier_busy = 0;
	if (ok)
		await_index(rn, batch, index);
	else
		finish_list(&batch, -1, why);
}

static void batch_done(raftnode *rn, int ok, uint64_t index, const char *why)
{
	batch_end(rn, ok, index, why);
	if (rn->read_next)
		schedule_barrier(rn);
}

static void on_barrier(struct raft_barrier *req, int status)
{
	raftnode *rn = req->data;
	if (status == 0) {
		batch_done(rn, 1, raft_last_applied(&rn->raft), NULL);
		return;
	}
	/* raft fails barriers while it steps down, still calling itself
	 * leader: a new raft_barrier from here lands in the leader state being
	 * torn down (a SIGSEGV under partitions). The tick issues the next
	 * one. */
	batch_end(rn, 0, 0, "etcdserver: leader changed");
}

static void on_remote_barrier(void *ctx, int status, const char *body,
			      size_t len)
{
	raftnode *rn = ctx;
	if (status == 200)
		batch_done(rn, 1, strtoull(body, NULL, 10), NULL);
	else
		batch_done(rn, 0, 0, "etcdserver: no leader for quorum read");
}

/* A leader that is the only voter cannot be deposed, and every write it
 * acknowledged is applied: its local state is linearizable as it is. */
static int sole_voter(raftnode *rn)
{
	return raft_state(&rn->raft) == RAFT_LEADER &&
	       membership_voters(rn) == 1;
}

static void issue_barrier(raftnode *rn)
{
	raft_id leader = 0;
	const char *addr;
	raft_leader(&rn->raft, &leader, &addr);
	if (leader == 0 || rn->barrier_busy)
		return; /* the tick retries until a leader appears */
	if (leader == rn->id && sole_voter(rn)) {
		/* No barrier (an fsync) needed: the read point is the commit
		 * index, as in Raft's ReadIndex with nobody to confirm. */
		read_waiter *list = rn->read_next;
		rn->read_next = NULL;
		await_index(rn, list, rn->raft.commit_index);
		return;
	}
	rn->read_inflight = rn->read_next;
	rn->read_next = NULL;
	rn->barrier_busy = 1;
	rn->read_barriers++;
	if (leader == rn->id) {
		rn->barrier.data = rn;
		if (raft_barrier(&rn->raft, &rn->barrier, on_barrier) != 0)
			batch_done(rn, 0, 0, "etcdserver: leader changed");
		return;
	}
	char hostport[64];
	if (membership_client_url(rn, leader, hostport, sizeof(hostport)) !=
		0 ||
	    client_post(rn->cl, hostport, "/ovld/v1/barrier", "", 0,
			on_remote_barrier, rn) != 0)
		batch_done(rn, 0, 0, "etcdserver: leader unreachable");
}

int raftnode_quorum_read(raftnode *rn, raftnode_read_cb cb, void *ctx)
{
	if (rn->closing || !rn->raft_started)
		return -1;
	read_waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->cb = cb;
	w->ctx = ctx;
	w->deadline_ms = raftnode_now_ms(rn) + rn->cfg.request_timeout_ms;
	w->next = rn->read_next;
	rn->read_next = w;
	schedule_barrier(rn);
	return 0;
}

static void expire_list(read_waiter **pp, uint64_t now)
{
	while (*pp) {
		read_waiter *w = *pp;
		if (now >= w->deadline_ms) {
			*pp = w->next;
			w->cb(w->ctx, -1, "etcdserver: request timed out");
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void read_tick(raftnode *rn)
{
	uint64_t now = raftnode_now_ms(rn);
	expire_list(&rn->read_next, now);
	expire_list(&rn->read_inflight, now);
	expire_list(&rn->read_applying, now);
	if (rn->read_next && !rn->barrier_busy)
		issue_barrier(rn);
	read_after_apply(rn);
}

void read_fail_all(raftnode *rn, const char *why)
{
	finish_list(&rn->read_next, -1, why);
	finish_list(&rn->read_inflight, -1, why);
	finish_list(&rn->read_applying, -1, why);
}

/* Leader side of a follower's barrier request. */
typedef struct remote_barrier {
	struct raft_barrier req;
	raftnode *rn;
	raftnode_reply_cb reply;
	void *ctx;
} remote_barrier;

static void on_remote_barrier_done(struct raft_barrier *req, int status)
{
	remote_barrier *rb = req->data;
	char body[32];
	if (status == 0) {
		int n = snprintf(body, sizeof(body), "%" PRIu64,
				 (uint64_t)raft_last_applied(&rb->rn->raft));
		rb->reply(rb->ctx, 200, "text/plain", body, n);
	} else {
		rb->reply(rb->ctx, 503, "text/plain", "leader changed\n", 15);
	}
	free(rb);
}

void read_internal(raftnode *rn, raftnode_reply_cb reply, void *ctx)
{
	if (raft_state(&rn->raft) != RAFT_LEADER) {
		reply(ctx, 503, "text/plain", "not leader\n", 11);
		return;
	}
	remote_barrier *rb = calloc(1, sizeof(*rb));
	rb->rn = rn;
	rb->reply = reply;
	rb->ctx = ctx;
	rb->req.data = rb;
	if (raft_barrier(&rn->raft, &rb->req, on_remote_barrier_done) != 0) {
		free(rb);
		reply(ctx, 503, "text/plain", "not leader\n", 11);
	}
}
