/* internal.h - what the files of src/peer share: the peer object (peer.c),
 * one TLS connection (conn.c), the hello and its answer (hello.c), dialing
 * (dial.c), the listener's side of the hello (accept.c), the byte pump
 * between a connection and libraft's socketpair (pump.c), libraft's
 * transport (transport.c), the CALL channel's frames (frame.c), its
 * calling side (call.c) and its serving side (serve.c). */
#ifndef OVLD_PEER_INTERNAL_H
#define OVLD_PEER_INTERNAL_H

#include "buf.h"
#include "peer.h"

#include <stddef.h>
#include <sys/types.h>

enum { PEER_CHANNEL_RAFT = 1, PEER_CHANNEL_CALL = 2 };

#define PEER_ADDR_MAX 300	   /* longest "HOST:PORT" a hello carries */
#define PEER_WHY_MAX 512	   /* longest reason kept or sent */
#define PEER_HIGH_WATER (4u << 20) /* stop the source above this */
#define PEER_LOW_WATER (1u << 20)  /* and resume it below this */

/* ---- intrusive lists ---------------------------------------------------- */
typedef struct peer_link {
	struct peer_link *prev, *next;
} peer_link;

static inline void peer_link_init(peer_link *l)
{
	l->prev = l->next = l;
}

static inline int peer_link_empty(const peer_link *l)
{
	return l->next == l;
}

