/* membership.c - who is in the cluster and how hosts get there.
 *
 * Start-up: restart from the saved identity, or static etcd-style
 * bootstrap (--initial-cluster), or --join through any member, or a fresh
 * one-voter cluster. Member records (name, peer URL, client URLs) are
 * replicated as store metadata so every host answers /v2/members alike.
 * On the leader, membership changes run one at a time, and a role loop
 * promotes caught-up spares to voters (up to --max-voters) or standbys. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "node.h"

int raftnode_init_raft(raftnode *rn);

#define ROLE_ADJUST_EVERY_MS 500
#define JOIN_RETRY_MS 500
#define JOIN_TIMEOUT_S 60

/* ---- identity ---------------------------------------------------------- */

static void identity_path(raftnode *rn, char *out, size_t len)
{
	snprintf(out, len, "%s/ovld-identity", rn->raft_dir);
}

static int identity_load(raftnode *rn)
{
	char path[4200];
	identity_path(rn, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	unsigned long long id = 0, cluster = 0;
	int n = fscanf(f, "id=%llx\ncluster=%llx\n", &id, &cluster);
	fclose(f);
	if (n != 2 || id == 0)
		return -1;
	rn->id = id;
	rn->cluster_id = cluster;
	return 0;
}

static int identity_save(raftnode *rn)
{
	char path[4200], tmp[4300];
	identity_path(rn, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "id=%016llx\ncluster=%016llx\n", (unsigned long long)rn->id,
		(unsigned long long)rn->cluster_id);
	int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	fclose(f);
	if (!ok || rename(tmp, path) != 0)
		return -1;
	return 0;
}

/* ---- member records ---------------------------------------------------- */

static void record_key(raft_id id, char *out, size_t len)
{
	snprintf(out, len, "member/%016llx", (unsigned long long)id);
}

static int record_format(char *out, size_t len, const char *name,
			 const char *peer, const char *clients)
{
	return snprintf(out, len, "%s\n%s\n%s", name, peer, clients);
}

/* Fills m's name, peer and client URLs from its record; 0 if found. */
static int record_read(raftnode *rn, raft_id id, raftnode_member *m)
{
	char key[64];
	char *v = NULL;
	size_t len = 0;
	record_key(id, key, sizeof(key));
	if (store_meta_get(rn->st, key, &v, &len) != 0 || v == NULL)
		return -1;
	char *save = NULL;
	char *name = strtok_r(v, "\n", &save);
	char *peer = strtok_r(NULL, "\n", &save);
	char *clients = strtok_r(NULL, "\n", &save);
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
	snprintf(m->peer_url, sizeof(m->peer_url), "%s", peer ? peer : "");
	snprintf(m->client_urls, sizeof(m->client_urls), "%s",
		 clients ? clients : "");
	free(v);
	return 0;
}

int membership_client_url(raftnode *rn, raft_id id, char *out, size_t len)
{
	raftnode_member m;
	if (record_read(rn, id, &m) != 0 || m.client_urls[0] == '\0')
		return -1;
	return client_hostport(m.client_urls, 2379, out, len);
}

static int role_of(int raft_role)
{
	switch (raft_role) {
	case RAFT_VOTER:
		return RAFTNODE_VOTER;
	case RAFT_STANDBY:
		return RAFTNODE_STANDBY;
	default:
		return RAFTNODE_SPARE;
	}
}

static int by_id(const void *a, const void *b)
{
	const raftnode_member *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int raftnode_members(raftnode *rn, raftnode_member **list, size_t *n)
{
	const struct raft_configuration *c = &rn->raft.configuration;
	raft_id leader = 0;
	const char *addr;
	if (rn->raft_started)
		raft_leader(&rn->raft, &leader, &addr);
	*list = calloc(c->n ? c->n : 1, sizeof(**list));
	*n = c->n;
	for (unsigned i = 0; i < c->n; i++) {
		raftnode_member *m = &(*list)[i];
		m->id = c->servers[i].id;
		m->role = role_of(c->servers[i].role);
		m->is_leader = m->id == leader;
		if (record_read(rn, m->id, m) != 0)
			snprintf(m->peer_url, sizeof(m->peer_url), "http://%s",
				 c->servers[i].address);
	}
	qsort(*list, *n, sizeof(**list), by_id);
	return 0;
}

/* ---- publishing our own record and the cluster id ----------------------- */

static void on_published(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->publish_inflight = 0;
	if (res->error == 0)
		rn->published = 1;
	else
		log_warn("raft", "publishing this member failed: %d %s",
			 res->error, res->cause ? res->cause : "");
	store_result_free(res);
}

static void on_cluster_id_published(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->publish_inflight = 0;
	store_result_free(res);
}

static int meta_equals(raftnode *rn, const char *key, const char *want)
{
	char *v = NULL;
	size_t len = 0;
	int same = store_meta_get(rn->st, key, &v, &len) == 0 && v &&
		   len == strlen(want) && memcmp(v, want, len) == 0;
	free(v);
	return same;
}

static int meta_exists(raftnode *rn, const char *key)
{
	char *v = NULL;
	size_t len = 0;
	int found = store_meta_get(rn->st, key, &v, &len) == 0 && v;
	free(v);
	return found;
}

static int propose_meta(raftnode *rn, const char *key, const char *value,
			raftnode_done_cb cb, void *ctx)
{
	store_cmd cmd = {.op = STORE_OP_META_PUT,
			 .path = key,
			 .path_len = strlen(key),
			 .value = value,
			 .value_len = strlen(value),
			 .prev_exist = -1,
			 .now_ns = raftnode_wall_ns()};
	return raftnode_propose(rn, &cmd, cb, ctx);
}

static void publish_self(raftnode *rn)
{
	char key[64], rec[1024], cid[32];
	if (rn->publish_inflight || !raftnode_has_leader(rn))
		return;
	/* A cluster id not yet in the store is learnt, or seeded by us. */
	snprintf(cid, sizeof(cid), "%016llx",
		 (unsigned long long)rn->cluster_id);
	if (rn->cluster_id == 0) {
		char *v = NULL;
		size_t len;
		if (store_meta_get(rn->st, "cluster_id", &v, &len) == 0 && v) {
			rn->cluster_id = strtoull(v, NULL, 16);
			identity_save(rn);
		}
		free(v);
	} else if (!meta_exists(rn, "cluster_id")) {
		/* Seed it (first host); a race with a twin is harmless since
		 * both carry the same id. */
		if (propose_meta(rn, "cluster_id", cid, on_cluster_id_published,
				 rn) == 0)
			rn->publish_inflight = 1;
		return;
	}
	record_key(rn->id, key, sizeof(key));
	record_format(rec, sizeof(rec), rn->cfg.name, rn->cfg.peer_url,
		      rn->cfg.client_urls);
	if (meta_equals(rn, key, rec)) {
		rn->published = 1;
		return;
	}
	rn->published = 0;
	if (propose_meta(rn, key, rec, on_published, rn) == 0)
		rn->publish_inflight = 1;
}

/* ---- start-up ---------------------------------------------------------- */

static int bootstrap(raftnode *rn, struct raft_configuration *conf)
{
	int rv = raft_bootstrap(&rn->raft, conf);
	raft_configuration_close(conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		log_error("raft", "bootstrap: %s", raft_strerror(rv));
		return -1;
	}
	return 0;
}

static raft_id static_id(const char *peer_url)
{
	return raft_digest(peer_url, 0);
}

/* etcd's --initial-cluster: name=http://IP:PORT,name2=... */
static int start_static(raftnode *rn)
{
	char *list = strdup(rn->cfg.initial_cluster);
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	int found = 0, rv = 0;
	char *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		char addr[64];
		if (eq == NULL ||
		    client_hostport(eq + 1, 2380, addr, sizeof(addr)) != 0) {
			log_error("raft", "--initial-cluster: bad member '%s'",
				  item);
			rv = -1;
			break;
		}
		*eq = '\0';
		raft_id id = static_id(eq + 1);
		if (strcmp(item, rn->cfg.name) == 0) {
			rn->id = id;
			found = 1;
		}
		raft_configuration_add(&conf, id, addr, RAFT_VOTER);
	}
	free(list);
	if (rv == 0 && !found) {
		log_error("raft", "--initial-cluster has no member named '%s'",
			  rn->cfg.name);
		rv = -1;
	}
	char seed[1024];
	snprintf(seed, sizeof(seed), "%s/%s", rn->cfg.initial_cluster_token,
		 rn->cfg.initial_cluster);
	int existing = strcmp(rn->cfg.initial_cluster_state, "existing") == 0;
	rn->cluster_id = existing ? 0 : raft_digest(seed, 0);
	if (rv != 0 || identity_save(rn) != 0 || raftnode_init_raft(rn) != 0) {
		raft_configuration_close(&conf);
		return -1;
	}
	if (existing) {
		raft_configuration_close(&conf);
		return 0;
	}
	return bootstrap(rn, &conf);
}

static int start_single(raftnode *rn)
{
	char seed[512];
	snprintf(seed, sizeof(seed), "%s/%s", rn->cfg.initial_cluster_token,
		 rn->cfg.peer_url);
	rn->id = raft_digest(rn->cfg.peer_url, raftnode_wall_ns());
	rn->cluster_id = raft_digest(seed, raftnode_wall_ns());
	if (identity_save(rn) != 0 || raftnode_init_raft(rn) != 0)
		return -1;
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	raft_configuration_add(&conf, rn->id, rn->raft_addr, RAFT_VOTER);
	return bootstrap(rn, &conf);
}

static char *join_body(raftnode *rn)
{
	char id[32];
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)rn->id);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
			      rn->cfg.name, "peer_url", rn->cfg.peer_url,
			      "client_urls", rn->cfg.client_urls);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static int start_join(raftnode *rn)
{
	char target[64];
	if (client_hostport(rn->cfg.join, 2379, target, sizeof(target)) != 0) {
		log_error("raft", "--join %s: need IPv4[:PORT]", rn->cfg.join);
		return -1;
	}
	rn->id = raft_digest(rn->cfg.peer_url, raftnode_wall_ns());
	if (raftnode_init_raft(rn) != 0)
		return -1;
	char *body = join_body(rn);
	log_info("raft", "joining through %s as %016llx", target,
		 (unsigned long long)rn->id);
	for (int tries = 0; tries < JOIN_TIMEOUT_S * 1000 / JOIN_RETRY_MS;
	     tries++) {
		int status = 0;
		char *resp = NULL;
		size_t len = 0;
		if (client_post_sync(target, "/ovld/v1/join", body,
				     strlen(body), 5000, &status, &resp,
				     &len) == 0 &&
		    status == 200) {
			json_t *j = json_loads(resp, 0, NULL);
			const char *cid = NULL;
			json_unpack(j, "{s:s}", "cluster_id", &cid);
			rn->cluster_id = cid ? strtoull(cid, NULL, 16) : 0;
			json_decref(j);
			free(resp);
			free(body);
			log_info("raft", "joined cluster %016llx",
				 (unsigned long long)rn->cluster_id);
			return identity_save(rn);
		}
		if (status >= 400 && status < 500) {
			log_error("raft", "join refused by %s: %s", target,
				  resp ? resp : "");
			free(resp);
			free(body);
			return -1;
		}
		free(resp);
		usleep(JOIN_RETRY_MS * 1000);
	}
	log_error("raft", "join through %s: no answer within %d s", target,
		  JOIN_TIMEOUT_S);
	free(body);
	return -1;
}

