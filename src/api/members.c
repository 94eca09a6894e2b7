/* members.c - etcd's membership API: /v2/members (list, add, remove,
 * update), /v2/members/leader, /v2/machines, and ovld's /ovld/v1/members
 * with Raft roles; the changes themselves are raftnode's. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "json.h"
#include "params.h"

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
			api_json_str(b, p, n);
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
	api_json_cstr(b, m->name);
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

int api_members_load(api *a, raftnode_member **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	if (raftnode_members(a->rn, list, n) != 0)
		return -1;
	if (*n > 1)
		qsort(*list, *n, sizeof(**list), cmp_member);
	return 0;
}

void api_members_send(api *a, h2o_req_t *req, int with_roles)
{
	raftnode_member *list;
	size_t n;
	if (api_members_load(a, &list, &n) != 0) {
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
	if (st.leader_id == 0 || api_members_load(a, &list, &n) != 0) {
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

void api_machines_send(api *a, h2o_req_t *req)
{
	raftnode_member *list;
	size_t n;
	if (api_members_load(a, &list, &n) != 0) {
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

static void on_member_done(void *ctx, int answer, const char *why,
			   const raftnode_member *m)
{
	member_pending *p = ctx;
	api *a = p->base.a;
	h2o_req_t *req = p->base.req;
	char msg[256];
	if (!req) {
		/* the client left; the change went ahead anyway */
	} else if (answer == RAFTNODE_DONE && p->op == MEMBER_ADD && m) {
		abuf b;
		abuf_init(&b);
		raftnode_member copy = *m;
		copy.name[0] = '\0'; /* not started yet, as etcd shows it */
		copy.client_urls[0] = '\0';
		put_member(&b, &copy, 0);
		api_send_json(a, req, 201, &b);
		abuf_free(&b);
	} else if (answer == RAFTNODE_DONE) {
		api_send(a, req, 204, NULL, "", 0);
	} else if (answer == RAFTNODE_NO_MEMBER) {
		snprintf(msg, sizeof(msg), "No such member: %" PRIx64, p->id);
		api_send_message(a, req, 404, msg);
	} else {
		api_send_message(a, req,
				 answer == RAFTNODE_CONFLICT ? 409 : 500,
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

static void members_route(api *a, h2o_req_t *req, const char *rest, size_t rlen)
{
	int m = api_req_method(req);
	api_hdr_cluster(a, req);
	if (rlen == 0 || (rlen == 1 && rest[0] == '/')) {
		if (m == API_METHOD_GET || m == API_METHOD_HEAD)
			api_members_send(a, req, 0);
		else if (m == API_METHOD_POST)
			member_change(a, req, MEMBER_ADD, 0);
		else
			api_send_405(a, req, "GET,POST");
		return;
	}
	rest++, rlen--; /* the '/' */
	if (api_path_is(rest, rlen, "leader")) {
		if (api_get_only(a, req, 0))
			send_leader(a, req);
		return;
	}
	uint64_t id;
	if (m != API_METHOD_DELETE && m != API_METHOD_PUT) {
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
	member_change(
	    a, req, m == API_METHOD_DELETE ? MEMBER_REMOVE : MEMBER_UPDATE, id);
}

typedef struct members_auth {
	api_pending base;
	const char *rest; /* in the request's memory */
	size_t rlen;
} members_auth;

static void on_who(void *ctx, int who, const char *user)
{
	members_auth *p = ctx;
	api *a = p->base.a;
	h2o_req_t *req = p->base.req;
	if (req && !api_auth_is_root(a, who, user))
		api_send_message(a, req, 401, "Insufficient credentials");
	else if (req)
		members_route(a, req, p->rest, p->rlen);
	api_pending_free(p);
}

/* etcd's hasWriteRootAccess: with auth on, member changes need root. */
void api_members_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen)
{
	int m = api_req_method(req);
	int change = m == API_METHOD_POST || m == API_METHOD_PUT ||
		     m == API_METHOD_DELETE;
	if (!change || !api_auth_enabled(a)) {
		members_route(a, req, rest, rlen);
		return;
	}
	members_auth *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	p->rest = rest;
	p->rlen = rlen;
	api_auth_identify(a, req, on_who, p);
}
