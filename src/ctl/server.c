/* server.c - H2O on ctl's unix sockets. A request is copied into a job,
 * answered on a worker thread (routes.c), and sent back on the loop
 * thread if the client is still there. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/socket/uv-binding.h>

#include "../h2oconn.h"
#include "../log.h"
#include "internal.h"

#define MAX_BODY (1u << 20)

struct ctl_server {
	uv_pipe_t listener;
	ctl *c;
	ctl_kind kind;
	char *path;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	int ctx_ready;
	int bound; /* the path is ours to unlink */
	h2oconn_set conns;
	unsigned refs;
	int closing;
};

typedef struct handler {
	h2o_handler_t super;
	ctl_server *s;
} handler;

typedef struct req_job {
	ctl_job job;
	ctl_server *s;
	h2o_req_t *req;		/* NULL once the client went away */
	struct req_job **guard; /* in the request's pool */
	char *method, *path, *query, *body;
	size_t body_len;
	ctl_call call;
} req_job;

/* Servers whose H2O context is left to process exit, as in src/api:
 * h2o_context_dispose runs a nested uv_run on libuv, and H2O's idle timers
 * still point into the context. Kept here so they stay reachable. */
static ctl_server *retired[8];

static void server_unref(ctl_server *s)
{
	if (--s->refs || !s->closing)
		return;
	if (s->ctx_ready) {
		for (size_t i = 0; i < 8; i++)
			if (!retired[i]) {
				retired[i] = s;
				break;
			}
		return;
	}
	h2o_config_dispose(&s->conf);
	free(s->path);
	free(s);
}

static void guard_dispose(void *p)
{
	req_job **g = p;
	if (*g) {
		(*g)->req = NULL;
		(*g)->guard = NULL;
	}
}

static void run_job(ctl_job *j)
{
	req_job *r = (req_job *)j;
	ctl_call *call = &r->call;
	call->method = r->method;
	call->path = r->path;
	call->query = r->query;
	call->body = r->body;
	call->body_len = r->body_len;
	if (r->s->kind == CTL_DOCKER) {
		if (r->s->c->dk)
			call->status = dk_handle(r->s->c->dk, r->path, r->body,
						 r->body_len, &call->reply);
		else
			call->status = 404;
	} else {
		ctl_routes_run(r->s->c, call);
	}
}

static void send_reply(req_job *r)
{
	h2o_req_t *req = r->req;
	const char *ctype = r->s->kind == CTL_DOCKER
				? "application/vnd.docker.plugins.v1.2+json"
				: "application/json";
	const char *body = r->call.reply ? r->call.reply : "{}";
	req->res.status = r->call.status ? r->call.status : 500;
	req->res.reason = req->res.status < 400 ? "OK" : "Error";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		       NULL, ctype, strlen(ctype));
	h2o_send_inline(req, body, strlen(body));
}

static void done_job(ctl_job *j)
{
	req_job *r = (req_job *)j;
	if (r->req) {
		*r->guard = NULL;
		send_reply(r);
	}
	ctl_server *s = r->s;
	free(r->call.reply);
	free(r->method);
	free(r->path);
	free(r->query);
	free(r->body);
	free(r);
	server_unref(s);
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	ctl_server *s = ((handler *)self)->s;
	if (s->closing) { /* the workers are gone: no job may be queued */
		static const char body[] =
		    "{\"error\":\"ovld is shutting down\","
		    "\"code\":\"unavailable\"}";
		req->res.status = 503;
		req->res.reason = "Service Unavailable";
		h2o_send_inline(req, body, sizeof(body) - 1);
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
	req_job *r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->method = dup_n(req->method.base, req->method.len);
	r->path = dup_n(path, plen);
	r->query = dup_n(query, qlen);
	r->body =
	    dup_n(req->entity.base ? req->entity.base : "", req->entity.len);
	r->body_len = req->entity.len;
	if (!r->method || !r->path || !r->query || !r->body) {
		free(r->method);
		free(r->path);
		free(r->query);
		free(r->body);
		free(r);
		return -1;
	}
	r->s = s;
	r->req = req;
	r->guard =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*r->guard), guard_dispose);
	*r->guard = r;
	r->job.run = run_job;
	r->job.done = done_job;
	s->refs++;
	ctl_pool_submit(&s->c->pool, &r->job);
	return 0;
}

static void conn_closed(void *owner)
{
	server_unref(owner);
}

static void on_accept(uv_stream_t *listener, int status)
{
	ctl_server *s = listener->data;
	if (status == 0 && !s->closing &&
	    h2oconn_accept(&s->conns, listener) == 0)
		s->refs++;
}

/* Whether a process accepts connections on path: a live socket belongs
 * to another daemon and is never taken over. */
static int socket_is_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

/* The socket's directory exists; a stale socket file is replaced. */
static int prepare_path(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -errno;
	}
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (socket_is_live(path))
		return -EADDRINUSE;
	unlink(path);
	return 0;
}

static void init_h2o(ctl_server *s)
{
	h2o_config_init(&s->conf);
	s->conf.max_request_entity_size = MAX_BODY;
	s->conf.server_name = h2o_iovec_init(H2O_STRLIT("ovld"));
	s->conf.http1.upgrade_to_http2 = 0;
	h2o_hostconf_t *host = h2o_config_register_host(
	    &s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
	handler *h = (handler *)h2o_create_handler(pc, sizeof(*h));
	h->super.on_req = on_req;
	h->s = s;
	h2o_context_init(&s->ctx, s->c->loop, &s->conf);
	s->ctx_ready = 1;
	s->accept.ctx = &s->ctx;
	s->accept.hosts = s->conf.hosts;
	s->conns = (h2oconn_set){.loop = s->c->loop,
				 .accept = &s->accept,
				 .closed = conn_closed,
				 .owner = s};
}

int ctl_server_open(ctl_server **out, ctl *c, ctl_kind kind, const char *path,
		    int mode)
{
	ctl_server *s = calloc(1, sizeof(*s));
	*out = s;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		*out = NULL;
		return -ENOMEM;
	}
	s->c = c;
	s->kind = kind;
	s->refs = 1;
	init_h2o(s);
	int rc = prepare_path(path);
	uv_pipe_init(c->loop, &s->listener, 0);
	s->listener.data = s;
	s->refs++;
	if (rc == 0)
		rc = uv_pipe_bind(&s->listener, path);
	s->bound = rc == 0;
	if (rc == 0)
		rc = chmod(path, (mode_t)mode) == 0 ? 0 : -errno;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 128, on_accept);
	*out = s;
	if (rc != 0) {
		log_error("ctl", "cannot serve %s: %s", path,
			  rc == -EEXIST	      ? "a file that is not a socket "
						"is in the way"
			  : rc == -EADDRINUSE ? "another process serves it"
					      : uv_strerror(rc));
		return rc;
	}
	log_info("ctl", "serving %s on %s",
		 kind == CTL_DOCKER ? "the Docker plugin" : "the control API",
		 path);
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	server_unref(h->data);
}

void ctl_server_close(ctl_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = 1;
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	if (s->bound)
		unlink(s->path);
	h2oconn_shutdown_all(&s->conns);
	server_unref(s);
}
