/* store.h - the etcd v2 key space, kept in LMDB.
 *
 * The store is ovld's replicated state machine. It applies commands that
 * were already ordered by Raft (store_apply), answers local reads
 * (store_get), keeps the event history that watches resume from, and
 * publishes every applied event to its subscribers (the API's watch hub and
 * the datapath reconciler). It knows nothing of HTTP, Raft or netlink.
 *
 * Two indexes live here and are never confused:
 *  - the store index (etcd's X-Etcd-Index, createdIndex, modifiedIndex)
 *    grows by exactly one per event;
 *  - the applied Raft index is recorded in the same LMDB transaction as the
 *    mutation it came from, so a replayed log never applies anything twice.
 *
 * All functions run on the loop thread unless noted. */
#ifndef OVLD_STORE_H
#define OVLD_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* etcd error codes carried in results (never apply failures). */
enum {
	STORE_ERR_KEY_NOT_FOUND = 100,
	STORE_ERR_TEST_FAILED = 101,
	STORE_ERR_NOT_FILE = 102,
	STORE_ERR_NOT_DIR = 104,
	STORE_ERR_NODE_EXIST = 105,
	STORE_ERR_ROOT_RONLY = 107,
	STORE_ERR_DIR_NOT_EMPTY = 108,
	STORE_ERR_EVENT_INDEX_CLEARED = 401,
};

/* Operations a replicated command can carry. */
enum store_op {
	STORE_OP_PUT = 1,  /* set, create, update or compareAndSwap */
	STORE_OP_POST,	   /* create an in-order key under path */
	STORE_OP_DELETE,   /* delete or compareAndDelete */
	STORE_OP_EXPIRE,   /* leader's sweep: expire everything due at now_ns */
	STORE_OP_META_PUT, /* internal metadata (members, cluster id, auth):
			      no event; prev_exist 0 (PUT) or 1 (PUT, DEL)
			      gives 105 or 100 as keys do */
	STORE_OP_META_DEL,
	STORE_OP_NOOP, /* advances only the applied Raft index */
};

enum store_action {
	STORE_ACTION_GET = 1,
	STORE_ACTION_SET,
	STORE_ACTION_CREATE,
	STORE_ACTION_UPDATE,
	STORE_ACTION_DELETE,
	STORE_ACTION_CAS, /* compareAndSwap */
	STORE_ACTION_CAD, /* compareAndDelete */
	STORE_ACTION_EXPIRE,
};

/* A command, decided completely by the proposer: everything
 * non-deterministic (the clock, TTL expirations) is inside it. Strings are
 * not NUL-terminated; lengths are explicit. */
typedef struct store_cmd {
	int op;		  /* enum store_op */
	const char *path; /* cleaned absolute path; META: the meta key */
	size_t path_len;
	const char *value; /* PUT/POST value; META_PUT: the meta value */
	size_t value_len;
	const char *prev_value; /* NULL when not given */
	size_t prev_value_len;
	uint64_t prev_index; /* 0 when not given */
	int prev_exist;	     /* -1 not given, 0 false, 1 true */
	int dir;	     /* dir=true */
	int recursive;	     /* DELETE recursive=true */
	int refresh;	     /* PUT refresh=true */
	int64_t expire_ns;   /* absolute expiry (unix ns); 0 = permanent */
	int64_t now_ns;	     /* proposer's wall clock (unix ns) */
} store_cmd;

/* A node as etcd shows it. Strings are NUL-terminated copies owned by the
 * result that holds them. */
typedef struct store_node {
	char *key;   /* NULL for the root */
	char *value; /* NULL for dirs and delete/expire nodes */
	size_t value_len;
	int dir;
	int64_t expire_ns; /* 0 = no TTL */
	uint64_t created_index;
	uint64_t modified_index;
	int has_children;	     /* children were listed (dir reads only) */
	struct store_node *children; /* sorted by key; hidden ones left out */
	size_t n_children;
} store_node;

typedef struct store_event {
	int action;	/* enum store_action */
	uint64_t index; /* the store index this event took */
	int refresh;	/* refresh: index bumped but watchers not woken */
	store_node node;
	int has_prev;
	store_node prev;
} store_event;

/* The outcome of an apply or a read. error == 0: ev is valid. Otherwise
 * error is an etcd code, cause its cause (may be NULL). index is the store
 * index after the operation (the current index for errors). */
typedef struct store_result {
	int error;
	char *cause;
	uint64_t index;
	store_event ev;
} store_result;

