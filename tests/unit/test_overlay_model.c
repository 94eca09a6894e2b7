/* test_overlay_model.c - the overlay model (src/overlay) against an
 * in-memory store: claim rules (names, subnets, VNIs shared with Docker's
 * bitmap, addresses), rollback after a failure at every write, removal
 * rules, detach and the address claims of Docker's IPAM. The datapath is
 * not involved (OVL_DP_RECORDS: records only, no waiting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <unistd.h>

#include "overlay/internal.h"
#include "test_overlay_fake.h"

#define HOST "192.0.2.1"
#define NS "/proc/self/ns/net"
#define IDM OVL_ROOT "/idm/vxlan-id"

typedef struct fixture {
	fkv f;
	ovl *o;
	ovl_err err;
} fixture;

static int setup(void **state)
{
	fixture *x = calloc(1, sizeof(*x));
	ovl_config cfg = {
	    .kv = fkv_kv(&x->f), .host_ip = HOST, .datapath = OVL_DP_RECORDS};
	if (ovl_init(&x->o, &cfg) != OVL_OK)
		return -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fixture *x = *state;
	ovl_close(x->o);
	fkv_free(&x->f);
	free(x);
	return 0;
}

static int mknet(fixture *x, const char *name, const char *subnet, uint32_t vni,
		 ovl_network *out)
{
	ovl_net_req req = {.name = name, .subnet = subnet, .vni = vni};
	ovl_network tmp;
	memset(&x->err, 0, sizeof(x->err));
	return ovl_network_create(x->o, &req, out ? out : &tmp, &x->err);
}

static int attach(fixture *x, const char *net, const char *name, const char *ip,
		  ovl_endpoint *out)
{
	ovl_attach_req req = {
	    .network = net, .name = name, .netns = NS, .ip = ip};
	ovl_endpoint tmp;
	memset(&x->err, 0, sizeof(x->err));
	return ovl_endpoint_attach(x->o, &req, out ? out : &tmp, &x->err);
}

static const char *ipstr(uint32_t ip)
{
	static char s[4][16];
	static int k;
	k = (k + 1) % 4;
	ovl_ip_format(ip, s[k]);
	return s[k];
}

/* ---- networks ---- */

static void test_create_defaults(void **state)
{
	fixture *x = *state;
	ovl_network n, g;
	assert_int_equal(mknet(x, "demo", NULL, 0, &n), OVL_OK);
	assert_string_equal(ipstr(n.subnet), "10.0.0.0");
	assert_int_equal(n.prefix, 24);
	assert_string_equal(ipstr(n.gateway), "10.0.0.1");
	assert_int_equal(n.vni, 256);
	assert_int_equal(strlen(n.id), 64);
	assert_true(n.ovld);
	/* Docker's three records, and the claims. */
	char key[256];
	snprintf(key, sizeof(key), OVL_NET "/%s", n.id);
	assert_non_null(fkv_value(&x->f, key));
	snprintf(key, sizeof(key), OVL_OVERLAY "/%s", n.id);
	assert_non_null(strstr(fkv_value(&x->f, key), "\"Vni\":256"));
	snprintf(key, sizeof(key), OVL_COUNT "/%s", n.id);
	assert_string_equal(fkv_value(&x->f, key), "{\"Count\":0}");
	assert_string_equal(fkv_value(&x->f, OVL_NETNAME "/demo"), n.id);
	assert_string_equal(fkv_value(&x->f, OVL_SUBNET "/10.0.0"), n.id);
	assert_string_equal(fkv_value(&x->f, OVL_VNI "/256"), n.id);
	/* Found by name, id and id prefix. */
	assert_int_equal(ovl_network_get(x->o, "demo", &g, NULL), OVL_OK);
	assert_string_equal(g.id, n.id);
	assert_int_equal(g.vni, 256);
	assert_int_equal(g.prefix, 24);
	char pre[8];
	snprintf(pre, sizeof(pre), "%.6s", n.id);
	assert_int_equal(ovl_network_get(x->o, pre, &g, NULL), OVL_OK);
	assert_int_equal(ovl_network_get(x->o, "nope", &g, &x->err),
			 OVL_ENOTFOUND);
	assert_string_equal(x->err.msg, "No such network: nope");
	/* The next default is the next /24 and VNI. */
	assert_int_equal(mknet(x, "second", NULL, 0, &n), OVL_OK);
	assert_string_equal(ipstr(n.subnet), "10.0.1.0");
	assert_int_equal(n.vni, 257);
	ovl_network *v;
	size_t cnt;
	assert_int_equal(ovl_network_list(x->o, &v, &cnt, NULL), OVL_OK);
	assert_int_equal(cnt, 2);
	assert_string_equal(v[0].name, "demo"); /* sorted by name */
	assert_string_equal(v[1].name, "second");
	assert_int_equal(v[1].vni, 257);
	free(v);
}

