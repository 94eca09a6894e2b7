/* sync.c - converging the kernel to one overlay network's desired state:
 * bridge + vxlan device when the network has local endpoints, a veth into
 * each local endpoint's namespace, and for each remote endpoint a permanent
 * FDB entry (MAC -> owner's VTEP) and neighbour entry (IP -> MAC) on the
 * vxlan device, plus one all-zero flood entry per remote VTEP. */
#include "sync.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"

void dp_sync_bridge_name(uint32_t vni, char out[16])
{
	snprintf(out, 16, SYNC_BRIDGE_PREFIX "%06x", vni & 0xffffff);
}

void dp_sync_vxlan_name(uint32_t vni, char out[16])
{
	snprintf(out, 16, SYNC_VXLAN_PREFIX "%06x", vni & 0xffffff);
}

void dp_sync_veth_name(const char *eid, char out[16])
{
	snprintf(out, 16, SYNC_VETH_PREFIX "%.8s", eid);
}

static int parse_cidr(const char *s, uint32_t *ip, int *prefix)
{
	char buf[32];
	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	*prefix = 32;
	if (slash) {
		*slash = '\0';
		*prefix = atoi(slash + 1);
		if (*prefix < 1 || *prefix > 32)
			return -1;
	}
	return inet_pton(AF_INET, buf, ip) == 1 ? 0 : -1;
}

int dp_sync_parse_endpoint(const char *json, sync_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	json_t *r = json ? json_loads(json, 0, NULL) : NULL;
	json_t *ifc = json_object_get(r, "ep_iface");
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *loc = json_string_value(json_object_get(r, "locator"));
	const char *addr = json_string_value(json_object_get(ifc, "addr"));
	const char *mac = json_string_value(json_object_get(ifc, "mac"));
	const char *ns = json_string_value(json_object_get(r, "ovld_netns"));
	const char *ifn = json_string_value(json_object_get(r, "ovld_ifname"));
	const char *peer = json_string_value(json_object_get(r, "ovld_peer"));
	int ok = id && strlen(id) >= 8 && loc &&
		 inet_pton(AF_INET, loc, &ep->locator) == 1 &&
		 parse_cidr(addr, &ep->ip, &ep->prefix) == 0;
	if (ok) {
		snprintf(ep->id, sizeof(ep->id), "%s", id);
		snprintf(ep->netns, sizeof(ep->netns), "%s", ns ? ns : "");
		snprintf(ep->ifname, sizeof(ep->ifname), "%s", ifn ? ifn : "");
		snprintf(ep->peer, sizeof(ep->peer), "%s", peer ? peer : "");
		if (!mac || dpnl_parse_mac(mac, ep->mac) != 0)
			dpnl_mac_from_ip(ep->ip, ep->mac);
	}
	json_decref(r);
	return ok ? 0 : -1;
}

void dp_sync_state_free(sync_state *st)
{
	free(st->fdb);
	free(st->neigh);
	free(st->veths);
	st->fdb = NULL;
	st->neigh = NULL;
	st->veths = NULL;
	st->n_fdb = st->n_neigh = st->n_veths = 0;
	st->valid = 0;
}

static int note(int err, int e, const char *what, const char *name)
{
	if (e < 0) {
		log_warn("net", "%s %s: %s", what, name, dpnl_strerror(e));
		return err ? err : e;
	}
	return err;
}

/* Everything programmed for the network goes: the vxlan device takes its
 * FDB and neighbour entries with it; veths are removed one by one (the
 * container end disappears with the host end). */
static int teardown(dpnl *nl, sync_state *st)
{
	char name[16];
	int err = 0;
	for (size_t i = 0; i < st->n_veths; i++)
		err = note(err, dpnl_link_delete(nl, st->veths[i]), "delete",
			   st->veths[i]);
	if (st->vni) {
		dp_sync_vxlan_name(st->vni, name);
		err = note(err, dpnl_link_delete(nl, name), "delete", name);
		dp_sync_bridge_name(st->vni, name);
		err = note(err, dpnl_link_delete(nl, name), "delete", name);
	}
	dp_sync_state_free(st);
	st->vx_ifindex = 0;
	st->vni = 0;
	return err;
}

static int fdb_eq(const dpnl_fdb *a, const dpnl_fdb *b)
{
	return a->dst == b->dst && memcmp(a->mac, b->mac, 6) == 0;
}

static int neigh_eq(const dpnl_neigh *a, const dpnl_neigh *b)
{
	return a->ip == b->ip && memcmp(a->mac, b->mac, 6) == 0;
}

