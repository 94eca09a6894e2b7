/* test_store_snapshot.c - durability of the replicated state: replayed
 * Raft entries apply once, indexes survive close/reopen, snapshots round
 * trip (also when written on a worker thread, and frozen at begin), a
 * restore older than the local state keeps the local state, a damaged
 * snapshot is refused without touching anything, and batched applies are
 * seen by every read and survive close/reopen. */
#include <errno.h>
#include <pthread.h>

#include "test_store_util.h"

static void test_replay_skipped(void **state)
{
	tstore *t = *state;
	store_cmd c = cmd_put("/a", "1");
	store_result r;
	assert_int_equal(store_apply(t->s, &c, 5, &r), 0);
	assert_int_equal(r.index, 1);
	store_result_free(&r);
	/* the same entry again, and an older one: skipped */
	c = cmd_put("/a", "2");
	assert_int_equal(store_apply(t->s, &c, 5, &r), 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.index, 0);
	assert_null(r.ev.node.key);
	assert_int_equal(store_apply(t->s, &c, 3, &r), 0);
	assert_int_equal(r.index, 0);
	assert_int_equal(store_apply(t->s, &c, 4, NULL), 0);
	assert_int_equal(store_current_index(t->s), 1);
	assert_int_equal(store_applied_raft_index(t->s), 5);
	r = get_ok(t, "/a", 0);
	assert_string_equal(r.ev.node.value, "1");
	store_result_free(&r);
	/* a no-op moves only the Raft index */
	c = cmd_op(STORE_OP_NOOP, "/", NULL);
	assert_int_equal(store_apply(t->s, &c, 9, &r), 0);
	assert_int_equal(r.index, 1);
	assert_int_equal(store_applied_raft_index(t->s), 9);
	assert_int_equal(store_current_index(t->s), 1);
	/* a failed write also records its Raft index */
	c = cmd_put("/a", "x");
	c.prev_exist = 0;
	assert_int_equal(store_apply(t->s, &c, 10, &r), 0);
	assert_int_equal(r.error, STORE_ERR_NODE_EXIST);
	store_result_free(&r);
	assert_int_equal(store_applied_raft_index(t->s), 10);
}

static void test_reopen_keeps_indexes(void **state)
{
	tstore *t = *state;
	set_kv(t, "/a", "1");
	set_kv(t, "/b/c", "2");
	store_cmd c = cmd_op(STORE_OP_META_PUT, "id", "x");
	store_result r = ap(t, &c);
	store_result_free(&r);
	/* one process (one handle) per store directory */
	store *second = NULL;
	assert_int_equal(store_open(&second, t->dir, &t->cfg), -EBUSY);
	assert_null(second);
	store_close(t->s);
	tstore_open(t);
	assert_int_equal(store_current_index(t->s), 2);
	assert_int_equal(store_applied_raft_index(t->s), 3);
	/* replay after restart is skipped */
	c = cmd_put("/a", "replayed");
	assert_int_equal(store_apply(t->s, &c, 1, &r), 0);
	assert_int_equal(store_current_index(t->s), 2);
	r = get_ok(t, "/a", 0);
	assert_string_equal(r.ev.node.value, "1");
	store_result_free(&r);
	/* new writes continue the index */
	t->raft = 3;
	c = cmd_put("/a", "new");
	r = ap_ok(t, &c, STORE_ACTION_SET);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.ev.prev.modified_index, 1);
	store_result_free(&r);
	char *v;
	size_t len;
	assert_int_equal(store_meta_get(t->s, "id", &v, &len), 0);
	assert_string_equal(v, "x");
	free(v);
}