static void test_name_unique(void **state)
{
	fixture *x = *state;
	assert_int_equal(mknet(x, "demo", NULL, 0, NULL), OVL_OK);
	assert_int_equal(mknet(x, "demo", "10.5.0.0/24", 0, NULL), OVL_EEXISTS);
	assert_string_equal(x->err.msg,
			    "network with name demo already exists");
	/* A name Docker's own network has (no claim, only its record). */
	fkv_create(&x->f, OVL_NET "/dddd",
		   "{\"id\":\"dddd\",\"name\":\"dock\",\"networkType\":"
		   "\"overlay\"}",
		   NULL);
	assert_int_equal(mknet(x, "dock", NULL, 0, NULL), OVL_EEXISTS);
	assert_null(fkv_value(&x->f, OVL_NETNAME "/dock"));
	assert_int_equal(mknet(x, "bad/name", NULL, 0, NULL), OVL_EINVAL);
	assert_int_equal(mknet(x, "", NULL, 0, NULL), OVL_EINVAL);
}

static void test_subnets(void **state)
{
	fixture *x = *state;
	ovl_network n;
	assert_int_equal(mknet(x, "big", "10.1.0.0/16", 0, &n), OVL_OK);
	assert_int_equal(fkv_count_under(&x->f, OVL_SUBNET), 256);
	assert_int_equal(mknet(x, "inner", "10.1.5.0/24", 0, NULL),
			 OVL_EEXISTS);
	assert_string_equal(x->err.msg, "Pool overlaps with other one on "
					"this address space (10.1.5.0/24)");
	assert_int_equal(fkv_count_under(&x->f, OVL_SUBNET), 256);
	assert_null(fkv_value(&x->f, OVL_NETNAME "/inner"));
	assert_int_equal(mknet(x, "small", "10.2.0.8/29", 0, &n), OVL_OK);
	assert_int_equal(mknet(x, "small2", "10.2.0.16/29", 0, NULL),
			 OVL_EEXISTS); /* same /24 block */
	/* Bad input, one clear error each. */
	assert_int_equal(mknet(x, "b1", "10.3.0.1/24", 0, NULL), OVL_EINVAL);
	assert_non_null(strstr(x->err.msg, "host bits set"));
	assert_int_equal(mknet(x, "b2", "10.3.0.0/30", 0, NULL), OVL_EINVAL);
	assert_int_equal(mknet(x, "b3", "banana", 0, NULL), OVL_EINVAL);
	assert_int_equal(fkv_count_under(&x->f, OVL_NETNAME), 2);
	/* The default pool skips claimed blocks and Docker's IPAM pools. */
	fkv_create(&x->f, OVL_ROOT "/ipam/default/config/GlobalDefault",
		   "{\"Subnets\":{\"10.0.0.0/24\":{\"Pool\":\"10.0.0.0/24\"},"
		   "\"10.0.2.0/23\":{\"Pool\":\"10.0.2.0/23\"}}}",
		   NULL);
	char pick[32];
	assert_int_equal(ovl_subnet_pick(x->o, pick, NULL), OVL_OK);
	assert_string_equal(pick, "10.0.1.0/24");
	assert_int_equal(mknet(x, "auto", NULL, 0, &n), OVL_OK);
	assert_string_equal(ipstr(n.subnet), "10.0.1.0");
	assert_int_equal(ovl_subnet_pick(x->o, pick, NULL), OVL_OK);
	assert_string_equal(pick, "10.0.4.0/24");
	/* Gateways. */
	ovl_net_req req = {
	    .name = "gw", .subnet = "10.7.0.0/24", .gateway = "10.7.0.254"};
	assert_int_equal(ovl_network_create(x->o, &req, &n, NULL), OVL_OK);
	assert_string_equal(ipstr(n.gateway), "10.7.0.254");
	req = (ovl_net_req){
	    .name = "gw2", .subnet = "10.8.0.0/24", .gateway = "10.9.0.1"};
	assert_int_equal(ovl_network_create(x->o, &req, &n, &x->err),
			 OVL_EINVAL);
}

