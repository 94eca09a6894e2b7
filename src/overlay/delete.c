/* delete.c - removing a network.
 *
 * The network is marked inDelete first (compare-and-swap), so an attach
 * racing with the removal refuses it, and the endpoints are counted again
 * after the mark: an endpoint created before the mark is seen, one after
 * it is refused. Only then do the record and (for ovld's networks) the
 * claims go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int has_endpoints(ovl *o, const char *nid, int *has)
{
	char key[256];
	json_t *dir = NULL;
	snprintf(key, sizeof(key), OVL_EP "/%s", nid);
	int rc = o->kv.get(o->kv.ctx, key, 0, &dir);
	*has = rc == 0 && json_array_size(ovl_node_children(dir)) > 0;
	json_decref(dir);
	return rc == OVL_KV_NOT_FOUND ? 0 : rc;
}

static int busy(ovl_err *err, const ovl_network *n)
{
	return ovl_fail(err, OVL_EBUSY,
			"error while removing network: network %s id %s has "
			"active endpoints",
			n->name, n->id);
}

static int mark_in_delete(ovl *o, ovl_net_full *n, int on)
{
	char key[256];
	snprintf(key, sizeof(key), OVL_NET "/%s", n->n.id);
	json_object_set_new(n->record, "inDelete", json_boolean(on));
	char *val = json_dumps(n->record, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *node = NULL;
	int rc = val ? o->kv.cas(o->kv.ctx, key, val, n->n.index, &node) : -1;
	free(val);
	if (rc == 0)
		n->n.index = ovl_node_index(node);
	json_decref(node);
	return rc;
}

static void del_key(ovl *o, const char *key, int dir)
{
	o->kv.del(o->kv.ctx, key, 0, NULL, dir);
}

/* The claims and records an ovld network owns besides network/<id>. */
static void release_network(ovl *o, const ovl_network *n)
{
	char key[512];
	const char *dirs[] = {OVL_EP, OVL_IP, OVL_EPNAME};
	for (size_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "%s/%s", dirs[i], n->id);
		del_key(o, key, 1);
	}
	snprintf(key, sizeof(key), OVL_OVERLAY "/%s", n->id);
	del_key(o, key, 0);
	snprintf(key, sizeof(key), OVL_COUNT "/%s", n->id);
	del_key(o, key, 0);
	if (n->vni) {
		ovl_vxidm_release(o, n->vni);
		snprintf(key, sizeof(key), OVL_VNI "/%u", n->vni);
		o->kv.del(o->kv.ctx, key, 0, n->id, 0);
	}
	if (n->prefix) {
		uint32_t first = n->subnet >> 8;
		uint32_t last =
		    n->prefix >= 24
			? first
			: (n->subnet | ~ovl_prefix_mask(n->prefix)) >> 8;
		for (uint32_t b = first; b <= last; b++) {
			snprintf(key, sizeof(key), OVL_SUBNET "/%u.%u.%u",
				 b >> 16, (b >> 8) & 255, b & 255);
			o->kv.del(o->kv.ctx, key, 0, n->id, 0);
		}
	}
	snprintf(key, sizeof(key), OVL_NETNAME "/%s", n->name);
	o->kv.del(o->kv.ctx, key, 0, n->id, 0);
}

static int remove_marked(ovl *o, ovl_net_full *n, ovl_err *err)
{
	int has = 0, rc = has_endpoints(o, n->n.id, &has);
	if (rc || has) {
		mark_in_delete(o, n, 0);
		return rc ? ovl_kv_fail(err, rc, "reading endpoints")
			  : busy(err, &n->n);
	}
	char key[256];
	snprintf(key, sizeof(key), OVL_NET "/%s", n->n.id);
	rc = o->kv.del(o->kv.ctx, key, n->n.index, NULL, 0);
	if (rc) {
		mark_in_delete(o, n, 0);
		return rc == OVL_KV_TEST_FAILED
			   ? ovl_fail(err, OVL_EBUSY,
				      "network %s changed while removing it, "
				      "try again",
				      n->n.name)
			   : ovl_kv_fail(err, rc, "removing the network");
	}
	if (n->n.ovld)
		release_network(o, &n->n);
	return OVL_OK;
}

int ovl_network_delete(ovl *o, const char *ref, ovl_err *err)
{
	ovl_net_full n;
	int rc = ovl_net_find(o, ref, &n, err);
	if (rc)
		return rc;
	int has = 0;
	rc = has_endpoints(o, n.n.id, &has);
	if (rc)
		rc = ovl_kv_fail(err, rc, "reading endpoints");
	else if (has)
		rc = busy(err, &n.n);
	else if ((rc = mark_in_delete(o, &n, 1)) != 0)
		rc = rc == OVL_KV_TEST_FAILED
			 ? ovl_fail(err, OVL_EBUSY,
				    "network %s changed while removing it, "
				    "try again",
				    n.n.name)
			 : ovl_kv_fail(err, rc, "removing the network");
	else
		rc = remove_marked(o, &n, err);
	ovl_net_full_free(&n);
	return rc;
}
