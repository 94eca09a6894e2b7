/* repair.c - puts libraft 0.15's segment files back into a layout its
 * loader accepts, before raft_init reads them (canonical/raft#372).
 *
 * What libraft 0.15 (src/uv.c, uv_segment.c) does at start: it sorts the
 * closed segments "FIRST-LAST" with a comparator that assumes disjoint
 * ranges, walks back from the newest one while the ranges are contiguous,
 * and refuses when that run starts after the latest snapshot's index + 1
 * ("closed segment X is past last snapshot Y"); without a snapshot it
 * needs one contiguous run from index 1 ("unexpected closed segment").
 *
 * A truncation that never ran (#372: its barrier callback never fires while
 * a snapshot barrier is active) leaves the old segment A with a stale tail,
 * while the new entries went to a segment B that starts inside A
 * (A.first < B.first <= A.last). The inconsistent sort can then put A
 * between B and its successor, and the contiguous run no longer reaches the
 * snapshot. A's entries from B.first on are stale; the ones before are
 * good. So A is moved away when the snapshot covers its good part, and
 * otherwise replaced by a copy cut at B.first (batches are re-framed, not
 * re-encoded). Layouts with more than one reading are left alone.
 *
 * Upstream: canonical/raft#372, fixed by #435 (a second barrier's callback
 * is attached, so the truncation runs) in v0.18.0. A fixed libraft leaves
 * no new such layouts, but data dirs written by 0.15 may still hold one.
 * Still needed: test_raft_repair.py's "control" scenario starts libraft
 * 0.15 on the overlap with the repair off and sees it refuse. */
#include "repair.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../byteorder.h"
#include "../../log.h"

#define NAME_LEN 128
#define DISK_FORMAT 1 /* libraft's UV__DISK_FORMAT */
#define TMP_NAME "repair-tmp"

enum { KEEP = 0, MOVE, CUT };

typedef struct seg {
	uint64_t first, last;
	uint64_t cut;	/* first stale index; 0 when none */
	int supersedes; /* another segment's tail is stale because of it */
	int same_start; /* another segment starts at the same index */
	int action;	/* KEEP, MOVE or CUT */
	char name[NAME_LEN];
} seg;

typedef struct layout {
	seg *segs;
	size_t n, cap;
	size_t n_open;
	int have_snap;
	uint64_t snap_term, snap_index, snap_ts;
	char why[512]; /* why it cannot be repaired */
} layout;

/* ---- names ------------------------------------------------------------- */

/* 1..max decimal digits; advances *p. */
static int parse_num(const char **p, size_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;
	while (**p >= '0' && **p <= '9') {
		if (++n > max || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	if (n == 0)
		return -1;
	*out = v;
	return 0;
}

/* "%016llu-%016llu", as libraft's scanf template accepts it. */
static int parse_closed(const char *name, uint64_t *first, uint64_t *last)
{
	const char *p = name;
	if (parse_num(&p, 16, first) != 0 || *p++ != '-' ||
	    parse_num(&p, 16, last) != 0 || *p != '\0')
		return -1;
	return *first >= 1 && *first <= *last ? 0 : -1;
}

static int parse_open(const char *name)
{
	uint64_t counter;
	const char *p = name + 5;
	if (strncmp(name, "open-", 5) != 0)
		return -1;
	return parse_num(&p, 20, &counter) == 0 && *p == '\0' ? 0 : -1;
}

/* "snapshot-TERM-INDEX-TIMESTAMP.meta" */
static int parse_snap_meta(const char *name, uint64_t v[3])
{
	const char *p = name + 9;
	if (strncmp(name, "snapshot-", 9) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (parse_num(&p, 20, &v[i]) != 0)
			return -1;
		if (i < 2 && *p++ != '-')
			return -1;
	}
	return strcmp(p, ".meta") == 0 ? 0 : -1;
}

/* ---- scan -------------------------------------------------------------- */

static int add_seg(layout *l, const char *name, uint64_t first, uint64_t last)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		seg *s = realloc(l->segs, cap * sizeof(*s));
		if (s == NULL)
			return -1;
		l->segs = s;
		l->cap = cap;
	}
	seg *s = &l->segs[l->n++];
	memset(s, 0, sizeof(*s));
	s->first = first;
	s->last = last;
	snprintf(s->name, sizeof(s->name), "%s", name);
	return 0;
}

