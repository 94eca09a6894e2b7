/* auth.h - etcd v2 auth (users, roles, the enabled switch) inside the API
 * layer, behaving as etcd 3.4's v2auth and v2http/client_auth.go.
 *
 * The state lives in the store's replicated meta under "auth/" (one JSON
 * document per user and role, in etcd's own shapes, and "auth/enabled"),
 * written only through META_PUT/META_DEL commands (with prevExist, as etcd
 * writes its /2 records, so a lost race is a 409/404). Everything
 * non-deterministic (bcrypt salts and hashes, the merge of a grant into the
 * current record) is decided by the host that takes the request, before the
 * log; the apply only stores bytes and never fails.
 *
 * Split: auth_doc.c parses and reshapes (pure, fuzzed), auth_state.c caches
 * the replicated state and checks credentials (bcrypt on the loop's worker
 * pool, verified pairs cached), auth_http.c serves /v2/auth. */
#ifndef OVLD_API_AUTH_H
#define OVLD_API_AUTH_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

typedef struct api api;

/* ---- auth_doc.c: pure parsing and reshaping ---- */

/* "Basic base64(user:password)" as Go's Request.BasicAuth reads it (scheme
 * case-insensitive, strict standard base64, split at the first ':').
 * Returns 0 with malloc'd user and pw, or -1 when malformed. */
int api_auth_basic_parse(const char *hdr, size_t len, char **user, char **pw);

/* A decoded PUT body of /v2/auth/users/NAME, as Go decodes it into v2auth's
 * User: fields matched case-insensitively, unknown ones ignored, null as
 * absent. The arrays are NULL when absent or null. */
typedef struct auth_user_in {
	char *user;
	char *password;
	json_t *roles, *grant, *revoke; /* arrays of strings */
} auth_user_in;
int api_auth_user_parse(const char *body, size_t len, auth_user_in *out);
void api_auth_user_in_free(auth_user_in *u);

/* A decoded PUT body of /v2/auth/roles/NAME in etcd's Role shape:
 * {"role","permissions":{"kv":{"read","write"}}} plus "grant"/"revoke" when
 * given (lists are arrays or null, as Go marshals nil slices). NULL when the
 * body is not a Role. */
json_t *api_auth_role_parse(const char *body, size_t len);
/* Go's Permissions.IsEmpty on a "permissions"-shaped object (or NULL). */
int api_auth_perms_empty(const json_t *perms);

/* etcd's merges, on stored records. On success returns the new record;
 * else NULL with *status and msg (an "auth: ..." message) set. */
json_t *api_auth_user_merge(const json_t *old, const auth_user_in *in,
			    const char *hash, int *status, char *msg, size_t n);
json_t *api_auth_role_merge(const json_t *old, const json_t *in, int *status,
			    char *msg, size_t n);

/* A new user record {"user","password","roles"} as etcd stores it. */
json_t *api_auth_user_record(const auth_user_in *in, const char *hash);

/* etcd's key pattern rules for one role record: simpleMatch (trailing '*'
 * is a prefix, otherwise equality) or, for recursive requests, prefixMatch
 * (only '*' patterns, as prefixes). The root role allows everything. */
int api_auth_role_allows(const json_t *role, const char *key, int write,
			 int recursive);

/* ---- auth_state.c: the replicated state, cached, and credentials ---- */

typedef struct auth_state auth_state;
int api_auth_state_new(auth_state **out);
void api_auth_state_free(auth_state *as);

/* 1 when auth is enabled; reloads the cache if meta changed. Costs one
 * comparison when nothing changed. */
int api_auth_enabled(api *a);
/* Borrowed records of the current state (NULL when absent). The root role
 * is synthesised as etcd does; the root user always carries it. */
json_t *api_auth_user_get(api *a, const char *name);
json_t *api_auth_role_get(api *a, const char *name);
/* Borrowed objects name -> record. */
json_t *api_auth_users(api *a);
json_t *api_auth_roles(api *a);

enum { AUTH_GUEST = 1, AUTH_USER, AUTH_DENIED };
/* Who sent req: guest (no Authorization header), a user whose password
 * checked, or denied (malformed header, unknown user, wrong password).
 * cb runs at once when the answer is known or cached, else after a bcrypt
 * check on a worker thread; user is valid only during the call. */
typedef void (*auth_who_cb)(void *ctx, int who, const char *user);
void api_auth_identify(api *a, h2o_req_t *req, auth_who_cb cb, void *ctx);

/* etcd's hasRootAccess and hasKeyPrefixAccess for an identified caller,
 * with auth enabled. key is the decoded path after /v2/keys. */
int api_auth_is_root(api *a, int who, const char *user);
int api_auth_key_access(api *a, int who, const char *user, const char *key,
			int write, int recursive);

/* bcrypt hash of pw (etcd's cost, 10) on a worker thread; cb gets the
 * hash, or NULL when hashing failed. */
typedef void (*auth_hash_cb)(void *ctx, const char *hash);
int api_auth_hash(api *a, const char *pw, auth_hash_cb cb, void *ctx);

/* ---- auth_http.c ---- */
/* /v2/auth...: rest is the path after "/v2/auth". */
void api_auth_handle(api *a, h2o_req_t *req, const char *rest, size_t rlen);
/* The 401 of a key request that its caller may not make. */
void api_auth_key_denied(api *a, h2o_req_t *req);

#endif
