/* buf.c - the append buffer (see buf.h). */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void abuf_init(abuf *b)
{
	memset(b, 0, sizeof(*b));
}

void abuf_free(abuf *b)
{
	free(b->p);
	abuf_init(b);
}

int abuf_reserve(abuf *b, size_t extra)
{
	if (b->oom)
		return -1;
	/* +1 keeps room for a terminating NUL so the text can be logged. */
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024; /* most answers fit */
	while (cap < b->len + extra + 1) {
		if (cap > ((size_t)-1) / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void abuf_put(abuf *b, const void *s, size_t n)
{
	if (n == 0 || abuf_reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void abuf_puts(abuf *b, const char *s)
{
	abuf_put(b, s, strlen(s));
}

void abuf_putc(abuf *b, char c)
{
	abuf_put(b, &c, 1);
}

size_t abuf_fmt_u64(char dst[20], uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

size_t abuf_fmt_x64(char dst[16], uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (uint64_t t = v; n == 0 || t; t >>= 4)
		n++;
	for (size_t i = n; i-- > 0; v >>= 4)
		dst[i] = hex[v & 15];
	return n;
}

void abuf_u64(abuf *b, uint64_t v)
{
	char s[20];
	abuf_put(b, s, abuf_fmt_u64(s, v));
}

void abuf_printf(abuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		abuf_put(b, small, (size_t)n);
		return;
	}
	if (abuf_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int abuf_ok(const abuf *b)
{
	return !b->oom;
}
