/* test_docker_handle.c - the Docker plugin's calls (dk_handle) and the
 * sync (dk_sync) against the real overlay model on an in-memory store
 * (records only, no datapath) and a fake dockerd.
 *
 * The fake dockerd replaces httpc_request: it keeps networks as dockerd's
 * API shows them, and, like dockerd, calls back into the plugin when the
 * sync creates or removes one (RequestPool + CreateNetwork, DeleteNetwork).
 * Covered: the handshake, pools (ovl.network, requested, free, overlap),
 * a user's network bound once dockerd knows its name, the address claim,
 * Join with the container's name, a duplicate name refused with "already
 * exists", Leave and ReleaseAddress leaving nothing, DeleteNetwork refused
 * while in use and a no-op once gone, and the sync both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "docker/dk_int.h"
#include "httpc.h"
#include "overlay/internal.h"
#include "test_overlay_fake.h"

#define HOST "192.0.2.1"
#define NID "1111111111111111111111111111111111111111111111111111111111111111"
#define EID1 "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define EID2 "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

/* ---- the fake dockerd ---- */

static json_t *dnets; /* id -> network inspect document */
static dk *the_dk;
static int n_ids;
/* The plugin's binder thread asks the fake too; recursive because the
 * fake calls back into the plugin, which may ask the fake again. */
static pthread_mutex_t fake_mu;

static void fake_lock_init(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&fake_mu, &a);
	pthread_mutexattr_destroy(&a);
}

static int call_plugin(const char *path, const char *fmt, ...)
{
	char body[1024], *reply = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	int st = dk_handle(the_dk, path, body, strlen(body), &reply);
	free(reply);
	return st;
}

static void add_dnet(const char *id, const char *name, const char *subnet,
		     const char *opt)
{
	pthread_mutex_lock(&fake_mu);
	json_object_set_new(
	    dnets, id,
	    json_pack("{ssssss s{s[{ss}]} s{} s{ss}}", "Id", id, "Name", name,
		      "Driver", "ovl", "IPAM", "Config", "Subnet", subnet,
		      "Containers", "Options", "ovl.network", opt ? opt : ""));
	pthread_mutex_unlock(&fake_mu);
}

/* POST /networks/create, as dockerd does it: pool, then CreateNetwork. */
static int fake_create(const char *body, char **resp)
{
	json_t *req = json_loads(body, 0, NULL);
	const char *name = json_string_value(json_object_get(req, "Name"));
	json_t *ipam = json_object_get(req, "IPAM");
	const char *subnet = json_string_value(json_object_get(
	    json_array_get(json_object_get(ipam, "Config"), 0), "Subnet"));
	const char *opt = json_string_value(
	    json_object_get(json_object_get(req, "Options"), DK_OPT_NETWORK));
	char id[65];
	snprintf(id, sizeof(id), "%064d", ++n_ids);
	int st = call_plugin("/IpamDriver.RequestPool",
			     "{\"Pool\":\"%s\",\"Options\":{\"ovl.network\":"
			     "\"%s\"}}",
			     subnet, opt);
	if (st == 200)
		st = call_plugin(
		    "/NetworkDriver.CreateNetwork",
		    "{\"NetworkID\":\"%s\",\"Options\":{\"com.docker.network."
		    "generic\":{\"ovl.network\":\"%s\"}},\"IPv4Data\":[{"
		    "\"AddressSpace\":\"ovl\",\"Pool\":\"%s\"}]}",
		    id, opt, subnet);
	if (st == 200)
		add_dnet(id, name, subnet, opt);
	json_decref(req);
	*resp = strdup(st == 200 ? "{}" : "{\"message\":\"plugin refused\"}");
	return st == 200 ? 201 : 500;
}

int httpc_request(const char *target, const char *method, const char *path,
		  const char *content_type, const char *body, size_t body_len,
		  int timeout_ms, int *status, char **resp, size_t *resp_len)
{
	const char *p = path + strlen(DK_API);
	*resp = NULL;
	pthread_mutex_lock(&fake_mu);
	if (!strcmp(method, "POST") && !strcmp(p, "/networks/create"))
		*status = fake_create(body, resp);
	else if (!strncmp(p, "/networks?", 10)) {
		json_t *arr = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(dnets, k, v) json_array_append(arr, v);
		*resp = json_dumps(arr, 0);
		json_decref(arr);
		*status = 200;
	} else if (!strncmp(p, "/networks/", 10)) {
		json_t *n = json_object_get(dnets, p + 10);
		*status = n ? 200 : 404;
		if (n && !strcmp(method, "DELETE")) {
			call_plugin("/NetworkDriver.DeleteNetwork",
				    "{\"NetworkID\":\"%s\"}", p + 10);
			json_object_del(dnets, p + 10);
			*status = 204;
		} else if (n)
			*resp = json_dumps(n, 0);
	} else
		*status = 404;
	if (resp_len)
		*resp_len = *resp ? strlen(*resp) : 0;
	pthread_mutex_unlock(&fake_mu);
	return 0;
}

