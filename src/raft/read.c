/* read.c - linearizable (quorum=true) reads.
 *
 * canonical/raft 0.15 has no ReadIndex, so a read point is a barrier on
 * the leader: once it is applied, every write committed before the read
 * arrived is applied too. One barrier serves a loop turn's reads. On the
 * leader, a turn's barrier does not wait for the previous turn's (up to
 * LEADER_BARRIERS in flight): a barrier costs a disk write on a majority,
 * and reads arriving just after one left would otherwise wait for it and
 * then for their own. libraft writes barriers queued meanwhile together.
 * Once a barrier of the leader's term has been applied, later batches
 * take no disk write at all: their read point is the commit index when
 * they leave, used once a majority of voters have answered, after that,
 * that their term is still the leader's (Raft's ReadIndex, thesis 6.4: no
 * leader of a newer term can exist then, and every write acknowledged
 * before the reads arrived is at or below that index).
 * A follower asks the leader for a barrier, one at a time, and then waits
 * until it has applied up to the index the leader reports. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../byteorder.h"
#include "node.h"

#define LEADER_BARRIERS 4

/* A leader's barrier or term confirmation and the reads it serves. */
typedef struct read_batch {
	struct raft_barrier req;
	raftnode *rn;
	read_waiter *list;
	struct read_batch *next;
	uint64_t index, term;	  /* confirmation: read point, our term */
	unsigned voters;	  /* in the configuration it asked */
	unsigned asked, answered; /* requests to the other voters */
	unsigned agreed;	  /* answers with our term, us included */
} read_batch;

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
		list->next = rn->reads.applying;
		rn->reads.applying = list;
		list = next;
	}
	raftnode_read_after_apply(rn);
}

