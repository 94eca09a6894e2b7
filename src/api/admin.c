/* admin.c - everything besides /v2/keys: /version, /health, /v2/machines,
 * /v2/members, /v2/stats/..., /metrics, /v2/auth/enable, and the hand-off of
 * /ovld/v1/... to raftnode's internal channel. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "internal.h"
#include "json.h"
#include "params.h"

#define HEALTH_TIMEOUT_MS 1000

static int path_is(const char *p, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(p, want, n) == 0;
}

static int get_only(api *a, h2o_req_t *req, int allow_head)
{
	int m = api_req_method(req);
	if (m == AM_GET || (allow_head && m == AM_HEAD))
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

/* ---- /health ---- */

typedef struct health_pending {
	api_pending base;
	uv_timer_t timer;
	int refs; /* the quorum callback and the timer's close */
	int answered;
} health_pending;

static void health_answer(health_pending *h, int ok)
{
	if (h->answered)
		return;
	h->answered = 1;
	h2o_req_t *req = h->base.req;
	if (!req)
		return;
	const char *body =
	    ok ? "{\"health\":\"true\"}" : "{\"health\":\"false\"}";
	api_send(h->base.a, req, ok ? 200 : 503, "text/plain; charset=utf-8",
		 body, strlen(body));
}

static void health_unref(health_pending *h)
{
	if (--h->refs == 0)
		api_pending_free(h);
}

static void health_timer_closed(uv_handle_t *t)
{
	health_unref(t->data);
}

static void health_done(health_pending *h, int ok)
{
	health_answer(h, ok);
	if (!uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, health_timer_closed);
}

static void on_health_timeout(uv_timer_t *t)
{
	health_done(t->data, 0);
}

static void on_health_read(void *ctx, int status, const char *why)
{
	health_pending *h = ctx;
	health_done(h, status == 0);
	health_unref(h);
}

/* etcdctl cluster-health has no read timeout: this answers within 1 s
 * whatever raft does. */
static void send_health(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	if (st.leader_id == 0) {
		api_send(a, req, 503, "text/plain; charset=utf-8",
			 "{\"health\":\"false\"}", 18);
		return;
	}
	health_pending *h = api_pending_new(a, req, sizeof(*h));
	if (!h) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	uv_timer_init(a->loop, &h->timer);
	h->timer.data = h;
	h->refs = 2;
	if (raftnode_quorum_read(a->rn, on_health_read, h) != 0) {
		h->refs = 1;
		health_done(h, 0);
		return;
	}
	uv_timer_start(&h->timer, on_health_timeout, HEALTH_TIMEOUT_MS, 0);
}

/* ---- members ---- */

static void put_urls(abuf *b, const char *csv)
{
	abuf_putc(b, '[');
	int first = 1;
	const char *p = csv ? csv : "";
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && *p == ' ')
			p++, n--;
		if (n > 0) {
			if (!first)
				abuf_putc(b, ',');
			aj_str(b, p, n);
			first = 0;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	abuf_putc(b, ']');
}

static const char *role_name(int role)
{
	return role == RAFTNODE_VOTER	  ? "voter"
	       : role == RAFTNODE_STANDBY ? "standby"
					  : "spare";
}

/* etcd's member object; with_roles adds ovld's Raft role and leader flag
 * (only on /ovld/v1/members: etcd's own shape stays exact). */
static void put_member(abuf *b, const raftnode_member *m, int with_roles)
{
	abuf_printf(b, "{\"id\":\"%" PRIx64 "\",\"name\":", m->id);
	aj_cstr(b, m->name);
	abuf_puts(b, ",\"peerURLs\":");
	put_urls(b, m->peer_url);
	abuf_puts(b, ",\"clientURLs\":");
	put_urls(b, m->client_urls);
	if (with_roles)
		abuf_printf(b, ",\"role\":\"%s\",\"leader\":%s",
			    role_name(m->role),
			    m->is_leader ? "true" : "false");
	abuf_putc(b, '}');
}

