/* accept.c - the listener's side: after the TLS handshake, read the hello,
 * ask the policy whether this certificate may speak for the member it
 * claims, answer, and only then hand the connection to its channel. */
#include "internal.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

static void accept_answer(peer_conn *c, int status, const char *why)
{
	unsigned char reply[PEER_REPLY_MAX];
	size_t n = peer_reply_encode(reply, status, why);
	uv_buf_t b = uv_buf_init((char *)reply, (unsigned)n);
	peer_conn_write(c, &b, 1);
}

/* Marks a connection whose refusal is logged already. */
static char logged;

static void accept_refuse(peer_conn *c, const peer_hello *h, const char *why)
{
	c->owner = &logged;
	log_warn("peer", "refused %s (claims member %llx at %s): %s", c->label,
		 (unsigned long long)h->id, h->addr, why);
	accept_answer(c, PEER_REPLY_REFUSED, why);
	peer_conn_finish(c, why);
}

static void accept_unavailable(peer_conn *c, const peer_hello *h,
			       const char *why)
{
	c->owner = &logged;
	log_debug("peer", "turned %s (member %llx) away: %s", c->label,
		  (unsigned long long)h->id, why);
	accept_answer(c, PEER_REPLY_UNAVAILABLE, why);
	peer_conn_finish(c, why);
}

/* Whether the channel has someone to take the connection. */
static const char *accept_channel_missing(peer *p, int channel)
{
	if (channel == PEER_CHANNEL_RAFT)
		return peer_raft_ready(p) ? NULL : "raft is not running here";
	if (channel == PEER_CHANNEL_CALL)
		return p->serve ? NULL : "no requests are served here";
	return "unknown channel";
}

static void accept_hello(peer_conn *c, const peer_hello *h, size_t used)
{
	peer *p = c->p;
	const char *missing = accept_channel_missing(p, h->channel);
	if (missing) {
		accept_unavailable(c, h, missing);
		return;
	}
	char host[PEER_ADDR_MAX + 1], port[8];
	char why[PEER_WHY_MAX] = "";
	if (peer_addr_split(h->addr, host, sizeof(host), port, sizeof(port)) !=
	    0) {
		accept_refuse(c, h, "the claimed address is not HOST:PORT");
		return;
	}
	if (p->authorize(p->authorize_ctx, peer_conn_cert(c), h->id, host, why,
			 sizeof(why)) != 0) {
		accept_refuse(c, h, why[0] ? why : "refused by policy");
		return;
	}
	accept_answer(c, PEER_REPLY_ACCEPTED, "");
	if (c->closing)
		return;
	peer_conn_established(c, h->id);
	abuf rest = c->input;
	abuf_init(&c->input);
	if (h->channel == PEER_CHANNEL_RAFT)
		peer_raft_accepted(p, c, h);
	else
		peer_serve_accepted(p, c, h->id);
	if (rest.len > used && !c->closing && c->ev && c->ev->data)
		c->ev->data(c, rest.p + used, rest.len - used);
	abuf_free(&rest);
}

static void accept_data(peer_conn *c, const char *bytes, size_t len)
{
	abuf_put(&c->input, bytes, len);
	peer_hello h;
	ssize_t used = peer_hello_decode(c->input.p, c->input.len, &h);
	if (used == 0 && abuf_ok(&c->input))
		return;
	if (used < 0 || !abuf_ok(&c->input)) {
		log_warn("peer", "refused %s: no hello", c->label);
		c->owner = &logged;
		peer_conn_abort(c, "no hello");
		return;
	}
	accept_hello(c, &h, (size_t)used);
}

static void accept_closed(peer_conn *c, const char *why)
{
	if (!c->established && c->owner != &logged)
		log_info("peer",
			 "connection from %s closed before its hello: "
			 "%s",
			 c->label, why);
}

static const peer_conn_events accept_events = {
    .data = accept_data,
    .closed = accept_closed,
};

void peer_accept(peer *p, uv_stream_t *listener)
{
	if (!peer_conn_accept(p, listener, &accept_events, NULL))
		log_warn("peer", "cannot take a connection: out of memory");
}
