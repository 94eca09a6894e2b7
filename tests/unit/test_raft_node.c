/* test_raft_node.c - the raft layer's request paths in one process: three
 * raftnodes, each over its own store, on a canonical/raft raft_fixture
 * cluster (in-memory disks and network, fake time), with an in-process
 * link for the requests between hosts (forwards, barriers, terms,
 * membership). The test drives both clocks: raft_fixture_step for raft,
 * uv_run(NOWAIT) for raftnode's loop (its batch idle handle, end-of-turn
 * check, 20 ms tick), and delivers link messages between them, so every
 * answer crosses at least one loop turn, as it would over the network.
 *
 * What is asserted is what a client would notice: the store result a
 * write is answered with and whether the host's own store has it at that
 * moment, a read's status, a membership call's answer; internals only
 * where the claim is about them (how many append requests carried a
 * turn's writes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft/fixture.h>

#include "log.h"
#include "raft/command.h"
#include "raft/membership.h"
#include "raft/node.h"

#define MAX_HOSTS 4
#define WAIT_NS (5 * 1000000000ULL) /* a bound on waits, not a timing */

/* ---- the cluster: hosts, fixture, link ---- */

typedef struct cluster cluster;

typedef struct msg {
	struct msg *next;
	cluster *c;
	int is_answer;
	unsigned from, to; /* host indexes */
	int kind;	   /* request: enum raftnode_kind; answer: the answer */
	void *body;
	size_t len;
	raftnode_answer_cb cb;
	void *ctx;
} msg;

typedef struct host {
	cluster *c;
	unsigned i;
	raftnode *rn;
	store *st;
	char dir[64];
} host;

struct cluster {
	uv_loop_t loop;
	struct raft_fixture f;
	host h[MAX_HOSTS];
	unsigned n;
	msg *head, *tail;
	int hold;		       /* deliver nothing while set */
	int cut[MAX_HOSTS][MAX_HOSTS]; /* requests i -> j get no answer */
	unsigned sent[8];	       /* requests by kind */
	unsigned served[8];	       /* requests handed to raftnode_serve */
	unsigned closed;
};

static void enqueue(cluster *c, msg *m)
{
	m->c = c;
	m->next = NULL;
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
}

static msg *new_msg(const void *body, size_t len)
{
	msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	if (len) {
		m->body = malloc(len);
		assert_non_null(m->body);
		memcpy(m->body, body, len);
	}
	m->len = len;
	return m;
}

static void free_msg(msg *m)
{
	free(m->body);
	free(m);
}

static int link_send(void *link_ctx, uint64_t id, const char *address, int kind,
		     const void *body, size_t len, raftnode_answer_cb cb,
		     void *ctx)
{
	host *from = link_ctx;
	cluster *c = from->c;
	(void)address; /* fixture servers are found by id */
	assert_true(id >= 1 && id <= c->n);
	msg *m = new_msg(body, len);
	m->from = from->i;
	m->to = (unsigned)id - 1;
	m->kind = kind;
	m->cb = cb;
	m->ctx = ctx;
	c->sent[kind]++;
	enqueue(c, m);
	return 0;
}

/* A request's answer travels back as a message of its own. */
static void on_served(void *ctx, int answer, const void *body, size_t len)
{
	msg *req = ctx;
	msg *a = new_msg(body, len);
	a->is_answer = 1;
	a->kind = answer;
	a->cb = req->cb;
	a->ctx = req->ctx;
	a->from = req->to;
	a->to = req->from;
	enqueue(req->c, a);
	free_msg(req);
}

static const char unreachable[] = "unreachable";

/* Delivers what was queued before the call; what that queues waits. */
static void pump(cluster *c)
{
	msg *m = c->hold ? NULL : c->head;
	if (m == NULL)
		return;
	c->head = c->tail = NULL;
	while (m) {
		msg *next = m->next;
		if (m->is_answer) {
			m->cb(m->ctx, m->kind, m->body, m->len);
			free_msg(m);
		} else if (c->cut[m->from][m->to]) {
			m->cb(m->ctx, -1, unreachable, sizeof(unreachable) - 1);
			free_msg(m);
		} else {
			c->served[m->kind]++;
			raftnode_serve(c->h[m->to].rn, m->from + 1, m->kind,
				       m->body, m->len, on_served, m);
		}
		m = next;
	}
}

/* One turn of everything: a raft event, the loop, the link. */
static void turn(cluster *c)
{
	raft_fixture_step(&c->f);
	uv_run(&c->loop, UV_RUN_NOWAIT);
	pump(c);
	uv_run(&c->loop, UV_RUN_NOWAIT);
}

typedef int (*pred_fn)(cluster *c, void *arg);

