/* test_api_params.c - unit tests for the API's request decoding:
 * percent-decoding, query/form merging, typed values and the mapping of a
 * /v2/keys request onto a store_cmd, including etcd's parse errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/params.h"

#define NOW 1700000000000000000LL
#define FORM "application/x-www-form-urlencoded"

static int parse(api_keys_req *r, int m, const char *path, const char *query,
		 const char *ctype, const char *body, api_perr *err)
{
	memset(err, 0, sizeof(*err));
	return api_keys_parse(r, m, path, strlen(path), query, strlen(query),
			      ctype, ctype ? strlen(ctype) : 0, body,
			      body ? strlen(body) : 0, NOW, err);
}

static void test_pct_decode(void **state)
{
	char out[64];
	size_t n;
	api_perr err;
	assert_int_equal(api_pct_decode("a%2Fb+c", 7, 0, out, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "a/b+c", 5);
	assert_int_equal(api_pct_decode("a%2fb+c", 7, 1, out, &n, &err), 0);
	assert_memory_equal(out, "a/b c", 5);
	assert_int_equal(api_pct_decode("%zz", 3, 1, out, &n, &err), -1);
	assert_int_equal(err.code, 210);
	assert_string_equal(err.cause, "invalid URL escape \"%zz\"");
	assert_int_equal(api_pct_decode("ab%4", 4, 1, out, &n, &err), -1);
	assert_string_equal(err.cause, "invalid URL escape \"%4\"");
	assert_int_equal(api_pct_decode("%", 1, 1, out, &n, &err), -1);
	assert_string_equal(err.cause, "invalid URL escape \"%\"");
}

static void test_bool_u64(void **state)
{
	const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
	const char *f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (int i = 0; i < 6; i++) {
		assert_int_equal(api_parse_bool(t[i], strlen(t[i])), 1);
		assert_int_equal(api_parse_bool(f[i], strlen(f[i])), 0);
	}
	assert_int_equal(api_parse_bool("yes", 3), -1);
	assert_int_equal(api_parse_bool("", 0), -1);
	assert_int_equal(api_parse_bool("tRUE", 4), -1);
	uint64_t v;
	assert_int_equal(api_parse_u64("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(api_parse_u64("18446744073709551616", 20, &v), -1);
	assert_int_equal(api_parse_u64("-1", 2, &v), -1);
	assert_int_equal(api_parse_u64("+1", 2, &v), -1);
	assert_int_equal(api_parse_u64("", 0, &v), -1);
	assert_int_equal(api_parse_u64("12a", 3, &v), -1);
}

static void test_form_type(void **state)
{
	assert_true(api_is_form_type(FORM, strlen(FORM)));
	const char *cs = "application/x-www-form-urlencoded; charset=UTF-8";
	assert_true(api_is_form_type(cs, strlen(cs)));
	const char *up = "Application/X-WWW-Form-Urlencoded";
	assert_true(api_is_form_type(up, strlen(up)));
	assert_false(api_is_form_type("application/json", 16));
	const char *longer = "application/x-www-form-urlencodedX";
	assert_false(api_is_form_type(longer, strlen(longer)));
}

static void test_merge_body_wins(void **state)
{
	api_keys_req r;
	api_perr err;
	assert_int_equal(parse(&r, API_METHOD_PUT, "/a/b/",
			       "value=q&ttl=5&value=q2", FORM,
			       "value=b+ody&value=second", &err),
			 0);
	assert_string_equal(r.path, "/a/b");
	assert_string_equal(r.cmd.value, "b ody");
	assert_int_equal(r.cmd.value_len, 5);
	assert_int_equal(r.cmd.op, STORE_OP_PUT);
	assert_true(r.cmd.expire_ns == NOW + 5000000000LL);
	assert_true(r.cmd.now_ns == NOW);
	assert_int_equal(r.cmd.prev_exist, -1);
	api_keys_req_free(&r);
	/* First value of a repeated name in the query. */
	assert_int_equal(parse(&r, API_METHOD_PUT, "/k", "value=one&value=two",
			       NULL, NULL, &err),
			 0);
	assert_string_equal(r.cmd.value, "one");
	api_keys_req_free(&r);
	/* A body without the form content type is ignored, as etcd does. */
	assert_int_equal(
	    parse(&r, API_METHOD_PUT, "/k", "", "text/plain", "value=x", &err),
	    0);
	assert_int_equal(r.cmd.value_len, 0);
	api_keys_req_free(&r);
	/* GET never reads the body. */
	assert_int_equal(
	    parse(&r, API_METHOD_GET, "/k", "", FORM, "recursive=bogus", &err),
	    0);
	api_keys_req_free(&r);
}

static void test_path(void **state)
{
	api_keys_req r;
	api_perr err;
	assert_int_equal(parse(&r, API_METHOD_GET, "/a%2Fb//c/./d/../", "",
			       NULL, NULL, &err),
			 0);
	assert_string_equal(r.path, "/a/b/c");
	api_keys_req_free(&r);
	assert_int_equal(parse(&r, API_METHOD_GET, "", "", NULL, NULL, &err),
			 0);
	assert_string_equal(r.path, "/");
	api_keys_req_free(&r);
	assert_int_equal(
	    parse(&r, API_METHOD_GET, "/a%zz", "", NULL, NULL, &err), -1);
	assert_int_equal(err.code, 210);
	assert_int_equal(
	    parse(&r, API_METHOD_GET, "/a%00b", "", NULL, NULL, &err), -1);
	assert_int_equal(err.code, 210);
}

static void expect_err(int m, const char *query, int code, const char *cause)
{
	api_keys_req r;
	api_perr err;
	assert_int_equal(parse(&r, m, "/k", query, NULL, NULL, &err), -1);
	assert_int_equal(err.code, code);
	if (cause)
		assert_string_equal(err.cause, cause);
}