/* Builds a varied state: keys, dirs, TTLs, hidden keys, meta, history. */
static void populate(tstore *t)
{
	set_kv(t, "/docker/network/v1.0/network/n1", "{\"id\":\"n1\"}");
	set_kv(t, "/docker/nodes/10.0.0.1:2376", "10.0.0.1:2376");
	store_cmd c = cmd_put("/docker/nodes/10.0.0.2:2376", "x");
	c.expire_ns = T0 + 60 * SEC;
	store_result r = ap_ok(t, &c, STORE_ACTION_SET);
	store_result_free(&r);
	set_kv(t, "/_locks/l1", "owner");
	c = cmd_op(STORE_OP_POST, "/queue", "job");
	r = ap_ok(t, &c, STORE_ACTION_CREATE);
	store_result_free(&r);
	c = cmd_del("/docker/nodes/10.0.0.1:2376");
	r = ap_ok(t, &c, STORE_ACTION_DELETE);
	store_result_free(&r);
	c = cmd_op(STORE_OP_META_PUT, "members/1", "node-a");
	r = ap(t, &c);
	store_result_free(&r);
}

static void node_equal(const store_node *a, const store_node *b)
{
	if (a->key || b->key)
		assert_string_equal(a->key, b->key);
	if (a->value || b->value) {
		assert_int_equal(a->value_len, b->value_len);
		assert_memory_equal(a->value, b->value, a->value_len);
	}
	assert_int_equal(a->dir, b->dir);
	assert_int_equal(a->expire_ns, b->expire_ns);
	assert_int_equal(a->created_index, b->created_index);
	assert_int_equal(a->modified_index, b->modified_index);
	assert_int_equal(a->n_children, b->n_children);
	for (size_t i = 0; i < a->n_children; i++)
		node_equal(&a->children[i], &b->children[i]);
}

static void trees_equal(tstore *a, tstore *b, const char *path)
{
	store_result ra = get_ok(a, path, 1), rb = get_ok(b, path, 1);
	node_equal(&ra.ev.node, &rb.ev.node);
	store_result_free(&ra);
	store_result_free(&rb);
}

static void take_snapshot(tstore *t, uint64_t raft, void **buf, size_t *len)
{
	store_snap *sn;
	assert_int_equal(store_snapshot_begin(t->s, raft, &sn), 0);
	assert_int_equal(store_snapshot_write(sn, buf, len), 0);
	store_snapshot_end(sn);
}

static void test_snapshot_round_trip(void **state)
{
	tstore *a = *state, *b;
	populate(a);
	void *buf;
	size_t len;
	take_snapshot(a, a->raft, &buf, &len);
	assert_int_equal(setup_store((void **)&b), 0);
	set_kv(b, "/stale", "dropped by the restore");
	assert_int_equal(store_restore(b->s, buf, len), 0);
	store_snapshot_free(buf, len);

	assert_int_equal(store_current_index(b->s), store_current_index(a->s));
	assert_int_equal(store_applied_raft_index(b->s), a->raft);
	trees_equal(a, b, "/");
	trees_equal(a, b, "/_locks");
	get_err(b, "/stale", STORE_ERR_KEY_NOT_FOUND, "/stale");
	assert_int_equal(store_key_count(b->s), store_key_count(a->s));
	assert_int_equal(store_next_expiry(b->s), T0 + 60 * SEC);
	assert_int_equal(store_history_start(b->s), 1);
	char *v;
	size_t vl;
	assert_int_equal(store_meta_get(b->s, "members/1", &v, &vl), 0);
	assert_string_equal(v, "node-a");
	free(v);
	int found;
	store_event ev;
	store_history_find(b->s, 1, "/docker/nodes", 1, &found, &ev, NULL);
	assert_true(found);
	assert_int_equal(ev.index, 2);
	store_node_free(&ev.node);
	store_node_free(&ev.prev);

	/* both carry on identically, TTLs included */
	b->raft = a->raft;
	store_cmd c = cmd_op(STORE_OP_EXPIRE, NULL, NULL);
	c.now_ns = T0 + 61 * SEC;
	store_result ra = ap(a, &c), rb = ap(b, &c);
	assert_int_equal(ra.index, rb.index);
	assert_int_equal(ra.index, 7);
	store_result_free(&ra);
	store_result_free(&rb);
	trees_equal(a, b, "/");
	/* and b survives its own restart */
	store_close(b->s);
	tstore_open(b);
	trees_equal(a, b, "/");
	assert_int_equal(store_applied_raft_index(b->s), a->raft);
	teardown_store((void **)&b);
}