/* Docker's bitmap: whether vni's bit is set. */
static int idm_has(fixture *x, uint32_t vni)
{
	/* A network that asks for exactly vni is refused while the bit is
	 * set; its claim key is removed again so only the bitmap decides. */
	char key[64];
	snprintf(key, sizeof(key), OVL_VNI "/%u", vni);
	if (fkv_value(&x->f, key))
		return -1;
	ovl_network n;
	int rc = mknet(x, "idmprobe", "10.250.0.0/24", vni, &n);
	if (rc == OVL_OK)
		assert_int_equal(ovl_network_delete(x->o, n.id, NULL), OVL_OK);
	return rc == OVL_EEXISTS;
}

static void test_vnis(void **state)
{
	fixture *x = *state;
	ovl_network a, b;
	/* Docker's own overlay network uses 256: skipped. */
	fkv_create(
	    &x->f, OVL_OVERLAY "/dockernet",
	    "{\"subnets\":[{\"SubnetIP\":\"10.200.0.0/24\",\"Vni\":256}]}",
	    NULL);
	assert_int_equal(mknet(x, "a", NULL, 0, &a), OVL_OK);
	assert_int_equal(a.vni, 257);
	assert_non_null(fkv_value(&x->f, IDM));
	assert_int_equal(idm_has(x, 257), -1); /* claimed */
	/* A VNI only Docker's bitmap holds (Docker allocated it, no ovld
	 * claim): explicit requests are refused, allocation moves on. */
	assert_int_equal(mknet(x, "b", NULL, 300, &b), OVL_OK);
	char key[64];
	snprintf(key, sizeof(key), OVL_VNI "/%u", 300u);
	fkv_del(&x->f, key, 0, NULL, 0);
	assert_int_equal(idm_has(x, 300), 1);
	assert_string_equal(x->err.msg, "VNI 300 is already in use");
	assert_int_equal(mknet(x, "c", NULL, 300, NULL), OVL_EEXISTS);
	assert_null(fkv_value(&x->f, key));
	/* 258 is free in both: taken next; then 259 (300 is far away). */
	ovl_network c;
	assert_int_equal(mknet(x, "c", NULL, 0, &c), OVL_OK);
	assert_int_equal(c.vni, 258);
	/* Removing a network clears its bit: the VNI can be asked for. */
	assert_int_equal(ovl_network_delete(x->o, "c", NULL), OVL_OK);
	assert_int_equal(idm_has(x, 258), 0);
	assert_int_equal(mknet(x, "d", NULL, 0, &c), OVL_OK);
	assert_int_equal(c.vni, 258);
	/* Bitmap-only 259..: allocation skips a bit set by Docker. */
	assert_int_equal(mknet(x, "e", NULL, 259, &c), OVL_OK);
	snprintf(key, sizeof(key), OVL_VNI "/%u", 259u);
	fkv_del(&x->f, key, 0, NULL, 0);
	assert_int_equal(mknet(x, "f", NULL, 0, &c), OVL_OK);
	assert_int_equal(c.vni, 260);
	assert_null(fkv_value(&x->f, key)); /* its claim was given back */
	/* VNIs below Docker's range are ovld's alone. */
	assert_int_equal(mknet(x, "low", NULL, 42, &c), OVL_OK);
	assert_int_equal(c.vni, 42);
	assert_int_equal(mknet(x, "low2", NULL, 42, NULL), OVL_EEXISTS);
}

/* ---- endpoints ---- */

