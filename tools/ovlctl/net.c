/* net.c - `ovlctl network create|ls|inspect|rm`.
 *
 * A network is written the way Docker's libnetwork writes it to an etcd
 * cluster store (network/<id>, overlay/network/<id>, endpoint_count/<id>)
 * so Docker tools and etcdctl see familiar records. Cluster-wide uniqueness
 * of names, subnets and VNIs comes from claim keys created with
 * prevExist=false: of two hosts racing for the same claim, the store lets
 * exactly one win; the loser rolls back what it claimed. */
#include "ovlctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Claim keys made so far by this command, deleted again on failure. */
typedef struct claims {
	char *keys[320];
	int n;
} claims;

static int claim(ctl *c, claims *cl, const char *key, const char *val)
{
	int err = kv_create(&c->kv, key, val, NULL);
	if (err == 0 && cl->n < (int)(sizeof(cl->keys) / sizeof(cl->keys[0])))
		cl->keys[cl->n++] = strdup(key);
	return err;
}

static void claims_rollback(ctl *c, claims *cl)
{
	for (int i = cl->n - 1; i >= 0; i--)
		kv_delete(&c->kv, cl->keys[i], 0, 0);
}

/* Gives back the claim made last (it turned out to be unusable). */
static void claims_drop_last(ctl *c, claims *cl)
{
	if (cl->n == 0)
		return;
	kv_delete(&c->kv, cl->keys[--cl->n], 0, 0);
	free(cl->keys[cl->n]);
}

static void claims_free(claims *cl)
{
	for (int i = 0; i < cl->n; i++)
		free(cl->keys[i]);
	cl->n = 0;
}

/* Overlap is detected on /24 blocks: a subnet claims every /24 it covers
 * (or the /24 it sits in), so overlapping subnets always share a key. */
static void block_key(uint32_t block, char *out, size_t len)
{
	snprintf(out, len, P_SUBNET "/%u.%u.%u", block >> 24,
		 (block >> 16) & 255, (block >> 8) & 255);
}

static int claim_subnet(ctl *c, claims *cl, uint32_t net, int prefix,
			const char *nid)
{
	uint32_t first = net >> 8;
	uint32_t last =
	    prefix >= 24 ? first : (net | ~prefix_mask(prefix)) >> 8;
	for (uint32_t b = first; b <= last; b++) {
		char key[128];
		block_key(b << 8, key, sizeof(key));
		int err = claim(c, cl, key, nid);
		if (err)
			return err;
	}
	return 0;
}

/* Keys (last components) of the children of dir, as a JSON object set. */
static json_t *child_set(ctl *c, const char *dir)
{
	json_t *set = json_object(), *node = NULL;
	if (kv_get(&c->kv, dir, 0, &node) != 0)
		return set;
	size_t i;
	json_t *ch;
	json_array_foreach(kv_node_children(node), i, ch)
	    json_object_set_new(set, kv_node_base(ch), json_true());
	json_decref(node);
	return set;
}

/* Pools Docker's IPAM handed out (its global address space config) are
 * skipped by the default allocation: both default to 10.0.0.0/24 upward,
 * and two networks with one subnet confuse whoever reads `network ls`. */
static void docker_pools(ctl *c, json_t *used)
{
	json_t *node = NULL;
	if (kv_get(&c->kv, P_ROOT "/ipam/default/config/GlobalDefault", 0,
		   &node) != 0)
		return;
	json_t *cfg = json_loads(kv_node_value(node) ?: "", 0, NULL), *pool;
	const char *k;
	json_object_foreach(json_object_get(cfg, "Subnets"), k, pool)
	{
		uint32_t net;
		int prefix;
		const char *cidr =
		    json_string_value(json_object_get(pool, "Pool"));
		if (!cidr || cidr_parse(cidr, &net, &prefix) != 0 || prefix < 8)
			continue;
		uint32_t last =
		    prefix >= 24 ? net : (net | ~prefix_mask(prefix));
		for (uint32_t b = net >> 8; b <= last >> 8; b++) {
			char key[128];
			block_key(b << 8, key, sizeof(key));
			json_object_set_new(used, strrchr(key, '/') + 1,
					    json_true());
		}
	}
	json_decref(cfg);
	json_decref(node);
}

