/* test_util_notify.c - notify_ready/notify_stopping deliver the sd_notify
 * datagram to a filesystem or abstract socket, and are no-ops without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

/* Binds a datagram socket at name (leading '@' = abstract). */
static int bind_listener(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	memcpy(a.sun_path, name, len);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				     len + (name[0] == '@' ? 0 : 1));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, alen), 0);
	return fd;
}

static void recv_text(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_unset_is_noop(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_ready(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_stopping(), 0);
}

static void test_path_socket(void **state)
{
	char dir[] = "/tmp/notifytestXXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/notify.sock", dir);
	int fd = bind_listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	char buf[256];
	assert_int_equal(notify_ready(), 0);
	recv_text(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "READY=1"));
	assert_int_equal(notify_stopping(), 0);
	recv_text(fd, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
	char name[64];
	snprintf(name, sizeof(name), "@ovld-notify-test-%d", (int)getpid());
	int fd = bind_listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	char buf[256];
	assert_int_equal(notify_ready(), 0);
	recv_text(fd, buf, sizeof(buf));
	assert_true(strncmp(buf, "READY=1\n", 8) == 0);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_bad_or_missing_socket(void **state)
{
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(notify_ready(), -1);
	setenv("NOTIFY_SOCKET", "/nonexistent/ovld/notify.sock", 1);
	assert_int_equal(notify_ready(), -1);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unset_is_noop),
	    cmocka_unit_test(test_path_socket),
	    cmocka_unit_test(test_abstract_socket),
	    cmocka_unit_test(test_bad_or_missing_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
