/* admit.c - a member's side of a join: any member takes POST
 * /ovld/v1/join and relays it to the leader over the peer port; the
 * leader checks the token's proof (and that it was not used before),
 * signs the joiner's key with the cluster CA and adds the member. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "trust_int.h"

#define JOIN_WINDOW_S 300 /* how old (or new) a proof may be */

typedef void (*admit_answer_fn)(void *actx, int status, const char *json);

static void refuse(admit_answer_fn answer, void *actx, int status,
		   const char *why)
{
	json_t *j = json_pack("{s:s}", "error", why);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	answer(actx, status, s ? s : "{\"error\":\"out of memory\"}");
	free(s);
	json_decref(j);
}

typedef struct admission {
	peer_trust *t;
	admit_answer_fn answer;
	void *actx;
	char id[17];
	char *cert, *ca;
} admission;

static void admission_free(admission *a)
{
	free(a->cert);
	free(a->ca);
	free(a);
}

static void on_member_joined(void *ctx, int answer, const void *body,
			     size_t len)
{
	admission *a = ctx;
	if (answer != RAFTNODE_DONE) {
		refuse(a->answer, a->actx,
		       answer == RAFTNODE_CONFLICT ? 409 : 503,
		       answer == RAFTNODE_CONFLICT
			   ? "join refused: the peer URL belongs to a member"
			   : "join failed: the leader could not add the host");
		admission_free(a);
		return;
	}
	json_t *in = json_loadb(body, len, 0, NULL);
	const char *cid = "";
	json_unpack(in, "{s:s}", "cluster_id", &cid);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "cluster_id", cid, "id",
			      a->id, "cert", a->cert, "ca", a->ca);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s)
		a->answer(a->actx, 200, s);
	else
		refuse(a->answer, a->actx, 500, "out of memory");
	log_info("peer", "admitted %s", a->id);
	free(s);
	json_decref(j);
	json_decref(in);
	admission_free(a);
}

/* 0 when nonce is new (and now remembered). */
static int remember_nonce(peer_trust *t, const char *nonce)
{
	for (unsigned i = 0; i < TRUST_NONCES; i++)
		if (strcmp(t->nonces[i], nonce) == 0)
			return -1;
	snprintf(t->nonces[t->next_nonce], sizeof(t->nonces[0]), "%s", nonce);
	t->next_nonce = (t->next_nonce + 1) % TRUST_NONCES;
	return 0;
}

/* The proof, checked against the current secret; 0 or a refusal. */
static const char *check_proof(peer_trust *t, json_t *j, const char *secret)
{
	const char *id, *name, *peer, *clients, *digest, *csr, *nonce, *proof;
	json_int_t when;
	char *ca = trust_meta_ca_field(t, TRUST_META_CA, "cert"), ours[65] = "";
	int pinned_ours = ca && pki_cert_digest(ca, ours) == 0;
	free(ca);
	if (json_unpack(j, "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "id", &id,
			"name", &name, "peer_url", &peer, "client_urls",
			&clients, "ca_digest", &digest, "csr", &csr, "time",
			&when, "nonce", &nonce, "proof", &proof) != 0)
		return "join refused: malformed request";
	if (!pinned_ours || strcmp(digest, ours) != 0)
		return "join refused: the token pins another CA";
	long long skew = (long long)time(NULL) - (long long)when;
	if (skew > JOIN_WINDOW_S || skew < -JOIN_WINDOW_S)
		return "join refused: the request is too old (or the clocks "
		       "are apart)";
	char *msg = trust_join_message(id, name, peer, clients, digest, when,
				       nonce, csr);
	int ok = msg && pki_proof_check(secret, msg, strlen(msg), proof) == 0;
	free(msg);
	if (!ok)
		return "join refused: the token is not valid (rotated, or "
		       "from another cluster)";
	if (remember_nonce(t, nonce) != 0)
		return "join refused: this request was already used";
	return NULL;
}

static int sign_joiner(peer_trust *t, json_t *j, admission *a)
{
	const char *csr = NULL, *peer = NULL, *clients = NULL;
	json_unpack(j, "{s:s,s:s,s:s}", "csr", &csr, "peer_url", &peer,
		    "client_urls", &clients);
	pki_ca *ca = trust_signing_ca(t);
	char **hosts = NULL;
	size_t n = trust_hosts_of(peer, clients, &hosts);
	pki_names names = {.member_id = strtoull(a->id, NULL, 16),
			   .hosts = (const char *const *)hosts,
			   .n_hosts = n,
			   .not_after =
			       (int64_t)time(NULL) + t->cfg.cert_expiry_s};
	char *tail = trust_chain_tail(t);
	int rv = ca && pki_ca_can_sign(ca) && tail &&
			 pki_sign(ca, csr, &names, &a->cert) == 0 &&
			 (a->ca = trust_bundle(t)) != NULL
		     ? 0
		     : -1;
	if (rv == 0 && *tail) { /* leaf, then the cross-signed next CA */
		char *chain = NULL;
		if (asprintf(&chain, "%s%s", a->cert, tail) > 0) {
			free(a->cert);
			a->cert = chain;
		}
	}
	free(tail);
	trust_hosts_free(hosts, n);
	pki_ca_free(ca);
	return rv;
}

