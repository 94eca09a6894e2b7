/* cluster.c - `ovlctl cluster`: the join token (`token [--rotate]`), the
 * CA's rotation (`rotate-ca`) and client certificates for tools and
 * dockerds (`client-cert NAME [--dir DIR]`), through the local ovld's
 * control socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlctl.h"

static int write_file(const char *dir, const char *name, const char *text,
		      int mode)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ovlctl_fail("cannot write %s: %s", path, strerror(e));
	}
	fchmod(fd, mode); /* an existing file keeps its mode otherwise */
	close(fd);
	printf("%s\n", path);
	return 0;
}

static int token(ctl *c, int argc, char **argv)
{
	int rotate = argc == 1 && !strcmp(argv[0], "--rotate");
	if (argc > 1 || (argc == 1 && !rotate))
		return ovlctl_fail("usage: ovlctl cluster token [--rotate]");
	json_t *out = NULL;
	if (ovlctl_ctl_call(c, rotate ? "POST" : "GET",
			    rotate ? "/v1/cluster/token/rotate"
				   : "/v1/cluster/token",
			    NULL, 10000, &out) != 0)
		return 1;
	printf("%s\n", ovlctl_jstr(out, "token"));
	json_decref(out);
	return 0;
}

static int client_cert(ctl *c, int argc, char **argv)
{
	const char *name = NULL, *dir = ".";
	for (int i = 0; i < argc; i++) {
		int r = ovlctl_flag_value(argc, argv, &i, "--dir", &dir);
		if (r < 0)
			return 1;
		if (r == 0 && name == NULL && argv[i][0] != '-')
			name = argv[i];
		else if (r == 0)
			return ovlctl_fail(
			    "usage: ovlctl cluster client-cert NAME "
			    "[--dir DIR]");
	}
	if (name == NULL)
		return ovlctl_fail(
		    "usage: ovlctl cluster client-cert NAME [--dir DIR]");
	/* the directory is made for the key (0700), as a key deserves */
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ovlctl_fail("cannot create %s: %s", dir,
				   strerror(errno));
	json_t *out = NULL;
	json_t *body = json_pack("{s:s}", "name", name);
	int rc = ovlctl_ctl_call(c, "POST", "/v1/cluster/client-cert", body,
				 10000, &out);
	json_decref(body);
	if (rc != 0)
		return 1;
	char key[128], crt[128];
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	rc = write_file(dir, key, ovlctl_jstr(out, "key"), 0600) ||
	     write_file(dir, crt, ovlctl_jstr(out, "cert"), 0644) ||
	     write_file(dir, "ca.crt", ovlctl_jstr(out, "ca"), 0644);
	json_decref(out);
	return rc;
}

static int rotate_ca(ctl *c)
{
	json_t *out = NULL;
	if (ovlctl_ctl_call(c, "POST", "/v1/cluster/rotate-ca", NULL, 10000,
			    &out) != 0)
		return 1;
	printf("%s\n", ovlctl_jstr(out, "status"));
	json_decref(out);
	return 0;
}

int ovlctl_cmd_cluster(ctl *c, int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "rotate-ca"))
		return rotate_ca(c);
	if (argc >= 1 && !strcmp(argv[0], "token"))
		return token(c, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "client-cert"))
		return client_cert(c, argc - 1, argv + 1);
	return ovlctl_fail("usage: ovlctl cluster token [--rotate] | cluster "
			   "rotate-ca | cluster client-cert NAME [--dir DIR]");
}
