/* forward.c - writes taken by a follower go to the leader.
 *
 * One request per write would cost a round trip on both hosts per write,
 * and a raft_apply each on the leader. The writes a follower takes during a
 * loop turn are sent together instead, as one RAFTNODE_FORWARD request of
 * length-prefixed commands (the batch idle handle sends them, see
 * batch.c); the leader hands them to raft together and answers one byte,
 * a raftnode_answer, per command. */
#include <stdlib.h>
#include <string.h>

#include "../byteorder.h"
#include "../log.h"
#include "command.h"
#include "node.h"

#define FORWARD_MAX 4096 /* commands per request, either side */

static const char *outcome_text(int answer)
{
	switch (answer) {
	case RAFTNODE_DONE:
		return "ok";
	case RAFTNODE_BAD_REQUEST:
		return "bad command";
	case RAFTNODE_STALE:
		return "etcdserver: request timed out";
	case RAFTNODE_NOT_LEADER:
		return "not leader";
	default:
		return "etcdserver: request timed out, possibly due to "
		       "previous leader failure";
	}
}

/* ---- follower side ---- */

typedef struct fwd_cookie {
	raftnode *rn;
	unsigned n;
	uint64_t seqs[];
} fwd_cookie;

/* One command's fate, as the leader (or the link: -1) told it. */
static void settle(raftnode *rn, uint64_t seq, int answer, const char *why)
{
	pending *p = raftnode_pending_find(rn, seq);
	if (p == NULL || p->state != PENDING_REMOTE)
		return;
	if (answer == RAFTNODE_DONE) {
		p->state = PENDING_APPLYING; /* our own apply answers */
	} else if (answer == RAFTNODE_NOT_LEADER) {
		/* The leader moved before taking it: safe to send again. */
		p->state = PENDING_UNSENT;
	} else if (answer < 0) {
		/* It may or may not have been appended: never send twice. */
		raftnode_pending_fail(rn, p, "etcdserver: leader unreachable");
	} else {
		raftnode_pending_fail(rn, p, why);
	}
}

static void on_forwarded(void *ctx, int answer, const void *body, size_t len)
{
	fwd_cookie *k = ctx;
	const unsigned char *codes = body;
	for (unsigned i = 0; i < k->n; i++) {
		/* DONE: one answer byte per command, in order. */
		int code = answer;
		if (answer == RAFTNODE_DONE)
			code = i < len ? codes[i] : RAFTNODE_FAILED;
		settle(k->rn, k->seqs[i], code,
		       answer >= 0 ? outcome_text(code)
				   : "etcdserver: forwarding failed");
	}
	free(k);
}

/* Sends the queued commands still waiting to the current leader; with no
 * reachable leader they go back to the tick, which resends them. */
void raftnode_forward_flush(raftnode *rn)
{
	unsigned n = rn->forward.n;
	rn->forward.n = 0;
	if (n == 0)
		return;
	fwd_cookie *k = malloc(sizeof(*k) + n * sizeof(k->seqs[0]));
	size_t size = 0;
	unsigned live = 0;
	for (unsigned i = 0; k && i < n; i++) {
		pending *p = raftnode_pending_find(rn, rn->forward.seqs[i]);
		if (p == NULL || p->state != PENDING_REMOTE)
			continue; /* answered meanwhile (timed out) */
		k->seqs[live++] = p->seq;
		size += 4 + p->entry_len;
	}
	raft_id leader = raftnode_leader(rn, NULL, 0);
	char *body = k && live ? malloc(size) : NULL;
	if (body == NULL || leader == 0 || leader == rn->id) {
		for (unsigned i = 0; k && i < live; i++)
			settle(rn, k->seqs[i], RAFTNODE_NOT_LEADER, NULL);
		free(body);
		free(k);
		return;
	}
	size_t off = 0;
	for (unsigned i = 0; i < live; i++) {
		pending *p = raftnode_pending_find(rn, k->seqs[i]);
		put_be32(body + off, (uint32_t)p->entry_len);
		memcpy(body + off + 4, p->entry, p->entry_len);
		off += 4 + p->entry_len;
	}
	k->rn = rn;
	k->n = live;
	if (raftnode_send(rn, leader, RAFTNODE_FORWARD, body, size,
			  on_forwarded, k) != 0) {
		for (unsigned i = 0; i < live; i++)
			settle(rn, k->seqs[i], RAFTNODE_NOT_LEADER, NULL);
		free(k);
	}
	free(body);
}

