/* fuzz_snapshot.c - libFuzzer target for the store's snapshot loader
 * (store_restore) and for everything that later reads what it loaded.
 *
 * A follower restores whatever snapshot the leader sends, so a malformed
 * one must be refused, and one that passes the checks must leave a store
 * that reads, applies, expires and snapshots again without a crash.
 *
 * Input: byte 0 holds flags, the rest is the snapshot. Flag bit 0 set:
 * the trailing checksum is recomputed first, so mutations get past
 * it and reach the section parser; clear: the input is used as is (the
 * checksum check itself is fuzzed).
 *
 * Each input gets a fresh store (a restore never goes back to an older
 * Raft index). OVLD_FUZZ_SEEDS=DIR writes seed snapshots and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store/store.h"

/* Scratch stores go under $OVLD_FUZZ_TMP (tools/sanitize.sh points it at
 * a directory it deletes, as a crash skips atexit), else /dev/shm. */
static void tmp_template(char *out, size_t n, const char *what)
{
	const char *tmp = getenv("OVLD_FUZZ_TMP");
	snprintf(out, n, "%s/ovld-fuzz-%s-XXXXXX", tmp ? tmp : "/dev/shm",
		 what);
}

static char base[4096];

static void remove_store(const char *dir)
{
	char path[4200];
	const char *files[] = {"data.mdb", "lock.mdb", "ovld-store.lock"};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void cleanup(void)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/s", base);
	remove_store(dir);
	rmdir(base);
}

static store *fresh(void)
{
	char dir[4200];
	store *s;
	store_config cfg = {.map_size = 64u << 20};
	snprintf(dir, sizeof(dir), "%s/s", base);
	remove_store(dir);
	if (store_open(&s, dir, &cfg) != 0)
		abort();
	return s;
}

static void put(store *s, uint64_t ri, const char *path, const char *value,
		int64_t expire)
{
	store_cmd c = {.op = STORE_OP_PUT,
		       .path = path,
		       .path_len = strlen(path),
		       .value = value,
		       .value_len = value ? strlen(value) : 0,
		       .prev_exist = -1,
		       .dir = value == NULL,
		       .expire_ns = expire,
		       .now_ns = 1700000000000000000LL};
	store_result r;
	if (store_apply(s, &c, ri, &r) != 0)
		abort();
	store_result_free(&r);
}

static void write_seed(const char *out, const char *name, store *s, uint64_t ri)
{
	store_snap *snap;
	void *buf;
	size_t len;
	char path[4096];
	if (store_snapshot_begin(s, ri, &snap) != 0 ||
	    store_snapshot_write(snap, &buf, &len) != 0)
		abort();
	store_snapshot_end(snap);
	snprintf(path, sizeof(path), "%s/%s", out, name);
	FILE *f = fopen(path, "wb");
	uint8_t flags = 1;
	if (f == NULL || fwrite(&flags, 1, 1, f) != 1 ||
	    fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
	store_snapshot_free(buf, len);
}

static void seeds(const char *out)
{
	store *s = fresh();
	write_seed(out, "empty", s, 1);
	put(s, 2, "/a/b", "v1", 0);
	put(s, 3, "/a/_hidden", "h", 0);
	put(s, 4, "/d", NULL, 0);
	put(s, 5, "/t", "ttl", 1700000001000000000LL);
	store_cmd m = {.op = STORE_OP_META_PUT,
		       .path = "members/1",
		       .path_len = 9,
		       .value = "{\"name\":\"h1\"}",
		       .value_len = 13,
		       .prev_exist = -1};
	if (store_apply(s, &m, 6, NULL) != 0)
		abort();
	write_seed(out, "small", s, 6);
	store_close(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	tmp_template(base, sizeof(base), "snapshot");
	if (mkdtemp(base) == NULL)
		abort();
	atexit(cleanup);
	const char *out = getenv("OVLD_FUZZ_SEEDS");
	if (out) {
		seeds(out);
		exit(0);
	}
	log_set_level(LOG_LVL_ERROR + 1);
	return 0;
}

/* What a follower does with its store after a restore. */
static void exercise(store *s)
{
	store_result r;
	if (store_get(s, "/", 1, 1, &r) == 0)
		store_result_free(&r);
	uint64_t start = store_history_start(s);
	int found = 0;
	store_event ev;
	memset(&ev, 0, sizeof(ev));
	memset(&r, 0, sizeof(r));
	if (store_history_find(s, start, "/", 1, &found, &ev, &r) == 0 &&
	    found) {
		store_result tmp = {.ev = ev};
		store_result_free(&tmp);
	}
	store_result_free(&r);
	uint64_t ri = store_applied_raft_index(s);
	store_cmd c = {.op = STORE_OP_EXPIRE,
		       .path = "/",
		       .path_len = 1,
		       .prev_exist = -1,
		       .now_ns = INT64_MAX};
	store_apply(s, &c, ++ri, NULL);
	store_cmd d = {.op = STORE_OP_DELETE,
		       .path = "/a",
		       .path_len = 2,
		       .dir = 1,
		       .recursive = 1,
		       .prev_exist = -1};
	store_apply(s, &d, ++ri, NULL);
	store_cmd p = {.op = STORE_OP_PUT,
		       .path = "/a/b/c",
		       .path_len = 6,
		       .value = "x",
		       .value_len = 1,
		       .prev_exist = -1};
	store_apply(s, &p, ++ri, NULL);
	store_snap *snap;
	void *buf;
	size_t len;
	if (store_snapshot_begin(s, ri, &snap) == 0) {
		if (store_snapshot_write(snap, &buf, &len) == 0)
			store_snapshot_free(buf, len);
		store_snapshot_end(snap);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t len = size - 1;
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, len);
	if ((data[0] & 1) && len >= 8) {
		uint64_t h = store_snapshot_sum(buf, len);
		for (int i = 0; i < 8; i++, h >>= 8)
			buf[len - 8 + i] = (uint8_t)h;
	}
	store *s = fresh();
	/* A restore that succeeds takes the snapshot's store index. */
	if (store_restore(s, buf, len) == 0 && len >= 24 &&
	    store_applied_raft_index(s) != 0) {
		uint64_t want = 0;
		for (int i = 7; i >= 0; i--)
			want = want << 8 | buf[16 + i];
		if (store_current_index(s) != want)
			abort();
	}
	exercise(s);
	store_close(s);
	free(buf);
	return 0;
}
