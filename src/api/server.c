/* server.c - the H2O server on the daemon's libuv loop: listeners,
 * connections, request routing, response helpers, and the lifetime of the
 * api object (api_init/api_start/api_close). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <h2o.h>
#include <h2o/socket/uv-binding.h>

#include "../log.h"
#include "internal.h"
#include "json.h"
#include "params.h"

typedef struct api_handler {
	h2o_handler_t super;
	api *a;
} api_handler;

static const double lat_bounds[API_LAT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

int64_t api_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void api_free(api *a)
{
	/* h2o_context_dispose is not called: on libuv it runs a nested
	 * uv_run, which re-enters other layers' close callbacks (we are
	 * inside one). Every connection is gone by now, so the context only
	 * holds idle timers; they and the context's allocations are left to
	 * process exit. The config is not referenced by idle timers. */
	api_auth_state_free(a->auth);
	a->auth = NULL;
	if (a->ctx_ready)
		return;
	h2o_config_dispose(&a->h2o_conf);
	free(a->listeners);
	free(a->listen_urls);
	free(a->blocks);
	free(a);
}

void api_ref(api *a)
{
	a->refs++;
}

void api_unref(api *a)
{
	if (--a->refs == 0 && a->closing)
		api_free(a);
}

static void guard_dispose(void *p)
{
	api_pending **g = p;
	if (*g) {
		(*g)->req = NULL;
		(*g)->guard = NULL;
	}
}

void *api_pending_new(api *a, h2o_req_t *req, size_t size)
{
	api_pending *p = calloc(1, size);
	if (!p)
		return NULL;
	p->guard =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*p->guard), guard_dispose);
	*p->guard = p;
	p->a = a;
	p->req = req;
	api_ref(a);
	return p;
}

void api_pending_free(void *ptr)
{
	api_pending *p = ptr;
	if (!p)
		return;
	if (p->guard)
		*p->guard = NULL;
	api *a = p->a;
	free(p);
	api_unref(a);
}

const char *api_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 307:
		return "Temporary Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return status < 300 ? "OK" : status < 500 ? "Error" : "Failure";
	}
}

void api_hdr(h2o_req_t *req, const char *name, const char *value, size_t len)
{
	/* None of our names is one of h2o's tokens: skip the lookup. */
	h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
	h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name),
			      0, NULL, v.base, v.len);
}

void api_hdr_u64(h2o_req_t *req, const char *name, uint64_t v)
{
	char s[20];
	api_hdr(req, name, s, abuf_fmt_u64(s, v));
}

void api_hdr_cluster(api *a, h2o_req_t *req)
{
	raftnode_status st;
	char s[16];
	raftnode_get_status(a->rn, &st);
	api_hdr(req, "X-Etcd-Cluster-Id", s, abuf_fmt_x64(s, st.cluster_id));
}

void api_hdr_raft(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	api_hdr_u64(req, "X-Raft-Index", st.commit_index);
	api_hdr_u64(req, "X-Raft-Term", st.term);
}

void api_count_status(api *a, int status, const h2o_req_t *req)
{
	if (status >= 0 && status < API_MAX_STATUS)
		a->http_codes[status]++;
	if (!req)
		return;
	struct timeval now;
	gettimeofday(&now, NULL);
	const struct timeval *t0 = &req->timestamps.request_begin_at;
	double d = (double)(now.tv_sec - t0->tv_sec) +
		   (double)(now.tv_usec - t0->tv_usec) / 1e6;
	if (d < 0)
		d = 0;
	size_t i = 0;
	while (i < API_LAT_BUCKETS && d > lat_bounds[i])
		i++;
	a->lat_buckets[i]++;
	a->lat_sum += d;
	a->lat_count++;
}

void api_send(api *a, h2o_req_t *req, int status, const char *ctype,
	      const char *body, size_t len)
{
	req->res.status = status;
	req->res.reason = api_status_reason(status);
	if (ctype)
		h2o_add_header(&req->pool, &req->res.headers,
			       H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
			       strlen(ctype));
	req->res.content_length = len;
	api_count_status(a, status, req);
	/* h2o_send_inline copies the body and leaves it out for HEAD. */
	h2o_send_inline(req, body, len);
}