/* Desired entries for the remote endpoints of net. */
static int desired_entries(const sync_net *net, uint32_t host, dpnl_fdb **fdb,
			   size_t *n_fdb, dpnl_neigh **neigh, size_t *n_neigh)
{
	*fdb = calloc(2 * net->n_eps + 1, sizeof(**fdb));
	*neigh = calloc(net->n_eps + 1, sizeof(**neigh));
	*n_fdb = *n_neigh = 0;
	if (!*fdb || !*neigh)
		return -1;
	for (size_t i = 0; i < net->n_eps; i++) {
		const sync_ep *e = &net->eps[i];
		if (e->locator == host)
			continue;
		dpnl_fdb f = {.dst = e->locator};
		memcpy(f.mac, e->mac, 6);
		(*fdb)[(*n_fdb)++] = f;
		dpnl_neigh n = {.ip = e->ip};
		memcpy(n.mac, e->mac, 6);
		(*neigh)[(*n_neigh)++] = n;
		dpnl_fdb flood = {.dst = e->locator};
		size_t k = 0;
		while (k < *n_fdb && !fdb_eq(&(*fdb)[k], &flood))
			k++;
		if (k == *n_fdb)
			(*fdb)[(*n_fdb)++] = flood;
	}
	return 0;
}

/* Reads the vxlan device's entries back when the cache cannot be trusted
 * (first converge, periodic resync, device recreated). */
static int load_actual(dpnl *nl, sync_state *st)
{
	if (st->valid)
		return 0;
	free(st->fdb);
	free(st->neigh);
	st->fdb = NULL;
	st->neigh = NULL;
	st->n_fdb = st->n_neigh = 0;
	int e = dpnl_fdb_list(nl, st->vx_ifindex, &st->fdb, &st->n_fdb);
	if (e == 0)
		e = dpnl_neigh_list(nl, st->vx_ifindex, &st->neigh,
				    &st->n_neigh);
	st->valid = e == 0;
	return e;
}

static int sync_fdb(dpnl *nl, sync_state *st, dpnl_fdb *want, size_t n_want)
{
	int err = 0;
	for (size_t i = 0; i < st->n_fdb; i++) {
		size_t k = 0;
		while (k < n_want && !fdb_eq(&want[k], &st->fdb[i]))
			k++;
		if (k == n_want)
			err = note(
			    err, dpnl_fdb_del(nl, st->vx_ifindex, &st->fdb[i]),
			    "fdb del on", "vxlan");
	}
	for (size_t k = 0; k < n_want; k++) {
		size_t i = 0;
		while (i < st->n_fdb && !fdb_eq(&want[k], &st->fdb[i]))
			i++;
		if (i == st->n_fdb)
			err = note(err,
				   dpnl_fdb_add(nl, st->vx_ifindex, &want[k]),
				   "fdb add on", "vxlan");
	}
	return err;
}

static int sync_neigh(dpnl *nl, sync_state *st, dpnl_neigh *want, size_t n_want)
{
	int err = 0;
	for (size_t i = 0; i < st->n_neigh; i++) {
		size_t k = 0;
		while (k < n_want && !neigh_eq(&want[k], &st->neigh[i]))
			k++;
		if (k == n_want)
			err = note(
			    err,
			    dpnl_neigh_del(nl, st->vx_ifindex, &st->neigh[i]),
			    "neigh del on", "vxlan");
	}
	for (size_t k = 0; k < n_want; k++) {
		size_t i = 0;
		while (i < st->n_neigh && !neigh_eq(&want[k], &st->neigh[i]))
			i++;
		if (i == st->n_neigh)
			err = note(err,
				   dpnl_neigh_add(nl, st->vx_ifindex, &want[k]),
				   "neigh add on", "vxlan");
	}
	return err;
}

/* The remote entries; the cache becomes the desired set only when every
 * write succeeded, otherwise the next converge reads the kernel again. */
static int sync_remote(dpnl *nl, uint32_t host, const sync_net *net,
		       sync_state *st)
{
	dpnl_fdb *fdb;
	dpnl_neigh *neigh;
	size_t n_fdb, n_neigh;
	if (desired_entries(net, host, &fdb, &n_fdb, &neigh, &n_neigh) != 0) {
		free(fdb);
		free(neigh);
		return -1;
	}
	int err = load_actual(nl, st);
	if (err == 0)
		err = sync_fdb(nl, st, fdb, n_fdb);
	if (err == 0)
		err = sync_neigh(nl, st, neigh, n_neigh);
	free(st->fdb);
	free(st->neigh);
	st->fdb = fdb;
	st->n_fdb = n_fdb;
	st->neigh = neigh;
	st->n_neigh = n_neigh;
	st->valid = err == 0;
	return err;
}

