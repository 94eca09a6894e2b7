/* test_store_watch.c - what watches and the other event consumers see:
 * TTL expiry events (keys and whole directories), subscriber delivery in
 * order, the watch match rules (recursive, hidden, directory removal), the
 * history scan with refresh skipping, the 401 after trimming, and history
 * surviving a restart. */
#include "test_store_util.h"

typedef struct seen {
	int n;
	int action[32];
	uint64_t index[32];
	char key[32][64];
	int refresh[32];
} seen;

static void on_event(void *ctx, const store_event *ev)
{
	seen *s = ctx;
	if (s->n >= 32)
		return;
	s->action[s->n] = ev->action;
	s->index[s->n] = ev->index;
	s->refresh[s->n] = ev->refresh;
	snprintf(s->key[s->n], 64, "%s", ev->node.key ? ev->node.key : "/");
	s->n++;
}

static void set_ttl(tstore *t, const char *path, int64_t expire)
{
	store_cmd c = cmd_put(path, "v");
	c.expire_ns = expire;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	store_result_free(&r);
}

static store_result sweep(tstore *t, int64_t now)
{
	store_cmd c = cmd_op(STORE_OP_EXPIRE, NULL, NULL);
	c.now_ns = now;
	store_result r = ap(t, &c);
	assert_int_equal(r.error, 0);
	return r;
}

static void test_expire_keys_in_order(void **state)
{
	tstore *t = *state;
	seen s = {0};
	int id = store_subscribe(t->s, on_event, &s);
	assert_true(id > 0);
	set_ttl(t, "/late", T0 + 3 * SEC);
	set_ttl(t, "/b", T0 + 1 * SEC);
	set_ttl(t, "/a", T0 + 2 * SEC);
	set_kv(t, "/forever", "v");
	assert_int_equal(store_next_expiry(t->s), T0 + SEC);

	/* nothing due yet: no events, no index */
	store_result r = sweep(t, T0);
	assert_int_equal(r.index, 4);
	store_result_free(&r);
	assert_int_equal(s.n, 4);

	r = sweep(t, T0 + 2 * SEC); /* expiry <= now goes */
	assert_int_equal(r.index, 6);
	store_result_free(&r);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.action[4], STORE_ACTION_EXPIRE);
	assert_string_equal(s.key[4], "/b");
	assert_int_equal(s.index[4], 5);
	assert_string_equal(s.key[5], "/a");
	assert_int_equal(s.index[5], 6);
	assert_int_equal(store_next_expiry(t->s), T0 + 3 * SEC);
	get_err(t, "/a", STORE_ERR_KEY_NOT_FOUND, "/a");

	/* the event as a watcher finds it in the history */
	int found;
	store_event ev;
	assert_int_equal(
	    store_history_find(t->s, 5, "/b", 0, &found, &ev, NULL), 0);
	assert_true(found);
	assert_int_equal(ev.action, STORE_ACTION_EXPIRE);
	assert_int_equal(ev.index, 5);
	assert_string_equal(ev.node.key, "/b");
	assert_null(ev.node.value);
	assert_int_equal(ev.node.modified_index, 5);
	assert_int_equal(ev.node.created_index, 2);
	assert_true(ev.has_prev);
	assert_string_equal(ev.prev.value, "v");
	assert_int_equal(ev.prev.expire_ns, T0 + SEC);
	assert_int_equal(ev.prev.modified_index, 2);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);

	store_unsubscribe(t->s, id);
	r = sweep(t, T0 + 100 * SEC);
	store_result_free(&r);
	assert_int_equal(s.n, 6);
	assert_int_equal(store_current_index(t->s), 7);
	assert_int_equal(store_next_expiry(t->s), 0);
}