static void test_addresses(void **state)
{
	fixture *x = *state;
	ovl_network n;
	ovl_endpoint e;
	assert_int_equal(mknet(x, "tiny", "10.9.0.0/29", 0, &n), OVL_OK);
	/* .1 is the gateway, .7 broadcast: .2-.6 for endpoints. */
	const char *names[] = {"e2", "e3", "e4", "e5", "e6"};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(attach(x, "tiny", names[i], NULL, &e), OVL_OK);
		assert_int_equal(e.ip, n.subnet + 2 + (uint32_t)i);
		assert_int_equal(e.prefix, 29);
	}
	assert_int_equal(attach(x, "tiny", "e7", NULL, &e), OVL_EFULL);
	assert_string_equal(x->err.msg,
			    "no available IPv4 addresses on network tiny");
	assert_null(fkv_value(&x->f, OVL_EPNAME "/"
						"x"));
	char key[256];
	snprintf(key, sizeof(key), OVL_EPNAME "/%s/e7", n.id);
	assert_null(fkv_value(&x->f, key));
	/* Freed addresses are reused, lowest first. */
	assert_int_equal(ovl_endpoint_detach(x->o, "tiny", "e4", 0, &x->err),
			 OVL_OK);
	assert_int_equal(attach(x, "tiny", "e7", NULL, &e), OVL_OK);
	assert_string_equal(ipstr(e.ip), "10.9.0.4");
	/* Explicit addresses. */
	assert_int_equal(mknet(x, "wide", "10.10.0.0/24", 0, &n), OVL_OK);
	assert_int_equal(attach(x, "wide", "x1", "10.10.0.50", &e), OVL_OK);
	assert_string_equal(ipstr(e.ip), "10.10.0.50");
	assert_int_equal(attach(x, "wide", "x2", "10.10.0.50", &e),
			 OVL_EEXISTS);
	assert_string_equal(x->err.msg, "Address already in use: 10.10.0.50");
	assert_int_equal(attach(x, "wide", "x3", "10.11.0.5", &e), OVL_EINVAL);
	assert_int_equal(attach(x, "wide", "x4", "10.10.0.1", &e), OVL_EINVAL);
	assert_int_equal(attach(x, "wide", "x5", "10.10.0.255", &e),
			 OVL_EINVAL);
	assert_int_equal(attach(x, "wide", "x6", NULL, &e), OVL_OK);
	assert_string_equal(ipstr(e.ip), "10.10.0.2");
	assert_string_equal(e.mac, "02:42:0a:0a:00:02");
	assert_string_equal(e.host, HOST);
	assert_string_equal(e.netns, NS);
}

static void test_endpoint_names(void **state)
{
	fixture *x = *state;
	ovl_endpoint e;
	assert_int_equal(mknet(x, "n1", NULL, 0, NULL), OVL_OK);
	assert_int_equal(mknet(x, "n2", NULL, 0, NULL), OVL_OK);
	assert_int_equal(attach(x, "n1", "web", NULL, &e), OVL_OK);
	assert_int_equal(attach(x, "n1", "web", NULL, NULL), OVL_EEXISTS);
	assert_string_equal(x->err.msg,
			    "service endpoint with name web already exists");
	/* Per network: the same name elsewhere is fine. */
	assert_int_equal(attach(x, "n2", "web", NULL, NULL), OVL_OK);
	ovl_endpoint *v;
	size_t cnt;
	assert_int_equal(ovl_endpoint_list(x->o, "n1", &v, &cnt, NULL), OVL_OK);
	assert_int_equal(cnt, 1);
	free(v);
	assert_int_equal(ovl_endpoint_list(x->o, NULL, &v, &cnt, NULL), OVL_OK);
	assert_int_equal(cnt, 2);
	free(v);
	/* Lookup by name or id. */
	ovl_endpoint g;
	assert_int_equal(ovl_endpoint_get(x->o, "n1", e.id, &g, NULL), OVL_OK);
	assert_string_equal(g.name, "web");
	assert_int_equal(ovl_endpoint_get(x->o, "n1", "web", &g, NULL), OVL_OK);
	assert_string_equal(g.id, e.id);
	/* Bad input. */
	ovl_attach_req req = {.network = "n1", .name = "z", .netns = "/nope"};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_EINVAL);
	assert_string_equal(x->err.msg, "network namespace /nope not found");
	req.netns = "no-such-ns-here";
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_EINVAL);
	req = (ovl_attach_req){.network = "n9", .name = "z", .netns = NS};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_ENOTFOUND);
	req = (ovl_attach_req){.network = "n1", .name = "z"};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_EINVAL);
	req = (ovl_attach_req){
	    .network = "n1", .name = "z", .netns = NS, .mac = "zz"};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_EINVAL);
	req = (ovl_attach_req){.network = "n1",
			       .name = "z",
			       .netns = NS,
			       .ifname = "much-too-long-ifname"};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &g, &x->err),
			 OVL_EINVAL);
	assert_int_equal(fkv_count_under(&x->f, OVL_EP), 2);
}

