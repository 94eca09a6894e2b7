/* test_netns.h - network namespaces for the datapath's root-only unit
 * tests: the test process moves to a namespace of its own, "containers"
 * are processes parked in fresh ones, and sh() shows what iproute2 sees.
 * Include after cmocka.h. */
#ifndef TEST_NETNS_H
#define TEST_NETNS_H

#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* A process parked in a fresh network namespace; dies with the test. */
typedef struct container {
	pid_t pid;
	char path[64];
} container;

static int container_start(container *c)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char ok = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char ok = 0;
	close(p[1]);
	if (read(p[0], &ok, 1) != 1 || ok != 'y')
		return -1;
	close(p[0]);
	snprintf(c->path, sizeof(c->path), "/proc/%d/ns/net", (int)c->pid);
	return 0;
}

static void container_stop(container *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
}

/* Output of a shell command, for checking what iproute2 sees. */
static char *sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	static char out[16384];
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	return out;
}

/* 0 once the test runs in a network namespace of its own, else its exit
 * code: 77 (a skip) without root, 1 when the namespace cannot be made. */
static int netns_enter(const char *test)
{
	if (geteuid() != 0) {
		printf("SKIP: %s needs root (a network namespace)\n", test);
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare");
		return 1;
	}
	return 0;
}

#endif
