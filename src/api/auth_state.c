/* auth_state.c - the replicated auth state as the API reads it, and who a
 * request comes from.
 *
 * The state is parsed from the store's meta once per change (the store's
 * meta generation says when), so a request with auth disabled pays one
 * integer comparison. bcrypt costs milliseconds by design, so it never runs
 * on the loop: a credential not seen before is checked on the loop's worker
 * pool, and the outcome is cached per (user, password, stored hash) — a
 * changed password or a deleted user no longer matches the entry, so the
 * cache needs no invalidation of its own. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "auth.h"
#include "internal.h"

#define AUTH_CACHE 64
#define BCRYPT_COST 10 /* golang.org/x/crypto/bcrypt.DefaultCost */

typedef struct cred {
	char *user, *pw, *hash;
	int ok;
} cred;

struct auth_state {
	uint64_t gen;
	int loaded, enabled;
	json_t *users, *roles; /* name -> record */
	json_t *root_role;
	cred cache[AUTH_CACHE];
	unsigned next;		    /* round-robin victim */
	int busy;		    /* bcrypt jobs on the worker pool */
	struct bjob *qhead, *qtail; /* bcrypt jobs waiting for a slot */
	size_t qlen;
};

int api_auth_state_new(auth_state **out)
{
	auth_state *as = calloc(1, sizeof(*as));
	if (!as)
		return -1;
	as->users = json_object();
	as->roles = json_object();
	as->root_role =
	    json_pack("{s:s,s:{s:{s:[s],s:[s]}}}", "role", "root",
		      "permissions", "kv", "read", "/*", "write", "/*");
	*out = as;
	return as->users && as->roles && as->root_role ? 0 : -1;
}

static void cred_clear(cred *c)
{
	if (c->pw)
		explicit_bzero(c->pw, strlen(c->pw));
	free(c->user), free(c->pw), free(c->hash);
	memset(c, 0, sizeof(*c));
}

void api_auth_state_free(auth_state *as)
{
	if (!as)
		return;
	for (int i = 0; i < AUTH_CACHE; i++)
		cred_clear(&as->cache[i]);
	json_decref(as->users);
	json_decref(as->roles);
	json_decref(as->root_role);
	free(as);
}

static void load_one(void *ctx, const char *key, const char *value, size_t len)
{
	auth_state *as = ctx;
	if (strcmp(key, "auth/enabled") == 0) {
		as->enabled = len == 4 && memcmp(value, "true", 4) == 0;
		return;
	}
	json_t *doc = json_loadb(value, len, 0, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return;
	}
	if (strncmp(key, "auth/users/", 11) == 0)
		json_object_set_new(as->users, key + 11, doc);
	else if (strncmp(key, "auth/roles/", 11) == 0)
		json_object_set_new(as->roles, key + 11, doc);
	else
		json_decref(doc);
}

static auth_state *state(api *a)
{
	auth_state *as = a->auth;
	uint64_t gen = store_meta_gen(a->st);
	if (as->loaded && as->gen == gen)
		return as;
	json_object_clear(as->users);
	json_object_clear(as->roles);
	as->enabled = 0;
	if (store_meta_scan(a->st, "auth/", load_one, as) != 0)
		log_warn("api", "auth state could not be read from the store");
	as->gen = gen;
	as->loaded = 1;
	return as;
}

int api_auth_enabled(api *a)
{
	return state(a)->enabled;
}

json_t *api_auth_user_get(api *a, const char *name)
{
	return json_object_get(state(a)->users, name);
}

json_t *api_auth_role_get(api *a, const char *name)
{
	auth_state *as = state(a);
	if (strcmp(name, "root") == 0)
		return as->root_role;
	return json_object_get(as->roles, name);
}

json_t *api_auth_users(api *a)
{
	return state(a)->users;
}

json_t *api_auth_roles(api *a)
{
	return state(a)->roles;
}

/* ---- credentials ---- */