static void test_record_fields(void **state)
{
	fixture *x = *state;
	ovl_network n;
	ovl_endpoint e, g;
	assert_int_equal(mknet(x, "n", NULL, 0, &n), OVL_OK);
	ovl_attach_req req = {.network = "n",
			      .name = "c1",
			      .id = "abcdef0123456789abcdef0123456789abcdef"
				    "0123456789abcdef01234567",
			      .peer = "ovp-abcdef01",
			      .runtime = "docker",
			      .container = "cont1",
			      .sandbox = "/var/run/docker/netns/x",
			      .mac = "02:00:00:00:00:09"};
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &e, &x->err), OVL_OK);
	char key[256];
	snprintf(key, sizeof(key), OVL_EP "/%s/%s", n.id, req.id);
	json_t *r = json_loads(fkv_value(&x->f, key), 0, NULL);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "ovld_peer")),
			    "ovp-abcdef01");
	assert_string_equal(json_string_value(json_object_get(r, "ovld_netns")),
			    "");
	assert_string_equal(
	    json_string_value(json_object_get(r, "ovld_runtime")), "docker");
	assert_string_equal(json_string_value(json_object_get(r, "locator")),
			    HOST);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(r, "ep_iface"), "srcName")),
			    "ovv-abcdef01");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(r, "ep_iface"), "mac")),
			    "02:00:00:00:00:09");
	json_decref(r);
	assert_int_equal(ovl_endpoint_get(x->o, "n", "c1", &g, NULL), OVL_OK);
	assert_string_equal(g.peer, "ovp-abcdef01");
	assert_string_equal(g.container, "cont1");
	assert_string_equal(g.sandbox, "/var/run/docker/netns/x");
	assert_string_equal(g.runtime, "docker");
	assert_string_equal(e.id, req.id);
	assert_int_equal(e.ipam_external, 0);
	/* The control socket's shapes. */
	json_t *j = ovl_endpoint_json(&g);
	assert_string_equal(json_string_value(json_object_get(j, "address")),
			    "10.0.0.2/24");
	assert_string_equal(json_string_value(json_object_get(j, "gateway")),
			    "10.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(j, "mtu")), 1450);
	assert_string_equal(json_string_value(json_object_get(j, "network")),
			    "n");
	json_decref(j);
	j = ovl_network_json(&n);
	assert_string_equal(json_string_value(json_object_get(j, "subnet")),
			    "10.0.0.0/24");
	assert_int_equal(json_integer_value(json_object_get(j, "vni")), 256);
	assert_true(json_is_true(json_object_get(j, "ovld")));
	assert_true(json_is_false(json_object_get(j, "in_delete")));
	json_decref(j);
}

/* ---- rollback ---- */

static void test_create_rollback(void **state)
{
	fixture *x = *state;
	assert_int_equal(mknet(x, "keep", NULL, 0, NULL), OVL_OK);
	char *before = fkv_dump(&x->f, IDM);
	int failures = 0;
	for (int at = 1; at < 100; at++) {
		x->f.writes = 0;
		x->f.fail_at = at;
		int rc =
		    mknet(x, "fresh", at % 2 ? NULL : "10.50.0.0/23", 0, NULL);
		x->f.fail_at = 0;
		if (rc == OVL_OK)
			break;
		failures++;
		assert_int_equal(rc, OVL_EUNAVAIL);
		char *after = fkv_dump(&x->f, IDM);
		assert_string_equal(after, before);
		free(after);
	}
	free(before);
	/* Name, 1-2 subnet blocks, VNI, bitmap, overlay, count, network. */
	assert_true(failures >= 7);
	/* Nothing half-made blocks a retry, and Docker's bitmap holds no
	 * leftover bit: the VNI after "keep" is the one "fresh" got. */
	ovl_network n;
	assert_int_equal(ovl_network_get(x->o, "fresh", &n, NULL), OVL_OK);
	assert_int_equal(n.vni, 257);
}

