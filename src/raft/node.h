/* node.h - raftnode's private state, shared by the files of src/raft. */
#ifndef OVLD_RAFT_NODE_H
#define OVLD_RAFT_NODE_H

#include <raft.h>
#include <raft/uv.h>

#include "../metrics.h"
#include "compat/commit_early.h"
#include "raftnode.h"

#define PENDING_BUCKETS 1024

enum pending_state {
	PENDING_UNSENT = 0, /* waiting for a leader */
	PENDING_LOCAL,	    /* raft_apply in flight here */
	PENDING_REMOTE,	    /* forwarded, leader has not answered */
	PENDING_APPLYING,   /* leader accepted; waiting for our own apply */
};

typedef struct pending {
	raftnode *rn;
	uint64_t seq;
	int state;
	uint64_t deadline_ms;
	uint64_t t0_ns; /* uv_hrtime at propose, for the latency histogram */
	raftnode_done_cb cb;
	void *ctx;
	void *entry; /* malloc'd encoded command, kept for (re)sending */
	size_t entry_len;
	struct pending *prev, *next; /* FIFO in deadline order */
	struct pending *hnext;	     /* bucket chain by seq */
} pending;

/* batch.c: an entry's outcome once raft has it (status 0: applied;
 * RAFT_NOTLEADER: never appended, safe to send again) */
typedef void (*batch_done_fn)(raftnode *rn, void *ctx, uint64_t tag,
			      int status);
typedef struct batch_item {
	batch_done_fn done;
	void *ctx;
	uint64_t tag;
} batch_item;

/* propose.c: a write's outcome, held until the end of the loop turn */
typedef struct queued_answer {
	uint64_t seq;
	store_result res;
} queued_answer;

typedef struct read_waiter {
	raftnode_read_cb cb;
	void *ctx;
	uint64_t index; /* follower: leader's applied index to reach */
	uint64_t deadline_ms;
	struct read_waiter *next;
} read_waiter;

typedef struct change_job change_job;

#define SEEN_SLOTS 16
typedef struct follower_seen { /* /v2/stats/leader (follower_stats.c) */
	raft_id id;
	uint64_t last_ok_ms;
	uint64_t ok, failed; /* ticks answered / silent too long */
} follower_seen;

struct raftnode {
	uv_loop_t *loop;
	store *st;
	raftnode_config cfg;
	char *data_dir;
	char raft_dir[4096];
	char raft_addr[300]; /* HOST:PORT from the peer URL */
	raft_id id;
	uint64_t cluster_id;
	struct raft raft;
	struct raft_io io;
	struct {
		/* the uv backend's snapshot_put, wrapped (compat/install.c) */
		int (*uv_put)(struct raft_io *io, unsigned trailing,
			      struct raft_io_snapshot_put *req,
			      const struct raft_snapshot *snapshot,
			      raft_io_snapshot_put_cb cb);
		raft_io_snapshot_put_cb cb; /* libraft's, while installing */
		raft_id leader_id;	    /* who sent the snapshot */
		char *leader_addr;
	} install;
	struct raft_fsm fsm;
	commit_early early;	 /* a follower applies before its own fsync */
	struct preload *preload; /* restart: raft's load, on a thread */
	store_snap *snap; /* the view a snapshot in progress serializes */
	int raft_started;
	int closing;
	int handles_open; /* timers still closing at shutdown */
	void (*close_cb)(void *ctx);
	void *close_ctx;

	/* proposals */
	uint64_t next_seq;
	pending *buckets[PENDING_BUCKETS];
	pending *head, *tail;
	queued_answer *answers; /* answered at the end of the turn */
	unsigned answers_n, answers_cap;
	uv_timer_t tick;

	/* follower: writes waiting for the turn's POST (forward.c) */
	uint64_t *fq_seqs;
	unsigned fq_n, fq_cap;

	/* entries waiting for the turn's raft_apply (batch.c) */
	uv_idle_t bq_idle;
	struct raft_buffer *bq_bufs;
	batch_item *bq_items;
	unsigned bq_n, bq_cap;

