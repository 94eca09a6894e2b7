/* ctx.c - the TLS contexts of host-to-host traffic: mutual TLS 1.2+ with
 * the cluster's certificates, both sides verifying the other against the
 * trusted CAs (two during a CA rotation). */
#include <openssl/ssl.h>

#include "internal.h"

#define SESSION_CONTEXT "ovld peer"

/* Settings every ovld TLS context shares. */
static SSL_CTX *ctx_new(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		pki_fail_ssl("TLS: cannot make a context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		pki_fail_ssl("TLS: cannot require TLS 1.2");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	return ctx;
}

/* The leaf and any intermediates after it (a cross-signed CA). */
static int use_chain(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
	STACK_OF(X509) *chain = pki_pem_certs(cert_pem, "certificate");
	EVP_PKEY *key = chain ? pki_pem_key(key_pem, "private key") : NULL;
	int rc = -1;
	if (!key)
		goto out;
	X509 *leaf = sk_X509_value(chain, 0);
	if (SSL_CTX_use_certificate(ctx, leaf) != 1 &&
	    (!pki_weak_signature(ctx, "the peer certificate") ||
	     SSL_CTX_use_certificate(ctx, leaf) != 1))
		rc = pki_fail_ssl("TLS: certificate refused");
	else if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
		rc = pki_fail_ssl("TLS: not the certificate's key");
	else
		rc = 0;
	for (int i = 1; rc == 0 && i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			rc = pki_fail_ssl("TLS: intermediate refused");
out:
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static int use_trust(SSL_CTX *ctx, const char *trust_pem, int server)
{
	STACK_OF(X509) *cas = pki_pem_certs(trust_pem, "trusted CAs");
	if (!cas)
		return -1;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int rc = 0;
	for (int i = 0; rc == 0 && i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);
		if (!X509_STORE_add_cert(store, ca))
			rc = pki_fail_ssl("TLS: CA refused");
		/* Tells the client which certificate to present. */
		else if (server && !SSL_CTX_add_client_CA(ctx, ca))
			rc = pki_fail_ssl("TLS: CA name refused");
	}
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

static SSL_CTX *peer_ctx(int server, const char *cert_pem, const char *key_pem,
			 const char *trust_pem)
{
	SSL_CTX *ctx =
	    ctx_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		return NULL;
	if (use_chain(ctx, cert_pem, key_pem) < 0 ||
	    use_trust(ctx, trust_pem, server) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	int mode = SSL_VERIFY_PEER;
	if (server) {
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		/* Resumed sessions with a verified peer need a context. */
		SSL_CTX_set_session_id_context(
		    ctx, (const unsigned char *)SESSION_CONTEXT,
		    sizeof(SESSION_CONTEXT) - 1);
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;
}

SSL_CTX *pki_peer_server_ctx(const char *cert_pem, const char *key_pem,
			     const char *trust_pem)
{
	return peer_ctx(1, cert_pem, key_pem, trust_pem);
}

SSL_CTX *pki_peer_client_ctx(const char *cert_pem, const char *key_pem,
			     const char *trust_pem)
{
	return peer_ctx(0, cert_pem, key_pem, trust_pem);
}

SSL_CTX *pki_tls_ctx_new(int server)
{
	return ctx_new(server ? TLS_server_method() : TLS_client_method());
}