void raftnode_read_after_apply(raftnode *rn)
{
	/* Inside fsm_apply raft has not bumped last_applied yet, but the
	 * store already recorded the entry; barriers only move raft's, and a
	 * follower may have applied ahead of raft (commit_early). */
	uint64_t applied = raftnode_commit_early_applied(&rn->early);
	uint64_t stored = store_applied_raft_index(rn->st);
	if (stored > applied)
		applied = stored;
	read_waiter **pp = &rn->reads.applying;
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

/* Whether a barrier for the queued reads can leave now. */
static int can_issue(raftnode *rn)
{
	return !rn->reads.barrier_busy && rn->reads.batches_n < LEADER_BARRIERS;
}

/* Reads queued during one loop turn share one barrier, issued with the
 * turn's other batched work (batch.c's idle handle, which runs after the
 * turn's callbacks). Issued at once, the first read of a turn got a
 * barrier of its own and the rest waited for the next one. */
static void schedule_barrier(raftnode *rn)
{
	if (can_issue(rn))
		raftnode_batch_kick(rn);
}

void raftnode_read_flush(raftnode *rn)
{
	if (rn->reads.next && can_issue(rn) && !rn->closing)
		issue_barrier(rn);
}

static void batch_end(raftnode *rn, int ok, uint64_t index, const char *why)
{
	read_waiter *batch = rn->reads.inflight;
	rn->reads.inflight = NULL;
	rn->reads.barrier_busy = 0;
	if (ok)
		await_index(rn, batch, index);
	else
		finish_list(&batch, -1, why);
}

static void batch_done(raftnode *rn, int ok, uint64_t index, const char *why)
{
	batch_end(rn, ok, index, why);
	if (rn->reads.next)
		schedule_barrier(rn);
}

static void unlink_batch(raftnode *rn, read_batch *b)
{
	read_batch **pp = &rn->reads.batches;
	while (*pp != b)
		pp = &(*pp)->next;
	*pp = b->next;
	rn->reads.batches_n--;
}

static void on_barrier(struct raft_barrier *req, int status)
{
	read_batch *b = req->data;
	raftnode *rn = b->rn;
	unlink_batch(rn, b);
	if (status == 0) {
		if (raft_state(rn->raft) == RAFT_LEADER)
			rn->reads.term = rn->raft->current_term;
		await_index(rn, b->list, raft_last_applied(rn->raft));
		free(b);
		if (rn->reads.next)
			schedule_barrier(rn);
		return;
	}
	/* raft fails barriers while it steps down, still calling itself
	 * leader: a new raft_barrier from here lands in the leader state being
	 * torn down (a SIGSEGV under partitions). The tick issues the next
	 * one. */
	finish_list(&b->list, -1, "etcdserver: leader changed");
	free(b);
}

static void add_batch(raftnode *rn, read_batch *b)
{
	rn->reads.next = NULL;
	b->next = rn->reads.batches;
	rn->reads.batches = b;
	rn->reads.batches_n++;
}

static void leader_barrier(raftnode *rn)
{
	read_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return; /* the tick retries */
	b->rn = rn;
	b->req.data = b;
	b->list = rn->reads.next;
	rn->stats.read_barriers++;
	if (raft_barrier(rn->raft, &b->req, on_barrier) != 0) {
		free(b);
		finish_list(&rn->reads.next, -1, "etcdserver: leader changed");
		return;
	}
	add_batch(rn, b);
}

/* Confirmation by term needs an entry of this term applied (0.15 appends
 * none at election, so the commit index may lag behind an earlier
 * leader's) and a settled configuration. */
static int can_confirm(raftnode *rn)
{
	return rn->reads.term == rn->raft->current_term &&
	       rn->raft->configuration_uncommitted_index == 0;
}

static void confirmed(raftnode *rn, read_batch *b)
{
	if (b->list == NULL || 2 * b->agreed <= b->voters ||
	    raft_state(rn->raft) != RAFT_LEADER ||
	    rn->raft->current_term != b->term)
		return;
	read_waiter *list = b->list;
	b->list = NULL;
	await_index(rn, list, b->index);
}

/* Not confirmed after all answers: the reads go back for a barrier. */
static void unconfirmed(raftnode *rn, read_batch *b)
{
	read_waiter **tail = &b->list;
	while (*tail)
		tail = &(*tail)->next;
	*tail = rn->reads.next;
	rn->reads.next = b->list;
	b->list = NULL;
	rn->reads.term = 0;
}

/* Terms travel as 8 bytes, big-endian. */
static void on_term(void *ctx, int answer, const void *body, size_t len)
{
	read_batch *b = ctx;
	raftnode *rn = b->rn;
	b->answered++;
	if (answer == RAFTNODE_DONE && len == 8 && get_be64(body) == b->term)
		b->agreed++;
	confirmed(rn, b);
	if (b->answered < b->asked)
		return;
	unlink_batch(rn, b);
	if (b->list)
		unconfirmed(rn, b);
	free(b);
	if (rn->reads.next)
		schedule_barrier(rn);
}

static void ask_voters(raftnode *rn, read_batch *b)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	for (unsigned i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];
		if (s->role != RAFT_VOTER || s->id == rn->id)
			continue;
		b->voters++;
		if (raftnode_send(rn, s->id, RAFTNODE_TERM, NULL, 0, on_term,
				  b) == 0)
			b->asked++;
	}
}

static void leader_confirm(raftnode *rn)
{
	read_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return; /* the tick retries */
	b->rn = rn;
	b->list = rn->reads.next;
	b->index = rn->raft->commit_index;
	b->term = rn->raft->current_term;
	b->voters = b->agreed = 1; /* this host */
	rn->stats.read_barriers++;
	add_batch(rn, b);
	ask_voters(rn, b);
	if (b->asked == 0) { /* nobody to ask: a barrier decides */
		unlink_batch(rn, b);
		unconfirmed(rn, b);
		free(b);
	}
}

/* The leader's applied index travels as 8 bytes, big-endian. */
static void on_remote_barrier(void *ctx, int answer, const void *body,
			      size_t len)
{
	raftnode *rn = ctx;
	if (answer == RAFTNODE_DONE && len == 8)
		batch_done(rn, 1, get_be64(body), NULL);
	else
		batch_done(rn, 0, 0, "etcdserver: no leader for quorum read");
}

/* A leader that is the only voter cannot be deposed, and every write it
 * acknowledged is applied: its local state is linearizable as it is. */
static int sole_voter(raftnode *rn)
{
	return raft_state(rn->raft) == RAFT_LEADER &&
	       membership_voters(rn) == 1;
}