static void test_errors(void **state)
{
	expect_err(API_METHOD_GET, "recursive=yes", 209,
		   "invalid value for \"recursive\"");
	expect_err(API_METHOD_GET, "sorted=", 209,
		   "invalid value for \"sorted\"");
	expect_err(API_METHOD_PUT, "ttl=abc", 202, "invalid value for \"ttl\"");
	expect_err(API_METHOD_PUT, "ttl=-1", 202, NULL);
	expect_err(API_METHOD_PUT, "prevIndex=x", 203,
		   "invalid value for \"prevIndex\"");
	expect_err(API_METHOD_GET, "wait=true&waitIndex=", 203,
		   "invalid value for \"waitIndex\"");
	expect_err(API_METHOD_PUT, "prevValue=", 201, NULL);
	expect_err(API_METHOD_DELETE, "prevValue=", 201, NULL);
	expect_err(API_METHOD_PUT, "wait=true", 209, NULL);
	expect_err(API_METHOD_PUT, "refresh=true&value=v&ttl=5", 211, NULL);
	expect_err(API_METHOD_PUT, "refresh=true", 212, NULL);
	expect_err(API_METHOD_PUT, "refresh=true&ttl=", 212, NULL);
	expect_err(API_METHOD_PUT, "prevExist=maybe", 209,
		   "invalid value for prevExist");
	expect_err(API_METHOD_PUT, "refresh=2&ttl=1", 209,
		   "invalid value for refresh");
	expect_err(API_METHOD_PUT, "noValueOnSuccess=2", 209, NULL);
	expect_err(API_METHOD_GET, "x=%zz", 210, "invalid URL escape \"%zz\"");
	/* prevIndex is checked before the booleans, as in etcd. */
	expect_err(API_METHOD_PUT, "recursive=bad&prevIndex=bad", 203, NULL);
}

static void test_write_mapping(void **state)
{
	api_keys_req r;
	api_perr err;
	assert_int_equal(parse(&r, API_METHOD_PUT, "/k",
			       "prevIndex=18446744073709551615&prevExist=true&"
			       "prevValue=old",
			       NULL, NULL, &err),
			 0);
	assert_true(r.cmd.prev_index == UINT64_MAX);
	assert_int_equal(r.cmd.prev_exist, 1);
	assert_int_equal(r.cmd.prev_value_len, 3);
	assert_memory_equal(r.cmd.prev_value, "old", 3);
	assert_true(r.cmd.expire_ns == 0);
	api_keys_req_free(&r);
	/* ttl= is permanent, ttl=0 expires now. */
	assert_int_equal(
	    parse(&r, API_METHOD_PUT, "/k", "ttl=", NULL, NULL, &err), 0);
	assert_true(r.cmd.expire_ns == 0);
	api_keys_req_free(&r);
	assert_int_equal(
	    parse(&r, API_METHOD_PUT, "/k", "ttl=0", NULL, NULL, &err), 0);
	assert_true(r.cmd.expire_ns == NOW);
	api_keys_req_free(&r);
	assert_int_equal(parse(&r, API_METHOD_PUT, "/k",
			       "ttl=18446744073709551615", NULL, NULL, &err),
			 0);
	assert_true(r.cmd.expire_ns == INT64_MAX);
	api_keys_req_free(&r);
	/* dir=true ignores the value. */
	assert_int_equal(parse(&r, API_METHOD_PUT, "/d", "dir=true&value=x",
			       NULL, NULL, &err),
			 0);
	assert_int_equal(r.cmd.dir, 1);
	assert_int_equal(r.cmd.value_len, 0);
	api_keys_req_free(&r);
	/* DELETE recursive implies dir. */
	assert_int_equal(parse(&r, API_METHOD_DELETE, "/d", "recursive=true",
			       NULL, NULL, &err),
			 0);
	assert_int_equal(r.cmd.op, STORE_OP_DELETE);
	assert_int_equal(r.cmd.recursive, 1);
	assert_int_equal(r.cmd.dir, 1);
	api_keys_req_free(&r);
	assert_int_equal(
	    parse(&r, API_METHOD_POST, "/q", "", FORM, "value=v&ttl=2", &err),
	    0);
	assert_int_equal(r.cmd.op, STORE_OP_POST);
	assert_true(r.cmd.expire_ns == NOW + 2000000000LL);
	api_keys_req_free(&r);
	/* refresh with ttl and an empty value is fine. */
	assert_int_equal(parse(&r, API_METHOD_PUT, "/k",
			       "refresh=true&ttl=9&value=&prevExist=true", NULL,
			       NULL, &err),
			 0);
	assert_int_equal(r.cmd.refresh, 1);
	api_keys_req_free(&r);
}

static void test_read_flags(void **state)
{
	api_keys_req r;
	api_perr err;
	assert_int_equal(parse(&r, API_METHOD_GET, "/k",
			       "recursive=true&sorted=1&quorum=T&wait=true&"
			       "waitIndex=42&stream=true",
			       NULL, NULL, &err),
			 0);
	assert_true(r.recursive && r.sorted && r.quorum && r.wait && r.stream);
	assert_true(r.wait_index == 42);
	assert_int_equal(r.cmd.op, 0);
	api_keys_req_free(&r);
	assert_int_equal(api_method_parse("GET", 3), API_METHOD_GET);
	assert_int_equal(api_method_parse("PATCH", 5), API_METHOD_OTHER);
	assert_int_equal(api_method_parse("get", 3), API_METHOD_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pct_decode),
	    cmocka_unit_test(test_bool_u64),
	    cmocka_unit_test(test_form_type),
	    cmocka_unit_test(test_merge_body_wins),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_write_mapping),
	    cmocka_unit_test(test_read_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
