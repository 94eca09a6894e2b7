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

/* The host's Raft member. After the common part, one sub-struct per file
 * that keeps that part of the state (named in its comment). Other files
 * only read it, apart from raftnode.c's start and shutdown and where a
 * comment says so. */
struct raftnode {
	uv_loop_t *loop;
	store *st;
	raftnode_config cfg;
	char *data_dir;
	char raft_dir[4096];
	char raft_addr[300]; /* HOST:PORT from the peer URL */
	raft_id id;
	uint64_t cluster_id;
	/* &own; a test's raft instead (raftnode_attach) */
	struct raft *raft;
	struct raft own;
	struct raft_io io; /* own's (raft_uv), unused when attached */
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
	uv_timer_t tick;  /* raftnode.c: each owner's periodic work */
	int64_t start_ns; /* raftnode.c: when this process started */

	struct { /* raftnode.c: the leader last seen */
		raft_id id;
		int64_t since_ns;
	} leader;

	struct { /* propose.c: writes waiting for their outcome */
		uint64_t next_seq;
		pending *by_seq[PENDING_BUCKETS];
		pending *oldest, *newest; /* FIFO in deadline order */
		queued_answer *answers;	  /* answered at the end of the turn */
		unsigned answers_n, answers_cap;
	} proposals;

	struct { /* forward.c: follower: writes for the turn's FORWARD */
		uint64_t *seqs;
		unsigned n, cap;
	} forward;

	struct { /* batch.c: entries waiting for the turn's raft_apply */
		uv_idle_t idle;
		struct raft_buffer *bufs;
		batch_item *items;
		unsigned n, cap;
	} batch;

	struct {		       /* read.c: quorum reads */
		read_waiter *inflight; /* follower: covered by the request */
		read_waiter *next;     /* need a barrier issued after them */
		read_waiter *applying; /* follower: waiting for local apply */
		int barrier_busy;      /* follower: a barrier request out */
		struct read_batch *batches; /* leader: barriers in flight */
		unsigned batches_n;
		raft_term term; /* leader: a read barrier was applied in it */
	} reads;

	/* end_of_turn.c: followers learn a commit index only from the next
	 * AppendEntries, so the leader appends an entry right away */
	struct {
		uv_check_t check; /* the end of every loop turn */
		int wanted;	  /* set by fsm.c when an entry is applied */
		int inflight;
		struct raft_barrier barrier;
	} nudge;

	struct { /* leader.c: TTL expiry sweeps */
		uv_timer_t timer;
		int inflight;
	} expiry;

	struct { /* membership_publish.c: this host's own record */
		int done, inflight;
	} publish;

	struct { /* membership_changes.c: one at a time (leader only) */
		change_job *head, *tail;
		int running;
		int settling; /* removal records proposed, not yet applied */
	} changes;

	struct { /* follower_stats.c: /v2/stats/leader */
		follower_seen seen[SEEN_SLOTS];
	} followers;

	struct { /* raftnode_get_status and /metrics; each owner counts */
		raftnode_status counters;
		metrics_hist commit_latency; /* propose -> applied here */
		uint64_t snapshots_taken, snapshots_restored;
		uint64_t read_barriers; /* read batches that needed one */
	} stats;
};

uint64_t raftnode_now_ms(raftnode *rn);
int raftnode_has_leader(raftnode *rn);
int64_t raftnode_wall_ns(void);

/* For tests (tests/unit/test_raft_node.c): rn runs on r, a raft that the
 * caller created with &rn->fsm as its FSM (raft_fixture_grow) and then
 * starts and keeps stepping, instead of one of its own on raft_uv. Call it
 * in place of raftnode_start, after raft_init of r and before raft_start
 * (r's io is wrapped as rn's own would be, compat/commit_early.c); the
 * loop must not run in between. raftnode_close then leaves r alone (close
 * r first: its failed requests still reach rn). -1 if rn started or r is
 * not on rn's FSM. */
int raftnode_attach(raftnode *rn, struct raft *r);

/* compat/heap.c: raft's allocator, a quarantine for small frees */
void raftnode_heap_install(void);

/* fsm.c */
void raftnode_fsm_init(raftnode *rn);
void raftnode_fsm_wrap_io(raftnode *rn, struct raft_io *io);

/* propose.c */
pending *raftnode_pending_find(raftnode *rn, uint64_t seq);
void raftnode_pending_fail(raftnode *rn, pending *p, const char *why);
void raftnode_pending_complete(raftnode *rn, uint64_t seq, store_result *res);
void raftnode_pending_tick(raftnode *rn);
void raftnode_pending_fail_all(raftnode *rn, const char *why);
void raftnode_pending_answer_queued(raftnode *rn);

/* forward.c */
int raftnode_forward_add(raftnode *rn, pending *p);
void raftnode_forward_flush(raftnode *rn);
void raftnode_forward_free(raftnode *rn);
/* leader: a follower's RAFTNODE_FORWARD request */
void raftnode_forward_serve(raftnode *rn, const char *body, size_t len,
			    raftnode_answer_cb cb, void *ctx);

/* batch.c */
void raftnode_batch_init(raftnode *rn);
int raftnode_batch_add(raftnode *rn, const void *entry, size_t len,
		       batch_done_fn done, void *ctx, uint64_t tag);
void raftnode_batch_kick(raftnode *rn);
void raftnode_batch_fail_queued(raftnode *rn, int status);
void raftnode_batch_free(raftnode *rn);
int raftnode_batch_flush_now(raftnode *rn);

/* read.c */
void raftnode_read_flush(raftnode *rn);
void raftnode_read_after_apply(raftnode *rn);
void raftnode_read_tick(raftnode *rn);
void raftnode_read_serve_barrier(raftnode *rn, raftnode_answer_cb cb,
				 void *ctx);
void raftnode_read_serve_term(raftnode *rn, raftnode_answer_cb cb, void *ctx);
void raftnode_read_fail_all(raftnode *rn, const char *why);

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
void raftnode_follower_stats_sample(raftnode *rn);

/* leader.c */
void raftnode_expiry_start(raftnode *rn);

/* end_of_turn.c */
void raftnode_nudge_start(raftnode *rn);

/* preload.c: 0 if raft's load runs on a thread, ready called after it
 * on the loop; -1: start at once */
int raftnode_preload_begin(raftnode *rn, void (*ready)(raftnode *rn));
int raftnode_preload_running(raftnode *rn);
void raftnode_preload_abandon(raftnode *rn);

/* compat/install.c */
void raftnode_install_wrap_io(raftnode *rn);
void raftnode_install_free(raftnode *rn);

#endif
