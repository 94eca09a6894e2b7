/* snapshot.c - the whole replicated state as one buffer, and back.
 *
 * Format (little-endian):
 *   "OVLDSNP2" u64 raft_index u64 store_index
 *   4 sections (nodes, expiry, meta user keys, history), each
 *     u64 count, count x (u32 klen, key, u32 vlen, value)
 *   u64 snap_hash of everything before it.
 * The sections are raw LMDB contents in LMDB order, so a restore appends.
 * "OVLDSNP1" (earlier builds) is the same with FNV-1a as the checksum; it
 * is still read, so a data dir survives the upgrade. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../log.h"
#include "store_int.h"

#define SNAP_MAGIC "OVLDSNP2"
#define SNAP_MAGIC_V1 "OVLDSNP1"
#define SNAP_HDR 24
#define N_SECTIONS 4

struct store_snap {
	store *s;
	MDB_txn *txn;
	uint64_t raft_index;
};

#define FNV_BASIS 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

/* FNV-1a's multiply per byte made the checksum most of a snapshot's CPU
 * (~4 cycles a byte, on a worker that shares the cores with the loop).
 * Four independent 64-bit lanes take 32 bytes a step instead; it only has
 * to catch a damaged file, not resist an adversary. The lanes can take the
 * blocks as a writer produces them, while the bytes are still in cache. */
typedef struct snap_lanes {
	uint64_t lane[4];
} snap_lanes;

static void snap_hash_init(snap_lanes *h)
{
	for (int l = 0; l < 4; l++)
		h->lane[l] = FNV_BASIS ^ (uint64_t)l;
}

/* n is a multiple of 32. */
static void snap_hash_blocks(snap_lanes *h, const unsigned char *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i + 32 <= n; i += 32)
		for (int l = 0; l < 4; l++) {
			uint64_t x = (h->lane[l] ^ get_le64(p + i + 8 * l)) * k;
			h->lane[l] = x ^ (x >> 32);
		}
}

/* total bytes hashed; tail is what is left after the last whole block. */
static uint64_t snap_hash_final(const snap_lanes *h, size_t total,
				const unsigned char *tail)
{
	uint64_t x = total;
	for (int l = 0; l < 4; l++)
		x = (x ^ h->lane[l]) * FNV_PRIME;
	return fnv1a(tail, total % 32, x);
}

static uint64_t snap_hash(const unsigned char *p, size_t n)
{
	snap_lanes h;
	snap_hash_init(&h);
	snap_hash_blocks(&h, p, n - n % 32);
	return snap_hash_final(&h, n, p + (n - n % 32));
}

/* The checksum the snapshot's magic says it was written with. */
static int snap_version(const unsigned char *p, size_t len)
{
	if (len < 8)
		return 0;
	if (memcmp(p, SNAP_MAGIC, 8) == 0)
		return 2;
	return memcmp(p, SNAP_MAGIC_V1, 8) == 0 ? 1 : 0;
}

int store_snapshot_begin(store *s, uint64_t raft_index, store_snap **snap)
{
	store_snap *sn = calloc(1, sizeof(*sn));
	if (sn == NULL)
		return -ENOMEM;
	/* its own transaction: it lives on into a worker thread */
	store_flush(s);
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &sn->txn);
	if (rc != 0) {
		free(sn);
		return store_lmdb_err(rc, "snapshot begin");
	}
	sn->s = s;
	/* Raft may have applied entries that never reach the store
	 * (configuration changes), so its index can be ahead of ours. */
	sn->raft_index = raft_index > s->applied ? raft_index : s->applied;
	*snap = sn;
	return 0;
}

/* The buffer a snapshot is written into. It is mapped on its own, sized
 * once from LMDB's page counts, so a snapshot neither grows a buffer
 * (copies, page faults) nor leaves tens of MB in malloc's arenas; huge
 * pages, where the kernel grants them, spare most page faults. */
typedef struct snap_out {
	unsigned char *p;
	size_t len, cap, hashed;
	snap_lanes h;
	int oom;
	int rehash; /* a count changed under hashed bytes: hash it all anew */
} snap_out;

#define SNAP_HASH_STEP (64 * 1024)
#define SNAP_HUGE_FROM (4u << 20)

static unsigned char *snap_map(size_t cap)
{
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (cap >= SNAP_HUGE_FROM)
		(void)madvise(p, cap, MADV_HUGEPAGE); /* advice only */
#endif
	return p;
}

/* Only if the bound was wrong: move to a mapping twice as large. */
static int snap_grow(snap_out *o, size_t need)
{
	size_t cap = o->cap;
	while (cap < need)
		cap *= 2;
	void *p = mremap(o->p, o->cap, cap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED) {
		o->oom = 1;
		return -1;
	}
	o->p = p;
	o->cap = cap;
	return 0;
}

