/* gc.c - upkeep: host heartbeats and endpoint collection.
 *
 * Liveness is a TTL key per host (_ovld/hosts/<ip>, refreshed every few
 * seconds), so it is replicated state every leader can read. The leader
 * collects the endpoints of a host that is no longer a cluster member at
 * once, and of a member that stayed silent longer than the grace period,
 * measured from when this leader first saw it silent (a new leader starts
 * counting afresh, which only ever delays a collection).
 *
 * Every host also collects its own endpoints whose namespace (ovld_netns,
 * or Docker's ovld_sandbox) has been gone longer than netns_grace_s: a
 * runtime that crashed or never called DEL must not hold an address
 * forever. Both go through ovl_endpoint_detach, like any detach. Only
 * ovld's endpoints are collected; Docker's own are Docker's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../log.h"
#include "internal.h"

#define BEAT_EVERY_MS 5000
#define BEAT_TTL_S 15 /* three missed beats = silent */

struct ovl_gc_host {
	char ip[64];
	int was_member;
	int64_t missing_since;
	int64_t checked_at; /* the sweep that read its heartbeat */
	int alive;
};

struct ovl_gc_ns {
	char eid[65];
	int64_t gone_since;
	int seen;
};

int ovl_gc_decide(int is_member, int was_member, int heartbeat_alive,
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

int ovl_gc_ns_decide(int exists, int64_t now, int64_t *gone_since,
		     int64_t grace_ms)
{
	if (exists) {
		*gone_since = 0;
		return 0;
	}
	if (*gone_since == 0)
		*gone_since = now;
	return now - *gone_since >= grace_ms;
}

static void heartbeat(ovl *o, int64_t now)
{
	char key[160];
	if (!o->host[0] ||
	    (o->last_beat_ms && now - o->last_beat_ms < BEAT_EVERY_MS))
		return;
	snprintf(key, sizeof(key), OVL_HOSTS "/%s", o->host);
	if (o->kv.set(o->kv.ctx, key, o->host, BEAT_TTL_S) == 0)
		o->last_beat_ms = now;
}

static ovl_gc_host *host_entry(ovl *o, const char *ip)
{
	for (size_t i = 0; i < o->n_hosts; i++)
		if (!strcmp(o->hosts[i].ip, ip))
			return &o->hosts[i];
	if (o->n_hosts == o->cap_hosts) {
		size_t cap = o->cap_hosts ? o->cap_hosts * 2 : 8;
		ovl_gc_host *nv = realloc(o->hosts, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		o->hosts = nv;
		o->cap_hosts = cap;
	}
	ovl_gc_host *h = &o->hosts[o->n_hosts++];
	memset(h, 0, sizeof(*h));
	snprintf(h->ip, sizeof(h->ip), "%s", ip);
	return h;
}

static int is_member(const ovl_cluster_view *view, const char *ip)
{
	for (size_t i = 0; i < view->n_members; i++)
		if (!strcmp(view->member_ips[i], ip))
			return 1;
	return 0;
}

static int heartbeat_alive(ovl *o, const char *ip)
{
	char key[160];
	snprintf(key, sizeof(key), OVL_HOSTS "/%s", ip);
	return o->kv.get(o->kv.ctx, key, 0, NULL) == 0;
}

static void collect(ovl *o, const ovl_endpoint *e, const char *why)
{
	char ip[16];
	ovl_err err = {0};
	ovl_ip_format(e->ip, ip);
	log_info("overlay", "collecting endpoint %s (%s) of host %s: %s",
		 e->name, ip, e->host, why);
	if (ovl_endpoint_detach(o, e->network_id, e->id, 1, &err) != OVL_OK)
		log_warn("overlay", "collecting endpoint %s: %s", e->name,
			 err.msg);
}

static void sweep_remote(ovl *o, const ovl_cluster_view *view,
			 const ovl_gc_config *gc, const ovl_endpoint *e)
{
	ovl_gc_host *h = host_entry(o, e->host);
	if (!h)
		return;
	int member = is_member(view, e->host);
	h->was_member |= member;
	if (h->checked_at != view->now_ms) {
		h->alive = heartbeat_alive(o, e->host);
		h->checked_at = view->now_ms;
	}
	if (ovl_gc_decide(member, h->was_member, h->alive, view->now_ms,
			  &h->missing_since, (int64_t)gc->host_grace_s * 1000))
		collect(o, e,
			member ? "silent past the grace period"
			       : "no longer a member");
}

static ovl_gc_ns *ns_entry(ovl *o, const char *eid)
{
	for (size_t i = 0; i < o->n_gone; i++)
		if (!strcmp(o->gone[i].eid, eid))
			return &o->gone[i];
	if (o->n_gone == o->cap_gone) {
		size_t cap = o->cap_gone ? o->cap_gone * 2 : 16;
		ovl_gc_ns *nv = realloc(o->gone, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		o->gone = nv;
		o->cap_gone = cap;
	}
	ovl_gc_ns *g = &o->gone[o->n_gone++];
	memset(g, 0, sizeof(*g));
	snprintf(g->eid, sizeof(g->eid), "%s", eid);
	return g;
}

static void sweep_local(ovl *o, const ovl_cluster_view *view,
			const ovl_gc_config *gc, const ovl_endpoint *e)
{
	const char *path = e->netns[0] ? e->netns : e->sandbox;
	if (!path[0])
		return; /* Docker's endpoint before its Join: no sandbox yet */
	ovl_gc_ns *g = ns_entry(o, e->id);
	if (!g)
		return;
	g->seen = 1;
	struct stat st;
	if (ovl_gc_ns_decide(stat(path, &st) == 0, view->now_ms, &g->gone_since,
			     (int64_t)gc->netns_grace_s * 1000))
		collect(o, e, "its network namespace is gone");
}

/* Entries of endpoints that no longer exist are dropped. */
static void prune_gone(ovl *o)
{
	size_t k = 0;
	for (size_t i = 0; i < o->n_gone; i++)
		if (o->gone[i].seen) {
			o->gone[i].seen = 0;
			o->gone[k++] = o->gone[i];
		}
	o->n_gone = k;
}

/* Every endpoint record, in one read of the endpoint directory (the
 * sweep runs every second on every host; network names are not needed). */
static int all_endpoints(ovl *o, ovl_endpoint **out, size_t *cnt)
{
	json_t *root = NULL, *net, *ch;
	*out = NULL;
	*cnt = 0;
	int rc = o->kv.get(o->kv.ctx, OVL_EP, 1, &root);
	if (rc)
		return rc == OVL_KV_NOT_FOUND ? 0 : -1;
	size_t i, j, total = 0, k = 0;
	json_array_foreach(ovl_node_children(root), i, net)
	{
		total += json_array_size(ovl_node_children(net));
	}
	ovl_endpoint *v = calloc(total + 1, sizeof(*v));
	json_array_foreach(ovl_node_children(root), i, net)
	{
		ovl_network n = {0};
		snprintf(n.id, sizeof(n.id), "%s", ovl_node_base(net));
		json_array_foreach(ovl_node_children(net), j, ch)
		{
			if (v && ovl_ep_from_node(ch, &n, &v[k]) == 0)
				k++;
		}
	}
	json_decref(root);
	*out = v;
	*cnt = k;
	return v ? 0 : -1;
}

static void sweep(ovl *o, const ovl_cluster_view *view, const ovl_gc_config *gc)
{
	ovl_endpoint *v;
	size_t n;
	if (!view->is_leader)
		o->n_hosts = 0; /* a future term starts counting afresh */
	if (all_endpoints(o, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].ovld || !v[i].host[0])
			continue;
		if (!strcmp(v[i].host, o->host))
			sweep_local(o, view, gc, &v[i]);
		else if (view->is_leader && view->n_members)
			sweep_remote(o, view, gc, &v[i]);
	}
	free(v);
	prune_gone(o);
}

void ovl_upkeep(ovl *o, const ovl_cluster_view *view, const ovl_gc_config *gc)
{
	ovl_gc_config dflt = {.host_grace_s = 600, .netns_grace_s = 30};
	if (!gc)
		gc = &dflt;
	pthread_mutex_lock(&o->upkeep_lock);
	heartbeat(o, view->now_ms);
	sweep(o, view, gc);
	pthread_mutex_unlock(&o->upkeep_lock);
}
