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

/* Callbacks may queue new entries (and so move rn->bq_items): they are
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
	unsigned n = rn->bq_n;
	batch_item items[BATCH_MAX_ENTRIES];
	if (n == 0)
		return;
	memcpy(items, rn->bq_items, n * sizeof(items[0]));
	rn->bq_n = 0;
	for (unsigned i = 0; i < n; i++)
		raft_free(rn->bq_bufs[i].base);
	finish(rn, items, n, status);
}

/* Hands the queue to raft as one request. */
static void flush(raftnode *rn)
{
	unsigned n = rn->bq_n;
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
	memcpy(b->items, rn->bq_items, n * sizeof(b->items[0]));
	int rv =
	    raft_apply(&rn->raft, &b->req, rn->bq_bufs, n, on_batch_applied);
	if (rv == RAFT_NOTLEADER) {
		free(b);
		fail_queue(rn, rv);
		return;
	}
	rn->bq_n = 0;
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
int batch_flush_now(raftnode *rn)
{
	if (rn->bq_n == 0)
		return 0;
	flush(rn);
	return 1;
}

static void on_batch_idle(uv_idle_t *h)
{
	raftnode *rn = h->data;
	uv_idle_stop(h);
	flush(rn);
	forward_flush(rn);	 /* a follower's queue (forward.c) */
	raftnode_read_flush(rn); /* the turn's quorum reads (read.c) */
}

void batch_kick(raftnode *rn)
{
	if (!uv_is_active((uv_handle_t *)&rn->bq_idle))
		uv_idle_start(&rn->bq_idle, on_batch_idle);
}

int raftnode_batch_add(raftnode *rn, const void *entry, size_t len,
		       batch_done_fn done, void *ctx, uint64_t tag)
{
	if (rn->bq_n == BATCH_MAX_ENTRIES)
		flush(rn);
	if (rn->bq_n == rn->bq_cap) {
		unsigned cap = rn->bq_cap ? rn->bq_cap * 2 : 64;
		struct raft_buffer *bufs =
		    realloc(rn->bq_bufs, cap * sizeof(*bufs));
		if (bufs == NULL)
			return RAFT_NOMEM;
		rn->bq_bufs = bufs;
		batch_item *items = realloc(rn->bq_items, cap * sizeof(*items));
		if (items == NULL)
			return RAFT_NOMEM;
		rn->bq_items = items;
		rn->bq_cap = cap;
	}
	void *copy = raft_malloc(len);
	if (copy == NULL)
		return RAFT_NOMEM;
	memcpy(copy, entry, len);
	rn->bq_bufs[rn->bq_n] = (struct raft_buffer){.base = copy, .len = len};
	rn->bq_items[rn->bq_n] =
	    (batch_item){.done = done, .ctx = ctx, .tag = tag};
	rn->bq_n++;
	batch_kick(rn);
	return 0;
}

void batch_init(raftnode *rn)
{
	uv_idle_init(rn->loop, &rn->bq_idle);
	rn->bq_idle.data = rn;
}

void batch_fail_queued(raftnode *rn, int status)
{
	uv_idle_stop(&rn->bq_idle);
	fail_queue(rn, status);
}

void batch_free(raftnode *rn)
{
	free(rn->bq_bufs);
	free(rn->bq_items);
	rn->bq_bufs = NULL;
	rn->bq_items = NULL;
	rn->bq_cap = 0;
}