/* The default pool: 10.0.0.0/24, then the next free /24 in 10.0.0.0/8. */
static int alloc_subnet(ctl *c, claims *cl, const char *nid, uint32_t *net)
{
	json_t *used = child_set(c, P_SUBNET);
	docker_pools(c, used);
	int rc = 1;
	for (uint32_t b = 0x0a0000; b <= 0x0affff; b++) {
		char key[128];
		block_key(b << 8, key, sizeof(key));
		if (json_object_get(used, strrchr(key, '/') + 1))
			continue;
		int err = claim(c, cl, key, nid);
		if (err == KV_EXISTS)
			continue;
		if (err)
			break;
		*net = b << 8;
		rc = 0;
		break;
	}
	json_decref(used);
	return rc;
}

/* VNIs in Docker's own overlay records are avoided too, so ovld and a
 * Docker overlay on the same host never share a VXLAN id. */
static void docker_vnis(ctl *c, json_t *used)
{
	json_t *node = NULL;
	if (kv_get(&c->kv, P_OVERLAY, 1, &node) != 0)
		return;
	size_t i, j;
	json_t *ch, *sn;
	json_array_foreach(kv_node_children(node), i, ch)
	{
		json_t *o = json_loads(kv_node_value(ch) ?: "", 0, NULL);
		json_array_foreach(json_object_get(o, "subnets"), j, sn)
		{
			char k[16];
			snprintf(
			    k, sizeof(k), "%lld",
			    json_integer_value(json_object_get(sn, "Vni")));
			json_object_set_new(used, k, json_true());
		}
		json_decref(o);
	}
	json_decref(node);
}

static int alloc_vni(ctl *c, claims *cl, const char *nid, uint32_t *vni)
{
	json_t *used = child_set(c, P_VNI);
	docker_vnis(c, used);
	int rc = 1;
	for (uint32_t v = VNI_MIN; v <= VNI_MAX; v++) {
		char key[128], k[16];
		snprintf(k, sizeof(k), "%u", v);
		if (json_object_get(used, k))
			continue;
		snprintf(key, sizeof(key), P_VNI "/%u", v);
		int err = claim(c, cl, key, nid);
		if (err == KV_EXISTS)
			continue;
		if (err == 0) {
			err = vxidm_reserve(c, v);
			if (err == VXIDM_TAKEN) {
				claims_drop_last(c, cl);
				continue;
			}
		}
		if (err == 0) {
			*vni = v;
			rc = 0;
		}
		break;
	}
	json_decref(used);
	return rc;
}

