/* netns.c - CHECK's look inside the container: does the interface exist
 * in CNI_NETNS, up, with the MAC and the address ovld recorded?
 *
 * The process enters the namespace for good (setns); the plugin is
 * single-threaded and exits right after, so there is nothing to go back
 * to. */
#include "netns.h"
#include "cni.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int cni_netns_enter(const char *path, cni_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cni_fail(err, CNI_ERR_CONTAINER, path,
			 "cannot open the container's network namespace: %s",
			 strerror(errno));
		return -1;
	}
	int rc = setns(fd, CLONE_NEWNET);
	int e = errno;
	close(fd);
	if (rc < 0)
		cni_fail(err, CNI_ERR_CONTAINER, path,
			 "cannot enter the container's network namespace: %s",
			 strerror(e));
	return rc;
}

static void mac_str(const struct sockaddr_ll *ll, char out[18])
{
	const unsigned char *a = ll->sll_addr;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2],
		 a[3], a[4], a[5]);
}

/* What getifaddrs says about one interface. */
typedef struct seen {
	int found, up, has_addr;
	char mac[18];
} seen;

static void look(struct ifaddrs *list, const char *ifname,
		 const struct in_addr *ip, int prefix, seen *s)
{
	for (struct ifaddrs *a = list; a; a = a->ifa_next) {
		if (strcmp(a->ifa_name, ifname) != 0 || !a->ifa_addr)
			continue;
		s->found = 1;
		s->up = (a->ifa_flags & IFF_UP) != 0;
		if (a->ifa_addr->sa_family == AF_PACKET)
			mac_str((const struct sockaddr_ll *)a->ifa_addr,
				s->mac);
		if (a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask)
			continue;
		const struct sockaddr_in *in = (void *)a->ifa_addr;
		const struct sockaddr_in *nm = (void *)a->ifa_netmask;
		int bits = __builtin_popcount(nm->sin_addr.s_addr);
		if (in->sin_addr.s_addr == ip->s_addr && bits == prefix)
			s->has_addr = 1;
	}
}

static int parse_cidr(const char *cidr, struct in_addr *ip, int *prefix)
{
	char buf[32];
	const char *slash = strchr(cidr, '/');
	if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
		return -1;
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (*end || p < 0 || p > 32 || inet_pton(AF_INET, buf, ip) != 1)
		return -1;
	*prefix = (int)p;
	return 0;
}

int cni_netns_check(const char *ifname, const char *cidr, const char *mac,
		    cni_error *err)
{
	struct in_addr ip;
	int prefix;
	struct ifaddrs *list;
	if (parse_cidr(cidr, &ip, &prefix) < 0) {
		cni_fail(err, CNI_ERR_CHECK, cidr, "bad address %s", cidr);
		return -1;
	}
	if (getifaddrs(&list) < 0) {
		cni_fail(err, CNI_ERR_IO, NULL, "getifaddrs: %s",
			 strerror(errno));
		return -1;
	}
	seen s = {0};
	look(list, ifname, &ip, prefix, &s);
	freeifaddrs(list);
	if (!s.found || !s.up || !s.has_addr ||
	    (mac && strcasecmp(mac, s.mac) != 0)) {
		cni_fail(err, CNI_ERR_CHECK, NULL,
			 "interface %s in the container is %s", ifname,
			 !s.found      ? "missing"
			 : !s.up       ? "down"
			 : !s.has_addr ? "without its address"
				       : "not using its MAC");
		return -1;
	}
	return 0;
}
