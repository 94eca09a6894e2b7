/* internal.h - what the files of src/ctl share (private to src/ctl). */
#ifndef OVLD_CTL_INTERNAL_H
#define OVLD_CTL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "../docker/docker.h"
#include "../overlay/overlay.h"
#include "ctl.h"

/* A unit of blocking work: run on a worker thread, then done on the loop
 * thread (done may be NULL). A job is freed by whoever runs done. */
typedef struct ctl_job ctl_job;
struct ctl_job {
	void (*run)(ctl_job *j);
	void (*done)(ctl_job *j);
	ctl_job *next;
};

/* Worker threads with a FIFO of jobs; completions come back to the loop
 * through one uv_async. */
typedef struct ctl_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ctl_job *head, *tail;	/* waiting to run */
	ctl_job *dhead, *dtail; /* ran, waiting for done on the loop */
	pthread_t *threads;
	size_t n_threads;
	int stopping;
	uv_async_t async;
} ctl_pool;

int ctl_pool_init(ctl_pool *p, uv_loop_t *loop, size_t n_threads);
void ctl_pool_submit(ctl_pool *p, ctl_job *j);
/* Stops the threads once the queue is drained; then closes the async. */
void ctl_pool_close(ctl_pool *p);

/* The bridge from the model's blocking store calls to the loop thread. */
typedef struct ctl_bridge ctl_bridge;
int ctl_bridge_init(ctl_bridge **out, uv_loop_t *loop, store *st, raftnode *rn);
ovl_kv ctl_bridge_kv(ctl_bridge *b);
/* Runs fn(arg, call) on the loop thread and waits until it (or a callback
 * it started) calls ctl_bridge_done(call, code, result); returns code and
 * hands over result. */
struct bcall;
typedef void (*ctl_loop_fn)(void *arg, struct bcall *call);
int ctl_bridge_run(ctl_bridge *b, ctl_loop_fn fn, void *arg, json_t **result);
void ctl_bridge_done(struct bcall *call, int code, json_t *result);
/* Calls still waiting, and those made afterwards, fail with -1. */
void ctl_bridge_close(ctl_bridge *b);

/* One listening unix socket served with H2O. */
typedef struct ctl_server ctl_server;
typedef enum { CTL_CONTROL, CTL_DOCKER } ctl_kind;

struct ctl {
	uv_loop_t *loop;
	store *st;
	raftnode *rn;
	ctl_config cfg;
	char host_ip[64];
	char *strings[3]; /* copies of cfg's socket paths */
	ctl_pool pool;
	ctl_bridge *bridge;
	ovl *ovl;
	dk *dk;
	ctl_server *control, *docker;
	uv_timer_t upkeep, sync;
	int upkeep_busy, sync_busy, sync_again;
	int sub; /* store subscription */
	int started, timers_closed;
	int closing;
};

int ctl_server_open(ctl_server **out, ctl *c, ctl_kind kind, const char *path,
		    int mode);
void ctl_server_close(ctl_server *s);

/* A parsed request on its way to a worker, and its answer. */
typedef struct ctl_call {
	const char *method;
	const char *path; /* without the query */
	const char *query;
	const char *body;
	size_t body_len;
	/* answer */
	int status;
	char *reply; /* malloc'd JSON */
} ctl_call;

/* Control API and Docker plugin dispatch (worker thread). */
void ctl_routes_run(ctl *c, ctl_call *call);
/* cluster.c: /v1/cluster/<what> (worker thread) */
void ctl_cluster_route(ctl *c, ctl_call *call, const char *what);

#endif
