/* test_pki_tls.c - unit tests for the TLS contexts, as real handshakes
 * between two SSL objects over an in-memory BIO pair: mutual TLS between
 * nodes of one CA, and every way it must fail (no client certificate,
 * another CA, an expired certificate); the joiner's pinned context against
 * the right and a wrong digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "test_pki_fixture.h"

/* One step of one side: 1 done, 0 wants more, -1 failed. */
static int step(SSL *ssl)
{
	if (SSL_is_init_finished(ssl))
		return 1;
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 1;
	int err = SSL_get_error(ssl, rc);
	return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0
									 : -1;
}

/* 0 when both sides finish; the server also reads the client's first
 * bytes, since TLS 1.3 lets the client finish before the server has
 * judged its certificate. */
static int handshake_with(SSL_CTX *server_ctx, SSL_CTX *client_ctx,
			  int server_verifies, char *peer_cn)
{
	SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
	assert_non_null(server), assert_non_null(client);
	if (!server_verifies)
		SSL_set_verify(server, SSL_VERIFY_NONE, NULL);
	BIO *a = NULL, *b = NULL;
	assert_int_equal(BIO_new_bio_pair(&a, 0, &b, 0), 1);
	SSL_set_bio(server, a, a);
	SSL_set_bio(client, b, b);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	int c = 0, s = 0;
	for (int i = 0; i < 50 && c >= 0 && s >= 0 && !(c && s); i++) {
		c = step(client);
		s = step(server);
	}
	int rc = c == 1 && s == 1 ? 0 : -1;
	char byte = 'x', got = 0;
	if (rc == 0 && (SSL_write(client, &byte, 1) != 1 ||
			SSL_read(server, &got, 1) != 1 || got != 'x'))
		rc = -1;
	if (rc == 0 && peer_cn) {
		pki_cert_info info;
		X509 *peer = SSL_get0_peer_certificate(server);
		assert_non_null(peer);
		assert_int_equal(SSL_get_verify_result(server), X509_V_OK);
		assert_int_equal(pki_cert_info_x509(peer, &info), 0);
		strcpy(peer_cn, info.common_name);
	}
	SSL_free(server), SSL_free(client);
	ERR_clear_error();
	return rc;
}

static int handshake(SSL_CTX *server_ctx, SSL_CTX *client_ctx)
{
	return handshake_with(server_ctx, client_ctx, 1, NULL);
}

typedef struct pair {
	SSL_CTX *server, *client;
} pair;

static pair contexts(const leaf *l, const char *trust)
{
	pair p = {pki_peer_server_ctx(l->cert, l->key, trust),
		  pki_peer_client_ctx(l->cert, l->key, trust)};
	assert_non_null(p.server), assert_non_null(p.client);
	return p;
}

static void pair_free(pair *p)
{
	SSL_CTX_free(p->server), SSL_CTX_free(p->client);
}

static void test_mutual_tls(void **state)
{
	pki_ca *ca = new_ca();
	char *trust = ca_pem(ca), cn[128] = "";
	leaf a = new_node(ca, 0xa), b = new_node(ca, 0xb);
	pair pa = contexts(&a, trust), pb = contexts(&b, trust);
	assert_int_equal(handshake_with(pa.server, pb.client, 1, cn), 0);
	assert_string_equal(cn, "000000000000000b");
	assert_int_equal(handshake(pb.server, pa.client), 0);
	/* A derived CA (Ed25519 signatures) works the same. */
	pki_ca *derived = NULL;
	assert_int_equal(pki_ca_derive(&derived, "static cluster secret"), 0);
	char *derived_trust = ca_pem(derived);
	leaf c = new_node(derived, 0xc), d = new_node(derived, 0xd);
	pair pc = contexts(&c, derived_trust), pd = contexts(&d, derived_trust);
	assert_int_equal(handshake(pc.server, pd.client), 0);
	pair_free(&pa), pair_free(&pb), pair_free(&pc), pair_free(&pd);
	leaf_free(&a), leaf_free(&b), leaf_free(&c), leaf_free(&d);
	free(trust), free(derived_trust);
	pki_ca_free(ca), pki_ca_free(derived);
}

static void test_refused_handshakes(void **state)
{
	pki_ca *ca = new_ca(), *other = new_ca();
	char *trust = ca_pem(ca), *other_trust = ca_pem(other);
	leaf a = new_node(ca, 1), stranger = new_node(other, 2);
	pki_names past = {.member_id = 3, .not_after = time(NULL) - 3600};
	leaf expired = sign_leaf(ca, &past);
	pair pa = contexts(&a, trust);
	/* No client certificate: the server completes no handshake. */
	SSL_CTX *anonymous = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(anonymous, SSL_VERIFY_NONE, NULL);
	assert_int_equal(handshake(pa.server, anonymous), -1);
	/* A node of another CA, as client and as server. */
	SSL_CTX *s_server =
	    pki_peer_server_ctx(stranger.cert, stranger.key, other_trust);
	SSL_CTX *s_client =
	    pki_peer_client_ctx(stranger.cert, stranger.key, trust);
	assert_int_equal(handshake(pa.server, s_client), -1);
	assert_int_equal(handshake(s_server, pa.client), -1);
	/* An expired certificate of the right CA, both ways. */
	pair pe = contexts(&expired, trust);
	assert_int_equal(handshake(pa.server, pe.client), -1);
	assert_int_equal(handshake(pe.server, pa.client), -1);
	/* A tool's client certificate cannot serve as a host. */
	pki_names alice = {.common_name = "alice"};
	leaf user = sign_leaf(ca, &alice);
	SSL_CTX *u_server = pki_peer_server_ctx(user.cert, user.key, trust);
	SSL_CTX *u_client = pki_peer_client_ctx(user.cert, user.key, trust);
	assert_int_equal(handshake(u_server, pa.client), -1);
	char cn[128] = "";
	assert_int_equal(handshake_with(pa.server, u_client, 1, cn), 0);
	assert_string_equal(cn, "alice");
	SSL_CTX_free(u_server), SSL_CTX_free(u_client);
	leaf_free(&user);
	/* A key that is not the certificate's makes no context. */
	assert_null(pki_peer_server_ctx(a.cert, stranger.key, trust));
	assert_null(pki_peer_client_ctx(a.cert, a.key, "no PEM here"));
	SSL_CTX_free(anonymous), SSL_CTX_free(s_server), SSL_CTX_free(s_client);
	pair_free(&pa), pair_free(&pe);
	leaf_free(&a), leaf_free(&stranger), leaf_free(&expired);
	free(trust), free(other_trust);
	pki_ca_free(ca), pki_ca_free(other);
}