static int cmp_member(const void *x, const void *y)
{
	const raftnode_member *a = x, *b = y;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int load_members(api *a, raftnode_member **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	if (raftnode_members(a->rn, list, n) != 0)
		return -1;
	if (*n > 1)
		qsort(*list, *n, sizeof(**list), cmp_member);
	return 0;
}

static void send_members(api *a, h2o_req_t *req, int with_roles)
{
	raftnode_member *list;
	size_t n;
	if (load_members(a, &list, &n) != 0) {
		api_send_message(a, req, 500, "cannot list members");
		return;
	}
	abuf b;
	abuf_init(&b);
	abuf_puts(&b, "{\"members\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			abuf_putc(&b, ',');
		put_member(&b, &list[i], with_roles);
	}
	abuf_puts(&b, "]}");
	free(list);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

static void send_leader(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_member *list;
	size_t n;
	raftnode_get_status(a->rn, &st);
	if (st.leader_id == 0 || load_members(a, &list, &n) != 0) {
		api_send_message(a, req, 503, "During election");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].id == st.leader_id) {
			abuf b;
			abuf_init(&b);
			put_member(&b, &list[i], 0);
			free(list);
			api_send_json(a, req, 200, &b);
			abuf_free(&b);
			return;
		}
	}
	free(list);
	api_send_message(a, req, 503, "During election");
}

static int cmp_str(const void *x, const void *y)
{
	const char *a = *(char *const *)x, *b = *(char *const *)y;
	return strcmp(a ? a : "", b ? b : "");
}

static void send_machines(api *a, h2o_req_t *req)
{
	raftnode_member *list;
	size_t n;
	if (load_members(a, &list, &n) != 0) {
		api_send_text(a, req, 500, "cannot list members\n");
		return;
	}
	/* Every client URL of every member, sorted as strings. */
	size_t cap = 0, cnt = 0;
	char **urls = NULL;
	for (size_t i = 0; i < n; i++) {
		char *save, *dup = strdup(list[i].client_urls);
		for (char *t = dup ? strtok_r(dup, ", ", &save) : NULL; t;
		     t = strtok_r(NULL, ", ", &save)) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 8;
				char **nu = realloc(urls, cap * sizeof(*nu));
				if (!nu)
					break;
				urls = nu;
			}
			urls[cnt++] = strdup(t);
		}
		free(dup);
	}
	free(list);
	qsort(urls, cnt, sizeof(*urls), cmp_str);
	abuf b;
	abuf_init(&b);
	for (size_t i = 0; i < cnt; i++) {
		if (i)
			abuf_puts(&b, ", ");
		if (urls[i])
			abuf_puts(&b, urls[i]);
		free(urls[i]);
	}
	free(urls);
	api_send(a, req, 200, "text/plain; charset=utf-8", b.p ? b.p : "",
		 b.len);
	abuf_free(&b);
}

enum { MEMBER_ADD = 1, MEMBER_REMOVE, MEMBER_UPDATE };

typedef struct member_pending {
	api_pending base;
	int op;
	uint64_t id;
} member_pending;

static void on_member_done(void *ctx, int status, const char *why,
			   const raftnode_member *m)
{
	member_pending *p = ctx;
	api *a = p->base.a;
	h2o_req_t *req = p->base.req;
	char msg[256];
	if (!req) {
		/* the client left; the change went ahead anyway */
	} else if (status == 0 && p->op == MEMBER_ADD && m) {
		abuf b;
		abuf_init(&b);
		raftnode_member copy = *m;
		copy.name[0] = '\0'; /* not started yet, as etcd shows it */
		copy.client_urls[0] = '\0';
		put_member(&b, &copy, 0);
		api_send_json(a, req, 201, &b);
		abuf_free(&b);
	} else if (status == 0) {
		api_send(a, req, 204, NULL, "", 0);
	} else if (status == 404) {
		snprintf(msg, sizeof(msg), "No such member: %" PRIx64, p->id);
		api_send_message(a, req, 404, msg);
	} else if (status == 410) {
		snprintf(msg, sizeof(msg),
			 "Member permanently removed: %" PRIx64, p->id);
		api_send_message(a, req, 410, msg);
	} else {
		int code = status >= 400 && status < 600 ? status : 500;
		api_send_message(a, req, code,
				 why ? why : "member change failed");
	}
	api_pending_free(p);
}

static int is_json_type(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	if (i < 0)
		return 0;
	h2o_iovec_t v = req->headers.entries[i].value;
	static const char want[] = "application/json";
	size_t wl = sizeof(want) - 1;
	return v.len >= wl && strncasecmp(v.base, want, wl) == 0 &&
	       (v.len == wl || v.base[wl] == ';' || v.base[wl] == ' ');
}

/* The first peer URL of a {"peerURLs":[...]} body, malloc'd, or NULL with
 * a message for the 400. */
