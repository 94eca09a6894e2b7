/* test_docker_proto.c - unit tests for the Docker plugin's protocol shapes:
 * which call a path names, the fields taken from each call's body as
 * libnetwork sends them, refusal of malformed bodies, the replies' JSON,
 * and the parsers of dockerd's network inspect answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker/dk_int.h"

#define NID "5e1f0aa1d5d4c2b1a8e58f5d2c3b4a596877665544332211aabbccddeeff0011"
#define EID "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00"

static json_t *parse_reply(char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	return j;
}

static const char *str_at(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static void test_calls(void **state)
{
	assert_int_equal(dk_call_of("/Plugin.Activate"), DK_ACTIVATE);
	assert_int_equal(dk_call_of("/NetworkDriver.Join"), DK_JOIN);
	assert_int_equal(dk_call_of("/IpamDriver.RequestPool"), DK_POOL_REQ);
	assert_int_equal(dk_call_of("/NetworkDriver.DiscoverNew"), DK_NOOP);
	assert_int_equal(dk_call_of("/NetworkDriver.AllocateNetwork"),
			 DK_UNKNOWN);
	assert_int_equal(dk_call_of("/NetworkDriver.Join/"), DK_UNKNOWN);
	assert_int_equal(dk_call_of(NULL), DK_UNKNOWN);
	assert_true(dk_call_is_ipam(DK_ADDR_REL));
	assert_false(dk_call_is_ipam(DK_JOIN));
}

static void test_create_network(void **state)
{
	const char *body =
	    "{\"NetworkID\":\"" NID "\",\"Options\":{"
	    "\"com.docker.network.enable_ipv6\":false,"
	    "\"com.docker.network.generic\":{\"ovl.network\":\"demo\"}},"
	    "\"IPv4Data\":[{\"AddressSpace\":\"ovl\",\"Pool\":\"10.9.0.0/24\","
	    "\"Gateway\":\"10.9.0.1/24\",\"AuxAddresses\":null}],"
	    "\"IPv6Data\":[]}";
	dk_req r;
	char msg[128];
	assert_int_equal(dk_req_parse(DK_NET_CREATE, body, strlen(body), &r,
				      msg, sizeof(msg)),
			 0);
	assert_string_equal(r.network_id, NID);
	assert_string_equal(r.ovl_network, "demo");
	assert_string_equal(r.pool, "10.9.0.0/24");
	assert_string_equal(r.gateway, "10.9.0.1");
	assert_string_equal(r.address_space, "ovl");
	assert_false(r.has_ipv6_data);
}

static void test_request_pool(void **state)
{
	const char *body = "{\"AddressSpace\":\"ovl\",\"Pool\":\"10.7.0.0/16\","
			   "\"SubPool\":\"\",\"Options\":{\"ovl.network\":"
			   "\"web\"},\"V6\":false}";
	dk_req r;
	char msg[128];
	assert_int_equal(
	    dk_req_parse(DK_POOL_REQ, body, strlen(body), &r, msg, sizeof(msg)),
	    0);
	assert_string_equal(r.pool, "10.7.0.0/16");
	assert_string_equal(r.ovl_network, "web");
	assert_false(r.v6);
	body = "{\"AddressSpace\":\"ovl\",\"Pool\":\"\",\"V6\":true,"
	       "\"Options\":null}";
	assert_int_equal(
	    dk_req_parse(DK_POOL_REQ, body, strlen(body), &r, msg, sizeof(msg)),
	    0);
	assert_true(r.v6);
	assert_string_equal(r.pool, "");
}

static void test_request_address(void **state)
{
	const char *gw = "{\"PoolID\":\"10.9.0.0/24\",\"Address\":\"\","
			 "\"Options\":{\"RequestAddressType\":"
			 "\"com.docker.network.gateway\"}}";
	const char *ep = "{\"PoolID\":\"10.9.0.0/24\",\"Address\":\"10.9.0.7\","
			 "\"Options\":null}";
	dk_req r;
	char msg[128];
	assert_int_equal(
	    dk_req_parse(DK_ADDR_REQ, gw, strlen(gw), &r, msg, sizeof(msg)), 0);
	assert_true(r.want_gateway);
	assert_string_equal(r.pool_id, "10.9.0.0/24");
	assert_int_equal(
	    dk_req_parse(DK_ADDR_REQ, ep, strlen(ep), &r, msg, sizeof(msg)), 0);
	assert_false(r.want_gateway);
	assert_string_equal(r.address, "10.9.0.7");
}

static void test_endpoint_and_join(void **state)
{
	const char *ce =
	    "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
	    "\",\"Interface\":{\"Address\":\"10.9.0.2/24\","
	    "\"AddressIPv6\":\"\",\"MacAddress\":\"\"},"
	    "\"Options\":{\"com.docker.network.endpoint."
	    "exposedports\":[],\"com.docker.network.portmap\":[]}}";
	const char *jn = "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID
			 "\",\"SandboxKey\":\"/var/run/docker/netns/"
			 "0123456789ab\",\"Options\":{}}";
	dk_req r;
	char msg[128];
	assert_int_equal(
	    dk_req_parse(DK_EP_CREATE, ce, strlen(ce), &r, msg, sizeof(msg)),
	    0);
	assert_string_equal(r.endpoint_id, EID);
	assert_string_equal(r.address, "10.9.0.2");
	assert_string_equal(r.mac, "");
	assert_int_equal(
	    dk_req_parse(DK_JOIN, jn, strlen(jn), &r, msg, sizeof(msg)), 0);
	assert_string_equal(r.sandbox_key,
			    "/var/run/docker/netns/0123456789ab");
}

static void expect_bad(dk_call c, const char *body)
{
	dk_req r;
	char msg[128] = "";
	assert_int_equal(
	    dk_req_parse(c, body, strlen(body), &r, msg, sizeof(msg)), -1);
	assert_true(msg[0] != '\0');
}

static void test_malformed(void **state)
{
	expect_bad(DK_NET_CREATE, "");
	expect_bad(DK_NET_CREATE, "[1]");
	expect_bad(DK_NET_CREATE, "{\"NetworkID\":");
	expect_bad(DK_NET_CREATE, "{\"NetworkID\":7}");
	expect_bad(DK_NET_CREATE, "{\"NetworkID\":\"../../etc\"}");
	expect_bad(DK_NET_CREATE, "{\"NetworkID\":\"" NID NID "\"}");
	expect_bad(DK_JOIN, "{\"NetworkID\":\"" NID "\"}");
	expect_bad(DK_NET_CREATE,
		   "{\"NetworkID\":\"" NID "\",\"IPv4Data\":{\"Pool\":1}}");
	expect_bad(DK_POOL_REQ, "{\"Pool\":[\"10.0.0.0/8\"]}");
	expect_bad(DK_POOL_REQ,
		   "{\"Options\":{\"ovl.network\":{\"nested\":true}}}");
	/* A body-less Activate and an empty capability query are fine. */
	dk_req r;
	char msg[64];
	assert_int_equal(dk_req_parse(DK_ACTIVATE, "", 0, &r, msg, 64), 0);
	assert_int_equal(dk_req_parse(DK_IPAM_CAPS, "", 0, &r, msg, 64), 0);
}

