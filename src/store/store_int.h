/* store_int.h - private declarations shared by the store's source files:
 * the LMDB layout (key encodings, node records, history records) and the
 * struct behind the opaque store handle.
 *
 * Layout:
 *  - "nodes":   parent path + '\0' + name -> node record. A directory's
 *               children are the contiguous range prefixed by D "\0"; all
 *               of its descendants are that range plus the one prefixed by
 *               D "/". Root children are "\0name". The root is not stored.
 *  - "expiry":  big-endian expire_ns + encoded node key -> empty.
 *  - "meta":    "s/..." our bookkeeping, "u/..." STORE_OP_META_* keys.
 *  - "history": big-endian store index -> encoded event. */
#ifndef OVLD_STORE_INT_H
#define OVLD_STORE_INT_H

#include <endian.h>
#include <lmdb.h>
#include <stdint.h>
#include <string.h>

#include "../byteorder.h"
#include "store.h"

/* 2000-01-01T00:00:00Z: etcd treats earlier expiry times as "no TTL". */
#define STORE_MIN_EXPIRE_NS 946684800000000000LL

/* store index and applied Raft index, one record so one put per apply */
#define META_STATE "s/state"
#define META_USER "u/"

/* Node record header: flags(1) created(8) modified(8) expire(8), LE. */
#define REC_HDR 25
#define REC_DIR 0x01

typedef struct store_sub {
	int id;
	store_event_cb cb;
	void *ctx;
} store_sub;

struct store {
	MDB_env *env;
	MDB_dbi nodes, expiry, meta, history;
	uint64_t index;	  /* store index, batch included */
	uint64_t applied; /* applied Raft index, batch included */
	MDB_txn *batch;	  /* write txn holding entries not yet committed */
	unsigned batch_n; /* entries in it */
	uint64_t committed_index, committed_applied; /* as of the last commit */
	int failed;    /* a commit failed: applying stops until a restart */
	MDB_txn *rtxn; /* the reset read txn that reads reuse */
	int rtxn_busy;
	uint64_t window;   /* history events kept */
	size_t max_key;	   /* LMDB's key size limit */
	int lock_fd;	   /* flock'ed: one process per store */
	uint64_t reserved; /* data file bytes known to have disk blocks */
	store_sub *subs;
	size_t n_subs, cap_subs;
	int next_sub_id;
};

/* A decoded node record; value points into LMDB memory. */
typedef struct noderec {
	int dir;
	uint64_t created, modified;
	int64_t expire;
	const char *value;
	size_t value_len;
} noderec;

/* Commits the batch, then begins a read transaction, so every read sees
 * every entry applied so far. */
int store_read_begin(store *s, MDB_txn **txn);
/* Ends a transaction from store_read_begin. */
void store_read_end(store *s, MDB_txn *txn);

/* Makes sure the data file has disk blocks for what a write transaction
 * of about extra bytes may touch. WRITEMAP maps a sparse file, and a page
 * fault on a hole of a full filesystem is a SIGBUS: better to refuse the
 * write first (-ENOSPC). */
int store_reserve(store *s, size_t extra);

/* Hands the history events from..to to the subscribers. A snapshot
 * restore moves the store from one index to another without applying the
 * entries between, but live watchers and the reconciler still need their
 * events (the restored history carries them). */
void store_publish_history(store *s, uint64_t from, uint64_t to);

/* LMDB return codes to our convention: 0, or a negative error. */
int store_lmdb_err(int rc, const char *what);

/* Encodes path (absolute, cleaned, not "/") into out, which has room for
 * len bytes; the encoding has the same length as the path. */
void store_enc_key(const char *path, size_t len, char *out);
/* The prefix of D's direct children ("\0" for the root) into out (room for
 * dlen + 1); returns its length. */
size_t store_enc_child_prefix(const char *dir, size_t dlen, char *out);

int store_rec_decode(const MDB_val *v, noderec *r);
/* Writes a node record under the encoded key. */
int store_rec_put(store *s, MDB_txn *txn, const char *ekey, size_t klen,
		  const noderec *r);

/* Expiry index entries for a node (no-op when expire == 0). */
int store_expiry_put(store *s, MDB_txn *txn, int64_t expire, const char *ekey,
		     size_t klen);
int store_expiry_del(store *s, MDB_txn *txn, int64_t expire, const char *ekey,
		     size_t klen);

/* Fills n (key copied, value copied unless with_value is 0) from r. */
int store_node_from_rec(store_node *n, const char *path, size_t len,
			const noderec *r, int with_value);

/* Walks path's components: 0 with *r the node (pointing into LMDB), or
 * 100 / 104 with *stop the end offset of the component that is missing /
 * a plain key, or a negative error. */
int store_walk(store *s, MDB_txn *txn, const char *path, size_t len, noderec *r,
	       size_t *stop);

/* etcd's internalGet: 0 and *out filled (a copy), a positive etcd error
 * (100 or 104, *cause malloc'd), or a negative LMDB error. */
int store_walk_get(store *s, MDB_txn *txn, const char *path, size_t len,
		   store_node *out, char **cause);

/* History records. */
int store_event_encode_put(store *s, MDB_txn *txn, const store_event *ev);
int store_event_decode(const void *buf, size_t len, store_event *ev);

int store_state_get(store *s, MDB_txn *txn, uint64_t *index, uint64_t *raft);
int store_state_put(store *s, MDB_txn *txn, uint64_t index, uint64_t raft);

/* The etcd operations, run inside a write transaction (ops.c). */
typedef struct evlist {
	store_event *v;
	size_t n, cap;
} evlist;

typedef struct op_ctx {
	store *s;
	MDB_txn *txn;
	uint64_t index; /* working store index */
	evlist evs;
	int error;   /* etcd error of the operation */
	char *cause; /* its cause */
} op_ctx;

int store_ops_run(op_ctx *o, const store_cmd *cmd);
void store_evlist_free(evlist *l);

#endif
