/* vni.c - VXLAN ids: a claim key _ovld/vnis/<vni> per network, and the
 * same id set in Docker's bitmap (vxidm.c), skipping the ids Docker's own
 * overlay records use, so ovld and a Docker overlay on one host never
 * share a VXLAN id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subnet.h"

static void vni_set_add(json_t *used, json_int_t v)
{
	char k[24];
	snprintf(k, sizeof(k), "%lld", (long long)v);
	json_object_set_new(used, k, json_true());
}

static void docker_vnis(ovl *o, json_t *used)
{
	json_t *node = NULL;
	if (o->kv.get(o->kv.ctx, OVL_OVERLAY, 1, &node) != 0)
		return;
	size_t i, j;
	json_t *ch, *sn;
	json_array_foreach(ovl_node_children(node), i, ch)
	{
		json_t *r = ovl_node_json(ch);
		json_array_foreach(json_object_get(r, "subnets"), j, sn)
		    vni_set_add(used,
				json_integer_value(json_object_get(sn, "Vni")));
		json_decref(r);
	}
	json_decref(node);
}

static json_t *used_vnis(ovl *o)
{
	json_t *used = ovl_child_names(o, OVL_VNI);
	docker_vnis(o, used);
	return used;
}

/* Claims one VNI: 0, OVL_KV_EXISTS / OVL_VXIDM_TAKEN when someone has it
 * (nothing left claimed), or another store code. */
static int take_one(ovl *o, ovl_claims *cl, const char *nid, uint32_t v)
{
	char key[128];
	snprintf(key, sizeof(key), OVL_VNI "/%u", v);
	int rc = ovl_claim(o, cl, key, nid);
	if (rc)
		return rc;
	rc = ovl_vxidm_reserve(o, v);
	if (rc)
		ovl_claims_drop_last(o, cl);
	return rc;
}

static int vni_alloc(ovl *o, ovl_claims *cl, const char *nid, uint32_t *vni,
		     ovl_err *err)
{
	json_t *used = used_vnis(o);
	int rc = ovl_fail(err, OVL_EFULL, "no free VNI");
	for (uint32_t v = OVL_VNI_MIN; v <= OVL_VNI_MAX; v++) {
		char k[16];
		snprintf(k, sizeof(k), "%u", v);
		if (json_object_get(used, k))
			continue;
		int e = take_one(o, cl, nid, v);
		if (e == OVL_KV_EXISTS || e == OVL_VXIDM_TAKEN)
			continue;
		if (e == 0) {
			*vni = v;
			rc = OVL_OK;
		} else {
			rc = e < 0 ? ovl_kv_fail(err, e, "claiming a VNI")
				   : ovl_fail(err, OVL_EINTERNAL,
					      "cannot claim VNI %u", v);
		}
		break;
	}
	json_decref(used);
	return rc;
}

int ovl_vni_take(ovl *o, ovl_claims *cl, const char *nid, uint32_t *vni,
		 ovl_err *err)
{
	if (!*vni)
		return vni_alloc(o, cl, nid, vni, err);
	int rc = take_one(o, cl, nid, *vni);
	if (rc == OVL_KV_EXISTS || rc == OVL_VXIDM_TAKEN)
		return ovl_fail(err, OVL_EEXISTS, "VNI %u is already in use",
				*vni);
	if (rc < 0)
		return ovl_kv_fail(err, rc, "claiming the VNI");
	return rc ? ovl_fail(err, OVL_EINTERNAL, "cannot claim VNI %u", *vni)
		  : OVL_OK;
}
