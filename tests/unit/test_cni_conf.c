/* test_cni_conf.c - unit tests for the CNI plugin's pure parts: config and
 * environment decoding (each refusal's spec code), fixed addresses and
 * MACs (CNI_ARGS, runtimeConfig), the endpoint name from CNI_ARGS, ADD's result
 * in each spec version's shape, the error object, VERSION's answer and ovld's
 * errors as CNI codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cni.h"

#define CONF(ver)                                                              \
	"{\"cniVersion\":\"" ver "\",\"name\":\"demo\",\"type\":\"ovl\"}"

static const cni_env add_env = {"ADD",	"c0ffee", "/var/run/netns/c1",
				"eth0", NULL,	  NULL};

static int parse(const char *conf, const cni_env *env, cni_req *req,
		 cni_error *err)
{
	return cni_parse(conf, strlen(conf), env, req, err);
}

/* Expects a refusal with code; returns the message for more checks. */
static const char *refused(const char *conf, const cni_env *env, int code)
{
	static cni_error err;
	cni_req req;
	assert_int_equal(parse(conf, env, &req, &err), -1);
	assert_int_equal(err.code, code);
	assert_null(req.prev);
	return err.msg;
}

static void test_parse_defaults(void **state)
{
	cni_req req;
	cni_error err;
	assert_int_equal(parse(CONF("1.0.0"), &add_env, &req, &err), 0);
	assert_int_equal(req.cmd, CNI_ADD);
	assert_int_equal(req.version, CNI_V100);
	assert_string_equal(req.name, "demo");
	assert_string_equal(req.network, "demo");
	assert_string_equal(req.socket, "unix:/run/ovld/ovld.sock");
	assert_string_equal(req.container, "c0ffee");
	assert_string_equal(req.netns, "/var/run/netns/c1");
	assert_string_equal(req.ifname, "eth0");
	assert_string_equal(req.endpoint, "c0ffee");
	assert_null(req.prev);
	cni_req_free(&req);
}

static void test_parse_socket_and_network(void **state)
{
	cni_req req;
	cni_error err;
	cni_env env = add_env;
	env.socket = "/tmp/h1/ovld.sock";
	assert_int_equal(parse(CONF("0.4.0"), &env, &req, &err), 0);
	assert_string_equal(req.socket, "unix:/tmp/h1/ovld.sock");
	cni_req_free(&req);
	/* the config's key wins over the environment */
	const char *conf = "{\"cniVersion\":\"0.3.1\",\"name\":\"n\","
			   "\"type\":\"ovl\",\"network\":\"demo\","
			   "\"socket\":\"unix:/a.sock\"}";
	assert_int_equal(parse(conf, &env, &req, &err), 0);
	assert_string_equal(req.socket, "unix:/a.sock");
	assert_string_equal(req.network, "demo");
	assert_string_equal(req.name, "n");
	cni_req_free(&req);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"socket\":\"x\"}",
		&add_env, CNI_ERR_CONFIG);
}

static void test_versions(void **state)
{
	const char *ok[] = {CONF("0.3.0"), CONF("0.3.1"), CONF("0.4.0"),
			    CONF("1.0.0")};
	for (int i = 0; i < 4; i++) {
		cni_req req;
		cni_error err;
		assert_int_equal(parse(ok[i], &add_env, &req, &err), 0);
		assert_int_equal(req.version, i);
		cni_req_free(&req);
	}
	refused(CONF("0.2.0"), &add_env, CNI_ERR_VERSION);
	refused(CONF("1.1.0"), &add_env, CNI_ERR_VERSION);
	assert_non_null(
	    strstr(refused("{\"name\":\"demo\"}", &add_env, CNI_ERR_VERSION),
		   "\"0.1.0\""));
	refused("{\"cniVersion\":1,\"name\":\"demo\"}", &add_env,
		CNI_ERR_VERSION);
	/* CHECK came with 0.4.0 */
	cni_env check = add_env;
	check.command = "CHECK";
	refused(CONF("0.3.1"), &check, CNI_ERR_VERSION);
}

static void test_bad_config(void **state)
{
	refused("", &add_env, CNI_ERR_DECODE);
	refused("{\"cniVersion\":", &add_env, CNI_ERR_DECODE);
	refused("[1]", &add_env, CNI_ERR_DECODE);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"name\":\"b\"}",
		&add_env, CNI_ERR_DECODE);
	refused("{\"cniVersion\":\"1.0.0\"}", &add_env, CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":7}", &add_env,
		CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"\"}", &add_env,
		CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"type\":7}",
		&add_env, CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"network\":[]}",
		&add_env, CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"a\","
		"\"ipam\":{\"type\":\"host-local\"}}",
		&add_env, CNI_ERR_FIELD);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"prevResult\":3}",
		&add_env, CNI_ERR_DECODE);
}

