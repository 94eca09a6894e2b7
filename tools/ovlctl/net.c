/* net.c - `ovlctl network create|ls|inspect|rm`, Docker-style output.
 *
 * The rules (unique names, subnets that never overlap, VNIs shared with
 * Docker's allocator) are the daemon's (src/overlay); these commands ask
 * over the control socket and print. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlctl.h"

#define CALL_MS 15000

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
		if ((m = ovlctl_flag_value(argc, argv, &i, "-d", &o->driver)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--driver",
					   &o->driver)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--subnet",
					   &o->subnet)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--gateway",
					   &o->gateway)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--vni", &o->vni))) {
			if (m < 0)
				return 1;
		} else if (a[0] == '-') {
			return ovlctl_fail("unknown flag: %s", a);
		} else if (o->name) {
			return ovlctl_fail(
			    "\"network create\" requires exactly 1 "
			    "argument");
		} else {
			o->name = a;
		}
	}
	if (!o->name)
		return ovlctl_fail(
		    "\"network create\" requires exactly 1 argument");
	if (strcmp(o->driver, "overlay") != 0)
		return ovlctl_fail("driver %s is not supported (only overlay)",
				   o->driver);
	return 0;
}

static int create_body(const create_opts *o, json_t **body)
{
	*body = json_pack("{s:s}", "name", o->name);
	if (o->subnet)
		json_object_set_new(*body, "subnet", json_string(o->subnet));
	if (o->gateway)
		json_object_set_new(*body, "gateway", json_string(o->gateway));
	if (o->vni) {
		char *end;
		unsigned long v = strtoul(o->vni, &end, 10);
		if (*end || v < 1 || v > 16777215) {
			json_decref(*body);
			return ovlctl_fail("invalid VNI %s (1-16777215)",
					   o->vni);
		}
		json_object_set_new(*body, "vni", json_integer((json_int_t)v));
	}
	return 0;
}

static int network_create(ctl *c, int argc, char **argv)
{
	create_opts o;
	json_t *body, *net = NULL;
	if (parse_create(argc, argv, &o) || create_body(&o, &body))
		return 1;
	int rc =
	    ovlctl_ctl_call(c, "POST", "/v1/networks", body, CALL_MS, &net);
	json_decref(body);
	if (rc == 0)
		printf("%s\n", ovlctl_jstr(net, "id"));
	json_decref(net);
	return rc;
}

static int network_ls(ctl *c)
{
	json_t *doc = NULL, *n;
	if (ovlctl_ctl_call(c, "GET", "/v1/networks", NULL, CALL_MS, &doc))
		return 1;
	json_t *nets = json_object_get(doc, "networks");
	size_t i;
	int w = 7;
	json_array_foreach(nets, i, n)
	{
		if ((int)strlen(ovlctl_jstr(n, "name")) > w)
			w = (int)strlen(ovlctl_jstr(n, "name"));
	}
	printf("%-15s%-*s%-10s%s\n", "NETWORK ID", w + 3, "NAME", "DRIVER",
	       "SCOPE");
	json_array_foreach(nets, i, n)
	{
		printf("%-15.12s%-*s%-10s%s\n", ovlctl_jstr(n, "id"), w + 3,
		       ovlctl_jstr(n, "name"), ovlctl_jstr(n, "driver"),
		       ovlctl_jstr(n, "scope"));
	}
	json_decref(doc);
	return 0;
}

/* Containers map of `docker network inspect`: endpoint id -> details. */
static json_t *inspect_containers(ctl *c, const char *nid)
{
	char path[256], q[200];
	json_t *out = json_object(), *doc = NULL, *e;
	ovlctl_url_escape(nid, q, sizeof(q));
	snprintf(path, sizeof(path), "/v1/endpoints?network=%s", q);
	if (ovlctl_ctl_call(c, "GET", path, NULL, CALL_MS, &doc) != 0)
		return out;
	size_t i;
	json_array_foreach(json_object_get(doc, "endpoints"), i, e)
	    json_object_set_new(
		out, ovlctl_jstr(e, "id"),
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Name",
			  ovlctl_jstr(e, "name"), "EndpointID",
			  ovlctl_jstr(e, "id"), "MacAddress",
			  ovlctl_jstr(e, "mac"), "IPv4Address",
			  ovlctl_jstr(e, "address"), "IPv6Address", "", "Host",
			  ovlctl_jstr(e, "host")));
	json_decref(doc);
	return out;
}

static json_t *inspect_one(ctl *c, json_t *n)
{
	char vni[16];
	snprintf(vni, sizeof(vni), "%lld",
		 (long long)json_integer_value(json_object_get(n, "vni")));
	json_t *cfg =
	    *ovlctl_jstr(n, "subnet")
		? json_pack("[{s:s, s:s}]", "Subnet", ovlctl_jstr(n, "subnet"),
			    "Gateway", ovlctl_jstr(n, "gateway"))
		: json_array();
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:{}, s:o}, s:b, s:b, "
	    "s:b, s:{s:s}, s:b, s:o, s:{s:s}, s:{}}",
	    "Name", ovlctl_jstr(n, "name"), "Id", ovlctl_jstr(n, "id"),
	    "Created", ovlctl_jstr(n, "created"), "Scope",
	    ovlctl_jstr(n, "scope"), "Driver", ovlctl_jstr(n, "driver"),
	    "EnableIPv6", 0, "IPAM", "Driver", "default", "Options", "Config",
	    cfg, "Internal", 0, "Attachable", 0, "Ingress", 0, "ConfigFrom",
	    "Network", "", "ConfigOnly", 0, "Containers",
	    inspect_containers(c, ovlctl_jstr(n, "id")), "Options",
	    "com.docker.network.driver.overlay.vxlanid_list", vni, "Labels");
}

static int network_inspect(ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return ovlctl_fail(
		    "\"network inspect\" requires at least 1 argument");
	json_t *arr = json_array();
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		char path[600], ref[500];
		json_t *n = NULL;
		ovlctl_url_escape(argv[i], ref, sizeof(ref));
		snprintf(path, sizeof(path), "/v1/networks/%s", ref);
		if (ovlctl_ctl_call(c, "GET", path, NULL, CALL_MS, &n) != 0) {
			rc = 1;
			continue;
		}
		json_array_append_new(arr, inspect_one(c, n));
		json_decref(n);
	}
	char *s = json_dumps(arr, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	free(s);
	json_decref(arr);
	return rc;
}

static int network_rm(ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return ovlctl_fail(
		    "\"network rm\" requires at least 1 argument");
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		char path[600], ref[500];
		ovlctl_url_escape(argv[i], ref, sizeof(ref));
		snprintf(path, sizeof(path), "/v1/networks/%s", ref);
		if (ovlctl_ctl_call(c, "DELETE", path, NULL, CALL_MS, NULL) !=
		    0)
			rc = 1;
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

int ovlctl_cmd_network(ctl *c, int argc, char **argv)
{
	if (argc < 1)
		return ovlctl_fail(
		    "usage: ovlctl network create|ls|inspect|rm ...");
	const char *sub = argv[0];
	if (!strcmp(sub, "create"))
		return network_create(c, argc - 1, argv + 1);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return network_ls(c);
	if (!strcmp(sub, "inspect"))
		return network_inspect(c, argc - 1, argv + 1);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
		return network_rm(c, argc - 1, argv + 1);
	return ovlctl_fail("unknown command: network %s", sub);
}