static void test_attach_rollback(void **state)
{
	fixture *x = *state;
	assert_int_equal(mknet(x, "n", NULL, 0, NULL), OVL_OK);
	assert_int_equal(attach(x, "n", "first", NULL, NULL), OVL_OK);
	char *before = fkv_dump(&x->f, NULL);
	int failures = 0;
	for (int at = 1; at < 100; at++) {
		x->f.writes = 0;
		x->f.fail_at = at;
		int rc = attach(x, "n", "second", NULL, NULL);
		x->f.fail_at = 0;
		if (rc == OVL_OK)
			break;
		failures++;
		char *after = fkv_dump(&x->f, NULL);
		assert_string_equal(after, before);
		free(after);
	}
	free(before);
	assert_true(failures >= 3); /* name, address, record */
	ovl_endpoint e;
	assert_int_equal(ovl_endpoint_get(x->o, "n", "second", &e, NULL),
			 OVL_OK);
	assert_string_equal(ipstr(e.ip), "10.0.0.3");
}

/* ---- removal ---- */

static void test_delete(void **state)
{
	fixture *x = *state;
	ovl_network n;
	assert_int_equal(mknet(x, "n", "10.20.0.0/22", 0, &n), OVL_OK);
	assert_int_equal(attach(x, "n", "e", NULL, NULL), OVL_OK);
	assert_int_equal(ovl_network_delete(x->o, "n", &x->err), OVL_EBUSY);
	char want[256];
	snprintf(want, sizeof(want),
		 "error while removing network: network n id %s has active "
		 "endpoints",
		 n.id);
	assert_string_equal(x->err.msg, want);
	ovl_network g;
	assert_int_equal(ovl_network_get(x->o, "n", &g, NULL), OVL_OK);
	assert_false(g.in_delete);
	/* Attach refuses a network being removed. */
	char key[256];
	snprintf(key, sizeof(key), OVL_NET "/%s", n.id);
	char *rec = strdup(fkv_value(&x->f, key));
	json_t *r = json_loads(rec, 0, NULL);
	json_object_set_new(r, "inDelete", json_true());
	char *marked = json_dumps(r, JSON_COMPACT);
	fkv_cas(&x->f, key, marked, fkv_find(&x->f, key)->index, NULL);
	assert_int_equal(attach(x, "n", "late", NULL, NULL), OVL_EBUSY);
	fkv_cas(&x->f, key, rec, fkv_find(&x->f, key)->index, NULL);
	free(marked);
	free(rec);
	json_decref(r);
	assert_int_equal(ovl_endpoint_detach(x->o, "n", "e", 0, &x->err),
			 OVL_OK);
	assert_int_equal(ovl_network_delete(x->o, n.id, &x->err), OVL_OK);
	/* Nothing left but Docker's (now empty) bitmap. */
	char *dump = fkv_dump(&x->f, IDM);
	assert_string_equal(dump, "{}");
	free(dump);
	assert_int_equal(ovl_network_delete(x->o, "n", &x->err), OVL_ENOTFOUND);
	/* Every claim was given back: the same network can be made. */
	assert_int_equal(mknet(x, "n", "10.20.0.0/22", 0, &n), OVL_OK);
	assert_int_equal(n.vni, 256);
}

/* A removal that marks the network between attach's first look and its
 * record: the attach gives up, so no endpoint outlives its network. */
static char marked_net[65];
static void mark_in_delete(fkv *f, int nth)
{
	char key[256];
	if (nth != 3) /* name claim, address claim, then the record */
		return;
	f->before_write = NULL;
	snprintf(key, sizeof(key), OVL_NET "/%s", marked_net);
	fkv_entry *e = fkv_find(f, key);
	json_t *r = json_loads(e->value, 0, NULL);
	json_object_set_new(r, "inDelete", json_true());
	char *v = json_dumps(r, JSON_COMPACT);
	fkv_put(f, key, v);
	free(v);
	json_decref(r);
}

