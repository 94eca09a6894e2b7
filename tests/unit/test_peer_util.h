/* test_peer_util.h - shared helpers for the peer module's cmocka tests:
 * a CA and member certificates made with OpenSSL's API in memory (another
 * CA, no certificate and an expired one for the attacker's side), TLS
 * contexts as src/pki would build them, a policy that maps the certificate
 * name "member-<hex id>" to its id, ports from OVLDLAB_PORTS, and running
 * the loop until a condition holds. */
#ifndef TEST_PEER_UTIL_H
#define TEST_PEER_UTIL_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "peer/peer.h"

typedef struct tp_identity {
	EVP_PKEY *key;
	X509 *cert;
} tp_identity;

/* A certificate for cn, valid from now+from_s to now+until_s, signed by
 * issuer (NULL: self-signed CA). */
static inline tp_identity tp_make(const char *cn, const tp_identity *issuer,
				  long from_s, long until_s)
{
	static long serial = 1;
	tp_identity id = {EVP_EC_gen("P-256"), X509_new()};
	assert_non_null(id.key);
	X509 *x = id.cert;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), until_s);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_pubkey(x, id.key);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer->cert : x, x, NULL, NULL, 0);
	const char *bc = issuer ? "critical,CA:FALSE" : "critical,CA:TRUE";
	X509_EXTENSION *ext =
	    X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, bc);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert)
				       : name);
	assert_true(X509_sign(x, issuer ? issuer->key : id.key, EVP_sha256()) >
		    0);
	return id;
}

static inline void tp_free(tp_identity *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

/* A context trusting ca, presenting me (NULL: no certificate). */
static inline SSL_CTX *tp_ctx(int server, const tp_identity *me,
			      const tp_identity *ca)
{
	SSL_CTX *ctx =
	    SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	assert_non_null(ctx);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	int mode = SSL_VERIFY_PEER;
	if (server)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca->cert);
	if (me) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, me->cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, me->key), 1);
	}
	return ctx;
}

/* The policy: "member-<hex id>" may be that member, and only that one. */
static int tp_authorize(void *ctx, X509 *cert, uint64_t claimed_id,
			const char *host, char *why, size_t why_len)
{
	char cn[64] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
				  cn, sizeof(cn));
	unsigned long long id = 0;
	if (sscanf(cn, "member-%llx", &id) != 1 ||
	    (claimed_id && id != claimed_id)) {
		snprintf(why, why_len, "certificate %s may not be member %llx",
			 cn, (unsigned long long)claimed_id);
		return -1;
	}
	return 0;
}

/* The test's world: one CA, members 1..3, and the attacker's kit. */
typedef struct tp_world {
	tp_identity ca, other_ca;
	tp_identity member[4];
	tp_identity stranger; /* signed by other_ca */
	tp_identity expired;  /* member-9, signed by ca, expired */
} tp_world;

static inline void tp_world_init(tp_world *w)
{
	w->ca = tp_make("test CA", NULL, -3600, 86400);
	w->other_ca = tp_make("other CA", NULL, -3600, 86400);
	for (int i = 1; i <= 3; i++) {
		char cn[32];
		snprintf(cn, sizeof(cn), "member-%x", i);
		w->member[i] = tp_make(cn, &w->ca, -3600, 86400);
	}
	w->stranger = tp_make("member-1", &w->other_ca, -3600, 86400);
	w->expired = tp_make("member-9", &w->ca, -7200, -3600);
	signal(SIGPIPE, SIG_IGN);
}

static inline void tp_world_free(tp_world *w)
{
	tp_free(&w->ca);
	tp_free(&w->other_ca);
	for (int i = 1; i <= 3; i++)
		tp_free(&w->member[i]);
	tp_free(&w->stranger);
	tp_free(&w->expired);
}

/* A port of ours: OVLDLAB_PORTS's first port (24000 unless set, as in
 * tools/test.sh) plus offset; the peer tests use offsets 100-399. */
static inline int tp_port(int offset)
{
	const char *range = getenv("OVLDLAB_PORTS");
	int base = range ? atoi(range) : 0;
	return (base > 0 ? base : 24000) + offset;
}

/* A peer for member i listening on 127.0.0.1:port, with the given client
 * identity (NULL: member i's). */
static inline peer *tp_peer(uv_loop_t *loop, tp_world *w, int i, int port,
			    const tp_identity *client)
{
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	SSL_CTX *sctx = tp_ctx(1, &w->member[i], &w->ca);
	SSL_CTX *cctx = tp_ctx(0, client ? client : &w->member[i], &w->ca);
	peer_config cfg = {.listen_addr = addr,
			   .server_ctx = sctx,
			   .client_ctx = cctx,
			   .authorize = tp_authorize,
			   .handshake_timeout_ms = 2000};
	peer *p;
	assert_int_equal(peer_init(&p, loop, &cfg), 0);
	SSL_CTX_free(sctx); /* peer holds its references */
	SSL_CTX_free(cctx);
	peer_set_self(p, (uint64_t)i, addr);
	assert_int_equal(peer_listen(p), 0);
	return p;
}

static void tp_set_flag(void *ctx)
{
	*(int *)ctx = 1;
}

/* Runs loop until *flag >= want or ms pass; returns whether it held. */
static inline int tp_run_until(uv_loop_t *loop, const int *flag, int want,
			       unsigned ms)
{
	uint64_t end = uv_now(loop) + ms;
	while (*flag < want && uv_now(loop) < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		if (*flag < want)
			uv_sleep(1);
		uv_update_time(loop);
	}
	return *flag >= want;
}

static inline void tp_close(uv_loop_t *loop, peer *p)
{
	int closed = 0;
	peer_close(p, tp_set_flag, &closed);
	assert_true(tp_run_until(loop, &closed, 1, 5000));
}

#endif
