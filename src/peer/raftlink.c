/* raftlink.c - raft's requests between hosts over the peer port: the link
 * raftnode sends through, and the routing of what comes in (raft's kinds
 * to raftnode_serve, joins and renewals to the trust). */
#include <stdlib.h>
#include <string.h>

#include "trust_int.h"

typedef struct link_call {
	raftnode_answer_cb cb;
	void *ctx;
} link_call;

static void on_link_answer(void *ctx, int status, const void *body, size_t len)
{
	link_call *c = ctx;
	c->cb(c->ctx, status, body, len);
	free(c);
}

static int link_send(void *link_ctx, uint64_t id, const char *address, int kind,
		     const void *body, size_t len, raftnode_answer_cb cb,
		     void *ctx)
{
	link_call *c = malloc(sizeof(*c));
	if (c == NULL)
		return -1;
	c->cb = cb;
	c->ctx = ctx;
	if (peer_call(link_ctx, id, address, PEER_KIND_RAFT + kind, body, len,
		      5000, on_link_answer, c) != 0) {
		free(c);
		return -1;
	}
	return 0;
}

void peer_raft_link(peer *p, raftnode_link *out)
{
	out->send = link_send;
	out->link_ctx = p;
}

static void on_raft_answer(void *ctx, int answer, const void *body, size_t len)
{
	peer_answer(ctx, answer, body, len);
}

static void on_admit_answer(void *ctx, int status, const char *json)
{
	peer_answer(ctx, status, json, strlen(json));
}

static void route(void *ctx, peer_request *req, uint64_t from, int kind,
		  const void *body, size_t len)
{
	peer_trust *t = ctx;
	if (kind > PEER_KIND_RAFT && kind < PEER_KIND_JOIN)
		raftnode_serve(t->rn, from, kind - PEER_KIND_RAFT, body, len,
			       on_raft_answer, req);
	else if (kind == PEER_KIND_JOIN && t->mode == TRUST_USER_PKI)
		trust_admit_user(t, from, body, len, on_admit_answer, req);
	else if (kind == PEER_KIND_JOIN)
		trust_admit_on_leader(t, body, len, on_admit_answer, req);
	else if (kind == PEER_KIND_RENEW)
		trust_renew_serve(t, req, from, body, len);
	else
		peer_answer(req, 404, "unknown request", 15);
}

void peer_trust_attach(peer_trust *t, raftnode *rn)
{
	t->rn = rn;
	peer_serve(t->peer, route, t);
	trust_upkeep_start(t);
}
