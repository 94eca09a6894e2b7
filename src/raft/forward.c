/* forward.c - writes taken by a follower go to the leader.
 *
 * One POST per write cost an HTTP request on both hosts per write, and a
 * raft_apply each on the leader. The writes a follower takes during a loop
 * turn are sent together instead, as one POST /ovld/v1/propose-batch of
 * length-prefixed commands (the batch idle handle sends them, see
 * batch.c); the leader hands them to raft together and answers one status
 * line per command. /ovld/v1/propose (one command) stays for older hosts. */
#include <stdlib.h>
#include <string.h>

#include "../byteorder.h"
#include "../log.h"
#include "command.h"
#include "node.h"

#define FORWARD_MAX 4096 /* commands per POST, either side */

/* Per-command outcomes on the wire, and what the proposer reports. */
enum {
	FWD_OK = 200,
	FWD_BAD = 400,
	FWD_STALE = 408,
	FWD_LOST = 500,
	FWD_NOT_LEADER = 503
};

static const char *outcome_text(int code)
{
	switch (code) {
	case FWD_OK:
		return "ok";
	case FWD_BAD:
		return "bad command";
	case FWD_STALE:
		return "etcdserver: request timed out";
	case FWD_NOT_LEADER:
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

/* One command's fate, as the leader (or the transport) told it. */
static void settle(raftnode *rn, uint64_t seq, int status, const char *why)
{
	pending *p = pending_find(rn, seq);
	if (p == NULL || p->state != PENDING_REMOTE)
		return;
	if (status == FWD_OK) {
		p->state = PENDING_APPLYING; /* our own apply answers */
	} else if (status == FWD_NOT_LEADER) {
		/* The leader moved before taking it: safe to send again. */
		p->state = PENDING_UNSENT;
	} else if (status < 0) {
		/* It may or may not have been appended: never send twice. */
		pending_fail(rn, p, "etcdserver: leader unreachable");
	} else {
		pending_fail(rn, p, why);
	}
}

static void on_forwarded(void *ctx, int status, const char *body, size_t len)
{
	fwd_cookie *k = ctx;
	const char *p = body, *end = body + len;
	for (unsigned i = 0; i < k->n; i++) {
		int code = status;
		if (status == 200) {
			/* One "CODE\n" line per command, in order. */
			code = p < end ? atoi(p) : FWD_LOST;
			const char *nl = p < end ? memchr(p, '\n', end - p) : 0;
			p = nl ? nl + 1 : end;
		}
		settle(k->rn, k->seqs[i], code,
		       status == 200 ? outcome_text(code)
				     : "etcdserver: forwarding failed");
	}
	free(k);
}

/* Sends the queued commands still waiting to the current leader; with no
 * reachable leader they go back to the tick, which resends them. */
void forward_flush(raftnode *rn)
{
	unsigned n = rn->fq_n;
	rn->fq_n = 0;
	if (n == 0)
		return;
	fwd_cookie *k = malloc(sizeof(*k) + n * sizeof(k->seqs[0]));
	size_t size = 0;
	unsigned live = 0;
	for (unsigned i = 0; k && i < n; i++) {
		pending *p = pending_find(rn, rn->fq_seqs[i]);
		if (p == NULL || p->state != PENDING_REMOTE)
			continue; /* answered meanwhile (timed out) */
		k->seqs[live++] = p->seq;
		size += 4 + p->entry_len;
	}
	char hostport[64];
	raft_id leader = 0;
	const char *addr;
	raft_leader(&rn->raft, &leader, &addr);
	char *body = k && live ? malloc(size) : NULL;
	if (body == NULL || leader == 0 || leader == rn->id ||
	    membership_client_url(rn, leader, hostport, sizeof(hostport)) !=
		0) {
		for (unsigned i = 0; k && i < live; i++)
			settle(rn, k->seqs[i], FWD_NOT_LEADER, NULL);
		free(body);
		free(k);
		return;
	}
	size_t off = 0;
	for (unsigned i = 0; i < live; i++) {
		pending *p = pending_find(rn, k->seqs[i]);
		put_be32(body + off, (uint32_t)p->entry_len);
		memcpy(body + off + 4, p->entry, p->entry_len);
		off += 4 + p->entry_len;
	}
	k->rn = rn;
	k->n = live;
	if (client_post(rn->cl, hostport, "/ovld/v1/propose-batch", body, size,
			on_forwarded, k) != 0) {
		for (unsigned i = 0; i < live; i++)
			settle(rn, k->seqs[i], FWD_NOT_LEADER, NULL);
		free(k);
	}
	free(body);
}

int forward_add(raftnode *rn, pending *p)
{
	if (rn->fq_n == FORWARD_MAX)
		forward_flush(rn);
	if (rn->fq_n == rn->fq_cap) {
		unsigned cap = rn->fq_cap ? rn->fq_cap * 2 : 64;
		uint64_t *seqs = realloc(rn->fq_seqs, cap * sizeof(*seqs));
		if (seqs == NULL)
			return -1;
		rn->fq_seqs = seqs;
		rn->fq_cap = cap;
	}
	rn->fq_seqs[rn->fq_n++] = p->seq;
	p->state = PENDING_REMOTE;
	batch_kick(rn);
	return 0;
}

void forward_free(raftnode *rn)
{
	free(rn->fq_seqs);
	rn->fq_seqs = NULL;
	rn->fq_n = rn->fq_cap = 0;
}

/* ---- leader side ---- */

/* 0, or the outcome code refusing the command. */
static int check_forwarded(raftnode *rn, const char *body, size_t len)
{
	command c;
	if (command_decode(body, len, &c) != 0)
		return FWD_BAD;
	if (raft_state(&rn->raft) != RAFT_LEADER)
		return FWD_NOT_LEADER;
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
		return FWD_STALE;
	}
	return 0;
}

static int outcome_of(int raft_status)
{
	if (raft_status == 0)
		return FWD_OK;
	return raft_status == RAFT_NOTLEADER ? FWD_NOT_LEADER : FWD_LOST;
}

/* One forwarded command (/ovld/v1/propose). */
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
	int code = outcome_of(status);
	(void)rn, (void)tag;
	reply_text(ra->reply, ra->ctx, code,
		   code == FWD_OK ? "ok\n" : outcome_text(code));
	free(ra);
}

