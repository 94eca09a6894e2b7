/* ca.c - the cluster CA: created at random by the first host, loaded from
 * the PEM texts members replicate, and named by its certificate's digest. */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define CA_DAYS 3650

int pki_ca_new(pki_ca **out, X509 *cert, EVP_PKEY *key)
{
	pki_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return pki_fail("out of memory");
	ca->cert = cert;
	ca->key = key;
	*out = ca;
	return 0;
}

int pki_ca_create(pki_ca **out)
{
	unsigned char hash[32];
	char hex[17], cn[64];
	EVP_PKEY *key = pki_p256_new();
	if (!key || pki_key_hash(key, hash) < 0) {
		EVP_PKEY_free(key);
		return -1;
	}
	pki_hex(hash, 8, hex); /* names the CA in logs */
	snprintf(cn, sizeof(cn), "ovld cluster CA %s", hex);
	int64_t now = (int64_t)time(NULL);
	pki_cert_plan plan = {.common_name = cn,
			      .subject_key = key,
			      .not_before = now - 60,
			      .not_after = now + (int64_t)CA_DAYS * 86400,
			      .is_ca = 1};
	X509 *cert = pki_cert_build(&plan);
	if (!cert || pki_ca_new(out, cert, key) < 0) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	return 0;
}

static int check_loaded(X509 *cert, EVP_PKEY *key)
{
	if (X509_check_ca(cert) != 1)
		return pki_fail("CA certificate: not a CA (no basic "
				"constraints CA:TRUE)");
	if (key && X509_check_private_key(cert, key) != 1)
		return pki_fail_ssl("CA key: not the CA certificate's key");
	return 0;
}

int pki_ca_load(pki_ca **out, const char *cert_pem, const char *key_pem)
{
	X509 *cert = pki_pem_cert(cert_pem, "CA certificate");
	EVP_PKEY *key = NULL;
	if (cert && key_pem)
		key = pki_pem_key(key_pem, "CA key");
	if (!cert || (key_pem && !key) || check_loaded(cert, key) < 0 ||
	    pki_ca_new(out, cert, key) < 0) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	return 0;
}

int pki_ca_pem(const pki_ca *ca, char **cert_pem, char **key_pem)
{
	if (key_pem && !ca->key)
		return pki_fail("CA: this host holds no CA key");
	if (pki_cert_to_pem(ca->cert, cert_pem) < 0)
		return -1;
	if (key_pem && pki_key_to_pem(ca->key, key_pem) < 0) {
		free(*cert_pem);
		*cert_pem = NULL;
		return -1;
	}
	return 0;
}

int pki_ca_can_sign(const pki_ca *ca)
{
	return ca && ca->key != NULL;
}

void pki_ca_digest(const pki_ca *ca, char out[65])
{
	pki_x509_digest(ca->cert, out);
}

X509 *pki_ca_cert(const pki_ca *ca)
{
	return ca->cert;
}

void pki_ca_free(pki_ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}