/* Equal strings in time that depends on the lengths only. */
static int same_secret(const char *x, const char *y)
{
	size_t n = strlen(x);
	if (n != strlen(y))
		return 0;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

static cred *cache_find(auth_state *as, const char *user, const char *pw,
			const char *hash)
{
	for (int i = 0; i < AUTH_CACHE; i++) {
		cred *c = &as->cache[i];
		if (c->user && strcmp(c->user, user) == 0 &&
		    strcmp(c->hash, hash) == 0 && same_secret(c->pw, pw))
			return c;
	}
	return NULL;
}

static void cache_put(auth_state *as, const char *user, const char *pw,
		      const char *hash, int ok)
{
	if (cache_find(as, user, pw, hash))
		return;
	cred *c = &as->cache[as->next++ % AUTH_CACHE];
	cred_clear(c);
	c->user = strdup(user);
	c->pw = strdup(pw);
	c->hash = strdup(hash);
	c->ok = ok;
	if (!c->user || !c->pw || !c->hash)
		cred_clear(c);
}

/* bcrypt jobs share the loop's worker pool with libraft's disk work and
 * snapshots: at most AUTH_JOBS run at once, the rest wait in a bounded
 * FIFO (a flood of wrong passwords must not stall the log), and a waiting
 * check is answered from the cache if an equal one finished meanwhile. */
#define AUTH_JOBS 2
#define AUTH_QUEUE 1024

typedef struct bjob bjob;
struct bjob {
	uv_work_t w;
	bjob *next;
	api *a;
	uv_work_cb work;
	void (*done)(bjob *j, int status); /* frees j */
	int (*settle)(bjob *j); /* 1: answered (and freed) without work */
};

static void bjob_pump(api *a);

static void bjob_after(uv_work_t *w, int status)
{
	bjob *j = w->data;
	api *a = j->a;
	a->auth->busy--;
	j->done(j, status);
	bjob_pump(a);
	api_unref(a);
}

static int bjob_submit(bjob *j)
{
	j->w.data = j;
	if (uv_queue_work(j->a->loop, &j->w, j->work, bjob_after) != 0)
		return -1;
	j->a->auth->busy++;
	return 0;
}

static void bjob_pump(api *a)
{
	auth_state *as = a->auth;
	while (as->busy < AUTH_JOBS && as->qhead) {
		bjob *j = as->qhead;
		as->qhead = j->next;
		if (!as->qhead)
			as->qtail = NULL;
		as->qlen--;
		if (j->settle && j->settle(j))
			api_unref(a);
		else if (bjob_submit(j) != 0) {
			j->done(j, -1);
			api_unref(a);
		}
	}
}

/* Runs j now or later; -1 (j untouched) when it cannot be taken. */
static int bjob_start(api *a, bjob *j)
{
	auth_state *as = a->auth;
	j->a = a;
	if (as->busy < AUTH_JOBS) {
		if (bjob_submit(j) != 0)
			return -1;
	} else if (as->qlen >= AUTH_QUEUE) {
		return -1;
	} else {
		j->next = NULL;
		if (as->qtail)
			as->qtail->next = j;
		else
			as->qhead = j;
		as->qtail = j;
		as->qlen++;
	}
	api_ref(a);
	return 0;
}

typedef struct verify_job {
	bjob b;
	char *user, *pw, *hash;
	int ok;
	auth_who_cb cb;
	void *ctx;
	struct crypt_data cd;
} verify_job;

static void verify_work(uv_work_t *w)
{
	verify_job *j = w->data;
	memset(&j->cd, 0, sizeof(j->cd));
	const char *out = crypt_r(j->pw, j->hash, &j->cd);
	j->ok = out && out[0] != '*' && same_secret(out, j->hash);
}

static void verify_job_free(verify_job *j)
{
	explicit_bzero(j->pw, strlen(j->pw));
	explicit_bzero(&j->cd, sizeof(j->cd));
	free(j->user), free(j->pw), free(j->hash);
	free(j);
}

static void verify_done(bjob *b, int status)
{
	verify_job *j = (verify_job *)b;
	int ok = status == 0 && j->ok;
	if (status == 0)
		cache_put(b->a->auth, j->user, j->pw, j->hash, ok);
	j->cb(j->ctx, ok ? AUTH_USER : AUTH_DENIED, j->user);
	verify_job_free(j);
}

static int verify_settle(bjob *b)
{
	verify_job *j = (verify_job *)b;
	cred *c = cache_find(b->a->auth, j->user, j->pw, j->hash);
	if (!c)
		return 0;
	j->cb(j->ctx, c->ok ? AUTH_USER : AUTH_DENIED, j->user);
	verify_job_free(j);
	return 1;
}

static void verify_start(api *a, const char *user, char *pw, const char *hash,
			 auth_who_cb cb, void *ctx)
{
	verify_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->user = strdup(user);
		j->hash = strdup(hash);
		j->pw = pw;
		j->cb = cb;
		j->ctx = ctx;
		j->b.work = verify_work;
		j->b.done = verify_done;
		j->b.settle = verify_settle;
	}
	if (!j || !j->user || !j->hash || bjob_start(a, &j->b) != 0) {
		if (j)
			free(j->user), free(j->hash), free(j);
		free(pw);
		cb(ctx, AUTH_DENIED, user);
	}
}

