/* auth_doc.c - the pure half of etcd v2 auth: the Basic credentials header,
 * PUT bodies of users and roles decoded the way Go decodes them into
 * v2auth's structs, etcd's merges of grants and revokes, and the key
 * pattern rules. No I/O and no globals, so the fuzzer drives it directly.
 *
 * Records keep etcd's shapes exactly, nil slices included (Go marshals them
 * as null and etcd's "not updated" check tells null from []), because the
 * API answers with them and the differential suite compares them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

/* ---- Basic credentials ---- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Go's base64.StdEncoding: padding required, CR and LF skipped, nothing
 * after the padding. out has room for len bytes. */
static int b64_decode(const char *s, size_t len, char *out, size_t *outlen)
{
	unsigned acc = 0;
	size_t n = 0, o = 0, pad = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (n % 4 < 2)
				return -1;
			pad++, n++;
			continue;
		}
		int v = b64_val(c);
		if (v < 0 || pad)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		if (++n % 4 == 0) {
			out[o++] = (char)(acc >> 16);
			out[o++] = (char)(acc >> 8);
			out[o++] = (char)acc;
			acc = 0;
		}
	}
	if (n % 4 != 0 || pad > 2)
		return -1;
	if (pad) {
		/* the last quantum held 4 - pad symbols */
		acc <<= 6 * pad;
		out[o++] = (char)(acc >> 16);
		if (pad == 1)
			out[o++] = (char)(acc >> 8);
	}
	*outlen = o;
	return 0;
}

int api_auth_basic_parse(const char *hdr, size_t len, char **user, char **pw)
{
	*user = *pw = NULL;
	if (len < 6 || strncasecmp(hdr, "Basic ", 6) != 0)
		return -1;
	char *dec = malloc(len + 1);
	size_t n;
	if (!dec || b64_decode(hdr + 6, len - 6, dec, &n) != 0) {
		free(dec);
		return -1;
	}
	dec[n] = '\0'; /* strndup below reads a string */
	char *colon = memchr(dec, ':', n);
	if (!colon) {
		free(dec);
		return -1;
	}
	*user = strndup(dec, (size_t)(colon - dec));
	*pw = strndup(colon + 1, n - (size_t)(colon - dec) - 1);
	free(dec);
	if (!*user || !*pw) {
		free(*user), free(*pw);
		*user = *pw = NULL;
		return -1;
	}
	return 0;
}

/* ---- decoding as Go's encoding/json into a struct ---- */

/* The value of the last key that folds to name (Go matches struct fields
 * case-insensitively and a later duplicate overwrites). NULL for null. */
static json_t *field(const json_t *obj, const char *name)
{
	const char *k;
	json_t *v, *found = NULL;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (strcasecmp(k, name) == 0)
			found = v;
	}
	return json_is_null(found) ? NULL : found;
}

/* []string: absent or null is nil (NULL); else a new reference. */
static int str_list(const json_t *v, json_t **out)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return -1;
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x))
			return -1;
	}
	*out = json_incref((json_t *)v);
	return 0;
}

static int str_field(const json_t *obj, const char *name, char **out)
{
	json_t *v = field(obj, name);
	if (v && !json_is_string(v))
		return -1;
	*out = strdup(v ? json_string_value(v) : "");
	return *out ? 0 : -1;
}

static json_t *load_body(const char *body, size_t len)
{
	/* One value, trailing bytes ignored, as json.Decoder.Decode reads. */
	return json_loadb(body, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK,
			  NULL);
}

void api_auth_user_in_free(auth_user_in *u)
{
	free(u->user);
	free(u->password);
	json_decref(u->roles);
	json_decref(u->grant);
	json_decref(u->revoke);
	memset(u, 0, sizeof(*u));
}

int api_auth_user_parse(const char *body, size_t len, auth_user_in *out)
{
	memset(out, 0, sizeof(*out));
	json_t *doc = load_body(body, len);
	if (!doc)
		return -1;
	int rc = 0;
	if (json_is_null(doc)) {
		/* Go leaves the struct as it was */
		out->user = strdup("");
		out->password = strdup("");
		rc = out->user && out->password ? 0 : -1;
	} else if (!json_is_object(doc) ||
		   str_field(doc, "user", &out->user) != 0 ||
		   str_field(doc, "password", &out->password) != 0 ||
		   str_list(field(doc, "roles"), &out->roles) != 0 ||
		   str_list(field(doc, "grant"), &out->grant) != 0 ||
		   str_list(field(doc, "revoke"), &out->revoke) != 0) {
		rc = -1;
	}
	json_decref(doc);
	if (rc != 0)
		api_auth_user_in_free(out);
	return rc;
}

/* RWPermission {"read","write"} from a decoded "kv" value. */
static json_t *rw_shape(const json_t *kv)
{
	json_t *r = NULL, *w = NULL;
	if (kv && !json_is_object(kv))
		return NULL;
	if (kv && (str_list(field(kv, "read"), &r) != 0 ||
		   str_list(field(kv, "write"), &w) != 0)) {
		json_decref(r);
		return NULL;
	}
	return json_pack("{s:o,s:o}", "read", r ? r : json_null(), "write",
			 w ? w : json_null());
}

