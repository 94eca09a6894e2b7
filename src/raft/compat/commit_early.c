/* commit_early.c - a follower applies committed entries without waiting for
 * its own disk write.
 *
 * Upstream: canonical/raft 0.15 (replicationAppend, appendFollowerCb in
 * src/replication.c) sets a follower's commit index to
 * min(leader_commit, last_stored): an entry the leader reports committed is
 * applied only once this host's own append of it has been written and
 * synced. The leader's commit nudge (leader.c) is an AppendEntries with one
 * new entry, so a follower learns the commit with it and then waits one
 * more local fsync before its watches and datapath see the entry. Raft
 * itself needs no such wait (Figure 3.1: commitIndex = min(leaderCommit,
 * index of last new entry)). canonical/raft kept the wait through its last
 * release, 0.18.1 (d144504, "Only update commit index if last stored is
 * high enough"; the project is archived). Its fork cowsql/raft applies
 * eagerly since PR #171 (first tried in #95, reverted in #97). No
 * canonical/raft version fixes it; this file can go with a libraft that
 * advances a follower's commit index past last_stored.
 * Still needed while tests/unit/test_raft_commit_early.c's
 * "libraft_waits_for_disk" case passes: it shows 0.15 not applying an entry
 * on a follower whose disk write is pending.
 *
 * How: io's start is wrapped so every message passes through here. After
 * libraft has handled an AppendEntries (its entries are then in the
 * in-memory log, the disk write maybe still pending), the entries up to
 * min(leader_commit, last index the message covers) are committed if this
 * host's log holds the message's last entry with the same term (Log
 * Matching: the logs then agree up to it, and a leader's commit index only
 * covers committed entries). Those are applied here through the caller's
 * apply; libraft's own apply of them later is skipped
 * (raftnode_commit_early_done). Nothing is applied while a snapshot is being
 * installed. */
#include <stddef.h>

#include "commit_early.h"

#define MAX_WRAPPED 8 /* raft instances in one process (tests run several) */

static commit_early *wrapped[MAX_WRAPPED];

static commit_early *of_io(struct raft_io *io)
{
	for (int i = 0; i < MAX_WRAPPED; i++)
		if (wrapped[i] != NULL && wrapped[i]->io == io)
			return wrapped[i];
	return NULL;
}

/* The entry at index in 0.15's in-memory log (struct raft_log is public in
 * 0.15's raft.h, hidden since): a ring of slots [front, back) holding the
 * indexes from offset + 1 on. */
static const struct raft_entry *log_at(const struct raft_log *l,
				       raft_index index)
{
	if (l->size == 0 || index <= l->offset)
		return NULL;
	size_t n = l->front <= l->back ? l->back - l->front
				       : l->size - l->front + l->back;
	raft_index k = index - l->offset - 1;
	if (k >= n)
		return NULL;
	return &l->entries[(l->front + k) % l->size];
}

/* What an AppendEntries says, copied before libraft may free its entries. */
typedef struct heard {
	raft_term term;
	raft_index last;      /* the last index the message covers */
	raft_term last_term;  /* the sender's term of that entry */
	raft_index committed; /* the sender's commit index */
} heard;

static heard hear(const struct raft_append_entries *ae)
{
	heard h = {.term = ae->term,
		   .last = ae->prev_log_index + ae->n_entries,
		   .last_term = ae->prev_log_term,
		   .committed = ae->leader_commit};
	if (ae->n_entries > 0)
		h.last_term = ae->entries[ae->n_entries - 1].term;
	return h;
}

static int installing(const struct raft *r)
{
	return r->last_stored == 0 && r->snapshot.put.data != NULL;
}

static void apply_committed(commit_early *ce, const heard *h)
{
	struct raft *r = ce->r;
	if (r->state != RAFT_FOLLOWER || h->term != r->current_term ||
	    h->last == 0 || installing(r))
		return;
	const struct raft_entry *e = log_at(&r->log, h->last);
	if (e == NULL || e->term != h->last_term)
		return; /* our log may differ from the sender's there */
	raft_index upto = h->committed < h->last ? h->committed : h->last;
	raft_index i = raftnode_commit_early_applied(ce) + 1;
	for (; i <= upto; i++) {
		e = log_at(&r->log, i);
		if (e == NULL)
			return;
		if (e->type == RAFT_COMMAND &&
		    ce->apply(ce->ctx, &e->buf, i) != 0)
			return; /* libraft's own apply will meet it again */
		ce->applied = i;
	}
}

static void recv_message(struct raft_io *io, struct raft_message *msg)
{
	commit_early *ce = of_io(io);
	if (ce == NULL)
		return; /* unwrapped while a message was on its way */
	if (msg->type != RAFT_IO_APPEND_ENTRIES) {
		ce->recv(io, msg);
		return;
	}
	heard h = hear(&msg->append_entries);
	ce->recv(io, msg);
	apply_committed(ce, &h);
}

static int start_io(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
		    raft_io_recv_cb recv)
{
	commit_early *ce = of_io(io);
	ce->recv = recv;
	return ce->io_start(io, msecs, tick, recv_message);
}

int raftnode_commit_early_wrap(commit_early *ce, struct raft *r,
			       struct raft_io *io, commit_early_apply_fn apply,
			       void *ctx)
{
	*ce = (commit_early){.r = r,
			     .io = io,
			     .io_start = io->start,
			     .apply = apply,
			     .ctx = ctx};
	for (int i = 0; i < MAX_WRAPPED; i++)
		if (wrapped[i] == NULL) {
			wrapped[i] = ce;
			io->start = start_io;
			return 0;
		}
	return -1; /* that raft keeps libraft's own timing */
}

int raftnode_commit_early_done(const commit_early *ce, raft_index index)
{
	return index <= ce->applied;
}

raft_index raftnode_commit_early_applied(const commit_early *ce)
{
	return ce->applied > ce->r->last_applied ? ce->applied
						 : ce->r->last_applied;
}

void raftnode_commit_early_unwrap(commit_early *ce)
{
	for (int i = 0; i < MAX_WRAPPED; i++)
		if (wrapped[i] == ce)
			wrapped[i] = NULL;
}
