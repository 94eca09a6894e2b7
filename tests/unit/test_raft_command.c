/* test_raft_command.c - log entries decode to exactly what was encoded,
 * and garbage is refused rather than applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "raft/command.h"

static void round_trip_keeps_every_field(void **state)
{
	command in = {.origin = 0xdeadbeefcafef00dULL, .seq = 42};
	in.cmd = (store_cmd){.op = STORE_OP_PUT,
			     .path = "/docker/nodes/10.0.0.1:2376",
			     .path_len = 27,
			     .value = "v\0x",
			     .value_len = 3,
			     .prev_value = "old",
			     .prev_value_len = 3,
			     .prev_index = UINT64_MAX,
			     .prev_exist = 1,
			     .dir = 0,
			     .recursive = 1,
			     .refresh = 1,
			     .expire_ns = 1764590000123456789LL,
			     .now_ns = -5};
	void *buf;
	size_t len;
	assert_int_equal(raftnode_command_encode(&in, &buf, &len), 0);
	command out;
	assert_int_equal(raftnode_command_decode(buf, len, &out), 0);
	assert_true(out.origin == in.origin);
	assert_true(out.seq == 42);
	assert_int_equal(out.cmd.op, STORE_OP_PUT);
	assert_int_equal(out.cmd.path_len, 27);
	assert_memory_equal(out.cmd.path, in.cmd.path, 27);
	assert_int_equal(out.cmd.value_len, 3);
	assert_memory_equal(out.cmd.value, "v\0x", 3);
	assert_non_null(out.cmd.prev_value);
	assert_memory_equal(out.cmd.prev_value, "old", 3);
	assert_true(out.cmd.prev_index == UINT64_MAX);
	assert_int_equal(out.cmd.prev_exist, 1);
	assert_int_equal(out.cmd.recursive, 1);
	assert_int_equal(out.cmd.refresh, 1);
	assert_true(out.cmd.expire_ns == in.cmd.expire_ns);
	assert_true(out.cmd.now_ns == -5);
	raft_free(buf);
}

static void absent_prev_value_stays_absent(void **state)
{
	command in = {.origin = 1, .seq = 1};
	in.cmd = (store_cmd){.op = STORE_OP_DELETE,
			     .path = "/a",
			     .path_len = 2,
			     .prev_exist = -1};
	void *buf;
	size_t len;
	assert_int_equal(raftnode_command_encode(&in, &buf, &len), 0);
	command out;
	assert_int_equal(raftnode_command_decode(buf, len, &out), 0);
	assert_null(out.cmd.prev_value);
	assert_int_equal(out.cmd.prev_exist, -1);
	raft_free(buf);
}

static void garbage_is_refused(void **state)
{
	const char junk[] = "\x93\x01\x02\x03 not a command";
	command out;
	assert_int_equal(raftnode_command_decode(junk, sizeof(junk), &out), -1);
	assert_int_equal(raftnode_command_decode("", 0, &out), -1);
	/* Truncating a real entry anywhere must fail cleanly. */
	command in = {.origin = 7, .seq = 9};
	in.cmd = (store_cmd){.op = STORE_OP_PUT,
			     .path = "/k",
			     .path_len = 2,
			     .value = "hello",
			     .value_len = 5};
	void *buf;
	size_t len;
	assert_int_equal(raftnode_command_encode(&in, &buf, &len), 0);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(raftnode_command_decode(buf, cut, &out), -1);
	raft_free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(round_trip_keeps_every_field),
	    cmocka_unit_test(absent_prev_value_stays_absent),
	    cmocka_unit_test(garbage_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