static void test_expire_dir_subtree(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/d", NULL);
	c.dir = 1;
	c.prev_exist = 0;
	c.expire_ns = T0 + SEC;
	store_result r = ap_ok(t, &c, STORE_ACTION_CREATE);
	store_result_free(&r);
	set_kv(t, "/d/a", "1");
	set_ttl(t, "/d/sub/b", T0 + 50 * SEC);
	set_ttl(t, "/other", T0 + 60 * SEC);
	seen s = {0};
	store_subscribe(t->s, on_event, &s);

	r = sweep(t, T0 + 2 * SEC);
	assert_int_equal(r.index, 5); /* one event for the whole subtree */
	store_result_free(&r);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.action[0], STORE_ACTION_EXPIRE);
	assert_string_equal(s.key[0], "/d");
	get_err(t, "/d/sub/b", STORE_ERR_KEY_NOT_FOUND, "/d");
	assert_int_equal(store_key_count(t->s), 1);
	/* the subtree's own TTL entries went with it */
	assert_int_equal(store_next_expiry(t->s), T0 + 60 * SEC);

	int found;
	store_event ev;
	/* a watcher inside the dir hears of the dir's expiry */
	store_history_find(t->s, 5, "/d/sub/b", 0, &found, &ev, NULL);
	assert_true(found);
	assert_string_equal(ev.node.key, "/d");
	assert_true(ev.node.dir);
	assert_true(ev.prev.dir);
	assert_int_equal(ev.prev.expire_ns, T0 + SEC);
	assert_int_equal(ev.node.created_index, 1);
	assert_int_equal(ev.node.modified_index, 5);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
}

static void test_subscribers_get_events_in_order(void **state)
{
	tstore *t = *state;
	seen a = {0}, b = {0};
	int ia = store_subscribe(t->s, on_event, &a);
	int ib = store_subscribe(t->s, on_event, &b);
	assert_true(ia > 0 && ib > 0 && ia != ib);
	set_kv(t, "/x", "1");
	store_cmd c = cmd_put("/x", "2");
	cmd_prev_value(&c, "nomatch");
	ap_err(t, &c, STORE_ERR_TEST_FAILED, NULL); /* no event */
	c = cmd_op(STORE_OP_POST, "/q", "j");
	store_result r = ap_ok(t, &c, STORE_ACTION_CREATE);
	store_result_free(&r);
	c = cmd_put("/x", NULL);
	c.refresh = 1;
	c.prev_exist = 1;
	c.expire_ns = T0;
	r = ap_ok(t, &c, STORE_ACTION_UPDATE);
	store_result_free(&r);
	c = cmd_del("/q");
	c.recursive = 1;
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	store_result_free(&r);
	c = cmd_op(STORE_OP_NOOP, NULL, NULL);
	r = ap(t, &c);
	store_result_free(&r);
	c = cmd_op(STORE_OP_META_PUT, "m", "v");
	r = ap(t, &c);
	store_result_free(&r);

	assert_int_equal(a.n, 4);
	assert_int_equal(b.n, 4);
	int actions[] = {STORE_ACTION_SET, STORE_ACTION_CREATE,
			 STORE_ACTION_UPDATE, STORE_ACTION_DELETE};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(a.action[i], actions[i]);
		assert_int_equal(a.index[i], (uint64_t)i + 1);
		assert_int_equal(b.index[i], (uint64_t)i + 1);
	}
	/* live consumers see refreshes, marked */
	assert_true(a.refresh[2]);
	assert_false(a.refresh[1]);
	assert_string_equal(a.key[1], "/q/00000000000000000002");
	store_unsubscribe(t->s, ia);
	set_kv(t, "/y", "1");
	assert_int_equal(a.n, 4);
	assert_int_equal(b.n, 5);
	/* a freed slot is reused with a fresh id */
	int ic = store_subscribe(t->s, on_event, &a);
	assert_true(ic > ib);
	store_unsubscribe(t->s, ic);
	store_unsubscribe(t->s, ib);
}

static store_event mkev(int action, const char *key, int dir)
{
	store_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.action = action;
	ev.node.key = (char *)key;
	ev.node.dir = dir;
	if (action == STORE_ACTION_DELETE || action == STORE_ACTION_EXPIRE) {
		ev.has_prev = 1;
		ev.prev.key = (char *)key;
		ev.prev.dir = dir;
	}
	return ev;
}