int membership_bootstrap_or_join(raftnode *rn)
{
	if (identity_load(rn) == 0) {
		log_info("raft", "restarting as %016llx",
			 (unsigned long long)rn->id);
		return raftnode_init_raft(rn);
	}
	if (rn->cfg.initial_cluster && rn->cfg.initial_cluster[0])
		return start_static(rn);
	if (rn->cfg.join && rn->cfg.join[0])
		return start_join(rn);
	return start_single(rn);
}

/* ---- changes on the leader, one at a time -------------------------------- */

enum { JOB_JOIN = 1, JOB_ADD, JOB_REMOVE, JOB_ASSIGN };

struct change_job {
	int type;
	raftnode *rn;
	raft_id id;
	int role;
	char addr[64];
	char record[1024];
	raft_id stale_id; /* JOB_JOIN: an old member at the joiner's address */
	raftnode_reply_cb reply; /* internal channel answer */
	void *reply_ctx;
	raftnode_member_cb member_cb; /* local API answer */
	void *member_ctx;
	struct raft_change req;
	change_job *next;
};

static void run_next_job(raftnode *rn);
static int delete_record(raftnode *rn, raft_id id, raftnode_done_cb cb,
			 void *ctx);

static void job_answer(change_job *job, int status, const char *why)
{
	raftnode *rn = job->rn;
	if (job->reply) {
		char body[256];
		int n;
		if (status == 200 || status == 201 || status == 204)
			n = snprintf(body, sizeof(body),
				     "{\"cluster_id\":\"%016llx\","
				     "\"id\":\"%016llx\"}",
				     (unsigned long long)rn->cluster_id,
				     (unsigned long long)job->id);
		else
			n = snprintf(body, sizeof(body), "%s",
				     why ? why : "failed");
		job->reply(job->reply_ctx, status, "application/json", body, n);
	}
	if (job->member_cb) {
		raftnode_member m = {.id = job->id};
		record_read(rn, job->id, &m);
		if (m.peer_url[0] == '\0')
			snprintf(m.peer_url, sizeof(m.peer_url), "http://%s",
				 job->addr);
		job->member_cb(job->member_ctx,
			       status >= 200 && status < 300 ? 0 : status, why,
			       &m);
	}
	free(job);
	rn->job_running = 0;
	run_next_job(rn);
}

