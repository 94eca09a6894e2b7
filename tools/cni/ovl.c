/* ovl.c - the CNI plugin `ovl` (spec 1.0.0; 0.3.0, 0.3.1 and 0.4.0
 * configs accepted): ADD, DEL, CHECK and VERSION as calls to the local
 * ovld's control socket (docs/control-api.md). ovld does the work (claims
 * the name and address cluster-wide, creates the interface in the
 * container's namespace, waits for the datapath), so the plugin only
 * translates, and keeps no state of its own: nothing to leak.
 *
 * Output: the result (ADD) or the spec's error object on stdout, exit 0 or
 * 1. Every call to ovld has a deadline, so a runtime never hangs on us. */
#include "cni.h"
#include "httpc.h"
#include "netns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ovld answers an attach within its datapath wait (10 s) with a 504, so
 * this only bounds an ovld that accepted the connection and stalled. A
 * stopped ovld fails at connect, at once. */
#define OVL_CHANGE_TIMEOUT_MS 15000
#define OVL_QUERY_TIMEOUT_MS 2000
#define OVL_MAX_STDIN (1 << 20)

static char *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap && (cap *= 2) <= OVL_MAX_STDIN) {
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		} else if (n == cap) {
			break; /* more than any config; refused as undecodable
				*/
		}
		ssize_t r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	*len = 0;
	return NULL;
}

static void print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
}

static int fail_out(const cni_req *req, const cni_error *err)
{
	const char *v = req && req->version != CNI_V_NONE
			    ? cni_version_str(req->version)
			    : NULL;
	json_t *j = cni_error_json(v, err);
	print_json(j);
	json_decref(j);
	return 1;
}

/* Percent-encodes one path segment (network names may hold anything
 * printable). */
static void path_seg(char *out, size_t outsz, const char *s)
{
	size_t o = 0;
	for (; *s && o + 4 < outsz; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.~", c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsz - o, "%%%02X", c);
	}
	out[o] = '\0';
}

/* ovld's error body as a CNI error. */
static void ovld_error(int status, json_t *body, cni_error *err)
{
	const char *msg = json_string_value(json_object_get(body, "error"));
	const char *code = json_string_value(json_object_get(body, "code"));
	char details[64];
	snprintf(details, sizeof(details), "ovld: HTTP %d %s", status,
		 code ? code : "");
	cni_fail(err, cni_code_from_ovld(status, code), details, "%s",
		 msg ? msg : "ovld refused the request");
}

/* One request to ovld; *out gets the parsed 2xx body. 404 comes back as
 * 404 with *out NULL, for the callers that accept it. */
static int call(const cni_req *req, const char *method, const char *path,
		json_t *body, int timeout_ms, json_t **out, cni_error *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char *resp = NULL;
	size_t rlen = 0;
	int status = 0;
	*out = NULL;
	int rc = httpc_request(
	    req->socket, method, path, text ? "application/json" : NULL, text,
	    text ? strlen(text) : 0, timeout_ms, &status, &resp, &rlen);
	free(text);
	if (rc < 0) {
		cni_fail(err, CNI_ERR_TRY_AGAIN, req->socket,
			 "cannot reach ovld at %s: %s (is ovld running?)",
			 req->socket, httpc_strerror());
		return -1;
	}
	json_t *doc = json_loadb(resp ? resp : "", rlen, 0, NULL);
	free(resp);
	if (status >= 200 && status < 300 && doc) {
		*out = doc;
		return status;
	}
	if (status == 404 && !strcmp(method, "GET")) {
		json_decref(doc);
		return 404;
	}
	ovld_error(status, doc, err);
	json_decref(doc);
	return -1;
}

static int get_endpoint(const cni_req *req, json_t **ep, cni_error *err)
{
	char net[800], name[800], path[1700];
	path_seg(net, sizeof(net), req->network);
	path_seg(name, sizeof(name), req->endpoint);
	snprintf(path, sizeof(path), "/v1/endpoints/%s/%s", net, name);
	return call(req, "GET", path, NULL, OVL_QUERY_TIMEOUT_MS, ep, err);
}

/* The endpoint is this container's: a DEL or CHECK for a container that
 * reused a name must not touch the newer owner's endpoint, nor one that
 * ovlctl or Docker made under the same name (the DEL a runtime sends
 * after its ADD was refused as a duplicate). */
static int is_ours(const cni_req *req, json_t *ep)
{
	const char *c = json_string_value(json_object_get(ep, "container"));
	const char *ifn = json_string_value(json_object_get(ep, "ifname"));
	return c && !strcmp(c, req->container) &&
	       (!ifn || !strcmp(ifn, req->ifname));
}

static json_t *add_body(const cni_req *req)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "network",
				 req->network, "name", req->endpoint, "netns",
				 req->netns, "ifname", req->ifname, "runtime",
				 "cni", "container", req->container);
	if (body && req->ip[0])
		json_object_set_new(body, "ip", json_string(req->ip));
	if (body && req->mac[0])
		json_object_set_new(body, "mac", json_string(req->mac));
	return body;
}

/* A runtime that timed out on an ADD which ovld finished, and retries it,
 * gets the endpoint it already has instead of "already exists". Only for
 * the very same container, interface and namespace. */
static json_t *same_attachment(const cni_req *req)
{
	cni_error ignored;
	json_t *ep = NULL;
	if (get_endpoint(req, &ep, &ignored) != 200)
		return NULL;
	const char *c = json_string_value(json_object_get(ep, "container"));
	const char *ns = json_string_value(json_object_get(ep, "netns"));
	const char *ifn = json_string_value(json_object_get(ep, "ifname"));
	if (c && ns && ifn && !strcmp(c, req->container) &&
	    !strcmp(ns, req->netns) && !strcmp(ifn, req->ifname))
		return ep;
	json_decref(ep);
	return NULL;
}

