/* test_store_util.h - shared helpers for the store's cmocka tests: a fresh
 * store in a temp dir per test, command builders, and apply/get wrappers
 * that number Raft entries automatically. */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

#define SEC 1000000000LL
/* 2030-01-01: a plausible "now" for TTL tests. */
#define T0 (1893456000LL * SEC)

typedef struct tstore {
	store *s;
	char dir[64];
	uint64_t raft;
	store_config cfg;
} tstore;

static inline void tstore_open(tstore *t)
{
	assert_int_equal(store_open(&t->s, t->dir, &t->cfg), 0);
}

static inline int setup_store_cfg(void **state, uint64_t window)
{
	*state = NULL;
	tstore *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/ovld-store-test-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	t->cfg.history_window = window;
	t->cfg.map_size = 64 << 20;
	if (store_open(&t->s, t->dir, &t->cfg) != 0)
		return -1;
	*state = t;
	return 0;
}

static inline int setup_store(void **state)
{
	return setup_store_cfg(state, 0);
}

static inline void rm_rf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static inline int teardown_store(void **state)
{
	tstore *t = *state;
	store_close(t->s);
	rm_rf(t->dir);
	free(t);
	return 0;
}

static inline store_cmd cmd_op(int op, const char *path, const char *value)
{
	store_cmd c;
	memset(&c, 0, sizeof(c));
	c.op = op;
	c.path = path;
	c.path_len = path ? strlen(path) : 0;
	c.value = value;
	c.value_len = value ? strlen(value) : 0;
	c.prev_exist = -1;
	return c;
}

static inline store_cmd cmd_put(const char *path, const char *value)
{
	return cmd_op(STORE_OP_PUT, path, value);
}

static inline store_cmd cmd_del(const char *path)
{
	return cmd_op(STORE_OP_DELETE, path, NULL);
}

static inline void cmd_prev_value(store_cmd *c, const char *pv)
{
	c->prev_value = pv;
	c->prev_value_len = strlen(pv);
}

/* Applies c as the next Raft entry; the result must be freed. */
static inline store_result ap(tstore *t, const store_cmd *c)
{
	store_result r;
	assert_int_equal(store_apply(t->s, c, ++t->raft, &r), 0);
	return r;
}

/* Applies c and checks it succeeded with the given action. */
static inline store_result ap_ok(tstore *t, const store_cmd *c, int action)
{
	store_result r = ap(t, c);
	if (r.error)
		fail_msg("unexpected error %d (%s) on %s", r.error,
			 r.cause ? r.cause : "", c->path ? c->path : "");
	assert_int_equal(r.ev.action, action);
	return r;
}

/* Applies c and checks the etcd error code and cause. */
static inline void ap_err(tstore *t, const store_cmd *c, int code,
			  const char *cause)
{
	uint64_t before = store_current_index(t->s);
	store_result r = ap(t, c);
	assert_int_equal(r.error, code);
	if (cause)
		assert_string_equal(r.cause, cause);
	assert_int_equal(r.index, before);
	assert_int_equal(store_current_index(t->s), before);
	assert_null(r.ev.node.key);
	store_result_free(&r);
}

static inline void set_kv(tstore *t, const char *path, const char *value)
{
	store_cmd c = cmd_put(path, value);
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	store_result_free(&r);
}

static inline void mkdir_(tstore *t, const char *path)
{
	store_cmd c = cmd_put(path, NULL);
	c.dir = 1;
	c.prev_exist = 0;
	store_result r = ap_ok(t, &c, STORE_ACTION_CREATE);
	store_result_free(&r);
}

static inline store_result get_ok(tstore *t, const char *path, int recursive)
{
	store_result r;
	assert_int_equal(store_get(t->s, path, recursive, 1, &r), 0);
	if (r.error)
		fail_msg("get %s: error %d (%s)", path ? path : "-", r.error,
			 r.cause ? r.cause : "");
	return r;
}

static inline void get_err(tstore *t, const char *path, int code,
			   const char *cause)
{
	store_result r;
	assert_int_equal(store_get(t->s, path, 0, 1, &r), 0);
	assert_int_equal(r.error, code);
	if (cause)
		assert_string_equal(r.cause, cause);
	assert_int_equal(r.index, store_current_index(t->s));
	store_result_free(&r);
}

#endif