/* Turns until pred holds; 0 if it did not within WAIT_NS. */
static int run_until(cluster *c, pred_fn pred, void *arg)
{
	uint64_t end = uv_hrtime() + WAIT_NS;
	while (!pred(c, arg)) {
		if (uv_hrtime() > end)
			return 0;
		turn(c);
	}
	return 1;
}

/* Turns for a while whatever happens (for "nothing more happens"). */
static void run_for_ms(cluster *c, unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
	while (uv_hrtime() < end)
		turn(c);
}

/* The first *arg hosts (members from the start) know the leader and have
 * published their records. */
static int all_ready(cluster *c, void *arg)
{
	unsigned n = *(unsigned *)arg;
	(void)c;
	for (unsigned i = 0; i < n; i++)
		if (!raftnode_is_ready(c->h[i].rn))
			return 0;
	return 1;
}

/* Never used: raft runs on the fixture, but raftnode_init wants one. */
static struct raft_uv_transport unused_transport;

static void host_init(cluster *c, unsigned i)
{
	host *h = &c->h[i];
	h->c = c;
	h->i = i;
	strcpy(h->dir, "/tmp/ovld-raftnode-test-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	store_config sc = {.map_size = 64 << 20};
	assert_int_equal(store_open(&h->st, h->dir, &sc), 0);
	char name[16], peer[64];
	snprintf(name, sizeof(name), "host%u", i + 1);
	snprintf(peer, sizeof(peer), "http://127.0.0.%u:2380", i + 1);
	raftnode_config cfg = {
	    .data_dir = h->dir,
	    .name = name,
	    .peer_url = peer,
	    .client_urls = "http://127.0.0.1:2379",
	    .heartbeat_ms = 100, /* the fixture's own timeouts */
	    .election_ms = 1000,
	    .request_timeout_ms = 2000,
	    .transport = &unused_transport,
	    .link = {.send = link_send, .link_ctx = h},
	};
	assert_int_equal(raftnode_init(&h->rn, &c->loop, h->st, &cfg), 0);
}

static void grow(cluster *c, unsigned i)
{
	/* raftnode's FSM (version 3) snapshots asynchronously: raft_init
	 * wants an io of version 2 for that, and the fixture's io has
	 * async_work but leaves version at 0. */
	c->f.servers[i].io.version = 2;
	int rv = raft_fixture_grow(&c->f, &c->h[i].rn->fsm);
	if (rv != 0)
		fail_msg("raft_fixture_grow: %s",
			 raft_errmsg(&c->f.servers[i].raft));
}

/* voters hosts in the initial configuration, then extra ones that are in
 * no configuration (they join later); host 0 is elected. */
static cluster *cluster_new(unsigned voters, unsigned extra)
{
	cluster *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(uv_loop_init(&c->loop), 0);
	c->n = voters + extra;
	/* raftnode_init installs raft's allocator: before the fixture
	 * allocates anything */
	for (unsigned i = 0; i < c->n; i++)
		host_init(c, i);
	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < voters; i++)
		grow(c, i);
	struct raft_configuration conf;
	assert_int_equal(raft_fixture_configuration(&c->f, voters, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
	raft_configuration_close(&conf);
	for (unsigned i = voters; i < c->n; i++)
		grow(c, i); /* no bootstrap: a new host's empty log */
	for (unsigned i = 0; i < c->n; i++) {
		raftnode *rn = c->h[i].rn;
		/* what bootstrap_or_join would have set; host records and the
		 * cluster id are then published as at a real start */
		rn->cluster_id = 0xc1u;
		assert_int_equal(
		    raftnode_attach(rn, raft_fixture_get(&c->f, i)), 0);
	}
	assert_int_equal(raft_fixture_start(&c->f), 0);
	raft_fixture_elect(&c->f, 0);
	assert_true(run_until(c, all_ready, &voters));
	return c;
}

static void on_closed(void *ctx)
{
	((cluster *)ctx)->closed++;
}

static void cluster_free(cluster *c)
{
	/* Requests still on the link get no answer, as when a host dies. */
	c->hold = 0;
	for (unsigned i = 0; i < MAX_HOSTS; i++)
		for (unsigned j = 0; j < MAX_HOSTS; j++)
			c->cut[i][j] = 1;
	while (c->head)
		pump(c);
	/* raft first: the requests it fails still reach their raftnode */
	raft_fixture_close(&c->f);
	for (unsigned i = 0; i < c->n; i++)
		raftnode_close(c->h[i].rn, on_closed, c);
	while (c->closed < c->n)
		uv_run(&c->loop, UV_RUN_ONCE);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	for (unsigned i = 0; i < c->n; i++) {
		char cmd[128];
		store_close(c->h[i].st);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->h[i].dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", c->h[i].dir);
	}
	free(c);
}

static int setup3(void **state)
{
	*state = cluster_new(3, 0);
	return 0;
}

static int setup3_plus1(void **state)
{
	*state = cluster_new(3, 1);
	return 0;
}

static int teardown(void **state)
{
	cluster_free(*state);
	return 0;
}

/* ---- client side helpers ---- */

/* A write's answer, and whether the host had applied it by then. */
typedef struct answer {
	host *h;
	int calls;
	int error;
	char cause[160];
	int action;
	char key[64];
	char value[64];
	int in_store; /* h's store had key = value when answered */
} answer;

static int store_value(store *st, const char *key, char *out, size_t n)
{
	store_result r;
	if (store_get(st, key, 0, 1, &r) != 0)
		return -1;
	int err = r.error;
	if (!err && out)
		snprintf(out, n, "%s", r.ev.node.value ? r.ev.node.value : "");
	store_result_free(&r);
	return err;
}

static void on_write(void *ctx, store_result *res)
{
	answer *a = ctx;
	a->calls++;
	a->error = res->error;
	snprintf(a->cause, sizeof(a->cause), "%s",
		 res->cause ? res->cause : "");
	if (res->error == 0) {
		a->action = res->ev.action;
		snprintf(a->key, sizeof(a->key), "%s",
			 res->ev.node.key ? res->ev.node.key : "");
		snprintf(a->value, sizeof(a->value), "%s",
			 res->ev.node.value ? res->ev.node.value : "");
		char now[64];
		a->in_store =
		    store_value(a->h->st, a->key, now, sizeof(now)) == 0 &&
		    strcmp(now, a->value) == 0;
	}
	store_result_free(res);
}

static void put(host *h, int op, const char *key, const char *value, answer *a)
{
	memset(a, 0, sizeof(*a));
	a->h = h;
	store_cmd cmd = {.op = op,
			 .path = key,
			 .path_len = strlen(key),
			 .value = value,
			 .value_len = strlen(value),
			 .prev_exist = -1,
			 .now_ns = raftnode_wall_ns()};
	assert_int_equal(raftnode_propose(h->rn, &cmd, on_write, a), 0);
}

static int answered(cluster *c, void *arg)
{
	(void)c;
	return ((answer *)arg)->calls > 0;
}

typedef struct read_answer {
	host *h;
	int calls;
	int status;
	char why[96];
	const char *key; /* if set: is key's value `want` at the answer */
	const char *want;
	int saw;
} read_answer;

static void on_read(void *ctx, int status, const char *why)
{
	read_answer *r = ctx;
	r->calls++;
	r->status = status;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	if (r->key) {
		char v[64];
		r->saw = store_value(r->h->st, r->key, v, sizeof(v)) == 0 &&
			 strcmp(v, r->want) == 0;
	}
}

static int read_answered(cluster *c, void *arg)
{
	(void)c;
	return ((read_answer *)arg)->calls > 0;
}

static int all_applied_index(cluster *c, void *arg)
{
	raft_index want = *(raft_index *)arg;
	for (unsigned i = 0; i < c->n; i++)
		if (raft_fixture_alive(&c->f, i) &&
		    raft_last_applied(raft_fixture_get(&c->f, i)) < want)
			return 0;
	return 1;
}

/* Every live host has applied what the leader has committed. */
static void settle(cluster *c)
{
	unsigned l = raft_fixture_leader_index(&c->f);
	assert_true(l < c->n);
	raft_index want = raft_fixture_get(&c->f, l)->commit_index;
	assert_true(run_until(c, all_applied_index, &want));
}

/* ---- writes ---- */

/* The leader answers a write with the store's result once it applied it. */
static void leader_write_is_answered_after_apply(void **state)
{
	cluster *c = *state;
	answer a;
	put(&c->h[0], STORE_OP_PUT, "/a", "1", &a);
	assert_int_equal(a.calls, 0); /* not before raft committed it */
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
	assert_int_equal(a.action, STORE_ACTION_SET);
	assert_string_equal(a.key, "/a");
	assert_true(a.in_store);
	run_for_ms(c, 50);
	assert_int_equal(a.calls, 1);
	settle(c);
	char v[64];
	for (unsigned i = 0; i < c->n; i++) {
		assert_int_equal(store_value(c->h[i].st, "/a", v, sizeof(v)),
				 0);
		assert_string_equal(v, "1");
	}
}

/* A follower forwards a write to the leader and answers it from its own
 * apply: the writer reads its own write there. Store errors come back the
 * same way. */
static void follower_write_is_forwarded(void **state)
{
	cluster *c = *state;
	unsigned forwards = c->sent[RAFTNODE_FORWARD];
	answer a;
	put(&c->h[2], STORE_OP_PUT, "/f", "x", &a);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
	assert_true(a.in_store);
	assert_int_equal(c->sent[RAFTNODE_FORWARD], forwards + 1);
	char v[64];
	assert_int_equal(store_value(c->h[2].st, "/f", v, sizeof(v)), 0);
	assert_string_equal(v, "x");

	/* a create of an existing key: the store's error, not a failure */
	answer b;
	memset(&b, 0, sizeof(b));
	b.h = &c->h[2];
	store_cmd cmd = {.op = STORE_OP_PUT,
			 .path = "/f",
			 .path_len = 2,
			 .value = "y",
			 .value_len = 1,
			 .prev_exist = 0,
			 .now_ns = raftnode_wall_ns()};
	assert_int_equal(raftnode_propose(c->h[2].rn, &cmd, on_write, &b), 0);
	assert_true(run_until(c, answered, &b));
	assert_int_equal(b.error, STORE_ERR_NODE_EXIST);
	assert_int_equal(store_value(c->h[2].st, "/f", v, sizeof(v)), 0);
	assert_string_equal(v, "x");
}

/* ---- batching ---- */

/* The leader's io->append, wrapped: which requests carried which of the
 * test's entries (commands on keys under /batch/). */
static struct {
	struct raft_io *io;
	int (*append)(struct raft_io *io, struct raft_io_append *req,
		      const struct raft_entry entries[], unsigned n,
		      raft_io_append_cb cb);
	unsigned requests; /* append requests with a /batch/ entry */
	unsigned entries;  /* /batch/ entries in them */
	unsigned largest;  /* most /batch/ entries in one request */
} spy;

static int spy_append(struct raft_io *io, struct raft_io_append *req,
		      const struct raft_entry entries[], unsigned n,
		      raft_io_append_cb cb)
{
	unsigned mine = 0;
	for (unsigned i = 0; i < n; i++) {
		command cmd;
		if (entries[i].type == RAFT_COMMAND &&
		    raftnode_command_decode(entries[i].buf.base,
					    entries[i].buf.len, &cmd) == 0 &&
		    cmd.cmd.path_len > 7 &&
		    memcmp(cmd.cmd.path, "/batch/", 7) == 0)
			mine++;
	}
	if (mine) {
		spy.requests++;
		spy.entries += mine;
		if (mine > spy.largest)
			spy.largest = mine;
	}
	return spy.append(io, req, entries, n, cb);
}

static void spy_on(cluster *c, unsigned i)
{
	memset(&spy, 0, sizeof(spy));
	spy.io = &c->f.servers[i].io;
	spy.append = spy.io->append;
	spy.io->append = spy_append;
}

static void spy_off(void)
{
	spy.io->append = spy.append;
}

#define BATCH 8

static int all_answered(cluster *c, void *arg)
{
	answer *a = arg;
	for (int i = 0; i < BATCH; i++)
		if (a[i].calls == 0)
			return 0;
	return 1;
}

/* BATCH writes to h in one loop turn (keys prefix0, prefix1, ...), run
 * until each is answered: each succeeds, for its own key, and is in h's
 * store when answered. */
static void write_one_turn(cluster *c, host *h, const char *prefix)
{
	answer a[BATCH];
	char key[BATCH][32], val[BATCH][8];
	for (int i = 0; i < BATCH; i++) {
		snprintf(key[i], sizeof(key[i]), "%s%d", prefix, i);
		snprintf(val[i], sizeof(val[i]), "%d", i);
		put(h, STORE_OP_PUT, key[i], val[i], &a[i]);
	}
	assert_true(run_until(c, all_answered, a));
	for (int i = 0; i < BATCH; i++) {
		assert_int_equal(a[i].error, 0);
		assert_string_equal(a[i].key, key[i]);
		assert_true(a[i].in_store);
	}
}

/* Writes taken in one loop turn reach raft as one raft_apply: one append
 * request on the leader's disk (and so one AppendEntries per follower)
 * carries all of them, as batch.c means. Each is still its own entry and
 * gets its own answer. */
static void one_turn_of_writes_is_one_append(void **state)
{
	cluster *c = *state;
	spy_on(c, 0);
	write_one_turn(c, &c->h[0], "/batch/l");
	spy_off();
	assert_int_equal(spy.entries, BATCH);
	assert_int_equal(spy.requests, 1);
	assert_int_equal(spy.largest, BATCH);
}

/* A follower's writes of one turn go to the leader as one FORWARD
 * request, and the leader hands them to raft together. */
static void one_turn_of_forwards_is_one_request(void **state)
{
	cluster *c = *state;
	unsigned forwards = c->sent[RAFTNODE_FORWARD];
	spy_on(c, 0);
	write_one_turn(c, &c->h[1], "/batch/f");
	spy_off();
	assert_int_equal(c->sent[RAFTNODE_FORWARD], forwards + 1);
	assert_int_equal(spy.entries, BATCH);
	assert_int_equal(spy.requests, 1);
}

/* ---- quorum reads ---- */

/* On the leader: the first read of a term takes a barrier (an entry),
 * later ones confirm the term with the voters over the link. Both answer
 * with everything acknowledged before them applied. */
static void leader_quorum_read(void **state)
{
	cluster *c = *state;
	answer a;
	put(&c->h[0], STORE_OP_PUT, "/r", "1", &a);
	assert_true(run_until(c, answered, &a));
	uint64_t barriers = c->h[0].rn->stats.read_barriers;
	read_answer r = {.h = &c->h[0], .key = "/r", .want = "1"};
	assert_int_equal(raftnode_quorum_read(c->h[0].rn, on_read, &r), 0);
	assert_int_equal(r.calls, 0);
	assert_true(run_until(c, read_answered, &r));
	assert_int_equal(r.status, 0);
	assert_true(r.saw);
	assert_int_equal(c->h[0].rn->stats.read_barriers, barriers + 1);

	unsigned terms = c->sent[RAFTNODE_TERM];
	read_answer r2 = {.h = &c->h[0], .key = "/r", .want = "1"};
	assert_int_equal(raftnode_quorum_read(c->h[0].rn, on_read, &r2), 0);
	assert_true(run_until(c, read_answered, &r2));
	assert_int_equal(r2.status, 0);
	assert_true(r2.saw);
	assert_int_equal(c->sent[RAFTNODE_TERM], terms + 2); /* 2 voters */
}

static int read_awaits_apply(cluster *c, void *arg)
{
	(void)c;
	return ((host *)arg)->rn->reads.applying != NULL;
}

/* On a follower: the leader's barrier gives a read point, and the read is
 * answered only once the follower applied up to it. Host 3 is cut off
 * from the leader's log while a write commits without it, so its read
 * has to wait for the catch-up. */
static void follower_quorum_read_waits_for_apply(void **state)
{
	cluster *c = *state;
	struct raft_fixture *f = &c->f;
	raft_term term = raft_fixture_get(f, 2)->current_term;
	raft_fixture_disconnect(f, 0, 2);
	raft_fixture_disconnect(f, 2, 0);
	answer a;
	put(&c->h[0], STORE_OP_PUT, "/fr", "v", &a);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
	assert_int_not_equal(store_value(c->h[2].st, "/fr", NULL, 0), 0);

	read_answer r = {.h = &c->h[2], .key = "/fr", .want = "v"};
	assert_int_equal(raftnode_quorum_read(c->h[2].rn, on_read, &r), 0);
	/* the leader answered the barrier; host 3 has not applied up to it */
	assert_true(run_until(c, read_awaits_apply, &c->h[2]));
	assert_int_equal(r.calls, 0);
	assert_int_not_equal(store_value(c->h[2].st, "/fr", NULL, 0), 0);

	raft_fixture_reconnect(f, 0, 2);
	raft_fixture_reconnect(f, 2, 0);
	assert_true(run_until(c, read_answered, &r));
	assert_int_equal(r.status, 0);
	assert_true(r.saw);
	/* no election was needed (the cut was shorter than a timeout) */
	assert_int_equal(raft_fixture_get(f, 2)->current_term, term);
}

/* ---- membership ---- */

typedef struct member_answer {
	int calls;
	int answer;
	char body[256];
} member_answer;

static void on_member_answer(void *ctx, int answer, const void *body,
			     size_t len)
{
	member_answer *m = ctx;
	m->calls++;
	m->answer = answer;
	snprintf(m->body, sizeof(m->body), "%.*s", (int)len,
		 (const char *)body);
}

typedef struct api_answer {
	int calls;
	int answer;
	raftnode_member m;
} api_answer;

static void on_api_member(void *ctx, int answer, const char *why,
			  const raftnode_member *m)
{
	api_answer *a = ctx;
	(void)why;
	a->calls++;
	a->answer = answer;
	a->m = *m;
}

static int role_of(struct raft *r, raft_id id)
{
	for (unsigned i = 0; i < r->configuration.n; i++)
		if (r->configuration.servers[i].id == id)
			return r->configuration.servers[i].role;
	return -1;
}

static int member_answered(cluster *c, void *arg)
{
	(void)c;
	return ((member_answer *)arg)->calls > 0;
}

static int api_answered(cluster *c, void *arg)
{
	(void)c;
	return ((api_answer *)arg)->calls > 0;
}

static int host4_is_voter(cluster *c, void *arg)
{
	(void)arg;
	return role_of(raft_fixture_get(&c->f, 0), 4) == RAFT_VOTER &&
	       raft_fixture_get(&c->f, 0)->configuration_uncommitted_index == 0;
}

/* The leader runs configuration changes one at a time from a queue: a
 * join and a remove asked in the same turn both succeed (raft itself
 * refuses a second change while one is uncommitted), in order. The role
 * loop then promotes the joined spare to a voter. */
static void membership_changes_run_one_at_a_time(void **state)
{
	cluster *c = *state;
	raftnode *leader = c->h[0].rn;
	struct raft *r = raft_fixture_get(&c->f, 0);
	raftnode_member m4 = {.id = 4};
	snprintf(m4.name, sizeof(m4.name), "host4");
	snprintf(m4.peer_url, sizeof(m4.peer_url), "http://127.0.0.4:2380");
	snprintf(m4.client_urls, sizeof(m4.client_urls),
		 "http://127.0.0.4:2379");

	member_answer join = {0};
	api_answer removal = {0};
	assert_int_equal(
	    raftnode_member_join(leader, &m4, on_member_answer, &join),
	    RAFTNODE_DONE);
	assert_int_equal(
	    raftnode_member_remove(leader, 3, on_api_member, &removal), 0);
	/* the join is raft's one uncommitted change; the remove waits */
	assert_int_not_equal(r->configuration_uncommitted_index, 0);
	assert_int_equal(role_of(r, 3), RAFT_VOTER);
	assert_int_equal(role_of(r, 4), RAFT_SPARE);

	assert_true(run_until(c, member_answered, &join));
	assert_int_equal(join.answer, RAFTNODE_DONE);
	assert_non_null(strstr(join.body, "\"id\":\"0000000000000004\""));
	assert_true(run_until(c, api_answered, &removal));
	assert_int_equal(removal.answer, RAFTNODE_DONE);
	assert_int_equal(role_of(r, 3), -1);
	raft_fixture_kill(&c->f, 2); /* a removed host goes away */

	/* the role loop: host 4 has a record, voters are short */
	assert_true(run_until(c, host4_is_voter, NULL));
	raftnode_member *list;
	size_t n;
	assert_int_equal(raftnode_members(leader, &list, &n), 0);
	assert_int_equal(n, 3);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(list[i].id, 3);
		if (list[i].id == 4) {
			found = 1;
			assert_string_equal(list[i].name, "host4");
			assert_int_equal(list[i].role, RAFTNODE_VOTER);
		}
	}
	free(list);
	assert_true(found);

	/* the new voter takes writes like the others (forwarded) */
	answer a;
	put(&c->h[3], STORE_OP_PUT, "/m", "4", &a);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
	assert_true(a.in_store);
}

/* POST then DELETE /v2/members of the same host in one turn: the remove
 * waits for the add (run at once it would find no such member) and both
 * are done. The host never starts (the fixture has no server with the id a
 * peer URL maps to), which the add does not wait for. */
static void member_add_then_remove_in_order(void **state)
{
	cluster *c = *state;
	raftnode *leader = c->h[0].rn;
	struct raft *r = raft_fixture_get(&c->f, 0);
	const char *url = "http://127.0.0.9:2380";
	api_answer add = {0}, removal = {0};
	assert_int_equal(raftnode_member_add(leader, url, on_api_member, &add),
			 0);
	assert_int_equal(add.calls, 0);
	uint64_t id = membership_static_id(url);
	assert_int_equal(
	    raftnode_member_remove(leader, id, on_api_member, &removal), 0);
	assert_int_equal(role_of(r, id), RAFT_SPARE);
	assert_true(run_until(c, api_answered, &add));
	assert_int_equal(add.answer, RAFTNODE_DONE);
	assert_int_equal(add.m.id, id);
	assert_string_equal(add.m.peer_url, url);
	assert_true(run_until(c, api_answered, &removal));
	assert_int_equal(removal.answer, RAFTNODE_DONE);
	assert_int_equal(role_of(r, id), -1);
	assert_int_equal(r->configuration.n, 3);
}

static int leader_is_not(cluster *c, void *arg)
{
	unsigned l = raft_fixture_leader_index(&c->f);
	return l < c->n && l != *(unsigned *)arg;
}

/* Removing the leader itself: it hands leadership over first, then the
 * remove goes to the new leader over the link. */
static void removing_the_leader_hands_over_first(void **state)
{
	cluster *c = *state;
	unsigned removes = c->sent[RAFTNODE_MEMBER_REMOVE];
	api_answer removal = {0};
	assert_int_equal(
	    raftnode_member_remove(c->h[0].rn, 1, on_api_member, &removal), 0);
	assert_true(run_until(c, api_answered, &removal));
	assert_int_equal(removal.answer, RAFTNODE_DONE);
	assert_int_equal(c->sent[RAFTNODE_MEMBER_REMOVE], removes + 1);
	unsigned old = 0;
	assert_true(run_until(c, leader_is_not, &old));
	unsigned l = raft_fixture_leader_index(&c->f);
	assert_int_equal(role_of(raft_fixture_get(&c->f, l), 1), -1);
	raft_fixture_kill(&c->f, 0);

	answer a;
	put(&c->h[l == 1 ? 2 : 1], STORE_OP_PUT, "/after", "1", &a);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
}

/* A change in flight when its leader is deposed is answered as failed
 * (it may or may not take effect), and the one queued behind it, never
 * taken, as "not leader" (safe to send to the new leader): none is left
 * hanging or answered done. */
static void membership_queue_on_deposed_leader(void **state)
{
	cluster *c = *state;
	raftnode *leader = c->h[0].rn;
	raftnode_member m4 = {.id = 4};
	snprintf(m4.name, sizeof(m4.name), "host4");
	snprintf(m4.peer_url, sizeof(m4.peer_url), "http://127.0.0.4:2380");
	member_answer join = {0};
	api_answer removal = {0};
	assert_int_equal(
	    raftnode_member_join(leader, &m4, on_member_answer, &join),
	    RAFTNODE_DONE);
	assert_int_equal(
	    raftnode_member_remove(leader, 3, on_api_member, &removal), 0);
	raft_fixture_depose(&c->f);
	raft_fixture_elect(&c->f, 1);
	assert_true(run_until(c, member_answered, &join));
	assert_true(run_until(c, api_answered, &removal));
	assert_int_equal(join.answer, RAFTNODE_FAILED);
	assert_int_equal(removal.answer, RAFTNODE_NOT_LEADER);
	run_for_ms(c, 50);
	assert_int_equal(join.calls, 1);
	assert_int_equal(removal.calls, 1);
}

/* A change that names no member is refused as such, on the leader and
 * relayed from a follower over the link. (A conflicting peer URL cannot be
 * shown here: fixture servers have addresses "1", "2", ... that no peer
 * URL maps to.) */
static void membership_refusals(void **state)
{
	cluster *c = *state;
	api_answer none = {0};
	assert_int_equal(
	    raftnode_member_remove(c->h[0].rn, 0x99, on_api_member, &none), 0);
	assert_true(run_until(c, api_answered, &none));
	assert_int_equal(none.answer, RAFTNODE_NO_MEMBER);

	api_answer relayed = {0};
	unsigned removes = c->sent[RAFTNODE_MEMBER_REMOVE];
	assert_int_equal(
	    raftnode_member_remove(c->h[1].rn, 0x98, on_api_member, &relayed),
	    0);
	assert_true(run_until(c, api_answered, &relayed));
	assert_int_equal(relayed.answer, RAFTNODE_NO_MEMBER);
	assert_int_equal(c->sent[RAFTNODE_MEMBER_REMOVE], removes + 1);
	assert_int_equal(raft_fixture_get(&c->f, 0)->configuration.n, 3);
}

/* ---- leadership loss ---- */

static int leader_has_entries_in_flight(cluster *c, void *arg)
{
	struct raft *r = raft_fixture_get(&c->f, *(unsigned *)arg);
	return r->state == RAFT_LEADER && raft_last_index(r) > r->commit_index;
}

/* A write appended by a leader that is deposed before it commits is
 * answered, once, with a failure: not left hanging, not OK. */
static void write_on_deposed_leader_fails(void **state)
{
	cluster *c = *state;
	answer a;
	put(&c->h[0], STORE_OP_PUT, "/d", "1", &a);
	uv_run(&c->loop, UV_RUN_NOWAIT); /* the turn's raft_apply */
	unsigned l = 0;
	assert_true(leader_has_entries_in_flight(c, &l));
	assert_int_equal(a.calls, 0);
	raft_fixture_depose(&c->f);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 300);
	assert_non_null(strstr(a.cause, "leader"));

	/* a new leader; whatever becomes of the entry, no second answer */
	raft_fixture_elect(&c->f, 1);
	answer b;
	put(&c->h[1], STORE_OP_PUT, "/d2", "1", &b);
	assert_true(run_until(c, answered, &b));
	assert_int_equal(b.error, 0);
	settle(c);
	run_for_ms(c, 50);
	assert_int_equal(a.calls, 1);
}

