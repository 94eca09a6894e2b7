/* hello.c - the first bytes inside the TLS tunnel. The dialer sends
 *   "OVLP" | u8 version (1) | u8 channel | u64 BE member id |
 *   u16 BE address length | address
 * and the listener answers
 *   u8 status | u16 BE reason length | reason
 * where status is a peer_reply_status.
 * Also the "HOST:PORT" split that both sides use. */
#include "internal.h"

#include "byteorder.h"

#include <stdio.h>
#include <string.h>

#define HELLO_VERSION 1
#define HELLO_FIXED 16

static void put_be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

size_t peer_hello_encode(unsigned char *out, int channel, uint64_t id,
			 const char *addr)
{
	size_t len = strlen(addr);
	if (len > PEER_ADDR_MAX)
		return 0;
	memcpy(out, "OVLP", 4);
	out[4] = HELLO_VERSION;
	out[5] = (unsigned char)channel;
	put_be64(out + 6, id);
	put_be16(out + 14, (uint16_t)len);
	memcpy(out + HELLO_FIXED, addr, len);
	return HELLO_FIXED + len;
}

ssize_t peer_hello_decode(const void *bytes, size_t len, peer_hello *h)
{
	const unsigned char *b = bytes;
	if (len >= 4 && memcmp(b, "OVLP", 4) != 0)
		return -1;
	if (len >= 5 && b[4] != HELLO_VERSION)
		return -1;
	if (len < HELLO_FIXED)
		return 0;
	size_t alen = get_be16(b + 14);
	if (alen > PEER_ADDR_MAX)
		return -1;
	if (len < HELLO_FIXED + alen)
		return 0;
	if (memchr(b + HELLO_FIXED, 0, alen))
		return -1;
	h->channel = b[5];
	h->id = get_be64(b + 6);
	memcpy(h->addr, b + HELLO_FIXED, alen);
	h->addr[alen] = '\0';
	return (ssize_t)(HELLO_FIXED + alen);
}

size_t peer_reply_encode(unsigned char *out, int status, const char *why)
{
	size_t len = why ? strnlen(why, PEER_WHY_MAX) : 0;
	out[0] = (unsigned char)status;
	put_be16(out + 1, (uint16_t)len);
	memcpy(out + 3, why ? why : "", len);
	return 3 + len;
}

ssize_t peer_reply_decode(const void *bytes, size_t len, int *status, char *why,
			  size_t why_len)
{
	const unsigned char *b = bytes;
	if (len < 3)
		return 0;
	if (b[0] > PEER_REPLY_UNAVAILABLE)
		return -1;
	size_t rlen = get_be16(b + 1);
	if (rlen > PEER_WHY_MAX)
		return -1;
	if (len < 3 + rlen)
		return 0;
	if (memchr(b + 3, 0, rlen))
		return -1;
	*status = b[0];
	snprintf(why, why_len, "%.*s", (int)rlen, (const char *)b + 3);
	return (ssize_t)(3 + rlen);
}

int peer_addr_split(const char *addr, char *host, size_t host_len, char *port,
		    size_t port_len)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1])
		return -1;
	const char *h = addr;
	size_t hlen = (size_t)(colon - addr);
	if (h[0] == '[') { /* [v6]:port */
		if (hlen < 3 || h[hlen - 1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	size_t plen = strlen(colon + 1);
	if (hlen >= host_len || plen >= port_len ||
	    strspn(colon + 1, "0123456789") != plen)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, plen + 1);
	return 0;
}