static inline void peer_link_add(peer_link *head, peer_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static inline void peer_link_del(peer_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	peer_link_init(l);
}

#define peer_of(ptr, type, member)                                             \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- the peer object (peer.c) ------------------------------------------- */
struct peer_raft;

struct peer {
	uv_loop_t *loop;
	SSL_CTX *server_ctx;
	SSL_CTX *client_ctx;
	peer_authorize_cb authorize;
	void *authorize_ctx;
	unsigned handshake_ms;
	char *listen_addr;
	uint64_t self_id;
	char *self_addr;
	uv_tcp_t listener;
	int listening;
	peer_link conns;       /* every peer_conn */
	peer_link dials;       /* every peer_dial */
	peer_link unreachable; /* dial.c's last failure per address */
	peer_link channels;    /* call.c's connections, one per address */
	peer_link calls;       /* every call without an answer yet */
	uv_timer_t sweep;      /* call timeouts */
	uint64_t next_call;
	peer_serve_cb serve;
	void *serve_ctx;
	struct peer_raft *raft;
	int pending; /* handles and requests not yet closed */
	int closing;
	void (*close_cb)(void *ctx);
	void *close_ctx;
	char cipher[65536]; /* what one uv read brings */
	char plain[65536];  /* what one SSL_read gives */
};

/* Counts a handle or request that peer_close must wait for. */
void peer_hold(peer *p);
/* Its end; the last one after peer_close frees p, so touch p no more. */
void peer_release(peer *p);

/* ---- "HOST:PORT" (hello.c) ---------------------------------------------- */
/* Splits addr; HOST may be [v6]. 0, or -1 when malformed. */
int peer_addr_split(const char *addr, char *host, size_t host_len, char *port,
		    size_t port_len);

/* ---- one TLS connection (conn.c) ---------------------------------------- */
typedef struct peer_conn peer_conn;

/* What a connection tells its owner. No event comes after closed, and the
 * connection is freed right after it; closed always comes from the loop,
 * never from inside a peer_conn_* call. */
typedef struct peer_conn_events {
	void (*opened)(peer_conn *c); /* the TLS handshake is done */
	void (*data)(peer_conn *c, const char *bytes, size_t len);
	void (*drained)(peer_conn *c); /* queue fell below PEER_LOW_WATER */
	void (*closed)(peer_conn *c, const char *why);
} peer_conn_events;

struct peer_conn {
	peer *p;
	peer_link link; /* in p->conns */
	uv_tcp_t tcp;
	uv_timer_t deadline; /* handshake and hello, then a graceful close */
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	SSL *ssl;
	BIO *in;  /* ciphertext from the network */
	BIO *out; /* ciphertext for the network */
	const peer_conn_events *ev;
	void *owner;
	abuf input;	 /* the owner's unparsed bytes */
	uint64_t member; /* the authorized member id, once established */
	size_t queued;	 /* bytes given to uv_write and not written yet */
	int handles;	 /* open uv handles */
	unsigned open : 1, closing : 1, failed : 1, over : 1, established : 1;
	char label[PEER_ADDR_MAX + 1]; /* who is at the other end, for logs */
	char why[PEER_WHY_MAX];
};

peer_conn *peer_conn_accept(peer *p, uv_stream_t *listener,
			    const peer_conn_events *ev, void *owner);
/* sni: the name dialed, or NULL for an address literal. */
peer_conn *peer_conn_dial(peer *p, const struct sockaddr *sa, const char *sni,
			  const char *label, const peer_conn_events *ev,
			  void *owner);
void peer_conn_set_owner(peer_conn *c, const peer_conn_events *ev, void *owner);
/* Both checks passed: no deadline any more; drop(member) closes it. */
void peer_conn_established(peer_conn *c, uint64_t member);
int peer_conn_write(peer_conn *c, const uv_buf_t *bufs, unsigned n);
size_t peer_conn_queued(const peer_conn *c);
void peer_conn_pause(peer_conn *c);
void peer_conn_resume(peer_conn *c);
/* The verified certificate of the other side (NULL before the handshake). */
X509 *peer_conn_cert(const peer_conn *c);
/* Sends what is queued and a close_notify, then closes. */
void peer_conn_finish(peer_conn *c, const char *why);
/* Closes now, dropping what is queued. */
void peer_conn_abort(peer_conn *c, const char *why);

/* ---- the hello (hello.c) ------------------------------------------------- */
typedef struct peer_hello {
	int channel;
	uint64_t id;
	char addr[PEER_ADDR_MAX + 1];
} peer_hello;

/* Bytes written to out (room for PEER_HELLO_MAX), or 0 if addr is too long. */
#define PEER_HELLO_MAX (16 + PEER_ADDR_MAX)
size_t peer_hello_encode(unsigned char *out, int channel, uint64_t id,
			 const char *addr);
/* 0: incomplete; > 0: bytes used, *h set; -1: not a hello. */
ssize_t peer_hello_decode(const void *bytes, size_t len, peer_hello *h);
#define PEER_REPLY_MAX (3 + PEER_WHY_MAX)
/* The listener's answer: unavailable is no verdict on the dialer (the
 * channel has no taker yet, as while raft starts), so it is not a warning. */
enum {
	PEER_REPLY_ACCEPTED = 0,
	PEER_REPLY_REFUSED = 1,
	PEER_REPLY_UNAVAILABLE = 2
};
size_t peer_reply_encode(unsigned char *out, int status, const char *why);
/* 0: incomplete; > 0: bytes used, *status and why (NUL-terminated) set. */
ssize_t peer_reply_decode(const void *bytes, size_t len, int *status, char *why,
			  size_t why_len);

/* ---- dialing (dial.c) ---------------------------------------------------- */
typedef struct peer_dial peer_dial;
/* c: an established connection, now the callee's (set its owner before
 * returning); or NULL and why. */
typedef void (*peer_dial_cb)(void *ctx, peer_conn *c, const char *why);
/* Resolves, connects, handshakes, authorizes and says hello. NULL when addr
 * is malformed or memory ran out (no cb then). */
peer_dial *peer_dial_start(peer *p, int channel, uint64_t id, const char *addr,
			   peer_dial_cb cb, void *ctx);
/* cb still comes, later, with NULL. */
void peer_dial_cancel(peer_dial *d);
void peer_dial_cancel_all(peer *p);
void peer_dial_forget_all(peer *p);

/* ---- the listener's side of the hello (accept.c) ------------------------ */
void peer_accept(peer *p, uv_stream_t *listener);

/* ---- the byte pump (pump.c) ---------------------------------------------- */
/* Takes over c; returns libraft's end of the socketpair (allocated with
 * raft_malloc, as libraft frees it), or NULL with c aborted. */
uv_stream_t *peer_pump_start(peer *p, peer_conn *c);

/* ---- libraft's transport (transport.c) ----------------------------------- */
int peer_raft_ready(peer *p);
void peer_raft_accepted(peer *p, peer_conn *c, const peer_hello *h);
void peer_raft_close(peer *p);
void peer_raft_free(peer *p);

/* ---- CALL frames (frame.c) ----------------------------------------------- */
enum { PEER_FRAME_REQUEST = 1, PEER_FRAME_ANSWER = 2 };
#define PEER_FRAME_MAX (64u << 20)
#define PEER_FRAME_HEAD 17 /* u32 length, u8 type, u64 call id, i32 code */

typedef struct peer_frame {
	int type;
	uint64_t call;
	int32_t code; /* kind of a request, status of an answer */
	const char *body;
	size_t len;
} peer_frame;

/* 0: incomplete; > 0: bytes used, *f set (body points into bytes);
 * -1: malformed or too big. */
ssize_t peer_frame_decode(const void *bytes, size_t len, peer_frame *f);
void peer_frame_head(unsigned char head[PEER_FRAME_HEAD], int type,
		     uint64_t call, int32_t code, size_t body_len);
int peer_frame_send(peer_conn *c, int type, uint64_t call, int32_t code,
		    const void *body, size_t len);
/* Buffers bytes in c->input and calls fn on each whole frame; stops when fn
 * returns -1 or c closes. -1 on a malformed frame. */
int peer_frame_feed(peer_conn *c, const char *bytes, size_t len,
		    int (*fn)(void *ctx, const peer_frame *f), void *ctx);

/* ---- the CALL channel (call.c, serve.c) ---------------------------------- */
void peer_calls_close(peer *p);
void peer_serve_accepted(peer *p, peer_conn *c, uint64_t from);

#endif
