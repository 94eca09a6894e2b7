/* test_api_auth.c - unit tests for etcd v2 auth's pure half (auth_doc.c):
 * the Basic header as Go reads it, user and role bodies as Go decodes them,
 * etcd's merges with their errors and its nil-versus-empty quirks, and the
 * key pattern rules; plus one bcrypt check through libxcrypt to pin the
 * hash format etcd's users have ($2a$ from Go, $2b$ from us). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <crypt.h>

#include "api/auth.h"

static void basic_ok(const char *hdr, const char *user, const char *pw)
{
	char *u, *p;
	assert_int_equal(api_auth_basic_parse(hdr, strlen(hdr), &u, &p), 0);
	assert_string_equal(u, user);
	assert_string_equal(p, pw);
	free(u), free(p);
}

static void basic_bad(const char *hdr)
{
	char *u, *p;
	assert_int_equal(api_auth_basic_parse(hdr, strlen(hdr), &u, &p), -1);
	assert_null(u);
}

static void test_basic(void **state)
{
	basic_ok("Basic cm9vdDpwdw==", "root", "pw");
	basic_ok("bAsIc cm9vdDpwdw==", "root", "pw"); /* scheme folds */
	basic_ok("Basic dTphOmI=", "u", "a:b");	      /* first ':' splits */
	basic_ok("Basic OnB3", "", "pw");
	basic_bad("Basic cm9vdA==");	  /* no ':' */
	basic_bad("Basic cm9vdDpwdw");	  /* padding is required */
	basic_bad("Basic cm9vdDpwdw==="); /* too much */
	basic_bad("Basic !!");
	basic_bad("Bearer cm9vdDpwdw==");
	basic_bad("Basic");
}

static void test_user_parse(void **state)
{
	auth_user_in u;
	const char *b = "{\"User\":\"u\",\"password\":\"p\",\"roles\":null,"
			"\"grant\":[\"a\"],\"x\":1} trailing";
	assert_int_equal(api_auth_user_parse(b, strlen(b), &u), 0);
	assert_string_equal(u.user, "u");
	assert_string_equal(u.password, "p");
	assert_null(u.roles);
	assert_int_equal(json_array_size(u.grant), 1);
	api_auth_user_in_free(&u);
	b = "null";
	assert_int_equal(api_auth_user_parse(b, strlen(b), &u), 0);
	assert_string_equal(u.user, "");
	api_auth_user_in_free(&u);
	const char *bad[] = {"",
			     "{",
			     "[1]",
			     "{\"user\":1}",
			     "{\"roles\":\"r\"}",
			     "{\"roles\":[1]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    api_auth_user_parse(bad[i], strlen(bad[i]), &u), -1);
}

static json_t *user(const char *b)
{
	json_t *j = json_loads(b, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_user_merge(void **state)
{
	auth_user_in in;
	int st = 0;
	char msg[200];
	json_t *old =
	    user("{\"user\":\"u\",\"password\":\"h\",\"roles\":null}");
	const char *b = "{\"user\":\"u\"}";
	assert_int_equal(api_auth_user_parse(b, strlen(b), &in), 0);
	/* null roles become []: etcd's DeepEqual sees a change */
	json_t *m = api_auth_user_merge(old, &in, NULL, &st, msg, sizeof(msg));
	assert_non_null(m);
	assert_int_equal(json_array_size(json_object_get(m, "roles")), 0);
	assert_true(json_is_array(json_object_get(m, "roles")));
	/* the second time nothing changes */
	assert_null(api_auth_user_merge(m, &in, NULL, &st, msg, sizeof(msg)));
	assert_int_equal(st, 400);
	assert_string_equal(msg, "auth: User not updated. Use "
				 "grant/revoke/password to update the user.");
	api_auth_user_in_free(&in);
	b = "{\"user\":\"u\",\"grant\":[\"b\",\"a\"]}";
	assert_int_equal(api_auth_user_parse(b, strlen(b), &in), 0);
	json_t *g = api_auth_user_merge(m, &in, NULL, &st, msg, sizeof(msg));
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(g, "roles"), 0)),
	    "a");
	assert_null(api_auth_user_merge(g, &in, NULL, &st, msg, sizeof(msg)));
	assert_int_equal(st, 409);
	assert_string_equal(msg, "auth: Granting duplicate role b for user u");
	api_auth_user_in_free(&in);
	json_decref(g), json_decref(m), json_decref(old);
}

static void test_role(void **state)
{
	const char *b = "{\"role\":\"r\",\"permissions\":{\"kv\":{\"read\":"
			"[\"/a/*\"]}}}";
	json_t *r = api_auth_role_parse(b, strlen(b));
	assert_non_null(r);
	assert_true(json_is_null(json_object_get(
	    json_object_get(json_object_get(r, "permissions"), "kv"),
	    "write")));
	assert_null(json_object_get(r, "grant"));
	assert_true(api_auth_role_allows(r, "/a/x", 0, 0));
	assert_true(api_auth_role_allows(r, "/a/", 0, 1));
	assert_false(api_auth_role_allows(r, "/a", 0, 0));
	assert_false(api_auth_role_allows(r, "/a/x", 1, 0));
	const char *g = "{\"role\":\"r\",\"grant\":{\"kv\":{\"read\":[\"/b\"],"
			"\"write\":[\"/b\"]}}}";
	json_t *in = api_auth_role_parse(g, strlen(g));
	int st = 0;
	char msg[200];
	json_t *m = api_auth_role_merge(r, in, &st, msg, sizeof(msg));
	assert_non_null(m);
	assert_true(api_auth_role_allows(m, "/b", 1, 0));
	assert_false(
	    api_auth_role_allows(m, "/b", 1, 1)); /* not a '*' pattern */
	assert_null(api_auth_role_merge(m, in, &st, msg, sizeof(msg)));
	assert_int_equal(st, 409);
	assert_string_equal(msg, "auth: Granting duplicate read permission /b");
	json_t *root = json_pack("{s:s}", "role", "root");
	assert_true(api_auth_role_allows(root, "", 1, 1));
	json_decref(root), json_decref(m), json_decref(in), json_decref(r);
	assert_null(api_auth_role_parse("{\"role\":1}", 10));
	assert_null(api_auth_role_parse("{\"grant\":[]}", 12));
}

static void test_bcrypt_formats(void **state)
{
	struct crypt_data cd;
	/* Go's bcrypt (what etcd stores) writes $2a$; libxcrypt checks it.
	 * The vector is from golang.org/x/crypto/bcrypt's tests. */
	const char *go = "$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt."
			 "wU1qD4aFDcga";
	memset(&cd, 0, sizeof(cd));
	assert_string_equal(crypt_r("allmine", go, &cd), go);
	memset(&cd, 0, sizeof(cd));
	assert_string_not_equal(crypt_r("allmine!", go, &cd), go);
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(
	    crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	char *mine = strdup(crypt_r("secret", salt, &cd));
	assert_memory_equal(mine, "$2b$04$", 7);
	memset(&cd, 0, sizeof(cd));
	assert_string_equal(crypt_r("secret", mine, &cd), mine);
	memset(&cd, 0, sizeof(cd));
	assert_string_not_equal(crypt_r("Secret", mine, &cd), mine);
	free(mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_user_parse),
	    cmocka_unit_test(test_user_merge),
	    cmocka_unit_test(test_role),
	    cmocka_unit_test(test_bcrypt_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
