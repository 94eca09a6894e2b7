/* auth_http.c - /v2/auth/enable, /v2/auth/users[/NAME] and
 * /v2/auth/roles[/NAME], answering as etcd 3.4's v2http/client_auth.go:
 * the same order of checks (path, method, root access, body, state), the
 * same statuses and "auth: ..." messages, the same JSON shapes.
 *
 * A change is decided here, on the host that took the request, against its
 * current copy of the replicated state: the new record (with a bcrypt hash
 * made on a worker thread) is proposed as a META_PUT, a removal as a
 * META_DEL, so the apply only stores what was decided. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "internal.h"
#include "params.h"

enum { AK_ENABLE = 1, AK_USERS, AK_USER, AK_ROLES, AK_ROLE };

typedef struct auth_err {
	int status;
	char msg[600];
} auth_err;

typedef struct auth_req {
	api_pending base;
	int kind, method;
	char *name;
	auth_user_in uin;
	json_t *rin;
	/* what to answer once the proposals are applied */
	int status;
	json_t *out; /* NULL: an empty body */
	int waiting; /* proposals not yet applied */
	int failed;
	int creating; /* the PUT creates a user (else it merges) */
	/* the answer when another host's change won the race (prevExist) */
	auth_err lost;
} auth_req;

static void req_free(auth_req *ar)
{
	free(ar->name);
	api_auth_user_in_free(&ar->uin);
	json_decref(ar->rin);
	json_decref(ar->out);
	api_pending_free(ar);
}

static void send_doc(api *a, h2o_req_t *req, int status, json_t *doc)
{
	if (!doc) {
		api_send(a, req, status, "application/json", "", 0);
		return;
	}
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	abuf b;
	abuf_init(&b);
	abuf_puts(&b, s ? s : "null");
	free(s);
	api_send_json(a, req, status, &b);
	abuf_free(&b);
}

static void send_err(api *a, h2o_req_t *req, const auth_err *e)
{
	api_send_message(a, req, e->status, e->msg);
}

static int err(auth_err *e, int status, const char *fmt, const char *arg)
{
	e->status = status;
	snprintf(e->msg, sizeof(e->msg), fmt, arg ? arg : "");
	return -1;
}

/* ---- proposals ---- */

static void on_applied(void *ctx, store_result *res)
{
	auth_req *ar = ctx;
	int raced = res->error == STORE_ERR_NODE_EXIST ||
		    res->error == STORE_ERR_KEY_NOT_FOUND;
	if (res->error)
		ar->failed = raced && ar->lost.status ? 2 : 1;
	store_result_free(res);
	if (--ar->waiting > 0)
		return;
	h2o_req_t *req = ar->base.req;
	if (req && ar->failed == 2)
		api_send_message(ar->base.a, req, ar->lost.status,
				 ar->lost.msg);
	else if (req && ar->failed)
		api_send_message(ar->base.a, req, 500,
				 "etcdserver: request timed out");
	else if (req)
		send_doc(ar->base.a, req, ar->status, ar->out);
	req_free(ar);
}

/* Proposes meta key = value (NULL value: delete); prev_exist as for keys
 * (-1: unconditional). */
static int propose(auth_req *ar, const char *key, const char *value,
		   int prev_exist)
{
	store_cmd cmd = {.op = value ? STORE_OP_META_PUT : STORE_OP_META_DEL,
			 .path = key,
			 .path_len = strlen(key),
			 .value = value,
			 .value_len = value ? strlen(value) : 0,
			 .prev_exist = prev_exist,
			 .now_ns = api_now_ns()};
	if (raftnode_propose(ar->base.a->rn, &cmd, on_applied, ar) != 0)
		return -1;
	ar->waiting++;
	return 0;
}

static int propose_doc(auth_req *ar, const char *kind, const char *name,
		       const json_t *doc, int prev_exist)
{
	char *key = malloc(strlen(kind) + strlen(name) + 8);
	char *v =
	    doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc = -1;
	if (key && (v || !doc)) {
		sprintf(key, "auth/%s/%s", kind, name);
		rc = propose(ar, key, v, prev_exist);
	}
	free(key), free(v);
	return rc;
}

