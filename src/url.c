/* url.c - the host part of an etcd-style URL (see url.h). */
#include "url.h"

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
