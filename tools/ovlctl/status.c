/* status.c - `ovlctl status` (one screen about this host and its cluster:
 * the cluster from the client API, networks and endpoints, with the
 * runtime that made each, from the control socket) and `ovlctl member
 * ls|remove` (membership through /v2/members). */
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

/* Networks and endpoints, from the control socket. */
static int print_overlay(ctl *c)
{
	json_t *nets = NULL, *st = NULL, *e;
	if (ovlctl_ctl_call(c, "GET", "/v1/networks", NULL, 10000, &nets) !=
		0 ||
	    ovlctl_ctl_call(c, "GET", "/v1/status", NULL, 10000, &st) != 0) {
		json_decref(nets);
		return 1;
	}
	const char *self =
	    c->host_ip && *c->host_ip ? c->host_ip : ovlctl_jstr(st, "host");
	json_t *eps = json_object_get(st, "endpoints");
	size_t i, local = 0;
	json_array_foreach(eps, i, e)
	{
		local += !strcmp(ovlctl_jstr(e, "host"), self);
	}
	printf("Networks:    %zu\n",
	       json_array_size(json_object_get(nets, "networks")));
	printf("Datapath:    %s\n",
	       json_is_true(json_object_get(st, "datapath")) ? "on" : "off");
	printf("Endpoints:   %zu on this host, %zu in all\n", local,
	       json_array_size(eps));
	if (json_array_size(eps))
		printf("  %-15s%-20s%-20s%-18s%s\n", "NETWORK", "NAME",
		       "ADDRESS", "HOST", "RUNTIME");
	json_array_foreach(eps, i, e)
	{
		printf("  %-15s%-20s%-20s%-18s%s\n", ovlctl_jstr(e, "network"),
		       ovlctl_jstr(e, "name"), ovlctl_jstr(e, "address"),
		       ovlctl_jstr(e, "host"),
		       *ovlctl_jstr(e, "runtime") ? ovlctl_jstr(e, "runtime")
						  : "-");
	}
	json_decref(nets);
	json_decref(st);
	return 0;
}

static int print_status(ctl *c)
{
	json_t *self = ovlctl_api_get_json(c, "/v2/stats/self");
	json_t *mem = ovlctl_api_get_json(c, "/v2/members");
	if (self == NULL || mem == NULL) {
		json_decref(self);
		json_decref(mem);
		return ovlctl_fail("ovld at %s does not answer", c->api);
	}
	json_t *members = json_object_get(mem, "members");
	const char *id = json_string_value(json_object_get(self, "id"));
	const char *state = json_string_value(json_object_get(self, "state"));
	const char *leader = json_string_value(
	    json_object_get(json_object_get(self, "leaderInfo"), "leader"));
	int status = 0;
	char *metrics = NULL;
	ovlctl_api_http(c, "GET", "/metrics", &status, &metrics);
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
	int rc = print_overlay(c);
	free(metrics);
	json_decref(self);
	json_decref(mem);
	return rc;
}

int ovlctl_cmd_status(ctl *c, int argc, char **argv)
{
	if (argc != 0)
		return ovlctl_fail("usage: ovlctl status");
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
	json_t *roles = ovlctl_api_get_json(c, "/ovld/v1/members");
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

int ovlctl_cmd_member(ctl *c, int argc, char **argv)
{
	json_t *mem = ovlctl_api_get_json(c, "/v2/members");
	if (mem == NULL)
		return ovlctl_fail("ovld at %s does not answer", c->api);
	json_t *members = json_object_get(mem, "members");
	int rc = 0;
	if (argc == 1 && !strcmp(argv[0], "ls")) {
		list_members(c, members);
	} else if (argc == 2 && !strcmp(argv[0], "remove")) {
		char id[32], path[64];
		if (find_member(members, argv[1], id) != 0) {
			rc = ovlctl_fail("no member %s", argv[1]);
		} else {
			int status = 0;
			char *body = NULL;
			snprintf(path, sizeof(path), "/v2/members/%s", id);
			if (ovlctl_api_http(c, "DELETE", path, &status,
					    &body) != 0 ||
			    status != 204)
				rc = ovlctl_fail(
				    "removing member %s failed: %s", id,
				    body && *body ? body : "no answer");
			else
				printf("Removed member %s\n", id);
			free(body);
		}
	} else {
		rc = ovlctl_fail(
		    "usage: ovlctl member ls | member remove ID|NAME");
	}
	json_decref(mem);
	return rc;
}
