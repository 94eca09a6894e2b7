/* watch.c - etcd v2 watches: registration against the store's history,
 * the hub that wakes parked watchers on applied events, and the chunked
 * response each watcher streams on.
 *
 * A watcher lives in its request's memory pool (freed by H2O when the
 * request ends, whatever the reason). It is findable three ways: by
 * watched path (the hub, so a write looks only at its key's ancestors),
 * by socket (to notice a client hanging up while parked: H2O stops
 * reading during a response, so we read ourselves), and by nothing once
 * it has sent its final chunk. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <h2o/socket.h>

#include "../log.h"
#include "internal.h"
#include "json.h"

#define STREAM_MAX_BEHIND 100
#define MAX_PIPELINED_INPUT (1u << 20)

struct api_watcher {
	h2o_generator_t gen; /* first: H2O passes it back to callbacks */
	api *a;
	h2o_req_t *req;
	h2o_socket_t *sock; /* non-NULL while we read for disconnects */
	char *path;
	int recursive, stream;
	uint64_t from; /* smallest event index still of interest */

	api_wslot *slot; /* non-NULL while parked in the hub */
	api_watcher *prev, *next;
	api_watcher *sock_next;
	uint64_t gen_seen;

	abuf inflight; /* bytes H2O is writing now */
	abuf pending;  /* event lines waiting for the write to finish */
	size_t pending_events;
	int busy;      /* a write is in progress: wait for proceed */
	int finishing; /* 1: end after pending; 2: abort the connection */
	int done;      /* final state sent: req may be gone */
};

static uint32_t path_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static size_t sock_slot(const h2o_socket_t *sock)
{
	return ((uintptr_t)sock >> 4) % API_SOCKMAP_SIZE;
}

static api_wslot *slot_find(api_hub *h, const char *path, size_t len)
{
	if (!h->n_buckets)
		return NULL;
	uint32_t hv = 2166136261u;
	for (size_t i = 0; i < len; i++)
		hv = (hv ^ (unsigned char)path[i]) * 16777619u;
	for (api_wslot *s = h->buckets[hv % h->n_buckets]; s; s = s->next)
		if (s->hash == hv && strlen(s->path) == len &&
		    memcmp(s->path, path, len) == 0)
			return s;
	return NULL;
}

