/* bridge.c - the overlay model's store access (ovl_kv), for worker
 * threads. Each call is handed to the loop thread, which owns the store
 * and Raft: reads are local store reads, writes are Raft proposals of the
 * same commands the v2 API would make. The worker waits for the answer.
 * A write that Raft cannot commit (no leader) fails after raftnode's
 * request timeout, as a v2 write would. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "internal.h"

enum { B_GET, B_CREATE, B_CAS, B_DEL, B_SET, B_RUN };

typedef struct bcall {
	int kind;
	const char *key, *value, *prev_value;
	uint64_t prev_index;
	int flag; /* GET: recursive; DEL: dir */
	unsigned ttl_s;
	ctl_loop_fn run; /* B_RUN */
	void *arg;
	/* answer */
	int done;
	int code;
	json_t *node;
	pthread_cond_t cv;
	struct bcall *next;
	struct ctl_bridge *b;
} bcall;

struct ctl_bridge {
	uv_loop_t *loop;
	store *st;
	raftnode *rn;
	pthread_mutex_t mu;
	bcall *head, *tail;
	uv_async_t async;
	int closed;
	/* loop thread only: proposals whose callback is still to come, and
	 * whether the async is closed; the bridge goes when both are done */
	unsigned inflight;
	int async_closed;
};

static void maybe_free(ctl_bridge *b)
{
	if (b->async_closed && b->inflight == 0) {
		pthread_mutex_destroy(&b->mu);
		free(b);
	}
}

static json_t *node_json(const store_node *n)
{
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(n->key ? n->key : "/"));
	if (n->dir)
		json_object_set_new(o, "dir", json_true());
	else if (n->value)
		json_object_set_new(o, "value",
				    json_stringn(n->value, n->value_len));
	json_object_set_new(o, "modifiedIndex",
			    json_integer((json_int_t)n->modified_index));
	json_object_set_new(o, "createdIndex",
			    json_integer((json_int_t)n->created_index));
	if (n->has_children) {
		json_t *a = json_array();
		for (size_t i = 0; i < n->n_children; i++)
			json_array_append_new(a, node_json(&n->children[i]));
		json_object_set_new(o, "nodes", a);
	}
	return o;
}

/* Answers the worker (loop thread, under no lock). */
static void finish(bcall *c, int code, json_t *node)
{
	ctl_bridge *b = c->b;
	pthread_mutex_lock(&b->mu);
	c->code = code;
	c->node = node;
	c->done = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&b->mu);
}