static void snap_put(snap_out *o, const void *bytes, size_t n)
{
	if (o->oom || (o->len + n > o->cap && snap_grow(o, o->len + n) != 0))
		return;
	memcpy(o->p + o->len, bytes, n);
	o->len += n;
}

static void snap_put_le32(snap_out *o, uint32_t v)
{
	unsigned char le[4];
	put_le32(le, v);
	snap_put(o, le, 4);
}

static void snap_put_le64(snap_out *o, uint64_t v)
{
	unsigned char le[8];
	put_le64(le, v);
	snap_put(o, le, 8);
}

/* Hashes the whole blocks written since the last step. */
static void snap_hash_step(snap_out *o)
{
	size_t upto = o->len - o->len % 32;
	snap_hash_blocks(&o->h, o->p + o->hashed, upto - o->hashed);
	o->hashed = upto;
}

/* An upper bound of the serialized size: every record takes at least its
 * own bytes plus an 8-byte node header in LMDB's leaf or overflow pages,
 * and the snapshot adds 8 bytes of lengths. */
static size_t snap_bound(MDB_txn *txn, const MDB_dbi *dbis, int n)
{
	size_t bound = SNAP_HDR + 8 * (N_SECTIONS + 1);
	for (int i = 0; i < n; i++) {
		MDB_stat st;
		if (mdb_stat(txn, dbis[i], &st) == 0)
			bound += (st.ms_leaf_pages + st.ms_overflow_pages) *
				 (size_t)st.ms_psize;
	}
	return bound;
}

/* Appends one database (only keys starting with prefix, if given). The
 * count comes first, so a whole database is counted up front from LMDB's
 * statistics and hashed as it is written; a filtered one is counted as it
 * goes and hashed after (the user keys in meta are few). */
static int write_db(snap_out *o, MDB_txn *txn, MDB_dbi dbi, const char *prefix)
{
	size_t count_at = o->len, count = 0, pl = prefix ? strlen(prefix) : 0;
	MDB_stat st = {0};
	if (!prefix && mdb_stat(txn, dbi, &st) != 0)
		st.ms_entries = 0;
	snap_put_le64(o, st.ms_entries);
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !o->oom;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (pl && (k.mv_size < pl || memcmp(k.mv_data, prefix, pl)))
			continue;
		snap_put_le32(o, (uint32_t)k.mv_size);
		snap_put(o, k.mv_data, k.mv_size);
		snap_put_le32(o, (uint32_t)v.mv_size);
		snap_put(o, v.mv_data, v.mv_size);
		count++;
		if (!prefix && o->len - o->hashed >= SNAP_HASH_STEP)
			snap_hash_step(o);
	}
	mdb_cursor_close(c);
	if (o->oom)
		return -ENOMEM;
	if (rc != MDB_NOTFOUND)
		return store_lmdb_err(rc, "snapshot read");
	if (count != st.ms_entries) {
		put_le64(o->p + count_at, count);
		if (o->hashed > count_at)
			o->rehash = 1;
	}
	return 0;
}

int store_snapshot_write(store_snap *sn, void **buf, size_t *len)
{
	store *s = sn->s;
	*buf = NULL;
	*len = 0;
	uint64_t index, applied;
	int rc = store_state_get(s, sn->txn, &index, &applied);
	if (rc != 0)
		return rc;
	const MDB_dbi dbis[N_SECTIONS] = {s->nodes, s->expiry, s->meta,
					  s->history};
	snap_out o = {.cap = snap_bound(sn->txn, dbis, N_SECTIONS)};
	snap_hash_init(&o.h);
	if ((o.p = snap_map(o.cap)) == NULL)
		return -ENOMEM;
	snap_put(&o, SNAP_MAGIC, 8);
	snap_put_le64(&o, sn->raft_index);
	snap_put_le64(&o, index);
	/* The whole history window goes along, so a host restored from a
	 * snapshot answers old waitIndex values like its peers (no 401 a
	 * client would not get elsewhere). It is half of the snapshot. */
	static const char *const prefixes[N_SECTIONS] = {NULL, NULL, META_USER,
							 NULL};
	for (int i = 0; rc == 0 && i < N_SECTIONS; i++)
		rc = write_db(&o, sn->txn, dbis[i], prefixes[i]);
	if (rc == 0) {
		snap_hash_step(&o);
		uint64_t h = o.rehash
				 ? snap_hash(o.p, o.len)
				 : snap_hash_final(&o.h, o.len, o.p + o.hashed);
		snap_put_le64(&o, h);
		rc = o.oom ? -ENOMEM : 0;
	}
	if (rc != 0) {
		munmap(o.p, o.cap);
		return rc;
	}
	/* give back the pages past the end now: free takes only len */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t used = (o.len + page - 1) / page * page;
	if (used < o.cap)
		munmap(o.p + used, o.cap - used);
	*buf = o.p;
	*len = o.len;
	return 0;
}

void store_snapshot_free(void *buf, size_t len)
{
	if (buf)
		munmap(buf, len);
}

