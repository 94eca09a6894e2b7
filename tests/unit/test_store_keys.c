/* test_store_keys.c - etcd v2 key-space semantics of the store: every
 * write action's indexes and prevNode, the error codes and their causes,
 * directories versus keys, compare rules, TTL fields, refresh, POST names,
 * listings with hidden nodes, root handling, metadata and path cleaning. */
#include "test_store_util.h"

static void test_set_new_and_get(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/a", "1");
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.index, 1);
	assert_int_equal(r.ev.index, 1);
	assert_string_equal(r.ev.node.key, "/a");
	assert_string_equal(r.ev.node.value, "1");
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 1);
	assert_int_equal(r.ev.node.expire_ns, 0);
	assert_false(r.ev.has_prev);
	assert_false(r.ev.refresh);
	store_result_free(&r);

	r = get_ok(t, "/a", 0);
	assert_int_equal(r.ev.action, STORE_ACTION_GET);
	assert_int_equal(r.index, 1);
	assert_string_equal(r.ev.node.value, "1");
	assert_int_equal(r.ev.node.value_len, 1);
	assert_false(r.ev.node.dir);
	assert_int_equal(r.ev.node.created_index, 1);
	store_result_free(&r);
	assert_int_equal(store_current_index(t->s), 1);
	assert_int_equal(store_key_count(t->s), 1);
}

static void test_set_replace_new_created_index(void **state)
{
	tstore *t = *state;
	set_kv(t, "/a", "1");
	set_kv(t, "/other", "x");
	store_cmd c = cmd_put("/a", "2");
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.ev.node.created_index, 3);
	assert_int_equal(r.ev.node.modified_index, 3);
	assert_true(r.ev.has_prev);
	assert_string_equal(r.ev.prev.key, "/a");
	assert_string_equal(r.ev.prev.value, "1");
	assert_int_equal(r.ev.prev.created_index, 1);
	assert_int_equal(r.ev.prev.modified_index, 1);
	store_result_free(&r);
}

static void test_implicit_parents(void **state)
{
	tstore *t = *state;
	set_kv(t, "/x", "0");
	set_kv(t, "/a/b/c", "v");
	store_result r = get_ok(t, "/a", 0);
	assert_true(r.ev.node.dir);
	assert_null(r.ev.node.value);
	assert_int_equal(r.ev.node.created_index, 2);
	assert_int_equal(r.ev.node.modified_index, 2);
	assert_int_equal(r.ev.node.expire_ns, 0);
	assert_true(r.ev.node.has_children);
	assert_int_equal(r.ev.node.n_children, 1);
	store_node *b = &r.ev.node.children[0];
	assert_string_equal(b->key, "/a/b");
	assert_true(b->dir);
	assert_false(b->has_children);
	assert_int_equal(b->n_children, 0);
	assert_int_equal(b->created_index, 2);
	store_result_free(&r);
	assert_int_equal(store_key_count(t->s), 4);
}

static void test_dir_index_unchanged_by_children(void **state)
{
	tstore *t = *state;
	set_kv(t, "/d/x", "1");
	set_kv(t, "/d/y", "2");
	store_cmd c = cmd_del("/d/x");
	store_result r = ap_ok(t, &c, STORE_ACTION_DELETE);
	store_result_free(&r);
	r = get_ok(t, "/d", 0);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 1);
	assert_int_equal(r.ev.node.n_children, 1);
	store_result_free(&r);
}

