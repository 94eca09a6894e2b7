/* wait.c - waiting for this host's datapath, which programs what the
 * model writes: the interface inside a namespace, a peer link in the host
 * namespace, a veth that goes away. The waits poll (1 ms), bounded by the
 * caller's limit; they run on a worker thread, never the loop's. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_1ms(void)
{
	struct timespec ts = {.tv_nsec = 1000000};
	nanosleep(&ts, NULL);
}

static int has_ip(uint32_t ip)
{
	struct ifaddrs *ifa;
	int found = 0;
	if (getifaddrs(&ifa) != 0)
		return 0;
	for (struct ifaddrs *p = ifa; p && !found; p = p->ifa_next)
		found =
		    p->ifa_addr && p->ifa_addr->sa_family == AF_INET &&
		    (p->ifa_flags & IFF_UP) &&
		    ntohl(
			((struct sockaddr_in *)p->ifa_addr)->sin_addr.s_addr) ==
			ip;
	freeifaddrs(ifa);
	return found;
}

/* Whether the namespace at path has an UP interface holding ip: 1, 0, or
 * -1 when it cannot be entered. setns changes only the calling thread, and
 * the thread is switched back before anything else runs on it. */
static int netns_has_ip(const char *path, uint32_t ip)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int found = -1;
	if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
		found = has_ip(ip);
		if (setns(self, CLONE_NEWNET) != 0)
			abort(); /* a worker in a container's namespace */
	}
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return found;
}

int ovl_wait_netns_ip(const char *path, uint32_t ip, unsigned ms)
{
	int64_t deadline = now_ms() + ms;
	do {
		int r = netns_has_ip(path, ip);
		if (r != 0)
			return r > 0;
		pause_1ms();
	} while (now_ms() < deadline);
	return 0;
}

int ovl_wait_link(const char *name, int present, unsigned ms)
{
	int64_t deadline = now_ms() + ms;
	do {
		if ((if_nametoindex(name) != 0) == !!present)
			return 1;
		pause_1ms();
	} while (now_ms() < deadline);
	return 0;
}
