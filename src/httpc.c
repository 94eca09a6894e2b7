/* httpc.c - blocking HTTP/1.1 requests with one deadline (see httpc.h). */
#include "httpc.h"
#include "httpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char last_error[256];

const char *httpc_strerror(void)
{
	return last_error;
}

int httpc_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -1;
}

int64_t httpc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int httpc_wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - httpc_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Non-blocking connect bounded by the deadline. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len,
		      int64_t deadline)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (httpc_wait_fd(fd, POLLOUT, deadline) != 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	int err = 0;
	socklen_t el = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	errno = err;
	return err ? -1 : 0;
}

static int dial_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return httpc_fail("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return httpc_fail("socket: %s", strerror(errno));
	if (connect_by(fd, (struct sockaddr *)&sa, sizeof(sa), deadline) != 0) {
		httpc_fail("cannot connect to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int dial_tcp(const char *host, const char *port, int64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return httpc_fail("cannot resolve %s: %s", host,
				  gai_strerror(gai));
	int fd = -1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family,
			    a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect_by(fd, a->ai_addr, a->ai_addrlen, deadline) == 0)
			break;
		httpc_fail("cannot connect to %s:%s: %s", host, port,
			   strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Opens the connection named by target ("https://" when tls); fills host
 * for the Host header and name with the bare host for TLS. */
static int dial(const char *target, int tls, char *host, char *name,
		size_t hlen, int64_t deadline)
{
	if (!tls && strncmp(target, "unix:", 5) == 0) {
		const char *path = target + 5;
		while (path[0] == '/' && path[1] == '/')
			path++;
		snprintf(host, hlen, "localhost");
		return dial_unix(path, deadline);
	}
	const char *scheme = tls ? "https://" : "http://";
	if (strncmp(target, scheme, strlen(scheme)) != 0)
		return httpc_fail("unsupported address %s (%s)", target,
				  tls ? "https://" : "unix:PATH or http://");
	const char *p = target + strlen(scheme);
	size_t n = strcspn(p, "/");
	char hp[300], port[16];
	snprintf(port, sizeof(port), "%s", tls ? "443" : "80");
	if (n == 0 || n >= sizeof(hp) || n >= hlen)
		return httpc_fail("bad address %s", target);
	memcpy(hp, p, n);
	hp[n] = '\0';
	snprintf(host, hlen, "%s", hp);
	char *colon = strrchr(hp, ':');
	if (colon && !strchr(colon, ']')) {
		snprintf(port, sizeof(port), "%s", colon + 1);
		*colon = '\0';
	}
	char *h = hp;
	if (h[0] == '[') {
		h++;
		h[strcspn(h, "]")] = '\0';
	}
	snprintf(name, hlen, "%s", h);
	return dial_tcp(h, port, deadline);
}

static int send_all(httpc_layer *l, int fd, const char *p, size_t n,
		    int64_t deadline)
{
	if (l)
		return l->send_all(l, p, n, deadline);
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			if (httpc_wait_fd(fd, POLLOUT, deadline) != 0)
				return httpc_fail(
				    "timed out sending the request");
		} else {
			return httpc_fail("send: %s", strerror(errno));
		}
	}
	return 0;
}

/* Reads until the server closes, as Connection: close asks it to. */
static char *recv_all(httpc_layer *l, int fd, size_t *len, int64_t deadline)
{
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = l ? l->recv(l, buf + n, cap - n - 1, deadline)
			      : recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && l) /* the layer said why */
			break;
		if (r > 0) {
			n += (size_t)r;
			buf[n] = '\0';
			continue;
		}
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && httpc_wait_fd(fd, POLLIN, deadline) == 0)
			continue;
		httpc_fail(errno == EAGAIN ? "timed out waiting for the answer"
					   : "recv: %s",
			   strerror(errno));
		free(buf);
		return NULL;
	}
	if (!buf || !l)
		httpc_fail("out of memory");
	free(buf);
	return NULL;
}

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *body, size_t len)
{
	char *in = body, *end = body + len, *out = body;
	while (in < end) {
		char *stop;
		unsigned long sz = strtoul(in, &stop, 16);
		char *nl = strstr(stop, "\r\n");
		if (!nl || sz == 0)
			break;
		in = nl + 2;
		if ((size_t)(end - in) < sz)
			sz = (size_t)(end - in);
		memmove(out, in, sz);
		out += sz;
		in += sz;
		if (end - in >= 2 && in[0] == '\r' && in[1] == '\n')
			in += 2;
	}
	*out = '\0';
	return (size_t)(out - body);
}

/* Whether the header block [head, stop) has a header name: value. */
static int has_header(const char *head, const char *stop, const char *name,
		      const char *value)
{
	size_t nl = strlen(name);
	for (const char *p = head; p && p < stop; p = strstr(p, "\r\n")) {
		p += 2;
		if (p < stop && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			return strncasecmp(v, value, strlen(value)) == 0;
		}
	}
	return 0;
}

static int parse_reply(char *raw, size_t n, int *status, char **resp,
		       size_t *resp_len)
{
	int st = 0;
	char *stop = strstr(raw, "\r\n\r\n");
	if (sscanf(raw, "HTTP/1.%*d %d", &st) != 1 || !stop)
		return httpc_fail("the answer is not HTTP");
	*status = st;
	char *body = stop + 4;
	size_t blen = n - (size_t)(body - raw);
	if (has_header(raw, stop, "Transfer-Encoding", "chunked"))
		blen = dechunk(body, blen);
	if (resp) {
		*resp = malloc(blen + 1);
		if (!*resp)
			return httpc_fail("out of memory");
		memcpy(*resp, body, blen);
		(*resp)[blen] = '\0';
	}
	if (resp_len)
		*resp_len = blen;
	return 0;
}

int httpc_request_via(httpc_layer *l, const char *target, const char *method,
		      const char *path, const char *content_type,
		      const char *body, size_t body_len, int timeout_ms,
		      int *status, char **resp, size_t *resp_len)
{
	int64_t deadline =
	    httpc_now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	char host[300], name[300];
	if (resp)
		*resp = NULL;
	int fd = dial(target, l != NULL, host, name, sizeof(host), deadline);
	if (fd < 0)
		return -1;
	if (l && l->open(l, fd, name, deadline) != 0) {
		l->close(l);
		close(fd);
		return -1;
	}
	char head[1024];
	int hn = snprintf(
	    head, sizeof(head),
	    "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n%s%s%s\r\n",
	    method, path, host, body_len, content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "");
	size_t raw_len = 0;
	char *raw = NULL;
	int rc = -1;
	if (hn < 0 || (size_t)hn >= sizeof(head))
		httpc_fail("request line too long");
	else if (send_all(l, fd, head, (size_t)hn, deadline) == 0 &&
		 (!body_len ||
		  send_all(l, fd, body, body_len, deadline) == 0) &&
		 (raw = recv_all(l, fd, &raw_len, deadline)) != NULL)
		rc = parse_reply(raw, raw_len, status, resp, resp_len);
	free(raw);
	if (l)
		l->close(l);
	close(fd);
	return rc;
}

int httpc_request(const char *target, const char *method, const char *path,
		  const char *content_type, const char *body, size_t body_len,
		  int timeout_ms, int *status, char **resp, size_t *resp_len)
{
	return httpc_request_via(NULL, target, method, path, content_type, body,
				 body_len, timeout_ms, status, resp, resp_len);
}