static void test_dir_vs_key_errors(void **state)
{
	tstore *t = *state;
	mkdir_(t, "/d");
	set_kv(t, "/k", "1");
	/* set (with or without dir) on a dir: 102 */
	store_cmd c = cmd_put("/d", "v");
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/d");
	c.dir = 1;
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/d");
	/* write or read below a plain key: 104, cause that key */
	c = cmd_put("/k/x", "v");
	ap_err(t, &c, STORE_ERR_NOT_DIR, "/k");
	c = cmd_put("/k/x/y", "v");
	c.prev_exist = 0;
	ap_err(t, &c, STORE_ERR_NOT_DIR, "/k");
	c = cmd_op(STORE_OP_POST, "/k", "v");
	ap_err(t, &c, STORE_ERR_NOT_DIR, "/k");
	c = cmd_del("/k/x");
	ap_err(t, &c, STORE_ERR_NOT_DIR, "/k");
	c = cmd_put("/k/x", "v");
	c.prev_exist = 1;
	ap_err(t, &c, STORE_ERR_NOT_DIR, "/k");
	get_err(t, "/k/x/y", STORE_ERR_NOT_DIR, "/k");
	/* missing: 100, cause the first missing component */
	get_err(t, "/nope/x", STORE_ERR_KEY_NOT_FOUND, "/nope");
	get_err(t, "/d/nope/x", STORE_ERR_KEY_NOT_FOUND, "/d/nope");
	/* set dir=true over a key replaces it with a dir */
	c = cmd_put("/k", NULL);
	c.dir = 1;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_true(r.ev.node.dir);
	assert_null(r.ev.node.value);
	assert_true(r.ev.has_prev);
	assert_string_equal(r.ev.prev.value, "1");
	store_result_free(&r);
}

static void test_create(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/c", "v");
	c.prev_exist = 0;
	store_result r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 1);
	assert_false(r.ev.has_prev);
	store_result_free(&r);
	ap_err(t, &c, STORE_ERR_NODE_EXIST, "/c");
	/* prevExist=false wins over prevValue/prevIndex */
	cmd_prev_value(&c, "nomatch");
	c.prev_index = 99;
	ap_err(t, &c, STORE_ERR_NODE_EXIST, "/c");
	/* mkdir, then mkdir again */
	mkdir_(t, "/dd");
	c = cmd_put("/dd", NULL);
	c.dir = 1;
	c.prev_exist = 0;
	ap_err(t, &c, STORE_ERR_NODE_EXIST, "/dd");
	/* create of a key where a dir exists */
	c = cmd_put("/dd", "v");
	c.prev_exist = 0;
	ap_err(t, &c, STORE_ERR_NODE_EXIST, "/dd");
	/* missing value means "" */
	c = cmd_put("/empty", NULL);
	c.prev_exist = 0;
	r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_non_null(r.ev.node.value);
	assert_string_equal(r.ev.node.value, "");
	store_result_free(&r);
	r = get_ok(t, "/empty", 0);
	assert_string_equal(r.ev.node.value, "");
	store_result_free(&r);
}

static void test_update(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/u", "new");
	c.prev_exist = 1;
	ap_err(t, &c, STORE_ERR_KEY_NOT_FOUND, "/u");
	store_cmd s = cmd_put("/u", "old");
	s.expire_ns = T0 + 10 * SEC;
	store_result r = ap_ok(t, &s, STORE_ACTION_SET);
	store_result_free(&r);
	set_kv(t, "/z", "z");
	r = ap_ok(t, &c, STORE_ACTION_UPDATE);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 3);
	assert_string_equal(r.ev.node.value, "new");
	/* update without ttl makes the key permanent */
	assert_int_equal(r.ev.node.expire_ns, 0);
	assert_true(r.ev.has_prev);
	assert_string_equal(r.ev.prev.value, "old");
	assert_int_equal(r.ev.prev.expire_ns, T0 + 10 * SEC);
	assert_int_equal(r.ev.prev.modified_index, 1);
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), 0);
	r = get_ok(t, "/u", 0);
	assert_int_equal(r.ev.node.modified_index, 3);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.expire_ns, 0);
	store_result_free(&r);
}

