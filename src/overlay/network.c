/* network.c - reading networks back from Docker's records (network/<id>
 * and overlay/network/<id>), finding one by name or id, the endpoint
 * count Docker keeps per network, and removing a network.
 *
 * Docker's own overlay networks live in the same directories; they are
 * listed and can be removed, but only ovld's ("ovld": true) have claims
 * to release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* "10.0.0.1/24" or "10.0.0.1" -> host-order address. */
static uint32_t gw_parse(const char *s)
{
	char buf[32];
	uint32_t ip = 0;
	if (!s)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	buf[strcspn(buf, "/")] = '\0';
	return ovl_ip_parse(buf, &ip) == 0 ? ip : 0;
}

static void net_from_overlay(ovl *o, ovl_network *n)
{
	char key[256];
	json_t *node = NULL;
	snprintf(key, sizeof(key), OVL_OVERLAY "/%s", n->id);
	if (o->kv.get(o->kv.ctx, key, 0, &node) != 0)
		return;
	json_t *r = ovl_node_json(node);
	json_t *sn = json_array_get(json_object_get(r, "subnets"), 0);
	if (sn) {
		const char *cidr =
		    json_string_value(json_object_get(sn, "SubnetIP"));
		if (!cidr || ovl_cidr_parse(cidr, &n->subnet, &n->prefix))
			n->subnet = 0, n->prefix = 0;
		n->gateway =
		    gw_parse(json_string_value(json_object_get(sn, "GwIP")));
		n->vni =
		    (uint32_t)json_integer_value(json_object_get(sn, "Vni"));
	}
	json_decref(r);
	json_decref(node);
}

static void copy_str(char *dst, size_t len, json_t *r, const char *field,
		     const char *dflt)
{
	const char *v = json_string_value(json_object_get(r, field));
	snprintf(dst, len, "%s", v ? v : dflt);
}

/* Fills n from a network/<id> node. -1 if it is not a network record. */
static int net_from_node(json_t *node, ovl_net_full *n)
{
	memset(n, 0, sizeof(*n));
	json_t *r = ovl_node_json(node);
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *name = json_string_value(json_object_get(r, "name"));
	if (!id || !name) {
		json_decref(r);
		return -1;
	}
	copy_str(n->n.id, sizeof(n->n.id), r, "id", "");
	copy_str(n->n.name, sizeof(n->n.name), r, "name", "");
	copy_str(n->n.driver, sizeof(n->n.driver), r, "networkType", "");
	copy_str(n->n.scope, sizeof(n->n.scope), r, "scope", "global");
	copy_str(n->n.created, sizeof(n->n.created), r, "created", "");
	n->n.ovld = json_is_true(json_object_get(r, "ovld"));
	n->n.in_delete = json_is_true(json_object_get(r, "inDelete"));
	n->n.index = ovl_node_index(node);
	n->record = r;
	return 0;
}

void ovl_net_full_free(ovl_net_full *n)
{
	json_decref(n->record);
	n->record = NULL;
}

static int cmp_name(const void *a, const void *b)
{
	const ovl_net_full *x = a, *y = b;
	int c = strcmp(x->n.name, y->n.name);
	return c ? c : strcmp(x->n.id, y->n.id);
}

/* Every network record (without overlay details), sorted by name. */
static int net_list_full(ovl *o, ovl_net_full **out, size_t *cnt, ovl_err *err)
{
	json_t *dir = NULL;
	*out = NULL;
	*cnt = 0;
	int rc = o->kv.get(o->kv.ctx, OVL_NET, 1, &dir);
	if (rc == OVL_KV_NOT_FOUND)
		return OVL_OK;
	if (rc)
		return ovl_kv_fail(err, rc, "listing networks");
	json_t *kids = ovl_node_children(dir);
	ovl_net_full *v = calloc(json_array_size(kids) + 1, sizeof(*v));
	if (!v) {
		json_decref(dir);
		return ovl_fail(err, OVL_EINTERNAL, "out of memory");
	}
	size_t i, k = 0;
	json_t *ch;
	json_array_foreach(kids, i, ch)
	{
		if (net_from_node(ch, &v[k]) == 0)
			k++;
	}
	json_decref(dir);
	qsort(v, k, sizeof(*v), cmp_name);
	*out = v;
	*cnt = k;
	return OVL_OK;
}

static void free_list(ovl_net_full *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ovl_net_full_free(&v[i]);
	free(v);
}

/* Exact id or name first, then a unique id prefix. */
static int match(const ovl_net_full *v, size_t n, const char *ref)
{
	int hits = 0, at = -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].n.id, ref) || !strcmp(v[i].n.name, ref))
			return (int)i;
	for (size_t i = 0; i < n && *ref; i++)
		if (!strncmp(v[i].n.id, ref, strlen(ref))) {
			hits++;
			at = (int)i;
		}
	return hits == 1 ? at : -1;
}

int ovl_net_find(ovl *o, const char *ref, ovl_net_full *out, ovl_err *err)
{
	ovl_net_full *v;
	size_t n;
	if (!ref || !*ref)
		return ovl_fail(err, OVL_EINVAL, "no network given");
	int rc = net_list_full(o, &v, &n, err);
	if (rc)
		return rc;
	int at = match(v, n, ref);
	if (at >= 0) {
		*out = v[at];
		v[at].record = NULL;
		net_from_overlay(o, &out->n);
	}
	free_list(v, n);
	return at >= 0
		   ? OVL_OK
		   : ovl_fail(err, OVL_ENOTFOUND, "No such network: %s", ref);
}

int ovl_network_get(ovl *o, const char *ref, ovl_network *out, ovl_err *err)
{
	ovl_net_full n;
	int rc = ovl_net_find(o, ref, &n, err);
	if (rc == OVL_OK) {
		*out = n.n;
		ovl_net_full_free(&n);
	}
	return rc;
}

int ovl_network_list(ovl *o, ovl_network **out, size_t *cnt, ovl_err *err)
{
	ovl_net_full *v;
	size_t n;
	int rc = net_list_full(o, &v, &n, err);
	if (rc)
		return rc;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out) {
		free_list(v, n);
		return ovl_fail(err, OVL_EINTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		net_from_overlay(o, &v[i].n);
		(*out)[i] = v[i].n;
	}
	*cnt = n;
	free_list(v, n);
	return OVL_OK;
}

int ovl_count_add(ovl *o, const char *nid, int delta)
{
	char key[256], val[64];
	snprintf(key, sizeof(key), OVL_COUNT "/%s", nid);
	for (int attempt = 0; attempt < 100; attempt++) {
		json_t *node = NULL;
		int rc = o->kv.get(o->kv.ctx, key, 0, &node);
		if (rc == OVL_KV_NOT_FOUND) {
			snprintf(val, sizeof(val), "{\"Count\":%d}",
				 delta > 0 ? delta : 0);
			rc = o->kv.create(o->kv.ctx, key, val, NULL);
			if (rc != OVL_KV_EXISTS)
				return rc;
			continue;
		}
		if (rc)
			return rc;
		json_t *v = ovl_node_json(node);
		long long c =
		    json_integer_value(json_object_get(v, "Count")) + delta;
		json_decref(v);
		snprintf(val, sizeof(val), "{\"Count\":%lld}", c < 0 ? 0 : c);
		rc = o->kv.cas(o->kv.ctx, key, val, ovl_node_index(node), NULL);
		json_decref(node);
		if (rc != OVL_KV_TEST_FAILED)
			return rc;
	}
	return OVL_KV_TEST_FAILED;
}
