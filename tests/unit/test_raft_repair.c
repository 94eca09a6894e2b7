/* test_raft_repair.c - the segment repair run before raft_init: which
 * layouts it leaves alone, which it moves or cuts, which it refuses, and
 * that a refusal or a healthy dir changes no file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/compat/repair.h"

/* ---- a scratch raft dir ---------------------------------------------- */

static char *scratch(void)
{
	char tmpl[] = "/tmp/test_raft_repair.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void put_file(const char *dir, const char *name, const void *buf,
		     size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void put_seg(const char *dir, unsigned long long first,
		    unsigned long long last)
{
	char name[64];
	snprintf(name, sizeof(name), "%016llu-%016llu", first, last);
	put_file(dir, name, "garbage!", 8);
}

static void put_snapshot(const char *dir, unsigned long long index)
{
	char name[64];
	snprintf(name, sizeof(name), "snapshot-1-%llu-1000", index);
	put_file(dir, name, "data", 4);
	strcat(name, ".meta");
	put_file(dir, name, "meta", 4);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "name name ..." of dir; repaired-* dirs appear as "repaired". */
static void listing(const char *dir, char *out, size_t len)
{
	char *names[64];
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL && n < 64) {
		if (e->d_name[0] == '.')
			continue;
		names[n++] =
		    strdup(strncmp(e->d_name, "repaired-", 9) == 0 ? "repaired"
								   : e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(out, names[i], len - strlen(out) - 2);
		strcat(out, " ");
		free(names[i]);
	}
}

/* The one repaired-* subdirectory's listing. */
static void repaired_listing(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char sub[512] = "";
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "repaired-", 9) == 0)
			snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
	closedir(d);
	assert_true(sub[0] != '\0');
	listing(sub, out, len);
}

static void remove_tree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#define S(a, b) "0000000000" #a "-0000000000" #b " "

/* ---- libraft 0.15's segment format, written independently ------------- */

static uint32_t crc(const uint8_t *p, size_t n)
{
	uint32_t c = 0;
	for (size_t i = 0; i < n; i++) {
		c ^= (uint32_t)p[i] << 24;
		for (int k = 0; k < 8; k++)
			c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
	}
	return c;
}

static void le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Entries first..last, per entries a batch, 8 bytes of data each (the
 * index), as the segment file libraft would write. */
static size_t encode(uint64_t first, uint64_t last, unsigned per, uint8_t *out)
{
	size_t off = 8;
	le(out, 1, 8);
	for (uint64_t i = first; i <= last; i += per) {
		unsigned n =
		    last - i + 1 < per ? (unsigned)(last - i + 1) : per;
		uint8_t *b = out + off, *hdr = b + 8, *data = hdr + 8 + 16 * n;
		le(hdr, n, 8);
		for (unsigned k = 0; k < n; k++) {
			uint8_t *d = hdr + 8 + 16 * k;
			memset(d, 0, 16);
			le(d, 3, 8);	  /* term */
			d[8] = 1;	  /* RAFT_COMMAND */
			le(d + 12, 8, 4); /* size */
			le(data + 8 * k, i + k, 8);
		}
		le(b, crc(hdr, 8 + 16 * n), 4);
		le(b + 4, crc(data, 8 * n), 4);
		off += 8 + 8 + 16 * n + 8 * n;
	}
	return off;
}

static void put_real_seg(const char *dir, uint64_t first, uint64_t last)
{
	static uint8_t buf[65536];
	char name[64];
	snprintf(name, sizeof(name), "%016llu-%016llu",
		 (unsigned long long)first, (unsigned long long)last);
	put_file(dir, name, buf, encode(first, last, 3, buf));
}

/* Runs the repair on d, expects want and no file changed, then removes d. */
static void expect_untouched(char *d, int want)
{
	char before[2048], after[2048];
	listing(d, before, sizeof(before));
	assert_int_equal(raftnode_repair_segments(d), want);
	listing(d, after, sizeof(after));
	assert_string_equal(before, after);
	remove_tree(d);
	free(d);
}

/* ---- cases -------------------------------------------------------------- */

static void healthy_dir_is_left_alone(void **state)
{
	char *d = scratch();
	put_seg(d, 1, 1);
	put_seg(d, 2, 100);
	put_seg(d, 101, 200);
	put_file(d, "open-1", "", 0);
	put_file(d, "metadata1", "m", 1);
	put_snapshot(d, 150);
	expect_untouched(d, REPAIR_CLEAN);
}