static void test_update_dir(void **state)
{
	tstore *t = *state;
	set_kv(t, "/d/k", "1");
	store_cmd c = cmd_put("/d", "v");
	c.prev_exist = 1;
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/d");
	/* empty value: the TTL update of a dir */
	c = cmd_put("/d", NULL);
	c.prev_exist = 1;
	c.expire_ns = T0 + 5 * SEC;
	store_result r = ap_ok(t, &c, STORE_ACTION_UPDATE);
	assert_true(r.ev.node.dir);
	assert_null(r.ev.node.value);
	assert_int_equal(r.ev.node.expire_ns, T0 + 5 * SEC);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 2);
	assert_true(r.ev.prev.dir);
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), T0 + 5 * SEC);
	r = get_ok(t, "/d", 0);
	assert_int_equal(r.ev.node.expire_ns, T0 + 5 * SEC);
	/* etcd: the event has the new index, the stored dir keeps its own */
	assert_int_equal(r.ev.node.modified_index, 1);
	assert_int_equal(r.ev.node.n_children, 1);
	store_result_free(&r);
}

static void test_cas(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/k", "new");
	cmd_prev_value(&c, "old");
	ap_err(t, &c, STORE_ERR_KEY_NOT_FOUND, "/k");
	set_kv(t, "/k", "old");
	set_kv(t, "/z", "z");

	cmd_prev_value(&c, "x");
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[x != old]");
	c.prev_index = 5;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[x != old] [5 != 1]");
	cmd_prev_value(&c, "old");
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[5 != 1]");
	c.prev_value = NULL;
	c.prev_value_len = 0;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[5 != 1]");
	/* prevExist=true with a compare is still compareAndSwap */
	c.prev_exist = 1;
	c.prev_index = 1;
	cmd_prev_value(&c, "old");
	store_result r = ap_ok(t, &c, STORE_ACTION_CAS);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 3);
	assert_string_equal(r.ev.node.value, "new");
	assert_string_equal(r.ev.prev.value, "old");
	assert_int_equal(r.ev.prev.modified_index, 1);
	store_result_free(&r);
	/* the old index no longer matches */
	c = cmd_put("/k", "newer");
	c.prev_index = 1;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[1 != 3]");
	c.prev_index = 3;
	r = ap_ok(t, &c, STORE_ACTION_CAS);
	store_result_free(&r);
	/* values compare as bytes, not as C strings */
	c = cmd_put("/k", "v");
	c.prev_value = "newer\0x";
	c.prev_value_len = 7;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, NULL);
	/* CAS on a dir: 102 */
	mkdir_(t, "/dir");
	c = cmd_put("/dir", "v");
	cmd_prev_value(&c, "x");
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/dir");
}

static void test_delete(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_del("/k");
	ap_err(t, &c, STORE_ERR_KEY_NOT_FOUND, "/k");
	store_cmd s = cmd_put("/k", "v");
	s.expire_ns = T0;
	store_result r = ap_ok(t, &s, STORE_ACTION_SET);
	store_result_free(&r);
	c.dir = 1; /* harmless on a key */
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	assert_int_equal(r.index, 2);
	assert_string_equal(r.ev.node.key, "/k");
	assert_null(r.ev.node.value);
	assert_false(r.ev.node.dir);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_int_equal(r.ev.node.modified_index, 2);
	assert_int_equal(r.ev.node.expire_ns, 0);
	assert_true(r.ev.has_prev);
	assert_string_equal(r.ev.prev.value, "v");
	assert_int_equal(r.ev.prev.expire_ns, T0);
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), 0);
	get_err(t, "/k", STORE_ERR_KEY_NOT_FOUND, "/k");
}

