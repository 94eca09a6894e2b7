/* serve.c - raft's side of the requests between hosts: what comes in from
 * the link is dispatched by kind, and what goes out is addressed by member
 * id to its Raft address. */
#include <stdio.h>
#include <string.h>

#include "membership.h"

int raftnode_serve(raftnode *rn, uint64_t from, int kind, const void *body,
		   size_t len, raftnode_answer_cb cb, void *ctx)
{
	(void)from;
	if (!rn->raft_started || rn->closing) {
		cb(ctx, RAFTNODE_NOT_STARTED, "not started", 11);
		return 0;
	}
	switch (kind) {
	case RAFTNODE_FORWARD:
		raftnode_forward_serve(rn, body, len, cb, ctx);
		break;
	case RAFTNODE_BARRIER:
		raftnode_read_serve_barrier(rn, cb, ctx);
		break;
	case RAFTNODE_TERM:
		raftnode_read_serve_term(rn, cb, ctx);
		break;
	case RAFTNODE_JOIN:
	case RAFTNODE_MEMBER_ADD:
	case RAFTNODE_MEMBER_REMOVE:
		membership_serve(rn, kind, body, len, cb, ctx);
		break;
	default:
		cb(ctx, RAFTNODE_BAD_REQUEST, "unknown request", 15);
	}
	return 0;
}

int raftnode_send(raftnode *rn, raft_id id, int kind, const void *body,
		  size_t len, raftnode_answer_cb cb, void *ctx)
{
	const struct raft_server *s = membership_server_by_id(rn, id);
	if (s == NULL || rn->cfg.link.send == NULL)
		return -1;
	return rn->cfg.link.send(rn->cfg.link.link_ctx, id, s->address, kind,
				 body, len, cb, ctx);
}

uint64_t raftnode_leader(raftnode *rn, char *address, size_t len)
{
	raft_id leader = 0;
	const char *addr = NULL;
	if (!rn->raft_started)
		return 0;
	raft_leader(rn->raft, &leader, &addr);
	if (address && len)
		snprintf(address, len, "%s", addr ? addr : "");
	return leader;
}

int raftnode_is_member(raftnode *rn, uint64_t id)
{
	return membership_server_by_id(rn, id) != NULL;
}