/* etcd 3.4's userFromClientCertificate: only without an Authorization
 * header and with --client-cert-auth; a CN that names no user leaves the
 * caller a guest. etcd also tries the CNs of the chain's CAs; ovld takes
 * the client's own certificate only. */
static int cert_user(api *a, h2o_req_t *req, char *name, size_t len)
{
	return a->cfg.client_cert_auth &&
	       api_tls_peer_cn(a, req, name, len) == 0 &&
	       api_auth_user_get(a, name) != NULL;
}

void api_auth_identify(api *a, h2o_req_t *req, auth_who_cb cb, void *ctx)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	if (i < 0 || req->headers.entries[i].value.len == 0) {
		char name[128];
		if (cert_user(a, req, name, sizeof(name)))
			cb(ctx, AUTH_USER, name);
		else
			cb(ctx, AUTH_GUEST, NULL);
		return;
	}
	h2o_iovec_t v = req->headers.entries[i].value;
	char *user, *pw;
	if (api_auth_basic_parse(v.base, v.len, &user, &pw) != 0) {
		cb(ctx, AUTH_DENIED, NULL);
		return;
	}
	json_t *u = api_auth_user_get(a, user);
	const char *hash = json_string_value(json_object_get(u, "password"));
	cred *c = hash ? cache_find(a->auth, user, pw, hash) : NULL;
	if (!hash || c) {
		cb(ctx, c && c->ok ? AUTH_USER : AUTH_DENIED, user);
		explicit_bzero(pw, strlen(pw));
		free(pw);
	} else {
		verify_start(a, user, pw, hash, cb, ctx); /* takes pw */
	}
	free(user);
}

/* ---- decisions ---- */

static int has_role(json_t *user, const char *role)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(user, "roles"), i, x)
	{
		if (json_is_string(x) &&
		    strcmp(json_string_value(x), role) == 0)
			return 1;
	}
	return 0;
}

int api_auth_is_root(api *a, int who, const char *user)
{
	if (!api_auth_enabled(a))
		return 1;
	if (who != AUTH_USER)
		return 0;
	json_t *u = api_auth_user_get(a, user);
	return u && (strcmp(user, "root") == 0 || has_role(u, "root"));
}

int api_auth_key_access(api *a, int who, const char *user, const char *key,
			int write, int recursive)
{
	if (!api_auth_enabled(a))
		return 1;
	if (who == AUTH_DENIED)
		return 0;
	if (who == AUTH_GUEST) {
		/* etcd checks the guest without the recursive rule */
		json_t *g = api_auth_role_get(a, "guest");
		return g && api_auth_role_allows(g, key, write, 0);
	}
	json_t *u = api_auth_user_get(a, user);
	if (!u)
		return 0;
	if (strcmp(user, "root") == 0)
		return 1; /* etcd attaches the root role to root */
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(u, "roles"), i, x)
	{
		json_t *r = json_is_string(x)
				? api_auth_role_get(a, json_string_value(x))
				: NULL;
		if (r && api_auth_role_allows(r, key, write, recursive))
			return 1;
	}
	return 0;
}

/* ---- hashing ---- */

typedef struct hash_job {
	bjob b;
	char *pw;
	char *hash;
	auth_hash_cb cb;
	void *ctx;
	struct crypt_data cd;
} hash_job;

static void hash_work(uv_work_t *w)
{
	hash_job *j = w->data;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	memset(&j->cd, 0, sizeof(j->cd));
	/* NULL random bytes: libxcrypt draws them from the OS. */
	if (!crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, salt, sizeof(salt)))
		return;
	const char *out = crypt_r(j->pw, salt, &j->cd);
	if (out && out[0] != '*')
		j->hash = strdup(out);
}

static void hash_done(bjob *b, int status)
{
	hash_job *j = (hash_job *)b;
	j->cb(j->ctx, status == 0 ? j->hash : NULL);
	explicit_bzero(j->pw, strlen(j->pw));
	explicit_bzero(&j->cd, sizeof(j->cd));
	free(j->pw), free(j->hash), free(j);
}

int api_auth_hash(api *a, const char *pw, auth_hash_cb cb, void *ctx)
{
	hash_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->pw = strdup(pw);
	j->cb = cb;
	j->ctx = ctx;
	j->b.work = hash_work;
	j->b.done = hash_done;
	if (!j->pw || bjob_start(a, &j->b) != 0) {
		free(j->pw), free(j);
		return -1;
	}
	return 0;
}
