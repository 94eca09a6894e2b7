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
	return &rn->buckets[seq % PENDING_BUCKETS];
}

static pending *pending_find(raftnode *rn, uint64_t seq)
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
		rn->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		rn->tail = p->prev;
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
		rn->counters.proposals_failed++;
	} else {
		rn->counters.proposals_ok++;
		metrics_hist_observe(&rn->commit_latency,
				     (uv_hrtime() - p->t0_ns) / 1e9);
	}
	raftnode_done_cb cb = p->cb;
	void *ctx = p->ctx;
	pending_release(p);
	cb(ctx, res);
	free(res); /* the callback owns only the contents */
}

static void pending_fail(raftnode *rn, pending *p, const char *why)
{
	store_result *res = calloc(1, sizeof(*res));
	res->error = 300;
	res->cause = strdup(why);
	res->index = 0;
	pending_answer(rn, p, res);
}

void pending_complete(raftnode *rn, uint64_t seq, store_result *res)
{
	pending *p = pending_find(rn, seq);
	if (p == NULL) {
		store_result_free(res);
		return;
	}
	store_result *copy = malloc(sizeof(*copy));
	*copy = *res;
	pending_answer(rn, p, copy);
}

/* Success is answered from fsm_apply; here only what raft says first. */
static void on_local_done(raftnode *rn, void *ctx, uint64_t seq, int status)
{
	pending *p = pending_find(rn, seq);
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
		pending_fail(
		    rn, p,
		    status == RAFT_LEADERSHIPLOST
			? "etcdserver: request timed out, possibly due "
			  "to previous leader failure"
			: "etcdserver: request timed out");
	}
}

static void on_forwarded(void *ctx, int status, const char *body, size_t len)
{
	raftnode *rn = NULL;
	uint64_t seq = 0;
	uintptr_t *cookie = ctx;
	rn = (raftnode *)cookie[0];
	seq = cookie[1];
	free(cookie);
	pending *p = pending_find(rn, seq);
	if (p == NULL || p->state != PENDING_REMOTE)
		return;
	if (status == 200) {
		p->state = PENDING_APPLYING; /* our own apply answers */
		return;
	}
	if (status == 503) {
		/* The leader moved before taking it: safe to send again. */
		p->state = PENDING_UNSENT;
		return;
	}
	if (status < 0) {
		/* It may or may not have been appended: never send twice. */
		pending_fail(rn, p, "etcdserver: leader unreachable");
		return;
	}
	pending_fail(rn, p, len ? body : "etcdserver: forwarding failed");
}

static int send_pending(raftnode *rn, pending *p)
{
	raft_id leader = 0;
	const char *addr;
	raft_leader(&rn->raft, &leader, &addr);
	if (leader == 0)
		return -1;
	if (leader == rn->id) {
		if (batch_add(rn, p->entry, p->entry_len, on_local_done, NULL,
			      p->seq) != 0)
			return -1;
		p->state = PENDING_LOCAL;
		return 0;
	}
	char hostport[64];
	if (membership_client_url(rn, leader, hostport, sizeof(hostport)) != 0)
		return -1;
	uintptr_t *cookie = malloc(2 * sizeof(*cookie));
	cookie[0] = (uintptr_t)rn;
	cookie[1] = p->seq;
	p->state = PENDING_REMOTE;
	if (client_post(rn->cl, hostport, "/ovld/v1/propose", p->entry,
			p->entry_len, on_forwarded, cookie) != 0) {
		free(cookie);
		p->state = PENDING_UNSENT;
		return -1;
	}
	return 0;
}

int raftnode_propose(raftnode *rn, const store_cmd *cmd, raftnode_done_cb cb,
		     void *ctx)
{
	if (rn->closing || !rn->raft_started)
		return -1;
	pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	command c = {.origin = rn->id, .seq = rn->next_seq++, .cmd = *cmd};
	void *raw;
	if (command_encode(&c, &raw, &p->entry_len) != 0) {
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
	p->prev = rn->tail;
	if (rn->tail)
		rn->tail->next = p;
	else
		rn->head = p;
	rn->tail = p;
	send_pending(rn, p);
	return 0;
}

void pending_tick(raftnode *rn)
{
	uint64_t now = raftnode_now_ms(rn);
	pending *next;
	for (pending *p = rn->head; p; p = next) {
		next = p->next;
		if (now >= p->deadline_ms) {
			pending_fail(rn, p,
				     p->state == PENDING_UNSENT
					 ? "etcdserver: no leader"
					 : "etcdserver: request timed out");
			continue;
		}
		if (p->state == PENDING_UNSENT)
			send_pending(rn, p);
	}
}

void pending_fail_all(raftnode *rn, const char *why)
{
	while (rn->head)
		pending_fail(rn, rn->head, why);
}

/* Leader side of a forwarded command. */
typedef struct remote_apply {
	raftnode_reply_cb reply;
	void *ctx;
} remote_apply;

static void reply_text(raftnode_reply_cb reply, void *ctx, int status,
		       const char *text)
{
	reply(ctx, status, "text/plain", text, strlen(text));
}

static void on_remote_done(raftnode *rn, void *ctx, uint64_t tag, int status)
{
	remote_apply *ra = ctx;
	(void)rn, (void)tag;
	if (status == 0)
		reply_text(ra->reply, ra->ctx, 200, "ok\n");
	else if (status == RAFT_NOTLEADER)
		reply_text(ra->reply, ra->ctx, 503, "not leader\n");
	else
		reply_text(ra->reply, ra->ctx, 500,
			   "etcdserver: request timed out, possibly due to "
			   "previous leader failure");
	free(ra);
}

void propose_internal(raftnode *rn, const char *body, size_t len,
		      raftnode_reply_cb reply, void *ctx)
{
	command c;
	if (command_decode(body, len, &c) != 0) {
		reply_text(reply, ctx, 400, "bad command\n");
		return;
	}
	if (raft_state(&rn->raft) != RAFT_LEADER) {
		reply_text(reply, ctx, 503, "not leader\n");
		return;
	}
	/* A forward stuck in TCP retransmission (a healed partition) can
	 * arrive long after the proposer answered "timed out"; applying it
	 * then would surprise the client, so refuse what is clearly stale.
	 * The margin absorbs modest clock skew between hosts. */
	int64_t age_ms = (raftnode_wall_ns() - c.cmd.now_ns) / 1000000;
	if (c.cmd.now_ns > 0 &&
	    age_ms > (int64_t)rn->cfg.request_timeout_ms + 1000) {
		log_warn("raft",
			 "refusing a forwarded command proposed %lld ms ago "
			 "(late delivery, or clocks apart)",
			 (long long)age_ms);
		reply_text(reply, ctx, 408, "etcdserver: request timed out");
		return;
	}
	remote_apply *ra = calloc(1, sizeof(*ra));
	if (ra == NULL ||
	    batch_add(rn, body, len, on_remote_done, ra, 0) != 0) {
		free(ra);
		reply_text(reply, ctx, 503, "not leader\n");
		return;
	}
	ra->reply = reply;
	ra->ctx = ctx;
}