static void log_without_snapshot_is_left_alone(void **state)
{
	char *d = scratch();
	put_seg(d, 1, 1);
	put_seg(d, 2, 50);
	put_file(d, "open-3", "", 0);
	expect_untouched(d, REPAIR_CLEAN);
}

static void covered_overlap_is_moved(void **state)
{
	char *d = scratch(), after[2048], moved[512];
	put_seg(d, 1, 100);
	put_seg(d, 101, 210); /* stale from 201 */
	put_seg(d, 201, 300);
	put_seg(d, 301, 400);
	put_snapshot(d, 250);
	assert_int_equal(raftnode_repair_segments(d), REPAIR_FIXED);
	listing(d, after, sizeof(after));
	assert_string_equal(after,
			    S(000001, 000100) S(000201, 000300)
				S(000301, 000400) "repaired "
						  "snapshot-1-250-1000 "
						  "snapshot-1-250-1000.meta ");
	repaired_listing(d, moved, sizeof(moved));
	assert_string_equal(moved, S(000101, 000210));
	/* A second run finds nothing to do. */
	assert_int_equal(raftnode_repair_segments(d), REPAIR_CLEAN);
	remove_tree(d);
	free(d);
}

static void uncovered_overlap_is_cut_inside_a_batch(void **state)
{
	char *d = scratch(), after[2048], moved[512], path[600];
	static uint8_t want[65536], got[65536];
	put_real_seg(d, 1, 1);
	put_real_seg(d, 2, 100);
	put_real_seg(d, 101, 210); /* batches of 3 from 101: 200-202 */
	put_real_seg(d, 201, 300);
	put_real_seg(d, 301, 400);
	put_snapshot(d, 150); /* entries 151-200 of 101-210 are needed */
	assert_int_equal(raftnode_repair_segments(d), REPAIR_FIXED);
	listing(d, after, sizeof(after));
	assert_string_equal(
	    after, S(000001, 000001) S(000002, 000100) S(000101, 000200)
		       S(000201, 000300)
			   S(000301, 000400) "repaired "
					     "snapshot-1-150-1000 "
					     "snapshot-1-150-1000.meta ");
	repaired_listing(d, moved, sizeof(moved));
	assert_string_equal(moved, S(000101, 000210));
	size_t n = encode(101, 200, 3, want);
	snprintf(path, sizeof(path), "%s/" S(000101, 000200), d);
	path[strlen(path) - 1] = '\0';
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got), f), n);
	fclose(f);
	assert_memory_equal(got, want, n);
	remove_tree(d);
	free(d);
}

/* Layouts the repair must refuse, leaving every file as it was. */
typedef struct refusal {
	const char *why;
	uint64_t segs[3][2]; /* first, last; a zero row ends the list */
	uint64_t snapshot;
} refusal;

static const refusal refusals[] = {
    {"a cut that cannot be read back (the files hold no entries)",
     {{1, 100}, {101, 210}, {201, 300}},
     150},
    {"two segments start at one index, the snapshot covers neither",
     {{1, 100}, {101, 150}, {101, 200}},
     120},
    {"90-150 overlaps 1-100 and is overlapped by 140-200",
     {{1, 100}, {90, 150}, {140, 200}},
     180},
    {"a gap between the snapshot and the log", {{1, 100}, {201, 300}}, 150},
};

static void refused_layouts_are_untouched(void **state)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const refusal *r = &refusals[i];
		char *d = scratch();
		for (int k = 0; k < 3 && r->segs[k][0]; k++)
			put_seg(d, r->segs[k][0], r->segs[k][1]);
		put_snapshot(d, r->snapshot);
		print_message("refused? %s\n", r->why);
		expect_untouched(d, REPAIR_REFUSED);
	}
}

static void switch_off_touches_nothing(void **state)
{
	char *d = scratch();
	put_seg(d, 1, 100);
	put_seg(d, 101, 210);
	put_seg(d, 201, 300);
	put_snapshot(d, 250);
	setenv("OVLD_RAFT_REPAIR", "off", 1);
	expect_untouched(d, REPAIR_CLEAN);
	unsetenv("OVLD_RAFT_REPAIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(healthy_dir_is_left_alone),
	    cmocka_unit_test(log_without_snapshot_is_left_alone),
	    cmocka_unit_test(covered_overlap_is_moved),
	    cmocka_unit_test(uncovered_overlap_is_cut_inside_a_batch),
	    cmocka_unit_test(refused_layouts_are_untouched),
	    cmocka_unit_test(switch_off_touches_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
