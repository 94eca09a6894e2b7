/* verify.c - does a certificate chain up to a trusted CA, now: the check
 * behind pki_cert_check and the pinned client's handshake. */
#include <openssl/x509_vfy.h>
#include <stdlib.h>

#include "internal.h"

static X509_STORE *trust_store(STACK_OF(X509) * trusted)
{
	X509_STORE *store = X509_STORE_new();
	for (int i = 0; store && i < sk_X509_num(trusted); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(trusted, i))) {
			X509_STORE_free(store);
			store = NULL;
		}
	}
	if (!store)
		pki_fail_ssl("trust store: cannot build");
	return store;
}

int pki_verify_chain(X509 *leaf, STACK_OF(X509) * untrusted,
		     STACK_OF(X509) * trusted, int *err)
{
	X509_STORE *store = trust_store(trusted);
	X509_STORE_CTX *ctx = store ? X509_STORE_CTX_new() : NULL;
	int rc = -1, code = X509_V_ERR_UNSPECIFIED;
	if (!ctx || !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
		pki_fail_ssl("trust store: cannot verify");
	} else if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		pki_fail("certificate: %s",
			 X509_verify_cert_error_string(code));
	} else {
		code = X509_V_OK;
		rc = 0;
	}
	if (err)
		*err = code;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

static STACK_OF(X509) * trusted_certs(const pki_ca *ca, const char *trust_pem)
{
	if (!ca)
		return pki_pem_certs(trust_pem, "trusted CAs");
	STACK_OF(X509) *one = sk_X509_new_null();
	if (!one || !sk_X509_push(one, ca->cert)) {
		sk_X509_free(one);
		pki_fail("out of memory");
		return NULL;
	}
	X509_up_ref(ca->cert);
	return one;
}

static int check_key(X509 *leaf, const char *key_pem)
{
	if (!key_pem)
		return 0;
	EVP_PKEY *key = pki_pem_key(key_pem, "private key");
	if (!key)
		return -1;
	int ok = X509_check_private_key(leaf, key) == 1;
	EVP_PKEY_free(key);
	return ok ? 0 : pki_fail("private key: not the certificate's key");
}

/* cert_pem may carry intermediates after the leaf (a cross-signed CA). */
int pki_cert_check(const char *cert_pem, const char *key_pem, const pki_ca *ca,
		   const char *trust_pem)
{
	STACK_OF(X509) *chain = pki_pem_certs(cert_pem, "certificate");
	if (!chain)
		return -1;
	STACK_OF(X509) *trusted = trusted_certs(ca, trust_pem);
	int rc = -1;
	if (trusted) {
		X509 *leaf = sk_X509_value(chain, 0);
		rc = pki_verify_chain(leaf, chain, trusted, NULL);
		if (rc == 0)
			rc = check_key(leaf, key_pem);
	}
	sk_X509_pop_free(trusted, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