static void rfc3339_now(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

/* Docker's network object, including the IPAM JSON it embeds as strings. */
static char *network_record(const char *nid, const char *name, const char *pool,
			    const char *gw_cidr)
{
	char created[40], pool_id[64];
	rfc3339_now(created);
	snprintf(pool_id, sizeof(pool_id), "GlobalDefault/%s", pool);
	json_t *cfg = json_pack("[{s:s, s:s, s:s, s:n}]", "PreferredPool", pool,
				"SubPool", "", "Gateway", "", "AuxAddresses");
	json_t *data =
	    json_pack("{s:s, s:s, s:s}", "AddressSpace", "GlobalDefault",
		      "Gateway", gw_cidr, "Pool", pool);
	char *cfg_s = json_dumps(cfg, JSON_COMPACT);
	char *data_s = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *info =
	    json_pack("[{s:s, s:s}]", "IPAMData", data_s, "PoolID", pool_id);
	char *info_s = json_dumps(info, JSON_COMPACT);
	json_t *r = json_pack(
	    "{s:s, s:b, s:s, s:b, s:s, s:b, s:{s:b, s:{}}, s:s, s:b, s:b, "
	    "s:b, s:{}, s:s, s:s, s:s, s:{}, s:s, s:s, s:s, s:s, s:b, s:b, "
	    "s:s, s:b}",
	    "addrSpace", "GlobalDefault", "attachable", 0, "configFrom", "",
	    "configOnly", 0, "created", created, "enableIPv6", 0, "generic",
	    "com.docker.network.enable_ipv6", 0, "com.docker.network.generic",
	    "id", nid, "inDelete", 0, "ingress", 0, "internal", 0,
	    "ipamOptions", "ipamType", "default", "ipamV4Config", cfg_s,
	    "ipamV4Info", info_s, "labels", "loadBalancerIP", "",
	    "loadBalancerMode", "NAT", "name", name, "networkType", "overlay",
	    "persist", 1, "postIPv6", 0, "scope", "global", "ovld", 1);
	char *out = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(r);
	json_decref(cfg);
	json_decref(data);
	json_decref(info);
	free(cfg_s);
	free(data_s);
	free(info_s);
	return out;
}

typedef struct create_opts {
	const char *name, *driver, *subnet, *gateway, *vni;
} create_opts;

static int parse_create(int argc, char **argv, create_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->driver = "overlay";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int m;
		if ((m = flag_value(argc, argv, &i, "-d", &o->driver)) ||
		    (m = flag_value(argc, argv, &i, "--driver", &o->driver)) ||
		    (m = flag_value(argc, argv, &i, "--subnet", &o->subnet)) ||
		    (m = flag_value(argc, argv, &i, "--gateway",
				    &o->gateway)) ||
		    (m = flag_value(argc, argv, &i, "--vni", &o->vni))) {
			if (m < 0)
				return 1;
		} else if (a[0] == '-') {
			return fail("unknown flag: %s", a);
		} else if (o->name) {
			return fail("\"network create\" requires exactly 1 "
				    "argument");
		} else {
			o->name = a;
		}
	}
	if (!o->name)
		return fail("\"network create\" requires exactly 1 argument");
	if (strcmp(o->driver, "overlay") != 0)
		return fail("driver %s is not supported (only overlay)",
			    o->driver);
	return 0;
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 200)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') ||
		      (p != s && strchr("_.-", *p))))
			return 0;
	return 1;
}

/* Checks flags that need no store access. */
static int check_create(const create_opts *o, uint32_t *net, int *prefix,
			uint32_t *gw, uint32_t *vni)
{
	if (!valid_name(o->name))
		return fail("invalid network name \"%s\"", o->name);
	*net = 0;
	*gw = 0;
	*vni = 0;
	if (o->subnet) {
		uint32_t raw;
		if (cidr_parse(o->subnet, net, prefix) != 0 ||
		    ip_parse(strtok(strdup(o->subnet), "/"), &raw) != 0)
			return fail("invalid subnet %s: expected an IPv4 "
				    "CIDR such as 10.0.0.0/24",
				    o->subnet);
		if (raw != *net)
			return fail("invalid subnet %s: host bits set (did you "
				    "mean a network address?)",
				    o->subnet);
		if (*prefix < 16 || *prefix > 29)
			return fail("invalid subnet %s: prefix length must be "
				    "between /16 and /29",
				    o->subnet);
	}
	if (o->gateway) {
		if (ip_parse(o->gateway, gw) != 0)
			return fail("invalid gateway %s", o->gateway);
		if (!o->subnet)
			return fail("--gateway needs --subnet");
		uint32_t m = prefix_mask(*prefix);
		if ((*gw & m) != *net || *gw == *net || *gw == (*net | ~m))
			return fail("gateway %s is not a host address in "
				    "subnet %s",
				    o->gateway, o->subnet);
	}
	if (o->vni) {
		char *end;
		unsigned long v = strtoul(o->vni, &end, 10);
		if (*end || v < 1 || v > VNI_MAX)
			return fail("invalid VNI %s (1-%u)", o->vni, VNI_MAX);
		*vni = (uint32_t)v;
	}
	return 0;
}

