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
	if (r == NULL)
		return -1;
	r->reply = reply;
	r->ctx = ctx;
	if (client_post(rn->cl, hostport, path, body, len, on_relayed, r) !=
	    0) {
		free(r);
		return -1;
	}
	return 0;
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
		ok = client_hostport(peer, 2380, job->addr,
				     sizeof(job->addr)) == 0 &&
		     job->id != 0;
	}
	if (ok && job->type == JOB_JOIN)
		membership_record_format(job->record, sizeof(job->record), name,
					 peer, clients);
	json_decref(j);
	return ok ? 0 : -1;
}

/* A remove: the member's id in hex. */
static int job_parse_id(change_job *job, const char *body, size_t len)
{
	/* The body is not NUL-terminated when it came over HTTP. */
	char hex[17] = "";
	if (body && len < sizeof(hex))
		memcpy(hex, body, len);
	job->id = strtoull(hex, NULL, 16);
	return 0;
}

static int job_type_of(const char *path)
{
	if (strcmp(path, "/ovld/v1/join") == 0)
		return JOB_JOIN;
	if (strcmp(path, "/ovld/v1/member/add") == 0)
		return JOB_ADD;
	if (strcmp(path, "/ovld/v1/member/remove") == 0)
		return JOB_REMOVE;
	return 0;
}

void membership_internal(raftnode *rn, const char *path, const char *body,
			 size_t len, raftnode_reply_cb reply, void *ctx)
{
	if (raft_state(&rn->raft) != RAFT_LEADER) {
		if (membership_relay(rn, path, body, len, reply, ctx) != 0)
			reply(ctx, 503, "text/plain", "no leader\n", 10);
		return;
	}
	int type = job_type_of(path);
	change_job *job = type ? calloc(1, sizeof(*job)) : NULL;
	if (type && job == NULL) {
		reply(ctx, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	if (job)
		job->type = type;
	if (job == NULL ||
	    (type == JOB_REMOVE ? job_parse_id(job, body, len)
				: job_parse_json(job, body, len)) != 0) {
		free(job);
		reply(ctx, 400, "text/plain", "bad request\n", 12);
		return;
	}
	job->reply = reply;
	job->reply_ctx = ctx;
	membership_job_enqueue(rn, job);
}
