/* httpc_internal.h - what httpc.c shares with httpc_tls.c: its error line,
 * clock and poll, and a layer (TLS) between the socket and HTTP. httpc.c
 * stays free of OpenSSL, so the CNI plugin that builds it alone loads
 * fast. */
#ifndef OVLD_HTTPC_INTERNAL_H
#define OVLD_HTTPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sets httpc_strerror()'s line; returns -1. */
int httpc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t httpc_now_ms(void);
/* Waits for events on fd until the deadline: 0, or -1 on timeout. */
int httpc_wait_fd(int fd, short events, int64_t deadline);

/* Carries the bytes of one request over the connected socket. Every call
 * returns -1 after httpc_fail on failure. */
typedef struct httpc_layer httpc_layer;
struct httpc_layer {
	/* name: the target's bare host (no port, no brackets) */
	int (*open)(httpc_layer *l, int fd, const char *name, int64_t deadline);
	int (*send_all)(httpc_layer *l, const char *p, size_t n,
			int64_t deadline);
	/* > 0 bytes read, 0 at the end */
	ssize_t (*recv)(httpc_layer *l, char *buf, size_t cap,
			int64_t deadline);
	void (*close)(httpc_layer *l); /* also after a failed open */
	void *ctx, *state;
};

/* httpc_request over l, to "https://host[:port]" (443 by default). */
int httpc_request_via(httpc_layer *l, const char *target, const char *method,
		      const char *path, const char *content_type,
		      const char *body, size_t body_len, int timeout_ms,
		      int *status, char **resp, size_t *resp_len);

#endif
