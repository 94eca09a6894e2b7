/* cert.c - the one place certificates are built: CA, node, client,
 * self-signed and cross-signed ones all follow a pki_cert_plan, so their
 * extensions (SKI/AKI for chain building, SANs H2O can check) agree. */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const EVP_MD *pki_sign_digest(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_id(key);
	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		return NULL; /* the algorithm fixes its own hash */
	return EVP_sha256();
}

EVP_PKEY *pki_p256_new(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key)
		pki_fail_ssl("cannot generate a P-256 key");
	return key;
}

static int set_serial(X509 *cert, const pki_cert_plan *plan)
{
	unsigned char random[16];
	const unsigned char *bytes = plan->serial;
	size_t len = plan->serial_len;
	if (!bytes) {
		if (RAND_bytes(random, sizeof(random)) != 1)
			return pki_fail_ssl("certificate: no random serial");
		random[0] = (random[0] & 0x7f) | 0x40; /* positive, 16 bytes */
		bytes = random;
		len = sizeof(random);
	}
	BIGNUM *bn = BN_bin2bn(bytes, (int)len, NULL);
	int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
	return ok ? 0 : pki_fail_ssl("certificate: cannot set the serial");
}

static int set_names(X509 *cert, const pki_cert_plan *plan)
{
	X509_NAME *own = NULL;
	X509_NAME *subject = plan->subject;
	if (!subject) {
		own = X509_NAME_new();
		if (!own ||
		    !X509_NAME_add_entry_by_NID(
			own, NID_commonName, MBSTRING_UTF8,
			(const unsigned char *)plan->common_name, -1, -1, 0)) {
			X509_NAME_free(own);
			return pki_fail_ssl("certificate: bad common name");
		}
		subject = own;
	}
	X509_NAME *issuer =
	    plan->issuer ? X509_get_subject_name(plan->issuer) : subject;
	int ok = X509_set_subject_name(cert, subject) &&
		 X509_set_issuer_name(cert, issuer);
	X509_NAME_free(own);
	return ok ? 0 : pki_fail_ssl("certificate: cannot set names");
}

static int set_basics(X509 *cert, const pki_cert_plan *plan)
{
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !X509_set_pubkey(cert, plan->subject_key) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert),
			   (time_t)plan->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)plan->not_after))
		return pki_fail_ssl("certificate: cannot set key or validity");
	if (set_serial(cert, plan) < 0)
		return -1;
	return set_names(cert, plan);
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0
		  : pki_fail_ssl("certificate: extension %s", OBJ_nid2sn(nid));
}

/* Each host is a DNS SAN (H2O's client checks no other kind), and an IP
 * literal is an IP SAN as well for every other client. */
static int add_host(GENERAL_NAMES *names, const char *host)
{
	GENERAL_NAME *dns = GENERAL_NAME_new();
	ASN1_IA5STRING *text = ASN1_IA5STRING_new();
	if (!dns || !text || !ASN1_STRING_set(text, host, -1)) {
		GENERAL_NAME_free(dns);
		ASN1_IA5STRING_free(text);
		return pki_fail_ssl("certificate: host %s", host);
	}
	GENERAL_NAME_set0_value(dns, GEN_DNS, text);
	if (!sk_GENERAL_NAME_push(names, dns)) {
		GENERAL_NAME_free(dns);
		return pki_fail("out of memory");
	}
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
	if (!ip) {
		ERR_clear_error(); /* not an IP literal: a name */
		return 0;
	}
	GENERAL_NAME *ipname = GENERAL_NAME_new();
	if (!ipname || !sk_GENERAL_NAME_push(names, ipname)) {
		GENERAL_NAME_free(ipname);
		ASN1_OCTET_STRING_free(ip);
		return pki_fail("out of memory");
	}
	GENERAL_NAME_set0_value(ipname, GEN_IPADD, ip);
	return 0;
}

static int valid_host(const char *host)
{
	if (!host || !host[0] || strlen(host) > 253)
		return 0;
	for (const char *c = host; *c; c++)
		if (*c <= ' ' || *c > '~' || *c == ',')
			return 0;
	return 1;
}

static int add_hosts(X509 *cert, const pki_cert_plan *plan)
{
	if (plan->n_hosts == 0)
		return 0;
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	if (!names)
		return pki_fail("out of memory");
	int rc = 0;
	for (size_t i = 0; i < plan->n_hosts && rc == 0; i++) {
		if (!valid_host(plan->hosts[i]))
			rc = pki_fail("certificate: host name %zu is not a "
				      "printable ASCII name or address",
				      i + 1);
		else
			rc = add_host(names, plan->hosts[i]);
	}
	if (rc == 0 &&
	    !X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, 0))
		rc = pki_fail_ssl("certificate: cannot add the host names");
	GENERAL_NAMES_free(names);
	return rc;
}

static int add_usage(X509 *cert, X509V3_CTX *ctx, const pki_cert_plan *plan)
{
	const char *basic =
	    plan->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
	const char *usage = plan->is_ca ? "critical,keyCertSign,cRLSign"
					: "critical,digitalSignature";
	if (add_ext(cert, ctx, NID_basic_constraints, basic) < 0 ||
	    add_ext(cert, ctx, NID_key_usage, usage) < 0)
		return -1;
	if (plan->ext_key_usage)
		return add_ext(cert, ctx, NID_ext_key_usage,
			       plan->ext_key_usage);
	return 0;
}

/* SKI and AKI let a verifier build chains across a CA rotation. */
static int add_extensions(X509 *cert, const pki_cert_plan *plan)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, plan->issuer ? plan->issuer : cert, cert, NULL,
		       NULL, 0);
	if (add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") <
		0 ||
	    add_usage(cert, &ctx, plan) < 0)
		return -1;
	return add_hosts(cert, plan);
}

/* OpenSSL caches a certificate's extension flags on first look, which
 * building did; a copy decoded from the signed DER has none stale. */
static X509 *decoded_copy(X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	const unsigned char *p = der;
	X509 *copy = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
	OPENSSL_free(der);
	if (!copy)
		pki_fail_ssl("certificate: cannot encode");
	return copy;
}

X509 *pki_cert_build(const pki_cert_plan *plan)
{
	EVP_PKEY *signer = plan->issuer ? plan->issuer_key : plan->subject_key;
	X509 *cert = X509_new();
	if (!cert) {
		pki_fail("out of memory");
		return NULL;
	}
	if (set_basics(cert, plan) < 0 || add_extensions(cert, plan) < 0)
		goto fail;
	if (!X509_sign(cert, signer, pki_sign_digest(signer))) {
		pki_fail_ssl("certificate: cannot sign");
		goto fail;
	}
	X509 *copy = decoded_copy(cert);
	X509_free(cert);
	return copy;
fail:
	X509_free(cert);
	return NULL;
}
