/* url.c - the parts of an etcd-style URL (see url.h). */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void url_host(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, ":/,");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

int url_hostport(const char *url, int default_port, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/,");
	char host[256];
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	char *colon = strchr(host, ':');
	long port = default_port;
	if (colon) {
		char *end;
		*colon = '\0';
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0')
			return -1;
	}
	if (host[0] == '\0' || port <= 0 || port > 65535 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-_") != strlen(host))
		return -1;
	int w = snprintf(out, len, "%s:%ld", host, port);
	return w > 0 && (size_t)w < len ? 0 : -1;
}
