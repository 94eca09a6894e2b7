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

#include "../buf.h"
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

static void append_le32(abuf *b, uint32_t v)
{
	unsigned char le[4];
	put_le32(le, v);
	abuf_put(b, le, 4);
}

static void append_le64(abuf *b, uint64_t v)
{
	unsigned char le[8];
	put_le64(le, v);
	abuf_put(b, le, 8);
}

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
 * to catch a damaged file, not resist an adversary. */
static uint64_t snap_hash(const unsigned char *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	uint64_t lane[4] = {FNV_BASIS, FNV_BASIS ^ 1, FNV_BASIS ^ 2,
			    FNV_BASIS ^ 3};
	size_t i = 0;
	for (; i + 32 <= n; i += 32)
		for (int l = 0; l < 4; l++) {
			uint64_t h = (lane[l] ^ get_le64(p + i + 8 * l)) * k;
			lane[l] = h ^ (h >> 32);
		}
	uint64_t h = n;
	for (int l = 0; l < 4; l++)
		h = (h ^ lane[l]) * FNV_PRIME;
	return fnv1a(p + i, n - i, h);
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

/* Appends one database (only keys starting with prefix, if given). */
static int write_db(abuf *b, MDB_txn *txn, MDB_dbi dbi, const char *prefix)
{
	size_t count_at = b->len, count = 0, pl = prefix ? strlen(prefix) : 0;
	append_le64(b, 0);
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (pl && (k.mv_size < pl || memcmp(k.mv_data, prefix, pl)))
			continue;
		append_le32(b, (uint32_t)k.mv_size);
		abuf_put(b, k.mv_data, k.mv_size);
		append_le32(b, (uint32_t)v.mv_size);
		abuf_put(b, v.mv_data, v.mv_size);
		count++;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return store_lmdb_err(rc, "snapshot read");
	if (!abuf_ok(b))
		return -ENOMEM;
	put_le64(b->p + count_at, count);
	return 0;
}

int store_snapshot_write(store_snap *sn, void **buf, size_t *len)
{
	store *s = sn->s;
	abuf b;
	abuf_init(&b);
	uint64_t index;
	*buf = NULL;
	*len = 0;
	uint64_t applied;
	int rc = store_state_get(s, sn->txn, &index, &applied);
	if (rc != 0)
		return rc;
	abuf_put(&b, SNAP_MAGIC, 8);
	append_le64(&b, sn->raft_index);
	append_le64(&b, index);
	/* The whole history window goes along, so a host restored from a
	 * snapshot answers old waitIndex values like its peers (no 401 a
	 * client would not get elsewhere). It is half of the snapshot. */
	if ((rc = write_db(&b, sn->txn, s->nodes, NULL)) == 0 &&
	    (rc = write_db(&b, sn->txn, s->expiry, NULL)) == 0 &&
	    (rc = write_db(&b, sn->txn, s->meta, META_USER)) == 0)
		rc = write_db(&b, sn->txn, s->history, NULL);
	if (rc == 0) {
		uint64_t h = snap_hash((const unsigned char *)b.p, b.len);
		append_le64(&b, h);
		rc = abuf_ok(&b) ? 0 : -ENOMEM;
	}
	if (rc != 0) {
		free(b.p);
		return rc;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
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
	if (index > old)
		store_publish_history(s, old + 1, index);
	return 0;
}
