/* trust_int.h - what the files of peer_trust share: the state, the files
 * in <data_dir>/pki, and the meta keys in the replicated store. */
#ifndef OVLD_PEER_TRUST_INT_H
#define OVLD_PEER_TRUST_INT_H

#include "../pki/pki.h"
#include "peer.h"

/* The replicated store's meta: voters and standbys get it, spares not.
 * A CA is one JSON value {"cert","key"} (a rotation's next one also
 * carries "cross", its certificate signed by the current CA's key), so a
 * certificate never goes without its key. */
#define TRUST_META_CA "pki/ca"
#define TRUST_META_NEXT "pki/next"
#define TRUST_META_SECRET "pki/secret"

enum trust_mode {
	TRUST_CLUSTER_CA = 1, /* the cluster's own CA, join tokens */
	TRUST_STATIC,	      /* a CA derived from a shared secret */
	TRUST_USER_PKI	      /* etcd's --peer-* files */
};

#define TRUST_REMOVED_MAX 64
#define TRUST_NONCES 256

struct peer_trust {
	uv_loop_t *loop;
	store *st;
	peer *peer;
	raftnode *rn;
	peer_trust_config cfg;
	int mode;
	uint64_t self_id;
	char dir[4096]; /* <data_dir>/pki */
	char cert_file[4200], key_file[4200], ca_file[4200];
	char *cert_pem, *key_pem, *trust_pem; /* this host's */
	int64_t cert_not_before, cert_not_after;
	/* members seen leaving, the latest TRUST_REMOVED_MAX (a ring):
	 * refused in the moment before the replicated record of their
	 * removal (raftnode_was_removed) applies here */
	uint64_t removed[TRUST_REMOVED_MAX];
	unsigned n_removed, next_removed;
	/* their open connections, closed a moment later (an answer to the
	 * member's last request, e.g. its own removal, may still be due) */
	struct {
		uint64_t id, at_ms;
	} drops[TRUST_REMOVED_MAX];
	unsigned n_drops;
	uint64_t *members; /* the last configuration seen */
	size_t n_members;
	/* join proofs already used (the leader's replay guard) */
	char nonces[TRUST_NONCES][33];
	unsigned next_nonce;
	uv_timer_t tick;
	int publishing, renewing, tick_started;
	uint64_t meta_gen;
	/* a CA rotation, on the leader: who holds a certificate of the next
	 * CA, and since when the rotation runs */
	uint64_t rotated[TRUST_REMOVED_MAX];
	unsigned n_rotated;
	int64_t rotation_since;
	int finalizing;
	void (*renewed_cb)(void *ctx);
	void *renewed_ctx;
	void (*close_cb)(void *ctx);
	void *close_ctx;
};

/* trust.c */
int trust_write_file(const char *path, const char *text, int mode);
char *trust_read_file(const char *path);
/* Installs cert, key and trust as this host's, writes them to the files
 * and hands fresh contexts to the peer. Takes ownership of the strings. */
int trust_install(peer_trust *t, char *cert_pem, char *key_pem,
		  char *trust_pem);
/* The meta value of key, malloc'd and NUL-terminated; NULL if none. */
char *trust_meta(peer_trust *t, const char *key);
/* The CA in meta key (TRUST_META_CA or _NEXT), able to sign; NULL when
 * there is none. */
pki_ca *trust_meta_ca(peer_trust *t, const char *key);
/* One field ("cert", "key", "cross") of that CA's value, malloc'd. */
char *trust_meta_ca_field(peer_trust *t, const char *key, const char *field);
/* The CA that signs now: a rotation's next one while it runs. */
pki_ca *trust_signing_ca(peer_trust *t);
/* What members trust: the CA, and during a rotation the next one too.
 * malloc'd PEM, NULL before the CA is published. */
char *trust_bundle(peer_trust *t);
/* The certificates a host's chain carries after its leaf: during a
 * rotation, the next CA cross-signed by the current one. malloc'd. */
char *trust_chain_tail(peer_trust *t);
/* The names a member's certificate answers for: the hosts of its peer
 * and client URLs, malloc'd into hosts (free each, then the array). */
size_t trust_hosts_of(const char *peer_url, const char *client_urls,
		      char ***hosts);
void trust_hosts_free(char **hosts, size_t n);

/* join.c: the joining host's side */
int trust_join(peer_trust *t, raftnode_identity *who);
/* join_user.c: the same with the user's own PKI (no token), and the
 * members' side of it (a request that came in over the peer port) */
int trust_join_user(peer_trust *t, raftnode_identity *who);
void trust_admit_user(peer_trust *t, uint64_t from, const void *body,
		      size_t len,
		      void (*answer)(void *actx, int status, const char *json),
		      void *actx);
/* policy.c: a member seen leaving (the latest TRUST_REMOVED_MAX are
 * kept), and whether id was removed: the replicated record, or seen */
void trust_note_removed(peer_trust *t, uint64_t id);
int trust_was_removed(peer_trust *t, uint64_t id);
/* policy.c: the peer port's policy (a peer_authorize_cb) */
int trust_authorize(void *ctx, X509 *cert, uint64_t claimed_id,
		    const char *host, char *why, size_t len);

/* admit.c: the leader's side; answers (HTTP status, JSON). relay_join
 * hands a join to the leader over the peer port. */
void trust_relay_join(peer_trust *t, const void *body, size_t len,
		      void (*answer)(void *actx, int status, const char *json),
		      void *actx);
void trust_admit_on_leader(peer_trust *t, const char *body, size_t len,
			   void (*answer)(void *actx, int status,
					  const char *json),
			   void *actx);
/* The message a join proof covers, malloc'd. */
char *trust_join_message(const char *id, const char *name, const char *peer_url,
			 const char *client_urls, const char *digest,
			 long long time, const char *nonce, const char *csr);

/* upkeep.c: publishing, removals, renewal */
void trust_upkeep_start(peer_trust *t);
int trust_propose_meta(peer_trust *t, const char *key, const char *value,
		       raftnode_done_cb cb, void *ctx);
/* Starts a renewal now (a rotation wants a certificate of the next CA). */
void trust_renew(peer_trust *t);

/* rotate.c: the CA rotation's steps, on every host's upkeep tick */
void trust_rotation_tick(peer_trust *t, int leader);
void trust_rotation_signed(peer_trust *t, uint64_t id);
void trust_renew_serve(peer_trust *t, peer_request *req, uint64_t from,
		       const char *body, size_t len);

#endif
