/* httpc.h - a small blocking HTTP/1.1 client, for the places where a
 * thread may simply wait: ovlctl and the CNI plugin talking to ovld's
 * control socket, and ovld's Docker sync talking to dockerd.
 *
 * One connection per request (Connection: close), over a unix socket or
 * TCP, with one deadline for connect, send and receive together, so a
 * peer that is down or stuck turns into an error, never a hang; over TLS
 * with a context the caller chose (its trust, its client certificate). */
#ifndef OVLD_HTTPC_H
#define OVLD_HTTPC_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX; /* OpenSSL's, as <openssl/types.h> */

/* target: "unix:/path/to.sock", "unix:///path" (Docker's form) or
 * "http://host[:port]". body may be NULL (len 0); content_type NULL: none.
 * On success returns 0 with the status and a malloc'd, NUL-terminated body
 * (chunked bodies decoded) in *resp (may be NULL to discard). -1 on a
 * transport failure; httpc_strerror() then says what went wrong. */
int httpc_request(const char *target, const char *method, const char *path,
		  const char *content_type, const char *body, size_t body_len,
		  int timeout_ms, int *status, char **resp, size_t *resp_len);

/* The same over TLS with ctx (httpc_tls.c, in ovld_util), to
 * "https://host[:port]" (443 by default). A host name is sent as SNI and
 * must match the server's certificate; an IP literal is only as checked as
 * ctx's verification makes it (a pinned or cluster CA). */
int httpc_request_tls(SSL_CTX *ctx, const char *target, const char *method,
		      const char *path, const char *content_type,
		      const char *body, size_t body_len, int timeout_ms,
		      int *status, char **resp, size_t *resp_len);

/* The last failure of this thread, for messages. */
const char *httpc_strerror(void);

#endif