static int cmd_add(const cni_req *req)
{
	cni_error err;
	if (access(req->netns, F_OK) < 0) {
		cni_fail(&err, CNI_ERR_ENV, req->netns, "CNI_NETNS %s: %s",
			 req->netns, strerror(errno));
		return fail_out(req, &err);
	}
	json_t *body = add_body(req);
	json_t *ep = NULL;
	int rc = call(req, "POST", "/v1/endpoints", body, OVL_CHANGE_TIMEOUT_MS,
		      &ep, &err);
	json_decref(body);
	if (rc < 0 && err.code == CNI_ERR_EXISTS && (ep = same_attachment(req)))
		rc = 0;
	if (rc < 0)
		return fail_out(req, &err);
	cni_ep e;
	if (cni_ep_from_json(ep, &e) < 0) {
		json_decref(ep);
		cni_fail(&err, CNI_ERR_OVLD, NULL,
			 "ovld's endpoint lacks ifname, mac or address");
		return fail_out(req, &err);
	}
	json_t *res = cni_result(req->version, &e);
	json_decref(ep);
	if (!res) { /* an empty stdout with exit 0 would read as success */
		cni_fail(&err, CNI_ERR_OVLD, NULL,
			 "cannot render ovld's endpoint as a CNI result");
		return fail_out(req, &err);
	}
	print_json(res);
	json_decref(res);
	return 0;
}

/* Idempotent: a missing network, endpoint or namespace is success. */
static int cmd_del(const cni_req *req)
{
	cni_error err;
	json_t *ep = NULL;
	int rc = get_endpoint(req, &ep, &err);
	if (rc < 0)
		return fail_out(req, &err);
	if (rc == 404 || !is_ours(req, ep)) {
		json_decref(ep);
		return 0;
	}
	/* by id: the name may be claimed again between the two calls */
	char net[800], id[200], path[1100];
	path_seg(net, sizeof(net), req->network);
	const char *ref = json_string_value(json_object_get(ep, "id"));
	path_seg(id, sizeof(id), ref ? ref : req->endpoint);
	json_decref(ep);
	snprintf(path, sizeof(path), "/v1/endpoints/%s/%s?missing_ok=true", net,
		 id);
	json_t *ok = NULL;
	rc = call(req, "DELETE", path, NULL, OVL_CHANGE_TIMEOUT_MS, &ok, &err);
	json_decref(ok);
	return rc < 0 ? fail_out(req, &err) : 0;
}

/* prevResult's address on our interface, or NULL. */
static const char *prev_address(const cni_req *req)
{
	json_t *ifs = json_object_get(req->prev, "interfaces");
	json_t *ip;
	size_t i;
	json_array_foreach(json_object_get(req->prev, "ips"), i, ip)
	{
		json_t *idx = json_object_get(ip, "interface");
		json_t *iface = json_array_get(ifs, json_integer_value(idx));
		const char *n =
		    json_string_value(json_object_get(iface, "name"));
		if (json_is_integer(idx) && n && !strcmp(n, req->ifname))
			return json_string_value(
			    json_object_get(ip, "address"));
	}
	return NULL;
}

static int compare_prev(const cni_req *req, const cni_ep *e, cni_error *err)
{
	if (!req->prev)
		return 0;
	const char *addr = prev_address(req);
	if (addr && !strcmp(addr, e->address))
		return 0;
	cni_fail(err, CNI_ERR_CHECK, addr,
		 "prevResult's address for %s is %s, ovld's endpoint has %s",
		 req->ifname, addr ? addr : "missing", e->address);
	return -1;
}

static int cmd_check(const cni_req *req)
{
	cni_error err;
	json_t *ep = NULL;
	int rc = get_endpoint(req, &ep, &err);
	if (rc < 0)
		return fail_out(req, &err);
	cni_ep e;
	if (rc == 404 || !is_ours(req, ep) || cni_ep_from_json(ep, &e) < 0) {
		cni_fail(&err, CNI_ERR_CONTAINER, req->endpoint,
			 "ovld has no endpoint %s for this container on %s",
			 req->endpoint, req->network);
		json_decref(ep);
		return fail_out(req, &err);
	}
	rc = compare_prev(req, &e, &err);
	if (rc == 0)
		rc = cni_netns_enter(req->netns, &err);
	if (rc == 0)
		rc = cni_netns_check(req->ifname, e.address, e.mac, &err);
	json_decref(ep);
	return rc < 0 ? fail_out(req, &err) : 0;
}

int main(void)
{
	cni_env env = {getenv("CNI_COMMAND"), getenv("CNI_CONTAINERID"),
		       getenv("CNI_NETNS"),   getenv("CNI_IFNAME"),
		       getenv("CNI_ARGS"),    getenv("OVLD_CONTROL_SOCKET")};
	size_t len = 0;
	char *conf = read_stdin(&len);
	cni_req req;
	cni_error err;
	int rc = cni_parse(conf ? conf : "", len, &env, &req, &err);
	free(conf);
	if (rc < 0)
		return fail_out(&req, &err);
	switch (req.cmd) {
	case CNI_ADD:
		rc = cmd_add(&req);
		break;
	case CNI_DEL:
		rc = cmd_del(&req);
		break;
	case CNI_CHECK:
		rc = cmd_check(&req);
		break;
	case CNI_VERSION: {
		json_t *v = cni_version_json();
		print_json(v);
		json_decref(v);
		rc = 0;
	}
	}
	cni_req_free(&req);
	return rc;
}
