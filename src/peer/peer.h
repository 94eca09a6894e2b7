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

#endif
