/* files.c - TLS contexts from etcd's file flags (--cert-file, --key-file,
 * --trusted-ca-file, --client-cert-auth, --cipher-suites), read as etcd 3.4's
 * pkg/transport does, and the CN of a verified client certificate. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Go's crypto/tls names, as etcd's --cipher-suites takes them, and
 * OpenSSL's for the same TLS 1.2 suite. */
static const struct suite_name {
	const char *go, *ossl;
} suite_names[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    /* Go 1.16's longer names for the same two suites */
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

static const char *ossl_suite(const char *go, size_t len)
{
	for (size_t i = 0; i < sizeof(suite_names) / sizeof(suite_names[0]);
	     i++)
		if (strlen(suite_names[i].go) == len &&
		    memcmp(suite_names[i].go, go, len) == 0)
			return suite_names[i].ossl;
	return NULL;
}

/* Appends name and a ':' to list; -1 when it does not fit. */
static int append_suite(char *list, size_t cap, size_t *used, const char *name)
{
	int n =
	    snprintf(list + *used, cap - *used, "%s%s", *used ? ":" : "", name);
	if (n < 0 || (size_t)n >= cap - *used)
		return -1;
	*used += (size_t)n;
	return 0;
}

/* etcd 3.4 caps its listeners at TLS 1.2 because Go cannot choose TLS 1.3
 * suites; a list given here pins ovld to TLS 1.2 the same way, so it says
 * exactly what a client may negotiate. */
int pki_cipher_suites(SSL_CTX *ctx, const char *go_names)
{
	char list[2048];
	size_t used = 0;
	const char *p = go_names ? go_names : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, ",");
		size_t trimmed = n;
		while (trimmed > 0 && p[trimmed - 1] == ' ')
			trimmed--;
		const char *name = ossl_suite(p, trimmed);
		if (trimmed > 0 && !name)
			return pki_fail("--cipher-suites: unknown cipher "
					"suite '%.*s'",
					(int)trimmed, p);
		if (name && append_suite(list, sizeof(list), &used, name) != 0)
			return pki_fail("--cipher-suites: too many suites");
		p += n;
		if (*p == ',')
			p++;
	}
	if (used == 0)
		return 0;
	if (SSL_CTX_set_cipher_list(ctx, list) != 1)
		return pki_fail_ssl("--cipher-suites: none of them is "
				    "available in this OpenSSL");
	if (SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)
		return pki_fail_ssl("--cipher-suites: cannot cap TLS at 1.2");
	return 0;
}

/* fopen first, so a missing file reads as errno's words, not OpenSSL's. */
static int readable(const char *flag, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return pki_fail("%s %s: %s", flag, path, strerror(errno));
	fclose(f);
	return 0;
}

static int use_cert_and_key(SSL_CTX *ctx, const pki_files *f)
{
	if (readable("--cert-file", f->cert_file) != 0 ||
	    readable("--key-file", f->key_file) != 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert_file) != 1 &&
	    (!pki_weak_signature(ctx, f->cert_file) ||
	     SSL_CTX_use_certificate_chain_file(ctx, f->cert_file) != 1))
		return pki_fail_ssl("--cert-file %s: not a PEM certificate",
				    f->cert_file);
	/* OpenSSL checks the pair as it takes the key */
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key_file, SSL_FILETYPE_PEM) !=
		1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
		return pki_fail_ssl("--key-file %s: not a PEM private key",
				    f->key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return pki_fail("--key-file %s is not the key of --cert-file "
				"%s",
				f->key_file, f->cert_file);
	return 0;
}

static int use_trust(SSL_CTX *ctx, const char *flag, const char *ca_file)
{
	if (readable(flag, ca_file) != 0)
		return -1;
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
		return pki_fail_ssl("%s %s: no PEM certificate", flag, ca_file);
	return 0;
}

/* Client CAs named in the CertificateRequest, so clients such as curl pick
 * the right certificate. */
static int name_client_cas(SSL_CTX *ctx, const char *ca_file)
{
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
	if (!names)
		return pki_fail_ssl("--trusted-ca-file %s: no PEM certificate",
				    ca_file);
	SSL_CTX_set_client_CA_list(ctx, names);
	return 0;
}

static SSL_CTX *new_ctx(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		pki_fail_ssl("cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

/* etcd's ServerConfig: a trusted CA or --client-cert-auth makes a client
 * certificate mandatory (RequireAndVerifyClientCert). Go would verify it
 * against the system's roots without a CA file; ovld refuses that instead,
 * since any public CA's customer would pass. */
static int server_client_auth(SSL_CTX *ctx, const pki_files *f)
{
	if (!f->trusted_ca_file && !f->client_cert_auth)
		return 0;
	if (!f->trusted_ca_file)
		return pki_fail("--client-cert-auth needs --trusted-ca-file");
	if (use_trust(ctx, "--trusted-ca-file", f->trusted_ca_file) != 0 ||
	    name_client_cas(ctx, f->trusted_ca_file) != 0)
		return -1;
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

SSL_CTX *pki_files_server_ctx(const pki_files *f)
{
	if (!f->cert_file || !f->key_file) {
		pki_fail("--cert-file and --key-file must both be set");
		return NULL;
	}
	SSL_CTX *ctx = new_ctx(TLS_server_method());
	if (!ctx)
		return NULL;
	if (use_cert_and_key(ctx, f) != 0 || server_client_auth(ctx, f) != 0 ||
	    pki_cipher_suites(ctx, f->cipher_suites) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* etcd's ClientConfig: the server is verified against the trusted CA (the
 * system's roots without one); our certificate is sent when given. */
SSL_CTX *pki_files_client_ctx(const pki_files *f)
{
	if (!f->cert_file != !f->key_file) {
		pki_fail("--cert-file and --key-file must both be set");
		return NULL;
	}
	SSL_CTX *ctx = new_ctx(TLS_client_method());
	if (!ctx)
		return NULL;
	int rc = 0;
	if (f->cert_file)
		rc = use_cert_and_key(ctx, f);
	if (rc == 0 && f->trusted_ca_file)
		rc = use_trust(ctx, "--trusted-ca-file", f->trusted_ca_file);
	else if (rc == 0 && SSL_CTX_set_default_verify_paths(ctx) != 1)
		rc = pki_fail_ssl("cannot load the system's trusted CAs");
	if (rc == 0)
		rc = pki_cipher_suites(ctx, f->cipher_suites);
	if (rc != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int pki_ssl_peer_cn(SSL *ssl, char *out, size_t len)
{
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (!cert)
		return pki_fail("no client certificate");
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return pki_fail("the client certificate did not verify");
	X509_NAME *subject = X509_get_subject_name(cert);
	int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if (at < 0)
		return pki_fail("the client certificate has no CN");
	ASN1_STRING *data =
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, data);
	if (n < 0)
		return pki_fail_ssl("the client certificate's CN is not text");
	/* A NUL inside would let "alice\0x" pass as alice. */
	int ok = n > 0 && (size_t)n < len && !memchr(utf8, '\0', (size_t)n);
	if (ok) {
		memcpy(out, utf8, (size_t)n);
		out[n] = '\0';
	}
	OPENSSL_free(utf8);
	return ok ? 0 : pki_fail("the client certificate's CN is unusable");
}
