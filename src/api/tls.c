/* tls.c - the client certificate behind a request, for etcd's
 * --client-cert-auth, where a certificate's CN names the v2 auth user.
 *
 * H2O 2.2.5 keeps a socket's SSL object in a private struct and has no
 * accessor for it; its first two members have been the SSL_CTX and the SSL
 * since 2.1. Both are checked against our own context before the SSL is
 * used, so a different layout reads as "no certificate", never as a wrong
 * user. */
#include <string.h>

#include "../log.h"
#include "../pki/pki.h"
#include "internal.h"

struct st_h2o_socket_ssl_t {
	SSL_CTX *ssl_ctx;
	SSL *ossl;
};

static SSL *socket_ssl(api *a, h2o_socket_t *sock)
{
	if (!sock || !sock->ssl || !a->cfg.tls_ctx)
		return NULL;
	struct st_h2o_socket_ssl_t *s = sock->ssl;
	if (s->ssl_ctx != a->cfg.tls_ctx || !s->ossl ||
	    SSL_get_SSL_CTX(s->ossl) != a->cfg.tls_ctx) {
		static int warned;
		if (!warned++)
			log_warn("api", "cannot read client certificates from "
					"this H2O build; CN users are off");
		return NULL;
	}
	return s->ossl;
}

int api_tls_peer_cn(api *a, h2o_req_t *req, char *out, size_t len)
{
	h2o_conn_t *conn = req->conn;
	if (!conn || !conn->callbacks->get_socket)
		return -1;
	SSL *ssl = socket_ssl(a, conn->callbacks->get_socket(conn));
	if (!ssl)
		return -1;
	return pki_ssl_peer_cn(ssl, out, len);
}