/* Writes the three records; the network/<id> key last, so the network is
 * visible only once everything it needs exists. */
static int write_network(ctl *c, const char *nid, const char *name,
			 uint32_t net, int prefix, uint32_t gw, uint32_t vni,
			 claims *cl)
{
	char pool[32], gws[16], gw_cidr[32], nets[16], key[256], val[512];
	ip_format(net, nets);
	ip_format(gw, gws);
	snprintf(pool, sizeof(pool), "%s/%d", nets, prefix);
	snprintf(gw_cidr, sizeof(gw_cidr), "%s/%d", gws, prefix);
	snprintf(key, sizeof(key), P_OVERLAY "/%s", nid);
	snprintf(val, sizeof(val),
		 "{\"mtu\":0,\"secure\":false,\"subnets\":[{\"SubnetIP\":"
		 "\"%s\",\"GwIP\":\"%s\",\"Vni\":%u}]}",
		 pool, gw_cidr, vni);
	if (claim(c, cl, key, val) != 0)
		return fail("%s", kv_last_error());
	snprintf(key, sizeof(key), P_COUNT "/%s", nid);
	if (claim(c, cl, key, "{\"Count\":0}") != 0)
		return fail("%s", kv_last_error());
	char *rec = network_record(nid, name, pool, gw_cidr);
	snprintf(key, sizeof(key), P_NET "/%s", nid);
	int err = rec ? kv_create(&c->kv, key, rec, NULL) : -1;
	free(rec);
	return err ? fail("%s", kv_last_error()) : 0;
}

/* Docker's own networks have no name claim: their records are the truth. */
static int docker_name_taken(ctl *c, const char *name)
{
	netinfo *v;
	size_t n;
	int taken = 0;
	if (net_list(c, &v, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		taken |= !strcmp(v[i].name, name);
		net_free(&v[i]);
	}
	free(v);
	return taken;
}

static int network_create(ctl *c, int argc, char **argv)
{
	create_opts o;
	uint32_t net, gw, vni;
	int prefix = 24;
	if (parse_create(argc, argv, &o) ||
	    check_create(&o, &net, &prefix, &gw, &vni))
		return 1;
	char nid[65], key[512];
	if (random_id(nid) != 0)
		return fail("cannot read /dev/urandom");
	claims cl = {.n = 0};
	int rc = 1, err;
	snprintf(key, sizeof(key), P_NETNAME "/%s", o.name);
	err = claim(c, &cl, key, nid);
	if (err == KV_EXISTS || (err == 0 && docker_name_taken(c, o.name))) {
		fail("network with name %s already exists", o.name);
		goto out;
	} else if (err) {
		fail("%s", kv_last_error());
		goto out;
	}
	if (o.subnet) {
		err = claim_subnet(c, &cl, net, prefix, nid);
		if (err) {
			if (err == KV_EXISTS)
				fail("Pool overlaps with other one on this "
				     "address space (%s)",
				     o.subnet);
			else
				fail("%s", kv_last_error());
			goto out;
		}
	} else if (alloc_subnet(c, &cl, nid, &net) != 0) {
		fail("could not find an available, non-overlapping IPv4 "
		     "address pool");
		goto out;
	}
	if (!gw)
		gw = net + 1;
	if (vni) {
		snprintf(key, sizeof(key), P_VNI "/%u", vni);
		err = claim(c, &cl, key, nid);
		if (err == 0)
			err = vxidm_reserve(c, vni);
		if (err) {
			fail(err == KV_EXISTS || err == VXIDM_TAKEN
				 ? "VNI %u is already in use"
				 : "cannot claim VNI %u",
			     vni);
			goto out;
		}
	} else if (alloc_vni(c, &cl, nid, &vni) != 0) {
		fail("no free VNI");
		goto out;
	}
	if (write_network(c, nid, o.name, net, prefix, gw, vni, &cl) != 0) {
		vxidm_release(c, vni);
		goto out;
	}
	printf("%s\n", nid);
	rc = 0;
out:
	if (rc)
		claims_rollback(c, &cl);
	claims_free(&cl);
	return rc;
}

static int network_ls(ctl *c)
{
	netinfo *v;
	size_t n;
	if (net_list(c, &v, &n) != 0)
		return 1;
	int w = 7;
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].name) + 3 > w + 3)
			w = (int)strlen(v[i].name);
	printf("%-15s%-*s%-10s%s\n", "NETWORK ID", w + 3, "NAME", "DRIVER",
	       "SCOPE");
	for (size_t i = 0; i < n; i++) {
		printf("%-15.12s%-*s%-10s%s\n", v[i].id, w + 3, v[i].name,
		       v[i].driver, v[i].scope);
		net_free(&v[i]);
	}
	free(v);
	return 0;
}