static void test_delete_dirs(void **state)
{
	tstore *t = *state;
	set_kv(t, "/d/a", "1");
	store_cmd s = cmd_put("/d/sub/b", "2");
	s.expire_ns = T0;
	store_result r = ap_ok(t, &s, STORE_ACTION_SET);
	store_result_free(&r);
	set_kv(t, "/d/_hidden", "h");
	set_kv(t, "/dx", "sibling");
	mkdir_(t, "/empty");

	store_cmd c = cmd_del("/d");
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/d");
	c.dir = 1;
	ap_err(t, &c, STORE_ERR_DIR_NOT_EMPTY, "/d");
	/* hidden children count for "not empty" */
	c = cmd_del("/d/a");
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	store_result_free(&r);
	c = cmd_del("/d/sub");
	c.recursive = 1;
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	store_result_free(&r);
	c = cmd_del("/d");
	c.dir = 1;
	ap_err(t, &c, STORE_ERR_DIR_NOT_EMPTY, "/d");

	uint64_t before = store_current_index(t->s);
	set_kv(t, "/d/deep/er/key", "x");
	c.recursive = 1;
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	assert_int_equal(r.index, before + 2); /* one event for the subtree */
	assert_true(r.ev.node.dir);
	assert_true(r.ev.prev.dir);
	assert_null(r.ev.prev.children);
	assert_int_equal(r.ev.node.created_index, 1);
	store_result_free(&r);
	get_err(t, "/d", STORE_ERR_KEY_NOT_FOUND, "/d");
	get_err(t, "/d/deep/er/key", STORE_ERR_KEY_NOT_FOUND, "/d");
	assert_int_equal(store_next_expiry(t->s), 0);
	/* only /dx and /empty are left */
	assert_int_equal(store_key_count(t->s), 2);
	r = get_ok(t, "/dx", 0);
	store_result_free(&r);

	c = cmd_del("/empty");
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/empty");
	c.dir = 1;
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	assert_true(r.ev.node.dir);
	store_result_free(&r);
}

static void test_cad(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_del("/k");
	cmd_prev_value(&c, "v");
	ap_err(t, &c, STORE_ERR_KEY_NOT_FOUND, "/k");
	set_kv(t, "/k", "v");
	cmd_prev_value(&c, "w");
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[w != v]");
	c.prev_index = 7;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[w != v] [7 != 1]");
	c.prev_value = NULL;
	c.prev_value_len = 0;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[7 != 1]");
	c.prev_index = 1;
	store_result r = ap_ok(t, &c, STORE_ACTION_CAD);
	assert_int_equal(r.ev.node.modified_index, 2);
	assert_int_equal(r.ev.node.created_index, 1);
	assert_null(r.ev.node.value);
	assert_string_equal(r.ev.prev.value, "v");
	store_result_free(&r);
	mkdir_(t, "/d");
	c = cmd_del("/d");
	cmd_prev_value(&c, "x");
	c.recursive = 1;
	ap_err(t, &c, STORE_ERR_NOT_FILE, "/d");
}

static void test_root_read_only(void **state)
{
	tstore *t = *state;
	set_kv(t, "/a", "1");
	store_cmd c = cmd_put("/", "v");
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	c.dir = 1;
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	c.prev_exist = 0;
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	c = cmd_put("/", NULL);
	c.prev_exist = 1;
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	cmd_prev_value(&c, "x");
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	c = cmd_del("/");
	c.recursive = 1;
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	cmd_prev_value(&c, "x");
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
	/* uncleaned forms of the root are the root */
	c = cmd_put("/a/..", "v");
	ap_err(t, &c, STORE_ERR_ROOT_RONLY, "/");
}

static void test_post(void **state)
{
	tstore *t = *state;
	set_kv(t, "/x", "1");
	store_cmd c = cmd_op(STORE_OP_POST, "/q", "job1");
	store_result r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_string_equal(r.ev.node.key, "/q/00000000000000000002");
	assert_int_equal(r.ev.node.created_index, 2);
	assert_string_equal(r.ev.node.value, "job1");
	assert_false(r.ev.has_prev);
	store_result_free(&r);
	c.dir = 1;
	r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_string_equal(r.ev.node.key, "/q/00000000000000000003");
	assert_true(r.ev.node.dir);
	store_result_free(&r);
	c = cmd_op(STORE_OP_POST, "/", "top");
	r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_string_equal(r.ev.node.key, "/00000000000000000004");
	store_result_free(&r);
	r = get_ok(t, "/q", 0);
	assert_int_equal(r.ev.node.n_children, 2);
	assert_string_equal(r.ev.node.children[0].key,
			    "/q/00000000000000000002");
	assert_string_equal(r.ev.node.children[1].key,
			    "/q/00000000000000000003");
	store_result_free(&r);
}