static int forward_taken(cluster *c, void *arg)
{
	return c->served[RAFTNODE_FORWARD] > *(unsigned *)arg;
}

/* A forward still on its way when the leader changes is refused by the old
 * leader as not taken, and the follower sends it again to the new one:
 * answered OK, applied once. */
static void forward_in_flight_across_leader_change(void **state)
{
	cluster *c = *state;
	unsigned sent = c->sent[RAFTNODE_FORWARD];
	answer a;
	c->hold = 1;
	put(&c->h[2], STORE_OP_POST, "/q", "once", &a);
	while (c->sent[RAFTNODE_FORWARD] == sent)
		uv_run(&c->loop, UV_RUN_NOWAIT);
	raft_fixture_depose(&c->f);
	raft_fixture_elect(&c->f, 1);
	c->hold = 0;
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 0);
	assert_int_equal(a.action, STORE_ACTION_CREATE);
	assert_true(a.in_store);
	assert_true(c->sent[RAFTNODE_FORWARD] >= sent + 2); /* sent again */
	settle(c);
	for (unsigned i = 0; i < c->n; i++) {
		store_result r;
		assert_int_equal(store_get(c->h[i].st, "/q", 1, 1, &r), 0);
		assert_int_equal(r.error, 0);
		assert_int_equal(r.ev.node.n_children, 1);
		store_result_free(&r);
	}
	run_for_ms(c, 50);
	assert_int_equal(a.calls, 1);
}

