/* endpoint.c - reading endpoints back from Docker's endpoint/<nid>/<eid>
 * records, ovld's and Docker's alike. ovld's records carry extra fields
 * Docker ignores: ovld_netns, ovld_ifname, ovld_peer, ovld_runtime,
 * ovld_container, ovld_sandbox, ovld_ipam. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void copy_str(char *dst, size_t len, json_t *r, const char *field)
{
	const char *v = json_string_value(json_object_get(r, field));
	snprintf(dst, len, "%s", v ? v : "");
}

static void ep_address(json_t *ifc, ovl_endpoint *e)
{
	const char *addr = json_string_value(json_object_get(ifc, "addr"));
	char buf[40];
	snprintf(buf, sizeof(buf), "%s", addr ? addr : "");
	char *slash = strchr(buf, '/');
	e->prefix = slash ? atoi(slash + 1) : 32;
	if (slash)
		*slash = '\0';
	if (ovl_ip_parse(buf, &e->ip) != 0)
		e->ip = 0;
}

int ovl_ep_from_node(json_t *node, const ovl_network *n, ovl_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	json_t *r = ovl_node_json(node);
	if (!json_string_value(json_object_get(r, "id"))) {
		json_decref(r);
		return -1;
	}
	json_t *ifc = json_object_get(r, "ep_iface");
	copy_str(e->id, sizeof(e->id), r, "id");
	copy_str(e->name, sizeof(e->name), r, "name");
	copy_str(e->host, sizeof(e->host), r, "locator");
	copy_str(e->mac, sizeof(e->mac), ifc, "mac");
	copy_str(e->netns, sizeof(e->netns), r, "ovld_netns");
	copy_str(e->ifname, sizeof(e->ifname), r, "ovld_ifname");
	copy_str(e->peer, sizeof(e->peer), r, "ovld_peer");
	copy_str(e->runtime, sizeof(e->runtime), r, "ovld_runtime");
	copy_str(e->container, sizeof(e->container), r, "ovld_container");
	copy_str(e->sandbox, sizeof(e->sandbox), r, "ovld_sandbox");
	e->ipam_external =
	    !strcmp(json_string_value(json_object_get(r, "ovld_ipam")) ?: "",
		    "external");
	e->ovld = json_is_true(json_object_get(r, "ovld"));
	ep_address(ifc, e);
	snprintf(e->network_id, sizeof(e->network_id), "%s", n->id);
	snprintf(e->network, sizeof(e->network), "%s", n->name);
	e->gateway = n->gateway;
	e->index = ovl_node_index(node);
	json_decref(r);
	return 0;
}

/* Appends the endpoints of network n to *v. */
static int add_network(ovl *o, const ovl_network *n, ovl_endpoint **v,
		       size_t *cnt, ovl_err *err)
{
	char key[256];
	json_t *dir = NULL;
	snprintf(key, sizeof(key), OVL_EP "/%s", n->id);
	int rc = o->kv.get(o->kv.ctx, key, 1, &dir);
	if (rc == OVL_KV_NOT_FOUND)
		return OVL_OK;
	if (rc)
		return ovl_kv_fail(err, rc, "listing endpoints");
	json_t *kids = ovl_node_children(dir);
	ovl_endpoint *nv =
	    realloc(*v, (*cnt + json_array_size(kids) + 1) * sizeof(**v));
	if (!nv) {
		json_decref(dir);
		return ovl_fail(err, OVL_EINTERNAL, "out of memory");
	}
	*v = nv;
	size_t i;
	json_t *ch;
	json_array_foreach(kids, i, ch)
	{
		if (ovl_ep_from_node(ch, n, &nv[*cnt]) == 0)
			(*cnt)++;
	}
	json_decref(dir);
	return OVL_OK;
}

int ovl_endpoint_list(ovl *o, const char *network, ovl_endpoint **out,
		      size_t *cnt, ovl_err *err)
{
	ovl_network *nets = NULL, one;
	size_t n_nets = 0;
	int rc;
	*out = calloc(1, sizeof(**out));
	*cnt = 0;
	if (!*out)
		return ovl_fail(err, OVL_EINTERNAL, "out of memory");
	if (network) {
		rc = ovl_network_get(o, network, &one, err);
		n_nets = rc == OVL_OK;
	} else {
		rc = ovl_network_list(o, &nets, &n_nets, err);
	}
	for (size_t i = 0; rc == OVL_OK && i < n_nets; i++)
		rc = add_network(o, network ? &one : &nets[i], out, cnt, err);
	free(nets);
	if (rc) {
		free(*out);
		*out = NULL;
		*cnt = 0;
	}
	return rc;
}

/* The endpoint named or with the id ref in network n. */
int ovl_ep_find(ovl *o, const ovl_network *n, const char *ref,
		ovl_endpoint *out, ovl_err *err)
{
	ovl_endpoint *v = NULL;
	size_t cnt = 0;
	int rc = add_network(o, n, &v, &cnt, err), at = -1;
	for (size_t i = 0; rc == OVL_OK && i < cnt && at < 0; i++)
		if (!strcmp(v[i].id, ref))
			at = (int)i;
	for (size_t i = 0; rc == OVL_OK && i < cnt && at < 0; i++)
		if (!strcmp(v[i].name, ref))
			at = (int)i;
	if (at >= 0)
		*out = v[at];
	free(v);
	if (rc == OVL_OK && at < 0)
		rc = ovl_fail(err, OVL_ENOTFOUND,
			      "endpoint %s not found in network %s", ref,
			      n->name);
	return rc;
}

int ovl_endpoint_get(ovl *o, const char *network, const char *ref,
		     ovl_endpoint *out, ovl_err *err)
{
	ovl_network n;
	int rc = ovl_network_get(o, network, &n, err);
	if (rc)
		return rc;
	if (!ref || !*ref)
		return ovl_fail(err, OVL_EINVAL, "no endpoint given");
	return ovl_ep_find(o, &n, ref, out, err);
}
