/* buf.h - abuf, the append buffer: a growable byte buffer that the API
 * builds response bodies and metrics in, and the peer port its frames.
 *
 * The layout (p, len, cap) matches api_metrics_cb so a buffer can be handed
 * to registered metrics blocks directly. Allocation failure is sticky:
 * every later append becomes a no-op and abuf_ok() reports it once, so
 * builders can append freely and check a single time at the end. The bytes
 * are kept NUL-terminated, so text can be logged as it is. */
#ifndef OVLD_BUF_H
#define OVLD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct abuf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
} abuf;

void abuf_init(abuf *b);
void abuf_free(abuf *b);
int abuf_reserve(abuf *b, size_t extra);
void abuf_put(abuf *b, const void *s, size_t n);
void abuf_puts(abuf *b, const char *s);
void abuf_putc(abuf *b, char c);
/* Decimal without printf: indexes are in every response and header. */
size_t abuf_fmt_u64(char dst[20], uint64_t v);
/* Lowercase hex without printf (X-Etcd-Cluster-Id). */
size_t abuf_fmt_x64(char dst[16], uint64_t v);
void abuf_u64(abuf *b, uint64_t v);
void abuf_printf(abuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 when every append so far succeeded. */
int abuf_ok(const abuf *b);

#endif
