/* test_store_perf.c - the store's resource budget: 100k keys of 256 bytes
 * (the Docker-sized case) stay within 40 MiB of anonymous memory, an
 * apply costs microseconds, and reads of the loaded store stay cheap.
 * OVLD_PERF_KEYS overrides the key count (e.g. under valgrind, where the
 * time and memory limits are not checked). */
#include <time.h>

#include "test_store_util.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void test_100k_keys(void **state)
{
	tstore *t = *state;
	const char *env = getenv("OVLD_PERF_KEYS");
	int n = env ? atoi(env) : 100000;
	int strict = env == NULL;
	char value[257], key[96];
	memset(value, 'v', 256);
	value[256] = '\0';
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		/* Docker-like layout: 100 networks x 1000 endpoints */
		snprintf(key, sizeof(key),
			 "/docker/network/v1.0/endpoint/net%03d/ep%06d",
			 i % 100, i);
		store_cmd c = cmd_put(key, value);
		store_result r;
		assert_int_equal(store_apply(t->s, &c, ++t->raft, &r), 0);
		assert_int_equal(r.error, 0);
		store_result_free(&r);
	}
	double per = (now_s() - t0) / n * 1e6;
	long anon = rss_anon_kib();
	print_message("%d applies: %.1f us each; RssAnon %ld KiB\n", n, per,
		      anon);
	assert_int_equal(store_key_count(t->s), (size_t)n + 104);

	/* a CAS and a listing on the loaded store */
	t0 = now_s();
	store_result r = get_ok(t, "/docker/network/v1.0/endpoint/net007", 0);
	double list_ms = (now_s() - t0) * 1e3;
	assert_int_equal(r.ev.node.n_children, (size_t)(n / 100));
	store_result_free(&r);
	int found;
	store_event ev;
	t0 = now_s();
	store_history_find(t->s, 1, "/quiet", 1, &found, &ev, NULL);
	double scan_ms = (now_s() - t0) * 1e3;
	assert_false(found);
	print_message("list of %d children: %.2f ms; history scan of %d "
		      "events: %.2f ms\n",
		      n / 100, list_ms, n, scan_ms);
	/* a snapshot of the loaded store */
	store_snap *sn;
	void *buf;
	size_t len;
	t0 = now_s();
	assert_int_equal(store_snapshot_begin(t->s, t->raft, &sn), 0);
	assert_int_equal(store_snapshot_write(sn, &buf, &len), 0);
	store_snapshot_end(sn);
	double snap_ms = (now_s() - t0) * 1e3;
	print_message("snapshot: %zu bytes in %.1f ms\n", len, snap_ms);
	assert_true(len > (size_t)n * 256);
	free(buf);
	if (strict) {
		assert_true(anon > 0 && anon <= 40 * 1024);
		assert_true(per < 100.0); /* Debug build, shared machine */
	}
}

static int setup_big(void **state)
{
	tstore *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/ovld-store-perf-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	if (store_open(&t->s, t->dir, NULL) != 0)
		return -1;
	*state = t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_100k_keys, setup_big,
					    teardown_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