/* A forward the leader took (appended) and then lost with its leadership
 * is answered as failed on the follower: it may or may not commit later,
 * and a forward is never sent twice. */
static void forward_taken_by_deposed_leader_fails(void **state)
{
	cluster *c = *state;
	unsigned served = c->served[RAFTNODE_FORWARD];
	answer a;
	put(&c->h[2], STORE_OP_PUT, "/t", "1", &a);
	/* a turn serves the FORWARD, then runs the loop: raft_apply */
	assert_true(run_until(c, forward_taken, &served));
	unsigned l = 0;
	assert_true(leader_has_entries_in_flight(c, &l));
	raft_fixture_depose(&c->f);
	assert_true(run_until(c, answered, &a));
	assert_int_equal(a.error, 300);
	assert_non_null(strstr(a.cause, "leader"));
	raft_fixture_elect(&c->f, 1);
	settle(c);
	run_for_ms(c, 50);
	assert_int_equal(a.calls, 1);
}

/* A quorum read on a leader that is deposed while its barrier is out
 * fails: the deposed host cannot vouch for its state any more. */
static void read_barrier_on_deposed_leader_fails(void **state)
{
	cluster *c = *state;
	read_answer r = {.h = &c->h[0]};
	assert_int_equal(raftnode_quorum_read(c->h[0].rn, on_read, &r), 0);
	uv_run(&c->loop, UV_RUN_NOWAIT); /* the turn's barrier */
	assert_int_equal(c->h[0].rn->reads.batches_n, 1);
	raft_fixture_depose(&c->f);
	assert_true(run_until(c, read_answered, &r));
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.why, "leader"));
}

