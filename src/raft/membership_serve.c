/* membership_serve.c - membership requests from other members (a join, an
 * add, a remove): their bodies become queued changes on the leader, and a
 * host that is not the leader relays them to it through the link. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "membership.h"

int membership_relay(raftnode *rn, int kind, const char *body, size_t len,
		     raftnode_answer_cb cb, void *ctx)
{
	raft_id leader = raftnode_leader(rn, NULL, 0);
	if (leader == 0 || leader == rn->id)
		return -1;
	return raftnode_send(rn, leader, kind, body, len, cb, ctx);
}

/* A join or add: {"id", "name", "peer_url", "client_urls"}; 0 if valid. */
static int job_parse_json(change_job *job, const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *id = NULL, *name = "", *peer = NULL, *clients = "";
	int ok =
	    j && json_unpack(j, "{s?s,s?s,s:s,s?s}", "id", &id, "name", &name,
			     "peer_url", &peer, "client_urls", &clients) == 0;
	if (ok) {
		job->id =
		    id ? strtoull(id, NULL, 16) : membership_static_id(peer);
		ok = membership_peer_address(peer, job->addr,
					     sizeof(job->addr)) == 0 &&
		     job->id != 0;
	}
	if (ok && job->type == JOB_JOIN)
		membership_record_format(job->record, sizeof(job->record), name,
					 peer, clients);
	json_decref(j);
	return ok ? 0 : -1;
}

/* A remove: the member's id in hex (not NUL-terminated on the wire). */
static int job_parse_id(change_job *job, const char *body, size_t len)
{
	char hex[17] = "";
	if (body == NULL || len == 0 || len >= sizeof(hex))
		return -1;
	memcpy(hex, body, len);
	job->id = strtoull(hex, NULL, 16);
	return job->id ? 0 : -1;
}

static int job_type_of(int kind)
{
	switch (kind) {
	case RAFTNODE_JOIN:
		return JOB_JOIN;
	case RAFTNODE_MEMBER_ADD:
		return JOB_ADD;
	case RAFTNODE_MEMBER_REMOVE:
		return JOB_REMOVE;
	}
	return 0;
}

void membership_serve(raftnode *rn, int kind, const char *body, size_t len,
		      raftnode_answer_cb cb, void *ctx)
{
	if (raft_state(rn->raft) != RAFT_LEADER) {
		if (membership_relay(rn, kind, body, len, cb, ctx) != 0)
			cb(ctx, RAFTNODE_NOT_LEADER, "no leader", 9);
		return;
	}
	int type = job_type_of(kind);
	change_job *job = type ? calloc(1, sizeof(*job)) : NULL;
	if (job == NULL) {
		cb(ctx, type ? RAFTNODE_FAILED : RAFTNODE_BAD_REQUEST,
		   "cannot queue", 12);
		return;
	}
	job->type = type;
	if ((type == JOB_REMOVE ? job_parse_id(job, body, len)
				: job_parse_json(job, body, len)) != 0) {
		free(job);
		cb(ctx, RAFTNODE_BAD_REQUEST, "bad request", 11);
		return;
	}
	job->reply = cb;
	job->reply_ctx = ctx;
	membership_job_enqueue(rn, job);
}

int raftnode_member_join(raftnode *rn, const raftnode_member *m,
			 raftnode_answer_cb cb, void *ctx)
{
	if (raft_state(rn->raft) != RAFT_LEADER)
		return RAFTNODE_NOT_LEADER;
	change_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return RAFTNODE_FAILED;
	job->type = JOB_JOIN;
	job->id = m->id;
	if (job->id == 0 || membership_peer_address(m->peer_url, job->addr,
						    sizeof(job->addr)) != 0) {
		free(job);
		return RAFTNODE_BAD_REQUEST;
	}
	membership_record_format(job->record, sizeof(job->record), m->name,
				 m->peer_url, m->client_urls);
	job->reply = cb;
	job->reply_ctx = ctx;
	membership_job_enqueue(rn, job);
	return RAFTNODE_DONE;
}