void api_send_json(api *a, h2o_req_t *req, int status, abuf *b)
{
	abuf_putc(b, '\n');
	if (!abuf_ok(b)) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	api_send(a, req, status, "application/json", b->p, b->len);
}

void api_send_text(api *a, h2o_req_t *req, int status, const char *text)
{
	api_send(a, req, status, "text/plain; charset=utf-8", text,
		 strlen(text));
}

void api_send_message(api *a, h2o_req_t *req, int status, const char *msg)
{
	abuf b;
	abuf_init(&b);
	abuf_puts(&b, "{\"message\":");
	api_json_cstr(&b, msg);
	abuf_putc(&b, '}');
	api_send_json(a, req, status, &b);
	abuf_free(&b);
}

void api_send_store_error(api *a, h2o_req_t *req, int code, const char *cause,
			  uint64_t index)
{
	abuf b;
	abuf_init(&b);
	api_json_error(&b, code, cause, index);
	api_hdr_u64(req, "X-Etcd-Index", index);
	api_send_json(a, req, api_json_error_status(code), &b);
	abuf_free(&b);
}

void api_send_405(api *a, h2o_req_t *req, const char *allow)
{
	api_hdr(req, "Allow", allow, strlen(allow));
	api_send_text(a, req, 405, "Method Not Allowed\n");
}

int api_req_method(const h2o_req_t *req)
{
	return api_method_parse(req->method.base, req->method.len);
}

/* URL plus headers, counted the way a client would have sent them. */
static size_t request_head_size(const h2o_req_t *req)
{
	size_t n = req->input.method.len + req->input.path.len + 12;
	for (size_t i = 0; i < req->headers.size; i++)
		n += req->headers.entries[i].name->len +
		     req->headers.entries[i].value.len + 4;
	return n;
}

int api_path_is(const char *p, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(p, want, n) == 0;
}

int api_get_only(api *a, h2o_req_t *req, int allow_head)
{
	int m = api_req_method(req);
	if (m == API_METHOD_GET || (allow_head && m == API_METHOD_HEAD))
		return 1;
	api_send_405(a, req, allow_head ? "GET,HEAD" : "GET");
	return 0;
}

static void send_version(api *a, h2o_req_t *req)
{
	static const char body[] =
	    "{\"etcdserver\":\"3.4.0-ovld\",\"etcdcluster\":\"3.4.0\"}";
	api_send(a, req, 200, "application/json", body, sizeof(body) - 1);
}

static int prefix_is(const char *p, size_t n, const char *pre)
{
	size_t l = strlen(pre);
	return n >= l && memcmp(p, pre, l) == 0;
}

/* Everything besides /v2/keys; -1 if no route matches. */
static int route(api *a, h2o_req_t *req, const char *path, size_t plen)
{
	if (api_path_is(path, plen, "/version")) {
		if (api_get_only(a, req, 0))
			send_version(a, req);
	} else if (api_path_is(path, plen, "/health")) {
		if (api_get_only(a, req, 0))
			api_health_send(a, req);
	} else if (api_path_is(path, plen, "/v2/machines")) {
		if (api_get_only(a, req, 1))
			api_machines_send(a, req);
	} else if (api_path_is(path, plen, "/v2/members") ||
		   (plen > 12 && memcmp(path, "/v2/members/", 12) == 0)) {
		api_members_handle(a, req, path + 11, plen - 11);
	} else if (api_path_is(path, plen, "/v2/stats/self")) {
		if (api_get_only(a, req, 0))
			api_stats_self_send(a, req);
	} else if (api_path_is(path, plen, "/v2/stats/leader")) {
		if (api_get_only(a, req, 0))
			api_stats_leader_send(a, req);
	} else if (api_path_is(path, plen, "/v2/stats/store")) {
		if (api_get_only(a, req, 0))
			api_stats_store_send(a, req);
	} else if (api_path_is(path, plen, "/metrics")) {
		if (api_get_only(a, req, 0))
			api_metrics_send(a, req);
	} else if (prefix_is(path, plen, "/v2/auth/")) {
		api_auth_handle(a, req, path + 8, plen - 8);
	} else if (api_path_is(path, plen, "/ovld/v1/members")) {
		if (api_get_only(a, req, 0))
			api_members_send(a, req, 1);
	} else if (api_path_is(path, plen, "/ovld/v1/join")) {
		api_join_handle(a, req);
	} else {
		return -1;
	}
	return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	api *a = ((api_handler *)self)->a;
	if (request_head_size(req) > a->cfg.max_request_line) {
		req->http1_is_persistent = 0;
		api_send_text(a, req, 431, "request header too large\n");
		return 0;
	}
	const char *path = req->input.path.base;
	size_t plen = req->input.path.len, qlen = 0;
	const char *query = "";
	if (req->input.query_at != SIZE_MAX) {
		query = path + req->input.query_at + 1;
		qlen = plen - req->input.query_at - 1;
		plen = req->input.query_at;
	}
	if (plen == 8 && memcmp(path, "/v2/keys", 8) == 0)
		return api_keys_handle(a, req, "", 0, query, qlen);
	if (prefix_is(path, plen, "/v2/keys/"))
		return api_keys_handle(a, req, path + 8, plen - 8, query, qlen);
	if (route(a, req, path, plen) == 0)
		return 0;
	/* etcd's v3 gateway owns /v3/ and words its 404 differently. */
	if (prefix_is(path, plen, "/v3/"))
		api_send_text(a, req, 404, "Not Found\n");
	else
		api_send_text(a, req, 404, "404 page not found\n");
	return 0;
}

