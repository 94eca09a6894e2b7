/* subnet.c - subnets that never overlap, cluster-wide.
 *
 * Overlap is detected on /24 blocks: a subnet claims every /24 it covers
 * (or the /24 it sits in), so overlapping subnets always share a claim key
 * _ovld/subnets/A.B.C. The default pool is 10.0.0.0/24 and then the next
 * free /24 in 10.0.0.0/8, skipping the pools Docker's own IPAM handed
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "subnet.h"

static void block_name(uint32_t block, char *out, size_t len)
{
	snprintf(out, len, "%u.%u.%u", block >> 16, (block >> 8) & 255,
		 block & 255);
}

static void block_key(uint32_t block, char *out, size_t len)
{
	char b[16];
	block_name(block, b, sizeof(b));
	snprintf(out, len, OVL_SUBNET "/%s", b);
}

static void blocks_of(uint32_t net, int prefix, uint32_t *first, uint32_t *last)
{
	*first = net >> 8;
	*last = prefix >= 24 ? *first : (net | ~ovl_prefix_mask(prefix)) >> 8;
}

int ovl_subnet_claim(ovl *o, ovl_claims *cl, uint32_t net, int prefix,
		     const char *nid, const char *cidr, ovl_err *err)
{
	uint32_t first, last;
	blocks_of(net, prefix, &first, &last);
	for (uint32_t b = first; b <= last; b++) {
		char key[128];
		block_key(b, key, sizeof(key));
		int rc = ovl_claim(o, cl, key, nid);
		if (rc == OVL_KV_EXISTS)
			return ovl_fail(err, OVL_EEXISTS,
					"Pool overlaps with other one on this "
					"address space (%s)",
					cidr);
		if (rc)
			return ovl_kv_fail(err, rc, "claiming the subnet");
	}
	return OVL_OK;
}

/* Pools Docker's IPAM handed out (its global address space config) are
 * skipped by the default allocation: both default to 10.0.0.0/24 upward,
 * and two networks with one subnet confuse whoever reads `network ls`. */
static void docker_pools(ovl *o, json_t *used)
{
	json_t *node = NULL;
	if (o->kv.get(o->kv.ctx, OVL_ROOT "/ipam/default/config/GlobalDefault",
		      0, &node) != 0)
		return;
	json_t *cfg = ovl_node_json(node), *pool;
	const char *k;
	json_object_foreach(json_object_get(cfg, "Subnets"), k, pool)
	{
		uint32_t net, first, last;
		int prefix;
		const char *cidr =
		    json_string_value(json_object_get(pool, "Pool"));
		if (!cidr || ovl_cidr_parse(cidr, &net, &prefix) != 0 ||
		    prefix < 8)
			continue;
		blocks_of(net, prefix, &first, &last);
		for (uint32_t b = first; b <= last; b++) {
			char name[16];
			block_name(b, name, sizeof(name));
			json_object_set_new(used, name, json_true());
		}
	}
	json_decref(cfg);
	json_decref(node);
}

/* Blocks taken by claims or by Docker's pools, as a set of "A.B.C". */
static json_t *used_blocks(ovl *o)
{
	json_t *used = ovl_child_names(o, OVL_SUBNET);
	docker_pools(o, used);
	return used;
}

static int pool_full(ovl_err *err)
{
	return ovl_fail(err, OVL_EFULL,
			"could not find an available, non-overlapping IPv4 "
			"address pool");
}

int ovl_subnet_alloc(ovl *o, ovl_claims *cl, const char *nid, uint32_t *net,
		     ovl_err *err)
{
	json_t *used = used_blocks(o);
	int rc = pool_full(err);
	for (uint32_t b = 0x0a0000; b <= 0x0affff; b++) {
		char key[128];
		block_key(b, key, sizeof(key));
		if (json_object_get(used, strrchr(key, '/') + 1))
			continue;
		int e = ovl_claim(o, cl, key, nid);
		if (e == OVL_KV_EXISTS)
			continue;
		if (e == 0) {
			*net = b << 8;
			rc = OVL_OK;
		} else {
			rc = ovl_kv_fail(err, e, "claiming a subnet");
		}
		break;
	}
	json_decref(used);
	return rc;
}

int ovl_subnet_pick(ovl *o, char out[32], ovl_err *err)
{
	json_t *used = used_blocks(o);
	int rc = pool_full(err);
	for (uint32_t b = 0x0a0000; b <= 0x0affff && rc; b++) {
		char name[16];
		block_name(b, name, sizeof(name));
		if (json_object_get(used, name))
			continue;
		snprintf(out, 32, "%s.0/24", name);
		rc = OVL_OK;
	}
	json_decref(used);
	return rc;
}