static void test_attach_races_delete(void **state)
{
	fixture *x = *state;
	ovl_network n;
	assert_int_equal(mknet(x, "n", NULL, 0, &n), OVL_OK);
	snprintf(marked_net, sizeof(marked_net), "%s", n.id);
	x->f.writes = 0;
	x->f.before_write = mark_in_delete;
	assert_int_equal(attach(x, "n", "late", NULL, NULL), OVL_EBUSY);
	assert_string_equal(x->err.msg, "network n is being removed");
	assert_int_equal(fkv_count_under(&x->f, OVL_EP), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_EPNAME), 0);
}

static void test_detach_missing(void **state)
{
	fixture *x = *state;
	assert_int_equal(ovl_endpoint_detach(x->o, "nonet", "e", 1, &x->err),
			 OVL_OK);
	assert_int_equal(ovl_endpoint_detach(x->o, "nonet", "e", 0, &x->err),
			 OVL_ENOTFOUND);
	assert_int_equal(mknet(x, "n", NULL, 0, NULL), OVL_OK);
	assert_int_equal(ovl_endpoint_detach(x->o, "n", "e", 1, &x->err),
			 OVL_OK);
	assert_int_equal(ovl_endpoint_detach(x->o, "n", "e", 0, &x->err),
			 OVL_ENOTFOUND);
	assert_string_equal(x->err.msg, "endpoint e not found in network n");
	ovl_endpoint e;
	assert_int_equal(attach(x, "n", "e", NULL, &e), OVL_OK);
	assert_int_equal(ovl_endpoint_detach(x->o, "n", e.id, 0, &x->err),
			 OVL_OK);
	assert_int_equal(ovl_endpoint_detach(x->o, "n", e.id, 1, &x->err),
			 OVL_OK);
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_EPNAME), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_EP), 0);
}

/* ---- Docker's IPAM ---- */

static void test_ip_claims(void **state)
{
	fixture *x = *state;
	ovl_network n;
	uint32_t ip;
	assert_int_equal(mknet(x, "n", "10.30.0.0/24", 0, &n), OVL_OK);
	assert_int_equal(ovl_ip_claim(x->o, "n", NULL, "ipam-a", &ip, NULL),
			 OVL_OK);
	assert_string_equal(ipstr(ip), "10.30.0.2");
	assert_int_equal(
	    ovl_ip_claim(x->o, "n", "10.30.0.9", "ipam-b", &ip, NULL), OVL_OK);
	assert_int_equal(
	    ovl_ip_claim(x->o, "n", "10.30.0.9", "ipam-c", &ip, &x->err),
	    OVL_EEXISTS);
	assert_int_equal(
	    ovl_ip_claim(x->o, "n", "10.31.0.9", "ipam-c", &ip, &x->err),
	    OVL_EINVAL);
	/* The same owner asking again (a retry) gets it back. */
	assert_int_equal(
	    ovl_ip_claim(x->o, "n", "10.30.0.9", "ipam-b", &ip, &x->err),
	    OVL_OK);
	assert_string_equal(ipstr(ip), "10.30.0.9");
	char key[256];
	snprintf(key, sizeof(key), OVL_IP "/%s/10.30.0.9", n.id);
	assert_string_equal(fkv_value(&x->f, key), "ipam-b");
	/* Only the owner releases. */
	uint32_t nine;
	ovl_ip_parse("10.30.0.9", &nine);
	assert_int_equal(ovl_ip_release(x->o, "n", nine, "ipam-x", NULL),
			 OVL_OK);
	assert_string_equal(fkv_value(&x->f, key), "ipam-b");
	assert_int_equal(ovl_ip_release(x->o, "n", nine, "ipam-b", NULL),
			 OVL_OK);
	assert_null(fkv_value(&x->f, key));
	assert_int_equal(ovl_ip_release(x->o, "n", nine, "ipam-b", NULL),
			 OVL_OK);
	/* Endpoints allocate around IPAM's claims. */
	ovl_endpoint e;
	assert_int_equal(attach(x, "n", "e", NULL, &e), OVL_OK);
	assert_string_equal(ipstr(e.ip), "10.30.0.3");
}