static void test_bad_env(void **state)
{
	cni_env env = add_env;
	env.command = NULL;
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env.command = "GC";
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env = add_env;
	env.containerid = "";
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env = add_env;
	env.ifname = "eth0123456789012";
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env.ifname = "a/b";
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env = add_env;
	env.netns = NULL;
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
	env.netns = "relative";
	refused(CONF("1.0.0"), &env, CNI_ERR_ENV);
}

static void test_del_without_netns(void **state)
{
	cni_env env = add_env;
	env.command = "DEL";
	env.netns = NULL;
	cni_req req;
	cni_error err;
	assert_int_equal(parse(CONF("0.3.1"), &env, &req, &err), 0);
	assert_int_equal(req.cmd, CNI_DEL);
	assert_string_equal(req.netns, "");
	cni_req_free(&req);
}

static void test_version_ignores_stdin(void **state)
{
	cni_env env = {.command = "VERSION"};
	cni_req req;
	cni_error err;
	assert_int_equal(parse("garbage", &env, &req, &err), 0);
	assert_int_equal(req.cmd, CNI_VERSION);
	cni_req_free(&req);
}

static void test_prev_result(void **state)
{
	cni_env env = add_env;
	env.command = "CHECK";
	const char *conf =
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"demo\",\"prevResult\":"
	    "{\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":0}]}}";
	cni_req req;
	cni_error err;
	assert_int_equal(parse(conf, &env, &req, &err), 0);
	assert_non_null(req.prev);
	json_t *ips = json_object_get(req.prev, "ips");
	assert_int_equal(json_array_size(ips), 1);
	cni_req_free(&req);
	assert_null(req.prev);
}

static void test_static_address(void **state)
{
	cni_req req;
	cni_error err;
	cni_env env = add_env;
	env.args = "IgnoreUnknown=1;IP=10.0.0.9/24;MAC=02:42:0a:00:00:09";
	assert_int_equal(parse(CONF("1.0.0"), &env, &req, &err), 0);
	assert_string_equal(req.ip, "10.0.0.9");
	assert_string_equal(req.mac, "02:42:0a:00:00:09");
	cni_req_free(&req);
	/* runtimeConfig (capabilities) wins over CNI_ARGS */
	const char *rc = "{\"cniVersion\":\"1.0.0\",\"name\":\"demo\","
			 "\"runtimeConfig\":{\"ips\":[\"10.0.0.7/24\"],"
			 "\"mac\":\"02:42:0a:00:00:07\"}}";
	assert_int_equal(parse(rc, &env, &req, &err), 0);
	assert_string_equal(req.ip, "10.0.0.7");
	assert_string_equal(req.mac, "02:42:0a:00:00:07");
	cni_req_free(&req);
	/* only ADD asks for them */
	env.command = "DEL";
	assert_int_equal(parse(rc, &env, &req, &err), 0);
	assert_string_equal(req.ip, "");
	cni_req_free(&req);
	env = add_env;
	assert_int_equal(parse(CONF("1.0.0"), &env, &req, &err), 0);
	assert_string_equal(req.ip, "");
	assert_string_equal(req.mac, "");
	cni_req_free(&req);
}

static void test_static_refused(void **state)
{
	cni_env env = add_env;
	env.args = "IP=fd00::1";
	refused(CONF("1.0.0"), &env, CNI_ERR_FIELD);
	env.args = "IP=10.0.0.2,10.0.0.3";
	refused(CONF("1.0.0"), &env, CNI_ERR_FIELD);
	env.args = "MAC=02:42";
	refused(CONF("1.0.0"), &env, CNI_ERR_FIELD);
	env.args = "MAC=02:42:0a:00:00:0g";
	refused(CONF("1.0.0"), &env, CNI_ERR_FIELD);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"d\","
		"\"runtimeConfig\":{\"ips\":[\"10.0.0.2\",\"10.0.0.3\"]}}",
		&add_env, CNI_ERR_FIELD);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"d\","
		"\"runtimeConfig\":{\"ips\":[7]}}",
		&add_env, CNI_ERR_CONFIG);
	refused("{\"cniVersion\":\"1.0.0\",\"name\":\"d\","
		"\"runtimeConfig\":[]}",
		&add_env, CNI_ERR_CONFIG);
}

static const char *name_of(const char *args, const char *container)
{
	static char out[256];
	cni_error err;
	if (cni_endpoint_name(args, container, out, sizeof(out), &err) < 0) {
		assert_int_equal(err.code, CNI_ERR_ENV);
		return NULL;
	}
	return out;
}

static void test_endpoint_name(void **state)
{
	assert_string_equal(name_of(NULL, "abc"), "abc");
	assert_string_equal(name_of("", "abc"), "abc");
	assert_string_equal(name_of("IgnoreUnknown=1;K8S_POD_NAME=web", "c"),
			    "web");
	assert_string_equal(name_of("K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;"
				    "K8S_POD_INFRA_CONTAINER_ID=abc",
				    "c"),
			    "web-0.prod");
	assert_string_equal(name_of("K8S_POD_NAME=;X=1", "cid"), "cid");
	/* a namespace with a dot would make the name ambiguous */
	assert_string_equal(
	    name_of("K8S_POD_NAME=a;K8S_POD_NAMESPACE=b.c", "x"), "a");
	assert_string_equal(name_of("K8S_POD_NAME=a;", "x"), "a");
	assert_null(name_of("junk", "c"));
	assert_null(name_of("=x", "c"));
	assert_null(name_of("K8S_POD_NAME=a b", "c"));
	assert_null(name_of(NULL, "-dash"));
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(name_of(NULL, big));
}

