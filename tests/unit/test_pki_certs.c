/* test_pki_certs.c - unit tests for the certificate policy: the CA and its
 * PEM round trip, node and client certificates from requests (names, SANs
 * H2O can check, usages), what pki_cert_check refuses, the derived CA of a
 * static cluster, cross-signing for a CA rotation, and --auto-tls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "test_pki_fixture.h"

static X509 *parse(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(cert);
	return cert;
}

static int has_san(X509 *cert, int type, const char *text)
{
	GENERAL_NAMES *names =
	    X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		if (n->type != type)
			continue;
		if (type == GEN_DNS)
			found |= strcmp((const char *)ASN1_STRING_get0_data(
					    n->d.dNSName),
					text) == 0;
		else {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
			found |= ip && ASN1_STRING_cmp(ip, n->d.ip) == 0;
			ASN1_OCTET_STRING_free(ip);
		}
	}
	GENERAL_NAMES_free(names);
	return found;
}

static void test_ca_round_trip(void **state)
{
	pki_ca *ca = new_ca(), *copy = NULL, *public = NULL;
	char *cert = NULL, *key = NULL, d1[65], d2[65], d3[65];
	assert_true(pki_ca_can_sign(ca));
	assert_int_equal(pki_ca_pem(ca, &cert, &key), 0);
	assert_int_equal(pki_ca_load(&copy, cert, key), 0);
	assert_int_equal(pki_ca_load(&public, cert, NULL), 0);
	assert_false(pki_ca_can_sign(public));
	char *none = NULL, *cert2 = NULL;
	assert_int_equal(pki_ca_pem(public, &cert2, &none), -1);
	pki_ca_digest(ca, d1);
	pki_ca_digest(copy, d2);
	assert_int_equal(pki_cert_digest(cert, d3), 0);
	assert_int_equal(strlen(d1), 64);
	assert_string_equal(d1, d2);
	assert_string_equal(d1, d3);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_x509(pki_ca_cert(ca), &info), 0);
	assert_memory_equal(info.common_name, "ovld cluster CA ", 16);
	assert_int_equal(info.member_id, 0);
	assert_true(info.not_after - info.not_before > 3649LL * 86400);
	assert_int_equal(X509_check_ca(pki_ca_cert(ca)), 1);
	pki_ca_free(ca), pki_ca_free(copy), pki_ca_free(public);
	free(cert), free(key);
}

static void test_ca_load_refuses(void **state)
{
	pki_ca *a = new_ca(), *b = new_ca(), *out = NULL;
	char *a_cert = NULL, *b_cert = NULL, *b_key = NULL;
	assert_int_equal(pki_ca_pem(a, &a_cert, NULL), 0);
	assert_int_equal(pki_ca_pem(b, &b_cert, &b_key), 0);
	assert_int_equal(pki_ca_load(&out, a_cert, b_key), -1);
	assert_non_null(strstr(pki_strerror(), "not the CA certificate's key"));
	assert_int_equal(pki_ca_load(&out, "garbage", NULL), -1);
	assert_non_null(strstr(pki_strerror(), "not a PEM certificate"));
	leaf node = new_node(a, 7);
	assert_int_equal(pki_ca_load(&out, node.cert, NULL), -1);
	assert_non_null(strstr(pki_strerror(), "not a CA"));
	leaf_free(&node);
	pki_ca_free(a), pki_ca_free(b);
	free(a_cert), free(b_cert), free(b_key);
}

static void test_node_certificate(void **state)
{
	pki_ca *ca = new_ca();
	char *trust = ca_pem(ca);
	static const char *const hosts[] = {"10.1.2.3", "node1.example",
					    "fd00::5"};
	pki_names names = {
	    .member_id = 0x1234abcd5678ef90ULL, .hosts = hosts, .n_hosts = 3};
	leaf node = sign_leaf(ca, &names);
	assert_int_equal(pki_cert_check(node.cert, node.key, ca, NULL), 0);
	assert_int_equal(pki_cert_check(node.cert, node.key, NULL, trust), 0);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_pem(node.cert, &info), 0);
	assert_string_equal(info.common_name, "1234abcd5678ef90");
	assert_true(info.member_id == 0x1234abcd5678ef90ULL);
	time_t now = time(NULL);
	assert_true(info.not_before <= now && info.not_before > now - 120);
	assert_true(info.not_after > now + 89LL * 86400 &&
		    info.not_after <= now + 90LL * 86400);
	assert_true(strlen(info.serial) >= 30);
	X509 *cert = parse(node.cert);
	/* H2O's client checks DNS SANs only, so IP literals are both. */
	assert_true(has_san(cert, GEN_DNS, "10.1.2.3"));
	assert_true(has_san(cert, GEN_IPADD, "10.1.2.3"));
	assert_true(has_san(cert, GEN_DNS, "node1.example"));
	assert_false(has_san(cert, GEN_IPADD, "node1.example"));
	assert_true(has_san(cert, GEN_IPADD, "fd00::5"));
	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0),
			 1);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0),
			 1);
	assert_int_equal(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
	X509_free(cert);
	leaf_free(&node);
	free(trust);
	pki_ca_free(ca);
}