void propose_internal(raftnode *rn, const char *body, size_t len,
		      raftnode_reply_cb reply, void *ctx)
{
	int refused = check_forwarded(rn, body, len);
	if (refused) {
		reply_text(reply, ctx, refused, outcome_text(refused));
		return;
	}
	remote_apply *ra = calloc(1, sizeof(*ra));
	if (ra == NULL ||
	    raftnode_batch_add(rn, body, len, on_remote_done, ra, 0) != 0) {
		free(ra);
		reply_text(reply, ctx, FWD_NOT_LEADER, "not leader\n");
		return;
	}
	ra->reply = reply;
	ra->ctx = ctx;
}

/* A batch of them (/ovld/v1/propose-batch): answered once all are done. */
typedef struct remote_batch {
	raftnode_reply_cb reply;
	void *ctx;
	unsigned n, left;
	short codes[];
} remote_batch;

static void batch_settled(remote_batch *rb)
{
	if (--rb->left > 0)
		return;
	char *out = malloc((size_t)rb->n * 4 + 1);
	size_t o = 0;
	for (unsigned i = 0; out && i < rb->n; i++) {
		int c = rb->codes[i];
		out[o++] = (char)('0' + c / 100);
		out[o++] = (char)('0' + c / 10 % 10);
		out[o++] = (char)('0' + c % 10);
		out[o++] = '\n';
	}
	if (out)
		rb->reply(rb->ctx, 200, "text/plain", out, o);
	else
		reply_text(rb->reply, rb->ctx, 500, "out of memory\n");
	free(out);
	free(rb);
}

static void on_batch_item_done(raftnode *rn, void *ctx, uint64_t i, int status)
{
	remote_batch *rb = ctx;
	(void)rn;
	rb->codes[i] = (short)outcome_of(status);
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

void propose_batch_internal(raftnode *rn, const char *body, size_t len,
			    raftnode_reply_cb reply, void *ctx)
{
	long n = count_frames(body, len);
	if (n <= 0 || n > FORWARD_MAX) {
		reply_text(reply, ctx, 400, "bad command batch\n");
		return;
	}
	remote_batch *rb = calloc(1, sizeof(*rb) + n * sizeof(rb->codes[0]));
	if (rb == NULL) {
		reply_text(reply, ctx, 500, "out of memory\n");
		return;
	}
	rb->reply = reply;
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
		rb->codes[i] = (short)(refused ? refused : FWD_NOT_LEADER);
		rb->left--;
	}
	batch_settled(rb);
}
