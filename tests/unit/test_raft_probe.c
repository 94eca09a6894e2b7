/* test_raft_probe.c - the syscall() ovld defines for libraft: during
 * raft_init, libraft's probe of the data directory destroys an AIO context
 * and that teardown goes to a thread of its own; outside raft_init every
 * call, io_destroy included, is the C library's (src/raft/compat/probe.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/aio_abi.h>
#include <raft.h>
#include <raft/uv.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "raft/compat/probe.h"

/* Under the build dir, not /tmp: tmpfs has no direct I/O to probe. */
static char *scratch(void)
{
	char tmpl[] = "test_raft_probe.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return realpath(d, NULL);
}

static void remove_dir(char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

/* Shows the workaround is still needed: raft_init on a directory with
 * direct I/O destroys an AIO context (its probe), which is handed over. */
static void libraft_destroys_a_context_in_init(void **state)
{
	(void)state;
	char *dir = scratch();
	uv_loop_t loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft raft;
	struct raft_fsm fsm = {.version = 1};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(raft_uv_tcp_init(&transport, &loop), 0);
	assert_int_equal(raft_uv_init(&io, &loop, dir, &transport), 0);
	unsigned long before = raftnode_probe_deferred();
	raftnode_probe_begin();
	int rv = raft_init(&raft, &io, &fsm, 1, "127.0.0.1:1");
	raftnode_probe_end();
	assert_int_equal(rv, 0);
	if (raftnode_probe_deferred() == before)
		skip(); /* no async I/O on this file system: nothing to hand */
	assert_int_equal(raftnode_probe_deferred(), before + 1);
	raft_close(&raft, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	raft_uv_close(&io);
	raft_uv_tcp_close(&transport);
	uv_loop_close(&loop);
	remove_dir(dir);
}

static long new_context(void)
{
	aio_context_t ctx = 0;
	assert_int_equal(syscall(SYS_io_setup, 1, &ctx), 0);
	return (long)ctx;
}

/* Outside raft_init an io_destroy is done before it returns: the context
 * is gone, so a second destroy fails. */
static void other_calls_are_the_c_librarys(void **state)
{
	(void)state;
	unsigned long before = raftnode_probe_deferred();
	long ctx = new_context();
	assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
	assert_int_equal(syscall(SYS_io_destroy, ctx), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(syscall(SYS_getpid), getpid());
	assert_int_equal(raftnode_probe_deferred(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(libraft_destroys_a_context_in_init),
	    cmocka_unit_test(other_calls_are_the_c_librarys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
