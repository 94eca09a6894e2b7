/* policy.c - who may speak on the peer port: the check every TLS
 * connection passes, on both sides, after the handshake and the hello
 * (trust_authorize), and the members that left, which it refuses. */
#include <stdio.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "trust_int.h"

#define FRESH_CERT_S 300 /* a join in progress: not yet in every config */

void trust_note_removed(peer_trust *t, uint64_t id)
{
	t->removed[t->next_removed] = id;
	t->next_removed = (t->next_removed + 1) % TRUST_REMOVED_MAX;
	if (t->n_removed < TRUST_REMOVED_MAX)
		t->n_removed++;
}

/* For good once the record of the removal applied here (it survives a
 * restart and reaches hosts that join later); the list of members seen
 * leaving covers the moment before. */
int trust_was_removed(peer_trust *t, uint64_t id)
{
	if (t->rn && raftnode_was_removed(t->rn, id))
		return 1;
	for (unsigned i = 0; i < t->n_removed; i++)
		if (t->removed[i] == id)
			return 1;
	return 0;
}

/* Certificates are checked against the name that was configured (the
 * host dialed, or the address a dialer claims). */
static int names_host(X509 *cert, const char *host, char *why, size_t len)
{
	if (host == NULL || host[0] == '\0' ||
	    X509_check_host(cert, host, 0, 0, NULL) == 1 ||
	    X509_check_ip_asc(cert, host, 0) == 1)
		return 0;
	snprintf(why, len, "its certificate is not for %s", host);
	return -1;
}

int trust_authorize(void *ctx, X509 *cert, uint64_t claimed_id,
		    const char *host, char *why, size_t len)
{
	peer_trust *t = ctx;
	if (t->mode ==
	    TRUST_USER_PKI) { /* as etcd: any certificate of the CA */
		if (claimed_id && trust_was_removed(t, claimed_id)) {
			snprintf(why, len,
				 "%016llx was removed from the "
				 "cluster",
				 (unsigned long long)claimed_id);
			return -1;
		}
		return names_host(cert, host, why, len);
	}
	pki_cert_info info;
	if (pki_cert_info_x509(cert, &info) != 0 || info.member_id == 0) {
		snprintf(why, len, "not a member's certificate");
		return -1;
	}
	if (claimed_id && info.member_id != claimed_id) {
		snprintf(why, len, "certificate of %016llx claims %016llx",
			 (unsigned long long)info.member_id,
			 (unsigned long long)claimed_id);
		return -1;
	}
	if (trust_was_removed(t, info.member_id)) {
		snprintf(why, len, "%016llx was removed from the cluster",
			 (unsigned long long)info.member_id);
		return -1;
	}
	if (names_host(cert, host, why, len) != 0)
		return -1;
	/* Once this host knows a configuration, only members may speak; a
	 * certificate issued moments ago belongs to a join in progress. */
	int known = t->rn && raftnode_is_member(t->rn, t->self_id);
	if (known && !raftnode_is_member(t->rn, info.member_id) &&
	    info.not_before < (int64_t)time(NULL) - FRESH_CERT_S) {
		snprintf(why, len, "%016llx is not a member",
			 (unsigned long long)info.member_id);
		return -1;
	}
	return 0;
}