static void test_client_certificate(void **state)
{
	pki_ca *ca = new_ca();
	pki_names names = {.common_name = "alice", .days = 7};
	leaf user = sign_leaf(ca, &names);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_pem(user.cert, &info), 0);
	assert_string_equal(info.common_name, "alice");
	assert_int_equal(info.member_id, 0);
	assert_true(info.not_after - info.not_before <= 7LL * 86400 + 60);
	X509 *cert = parse(user.cert);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0),
			 1);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0),
			 0);
	X509_free(cert);
	/* A CN of 16 hex digits is a member id; anything else is not. */
	pki_names hexish = {.common_name = "00000000000000ff"};
	leaf node_like = sign_leaf(ca, &hexish);
	assert_int_equal(pki_cert_info_pem(node_like.cert, &info), 0);
	assert_int_equal(info.member_id, 255);
	pki_names longer = {.common_name = "00000000000000ff0"};
	leaf other = sign_leaf(ca, &longer);
	assert_int_equal(pki_cert_info_pem(other.cert, &info), 0);
	assert_int_equal(info.member_id, 0);
	leaf_free(&user), leaf_free(&node_like), leaf_free(&other);
	pki_ca_free(ca);
}

static void test_sign_refuses(void **state)
{
	pki_ca *ca = new_ca(), *public = NULL;
	char *key = NULL, *csr = NULL, *cert = NULL, *ca_cert = ca_pem(ca);
	assert_int_equal(pki_key_new(&key), 0);
	assert_int_equal(pki_csr_new(key, &csr), 0);
	pki_names nameless = {0};
	assert_int_equal(pki_sign(ca, csr, &nameless, &cert), -1);
	assert_non_null(strstr(pki_strerror(), "common name"));
	static const char *const bad_hosts[] = {"a,b"};
	pki_names bad = {.member_id = 1, .hosts = bad_hosts, .n_hosts = 1};
	assert_int_equal(pki_sign(ca, csr, &bad, &cert), -1);
	assert_int_equal(pki_ca_load(&public, ca_cert, NULL), 0);
	pki_names node = {.member_id = 1};
	assert_int_equal(pki_sign(public, csr, &node, &cert), -1);
	assert_non_null(strstr(pki_strerror(), "no CA key"));
	/* A request whose signature was altered proves no key. */
	BIO *bio = BIO_new_mem_buf(csr, -1);
	X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	unsigned char *der = NULL;
	int len = i2d_X509_REQ(req, &der);
	der[len - 1] ^= 1;
	const unsigned char *p = der;
	X509_REQ *altered = d2i_X509_REQ(NULL, &p, len);
	assert_non_null(altered);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_REQ(bio, altered);
	BIO_write(bio, "", 1);
	char *text = NULL;
	BIO_get_mem_data(bio, &text);
	assert_int_equal(pki_sign(ca, text, &node, &cert), -1);
	assert_non_null(strstr(pki_strerror(), "does not verify"));
	assert_null(cert);
	BIO_free(bio);
	X509_REQ_free(req), X509_REQ_free(altered);
	OPENSSL_free(der);
	free(key), free(csr), free(ca_cert);
	pki_ca_free(ca), pki_ca_free(public);
}

static void test_check_refuses(void **state)
{
	pki_ca *ca = new_ca(), *other = new_ca();
	char *other_pem = ca_pem(other);
	leaf node = new_node(ca, 1), stranger = new_node(other, 2);
	assert_int_equal(pki_cert_check(stranger.cert, stranger.key, ca, NULL),
			 -1);
	assert_non_null(strstr(pki_strerror(), "unable to get local issuer"));
	assert_int_equal(pki_cert_check(node.cert, node.key, NULL, other_pem),
			 -1);
	assert_int_equal(pki_cert_check(node.cert, stranger.key, ca, NULL), -1);
	assert_non_null(strstr(pki_strerror(), "not the certificate's key"));
	assert_int_equal(pki_cert_check(node.cert, NULL, ca, NULL), 0);
	pki_names past = {.member_id = 3, .not_after = time(NULL) - 3600};
	leaf expired = sign_leaf(ca, &past);
	assert_int_equal(pki_cert_check(expired.cert, expired.key, ca, NULL),
			 -1);
	assert_non_null(strstr(pki_strerror(), "expired"));
	leaf_free(&node), leaf_free(&stranger), leaf_free(&expired);
	free(other_pem);
	pki_ca_free(ca), pki_ca_free(other);
}

