/* membership_relay.c - the internal channel's membership requests
 * (/ovld/v1/join, /ovld/v1/member/add, /ovld/v1/member/remove): their JSON
 * bodies become queued changes on the leader, and a host that is not the
 * leader relays them to it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "membership.h"

typedef struct relay {
	raftnode_reply_cb reply;
	void *ctx;
} relay;

static void on_relayed(void *ctx, int status, const char *body, size_t len)
{
	relay *r = ctx;
	if (status < 0)
		r->reply(r->ctx, 503, "text/plain", "leader unreachable\n", 19);
	else
		r->reply(r->ctx, status, "application/json", body, len);
	free(r);
}

/* Off the leader, pass the request on to it unchanged. */
int membership_relay(raftnode *rn, const char *path, const char *body,
		     size_t len, raftnode_reply_cb reply, void *ctx)
{
	raft_id leader = 0;
	const char *addr;
	char hostport[64];
	raft_leader(&rn->raft, &leader, &addr);
	if (leader == 0 || leader == rn->id ||
	    membership_client_url(rn, leader, hostport, sizeof(hostport)) != 0)
		return -1;
	relay *r = malloc(sizeof(*r));
	r->reply = reply;
	r->ctx = ctx;
	if (client_post(rn->cl, hostport, path, body, len, on_relayed, r) !=
	    0) {
		free(r);
		return -1;
	}
	return 0;
}

static change_job *job_from_json(const char *body, size_t len, int type)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *id = NULL, *name = "", *peer = NULL, *clients = "";
	change_job *job = NULL;
	if (j && json_unpack(j, "{s?s,s?s,s:s,s?s}", "id", &id, "name", &name,
			     "peer_url", &peer, "client_urls", &clients) == 0) {
		job = calloc(1, sizeof(*job));
		job->type = type;
		job->id =
		    id ? strtoull(id, NULL, 16) : membership_static_id(peer);
		if (client_hostport(peer, 2380, job->addr, sizeof(job->addr)) !=
			0 ||
		    job->id == 0) {
			free(job);
			job = NULL;
		} else if (type == JOB_JOIN) {
			membership_record_format(job->record,
						 sizeof(job->record), name,
						 peer, clients);
		}
	}
	json_decref(j);
	return job;
}

void membership_internal(raftnode *rn, const char *path, const char *body,
			 size_t len, raftnode_reply_cb reply, void *ctx)
{
	if (raft_state(&rn->raft) != RAFT_LEADER) {
		if (membership_relay(rn, path, body, len, reply, ctx) != 0)
			reply(ctx, 503, "text/plain", "no leader\n", 10);
		return;
	}
	change_job *job = NULL;
	if (strcmp(path, "/ovld/v1/join") == 0) {
		job = job_from_json(body, len, JOB_JOIN);
	} else if (strcmp(path, "/ovld/v1/member/add") == 0) {
		job = job_from_json(body, len, JOB_ADD);
	} else if (strcmp(path, "/ovld/v1/member/remove") == 0) {
		/* The body is not NUL-terminated when it came over HTTP. */
		char hex[17] = "";
		if (body && len < sizeof(hex))
			memcpy(hex, body, len);
		job = calloc(1, sizeof(*job));
		job->type = JOB_REMOVE;
		job->id = strtoull(hex, NULL, 16);
	}
	if (job == NULL) {
		reply(ctx, 400, "text/plain", "bad request\n", 12);
		return;
	}
	job->reply = reply;
	job->reply_ctx = ctx;
	membership_job_enqueue(rn, job);
}
