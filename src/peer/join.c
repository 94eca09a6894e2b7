/* join.c - the joining host's side of a join (--join, --token): it pins
 * the cluster CA by the token's digest, proves the token's secret without
 * sending it, and gets a node certificate for a key it made itself. The
 * request goes to a member's client API (https first, then http: the
 * proof and the pinned CA keep it safe on either); a TLS server whose
 * chain fails the pin ends the join at once, with nothing sent to it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../httpc.h"
#include "../log.h"
#include "../url.h"
#include "trust_int.h"

#define JOIN_RETRY_MS 500
#define JOIN_TIMEOUT_S 60

char *trust_join_message(const char *id, const char *name, const char *peer_url,
			 const char *client_urls, const char *digest,
			 long long time, const char *nonce, const char *csr)
{
	char *msg = NULL;
	if (asprintf(&msg, "ovld-join-1\n%s\n%s\n%s\n%s\n%s\n%lld\n%s\n%s", id,
		     name, peer_url, client_urls, digest, time, nonce, csr) < 0)
		return NULL;
	return msg;
}

static char *join_body(const raftnode_identity *who, const char *csr,
		       const char *digest, const char *secret)
{
	char id[17], nonce[PKI_SECRET_HEX], proof[65];
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)who->id);
	long long now = (long long)time(NULL);
	if (pki_secret_new(nonce) != 0)
		return NULL;
	char *msg =
	    trust_join_message(id, who->name, who->peer_url, who->client_urls,
			       digest, now, nonce, csr);
	if (msg == NULL || pki_proof(secret, msg, strlen(msg), proof) != 0) {
		free(msg);
		return NULL;
	}
	free(msg);
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "id", id, "name",
		      who->name, "peer_url", who->peer_url, "client_urls",
		      who->client_urls, "ca_digest", digest, "csr", csr, "time",
		      (json_int_t)now, "nonce", nonce, "proof", proof);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* The targets to try: the URL as given, or https then http. */
static int join_targets(const char *join, char out[2][320])
{
	if (strstr(join, "://")) {
		snprintf(out[0], 320, "%s", join);
		return 1;
	}
	char hp[300];
	if (url_hostport(join, 2379, hp, sizeof(hp)) != 0)
		return 0;
	snprintf(out[0], 320, "https://%s", hp);
	snprintf(out[1], 320, "http://%s", hp);
	return 2;
}

/* The answer's credentials, checked against the pin and our key. */
static int take_answer(peer_trust *t, raftnode_identity *who, const char *resp,
		       const char *digest, char *key)
{
	json_t *j = json_loads(resp, 0, NULL);
	const char *cid = NULL, *cert = NULL, *ca = NULL;
	char got[65] = "";
	int rv = -1;
	if (!j || json_unpack(j, "{s:s,s:s,s:s}", "cluster_id", &cid, "cert",
			      &cert, "ca", &ca) != 0) {
		log_error("peer", "join: the member's answer is malformed");
	} else if (pki_cert_digest(ca, got) != 0 || strcmp(got, digest) != 0) {
		log_error("peer", "join: the member's CA is not the one the "
				  "token pins (a man in the middle?)");
	} else if (pki_cert_check(cert, key, NULL, ca) != 0) {
		log_error("peer", "join: the certificate we got: %s",
			  pki_strerror());
	} else {
		who->cluster_id = strtoull(cid, NULL, 16);
		rv = trust_install(t, strdup(cert), key, strdup(ca));
		key = NULL;
	}
	free(key);
	json_decref(j);
	return rv;
}

static int post(SSL_CTX *pinned, const char *target, const char *body,
		int *status, char **resp)
{
	size_t len = 0;
	if (strncmp(target, "https://", 8) == 0)
		return httpc_request_tls(
		    pinned, target, "POST", "/ovld/v1/join", "application/json",
		    body, strlen(body), 5000, status, resp, &len);
	return httpc_request(target, "POST", "/ovld/v1/join",
			     "application/json", body, strlen(body), 5000,
			     status, resp, &len);
}

static const char *refusal_of(const char *resp)
{
	json_t *j = json_loads(resp ? resp : "", 0, NULL);
	static __thread char msg[512];
	const char *e = NULL;
	json_unpack(j, "{s:s}", "error", &e);
	snprintf(msg, sizeof(msg), "%s", e ? e : resp ? resp : "");
	json_decref(j);
	return msg;
}

int trust_join(peer_trust *t, raftnode_identity *who)
{
	char digest[65], secret[PKI_SECRET_HEX], targets[2][320];
	char *key = NULL, *csr = NULL, *body = NULL;
	int n = join_targets(t->cfg.join, targets), rv = -1;
	SSL_CTX *pinned = NULL;
	if (n == 0) {
		log_error("peer", "--join %s: need HOST[:PORT] or a URL",
			  t->cfg.join);
		return -1;
	}
	if (pki_token_parse(t->cfg.token, digest, secret) != 0 ||
	    (pinned = pki_pinned_client_ctx(digest)) == NULL ||
	    pki_key_new(&key) != 0 || pki_csr_new(key, &csr) != 0) {
		log_error("peer", "join: %s", pki_strerror());
		goto out;
	}
	log_info("peer", "joining through %s as %016llx", t->cfg.join,
		 (unsigned long long)who->id);
	for (int tries = 0; tries < JOIN_TIMEOUT_S * 1000 / JOIN_RETRY_MS;
	     tries++) {
		for (int i = 0; i < n; i++) {
			int status = 0;
			char *resp = NULL;
			free(body); /* a fresh nonce and time each try */
			body = join_body(who, csr, digest, secret);
			if (body == NULL || post(pinned, targets[i], body,
						 &status, &resp) != 0) {
				if (pki_pinned_refused(pinned))
					goto mismatch;
				if (pki_pinned_cert_requested(pinned)) {
					log_error("peer",
						  "join: %s requires "
						  "client certificates, which "
						  "a joiner has none of: join "
						  "through a member without "
						  "--client-cert-auth",
						  targets[i]);
					goto out;
				}
				continue;
			}
			if (status == 200) {
				rv = take_answer(t, who, resp, digest, key);
				key = NULL;
				free(resp);
				goto out;
			}
			if (status >= 400 && status < 500) {
				log_error("peer", "join refused by %s: %s",
					  targets[i], refusal_of(resp));
				free(resp);
				goto out;
			}
			free(resp);
			break; /* it answered: no leader yet, try again */
		}
		usleep(JOIN_RETRY_MS * 1000);
	}
	log_error("peer", "join through %s: no answer within %d s (%s)",
		  t->cfg.join, JOIN_TIMEOUT_S, httpc_strerror());
	goto out;
mismatch: /* no retry, and no plain HTTP to a host that failed the pin */
	log_error("peer",
		  "join refused: %s presents a certificate of another CA "
		  "than the one the token pins (a host of another cluster, "
		  "or a man in the middle); nothing was sent to it",
		  t->cfg.join);
out:
	SSL_CTX_free(pinned);
	free(key);
	free(csr);
	free(body);
	return rv;
}
