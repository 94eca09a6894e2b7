/* routes.c - the control API (docs/control-api.md): JSON requests turned
 * into overlay model calls, on a worker thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
	int status;
	const char *code;
} errmap[] = {
    [OVL_OK] = {200, "ok"},
    [OVL_EINVAL] = {400, "invalid"},
    [OVL_ENOTFOUND] = {404, "not_found"},
    [OVL_EEXISTS] = {409, "exists"},
    [OVL_EBUSY] = {409, "busy"},
    [OVL_EFULL] = {507, "full"},
    [OVL_EUNAVAIL] = {503, "unavailable"},
    [OVL_ETIMEDOUT] = {504, "timeout"},
    [OVL_EINTERNAL] = {500, "internal"},
};

static void reply_json(ctl_call *call, int status, json_t *doc)
{
	call->status = status;
	call->reply = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
}

static void reply_error(ctl_call *call, int code, const char *msg)
{
	if (code <= OVL_OK || code > OVL_EINTERNAL)
		code = OVL_EINTERNAL;
	reply_json(
	    call, errmap[code].status,
	    json_pack("{s:s, s:s}", "error", msg, "code", errmap[code].code));
}

static void reply_err(ctl_call *call, const ovl_err *e)
{
	reply_error(call, e->code, e->msg[0] ? e->msg : errmap[e->code].code);
}

/* Decodes %XX in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		unsigned v;
		if (s[0] == '%' && sscanf(s + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The value of name=... in a query string (malloc'd), or NULL. */
static char *query_get(const char *q, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = q; p && *p; p = strchr(p, '&')) {
		if (*p == '&')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			char *v = strndup(p + n + 1, strcspn(p + n + 1, "&"));
			if (v)
				unescape(v);
			return v;
		}
	}
	return NULL;
}

static int query_true(const char *q, const char *name)
{
	char *v = query_get(q, name);
	int t = v && (!strcmp(v, "true") || !strcmp(v, "1"));
	free(v);
	return t;
}

/* Splits "/a/b/c" after prefix into at most n decoded components. */
static size_t split(const char *path, char **parts, size_t n)
{
	size_t k = 0;
	const char *p = path;
	while (*p && k < n) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		parts[k] = strndup(p, len);
		if (parts[k])
			unescape(parts[k]);
		k++;
		p += len;
	}
	return *p && strspn(p, "/") != strlen(p) ? n + 1 : k;
}

static json_t *parse_body(ctl_call *call)
{
	json_error_t je;
	json_t *doc = json_loadb(call->body, call->body_len, 0, &je);
	if (!json_is_object(doc)) {
		char msg[300];
		snprintf(msg, sizeof(msg), "the body is not a JSON object: %s",
			 doc ? "wrong type" : je.text);
		json_decref(doc);
		reply_error(call, OVL_EINVAL, msg);
		return NULL;
	}
	return doc;
}

