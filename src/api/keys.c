/* keys.c - /v2/keys: reads from the local store (after a quorum barrier
 * when asked), writes proposed through raftnode, watches handed to the
 * watch hub. Answers follow etcd's status, header and body rules. */
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "internal.h"
#include "json.h"
#include "params.h"

static const char keys_allow[] = "HEAD,GET,PUT,POST,DELETE";

typedef struct keys_pending {
	api_pending base;
	api_keys_req r;
	int stat;  /* enum api_stat of the success counter; fail is +1 */
	char *key; /* auth: the decoded path after /v2/keys, as etcd checks */
} keys_pending;

/* Which /v2/stats/store counter pair a write lands in (etcd counts by the
 * operation asked for, so failures are attributed the same way). */
static int write_stat(const api_keys_req *r)
{
	const store_cmd *c = &r->cmd;
	int compare = c->prev_value != NULL || c->prev_index != 0;
	switch (c->op) {
	case STORE_OP_POST:
		return API_STAT_CREATE_OK;
	case STORE_OP_DELETE:
		return compare ? API_STAT_CAD_OK : API_STAT_DELETE_OK;
	default:
		if (c->prev_exist == 0)
			return API_STAT_CREATE_OK;
		if (compare)
			return API_STAT_CAS_OK;
		return c->prev_exist == 1 ? API_STAT_UPDATE_OK
					  : API_STAT_SETS_OK;
	}
}

static void send_event(api *a, h2o_req_t *req, int status,
		       const store_result *res, int no_value)
{
	abuf b;
	abuf_init(&b);
	api_json_event(&b, &res->ev, api_now_ns(), no_value);
	api_hdr_u64(req, "X-Etcd-Index", res->index);
	api_hdr_raft(a, req);
	api_send_json(a, req, status, &b);
	abuf_free(&b);
}

static void answer_get(api *a, h2o_req_t *req, const api_keys_req *r)
{
	store_result res;
	memset(&res, 0, sizeof(res));
	if (store_get(a->st, r->path, r->recursive, r->sorted, &res) != 0) {
		a->stats[API_STAT_GETS_FAIL]++;
		api_send_store_error(a, req, 300, "store read failed", 0);
		return;
	}
	if (res.error) {
		a->stats[API_STAT_GETS_FAIL]++;
		api_send_store_error(a, req, res.error, res.cause, res.index);
	} else {
		a->stats[API_STAT_GETS_OK]++;
		send_event(a, req, 200, &res, 0);
	}
	store_result_free(&res);
}

static void on_quorum(void *ctx, int status, const char *why)
{
	keys_pending *p = ctx;
	h2o_req_t *req = p->base.req;
	if (req && status != 0) {
		p->base.a->stats[API_STAT_GETS_FAIL]++;
		api_send_store_error(
		    p->base.a, req, 300,
		    why ? why : "etcdserver: request timed out", 0);
	} else if (req) {
		answer_get(p->base.a, req, &p->r);
	}
	api_keys_req_free(&p->r);
	api_pending_free(p);
}

static void on_write_done(void *ctx, store_result *res)
{
	keys_pending *p = ctx;
	api *a = p->base.a;
	h2o_req_t *req = p->base.req;
	a->stats[p->stat + (res->error ? 1 : 0)]++;
	if (!req) {
		/* The client left; the write still happened (or failed). */
	} else if (res->error) {
		api_send_store_error(a, req, res->error, res->cause,
				     res->index);
	} else {
		int created =
		    res->ev.action == STORE_ACTION_CREATE ||
		    (res->ev.action == STORE_ACTION_SET && !res->ev.has_prev);
		int no_value = p->r.no_value &&
			       res->ev.action != STORE_ACTION_DELETE &&
			       res->ev.action != STORE_ACTION_CAD;
		send_event(a, req, created ? 201 : 200, res, no_value);
	}
	store_result_free(res);
	api_keys_req_free(&p->r);
	api_pending_free(p);
}

static keys_pending *pend(api *a, h2o_req_t *req, api_keys_req *r)
{
	keys_pending *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		api_keys_req_free(r);
		api_send_store_error(a, req, 300, "out of memory", 0);
		return NULL;
	}
	p->r = *r; /* takes ownership: cmd's pointers stay valid */
	return p;
}

static void start_write(api *a, h2o_req_t *req, api_keys_req *r)
{
	keys_pending *p = pend(a, req, r);
	if (!p)
		return;
	p->stat = write_stat(&p->r);
	if (raftnode_propose(a->rn, &p->r.cmd, on_write_done, p) != 0) {
		a->stats[p->stat + 1]++;
		api_send_store_error(a, req, 300, "etcdserver: not ready", 0);
		api_keys_req_free(&p->r);
		api_pending_free(p);
	}
}