/* libraft only counts a snapshot whose data file exists and is not empty,
 * and takes the newest by (term, index, timestamp). */
static void consider_snapshot(layout *l, int dfd, const char *meta,
			      const uint64_t v[3])
{
	char data[NAME_LEN];
	struct stat st;
	size_t len = strlen(meta) - strlen(".meta");
	if (len >= sizeof(data))
		return;
	memcpy(data, meta, len);
	data[len] = '\0';
	if (fstatat(dfd, data, &st, 0) != 0 || st.st_size == 0)
		return;
	int newer = !l->have_snap || v[0] > l->snap_term ||
		    (v[0] == l->snap_term &&
		     (v[1] > l->snap_index ||
		      (v[1] == l->snap_index && v[2] > l->snap_ts)));
	if (newer) {
		l->have_snap = 1;
		l->snap_term = v[0];
		l->snap_index = v[1];
		l->snap_ts = v[2];
	}
}

static int scan(int dfd, layout *l)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *e;
	int rv = 0;
	while (rv == 0 && (e = readdir(d)) != NULL) {
		uint64_t first, last, v[3];
		if (strlen(e->d_name) >= NAME_LEN)
			continue;
		if (parse_closed(e->d_name, &first, &last) == 0)
			rv = add_seg(l, e->d_name, first, last);
		else if (parse_open(e->d_name) == 0)
			l->n_open++;
		else if (parse_snap_meta(e->d_name, v) == 0)
			consider_snapshot(l, dfd, e->d_name, v);
	}
	closedir(d);
	return rv;
}

static int cmp_seg(const void *a, const void *b)
{
	const seg *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	return 0;
}

/* ---- analysis ---------------------------------------------------------- */

/* Marks, for every segment A, the first index of a segment starting inside
 * it: A's entries from there on are stale. Segments are sorted by first. */
static void find_overlaps(layout *l)
{
	for (size_t i = 0; i < l->n; i++) {
		seg *a = &l->segs[i];
		for (size_t j = i + 1; j < l->n && l->segs[j].first <= a->last;
		     j++) {
			seg *b = &l->segs[j];
			if (b->first == a->first) {
				a->same_start = b->same_start = 1;
				continue;
			}
			if (a->cut == 0 || b->first < a->cut)
				a->cut = b->first;
			b->supersedes = 1;
		}
	}
}