/* A string member, NULL when absent; -1 (answered) when of another type. */
static int member_str(ctl_call *call, json_t *doc, const char *key,
		      const char **out)
{
	json_t *v = json_object_get(doc, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", key);
		reply_error(call, OVL_EINVAL, msg);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static void networks_list(ctl *c, ctl_call *call)
{
	ovl_network *v = NULL;
	size_t n = 0;
	ovl_err e = {0};
	if (ovl_network_list(c->ovl, &v, &n, &e) != 0) {
		reply_err(call, &e);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, ovl_network_json(&v[i]));
	free(v);
	reply_json(call, 200, json_pack("{s:o}", "networks", arr));
}

static void network_create(ctl *c, ctl_call *call)
{
	json_t *doc = parse_body(call);
	if (!doc)
		return;
	ovl_net_req req = {0};
	json_t *vni = json_object_get(doc, "vni");
	if (member_str(call, doc, "name", &req.name) ||
	    member_str(call, doc, "subnet", &req.subnet) ||
	    member_str(call, doc, "gateway", &req.gateway) ||
	    member_str(call, doc, "id", &req.id))
		goto out;
	if (vni && !json_is_null(vni) &&
	    (!json_is_integer(vni) || json_integer_value(vni) < 1 ||
	     json_integer_value(vni) > OVL_VNI_MAX)) {
		reply_error(call, OVL_EINVAL, "\"vni\" must be 1-16777215");
		goto out;
	}
	if (!req.name) {
		reply_error(call, OVL_EINVAL, "\"name\" is required");
		goto out;
	}
	req.vni = vni ? (uint32_t)json_integer_value(vni) : 0;
	ovl_network net;
	ovl_err e = {0};
	if (ovl_network_create(c->ovl, &req, &net, &e) != 0)
		reply_err(call, &e);
	else
		reply_json(call, 201, ovl_network_json(&net));
out:
	json_decref(doc);
}

static void route_networks(ctl *c, ctl_call *call, char **parts, size_t n)
{
	int get = !strcmp(call->method, "GET");
	ovl_err e = {0};
	if (n == 1 && get)
		networks_list(c, call);
	else if (n == 1 && !strcmp(call->method, "POST"))
		network_create(c, call);
	else if (n == 2 && get) {
		ovl_network net;
		if (ovl_network_get(c->ovl, parts[1], &net, &e) != 0)
			reply_err(call, &e);
		else
			reply_json(call, 200, ovl_network_json(&net));
	} else if (n == 2 && !strcmp(call->method, "DELETE")) {
		if (ovl_network_delete(c->ovl, parts[1], &e) != 0)
			reply_err(call, &e);
		else
			reply_json(call, 200, json_object());
	} else {
		reply_error(call, OVL_ENOTFOUND, "no such call");
	}
}

/* The endpoints of net (NULL: all) as a JSON array, or NULL (answered). */
static json_t *endpoints_array(ctl *c, ctl_call *call, const char *net)
{
	ovl_endpoint *v = NULL;
	size_t n = 0;
	ovl_err e = {0};
	if (ovl_endpoint_list(c->ovl, net, &v, &n, &e) != 0) {
		reply_err(call, &e);
		return NULL;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, ovl_endpoint_json(&v[i]));
	free(v);
	return arr;
}

static void endpoints_list(ctl *c, ctl_call *call, const char *net)
{
	json_t *arr = endpoints_array(c, call, net);
	if (arr)
		reply_json(call, 200, json_pack("{s:o}", "endpoints", arr));
}

static void endpoint_attach(ctl *c, ctl_call *call)
{
	json_t *doc = parse_body(call);
	if (!doc)
		return;
	ovl_attach_req req = {0};
	if (member_str(call, doc, "network", &req.network) ||
	    member_str(call, doc, "name", &req.name) ||
	    member_str(call, doc, "netns", &req.netns) ||
	    member_str(call, doc, "ifname", &req.ifname) ||
	    member_str(call, doc, "ip", &req.ip) ||
	    member_str(call, doc, "mac", &req.mac) ||
	    member_str(call, doc, "runtime", &req.runtime) ||
	    member_str(call, doc, "container", &req.container))
		goto out;
	if (!req.network || !req.name || !req.netns) {
		reply_error(call, OVL_EINVAL,
			    "\"network\", \"name\" and \"netns\" are required");
		goto out;
	}
	if (!req.runtime)
		req.runtime = "api";
	ovl_endpoint ep;
	ovl_err e = {0};
	if (ovl_endpoint_attach(c->ovl, &req, &ep, &e) != 0)
		reply_err(call, &e);
	else
		reply_json(call, 201, ovl_endpoint_json(&ep));
out:
	json_decref(doc);
}

static void route_endpoints(ctl *c, ctl_call *call, char **parts, size_t n)
{
	int get = !strcmp(call->method, "GET");
	ovl_err e = {0};
	if (n == 1 && get) {
		char *net = query_get(call->query, "network");
		endpoints_list(c, call, net);
		free(net);
	} else if (n == 1 && !strcmp(call->method, "POST")) {
		endpoint_attach(c, call);
	} else if (n == 3 && get) {
		ovl_endpoint ep;
		if (ovl_endpoint_get(c->ovl, parts[1], parts[2], &ep, &e) != 0)
			reply_err(call, &e);
		else
			reply_json(call, 200, ovl_endpoint_json(&ep));
	} else if (n == 3 && !strcmp(call->method, "DELETE")) {
		int missing_ok = query_true(call->query, "missing_ok");
		if (ovl_endpoint_detach(c->ovl, parts[1], parts[2], missing_ok,
					&e) != 0)
			reply_err(call, &e);
		else
			reply_json(call, 200, json_object());
	} else {
		reply_error(call, OVL_ENOTFOUND, "no such call");
	}
}

static void route_status(ctl *c, ctl_call *call)
{
	json_t *arr = endpoints_array(c, call, NULL);
	if (arr)
		reply_json(call, 200,
			   json_pack("{s:s, s:b, s:o}", "host", c->cfg.host_ip,
				     "datapath", c->cfg.datapath, "endpoints",
				     arr));
}

void ctl_routes_run(ctl *c, ctl_call *call)
{
	char *parts[4] = {0};
	if (strncmp(call->path, "/v1/", 4) != 0) {
		reply_error(call, OVL_ENOTFOUND, "no such call");
		return;
	}
	if (strncmp(call->path, "/v1/cluster/", 12) == 0) {
		ctl_cluster_route(c, call, call->path + 12);
		return;
	}
	size_t n = split(call->path + 3, parts, 3);
	if (n >= 1 && n <= 3 && parts[0] && !strcmp(parts[0], "networks"))
		route_networks(c, call, parts, n);
	else if (n >= 1 && n <= 3 && parts[0] && !strcmp(parts[0], "endpoints"))
		route_endpoints(c, call, parts, n);
	else if (n == 1 && parts[0] && !strcmp(parts[0], "status") &&
		 !strcmp(call->method, "GET"))
		route_status(c, call);
	else
		reply_error(call, OVL_ENOTFOUND, "no such call");
	for (size_t i = 0; i < 3; i++)
		free(parts[i]);
}