static void test_listing_sorted_hidden(void **state)
{
	tstore *t = *state;
	set_kv(t, "/a/9", "nine");
	set_kv(t, "/a/10", "ten");
	set_kv(t, "/a/_h", "hidden");
	set_kv(t, "/a/s/_deep", "hidden too");
	set_kv(t, "/a/s/v", "visible");
	set_kv(t, "/a/_hd/x", "under a hidden dir");
	set_kv(t, "/_top", "hidden at the root");
	set_kv(t, "/b", "b");
	set_kv(t, "/ab", "ab");

	store_result r = get_ok(t, "/a", 0);
	store_node *n = &r.ev.node;
	assert_int_equal(n->n_children, 3);
	assert_string_equal(n->children[0].key, "/a/10");
	assert_string_equal(n->children[1].key, "/a/9");
	assert_string_equal(n->children[2].key, "/a/s");
	assert_true(n->children[2].dir);
	assert_false(n->children[2].has_children);
	store_result_free(&r);

	r = get_ok(t, "/a", 1);
	n = &r.ev.node;
	assert_int_equal(n->n_children, 3);
	store_node *s = &n->children[2];
	assert_true(s->has_children);
	assert_int_equal(s->n_children, 1);
	assert_string_equal(s->children[0].key, "/a/s/v");
	assert_string_equal(s->children[0].value, "visible");
	store_result_free(&r);

	/* the root: no key, no indexes */
	r = get_ok(t, "/", 0);
	n = &r.ev.node;
	assert_null(n->key);
	assert_true(n->dir);
	assert_int_equal(n->created_index, 0);
	assert_int_equal(n->modified_index, 0);
	assert_int_equal(n->n_children, 3);
	assert_string_equal(n->children[0].key, "/a");
	assert_string_equal(n->children[1].key, "/ab");
	assert_string_equal(n->children[2].key, "/b");
	assert_int_equal(r.index, 9);
	store_result_free(&r);
	r = get_ok(t, NULL, 0);
	assert_null(r.ev.node.key);
	store_result_free(&r);

	/* hidden nodes can be read directly */
	r = get_ok(t, "/a/_h", 0);
	assert_string_equal(r.ev.node.value, "hidden");
	store_result_free(&r);
	r = get_ok(t, "/a/_hd", 1);
	assert_int_equal(r.ev.node.n_children, 1);
	store_result_free(&r);

	/* an empty dir lists no children */
	mkdir_(t, "/e");
	r = get_ok(t, "/e/", 1);
	assert_string_equal(r.ev.node.key, "/e");
	assert_true(r.ev.node.has_children);
	assert_int_equal(r.ev.node.n_children, 0);
	store_result_free(&r);
}

static void test_ttl_fields(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/t", "v");
	c.expire_ns = T0 + 60 * SEC;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.ev.node.expire_ns, T0 + 60 * SEC);
	store_result_free(&r);
	c = cmd_put("/t2", "v");
	c.expire_ns = T0 + 30 * SEC;
	r = ap_ok(t, &c, STORE_ACTION_SET);
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), T0 + 30 * SEC);
	/* before 2000-01-01 means no TTL */
	c = cmd_put("/old", "v");
	c.expire_ns = 946684799LL * SEC;
	r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.ev.node.expire_ns, 0);
	store_result_free(&r);
	/* a plain set drops the TTL */
	set_kv(t, "/t2", "w");
	assert_int_equal(store_next_expiry(t->s), T0 + 60 * SEC);
	r = get_ok(t, "/t", 0);
	assert_int_equal(r.ev.node.expire_ns, T0 + 60 * SEC);
	store_result_free(&r);
	/* a TTL on a created dir */
	c = cmd_put("/tdir", NULL);
	c.dir = 1;
	c.prev_exist = 0;
	c.expire_ns = T0 + 1 * SEC;
	r = ap_ok(t, &c, STORE_ACTION_CREATE);
	assert_int_equal(r.ev.node.expire_ns, T0 + SEC);
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), T0 + SEC);
	r = get_ok(t, "/", 0);
	assert_int_equal(r.ev.node.children[3].expire_ns, T0 + SEC);
	store_result_free(&r);
}

