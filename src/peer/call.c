/* call.c - the calling side of the CALL channel: one connection per member
 * and address, dialed on the first call (calls wait while it dials, and the
 * next call after a loss dials again), answers matched by call id in any
 * order, and one timer that fails the calls whose time is up. */
#include "internal.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_DEFAULT_TIMEOUT_MS 5000
#define CALL_SWEEP_MS 25

typedef struct channel {
	peer_link link; /* in p->channels */
	peer *p;
	uint64_t id;
	char addr[PEER_ADDR_MAX + 1];
	peer_dial *dial;
	peer_conn *conn;
	peer_link waiting; /* calls to send once connected */
	peer_link sent;	   /* calls waiting for their answer */
} channel;

typedef struct call {
	peer_link link; /* in ch->waiting or ch->sent */
	peer_link all;	/* in p->calls */
	channel *ch;
	uint64_t id;
	uint64_t deadline;
	unsigned timeout_ms;
	int kind;
	char *body; /* until sent */
	size_t len;
	peer_answer_cb cb;
	void *ctx;
} call;

static void call_finish(call *k, int status, const void *body, size_t len)
{
	peer_link_del(&k->link);
	peer_link_del(&k->all);
	free(k->body);
	peer_answer_cb cb = k->cb;
	void *ctx = k->ctx;
	free(k);
	cb(ctx, status, body, len);
}

static void call_fail(call *k, const char *why)
{
	call_finish(k, -1, why, strlen(why));
}

static void call_send(channel *ch, call *k)
{
	peer_link_del(&k->link);
	peer_link_add(&ch->sent, &k->link);
	peer_frame_send(ch->conn, PEER_FRAME_REQUEST, k->id, k->kind, k->body,
			k->len);
	free(k->body);
	k->body = NULL;
}

/* Fails every call of ch with why and forgets ch. */
static void channel_lost(channel *ch, const char *why)
{
	peer_link_del(&ch->link);
	peer_link *lists[2] = {&ch->sent, &ch->waiting};
	for (int i = 0; i < 2; i++)
		while (!peer_link_empty(lists[i]))
			call_fail(peer_of(lists[i]->next, call, link), why);
	free(ch);
}

static call *channel_find_call(channel *ch, uint64_t id)
{
	for (peer_link *l = ch->sent.next; l != &ch->sent; l = l->next) {
		call *k = peer_of(l, call, link);
		if (k->id == id)
			return k;
	}
	return NULL; /* timed out already */
}

static int channel_frame(void *ctx, const peer_frame *f)
{
	channel *ch = ctx;
	if (f->type != PEER_FRAME_ANSWER) {
		peer_conn_abort(ch->conn, "a request on a calling connection");
		return -1;
	}
	call *k = channel_find_call(ch, f->call);
	if (k)
		call_finish(k, f->code, f->body, f->len);
	return 0;
}

static void channel_data(peer_conn *c, const char *bytes, size_t len)
{
	if (peer_frame_feed(c, bytes, len, channel_frame, c->owner) < 0)
		peer_conn_abort(c, "malformed frame");
}

static void channel_closed(peer_conn *c, const char *why)
{
	channel *ch = c->owner;
	char line[PEER_WHY_MAX];
	snprintf(line, sizeof(line), "connection to %s lost: %s", ch->addr,
		 why);
	ch->conn = NULL;
	channel_lost(ch, line);
}

static const peer_conn_events channel_events = {
    .data = channel_data,
    .closed = channel_closed,
};

static void channel_dialed(void *ctx, peer_conn *c, const char *why)
{
	channel *ch = ctx;
	ch->dial = NULL;
	if (!c) {
		channel_lost(ch, why);
		return;
	}
	ch->conn = c;
	peer_conn_set_owner(c, &channel_events, ch);
	while (!peer_link_empty(&ch->waiting) && !c->closing)
		call_send(ch, peer_of(ch->waiting.next, call, link));
}

static channel *channel_get(peer *p, uint64_t id, const char *addr)
{
	for (peer_link *l = p->channels.next; l != &p->channels; l = l->next) {
		channel *ch = peer_of(l, channel, link);
		if (ch->id == id && strcmp(ch->addr, addr) == 0)
			return ch;
	}
	if (strlen(addr) > PEER_ADDR_MAX)
		return NULL;
	channel *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->p = p;
	ch->id = id;
	snprintf(ch->addr, sizeof(ch->addr), "%s", addr);
	peer_link_init(&ch->waiting);
	peer_link_init(&ch->sent);
	ch->dial =
	    peer_dial_start(p, PEER_CHANNEL_CALL, id, addr, channel_dialed, ch);
	if (!ch->dial) {
		free(ch);
		return NULL;
	}
	peer_link_add(&p->channels, &ch->link);
	return ch;
}

static void calls_sweep(uv_timer_t *t)
{
	peer *p = t->data;
	uint64_t now = uv_now(p->loop);
	peer_link due;
	peer_link_init(&due);
	for (peer_link *l = p->calls.next; l != &p->calls;) {
		call *k = peer_of(l, call, all);
		l = l->next;
		if (k->deadline > now)
			continue;
		peer_link_del(&k->all);
		peer_link_add(&due, &k->all);
	}
	/* Channels outlive this loop: they go only from loop events. */
	while (!peer_link_empty(&due)) {
		call *k = peer_of(due.next, call, all);
		char why[PEER_WHY_MAX];
		snprintf(why, sizeof(why), "no answer from %s within %u ms",
			 k->ch->addr, k->timeout_ms);
		call_fail(k, why);
	}
	if (peer_link_empty(&p->calls))
		uv_timer_stop(t);
}

int peer_call(peer *p, uint64_t id, const char *addr, int kind,
	      const void *body, size_t len, unsigned timeout_ms,
	      peer_answer_cb cb, void *ctx)
{
	if (p->closing || !cb || len > PEER_FRAME_MAX - PEER_FRAME_HEAD)
		return -1;
	call *k = calloc(1, sizeof(*k));
	if (!k || (len && !(k->body = malloc(len)))) {
		free(k);
		return -1;
	}
	channel *ch = channel_get(p, id, addr);
	if (!ch) {
		free(k->body);
		free(k);
		return -1;
	}
	if (len)
		memcpy(k->body, body, len);
	k->len = len;
	k->ch = ch;
	k->id = ++p->next_call;
	k->kind = kind;
	k->timeout_ms = timeout_ms ? timeout_ms : CALL_DEFAULT_TIMEOUT_MS;
	k->deadline = uv_now(p->loop) + k->timeout_ms;
	k->cb = cb;
	k->ctx = ctx;
	peer_link_add(&p->calls, &k->all);
	peer_link_add(&ch->waiting, &k->link);
	if (ch->conn)
		call_send(ch, k);
	if (!uv_is_active((uv_handle_t *)&p->sweep)) {
		p->sweep.data = p;
		uv_timer_start(&p->sweep, calls_sweep, CALL_SWEEP_MS,
			       CALL_SWEEP_MS);
	}
	return 0;
}

void peer_calls_close(peer *p)
{
	for (peer_link *l = p->channels.next; l != &p->channels; l = l->next) {
		channel *ch = peer_of(l, channel, link);
		if (ch->dial)
			peer_dial_cancel(ch->dial);
		if (ch->conn)
			peer_conn_abort(ch->conn, "closing");
	}
	while (!peer_link_empty(&p->calls))
		call_fail(peer_of(p->calls.next, call, all), "closing");
	uv_timer_stop(&p->sweep);
}