static json_t *render(enum cni_ver v)
{
	cni_ep ep = {"eth0", "02:42:0a:00:00:02", 1450, "/var/run/netns/c1",
		     "10.0.0.2/24"};
	return cni_result(v, &ep);
}

static void test_result_100(void **state)
{
	json_t *r = render(CNI_V100);
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"cniVersion\":\"1.0.0\",\"dns\":{},\"interfaces\":[{\"mac\":"
	       "\"02:42:0a:00:00:02\",\"mtu\":1450,\"name\":\"eth0\","
	       "\"sandbox\":\"/var/run/netns/c1\"}],\"ips\":[{\"address\":"
	       "\"10.0.0.2/24\",\"interface\":0}]}");
	free(s);
	json_decref(r);
}

static void test_result_old(void **state)
{
	for (int v = CNI_V030; v <= CNI_V040; v++) {
		json_t *r = render((enum cni_ver)v);
		assert_string_equal(
		    json_string_value(json_object_get(r, "cniVersion")),
		    cni_version_str((enum cni_ver)v));
		json_t *ip = json_array_get(json_object_get(r, "ips"), 0);
		assert_string_equal(
		    json_string_value(json_object_get(ip, "version")), "4");
		assert_null(json_object_get(ip, "gateway"));
		assert_null(json_object_get(r, "routes"));
		json_decref(r);
	}
}

static void test_ep_from_json(void **state)
{
	json_t *j = json_loads(
	    "{\"ifname\":\"eth0\",\"mac\":\"02:42:0a:00:00:02\",\"mtu\":1450,"
	    "\"address\":\"10.0.0.2/24\",\"netns\":\"/run/netns/x\"}",
	    0, NULL);
	cni_ep ep;
	assert_int_equal(cni_ep_from_json(j, &ep), 0);
	assert_int_equal(ep.mtu, 1450);
	assert_string_equal(ep.netns, "/run/netns/x");
	json_object_del(j, "mac");
	assert_int_equal(cni_ep_from_json(j, &ep), -1);
	json_decref(j);
}

static void test_error_json(void **state)
{
	cni_error err;
	cni_fail(&err, CNI_ERR_TRY_AGAIN, NULL, "cannot reach %s", "ovld");
	json_t *j = cni_error_json("0.4.0", &err);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"cniVersion\":\"0.4.0\",\"code\":11,"
			       "\"msg\":\"cannot reach ovld\"}");
	free(s);
	json_decref(j);
	cni_fail(&err, CNI_ERR_DECODE, "near x", "bad");
	j = cni_error_json(NULL, &err);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")),
			    "1.0.0");
	assert_string_equal(json_string_value(json_object_get(j, "details")),
			    "near x");
	json_decref(j);
}

static void test_version_json(void **state)
{
	json_t *j = cni_version_json();
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
			    "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
			    "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}");
	free(s);
	json_decref(j);
}

static void test_ovld_codes(void **state)
{
	assert_int_equal(cni_code_from_ovld(409, "exists"), CNI_ERR_EXISTS);
	assert_int_equal(cni_code_from_ovld(507, "full"), CNI_ERR_FULL);
	assert_int_equal(cni_code_from_ovld(404, "not_found"),
			 CNI_ERR_NO_NETWORK);
	assert_int_equal(cni_code_from_ovld(400, "invalid"), CNI_ERR_INVALID);
	assert_int_equal(cni_code_from_ovld(503, "unavailable"),
			 CNI_ERR_TRY_AGAIN);
	assert_int_equal(cni_code_from_ovld(504, NULL), CNI_ERR_TRY_AGAIN);
	assert_int_equal(cni_code_from_ovld(500, "internal"), CNI_ERR_OVLD);
	assert_int_equal(cni_code_from_ovld(502, NULL), CNI_ERR_OVLD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_defaults),
	    cmocka_unit_test(test_parse_socket_and_network),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_bad_config),
	    cmocka_unit_test(test_bad_env),
	    cmocka_unit_test(test_del_without_netns),
	    cmocka_unit_test(test_version_ignores_stdin),
	    cmocka_unit_test(test_prev_result),
	    cmocka_unit_test(test_static_address),
	    cmocka_unit_test(test_static_refused),
	    cmocka_unit_test(test_endpoint_name),
	    cmocka_unit_test(test_result_100),
	    cmocka_unit_test(test_result_old),
	    cmocka_unit_test(test_ep_from_json),
	    cmocka_unit_test(test_error_json),
	    cmocka_unit_test(test_version_json),
	    cmocka_unit_test(test_ovld_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