static void test_refresh(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/r", NULL);
	c.refresh = 1;
	c.expire_ns = T0 + 10 * SEC;
	ap_err(t, &c, STORE_ERR_KEY_NOT_FOUND, "/r");
	store_cmd s = cmd_put("/r", "keep");
	s.expire_ns = T0 + 5 * SEC;
	store_result r = ap_ok(t, &s, STORE_ACTION_SET);
	store_result_free(&r);
	/* refresh through a set */
	r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_true(r.ev.refresh);
	assert_int_equal(r.index, 2);
	assert_string_equal(r.ev.node.value, "keep");
	assert_int_equal(r.ev.node.expire_ns, T0 + 10 * SEC);
	assert_string_equal(r.ev.prev.value, "keep");
	store_result_free(&r);
	assert_int_equal(store_next_expiry(t->s), T0 + 10 * SEC);
	/* refresh through an update keeps createdIndex */
	c.prev_exist = 1;
	c.expire_ns = T0 + 20 * SEC;
	r = ap_ok(t, &c, STORE_ACTION_UPDATE);
	assert_true(r.ev.refresh);
	assert_int_equal(r.ev.node.created_index, 2);
	assert_int_equal(r.ev.node.modified_index, 3);
	assert_string_equal(r.ev.node.value, "keep");
	store_result_free(&r);
	/* refresh through a CAS */
	c.prev_index = 3;
	c.expire_ns = T0 + 30 * SEC;
	r = ap_ok(t, &c, STORE_ACTION_CAS);
	assert_true(r.ev.refresh);
	assert_string_equal(r.ev.node.value, "keep");
	assert_int_equal(r.ev.node.modified_index, 4);
	store_result_free(&r);
	/* a holder of the old index now fails */
	c.prev_index = 3;
	ap_err(t, &c, STORE_ERR_TEST_FAILED, "[3 != 4]");
	r = get_ok(t, "/r", 0);
	assert_int_equal(r.ev.node.expire_ns, T0 + 30 * SEC);
	store_result_free(&r);
}

static void test_values_are_bytes(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/bin", NULL);
	c.value = "a\0b";
	c.value_len = 3;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.ev.node.value_len, 3);
	assert_memory_equal(r.ev.node.value, "a\0b", 3);
	store_result_free(&r);
	r = get_ok(t, "/bin", 0);
	assert_int_equal(r.ev.node.value_len, 3);
	assert_memory_equal(r.ev.node.value, "a\0b", 4);
	store_result_free(&r);
	/* a large value */
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	c = cmd_put("/big", big);
	r = ap_ok(t, &c, STORE_ACTION_SET);
	store_result_free(&r);
	r = get_ok(t, "/big", 0);
	assert_int_equal(r.ev.node.value_len, n);
	assert_string_equal(r.ev.node.value, big);
	store_result_free(&r);
	free(big);
}

static void test_paths_cleaned_and_limits(void **state)
{
	tstore *t = *state;
	set_kv(t, "a/./b//c/", "v");
	store_result r = get_ok(t, "/a/b/c", 0);
	assert_string_equal(r.ev.node.key, "/a/b/c");
	store_result_free(&r);
	r = get_ok(t, "//a/x/../b/c/", 0);
	assert_string_equal(r.ev.node.value, "v");
	store_result_free(&r);
	/* keys LMDB cannot hold are refused, not a failed apply */
	char longk[700];
	longk[0] = '/';
	memset(longk + 1, 'k', sizeof(longk) - 2);
	longk[sizeof(longk) - 1] = '\0';
	store_cmd c = cmd_put(longk, "v");
	ap_err(t, &c, 209, NULL);
	get_err(t, longk, STORE_ERR_KEY_NOT_FOUND, NULL);
	c = cmd_put("/nul", "v");
	c.path = "/n\0l";
	c.path_len = 4;
	ap_err(t, &c, 209, NULL);
}

