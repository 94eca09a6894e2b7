/* gc.c - endpoint garbage collection for hosts that left or died.
 *
 * Liveness is a TTL key per host (GC_HOSTS_DIR/<ip>, refreshed through Raft
 * every few seconds), so it is replicated state every leader can read. Only
 * the leader sweeps, once a second: an endpoint whose owner (locator) is no
 * longer a cluster member is deleted at once; one whose owner is a member
 * but silent is deleted after the grace period (--endpoint-gc), measured
 * from when this leader first saw it silent (a new leader starts counting
 * afresh, which only ever delays a collection). Only ovld's endpoints
 * (the "ovld" marker) are collected. Deletes are
 * compare-and-delete on the record's modifiedIndex, so an endpoint that was
 * re-created meanwhile survives. */
#include "gc.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"

#define GC_TICK_MS 1000
#define GC_BEAT_EVERY 5	 /* ticks between heartbeats */
#define GC_BEAT_TTL_S 15 /* three missed beats = silent */
#define GC_EP_DIR "/docker/network/v1.0/endpoint"
#define GC_CLAIM "/docker/network/v1.0/_ovld"

typedef struct gc_host {
	char ip[64];
	int is_member, was_member;
	int64_t missing_since;
} gc_host;

struct dp_gc {
	store *st;
	raftnode *rn;
	char host[64];
	int64_t grace_ms;
	uv_timer_t timer;
	unsigned ticks;
	gc_host *hosts;
	size_t n_hosts, cap_hosts;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int dp_gc_decide(int is_member, int was_member, int heartbeat_alive,
		 int64_t now, int64_t *missing_since, int64_t grace_ms)
{
	if (!is_member && (was_member || !heartbeat_alive))
		return 1; /* removed from the cluster */
	if (heartbeat_alive) {
		*missing_since = 0;
		return 0;
	}
	if (*missing_since == 0) {
		*missing_since = now;
		return 0;
	}
	return now - *missing_since >= grace_ms;
}

static void on_done(void *ctx, store_result *res)
{
	if (res->error && res->error != 100 && res->error != 101)
		log_debug("net", "gc write: %d %s", res->error,
			  res->cause ? res->cause : "");
	store_result_free(res);
}

static void propose(dp_gc *g, int op, const char *path, const char *value,
		    uint64_t prev_index, int64_t ttl_s)
{
	int64_t now = wall_ns();
	store_cmd c = {.op = op,
		       .path = path,
		       .path_len = strlen(path),
		       .value = value,
		       .value_len = value ? strlen(value) : 0,
		       .prev_index = prev_index,
		       .prev_exist = -1,
		       .expire_ns = ttl_s ? now + ttl_s * 1000000000 : 0,
		       .now_ns = now};
	if (raftnode_propose(g->rn, &c, on_done, NULL) != 0)
		log_debug("net", "gc: cannot propose for %s", path);
}

static gc_host *host_entry(dp_gc *g, const char *ip)
{
	for (size_t i = 0; i < g->n_hosts; i++)
		if (!strcmp(g->hosts[i].ip, ip))
			return &g->hosts[i];
	if (g->n_hosts == g->cap_hosts) {
		size_t cap = g->cap_hosts ? g->cap_hosts * 2 : 8;
		gc_host *nv = realloc(g->hosts, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		g->hosts = nv;
		g->cap_hosts = cap;
	}
	gc_host *h = &g->hosts[g->n_hosts++];
	memset(h, 0, sizeof(*h));
	snprintf(h->ip, sizeof(h->ip), "%s", ip);
	return h;
}

/* Host parts of a comma-separated list of http://HOST:PORT URLs. */
static void mark_urls(dp_gc *g, const char *urls)
{
	while (urls && *urls) {
		const char *p = strstr(urls, "://");
		p = p ? p + 3 : urls;
		size_t n = strcspn(p, ":/,");
		char ip[64];
		snprintf(ip, sizeof(ip), "%.*s", (int)(n < 63 ? n : 63), p);
		gc_host *h = host_entry(g, ip);
		if (h)
			h->is_member = h->was_member = 1;
		urls = strchr(p, ',');
		if (urls)
			urls++;
	}
}

static int refresh_members(dp_gc *g)
{
	raftnode_member *m;
	size_t n;
	if (raftnode_members(g->rn, &m, &n) != 0 || n == 0)
		return -1;
	for (size_t i = 0; i < g->n_hosts; i++)
		g->hosts[i].is_member = 0;
	for (size_t i = 0; i < n; i++) {
		mark_urls(g, m[i].peer_url);
		mark_urls(g, m[i].client_urls);
	}
	free(m);
	return 0;
}

static int heartbeat_alive(dp_gc *g, const char *ip)
{
	char path[160];
	store_result r;
	snprintf(path, sizeof(path), GC_HOSTS_DIR "/%s", ip);
	int alive = store_get(g->st, path, 0, 0, &r) == 0 && r.error == 0;
	store_result_free(&r);
	return alive;
}

/* Docker's endpoint_count/<nid>, one lower (compare-and-swap: if another
 * writer got there first the count is left for it to fix). */
static void count_down(dp_gc *g, const char *nid)
{
	char path[256], val[64];
	store_result r;
	snprintf(path, sizeof(path), "/docker/network/v1.0/endpoint_count/%s",
		 nid);
	if (store_get(g->st, path, 0, 0, &r) == 0 && r.error == 0 &&
	    r.ev.node.value) {
		json_t *v = json_loads(r.ev.node.value, 0, NULL);
		json_int_t n = json_integer_value(json_object_get(v, "Count"));
		json_decref(v);
		snprintf(val, sizeof(val), "{\"Count\":%lld}",
			 (long long)(n > 0 ? n - 1 : 0));
		propose(g, STORE_OP_PUT, path, val, r.ev.node.modified_index,
			0);
	}
	store_result_free(&r);
}

/* Deletes the record (compare-and-delete) and releases its claims. */
static void collect(dp_gc *g, const char *nid, const store_node *ep,
		    json_t *rec)
{
	char path[512], ip[32] = "";
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *addr = json_string_value(
	    json_object_get(json_object_get(rec, "ep_iface"), "addr"));
	if (addr)
		snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(addr, "/"), addr);
	log_info("net", "collecting endpoint %s (%s) of host %s",
		 name ? name : "?", ip,
		 json_string_value(json_object_get(rec, "locator")));
	propose(g, STORE_OP_DELETE, ep->key, NULL, ep->modified_index, 0);
	count_down(g, nid);
	if (ip[0]) {
		snprintf(path, sizeof(path), GC_CLAIM "/ips/%s/%s", nid, ip);
		propose(g, STORE_OP_DELETE, path, NULL, 0, 0);
	}
	if (name) {
		snprintf(path, sizeof(path), GC_CLAIM "/epnames/%s/%s", nid,
			 name);
		propose(g, STORE_OP_DELETE, path, NULL, 0, 0);
	}
}

static void sweep_endpoint(dp_gc *g, const char *nid, const store_node *ep,
			   int64_t now)
{
	json_t *rec = ep->value ? json_loads(ep->value, 0, NULL) : NULL;
	const char *loc = json_string_value(json_object_get(rec, "locator"));
	/* Docker's own endpoints are Docker's to remove: its locator is the
	 * --cluster-advertise address, which need not be an ovld member. */
	if (!json_is_true(json_object_get(rec, "ovld")))
		loc = NULL;
	gc_host *h = loc && strcmp(loc, g->host) ? host_entry(g, loc) : NULL;
	if (h &&
	    dp_gc_decide(h->is_member, h->was_member, heartbeat_alive(g, loc),
			 now, &h->missing_since, g->grace_ms))
		collect(g, nid, ep, rec);
	json_decref(rec);
}

static void sweep(dp_gc *g)
{
	raftnode_status s;
	raftnode_get_status(g->rn, &s);
	if (s.state != RAFTNODE_LEADER) {
		g->n_hosts = 0; /* a future term starts counting afresh */
		return;
	}
	if (refresh_members(g) != 0)
		return;
	store_result r;
	int64_t now = now_ms();
	if (store_get(g->st, GC_EP_DIR, 1, 1, &r) == 0 && r.error == 0) {
		for (size_t i = 0; i < r.ev.node.n_children; i++) {
			const store_node *net = &r.ev.node.children[i];
			const char *nid = strrchr(net->key, '/');
			for (size_t j = 0; nid && j < net->n_children; j++)
				sweep_endpoint(g, nid + 1, &net->children[j],
					       now);
		}
	}
	store_result_free(&r);
}

static void on_tick(uv_timer_t *t)
{
	dp_gc *g = t->data;
	if (g->ticks++ % GC_BEAT_EVERY == 0) {
		char path[160];
		snprintf(path, sizeof(path), GC_HOSTS_DIR "/%s", g->host);
		propose(g, STORE_OP_PUT, path, g->host, 0, GC_BEAT_TTL_S);
	}
	sweep(g);
}

int dp_gc_init(dp_gc **out, uv_loop_t *loop, store *st, raftnode *rn,
	       const char *host_ip, unsigned grace_s)
{
	dp_gc *g = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	g->st = st;
	g->rn = rn;
	g->grace_ms = (int64_t)grace_s * 1000;
	snprintf(g->host, sizeof(g->host), "%s", host_ip);
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	*out = g;
	return 0;
}

void dp_gc_start(dp_gc *g)
{
	if (g->rn)
		uv_timer_start(&g->timer, on_tick, 0, GC_TICK_MS);
}

static void on_closed(uv_handle_t *h)
{
	dp_gc *g = h->data;
	free(g->hosts);
	free(g);
}

void dp_gc_close(dp_gc *g)
{
	if (g)
		uv_close((uv_handle_t *)&g->timer, on_closed);
}