	/* quorum reads */
	read_waiter *read_inflight;	 /* follower: covered by the request */
	read_waiter *read_next;		 /* need a barrier issued after them */
	read_waiter *read_applying;	 /* follower: waiting for local apply */
	int barrier_busy;		 /* follower: a barrier request out */
	struct read_batch *read_batches; /* leader: barriers in flight */
	unsigned read_batches_n;
	raft_term read_term;	/* leader: a read barrier was applied in it */
	uint64_t read_barriers; /* batches that needed one (/metrics) */

	/* commit nudge: followers learn a commit index only from the next
	 * AppendEntries, so the leader sends one (a barrier) right away */
	uv_check_t nudge_check;
	int nudge_wanted, nudge_inflight;
	struct raft_barrier nudge;

	/* expiry, member publishing, leader tracking */
	uv_timer_t expiry_timer;
	int expiry_inflight;
	raft_id last_leader;
	int64_t leader_since_ns;
	int64_t start_ns;
	int published;
	int publish_inflight;

	/* membership changes, one at a time (leader only) */
	change_job *jobs_head, *jobs_tail;
	int job_running;

	follower_seen seen[SEEN_SLOTS];

	raftnode_status counters;
	metrics_hist commit_latency; /* propose -> applied here */
	uint64_t snapshots_taken, snapshots_restored;
};

uint64_t raftnode_now_ms(raftnode *rn);
int raftnode_has_leader(raftnode *rn);
int64_t raftnode_wall_ns(void);

/* compat/heap.c: raft's allocator, a quarantine for small frees */
void heap_install(void);

/* fsm.c */
void fsm_init(raftnode *rn);
void fsm_wrap_io(raftnode *rn);

/* propose.c */
pending *pending_find(raftnode *rn, uint64_t seq);
void pending_fail(raftnode *rn, pending *p, const char *why);
void pending_complete(raftnode *rn, uint64_t seq, store_result *res);
void pending_tick(raftnode *rn);
void pending_fail_all(raftnode *rn, const char *why);
void pending_answer_queued(raftnode *rn);

/* forward.c */
int forward_add(raftnode *rn, pending *p);
void forward_flush(raftnode *rn);
void forward_free(raftnode *rn);
/* leader: a follower's RAFTNODE_FORWARD request */
void forward_serve(raftnode *rn, const char *body, size_t len,
		   raftnode_answer_cb cb, void *ctx);

/* batch.c */
void batch_init(raftnode *rn);
int raftnode_batch_add(raftnode *rn, const void *entry, size_t len,
		       batch_done_fn done, void *ctx, uint64_t tag);
void batch_kick(raftnode *rn);
void batch_fail_queued(raftnode *rn, int status);
void batch_free(raftnode *rn);
int batch_flush_now(raftnode *rn);

/* read.c */
void raftnode_read_flush(raftnode *rn);
void read_after_apply(raftnode *rn);
void read_tick(raftnode *rn);
void read_serve_barrier(raftnode *rn, raftnode_answer_cb cb, void *ctx);
void read_serve_term(raftnode *rn, raftnode_answer_cb cb, void *ctx);
void read_fail_all(raftnode *rn, const char *why);

/* membership_*.c (what those files share among themselves: membership.h) */
int membership_bootstrap_or_join(raftnode *rn);
void membership_tick(raftnode *rn);
/* Voters in the current (possibly uncommitted) configuration. */
unsigned membership_voters(raftnode *rn);
/* RAFTNODE_JOIN, _MEMBER_ADD and _MEMBER_REMOVE requests */
void membership_serve(raftnode *rn, int kind, const char *body, size_t len,
		      raftnode_answer_cb cb, void *ctx);

/* serve.c: a request to member id through the link; -1 when it has no
 * address or the link refused at once (cb does not run then). */
int raftnode_send(raftnode *rn, raft_id id, int kind, const void *body,
		  size_t len, raftnode_answer_cb cb, void *ctx);

/* follower_stats.c */
void follower_stats_sample(raftnode *rn);

/* leader.c */
void expiry_start(raftnode *rn);

/* end_of_turn.c */
void nudge_start(raftnode *rn);

/* preload.c: 0 if raft's load runs on a thread, ready called after it
 * on the loop; -1: start at once */
int preload_begin(raftnode *rn, void (*ready)(raftnode *rn));
int preload_running(raftnode *rn);
void preload_abandon(raftnode *rn);

/* compat/install.c */
void install_wrap_io(raftnode *rn);
void install_free(raftnode *rn);

#endif
