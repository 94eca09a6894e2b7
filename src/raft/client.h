/* client.h - HTTP client for the internal channel between hosts
 * (/ovld/v1/ on the client API port): H2O's http1client with a keep-alive
 * socket pool per peer, plus a blocking variant used once at start-up. */
#ifndef OVLD_RAFT_CLIENT_H
#define OVLD_RAFT_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <uv.h>

typedef struct client client;

/* status: the HTTP status, or -1 when no answer came (why says so). body is
 * valid only during the call. */
typedef void (*client_cb)(void *ctx, int status, const char *body, size_t len);

int client_init(client **out, uv_loop_t *loop);
void client_close(client *c);

/* POSTs body to http://IP:PORT<path>. Exactly one callback. */
int client_post(client *c, const char *hostport, const char *path,
		const void *body, size_t len, client_cb cb, void *ctx);

/* Blocking POST for start-up, before the loop runs. Returns 0 with *status
 * and a malloc'd *resp, or -1 when the host did not answer in time. */
int client_post_sync(const char *hostport, const char *path, const void *body,
		     size_t len, unsigned timeout_ms, int *status, char **resp,
		     size_t *resp_len);

/* Splits "http://IP:PORT/..." or "IP[:PORT]" into "IP:PORT" (default_port
 * when none). Returns -1 when the host is not an IPv4 literal. */
int client_hostport(const char *url, int default_port, char *out, size_t len);
/* "IP:PORT" (IPv4 literal) to a socket address; 0 or -1. */
int client_sockaddr(const char *hostport, struct sockaddr_in *sa);

#endif
