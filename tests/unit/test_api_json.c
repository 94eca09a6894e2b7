/* test_api_json.c - unit tests for the API's etcd JSON rendering: string
 * escaping, RFC 3339 times, Go durations, TTLs, node omitempty rules,
 * events (prevNode, noValueOnSuccess) and error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/json.h"

#define SEC 1000000000LL

static char *render_str(abuf *b, const char *s, size_t n)
{
	abuf_init(b);
	api_json_str(b, s, n);
	return b->p;
}

static void test_escape(void **state)
{
	abuf b;
	assert_string_equal(render_str(&b, "a<b>&\"\\", 7),
			    "\"a\\u003cb\\u003e\\u0026\\\"\\\\\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b, "\n\t\r\x01", 4),
			    "\"\\n\\t\\r\\u0001\"");
	abuf_free(&b);
	/* Valid UTF-8 passes; invalid bytes become U+FFFD; U+2028 escaped. */
	assert_string_equal(render_str(&b, "\xc3\xa9", 2), "\"\xc3\xa9\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b,
				       "a\xff"
				       "b",
				       3),
			    "\"a\\ufffdb\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b, "\xe2\x80\xa8", 3), "\"\\u2028\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b, "\xc0\x80", 2),
			    "\"\\ufffd\\ufffd\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b, "/ok/path", 8), "\"/ok/path\"");
	abuf_free(&b);
	assert_string_equal(render_str(&b, "", 0), "\"\"");
	abuf_free(&b);
}

static void test_time(void **state)
{
	abuf b;
	abuf_init(&b);
	api_json_time(&b, 1795934714LL * SEC + 752086717);
	assert_string_equal(b.p, "2026-11-29T06:45:14.752086717Z");
	abuf_free(&b);
	abuf_init(&b);
	api_json_time(&b, 1795934714LL * SEC + 500000000);
	assert_string_equal(b.p, "2026-11-29T06:45:14.5Z");
	abuf_free(&b);
	abuf_init(&b);
	api_json_time(&b, 0);
	assert_string_equal(b.p, "1970-01-01T00:00:00Z");
	abuf_free(&b);
}

static void expect_duration(int64_t ns, const char *want)
{
	abuf b;
	abuf_init(&b);
	api_json_duration(&b, ns);
	assert_string_equal(b.p, want);
	abuf_free(&b);
}

static void test_duration(void **state)
{
	expect_duration(0, "0s");
	expect_duration(999, "999ns");
	expect_duration(1500, "1.5\xc2\xb5s");
	expect_duration(1500000, "1.5ms");
	expect_duration(SEC, "1s");
	expect_duration(72 * 3600 * SEC + 3 * 60 * SEC + SEC / 2, "72h3m0.5s");
	expect_duration(61 * SEC, "1m1s");
	expect_duration(3600 * SEC, "1h0m0s");
}

static void test_ttl(void **state)
{
	assert_int_equal(api_json_ttl(100 * SEC, 100 * SEC), 0);
	assert_int_equal(api_json_ttl(100 * SEC, 101 * SEC), 0);
	assert_int_equal(api_json_ttl(100 * SEC, 99 * SEC), 1);
	assert_int_equal(api_json_ttl(100 * SEC, 99 * SEC + 1), 1);
	assert_int_equal(api_json_ttl(100 * SEC, 95 * SEC - 1), 6);
}

