/* url.h - the host part of an etcd-style URL, for the daemon (its VTEP
 * address from --initial-advertise-peer-urls) and ovlctl (a member's peer
 * URL). Built into ovld_util and into ovlctl. */
#ifndef OVLD_URL_H
#define OVLD_URL_H

#include <stddef.h>

/* The HOST of "http://HOST:PORT/...", or of the first URL of a
 * comma-separated list, cut to fit len bytes with its NUL. */
void url_host(const char *url, char *out, size_t len);

#endif