static int refuse(layout *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(layout *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Chooses KEEP, MOVE or CUT per segment; -1 (l->why set) when a layout has
 * more than one reading. */
static int plan(layout *l)
{
	uint64_t covered = l->have_snap ? l->snap_index : 0;
	for (size_t i = 0; i < l->n; i++) {
		seg *s = &l->segs[i];
		if (s->same_start) {
			/* Which of two segments starting at one index is the
			 * newer cannot be told from names: only safe when the
			 * snapshot makes both useless. */
			if (s->last > covered)
				return refuse(l,
					      "two closed segments start at "
					      "index %llu (one is %s) and the "
					      "snapshot does not cover them",
					      (unsigned long long)s->first,
					      s->name);
			s->action = MOVE;
		} else if (s->cut != 0 && s->supersedes) {
			/* Stale itself and newer than another: two unfinished
			 * truncations, or old segments past the cut. */
			return refuse(l,
				      "closed segment %s both overlaps an "
				      "older segment and is overlapped by a "
				      "newer one",
				      s->name);
		} else if (s->cut != 0) {
			s->action = s->cut <= covered + 1 ? MOVE : CUT;
		}
	}
	return 0;
}

static uint64_t kept_last(const seg *s)
{
	return s->action == CUT ? s->cut - 1 : s->last;
}

/* Repeats libraft 0.15's start-up checks on the planned layout. */
static int check_loadable(layout *l)
{
	seg **k = malloc((l->n + 1) * sizeof(*k));
	size_t n = 0;
	if (k == NULL)
		return refuse(l, "out of memory");
	for (size_t i = 0; i < l->n; i++)
		if (l->segs[i].action != MOVE)
			k[n++] = &l->segs[i];
	int rv = 0;
	if (n == 0) {
		rv = 0;
	} else if (!l->have_snap) {
		if (k[0]->first != 1)
			rv =
			    refuse(l,
				   "no snapshot, and the log starts at "
				   "index %llu (%s), not 1",
				   (unsigned long long)k[0]->first, k[0]->name);
		for (size_t i = 1; rv == 0 && i < n; i++)
			if (kept_last(k[i - 1]) + 1 != k[i]->first)
				rv = refuse(l,
					    "no snapshot, and the log has a "
					    "gap before %s",
					    k[i]->name);
	} else if (kept_last(k[n - 1]) >= l->snap_index || l->n_open > 0) {
		size_t i = n - 1;
		while (i > 0 && kept_last(k[i - 1]) + 1 == k[i]->first)
			i--;
		if (k[i]->first > l->snap_index + 1)
			rv = refuse(l,
				    "entries %llu-%llu are in no segment: the "
				    "log (from %s) starts past the snapshot "
				    "at %llu",
				    (unsigned long long)l->snap_index + 1,
				    (unsigned long long)k[i]->first - 1,
				    k[i]->name,
				    (unsigned long long)l->snap_index);
	}
	free(k);
	return rv;
}

/* ---- cutting a segment ------------------------------------------------- */

static uint32_t crc32_msb(const uint8_t *p, size_t n, uint32_t crc)
{
	/* libraft's byteCrc32: polynomial 0x04c11db7, MSB first, no final
	 * xor (libiberty's crc32). */
	while (n--) {
		crc ^= (uint32_t)*p++ << 24;
		for (int k = 0; k < 8; k++)
			crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u
						: crc << 1;
	}
	return crc;
}

static int read_all(int dfd, const char *name, uint8_t **buf, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	size_t got = 0;
	while (*buf != NULL && got < *len) {
		ssize_t r = read(fd, *buf + got, *len - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (*buf == NULL || got != *len) {
		free(*buf);
		return -1;
	}
	return 0;
}

/* Shrinks, in place, the checked batch at b to its first m entries: a
 * shorter header, the data moved up behind it, new checksums. */
static size_t reframe_batch(uint8_t *b, uint64_t m)
{
	size_t hdr = 8 + 16 * m, data = 0;
	for (uint64_t i = 0; i < m; i++)
		data += get_le32(b + 16 + 16 * i + 12);
	size_t old_hdr = 8 + 16 * get_le64(b + 8);
	put_le64(b + 8, m);
	memmove(b + 8 + hdr, b + 8 + old_hdr, data);
	put_le32(b, crc32_msb(b + 8, hdr, 0));
	put_le32(b + 4, crc32_msb(b + 8 + hdr, data, 0));
	return 8 + hdr + data;
}

/* Checks one batch at off; sets its entry count and total size. */
static int check_batch(const uint8_t *f, size_t len, size_t off, uint64_t *n,
		       size_t *size, int *aligned)
{
	if (len - off < 16)
		return -1;
	*n = get_le64(f + off + 8);
	if (*n == 0 || *n > (len - off - 16) / 16)
		return -1;
	size_t hdr = 8 + 16 * *n, data = 0;
	*aligned = 1;
	for (uint64_t i = 0; i < *n; i++) {
		uint32_t sz = get_le32(f + off + 16 + 16 * i + 12);
		*aligned &= sz % 8 == 0;
		data += sz;
	}
	if (data > len - off - 8 - hdr)
		return -1;
	if (crc32_msb(f + off + 8, hdr, 0) != get_le32(f + off) ||
	    crc32_msb(f + off + 8 + hdr, data, 0) != get_le32(f + off + 4))
		return -1;
	*size = 8 + hdr + data;
	return 0;
}

/* The bytes of segment s holding its entries up to cut - 1, in out. */
static int cut_bytes(int dfd, const seg *s, uint8_t **out, size_t *out_len)
{
	uint8_t *f;
	size_t len, off = 8;
	uint64_t idx = s->first;
	if (read_all(dfd, s->name, &f, &len) != 0)
		return -1;
	if (len < 8 || get_le64(f) != DISK_FORMAT) {
		free(f);
		return -1;
	}
	while (idx < s->cut) {
		uint64_t n;
		size_t size;
		int aligned;
		if (check_batch(f, len, off, &n, &size, &aligned) != 0)
			break;
		if (idx + n <= s->cut) {
			off += size;
			idx += n;
			continue;
		}
		/* The cut falls inside this batch: libraft pads entry data to
		 * 8 bytes, and only then is a prefix of it a whole entry. */
		if (!aligned)
			break;
		off += reframe_batch(f + off, s->cut - idx);
		idx = s->cut;
	}
	if (idx != s->cut) {
		free(f);
		return -1;
	}
	*out = f;
	*out_len = off;
	return 0;
}

static int write_file(int dfd, const char *name, const uint8_t *buf, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	int rv = done == len && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	return rv;
}

/* ---- carrying out the plan --------------------------------------------- */

/* Never replaces a file: a repair that ran twice within one second shares
 * its repaired-* dir with the first. */
static int rename_new(int from_dir, const char *from, int to_dir,
		      const char *to)
{
	if (renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	struct stat st; /* a file system without RENAME_NOREPLACE */
	if (fstatat(to_dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(from_dir, from, to_dir, to);
}

static int sync_dir(int dfd)
{
	return fsync(dfd);
}

static int move_away(int dfd, const char *dir, const char *sub, int subfd,
		     const seg *s, const char *why)
{
	if (rename_new(dfd, s->name, subfd, s->name) != 0) {
		log_error("raft", "repair: moving %s/%s to %s/: %s", dir,
			  s->name, sub, strerror(errno));
		return -1;
	}
	log_warn("raft", "repair: moved %s to %s/ (%s)", s->name, sub, why);
	return 0;
}

static int cut_segment(int dfd, const char *dir, const char *sub, int subfd,
		       const seg *s)
{
	char name[NAME_LEN];
	uint8_t *buf;
	size_t len;
	snprintf(name, sizeof(name), "%016llu-%016llu",
		 (unsigned long long)s->first, (unsigned long long)s->cut - 1);
	/* The cut copy is synced before A moves: a crash in between leaves
	 * A in the repaired dir and the copy in TMP_NAME, never only a
	 * half-written segment under a name libraft reads. */
	if (cut_bytes(dfd, s, &buf, &len) != 0) {
		log_error("raft",
			  "repair: %s/%s has no readable entries up "
			  "to %llu; left as is",
			  dir, s->name, (unsigned long long)s->cut - 1);
		return -1;
	}
	int rv = write_file(dfd, TMP_NAME, buf, len);
	free(buf);
	if (rv != 0) {
		log_error("raft", "repair: writing %s/%s: %s", dir, TMP_NAME,
			  strerror(errno));
		return -1;
	}
	char why[NAME_LEN + 64];
	snprintf(why, sizeof(why), "stale from %llu; replaced by %s",
		 (unsigned long long)s->cut, name);
	if (move_away(dfd, dir, sub, subfd, s, why) != 0)
		return -1;
	if (rename_new(dfd, TMP_NAME, dfd, name) != 0) {
		log_error("raft", "repair: renaming %s/%s to %s: %s", dir,
			  TMP_NAME, name, strerror(errno));
		return -1;
	}
	log_warn("raft",
		 "repair: wrote %s: entries %llu-%llu of %s; %llu-%llu were "
		 "stale (superseded by the segment starting at %llu)",
		 name, (unsigned long long)s->first,
		 (unsigned long long)s->cut - 1, s->name,
		 (unsigned long long)s->cut, (unsigned long long)s->last,
		 (unsigned long long)s->cut);
	return 0;
}

static int open_repaired_dir(int dfd, char *sub, size_t len)
{
	snprintf(sub, len, "repaired-%lld", (long long)time(NULL));
	if (mkdirat(dfd, sub, 0700) != 0 && errno != EEXIST)
		return -1;
	return openat(dfd, sub, O_RDONLY | O_DIRECTORY);
}

static void describe_move(const layout *l, const seg *s, char *why, size_t len)
{
	if (s->same_start)
		snprintf(why, len,
			 "starts at the same index as another segment; all "
			 "of it is covered by snapshot %llu",
			 (unsigned long long)l->snap_index);
	else
		snprintf(
		    why, len,
		    "entries %llu-%llu superseded by the segment "
		    "starting at %llu, %llu-%llu covered by snapshot "
		    "%llu",
		    (unsigned long long)s->cut, (unsigned long long)s->last,
		    (unsigned long long)s->cut, (unsigned long long)s->first,
		    (unsigned long long)s->cut - 1,
		    (unsigned long long)l->snap_index);
}

static int execute(int dfd, const char *dir, layout *l)
{
	char sub[64], why[256];
	int subfd = open_repaired_dir(dfd, sub, sizeof(sub));
	if (subfd < 0) {
		log_error("raft", "repair: cannot create %s/%s: %s", dir, sub,
			  strerror(errno));
		return -1;
	}
	int rv = 0;
	for (size_t i = 0; rv == 0 && i < l->n; i++) {
		seg *s = &l->segs[i];
		if (s->action == MOVE) {
			describe_move(l, s, why, sizeof(why));
			rv = move_away(dfd, dir, sub, subfd, s, why);
		} else if (s->action == CUT) {
			rv = cut_segment(dfd, dir, sub, subfd, s);
		}
	}
	if (sync_dir(subfd) != 0 || sync_dir(dfd) != 0)
		rv = -1;
	close(subfd);
	return rv;
}

/* Every cut is tried before anything changes, so a segment whose entries
 * do not read back (bad checksum, short file) stops the whole repair. */
static int verify_cuts(int dfd, layout *l)
{
	for (size_t i = 0; i < l->n; i++) {
		seg *s = &l->segs[i];
		uint8_t *buf;
		size_t len;
		if (s->action != CUT)
			continue;
		if (cut_bytes(dfd, s, &buf, &len) != 0)
			return refuse(l,
				      "closed segment %s overlaps the one "
				      "starting at %llu, but its entries up "
				      "to %llu do not read back intact",
				      s->name, (unsigned long long)s->cut,
				      (unsigned long long)s->cut - 1);
		free(buf);
	}
	return 0;
}

static int needs_work(const layout *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->segs[i].action != KEEP)
			return 1;
	return 0;
}

static void log_refusal(const char *dir, const layout *l)
{
	log_error("raft",
		  "raft log in %s cannot be repaired safely: %s. Files left "
		  "as they are; libraft will refuse to start. Recovery: stop "
		  "ovld, move the data dir away, and start it again with "
		  "--join <any member> (it catches up from a snapshot)",
		  dir, l->why);
}

int raftnode_repair_segments(const char *raft_dir)
{
	const char *env = getenv("OVLD_RAFT_REPAIR");
	if (env != NULL && strcmp(env, "off") == 0) {
		log_warn("raft", "repair: skipped (OVLD_RAFT_REPAIR=off)");
		return REPAIR_CLEAN;
	}
	int dfd = open(raft_dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return errno == ENOENT ? REPAIR_CLEAN : REPAIR_IOERR;
	layout l;
	memset(&l, 0, sizeof(l));
	int rv = REPAIR_CLEAN;
	if (scan(dfd, &l) != 0) {
		log_error("raft", "repair: reading %s: %s", raft_dir,
			  strerror(errno));
		rv = REPAIR_IOERR;
	} else {
		if (l.n > 1) /* a fresh dir has no segments (segs is NULL) */
			qsort(l.segs, l.n, sizeof(*l.segs), cmp_seg);
		find_overlaps(&l);
		if (plan(&l) != 0 || check_loadable(&l) != 0 ||
		    verify_cuts(dfd, &l) != 0) {
			log_refusal(raft_dir, &l);
			rv = REPAIR_REFUSED;
		} else if (needs_work(&l)) {
			rv = execute(dfd, raft_dir, &l) == 0 ? REPAIR_FIXED
							     : REPAIR_IOERR;
		}
	}
	free(l.segs);
	close(dfd);
	return rv;
}
