/* raftnode.h - one host's member of the Raft cluster (canonical/raft on libuv).
 *
 * raftnode turns store commands into Raft log entries (msgpack), applies
 * committed entries to the store (the FSM), forwards commands from
 * followers to the leader, serves quorum reads with barriers, drives TTL
 * expiry while leader, and manages membership (bootstrap, --join, etcd
 * static --initial-cluster, add/remove/promote). Everything runs on the
 * loop thread.
 *
 * A proposal's answer is the store result of applying it on *this* host:
 * every command carries (origin host id, sequence), and the host that
 * proposed it completes its pending request when it applies the entry. So
 * a client that wrote to a follower reads its own write there. */
#ifndef OVLD_RAFTNODE_H
#define OVLD_RAFTNODE_H

#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../store/store.h"

typedef struct raftnode raftnode;

/* Requests between hosts. raft says what to send and serves what comes;
 * the link (src/peer) carries them. */
enum raftnode_kind {
	RAFTNODE_FORWARD = 1,  /* leader: length-prefixed commands to apply */
	RAFTNODE_BARRIER,      /* leader: a read point (its applied index) */
	RAFTNODE_TERM,	       /* any member: its current term */
	RAFTNODE_JOIN,	       /* leader: a joining host's record (JSON) */
	RAFTNODE_MEMBER_ADD,   /* leader: {"peer_url"} */
	RAFTNODE_MEMBER_REMOVE /* leader: the member's id in hex */
};
/* How a request ended, as its answer says. */
enum raftnode_answer {
	RAFTNODE_DONE = 0,
	RAFTNODE_NOT_LEADER,  /* never taken: safe to send to the new leader */
	RAFTNODE_BAD_REQUEST, /* malformed */
	RAFTNODE_STALE,	      /* a forwarded command that came too late */
	RAFTNODE_NO_MEMBER,   /* no such member */
	RAFTNODE_CONFLICT,    /* the change contradicts the configuration */
	RAFTNODE_FAILED,      /* taken, and failed or lost */
	RAFTNODE_NOT_STARTED  /* this host is starting or stopping */
};
/* answer is a raftnode_answer, or -1 when the link got no answer (body is
 * then a NUL-terminated reason). body is valid only during the call. */
typedef void (*raftnode_answer_cb)(void *ctx, int answer, const void *body,
				   size_t len);

/* What carries requests to other members: send gets the member's id and
 * its Raft address, and calls cb exactly once (or returns -1 without). */
typedef struct raftnode_link {
	int (*send)(void *link_ctx, uint64_t id, const char *address, int kind,
		    const void *body, size_t len, raftnode_answer_cb cb,
		    void *ctx);
	void *link_ctx;
} raftnode_link;

/* Who this host is, once its member id is known (raftnode_trust_fn). */
enum raftnode_entry {
	RAFTNODE_RESTART = 1, /* a saved identity */
	RAFTNODE_BOOTSTRAP,   /* a new one-host cluster */
	RAFTNODE_STATIC,      /* etcd's --initial-cluster */
	RAFTNODE_JOINING      /* --join through a member */
};
typedef struct raftnode_identity {
	uint64_t id;
	int entry; /* enum raftnode_entry */
	const char *name, *peer_url, *client_urls;
	uint64_t cluster_id; /* RAFTNODE_JOINING: the hook sets it */
} raftnode_identity;
/* Runs once the member id is known and before Raft sends or listens: sets
 * up the host's credentials and, for RAFTNODE_JOINING, performs the join
 * (the leader adds the member) and fills in who->cluster_id. 0 or -1 (the
 * hook logged why). */
typedef int (*raftnode_trust_fn)(void *ctx, raftnode_identity *who);

typedef struct raftnode_config {
	const char *data_dir;	     /* raft files live in <data_dir>/raft */
	const char *name;	     /* etcd --name */
	const char *peer_url;	     /* advertised peer URL http://IP:PORT */
	const char *listen_peer_url; /* where the raft transport binds */
	const char *client_urls; /* advertised client URLs, comma-separated */
	const char *join;	 /* host[:port] of any member's client API */
	const char *initial_cluster; /* etcd form: a=http://IP:2380,b=... */
	const char *initial_cluster_state; /* "new" or "existing" */
	const char *initial_cluster_token;
	unsigned heartbeat_ms;	     /* default 50 */
	unsigned election_ms;	     /* default 300 */
	unsigned max_voters;	     /* default 5 */
	unsigned snapshot_threshold; /* entries between snapshots */
	unsigned
	    request_timeout_ms; /* write/quorum read budget, default 2000 */
	struct raft_uv_transport *transport; /* initialized by the caller */
	raftnode_link link;
	raftnode_trust_fn trust;
	void *trust_ctx;
} raftnode_config;

/* Member roles, as in canonical/raft. */
enum { RAFTNODE_VOTER = 1, RAFTNODE_STANDBY, RAFTNODE_SPARE };
/* Host states for /v2/stats/self. */
enum {
	RAFTNODE_FOLLOWER = 1,
	RAFTNODE_CANDIDATE,
	RAFTNODE_LEADER,
	RAFTNODE_UNAVAILABLE
};

