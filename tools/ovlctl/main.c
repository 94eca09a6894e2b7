/* main.c - ovlctl: manage ovld overlay networks and endpoints with
 * Docker-style commands and output. Networks and endpoints go to the
 * local ovld's control socket; members and cluster status to its etcd
 * client API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlctl.h"

static int usage(FILE *f)
{
	fputs("Usage: ovlctl [--socket PATH] [--endpoint URL] COMMAND\n"
	      "\n"
	      "Commands:\n"
	      "  network create [-d overlay] [--subnet CIDR] [--gateway IP] "
	      "[--vni N] NAME\n"
	      "  network ls\n"
	      "  network inspect NAME|ID...\n"
	      "  network rm NAME|ID...\n"
	      "  attach NETWORK NAME --netns NAME|PATH | --pid PID [--ip IP]\n"
	      "  detach NETWORK NAME\n"
	      "  endpoint ls [NETWORK]\n"
	      "  status\n"
	      "  member ls | member remove ID|NAME\n"
	      "  cluster token [--rotate]\n"
	      "  cluster rotate-ca\n"
	      "  cluster client-cert NAME [--dir DIR]   (NAME.key, NAME.crt, "
	      "ca.crt)\n"
	      "\n"
	      "--socket (ovld's control socket) defaults to "
	      "$OVLD_CONTROL_SOCKET or " OVLCTL_SOCKET ";\n"
	      "--endpoint (its client API, for status and members) to "
	      "$OVLCTL_ENDPOINT or " OVLCTL_ENDPOINT ".\n",
	      f);
	return f == stdout ? 0 : 2;
}

typedef struct globals {
	const char *socket, *endpoint, *host;
} globals;

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *dst set. */
static int global_flag(int argc, char **argv, int *i, const char *name,
		       const char **dst)
{
	size_t n = strlen(name);
	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') {
		*dst = argv[*i] + n + 1;
		return 1;
	}
	if (!strcmp(argv[*i], name) && *i + 1 < argc) {
		*dst = argv[++*i];
		return 1;
	}
	return 0;
}

/* Global flags come before the command; returns the command's index.
 * --host is accepted as before (ovld now knows its own address; status
 * uses it to tell this host's endpoints). */
static int global_flags(int argc, char **argv, globals *g)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return -1;
		if (!global_flag(argc, argv, &i, "--socket", &g->socket) &&
		    !global_flag(argc, argv, &i, "--endpoint", &g->endpoint) &&
		    !global_flag(argc, argv, &i, "--host", &g->host))
			return -2;
	}
	return i;
}

static int run(ctl *c, const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "network"))
		return ovlctl_cmd_network(c, argc, argv);
	if (!strcmp(cmd, "attach"))
		return ovlctl_cmd_attach(c, argc, argv);
	if (!strcmp(cmd, "detach"))
		return ovlctl_cmd_detach(c, argc, argv);
	if (!strcmp(cmd, "endpoint"))
		return ovlctl_cmd_endpoint(c, argc, argv);
	if (!strcmp(cmd, "status"))
		return ovlctl_cmd_status(c, argc, argv);
	if (!strcmp(cmd, "member"))
		return ovlctl_cmd_member(c, argc, argv);
	if (!strcmp(cmd, "cluster"))
		return ovlctl_cmd_cluster(c, argc, argv);
	if (!strcmp(cmd, "help"))
		return usage(stdout);
	return ovlctl_fail("unknown command: %s (see ovlctl --help)", cmd);
}

int main(int argc, char **argv)
{
	globals g = {.socket = getenv("OVLD_CONTROL_SOCKET"),
		     .endpoint = getenv("OVLCTL_ENDPOINT"),
		     .host = getenv("OVLCTL_HOST")};
	int i = global_flags(argc, argv, &g);
	if (i == -1)
		return usage(stdout);
	if (i < 0 || i >= argc)
		return usage(stderr);
	ctl c = {.sock = g.socket && *g.socket ? g.socket : OVLCTL_SOCKET,
		 .api =
		     g.endpoint && *g.endpoint ? g.endpoint : OVLCTL_ENDPOINT,
		 .host_ip = g.host};
	if (strncmp(c.api, "http://", 7) != 0)
		return ovlctl_fail("invalid endpoint %s", c.api);
	snprintf(c.socket, sizeof(c.socket), "unix:%s", c.sock);
	return run(&c, argv[i], argc - i - 1, argv + i + 1);
}