static void test_ipam_external(void **state)
{
	fixture *x = *state;
	ovl_network n;
	uint32_t ip;
	assert_int_equal(mknet(x, "n", "10.40.0.0/24", 0, &n), OVL_OK);
	assert_int_equal(
	    ovl_ip_claim(x->o, "n", "10.40.0.7", "docker-ipam", &ip, NULL),
	    OVL_OK);
	ovl_attach_req req = {.network = "n",
			      .name = "c",
			      .peer = "ovp-1",
			      .ip = "10.40.0.7",
			      .ip_claimed = 1};
	ovl_endpoint e;
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &e, &x->err), OVL_OK);
	assert_true(e.ipam_external);
	assert_string_equal(ipstr(e.ip), "10.40.0.7");
	assert_int_equal(ovl_endpoint_detach(x->o, "n", "c", 0, &x->err),
			 OVL_OK);
	char key[256];
	snprintf(key, sizeof(key), OVL_IP "/%s/10.40.0.7", n.id);
	assert_string_equal(fkv_value(&x->f, key), "docker-ipam");
	/* An address nobody claimed cannot be passed as claimed; a failed
	 * attach never releases IPAM's claim. */
	req.ip = "10.40.0.8";
	req.name = "d";
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &e, &x->err),
			 OVL_EINVAL);
	req.ip = "10.40.0.7";
	x->f.writes = 0;
	x->f.fail_at = 2; /* the record */
	assert_int_equal(ovl_endpoint_attach(x->o, &req, &e, &x->err),
			 OVL_EUNAVAIL);
	x->f.fail_at = 0;
	assert_string_equal(fkv_value(&x->f, key), "docker-ipam");
}

static void test_datapath_off(void **state)
{
	fkv f = {0};
	ovl *o;
	ovl_err err;
	ovl_config cfg = {.kv = fkv_kv(&f), .host_ip = HOST};
	assert_int_equal(ovl_init(&o, &cfg), OVL_OK);
	ovl_net_req nreq = {.name = "n"};
	ovl_network n;
	assert_int_equal(ovl_network_create(o, &nreq, &n, NULL), OVL_OK);
	ovl_attach_req req = {.network = "n", .name = "e", .netns = NS};
	ovl_endpoint e;
	assert_int_equal(ovl_endpoint_attach(o, &req, &e, &err), OVL_EINVAL);
	assert_non_null(strstr(err.msg, "datapath"));
	assert_int_equal(fkv_count_under(&f, OVL_EP), 0);
	assert_int_equal(fkv_count_under(&f, OVL_IP), 0);
	assert_int_equal(fkv_count_under(&f, OVL_EPNAME), 0);
	ovl_close(o);
	fkv_free(&f);
}

static void test_ip_helpers(void **state)
{
	uint32_t ip, net;
	int prefix;
	assert_int_equal(ovl_ip_parse("10.1.2.3", &ip), 0);
	assert_int_equal(ip, 0x0a010203);
	assert_int_equal(ovl_ip_parse("10.1.2", &ip), -1);
	assert_int_equal(ovl_cidr_parse("10.1.2.3/16", &net, &prefix), 0);
	assert_int_equal(net, 0x0a010000);
	assert_int_equal(prefix, 16);
	assert_int_equal(ovl_cidr_parse("10.1.2.3", &net, &prefix), -1);
	assert_int_equal(ovl_cidr_parse("10.1.2.3/33", &net, &prefix), -1);
	assert_int_equal(ovl_prefix_mask(0), 0);
	assert_int_equal(ovl_prefix_mask(24), 0xffffff00u);
	assert_string_equal(ipstr(0xc0000201), "192.0.2.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_defaults, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_name_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subnets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vnis, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_names, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_record_fields, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_create_rollback, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_attach_rollback, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_races_delete, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_detach_missing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ip_claims, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipam_external, setup,
					    teardown),
	    cmocka_unit_test(test_datapath_off),
	    cmocka_unit_test(test_ip_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
