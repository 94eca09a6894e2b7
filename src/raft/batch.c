/* batch.c - the leader's entries go to raft once per loop turn.
 *
 * In canonical/raft 0.15 every raft_apply is one append request on the
 * leader's disk and one AppendEntries message to every follower, each of
 * which then writes and answers it on its own. A loop turn that takes 64
 * writes thus cost 64 of each, on every host. Entries proposed during a
 * turn are queued here and handed to raft together, as one raft_apply of n
 * buffers, from an idle handle: it runs after the turn's callbacks, and
 * keeps poll from blocking while entries wait. A follower's forwarded
 * writes (forward.c) and the turn's quorum-read barrier (read.c) leave
 * from the same handle. */
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "node.h"

#define BATCH_MAX_ENTRIES 1024

typedef struct apply_batch {
	struct raft_apply req;
	raftnode *rn;
	unsigned n;
	batch_item items[];
} apply_batch;

/* Callbacks may queue new entries (and so move rn->batch.items): they are
 * always called on a copy. */
static void finish(raftnode *rn, const batch_item *items, unsigned n,
		   int status)
{
	for (unsigned i = 0; i < n; i++)
		items[i].done(rn, items[i].ctx, items[i].tag, status);
}

static void on_batch_applied(struct raft_apply *req, int status, void *result)
{
	apply_batch *b = req->data;
	(void)result;
	/* Only raft_apply itself says NOTLEADER (nothing was appended);
	 * keep that meaning for callers. */
	if (status == RAFT_NOTLEADER)
		status = RAFT_LEADERSHIPLOST;
	finish(b->rn, b->items, b->n, status);
	free(b);
}

/* Answers the whole queue with status, without handing it to raft. */
static void fail_queue(raftnode *rn, int status)
{
	unsigned n = rn->batch.n;
	batch_item items[BATCH_MAX_ENTRIES];
	if (n == 0)
		return;
	memcpy(items, rn->batch.items, n * sizeof(items[0]));
	rn->batch.n = 0;
	for (unsigned i = 0; i < n; i++)
		raft_free(rn->batch.bufs[i].base);
	finish(rn, items, n, status);
}

/* Hands the queue to raft as one request. */
static void flush(raftnode *rn)
{
	unsigned n = rn->batch.n;
	if (n == 0)
		return;
	apply_batch *b = malloc(sizeof(*b) + n * sizeof(b->items[0]));
	if (b == NULL) {
		fail_queue(rn, RAFT_NOMEM);
		return;
	}
	b->rn = rn;
	b->n = n;
	b->req.data = b;
	memcpy(b->items, rn->batch.items, n * sizeof(b->items[0]));
	int rv =
	    raft_apply(rn->raft, &b->req, rn->batch.bufs, n, on_batch_applied);
	if (rv == RAFT_NOTLEADER) {
		free(b);
		fail_queue(rn, rv);
		return;
	}
	rn->batch.n = 0;
	if (rv != 0) {
		/* raft_apply failed after taking the entries into its log,
		 * and has freed their buffers already. */
		log_error("raft", "raft_apply of %u entries failed: %s", n,
			  raft_strerror(rv));
		finish(rn, b->items, n, rv);
		free(b);
	}
}

/* Hands the queue to raft now, if there is one (leader.c's nudge). */
int raftnode_batch_flush_now(raftnode *rn)
{
	if (rn->batch.n == 0)
		return 0;
	flush(rn);
	return 1;
}

static void on_batch_idle(uv_idle_t *h)
{
	raftnode *rn = h->data;
	uv_idle_stop(h);
	flush(rn);
	raftnode_forward_flush(rn); /* a follower's queue (forward.c) */
	raftnode_read_flush(rn);    /* the turn's quorum reads (read.c) */
}

void raftnode_batch_kick(raftnode *rn)
{
	if (!uv_is_active((uv_handle_t *)&rn->batch.idle))
		uv_idle_start(&rn->batch.idle, on_batch_idle);
}

int raftnode_batch_add(raftnode *rn, const void *entry, size_t len,
		       batch_done_fn done, void *ctx, uint64_t tag)
{
	if (rn->batch.n == BATCH_MAX_ENTRIES)
		flush(rn);
	if (rn->batch.n == rn->batch.cap) {
		unsigned cap = rn->batch.cap ? rn->batch.cap * 2 : 64;
		struct raft_buffer *bufs =
		    realloc(rn->batch.bufs, cap * sizeof(*bufs));
		if (bufs == NULL)
			return RAFT_NOMEM;
		rn->batch.bufs = bufs;
		batch_item *items =
		    realloc(rn->batch.items, cap * sizeof(*items));
		if (items == NULL)
			return RAFT_NOMEM;
		rn->batch.items = items;
		rn->batch.cap = cap;
	}
	void *copy = raft_malloc(len);
	if (copy == NULL)
		return RAFT_NOMEM;
	memcpy(copy, entry, len);
	rn->batch.bufs[rn->batch.n] =
	    (struct raft_buffer){.base = copy, .len = len};
	rn->batch.items[rn->batch.n] =
	    (batch_item){.done = done, .ctx = ctx, .tag = tag};
	rn->batch.n++;
	raftnode_batch_kick(rn);
	return 0;
}

void raftnode_batch_init(raftnode *rn)
{
	uv_idle_init(rn->loop, &rn->batch.idle);
	rn->batch.idle.data = rn;
}

void raftnode_batch_fail_queued(raftnode *rn, int status)
{
	uv_idle_stop(&rn->batch.idle);
	fail_queue(rn, status);
}

void raftnode_batch_free(raftnode *rn)
{
	free(rn->batch.bufs);
	free(rn->batch.items);
	rn->batch.bufs = NULL;
	rn->batch.items = NULL;
	rn->batch.cap = 0;
}
