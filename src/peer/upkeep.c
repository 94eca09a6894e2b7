/* upkeep.c - the trust's work once Raft runs: the first host publishes
 * the cluster CA and join secret into the replicated store; every host
 * keeps <data_dir>/pki/join-token current, drops the connections of
 * members that left, and renews its node certificate before it expires;
 * the leader signs the renewals. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "trust_int.h"

#define UPKEEP_MS 500

/* ---- publishing a new cluster's CA ---- */

static void on_published(void *ctx, store_result *res)
{
	peer_trust *t = ctx;
	if (res->error)
		log_warn("peer", "publishing the cluster CA: %s",
			 res->cause ? res->cause : "failed");
	t->publishing--;
	store_result_free(res);
}

int trust_propose_meta(peer_trust *t, const char *key, const char *value,
		       raftnode_done_cb cb, void *ctx)
{
	store_cmd cmd = {.op = value ? STORE_OP_META_PUT : STORE_OP_META_DEL,
			 .path = key,
			 .path_len = strlen(key),
			 .value = value,
			 .value_len = value ? strlen(value) : 0,
			 .prev_exist = -1,
			 .now_ns = (int64_t)time(NULL) * 1000000000};
	return raftnode_propose(t->rn, &cmd, cb, ctx);
}

static char *file_in(peer_trust *t, const char *name)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	return trust_read_file(path);
}

/* The first host's CA and secret, from its files into the store. */
static void publish(peer_trust *t)
{
	char *have = trust_meta(t, TRUST_META_CA);
	if (have == NULL) {
		char *cert = file_in(t, "cluster-ca.crt");
		char *key = file_in(t, "cluster-ca.key");
		json_t *j = cert && key ? json_pack("{s:s,s:s}", "cert", cert,
						    "key", key)
					: NULL;
		char *v = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (v && trust_propose_meta(t, TRUST_META_CA, v, on_published,
					    t) == 0)
			t->publishing++;
		free(v);
		json_decref(j);
		free(cert);
		free(key);
	}
	free(have);
	have = trust_meta(t, TRUST_META_SECRET);
	char *secret = have ? NULL : file_in(t, "cluster-secret");
	if (secret && trust_propose_meta(t, TRUST_META_SECRET, secret,
					 on_published, t) == 0)
		t->publishing++;
	free(secret);
	free(have);
}

/* ---- the token file ---- */

static int format_token(peer_trust *t, const char *secret, char *out,
			size_t len)
{
	char *cert = trust_meta_ca_field(t, TRUST_META_CA, "cert"), digest[65];
	int rv = cert && pki_cert_digest(cert, digest) == 0 &&
			 pki_token_format(digest, secret, out, len) == 0
		     ? 0
		     : -1;
	free(cert);
	return rv;
}

static void write_token_file(peer_trust *t)
{
	char *secret = trust_meta(t, TRUST_META_SECRET);
	char token[PKI_TOKEN_MAX], path[4300];
	if (secret && format_token(t, secret, token, sizeof(token)) == 0) {
		snprintf(path, sizeof(path), "%s/join-token", t->dir);
		strcat(token, "\n");
		if (trust_write_file(path, token, 0600) != 0)
			log_warn("peer", "cannot write %s", path);
	}
	free(secret);
}

/* ---- members that left ---- */