static void test_event_matches(void **state)
{
	(void)state;
	store_event set = mkev(STORE_ACTION_SET, "/a/b/c", 0);
	assert_true(store_event_matches(&set, "/a/b/c", 0));
	assert_true(store_event_matches(&set, "/a/b/c", 1));
	assert_false(store_event_matches(&set, "/a/b", 0));
	assert_true(store_event_matches(&set, "/a/b", 1));
	assert_true(store_event_matches(&set, "/a", 1));
	assert_true(store_event_matches(&set, "/", 1));
	assert_false(store_event_matches(&set, "/", 0));
	assert_false(store_event_matches(&set, "/a/b/c/d", 1));
	assert_false(store_event_matches(&set, "/a/b/cc", 1));
	assert_false(store_event_matches(&set, "/a/bb", 1));

	/* sibling prefixes are not parents */
	store_event ab = mkev(STORE_ACTION_SET, "/ab", 0);
	assert_false(store_event_matches(&ab, "/a", 1));

	/* hidden relative to the watched path */
	store_event hid = mkev(STORE_ACTION_SET, "/a/_h/x", 0);
	assert_false(store_event_matches(&hid, "/a", 1));
	assert_false(store_event_matches(&hid, "/", 1));
	assert_true(store_event_matches(&hid, "/a/_h", 1));
	assert_true(store_event_matches(&hid, "/a/_h/x", 0));
	store_event top = mkev(STORE_ACTION_SET, "/_top", 0);
	assert_false(store_event_matches(&top, "/", 1));
	assert_true(store_event_matches(&top, "/_top", 0));
	store_event mid = mkev(STORE_ACTION_SET, "/a/x_y/z", 0);
	assert_true(store_event_matches(&mid, "/a", 1));

	/* removing a dir reaches watchers below it, recursive or not */
	store_event del = mkev(STORE_ACTION_DELETE, "/d", 1);
	assert_true(store_event_matches(&del, "/d/x", 0));
	assert_true(store_event_matches(&del, "/d/x/y", 1));
	assert_true(store_event_matches(&del, "/d", 0));
	assert_false(store_event_matches(&del, "/dx", 0));
	assert_true(store_event_matches(&del, "/", 1));
	store_event exp = mkev(STORE_ACTION_EXPIRE, "/d", 1);
	assert_true(store_event_matches(&exp, "/d/_hidden/k", 0));
	/* a key's delete, or a dir's update, does not */
	store_event kdel = mkev(STORE_ACTION_DELETE, "/d", 0);
	assert_false(store_event_matches(&kdel, "/d/x", 0));
	store_event upd = mkev(STORE_ACTION_UPDATE, "/d", 1);
	assert_false(store_event_matches(&upd, "/d/x", 1));
}

static void test_history_find(void **state)
{
	tstore *t = *state;
	set_kv(t, "/w/a", "1");	  /* 1 */
	set_kv(t, "/other", "1"); /* 2 */
	store_cmd c = cmd_put("/w/a", NULL);
	c.refresh = 1;
	c.expire_ns = T0;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET); /* 3, refresh */
	store_result_free(&r);
	set_kv(t, "/w/_h", "1");  /* 4, hidden */
	set_kv(t, "/w/b/c", "1"); /* 5 */
	c = cmd_del("/w");
	c.recursive = 1;
	r = ap_ok(t, &c, STORE_ACTION_DELETE); /* 6 */
	store_result_free(&r);

	int found;
	store_event ev;
	store_result err = {0};
	assert_int_equal(store_history_start(t->s), 1);
	assert_int_equal(
	    store_history_find(t->s, 1, "/w/a", 0, &found, &ev, &err), 0);
	assert_true(found);
	assert_int_equal(ev.index, 1);
	assert_int_equal(ev.action, STORE_ACTION_SET);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	/* a sibling with a common prefix does not see /w's delete */
	store_history_find(t->s, 6, "/wx", 0, &found, &ev, &err);
	assert_false(found);
	/* the refresh at 3 is skipped: next is the dir delete at 6 */
	store_history_find(t->s, 2, "/w/a", 0, &found, &ev, &err);
	assert_true(found);
	assert_int_equal(ev.index, 6);
	assert_int_equal(ev.action, STORE_ACTION_DELETE);
	assert_string_equal(ev.node.key, "/w");
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	/* recursive on /w: unlike live matching, etcd's history scan
	 * returns the hidden write at 4 (checked against etcd 3.4) */
	store_history_find(t->s, 4, "/w", 1, &found, &ev, &err);
	assert_true(found);
	assert_int_equal(ev.index, 4);
	assert_string_equal(ev.node.key, "/w/_h");
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	/* paths are cleaned like the API's */
	store_history_find(t->s, 5, "/w/", 1, &found, &ev, &err);
	assert_true(found);
	assert_int_equal(ev.index, 5);
	assert_string_equal(ev.node.key, "/w/b/c");
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	/* but a watcher on the hidden key itself sees it */
	store_history_find(t->s, 2, "/w/_h", 0, &found, &ev, &err);
	assert_true(found);
	assert_int_equal(ev.index, 4);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	/* nothing more: a future index parks the watcher */
	store_history_find(t->s, 7, "/", 1, &found, &ev, &err);
	assert_false(found);
	store_history_find(t->s, 3, "/other", 0, &found, &ev, &err);
	assert_false(found);
	assert_int_equal(err.error, 0);
}