const char *httpc_strerror(void)
{
	return "fake";
}

/* ---- fixture ---- */

typedef struct fixture {
	fkv f;
	ovl *o;
	dk *d;
} fixture;

static int setup(void **state)
{
	fixture *x = calloc(1, sizeof(*x));
	ovl_config cfg = {
	    .kv = fkv_kv(&x->f), .host_ip = HOST, .datapath = OVL_DP_RECORDS};
	dk_config dc = {.docker_host = "/fake.sock", .sync = 1};
	if (ovl_init(&x->o, &cfg) != OVL_OK)
		return -1;
	dc.ovl = x->o;
	if (dk_init(&x->d, &dc) != 0)
		return -1;
	the_dk = x->d;
	pthread_mutex_lock(&fake_mu);
	dnets = json_object();
	pthread_mutex_unlock(&fake_mu);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fixture *x = *state;
	dk_close(x->d);
	ovl_close(x->o);
	fkv_free(&x->f);
	json_decref(dnets);
	free(x);
	return 0;
}

/* dk_handle with a printf-made body; the reply parsed into *out. */
static int call(fixture *x, const char *path, json_t **out, const char *fmt,
		...)
{
	char body[1024], *reply = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	int st = dk_handle(x->d, path, body, strlen(body), &reply);
	assert_non_null(reply);
	json_t *j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	free(reply);
	if (out)
		*out = j;
	else
		json_decref(j);
	return st;
}

static const char *s_at(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? s : "";
}

static void test_handshake(void **state)
{
	fixture *x = *state;
	json_t *j;
	assert_int_equal(call(x, "/Plugin.Activate", &j, "{}"), 200);
	assert_int_equal(json_array_size(json_object_get(j, "Implements")), 2);
	json_decref(j);
	assert_int_equal(call(x, "/NetworkDriver.AllocateNetwork", &j, "{}"),
			 404);
	assert_string_not_equal(s_at(j, "Err"), "");
	json_decref(j);
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j, "{"), 400);
	assert_string_not_equal(s_at(j, "Error"), "");
	json_decref(j);
	assert_int_equal(
	    call(x, "/IpamDriver.RequestPool", &j, "{\"V6\":true}"), 400);
	json_decref(j);
}

static void test_pools(void **state)
{
	fixture *x = *state;
	json_t *j;
	ovl_network n;
	ovl_err err;
	ovl_net_req req = {.name = "web", .subnet = "10.50.0.0/24"};
	assert_int_equal(ovl_network_create(x->o, &req, &n, &err), OVL_OK);
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j,
			      "{\"Options\":{\"ovl.network\":\"web\"}}"),
			 200);
	assert_string_equal(s_at(j, "Pool"), "10.50.0.0/24");
	assert_string_equal(
	    s_at(json_object_get(j, "Data"), "com.docker.network.gateway"),
	    "10.50.0.1/24");
	json_decref(j);
	/* Overlapping web, then overlapping a pool handed out here. */
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j,
			      "{\"Pool\":\"10.50.0.0/16\"}"),
			 409);
	assert_non_null(strstr(s_at(j, "Error"), "web"));
	json_decref(j);
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j,
			      "{\"Pool\":\"10.60.0.0/24\"}"),
			 200);
	json_decref(j);
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j,
			      "{\"Pool\":\"10.60.0.128/25\"}"),
			 409);
	json_decref(j);
	/* Two free pools in a row differ: the first is held. */
	char first[32];
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j, "{}"), 200);
	snprintf(first, sizeof(first), "%s", s_at(j, "Pool"));
	json_decref(j);
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j, "{}"), 200);
	assert_string_not_equal(s_at(j, "Pool"), first);
	json_decref(j);
	assert_int_equal(
	    call(x, "/IpamDriver.RequestAddress", &j,
		 "{\"PoolID\":\"10.60.0.0/24\",\"Options\":{"
		 "\"RequestAddressType\":\"com.docker.network.gateway\"}}"),
	    200);
	assert_string_equal(s_at(j, "Address"), "10.60.0.1/24");
	json_decref(j);
}

