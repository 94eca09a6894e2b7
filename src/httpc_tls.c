/* httpc_tls.c - httpc's requests over TLS with the caller's SSL_CTX (see
 * httpc.h): the handshake and the reads and writes of one connection, each
 * bounded by the request's deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <string.h>

#include "httpc.h"
#include "httpc_internal.h"

/* OpenSSL's reason for the last failure, else errno's words. */
static const char *tls_reason(void)
{
	unsigned long code = ERR_peek_last_error();
	const char *r = code ? ERR_reason_error_string(code) : NULL;
	return r ? r : errno ? strerror(errno) : "connection closed";
}

/* After an SSL call returned ret: waits for what it wants and returns 0 to
 * retry it, or -1 when it failed for good. */
static int tls_wait(httpc_layer *l, int ret, int64_t deadline, const char *what)
{
	SSL *ssl = l->state;
	int err = SSL_get_error(ssl, ret);
	short ev = err == SSL_ERROR_WANT_READ	 ? POLLIN
		   : err == SSL_ERROR_WANT_WRITE ? POLLOUT
						 : 0;
	if (!ev) {
		httpc_fail("%s: %s", what, tls_reason());
		ERR_clear_error();
		return -1;
	}
	if (httpc_wait_fd(SSL_get_fd(ssl), ev, deadline) != 0)
		return httpc_fail("%s: timed out", what);
	return 0;
}

static int is_ip_literal(const char *name)
{
	unsigned char ip[16];
	return inet_pton(AF_INET, name, ip) == 1 ||
	       inet_pton(AF_INET6, name, ip) == 1;
}

/* A name gets SNI and a host check; an IP literal neither (SNI may not
 * carry one): it is as trusted as the context's verification makes it. */
static int tls_open(httpc_layer *l, int fd, const char *name, int64_t deadline)
{
	SSL *ssl = SSL_new(l->ctx);
	l->state = ssl;
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		return httpc_fail("TLS: %s", tls_reason());
	if (!is_ip_literal(name) && (SSL_set_tlsext_host_name(ssl, name) != 1 ||
				     SSL_set1_host(ssl, name) != 1))
		return httpc_fail("TLS: bad host name %s", name);
	int ret;
	while ((ret = SSL_connect(ssl)) != 1)
		if (tls_wait(l, ret, deadline, "TLS handshake") != 0)
			return -1;
	return 0;
}

static int tls_send_all(httpc_layer *l, const char *p, size_t n,
			int64_t deadline)
{
	while (n) {
		int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
		int w = SSL_write(l->state, p, chunk);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (tls_wait(l, w, deadline, "TLS send") != 0) {
			return -1;
		}
	}
	return 0;
}

static ssize_t tls_recv(httpc_layer *l, char *buf, size_t cap, int64_t deadline)
{
	for (;;) {
		int chunk = cap > INT32_MAX ? INT32_MAX : (int)cap;
		int r = SSL_read(l->state, buf, chunk);
		if (r > 0)
			return r;
		if (SSL_get_error(l->state, r) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (tls_wait(l, r, deadline, "TLS read") != 0)
			return -1;
	}
}

static void tls_close(httpc_layer *l)
{
	if (!l->state)
		return;
	SSL_shutdown(l->state); /* close_notify, best effort */
	SSL_free(l->state);
	l->state = NULL;
	ERR_clear_error();
}

int httpc_request_tls(SSL_CTX *ctx, const char *target, const char *method,
		      const char *path, const char *content_type,
		      const char *body, size_t body_len, int timeout_ms,
		      int *status, char **resp, size_t *resp_len)
{
	if (!ctx)
		return httpc_fail("no TLS context for %s", target);
	httpc_layer l = {.open = tls_open,
			 .send_all = tls_send_all,
			 .recv = tls_recv,
			 .close = tls_close,
			 .ctx = ctx};
	return httpc_request_via(&l, target, method, path, content_type, body,
				 body_len, timeout_ms, status, resp, resp_len);
}
