/* dp.c - the datapath reconciler: follows store events, works out which
 * overlay network changed, rebuilds that network's desired state from the
 * Docker-layout records and hands it to sync.c to converge the kernel.
 *
 * Events only mark networks dirty; a 1 ms timer coalesces a burst (a Raft
 * batch, an attach's record + count update) into one converge per network.
 * A periodic full resync re-reads the kernel, so state changed behind our
 * back (a deleted device, a flushed FDB) is repaired, and leftovers of a
 * crash are removed. All netlink work runs on the loop thread; it is a few
 * short synchronous requests per changed endpoint. Container namespaces are
 * entered only for socket creation (see nl.c), on this thread alone. */
#include "dp.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../metrics.h"
#include "nl.h"
#include "sync.h"

#define DP_ROOT "/docker/network/v1.0/"
#define KICK_MS 1

struct dp {
	uv_loop_t *loop;
	store *st;
	raftnode *rn;
	char host_str[64];
	uint32_t host;
	unsigned resync_ms;
	dpnl *nl;
	int sub;
	uv_timer_t kick, resync;
	int pending_closes;
	int full;
	char (*dirty)[65];
	size_t n_dirty, cap_dirty;
	sync_state *nets;
	size_t n_nets, cap_nets;
	uint64_t runs, errors; /* converges of one network, and failures */
	metrics_hist converge_time;
};

static void mark_dirty(dp *d, const char *nid, size_t len)
{
	if (len == 0 || len > 64) {
		d->full = 1;
		return;
	}
	for (size_t i = 0; i < d->n_dirty; i++)
		if (strlen(d->dirty[i]) == len &&
		    !memcmp(d->dirty[i], nid, len))
			return;
	if (d->n_dirty == d->cap_dirty) {
		size_t cap = d->cap_dirty ? d->cap_dirty * 2 : 16;
		void *nv = realloc(d->dirty, cap * sizeof(*d->dirty));
		if (!nv) {
			d->full = 1;
			return;
		}
		d->dirty = nv;
		d->cap_dirty = cap;
	}
	memcpy(d->dirty[d->n_dirty], nid, len);
	d->dirty[d->n_dirty++][len] = '\0';
}

/* Which network an event is about: network/<nid>, overlay/network/<nid>,
 * endpoint/<nid>/<eid>. A directory above them changing means "all". */
static void classify(dp *d, const char *key)
{
	static const char *per_net[] = {"network/", "overlay/network/",
					"endpoint/"};
	if (!key || strncmp(key, "/docker", 7) != 0)
		return;
	if (strncmp(key, DP_ROOT, strlen(DP_ROOT)) != 0) {
		if (strlen(key) <= strlen(DP_ROOT))
			d->full = 1; /* /docker, /docker/network, ... */
		return;
	}
	const char *rest = key + strlen(DP_ROOT);
	for (size_t i = 0; i < 3; i++) {
		size_t pl = strlen(per_net[i]);
		if (!strncmp(rest, per_net[i], pl)) {
			const char *nid = rest + pl;
			mark_dirty(d, nid, strcspn(nid, "/"));
			return;
		}
		if (!strncmp(rest, per_net[i], pl - 1) && rest[pl - 1] == '\0')
			d->full = 1;
	}
}

static void on_kick(uv_timer_t *t);

static void on_event(void *ctx, const store_event *ev)
{
	dp *d = ctx;
	classify(d, ev->node.key);
	if ((d->full || d->n_dirty) && !uv_is_active((uv_handle_t *)&d->kick))
		uv_timer_start(&d->kick, on_kick, KICK_MS, 0);
}

static char *read_value(dp *d, const char *path)
{
	store_result r;
	char *v = NULL;
	if (store_get(d->st, path, 0, 0, &r) == 0 && r.error == 0 &&
	    r.ev.node.value)
		v = strdup(r.ev.node.value);
	store_result_free(&r);
	return v;
}

/* The network is ours (ovld marker) and has a VNI. */
static int load_network(dp *d, const char *nid, sync_net *net)
{
	char path[256];
	memset(net, 0, sizeof(*net));
	snprintf(net->id, sizeof(net->id), "%s", nid);
	snprintf(path, sizeof(path), DP_ROOT "network/%s", nid);
	char *v = read_value(d, path);
	json_t *r = v ? json_loads(v, 0, NULL) : NULL;
	int ours = json_is_true(json_object_get(r, "ovld")) &&
		   !json_is_true(json_object_get(r, "inDelete"));
	json_decref(r);
	free(v);
	if (!ours)
		return -1;
	snprintf(path, sizeof(path), DP_ROOT "overlay/network/%s", nid);
	v = read_value(d, path);
	r = v ? json_loads(v, 0, NULL) : NULL;
	json_t *sn = json_array_get(json_object_get(r, "subnets"), 0);
	net->vni = (uint32_t)json_integer_value(json_object_get(sn, "Vni"));
	json_decref(r);
	free(v);
	return net->vni ? 0 : -1;
}