/* docker network create -d ovl --ipam-driver ovl --subnet 10.70.0.0/24
 * demo: RequestPool, CreateNetwork; dockerd knows the name only after. */
static void user_network(fixture *x)
{
	json_t *j;
	assert_int_equal(call(x, "/IpamDriver.RequestPool", &j,
			      "{\"AddressSpace\":\"ovl\",\"Pool\":\"10.70.0.0/"
			      "24\"}"),
			 200);
	json_decref(j);
	assert_int_equal(
	    call(x, "/NetworkDriver.CreateNetwork", NULL,
		 "{\"NetworkID\":\"" NID "\",\"IPv4Data\":[{\"AddressSpace\":"
		 "\"ovl\",\"Pool\":\"10.70.0.0/24\",\"Gateway\":\"10.70.0.1/"
		 "24\"}]}"),
	    200);
}

static void fake_endpoint(const char *eid, const char *name, const char *ip)
{
	char key[80];
	snprintf(key, sizeof(key), "ep-%s", eid);
	pthread_mutex_lock(&fake_mu);
	json_t *ctrs =
	    json_object_get(json_object_get(dnets, NID), "Containers");
	json_object_set_new(ctrs, key,
			    json_pack("{ssssssss}", "Name", name, "EndpointID",
				      eid, "IPv4Address", ip, "MacAddress",
				      ""));
	pthread_mutex_unlock(&fake_mu);
}

static int join(fixture *x, const char *eid, json_t **out)
{
	return call(x, "/NetworkDriver.Join", out,
		    "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"%s\","
		    "\"SandboxKey\":\"/var/run/docker/netns/x\"}",
		    eid);
}

static void test_user_network(void **state)
{
	fixture *x = *state;
	json_t *j;
	ovl_network n;
	ovl_endpoint ep;
	ovl_err err;
	user_network(x);
	/* Not in dockerd yet: the address cannot be claimed. */
	assert_int_equal(call(x, "/IpamDriver.RequestAddress", &j,
			      "{\"PoolID\":\"10.70.0.0/24\"}"),
			 404);
	json_decref(j);
	add_dnet(NID, "demo", "10.70.0.0/24", NULL);
	assert_int_equal(call(x, "/IpamDriver.RequestAddress", &j,
			      "{\"PoolID\":\"10.70.0.0/24\"}"),
			 200);
	assert_string_equal(s_at(j, "Address"), "10.70.0.2/24");
	json_decref(j);
	assert_int_equal(ovl_network_get(x->o, "demo", &n, &err), OVL_OK);
	assert_string_equal(n.id, NID);
	assert_int_equal(n.subnet, 0x0a460000);
	/* No MAC from Docker: one derived from the address comes back. */
	assert_int_equal(call(x, "/NetworkDriver.CreateEndpoint", &j,
			      "{\"NetworkID\":\"" NID
			      "\",\"EndpointID\":\"" EID1 "\","
			      "\"Interface\":{\"Address\":\"10.70.0.2/24\"}}"),
			 200);
	assert_string_equal(s_at(json_object_get(j, "Interface"), "MacAddress"),
			    "02:42:0a:46:00:02");
	json_decref(j);
	fake_endpoint(EID1, "test1", "10.70.0.2/24");
	assert_int_equal(join(x, EID1, &j), 200);
	assert_string_equal(
	    s_at(json_object_get(j, "InterfaceName"), "SrcName"),
	    "ovc-a1a1a1a1");
	json_decref(j);
	assert_int_equal(ovl_endpoint_get(x->o, "demo", "test1", &ep, &err),
			 OVL_OK);
	assert_string_equal(ep.id, EID1);
	assert_string_equal(ep.runtime, "docker");
	assert_true(ep.ipam_external);
	assert_int_equal(ep.ip, 0x0a460002);
}

