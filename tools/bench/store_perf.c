/* store_perf.c - the store's resource budget as a benchmark: 100k keys of
 * 256 bytes (the Docker-sized case) applied one by one, then a listing, a
 * history scan and a snapshot of the loaded store. Prints each figure next
 * to its budget (40 MiB of anonymous memory, 100 us per apply); machines
 * differ, so a figure over budget is reported, not failed. Exits non-zero
 * only when the store answers wrongly.
 *
 * Usage: build/bench_store_perf [KEYS]   (default 100000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define BUDGET_ANON_KIB (40 * 1024)
#define BUDGET_APPLY_US 100.0

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

static int wrong(const char *what)
{
	fprintf(stderr, "store_perf: wrong answer: %s\n", what);
	return 1;
}

static const char *verdict(int within)
{
	return within ? "within budget" : "OVER budget";
}

/* Docker-like layout: 100 networks x n/100 endpoints. */
static int load(store *s, int n, uint64_t *raft)
{
	char value[257], key[96];
	memset(value, 'v', 256);
	value[256] = '\0';
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key),
			 "/docker/network/v1.0/endpoint/net%03d/ep%06d",
			 i % 100, i);
		store_cmd c = {.op = STORE_OP_PUT,
			       .path = key,
			       .path_len = strlen(key),
			       .value = value,
			       .value_len = 256,
			       .prev_exist = -1};
		store_result r;
		if (store_apply(s, &c, ++*raft, &r) != 0 || r.error != 0)
			return wrong("a put failed");
		store_result_free(&r);
	}
	double per = (now_s() - t0) / n * 1e6;
	long anon = rss_anon_kib();
	printf("%d applies: %.1f us each (budget %.0f: %s)\n", n, per,
	       BUDGET_APPLY_US, verdict(per < BUDGET_APPLY_US));
	printf("RssAnon %ld KiB (budget %d: %s)\n", anon, BUDGET_ANON_KIB,
	       verdict(anon > 0 && anon <= BUDGET_ANON_KIB));
	return 0;
}

static int read_back(store *s, int n)
{
	double t0 = now_s();
	store_result r;
	if (store_get(s, "/docker/network/v1.0/endpoint/net007", 0, 1, &r) !=
		0 ||
	    r.error != 0 || r.ev.node.n_children != (size_t)(n / 100))
		return wrong("the listing of one network");
	store_result_free(&r);
	double list_ms = (now_s() - t0) * 1e3;
	int found;
	store_event ev;
	t0 = now_s();
	store_history_find(s, 1, "/quiet", 1, &found, &ev, NULL);
	double scan_ms = (now_s() - t0) * 1e3;
	if (found)
		return wrong("history scan found an event under /quiet");
	printf("list of %d children: %.2f ms; history scan of %d events: "
	       "%.2f ms\n",
	       n / 100, list_ms, n, scan_ms);
	return 0;
}

static int snapshot(store *s, int n, uint64_t raft)
{
	store_snap *sn;
	void *buf;
	size_t len;
	double t0 = now_s();
	if (store_snapshot_begin(s, raft, &sn) != 0)
		return wrong("snapshot begin");
	int rc = store_snapshot_write(sn, &buf, &len);
	store_snapshot_end(sn);
	if (rc != 0 || len <= (size_t)n * 256)
		return wrong("snapshot too small");
	printf("snapshot: %zu bytes in %.1f ms\n", len, (now_s() - t0) * 1e3);
	store_snapshot_free(buf, len);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;
	char dir[] = "/tmp/ovld-store-perf-XXXXXX";
	store *s;
	uint64_t raft = 0;
	if (n < 100 || mkdtemp(dir) == NULL || store_open(&s, dir, NULL) != 0) {
		fprintf(stderr, "usage: %s [KEYS >= 100]\n", argv[0]);
		return 2;
	}
	int rc = load(s, n, &raft);
	/* the keys, their 100 network dirs and the 4 dirs above those */
	if (rc == 0 && store_key_count(s) != (size_t)n + 104)
		rc = wrong("key count after the load");
	if (rc == 0)
		rc = read_back(s, n);
	if (rc == 0)
		rc = snapshot(s, n, raft);
	store_close(s);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rc;
}
