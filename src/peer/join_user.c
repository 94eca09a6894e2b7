/* join_user.c - a join with the user's own PKI (etcd's --peer-* flags):
 * no token and no signing, the certificate of the user's CA is the
 * credential. The joiner reads the members' peer URLs from --join's
 * GET /ovld/v1/members, then asks over the peer port (mutual TLS) to be
 * added; any member relays the request to the leader. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../httpc.h"
#include "../log.h"
#include "../url.h"
#include "trust_int.h"

#define USER_JOIN_TRIES 120 /* twice a second: a minute */
#define USER_JOIN_PEERS 16

typedef void (*admit_answer_fn)(void *actx, int status, const char *json);

/* ---- the joiner ---- */

/* The members' peer addresses (HOST:PORT) from target's member list. The
 * list only says where to knock: the peer port's mutual TLS decides. */
static int discover_peers(const char *target, char out[][300], int max)
{
	char url[320], *resp = NULL;
	int status = 0, n = 0;
	size_t len = 0;
	if (strstr(target, "://") == NULL)
		snprintf(url, sizeof(url), "http://%s", target);
	else
		snprintf(url, sizeof(url), "%s", target);
	int rv;
	if (strncmp(url, "https://", 8) == 0) {
		SSL_CTX *any = SSL_CTX_new(TLS_client_method());
		rv = any ? httpc_request_tls(any, url, "GET",
					     "/ovld/v1/members", NULL, NULL, 0,
					     3000, &status, &resp, &len)
			 : -1;
		SSL_CTX_free(any);
	} else {
		rv = httpc_request(url, "GET", "/ovld/v1/members", NULL, NULL,
				   0, 3000, &status, &resp, &len);
	}
	json_t *j = rv == 0 && status == 200 ? json_loads(resp, 0, NULL) : NULL;
	json_t *members = json_object_get(j, "members"), *m;
	size_t i;
	json_array_foreach(members, i, m)
	{
		json_t *urls = json_object_get(m, "peerURLs");
		const char *u = json_string_value(json_array_get(urls, 0));
		if (u && n < max &&
		    url_hostport(u, 2380, out[n], sizeof(out[n])) == 0)
			n++;
	}
	json_decref(j);
	free(resp);
	return n;
}

static char *user_join_body(const raftnode_identity *who)
{
	char id[17];
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)who->id);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", who->name,
			      "peer_url", who->peer_url, "client_urls",
			      who->client_urls);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* One try through the member at addr: 1 admitted, 0 try again later, -1
 * refused for good. */
static int ask(peer_trust *t, raftnode_identity *who, SSL_CTX *ctx,
	       const char *addr, const char *body, int loud)
{
	char self[300] = "", *resp = NULL;
	int status = 0;
	size_t len = 0;
	url_hostport(who->peer_url, 2380, self, sizeof(self));
	if (peer_call_sync(ctx, trust_authorize, t, who->id, self, addr,
			   PEER_KIND_JOIN, body, strlen(body), 5000, &status,
			   &resp, &len) != 0) {
		log_write(loud ? LOG_LVL_WARN : LOG_LVL_DEBUG, "peer",
			  "join through %s: %s", addr,
			  resp ? resp : "no answer");
		free(resp);
		return 0;
	}
	json_t *j = json_loads(resp, 0, NULL);
	const char *cid = NULL, *why = NULL;
	int rv = 0;
	if (status == 200 && json_unpack(j, "{s:s}", "cluster_id", &cid) == 0) {
		who->cluster_id = strtoull(cid, NULL, 16);
		rv = 1;
	} else if (status >= 400 && status < 500 && status != 404) {
		json_unpack(j, "{s:s}", "error", &why);
		log_error("peer", "join refused by %s: %s", addr,
			  why ? why : resp);
		rv = -1;
	}
	json_decref(j);
	free(resp);
	return rv;
}

