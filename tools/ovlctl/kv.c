/* kv.c - blocking HTTP/1.1 to the local ovld and the etcd v2 key calls
 * ovlctl makes. One connection per request ("Connection: close"): ovlctl
 * makes a handful of requests per command, so simplicity wins over
 * keep-alive. */
#include "kv.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char last_error[512];

const char *kv_last_error(void)
{
	return last_error;
}

int kv_init(kv *k, const char *endpoint)
{
	const char *p = endpoint;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	const char *colon = strrchr(p, ':');
	size_t hlen = colon ? (size_t)(colon - p) : strcspn(p, "/");
	if (hlen == 0 || hlen >= sizeof(k->host))
		return -1;
	memcpy(k->host, p, hlen);
	k->host[hlen] = '\0';
	k->port = colon ? atoi(colon + 1) : 2379;
	return k->port > 0 && k->port < 65536 ? 0 : -1;
}

static int dial(const kv *k)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	char port[16];
	snprintf(port, sizeof(port), "%d", k->port);
	if (getaddrinfo(k->host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		struct timeval tv = {.tv_sec = 10};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static char *read_all(int fd, size_t *len)
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
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *body)
{
	char *in = body, *out = body;
	for (;;) {
		char *end;
		unsigned long sz = strtoul(in, &end, 16);
		char *nl = strstr(end, "\r\n");
		if (!nl || sz == 0)
			break;
		in = nl + 2;
		if (strlen(in) < sz)
			sz = strlen(in);
		memmove(out, in, sz);
		out += sz;
		in += sz;
		if (strncmp(in, "\r\n", 2) == 0)
			in += 2;
	}
	*out = '\0';
	return (size_t)(out - body);
}

static int header_has(const char *head, size_t hlen, const char *needle)
{
	for (size_t i = 0; i + strlen(needle) <= hlen; i++)
		if (strncasecmp(head + i, needle, strlen(needle)) == 0)
			return 1;
	return 0;
}

int kv_http(const kv *k, const char *method, const char *path, const char *form,
	    int *status, char **body)
{
	int fd = dial(k);
	if (fd < 0)
		return -1;
	size_t flen = form ? strlen(form) : 0;
	size_t rlen = strlen(path) + strlen(k->host) + flen + 256;
	char *req = malloc(rlen);
	if (!req) {
		close(fd);
		return -1;
	}
	int n =
	    snprintf(req, rlen,
		     "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
		     "Connection: close\r\n"
		     "Content-Type: application/x-www-form-urlencoded\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, path, k->host, k->port, flen, form ? form : "");
	int err = write_all(fd, req, (size_t)n);
	free(req);
	size_t len = 0;
	char *resp = err ? NULL : read_all(fd, &len);
	close(fd);
	if (!resp)
		return -1;
	char *hend = strstr(resp, "\r\n\r\n");
	if (strncmp(resp, "HTTP/1.", 7) != 0 || !hend) {
		free(resp);
		return -1;
	}
	*status = atoi(resp + 9);
	size_t hlen = (size_t)(hend - resp);
	char *b = hend + 4;
	if (header_has(resp, hlen, "transfer-encoding: chunked"))
		dechunk(b);
	memmove(resp, b, strlen(b) + 1);
	*body = resp;
	return 0;
}

json_t *kv_get_json(const kv *k, const char *path)
{
	int status;
	char *body;
	if (kv_http(k, "GET", path, NULL, &status, &body) != 0)
		return NULL;
	json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
	free(body);
	return j;
}

/* Percent-encodes everything but unreserved characters (and '/' when
 * keep_slash, for key paths). */
static char *urlenc(const char *s, int keep_slash)
{
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-_.~", *p) ||
		    (keep_slash && *p == '/'))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	return out;
}

/* One /v2/keys request; returns errorCode, 0, or -1 (transport). */
static int keys_req(const kv *k, const char *method, const char *key,
		    const char *query, const char *value, json_t **node)
{
	char *ekey = urlenc(key, 1);
	char *form = NULL;
	if (value) {
		char *ev = urlenc(value, 0);
		if (ev && asprintf(&form, "value=%s", ev) < 0)
			form = NULL;
		free(ev);
	}
	char *path = NULL;
	if (!ekey || (value && !form) ||
	    asprintf(&path, "/v2/keys%s%s%s", ekey, query ? "?" : "",
		     query ? query : "") < 0) {
		free(ekey);
		free(form);
		return -1;
	}
	int status;
	char *body;
	int rc = kv_http(k, method, path, form, &status, &body);
	free(ekey);
	free(form);
	free(path);
	if (rc != 0) {
		snprintf(last_error, sizeof(last_error),
			 "cannot reach ovld at %s:%d", k->host, k->port);
		return -1;
	}
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	if (!j) {
		snprintf(last_error, sizeof(last_error),
			 "bad reply from ovld (HTTP %d)", status);
		return -1;
	}
	json_t *code = json_object_get(j, "errorCode");
	int ret = 0;
	if (json_is_integer(code)) {
		ret = (int)json_integer_value(code);
		snprintf(last_error, sizeof(last_error), "%s (%s)",
			 json_string_value(json_object_get(j, "message"))
			     ?: "error",
			 json_string_value(json_object_get(j, "cause")) ?: "");
	} else if (status >= 300) {
		ret = -1;
		snprintf(last_error, sizeof(last_error), "HTTP %d from ovld",
			 status);
	} else if (node) {
		*node = json_incref(json_object_get(j, "node"));
	}
	json_decref(j);
	return ret;
}

int kv_get(const kv *k, const char *key, int recursive, json_t **node)
{
	return keys_req(k, "GET", key,
			recursive ? "quorum=true&recursive=true&sorted=true"
				  : "quorum=true",
			NULL, node);
}

int kv_create(const kv *k, const char *key, const char *value, json_t **node)
{
	return keys_req(k, "PUT", key, "prevExist=false", value, node);
}

int kv_cas(const kv *k, const char *key, const char *value, uint64_t prev_index,
	   json_t **node)
{
	char q[64];
	snprintf(q, sizeof(q), "prevExist=true&prevIndex=%" PRIu64, prev_index);
	return keys_req(k, "PUT", key, q, value, node);
}

int kv_delete(const kv *k, const char *key, uint64_t prev_index, int dir)
{
	char q[64];
	if (dir)
		snprintf(q, sizeof(q), "dir=true&recursive=true");
	else if (prev_index)
		snprintf(q, sizeof(q), "prevIndex=%" PRIu64, prev_index);
	return keys_req(k, "DELETE", key, dir || prev_index ? q : NULL, NULL,
			NULL);
}

const char *kv_node_value(json_t *node)
{
	return json_string_value(json_object_get(node, "value"));
}

uint64_t kv_node_index(json_t *node)
{
	return (uint64_t)json_integer_value(
	    json_object_get(node, "modifiedIndex"));
}

json_t *kv_node_children(json_t *node)
{
	static json_t *empty;
	json_t *c = json_object_get(node, "nodes");
	if (json_is_array(c))
		return c;
	if (!empty)
		empty = json_array();
	return empty;
}

const char *kv_node_base(json_t *node)
{
	const char *key = json_string_value(json_object_get(node, "key"));
	if (!key)
		return "";
	const char *slash = strrchr(key, '/');
	return slash ? slash + 1 : key;
}
