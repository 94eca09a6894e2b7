/* dial.c - reaching a member: resolve HOST at each dial, try its addresses
 * in turn until one accepts TCP, then the TLS handshake, the policy's word
 * on the server's certificate, the hello, and the listener's answer. Only
 * an accepted connection leaves here. */
#include "internal.h"

#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct peer_dial {
	peer *p;
	peer_link link; /* in p->dials */
	int channel;
	uint64_t id;
	char addr[PEER_ADDR_MAX + 1];
	char host[PEER_ADDR_MAX + 1];
	char port[8];
	uv_getaddrinfo_t gai;
	struct addrinfo *next_ai;
	peer_conn *conn;
	int resolving;
	int canceled;
	int final; /* a failure that trying another address cannot mend */
	peer_dial_cb cb;
	void *ctx;
	char why[PEER_WHY_MAX];
};

static void dial_note(peer_dial *d, const char *why)
{
	if (!d->why[0])
		snprintf(d->why, sizeof(d->why), "%s", why);
}

/* An address whose last dial failed, and why: a member that stays down is
 * logged when its reason changes, not at every retry. */
typedef struct unreachable {
	peer_link link; /* in p->unreachable */
	char addr[PEER_ADDR_MAX + 1];
	char why[PEER_WHY_MAX];
} unreachable;

static unreachable *unreachable_find(peer *p, const char *addr)
{
	for (peer_link *l = p->unreachable.next; l != &p->unreachable;
	     l = l->next) {
		unreachable *u = peer_of(l, unreachable, link);
		if (strcmp(u->addr, addr) == 0)
			return u;
	}
	return NULL;
}

/* Whether this failure is news; remembers it. */
static int unreachable_news(peer *p, const char *addr, const char *why)
{
	unreachable *u = unreachable_find(p, addr);
	if (u && strcmp(u->why, why) == 0)
		return 0;
	if (!u && (u = calloc(1, sizeof(*u)))) {
		snprintf(u->addr, sizeof(u->addr), "%s", addr);
		peer_link_add(&p->unreachable, &u->link);
	}
	if (u)
		snprintf(u->why, sizeof(u->why), "%s", why);
	return 1;
}

static void unreachable_forget(peer *p, const char *addr)
{
	unreachable *u = unreachable_find(p, addr);
	if (!u)
		return;
	log_info("peer", "%s reached again", addr);
	peer_link_del(&u->link);
	free(u);
}

void peer_dial_forget_all(peer *p)
{
	while (!peer_link_empty(&p->unreachable)) {
		unreachable *u =
		    peer_of(p->unreachable.next, unreachable, link);
		peer_link_del(&u->link);
		free(u);
	}
}

/* The end: once nothing is in flight, cb with no connection. */
static void dial_fail(peer_dial *d)
{
	if (d->resolving || d->conn)
		return;
	peer *p = d->p;
	peer_link_del(&d->link);
	uv_freeaddrinfo(d->gai.addrinfo);
	if (d->canceled && !d->final)
		snprintf(d->why, sizeof(d->why), "canceled");
	dial_note(d, "no address to dial");
	/* Refusals warn at every dial; absences inform when they change. */
	if (d->final)
		log_warn("peer", "%s", d->why);
	else if (!d->canceled)
		log_write(unreachable_news(p, d->addr, d->why) ? LOG_LVL_INFO
							       : LOG_LVL_DEBUG,
			  "peer", "%s", d->why);
	d->cb(d->ctx, NULL, d->why);
	free(d);
	peer_release(p);
}

static void dial_opened(peer_conn *c)
{
	peer_dial *d = c->owner;
	peer *p = d->p;
	char why[PEER_WHY_MAX] = "";
	if (p->authorize(p->authorize_ctx, peer_conn_cert(c), d->id, d->host,
			 why, sizeof(why)) != 0) {
		char line[PEER_WHY_MAX];
		snprintf(line, sizeof(line),
			 "%.180s is not who we meant: %.300s", d->addr,
			 why[0] ? why : "refused by policy");
		d->final = 1;
		dial_note(d, line);
		peer_conn_abort(c, line);
		return;
	}
	unsigned char hello[PEER_HELLO_MAX];
	size_t n = peer_hello_encode(hello, d->channel, p->self_id,
				     p->self_addr ? p->self_addr : "");
	uv_buf_t b = uv_buf_init((char *)hello, (unsigned)n);
	peer_conn_write(c, &b, 1);
}

