/* api.h - the etcd v2 HTTP API subset (H2O on the loop).
 *
 * Serves /v2/keys (reads from the store, writes through raftnode), watches
 * (from the store's history and live events), /v2/members, /v2/machines,
 * /v2/stats/..., /health, /version, /metrics, the read-only
 * /ovld/v1/members, and hands a joining host's /ovld/v1/join to whoever
 * admits hosts. Requests between members never come here (src/peer). */
#ifndef OVLD_API_H
#define OVLD_API_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

#include "../raft/raftnode.h"
#include "../store/store.h"

typedef struct api api;

typedef struct api_config {
	/* comma-separated http://IP:PORT or https://IP:PORT */
	const char *listen_client_urls;
	/* serves every https:// listen URL (borrowed; the caller frees it
	 * after api_close); NULL when there is none */
	SSL_CTX *tls_ctx;
	/* etcd's --client-cert-auth: with v2 auth on, a request without an
	 * Authorization header is the user its verified certificate's CN
	 * names (etcd 3.4's v2http client_auth.go) */
	int client_cert_auth;
	size_t max_body;	 /* request body limit; 0 = 8 MiB */
	size_t max_request_line; /* URL+headers limit; 0 = 1 MiB */
	int watch_no_leader_ms;	 /* end parked watches after this long
				    without a leader (300); 0 = never */
	/* POST /ovld/v1/join (a host with a join token's proof): handed to
	 * join, which answers once with an HTTP status and a JSON body.
	 * NULL: 404. */
	void (*join)(void *ctx, const char *body, size_t len,
		     void (*answer)(void *actx, int status, const char *json),
		     void *actx);
	void *join_ctx;
} api_config;

int api_init(api **out, uv_loop_t *loop, store *st, raftnode *rn,
	     const api_config *cfg);
/* Binds every listen URL. Returns 0, or a negative errno with a log line
 * (an https:// URL without tls_ctx is -EINVAL). */
int api_start(api *a);
/* Stops listening, ends watches and closes connections. */
void api_close(api *a);

/* Registers a block of Prometheus text to append to /metrics: the callback
 * appends to buf (a growable string it may realloc). */
typedef void (*api_metrics_cb)(void *ctx, char **buf, size_t *len, size_t *cap);
void api_add_metrics(api *a, api_metrics_cb cb, void *ctx);

#endif
