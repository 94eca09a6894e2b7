/* client.c - internal-channel HTTP client (H2O http1client, keep-alive). */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <h2o/http1client.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_POOLS 16
#define IO_TIMEOUT_MS 3000

typedef struct pool {
	char hostport[64];
	h2o_socketpool_t sp;
} pool;

struct client {
	uv_loop_t *loop;
	h2o_timeout_t io_timeout;
	h2o_http1client_ctx_t ctx;
	pool pools[MAX_POOLS];
	int n_pools;
};

typedef struct call {
	client_cb cb;
	void *ctx;
	char head[256];
	h2o_iovec_t bufs[2];
	char *body_copy;
	int status;
	char *resp;
	size_t resp_len, resp_cap;
	int done;
} call;

int client_hostport(const char *url, int default_port, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/,");
	char tmp[64];
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *colon = strchr(tmp, ':');
	int port = default_port;
	if (colon) {
		*colon = '\0';
		port = atoi(colon + 1);
	}
	struct in_addr a;
	if (inet_pton(AF_INET, tmp, &a) != 1 || port <= 0 || port > 65535)
		return -1;
	snprintf(out, len, "%s:%d", tmp, port);
	return 0;
}

int client_sockaddr(const char *hostport, struct sockaddr_in *sa)
{
	char ip[64];
	snprintf(ip, sizeof(ip), "%s", hostport);
	char *colon = strchr(ip, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

int client_init(client **out, uv_loop_t *loop)
{
	client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->loop = loop;
	h2o_timeout_init(loop, &c->io_timeout, IO_TIMEOUT_MS);
	c->ctx.loop = loop;
	c->ctx.io_timeout = &c->io_timeout;
	*out = c;
	return 0;
}

void client_close(client *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->n_pools; i++)
		h2o_socketpool_dispose(&c->pools[i].sp);
	/* The timeout's uv timer is closed by the loop's handle walk. */
	free(c);
}

static h2o_socketpool_t *pool_for(client *c, const char *hostport)
{
	for (int i = 0; i < c->n_pools; i++)
		if (strcmp(c->pools[i].hostport, hostport) == 0)
			return &c->pools[i].sp;
	if (c->n_pools == MAX_POOLS)
		return NULL;
	struct sockaddr_in sa;
	if (client_sockaddr(hostport, &sa) != 0)
		return NULL;
	pool *p = &c->pools[c->n_pools++];
	snprintf(p->hostport, sizeof(p->hostport), "%s", hostport);
	h2o_socketpool_init_by_address(&p->sp, (struct sockaddr *)&sa,
				       sizeof(sa), 0, 64);
	h2o_socketpool_set_timeout(&p->sp, c->loop, 10000);
	return &p->sp;
}

static void call_finish(call *k, int status)
{
	if (k->done++)
		return;
	k->cb(k->ctx, status, k->resp ? k->resp : "", k->resp_len);
	free(k->resp);
	free(k->body_copy);
	free(k);
}

static int on_body(h2o_http1client_t *hc, const char *errstr)
{
	call *k = hc->data;
	if (hc->sock && hc->sock->input->size) {
		size_t n = hc->sock->input->size;
		if (k->resp_len + n + 1 > k->resp_cap) {
			k->resp_cap = (k->resp_len + n + 1) * 2;
			k->resp = realloc(k->resp, k->resp_cap);
		}
		memcpy(k->resp + k->resp_len, hc->sock->input->bytes, n);
		k->resp_len += n;
		k->resp[k->resp_len] = '\0';
		h2o_buffer_consume(&hc->sock->input, n);
	}
	if (errstr == h2o_http1client_error_is_eos) {
		call_finish(k, k->status);
		return 0;
	}
	if (errstr != NULL) {
		call_finish(k, -1);
		return -1;
	}
	return 0;
}

static h2o_http1client_body_cb
on_head(h2o_http1client_t *hc, const char *errstr, int minor, int status,
	h2o_iovec_t msg, h2o_header_t *headers, size_t n, int rlen)
{
	call *k = hc->data;
	if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
		call_finish(k, -1);
		return NULL;
	}
	k->status = status;
	if (errstr == h2o_http1client_error_is_eos) {
		call_finish(k, status);
		return NULL;
	}
	return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *hc,
					  const char *errstr,
					  h2o_iovec_t **reqbufs, size_t *n,
					  int *method_is_head)
{
	call *k = hc->data;
	if (errstr != NULL) {
		call_finish(k, -1);
		return NULL;
	}
	*reqbufs = k->bufs;
	*n = k->bufs[1].len ? 2 : 1;
	*method_is_head = 0;
	return on_head;
}

int client_post(client *c, const char *hostport, const char *path,
		const void *body, size_t len, client_cb cb, void *ctx)
{
	h2o_socketpool_t *sp = pool_for(c, hostport);
	if (sp == NULL)
		return -1;
	call *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -1;
	k->cb = cb;
	k->ctx = ctx;
	int hl = snprintf(k->head, sizeof(k->head),
			  "POST %s HTTP/1.1\r\nHost: %s\r\n"
			  "Content-Type: application/octet-stream\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  path, hostport, len);
	if (len) {
		k->body_copy = malloc(len);
		memcpy(k->body_copy, body, len);
	}
	k->bufs[0] = h2o_iovec_init(k->head, hl);
	k->bufs[1] = h2o_iovec_init(k->body_copy, len);
	h2o_http1client_t *hc;
	h2o_http1client_connect_with_pool(&hc, k, &c->ctx, sp, on_connect);
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a whole Content-Length response before the deadline. */
static int read_response(int fd, int64_t deadline, int *status, char **resp,
			 size_t *resp_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			const char *cl = strcasestr(buf, "Content-Length:");
			size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
			size_t have = len - (end + 4 - buf);
			if (have >= want &&
			    sscanf(buf, "HTTP/1.%*d %d", status) == 1) {
				*resp_len = want;
				*resp = malloc(want + 1);
				memcpy(*resp, end + 4, want);
				(*resp)[want] = '\0';
				free(buf);
				return 0;
			}
		}
		int left = (int)(deadline - mono_ms());
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		if (len + 4096 + 1 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	free(buf);
	return -1;
}

int client_post_sync(const char *hostport, const char *path, const void *body,
		     size_t len, unsigned timeout_ms, int *status, char **resp,
		     size_t *resp_len)
{
	struct sockaddr_in sa;
	if (client_sockaddr(hostport, &sa) != 0)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int64_t deadline = mono_ms() + timeout_ms;
	int rv = -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	char head[256];
	int hl =
	    snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     path, hostport, len);
	if (write(fd, head, hl) != hl ||
	    (len && write(fd, body, len) != (ssize_t)len))
		goto out;
	rv = read_response(fd, deadline, status, resp, resp_len);
out:
	close(fd);
	return rv;
}