/* Local endpoints: one veth each; veths of endpoints that went away are
 * removed. Returns the first error. */
static int sync_local(dpnl *nl, uint32_t host, const sync_net *net, int br,
		      sync_state *st)
{
	char(*now)[16] = calloc(net->n_eps + 1, 16);
	size_t n_now = 0;
	int err = 0;
	if (!now)
		return -1;
	for (size_t i = 0; i < net->n_eps; i++) {
		const sync_ep *e = &net->eps[i];
		if (e->locator != host || (!e->netns[0] && !e->peer[0]))
			continue;
		dp_sync_veth_name(e->id, now[n_now]);
		char made[16];
		dpnl_veth v = {.host_name = now[n_now],
			       .master = br,
			       .netns_path = e->peer[0] ? NULL : e->netns,
			       .ifname = e->ifname,
			       .peer = e->peer[0] ? e->peer : NULL,
			       .mac = e->mac,
			       .ip = e->ip,
			       .prefix = e->prefix};
		const char *where =
		    e->peer[0] ? "the host namespace" : e->netns;
		int r = dpnl_veth_ensure(nl, &v, made);
		err = note(err, r, "veth into", where);
		if (r == 0 && made[0])
			log_info("net", "endpoint %.12s: %s in %s", e->id, made,
				 where);
		n_now++;
	}
	for (size_t i = 0; i < st->n_veths; i++) {
		size_t k = 0;
		while (k < n_now && strcmp(now[k], st->veths[i]) != 0)
			k++;
		if (k == n_now)
			err = note(err, dpnl_link_delete(nl, st->veths[i]),
				   "delete", st->veths[i]);
	}
	free(st->veths);
	st->veths = now;
	st->n_veths = n_now;
	return err;
}

static int has_local(const sync_net *net, uint32_t host)
{
	for (size_t i = 0; i < net->n_eps; i++)
		if (net->eps[i].locator == host)
			return 1;
	return 0;
}

int dp_sync_network(dpnl *nl, uint32_t host, const sync_net *net,
		    sync_state *st)
{
	if (!net || !net->vni || !has_local(net, host))
		return st->vni || st->n_veths ? teardown(nl, st) : 0;
	if (st->vni && st->vni != net->vni)
		teardown(nl, st);
	snprintf(st->id, sizeof(st->id), "%s", net->id);
	st->vni = net->vni;
	char brn[16], vxn[16];
	dp_sync_bridge_name(net->vni, brn);
	dp_sync_vxlan_name(net->vni, vxn);
	int br = dpnl_bridge_ensure(nl, brn);
	if (br < 0)
		return note(0, br, "bridge", brn);
	int vx = dpnl_vxlan_ensure(nl, vxn, net->vni, host, br);
	if (vx < 0)
		return note(0, vx, "vxlan", vxn);
	if (vx != st->vx_ifindex) {
		st->vx_ifindex = vx;
		st->valid = 0;
	}
	int err = sync_local(nl, host, net, br, st);
	int e2 = sync_remote(nl, host, net, st);
	return err ? err : e2;
}

static int vni_of(const char *name, uint32_t *vni)
{
	char *end;
	unsigned long v = strtoul(name + 4, &end, 16);
	*vni = (uint32_t)v;
	return *end == '\0' && end != name + 4 ? 0 : -1;
}

int dp_sync_remove_stale(dpnl *nl, const uint32_t *keep_vnis, size_t n_vnis,
			 char (*keep_veths)[16], size_t n_veths)
{
	dpnl_link *v;
	size_t cnt;
	int err = dpnl_list_links(nl, "ov", &v, &cnt);
	if (err < 0)
		return err;
	for (size_t i = 0; i < cnt; i++) {
		const char *name = v[i].name;
		int keep = 1;
		uint32_t vni;
		if (!strncmp(name, SYNC_VETH_PREFIX, 4)) {
			keep = 0;
			for (size_t k = 0; k < n_veths && !keep; k++)
				keep = !strcmp(keep_veths[k], name);
		} else if ((!strncmp(name, SYNC_BRIDGE_PREFIX, 4) ||
			    !strncmp(name, SYNC_VXLAN_PREFIX, 4)) &&
			   vni_of(name, &vni) == 0) {
			keep = 0;
			for (size_t k = 0; k < n_vnis && !keep; k++)
				keep = keep_vnis[k] == vni;
		}
		if (!keep) {
			log_info("net", "removing stale %s", name);
			err = note(err, dpnl_link_delete(nl, name), "delete",
				   name);
		}
	}
	free(v);
	return err;
}
