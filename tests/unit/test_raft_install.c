/* test_raft_install.c - install.c's wrapper around the io's snapshot_put:
 * when an installed snapshot's write completes, libraft's callback reads
 * the leader from follower_state; it must find the host that sent the
 * snapshot, whatever the state became meanwhile, and the state's own bytes
 * must be back afterwards. The fake backend below completes puts by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/node.h"

static struct {
	unsigned trailing;
	struct raft_io_snapshot_put *req;
	raft_io_snapshot_put_cb cb;
} backend;

static int fake_put(struct raft_io *io, unsigned trailing,
		    struct raft_io_snapshot_put *req,
		    const struct raft_snapshot *snapshot,
		    raft_io_snapshot_put_cb cb)
{
	backend.trailing = trailing;
	backend.req = req;
	backend.cb = cb;
	return 0;
}

/* What libraft's installSnapshotCb sends its answer to. */
static struct {
	int calls;
	raft_id id;
	const char *address;
	char copy[64]; /* the address as it was during the callback */
	int state;
} seen;

static void libraft_cb(struct raft_io_snapshot_put *req, int status)
{
	raftnode *rn = (raftnode *)((char *)req - offsetof(raftnode, own) -
				    offsetof(struct raft, snapshot.put));
	seen.calls++;
	seen.state = rn->raft->state;
	seen.id = rn->raft->follower_state.current_leader.id;
	seen.address = rn->raft->follower_state.current_leader.address;
	/* a garbage pointer fails the test below, not here */
	if ((uintptr_t)seen.address > 4096)
		strncpy(seen.copy, seen.address, sizeof(seen.copy) - 1);
}

static char leader_addr[] = "127.0.0.1:2380";

static raftnode *follower_of(raft_id leader)
{
	raftnode *rn = calloc(1, sizeof(*rn));
	assert_non_null(rn);
	rn->raft = &rn->own;
	rn->io.snapshot_put = fake_put;
	raftnode_install_wrap_io(rn);
	rn->raft->state = RAFT_FOLLOWER;
	rn->raft->follower_state.current_leader.id = leader;
	rn->raft->follower_state.current_leader.address = leader_addr;
	memset(&seen, 0, sizeof(seen));
	memset(&backend, 0, sizeof(backend));
	return rn;
}

static void start_install(raftnode *rn)
{
	struct raft_snapshot snap = {0};
	assert_int_equal(rn->io.snapshot_put(&rn->io, 0,
					     &rn->raft->snapshot.put, &snap,
					     libraft_cb),
			 0);
	assert_int_equal(backend.trailing, 0);
	assert_ptr_equal(backend.req, &rn->raft->snapshot.put);
}

static void done(raftnode *rn)
{
	backend.cb(backend.req, 0);
	assert_int_equal(seen.calls, 1);
	raftnode_install_free(rn);
	free(rn);
}

/* The case that crashed: the election timer fired during the write. */
static void candidate_answers_the_sender(void **state)
{
	raftnode *rn = follower_of(7);
	start_install(rn);
	bool votes[3] = {true, false, false};
	rn->raft->state = RAFT_CANDIDATE;
	rn->raft->candidate_state.votes = votes;
	rn->raft->candidate_state.disrupt_leader = false;
	rn->raft->candidate_state.in_pre_vote = true;
	backend.cb(backend.req, 0);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.id, 7);
	assert_true((uintptr_t)seen.address > 4096);
	assert_string_equal(seen.copy, leader_addr);
	/* the candidate's own state is intact again */
	assert_int_equal(rn->raft->state, RAFT_CANDIDATE);
	assert_ptr_equal(rn->raft->candidate_state.votes, votes);
	assert_true(rn->raft->candidate_state.in_pre_vote);
	assert_false(rn->raft->candidate_state.disrupt_leader);
	raftnode_install_free(rn);
	free(rn);
}

/* A newer term cleared the leader during the write. */
static void follower_without_leader_answers_the_sender(void **state)
{
	raftnode *rn = follower_of(7);
	start_install(rn);
	rn->raft->follower_state.current_leader.id = 0;
	rn->raft->follower_state.current_leader.address = NULL;
	backend.cb(backend.req, 0);
	assert_int_equal(seen.id, 7);
	assert_non_null(seen.address);
	assert_string_equal(seen.copy, leader_addr);
	assert_int_equal(rn->raft->follower_state.current_leader.id, 0);
	assert_null(rn->raft->follower_state.current_leader.address);
	raftnode_install_free(rn);
	free(rn);
}

/* The usual case is left to libraft: it answers the leader it knows. */
static void follower_with_leader_is_untouched(void **state)
{
	raftnode *rn = follower_of(7);
	start_install(rn);
	static char other[] = "127.0.0.2:2380";
	rn->raft->follower_state.current_leader.id = 9;
	rn->raft->follower_state.current_leader.address = other;
	backend.cb(backend.req, 0);
	assert_int_equal(seen.id, 9);
	assert_ptr_equal(seen.address, other);
	raftnode_install_free(rn);
	free(rn);
}

/* The host's own snapshots (trailing > 0) reach the backend as they are. */
static void own_snapshot_passes_through(void **state)
{
	raftnode *rn = follower_of(7);
	struct raft_snapshot snap = {0};
	assert_int_equal(rn->io.snapshot_put(&rn->io, 5000,
					     &rn->raft->snapshot.put, &snap,
					     libraft_cb),
			 0);
	assert_int_equal(backend.trailing, 5000);
	assert_ptr_equal(backend.cb, libraft_cb);
	done(rn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(candidate_answers_the_sender),
	    cmocka_unit_test(follower_without_leader_answers_the_sender),
	    cmocka_unit_test(follower_with_leader_is_untouched),
	    cmocka_unit_test(own_snapshot_passes_through),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