static void on_record_written(void *ctx, store_result *res)
{
	change_job *job = ctx;
	int ok = res->error == 0;
	store_result_free(res);
	job_answer(job, ok ? 200 : 500, ok ? NULL : "record not written");
}

static void on_added(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, 500, raft_strerror(status));
		return;
	}
	log_info("raft", "member %016llx added at %s",
		 (unsigned long long)job->id, job->addr);
	if (job->record[0] == '\0') {
		job_answer(job, 201, NULL);
		return;
	}
	char key[64];
	record_key(job->id, key, sizeof(key));
	if (propose_meta(job->rn, key, job->record, on_record_written, job) !=
	    0)
		job_answer(job, 500, "record not written");
}

static void on_removed(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, 500, raft_strerror(status));
		return;
	}
	log_info("raft", "member %016llx removed", (unsigned long long)job->id);
	if (delete_record(job->rn, job->id, on_record_written, job) != 0)
		job_answer(job, 204, NULL);
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
	job_answer(job, status ? 500 : 200, NULL);
}

static void job_start(raftnode *rn, change_job *job);

static void on_meta_deleted(void *ctx, store_result *res)
{
	store_result_free(res);
}

static int delete_record(raftnode *rn, raft_id id, raftnode_done_cb cb,
			 void *ctx)
{
	char key[64];
	record_key(id, key, sizeof(key));
	store_cmd cmd = {.op = STORE_OP_META_DEL,
			 .path = key,
			 .path_len = strlen(key),
			 .prev_exist = -1,
			 .now_ns = raftnode_wall_ns()};
	return raftnode_propose(rn, &cmd, cb, ctx);
}