static void test_floor(void **state)
{
	pki_ca *ca = new_ca();
	char *trust = ca_pem(ca);
	leaf a = new_node(ca, 1);
	pair pa = contexts(&a, trust);
	SSL_CTX *old = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
	SSL_CTX_set_security_level(old, 0);
	assert_int_equal(handshake_with(pa.server, old, 0, NULL), -1);
	assert_true(SSL_CTX_get_options(pa.server) & SSL_OP_NO_RENEGOTIATION);
	assert_true(SSL_CTX_get_options(pa.client) & SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_free(old);
	pair_free(&pa);
	leaf_free(&a);
	free(trust);
	pki_ca_free(ca);
}

/* The joiner trusts nothing but the token's digest. A peer server context
 * sends its CA after its leaf (OpenSSL builds the chain from the trust
 * store), so the chain holds the pinned certificate. */
static void test_pinned(void **state)
{
	pki_ca *ca = new_ca(), *other = new_ca();
	char *trust = ca_pem(ca), digest[65], wrong[65];
	pki_ca_digest(ca, digest);
	pki_ca_digest(other, wrong);
	leaf a = new_node(ca, 1);
	char *chain = concat(a.cert, trust);
	SSL_CTX *server = pki_peer_server_ctx(chain, a.key, trust);
	SSL_CTX *plain = pki_peer_server_ctx(a.cert, a.key, trust);
	SSL_CTX *leaf_only = pki_peer_server_ctx(a.cert, a.key, trust);
	SSL_CTX_set_mode(leaf_only, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX *right = pki_pinned_client_ctx(digest);
	SSL_CTX *bad = pki_pinned_client_ctx(wrong);
	assert_non_null(server), assert_non_null(right), assert_non_null(bad);
	assert_int_equal(handshake_with(server, right, 0, NULL), 0);
	assert_int_equal(handshake_with(plain, right, 0, NULL), 0);
	assert_int_equal(handshake_with(server, bad, 0, NULL), -1);
	assert_int_equal(handshake_with(leaf_only, right, 0, NULL), -1);
	/* A server of another CA that sends the pinned CA's certificate
	 * along cannot pass: its leaf does not verify up to it. */
	leaf stranger = new_node(other, 2);
	char *forged = concat(stranger.cert, trust);
	SSL_CTX *impostor = pki_peer_server_ctx(forged, stranger.key, trust);
	assert_non_null(impostor);
	assert_int_equal(handshake_with(impostor, right, 0, NULL), -1);
	char short_digest[65] = "abc";
	assert_null(pki_pinned_client_ctx(short_digest));
	SSL_CTX_free(server), SSL_CTX_free(plain), SSL_CTX_free(leaf_only),
	    SSL_CTX_free(right);
	SSL_CTX_free(bad), SSL_CTX_free(impostor);
	leaf_free(&a), leaf_free(&stranger);
	free(chain), free(forged), free(trust);
	pki_ca_free(ca), pki_ca_free(other);
}

/* During a rotation a node of the new CA, sending the cross-signed CA
 * after its leaf, is accepted by a node that trusts only the old CA. */
static void test_rotation_handshake(void **state)
{
	pki_ca *old_ca = new_ca(), *next = new_ca();
	char *old_trust = ca_pem(old_ca), *next_trust = ca_pem(next);
	char *cross = NULL;
	assert_int_equal(pki_ca_cross_sign(old_ca, next, &cross), 0);
	leaf veteran = new_node(old_ca, 1), rookie = new_node(next, 2);
	char *rookie_chain = concat(rookie.cert, cross);
	char *both = concat(old_trust, next_trust);
	SSL_CTX *server =
	    pki_peer_server_ctx(veteran.cert, veteran.key, old_trust);
	SSL_CTX *client = pki_peer_client_ctx(rookie_chain, rookie.key, both);
	SSL_CTX *bare = pki_peer_client_ctx(rookie.cert, rookie.key, both);
	assert_int_equal(handshake(server, client), 0);
	assert_int_equal(handshake(server, bare), -1);
	SSL_CTX_free(server), SSL_CTX_free(client), SSL_CTX_free(bare);
	leaf_free(&veteran), leaf_free(&rookie);
	free(rookie_chain), free(both), free(cross), free(old_trust),
	    free(next_trust);
	pki_ca_free(old_ca), pki_ca_free(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutual_tls),
	    cmocka_unit_test(test_refused_handshakes),
	    cmocka_unit_test(test_floor),
	    cmocka_unit_test(test_pinned),
	    cmocka_unit_test(test_rotation_handshake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
