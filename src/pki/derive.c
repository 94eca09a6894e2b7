/* derive.c - the CA of a static cluster: hosts that share only a secret
 * derive the same Ed25519 key (HKDF-SHA256) and, since Ed25519 signs
 * deterministically and every field is fixed, byte-identical certificates
 * with the same digest. */
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DERIVE_SALT "ovld static cluster CA"
#define DERIVE_INFO "ed25519 key"
#define MIN_SECRET 16
#define NOT_BEFORE 1577836800LL /* 2020-01-01 */
#define NOT_AFTER 4733510400LL	/* 2120-01-01 */

static int hkdf_sha256(const char *secret, unsigned char out[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256",
					     0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
					      (void *)secret, strlen(secret)),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, DERIVE_SALT,
					      sizeof(DERIVE_SALT) - 1),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, DERIVE_INFO,
					      sizeof(DERIVE_INFO) - 1),
	    OSSL_PARAM_construct_end()};
	int ok = ctx && EVP_KDF_derive(ctx, out, 32, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : pki_fail_ssl("static CA: cannot derive the key");
}

static EVP_PKEY *derived_key(const char *secret)
{
	unsigned char raw[32];
	if (hkdf_sha256(secret, raw) < 0)
		return NULL;
	EVP_PKEY *key =
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (!key)
		pki_fail_ssl("static CA: cannot make the Ed25519 key");
	return key;
}

static X509 *derived_cert(EVP_PKEY *key)
{
	unsigned char hash[32];
	char hex[17], cn[64];
	if (pki_key_hash(key, hash) < 0)
		return NULL;
	pki_hex(hash, 8, hex);
	snprintf(cn, sizeof(cn), "ovld static CA %s", hex);
	hash[0] = (hash[0] & 0x7f) | 0x40; /* a positive 16-byte serial */
	pki_cert_plan plan = {.common_name = cn,
			      .subject_key = key,
			      .serial = hash,
			      .serial_len = 16,
			      .not_before = NOT_BEFORE,
			      .not_after = NOT_AFTER,
			      .is_ca = 1};
	return pki_cert_build(&plan);
}

int pki_ca_derive(pki_ca **out, const char *secret)
{
	if (!secret || strlen(secret) < MIN_SECRET)
		return pki_fail("static cluster secret: at least %d characters",
				MIN_SECRET);
	EVP_PKEY *key = derived_key(secret);
	X509 *cert = key ? derived_cert(key) : NULL;
	if (!cert || pki_ca_new(out, cert, key) < 0) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	return 0;
}
