/* membership_api.c - the API's membership calls (POST, DELETE and PUT
 * /v2/members): add and remove take the path of a request from another
 * member, so that followers and the leader take the same one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membership.h"

/* One API call, answered when the leader's answer comes. */
typedef struct member_call {
	raftnode *rn;
	raftnode_member_cb cb;
	void *ctx;
	raft_id id;
	char peer_url[128];
} member_call;

static void on_member_reply(void *ctx, int answer, const void *body, size_t len)
{
	member_call *mc = ctx;
	raftnode_member m = {.id = mc->id};
	snprintf(m.peer_url, sizeof(m.peer_url), "%s", mc->peer_url);
	mc->cb(mc->ctx, answer < 0 ? RAFTNODE_FAILED : answer,
	       answer == RAFTNODE_DONE	      ? NULL
	       : answer == RAFTNODE_NO_MEMBER ? "No such member"
					      : "membership change failed",
	       &m);
	free(mc);
}

static void on_transferred_then_remove(struct raft_transfer *req)
{
	member_call *mc = req->data;
	free(req);
	char body[32];
	snprintf(body, sizeof(body), "%016llx", (unsigned long long)mc->id);
	if (membership_relay(mc->rn, RAFTNODE_MEMBER_REMOVE, body, strlen(body),
			     on_member_reply, mc) != 0)
		on_member_reply(mc, RAFTNODE_NOT_LEADER, NULL, 0);
}

static void member_request(raftnode *rn, int kind, const char *body,
			   member_call *mc)
{
	membership_serve(rn, kind, body, strlen(body), on_member_reply, mc);
}

static member_call *member_call_new(raftnode *rn, raftnode_member_cb cb,
				    void *ctx, raft_id id)
{
	member_call *mc = calloc(1, sizeof(*mc));
	if (mc) {
		mc->rn = rn;
		mc->cb = cb;
		mc->ctx = ctx;
		mc->id = id;
	}
	return mc;
}

int raftnode_member_add(raftnode *rn, const char *peer_url,
			raftnode_member_cb cb, void *ctx)
{
	char addr[300];
	if (membership_peer_address(peer_url, addr, sizeof(addr)) != 0)
		return -1;
	member_call *mc =
	    member_call_new(rn, cb, ctx, membership_static_id(peer_url));
	if (mc == NULL)
		return -1;
	snprintf(mc->peer_url, sizeof(mc->peer_url), "%s", peer_url);
	json_t *j = json_pack("{s:s}", "peer_url", peer_url);
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (body == NULL) {
		free(mc);
		return -1;
	}
	member_request(rn, RAFTNODE_MEMBER_ADD, body, mc);
	free(body);
	return 0;
}

int raftnode_member_remove(raftnode *rn, uint64_t id, raftnode_member_cb cb,
			   void *ctx)
{
	member_call *mc = member_call_new(rn, cb, ctx, id);
	if (mc == NULL)
		return -1;
	if (id == rn->id && raft_state(rn->raft) == RAFT_LEADER &&
	    rn->raft->configuration.n > 1) {
		/* Removing the leader: hand over first (raft 0.15 misbehaves
		 * when the leader removes itself under load). */
		struct raft_transfer *req = calloc(1, sizeof(*req));
		if (req == NULL) {
			free(mc);
			return -1;
		}
		req->data = mc;
		if (raft_transfer(rn->raft, req, 0,
				  on_transferred_then_remove) == 0)
			return 0;
		free(req);
	}
	char body[32];
	snprintf(body, sizeof(body), "%016llx", (unsigned long long)id);
	member_request(rn, RAFTNODE_MEMBER_REMOVE, body, mc);
	return 0;
}

int raftnode_member_update(raftnode *rn, uint64_t id, const char *peer_url,
			   raftnode_member_cb cb, void *ctx)
{
	/* canonical/raft cannot change a server's address in place; etcd
	 * clients use this rarely, so refuse clearly. */
	raftnode_member m = {.id = id};
	if (membership_server_by_id(rn, id) == NULL) {
		cb(ctx, RAFTNODE_NO_MEMBER, "No such member", &m);
		return 0;
	}
	cb(ctx, RAFTNODE_CONFLICT,
	   "changing a member's peer URL is not supported; remove "
	   "and re-join it",
	   &m);
	return 0;
}
