/* membership_changes.c - on the leader, configuration changes (join, add,
 * remove, role) run one at a time from a queue, and a role loop promotes
 * caught-up spares to voters (up to --max-voters) or standbys. A removed
 * member id gets a record that says so, for good; the same loop writes it
 * for a removal whose leader stopped before it could. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "membership.h"

#define ROLE_ADJUST_EVERY_MS 500

static void run_next_job(raftnode *rn);

static void on_meta_deleted(void *ctx, store_result *res)
{
	store_result_free(res);
}

static int delete_record(raftnode *rn, raft_id id, raftnode_done_cb cb,
			 void *ctx)
{
	char key[64];
	membership_record_key(id, key, sizeof(key));
	store_cmd cmd = {.op = STORE_OP_META_DEL,
			 .path = key,
			 .path_len = strlen(key),
			 .prev_exist = -1,
			 .now_ns = raftnode_wall_ns()};
	return raftnode_propose(rn, &cmd, cb, ctx);
}

/* ---- removed for good ---- */

typedef struct settle_job {
	raftnode *rn;
	raft_id id;
	raftnode_done_cb cb; /* gets the member record's deletion */
	void *ctx;
} settle_job;

static void on_marked(void *ctx, store_result *res)
{
	settle_job *s = ctx;
	/* The member record goes only once the removal is on record: the
	 * tidy pass finds a removal by the record that is left. */
	if (res->error == 0 && delete_record(s->rn, s->id, s->cb, s->ctx) == 0)
		store_result_free(res);
	else
		s->cb(s->ctx, res);
	free(s);
}

/* A member ran once it published its record. One that never did (added
 * by POST /v2/members, then removed or replaced by the host that joined
 * from its address) never held credentials, and its id, which its peer
 * URL names, may be added again. */
static int ever_ran(raftnode *rn, raft_id id)
{
	raftnode_member m;
	return membership_record_read(rn, id, &m) == 0;
}

/* Records that id was removed, then deletes its member record; cb gets
 * the last result. -1 when nothing could be proposed (cb not called). */
static int settle_removal(raftnode *rn, raft_id id, raftnode_done_cb cb,
			  void *ctx)
{
	char key[64], when[32];
	settle_job *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	*s = (settle_job){.rn = rn, .id = id, .cb = cb, .ctx = ctx};
	membership_removed_key(id, key, sizeof(key));
	snprintf(when, sizeof(when), "%lld",
		 (long long)(raftnode_wall_ns() / 1000000000));
	if (membership_propose_meta(rn, key, when, on_marked, s) != 0) {
		free(s);
		return -1;
	}
	return 0;
}

/* answer: a raftnode_answer. */
static void job_answer(change_job *job, int answer, const char *why)
{
	raftnode *rn = job->rn;
	if (job->reply) {
		char body[256];
		int n;
		if (answer == RAFTNODE_DONE)
			n = snprintf(body, sizeof(body),
				     "{\"cluster_id\":\"%016llx\","
				     "\"id\":\"%016llx\"}",
				     (unsigned long long)rn->cluster_id,
				     (unsigned long long)job->id);
		else
			n = snprintf(body, sizeof(body), "%s",
				     why ? why : "failed");
		job->reply(job->reply_ctx, answer, body, (size_t)n);
	}
	if (job->member_cb) {
		raftnode_member m = {.id = job->id};
		membership_record_read(rn, job->id, &m);
		if (m.peer_url[0] == '\0')
			snprintf(m.peer_url, sizeof(m.peer_url), "http://%s",
				 job->addr);
		job->member_cb(job->member_ctx, answer, why, &m);
	}
	free(job);
	rn->changes.running = 0;
	/* The next job starts from the tick, not from here: a change failed
	 * with RAFT_LEADERSHIPLOST is answered from inside raft's step-down,
	 * while raft still says leader and refuses another change as one
	 * already in progress (it was never taken: "not leader" is right). */
}

static void on_record_written(void *ctx, store_result *res)
{
	change_job *job = ctx;
	int ok = res->error == 0;
	store_result_free(res);
	job_answer(job, ok ? RAFTNODE_DONE : RAFTNODE_FAILED,
		   ok ? NULL : "record not written");
}

/* The member is out whatever became of its records: a leader that
 * removed itself can no longer write them, and the next one's tidy pass
 * does. */