static int hub_grow(api_hub *h)
{
	size_t nb = h->n_buckets ? h->n_buckets * 2 : 64;
	api_wslot **b = calloc(nb, sizeof(*b));
	if (!b)
		return -1;
	for (size_t i = 0; i < h->n_buckets; i++) {
		api_wslot *s = h->buckets[i];
		while (s) {
			api_wslot *next = s->next;
			s->next = b[s->hash % nb];
			b[s->hash % nb] = s;
			s = next;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = nb;
	return 0;
}

static api_wslot *slot_get(api_hub *h, const char *path)
{
	api_wslot *s = slot_find(h, path, strlen(path));
	if (s)
		return s;
	if (h->n_slots >= h->n_buckets * 2 && hub_grow(h) != 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return NULL;
	}
	s->hash = path_hash(path);
	s->next = h->buckets[s->hash % h->n_buckets];
	h->buckets[s->hash % h->n_buckets] = s;
	h->n_slots++;
	return s;
}

static void slot_drop(api_hub *h, api_wslot *s)
{
	api_wslot **pp = &h->buckets[s->hash % h->n_buckets];
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	free(s->path);
	free(s);
	h->n_slots--;
}

static void sock_forget(api_watcher *w)
{
	if (!w->sock)
		return;
	api_watcher **pp = &w->a->hub.by_sock[sock_slot(w->sock)];
	while (*pp && *pp != w)
		pp = &(*pp)->sock_next;
	if (*pp)
		*pp = w->sock_next;
	/* Give reading back to H2O's HTTP/1 code, which expects it stopped
	 * while a response is in progress. */
	if (!w->done)
		h2o_socket_read_stop(w->sock);
	w->sock = NULL;
}

static void hub_unlink(api_watcher *w)
{
	api_hub *h = &w->a->hub;
	if (!w->slot)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		w->slot->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (!w->slot->head)
		slot_drop(h, w->slot);
	w->slot = NULL;
	w->prev = w->next = NULL;
	h->n_watchers--;
}

static int hub_link(api_watcher *w)
{
	api_wslot *s = slot_get(&w->a->hub, w->path);
	if (!s)
		return -1;
	w->slot = s;
	w->next = s->head;
	if (s->head)
		s->head->prev = w;
	s->head = w;
	w->a->hub.n_watchers++;
	return 0;
}

static void watcher_dispose(void *p)
{
	api_watcher *w = p;
	w->done = 1;
	hub_unlink(w);
	sock_forget(w);
	free(w->path);
	abuf_free(&w->inflight);
	abuf_free(&w->pending);
}

/* Frames data as one HTTP/1.1 chunk. We do our own chunked encoding
 * because H2O 2.2 holds back the headers until the first non-empty chunk,
 * and etcd clients expect them at once. */
static void put_chunk(abuf *out, const char *data, size_t len)
{
	if (!len)
		return;
	abuf_printf(out, "%zx\r\n", len);
	abuf_put(out, data, len);
	abuf_put(out, "\r\n", 2);
}

/* Sends the final state; after this the request may vanish at any time. */
static void watcher_finish(api_watcher *w)
{
	h2o_req_t *req = w->req;
	hub_unlink(w);
	sock_forget(w);
	w->done = 1;
	if (w->finishing == 2) {
		h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
		return;
	}
	abuf out;
	abuf_init(&out);
	put_chunk(&out, w->pending.p, w->pending.len);
	abuf_put(&out, "0\r\n\r\n", 5);
	abuf_free(&w->pending);
	if (!abuf_ok(&out)) {
		abuf_free(&out);
		h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
		return;
	}
	h2o_iovec_t buf = h2o_strdup(&req->pool, out.p, out.len);
	abuf_free(&out);
	h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void watcher_flush(api_watcher *w)
{
	if (w->busy || w->done)
		return;
	if (w->finishing) {
		watcher_finish(w);
		return;
	}
	if (!w->pending.len)
		return;
	abuf_free(&w->inflight);
	put_chunk(&w->inflight, w->pending.p, w->pending.len);
	abuf_free(&w->pending);
	w->pending_events = 0;
	if (!abuf_ok(&w->inflight)) {
		w->finishing = 2;
		watcher_finish(w);
		return;
	}
	w->busy = 1;
	h2o_iovec_t buf = h2o_iovec_init(w->inflight.p, w->inflight.len);
	h2o_send(w->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void watcher_end(api_watcher *w, int abort)
{
	if (w->done)
		return;
	hub_unlink(w);
	if (!w->finishing || abort)
		w->finishing = abort ? 2 : 1;
	watcher_flush(w);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	api_watcher *w = (api_watcher *)g;
	w->busy = 0;
	abuf_free(&w->inflight);
	watcher_flush(w);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
	api_watcher *w = (api_watcher *)g;
	/* H2O is tearing the request down (connection gone). */
	hub_unlink(w);
	w->done = 1;
	sock_forget(w);
}

static void on_sock_read(h2o_socket_t *sock, const char *err)
{
	/* sock->data is H2O's connection, whose first member is the public
	 * h2o_conn_t; its context is embedded in our api. */
	h2o_conn_t *conn = sock->data;
	api *a = (api *)((char *)conn->ctx - offsetof(api, h2o_ctx));
	api_watcher *w = a->hub.by_sock[sock_slot(sock)];
	while (w && w->sock != sock)
		w = w->sock_next;
	if (!w) {
		h2o_socket_read_stop(sock);
		return;
	}
	if (err == NULL && sock->input->size < MAX_PIPELINED_INPUT)
		return; /* a pipelined request: H2O parses it after us */
	sock_forget(w);
	watcher_end(w, 1);
}

static void watch_sock(api_watcher *w)
{
	h2o_socket_t *sock = NULL;
	if (w->req->version < 0x200 && w->req->conn->callbacks->get_socket)
		sock = w->req->conn->callbacks->get_socket(w->req->conn);
	if (!sock)
		return;
	w->sock = sock;
	size_t i = sock_slot(sock);
	w->sock_next = w->a->hub.by_sock[i];
	w->a->hub.by_sock[i] = w;
	h2o_socket_read_start(sock, on_sock_read);
}

static void queue_event(api_watcher *w, const char *line, size_t len)
{
	abuf_put(&w->pending, line, len);
	w->pending_events++;
	if (!abuf_ok(&w->pending)) {
		watcher_end(w, 1);
		return;
	}
	if (!w->stream) {
		watcher_end(w, 0);
		return;
	}
	/* etcd drops stream consumers that fall too far behind. */
	if (w->pending_events > STREAM_MAX_BEHIND) {
		watcher_end(w, 1);
		return;
	}
	watcher_flush(w);
}

static void render_line(abuf *b, const store_event *ev)
{
	api_json_event(b, ev, api_now_ns(), 0);
	abuf_putc(b, '\n');
}

/* Adds every watcher of a slot that has not been seen for this event. */
static void collect_slot(api_hub *h, api_wslot *s, api_watcher ***v, size_t *n,
			 size_t *cap)
{
	for (api_watcher *w = s ? s->head : NULL; w; w = w->next) {
		if (w->gen_seen == h->gen)
			continue;
		w->gen_seen = h->gen;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			api_watcher **nv = realloc(*v, nc * sizeof(**v));
			if (!nv)
				return;
			*v = nv;
			*cap = nc;
		}
		(*v)[(*n)++] = w;
	}
}

/* Watchers at the key and each of its ancestors; for a directory going
 * away, also everything registered below it. */
static api_watcher **collect(api_hub *h, const store_event *ev, size_t *n)
{
	api_watcher **v = NULL;
	size_t cap = 0;
	const char *key = ev->node.key ? ev->node.key : "/";
	size_t klen = strlen(key);
	*n = 0;
	h->gen++;
	collect_slot(h, slot_find(h, "/", 1), &v, n, &cap);
	for (size_t i = 1; i <= klen; i++)
		if (i == klen || key[i] == '/')
			collect_slot(h, slot_find(h, key, i), &v, n, &cap);
	int gone = ev->action == STORE_ACTION_DELETE ||
		   ev->action == STORE_ACTION_EXPIRE ||
		   ev->action == STORE_ACTION_CAD;
	if (gone && ev->node.dir) {
		for (size_t b = 0; b < h->n_buckets; b++)
			for (api_wslot *s = h->buckets[b]; s; s = s->next)
				if (strncmp(s->path, key, klen) == 0 &&
				    s->path[klen] == '/')
					collect_slot(h, s, &v, n, &cap);
	}
	return v;
}

static void hub_on_event(void *ctx, const store_event *ev)
{
	api *a = ctx;
	if (ev->action == STORE_ACTION_EXPIRE)
		a->stats[API_STAT_EXPIRE]++;
	if (ev->refresh || a->hub.n_watchers == 0)
		return;
	size_t n;
	api_watcher **v = collect(&a->hub, ev, &n);
	abuf line;
	abuf_init(&line);
	for (size_t i = 0; i < n; i++) {
		api_watcher *w = v[i];
		if (w->done || !w->slot || ev->index < w->from ||
		    !store_event_matches(ev, w->path, w->recursive))
			continue;
		if (!line.len)
			render_line(&line, ev);
		w->from = ev->index + 1;
		if (!w->stream)
			hub_unlink(w);
		queue_event(w, line.p, line.len);
	}
	abuf_free(&line);
	free(v);
}

static void on_leader_tick(uv_timer_t *t)
{
	api *a = t->data;
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	if (st.leader_id != 0) {
		a->no_leader_since_ns = 0;
		return;
	}
	int64_t now = api_now_ns();
	if (!a->no_leader_since_ns) {
		a->no_leader_since_ns = now;
		return;
	}
	if (now - a->no_leader_since_ns >=
	    (int64_t)a->cfg.watch_no_leader_ms * 1000000) {
		log_warn("api", "no leader for %d ms: ending %zu watches",
			 a->cfg.watch_no_leader_ms, a->hub.n_watchers);
		api_watch_end_all(a);
		a->no_leader_since_ns = now;
	}
}

int api_hub_init(api *a)
{
	if (hub_grow(&a->hub) != 0)
		return -1;
	int id = store_subscribe(a->st, hub_on_event, a);
	if (id < 0) {
		log_error("api", "cannot subscribe to store events");
		return id;
	}
	a->hub.sub_id = id;
	if (a->cfg.watch_no_leader_ms > 0) {
		uv_timer_init(a->loop, &a->leader_timer);
		a->leader_timer.data = a;
		api_ref(a);
		a->hub.timer_on = 1;
		uint64_t tick = a->cfg.watch_no_leader_ms / 4 + 1;
		uv_timer_start(&a->leader_timer, on_leader_tick, tick, tick);
	}
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	api_unref(h->data);
}

void api_watch_end_all(api *a)
{
	api_hub *h = &a->hub;
	size_t n = 0, cap = 0;
	api_watcher **v = NULL;
	h->gen++;
	for (size_t b = 0; b < h->n_buckets; b++)
		for (api_wslot *s = h->buckets[b]; s; s = s->next)
			collect_slot(h, s, &v, &n, &cap);
	for (size_t i = 0; i < n; i++)
		watcher_end(v[i], 0);
	free(v);
}

void api_hub_close(api *a)
{
	if (a->hub.sub_id > 0)
		store_unsubscribe(a->st, a->hub.sub_id);
	a->hub.sub_id = 0;
	api_watch_end_all(a);
	if (a->hub.timer_on) {
		uv_timer_stop(&a->leader_timer);
		uv_close((uv_handle_t *)&a->leader_timer, timer_closed);
		a->hub.timer_on = 0;
	}
	free(a->hub.buckets);
	a->hub.buckets = NULL;
	a->hub.n_buckets = 0;
}

/* Answers from history; returns 1 when the request is complete. */
static int from_history(api *a, h2o_req_t *req, api_watcher *w,
			uint64_t current)
{
	while (w->from <= current) {
		int found = 0;
		store_event ev;
		store_result err;
		memset(&ev, 0, sizeof(ev));
		memset(&err, 0, sizeof(err));
		int rc = store_history_find(a->st, w->from, w->path,
					    w->recursive, &found, &ev, &err);
		if (rc != 0 && !w->pending.len) {
			/* Only possible before anything was queued. */
			api_send_store_error(a, req,
					     err.error ? err.error : 300,
					     err.cause, current);
			store_result_free(&err);
			return -1;
		}
		store_result_free(&err);
		if (rc != 0 || !found)
			break;
		render_line(&w->pending, &ev);
		w->pending_events++;
		w->from = ev.index + 1;
		store_node_free(&ev.node);
		store_node_free(&ev.prev);
		if (!w->stream)
			return 1;
	}
	return 0;
}

void api_watch_start(api *a, h2o_req_t *req, const char *path, int recursive,
		     int stream, uint64_t wait_index)
{
	uint64_t current = store_current_index(a->st);
	api_watcher *w =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*w), watcher_dispose);
	memset(w, 0, sizeof(*w));
	w->a = a;
	w->req = req;
	w->recursive = recursive;
	w->stream = stream;
	w->from = wait_index ? wait_index : current + 1;
	w->path = strdup(path);
	w->gen.proceed = on_proceed;
	w->gen.stop = on_stop;
	if (!w->path) {
		w->done = 1;
		api_send_store_error(a, req, 300, "out of memory", 0);
		return;
	}
	int complete = from_history(a, req, w, current);
	if (complete < 0) {
		w->done = 1;
		return;
	}
	api_hdr_u64(req, "X-Etcd-Index", current);
	api_hdr_raft(a, req);
	if (complete) {
		/* The answer is known: headers and event in one write. */
		w->done = 1;
		api_send(a, req, 200, "application/json", w->pending.p,
			 w->pending.len);
		return;
	}
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		       NULL, H2O_STRLIT("application/json"));
	h2o_add_header(&req->pool, &req->res.headers,
		       H2O_TOKEN_TRANSFER_ENCODING, NULL,
		       H2O_STRLIT("chunked"));
	api_count_status(a, 200, NULL);
	h2o_start_response(req, &w->gen);
	if (hub_link(w) != 0) {
		w->finishing = 2;
		watcher_finish(w);
		return;
	}
	/* Headers go out now, before any event, as etcd flushes them. */
	if (w->pending.len) {
		watcher_flush(w);
	} else {
		/* An empty buffer (not none) makes H2O write the headers. */
		h2o_iovec_t none = h2o_iovec_init("", 0);
		w->busy = 1;
		h2o_send(req, &none, 1, H2O_SEND_STATE_IN_PROGRESS);
	}
	watch_sock(w);
}