int trust_join_user(peer_trust *t, raftnode_identity *who)
{
	SSL_CTX *ctx =
	    pki_peer_client_ctx(t->cert_pem, t->key_pem, t->trust_pem);
	char *body = user_join_body(who);
	char peers[USER_JOIN_PEERS][300];
	int rv = -1;
	if (ctx == NULL || body == NULL) {
		log_error("peer", "join: %s",
			  ctx ? "out of memory" : pki_strerror());
		goto out;
	}
	log_info("peer", "joining through %s as %016llx (own PKI)", t->cfg.join,
		 (unsigned long long)who->id);
	for (int tries = 0; tries < USER_JOIN_TRIES && rv == -1; tries++) {
		int n = discover_peers(t->cfg.join, peers, USER_JOIN_PEERS);
		int got = 0;
		if (n == 0 && tries % 10 == 0)
			log_warn("peer", "join: no member list from %s yet",
				 t->cfg.join);
		for (int i = 0; i < n && got == 0; i++)
			got = ask(t, who, ctx, peers[i], body, tries % 10 == 0);
		if (got < 0)
			goto out;
		if (got > 0)
			rv = 0;
		else
			usleep(500 * 1000);
	}
	if (rv != 0)
		log_error("peer",
			  "join through %s: no member admitted this host "
			  "within a minute (is its peer port reachable, and "
			  "is our certificate of its CA?)",
			  t->cfg.join);
out:
	SSL_CTX_free(ctx);
	free(body);
	return rv;
}

/* ---- the members ---- */

typedef struct user_admission {
	admit_answer_fn answer;
	void *actx;
	char id[17];
} user_admission;

static void answer_json(admit_answer_fn answer, void *actx, int status,
			json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	answer(actx, status, s ? s : "{\"error\":\"out of memory\"}");
	free(s);
	json_decref(j);
}

static void on_user_joined(void *ctx, int answer, const void *body, size_t len)
{
	user_admission *a = ctx;
	json_t *in = json_loadb(body, len, 0, NULL);
	const char *cid = "";
	json_unpack(in, "{s:s}", "cluster_id", &cid);
	if (answer == RAFTNODE_DONE) {
		log_info("peer", "admitted %s (own PKI)", a->id);
		answer_json(
		    a->answer, a->actx, 200,
		    json_pack("{s:s,s:s}", "cluster_id", cid, "id", a->id));
	} else {
		answer_json(
		    a->answer, a->actx, answer == RAFTNODE_CONFLICT ? 409 : 503,
		    json_pack("{s:s}", "error",
			      answer == RAFTNODE_CONFLICT
				  ? "join refused: the peer URL belongs to a "
				    "member"
				  : "join failed: the leader could not add "
				    "the host"));
	}
	json_decref(in);
	free(a);
}

static void admit_here(peer_trust *t, json_t *j, admit_answer_fn answer,
		       void *actx)
{
	const char *id = NULL, *name = NULL, *peer = NULL, *clients = NULL;
	user_admission *a = NULL;
	if (json_unpack(j, "{s:s,s:s,s:s,s:s}", "id", &id, "name", &name,
			"peer_url", &peer, "client_urls", &clients) != 0 ||
	    strtoull(id, NULL, 16) == 0) {
		answer_json(answer, actx, 400,
			    json_pack("{s:s}", "error",
				      "join refused: malformed request"));
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		answer_json(answer, actx, 500, NULL);
		return;
	}
	a->answer = answer;
	a->actx = actx;
	snprintf(a->id, sizeof(a->id), "%s", id);
	raftnode_member m = {.id = strtoull(id, NULL, 16)};
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.peer_url, sizeof(m.peer_url), "%s", peer);
	snprintf(m.client_urls, sizeof(m.client_urls), "%s", clients);
	int rc = raftnode_member_join(t->rn, &m, on_user_joined, a);
	if (rc != RAFTNODE_DONE) {
		free(a);
		answer_json(answer, actx, rc == RAFTNODE_NOT_LEADER ? 503 : 400,
			    json_pack("{s:s}", "error",
				      rc == RAFTNODE_NOT_LEADER
					  ? "no leader"
					  : "join refused: bad member"));
	}
}

void trust_admit_user(peer_trust *t, uint64_t from, const void *body,
		      size_t len, admit_answer_fn answer, void *actx)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *id = "";
	json_unpack(j, "{s:s}", "id", &id);
	/* a joiner speaks for itself; a member may relay for another */
	if (strtoull(id, NULL, 16) != from &&
	    !raftnode_is_member(t->rn, from)) {
		answer_json(answer, actx, 403,
			    json_pack("{s:s}", "error",
				      "join refused: the request is not for "
				      "the caller's own id"));
	} else if (!raftnode_is_member(t->rn, t->self_id)) {
		answer_json(answer, actx, 503,
			    json_pack("{s:s}", "error", "no leader"));
	} else {
		char addr[300];
		uint64_t leader = raftnode_leader(t->rn, addr, sizeof(addr));
		if (leader == t->self_id)
			admit_here(t, j, answer, actx);
		else
			trust_relay_join(t, body, len, answer, actx);
	}
	json_decref(j);
}