static void test_replies(void **state)
{
	json_t *j = parse_reply(dk_reply_activate());
	json_t *impl = json_object_get(j, "Implements");
	assert_int_equal(json_array_size(impl), 2);
	assert_string_equal(json_string_value(json_array_get(impl, 0)),
			    "NetworkDriver");
	assert_string_equal(json_string_value(json_array_get(impl, 1)),
			    "IpamDriver");
	json_decref(j);
	j = parse_reply(dk_reply_net_caps());
	assert_string_equal(str_at(j, "Scope"), "local");
	assert_string_equal(str_at(j, "ConnectivityScope"), "global");
	json_decref(j);
	j = parse_reply(dk_reply_error(DK_JOIN, "name test1 already exists"));
	assert_string_equal(str_at(j, "Err"), "name test1 already exists");
	json_decref(j);
	j = parse_reply(dk_reply_error(DK_POOL_REQ, "full"));
	assert_string_equal(str_at(j, "Error"), "full");
	assert_string_equal(str_at(j, "Err"), "full");
	json_decref(j);
}

static void test_ipam_replies(void **state)
{
	json_t *j = parse_reply(
	    dk_reply_pool("10.9.0.0/24", "10.9.0.0/24", "10.9.0.1/24"));
	assert_string_equal(str_at(j, "PoolID"), "10.9.0.0/24");
	assert_string_equal(str_at(j, "Pool"), "10.9.0.0/24");
	assert_string_equal(
	    str_at(json_object_get(j, "Data"), "com.docker.network.gateway"),
	    "10.9.0.1/24");
	json_decref(j);
	j = parse_reply(dk_reply_address("10.9.0.2/24"));
	assert_string_equal(str_at(j, "Address"), "10.9.0.2/24");
	json_decref(j);
	j = parse_reply(dk_reply_ipam_caps());
	assert_true(json_is_false(json_object_get(j, "RequiresRequestReplay")));
	json_decref(j);
	j = parse_reply(dk_reply_spaces());
	assert_string_equal(str_at(j, "LocalDefaultAddressSpace"), "ovl");
	json_decref(j);
}