/* A leader cut off from both followers (raft and link) does not answer a
 * quorum read as done: it fails once it steps down or the read times
 * out. */
static void read_on_isolated_leader_fails(void **state)
{
	cluster *c = *state;
	/* the first read takes a barrier; the next confirms by term */
	read_answer first = {.h = &c->h[0]};
	assert_int_equal(raftnode_quorum_read(c->h[0].rn, on_read, &first), 0);
	assert_true(run_until(c, read_answered, &first));
	assert_int_equal(first.status, 0);
	for (unsigned j = 1; j < 3; j++) {
		raft_fixture_disconnect(&c->f, 0, j);
		raft_fixture_disconnect(&c->f, j, 0);
		c->cut[0][j] = c->cut[j][0] = 1;
	}
	read_answer r = {.h = &c->h[0]};
	assert_int_equal(raftnode_quorum_read(c->h[0].rn, on_read, &r), 0);
	assert_true(run_until(c, read_answered, &r));
	assert_int_equal(r.status, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		leader_write_is_answered_after_apply, setup3, teardown),
	    cmocka_unit_test_setup_teardown(follower_write_is_forwarded, setup3,
					    teardown),
	    cmocka_unit_test_setup_teardown(one_turn_of_writes_is_one_append,
					    setup3, teardown),
	    cmocka_unit_test_setup_teardown(one_turn_of_forwards_is_one_request,
					    setup3, teardown),
	    cmocka_unit_test_setup_teardown(leader_quorum_read, setup3,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		follower_quorum_read_waits_for_apply, setup3, teardown),
	    cmocka_unit_test_setup_teardown(
		membership_changes_run_one_at_a_time, setup3_plus1, teardown),
	    cmocka_unit_test_setup_teardown(member_add_then_remove_in_order,
					    setup3, teardown),
	    cmocka_unit_test_setup_teardown(
		removing_the_leader_hands_over_first, setup3, teardown),
	    cmocka_unit_test_setup_teardown(membership_queue_on_deposed_leader,
					    setup3_plus1, teardown),
	    cmocka_unit_test_setup_teardown(membership_refusals, setup3,
					    teardown),
	    cmocka_unit_test_setup_teardown(write_on_deposed_leader_fails,
					    setup3, teardown),
	    cmocka_unit_test_setup_teardown(
		forward_in_flight_across_leader_change, setup3, teardown),
	    cmocka_unit_test_setup_teardown(
		forward_taken_by_deposed_leader_fails, setup3, teardown),
	    cmocka_unit_test_setup_teardown(
		read_barrier_on_deposed_leader_fails, setup3, teardown),
	    cmocka_unit_test_setup_teardown(read_on_isolated_leader_fails,
					    setup3, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