static void test_duplicate_and_delete(void **state)
{
	fixture *x = *state;
	json_t *j;
	ovl_network n;
	ovl_err err;
	test_user_network(state);
	assert_int_equal(call(x, "/IpamDriver.RequestAddress", &j,
			      "{\"PoolID\":\"10.70.0.0/24\"}"),
			 200);
	assert_string_equal(s_at(j, "Address"), "10.70.0.3/24");
	json_decref(j);
	/* The same address again, on this host: refused. */
	assert_int_equal(call(x, "/IpamDriver.RequestAddress", &j,
			      "{\"PoolID\":\"10.70.0.0/24\",\"Address\":"
			      "\"10.70.0.3\"}"),
			 409);
	assert_non_null(strstr(s_at(j, "Error"), "already exists"));
	json_decref(j);
	fake_endpoint(EID2, "test1", "10.70.0.3/24");
	assert_int_equal(join(x, EID2, &j), 409);
	assert_non_null(strstr(s_at(j, "Err"), "already exists"));
	json_decref(j);
	assert_int_equal(call(x, "/IpamDriver.ReleaseAddress", NULL,
			      "{\"PoolID\":\"10.70.0.0/24\",\"Address\":"
			      "\"10.70.0.3\"}"),
			 200);
	/* In use: refused, and the network stays. */
	assert_int_equal(call(x, "/NetworkDriver.DeleteNetwork", &j,
			      "{\"NetworkID\":\"" NID "\"}"),
			 409);
	json_decref(j);
	assert_int_equal(ovl_network_get(x->o, "demo", &n, &err), OVL_OK);
	/* Leave twice (idempotent), DeleteEndpoint, ReleaseAddress. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(call(x, "/NetworkDriver.Leave", NULL,
				      "{\"NetworkID\":\"" NID
				      "\",\"EndpointID\":\"" EID1 "\"}"),
				 200);
	assert_int_equal(call(x, "/NetworkDriver.DeleteEndpoint", NULL,
			      "{\"NetworkID\":\"" NID
			      "\",\"EndpointID\":\"" EID1 "\"}"),
			 200);
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 1);
	assert_int_equal(call(x, "/IpamDriver.ReleaseAddress", NULL,
			      "{\"PoolID\":\"10.70.0.0/24\",\"Address\":"
			      "\"10.70.0.2\"}"),
			 200);
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 0);
	assert_int_equal(call(x, "/NetworkDriver.DeleteNetwork", NULL,
			      "{\"NetworkID\":\"" NID "\"}"),
			 200);
	assert_int_equal(ovl_network_get(x->o, "demo", &n, &err),
			 OVL_ENOTFOUND);
	/* Again (a copy the sync removes): a no-op success. */
	assert_int_equal(call(x, "/NetworkDriver.DeleteNetwork", NULL,
			      "{\"NetworkID\":\"" NID "\"}"),
			 200);
}

/* The user's name is taken in ovld with another subnet: no address. */
static void test_name_clash(void **state)
{
	fixture *x = *state;
	json_t *j;
	ovl_network n;
	ovl_err err;
	ovl_net_req req = {.name = "demo", .subnet = "10.71.0.0/24"};
	assert_int_equal(ovl_network_create(x->o, &req, &n, &err), OVL_OK);
	user_network(x);
	add_dnet(NID, "demo", "10.70.0.0/24", NULL);
	assert_int_equal(call(x, "/IpamDriver.RequestAddress", &j,
			      "{\"PoolID\":\"10.70.0.0/24\"}"),
			 409);
	assert_non_null(strstr(s_at(j, "Error"), "10.71.0.0/24"));
	json_decref(j);
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 0);
}

static void test_sync(void **state)
{
	fixture *x = *state;
	ovl_network n;
	ovl_err err;
	ovl_net_req req = {.name = "web", .subnet = "10.50.0.0/24"};
	assert_int_equal(ovl_network_create(x->o, &req, &n, &err), OVL_OK);
	dk_sync(x->d);
	assert_int_equal(json_object_size(dnets), 1);
	const char *k;
	json_t *v;
	json_object_foreach(dnets, k, v)
	{
		assert_string_equal(s_at(v, "Name"), "web");
	}
	dk_sync(x->d); /* nothing more to do */
	assert_int_equal(json_object_size(dnets), 1);
	/* A local network the sync made: its DeleteNetwork (from the sync's
	 * removal) must not touch the store, and nothing is re-created. */
	assert_int_equal(ovl_network_delete(x->o, "web", &err), OVL_OK);
	dk_sync(x->d);
	assert_int_equal(json_object_size(dnets), 0);
	dk_sync(x->d);
	assert_int_equal(json_object_size(dnets), 0);
}

static void test_sync_keeps_used_copy(void **state)
{
	fixture *x = *state;
	add_dnet(NID, "gone", "10.80.0.0/24", "gone");
	fake_endpoint(EID1, "c1", "10.80.0.2/24");
	dk_sync(x->d);
	assert_int_equal(json_object_size(dnets), 1);
	pthread_mutex_lock(&fake_mu);
	json_object_del(json_object_get(dnets, NID), "Containers");
	pthread_mutex_unlock(&fake_mu);
	dk_sync(x->d);
	assert_int_equal(json_object_size(dnets), 0);
}

int main(void)
{
	fake_lock_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_and_delete, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_name_clash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_keeps_used_copy, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
