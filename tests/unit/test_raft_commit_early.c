/* test_raft_commit_early.c - a follower applies what its leader committed
 * while its own disk write of the entry is still pending, never an entry
 * that is not committed, and each entry once (src/raft/compat/commit_early.c).
 *
 * libraft's in-memory fixture runs three servers on a simulated clock and
 * simulated disks; server 2's disk is made slow, so "before its own write"
 * is a fact about the order of events, not a timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "raft/compat/commit_early.h"

#define N 3
#define SLOW_DISK_MS 5000
#define FAST_DISK_MS 10

typedef struct server {
	struct raft_fsm fsm;
	commit_early ce;
	struct raft *r;
	uint64_t sum;	      /* of the applied commands' values */
	unsigned applies;     /* commands applied, either way */
	unsigned early;	      /* of which through commit_early */
	raft_index last_seen; /* highest index applied */
} server;

typedef struct fixture {
	struct raft_fixture f;
	server s[N];
} fixture;

static void record(server *s, const struct raft_buffer *buf, raft_index i)
{
	uint64_t v;
	memcpy(&v, buf->base, sizeof(v));
	s->sum += v;
	s->applies++;
	s->last_seen = i;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	server *s = fsm->data;
	raft_index index = raft_last_applied(s->r) + 1;
	*result = NULL;
	if (!raftnode_commit_early_done(&s->ce, index))
		record(s, buf, index);
	return 0;
}

static int early_apply(void *ctx, const struct raft_buffer *buf,
		       raft_index index)
{
	server *s = ctx;
	record(s, buf, index);
	s->early++;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			unsigned *n)
{
	(void)fsm, (void)bufs, (void)n;
	return RAFT_BUSY; /* never reached: the threshold is not met */
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	(void)fsm;
	raft_free(buf->base);
	return 0;
}

/* Three servers, server 0 elected; wrapped says which get commit_early. */
static fixture *cluster(const int wrapped[N])
{
	fixture *x = test_calloc(1, sizeof(*x));
	assert_int_equal(raft_fixture_initialize(&x->f), 0);
	for (unsigned i = 0; i < N; i++) {
		server *s = &x->s[i];
		s->fsm = (struct raft_fsm){.version = 1,
					   .data = s,
					   .apply = fsm_apply,
					   .snapshot = fsm_snapshot,
					   .restore = fsm_restore};
		assert_int_equal(raft_fixture_grow(&x->f, &s->fsm), 0);
		s->r = raft_fixture_get(&x->f, i);
		s->ce = (commit_early){.r = s->r};
		if (wrapped[i])
			assert_int_equal(
			    raftnode_commit_early_wrap(&s->ce, s->r, s->r->io,
						       early_apply, s),
			    0);
	}
	struct raft_configuration conf;
	assert_int_equal(raft_fixture_configuration(&x->f, N, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&x->f, &conf), 0);
	raft_configuration_close(&conf);
	assert_int_equal(raft_fixture_start(&x->f), 0);
	raft_fixture_elect(&x->f, 0);
	return x;
}

static void cluster_free(fixture *x)
{
	for (unsigned i = 0; i < N; i++)
		raftnode_commit_early_unwrap(&x->s[i].ce);
	raft_fixture_close(&x->f);
	test_free(x);
}

static raft_index propose(fixture *x, uint64_t value)
{
	static struct raft_apply req;
	struct raft_buffer buf = {.base = raft_malloc(sizeof(value)),
				  .len = sizeof(value)};
	memcpy(buf.base, &value, sizeof(value));
	struct raft *leader = x->s[0].r;
	assert_int_equal(raft_apply(leader, &req, &buf, 1, NULL), 0);
	return raft_last_index(leader);
}

typedef struct seen_arg {
	server *s;
	raft_index index;
} seen_arg;

static bool has_seen(struct raft_fixture *f, void *arg)
{
	(void)f;
	seen_arg *a = arg;
	return a->s->last_seen >= a->index;
}

/* The leader commits an entry with server 1; server 2's disk is slow. */
static raft_index commit_with_slow_follower(fixture *x, uint64_t value)
{
	raft_fixture_set_disk_latency(&x->f, 2, SLOW_DISK_MS);
	raft_index index = propose(x, value);
	assert_true(raft_fixture_step_until_applied(&x->f, 0, index, 1000));
	return index;
}

static void follower_applies_before_its_disk_write(void **state)
{
	(void)state;
	const int wrapped[N] = {1, 1, 1};
	fixture *x = cluster(wrapped);
	server *slow = &x->s[2];
	raft_index index = commit_with_slow_follower(x, 42);
	seen_arg arg = {slow, index};
	/* the next heartbeat carries the commit index */
	assert_true(raft_fixture_step_until(&x->f, has_seen, &arg, 1000));
	assert_true(slow->r->last_stored < index); /* still writing */
	assert_int_equal(slow->sum, 42);
	assert_int_equal(slow->early, 1);
	/* once written, libraft's own apply of it changes nothing */
	assert_true(
	    raft_fixture_step_until_applied(&x->f, 2, index, 2 * SLOW_DISK_MS));
	assert_int_equal(slow->sum, 42);
	assert_int_equal(slow->applies, 1);
	cluster_free(x);
}

/* Shows the workaround is still needed: without it, libraft 0.15 leaves a
 * committed entry unapplied on a follower until that follower's own write
 * is done. A libraft that fails this no longer needs commit_early.c. */
static void libraft_waits_for_disk(void **state)
{
	(void)state;
	const int wrapped[N] = {0, 0, 0};
	fixture *x = cluster(wrapped);
	server *slow = &x->s[2];
	raft_index index = commit_with_slow_follower(x, 7);
	raft_fixture_step_until_elapsed(&x->f, 1000); /* 10 heartbeats */
	assert_true(x->f.commit_index >= index);
	assert_true(slow->r->last_stored < index);
	assert_int_equal(slow->applies, 0);
	assert_true(raft_last_applied(slow->r) < index);
	cluster_free(x);
}

/* Entries a follower holds but the leader has not committed (no majority
 * has written them) are not applied. */
static void uncommitted_entries_wait(void **state)
{
	(void)state;
	const int wrapped[N] = {1, 1, 1};
	fixture *x = cluster(wrapped);
	for (unsigned i = 0; i < N; i++)
		raft_fixture_set_disk_latency(&x->f, i, SLOW_DISK_MS);
	raft_index index = propose(x, 5);
	raft_fixture_step_until_elapsed(&x->f, 1000);
	for (unsigned i = 0; i < N; i++) {
		assert_true(raft_last_index(x->s[i].r) >= index);
		assert_int_equal(x->s[i].applies, 0);
	}
	/* once written by a majority, it is applied everywhere, once */
	for (unsigned i = 0; i < N; i++)
		raft_fixture_set_disk_latency(&x->f, i, FAST_DISK_MS);
	assert_true(
	    raft_fixture_step_until_applied(&x->f, N, index, 4 * SLOW_DISK_MS));
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(x->s[i].sum, 5);
		assert_int_equal(x->s[i].applies, 1);
	}
	cluster_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(follower_applies_before_its_disk_write),
	    cmocka_unit_test(libraft_waits_for_disk),
	    cmocka_unit_test(uncommitted_entries_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