int raftnode_forward_add(raftnode *rn, pending *p)
{
	if (rn->forward.n == FORWARD_MAX)
		raftnode_forward_flush(rn);
	if (rn->forward.n == rn->forward.cap) {
		unsigned cap = rn->forward.cap ? rn->forward.cap * 2 : 64;
		uint64_t *seqs = realloc(rn->forward.seqs, cap * sizeof(*seqs));
		if (seqs == NULL)
			return -1;
		rn->forward.seqs = seqs;
		rn->forward.cap = cap;
	}
	rn->forward.seqs[rn->forward.n++] = p->seq;
	p->state = PENDING_REMOTE;
	raftnode_batch_kick(rn);
	return 0;
}

void raftnode_forward_free(raftnode *rn)
{
	free(rn->forward.seqs);
	rn->forward.seqs = NULL;
	rn->forward.n = rn->forward.cap = 0;
}

/* ---- leader side ---- */

/* 0, or the answer refusing the command. */
static int check_forwarded(raftnode *rn, const char *body, size_t len)
{
	command c;
	if (raftnode_command_decode(body, len, &c) != 0)
		return RAFTNODE_BAD_REQUEST;
	if (raft_state(rn->raft) != RAFT_LEADER)
		return RAFTNODE_NOT_LEADER;
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
		return RAFTNODE_STALE;
	}
	return 0;
}

static int outcome_of(int raft_status)
{
	if (raft_status == 0)
		return RAFTNODE_DONE;
	return raft_status == RAFT_NOTLEADER ? RAFTNODE_NOT_LEADER
					     : RAFTNODE_FAILED;
}

/* A batch of commands: answered once all are done. */
typedef struct remote_batch {
	raftnode_answer_cb cb;
	void *ctx;
	unsigned n, left;
	unsigned char answers[];
} remote_batch;

static void batch_settled(remote_batch *rb)
{
	if (--rb->left > 0)
		return;
	rb->cb(rb->ctx, RAFTNODE_DONE, rb->answers, rb->n);
	free(rb);
}

static void on_batch_item_done(raftnode *rn, void *ctx, uint64_t i, int status)
{
	remote_batch *rb = ctx;
	(void)rn;
	rb->answers[i] = (unsigned char)outcome_of(status);
	batch_settled(rb);
}

/* Frames: 4-byte big-endian length, then that many bytes. Returns the
 * count, or -1 when the body is not a whole number of frames. */
static long count_frames(const char *body, size_t len)
{
	long n = 0;
	size_t off = 0;
	while (off < len) {
		if (len - off < 4 || get_be32(body + off) > len - off - 4)
			return -1;
		off += 4 + get_be32(body + off);
		n++;
	}
	return n;
}

void raftnode_forward_serve(raftnode *rn, const char *body, size_t len,
			    raftnode_answer_cb cb, void *ctx)
{
	long n = count_frames(body, len);
	if (n <= 0 || n > FORWARD_MAX) {
		cb(ctx, RAFTNODE_BAD_REQUEST, "bad command batch", 17);
		return;
	}
	remote_batch *rb = calloc(1, sizeof(*rb) + (size_t)n);
	if (rb == NULL) {
		cb(ctx, RAFTNODE_NOT_LEADER, "out of memory", 13);
		return;
	}
	rb->cb = cb;
	rb->ctx = ctx;
	rb->n = (unsigned)n;
	rb->left = rb->n + 1; /* callbacks may run inside raftnode_batch_add */
	size_t off = 0;
	for (unsigned i = 0; i < rb->n; i++) {
		size_t l = get_be32(body + off);
		const char *cmd = body + off + 4;
		off += 4 + l;
		int refused = check_forwarded(rn, cmd, l);
		if (!refused && raftnode_batch_add(
				    rn, cmd, l, on_batch_item_done, rb, i) == 0)
			continue;
		rb->answers[i] =
		    (unsigned char)(refused ? refused : RAFTNODE_NOT_LEADER);
		rb->left--;
	}
	batch_settled(rb);
}
