/* preload.c - a restarting host reads its Raft snapshot and log on a
 * thread while its loop already answers reads from the store.
 *
 * raft_start reads the newest snapshot whole and every segment after it,
 * synchronously, before it returns: with 100k keys, 33 MB and ~15k entries,
 * 150-250 ms on this project's 2-core machines, during which the loop (and
 * so every GET) waits. ovld does not need any of it to answer a GET: the
 * store already holds every entry this host applied, and a restarted host
 * answers plain reads from there anyway until it catches up. So the uv
 * backend's load runs here first, on a thread, and raft_start, called once
 * it is done, gets the result from the wrapped io->load. Writes and quorum
 * reads taken meanwhile wait (as they wait for a leader) and go out after
 * raft has started.
 *
 * Only a restart is preloaded; a new host has nothing to read. Nothing else
 * touches the uv backend between raft_init and raft_start, and its load
 * only reads files (and finishes or removes leftovers), so it can run off
 * the loop. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "node.h"

typedef int (*load_fn)(struct raft_io *io, raft_term *term, raft_id *voted_for,
		       struct raft_snapshot **snapshot, raft_index *start_index,
		       struct raft_entry *entries[], size_t *n_entries);

struct preload {
	raftnode *rn; /* NULL once the host closed meanwhile */
	load_fn uv_load;
	void (*ready)(raftnode *rn);
	uv_thread_t thread;
	uv_async_t done;
	int joined;
	int loaded; /* the result below waits for raft_start */
	int rv;
	raft_term term;
	raft_id voted_for;
	struct raft_snapshot *snapshot;
	raft_index start_index;
	struct raft_entry *entries;
	size_t n_entries;
};

static raftnode *node_of_io(struct raft_io *io)
{
	return (raftnode *)((char *)io - offsetof(raftnode, io));
}

static int load_preloaded(struct raft_io *io, raft_term *term,
			  raft_id *voted_for, struct raft_snapshot **snapshot,
			  raft_index *start_index, struct raft_entry *entries[],
			  size_t *n_entries)
{
	struct preload *p = node_of_io(io)->preload;
	if (p == NULL || !p->loaded)
		return p ? p->uv_load(io, term, voted_for, snapshot,
				      start_index, entries, n_entries)
			 : RAFT_IOERR;
	p->loaded = 0; /* raft owns it now */
	*term = p->term;
	*voted_for = p->voted_for;
	*snapshot = p->snapshot;
	*start_index = p->start_index;
	*entries = p->entries;
	*n_entries = p->n_entries;
	return p->rv;
}

static void load_on_thread(void *arg)
{
	struct preload *p = arg;
	p->rv = p->uv_load(&p->rn->io, &p->term, &p->voted_for, &p->snapshot,
			   &p->start_index, &p->entries, &p->n_entries);
	p->loaded = 1;
	uv_async_send(&p->done);
}

static void on_done_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_loaded(uv_async_t *a)
{
	struct preload *p = a->data;
	if (!p->joined)
		uv_thread_join(&p->thread);
	raftnode *rn = p->rn; /* NULL: closed meanwhile */
	if (rn != NULL) {
		p->ready(rn); /* raft_start takes the result */
		rn->preload = NULL;
	}
	uv_close((uv_handle_t *)&p->done, on_done_closed);
}

/* A host that has started before has Raft metadata on disk. */
static int restarting(raftnode *rn)
{
	char path[sizeof(rn->raft_dir) + 16];
	struct stat st;
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/metadata%d", rn->raft_dir, i);
		if (stat(path, &st) == 0)
			return 1;
	}
	return 0;
}

int raftnode_preload_begin(raftnode *rn, void (*ready)(raftnode *rn))
{
	if (!restarting(rn))
		return -1;
	struct preload *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	p->rn = rn;
	p->ready = ready;
	p->uv_load = rn->io.load;
	p->done.data = p;
	if (uv_async_init(rn->loop, &p->done, on_loaded) != 0) {
		free(p);
		return -1;
	}
	rn->preload = p;
	rn->io.load = load_preloaded;
	if (uv_thread_create(&p->thread, load_on_thread, p) != 0) {
		rn->io.load = p->uv_load;
		rn->preload = NULL;
		uv_close((uv_handle_t *)&p->done, on_done_closed);
		return -1;
	}
	return 0;
}

int raftnode_preload_running(raftnode *rn)
{
	return rn->preload != NULL;
}

/* At close, before raft_start: the load finishes first (rn must outlive
 * it; its result is left to the exiting process), and the handle frees
 * itself. */
void raftnode_preload_abandon(raftnode *rn)
{
	struct preload *p = rn->preload;
	if (p == NULL)
		return;
	uv_thread_join(&p->thread);
	p->joined = 1;
	p->rn = NULL;
	rn->preload = NULL;
}