/* A host that lost its data dir joins again from the same address with a
 * new id: the old member can never come back, so it goes first. */
static void on_stale_removed(struct raft_change *req, int status)
{
	change_job *job = req->data;
	if (status != 0) {
		job_answer(job, 500, raft_strerror(status));
		return;
	}
	log_info("raft", "stale member %016llx at %s removed for %016llx",
		 (unsigned long long)job->stale_id, job->addr,
		 (unsigned long long)job->id);
	delete_record(job->rn, job->stale_id, on_meta_deleted, NULL);
	job_start(job->rn, job);
}

static const struct raft_server *server_by_id(raftnode *rn, raft_id id)
{
	const struct raft_configuration *c = &rn->raft.configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

static const struct raft_server *server_by_addr(raftnode *rn, const char *addr)
{
	const struct raft_configuration *c = &rn->raft.configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->servers[i].address, addr) == 0)
			return &c->servers[i];
	return NULL;
}

static void job_start(raftnode *rn, change_job *job)
{
	int rv = 0;
	job->req.data = job;
	if (raft_state(&rn->raft) != RAFT_LEADER) {
		job_answer(job, 503, "not leader");
		return;
	}
	switch (job->type) {
	case JOB_JOIN:
	case JOB_ADD: {
		const struct raft_server *s = server_by_id(rn, job->id);
		if (s != NULL) { /* a repeated join: harmless */
			on_added(&job->req, 0);
			return;
		}
		s = server_by_addr(rn, job->addr);
		if (s != NULL && job->type == JOB_JOIN && s->id != rn->id) {
			job->stale_id = s->id;
			rv = raft_remove(&rn->raft, &job->req, s->id,
					 on_stale_removed);
			break;
		}
		if (s != NULL) {
			job_answer(job, 409, "peer URL exists");
			return;
		}
		rv = raft_add(&rn->raft, &job->req, job->id, job->addr,
			      on_added);
		break;
	}
	case JOB_REMOVE:
		if (server_by_id(rn, job->id) == NULL) {
			job_answer(job, 404, "No such member");
			return;
		}
		rv = raft_remove(&rn->raft, &job->req, job->id, on_removed);
		break;
	case JOB_ASSIGN:
		rv = raft_assign(&rn->raft, &job->req, job->id, job->role,
				 on_assigned);
		break;
	}
	if (rv != 0) {
		log_warn("raft", "membership change %d for %016llx: %s",
			 job->type, (unsigned long long)job->id,
			 raft_strerror(rv));
		job_answer(job, rv == RAFT_NOTLEADER ? 503 : 500,
			   raft_strerror(rv));
	}
}