typedef struct raftnode_member {
	uint64_t id;
	char name[64];
	char peer_url[320];
	char client_urls[512]; /* comma-separated; "" when not started */
	int role;	       /* RAFTNODE_VOTER, ... */
	int is_leader;
} raftnode_member;

typedef struct raftnode_status {
	uint64_t id;
	uint64_t cluster_id;
	uint64_t leader_id; /* 0 when there is no known leader */
	int state;	    /* RAFTNODE_FOLLOWER, ... */
	uint64_t term;
	uint64_t commit_index; /* X-Raft-Index */
	uint64_t last_applied;
	int64_t start_time_ns;
	int64_t leader_since_ns; /* when the current leader was first seen */
	uint64_t recv_append_count;
	uint64_t send_append_count;
	uint64_t leader_changes;
	uint64_t proposals_ok;
	uint64_t proposals_failed;
} raftnode_status;

typedef struct raftnode_follower {
	uint64_t id;
	double latency_current_ms, latency_average_ms, latency_stddev_ms,
	    latency_min_ms, latency_max_ms;
	uint64_t success, fail;
} raftnode_follower;

int raftnode_init(raftnode **out, uv_loop_t *loop, store *st,
		  const raftnode_config *cfg);
/* Bootstraps, joins or restarts, then starts Raft. A join blocks until the
 * target answered (it runs before the API serves). */
int raftnode_start(raftnode *rn);
/* Transfers leadership if leader, then closes; cb runs when all handles are
 * closed. Pending requests fail with error 300. */
void raftnode_close(raftnode *rn, void (*cb)(void *ctx), void *ctx);

/* The callback owns res's contents (store_result_free(res)); the struct
 * itself is freed by raftnode after the call returns. On a consensus
 * failure res->error is 300 and res->cause says why. Exactly one callback
 * per successful call. */
typedef void (*raftnode_done_cb)(void *ctx, store_result *res);
int raftnode_propose(raftnode *rn, const store_cmd *cmd, raftnode_done_cb cb,
		     void *ctx);

/* Linearizable read point: cb(ctx, 0, NULL) once this host has applied
 * everything committed before the call, or cb(ctx, -1, why). Concurrent
 * calls share one barrier. */
typedef void (*raftnode_read_cb)(void *ctx, int status, const char *why);
int raftnode_quorum_read(raftnode *rn, raftnode_read_cb cb, void *ctx);

void raftnode_get_status(raftnode *rn, raftnode_status *out);
/* malloc'd array sorted by id; free() it. */
int raftnode_members(raftnode *rn, raftnode_member **list, size_t *n);
/* Leader only: malloc'd array; returns -1 when not leader. */
int raftnode_follower_stats(raftnode *rn, raftnode_follower **list, size_t *n);

/* Membership changes, run on the leader (relayed from followers). answer
 * is a raftnode_answer: RAFTNODE_NO_MEMBER, RAFTNODE_CONFLICT, ... */
typedef void (*raftnode_member_cb)(void *ctx, int answer, const char *why,
				   const raftnode_member *m);
int raftnode_member_add(raftnode *rn, const char *peer_url,
			raftnode_member_cb cb, void *ctx);
int raftnode_member_remove(raftnode *rn, uint64_t id, raftnode_member_cb cb,
			   void *ctx);
int raftnode_member_update(raftnode *rn, uint64_t id, const char *peer_url,
			   raftnode_member_cb cb, void *ctx);

/* A request of another member (from: its id) that the link received; cb
 * runs exactly once, with a raftnode_answer. */
int raftnode_serve(raftnode *rn, uint64_t from, int kind, const void *body,
		   size_t len, raftnode_answer_cb cb, void *ctx);

/* Adds a joining host (leader only; RAFTNODE_NOT_LEADER otherwise, and the
 * caller relays the join to the leader). The answer's body is JSON:
 * {"cluster_id","id"}. */
int raftnode_member_join(raftnode *rn, const raftnode_member *m,
			 raftnode_answer_cb cb, void *ctx);
/* The member id and Raft address of the leader; 0 when none is known. */
uint64_t raftnode_leader(raftnode *rn, char *address, size_t len);
/* 1 when id is in the Raft configuration. */
int raftnode_is_member(raftnode *rn, uint64_t id);
/* 1 when id was removed from the cluster, as far as this host's store has
 * applied the log: a replicated record, kept for good (a restart, a
 * snapshot and a host that joins later know it too). Such an id is never
 * added again. */
int raftnode_was_removed(raftnode *rn, uint64_t id);

/* The Raft block of /metrics (an api_metrics_cb): commit latency
 * histogram, snapshots, members. */
void raftnode_metrics(void *ctx, char **buf, size_t *len, size_t *cap);

/* 1 once a leader is known and this member's record (name, client URLs)
 * is in the replicated store: clients that list members will find it. */
int raftnode_is_ready(raftnode *rn);

#endif
