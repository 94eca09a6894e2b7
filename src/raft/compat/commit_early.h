/* commit_early.h - a follower applies what its leader says is committed as
 * soon as the entries are in its in-memory log, without waiting for its own
 * disk write (a workaround of canonical/raft 0.15; commit_early.c says why
 * and when it can go). */
#ifndef OVLD_RAFT_COMPAT_COMMIT_EARLY_H
#define OVLD_RAFT_COMPAT_COMMIT_EARLY_H

#include <raft.h>

/* Applies one committed entry of type RAFT_COMMAND at index; non-zero stops
 * the early applies until libraft's own apply gets there. */
typedef int (*commit_early_apply_fn)(void *ctx, const struct raft_buffer *buf,
				     raft_index index);

typedef struct commit_early {
	struct raft *r;
	struct raft_io *io;
	int (*io_start)(struct raft_io *io, unsigned msecs,
			raft_io_tick_cb tick, raft_io_recv_cb recv);
	raft_io_recv_cb recv; /* libraft's */
	commit_early_apply_fn apply;
	void *ctx;
	raft_index applied; /* highest index handled here, 0 if none */
} commit_early;

/* Wraps io's start (call before raft_start; r is the raft that io serves).
 * ce must live as long as io. */
int raftnode_commit_early_wrap(commit_early *ce, struct raft *r,
			       struct raft_io *io, commit_early_apply_fn apply,
			       void *ctx);

/* Whether libraft's fsm apply of index repeats an early one (skip it). */
int raftnode_commit_early_done(const commit_early *ce, raft_index index);

/* The highest index known applied: libraft's or the early one. */
raft_index raftnode_commit_early_applied(const commit_early *ce);

/* Forgets ce (at close). */
void raftnode_commit_early_unwrap(commit_early *ce);

#endif