static void dial_hand_over(peer_dial *d, peer_conn *c, size_t used)
{
	peer *p = d->p;
	peer_link_del(&d->link);
	d->conn = NULL;
	peer_conn_established(c, d->id);
	unreachable_forget(p, d->addr);
	/* Bytes past the answer belong to the next owner. */
	abuf rest = c->input;
	abuf_init(&c->input);
	uv_freeaddrinfo(d->gai.addrinfo);
	d->cb(d->ctx, c, NULL);
	if (rest.len > used && !c->closing && c->ev && c->ev->data)
		c->ev->data(c, rest.p + used, rest.len - used);
	abuf_free(&rest);
	free(d);
	peer_release(p);
}

static void dial_data(peer_conn *c, const char *bytes, size_t len)
{
	peer_dial *d = c->owner;
	abuf_put(&c->input, bytes, len);
	int status = 0;
	char why[PEER_WHY_MAX];
	ssize_t used = peer_reply_decode(c->input.p, c->input.len, &status, why,
					 sizeof(why));
	if (used == 0 && abuf_ok(&c->input))
		return;
	if (used < 0 || !abuf_ok(&c->input)) {
		d->final = 1;
		dial_note(d, "not an ovld peer port");
		peer_conn_abort(c, d->why);
		return;
	}
	if (status != PEER_REPLY_ACCEPTED) {
		char line[PEER_WHY_MAX];
		snprintf(line, sizeof(line), "%.180s %s: %.300s", d->addr,
			 status == PEER_REPLY_REFUSED ? "refused us"
						      : "cannot take us yet",
			 why);
		log_warn("peer", "%s", line);
		d->final = status == PEER_REPLY_REFUSED;
		dial_note(d, line);
		peer_conn_abort(c, line);
		return;
	}
	dial_hand_over(d, c, (size_t)used);
}

static void dial_try_next(peer_dial *d);

static void dial_closed(peer_conn *c, const char *why)
{
	peer_dial *d = c->owner;
	int opened = c->open;
	d->conn = NULL;
	if (d->canceled || d->final || opened || !d->next_ai) {
		char line[PEER_WHY_MAX];
		snprintf(line, sizeof(line), "%s: %s", d->addr, why);
		dial_note(d, line);
		dial_fail(d);
		return;
	}
	dial_try_next(d);
}

static const peer_conn_events dial_events = {
    .opened = dial_opened,
    .data = dial_data,
    .closed = dial_closed,
};

static int is_literal(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static void dial_try_next(peer_dial *d)
{
	struct addrinfo *ai = d->next_ai;
	d->next_ai = ai->ai_next;
	d->conn = peer_conn_dial(d->p, ai->ai_addr,
				 is_literal(d->host) ? NULL : d->host, d->addr,
				 &dial_events, d);
	if (!d->conn) {
		dial_note(d, "cannot start a TLS connection");
		dial_fail(d);
	}
}

static void dial_resolved(uv_getaddrinfo_t *req, int status,
			  struct addrinfo *res)
{
	peer_dial *d = req->data;
	d->resolving = 0;
	d->gai.addrinfo = res;
	if (status < 0 || d->canceled || !res) {
		char line[PEER_WHY_MAX];
		snprintf(line, sizeof(line), "cannot resolve %s: %s", d->host,
			 uv_strerror(status));
		if (status < 0)
			dial_note(d, line);
		dial_fail(d);
		return;
	}
	d->next_ai = res;
	dial_try_next(d);
}

peer_dial *peer_dial_start(peer *p, int channel, uint64_t id, const char *addr,
			   peer_dial_cb cb, void *ctx)
{
	peer_dial *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (strlen(addr) > PEER_ADDR_MAX ||
	    peer_addr_split(addr, d->host, sizeof(d->host), d->port,
			    sizeof(d->port)) != 0) {
		log_warn("peer", "cannot dial \"%s\": not HOST:PORT", addr);
		free(d);
		return NULL;
	}
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	d->p = p;
	d->channel = channel;
	d->id = id;
	d->cb = cb;
	d->ctx = ctx;
	d->gai.data = d;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	if (uv_getaddrinfo(p->loop, &d->gai, dial_resolved, d->host, d->port,
			   &hints) < 0) {
		free(d);
		return NULL;
	}
	d->resolving = 1;
	peer_link_add(&p->dials, &d->link);
	peer_hold(p);
	return d;
}

void peer_dial_cancel(peer_dial *d)
{
	if (d->canceled)
		return;
	d->canceled = 1;
	if (d->resolving)
		uv_cancel((uv_req_t *)&d->gai);
	if (d->conn)
		peer_conn_abort(d->conn, "canceled");
}

void peer_dial_cancel_all(peer *p)
{
	for (peer_link *l = p->dials.next; l != &p->dials; l = l->next)
		peer_dial_cancel(peer_of(l, peer_dial, link));
}
