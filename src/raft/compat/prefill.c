/* prefill.c - raft's open segments get written blocks, not reserved ones.
 *
 * canonical/raft 0.15 creates each open segment (8 MiB, "open-N") with
 * posix_fallocate, which leaves unwritten extents on ext4 and xfs. It then
 * writes entries with O_DIRECT and RWF_NOWAIT through kernel AIO, and the
 * kernel refuses a NOWAIT direct write into an unwritten extent (it would
 * have to convert the extent, which may block): every append comes back
 * EAGAIN and is redone on a libuv worker thread, two more thread hops on
 * the commit path of every host.
 *
 * libraft has no option for this, so ovld defines posix_fallocate itself
 * (libraft.so resolves it here first, like any symbol the executable
 * defines). For a new, empty file named open-* in a raft directory this
 * process registered, the range is also written with zeros once, on the
 * worker that prepares segments, ahead of need; everything else goes
 * straight to the C library's posix_fallocate.
 *
 * Upstream: no issue or fix. canonical/raft's last release, v0.18.1, still
 * preallocates open segments with posix_fallocate (src/uv_os.c) and still
 * retries an EAGAIN from a RWF_NOWAIT write on a thread (src/uv_writer.c);
 * #474 (v0.18.0) only changed the emulation for file systems without
 * fallocate. Still needed: test_raft_prefill shows that libc's
 * posix_fallocate leaves unwritten extents here and that the prefilled
 * segment has none. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prefill.h"

#define PREFILL_DIRS 8
#define ZERO_CHUNK (1 << 20)

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static char *dirs[PREFILL_DIRS];

void raftnode_prefill_register(const char *raft_dir)
{
	char *real = realpath(raft_dir, NULL);
	if (real == NULL)
		return;
	pthread_mutex_lock(&dirs_lock);
	for (int i = 0; i < PREFILL_DIRS; i++)
		if (dirs[i] == NULL || strcmp(dirs[i], real) == 0) {
			free(dirs[i]);
			dirs[i] = real;
			real = NULL;
			break;
		}
	pthread_mutex_unlock(&dirs_lock);
	free(real); /* all slots taken: that node keeps raft's default */
}

static int in_registered_dir(const char *path, size_t dir_len)
{
	int found = 0;
	pthread_mutex_lock(&dirs_lock);
	for (int i = 0; i < PREFILL_DIRS && dirs[i] != NULL && !found; i++)
		found = strlen(dirs[i]) == dir_len &&
			memcmp(dirs[i], path, dir_len) == 0;
	pthread_mutex_unlock(&dirs_lock);
	return found;
}

/* A raft segment that nothing has been written to yet. */
static int is_fresh_segment(int fd)
{
	struct stat st;
	char link[64], path[PATH_MAX];
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	const char *base = strrchr(path, '/');
	return base != NULL && strncmp(base + 1, "open-", 5) == 0 &&
	       in_registered_dir(path, (size_t)(base - path));
}

static int write_zeros(int fd, off_t offset, off_t len)
{
	static const char zeros[ZERO_CHUNK];
	while (len > 0) {
		size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
		ssize_t w = pwrite(fd, zeros, n, offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		offset += w;
		len -= w;
	}
	return 0;
}

static int (*libc_fallocate)(int, off_t, off_t);
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static void find_libc_fallocate(void)
{
	libc_fallocate =
	    (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, "posix_fallocate");
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
	pthread_once(&libc_once, find_libc_fallocate);
	if (libc_fallocate == NULL)
		return ENOSYS;
	int fresh = is_fresh_segment(fd);
	int rc = libc_fallocate(fd, offset, len);
	/* The zeros only save a thread hop per write: if they cannot be
	 * written, the reserved segment works as raft meant it to. */
	if (rc == 0 && fresh)
		write_zeros(fd, offset, len);
	return rc;
}