void trust_admit_on_leader(peer_trust *t, const char *body, size_t len,
			   admit_answer_fn answer, void *actx)
{
	if (t->mode != TRUST_CLUSTER_CA) {
		refuse(answer, actx, 404, "this cluster takes no join tokens");
		return;
	}
	char *secret = trust_meta(t, TRUST_META_SECRET);
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *why = secret ? NULL : "the cluster CA is not ready yet";
	int status = 503;
	if (why == NULL && (why = check_proof(t, j, secret)) != NULL)
		status = strstr(why, "already used") ? 409
			 : strstr(why, "malformed")  ? 400
						     : 403;
	admission *a = why ? NULL : calloc(1, sizeof(*a));
	if (why == NULL && a == NULL)
		why = "out of memory", status = 500;
	const char *id = NULL, *name = "", *peer = "", *clients = "";
	json_unpack(j, "{s:s,s:s,s:s,s:s}", "id", &id, "name", &name,
		    "peer_url", &peer, "client_urls", &clients);
	if (a) {
		a->t = t;
		a->answer = answer;
		a->actx = actx;
		snprintf(a->id, sizeof(a->id), "%s", id);
		if (strtoull(a->id, NULL, 16) == 0 ||
		    sign_joiner(t, j, a) != 0) {
			why = "join refused: cannot sign the request's key";
			status = 400;
		}
	}
	if (why == NULL) {
		raftnode_member m = {.id = strtoull(a->id, NULL, 16)};
		snprintf(m.name, sizeof(m.name), "%s", name);
		snprintf(m.peer_url, sizeof(m.peer_url), "%s", peer);
		snprintf(m.client_urls, sizeof(m.client_urls), "%s", clients);
		int rc = raftnode_member_join(t->rn, &m, on_member_joined, a);
		if (rc != RAFTNODE_DONE) {
			why = rc == RAFTNODE_NOT_LEADER ? "no leader"
							: "bad member";
			status = rc == RAFTNODE_NOT_LEADER ? 503 : 400;
		}
	}
	if (why) {
		if (status == 403)
			log_warn("peer", "%s", why);
		refuse(answer, actx, status, why);
		if (a)
			admission_free(a);
	}
	json_decref(j);
	free(secret);
}

/* ---- relaying from any member ---- */

typedef struct relay {
	admit_answer_fn answer;
	void *actx;
} relay;

static void on_relayed(void *ctx, int status, const void *body, size_t len)
{
	relay *r = ctx;
	if (status < 0) {
		refuse(r->answer, r->actx, 503, "the leader is unreachable");
	} else {
		char *json = malloc(len + 1); /* body is not NUL-terminated */
		if (json) {
			memcpy(json, body, len);
			json[len] = '\0';
		}
		r->answer(r->actx, status, json ? json : "{}");
		free(json);
	}
	free(r);
}

void trust_relay_join(peer_trust *t, const void *body, size_t len,
		      admit_answer_fn answer, void *actx)
{
	char addr[300];
	uint64_t leader =
	    t->rn ? raftnode_leader(t->rn, addr, sizeof(addr)) : 0;
	relay *r = leader ? malloc(sizeof(*r)) : NULL;
	if (r == NULL) {
		refuse(answer, actx, leader ? 500 : 503,
		       leader ? "out of memory" : "no leader");
		return;
	}
	r->answer = answer;
	r->actx = actx;
	if (peer_call(t->peer, leader, addr, PEER_KIND_JOIN, body, len, 5000,
		      on_relayed, r) != 0) {
		free(r);
		refuse(answer, actx, 503, "the leader is unreachable");
	}
}

void peer_trust_admit(void *ctx, const char *body, size_t len,
		      admit_answer_fn answer, void *actx)
{
	peer_trust *t = ctx;
	if (t->mode != TRUST_CLUSTER_CA) {
		refuse(answer, actx, 404,
		       "this cluster takes no join tokens (its hosts join "
		       "with certificates of its own PKI)");
		return;
	}
	uint64_t leader = t->rn ? raftnode_leader(t->rn, NULL, 0) : 0;
	if (leader == 0)
		refuse(answer, actx, 503, "no leader");
	else if (leader == t->self_id)
		trust_admit_on_leader(t, body, len, answer, actx);
	else
		trust_relay_join(t, body, len, answer, actx);
}
