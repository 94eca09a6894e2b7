/* create.c - creating a network: the name, subnet and VNI are claimed
 * (create-only keys, so of two hosts racing exactly one wins), then the
 * three records Docker's libnetwork would write (overlay/network/<id>,
 * endpoint_count/<id>, network/<id>, the last one last so the network is
 * visible only once everything it needs exists). A failure at any step
 * gives back everything claimed so far. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subnet.h"

static void rfc3339_now(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

/* Docker's IPAM fields, which embed JSON documents as strings. */
static void ipam_strings(const char *pool, const char *gw_cidr, char **cfg_s,
			 char **info_s)
{
	char pool_id[64];
	snprintf(pool_id, sizeof(pool_id), "GlobalDefault/%s", pool);
	json_t *cfg = json_pack("[{s:s, s:s, s:s, s:n}]", "PreferredPool", pool,
				"SubPool", "", "Gateway", "", "AuxAddresses");
	json_t *data =
	    json_pack("{s:s, s:s, s:s}", "AddressSpace", "GlobalDefault",
		      "Gateway", gw_cidr, "Pool", pool);
	char *data_s = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *info = json_pack("[{s:s, s:s}]", "IPAMData",
				 data_s ? data_s : "", "PoolID", pool_id);
	*cfg_s = json_dumps(cfg, JSON_COMPACT);
	*info_s = json_dumps(info, JSON_COMPACT);
	json_decref(cfg);
	json_decref(data);
	json_decref(info);
	free(data_s);
}

/* Docker's network object, with ovld's marker. */
static char *network_record(const char *nid, const char *name, const char *pool,
			    const char *gw_cidr, char created[40])
{
	char *cfg_s, *info_s;
	rfc3339_now(created);
	ipam_strings(pool, gw_cidr, &cfg_s, &info_s);
	json_t *r = json_pack(
	    "{s:s, s:b, s:s, s:b, s:s, s:b, s:{s:b, s:{}}, s:s, s:b, s:b, "
	    "s:b, s:{}, s:s, s:s?, s:s?, s:{}, s:s, s:s, s:s, s:s, s:b, s:b, "
	    "s:s, s:b}",
	    "addrSpace", "GlobalDefault", "attachable", 0, "configFrom", "",
	    "configOnly", 0, "created", created, "enableIPv6", 0, "generic",
	    "com.docker.network.enable_ipv6", 0, "com.docker.network.generic",
	    "id", nid, "inDelete", 0, "ingress", 0, "internal", 0,
	    "ipamOptions", "ipamType", "default", "ipamV4Config", cfg_s,
	    "ipamV4Info", info_s, "labels", "loadBalancerIP", "",
	    "loadBalancerMode", "NAT", "name", name, "networkType", "overlay",
	    "persist", 1, "postIPv6", 0, "scope", "global", "ovld", 1);
	char *out = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(r);
	free(cfg_s);
	free(info_s);
	return out;
}

static int valid_name(const char *s)
{
	if (!s || !*s || strlen(s) > 200)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') ||
		      (p != s && strchr("_.-", *p))))
			return 0;
	return 1;
}

static int valid_id(const char *s)
{
	size_t n = strlen(s);
	return n >= 12 && n <= 64 && strspn(s, "0123456789abcdef") == n;
}

static int check_subnet(const ovl_net_req *req, ovl_network *n, ovl_err *err)
{
	char buf[64];
	uint32_t raw;
	snprintf(buf, sizeof(buf), "%s", req->subnet);
	buf[strcspn(buf, "/")] = '\0';
	if (ovl_cidr_parse(req->subnet, &n->subnet, &n->prefix) != 0 ||
	    ovl_ip_parse(buf, &raw) != 0)
		return ovl_fail(err, OVL_EINVAL,
				"invalid subnet %s: expected an IPv4 CIDR "
				"such as 10.0.0.0/24",
				req->subnet);
	if (raw != n->subnet)
		return ovl_fail(err, OVL_EINVAL,
				"invalid subnet %s: host bits set (did you "
				"mean a network address?)",
				req->subnet);
	if (n->prefix < 16 || n->prefix > 29)
		return ovl_fail(err, OVL_EINVAL,
				"invalid subnet %s: prefix length must be "
				"between /16 and /29",
				req->subnet);
	return OVL_OK;
}

static int check_gateway(const ovl_net_req *req, ovl_network *n, ovl_err *err)
{
	if (ovl_ip_parse(req->gateway, &n->gateway) != 0)
		return ovl_fail(err, OVL_EINVAL, "invalid gateway %s",
				req->gateway);
	if (!req->subnet)
		return ovl_fail(err, OVL_EINVAL, "--gateway needs --subnet");
	uint32_t m = ovl_prefix_mask(n->prefix);
	if ((n->gateway & m) != n->subnet || n->gateway == n->subnet ||
	    n->gateway == (n->subnet | ~m))
		return ovl_fail(err, OVL_EINVAL,
				"gateway %s is not a host address in subnet "
				"%s",
				req->gateway, req->subnet);
	return OVL_OK;
}