static void test_restore_older_keeps_state(void **state)
{
	tstore *t = *state;
	populate(t);
	void *buf;
	size_t len;
	take_snapshot(t, t->raft, &buf, &len);
	set_kv(t, "/after", "newer");
	/* a restart: raft restores its last snapshot, then replays */
	assert_int_equal(store_restore(t->s, buf, len), 0);
	store_snapshot_free(buf, len);
	store_result r = get_ok(t, "/after", 0);
	assert_string_equal(r.ev.node.value, "newer");
	store_result_free(&r);
	assert_int_equal(store_current_index(t->s), 7);
}

static void test_snapshot_frozen_at_begin(void **state)
{
	tstore *t = *state;
	set_kv(t, "/a", "before");
	store_snap *sn;
	assert_int_equal(store_snapshot_begin(t->s, 1, &sn), 0);
	set_kv(t, "/a", "after");
	set_kv(t, "/b", "after");
	void *buf;
	size_t len;
	assert_int_equal(store_snapshot_write(sn, &buf, &len), 0);
	store_snapshot_end(sn);

	tstore *b;
	assert_int_equal(setup_store((void **)&b), 0);
	assert_int_equal(store_restore(b->s, buf, len), 0);
	store_snapshot_free(buf, len);
	assert_int_equal(store_current_index(b->s), 1);
	assert_int_equal(store_applied_raft_index(b->s), 1);
	store_result r = get_ok(b, "/a", 0);
	assert_string_equal(r.ev.node.value, "before");
	store_result_free(&r);
	get_err(b, "/b", STORE_ERR_KEY_NOT_FOUND, "/b");
	teardown_store((void **)&b);
}

typedef struct job {
	store_snap *sn;
	void *buf;
	size_t len;
	int rc;
} job;

static void *write_job(void *arg)
{
	job *j = arg;
	j->rc = store_snapshot_write(j->sn, &j->buf, &j->len);
	return NULL;
}

static void test_snapshot_on_worker_thread(void **state)
{
	tstore *t = *state;
	char key[32];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "/bulk/%04d", i);
		set_kv(t, key, "some value");
	}
	job j = {0};
	assert_int_equal(store_snapshot_begin(t->s, t->raft + 7, &j.sn), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, write_job, &j), 0);
	/* the loop thread keeps applying meanwhile */
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "/live/%d", i);
		set_kv(t, key, "v");
	}
	pthread_join(th, NULL);
	store_snapshot_end(j.sn);
	assert_int_equal(j.rc, 0);

	tstore *b;
	assert_int_equal(setup_store((void **)&b), 0);
	assert_int_equal(store_restore(b->s, j.buf, j.len), 0);
	store_snapshot_free(j.buf, j.len);
	/* raft's index may be ahead of the last store entry */
	assert_int_equal(store_applied_raft_index(b->s), 507);
	assert_int_equal(store_current_index(b->s), 500);
	trees_equal(t, b, "/bulk");
	get_err(b, "/live", STORE_ERR_KEY_NOT_FOUND, "/live");
	teardown_store((void **)&b);
}

/* t's snapshot, and a second store b holding a key of its own that a
 * refused restore must leave in place. */
static tstore *restore_target(tstore *t, void **buf, size_t *len)
{
	populate(t);
	take_snapshot(t, t->raft, buf, len);
	tstore *b;
	assert_int_equal(setup_store((void **)&b), 0);
	set_kv(b, "/mine", "kept");
	return b;
}

/* After the refusals: b kept its key, and the intact buffer restores. */
static void intact_restores(tstore *t, tstore *b, void *buf, size_t len)
{
	store_result r = get_ok(b, "/mine", 0);
	store_result_free(&r);
	assert_int_equal(store_restore(b->s, buf, len), 0);
	store_snapshot_free(buf, len);
	trees_equal(t, b, "/");
	teardown_store((void **)&b);
}

static void test_bad_snapshot_refused(void **state)
{
	tstore *t = *state;
	void *buf;
	size_t len;
	tstore *b = restore_target(t, &buf, &len);
	unsigned char *p = buf;
	p[len / 2] ^= 0x40;
	assert_true(store_restore(b->s, buf, len) < 0);
	p[len / 2] ^= 0x40;
	assert_true(store_restore(b->s, buf, len - 1) < 0);
	assert_true(store_restore(b->s, buf, 10) < 0);
	assert_int_equal(store_applied_raft_index(b->s), 1);
	intact_restores(t, b, buf, len);
}