static void issue_barrier(raftnode *rn)
{
	raft_id leader = 0;
	const char *addr;
	raft_leader(rn->raft, &leader, &addr);
	if (leader == 0 || !can_issue(rn))
		return; /* the tick retries until a leader appears */
	if (leader == rn->id && sole_voter(rn)) {
		/* No barrier (an fsync) needed: the read point is the commit
		 * index, as in Raft's ReadIndex with nobody to confirm. */
		read_waiter *list = rn->reads.next;
		rn->reads.next = NULL;
		await_index(rn, list, rn->raft->commit_index);
		return;
	}
	if (leader == rn->id) {
		if (can_confirm(rn))
			leader_confirm(rn);
		else
			leader_barrier(rn);
		return;
	}
	rn->reads.inflight = rn->reads.next;
	rn->reads.next = NULL;
	rn->reads.barrier_busy = 1;
	rn->stats.read_barriers++;
	if (raftnode_send(rn, leader, RAFTNODE_BARRIER, NULL, 0,
			  on_remote_barrier, rn) != 0)
		batch_done(rn, 0, 0, "etcdserver: leader unreachable");
}

int raftnode_quorum_read(raftnode *rn, raftnode_read_cb cb, void *ctx)
{
	if (rn->closing || !(rn->raft_started || raftnode_preload_running(rn)))
		return -1;
	read_waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->cb = cb;
	w->ctx = ctx;
	w->deadline_ms = raftnode_now_ms(rn) + rn->cfg.request_timeout_ms;
	w->next = rn->reads.next;
	rn->reads.next = w;
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

void raftnode_read_tick(raftnode *rn)
{
	uint64_t now = raftnode_now_ms(rn);
	expire_list(&rn->reads.next, now);
	expire_list(&rn->reads.inflight, now);
	for (read_batch *b = rn->reads.batches; b; b = b->next)
		expire_list(&b->list, now);
	expire_list(&rn->reads.applying, now);
	if (rn->reads.next && can_issue(rn))
		issue_barrier(rn);
	raftnode_read_after_apply(rn);
}

void raftnode_read_fail_all(raftnode *rn, const char *why)
{
	finish_list(&rn->reads.next, -1, why);
	finish_list(&rn->reads.inflight, -1, why);
	/* the batches themselves go when raft fails their barriers */
	for (read_batch *b = rn->reads.batches; b; b = b->next)
		finish_list(&b->list, -1, why);
	finish_list(&rn->reads.applying, -1, why);
}

/* Leader side of a follower's barrier request. */
typedef struct remote_barrier {
	struct raft_barrier req;
	raftnode *rn;
	raftnode_answer_cb cb;
	void *ctx;
} remote_barrier;

static void answer_u64(raftnode_answer_cb cb, void *ctx, uint64_t v)
{
	unsigned char body[8];
	put_be64(body, v);
	cb(ctx, RAFTNODE_DONE, body, sizeof(body));
}

static void on_remote_barrier_done(struct raft_barrier *req, int status)
{
	remote_barrier *rb = req->data;
	if (status == 0)
		answer_u64(rb->cb, rb->ctx, raft_last_applied(rb->rn->raft));
	else
		rb->cb(rb->ctx, RAFTNODE_NOT_LEADER, "leader changed", 14);
	free(rb);
}

/* Any host: its current term, for a leader confirming a read point. */
void raftnode_read_serve_term(raftnode *rn, raftnode_answer_cb cb, void *ctx)
{
	answer_u64(cb, ctx, rn->raft->current_term);
}

void raftnode_read_serve_barrier(raftnode *rn, raftnode_answer_cb cb, void *ctx)
{
	remote_barrier *rb =
	    raft_state(rn->raft) == RAFT_LEADER ? calloc(1, sizeof(*rb)) : NULL;
	if (rb == NULL) {
		cb(ctx, RAFTNODE_NOT_LEADER, "not leader", 10);
		return;
	}
	rb->rn = rn;
	rb->cb = cb;
	rb->ctx = ctx;
	rb->req.data = rb;
	if (raft_barrier(rn->raft, &rb->req, on_remote_barrier_done) != 0) {
		free(rb);
		cb(ctx, RAFTNODE_NOT_LEADER, "not leader", 10);
	}
}