/* Checks what needs no store access and fills n from it. */
static int check_request(const ovl_net_req *req, ovl_network *n, ovl_err *err)
{
	memset(n, 0, sizeof(*n));
	if (!req->name || !valid_name(req->name))
		return ovl_fail(err, OVL_EINVAL, "invalid network name \"%s\"",
				req->name ? req->name : "");
	if (req->id && !valid_id(req->id))
		return ovl_fail(err, OVL_EINVAL, "invalid network id \"%s\"",
				req->id);
	if (req->vni > OVL_VNI_MAX)
		return ovl_fail(err, OVL_EINVAL, "invalid VNI %u (1-%u)",
				req->vni, OVL_VNI_MAX);
	int rc = req->subnet ? check_subnet(req, n, err) : OVL_OK;
	if (rc == OVL_OK && req->gateway)
		rc = check_gateway(req, n, err);
	snprintf(n->name, sizeof(n->name), "%s", req->name);
	snprintf(n->driver, sizeof(n->driver), "overlay");
	snprintf(n->scope, sizeof(n->scope), "global");
	n->ovld = 1;
	n->prefix = req->subnet ? n->prefix : 24;
	n->vni = req->vni;
	return rc;
}

/* Docker's own networks have no name claim: their records are the truth. */
static int docker_name_taken(ovl *o, const char *name)
{
	ovl_network *v;
	size_t n;
	int taken = 0;
	if (ovl_network_list(o, &v, &n, NULL) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		taken |= !strcmp(v[i].name, name);
	free(v);
	return taken;
}

static int claim_name(ovl *o, ovl_claims *cl, const ovl_network *n,
		      ovl_err *err)
{
	char key[512];
	snprintf(key, sizeof(key), OVL_NETNAME "/%s", n->name);
	int rc = ovl_claim(o, cl, key, n->id);
	if (rc == OVL_KV_EXISTS || (rc == 0 && docker_name_taken(o, n->name)))
		return ovl_fail(err, OVL_EEXISTS,
				"network with name %s already exists", n->name);
	return rc ? ovl_kv_fail(err, rc, "claiming the network name") : OVL_OK;
}

static int write_records(ovl *o, ovl_claims *cl, ovl_network *n, ovl_err *err)
{
	char pool[32], gws[16], gw_cidr[32], nets[16], key[256], val[512];
	ovl_ip_format(n->subnet, nets);
	ovl_ip_format(n->gateway, gws);
	snprintf(pool, sizeof(pool), "%s/%d", nets, n->prefix);
	snprintf(gw_cidr, sizeof(gw_cidr), "%s/%d", gws, n->prefix);
	snprintf(key, sizeof(key), OVL_OVERLAY "/%s", n->id);
	snprintf(val, sizeof(val),
		 "{\"mtu\":0,\"secure\":false,\"subnets\":[{\"SubnetIP\":"
		 "\"%s\",\"GwIP\":\"%s\",\"Vni\":%u}]}",
		 pool, gw_cidr, n->vni);
	int rc = ovl_claim(o, cl, key, val);
	if (rc == 0) {
		snprintf(key, sizeof(key), OVL_COUNT "/%s", n->id);
		rc = ovl_claim(o, cl, key, "{\"Count\":0}");
	}
	if (rc)
		return ovl_kv_fail(err, rc, "writing the network");
	char *rec = network_record(n->id, n->name, pool, gw_cidr, n->created);
	json_t *node = NULL;
	snprintf(key, sizeof(key), OVL_NET "/%s", n->id);
	rc = rec ? o->kv.create(o->kv.ctx, key, rec, &node) : -1;
	free(rec);
	n->index = ovl_node_index(node);
	json_decref(node);
	if (rc == OVL_KV_EXISTS)
		return ovl_fail(err, OVL_EEXISTS,
				"network id %s already exists", n->id);
	return rc ? ovl_kv_fail(err, rc, "writing the network") : OVL_OK;
}

static int create_claimed(ovl *o, const ovl_net_req *req, ovl_claims *cl,
			  ovl_network *n, ovl_err *err)
{
	int rc = claim_name(o, cl, n, err);
	if (rc == OVL_OK && req->subnet)
		rc = ovl_subnet_claim(o, cl, n->subnet, n->prefix, n->id,
				      req->subnet, err);
	else if (rc == OVL_OK)
		rc = ovl_subnet_alloc(o, cl, n->id, &n->subnet, err);
	if (rc)
		return rc;
	if (!n->gateway)
		n->gateway = n->subnet + 1;
	rc = ovl_vni_take(o, cl, n->id, &n->vni, err);
	if (rc)
		return rc;
	rc = write_records(o, cl, n, err);
	if (rc)
		ovl_vxidm_release(o, n->vni);
	return rc;
}

int ovl_network_create(ovl *o, const ovl_net_req *req, ovl_network *out,
		       ovl_err *err)
{
	ovl_network n;
	int rc = check_request(req, &n, err);
	if (rc)
		return rc;
	if (req->id)
		snprintf(n.id, sizeof(n.id), "%s", req->id);
	else if (ovl_random_id(n.id) != 0)
		return ovl_fail(err, OVL_EINTERNAL, "cannot read /dev/urandom");
	ovl_claims cl = {0};
	rc = create_claimed(o, req, &cl, &n, err);
	if (rc)
		ovl_claims_rollback(o, &cl);
	ovl_claims_free(&cl);
	if (rc == OVL_OK && out)
		*out = n;
	return rc;
}
