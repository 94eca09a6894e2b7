/* ep.c - `ovlctl attach`, `detach` and `endpoint ls`.
 *
 * attach asks the local ovld to put a namespace on a network; ovld claims
 * the name and the address cluster-wide, writes the record, and answers
 * once its datapath has given the namespace its interface. ovlctl never
 * touches the kernel itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ovlctl.h"

/* attach waits for the datapath (up to 10 s) on top of the store. */
#define ATTACH_MS 30000
#define CALL_MS 15000

typedef struct attach_opts {
	const char *net, *name, *netns, *pid, *ip;
} attach_opts;

static int parse_attach(int argc, char **argv, attach_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int m;
		if ((m = ovlctl_flag_value(argc, argv, &i, "--netns",
					   &o->netns)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--pid", &o->pid)) ||
		    (m = ovlctl_flag_value(argc, argv, &i, "--ip", &o->ip))) {
			if (m < 0)
				return 1;
		} else if (a[0] == '-') {
			return ovlctl_fail("unknown flag: %s", a);
		} else if (!o->net) {
			o->net = a;
		} else if (!o->name) {
			o->name = a;
		} else {
			return ovlctl_fail("attach takes NETWORK NAME");
		}
	}
	if (!o->net || !o->name)
		return ovlctl_fail(
		    "usage: ovlctl attach NETWORK NAME --netns NAME|PATH "
		    "| --pid PID [--ip IP]");
	if (!o->netns == !o->pid)
		return ovlctl_fail(
		    "attach needs exactly one of --netns or --pid");
	return 0;
}

/* --pid becomes the process's namespace path (ovld shares the host's
 * process view); --netns goes as given, ovld resolves names. */
static int netns_of(const attach_opts *o, char *out, size_t len)
{
	if (!o->pid) {
		snprintf(out, len, "%s", o->netns);
		return 0;
	}
	char *end;
	long pid = strtol(o->pid, &end, 10);
	struct stat st;
	if (*end || pid <= 0)
		return ovlctl_fail("invalid pid %s", o->pid);
	snprintf(out, len, "/proc/%ld/ns/net", pid);
	if (stat(out, &st) != 0)
		return ovlctl_fail("no process with pid %s", o->pid);
	return 0;
}

int ovlctl_cmd_attach(ctl *c, int argc, char **argv)
{
	attach_opts o;
	char ns[512];
	if (parse_attach(argc, argv, &o) || netns_of(&o, ns, sizeof(ns)))
		return 1;
	json_t *body =
		   json_pack("{s:s, s:s, s:s, s:s}", "network", o.net, "name",
			     o.name, "netns", ns, "runtime", "ovlctl"),
	       *ep = NULL;
	if (o.ip)
		json_object_set_new(body, "ip", json_string(o.ip));
	int rc =
	    ovlctl_ctl_call(c, "POST", "/v1/endpoints", body, ATTACH_MS, &ep);
	json_decref(body);
	if (rc == 0)
		printf("%s\n", ovlctl_jstr(ep, "ip"));
	json_decref(ep);
	return rc;
}

int ovlctl_cmd_detach(ctl *c, int argc, char **argv)
{
	if (argc != 2)
		return ovlctl_fail("usage: ovlctl detach NETWORK NAME");
	char path[1200], net[500], name[500];
	ovlctl_url_escape(argv[0], net, sizeof(net));
	ovlctl_url_escape(argv[1], name, sizeof(name));
	snprintf(path, sizeof(path), "/v1/endpoints/%s/%s", net, name);
	return ovlctl_ctl_call(c, "DELETE", path, NULL, ATTACH_MS, NULL);
}

int ovlctl_cmd_endpoint(ctl *c, int argc, char **argv)
{
	if (argc < 1 || argc > 2 ||
	    (strcmp(argv[0], "ls") && strcmp(argv[0], "list")))
		return ovlctl_fail("usage: ovlctl endpoint ls [NETWORK]");
	char path[600] = "/v1/endpoints", net[500];
	json_t *doc = NULL, *e;
	if (argc > 1) {
		ovlctl_url_escape(argv[1], net, sizeof(net));
		snprintf(path, sizeof(path), "/v1/endpoints?network=%s", net);
	}
	if (ovlctl_ctl_call(c, "GET", path, NULL, CALL_MS, &doc) != 0)
		return 1;
	printf("%-15s%-20s%-20s%-20s%s\n", "NETWORK", "NAME", "ADDRESS", "MAC",
	       "HOST");
	size_t i;
	json_array_foreach(json_object_get(doc, "endpoints"), i, e)
	{
		printf("%-15s%-20s%-20s%-20s%s\n", ovlctl_jstr(e, "network"),
		       ovlctl_jstr(e, "name"), ovlctl_jstr(e, "address"),
		       ovlctl_jstr(e, "mac"), ovlctl_jstr(e, "host"));
	}
	json_decref(doc);
	return 0;
}
