/* pinned.c - the joiner's client context, before it trusts anything: the
 * server's chain must hold the CA certificate whose digest the join token
 * pins, and the server's leaf must verify up to that certificate. */
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* What a pinned context carries: the digest, and what a server did that
 * the joiner's message should name: its chain failed the pin, or it asked
 * for a client certificate. */
typedef struct pin {
	char digest[65];
	int refused;
	int cert_requested;
} pin;

static int pin_index = -1;
static CRYPTO_ONCE pin_once = CRYPTO_ONCE_STATIC_INIT;

static void pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		     long argl, void *argp)
{
	free(ptr);
}

static void pin_index_new(void)
{
	pin_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pin_free);
}

/* The presented certificate (leaf or chain) with the pinned digest. */
static X509 *pinned_in(X509 *leaf, STACK_OF(X509) * chain, const char *want)
{
	char digest[65];
	pki_x509_digest(leaf, digest);
	if (strcmp(digest, want) == 0)
		return leaf;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		pki_x509_digest(sk_X509_value(chain, i), digest);
		if (strcmp(digest, want) == 0)
			return sk_X509_value(chain, i);
	}
	return NULL;
}

static int verify_pinned(X509_STORE_CTX *store_ctx, void *arg)
{
	X509 *leaf = X509_STORE_CTX_get0_cert(store_ctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(store_ctx);
	pin *p = arg;
	X509 *pinned = leaf ? pinned_in(leaf, chain, p->digest) : NULL;
	if (!pinned) {
		X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_UNTRUSTED);
		p->refused = 1;
		return 0;
	}
	STACK_OF(X509) *trusted = sk_X509_new_null();
	int err = X509_V_ERR_OUT_OF_MEM;
	if (trusted && sk_X509_push(trusted, pinned))
		pki_verify_chain(leaf, chain, trusted, &err);
	sk_X509_free(trusted); /* borrowed certificates */
	X509_STORE_CTX_set_error(store_ctx, err);
	if (err != X509_V_OK)
		p->refused = 1;
	return err == X509_V_OK;
}

/* Called when a server asks for a certificate we do not have: noted, and
 * the handshake goes on without one (the server decides). */
static int note_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	pin *p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_index);
	(void)x509;
	(void)pkey;
	if (p)
		p->cert_requested = 1;
	return 0;
}

int pki_pinned_cert_requested(const SSL_CTX *ctx)
{
	const pin *p =
	    ctx && pin_index >= 0 ? SSL_CTX_get_ex_data(ctx, pin_index) : NULL;
	return p && p->cert_requested;
}

static int is_digest(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return 0;
	return s[64] == '\0';
}

SSL_CTX *pki_pinned_client_ctx(const char digest[65])
{
	if (!digest || !is_digest(digest)) {
		pki_fail(
		    "pinned CA: the digest must be 64 lowercase hex digits");
		return NULL;
	}
	pin *p = calloc(1, sizeof(*p));
	SSL_CTX *ctx = p ? pki_tls_ctx_new(0) : NULL;
	if (p)
		memcpy(p->digest, digest, sizeof(p->digest));
	if (!ctx || !CRYPTO_THREAD_run_once(&pin_once, pin_index_new) ||
	    pin_index < 0 || !SSL_CTX_set_ex_data(ctx, pin_index, p)) {
		if (!p)
			pki_fail("out of memory");
		else if (ctx)
			pki_fail_ssl("pinned CA: cannot attach the pin");
		free(p);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_cert_verify_callback(ctx, verify_pinned, p);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_client_cert_cb(ctx, note_cert_request);
	return ctx;
}

int pki_pinned_refused(const SSL_CTX *ctx)
{
	const pin *p =
	    ctx && pin_index >= 0 ? SSL_CTX_get_ex_data(ctx, pin_index) : NULL;
	return p && p->refused;
}
