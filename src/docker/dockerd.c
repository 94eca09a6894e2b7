/* dockerd.c - the few calls the plugin makes to the local dockerd's API:
 * inspect a network (its name, and the endpoints with their container
 * names), list the ovl networks, create and remove one.
 *
 * Only network calls are made. They take none of the container locks that
 * dockerd holds while it starts a container and calls the plugin's Join,
 * so the plugin may wait on them from inside Join. API 1.41 is 20.10's
 * and is still served by 23 through 28. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../httpc.h"
#include "../log.h"
#include "dk_int.h"

#define DK_TIMEOUT_MS 5000

/* One call; *doc gets the parsed body when it is JSON. Returns the HTTP
 * status, or -1 when dockerd could not be reached. */
static int call(dk *d, const char *method, const char *path, const char *body,
		json_t **doc)
{
	char target[300], *resp = NULL;
	size_t resp_len = 0;
	int status = 0;
	snprintf(target, sizeof(target), "unix:%s", d->docker_host);
	if (doc)
		*doc = NULL;
	if (httpc_request(target, method, path,
			  body ? "application/json" : NULL, body,
			  body ? strlen(body) : 0, DK_TIMEOUT_MS, &status,
			  &resp, &resp_len) != 0) {
		log_debug("docker", "dockerd %s: %s %s: %s", d->docker_host,
			  method, path, httpc_strerror());
		return -1;
	}
	if (doc && resp)
		*doc = json_loadb(resp, resp_len, 0, NULL);
	free(resp);
	return status;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

int dk_dnet_parse(json_t *doc, dk_dnet *out)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc))
		return -1;
	copy(out->id, sizeof(out->id),
	     json_string_value(json_object_get(doc, "Id")));
	copy(out->name, sizeof(out->name),
	     json_string_value(json_object_get(doc, "Name")));
	copy(out->driver, sizeof(out->driver),
	     json_string_value(json_object_get(doc, "Driver")));
	json_t *ipam = json_object_get(doc, "IPAM");
	json_t *c0 = json_array_get(json_object_get(ipam, "Config"), 0);
	copy(out->subnet, sizeof(out->subnet),
	     json_string_value(json_object_get(c0, "Subnet")));
	json_t *opts = json_object_get(doc, "Options");
	copy(out->ovl_network, sizeof(out->ovl_network),
	     json_string_value(json_object_get(opts, DK_OPT_NETWORK)));
	json_t *ctrs = json_object_get(doc, "Containers");
	out->n_containers = json_is_object(ctrs) ? json_object_size(ctrs) : 0;
	return out->id[0] && out->name[0] ? 0 : -1;
}

int dk_dep_find(json_t *doc, const char *eid, dk_dep *out)
{
	const char *key;
	json_t *v;
	memset(out, 0, sizeof(*out));
	json_object_foreach(json_object_get(doc, "Containers"), key, v)
	{
		const char *e =
		    json_string_value(json_object_get(v, "EndpointID"));
		if (!e || strcmp(e, eid) != 0)
			continue;
		copy(out->name, sizeof(out->name),
		     json_string_value(json_object_get(v, "Name")));
		/* Endpoints not yet in a sandbox are keyed "ep-<id>". */
		if (strncmp(key, "ep-", 3) != 0)
			copy(out->container, sizeof(out->container), key);
		copy(out->mac, sizeof(out->mac),
		     json_string_value(json_object_get(v, "MacAddress")));
		copy(out->address, sizeof(out->address),
		     json_string_value(json_object_get(v, "IPv4Address")));
		return 0;
	}
	return -1;
}

int dk_docker_endpoint(dk *d, const char *nid, const char *eid, dk_dnet *net,
		       dk_dep *ep)
{
	char path[128];
	json_t *doc;
	snprintf(path, sizeof(path), DK_API "/networks/%s", nid);
	int st = call(d, "GET", path, NULL, &doc);
	int rc = st == 404 ? 1 : -1;
	if (st == 200 && dk_dnet_parse(doc, net) == 0) {
		rc = 0;
		if (eid && ep)
			dk_dep_find(doc, eid, ep);
	}
	json_decref(doc);
	return rc;
}

int dk_docker_network(dk *d, const char *id, dk_dnet *out)
{
	return dk_docker_endpoint(d, id, NULL, out, NULL);
}

int dk_docker_list(dk *d, dk_dnet **out, size_t *n)
{
	json_t *doc;
	/* filters={"driver":["ovl"]} */
	int st =
	    call(d, "GET",
		 DK_API "/networks?filters=%7B%22driver%22%3A%5B%22" DK_DRIVER
			"%22%5D%7D",
		 NULL, &doc);
	*out = NULL;
	*n = 0;
	if (st != 200 || !json_is_array(doc)) {
		json_decref(doc);
		return -1;
	}
	*out = calloc(json_array_size(doc) + 1, sizeof(dk_dnet));
	size_t i;
	json_t *v;
	json_array_foreach(doc, i, v)
	{
		/* The filter is a substring match on old engines: keep the
		 * exact driver only. */
		if (*out && dk_dnet_parse(v, &(*out)[*n]) == 0 &&
		    strcmp((*out)[*n].driver, DK_DRIVER) == 0)
			(*n)++;
	}
	json_decref(doc);
	return *out ? 0 : -1;
}

static void error_text(json_t *doc, int st, char *msg, size_t n)
{
	const char *m = json_string_value(json_object_get(doc, "message"));
	if (m)
		snprintf(msg, n, "%s", m);
	else
		snprintf(msg, n, "dockerd answered %d", st);
}

int dk_docker_create(dk *d, const char *name, const char *subnet, char *msg,
		     size_t msg_len)
{
	json_t *req = json_pack("{sssbsss{sss[{ss}]s{ss}}s{ss}}", "Name", name,
				"CheckDuplicate", 1, "Driver", DK_DRIVER,
				"IPAM", "Driver", DK_DRIVER, "Config", "Subnet",
				subnet, "Options", DK_OPT_NETWORK, name,
				"Options", DK_OPT_NETWORK, name);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		snprintf(msg, msg_len, "out of memory");
		return -1;
	}
	json_t *doc;
	int st = call(d, "POST", DK_API "/networks/create", body, &doc);
	free(body);
	if (st == 201 || st == 200) {
		json_decref(doc);
		return 0;
	}
	if (st < 0)
		snprintf(msg, msg_len, "dockerd unreachable");
	else
		error_text(doc, st, msg, msg_len);
	json_decref(doc);
	return -1;
}

int dk_docker_remove(dk *d, const char *id, char *msg, size_t msg_len)
{
	char path[128];
	json_t *doc;
	snprintf(path, sizeof(path), DK_API "/networks/%s", id);
	int st = call(d, "DELETE", path, NULL, &doc);
	int rc = st == 204 || st == 200 ? 0 : st == 404 ? 1 : -1;
	if (rc < 0) {
		if (st < 0)
			snprintf(msg, msg_len, "dockerd unreachable");
		else
			error_text(doc, st, msg, msg_len);
	}
	json_decref(doc);
	return rc;
}