void store_snapshot_end(store_snap *sn)
{
	if (sn == NULL)
		return;
	mdb_txn_abort(sn->txn);
	free(sn);
}

typedef struct rbuf {
	const unsigned char *p;
	size_t len, off;
} rbuf;

static int rb_u32(rbuf *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return -EINVAL;
	const unsigned char *p = r->p + r->off;
	*v = get_le32(p);
	r->off += 4;
	return 0;
}

static int rb_u64(rbuf *r, uint64_t *v)
{
	if (r->len - r->off < 8)
		return -EINVAL;
	*v = get_le64(r->p + r->off);
	r->off += 8;
	return 0;
}

/* Reads the next entry; key and value point into the buffer. */
static int rb_entry(rbuf *r, MDB_val *k, MDB_val *v)
{
	uint32_t n;
	if (rb_u32(r, &n) != 0 || r->len - r->off < n)
		return -EINVAL;
	k->mv_size = n;
	k->mv_data = (void *)(r->p + r->off);
	r->off += n;
	if (rb_u32(r, &n) != 0 || r->len - r->off < n)
		return -EINVAL;
	v->mv_size = n;
	v->mv_data = (void *)(r->p + r->off);
	r->off += n;
	return 0;
}

uint64_t store_snapshot_sum(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t n = len < 8 ? 0 : len - 8;
	return snap_version(p, len) == 1 ? fnv1a(p, n, FNV_BASIS)
					 : snap_hash(p, n);
}

/* Checks framing and checksum before anything is dropped. */
static int snap_validate(const unsigned char *p, size_t len, uint64_t *raft,
			 uint64_t *index)
{
	if (len < SNAP_HDR + 8 * (N_SECTIONS + 1) || snap_version(p, len) == 0)
		return -EINVAL;
	if (store_snapshot_sum(p, len) != get_le64(p + len - 8))
		return -EINVAL;
	rbuf r = {p, len - 8, SNAP_HDR};
	*raft = get_le64(p + 8);
	*index = get_le64(p + 16);
	for (int i = 0; i < N_SECTIONS; i++) {
		uint64_t count;
		if (rb_u64(&r, &count) != 0)
			return -EINVAL;
		for (uint64_t j = 0; j < count; j++) {
			MDB_val k, v;
			if (rb_entry(&r, &k, &v) != 0)
				return -EINVAL;
		}
	}
	return r.off == r.len ? 0 : -EINVAL;
}

static int load(store *s, MDB_txn *txn, const unsigned char *p, size_t len)
{
	MDB_dbi dbis[N_SECTIONS] = {s->nodes, s->expiry, s->meta, s->history};
	rbuf r = {p, len - 8, SNAP_HDR};
	int rc = 0;
	for (int i = 0; i < N_SECTIONS && rc == 0; i++)
		rc = mdb_drop(txn, dbis[i], 0);
	for (int i = 0; i < N_SECTIONS && rc == 0; i++) {
		uint64_t count = 0;
		rb_u64(&r, &count);
		for (uint64_t j = 0; j < count && rc == 0; j++) {
			MDB_val k, v;
			rb_entry(&r, &k, &v);
			rc = mdb_put(txn, dbis[i], &k, &v, MDB_APPEND);
		}
	}
	return store_lmdb_err(rc, "snapshot load");
}

int store_restore(store *s, const void *buf, size_t len)
{
	uint64_t raft, index;
	/* A restart replays our own last snapshot: skip it before paying for
	 * the checksum of the whole buffer. */
	const unsigned char *p = buf;
	if (len >= SNAP_HDR && snap_version(p, len) != 0 &&
	    get_le64(p + 8) <= s->applied) {
		log_info("store",
			 "snapshot at raft index %llu: already applied up to "
			 "%llu, keeping local state",
			 (unsigned long long)get_le64(p + 8),
			 (unsigned long long)s->applied);
		return 0;
	}
	int rc = snap_validate(buf, len, &raft, &index);
	if (rc != 0) {
		log_error("store", "snapshot is malformed (%zu bytes)", len);
		return rc;
	}
	if (raft <= s->applied) {
		log_info("store",
			 "snapshot at raft index %llu: already applied "
			 "up to %llu, keeping local state",
			 (unsigned long long)raft,
			 (unsigned long long)s->applied);
		return 0;
	}
	MDB_txn *txn;
	if ((rc = store_flush(s)) != 0 || (rc = store_reserve(s, len)) != 0)
		return rc;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return store_lmdb_err(rc, "begin");
	if ((rc = load(s, txn, buf, len)) != 0 ||
	    (rc = store_state_put(s, txn, index, raft)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((rc = store_lmdb_err(mdb_txn_commit(txn), "commit")) != 0)
		return rc;
	uint64_t old = s->index;
	s->index = s->committed_index = index;
	s->applied = s->committed_applied = raft;
	s->meta_gen++;
	if (index > old)
		store_publish_history(s, old + 1, index);
	return 0;
}