static void run_next_job(raftnode *rn)
{
	if (rn->job_running || rn->jobs_head == NULL || rn->closing)
		return;
	change_job *job = rn->jobs_head;
	rn->jobs_head = job->next;
	if (rn->jobs_head == NULL)
		rn->jobs_tail = NULL;
	rn->job_running = 1;
	job_start(rn, job);
}

static void job_enqueue(raftnode *rn, change_job *job)
{
	job->rn = rn;
	job->next = NULL;
	if (rn->jobs_tail)
		rn->jobs_tail->next = job;
	else
		rn->jobs_head = job;
	rn->jobs_tail = job;
	run_next_job(rn);
}

unsigned membership_voters(raftnode *rn)
{
	const struct raft_configuration *c = &rn->raft.configuration;
	unsigned voters = 0;
	for (unsigned i = 0; i < c->n; i++)
		voters += c->servers[i].role == RAFT_VOTER;
	return voters;
}

/* Spares with a record are alive hosts: promote them while voters are
 * short, else make them standbys. One change per pass. */
static void adjust_roles(raftnode *rn)
{
	const struct raft_configuration *c = &rn->raft.configuration;
	if (rn->job_running || rn->jobs_head ||
	    rn->raft.configuration_uncommitted_index != 0)
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
		int known = record_read(rn, s->id, &m) == 0;
		if (known && voters < rn->cfg.max_voters)
			want = RAFT_VOTER;
		else if (s->role == RAFT_SPARE)
			want = RAFT_STANDBY;
		if (want < 0)
			continue;
		change_job *job = calloc(1, sizeof(*job));
		job->type = JOB_ASSIGN;
		job->id = s->id;
		job->role = want;
		job_enqueue(rn, job);
		return;
	}
}

void membership_tick(raftnode *rn)
{
	static uint64_t last_adjust;
	if (!rn->published || rn->cluster_id == 0)
		publish_self(rn);
	if (raft_state(&rn->raft) != RAFT_LEADER)
		return;
	uint64_t now = raftnode_now_ms(rn);
	if (now - last_adjust >= ROLE_ADJUST_EVERY_MS) {
		last_adjust = now;
		adjust_roles(rn);
	}
}