static char *parse_peer_urls(h2o_req_t *req, char *msg, size_t msglen)
{
	json_error_t jerr;
	json_t *root = json_loadb(req->entity.base ? req->entity.base : "",
				  req->entity.len, 0, &jerr);
	char *out = NULL;
	json_t *arr = root ? json_object_get(root, "peerURLs") : NULL;
	if (!root) {
		snprintf(msg, msglen, "%s", jerr.text);
	} else if (!json_is_array(arr) || json_array_size(arr) == 0) {
		snprintf(msg, msglen, "peerURLs must be a non-empty array");
	} else {
		const char *u = json_string_value(json_array_get(arr, 0));
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *s =
			    json_string_value(json_array_get(arr, i));
			if (!s || (strncmp(s, "http://", 7) != 0 &&
				   strncmp(s, "https://", 8) != 0)) {
				snprintf(msg, msglen,
					 "URL scheme must be http "
					 "or https");
				u = NULL;
				break;
			}
		}
		if (u)
			out = strdup(u);
	}
	json_decref(root);
	return out;
}

static int parse_member_id(const char *s, size_t n, uint64_t *id)
{
	uint64_t v = 0;
	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

static void member_change(api *a, h2o_req_t *req, int op, uint64_t id)
{
	char msg[256] = "";
	char *url = NULL;
	if (op != MEMBER_REMOVE) {
		if (!is_json_type(req)) {
			ssize_t i = h2o_find_header(&req->headers,
						    H2O_TOKEN_CONTENT_TYPE, -1);
			h2o_iovec_t ct = i < 0 ? h2o_iovec_init("", 0)
					       : req->headers.entries[i].value;
			snprintf(
			    msg, sizeof(msg),
			    "Bad Content-Type %.*s, accept application/json",
			    (int)(ct.len > 100 ? 100 : ct.len), ct.base);
			api_send_message(a, req, 415, msg);
			return;
		}
		if (!(url = parse_peer_urls(req, msg, sizeof(msg)))) {
			api_send_message(a, req, 400, msg);
			return;
		}
	}
	member_pending *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		free(url);
		api_send_message(a, req, 500, "out of memory");
		return;
	}
	p->op = op;
	p->id = id;
	int rc;
	if (op == MEMBER_ADD)
		rc = raftnode_member_add(a->rn, url, on_member_done, p);
	else if (op == MEMBER_UPDATE)
		rc = raftnode_member_update(a->rn, id, url, on_member_done, p);
	else
		rc = raftnode_member_remove(a->rn, id, on_member_done, p);
	free(url);
	if (rc != 0) {
		api_send_message(a, req, 500, "member change failed");
		api_pending_free(p);
	}
}

static void handle_members(api *a, h2o_req_t *req, const char *rest,
			   size_t rlen)
{
	int m = api_req_method(req);
	api_hdr_cluster(a, req);
	if (rlen == 0 || (rlen == 1 && rest[0] == '/')) {
		if (m == AM_GET || m == AM_HEAD)
			send_members(a, req, 0);
		else if (m == AM_POST)
			member_change(a, req, MEMBER_ADD, 0);
		else
			api_send_405(a, req, "GET,POST");
		return;
	}
	rest++, rlen--; /* the '/' */
	if (path_is(rest, rlen, "leader")) {
		if (get_only(a, req, 0))
			send_leader(a, req);
		return;
	}
	uint64_t id;
	if (m != AM_DELETE && m != AM_PUT) {
		api_send_405(a, req, "GET,POST,PUT,DELETE");
		return;
	}
	if (parse_member_id(rest, rlen, &id) != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "No such member: %.*s",
			 (int)(rlen > 64 ? 64 : rlen), rest);
		api_send_message(a, req, 404, msg);
		return;
	}
	member_change(a, req, m == AM_DELETE ? MEMBER_REMOVE : MEMBER_UPDATE,
		      id);
}

/* ---- stats ---- */

static const char *state_name(int s)
{
	switch (s) {
	case RAFTNODE_LEADER:
		return "StateLeader";
	case RAFTNODE_CANDIDATE:
		return "StateCandidate";
	default:
		return "StateFollower";
	}
}

