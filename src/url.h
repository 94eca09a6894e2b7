/* url.h - the parts of an etcd-style URL: the daemon's VTEP address from
 * --initial-advertise-peer-urls, peer and client addresses, and ovlctl's
 * view of a member's peer URL. Built into ovld_util. */
#ifndef OVLD_URL_H
#define OVLD_URL_H

#include <stddef.h>

/* The HOST of "http://HOST:PORT/...", or of the first URL of a
 * comma-separated list, cut to fit len bytes with its NUL. */
void url_host(const char *url, char *out, size_t len);

/* "HOST:PORT" of "scheme://HOST[:PORT]/..." or "HOST[:PORT]" (the first of
 * a list), default_port when none; HOST an IPv4 literal or a DNS name.
 * 0, or -1 when malformed or longer than len. */
int url_hostport(const char *url, int default_port, char *out, size_t len);

#endif
