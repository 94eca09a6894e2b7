/* ip.c - IPv4 helpers and address claims.
 *
 * An address is taken by a claim key _ovld/ips/<nid>/<ip> whose value is
 * its owner: the endpoint id for ovld's own allocations, or whatever the
 * Docker IPAM driver names (RequestAddress comes before the endpoint). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ovl_ip_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

void ovl_ip_format(uint32_t ip, char out[16])
{
	struct in_addr a = {.s_addr = htonl(ip)};
	inet_ntop(AF_INET, &a, out, 16);
}

uint32_t ovl_prefix_mask(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int ovl_cidr_parse(const char *s, uint32_t *net, int *prefix)
{
	char buf[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 0 || p > 32)
		return -1;
	if (ovl_ip_parse(buf, net) != 0)
		return -1;
	*prefix = (int)p;
	*net &= ovl_prefix_mask(*prefix);
	return 0;
}

int ovl_addr_ok(const ovl_network *n, uint32_t ip)
{
	uint32_t m = ovl_prefix_mask(n->prefix);
	return n->prefix > 0 && n->prefix < 31 && (ip & m) == n->subnet &&
	       ip != n->subnet && ip != (n->subnet | ~m) && ip != n->gateway;
}

void ovl_ip_key(const char *nid, uint32_t ip, char *out, size_t len)
{
	char s[16];
	ovl_ip_format(ip, s);
	snprintf(out, len, OVL_IP "/%s/%s", nid, s);
}

/* Addresses already claimed in the network, as a set of strings. */
static json_t *claimed(ovl *o, const char *nid)
{
	char key[256];
	snprintf(key, sizeof(key), OVL_IP "/%s", nid);
	return ovl_child_names(o, key);
}

/* The lowest free host address; claims seen taken are skipped without a
 * write, and a lost race just moves on to the next address. */
static int alloc_ip(ovl *o, const ovl_network *n, const char *owner,
		    uint32_t *ip, ovl_err *err)
{
	json_t *used = claimed(o, n->id);
	uint32_t last = n->subnet | ~ovl_prefix_mask(n->prefix);
	int rc = ovl_fail(err, OVL_EFULL,
			  "no available IPv4 addresses on network %s", n->name);
	for (uint32_t a = n->subnet + 1; a < last; a++) {
		char s[16], key[256];
		ovl_ip_format(a, s);
		if (!ovl_addr_ok(n, a) || json_object_get(used, s))
			continue;
		ovl_ip_key(n->id, a, key, sizeof(key));
		int e = o->kv.create(o->kv.ctx, key, owner, NULL);
		if (e == OVL_KV_EXISTS)
			continue;
		if (e == 0) {
			*ip = a;
			rc = OVL_OK;
		} else {
			rc = ovl_kv_fail(err, e, "claiming an address");
		}
		break;
	}
	json_decref(used);
	return rc;
}

/* Whether the claim at key already names owner: a caller that retries
 * (Docker repeats RequestAddress after a timeout) gets its own address
 * back instead of an error. Endpoint ids are random, so an attach never
 * matches another's claim. */
static int held_by(ovl *o, const char *key, const char *owner)
{
	json_t *node = NULL;
	int same =
	    owner && *owner && o->kv.get(o->kv.ctx, key, 0, &node) == 0 &&
	    !strcmp(ovl_node_value(node) ? ovl_node_value(node) : "", owner);
	json_decref(node);
	return same;
}

int ovl_ip_take(ovl *o, const ovl_network *n, const char *ip_s,
		const char *owner, uint32_t *ip, ovl_err *err)
{
	if (!ip_s)
		return alloc_ip(o, n, owner, ip, err);
	if (ovl_ip_parse(ip_s, ip) != 0 || !ovl_addr_ok(n, *ip))
		return ovl_fail(err, OVL_EINVAL,
				"invalid address %s for network %s", ip_s,
				n->name);
	char key[256];
	ovl_ip_key(n->id, *ip, key, sizeof(key));
	int e = o->kv.create(o->kv.ctx, key, owner, NULL);
	if (e == OVL_KV_EXISTS && held_by(o, key, owner))
		return OVL_OK;
	if (e == OVL_KV_EXISTS)
		return ovl_fail(err, OVL_EEXISTS, "Address already in use: %s",
				ip_s);
	return e ? ovl_kv_fail(err, e, "claiming an address") : OVL_OK;
}

int ovl_ip_claim(ovl *o, const char *network, const char *ip, const char *owner,
		 uint32_t *out, ovl_err *err)
{
	ovl_net_full n;
	int rc = ovl_net_find(o, network, &n, err);
	if (rc)
		return rc;
	if (!n.n.prefix)
		rc = ovl_fail(err, OVL_EINVAL, "network %s has no IPv4 subnet",
			      n.n.name);
	else
		rc = ovl_ip_take(o, &n.n, ip, owner ? owner : "", out, err);
	ovl_net_full_free(&n);
	return rc;
}

int ovl_ip_release(ovl *o, const char *network, uint32_t ip, const char *owner,
		   ovl_err *err)
{
	ovl_net_full n;
	int rc = ovl_net_find(o, network, &n, err);
	if (rc)
		return rc;
	char key[256];
	ovl_ip_key(n.n.id, ip, key, sizeof(key));
	ovl_net_full_free(&n);
	int e = o->kv.del(o->kv.ctx, key, 0, owner, 0);
	/* Gone already, or owned by someone else now: nothing of ours. */
	if (e == 0 || e == OVL_KV_NOT_FOUND || e == OVL_KV_TEST_FAILED)
		return OVL_OK;
	return ovl_kv_fail(err, e, "releasing an address");
}