static void start_read(api *a, h2o_req_t *req, api_keys_req *r)
{
	if (r->wait) {
		api_watch_start(a, req, r->path, r->recursive, r->stream,
				r->wait_index);
		api_keys_req_free(r);
		return;
	}
	if (!r->quorum) {
		answer_get(a, req, r);
		api_keys_req_free(r);
		return;
	}
	keys_pending *p = pend(a, req, r);
	if (!p)
		return;
	if (raftnode_quorum_read(a->rn, on_quorum, p) != 0) {
		a->stats[API_STAT_GETS_FAIL]++;
		api_send_store_error(a, req, 300, "etcdserver: not ready", 0);
		api_keys_req_free(&p->r);
		api_pending_free(p);
	}
}

static void start(api *a, h2o_req_t *req, api_keys_req *r)
{
	if (r->method == API_METHOD_GET || r->method == API_METHOD_HEAD)
		start_read(a, req, r);
	else
		start_write(a, req, r);
}

static void on_who(void *ctx, int who, const char *user)
{
	keys_pending *p = ctx;
	api *a = p->base.a;
	h2o_req_t *req = p->base.req;
	api_keys_req r = p->r;
	int write = r.method != API_METHOD_GET && r.method != API_METHOD_HEAD;
	int ok = req &&
		 api_auth_key_access(a, who, user, p->key, write, r.recursive);
	free(p->key);
	api_pending_free(p);
	if (!req)
		api_keys_req_free(&r);
	else if (!ok) {
		/* etcd refuses before the store: no store stats counted */
		api_keys_req_free(&r);
		api_auth_key_denied(a, req);
	} else
		start(a, req, &r);
}

/* The key etcd checks permissions on: the path after /v2/keys as Go's
 * ServeMux hands it over. etcd answers an unclean path ("..", "//") with a
 * redirect to the clean one, which it then checks; ovld serves the clean
 * path at once, so it must check that one too, or "/a/../b" would pass a
 * prefix pattern "/a/" with its star. Like ServeMux's cleanPath, a trailing '/'
 * stays. */
static char *check_key(const char *rest, size_t rlen)
{
	char *dec = malloc(rlen + 1);
	size_t n = 0;
	api_perr err;
	if (!dec || api_pct_decode(rest, rlen, 0, dec, &n, &err) != 0) {
		free(dec);
		return NULL;
	}
	dec[n] = '\0';
	if (n == 0)
		return dec; /* "/v2/keys": etcd checks "" */
	char *clean = store_clean_path(dec, n);
	int slash = dec[n - 1] == '/';
	free(dec);
	if (!clean || !slash || strcmp(clean, "/") == 0)
		return clean;
	size_t cl = strlen(clean);
	char *k = realloc(clean, cl + 2);
	if (!k) {
		free(clean);
		return NULL;
	}
	k[cl] = '/';
	k[cl + 1] = '\0';
	return k;
}

/* With auth on, the request waits for who sent it (bcrypt may run on a
 * worker), then etcd's hasKeyPrefixAccess decides. */
static void start_checked(api *a, h2o_req_t *req, api_keys_req *r,
			  const char *rest, size_t rlen)
{
	char *key = check_key(rest, rlen);
	if (!key) {
		api_keys_req_free(r);
		api_send_store_error(a, req, 300, "out of memory", 0);
		return;
	}
	keys_pending *p = pend(a, req, r);
	if (!p) {
		free(key);
		return;
	}
	p->key = key;
	api_auth_identify(a, req, on_who, p);
}

static const char *header_value(h2o_req_t *req, const h2o_token_t *tok,
				size_t *len)
{
	ssize_t i = h2o_find_header(&req->headers, tok, -1);
	if (i < 0) {
		*len = 0;
		return NULL;
	}
	*len = req->headers.entries[i].value.len;
	return req->headers.entries[i].value.base;
}

int api_keys_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen,
		    const char *query, size_t qlen)
{
	int m = api_req_method(req);
	if (m == API_METHOD_OTHER) {
		api_send_405(a, req, keys_allow);
		return 0;
	}
	api_hdr_cluster(a, req);
	size_t clen;
	const char *ctype = header_value(req, H2O_TOKEN_CONTENT_TYPE, &clen);
	api_keys_req r;
	api_perr err = {0, ""};
	if (api_keys_parse(&r, m, rest, rlen, query, qlen, ctype, clen,
			   req->entity.base, req->entity.len, api_now_ns(),
			   &err) != 0) {
		api_send_store_error(a, req, err.code, err.cause, 0);
		return 0;
	}
	if (api_auth_enabled(a))
		start_checked(a, req, &r, rest, rlen);
	else
		start(a, req, &r);
	return 0;
}
