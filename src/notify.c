/* notify.c - the sd_notify protocol by hand: systemd passes an AF_UNIX
 * datagram socket path in NOTIFY_SOCKET ("@name" for the abstract namespace)
 * and reads newline-separated KEY=VALUE assignments from it. */
#include "notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fills addr from NOTIFY_SOCKET; returns the address length or -1. */
static int notify_addr(const char *path, struct sockaddr_un *addr)
{
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len > sizeof(addr->sun_path))
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, len);
	if (path[0] == '@')
		addr->sun_path[0] = '\0'; /* abstract: no terminator counted */
	return (int)(offsetof(struct sockaddr_un, sun_path) + len);
}

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;
	struct sockaddr_un addr;
	int alen = notify_addr(path, &addr);
	if (alen < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	size_t n = strlen(state);
	ssize_t sent = sendto(fd, state, n, MSG_NOSIGNAL,
			      (struct sockaddr *)&addr, (socklen_t)alen);
	close(fd);
	return sent == (ssize_t)n ? 0 : -1;
}

int notify_ready(void)
{
	return notify_send("READY=1\nSTATUS=serving the etcd v2 API");
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}