static void on_settled(void *ctx, store_result *res)
{
	change_job *job = ctx;
	if (res->error)
		log_warn("raft",
			 "member %016llx: its removal is not on record "
			 "yet (%s); the leader's tidy pass writes it",
			 (unsigned long long)job->id,
			 res->cause ? res->cause : "not applied");
	store_result_free(res);
	job_answer(job, RAFTNODE_DONE, NULL);
}

static void on_added(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, RAFTNODE_FAILED, raft_strerror(status));
		return;
	}
	log_info("raft", "member %016llx added at %s",
		 (unsigned long long)job->id, job->addr);
	if (job->record[0] == '\0') {
		job_answer(job, RAFTNODE_DONE, NULL);
		return;
	}
	char key[64];
	membership_record_key(job->id, key, sizeof(key));
	if (membership_propose_meta(job->rn, key, job->record,
				    on_record_written, job) != 0)
		job_answer(job, RAFTNODE_FAILED, "record not written");
}

static void on_removed(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, RAFTNODE_FAILED, raft_strerror(status));
		return;
	}
	log_info("raft", "member %016llx removed", (unsigned long long)job->id);
	/* A leader that removed itself gets no more entries applied: the
	 * next leader's tidy pass writes the records. */
	if (job->id == job->rn->id || !ever_ran(job->rn, job->id) ||
	    settle_removal(job->rn, job->id, on_settled, job) != 0)
		job_answer(job, RAFTNODE_DONE, NULL);
}

static void on_assigned(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0)
		log_warn("raft", "member %016llx not promoted yet: %s",
			 (unsigned long long)job->id, raft_strerror(status));
	else
		log_info("raft", "member %016llx is now a %s",
			 (unsigned long long)job->id,
			 job->role == RAFT_VOTER ? "voter" : "standby");
	job_answer(job, status ? RAFTNODE_FAILED : RAFTNODE_DONE, NULL);
}

static void job_start(raftnode *rn, change_job *job);

/* A host that lost its data dir joins again from the same address with a
 * new id: the old member can never come back, so it goes first. */
static void on_stale_removed(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, RAFTNODE_FAILED, raft_strerror(status));
		return;
	}
	log_info("raft", "stale member %016llx at %s removed for %016llx",
		 (unsigned long long)job->stale_id, job->addr,
		 (unsigned long long)job->id);
	if (ever_ran(job->rn, job->stale_id))
		settle_removal(job->rn, job->stale_id, on_meta_deleted, NULL);
	job_start(job->rn, job);
}

static const struct raft_server *server_by_addr(raftnode *rn, const char *addr)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->servers[i].address, addr) == 0)
			return &c->servers[i];
	return NULL;
}

static void job_start(raftnode *rn, change_job *job)
{
	int rv = 0;
	job->req.data = job;
	if (raft_state(rn->raft) != RAFT_LEADER) {
		job_answer(job, RAFTNODE_NOT_LEADER, "not leader");
		return;
	}
	switch (job->type) {
	case JOB_JOIN:
	case JOB_ADD: {
		const struct raft_server *s =
		    membership_server_by_id(rn, job->id);
		if (s != NULL) { /* a repeated join: harmless */
			on_added(&job->req, 0);
			return;
		}
		if (raftnode_was_removed(rn, job->id)) {
			/* its old certificates would open the peer port */
			job_answer(job, RAFTNODE_CONFLICT,
				   "this member id was removed from the "
				   "cluster and cannot come back");
			return;
		}
		s = server_by_addr(rn, job->addr);
		if (s != NULL && job->type == JOB_JOIN && s->id != rn->id) {
			job->stale_id = s->id;
			rv = raft_remove(rn->raft, &job->req, s->id,
					 on_stale_removed);
			break;
		}
		if (s != NULL) {
			job_answer(job, RAFTNODE_CONFLICT, "peer URL exists");
			return;
		}
		rv =
		    raft_add(rn->raft, &job->req, job->id, job->addr, on_added);
		break;
	}
	case JOB_REMOVE:
		if (membership_server_by_id(rn, job->id) == NULL) {
			job_answer(job, RAFTNODE_NO_MEMBER, "No such member");
			return;
		}
		rv = raft_remove(rn->raft, &job->req, job->id, on_removed);
		break;
	case JOB_ASSIGN:
		rv = raft_assign(rn->raft, &job->req, job->id, job->role,
				 on_assigned);
		break;
	}
	if (rv != 0) {
		log_warn("raft", "membership change %d for %016llx: %s",
			 job->type, (unsigned long long)job->id,
			 raft_strerror(rv));
		job_answer(job,
			   rv == RAFT_NOTLEADER ? RAFTNODE_NOT_LEADER
						: RAFTNODE_FAILED,
			   raft_strerror(rv));
	}
}

