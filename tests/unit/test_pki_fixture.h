/* test_pki_fixture.h - what the pki unit tests share: a CA, and node or
 * client certificates signed by it from a fresh key's request. */
#ifndef TEST_PKI_FIXTURE_H
#define TEST_PKI_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

typedef struct leaf {
	char *cert, *key;
} leaf;

static inline pki_ca *new_ca(void)
{
	pki_ca *ca = NULL;
	assert_int_equal(pki_ca_create(&ca), 0);
	return ca;
}

static inline char *ca_pem(const pki_ca *ca)
{
	char *pem = NULL;
	assert_int_equal(pki_ca_pem(ca, &pem, NULL), 0);
	return pem;
}

static inline leaf sign_leaf(const pki_ca *ca, const pki_names *names)
{
	leaf l = {0};
	char *csr = NULL;
	assert_int_equal(pki_key_new(&l.key), 0);
	assert_int_equal(pki_csr_new(l.key, &csr), 0);
	assert_int_equal(pki_sign(ca, csr, names, &l.cert), 0);
	free(csr);
	return l;
}

static inline leaf new_node(const pki_ca *ca, uint64_t id)
{
	static const char *const hosts[] = {"127.0.0.1", "localhost"};
	pki_names names = {.member_id = id, .hosts = hosts, .n_hosts = 2};
	return sign_leaf(ca, &names);
}

static inline void leaf_free(leaf *l)
{
	free(l->cert);
	free(l->key);
	memset(l, 0, sizeof(*l));
}

/* Two PEM texts, one after the other, as a malloc'd bundle. */
static inline char *concat(const char *a, const char *b)
{
	char *out = malloc(strlen(a) + strlen(b) + 1);
	assert_non_null(out);
	strcpy(out, a);
	strcat(out, b);
	return out;
}

#endif