static void test_derived_ca(void **state)
{
	const char *secret = "correct horse battery staple";
	pki_ca *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	assert_int_equal(pki_ca_derive(&a, secret), 0);
	assert_int_equal(pki_ca_derive(&b, secret), 0);
	assert_int_equal(pki_ca_derive(&c, "correct horse battery stapler"), 0);
	char da[65], db[65], dc[65], *pa = NULL, *pb = NULL;
	pki_ca_digest(a, da), pki_ca_digest(b, db), pki_ca_digest(c, dc);
	assert_string_equal(da, db);
	assert_string_not_equal(da, dc);
	assert_int_equal(pki_ca_pem(a, &pa, NULL), 0);
	assert_int_equal(pki_ca_pem(b, &pb, NULL), 0);
	assert_string_equal(pa, pb);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_x509(pki_ca_cert(a), &info), 0);
	assert_memory_equal(info.common_name, "ovld static CA ", 15);
	assert_int_equal(info.not_before, 1577836800);
	assert_int_equal(info.not_after, 4733510400);
	/* A certificate one host signs, another host's derivation trusts. */
	leaf node = new_node(a, 9);
	assert_int_equal(pki_cert_check(node.cert, node.key, b, NULL), 0);
	assert_int_equal(pki_cert_check(node.cert, node.key, c, NULL), -1);
	/* Hosts of different ovld versions must derive the same CA. */
	pki_ca *known = NULL;
	char dk[65];
	assert_int_equal(pki_ca_derive(&known, "same secret for two hosts"), 0);
	pki_ca_digest(known, dk);
	assert_string_equal(dk,
			    "022e0539dd8781cd6ca3c07062bc800d273583a8c7a76ff"
			    "d317180eadd33b247");
	pki_ca_free(known);
	assert_int_equal(pki_ca_derive(&d, "short"), -1);
	assert_non_null(strstr(pki_strerror(), "at least 16"));
	leaf_free(&node);
	free(pa), free(pb);
	pki_ca_free(a), pki_ca_free(b), pki_ca_free(c);
}

static void test_cross_signed_rotation(void **state)
{
	pki_ca *old_ca = new_ca(), *new_ca_ = new_ca();
	char *old_pem = ca_pem(old_ca), *new_pem = ca_pem(new_ca_);
	char *cross = NULL;
	assert_int_equal(pki_ca_cross_sign(old_ca, new_ca_, &cross), 0);
	leaf node = new_node(new_ca_, 5);
	/* Only the old CA trusted: the leaf alone fails, with the
	 * cross-signed new CA after it verifies. */
	assert_int_equal(pki_cert_check(node.cert, node.key, NULL, old_pem),
			 -1);
	char *chain = concat(node.cert, cross);
	assert_int_equal(pki_cert_check(chain, node.key, NULL, old_pem), 0);
	assert_int_equal(pki_cert_check(chain, node.key, NULL, new_pem), 0);
	assert_int_equal(pki_cert_check(node.cert, node.key, new_ca_, NULL), 0);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_pem(cross, &info), 0);
	assert_memory_equal(info.common_name, "ovld cluster CA ", 16);
	/* A CA without its key cannot vouch for the next one. */
	pki_ca *public = NULL;
	char *cross2 = NULL;
	assert_int_equal(pki_ca_load(&public, old_pem, NULL), 0);
	assert_int_equal(pki_ca_cross_sign(public, new_ca_, &cross2), -1);
	pki_ca_free(public);
	leaf_free(&node);
	free(chain), free(cross), free(old_pem), free(new_pem);
	pki_ca_free(old_ca), pki_ca_free(new_ca_);
}

static void test_self_signed(void **state)
{
	static const char *const hosts[] = {"127.0.0.1"};
	pki_names names = {.hosts = hosts, .n_hosts = 1};
	char *cert = NULL, *key = NULL;
	assert_int_equal(pki_self_signed(&names, &cert, &key), 0);
	assert_int_equal(pki_cert_check(cert, key, NULL, cert), 0);
	pki_cert_info info;
	assert_int_equal(pki_cert_info_pem(cert, &info), 0);
	assert_string_equal(info.common_name, "ovld");
	X509 *x = parse(cert);
	assert_true(has_san(x, GEN_DNS, "127.0.0.1"));
	assert_true(has_san(x, GEN_IPADD, "127.0.0.1"));
	X509_free(x);
	free(cert), free(key);
}

static void test_info_refuses_garbage(void **state)
{
	pki_cert_info info;
	char digest[65];
	assert_int_equal(pki_cert_info_pem("", &info), -1);
	assert_int_equal(pki_cert_digest("-----BEGIN CERTIFICATE-----\nAAAA\n"
					 "-----END CERTIFICATE-----\n",
					 digest),
			 -1);
	assert_non_null(strstr(pki_strerror(), "certificate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_round_trip),
	    cmocka_unit_test(test_ca_load_refuses),
	    cmocka_unit_test(test_node_certificate),
	    cmocka_unit_test(test_client_certificate),
	    cmocka_unit_test(test_sign_refuses),
	    cmocka_unit_test(test_check_refuses),
	    cmocka_unit_test(test_derived_ca),
	    cmocka_unit_test(test_cross_signed_rotation),
	    cmocka_unit_test(test_self_signed),
	    cmocka_unit_test(test_info_refuses_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
