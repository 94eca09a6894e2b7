/* internal.h - what the files of src/pki share and pki.h does not export:
 * the thread's last error, PEM conversions, the certificate builder and
 * chain verification. */
#ifndef OVLD_PKI_INTERNAL_H
#define OVLD_PKI_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki.h"

/* Sets pki_strerror()'s text from a printf format; returns -1 so a caller
 * can `return pki_fail(...)`. Drops OpenSSL's error queue. */
int pki_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with ": <OpenSSL's reason>" from its error queue appended when
 * the queue holds one. */
int pki_fail_ssl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets pki_take_warning()'s text. */
void pki_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* After OpenSSL refused what's certificate: 1 when only its signature
 * digest (SHA-1) or key size was too weak for Debian's security level;
 * ctx then takes it (level 0) and a warning is set. 0 for other errors. */
int pki_weak_signature(SSL_CTX *ctx, const char *what);

struct pki_ca {
	X509 *cert;
	EVP_PKEY *key; /* NULL: the CA verifies but does not sign */
};
/* Takes cert and key (may be NULL). */
int pki_ca_new(pki_ca **out, X509 *cert, EVP_PKEY *key);

/* ---- PEM (what names the text in error messages) ---- */
X509 *pki_pem_cert(const char *pem, const char *what); /* the first one */
/* Every certificate of a bundle, at least one. */
STACK_OF(X509) * pki_pem_certs(const char *pem, const char *what);
/* Never prompts for a passphrase: an encrypted key is refused. */
EVP_PKEY *pki_pem_key(const char *pem, const char *what);
int pki_cert_to_pem(X509 *cert, char **out);
int pki_key_to_pem(EVP_PKEY *key, char **out); /* PKCS#8 */
/* A memory BIO's text as a malloc'd NUL-terminated string. */
int pki_bio_string(BIO *bio, char **out);
void pki_hex(const unsigned char *bytes, size_t len, char *out);
void pki_x509_digest(X509 *cert, char out[65]);
/* SHA-256 of the public key's DER (SubjectPublicKeyInfo). */
int pki_key_hash(EVP_PKEY *key, unsigned char out[32]);

/* ---- building certificates ---- */
typedef struct pki_cert_plan {
	const char *common_name;
	X509_NAME *subject; /* instead of common_name (cross-signing) */
	EVP_PKEY *subject_key;
	X509 *issuer;		     /* NULL: self-signed by subject_key */
	EVP_PKEY *issuer_key;	     /* ignored when self-signed */
	const unsigned char *serial; /* NULL: 128 random bits */
	size_t serial_len;
	int64_t not_before, not_after;
	int is_ca; /* CA:TRUE, keyCertSign+cRLSign; else a leaf */
	const char *ext_key_usage; /* leaves: "serverAuth,clientAuth", ... */
	const char *const *hosts;
	size_t n_hosts;
} pki_cert_plan;
X509 *pki_cert_build(const pki_cert_plan *plan);
/* SHA-256 for ECDSA and RSA keys, none for Ed25519. */
const EVP_MD *pki_sign_digest(EVP_PKEY *key);
EVP_PKEY *pki_p256_new(void);

/* ---- verification ---- */
/* 0 when leaf verifies, through untrusted (may be NULL), up to one of
 * trusted, now; else -1 with the reason in pki_strerror() and, if err is
 * not NULL, OpenSSL's X509_V_ERR code in *err. */
int pki_verify_chain(X509 *leaf, STACK_OF(X509) * untrusted,
		     STACK_OF(X509) * trusted, int *err);

/* ---- TLS ---- */
/* A context with ovld's floor: TLS 1.2+, no renegotiation. */
SSL_CTX *pki_tls_ctx_new(int server);

#endif