static void test_endpoint_replies(void **state)
{
	/* Docker refuses a reply that sets what it filled itself. */
	json_t *j = parse_reply(dk_reply_endpoint(NULL));
	assert_int_equal(json_object_size(json_object_get(j, "Interface")), 0);
	json_decref(j);
	char mac[18];
	dk_mac_of_ip(0x0a090002, mac);
	assert_string_equal(mac, "02:42:0a:09:00:02");
	j = parse_reply(dk_reply_endpoint(mac));
	assert_string_equal(
	    str_at(json_object_get(j, "Interface"), "MacAddress"), mac);
	json_decref(j);
	j = parse_reply(dk_reply_join("ovc-a1b2c3d4"));
	json_t *ifn = json_object_get(j, "InterfaceName");
	assert_string_equal(str_at(ifn, "SrcName"), "ovc-a1b2c3d4");
	assert_string_equal(str_at(ifn, "DstPrefix"), "eth");
	assert_true(json_is_true(json_object_get(j, "DisableGatewayService")));
	assert_null(json_object_get(j, "Gateway"));
	json_decref(j);
}

/* A trimmed GET /v1.41/networks/<id> answer of dockerd 20.10. */
static const char *inspect =
    "{\"Name\":\"demo\",\"Id\":\"" NID "\",\"Scope\":\"local\","
    "\"Driver\":\"ovl\",\"IPAM\":{\"Driver\":\"ovl\",\"Options\":{},"
    "\"Config\":[{\"Subnet\":\"10.9.0.0/24\",\"Gateway\":\"10.9.0.1\"}]},"
    "\"Containers\":{\"ep-" EID "\":{\"Name\":\"test1\",\"EndpointID\":"
    "\"" EID "\",\"MacAddress\":\"02:42:0a:09:00:02\","
    "\"IPv4Address\":\"10.9.0.2/24\",\"IPv6Address\":\"\"},"
    "\"4f00aa\":{\"Name\":\"other\",\"EndpointID\":\"ffff\","
    "\"MacAddress\":\"\",\"IPv4Address\":\"10.9.0.3/24\"}},"
    "\"Options\":{\"ovl.network\":\"demo\"},\"Labels\":{}}";

static void test_dockerd_inspect(void **state)
{
	json_t *doc = json_loads(inspect, 0, NULL);
	assert_non_null(doc);
	dk_dnet n;
	assert_int_equal(dk_dnet_parse(doc, &n), 0);
	assert_string_equal(n.name, "demo");
	assert_string_equal(n.driver, "ovl");
	assert_string_equal(n.subnet, "10.9.0.0/24");
	assert_string_equal(n.ovl_network, "demo");
	assert_int_equal(n.n_containers, 2);
	dk_dep ep;
	assert_int_equal(dk_dep_find(doc, EID, &ep), 0);
	assert_string_equal(ep.name, "test1");
	assert_string_equal(ep.container, "");
	assert_string_equal(ep.address, "10.9.0.2/24");
	assert_string_equal(ep.mac, "02:42:0a:09:00:02");
	assert_int_equal(dk_dep_find(doc, "ffff", &ep), 0);
	assert_string_equal(ep.container, "4f00aa");
	assert_int_equal(dk_dep_find(doc, "abc", &ep), -1);
	json_decref(doc);
	doc = json_loads("{\"Name\":\"x\"}", 0, NULL);
	assert_int_equal(dk_dnet_parse(doc, &n), -1);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_calls),
	    cmocka_unit_test(test_create_network),
	    cmocka_unit_test(test_request_pool),
	    cmocka_unit_test(test_request_address),
	    cmocka_unit_test(test_endpoint_and_join),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_replies),
	    cmocka_unit_test(test_ipam_replies),
	    cmocka_unit_test(test_endpoint_replies),
	    cmocka_unit_test(test_dockerd_inspect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