/* Permissions {"kv":{...}} from a decoded value (NULL: the zero value). */
static json_t *perms_shape(const json_t *p)
{
	if (p && !json_is_object(p))
		return NULL;
	json_t *kv = rw_shape(p ? field(p, "kv") : NULL);
	return kv ? json_pack("{s:o}", "kv", kv) : NULL;
}

static int role_opt_perms(json_t *out, const json_t *in, const char *name)
{
	json_t *v = field(in, name);
	if (!v)
		return 0; /* a nil *Permissions: omitted */
	json_t *p = perms_shape(v);
	return p ? json_object_set_new(out, name, p) : -1;
}

json_t *api_auth_role_parse(const char *body, size_t len)
{
	json_t *doc = load_body(body, len);
	if (!doc)
		return NULL;
	json_t *out = NULL;
	if (json_is_null(doc)) {
		out = json_pack("{s:s,s:o}", "role", "", "permissions",
				perms_shape(NULL));
	} else if (json_is_object(doc)) {
		json_t *name = field(doc, "role");
		json_t *perms = perms_shape(field(doc, "permissions"));
		if ((!name || json_is_string(name)) && perms)
			out = json_pack("{s:s,s:o}", "role",
					name ? json_string_value(name) : "",
					"permissions", perms);
		else
			json_decref(perms);
		if (out && (role_opt_perms(out, doc, "grant") != 0 ||
			    role_opt_perms(out, doc, "revoke") != 0)) {
			json_decref(out);
			out = NULL;
		}
	}
	json_decref(doc);
	return out;
}

static int list_empty(const json_t *l)
{
	return !l || json_array_size(l) == 0;
}

int api_auth_perms_empty(const json_t *perms)
{
	if (!perms)
		return 1;
	json_t *kv = json_object_get(perms, "kv");
	return list_empty(json_object_get(kv, "read")) &&
	       list_empty(json_object_get(kv, "write"));
}

/* ---- sets of strings, as etcd's types.unsafeSet then sort.Strings ---- */

static int set_has(const json_t *set, const char *s)
{
	size_t i;
	json_t *x;
	json_array_foreach(set, i, x)
	{
		if (strcmp(json_string_value(x), s) == 0)
			return 1;
	}
	return 0;
}

static void set_del(json_t *set, const char *s)
{
	for (size_t i = 0; i < json_array_size(set); i++)
		if (strcmp(json_string_value(json_array_get(set, i)), s) == 0)
			json_array_remove(set, i--);
}

/* A fresh set from a stored list (null or array); duplicates collapse. */
static json_t *set_of(const json_t *list)
{
	json_t *set = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x)
	{
		if (json_is_string(x) && !set_has(set, json_string_value(x)))
			json_array_append(set, x);
	}
	return set;
}

static int cmp_str(const void *a, const void *b)
{
	const char *x = json_string_value(*(json_t *const *)a);
	const char *y = json_string_value(*(json_t *const *)b);
	return strcmp(x, y);
}

/* Sorted copy (sort.Strings compares bytes, as strcmp does). */
static json_t *set_sorted(json_t *set)
{
	size_t n = json_array_size(set);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	json_t *out = json_array();
	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(set, i);
	if (v)
		qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(set);
	return out;
}

static json_t *fail(int *status, int code, char *msg, size_t n,
		    const char *text, json_t *drop)
{
	*status = code;
	snprintf(msg, n, "%s", text);
	json_decref(drop);
	return NULL;
}

/* ---- users ---- */

json_t *api_auth_user_record(const auth_user_in *in, const char *hash)
{
	json_t *roles = in->roles ? json_copy(in->roles) : json_null();
	if (strcmp(in->user, "root") == 0) {
		/* etcd's attachRootRole */
		if (json_is_null(roles)) {
			json_decref(roles);
			roles = json_array();
		}
		if (!set_has(roles, "root"))
			json_array_append_new(roles, json_string("root"));
	}
	return json_pack("{s:s,s:s,s:o}", "user", in->user, "password", hash,
			 "roles", roles);
}

static int user_roles_apply(json_t *set, const auth_user_in *in, int *status,
			    char *msg, size_t n)
{
	size_t i;
	json_t *x;
	char buf[512];
	json_array_foreach(in->grant, i, x)
	{
		const char *r = json_string_value(x);
		if (set_has(set, r)) {
			snprintf(buf, sizeof(buf),
				 "auth: Granting duplicate role %s for user %s",
				 r, in->user);
			fail(status, 409, msg, n, buf, NULL);
			return -1;
		}
		json_array_append(set, x);
	}
	json_array_foreach(in->revoke, i, x)
	{
		const char *r = json_string_value(x);
		if (!set_has(set, r)) {
			snprintf(buf, sizeof(buf),
				 "auth: Revoking ungranted role %s for user %s",
				 r, in->user);
			fail(status, 409, msg, n, buf, NULL);
			return -1;
		}
		set_del(set, r);
	}
	return 0;
}

