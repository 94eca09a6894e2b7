/* key.c - a joiner's own key and its certificate request: the key never
 * leaves the host, only the request travels to the CA. */
#include <openssl/pem.h>

#include "internal.h"

int pki_key_new(char **key_pem)
{
	EVP_PKEY *key = pki_p256_new();
	if (!key)
		return -1;
	int rc = pki_key_to_pem(key, key_pem);
	EVP_PKEY_free(key);
	return rc;
}

static int csr_to_pem(X509_REQ *req, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;
	if (!bio || !PEM_write_bio_X509_REQ(bio, req))
		pki_fail_ssl("certificate request: cannot write PEM");
	else
		rc = pki_bio_string(bio, out);
	BIO_free(bio);
	return rc;
}

int pki_csr_new(const char *key_pem, char **csr_pem)
{
	EVP_PKEY *key = pki_pem_key(key_pem, "private key");
	if (!key)
		return -1;
	X509_REQ *req = X509_REQ_new();
	int rc = -1;
	if (!req || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, pki_sign_digest(key)))
		rc = pki_fail_ssl("certificate request: cannot sign");
	else
		rc = csr_to_pem(req, csr_pem);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}
