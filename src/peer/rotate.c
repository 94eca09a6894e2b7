/* rotate.c - replacing the cluster CA with no downtime, as swarm does it:
 *  1. `ovlctl cluster rotate-ca` puts a next CA in the store, with its
 *     certificate cross-signed by the current CA's key;
 *  2. every host then trusts both CAs and renews its certificate, which
 *     the leader now signs with the next CA; the chain carries the
 *     cross-signed certificate, so a host that still trusts only the
 *     current CA accepts it;
 *  3. once every member holds a certificate of the next CA (or after a
 *     grace period), the leader makes the next CA the CA, and hosts trust
 *     only it: the old CA's certificates stop working, and the join
 *     token's digest changes with it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "trust_int.h"

#define ROTATION_GRACE_S 120 /* hosts that cannot renew by then are out */

/* The first certificate of a PEM chain, malloc'd. */
static char *leaf_of(const char *chain)
{
	static const char end[] = "-----END CERTIFICATE-----";
	const char *e = strstr(chain, end);
	size_t n = e ? (size_t)(e - chain) + sizeof(end) - 1 : strlen(chain);
	char *leaf = malloc(n + 2);
	if (leaf) {
		memcpy(leaf, chain, n);
		memcpy(leaf + n, "\n", 2);
	}
	return leaf;
}

/* Trust what the store says, and carry the cross-signed certificate only
 * while a rotation runs. */
static void follow_bundle(peer_trust *t, int rotating)
{
	char *bundle = trust_bundle(t);
	if (bundle == NULL || !t->cert_pem || !t->key_pem ||
	    (t->trust_pem && strcmp(bundle, t->trust_pem) == 0)) {
		free(bundle);
		return;
	}
	char *cert = rotating ? strdup(t->cert_pem) : leaf_of(t->cert_pem);
	char *key = strdup(t->key_pem);
	if (cert && key && trust_install(t, cert, key, bundle) == 0) {
		log_info("peer", rotating ? "trusting the next cluster CA too"
					  : "trusting the cluster CA");
		return;
	}
	log_warn("peer", "cannot take the cluster's new trust");
}

static int issued_by_next(peer_trust *t)
{
	pki_ca *next = trust_meta_ca(t, TRUST_META_NEXT);
	char *leaf = t->cert_pem ? leaf_of(t->cert_pem) : NULL;
	int yes = next && leaf && pki_cert_check(leaf, NULL, next, NULL) == 0;
	free(leaf);
	pki_ca_free(next);
	return yes;
}

void trust_rotation_signed(peer_trust *t, uint64_t id)
{
	for (unsigned i = 0; i < t->n_rotated; i++)
		if (t->rotated[i] == id)
			return;
	if (t->n_rotated < TRUST_REMOVED_MAX)
		t->rotated[t->n_rotated++] = id;
}

static int everyone_rotated(peer_trust *t)
{
	raftnode_member *m = NULL;
	size_t n = 0;
	int all = raftnode_members(t->rn, &m, &n) == 0 && n > 0;
	for (size_t i = 0; all && i < n; i++) {
		int found = 0;
		for (unsigned k = 0; k < t->n_rotated; k++)
			found |= t->rotated[k] == m[i].id;
		all = found;
	}
	free(m);
	return all;
}

static void on_next_deleted(void *ctx, store_result *res)
{
	peer_trust *t = ctx;
	t->finalizing = 0;
	if (res->error == 0)
		log_info("peer", "the CA rotation is complete");
	store_result_free(res);
}

static void on_ca_replaced(void *ctx, store_result *res)
{
	peer_trust *t = ctx;
	int ok = res->error == 0;
	store_result_free(res);
	if (!ok || trust_propose_meta(t, TRUST_META_NEXT, NULL, on_next_deleted,
				      t) != 0)
		t->finalizing = 0;
}

