/* fsm.c - the Raft state machine: committed entries go to the store.
 *
 * apply never fails for a well-formed entry (etcd errors are results), so
 * a bad request cannot stall this host's Raft. Results are not handed to
 * raft (nobody would free them on other hosts): the host that proposed an
 * entry completes its own pending request from here. */
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "command.h"
#include "node.h"

/* Applies the command at index: from libraft's apply, or earlier on a
 * follower from compat/commit_early.c. */
static int apply_at(void *ctx, const struct raft_buffer *buf, raft_index index)
{
	raftnode *rn = ctx;
	command c;
	if (index <= store_applied_raft_index(rn->st))
		return 0; /* in LMDB already (a restart, or a newer snapshot) */
	if (raftnode_command_decode(buf->base, buf->len, &c) != 0) {
		/* Skip it but keep the watermark moving: never stall. */
		log_error("fsm", "entry %llu is not a command; skipped",
			  (unsigned long long)index);
		store_cmd noop = {
		    .op = STORE_OP_NOOP, .path = "/", .path_len = 1};
		store_apply(rn->st, &noop, index, NULL);
		return 0;
	}
	int mine = c.origin == rn->id;
	store_result res;
	memset(&res, 0, sizeof(res));
	if (store_apply(rn->st, &c.cmd, index, mine ? &res : NULL) != 0) {
		/* LMDB failed (disk full, I/O error): the entry is durable in
		 * the Raft log; refusing it stops this host rather than
		 * diverging from the others. */
		log_error("fsm", "store failed to apply entry %llu",
			  (unsigned long long)index);
		if (mine) {
			store_result_free(&res);
			res.error = 300;
			res.cause = strdup("etcdserver: store write failed");
			raftnode_pending_complete(rn, c.seq, &res);
		}
		return RAFT_IOERR;
	}
	if (mine)
		raftnode_pending_complete(rn, c.seq, &res);
	raftnode_read_after_apply(rn);
	rn->nudge.wanted = 1;
	return 0;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	raftnode *rn = fsm->data;
	/* raft bumps last_applied after apply returns. */
	uint64_t index = raft_last_applied(rn->raft) + 1;
	*result = NULL;
	if (raftnode_commit_early_done(&rn->early, index))
		return 0;
	return apply_at(rn, buf, index);
}

/* io (rn->raft's) must be initialized and raft not yet started. */
void raftnode_fsm_wrap_io(raftnode *rn, struct raft_io *io)
{
	if (raftnode_commit_early_wrap(&rn->early, rn->raft, io, apply_at,
				       rn) != 0)
		log_warn("fsm", "followers apply after their own disk write");
}

/* Snapshot: freeze an LMDB view on the loop, serialize it on a worker. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			unsigned *n)
{
	raftnode *rn = fsm->data;
	if (rn->snap != NULL)
		return RAFT_BUSY;
	if (store_snapshot_begin(rn->st, raft_last_applied(rn->raft),
				 &rn->snap) != 0)
		return RAFT_IOERR;
	*bufs = NULL;
	*n = 0;
	return 0;
}

static int fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			      unsigned *n)
{
	raftnode *rn = fsm->data;
	void *data;
	size_t len;
	if (store_snapshot_write(rn->snap, &data, &len) != 0)
		return RAFT_IOERR;
	*bufs = malloc(sizeof(**bufs));
	if (*bufs == NULL) {
		store_snapshot_free(data, len);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = data;
	(*bufs)[0].len = len;
	*n = 1;
	rn->stats.snapshots_taken++;
	log_info("fsm", "snapshot written: %zu bytes", len);
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm,
				 struct raft_buffer *bufs[], unsigned *n)
{
	raftnode *rn = fsm->data;
	if (*bufs) {
		for (unsigned i = 0; i < *n; i++)
			store_snapshot_free((*bufs)[i].base, (*bufs)[i].len);
		free(*bufs);
	}
	*bufs = NULL;
	*n = 0;
	if (rn->snap)
		store_snapshot_end(rn->snap);
	rn->snap = NULL;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	raftnode *rn = fsm->data;
	log_info("fsm", "restoring a snapshot of %zu bytes", buf->len);
	if (store_restore(rn->st, buf->base, buf->len) != 0) {
		log_error("fsm", "snapshot restore failed");
		return RAFT_IOERR;
	}
	raft_free(buf->base);
	rn->stats.snapshots_restored++;
	log_info("fsm", "snapshot restored: store index %llu",
		 (unsigned long long)store_current_index(rn->st));
	return 0;
}

void raftnode_fsm_init(raftnode *rn)
{
	rn->fsm.version = 3;
	rn->fsm.data = rn;
	rn->fsm.apply = fsm_apply;
	rn->fsm.snapshot = fsm_snapshot;
	rn->fsm.snapshot_async = fsm_snapshot_async;
	rn->fsm.snapshot_finalize = fsm_snapshot_finalize;
	rn->fsm.restore = fsm_restore;
}
