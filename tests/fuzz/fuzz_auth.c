/* fuzz_auth.c - libFuzzer target for etcd v2 auth's parsers: the Basic
 * credentials header and the PUT bodies of users and roles, with etcd's
 * merges and key pattern rules run on what they decode. Besides memory
 * errors (ASan/UBSan) it checks invariants: decoded credentials encode back
 * to a header that decodes to the same pair, merged role lists are sorted
 * without duplicates, and merged records keep their name.
 *
 * Input layout: byte 0 picks the parser (0 header, 1 user body, 2 role
 * body); the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "Basic " + standard base64 of s (n bytes). */
static char *basic_of(const char *s, size_t n)
{
	char *out = malloc(6 + (n + 2) / 3 * 4 + 1), *o = out;
	memcpy(o, "Basic ", 6);
	o += 6;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void fuzz_header(const char *d, size_t n)
{
	char *user, *pw;
	if (api_auth_basic_parse(d, n, &user, &pw) != 0)
		return;
	if (strchr(user, ':'))
		abort(); /* split at the first ':' */
	size_t ul = strlen(user), pl = strlen(pw);
	char *pair = malloc(ul + pl + 2);
	memcpy(pair, user, ul);
	pair[ul] = ':';
	memcpy(pair + ul + 1, pw, pl + 1);
	char *hdr = basic_of(pair, ul + pl + 1);
	char *u2, *p2;
	if (api_auth_basic_parse(hdr, strlen(hdr), &u2, &p2) != 0 ||
	    strcmp(u2, user) != 0 || strcmp(p2, pw) != 0)
		abort();
	free(u2), free(p2), free(hdr), free(pair), free(user), free(pw);
}

static void check_sorted_set(const json_t *list)
{
	for (size_t i = 1; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i - 1)),
			   json_string_value(json_array_get(list, i))) >= 0)
			abort();
}

static void fuzz_user(const char *d, size_t n)
{
	auth_user_in in;
	if (api_auth_user_parse(d, n, &in) != 0)
		return;
	json_t *rec = api_auth_user_record(&in, "$2b$10$hash");
	if (!rec)
		abort();
	json_t *old = json_pack("{s:s,s:s,s:[s,s]}", "user", in.user,
				"password", "$2b$10$old", "roles", "a", "b");
	int status = 0;
	char msg[256];
	json_t *m =
	    api_auth_user_merge(old, &in, *in.password ? "$2b$10$n" : NULL,
				&status, msg, sizeof(msg));
	if (m) {
		check_sorted_set(json_object_get(m, "roles"));
		if (strcmp(json_string_value(json_object_get(m, "user")),
			   in.user) != 0)
			abort();
	} else if (status != 400 && status != 409) {
		abort();
	}
	json_decref(m), json_decref(old), json_decref(rec);
	api_auth_user_in_free(&in);
}

static void fuzz_role(const char *d, size_t n)
{
	json_t *in = api_auth_role_parse(d, n);
	if (!in)
		return;
	json_t *old = json_pack("{s:O,s:{s:{s:[s,s],s:n}}}", "role",
				json_object_get(in, "role"), "permissions",
				"kv", "read", "/a/*", "/b", "write");
	int status = 0;
	char msg[256];
	json_t *m = api_auth_role_merge(old, in, &status, msg, sizeof(msg));
	if (m) {
		json_t *kv =
		    json_object_get(json_object_get(m, "permissions"), "kv");
		if (json_is_array(json_object_get(kv, "read")))
			check_sorted_set(json_object_get(kv, "read"));
		(void)api_auth_role_allows(m, "/a/x", 0, 1);
		(void)api_auth_role_allows(m, "", 1, 0);
	} else if (status != 400 && status != 409) {
		abort();
	}
	(void)api_auth_perms_empty(json_object_get(in, "grant"));
	(void)api_auth_role_allows(in, "/b", 0, 0);
	json_decref(m), json_decref(old), json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *d = (const char *)data + 1;
	switch (data[0] % 3) {
	case 0:
		fuzz_header(d, size - 1);
		break;
	case 1:
		fuzz_user(d, size - 1);
		break;
	default:
		fuzz_role(d, size - 1);
	}
	return 0;
}