static void load_endpoints(dp *d, sync_net *net)
{
	char path[256];
	store_result r;
	snprintf(path, sizeof(path), DP_ROOT "endpoint/%s", net->id);
	if (store_get(d->st, path, 1, 1, &r) == 0 && r.error == 0 &&
	    r.ev.node.n_children) {
		net->eps = calloc(r.ev.node.n_children, sizeof(*net->eps));
		for (size_t i = 0; net->eps && i < r.ev.node.n_children; i++) {
			store_node *c = &r.ev.node.children[i];
			if (!c->dir &&
			    dp_sync_parse_endpoint(c->value,
						   &net->eps[net->n_eps]) == 0)
				net->n_eps++;
		}
	}
	store_result_free(&r);
}

static sync_state *state_for(dp *d, const char *nid, int create)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (!strcmp(d->nets[i].id, nid))
			return &d->nets[i];
	if (!create)
		return NULL;
	if (d->n_nets == d->cap_nets) {
		size_t cap = d->cap_nets ? d->cap_nets * 2 : 8;
		sync_state *nv = realloc(d->nets, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		d->nets = nv;
		d->cap_nets = cap;
	}
	sync_state *st = &d->nets[d->n_nets++];
	memset(st, 0, sizeof(*st));
	snprintf(st->id, sizeof(st->id), "%s", nid);
	return st;
}

/* States with nothing programmed are dropped, keeping the list short. */
static void compact_states(dp *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n_nets; i++) {
		if (d->nets[i].vni || d->nets[i].n_veths)
			d->nets[k++] = d->nets[i];
		else
			dp_sync_state_free(&d->nets[i]);
	}
	d->n_nets = k;
}

static void converge(dp *d, const char *nid)
{
	uint64_t t0 = uv_hrtime();
	sync_net net;
	int have = load_network(d, nid, &net) == 0;
	if (have)
		load_endpoints(d, &net);
	sync_state *st = state_for(d, nid, have);
	d->runs++;
	if (st &&
	    dp_sync_network(d->nl, d->host, have ? &net : NULL, st) != 0) {
		d->errors++;
		d->full = 1; /* retried on the next resync */
	}
	metrics_hist_observe(&d->converge_time, (uv_hrtime() - t0) / 1e9);
	log_debug("net", "network %.12s: %zu endpoint(s) converged in %.2f ms",
		  nid, have ? net.n_eps : 0, (uv_hrtime() - t0) / 1e6);
	free(net.eps);
}

/* Every network in the store, then every leftover device of ours. */
static void converge_all(dp *d)
{
	store_result r;
	for (size_t i = 0; i < d->n_nets; i++)
		d->nets[i].valid = 0;
	if (store_get(d->st, DP_ROOT "network", 0, 1, &r) == 0 &&
	    r.error == 0) {
		for (size_t i = 0; i < r.ev.node.n_children; i++) {
			const char *k = r.ev.node.children[i].key;
			const char *slash = k ? strrchr(k, '/') : NULL;
			if (slash)
				converge(d, slash + 1);
		}
	}
	store_result_free(&r);
	/* Networks that vanished from the store entirely. */
	for (size_t i = 0; i < d->n_nets; i++) {
		sync_net probe;
		if (load_network(d, d->nets[i].id, &probe) != 0)
			dp_sync_network(d->nl, d->host, NULL, &d->nets[i]);
	}
	compact_states(d);
	uint32_t *vnis = calloc(d->n_nets + 1, sizeof(*vnis));
	size_t n_veths = 0;
	for (size_t i = 0; i < d->n_nets; i++)
		n_veths += d->nets[i].n_veths;
	char(*veths)[16] = calloc(n_veths + 1, 16);
	if (vnis && veths) {
		size_t k = 0;
		for (size_t i = 0; i < d->n_nets; i++) {
			vnis[i] = d->nets[i].vni;
			for (size_t j = 0; j < d->nets[i].n_veths; j++)
				memcpy(veths[k++], d->nets[i].veths[j], 16);
		}
		dp_sync_remove_stale(d->nl, vnis, d->n_nets, veths, n_veths);
	}
	free(vnis);
	free(veths);
}