typedef struct store_config {
	size_t map_size; /* LMDB map size in bytes; 0 = default (8 GiB) */
	uint64_t
	    history_window; /* events kept for watches; 0 = default (10000) */
} store_config;

int store_open(store **out, const char *dir, const store_config *cfg);
void store_close(store *s);

/* Applies one command taken from Raft entry raft_index, in the LMDB write
 * transaction of the current batch, which also records raft_index.
 * Entries at or below the recorded index are skipped (returns 0,
 * res->error = 0, res->index = 0). Returns 0 unless LMDB itself fails (a
 * disk error): etcd errors are in res. res may be NULL. Events are
 * published to subscribers at once; every read commits the batch first,
 * so readers see every applied entry. */
int store_apply(store *s, const store_cmd *cmd, uint64_t raft_index,
		store_result *res);
/* Commits the batch of applied entries; call once per loop turn. After a
 * failed commit the store stops applying (a restart replays the log). */
int store_flush(store *s);

/* GET of path: action "get" with the node (and its children for dirs). */
int store_get(store *s, const char *path, int recursive, int sorted,
	      store_result *res);

void store_result_free(store_result *res);
void store_node_free(store_node *n);
int store_node_copy(store_node *dst, const store_node *src);

uint64_t store_current_index(store *s);
uint64_t store_applied_raft_index(store *s);
size_t store_key_count(store *s);

/* Smallest expiry time (unix ns) of any node, or 0 when nothing expires. */
int64_t store_next_expiry(store *s);

/* Watches. Matching follows etcd: exact key, descendants when recursive
 * (skipping ones hidden relative to the watched path), and delete/expire of
 * a directory above the watched key. */
int store_event_matches(const store_event *ev, const char *watch_path,
			int recursive);

/* First non-refresh event with index >= from that matches. Returns 0 and
 * sets *found; or STORE_ERR_EVENT_INDEX_CLEARED (res->cause filled) when
 * from is older than the history kept. ev is owned by the caller. */
int store_history_find(store *s, uint64_t from, const char *path, int recursive,
		       int *found, store_event *ev, store_result *err);
uint64_t store_history_start(store *s);

typedef void (*store_event_cb)(void *ctx, const store_event *ev);
/* Called on the loop thread after each applied event; ev is valid only
 * during the call. Returns a subscription id (>0) or a negative error. */
int store_subscribe(store *s, store_event_cb cb, void *ctx);
void store_unsubscribe(store *s, int id);

/* Internal metadata replicated through STORE_OP_META_*: not in the key
 * space, no store index. Returned value is malloc'd. */
int store_meta_get(store *s, const char *key, char **value, size_t *len);
typedef void (*store_meta_cb)(void *ctx, const char *key, const char *value,
			      size_t len);
int store_meta_scan(store *s, const char *prefix, store_meta_cb cb, void *ctx);
/* A number that changes whenever meta may have changed (an applied meta
 * command or a restored snapshot), so readers can cache what they derive
 * from meta and check it in O(1). */
uint64_t store_meta_gen(store *s);

/* Snapshots: the whole replicated state (nodes, meta, store index, history)
 * as one buffer. store_snapshot_begin freezes a view (an LMDB read
 * transaction) on the loop thread; store_snapshot_write may then run on a
 * worker thread; store_snapshot_end releases it. */
typedef struct store_snap store_snap;
int store_snapshot_begin(store *s, uint64_t raft_index, store_snap **snap);
int store_snapshot_write(store_snap *snap, void **buf, size_t *len);
/* Frees what store_snapshot_write returned (its own mapping, not malloc). */
void store_snapshot_free(void *buf, size_t len);
void store_snapshot_end(store_snap *snap);
/* Replaces everything with the snapshot's contents, unless the store has
 * already applied past the snapshot's Raft index (a restart), in which case
 * it keeps its newer state. buf is not freed. */
int store_restore(store *s, const void *buf, size_t len);
/* The checksum a snapshot of len bytes ends with (over all but its last 8
 * bytes), by the format its magic names; for tests and the fuzzer. */
uint64_t store_snapshot_sum(const void *buf, size_t len);

/* Path helpers shared by the API and tests. store_clean_path resolves
 * "." and "..", drops duplicate and trailing "/", and makes it absolute
 * (like Go's path.Join("/", p)). Returns a malloc'd string. */
char *store_clean_path(const char *p, size_t len);
const char *store_action_name(int action);
const char *store_error_message(int code);

#endif