static void put_sum(unsigned char *p, size_t len)
{
	uint64_t h = store_snapshot_sum(p, len);
	for (int i = 0; i < 8; i++, h >>= 8)
		p[len - 8 + i] = (unsigned char)h;
}

/* A flipped bit anywhere (header, any section, the checksum itself) is
 * caught, and the store is left as it was. */
static void test_any_flipped_bit_refused(void **state)
{
	tstore *t = *state;
	void *buf;
	size_t len;
	tstore *b = restore_target(t, &buf, &len);
	unsigned char *p = buf;
	for (size_t at = 8; at < len; at += len / 97 + 1)
		for (int bit = 0; bit < 8; bit += 3) {
			p[at] ^= (unsigned char)(1u << bit);
			assert_true(store_restore(b->s, buf, len) < 0);
			p[at] ^= (unsigned char)(1u << bit);
		}
	intact_restores(t, b, buf, len);
}

/* A snapshot of a few MB: hashed in steps as it is written, with a
 * filtered section (meta's user keys) between hashed ones; it restores, and
 * its checksum is the one a reader computes over the whole buffer. */
static void test_large_snapshot_round_trip(void **state)
{
	tstore *a = *state, *b;
	char key[64], value[300];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (int i = 0; i < 6000; i++) {
		snprintf(key, sizeof(key), "/big/k%05d", i);
		value[0] = (char)('a' + i % 26);
		set_kv(a, key, value);
		if (i % 1000 == 0) {
			snprintf(key, sizeof(key), "members/%d", i);
			store_cmd c = cmd_op(STORE_OP_META_PUT, key, "m");
			store_result r = ap(a, &c);
			store_result_free(&r);
		}
	}
	void *buf;
	size_t len;
	take_snapshot(a, a->raft, &buf, &len);
	assert_true(len > 2 * 1024 * 1024);
	const unsigned char *p = buf;
	uint64_t sum = 0;
	for (int i = 7; i >= 0; i--)
		sum = sum << 8 | p[len - 8 + i];
	assert_int_equal(sum, store_snapshot_sum(buf, len));
	assert_int_equal(setup_store((void **)&b), 0);
	assert_int_equal(store_restore(b->s, buf, len), 0);
	store_snapshot_free(buf, len);
	trees_equal(a, b, "/");
	assert_int_equal(store_key_count(b->s), store_key_count(a->s));
	char *v;
	size_t vl;
	assert_int_equal(store_meta_get(b->s, "members/3000", &v, &vl), 0);
	assert_memory_equal(v, "m", vl);
	free(v);
	teardown_store((void **)&b);
}

/* Snapshots written by earlier builds ("OVLDSNP1", FNV-1a) still restore,
 * so a data dir survives an upgrade; the two checksums are not mixed up. */