static void on_kick(uv_timer_t *t)
{
	dp *d = t->data;
	if (d->full) {
		d->full = 0;
		d->n_dirty = 0;
		converge_all(d);
		return;
	}
	size_t n = d->n_dirty;
	d->n_dirty = 0;
	for (size_t i = 0; i < n; i++)
		converge(d, d->dirty[i]);
	compact_states(d);
}

static void on_resync(uv_timer_t *t)
{
	dp *d = t->data;
	d->full = 0;
	d->n_dirty = 0;
	converge_all(d);
}

int dp_init(dp **out, uv_loop_t *loop, store *st, raftnode *rn,
	    const dp_config *cfg)
{
	dp *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->loop = loop;
	d->st = st;
	d->rn = rn;
	snprintf(d->host_str, sizeof(d->host_str), "%s",
		 cfg->host_ip ? cfg->host_ip : "");
	if (inet_pton(AF_INET, d->host_str, &d->host) != 1) {
		log_error("net",
			  "datapath needs an IPv4 host address, got "
			  "\"%s\" (set --advertise)",
			  d->host_str);
		free(d);
		return -1;
	}
	d->resync_ms = cfg->resync_ms ? cfg->resync_ms : 10000;
	int err = dpnl_open(&d->nl);
	if (err < 0) {
		log_error("net", "netlink: %s", dpnl_strerror(err));
		free(d);
		return -1;
	}
	uv_timer_init(loop, &d->kick);
	uv_timer_init(loop, &d->resync);
	d->kick.data = d->resync.data = d;
	*out = d;
	return 0;
}

int dp_start(dp *d)
{
	uint64_t t0 = uv_hrtime();
	converge_all(d);
	double ms = (uv_hrtime() - t0) / 1e6;
	d->sub = store_subscribe(d->st, on_event, d);
	if (d->sub < 0) {
		log_error("net", "cannot follow store events");
		return -1;
	}
	uv_timer_start(&d->resync, on_resync, d->resync_ms, d->resync_ms);
	log_info("net",
		 "datapath on, VTEP %s, %zu network(s) programmed, start "
		 "reconcile %.1f ms",
		 d->host_str, d->n_nets, ms);
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	dp *d = h->data;
	if (--d->pending_closes > 0)
		return;
	for (size_t i = 0; i < d->n_nets; i++)
		dp_sync_state_free(&d->nets[i]);
	free(d->nets);
	free(d->dirty);
	free(d);
}

/* Kernel state is left in place on purpose: a restarting ovld must not
 * interrupt traffic, and the next start adopts what is there. */
void dp_close(dp *d)
{
	if (!d)
		return;
	if (d->sub > 0)
		store_unsubscribe(d->st, d->sub);
	dpnl_close(d->nl);
	d->nl = NULL;
	d->pending_closes = 2;
	uv_close((uv_handle_t *)&d->kick, on_closed);
	uv_close((uv_handle_t *)&d->resync, on_closed);
}

void dp_metrics(void *ctx, char **buf, size_t *len, size_t *cap)
{
	dp *d = ctx;
	size_t devices = 0, fdb = 0, neigh = 0, veths = 0;
	for (size_t i = 0; i < d->n_nets; i++) {
		devices += d->nets[i].vx_ifindex ? 2 : 0; /* bridge + vxlan */
		fdb += d->nets[i].n_fdb;
		neigh += d->nets[i].n_neigh;
		veths += d->nets[i].n_veths;
	}
	metrics_sample(buf, len, cap, "ovld_dp_networks", "gauge",
		       "Networks this host tracks.", d->n_nets);
	metrics_sample(buf, len, cap, "ovld_dp_devices", "gauge",
		       "Bridge, vxlan and veth devices programmed.",
		       devices + veths);
	metrics_sample(buf, len, cap, "ovld_dp_fdb_entries", "gauge",
		       "FDB entries on vxlan devices.", fdb);
	metrics_sample(buf, len, cap, "ovld_dp_neigh_entries", "gauge",
		       "Neighbour entries on vxlan devices.", neigh);
	metrics_sample(buf, len, cap, "ovld_dp_reconcile_runs_total", "counter",
		       "Network converges.", d->runs);
	metrics_sample(buf, len, cap, "ovld_dp_reconcile_errors_total",
		       "counter", "Converges that failed (retried).",
		       d->errors);
	metrics_histogram(buf, len, cap, "ovld_dp_reconcile_duration_seconds",
			  "Time to converge one network.", &d->converge_time);
}