static int setup_window5(void **state)
{
	return setup_store_cfg(state, 5);
}

static void test_history_trim_401(void **state)
{
	tstore *t = *state;
	char key[16];
	for (int i = 1; i <= 12; i++) {
		snprintf(key, sizeof(key), "/k%d", i);
		set_kv(t, key, "v");
	}
	assert_int_equal(store_history_start(t->s), 8);
	int found = 1;
	store_event ev;
	store_result err = {0};
	assert_int_equal(
	    store_history_find(t->s, 7, "/k7", 0, &found, &ev, &err),
	    STORE_ERR_EVENT_INDEX_CLEARED);
	assert_false(found);
	assert_int_equal(err.error, STORE_ERR_EVENT_INDEX_CLEARED);
	assert_int_equal(err.index, 12);
	assert_string_equal(err.cause,
			    "the requested history has been cleared [8/7]");
	store_result_free(&err);
	assert_int_equal(
	    store_history_find(t->s, 8, "/k8", 0, &found, &ev, &err), 0);
	assert_true(found);
	assert_int_equal(ev.index, 8);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);

	/* the window survives a restart, and so does the history */
	store_close(t->s);
	tstore_open(t);
	assert_int_equal(store_history_start(t->s), 8);
	store_history_find(t->s, 10, "/", 1, &found, &ev, &err);
	assert_true(found);
	assert_int_equal(ev.index, 10);
	assert_string_equal(ev.node.key, "/k10");
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
	set_kv(t, "/k13", "v");
	assert_int_equal(store_history_start(t->s), 9);
}

static void test_expire_burst_trims_history(void **state)
{
	tstore *t = *state;
	char key[16];
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "/t/%d", i);
		set_ttl(t, key, T0 + i);
	}
	store_result r = sweep(t, T0 + SEC);
	assert_int_equal(r.index, 16);
	store_result_free(&r);
	assert_int_equal(store_history_start(t->s), 12);
	int found;
	store_event ev;
	store_history_find(t->s, 12, "/t", 1, &found, &ev, NULL);
	assert_true(found);
	assert_int_equal(ev.action, STORE_ACTION_EXPIRE);
	assert_string_equal(ev.node.key, "/t/3");
	store_node_free(&ev.node);
	store_node_free(&ev.prev);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_store, teardown_store)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_expire_keys_in_order),
	    T(test_expire_dir_subtree),
	    T(test_subscribers_get_events_in_order),
	    cmocka_unit_test(test_event_matches),
	    T(test_history_find),
	    cmocka_unit_test_setup_teardown(test_history_trim_401,
					    setup_window5, teardown_store),
	    cmocka_unit_test_setup_teardown(test_expire_burst_trims_history,
					    setup_window5, teardown_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