static void on_write_done(void *ctx, store_result *res)
{
	bcall *c = ctx;
	ctl_bridge *b = c->b;
	int code = res->error;
	json_t *node = NULL;
	if (code == 300) /* consensus failure: no leader, shutting down */
		code = -1;
	else if (code == 0)
		node = node_json(&res->ev.node);
	store_result_free(res);
	finish(c, code, node);
	b->inflight--;
	maybe_free(b);
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_get(ctl_bridge *b, bcall *c)
{
	store_result res;
	memset(&res, 0, sizeof(res));
	if (store_get(b->st, c->key, c->flag, 1, &res) != 0) {
		finish(c, -1, NULL);
		return;
	}
	json_t *node = res.error ? NULL : node_json(&res.ev.node);
	int code = res.error;
	store_result_free(&res);
	finish(c, code, node);
}

static void run_write(ctl_bridge *b, bcall *c)
{
	int64_t now = wall_ns();
	store_cmd cmd = {
	    .op = c->kind == B_DEL ? STORE_OP_DELETE : STORE_OP_PUT,
	    .path = c->key,
	    .path_len = strlen(c->key),
	    .value = c->value,
	    .value_len = c->value ? strlen(c->value) : 0,
	    .prev_value = c->prev_value,
	    .prev_value_len = c->prev_value ? strlen(c->prev_value) : 0,
	    .prev_index = c->prev_index,
	    .prev_exist = c->kind == B_CREATE ? 0 : -1,
	    .dir = c->kind == B_DEL && c->flag,
	    .recursive = c->kind == B_DEL && c->flag,
	    .expire_ns = c->ttl_s ? now + (int64_t)c->ttl_s * 1000000000 : 0,
	    .now_ns = now};
	b->inflight++;
	if (raftnode_propose(b->rn, &cmd, on_write_done, c) != 0) {
		b->inflight--;
		finish(c, -1, NULL);
	}
}

static void on_async(uv_async_t *a)
{
	ctl_bridge *b = a->data;
	pthread_mutex_lock(&b->mu);
	bcall *c = b->head;
	b->head = b->tail = NULL;
	pthread_mutex_unlock(&b->mu);
	while (c) {
		bcall *next = c->next;
		if (c->kind == B_GET)
			run_get(b, c);
		else if (c->kind == B_RUN)
			c->run(c->arg, c);
		else
			run_write(b, c);
		c = next;
	}
}

/* Worker side: queue the call, wake the loop, wait for the answer. */
static int call(ctl_bridge *b, bcall *c, json_t **node)
{
	c->b = b;
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_lock(&b->mu);
	if (b->closed) {
		pthread_mutex_unlock(&b->mu);
		pthread_cond_destroy(&c->cv);
		return -1;
	}
	if (b->tail)
		b->tail->next = c;
	else
		b->head = c;
	b->tail = c;
	uv_async_send(&b->async);
	while (!c->done)
		pthread_cond_wait(&c->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	pthread_cond_destroy(&c->cv);
	if (node)
		*node = c->node;
	else
		json_decref(c->node);
	return c->code;
}

void ctl_bridge_done(bcall *c, int code, json_t *result)
{
	finish(c, code, result);
}

int ctl_bridge_run(ctl_bridge *b, ctl_loop_fn fn, void *arg, json_t **result)
{
	bcall c = {.kind = B_RUN, .run = fn, .arg = arg};
	return call(b, &c, result);
}

static int kv_get(void *ctx, const char *key, int recursive, json_t **node)
{
	bcall c = {.kind = B_GET, .key = key, .flag = recursive};
	return call(ctx, &c, node);
}

static int kv_create(void *ctx, const char *key, const char *value,
		     json_t **node)
{
	bcall c = {.kind = B_CREATE, .key = key, .value = value};
	return call(ctx, &c, node);
}

static int kv_cas(void *ctx, const char *key, const char *value,
		  uint64_t prev_index, json_t **node)
{
	bcall c = {.kind = B_CAS,
		   .key = key,
		   .value = value,
		   .prev_index = prev_index};
	return call(ctx, &c, node);
}

static int kv_del(void *ctx, const char *key, uint64_t prev_index,
		  const char *prev_value, int dir)
{
	bcall c = {.kind = B_DEL,
		   .key = key,
		   .prev_index = prev_index,
		   .prev_value = prev_value,
		   .flag = dir};
	return call(ctx, &c, NULL);
}

static int kv_set(void *ctx, const char *key, const char *value, unsigned ttl_s)
{
	bcall c = {.kind = B_SET, .key = key, .value = value, .ttl_s = ttl_s};
	return call(ctx, &c, NULL);
}

ovl_kv ctl_bridge_kv(ctl_bridge *b)
{
	return (ovl_kv){.ctx = b,
			.get = kv_get,
			.create = kv_create,
			.cas = kv_cas,
			.del = kv_del,
			.set = kv_set};
}

int ctl_bridge_init(ctl_bridge **out, uv_loop_t *loop, store *st, raftnode *rn)
{
	ctl_bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return -1;
	b->loop = loop;
	b->st = st;
	b->rn = rn;
	pthread_mutex_init(&b->mu, NULL);
	if (uv_async_init(loop, &b->async, on_async) != 0) {
		free(b);
		return -1;
	}
	b->async.data = b;
	*out = b;
	return 0;
}

static void bridge_free(uv_handle_t *h)
{
	ctl_bridge *b = h->data;
	b->async_closed = 1;
	maybe_free(b);
}

void ctl_bridge_close(ctl_bridge *b)
{
	pthread_mutex_lock(&b->mu);
	b->closed = 1;
	bcall *c = b->head;
	b->head = b->tail = NULL;
	for (; c; c = c->next) {
		c->code = -1;
		c->done = 1;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&b->mu);
	uv_close((uv_handle_t *)&b->async, bridge_free);
}