static int listed(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static void follow_removals(peer_trust *t)
{
	raftnode_member *m = NULL;
	size_t n = 0;
	if (raftnode_members(t->rn, &m, &n) != 0 || n == 0) {
		free(m);
		return;
	}
	uint64_t *ids = malloc(n * sizeof(*ids));
	for (size_t i = 0; ids && i < n; i++)
		ids[i] = m[i].id;
	free(m);
	if (ids == NULL)
		return;
	for (size_t i = 0; i < t->n_members; i++) {
		uint64_t gone = t->members[i];
		if (listed(ids, n, gone) || gone == t->self_id)
			continue;
		log_info("peer",
			 "%016llx left: its certificate no longer "
			 "opens the peer port",
			 (unsigned long long)gone);
		trust_note_removed(t, gone);
		if (t->n_drops < TRUST_REMOVED_MAX) {
			t->drops[t->n_drops].id = gone;
			t->drops[t->n_drops++].at_ms = uv_now(t->loop) + 1000;
		} else {
			peer_drop(t->peer, gone);
		}
	}
	free(t->members);
	t->members = ids;
	t->n_members = n;
}

static void drop_due(peer_trust *t)
{
	unsigned kept = 0;
	for (unsigned i = 0; i < t->n_drops; i++) {
		if (uv_now(t->loop) >= t->drops[i].at_ms)
			peer_drop(t->peer, t->drops[i].id);
		else
			t->drops[kept++] = t->drops[i];
	}
	t->n_drops = kept;
}

/* ---- renewal ---- */

typedef struct renewal {
	peer_trust *t;
	char *key;
} renewal;

static void on_renewed(void *ctx, int status, const void *body, size_t len)
{
	renewal *r = ctx;
	peer_trust *t = r->t;
	t->renewing = 0;
	char *cert = status == 200 ? malloc(len + 1) : NULL;
	if (cert) {
		memcpy(cert, body, len);
		cert[len] = '\0';
	}
	char *trust = t->mode == TRUST_CLUSTER_CA ? trust_bundle(t) : NULL;
	if (trust == NULL && t->trust_pem)
		trust = strdup(t->trust_pem);
	if (cert && trust && pki_cert_check(cert, r->key, NULL, trust) == 0 &&
	    trust_install(t, cert, r->key, trust) == 0) {
		log_info("peer", "renewed this host's certificate");
		if (t->renewed_cb)
			t->renewed_cb(t->renewed_ctx);
	} else {
		log_warn("peer", "certificate renewal failed (%d); retrying",
			 status);
		free(cert);
		free(r->key);
		free(trust);
	}
	free(r);
}

/* Due at 2/3 of the lifetime the certificate was signed for. Counted
 * from its notBefore, which lies PKI_CLOCK_SLACK_S before the signing, a
 * 30 s certificate (the shortest --cert-expiry) would be due on arrival
 * and renewed at every tick. */
static int renewal_due(peer_trust *t)
{
	int64_t signed_at = t->cert_not_before + PKI_CLOCK_SLACK_S;
	if (signed_at >= t->cert_not_after)
		signed_at = t->cert_not_before;
	int64_t life = t->cert_not_after - signed_at;
	return t->mode != TRUST_USER_PKI && life > 0 && !t->renewing &&
	       (int64_t)time(NULL) > signed_at + life * 2 / 3;
}

void trust_renew(peer_trust *t)
{
	char addr[300];
	uint64_t leader = raftnode_leader(t->rn, addr, sizeof(addr));
	renewal *r = leader ? calloc(1, sizeof(*r)) : NULL;
	char *csr = NULL;
	if (r == NULL)
		return;
	r->t = t;
	if (pki_key_new(&r->key) != 0 || pki_csr_new(r->key, &csr) != 0 ||
	    peer_call(t->peer, leader, addr, PEER_KIND_RENEW, csr, strlen(csr),
		      5000, on_renewed, r) != 0) {
		free(r->key);
		free(r);
	} else {
		t->renewing = 1;
	}
	free(csr);
}

/* The leader signs a member's CSR for the member the peer port
 * authenticated (from), with the names of its record. */
void trust_renew_serve(peer_trust *t, peer_request *req, uint64_t from,
		       const char *body, size_t len)
{
	raftnode_member *m = NULL;
	size_t n = 0;
	const raftnode_member *who = NULL;
	if (raftnode_members(t->rn, &m, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (m[i].id == from)
				who = &m[i];
	pki_ca *ca = t->mode != TRUST_USER_PKI ? trust_signing_ca(t) : NULL;
	char *csr = malloc(len + 1), *cert = NULL, **hosts = NULL;
	char *tail = trust_chain_tail(t), *chain = NULL;
	size_t nh = 0;
	if (csr) {
		memcpy(csr, body, len);
		csr[len] = '\0';
	}
	if (who)
		nh = trust_hosts_of(who->peer_url, who->client_urls, &hosts);
	pki_names names = {.member_id = from,
			   .hosts = (const char *const *)hosts,
			   .n_hosts = nh,
			   .not_after =
			       (int64_t)time(NULL) + t->cfg.cert_expiry_s};
	if (who && ca && csr && tail && pki_sign(ca, csr, &names, &cert) == 0 &&
	    asprintf(&chain, "%s%s", cert, tail) > 0) {
		if (*tail)
			trust_rotation_signed(t, from);
		peer_answer(req, 200, chain, strlen(chain));
	} else {
		peer_answer(req, 403, "cannot renew", 12);
	}
	free(chain);
	free(tail);
	trust_hosts_free(hosts, nh);
	free(cert);
	free(csr);
	free(m);
	pki_ca_free(ca);
}

/* ---- the tick ---- */

static void on_upkeep(uv_timer_t *h)
{
	peer_trust *t = h->data;
	char addr[300];
	uint64_t leader = raftnode_leader(t->rn, addr, sizeof(addr));
	if (leader == 0)
		return;
	if (leader == t->self_id && t->mode == TRUST_CLUSTER_CA &&
	    !t->publishing)
		publish(t);
	uint64_t gen = store_meta_gen(t->st);
	if (gen != t->meta_gen) {
		t->meta_gen = gen;
		write_token_file(t);
	}
	follow_removals(t);
	drop_due(t);
	if (t->mode == TRUST_CLUSTER_CA)
		trust_rotation_tick(t, leader == t->self_id);
	if (renewal_due(t))
		trust_renew(t);
}

void trust_upkeep_start(peer_trust *t)
{
	uv_timer_init(t->loop, &t->tick);
	t->tick.data = t;
	t->tick_started = 1;
	uv_timer_start(&t->tick, on_upkeep, UPKEEP_MS, UPKEEP_MS);
}

/* ---- the token, for ovlctl ---- */

typedef struct token_job {
	peer_trust *t;
	peer_token_cb cb;
	void *ctx;
	char secret[PKI_SECRET_HEX];
} token_job;

static void on_rotated(void *ctx, store_result *res)
{
	token_job *j = ctx;
	char token[PKI_TOKEN_MAX];
	if (res->error == 0 &&
	    format_token(j->t, j->secret, token, sizeof(token)) == 0) {
		write_token_file(j->t);
		log_info("peer", "the join token was rotated");
		j->cb(j->ctx, 0, token);
	} else {
		j->cb(j->ctx, -1, res->cause ? res->cause : "not applied");
	}
	store_result_free(res);
	free(j);
}

/* The first host's token in the moment before its CA and secret are in
 * the store (a join then waits for them: "not ready yet", retried). */
static int unpublished_token(peer_trust *t, char *out, size_t len)
{
	char *have = trust_meta(t, TRUST_META_CA);
	char *cert = have ? NULL : file_in(t, "cluster-ca.crt");
	char *secret = have ? NULL : file_in(t, "cluster-secret");
	char digest[65];
	int rv = cert && secret && pki_cert_digest(cert, digest) == 0 &&
			 pki_token_format(digest, secret, out, len) == 0
		     ? 0
		     : -1;
	free(have);
	free(cert);
	free(secret);
	return rv;
}

void peer_trust_token(peer_trust *t, int rotate, peer_token_cb cb, void *ctx)
{
	char token[PKI_TOKEN_MAX];
	if (t->mode != TRUST_CLUSTER_CA) {
		cb(ctx, -1,
		   "this cluster takes no join tokens (static "
		   "cluster or the user's own PKI)");
		return;
	}
	if (!rotate) {
		char *secret = trust_meta(t, TRUST_META_SECRET);
		if ((secret &&
		     format_token(t, secret, token, sizeof(token)) == 0) ||
		    unpublished_token(t, token, sizeof(token)) == 0)
			cb(ctx, 0, token);
		else
			cb(ctx, -1,
			   "this host does not hold the join secret "
			   "(not a voter or standby, or the cluster "
			   "CA is not published yet)");
		free(secret);
		return;
	}
	token_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->t = t;
		j->cb = cb;
		j->ctx = ctx;
	}
	if (j == NULL || pki_secret_new(j->secret) != 0 || t->rn == NULL ||
	    trust_propose_meta(t, TRUST_META_SECRET, j->secret, on_rotated,
			       j) != 0) {
		free(j);
		cb(ctx, -1, "cannot propose a new secret");
	}
}