/* ---- requests ---------------------------------------------------------- */

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
static int relay_to_leader(raftnode *rn, const char *path, const char *body,
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
		job->id = id ? strtoull(id, NULL, 16) : static_id(peer);
		if (client_hostport(peer, 2380, job->addr, sizeof(job->addr)) !=
			0 ||
		    job->id == 0) {
			free(job);
			job = NULL;
		} else if (type == JOB_JOIN) {
			record_format(job->record, sizeof(job->record), name,
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
		if (relay_to_leader(rn, path, body, len, reply, ctx) != 0)
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
	job_enqueue(rn, job);
}

/* API calls (POST/DELETE /v2/members) go through the internal channel so
 * that followers and the leader take the same path. */
typedef struct member_call {
	raftnode *rn;
	raftnode_member_cb cb;
	void *ctx;
	raft_id id;
	char peer_url[128];
} member_call;

static void on_member_reply(void *ctx, int status, const char *ct,
			    const void *body, size_t len)
{
	member_call *mc = ctx;
	raftnode_member m = {.id = mc->id};
	snprintf(m.peer_url, sizeof(m.peer_url), "%s", mc->peer_url);
	if (status >= 200 && status < 300)
		mc->cb(mc->ctx, 0, NULL, &m);
	else
		mc->cb(mc->ctx, status == 503 ? 500 : status,
		       status == 404 ? "No such member"
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
	if (relay_to_leader(mc->rn, "/ovld/v1/member/remove", body,
			    strlen(body), on_member_reply, mc) != 0)
		on_member_reply(mc, 503, NULL, NULL, 0);
}

static void member_request(raftnode *rn, const char *path, const char *body,
			   member_call *mc)
{
	if (raft_state(&rn->raft) == RAFT_LEADER) {
		membership_internal(rn, path, body, strlen(body),
				    on_member_reply, mc);
		return;
	}
	if (relay_to_leader(rn, path, body, strlen(body), on_member_reply,
			    mc) != 0)
		on_member_reply(mc, 503, NULL, NULL, 0);
}

int raftnode_member_add(raftnode *rn, const char *peer_url,
			raftnode_member_cb cb, void *ctx)
{
	char addr[64];
	if (client_hostport(peer_url, 2380, addr, sizeof(addr)) != 0)
		return -1;
	member_call *mc = calloc(1, sizeof(*mc));
	mc->rn = rn;
	mc->cb = cb;
	mc->ctx = ctx;
	mc->id = static_id(peer_url);
	snprintf(mc->peer_url, sizeof(mc->peer_url), "%s", peer_url);
	json_t *j = json_pack("{s:s}", "peer_url", peer_url);
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	member_request(rn, "/ovld/v1/member/add", body, mc);
	free(body);
	return 0;
}

int raftnode_member_remove(raftnode *rn, uint64_t id, raftnode_member_cb cb,
			   void *ctx)
{
	member_call *mc = calloc(1, sizeof(*mc));
	mc->rn = rn;
	mc->cb = cb;
	mc->ctx = ctx;
	mc->id = id;
	if (id == rn->id && raft_state(&rn->raft) == RAFT_LEADER &&
	    rn->raft.configuration.n > 1) {
		/* Removing the leader: hand over first (raft 0.15 misbehaves
		 * when the leader removes itself under load). */
		struct raft_transfer *req = calloc(1, sizeof(*req));
		req->data = mc;
		if (raft_transfer(&rn->raft, req, 0,
				  on_transferred_then_remove) == 0)
			return 0;
		free(req);
	}
	char body[32];
	snprintf(body, sizeof(body), "%016llx", (unsigned long long)id);
	member_request(rn, "/ovld/v1/member/remove", body, mc);
	return 0;
}

int raftnode_member_update(raftnode *rn, uint64_t id, const char *peer_url,
			   raftnode_member_cb cb, void *ctx)
{
	/* canonical/raft cannot change a server's address in place; etcd
	 * clients use this rarely, so refuse clearly. */
	raftnode_member m = {.id = id};
	if (server_by_id(rn, id) == NULL) {
		cb(ctx, 404, "No such member", &m);
		return 0;
	}
	cb(ctx, 409,
	   "changing a member's peer URL is not supported; remove "
	   "and re-join it",
	   &m);
	return 0;
}

/* raft 0.15 keeps no per-follower latency or counts, only a flag that a
 * follower answered since the last quorum check (reset every election
 * timeout). The tick samples it: a follower counts as answering while it
 * was seen within two election timeouts. */
static follower_seen *seen_slot(raftnode *rn, raft_id id)
{
	follower_seen *free_slot = NULL;
	for (unsigned i = 0; i < SEEN_SLOTS; i++) {
		follower_seen *f = &rn->seen[i];
		if (f->id == id)
			return f;
		/* a slot is free if unused or its server left */
		if (free_slot == NULL &&
		    (f->id == 0 || server_by_id(rn, f->id) == NULL))
			free_slot = f;
	}
	if (free_slot)
		*free_slot = (follower_seen){.id = id,
					     .last_ok_ms = raftnode_now_ms(rn)};
	return free_slot;
}

void membership_sample_followers(raftnode *rn)
{
	if (raft_state(&rn->raft) != RAFT_LEADER ||
	    rn->raft.leader_state.progress == NULL)
		return;
	const struct raft_configuration *c = &rn->raft.configuration;
	uint64_t now = raftnode_now_ms(rn);
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == rn->id)
			continue;
		follower_seen *f = seen_slot(rn, c->servers[i].id);
		if (f == NULL)
			continue;
		if (rn->raft.leader_state.progress[i].recent_recv) {
			f->last_ok_ms = now;
			f->ok++;
		} else if (now - f->last_ok_ms > 2 * rn->cfg.election_ms) {
			f->failed++;
		}
	}
}

int raftnode_follower_stats(raftnode *rn, raftnode_follower **list, size_t *n)
{
	if (raft_state(&rn->raft) != RAFT_LEADER)
		return -1;
	const struct raft_configuration *c = &rn->raft.configuration;
	*list = calloc(c->n ? c->n : 1, sizeof(**list));
	*n = 0;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == rn->id)
			continue;
		raftnode_follower *f = &(*list)[(*n)++];
		f->id = c->servers[i].id;
		follower_seen *s = seen_slot(rn, f->id);
		f->success = s ? s->ok : 0;
		f->fail = s ? s->failed : 0;
	}
	return 0;
}