static void run_next_job(raftnode *rn)
{
	if (rn->changes.running || rn->changes.head == NULL || rn->closing)
		return;
	change_job *job = rn->changes.head;
	rn->changes.head = job->next;
	if (rn->changes.head == NULL)
		rn->changes.tail = NULL;
	rn->changes.running = 1;
	job_start(rn, job);
}

void membership_job_enqueue(raftnode *rn, change_job *job)
{
	job->rn = rn;
	job->next = NULL;
	if (rn->changes.tail)
		rn->changes.tail->next = job;
	else
		rn->changes.head = job;
	rn->changes.tail = job;
	run_next_job(rn);
}

/* Spares with a record are alive hosts: promote them while voters are
 * short, else make them standbys. One change per pass. */
static void adjust_roles(raftnode *rn)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	if (rn->changes.running || rn->changes.head ||
	    rn->raft->configuration_uncommitted_index != 0)
		return;
	unsigned voters = membership_voters(rn);
	for (unsigned i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];
		raftnode_member m;
		int want = -1; /* RAFT_STANDBY is 0, so -1 means "keep" */
		if (s->role == RAFT_VOTER)
			continue;
		/* A host added by POST /v2/members has no record until it
		 * publishes one, and a spare gets no log, so it could never
		 * learn where to send it: make it a standby (it votes in no
		 * quorum, so a host that never starts costs nothing) and
		 * promote it once its record arrived. */
		int known = membership_record_read(rn, s->id, &m) == 0;
		if (known && voters < rn->cfg.max_voters)
			want = RAFT_VOTER;
		else if (s->role == RAFT_SPARE)
			want = RAFT_STANDBY;
		if (want < 0)
			continue;
		change_job *job = calloc(1, sizeof(*job));
		if (job == NULL)
			return; /* the next pass tries again */
		job->type = JOB_ASSIGN;
		job->id = s->id;
		job->role = want;
		membership_job_enqueue(rn, job);
		return;
	}
}

/* ---- the tidy pass ---- */

static void on_tidied(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->changes.settling = 0;
	store_result_free(res);
}

typedef struct orphan_scan {
	raftnode *rn;
	raft_id found;
} orphan_scan;

static void find_orphan(void *ctx, const char *key, const char *value,
			size_t len)
{
	orphan_scan *o = ctx;
	(void)value;
	(void)len;
	char *end = NULL;
	raft_id id = strtoull(key + strlen("member/"), &end, 16);
	if (o->found == 0 && id != 0 && end && *end == '\0' &&
	    membership_server_by_id(o->rn, id) == NULL)
		o->found = id;
}

/* A member record outlives its member only when the leader that removed
 * it stopped before settling the removal (or a removed host's last
 * record came late): settle it now. Records follow the add that made
 * the member, so a record without a member in a committed configuration
 * is a removal. One per pass. */
static void tidy_removals(raftnode *rn)
{
	if (rn->changes.running || rn->changes.head || rn->changes.settling ||
	    rn->raft->configuration_uncommitted_index != 0)
		return;
	orphan_scan o = {.rn = rn};
	if (store_meta_scan(rn->st, "member/", find_orphan, &o) != 0 ||
	    o.found == 0)
		return;
	log_info("raft", "member %016llx was removed: settling its records",
		 (unsigned long long)o.found);
	if (settle_removal(rn, o.found, on_tidied, rn) == 0)
		rn->changes.settling = 1;
}

void membership_tick(raftnode *rn)
{
	static uint64_t last_adjust;
	if (!rn->publish.done || rn->cluster_id == 0)
		membership_publish_self(rn);
	run_next_job(rn);
	if (raft_state(rn->raft) != RAFT_LEADER)
		return;
	uint64_t now = raftnode_now_ms(rn);
	if (now - last_adjust >= ROLE_ADJUST_EVERY_MS) {
		last_adjust = now;
		adjust_roles(rn);
		tidy_removals(rn);
	}
}