/* Containers map of `docker network inspect`: endpoint id -> details. */
static json_t *inspect_containers(ctl *c, const char *nid)
{
	json_t *out = json_object(), *dir = NULL;
	char key[256];
	snprintf(key, sizeof(key), P_EP "/%s", nid);
	if (kv_get(&c->kv, key, 1, &dir) != 0)
		return out;
	size_t i;
	json_t *ch;
	json_array_foreach(kv_node_children(dir), i, ch)
	{
		json_t *e = json_loads(kv_node_value(ch) ?: "", 0, NULL);
		json_t *ifc = json_object_get(e, "ep_iface");
		const char *id = json_string_value(json_object_get(e, "id"));
		if (id)
			json_object_set_new(
			    out, id,
			    json_pack(
				"{s:s?, s:s, s:s?, s:s?, s:s, s:s?}", "Name",
				json_string_value(json_object_get(e, "name")),
				"EndpointID", id, "MacAddress",
				json_string_value(json_object_get(ifc, "mac")),
				"IPv4Address",
				json_string_value(json_object_get(ifc, "addr")),
				"IPv6Address", "", "Host",
				json_string_value(
				    json_object_get(e, "locator"))));
		json_decref(e);
	}
	json_decref(dir);
	return out;
}

static int network_inspect(ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return fail("\"network inspect\" requires at least 1 argument");
	json_t *arr = json_array();
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		netinfo n;
		if (net_lookup(c, argv[i], &n) != 0) {
			rc = 1;
			continue;
		}
		char sub[32] = "", gw[16] = "", vni[16];
		if (n.prefix) {
			ip_format(n.subnet, sub);
			snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub),
				 "/%d", n.prefix);
			ip_format(n.gateway, gw);
		}
		snprintf(vni, sizeof(vni), "%u", n.vni);
		json_t *r = n.record;
		json_t *cfg = n.prefix ? json_pack("[{s:s, s:s}]", "Subnet",
						   sub, "Gateway", gw)
				       : json_array();
		json_array_append_new(
		    arr,
		    json_pack(
			"{s:s, s:s, s:s?, s:s, s:s, s:b, s:{s:s, s:{}, s:o}, "
			"s:b, s:b, s:b, s:{s:s}, s:b, s:o, s:{s:s}, s:{}}",
			"Name", n.name, "Id", n.id, "Created",
			json_string_value(json_object_get(r, "created")),
			"Scope", n.scope, "Driver", n.driver, "EnableIPv6",
			json_is_true(json_object_get(r, "enableIPv6")), "IPAM",
			"Driver", "default", "Options", "Config", cfg,
			"Internal",
			json_is_true(json_object_get(r, "internal")),
			"Attachable",
			json_is_true(json_object_get(r, "attachable")),
			"Ingress", json_is_true(json_object_get(r, "ingress")),
			"ConfigFrom", "Network", "", "ConfigOnly", 0,
			"Containers", inspect_containers(c, n.id), "Options",
			"com.docker.network.driver.overlay.vxlanid_list", vni,
			"Labels"));
		net_free(&n);
	}
	char *s = json_dumps(arr, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	free(s);
	json_decref(arr);
	return rc;
}