/* Answers now if nothing was proposed; else on_applied answers. */
static void finish(auth_req *ar, int rc)
{
	if (rc != 0)
		ar->failed = 1;
	if (ar->waiting > 0)
		return;
	if (rc != 0 && ar->base.req)
		api_send_message(ar->base.a, ar->base.req, 500,
				 "etcdserver: not ready");
	req_free(ar);
}

/* ---- /v2/auth/enable ---- */

static int enable(auth_req *ar, auth_err *e)
{
	api *a = ar->base.a;
	if (api_auth_enabled(a))
		return err(e, 409, "auth: already enabled", NULL);
	if (!api_auth_user_get(a, "root"))
		return err(e, 409,
			   "auth: No root user available, please create one",
			   NULL);
	int rc = 0;
	if (!api_auth_role_get(a, "guest")) {
		json_t *g =
		    json_pack("{s:s,s:{s:{s:[s],s:[s]}}}", "role", "guest",
			      "permissions", "kv", "read", "/*", "write", "/*");
		rc = g ? propose_doc(ar, "roles", "guest", g, -1) : -1;
		json_decref(g);
	}
	if (rc == 0)
		rc = propose(ar, "auth/enabled", "true", -1);
	ar->status = 200;
	finish(ar, rc);
	return 0;
}

static int enable_handle(auth_req *ar, auth_err *e)
{
	api *a = ar->base.a;
	if (ar->method == API_METHOD_GET) {
		json_t *d = json_pack("{s:b}", "enabled", api_auth_enabled(a));
		send_doc(a, ar->base.req, 200, d);
		json_decref(d);
		req_free(ar);
		return 0;
	}
	if (ar->method == API_METHOD_PUT)
		return enable(ar, e);
	if (!api_auth_enabled(a))
		return err(e, 409, "auth: already disabled", NULL);
	ar->status = 200;
	finish(ar, propose(ar, "auth/enabled", "false", -1));
	return 0;
}

/* ---- users ---- */

/* {"user","roles":[role records]}: etcd's userWithRoles. strict: a missing
 * role is an error (GET of one user), else it is skipped (the list). */
static json_t *user_with_roles(api *a, const char *name, int strict,
			       auth_err *e)
{
	json_t *u = api_auth_user_get(a, name), *roles = json_array(), *x;
	size_t i;
	json_t *list = json_object_get(u, "roles");
	int root = strcmp(name, "root") == 0, saw_root = 0;
	json_array_foreach(list, i, x)
	{
		const char *rn = json_string_value(x);
		json_t *r = rn ? api_auth_role_get(a, rn) : NULL;
		saw_root |= rn && strcmp(rn, "root") == 0;
		if (!r && strict) {
			json_decref(roles);
			err(e, 404, "auth: Role %s does not exist.", rn);
			return NULL;
		}
		if (r)
			json_array_append(roles, r);
	}
	if (root && !saw_root)
		json_array_append(roles, api_auth_role_get(a, "root"));
	json_t *out = json_pack("{s:s}", "user", name);
	if (json_array_size(roles) > 0)
		json_object_set(out, "roles", roles);
	json_decref(roles);
	return out;
}

