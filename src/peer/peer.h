/* peer.h - host-to-host traffic: one mutually authenticated TLS port (the
 * peer URL, 2380) that carries Raft's streams and typed requests between
 * members.
 *
 * Every connection is TLS with certificates on both sides. After the
 * handshake the dialer sends a hello (channel, its member id, its address);
 * the listener asks the caller's policy whether that certificate may claim
 * that id, and only then hands the connection on:
 *   - PEER_CHANNEL_RAFT: a byte stream for libraft (peer_raft_transport);
 *   - PEER_CHANNEL_CALL: framed requests and answers (peer_call and
 *     peer_serve), for forwarded writes, barriers, membership changes and,
 *     later, other kinds of traffic between hosts.
 * Everything runs on the loop thread. Addresses are "HOST:PORT", where HOST
 * is an IPv4 literal, [an IPv6 literal] or a name resolved at each dial
 * (each address it resolves to is tried in turn). The process must ignore
 * SIGPIPE (main does): libraft writes to a socketpair whose other end may
 * be gone. */
#ifndef OVLD_PEER_H
#define OVLD_PEER_H

#include <openssl/ssl.h>
#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../raft/raftnode.h"
#include "../store/store.h"

typedef struct peer peer;

/* The policy: may the verified certificate cert (its chain already checked
 * against the trust the contexts hold) speak for member claimed_id? On the
 * dialing side claimed_id is the member we meant to reach (0: unknown) and
 * host the name or address we dialed. Return 0 to accept, or -1 with a
 * reason in why. */
typedef int (*peer_authorize_cb)(void *ctx, X509 *cert, uint64_t claimed_id,
				 const char *host, char *why, size_t why_len);

typedef struct peer_config {
	const char *listen_addr; /* HOST:PORT to bind; NULL: dial only */
	SSL_CTX *server_ctx;	 /* the listener's; peer takes a reference */
	SSL_CTX *client_ctx;	 /* the dialer's; peer takes a reference */
	peer_authorize_cb authorize;
	void *authorize_ctx;
	unsigned handshake_timeout_ms; /* 0 = 5000; covers TCP, TLS, hello */
} peer_config;

/* -1 without authorize or memory. server_ctx may be NULL for a peer that
 * only dials (peer_call_sync's). */
int peer_init(peer **out, uv_loop_t *loop, const peer_config *cfg);
/* This host's member id and advertised address, sent in every hello. */
void peer_set_self(peer *p, uint64_t id, const char *addr);
/* Binds and listens. 0, or -1 with a log line naming the address. */
int peer_listen(peer *p);
/* New contexts for new connections (renewal, CA rotation); connections
 * already open keep theirs. Takes references. */
void peer_set_tls(peer *p, SSL_CTX *server_ctx, SSL_CTX *client_ctx);
/* Closes every connection of member id (it left the cluster). */
void peer_drop(peer *p, uint64_t id);
/* Closes the listener and all connections, fails the calls waiting for an
 * answer (status -1, "closing") and frees p; cb (may be NULL) runs once
 * all are closed. Close raft (raft_close, then raft_uv_close) first: the
 * transport lives in p. */
void peer_close(peer *p, void (*cb)(void *ctx), void *ctx);

/* libraft's transport over the peer port: init t for raft_uv_init. The
 * stream raft gets is one end of a socketpair whose other end peer pumps
 * through TLS, so libraft never sees TLS; raft's own preamble is replaced
 * by the authenticated hello. One transport per peer (a second call
 * re-targets the same state). t->init sets what peer_set_self sets;
 * t->listen only starts handing RAFT connections to raft (until then they
 * are refused): binding is peer_listen's, since the port also serves
 * calls. t->close cancels connects in flight (their cb gets
 * RAFT_CANCELED); failed connects get RAFT_NOCONNECTION and a log line. */
int peer_raft_transport(peer *p, struct raft_uv_transport *t);

/* ---- requests between hosts ---------------------------------------------
 * kind says what a request is; its body's format belongs to whoever serves
 * that kind. The answer is a status (the server's; peer adds none of its
 * own) and a body. */
typedef void (*peer_answer_cb)(void *ctx, int status, const void *body,
			       size_t len);
/* Sends to the member at addr (id: who must answer there, 0 = whoever the
 * certificate says). Exactly one cb: status -1 with body a NUL-terminated
 * reason when no answer came within timeout_ms (0 = 5000) or the
 * connection failed or was lost. Requests to one address (and id) share
 * one connection and may be answered out of order; after a loss the next
 * call dials again. Returns 0, or -1 without any cb when addr is not
 * HOST:PORT, the body is over 64 MiB, memory ran out or p is closing. */
int peer_call(peer *p, uint64_t id, const char *addr, int kind,
	      const void *body, size_t len, unsigned timeout_ms,
	      peer_answer_cb cb, void *ctx);

typedef struct peer_request peer_request;
/* A request that came in from member from_id. The server answers with
 * peer_answer exactly once, now or later; body is valid only during the
 * call. */
