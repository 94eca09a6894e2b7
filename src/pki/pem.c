/* pem.c - PEM texts to and from OpenSSL objects, and the hex digests that
 * name certificates, for every file of src/pki. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static BIO *pem_reader(const char *pem, const char *what)
{
	if (!pem) {
		pki_fail("%s: missing", what);
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		pki_fail_ssl("%s: out of memory", what);
	return bio;
}

X509 *pki_pem_cert(const char *pem, const char *what)
{
	BIO *bio = pem_reader(pem, what);
	if (!bio)
		return NULL;
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!cert)
		pki_fail_ssl("%s: not a PEM certificate", what);
	return cert;
}

STACK_OF(X509) * pki_pem_certs(const char *pem, const char *what)
{
	BIO *bio = pem_reader(pem, what);
	if (!bio)
		return NULL;
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509 *cert = NULL;
	while (certs && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(certs, cert)) {
			X509_free(cert);
			sk_X509_pop_free(certs, X509_free);
			certs = NULL;
		}
	}
	BIO_free(bio);
	if (certs && sk_X509_num(certs) > 0) {
		ERR_clear_error(); /* the end of the text */
		return certs;
	}
	sk_X509_pop_free(certs, X509_free);
	pki_fail_ssl("%s: no PEM certificate", what);
	return NULL;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

EVP_PKEY *pki_pem_key(const char *pem, const char *what)
{
	BIO *bio = pem_reader(pem, what);
	if (!bio)
		return NULL;
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!key)
		pki_fail_ssl("%s: not an unencrypted PEM private key", what);
	return key;
}

/* The memory BIO's text, NUL-terminated, as a malloc'd string. */
int pki_bio_string(BIO *bio, char **out)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *text = malloc((size_t)len + 1);
	if (!text)
		return pki_fail("out of memory");
	memcpy(text, data, (size_t)len);
	text[len] = '\0';
	*out = text;
	return 0;
}

int pki_cert_to_pem(X509 *cert, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;
	if (!bio || !PEM_write_bio_X509(bio, cert))
		pki_fail_ssl("certificate: cannot write PEM");
	else
		rc = pki_bio_string(bio, out);
	BIO_free(bio);
	return rc;
}

int pki_key_to_pem(EVP_PKEY *key, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;
	if (!bio ||
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		pki_fail_ssl("private key: cannot write PEM");
	else
		rc = pki_bio_string(bio, out);
	BIO_free(bio);
	return rc;
}

void pki_hex(const unsigned char *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

void pki_x509_digest(X509 *cert, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!X509_digest(cert, EVP_sha256(), md, &len) || len != 32) {
		out[0] = '\0'; /* only without memory; matches no pin */
		return;
	}
	pki_hex(md, 32, out);
}

int pki_cert_digest(const char *cert_pem, char out[65])
{
	X509 *cert = pki_pem_cert(cert_pem, "certificate");
	if (!cert)
		return -1;
	pki_x509_digest(cert, out);
	X509_free(cert);
	return out[0] ? 0 : pki_fail("certificate: cannot digest");
}

int pki_key_hash(EVP_PKEY *key, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	int ok = len > 0 &&
		 EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok ? 0 : pki_fail_ssl("public key: cannot hash");
}
