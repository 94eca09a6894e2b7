/* serve.c - the serving side of the CALL channel: each request frame goes
 * to the peer_serve callback as a peer_request, answered once with
 * peer_answer. A request outlives its connection: the answer is dropped. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct served {
	peer *p;
	peer_conn *c;
	uint64_t from;
	peer_link reqs; /* requests not answered yet */
} served;

struct peer_request {
	peer_link link; /* in served->reqs */
	served *s;	/* NULL once the connection is gone */
	uint64_t call;
};

void peer_serve(peer *p, peer_serve_cb cb, void *ctx)
{
	p->serve = cb;
	p->serve_ctx = ctx;
}

void peer_answer(peer_request *req, int status, const void *body, size_t len)
{
	if (req->s)
		peer_frame_send(req->s->c, PEER_FRAME_ANSWER, req->call, status,
				body, len);
	peer_link_del(&req->link);
	free(req);
}

static int serve_frame(void *ctx, const peer_frame *f)
{
	served *s = ctx;
	if (f->type != PEER_FRAME_REQUEST) {
		peer_conn_abort(s->c, "an answer on a serving connection");
		return -1;
	}
	peer_request *req = calloc(1, sizeof(*req));
	if (!req) {
		static const char oom[] = "out of memory";
		peer_frame_send(s->c, PEER_FRAME_ANSWER, f->call, -1, oom,
				strlen(oom));
		return 0;
	}
	req->s = s;
	req->call = f->call;
	peer_link_add(&s->reqs, &req->link);
	if (s->p->serve)
		s->p->serve(s->p->serve_ctx, req, s->from, f->code, f->body,
			    f->len);
	else
		peer_answer(req, -1, "not served", 10);
	return 0;
}

static void serve_data(peer_conn *c, const char *bytes, size_t len)
{
	if (peer_frame_feed(c, bytes, len, serve_frame, c->owner) < 0)
		peer_conn_abort(c, "malformed frame");
}

static void serve_closed(peer_conn *c, const char *why)
{
	served *s = c->owner;
	while (!peer_link_empty(&s->reqs)) {
		peer_request *req = peer_of(s->reqs.next, peer_request, link);
		peer_link_del(&req->link);
		req->s = NULL;
	}
	free(s);
}

static const peer_conn_events serve_events = {
    .data = serve_data,
    .closed = serve_closed,
};

void peer_serve_accepted(peer *p, peer_conn *c, uint64_t from)
{
	served *s = calloc(1, sizeof(*s));
	if (!s) {
		peer_conn_abort(c, "out of memory");
		return;
	}
	s->p = p;
	s->c = c;
	s->from = from;
	peer_link_init(&s->reqs);
	peer_conn_set_owner(c, &serve_events, s);
}