typedef void (*peer_serve_cb)(void *ctx, peer_request *req, uint64_t from_id,
			      int kind, const void *body, size_t len);
void peer_serve(peer *p, peer_serve_cb cb, void *ctx);
/* Safe after the connection is gone (the answer is then dropped). */
void peer_answer(peer_request *req, int status, const void *body, size_t len);

/* Blocking call for start-up, before the loop runs (a join through a
 * member's peer port with the user's own PKI): its own loop and
 * connection. Returns 0 with *status and a malloc'd *resp (NUL-terminated
 * past *resp_len), or -1 with *resp a malloc'd reason (also when the
 * server itself answered status -1). timeout_ms covers everything. */
int peer_call_sync(SSL_CTX *client_ctx, peer_authorize_cb authorize,
		   void *authorize_ctx, uint64_t self_id, const char *self_addr,
		   const char *addr, int kind, const void *body, size_t len,
		   unsigned timeout_ms, int *status, char **resp,
		   size_t *resp_len);

/* The kinds of requests between hosts. */
enum peer_kind {
	PEER_KIND_RAFT = 0x100, /* + a raftnode_kind: served by raft */
	PEER_KIND_JOIN = 0x200, /* a join, relayed to the leader to admit */
	PEER_KIND_RENEW,	/* a member's CSR for a fresh certificate */
};

/* ---- the host's credentials, and who may join ---------------------------
 * peer_trust holds this host's node certificate and the cluster's trust:
 * the cluster CA (created by the first host, kept in the replicated
 * store's meta so voters and standbys can sign), the join token's secret,
 * or a static cluster's shared secret, or the user's own PKI (etcd's
 * --peer-* flags). It decides who may speak on the peer port, admits
 * joining hosts, renews certificates and issues client certificates. */
typedef struct peer_trust peer_trust;

typedef struct peer_trust_config {
	const char *data_dir;	 /* credentials live in <data_dir>/pki */
	const char *listen_addr; /* the peer port: HOST:PORT */
	/* --token: a join token (with --join), or a static cluster's
	 * shared secret (with --initial-cluster) */
	const char *token;
	const char *join; /* --join: a member's client address or URL */
	int static_cluster;
	/* etcd's --peer-* flags: the user's PKI instead of the cluster CA */
	const char *peer_cert_file, *peer_key_file, *peer_trusted_ca_file;
	unsigned cert_expiry_s; /* node certificates' lifetime; 0 = 90 days */
} peer_trust_config;

/* Checks the configuration (a static cluster with neither a secret nor
 * the user's PKI would leave the peer port open: refused with one line)
 * and makes the host's peer, with this trust as its policy. */
int peer_trust_init(peer_trust **out, uv_loop_t *loop, store *st,
		    const peer_trust_config *cfg);
peer *peer_trust_peer(peer_trust *t);
/* The raftnode_trust_fn: loads or makes this host's credentials once its
 * member id is known, and for a joining host performs the join. */
int peer_trust_enter(void *trust, raftnode_identity *who);
/* Once Raft runs: serve peer requests, publish a new cluster's CA, follow
 * removals (peer_drop), renew the node certificate. */
void peer_trust_attach(peer_trust *t, raftnode *rn);
/* Closes the peer, then frees; cb runs once all is closed. */
void peer_trust_close(peer_trust *t, void (*cb)(void *ctx), void *ctx);

/* The join token (needs the cluster CA); rotating makes a new secret, and
 * the old one stops working once the change is applied. cb gets 0 and the
 * token, or -1 and why. */
typedef void (*peer_token_cb)(void *ctx, int status, const char *text);
void peer_trust_token(peer_trust *t, int rotate, peer_token_cb cb, void *ctx);
/* Replaces the cluster CA with no downtime (rotate.c says how); cb gets 0
 * once the rotation has started. */
void peer_trust_rotate_ca(peer_trust *t, peer_token_cb cb, void *ctx);
/* cb runs after this host's certificate files were renewed. */
void peer_trust_on_renewed(peer_trust *t, void (*cb)(void *ctx), void *ctx);
/* A client certificate for a tool or a dockerd (CN = name, the v2 user),
 * signed by the cluster CA: malloc'd PEM texts. */
int peer_trust_client_cert(peer_trust *t, const char *name, char **key_pem,
			   char **cert_pem, char **ca_pem);
/* The node certificate and key files (for the client API's TLS). */
const char *peer_trust_cert_file(peer_trust *t);
const char *peer_trust_key_file(peer_trust *t);
/* The cluster CA certificates this host trusts (two during a rotation);
 * NULL with the user's own PKI. */
const char *peer_trust_ca_file(peer_trust *t);
/* POST /ovld/v1/join from the client API: answered once with an HTTP
 * status and JSON (api_config.join). */
void peer_trust_admit(void *t, const char *body, size_t len,
		      void (*answer)(void *actx, int status, const char *json),
		      void *actx);

/* raftnode's link over peer_call (raftnode_config.link). */
void peer_raft_link(peer *p, raftnode_link *out);

#endif
