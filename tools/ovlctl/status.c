/* status.c - `ovlctl status` (one screen about this host and its cluster)
 * and `ovlctl member ls|remove` (membership through /v2/members). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlctl.h"

/* A gauge's value from the /metrics text, or -1 when absent. */
static double metric_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

static const char *member_name(json_t *members, const char *id)
{
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		const char *mid = json_string_value(json_object_get(m, "id"));
		if (id && mid && strcmp(id, mid) == 0) {
			const char *name =
			    json_string_value(json_object_get(m, "name"));
			return name && *name ? name : "(unstarted)";
		}
	}
	return "?";
}

static size_t count_local_endpoints(ctl *c, const char *self_ip, size_t *total)
{
	json_t *root = NULL;
	size_t local = 0;
	*total = 0;
	if (kv_get(&c->kv, P_EP, 1, &root) != 0)
		return 0;
	size_t i, j;
	json_t *net, *ep;
	json_array_foreach(kv_node_children(root), i, net)
	{
		json_array_foreach(kv_node_children(net), j, ep)
		{
			json_t *rec = json_loads(kv_node_value(ep), 0, NULL);
			const char *loc =
			    json_string_value(json_object_get(rec, "locator"));
			(*total)++;
			local += loc && strcmp(loc, self_ip) == 0;
			json_decref(rec);
		}
	}
	json_decref(root);
	return local;
}

static int print_status(ctl *c)
{
	json_t *self = kv_get_json(&c->kv, "/v2/stats/self");
	json_t *mem = kv_get_json(&c->kv, "/v2/members");
	if (self == NULL || mem == NULL) {
		json_decref(self);
		json_decref(mem);
		return fail("ovld at %s:%d does not answer", c->kv.host,
			    c->kv.port);
	}
	json_t *members = json_object_get(mem, "members");
	const char *id = json_string_value(json_object_get(self, "id"));
	const char *state = json_string_value(json_object_get(self, "state"));
	const char *leader = json_string_value(
	    json_object_get(json_object_get(self, "leaderInfo"), "leader"));
	int status = 0;
	char *metrics = NULL;
	kv_http(&c->kv, "GET", "/metrics", NULL, &status, &metrics);
	const char *m = metrics ? metrics : "";
	printf("Host:        %s (%s)\n", member_name(members, id), id ?: "?");
	printf("Role:        %s\n", state ? state + 5 : "?"); /* "State" */
	printf("Leader:      %s (%s)\n",
	       leader && *leader ? member_name(members, leader) : "none",
	       leader && *leader ? leader : "-");
	printf("Members:     %zu\n", json_array_size(members));
	size_t i;
	json_t *mm;
	json_array_foreach(members, i, mm)
	{
		json_t *urls = json_object_get(mm, "clientURLs");
		printf("  %-16s %-18s %s\n",
		       json_string_value(json_object_get(mm, "id")) ?: "",
		       member_name(members, json_string_value(
						json_object_get(mm, "id"))),
		       json_string_value(json_array_get(urls, 0)) ?: "-");
	}
	printf("Store index: %.0f\n", metric_value(m, "ovld_store_index"));
	printf("Raft index:  %.0f (term %.0f)\n",
	       metric_value(m, "ovld_raft_commit_index"),
	       metric_value(m, "ovld_raft_term"));
	printf("Keys:        %.0f\n", metric_value(m, "ovld_store_keys"));
	netinfo *nets = NULL;
	size_t n_nets = 0;
	if (net_list(c, &nets, &n_nets) == 0) {
		for (size_t k = 0; k < n_nets; k++)
			net_free(&nets[k]);
		free(nets);
	}
	printf("Networks:    %zu\n", n_nets);
	char ip[64];
	size_t total = 0, local = 0;
	if (self_host_ip(c, ip) == 0)
		local = count_local_endpoints(c, ip, &total);
	printf("Endpoints:   %zu on this host, %zu in all\n", local, total);
	free(metrics);
	json_decref(self);
	json_decref(mem);
	return 0;
}

int cmd_status(ctl *c, int argc, char **argv)
{
	if (argc != 0)
		return fail("usage: ovlctl status");
	return print_status(c);
}

/* A member id from an id or a name. */
static int find_member(json_t *members, const char *ref, char out[32])
{
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		const char *name =
		    json_string_value(json_object_get(m, "name"));
		if ((id && !strcmp(id, ref)) || (name && !strcmp(name, ref))) {
			snprintf(out, 32, "%s", id);
			return 0;
		}
	}
	return -1;
}

/* The role of member id from ovld's /ovld/v1/members ("leader" for the
 * leader), or "-" when the host does not say. */
static const char *member_role(json_t *roles, const char *id)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(roles, "members"), i, m)
	{
		const char *mid = json_string_value(json_object_get(m, "id"));
		if (mid && id && !strcmp(mid, id))
			return json_is_true(json_object_get(m, "leader"))
				   ? "leader"
				   : json_string_value(json_object_get(
					 m, "role"))
					 ?: "-";
	}
	return "-";
}

static void list_members(ctl *c, json_t *members)
{
	json_t *roles = kv_get_json(&c->kv, "/ovld/v1/members");
	printf("%-16s  %-16s  %-8s  %-26s  %s\n", "ID", "NAME", "ROLE",
	       "PEER URL", "CLIENT URL");
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		printf("%-16s  %-16s  %-8s  %-26s  %s\n", id ?: "",
		       json_string_value(json_object_get(m, "name")) ?: "",
		       member_role(roles, id),
		       json_string_value(
			   json_array_get(json_object_get(m, "peerURLs"), 0))
			   ?: "-",
		       json_string_value(
			   json_array_get(json_object_get(m, "clientURLs"), 0))
			   ?: "-");
	}
	json_decref(roles);
}

int cmd_member(ctl *c, int argc, char **argv)
{
	json_t *mem = kv_get_json(&c->kv, "/v2/members");
	if (mem == NULL)
		return fail("ovld at %s:%d does not answer", c->kv.host,
			    c->kv.port);
	json_t *members = json_object_get(mem, "members");
	int rc = 0;
	if (argc == 1 && !strcmp(argv[0], "ls")) {
		list_members(c, members);
	} else if (argc == 2 && !strcmp(argv[0], "remove")) {
		char id[32], path[64];
		if (find_member(members, argv[1], id) != 0) {
			rc = fail("no member %s", argv[1]);
		} else {
			int status = 0;
			char *body = NULL;
			snprintf(path, sizeof(path), "/v2/members/%s", id);
			if (kv_http(&c->kv, "DELETE", path, NULL, &status,
				    &body) != 0 ||
			    status != 204)
				rc = fail("removing member %s failed: %s", id,
					  body && *body ? body : "no answer");
			else
				printf("Removed member %s\n", id);
			free(body);
		}
	} else {
		rc = fail("usage: ovlctl member ls | member remove ID|NAME");
	}
	json_decref(mem);
	return rc;
}
