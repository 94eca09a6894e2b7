/* internal.h - state shared by the API layer's files (server, keys,
 * watch, health, members, stats, metrics, join). Not part of the public
 * api.h. */
#ifndef OVLD_API_INTERNAL_H
#define OVLD_API_INTERNAL_H

#include <h2o.h>
#include <stdint.h>

#include "../buf.h"
#include "../h2oconn.h"
#include "../raft/raftnode.h"
#include "../store/store.h"
#include "api.h"
#include "auth.h"

typedef struct api_watcher api_watcher;
typedef struct api_pending api_pending;

/* Per-host counters for /v2/stats/store (etcd keeps these per member). */
enum api_stat {
	API_STAT_GETS_OK,
	API_STAT_GETS_FAIL,
	API_STAT_SETS_OK,
	API_STAT_SETS_FAIL,
	API_STAT_DELETE_OK,
	API_STAT_DELETE_FAIL,
	API_STAT_UPDATE_OK,
	API_STAT_UPDATE_FAIL,
	API_STAT_CREATE_OK,
	API_STAT_CREATE_FAIL,
	API_STAT_CAS_OK,
	API_STAT_CAS_FAIL,
	API_STAT_CAD_OK,
	API_STAT_CAD_FAIL,
	API_STAT_EXPIRE,
	API_STAT_COUNT
};

#define API_LAT_BUCKETS 12
#define API_MAX_STATUS 600

/* Watchers indexed by the path they watch: a write looks up only the
 * key's ancestors instead of scanning every watcher. */
typedef struct api_wslot {
	char *path;
	uint32_t hash;
	api_watcher *head;
	struct api_wslot *next;
} api_wslot;

#define API_SOCKMAP_SIZE 1024

typedef struct api_hub {
	api_wslot **buckets;
	size_t n_buckets;
	size_t n_slots;
	size_t n_watchers;
	int sub_id;
	int timer_on;
	uint64_t gen; /* marks watchers already collected for one event */
	/* Parked HTTP/1 watchers by socket, to find the one whose client
	 * hung up from H2O's read callback (which only passes the socket). */
	api_watcher *by_sock[API_SOCKMAP_SIZE];
} api_hub;

typedef struct api_metrics_block {
	api_metrics_cb cb;
	void *ctx;
} api_metrics_block;

struct api {
	uv_loop_t *loop;
	store *st;
	raftnode *rn;
	api_config cfg;
	char *listen_urls;

	h2o_globalconf_t h2o_conf;
	h2o_context_t h2o_ctx;
	h2o_accept_ctx_t accept_ctx;
	h2o_accept_ctx_t tls_accept_ctx; /* the same, with cfg.tls_ctx */
	int ctx_ready;

	uv_tcp_t *listeners;
	size_t n_listeners;
	h2oconn_set conns;     /* live client connections */
	h2oconn_set tls_conns; /* live client connections over TLS */

	/* Handles, connections and outstanding callbacks still holding the
	 * api; it is freed when this drops to zero after api_close. */
	size_t refs;
	int closing;

	api_hub hub;
	uv_timer_t leader_timer;
	int64_t no_leader_since_ns;

	uint64_t stats[API_STAT_COUNT];
	uint64_t http_codes[API_MAX_STATUS];
	uint64_t lat_buckets[API_LAT_BUCKETS + 1]; /* last one is +Inf */
	double lat_sum;
	uint64_t lat_count;

	api_metrics_block *blocks;
	size_t n_blocks;

	auth_state *auth; /* etcd v2 auth, cached from the store's meta */
};

/* A request waiting for an asynchronous answer (raft, membership, quorum
 * read, join). Kept in malloc'd memory so the callback always
 * has somewhere to land; req becomes NULL if the client went away. */
struct api_pending {
	api *a;
	h2o_req_t *req;
	api_pending **guard; /* lives in req->pool */
};

/* server.c */
int64_t api_now_ns(void);
void api_ref(api *a);
void api_unref(api *a);
void *api_pending_new(api *a, h2o_req_t *req, size_t size);
void api_pending_free(void *p);
void api_hdr(h2o_req_t *req, const char *name, const char *value, size_t len);
void api_hdr_u64(h2o_req_t *req, const char *name, uint64_t v);
void api_hdr_cluster(api *a, h2o_req_t *req);
void api_hdr_raft(api *a, h2o_req_t *req);
/* Sends a complete response with Content-Length in one write. */
void api_send(api *a, h2o_req_t *req, int status, const char *ctype,
	      const char *body, size_t len);
/* JSON body; a newline is appended as etcd's encoder does. */
void api_send_json(api *a, h2o_req_t *req, int status, abuf *b);
void api_send_text(api *a, h2o_req_t *req, int status, const char *text);
/* {"message":...} as etcd's non-store errors. */
void api_send_message(api *a, h2o_req_t *req, int status, const char *msg);
void api_send_store_error(api *a, h2o_req_t *req, int code, const char *cause,
			  uint64_t index);
void api_send_405(api *a, h2o_req_t *req, const char *allow);
void api_count_status(api *a, int status, const h2o_req_t *req);
int api_req_method(const h2o_req_t *req);
const char *api_status_reason(int status);

/* tls.c */
/* The CN of the verified client certificate on req's connection: 0, or -1
 * when the connection is not TLS or carries no verified certificate. */
int api_tls_peer_cn(api *a, h2o_req_t *req, char *out, size_t len);

/* keys.c */
int api_keys_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen,
		    const char *query, size_t qlen);

/* watch.c */
int api_hub_init(api *a);
void api_hub_close(api *a);
/* Registers a watch for an already-parsed request (GET wait=true). */
void api_watch_start(api *a, h2o_req_t *req, const char *path, int recursive,
		     int stream, uint64_t wait_index);
void api_watch_end_all(api *a);

/* server.c: the router's checks, for handlers that route further */
int api_path_is(const char *p, size_t n, const char *want);
/* 1 for GET (and HEAD if allowed); else answers 405 and returns 0. */
int api_get_only(api *a, h2o_req_t *req, int allow_head);

/* health.c */
void api_health_send(api *a, h2o_req_t *req);

/* members.c */
/* raftnode's members sorted by id, malloc'd; -1 if they cannot be listed. */
int api_members_load(api *a, raftnode_member **list, size_t *n);
void api_members_send(api *a, h2o_req_t *req, int with_roles);
void api_members_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen);
void api_machines_send(api *a, h2o_req_t *req);

/* stats.c */
void api_stats_self_send(api *a, h2o_req_t *req);
void api_stats_leader_send(api *a, h2o_req_t *req);
void api_stats_store_send(api *a, h2o_req_t *req);

/* metrics.c */
void api_metrics_send(api *a, h2o_req_t *req);

/* join.c */
void api_join_handle(api *a, h2o_req_t *req);

#endif
