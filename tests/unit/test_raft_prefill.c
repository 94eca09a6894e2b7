/* test_raft_prefill.c - the posix_fallocate ovld defines for libraft: a
 * new open segment in a registered raft dir gets written (not unwritten)
 * blocks of zeros; a file with data, a file of another name, or a file in
 * another directory is only reserved, and never has its bytes changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/compat/prefill.h"

#define SIZE (3 << 20)

/* Under the build dir, not /tmp: tmpfs has no unwritten extents. */
static char *scratch(const char *tag)
{
	char tmpl[256];
	snprintf(tmpl, sizeof(tmpl), "test_raft_prefill.%s.XXXXXX", tag);
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return realpath(d, NULL);
}

static int open_in(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_DSYNC, 0600);
	assert_true(fd >= 0);
	return fd;
}

/* 1: some extent is unwritten; 0: none is; -1: the fs cannot tell. */
static int has_unwritten(int fd)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent ext[64];
	} q;
	memset(&q, 0, sizeof(q));
	q.fm.fm_length = FIEMAP_MAX_OFFSET;
	q.fm.fm_flags = FIEMAP_FLAG_SYNC;
	q.fm.fm_extent_count = 64;
	if (ioctl(fd, FS_IOC_FIEMAP, &q.fm) != 0)
		return -1;
	for (unsigned i = 0; i < q.fm.fm_mapped_extents; i++)
		if (q.fm.fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN)
			return 1;
	return 0;
}

static void assert_zeros(int fd, off_t from, off_t to)
{
	static char buf[1 << 16];
	for (off_t at = from; at < to;) {
		ssize_t n = pread(fd, buf, sizeof(buf), at);
		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 0);
		at += n;
	}
}

static void remove_dir(char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void new_segment_is_written(void **state)
{
	char *dir = scratch("raft");
	raftnode_prefill_register(dir);
	int seg = open_in(dir, "open-1");
	int other = open_in(dir, "metadata1");
	assert_int_equal(posix_fallocate(seg, 0, SIZE), 0);
	assert_int_equal(posix_fallocate(other, 0, SIZE), 0);
	struct stat st;
	assert_int_equal(fstat(seg, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	assert_zeros(seg, 0, SIZE);
	/* The control file shows whether this fs has unwritten extents. */
	int control = has_unwritten(other);
	if (control == 1)
		assert_int_equal(has_unwritten(seg), 0);
	else
		print_message("fs has no unwritten extents (%d); sizes and "
			      "contents checked only\n",
			      control);
	close(seg);
	close(other);
	remove_dir(dir);
}

static void data_is_never_overwritten(void **state)
{
	char *dir = scratch("raft");
	raftnode_prefill_register(dir);
	int seg = open_in(dir, "open-2");
	assert_int_equal(pwrite(seg, "entries!", 8, 0), 8);
	assert_int_equal(posix_fallocate(seg, 0, SIZE), 0);
	char buf[8];
	assert_int_equal(pread(seg, buf, 8, 0), 8);
	assert_memory_equal(buf, "entries!", 8);
	assert_zeros(seg, 8, SIZE);
	close(seg);
	remove_dir(dir);
}

static void other_dirs_are_only_reserved(void **state)
{
	char *dir = scratch("raft");
	char *elsewhere = scratch("other");
	raftnode_prefill_register(dir);
	int seg = open_in(elsewhere, "open-1");
	int control = open_in(elsewhere, "data.mdb");
	assert_int_equal(posix_fallocate(seg, 0, SIZE), 0);
	assert_int_equal(posix_fallocate(control, 0, SIZE), 0);
	int want = has_unwritten(control);
	assert_int_equal(has_unwritten(seg), want);
	close(seg);
	close(control);
	remove_dir(dir);
	remove_dir(elsewhere);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(new_segment_is_written),
	    cmocka_unit_test(data_is_never_overwritten),
	    cmocka_unit_test(other_dirs_are_only_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
