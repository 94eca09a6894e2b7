/* sign.c - node and client certificates from a joiner's request, and the
 * self-signed ones of --auto-tls: the CA decides every name, the request
 * only brings a public key proven by its signature. */
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_DAYS 90
#define MAX_CN 64 /* X.509's upper bound for a common name */

static X509_REQ *request_from_pem(const char *csr_pem)
{
	if (!csr_pem) {
		pki_fail("certificate request: missing");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(csr_pem, -1);
	X509_REQ *req =
	    bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!req)
		pki_fail_ssl("certificate request: not PEM");
	return req;
}

/* The request's key, once its signature proves the joiner holds it. */
static EVP_PKEY *request_key(const char *csr_pem)
{
	X509_REQ *req = request_from_pem(csr_pem);
	EVP_PKEY *key = req ? X509_REQ_get_pubkey(req) : NULL;
	int rc = -1;
	if (req && !key)
		pki_fail_ssl("certificate request: no usable public key");
	else if (key && X509_REQ_verify(req, key) != 1)
		pki_fail_ssl("certificate request: its signature does not "
			     "verify");
	else if (key && EVP_PKEY_get_security_bits(key) < 112)
		pki_fail("certificate request: its key is too weak");
	else if (key)
		rc = 0;
	X509_REQ_free(req);
	if (rc < 0) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* The CN: a node's member id, else the client's name. */
static int subject_name(const pki_names *names, char cn[MAX_CN + 1])
{
	if (names->member_id != 0) {
		snprintf(cn, MAX_CN + 1, "%016" PRIx64, names->member_id);
		return 0;
	}
	const char *name = names->common_name;
	if (!name || !name[0] || strlen(name) > MAX_CN)
		return pki_fail("certificate: a client certificate needs a "
				"common name of 1 to %d bytes",
				MAX_CN);
	snprintf(cn, MAX_CN + 1, "%s", name);
	return 0;
}

static void leaf_validity(const pki_names *names, pki_cert_plan *plan)
{
	int64_t now = (int64_t)time(NULL);
	unsigned days = names->days ? names->days : DEFAULT_DAYS;
	plan->not_before = now - PKI_CLOCK_SLACK_S;
	plan->not_after =
	    names->not_after ? names->not_after : now + (int64_t)days * 86400;
	if (plan->not_after <= plan->not_before)
		plan->not_before = plan->not_after - 3600;
}

static int sign_leaf(pki_cert_plan *plan, const pki_names *names,
		     const char *usages, char **cert_pem)
{
	char cn[MAX_CN + 1];
	if (subject_name(names, cn) < 0)
		return -1;
	plan->common_name = cn;
	plan->ext_key_usage = usages;
	plan->hosts = names->hosts;
	plan->n_hosts = names->n_hosts;
	leaf_validity(names, plan);
	X509 *cert = pki_cert_build(plan);
	if (!cert)
		return -1;
	int rc = pki_cert_to_pem(cert, cert_pem);
	X509_free(cert);
	return rc;
}

int pki_sign(const pki_ca *ca, const char *csr_pem, const pki_names *names,
	     char **cert_pem)
{
	if (!pki_ca_can_sign(ca))
		return pki_fail("CA: this host holds no CA key");
	EVP_PKEY *key = request_key(csr_pem);
	if (!key)
		return -1;
	pki_cert_plan plan = {
	    .subject_key = key, .issuer = ca->cert, .issuer_key = ca->key};
	const char *usages =
	    names->member_id ? "serverAuth,clientAuth" : "clientAuth";
	int rc = sign_leaf(&plan, names, usages, cert_pem);
	EVP_PKEY_free(key);
	return rc;
}

/* --auto-tls serves and dials with the same certificate: both usages. */
int pki_self_signed(const pki_names *names, char **cert_pem, char **key_pem)
{
	pki_names own = *names;
	if (!own.member_id && !own.common_name)
		own.common_name = "ovld";
	EVP_PKEY *key = pki_p256_new();
	if (!key)
		return -1;
	pki_cert_plan plan = {.subject_key = key};
	int rc = sign_leaf(&plan, &own, "serverAuth,clientAuth", cert_pem);
	if (rc == 0 && pki_key_to_pem(key, key_pem) < 0) {
		free(*cert_pem);
		*cert_pem = NULL;
		rc = -1;
	}
	EVP_PKEY_free(key);
	return rc;
}