static void check_clean(const char *in, const char *want)
{
	char *got = store_clean_path(in, strlen(in));
	assert_string_equal(got, want);
	free(got);
}

static void test_clean_path(void **state)
{
	(void)state;
	check_clean("", "/");
	check_clean("/", "/");
	check_clean("a", "/a");
	check_clean("/a/b/", "/a/b");
	check_clean("//a///b", "/a/b");
	check_clean("/a/./b/.", "/a/b");
	check_clean("/a/../b", "/b");
	check_clean("/../..", "/");
	check_clean("/a/b/../../..", "/");
	check_clean("/a/..b/.c", "/a/..b/.c");
	check_clean("/a/b/..", "/a");
	char *got = store_clean_path("/a/b/c", 4);
	assert_string_equal(got, "/a/b");
	free(got);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(store_action_name(STORE_ACTION_GET), "get");
	assert_string_equal(store_action_name(STORE_ACTION_SET), "set");
	assert_string_equal(store_action_name(STORE_ACTION_CREATE), "create");
	assert_string_equal(store_action_name(STORE_ACTION_UPDATE), "update");
	assert_string_equal(store_action_name(STORE_ACTION_DELETE), "delete");
	assert_string_equal(store_action_name(STORE_ACTION_CAS),
			    "compareAndSwap");
	assert_string_equal(store_action_name(STORE_ACTION_CAD),
			    "compareAndDelete");
	assert_string_equal(store_action_name(STORE_ACTION_EXPIRE), "expire");
	assert_string_equal(store_error_message(100), "Key not found");
	assert_string_equal(store_error_message(101), "Compare failed");
	assert_string_equal(store_error_message(102), "Not a file");
	assert_string_equal(store_error_message(104), "Not a directory");
	assert_string_equal(store_error_message(105), "Key already exists");
	assert_string_equal(store_error_message(107), "Root is read only");
	assert_string_equal(store_error_message(108), "Directory not empty");
	assert_string_equal(
	    store_error_message(401),
	    "The event in requested index is outdated and cleared");
	assert_string_equal(store_error_message(212),
			    "A TTL must be provided on refresh");
}

static void collect_meta(void *ctx, const char *key, const char *value,
			 size_t len)
{
	char *buf = ctx;
	size_t n = strlen(buf);
	snprintf(buf + n, 256 - n, "%s=%.*s;", key, (int)len, value);
}