static int has_endpoints(ctl *c, const char *nid)
{
	char key[256];
	json_t *dir = NULL;
	snprintf(key, sizeof(key), P_EP "/%s", nid);
	if (kv_get(&c->kv, key, 0, &dir) != 0)
		return 0;
	int n = (int)json_array_size(kv_node_children(dir));
	json_decref(dir);
	return n > 0;
}

/* Marks the network inDelete (so concurrent attaches refuse it), then
 * re-checks for endpoints before removing anything. */
static int mark_in_delete(ctl *c, netinfo *n, int on, uint64_t *index)
{
	char key[256];
	snprintf(key, sizeof(key), P_NET "/%s", n->id);
	json_object_set_new(n->record, "inDelete", json_boolean(on));
	char *val = json_dumps(n->record, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *node = NULL;
	int err = kv_cas(&c->kv, key, val, *index, &node);
	free(val);
	if (err == 0)
		*index = kv_node_index(node);
	json_decref(node);
	return err;
}

static void release_network(ctl *c, const netinfo *n)
{
	char key[512];
	const char *dirs[] = {P_EP, P_IP, P_EPNAME};
	for (size_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "%s/%s", dirs[i], n->id);
		kv_delete(&c->kv, key, 0, 1);
	}
	snprintf(key, sizeof(key), P_OVERLAY "/%s", n->id);
	kv_delete(&c->kv, key, 0, 0);
	snprintf(key, sizeof(key), P_COUNT "/%s", n->id);
	kv_delete(&c->kv, key, 0, 0);
	if (n->vni) {
		vxidm_release(c, n->vni);
		snprintf(key, sizeof(key), P_VNI "/%u", n->vni);
		kv_delete(&c->kv, key, 0, 0);
	}
	if (n->prefix) {
		uint32_t first = n->subnet >> 8;
		uint32_t last =
		    n->prefix >= 24
			? first
			: (n->subnet | ~prefix_mask(n->prefix)) >> 8;
		for (uint32_t b = first; b <= last; b++) {
			block_key(b << 8, key, sizeof(key));
			kv_delete(&c->kv, key, 0, 0);
		}
	}
	snprintf(key, sizeof(key), P_NETNAME "/%s", n->name);
	kv_delete(&c->kv, key, 0, 0);
}

static int network_rm_one(ctl *c, const char *ref)
{
	netinfo n;
	if (net_lookup(c, ref, &n) != 0)
		return 1;
	int rc = 1;
	uint64_t index = n.index;
	if (has_endpoints(c, n.id)) {
		fail("error while removing network: network %s id %s has "
		     "active endpoints",
		     n.name, n.id);
		goto out;
	}
	if (mark_in_delete(c, &n, 1, &index) != 0) {
		fail("network %s changed while removing it, try again", n.name);
		goto out;
	}
	if (has_endpoints(c, n.id)) {
		mark_in_delete(c, &n, 0, &index);
		fail("error while removing network: network %s id %s has "
		     "active endpoints",
		     n.name, n.id);
		goto out;
	}
	char key[256];
	snprintf(key, sizeof(key), P_NET "/%s", n.id);
	if (kv_delete(&c->kv, key, index, 0) != 0) {
		fail("%s", kv_last_error());
		goto out;
	}
	if (n.ovld)
		release_network(c, &n);
	printf("%s\n", ref);
	rc = 0;
out:
	net_free(&n);
	return rc;
}

int cmd_network(ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return fail("usage: ovlctl network create|ls|inspect|rm ...");
	const char *sub = argv[0];
	if (!strcmp(sub, "create"))
		return network_create(c, argc - 1, argv + 1);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return network_ls(c);
	if (!strcmp(sub, "inspect"))
		return network_inspect(c, argc - 1, argv + 1);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove")) {
		if (argc < 2)
			return fail("\"network rm\" requires at least 1 "
				    "argument");
		int rc = 0;
		for (int i = 1; i < argc; i++)
			rc |= network_rm_one(c, argv[i]);
		return rc;
	}
	return fail("unknown command: network %s", sub);
}