static void send_stats_self(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_member *list;
	size_t n;
	const char *name = "";
	raftnode_get_status(a->rn, &st);
	if (load_members(a, &list, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (list[i].id == st.id)
			name = list[i].name;
	int64_t now = api_now_ns();
	abuf b;
	abuf_init(&b);
	abuf_puts(&b, "{\"name\":");
	aj_cstr(&b, name);
	abuf_printf(&b, ",\"id\":\"%" PRIx64 "\",\"state\":\"%s\"", st.id,
		    state_name(st.state));
	abuf_puts(&b, ",\"startTime\":\"");
	aj_time(&b, st.start_time_ns);
	abuf_printf(&b, "\",\"leaderInfo\":{\"leader\":\"%" PRIx64 "\"",
		    st.leader_id);
	if (st.leader_id && st.leader_since_ns) {
		abuf_puts(&b, ",\"uptime\":\"");
		aj_duration(&b, now - st.leader_since_ns);
		abuf_puts(&b, "\",\"startTime\":\"");
		aj_time(&b, st.leader_since_ns);
		abuf_putc(&b, '"');
	}
	abuf_printf(&b,
		    "},\"recvAppendRequestCnt\":%" PRIu64
		    ",\"sendAppendRequestCnt\":%" PRIu64 "}",
		    st.recv_append_count, st.send_append_count);
	if (n)
		free(list);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

static void send_stats_leader(api *a, h2o_req_t *req)
{
	raftnode_follower *fs = NULL;
	size_t n = 0;
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	if (raftnode_follower_stats(a->rn, &fs, &n) != 0) {
		api_send_message(a, req, 403, "not current leader");
		return;
	}
	abuf b;
	abuf_init(&b);
	abuf_printf(&b, "{\"leader\":\"%" PRIx64 "\",\"followers\":{", st.id);
	for (size_t i = 0; i < n; i++) {
		const raftnode_follower *f = &fs[i];
		abuf_printf(&b,
			    "%s\"%" PRIx64 "\":{\"latency\":{\"current\":%g,"
			    "\"average\":%g,\"standardDeviation\":%g,"
			    "\"minimum\":%g,\"maximum\":%g},\"counts\":{"
			    "\"fail\":%" PRIu64 ",\"success\":%" PRIu64 "}}",
			    i ? "," : "", f->id, f->latency_current_ms,
			    f->latency_average_ms, f->latency_stddev_ms,
			    f->latency_min_ms, f->latency_max_ms, f->fail,
			    f->success);
	}
	abuf_puts(&b, "}}");
	free(fs);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

static void send_stats_store(api *a, h2o_req_t *req)
{
	static const char *const names[AS_COUNT] = {
	    "getsSuccess",
	    "getsFail",
	    "setsSuccess",
	    "setsFail",
	    "deleteSuccess",
	    "deleteFail",
	    "updateSuccess",
	    "updateFail",
	    "createSuccess",
	    "createFail",
	    "compareAndSwapSuccess",
	    "compareAndSwapFail",
	    "compareAndDeleteSuccess",
	    "compareAndDeleteFail",
	    "expireCount",
	};
	abuf b;
	abuf_init(&b);
	abuf_putc(&b, '{');
	for (int i = 0; i < AS_COUNT; i++)
		abuf_printf(&b, "\"%s\":%" PRIu64 ",", names[i], a->stats[i]);
	abuf_printf(&b, "\"watchers\":%zu}", a->hub.n_watchers);
	api_send_json(a, req, 200, &b);
	abuf_free(&b);
}

/* ---- /metrics ---- */

static void metrics_http(api *a, abuf *b)
{
	static const char *const bounds[API_LAT_BUCKETS] = {
	    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	    "0.05",   "0.1",   "0.25",	 "0.5",	  "1",	  "2.5"};
	abuf_puts(b, "# HELP ovld_http_requests_total HTTP responses by "
		     "status code.\n# TYPE ovld_http_requests_total counter\n");
	for (int c = 0; c < API_MAX_STATUS; c++)
		if (a->http_codes[c])
			abuf_printf(b,
				    "ovld_http_requests_total{code=\"%d\"} "
				    "%" PRIu64 "\n",
				    c, a->http_codes[c]);
	abuf_puts(b, "# HELP ovld_http_request_duration_seconds Time to "
		     "answer a request (watches excluded).\n"
		     "# TYPE ovld_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < API_LAT_BUCKETS; i++) {
		cum += a->lat_buckets[i];
		abuf_printf(
		    b,
		    "ovld_http_request_duration_seconds_bucket{le=\"%s\"}"
		    " %" PRIu64 "\n",
		    bounds[i], cum);
	}
	cum += a->lat_buckets[API_LAT_BUCKETS];
	abuf_printf(b,
		    "ovld_http_request_duration_seconds_bucket{le=\"+Inf\"} "
		    "%" PRIu64 "\n"
		    "ovld_http_request_duration_seconds_sum %.6f\n"
		    "ovld_http_request_duration_seconds_count %" PRIu64 "\n",
		    cum, a->lat_sum, a->lat_count);
}

static void metric(abuf *b, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	abuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name,
		    help, name, type, name, v);
}

static void send_metrics(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	abuf b;
	abuf_init(&b);
	metrics_http(a, &b);
	metric(&b, "ovld_watchers", "gauge", "Parked watches.",
	       a->hub.n_watchers);
	metric(&b, "ovld_store_index", "gauge", "Store (etcd) index.",
	       store_current_index(a->st));
	metric(&b, "ovld_store_keys", "gauge", "Nodes in the key space.",
	       store_key_count(a->st));
	metric(&b, "ovld_raft_term", "gauge", "Current Raft term.", st.term);
	metric(&b, "ovld_raft_commit_index", "gauge", "Raft commit index.",
	       st.commit_index);
	metric(&b, "ovld_raft_applied_index", "gauge", "Last applied entry.",
	       st.last_applied);
	metric(&b, "ovld_raft_is_leader", "gauge", "1 on the leader.",
	       st.state == RAFTNODE_LEADER);
	metric(&b, "ovld_raft_has_leader", "gauge", "1 when a leader is known.",
	       st.leader_id != 0);
	metric(&b, "ovld_raft_leader_changes_total", "counter",
	       "Leader changes seen.", st.leader_changes);
	metric(&b, "ovld_raft_proposals_ok_total", "counter",
	       "Proposals answered.", st.proposals_ok);
	metric(&b, "ovld_raft_proposals_failed_total", "counter",
	       "Proposals failed.", st.proposals_failed);
	for (size_t i = 0; i < a->n_blocks && abuf_ok(&b); i++)
		a->blocks[i].cb(a->blocks[i].ctx, &b.p, &b.len, &b.cap);
	if (!abuf_ok(&b)) {
		api_send_text(a, req, 500, "out of memory\n");
	} else {
		api_send(a, req, 200, "text/plain; version=0.0.4", b.p, b.len);
	}
	abuf_free(&b);
}

/* ---- /ovld/v1 ---- */

static void on_internal_reply(void *ctx, int status, const char *ctype,
			      const void *body, size_t len)
{
	api_pending *p = ctx;
	if (p->req)
		api_send(p->a, p->req, status, ctype, body ? body : "", len);
	api_pending_free(p);
}

static void handle_internal(api *a, h2o_req_t *req)
{
	api_pending *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	h2o_iovec_t m =
	    h2o_strdup(&req->pool, req->method.base, req->method.len);
	h2o_iovec_t path =
	    h2o_strdup(&req->pool, req->input.path.base, req->input.path.len);
	int rc = raftnode_handle_internal(
	    a->rn, m.base, path.base, req->entity.base ? req->entity.base : "",
	    req->entity.len, on_internal_reply, p);
	if (rc != 0) {
		api_send_text(a, req, 500, "internal channel failed\n");
		api_pending_free(p);
	}
}

int api_admin_handle(api *a, h2o_req_t *req, const char *path, size_t plen)
{
	if (path_is(path, plen, "/version")) {
		if (get_only(a, req, 0))
			send_version(a, req);
	} else if (path_is(path, plen, "/health")) {
		if (get_only(a, req, 0))
			send_health(a, req);
	} else if (path_is(path, plen, "/v2/machines")) {
		if (get_only(a, req, 1))
			send_machines(a, req);
	} else if (path_is(path, plen, "/v2/members") ||
		   (plen > 12 && memcmp(path, "/v2/members/", 12) == 0)) {
		handle_members(a, req, path + 11, plen - 11);
	} else if (path_is(path, plen, "/v2/stats/self")) {
		if (get_only(a, req, 0))
			send_stats_self(a, req);
	} else if (path_is(path, plen, "/v2/stats/leader")) {
		if (get_only(a, req, 0))
			send_stats_leader(a, req);
	} else if (path_is(path, plen, "/v2/stats/store")) {
		if (get_only(a, req, 0))
			send_stats_store(a, req);
	} else if (path_is(path, plen, "/metrics")) {
		if (get_only(a, req, 0))
			send_metrics(a, req);
	} else if (path_is(path, plen, "/v2/auth/enable")) {
		if (get_only(a, req, 0)) {
			abuf b;
			abuf_init(&b);
			abuf_puts(&b, "{\"enabled\":false}");
			api_send_json(a, req, 200, &b);
			abuf_free(&b);
		}
	} else if (path_is(path, plen, "/ovld/v1/members")) {
		if (get_only(a, req, 0))
			send_members(a, req, 1);
	} else if (plen >= 9 && memcmp(path, "/ovld/v1/", 9) == 0) {
		handle_internal(a, req);
	} else {
		return -1;
	}
	return 0;
}