static int cmp_key(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The names of an object's keys, sorted; *n set. */
static const char **sorted_names(json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	const char **v = calloc(*n + 1, sizeof(*v));
	const char *k;
	json_t *x;
	size_t i = 0;
	if (!v)
		return NULL;
	json_object_foreach(obj, k, x) v[i++] = k;
	qsort(v, *n, sizeof(*v), cmp_key);
	return v;
}

static void users_list(auth_req *ar)
{
	api *a = ar->base.a;
	size_t n;
	const char **names = sorted_names(api_auth_users(a), &n);
	json_t *list = n ? json_array() : json_null();
	for (size_t i = 0; names && i < n; i++)
		json_array_append_new(list,
				      user_with_roles(a, names[i], 0, NULL));
	json_t *d = json_pack("{s:o}", "users", list);
	send_doc(a, ar->base.req, 200, d);
	json_decref(d);
	free(names);
	req_free(ar);
}

static json_t *out_user(const json_t *rec)
{
	json_t *out = json_deep_copy(rec);
	json_object_del(out, "password");
	return out;
}

/* The record to store and the answer for a PUT, as etcd decides them.
 * hash: the new password's hash (a placeholder before it is made). */
static json_t *user_put_plan(auth_req *ar, const char *hash, auth_err *e)
{
	api *a = ar->base.a;
	auth_user_in *in = &ar->uin;
	int grants = json_array_size(in->grant) || json_array_size(in->revoke);
	int roles = json_array_size(in->roles) > 0;
	json_t *old = api_auth_user_get(a, in->user);
	if (grants && roles) {
		err(e, 400, "User JSON contains both roles and grant/revoke",
		    NULL);
		return NULL;
	}
	if (grants && !old) {
		/* etcd's getUser already words it "does not exist." */
		err(e, 404, "auth: User %s does not exist.", in->user);
		return NULL;
	}
	if (old && !(roles && !grants)) {
		ar->status = 200;
		ar->creating = 0;
		return api_auth_user_merge(old, in, *in->password ? hash : NULL,
					   &e->status, e->msg, sizeof(e->msg));
	}
	/* CreateUser; only CreateOrUpdateUser's create answers 201 */
	ar->status = roles ? 200 : 201;
	ar->creating = 1;
	if (!*in->password) {
		err(e, 400,
		    "auth: Cannot create user %s with an empty password",
		    in->user);
		return NULL;
	}
	if (old) {
		err(e, 409, "auth: User %s already exists.", in->user);
		return NULL;
	}
	return api_auth_user_record(in, hash);
}

static void user_put_commit(auth_req *ar, const char *hash)
{
	auth_err e;
	json_t *rec = user_put_plan(ar, hash, &e);
	if (!rec) {
		if (ar->base.req)
			send_err(ar->base.a, ar->base.req, &e);
		req_free(ar);
		return;
	}
	ar->out = out_user(rec);
	/* etcd creates with prevExist=false and updates with prevExist=true */
	int create = ar->creating;
	err(&ar->lost, create ? 409 : 404,
	    create ? "auth: User %s already exists."
		   : "auth: User %s does not exist.",
	    ar->uin.user);
	int rc = propose_doc(ar, "users", ar->uin.user, rec, !create);
	json_decref(rec);
	finish(ar, rc);
}

static void on_hashed(void *ctx, const char *hash)
{
	auth_req *ar = ctx;
	if (!hash) {
		if (ar->base.req)
			api_send_message(ar->base.a, ar->base.req, 500,
					 "auth: password hashing failed");
		req_free(ar);
		return;
	}
	user_put_commit(ar, hash);
}

static int user_put(auth_req *ar, auth_err *e, const char *body, size_t len)
{
	if (api_auth_user_parse(body, len, &ar->uin) != 0)
		return err(e, 400, "Invalid JSON in request body.", NULL);
	if (strcmp(ar->uin.user, ar->name) != 0)
		return err(e, 400,
			   "User JSON name does not match the name in the URL",
			   NULL);
	/* Refuse now what would be refused after hashing too. */
	json_t *dry = user_put_plan(ar, "$2b$10$", e);
	if (!dry)
		return -1;
	json_decref(dry);
	if (!*ar->uin.password) {
		user_put_commit(ar, NULL);
		return 0;
	}
	if (api_auth_hash(ar->base.a, ar->uin.password, on_hashed, ar) != 0)
		return err(e, 500, "auth: password hashing failed", NULL);
	return 0;
}

static int user_handle(auth_req *ar, auth_err *e, const char *body, size_t len)
{
	api *a = ar->base.a;
	if (ar->method == API_METHOD_PUT)
		return user_put(ar, e, body, len);
	if (ar->method == API_METHOD_GET) {
		if (!api_auth_user_get(a, ar->name))
			return err(e, 404, "auth: User %s does not exist.",
				   ar->name);
		json_t *d = user_with_roles(a, ar->name, 1, e);
		if (!d)
			return -1;
		send_doc(a, ar->base.req, 200, d);
		json_decref(d);
		req_free(ar);
		return 0;
	}
	if (api_auth_enabled(a) && strcmp(ar->name, "root") == 0)
		return err(e, 403,
			   "auth: Cannot delete root user while auth is "
			   "enabled.",
			   NULL);
	if (!api_auth_user_get(a, ar->name))
		return err(e, 404, "auth: User %s does not exist", ar->name);
	ar->status = 200;
	err(&ar->lost, 404, "auth: User %s does not exist", ar->name);
	finish(ar, propose_doc(ar, "users", ar->name, NULL, 1));
	return 0;
}

/* ---- roles ---- */

static void roles_list(auth_req *ar)
{
	api *a = ar->base.a;
	json_t *all = json_copy(api_auth_roles(a));
	json_object_set(all, "root", api_auth_role_get(a, "root"));
	size_t n;
	const char **names = sorted_names(all, &n);
	json_t *list = json_array();
	for (size_t i = 0; names && i < n; i++)
		json_array_append(list, json_object_get(all, names[i]));
	json_t *d = json_pack("{s:o}", "roles", list);
	send_doc(a, ar->base.req, 200, d);
	json_decref(d);
	json_decref(all);
	free(names);
	req_free(ar);
}

static json_t *role_put_plan(auth_req *ar, auth_err *e)
{
	api *a = ar->base.a;
	json_t *in = ar->rin;
	json_t *old = api_auth_role_get(a, ar->name);
	int is_root = strcmp(ar->name, "root") == 0;
	if (api_auth_perms_empty(json_object_get(in, "grant")) &&
	    api_auth_perms_empty(json_object_get(in, "revoke"))) {
		ar->status = 201;
		if (is_root || old) {
			err(e, is_root ? 403 : 409,
			    is_root ? "auth: Cannot modify role %s: is root "
				      "role."
				    : "auth: Role %s already exists.",
			    ar->name);
			return NULL;
		}
		return json_incref(in);
	}
	ar->status = 200;
	if (!api_auth_perms_empty(json_object_get(in, "permissions"))) {
		err(e, 400,
		    "Role JSON contains both permissions and grant/revoke",
		    NULL);
		return NULL;
	}
	if (is_root || !old) {
		err(e, is_root ? 403 : 404,
		    is_root ? "auth: Cannot modify role %s: is root role."
			    : "auth: Role %s does not exist.",
		    ar->name);
		return NULL;
	}
	return api_auth_role_merge(old, in, &e->status, e->msg, sizeof(e->msg));
}

static int role_put(auth_req *ar, auth_err *e, const char *body, size_t len)
{
	ar->rin = api_auth_role_parse(body, len);
	if (!ar->rin)
		return err(e, 400, "Invalid JSON in request body.", NULL);
	const char *n = json_string_value(json_object_get(ar->rin, "role"));
	if (!n || strcmp(n, ar->name) != 0)
		return err(e, 400,
			   "Role JSON name does not match the name in the URL",
			   NULL);
	json_t *rec = role_put_plan(ar, e);
	if (!rec)
		return -1;
	ar->out = json_incref(rec);
	int create = ar->status == 201;
	err(&ar->lost, create ? 409 : 404,
	    create ? "auth: Role %s already exists."
		   : "auth: Role %s does not exist.",
	    ar->name);
	int rc = propose_doc(ar, "roles", ar->name, rec, !create);
	json_decref(rec);
	finish(ar, rc);
	return 0;
}

static int role_handle(auth_req *ar, auth_err *e, const char *body, size_t len)
{
	api *a = ar->base.a;
	if (ar->method == API_METHOD_PUT)
		return role_put(ar, e, body, len);
	if (ar->method == API_METHOD_GET) {
		json_t *r = api_auth_role_get(a, ar->name);
		if (!r)
			return err(e, 404, "auth: Role %s does not exist.",
				   ar->name);
		send_doc(a, ar->base.req, 200, r);
		req_free(ar);
		return 0;
	}
	if (strcmp(ar->name, "root") == 0)
		return err(e, 403, "auth: Cannot modify role %s: is root role.",
			   ar->name);
	if (!api_auth_role_get(a, ar->name))
		return err(e, 404, "auth: Role %s doesn't exist.", ar->name);
	ar->status = 200;
	err(&ar->lost, 404, "auth: Role %s doesn't exist.", ar->name);
	finish(ar, propose_doc(ar, "roles", ar->name, NULL, 1));
	return 0;
}

/* ---- dispatch ---- */

static int dispatch(auth_req *ar, auth_err *e)
{
	h2o_req_t *req = ar->base.req;
	const char *body = req->entity.base ? req->entity.base : "";
	switch (ar->kind) {
	case AK_ENABLE:
		return enable_handle(ar, e);
	case AK_USERS:
		users_list(ar);
		return 0;
	case AK_ROLES:
		roles_list(ar);
		return 0;
	case AK_USER:
		return user_handle(ar, e, body, req->entity.len);
	default:
		return role_handle(ar, e, body, req->entity.len);
	}
}

static void on_who(void *ctx, int who, const char *user)
{
	auth_req *ar = ctx;
	api *a = ar->base.a;
	h2o_req_t *req = ar->base.req;
	if (!req) {
		req_free(ar);
		return;
	}
	int read_only = ar->kind == AK_ENABLE && ar->method == API_METHOD_GET;
	if (!read_only && !api_auth_is_root(a, who, user)) {
		api_send_message(a, req, 401, "Insufficient credentials");
		req_free(ar);
		return;
	}
	api_hdr_cluster(a, req);
	auth_err e;
	if (dispatch(ar, &e) != 0) {
		send_err(a, req, &e);
		req_free(ar);
	}
}

/* Splits "/users/NAME" as etcd does after path.Clean: kind and name, or
 * -1 for a path of more pieces (400), 0 when nothing matches (404). */
static int route(const char *rest, size_t n, char **name)
{
	*name = NULL;
	if (api_path_is(rest, n, "/enable"))
		return AK_ENABLE;
	char dec[n + 1];
	size_t dlen;
	api_perr pe;
	if (api_pct_decode(rest, n, 0, dec, &dlen, &pe) != 0)
		return 0;
	/* ovld serves an unclean path where etcd redirects to the clean one:
	 * route by the clean path either way */
	char *clean = store_clean_path(dec, dlen);
	if (!clean)
		return 0;
	int users = strncmp(clean, "/users", 6) == 0;
	int roles = strncmp(clean, "/roles", 6) == 0;
	const char *p = clean + 6; /* past "/users" or "/roles" */
	int kind = 0;
	if ((users || roles) && *p == '\0')
		kind = users ? AK_USERS : AK_ROLES;
	else if ((users || roles) && *p == '/')
		kind = strchr(p + 1, '/') ? -1 : users ? AK_USER : AK_ROLE;
	if (kind == AK_USER || kind == AK_ROLE)
		*name = strdup(p + 1);
	free(clean);
	return kind;
}

void api_auth_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen)
{
	char *name;
	int kind = route(rest, rlen, &name);
	if (kind == 0) {
		api_send_text(a, req, 404, "404 page not found\n");
		return;
	}
	if (kind < 0) {
		api_send_message(a, req, 400, "Invalid path");
		return;
	}
	int m = api_req_method(req);
	int get_only = kind == AK_USERS || kind == AK_ROLES;
	if (m != API_METHOD_GET &&
	    (get_only || (m != API_METHOD_PUT && m != API_METHOD_DELETE))) {
		free(name);
		api_send_405(a, req, get_only ? "GET" : "GET,PUT,DELETE");
		return;
	}
	auth_req *ar = api_pending_new(a, req, sizeof(*ar));
	if (!ar) {
		free(name);
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	ar->kind = kind;
	ar->method = m;
	ar->name = name;
	api_auth_identify(a, req, on_who, ar);
}

void api_auth_key_denied(api *a, h2o_req_t *req)
{
	api_send_store_error(a, req, 110, "Insufficient credentials", 0);
}