static void test_meta(void **state)
{
	tstore *t = *state;
	set_kv(t, "/k", "v");
	store_cmd c = cmd_op(STORE_OP_META_PUT, "members/2", "two");
	store_result r = ap(t, &c);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.index, 1);
	assert_null(r.ev.node.key);
	store_result_free(&r);
	c = cmd_op(STORE_OP_META_PUT, "members/1", "one");
	r = ap(t, &c);
	store_result_free(&r);
	c = cmd_op(STORE_OP_META_PUT, "cluster_id", "abc");
	r = ap(t, &c);
	store_result_free(&r);
	assert_int_equal(store_current_index(t->s), 1);

	char *v;
	size_t len;
	assert_int_equal(store_meta_get(t->s, "members/1", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(v, "one");
	free(v);
	assert_true(store_meta_get(t->s, "nope", &v, &len) < 0);
	assert_null(v);
	/* our own bookkeeping is not visible as metadata */
	assert_true(store_meta_get(t->s, "index", &v, &len) < 0);

	char buf[256] = "";
	assert_int_equal(store_meta_scan(t->s, "members/", collect_meta, buf),
			 0);
	assert_string_equal(buf, "members/1=one;members/2=two;");
	c = cmd_op(STORE_OP_META_DEL, "members/1", NULL);
	r = ap(t, &c);
	assert_int_equal(r.error, 0);
	store_result_free(&r);
	buf[0] = '\0';
	store_meta_scan(t->s, "", collect_meta, buf);
	assert_string_equal(buf, "cluster_id=abc;members/2=two;");
	/* meta writes are not in the key space */
	r = get_ok(t, "/", 0);
	assert_int_equal(r.ev.node.n_children, 1);
	store_result_free(&r);
	assert_int_equal(store_history_start(t->s), 1);
}

/* prevExist on metadata: the loser of a create or remove race gets a
 * result (105, 100), the state is untouched and the generation says
 * whether anything changed for readers. */
static void test_meta_prev_exist(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_op(STORE_OP_META_PUT, "auth/users/u", "a");
	c.prev_exist = 0;
	store_result r = ap(t, &c);
	assert_int_equal(r.error, 0);
	store_result_free(&r);
	uint64_t gen = store_meta_gen(t->s);
	c.value = "b";
	r = ap(t, &c);
	assert_int_equal(r.error, STORE_ERR_NODE_EXIST);
	store_result_free(&r);
	char *v;
	size_t len;
	assert_int_equal(store_meta_get(t->s, "auth/users/u", &v, &len), 0);
	assert_string_equal(v, "a");
	free(v);
	c.prev_exist = 1;
	r = ap(t, &c);
	assert_int_equal(r.error, 0);
	store_result_free(&r);
	assert_true(store_meta_gen(t->s) != gen);
	c = cmd_op(STORE_OP_META_DEL, "auth/users/u", NULL);
	c.prev_exist = 1;
	r = ap(t, &c);
	assert_int_equal(r.error, 0);
	store_result_free(&r);
	r = ap(t, &c);
	assert_int_equal(r.error, STORE_ERR_KEY_NOT_FOUND);
	store_result_free(&r);
	c = cmd_op(STORE_OP_META_PUT, "auth/users/v", "x");
	c.prev_exist = 1;
	r = ap(t, &c);
	assert_int_equal(r.error, STORE_ERR_KEY_NOT_FOUND);
	store_result_free(&r);
	/* a plain delete of nothing stays quiet, as membership relies on */
	c = cmd_op(STORE_OP_META_DEL, "auth/users/v", NULL);
	c.prev_exist = 0;
	r = ap(t, &c);
	assert_int_equal(r.error, 0);
	store_result_free(&r);
}

static void test_node_copy(void **state)
{
	tstore *t = *state;
	set_kv(t, "/c/a", "1");
	set_kv(t, "/c/d/b", "2");
	store_result r = get_ok(t, "/c", 1);
	store_node cp;
	assert_int_equal(store_node_copy(&cp, &r.ev.node), 0);
	store_result_free(&r);
	assert_string_equal(cp.key, "/c");
	assert_int_equal(cp.n_children, 2);
	assert_string_equal(cp.children[0].value, "1");
	assert_int_equal(cp.children[1].n_children, 1);
	assert_string_equal(cp.children[1].children[0].key, "/c/d/b");
	assert_string_equal(cp.children[1].children[0].value, "2");
	store_node_free(&cp);
	assert_null(cp.key);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_store, teardown_store)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_set_new_and_get),
	    T(test_set_replace_new_created_index),
	    T(test_implicit_parents),
	    T(test_dir_index_unchanged_by_children),
	    T(test_dir_vs_key_errors),
	    T(test_create),
	    T(test_update),
	    T(test_update_dir),
	    T(test_cas),
	    T(test_delete),
	    T(test_delete_dirs),
	    T(test_cad),
	    T(test_root_read_only),
	    T(test_post),
	    T(test_listing_sorted_hidden),
	    T(test_ttl_fields),
	    T(test_refresh),
	    T(test_values_are_bytes),
	    T(test_paths_cleaned_and_limits),
	    cmocka_unit_test(test_clean_path),
	    cmocka_unit_test(test_names),
	    T(test_meta),
	    T(test_meta_prev_exist),
	    T(test_node_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
