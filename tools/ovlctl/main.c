/* main.c - ovlctl: manage ovld overlay networks and endpoints through the
 * local ovld's etcd v2 API, with Docker-style commands and output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlctl.h"

static int usage(FILE *f)
{
	fputs("Usage: ovlctl [--endpoint URL] [--host IP] COMMAND\n"
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
	      "\n"
	      "--endpoint defaults to $OVLCTL_ENDPOINT or "
	      "http://127.0.0.1:2379;\n"
	      "--host (this host's overlay address) defaults to what ovld "
	      "advertises.\n",
	      f);
	return f == stdout ? 0 : 2;
}

/* Global flags come before the command; returns the command's index. */
static int global_flags(int argc, char **argv, const char **endpoint,
			const char **host)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--endpoint=", 11))
			*endpoint = a + 11;
		else if (!strncmp(a, "--host=", 7))
			*host = a + 7;
		else if ((!strcmp(a, "--endpoint") || !strcmp(a, "--host")) &&
			 i + 1 < argc)
			*(a[2] == 'e' ? endpoint : host) = argv[++i];
		else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return -1;
		else
			return -2;
	}
	return i;
}

int main(int argc, char **argv)
{
	const char *endpoint = getenv("OVLCTL_ENDPOINT");
	const char *host = getenv("OVLCTL_HOST");
	int i = global_flags(argc, argv, &endpoint, &host);
	if (i == -1)
		return usage(stdout);
	if (i < 0 || i >= argc)
		return usage(stderr);
	ctl c = {.host_ip = host};
	if (kv_init(&c.kv, endpoint ? endpoint : "http://127.0.0.1:2379"))
		return fail("invalid endpoint %s", endpoint);
	const char *cmd = argv[i];
	int sub_argc = argc - i - 1;
	char **sub_argv = argv + i + 1;
	if (!strcmp(cmd, "network"))
		return cmd_network(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "attach"))
		return cmd_attach(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "endpoint"))
		return cmd_endpoint(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "status"))
		return cmd_status(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "member"))
		return cmd_member(&c, sub_argc, sub_argv);
	if (!strcmp(cmd, "help"))
		return usage(stdout);
	return fail("unknown command: %s (see ovlctl --help)", cmd);
}