static void test_v1_snapshot_restores(void **state)
{
	tstore *t = *state;
	populate(t);
	void *buf;
	size_t len;
	take_snapshot(t, t->raft, &buf, &len);
	unsigned char *p = buf;
	assert_memory_equal(p, "OVLDSNP2", 8);
	memcpy(p, "OVLDSNP1", 8);
	tstore *b;
	assert_int_equal(setup_store((void **)&b), 0);
	assert_true(store_restore(b->s, buf, len) < 0); /* v2 sum, v1 magic */
	put_sum(p, len);
	assert_int_equal(store_restore(b->s, buf, len), 0);
	assert_int_equal(store_applied_raft_index(b->s), t->raft);
	trees_equal(t, b, "/");
	store_snapshot_free(buf, len);
	teardown_store((void **)&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_store, teardown_store)

/* A subscriber reads the store while the entry that woke it is still in
 * the open batch: it must see that entry. */
static void read_in_callback(void *ctx, const store_event *ev)
{
	tstore *t = ctx;
	store_result r;
	assert_int_equal(store_get(t->s, ev->node.key, 0, 1, &r), 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.ev.node.modified_index, ev->index);
	store_result_free(&r);
}

static void test_batched_applies(void **state)
{
	tstore *t = *state;
	char path[32], value[32];
	/* more entries than one batch holds, with no read in between */
	for (int i = 1; i <= 1200; i++) {
		snprintf(path, sizeof(path), "/k%d", i % 300);
		snprintf(value, sizeof(value), "v%d", i);
		store_cmd c = cmd_put(path, value);
		assert_int_equal(store_apply(t->s, &c, (uint64_t)i, NULL), 0);
	}
	store_result r = get_ok(t, "/k0", 0);
	assert_string_equal(r.ev.node.value, "v1200");
	assert_int_equal(r.ev.node.modified_index, 1200);
	store_result_free(&r);
	int id = store_subscribe(t->s, read_in_callback, t);
	for (int i = 1201; i <= 1210; i++) {
		store_cmd c = cmd_put("/sub", "x");
		assert_int_equal(store_apply(t->s, &c, (uint64_t)i, NULL), 0);
	}
	store_unsubscribe(t->s, id);
	/* applied but not flushed: close must commit them */
	store_cmd c = cmd_put("/last", "z");
	assert_int_equal(store_apply(t->s, &c, 1211, NULL), 0);
	store_close(t->s);
	tstore_open(t);
	assert_int_equal(store_current_index(t->s), 1211);
	assert_int_equal(store_applied_raft_index(t->s), 1211);
	r = get_ok(t, "/last", 0);
	assert_string_equal(r.ev.node.value, "z");
	store_result_free(&r);
	/* an explicit flush with nothing pending is harmless */
	assert_int_equal(store_flush(t->s), 0);
	r = get_ok(t, "/k299", 0);
	assert_string_equal(r.ev.node.value, "v1199");
	store_result_free(&r);
}

/* A batch that hits a full map after earlier entries of it were applied:
 * the store keeps its last committed state, refuses to apply more (it
 * would skip the lost entries), and the data file opens cleanly. */
static void test_failed_batch_stops_applying(void **state)
{
	(void)state;
	tstore t;
	memset(&t, 0, sizeof(t));
	strcpy(t.dir, "/tmp/ovld-store-test-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	t.cfg.map_size = 1 << 20;
	tstore_open(&t);
	set_kv(&t, "/committed", "yes");
	assert_int_equal(store_flush(t.s), 0);
	uint64_t raft = store_applied_raft_index(t.s);
	static char big[64 * 1024];
	memset(big, 'x', sizeof(big) - 1);
	store_cmd c = cmd_put("/small", "1");
	assert_int_equal(store_apply(t.s, &c, ++raft, NULL), 0);
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++) {
		c = cmd_put("/big", big);
		rc = store_apply(t.s, &c, ++raft, NULL);
	}
	assert_int_not_equal(rc, 0);
	/* back to the last commit, and no further applies */
	assert_int_equal(store_current_index(t.s), 1);
	c = cmd_put("/after", "1");
	assert_int_not_equal(store_apply(t.s, &c, ++raft, NULL), 0);
	store_result r = get_ok(&t, "/committed", 0);
	assert_string_equal(r.ev.node.value, "yes");
	store_result_free(&r);
	get_err(&t, "/small", STORE_ERR_KEY_NOT_FOUND, "/small");
	store_close(t.s);
	tstore_open(&t);
	assert_int_equal(store_current_index(t.s), 1);
	r = get_ok(&t, "/committed", 0);
	store_result_free(&r);
	store_close(t.s);
	rm_rf(t.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_replay_skipped),
	    T(test_reopen_keeps_indexes),
	    T(test_snapshot_round_trip),
	    T(test_restore_older_keeps_state),
	    T(test_snapshot_frozen_at_begin),
	    T(test_snapshot_on_worker_thread),
	    T(test_bad_snapshot_refused),
	    T(test_any_flipped_bit_refused),
	    T(test_large_snapshot_round_trip),
	    T(test_v1_snapshot_restores),
	    T(test_batched_applies),
	    cmocka_unit_test(test_failed_batch_stops_applying),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
