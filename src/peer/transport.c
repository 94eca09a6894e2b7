/* transport.c - libraft's struct raft_uv_transport over the peer port.
 * connect dials the RAFT channel and gives libraft a pumped socketpair end;
 * listen only starts handing accepted RAFT connections to libraft (the port
 * itself is peer_listen's, as it also serves calls); close cancels the
 * connects in flight, whose callbacks then get RAFT_CANCELED. */
#include "internal.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

struct peer_raft {
	peer *p;
	struct raft_uv_transport *t;
	raft_uv_accept_cb accept;
	int closing;
	raft_uv_transport_close_cb close_cb;
	peer_link connects;
};

typedef struct raft_connect {
	peer_link link; /* in connects */
	struct peer_raft *r;
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	peer_dial *dial;
} raft_connect;

static void transport_maybe_closed(struct peer_raft *r)
{
	if (!r->closing || !peer_link_empty(&r->connects) || !r->close_cb)
		return;
	raft_uv_transport_close_cb cb = r->close_cb;
	r->close_cb = NULL;
	cb(r->t);
}

static int transport_init(struct raft_uv_transport *t, raft_id id,
			  const char *address)
{
	struct peer_raft *r = t->impl;
	peer_set_self(r->p, id, address);
	return 0;
}

static int transport_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct peer_raft *r = t->impl;
	r->accept = cb;
	return 0;
}

static void transport_dialed(void *ctx, peer_conn *c, const char *why)
{
	raft_connect *rc = ctx;
	struct peer_raft *r = rc->r;
	peer_link_del(&rc->link);
	uv_stream_t *stream = NULL;
	int status = r->closing ? RAFT_CANCELED : RAFT_NOCONNECTION;
	if (c && !r->closing) {
		stream = peer_pump_start(r->p, c);
		if (stream)
			status = 0;
	} else if (c) {
		peer_conn_abort(c, "raft transport closed");
	} /* else dial.c logged why */
	struct raft_uv_connect *req = rc->req;
	raft_uv_connect_cb cb = rc->cb;
	free(rc);
	cb(req, stream, status);
	transport_maybe_closed(r);
}

static int transport_connect(struct raft_uv_transport *t,
			     struct raft_uv_connect *req, raft_id id,
			     const char *address, raft_uv_connect_cb cb)
{
	struct peer_raft *r = t->impl;
	raft_connect *rc = calloc(1, sizeof(*rc));
	if (!rc) {
		snprintf(t->errmsg, sizeof(t->errmsg), "out of memory");
		return RAFT_NOMEM;
	}
	rc->r = r;
	rc->req = req;
	rc->cb = cb;
	req->cb = cb;
	rc->dial = peer_dial_start(r->p, PEER_CHANNEL_RAFT, id, address,
				   transport_dialed, rc);
	if (!rc->dial) {
		free(rc);
		snprintf(t->errmsg, sizeof(t->errmsg), "cannot dial %s",
			 address);
		return RAFT_NOCONNECTION;
	}
	peer_link_add(&r->connects, &rc->link);
	return 0;
}

static void transport_close(struct raft_uv_transport *t,
			    raft_uv_transport_close_cb cb)
{
	struct peer_raft *r = t->impl;
	r->closing = 1;
	r->accept = NULL;
	r->close_cb = cb;
	for (peer_link *l = r->connects.next; l != &r->connects; l = l->next)
		peer_dial_cancel(peer_of(l, raft_connect, link)->dial);
	transport_maybe_closed(r);
}

int peer_raft_transport(peer *p, struct raft_uv_transport *t)
{
	if (!p->raft) {
		p->raft = calloc(1, sizeof(*p->raft));
		if (!p->raft)
			return -1;
		p->raft->p = p;
		peer_link_init(&p->raft->connects);
	}
	struct peer_raft *r = p->raft;
	r->t = t;
	r->closing = 0;
	r->accept = NULL;
	t->impl = r;
	t->errmsg[0] = '\0';
	t->init = transport_init;
	t->listen = transport_listen;
	t->connect = transport_connect;
	t->close = transport_close;
	return 0;
}

int peer_raft_ready(peer *p)
{
	return p->raft && p->raft->accept && !p->raft->closing;
}

void peer_raft_accepted(peer *p, peer_conn *c, const peer_hello *h)
{
	struct peer_raft *r = p->raft;
	uv_stream_t *stream = peer_pump_start(p, c);
	if (stream)
		r->accept(r->t, h->id, h->addr, stream);
}

void peer_raft_close(peer *p)
{
	struct peer_raft *r = p->raft;
	if (!r)
		return;
	r->accept = NULL;
	for (peer_link *l = r->connects.next; l != &r->connects; l = l->next)
		peer_dial_cancel(peer_of(l, raft_connect, link)->dial);
}

void peer_raft_free(peer *p)
{
	free(p->raft);
	p->raft = NULL;
}