json_t *api_auth_user_merge(const json_t *old, const auth_user_in *in,
			    const char *hash, int *status, char *msg, size_t n)
{
	const char *name = json_string_value(json_object_get(old, "user"));
	if (!name || strcmp(name, in->user) != 0)
		return fail(status, 409, msg, n,
			    "auth: Merging user data with conflicting "
			    "usernames",
			    NULL);
	json_t *set = set_of(json_object_get(old, "roles"));
	if (user_roles_apply(set, in, status, msg, n) != 0) {
		json_decref(set);
		return NULL;
	}
	json_t *pw = hash ? json_string(hash)
			  : json_incref(json_object_get(old, "password"));
	json_t *out =
	    json_pack("{s:s,s:o,s:o}", "user", name, "password",
		      pw ? pw : json_string(""), "roles", set_sorted(set));
	if (out && json_equal(out, (json_t *)old))
		return fail(status, 400, msg, n,
			    "auth: User not updated. Use grant/revoke/password "
			    "to update the user.",
			    out);
	return out;
}

/* ---- roles ---- */

static json_t *rw_list(const json_t *perms, const char *which)
{
	return json_object_get(json_object_get(perms, "kv"), which);
}

static int grant_list(json_t *set, const json_t *add, const char *what,
		      int *status, char *msg, size_t n)
{
	size_t i;
	json_t *x;
	char buf[512];
	json_array_foreach(add, i, x)
	{
		if (set_has(set, json_string_value(x))) {
			snprintf(buf, sizeof(buf),
				 "auth: Granting duplicate %s permission %s",
				 what, json_string_value(x));
			fail(status, 409, msg, n, buf, NULL);
			return -1;
		}
		json_array_append(set, x);
	}
	return 0;
}

static json_t *perms_of(json_t *read, json_t *write)
{
	return json_pack("{s:{s:o,s:o}}", "kv", "read", set_sorted(read),
			 "write", set_sorted(write));
}

/* Permissions.Grant: nil changes nothing, else sorted sets. */
static json_t *perms_grant(const json_t *p, const json_t *g, int *status,
			   char *msg, size_t n)
{
	if (!g)
		return json_deep_copy(p);
	json_t *r = set_of(rw_list(p, "read")),
	       *w = set_of(rw_list(p, "write"));
	if (grant_list(r, rw_list(g, "read"), "read", status, msg, n) != 0 ||
	    grant_list(w, rw_list(g, "write"), "write", status, msg, n) != 0) {
		json_decref(r), json_decref(w);
		return NULL;
	}
	return perms_of(r, w);
}

/* Permissions.Revoke: ungranted ones are skipped, as etcd only logs. */
static json_t *perms_revoke(json_t *p, const json_t *rv)
{
	if (!rv)
		return p;
	json_t *r = set_of(rw_list(p, "read")),
	       *w = set_of(rw_list(p, "write"));
	size_t i;
	json_t *x;
	json_array_foreach(rw_list(rv, "read"), i, x)
	    set_del(r, json_string_value(x));
	json_array_foreach(rw_list(rv, "write"), i, x)
	    set_del(w, json_string_value(x));
	json_decref(p);
	return perms_of(r, w);
}

json_t *api_auth_role_merge(const json_t *old, const json_t *in, int *status,
			    char *msg, size_t n)
{
	json_t *p = perms_grant(json_object_get(old, "permissions"),
				json_object_get(in, "grant"), status, msg, n);
	if (!p)
		return NULL;
	p = perms_revoke(p, json_object_get(in, "revoke"));
	json_t *out = json_pack("{s:O,s:o}", "role",
				json_object_get(old, "role"), "permissions", p);
	if (out && json_equal(out, (json_t *)old))
		return fail(status, 400, msg, n,
			    "auth: Role not updated. Use grant/revoke to "
			    "update the role.",
			    out);
	return out;
}

static int pattern_match(const char *pat, const char *key, int recursive)
{
	size_t n = strlen(pat);
	if (n == 0)
		return 0; /* etcd would panic on it; match nothing */
	if (pat[n - 1] == '*')
		return strncmp(key, pat, n - 1) == 0;
	return !recursive && strcmp(key, pat) == 0;
}

int api_auth_role_allows(const json_t *role, const char *key, int write,
			 int recursive)
{
	const char *name = json_string_value(json_object_get(role, "role"));
	if (name && strcmp(name, "root") == 0)
		return 1;
	json_t *list = rw_list(json_object_get(role, "permissions"),
			       write ? "write" : "read");
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x)
	{
		const char *pat = json_string_value(x);
		if (pat && pattern_match(pat, key, recursive))
			return 1;
	}
	return 0;
}