/* The next CA becomes the CA (its cross-signature is no longer needed). */
static void finalize(peer_trust *t)
{
	char *cert = trust_meta_ca_field(t, TRUST_META_NEXT, "cert");
	char *key = trust_meta_ca_field(t, TRUST_META_NEXT, "key");
	json_t *j = cert && key
			? json_pack("{s:s,s:s}", "cert", cert, "key", key)
			: NULL;
	char *v = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (v &&
	    trust_propose_meta(t, TRUST_META_CA, v, on_ca_replaced, t) == 0)
		t->finalizing = 1;
	free(v);
	json_decref(j);
	free(cert);
	free(key);
}

void trust_rotation_tick(peer_trust *t, int leader)
{
	char *next = trust_meta(t, TRUST_META_NEXT);
	int rotating = next != NULL;
	free(next);
	follow_bundle(t, rotating);
	if (!rotating) {
		t->rotation_since = 0;
		t->n_rotated = 0;
		return;
	}
	if (!t->renewing && !issued_by_next(t))
		trust_renew(t);
	if (!leader || t->finalizing)
		return;
	int64_t now = (int64_t)time(NULL);
	if (t->rotation_since == 0)
		t->rotation_since = now;
	if (everyone_rotated(t) || now - t->rotation_since > ROTATION_GRACE_S)
		finalize(t);
}

/* ---- ovlctl cluster rotate-ca ---- */

typedef struct rotation {
	peer_trust *t;
	peer_token_cb cb;
	void *ctx;
} rotation;

static void on_next_published(void *ctx, store_result *res)
{
	rotation *r = ctx;
	if (res->error == 0) {
		log_info("peer", "rotating the cluster CA");
		r->cb(r->ctx, 0,
		      "rotating: every host renews its certificate "
		      "with the new CA, then the old CA is retired");
	} else {
		r->cb(r->ctx, -1, res->cause ? res->cause : "not applied");
	}
	store_result_free(res);
	free(r);
}

static char *next_value(peer_trust *t)
{
	pki_ca *cur = trust_meta_ca(t, TRUST_META_CA), *next = NULL;
	char *cert = NULL, *key = NULL, *cross = NULL, *v = NULL;
	if (cur && pki_ca_can_sign(cur) && pki_ca_create(&next) == 0 &&
	    pki_ca_pem(next, &cert, &key) == 0 &&
	    pki_ca_cross_sign(cur, next, &cross) == 0) {
		json_t *j = json_pack("{s:s,s:s,s:s}", "cert", cert, "key", key,
				      "cross", cross);
		v = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	}
	pki_ca_free(cur);
	pki_ca_free(next);
	free(cert);
	free(key);
	free(cross);
	return v;
}

void peer_trust_rotate_ca(peer_trust *t, peer_token_cb cb, void *ctx)
{
	char *running = trust_meta(t, TRUST_META_NEXT);
	rotation *r = NULL;
	char *v = NULL;
	if (t->mode != TRUST_CLUSTER_CA)
		cb(ctx, -1,
		   "only a cluster with its own CA rotates it (a "
		   "static cluster's CA comes from its secret, the "
		   "user's PKI is the user's)");
	else if (running)
		cb(ctx, -1, "a CA rotation is already running");
	else if ((v = next_value(t)) == NULL ||
		 (r = calloc(1, sizeof(*r))) == NULL)
		cb(ctx, -1,
		   "this host cannot sign: it does not hold the "
		   "cluster CA's key");
	else {
		r->t = t;
		r->cb = cb;
		r->ctx = ctx;
		if (trust_propose_meta(t, TRUST_META_NEXT, v, on_next_published,
				       r) != 0) {
			free(r);
			cb(ctx, -1, "cannot propose the next CA");
		}
	}
	free(running);
	free(v);
}

void peer_trust_on_renewed(peer_trust *t, void (*cb)(void *ctx), void *ctx)
{
	t->renewed_cb = cb;
	t->renewed_ctx = ctx;
}
