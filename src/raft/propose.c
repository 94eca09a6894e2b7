/* propose.c - client commands into the log.
 *
 * On the leader a command goes straight to raft_apply; on a follower it is
 * forwarded (already encoded) to the leader over the internal channel.
 * Either way the request stays pending here until this host applies the
 * entry, so the answer is this host's own view (read-your-writes). With no
 * leader the request waits, up to the request timeout, for one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "command.h"
#include "node.h"

static pending **bucket(raftnode *rn, uint64_t seq)
{
	return &rn->proposals.by_seq[seq % PENDING_BUCKETS];
}

pending *raftnode_pending_find(raftnode *rn, uint64_t seq)
{
	for (pending *p = *bucket(rn, seq); p; p = p->hnext)
		if (p->seq == seq)
			return p;
	return NULL;
}

static void pending_unlink(raftnode *rn, pending *p)
{
	pending **pp = bucket(rn, p->seq);
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	if (p->prev)
		p->prev->next = p->next;
	else
		rn->proposals.oldest = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		rn->proposals.newest = p->prev;
}

static void pending_release(pending *p)
{
	free(p->entry);
	free(p);
}

static void pending_answer(raftnode *rn, pending *p, store_result *res)
{
	pending_unlink(rn, p);
	if (res->error == 300) {
		rn->stats.counters.proposals_failed++;
	} else {
		rn->stats.counters.proposals_ok++;
		metrics_hist_observe(&rn->stats.commit_latency,
				     (uv_hrtime() - p->t0_ns) / 1e9);
	}
	raftnode_done_cb cb = p->cb;
	void *ctx = p->ctx;
	pending_release(p);
	cb(ctx, res);
	free(res); /* the callback owns only the contents */
}

void raftnode_pending_fail(raftnode *rn, pending *p, const char *why)
{
	store_result *res = calloc(1, sizeof(*res));
	res->error = 300;
	res->cause = strdup(why);
	res->index = 0;
	pending_answer(rn, p, res);
}

static void answer_now(raftnode *rn, uint64_t seq, store_result *res)
{
	pending *p = raftnode_pending_find(rn, seq);
	if (p == NULL) {
		store_result_free(res);
		return;
	}
	store_result *copy = malloc(sizeof(*copy));
	*copy = *res;
	pending_answer(rn, p, copy);
}

/* Answers go out at the end of the loop turn, after the commit nudge
 * (end_of_turn.c). */
void raftnode_pending_complete(raftnode *rn, uint64_t seq, store_result *res)
{
	if (rn->proposals.answers_n == rn->proposals.answers_cap) {
		unsigned cap = rn->proposals.answers_cap
				   ? 2 * rn->proposals.answers_cap
				   : 64;
		queued_answer *q =
		    realloc(rn->proposals.answers, cap * sizeof(*q));
		if (q == NULL) {
			answer_now(rn, seq, res);
			return;
		}
		rn->proposals.answers = q;
		rn->proposals.answers_cap = cap;
	}
	rn->proposals.answers[rn->proposals.answers_n++] =
	    (queued_answer){seq, *res};
}

void raftnode_pending_answer_queued(raftnode *rn)
{
	/* an answer's callback may queue more: take the list first */
	queued_answer *q = rn->proposals.answers;
	unsigned n = rn->proposals.answers_n;
	rn->proposals.answers = NULL;
	rn->proposals.answers_n = rn->proposals.answers_cap = 0;
	for (unsigned i = 0; i < n; i++)
		answer_now(rn, q[i].seq, &q[i].res);
	free(q);
}

/* Success is answered from fsm_apply; here only what raft says first. */
static void on_local_done(raftnode *rn, void *ctx, uint64_t seq, int status)
{
	pending *p = raftnode_pending_find(rn, seq);
	(void)ctx;
	if (p == NULL || p->state != PENDING_LOCAL)
		return;
	if (status == 0) {
		p->state = PENDING_APPLYING;
	} else if (status == RAFT_NOTLEADER) {
		p->state =
		    PENDING_UNSENT; /* never appended: the tick resends */
	} else {
		log_debug("raft", "apply failed: %s", raft_strerror(status));
		raftnode_pending_fail(
		    rn, p,
		    status == RAFT_LEADERSHIPLOST
			? "etcdserver: request timed out, possibly due "
			  "to previous leader failure"
			: "etcdserver: request timed out");
	}
}

static int send_pending(raftnode *rn, pending *p)
{
	raft_id leader = 0;
	const char *addr;
	raft_leader(rn->raft, &leader, &addr);
	if (leader == 0)
		return -1;
	if (leader == rn->id) {
		if (raftnode_batch_add(rn, p->entry, p->entry_len,
				       on_local_done, NULL, p->seq) != 0)
			return -1;
		p->state = PENDING_LOCAL;
		return 0;
	}
	return raftnode_forward_add(rn, p); /* sent at the end of the turn */
}

int raftnode_propose(raftnode *rn, const store_cmd *cmd, raftnode_done_cb cb,
		     void *ctx)
{
	if (rn->closing || !(rn->raft_started || raftnode_preload_running(rn)))
		return -1;
	pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	command c = {
	    .origin = rn->id, .seq = rn->proposals.next_seq++, .cmd = *cmd};
	void *raw;
	if (raftnode_command_encode(&c, &raw, &p->entry_len) != 0) {
		free(p);
		return -1;
	}
	/* Keep a plain malloc copy: raft takes raft_malloc buffers. */
	p->entry = malloc(p->entry_len);
	memcpy(p->entry, raw, p->entry_len);
	raft_free(raw);
	p->rn = rn;
	p->seq = c.seq;
	p->cb = cb;
	p->ctx = ctx;
	p->deadline_ms = raftnode_now_ms(rn) + rn->cfg.request_timeout_ms;
	p->t0_ns = uv_hrtime();
	p->hnext = *bucket(rn, p->seq);
	*bucket(rn, p->seq) = p;
	p->prev = rn->proposals.newest;
	if (rn->proposals.newest)
		rn->proposals.newest->next = p;
	else
		rn->proposals.oldest = p;
	rn->proposals.newest = p;
	send_pending(rn, p);
	return 0;
}

void raftnode_pending_tick(raftnode *rn)
{
	uint64_t now = raftnode_now_ms(rn);
	pending *next;
	for (pending *p = rn->proposals.oldest; p; p = next) {
		next = p->next;
		if (now >= p->deadline_ms) {
			raftnode_pending_fail(
			    rn, p,
			    p->state == PENDING_UNSENT
				? "etcdserver: no leader"
				: "etcdserver: request timed out");
			continue;
		}
		if (p->state == PENDING_UNSENT)
			send_pending(rn, p);
	}
}

void raftnode_pending_fail_all(raftnode *rn, const char *why)
{
	raftnode_pending_answer_queued(rn);
	while (rn->proposals.oldest)
		raftnode_pending_fail(rn, rn->proposals.oldest, why);
}