static void conn_closed(void *owner)
{
	api_unref(owner);
}

static void accept_into(h2oconn_set *set, uv_stream_t *listener, int status)
{
	api *a = listener->data;
	if (status == 0 && !a->closing && h2oconn_accept(set, listener) == 0)
		api_ref(a);
}

static void on_accept(uv_stream_t *listener, int status)
{
	accept_into(&((api *)listener->data)->conns, listener, status);
}

/* H2O runs the TLS handshake before HTTP when the accept ctx has a
 * context. */
static void on_accept_tls(uv_stream_t *listener, int status)
{
	accept_into(&((api *)listener->data)->tls_conns, listener, status);
}

int api_init(api **out, uv_loop_t *loop, store *st, raftnode *rn,
	     const api_config *cfg)
{
	api *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->st = st;
	a->rn = rn;
	a->cfg = *cfg;
	a->listen_urls =
	    strdup(cfg->listen_client_urls ? cfg->listen_client_urls
					   : "http://127.0.0.1:2379");
	if (!a->listen_urls) {
		free(a);
		return -ENOMEM;
	}
	a->cfg.listen_client_urls = a->listen_urls;
	if (!a->cfg.max_body)
		a->cfg.max_body = 8u << 20;
	if (!a->cfg.max_request_line)
		a->cfg.max_request_line = 1u << 20;
	a->refs = 1;
	if (api_auth_state_new(&a->auth) != 0) {
		api_auth_state_free(a->auth);
		free(a->listen_urls);
		free(a);
		return -ENOMEM;
	}

	h2o_config_init(&a->h2o_conf);
	a->h2o_conf.max_request_entity_size = a->cfg.max_body;
	a->h2o_conf.server_name = h2o_iovec_init(H2O_STRLIT("ovld"));
	/* Clients of the v2 API speak HTTP/1.1; our disconnect detection
	 * on parked watches relies on owning the socket's reads. */
	a->h2o_conf.http1.upgrade_to_http2 = 0;
	h2o_hostconf_t *host = h2o_config_register_host(
	    &a->h2o_conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
	api_handler *h = (api_handler *)h2o_create_handler(pc, sizeof(*h));
	h->super.on_req = on_req;
	h->a = a;
	*out = a;
	return 0;
}

/* "http[s]://IP:PORT" (IPv4, [IPv6] or localhost) into a socket address;
 * *tls says which scheme. */
static int parse_listen_url(const char *u, size_t n,
			    struct sockaddr_storage *ss, int *tls)
{
	char host[128];
	*tls = n > 8 && strncmp(u, "https://", 8) == 0;
	size_t skip = *tls ? 8 : 7;
	if (n < skip + 1 || (!*tls && strncmp(u, "http://", 7) != 0))
		return -EINVAL;
	u += skip, n -= skip;
	const char *colon;
	size_t hl;
	const char *port;
	if (*u == '[') {
		const char *rb = memchr(u, ']', n);
		if (!rb || rb + 1 >= u + n || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - u - 1);
		memcpy(host, u + 1, hl < sizeof(host) ? hl : 0);
		port = rb + 2;
	} else {
		colon = memrchr(u, ':', n);
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - u);
		memcpy(host, u, hl < sizeof(host) ? hl : 0);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	host[hl] = '\0';
	size_t portlen = (size_t)(u + n - port);
	while (portlen > 0 && port[portlen - 1] == '/')
		portlen--;
	uint64_t p;
	if (api_parse_u64(port, portlen, &p) != 0 || p == 0 || p > 65535)
		return -EINVAL;
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

static int listen_one(api *a, const char *url, size_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int tls;
	int rc = parse_listen_url(url, n, &ss, &tls);
	if (rc != 0) {
		log_error("api", "bad listen URL '%.*s'", (int)n, url);
		return rc;
	}
	if (tls && !a->cfg.tls_ctx) {
		log_error("api",
			  "%.*s: https needs --cert-file and --key-file, or "
			  "--auto-tls",
			  (int)n, url);
		return -EINVAL;
	}
	uv_tcp_t *l = &a->listeners[a->n_listeners];
	uv_tcp_init(a->loop, l);
	l->data = a;
	api_ref(a);
	a->n_listeners++;
	rc = uv_tcp_bind(l, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)l, 1024,
			       tls ? on_accept_tls : on_accept);
	if (rc != 0) {
		log_error("api", "listen on %.*s: %s", (int)n, url,
			  uv_strerror(rc));
		return rc;
	}
	log_info("api", "serving clients on %.*s", (int)n, url);
	return 0;
}

int api_start(api *a)
{
	size_t count = 1;
	for (const char *p = a->listen_urls; *p; p++)
		count += *p == ',';
	a->listeners = calloc(count, sizeof(*a->listeners));
	if (!a->listeners)
		return -ENOMEM;
	h2o_context_init(&a->h2o_ctx, a->loop, &a->h2o_conf);
	a->ctx_ready = 1;
	a->accept_ctx.ctx = &a->h2o_ctx;
	a->accept_ctx.hosts = a->h2o_conf.hosts;
	a->conns = (h2oconn_set){.loop = a->loop,
				 .accept = &a->accept_ctx,
				 .tcp = 1,
				 .closed = conn_closed,
				 .owner = a};
	a->tls_accept_ctx = a->accept_ctx;
	a->tls_accept_ctx.ssl_ctx = a->cfg.tls_ctx;
	a->tls_conns = a->conns;
	a->tls_conns.accept = &a->tls_accept_ctx;
	int rc = api_hub_init(a);
	if (rc != 0)
		return rc;
	const char *p = a->listen_urls;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && (*p == ' ')) {
			p++;
			n--;
		}
		if (n > 0 && (rc = listen_one(a, p, n)) != 0)
			return rc;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	api_unref(h->data);
}

void api_close(api *a)
{
	if (!a || a->closing)
		return;
	a->closing = 1;
	for (size_t i = 0; i < a->n_listeners; i++)
		uv_close((uv_handle_t *)&a->listeners[i], handle_closed);
	api_hub_close(a);
	/* Idle keep-alive connections would otherwise hold the loop open
	 * until H2O's timeout: shutting the socket down makes H2O see EOF
	 * and close them through its own path. */
	h2oconn_shutdown_all(&a->conns);
	h2oconn_shutdown_all(&a->tls_conns);
	api_unref(a);
}

void api_add_metrics(api *a, api_metrics_cb cb, void *ctx)
{
	api_metrics_block *nb =
	    realloc(a->blocks, (a->n_blocks + 1) * sizeof(*nb));
	if (!nb) {
		log_error("api", "out of memory registering metrics");
		return;
	}
	a->blocks = nb;
	a->blocks[a->n_blocks].cb = cb;
	a->blocks[a->n_blocks].ctx = ctx;
	a->n_blocks++;
}
