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

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../store/store.h"

typedef struct raftnode raftnode;

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
	char peer_url[128];
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

/* Membership changes, run on the leader (forwarded from followers).
 * status 0 or an HTTP status (404 no such member, 409 conflict, 500). */
typedef void (*raftnode_member_cb)(void *ctx, int status, const char *why,
				   const raftnode_member *m);
int raftnode_member_add(raftnode *rn, const char *peer_url,
			raftnode_member_cb cb, void *ctx);
int raftnode_member_remove(raftnode *rn, uint64_t id, raftnode_member_cb cb,
			   void *ctx);
int raftnode_member_update(raftnode *rn, uint64_t id, const char *peer_url,
			   raftnode_member_cb cb, void *ctx);

/* The internal channel between hosts rides on the client API port under
 * /ovld/v1/ (join, forwarded commands, barriers). The API hands such
 * requests here untouched; reply is called exactly once. */
typedef void (*raftnode_reply_cb)(void *ctx, int http_status,
				  const char *content_type, const void *body,
				  size_t len);
int raftnode_handle_internal(raftnode *rn, const char *method, const char *path,
			     const void *body, size_t len,
			     raftnode_reply_cb reply, void *ctx);

/* The Raft block of /metrics (an api_metrics_cb): commit latency
 * histogram, snapshots, members. */
void raftnode_metrics(void *ctx, char **buf, size_t *len, size_t *cap);

/* 1 once a leader is known and this member's record (name, client URLs)
 * is in the replicated store: clients that list members will find it. */
int raftnode_is_ready(raftnode *rn);

#endif
