/* probe.c - libraft's start-up file-system probe does not wait for the
 * kernel to tear down its test AIO context.
 *
 * Upstream: canonical/raft's uv backend probes the data directory on every
 * raft_init (UvFsProbeCapabilities in src/uv_fs.c: a direct-I/O write, an
 * RWF_NOWAIT|RWF_DSYNC write through a one-slot AIO context, then
 * io_destroy). io_destroy returns only after the kernel has waited out an
 * RCU grace period for the context; on this project's 2-core machines,
 * busy, that alone took 8-41 ms of a restart (tools: a standalone copy of
 * the probe's steps, and strace -ttt of ovld's start). Unchanged through
 * 0.18.1, the last canonical/raft release; no upstream issue was found and
 * no version fixes it. The file can go with a libraft that no longer probes
 * on every start or caches the result.
 * Still needed while tests/unit/test_raft_probe.c's
 * "libraft_destroys_a_context_in_init" case passes: it shows raft_init
 * destroying an AIO context.
 *
 * How: libraft calls io_destroy through the C library's syscall(), which it
 * binds to the executable's definition first (as prefill.c does with
 * posix_fallocate). Between raftnode_probe_begin and raftnode_probe_end (around
 * raft_init, on the loop thread), an io_destroy is handed to a detached thread
 * and reported done at once; the context is no longer used by then. Every other
 * call goes straight to the C library's syscall. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

typedef long (*syscall_fn)(long, ...);

static syscall_fn libc_syscall;
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;
static _Thread_local int in_probe; /* only the thread in raft_init */
static unsigned long deferred;	   /* contexts handed to a thread */

static void find_libc_syscall(void)
{
	libc_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
}

static void *destroy_later(void *arg)
{
	libc_syscall(SYS_io_destroy, (long)(uintptr_t)arg);
	return NULL;
}

/* 0 if a thread took the context; otherwise the caller destroys it. */
static int defer_destroy(long ctx)
{
	pthread_t t;
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc =
	    pthread_create(&t, &attr, destroy_later, (void *)(uintptr_t)ctx);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		__atomic_add_fetch(&deferred, 1, __ATOMIC_RELAXED);
	return rc == 0 ? 0 : -1;
}

long syscall(long number, ...)
{
	pthread_once(&libc_once, find_libc_syscall);
	va_list ap;
	va_start(ap, number);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_io_destroy && in_probe && defer_destroy(a[0]) == 0)
		return 0;
	return libc_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void raftnode_probe_begin(void)
{
	in_probe = 1;
}

void raftnode_probe_end(void)
{
	in_probe = 0;
}

unsigned long raftnode_probe_deferred(void)
{
	return __atomic_load_n(&deferred, __ATOMIC_RELAXED);
}