static void test_node(void **state)
{
	abuf b;
	store_node key = {.key = "/k",
			  .value = "",
			  .value_len = 0,
			  .created_index = 5,
			  .modified_index = 7};
	abuf_init(&b);
	api_json_node(&b, &key, 0);
	assert_string_equal(
	    b.p, "{\"key\":\"/k\",\"value\":\"\",\"modifiedIndex\":7,"
		 "\"createdIndex\":5}");
	abuf_free(&b);

	/* Root: no key, no indexes; an empty dir has no "nodes". */
	store_node root = {.dir = 1, .has_children = 1};
	abuf_init(&b);
	api_json_node(&b, &root, 0);
	assert_string_equal(b.p, "{\"dir\":true}");
	abuf_free(&b);

	store_node kids[2] = {{.key = "/d/a",
			       .value = "1",
			       .value_len = 1,
			       .created_index = 3,
			       .modified_index = 3},
			      {.key = "/d/s",
			       .dir = 1,
			       .expire_ns = 50 * SEC + SEC / 2,
			       .created_index = 4,
			       .modified_index = 4}};
	store_node dir = {.key = "/d",
			  .dir = 1,
			  .has_children = 1,
			  .children = kids,
			  .n_children = 2,
			  .created_index = 2,
			  .modified_index = 2};
	abuf_init(&b);
	api_json_node(&b, &dir, 40 * SEC);
	assert_string_equal(
	    b.p,
	    "{\"key\":\"/d\",\"dir\":true,\"nodes\":[{\"key\":\"/d/a\","
	    "\"value\":\"1\",\"modifiedIndex\":3,\"createdIndex\":3},"
	    "{\"key\":\"/d/s\",\"dir\":true,\"expiration\":"
	    "\"1970-01-01T00:00:50.5Z\",\"ttl\":11,\"modifiedIndex\":4,"
	    "\"createdIndex\":4}],\"modifiedIndex\":2,\"createdIndex\":2}");
	abuf_free(&b);

	/* Past its expiry: expiration shown, ttl left out. */
	store_node due = {.key = "/t",
			  .value = "v",
			  .value_len = 1,
			  .expire_ns = 10 * SEC,
			  .created_index = 1,
			  .modified_index = 1};
	abuf_init(&b);
	api_json_node(&b, &due, 11 * SEC);
	assert_null(strstr(b.p, "\"ttl\""));
	assert_non_null(strstr(b.p, "\"expiration\":\"1970-01-01T00:00:10Z\""));
	abuf_free(&b);

	/* Delete nodes carry no value. */
	store_node del = {.key = "/k", .created_index = 5, .modified_index = 9};
	abuf_init(&b);
	api_json_node(&b, &del, 0);
	assert_string_equal(
	    b.p, "{\"key\":\"/k\",\"modifiedIndex\":9,\"createdIndex\":5}");
	abuf_free(&b);
}

static void test_event(void **state)
{
	abuf b;
	store_event ev = {
	    .action = STORE_ACTION_DELETE,
	    .index = 9,
	    .node = {.key = "/k", .created_index = 5, .modified_index = 9},
	    .has_prev = 1,
	    .prev = {.key = "/k",
		     .value = "x<",
		     .value_len = 2,
		     .created_index = 5,
		     .modified_index = 5}};
	abuf_init(&b);
	api_json_event(&b, &ev, 0, 0);
	assert_string_equal(
	    b.p, "{\"action\":\"delete\",\"node\":{\"key\":\"/k\","
		 "\"modifiedIndex\":9,\"createdIndex\":5},\"prevNode\":{"
		 "\"key\":\"/k\",\"value\":\"x\\u003c\",\"modifiedIndex\":5,"
		 "\"createdIndex\":5}}");
	abuf_free(&b);

	ev.action = STORE_ACTION_CAS;
	abuf_init(&b);
	api_json_event(&b, &ev, 0, 1);
	assert_string_equal(b.p, "{\"action\":\"compareAndSwap\"}");
	abuf_free(&b);

	/* create never shows prevNode. */
	ev.action = STORE_ACTION_CREATE;
	abuf_init(&b);
	api_json_event(&b, &ev, 0, 0);
	assert_null(strstr(b.p, "prevNode"));
	abuf_free(&b);
}

static void test_error(void **state)
{
	abuf b;
	abuf_init(&b);
	api_json_error(&b, 100, "/nope", 12);
	assert_string_equal(b.p, "{\"errorCode\":100,\"message\":\"Key not "
				 "found\",\"cause\":\"/nope\",\"index\":12}");
	abuf_free(&b);
	abuf_init(&b);
	api_json_error(&b, 209, NULL, 0);
	assert_string_equal(
	    b.p,
	    "{\"errorCode\":209,\"message\":\"Invalid field\",\"index\":0}");
	abuf_free(&b);
	assert_int_equal(api_json_error_status(100), 404);
	assert_int_equal(api_json_error_status(101), 412);
	assert_int_equal(api_json_error_status(105), 412);
	assert_int_equal(api_json_error_status(102), 403);
	assert_int_equal(api_json_error_status(108), 403);
	assert_int_equal(api_json_error_status(110), 401);
	assert_int_equal(api_json_error_status(300), 500);
	assert_int_equal(api_json_error_status(401), 400);
	assert_int_equal(api_json_error_status(104), 400);
	assert_string_equal(store_action_name(STORE_ACTION_CAD),
			    "compareAndDelete");
}

static void test_buf(void **state)
{
	abuf b;
	abuf_init(&b);
	for (int i = 0; i < 1000; i++)
		abuf_printf(&b, "%04d", i);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.p + 3996, "0999", 4);
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	abuf_printf(&b, "%s", big);
	assert_int_equal(b.len, 4599);
	assert_true(abuf_ok(&b));
	abuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),   cmocka_unit_test(test_time),
	    cmocka_unit_test(test_duration), cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_node),     cmocka_unit_test(test_event),
	    cmocka_unit_test(test_error),    cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
