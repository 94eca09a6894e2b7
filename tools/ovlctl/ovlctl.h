/* ovlctl.h - shared pieces of the ovlctl commands: the two ways to reach
 * the local ovld (its control socket for networks and endpoints, its etcd
 * client API for members and cluster status) and error reporting. The
 * overlay model itself lives in the daemon (src/overlay); ovlctl only
 * asks and prints. */
#ifndef OVLCTL_H
#define OVLCTL_H

#include <jansson.h>

#define OVLCTL_SOCKET "/run/ovld/ovld.sock"
#define OVLCTL_ENDPOINT "http://127.0.0.1:2379"

typedef struct ctl {
	char socket[4200];   /* "unix:PATH" for httpc */
	const char *sock;    /* the path, for messages */
	const char *api;     /* client API URL */
	const char *host_ip; /* --host; "" or NULL: what ovld says */
} ctl;

/* Prints "Error: <msg>" on stderr; always returns 1 (the exit status). */
int ovlctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE": 1 and *dst
 * set (the value consumed), 0 when it is another argument, or -1 after
 * printing the error when the value is missing. */
int ovlctl_flag_value(int argc, char **argv, int *i, const char *name,
		      const char **dst);

/* A control socket call. body may be NULL. On a 2xx answer returns 0 with
 * *out (if not NULL) the parsed JSON; otherwise prints the server's error
 * (or why it could not be reached) and returns 1. */
int ovlctl_ctl_call(ctl *c, const char *method, const char *path, json_t *body,
		    int timeout_ms, json_t **out);
/* Percent-encodes s for one path segment or query value. */
void ovlctl_url_escape(const char *s, char *out, size_t len);

/* GET of a JSON document from the client API (e.g. /v2/members). NULL on
 * any failure. */
json_t *ovlctl_api_get_json(ctl *c, const char *path);
/* Any client API request: 0 with status and body (malloc'd), or -1. */
int ovlctl_api_http(ctl *c, const char *method, const char *path, int *status,
		    char **body);

/* Field accessors that never return NULL. */
const char *ovlctl_jstr(json_t *o, const char *key);

int ovlctl_cmd_network(ctl *c, int argc, char **argv);
int ovlctl_cmd_attach(ctl *c, int argc, char **argv);
int ovlctl_cmd_detach(ctl *c, int argc, char **argv);
int ovlctl_cmd_status(ctl *c, int argc, char **argv);
int ovlctl_cmd_member(ctl *c, int argc, char **argv);
int ovlctl_cmd_endpoint(ctl *c, int argc, char **argv);
int ovlctl_cmd_cluster(ctl *c, int argc, char **argv);

#endif
