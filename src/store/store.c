/* store.c - the store handle: opening LMDB, applying Raft entries in
 * batched write transactions, publishing events, subscriptions and the
 * replicated metadata. Reads and watches are in read.c, the etcd
 * operations in ops.c, snapshots in snapshot.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "store_int.h"

#define DEFAULT_MAP_SIZE (8ULL << 30)
#define DEFAULT_WINDOW 10000

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (p == NULL)
		return -ENOMEM;
	int rc = 0;
	for (char *q = p + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			log_error("store", "mkdir %s: %s", p, strerror(errno));
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* LMDB lets several processes share an environment; two ovlds applying
 * the same Raft log into one store would corrupt the index sequence. */
static int lock_dir(store *s, const char *dir)
{
	char path[strlen(dir) + 32];
	snprintf(path, sizeof(path), "%s/ovld-store.lock", dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		log_error("store", "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		log_error("store", "%s is in use by another process", dir);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return 0;
}

static int open_dbs(store *s)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_lmdb_err(rc, "begin");
	if ((rc = mdb_dbi_open(txn, "nodes", MDB_CREATE, &s->nodes)) ||
	    (rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &s->expiry)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) ||
	    (rc = mdb_dbi_open(txn, "history", MDB_CREATE, &s->history))) {
		mdb_txn_abort(txn);
		return store_lmdb_err(rc, "open databases");
	}
	if ((rc = store_state_get(s, txn, &s->index, &s->applied)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	s->committed_index = s->index;
	s->committed_applied = s->applied;
	return store_lmdb_err(mdb_txn_commit(txn), "commit");
}

int store_open(store **out, const char *dir, const store_config *cfg)
{
	*out = NULL;
	int rc = mkdir_p(dir);
	if (rc != 0)
		return rc;
	store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	if ((rc = lock_dir(s, dir)) != 0)
		goto fail;
	size_t map = cfg && cfg->map_size ? cfg->map_size : DEFAULT_MAP_SIZE;
	s->window =
	    cfg && cfg->history_window ? cfg->history_window : DEFAULT_WINDOW;
	/* NOSYNC: the Raft log is the durable copy. NOTLS: snapshot read
	 * transactions move to a worker thread. WRITEMAP: commits write into
	 * the map instead of a pwrite per page, which cuts an apply from
	 * ~20 us to ~5 us; the data file is then sparse at the map size. */
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map)) != 0 ||
	    (rc = mdb_env_open(s->env, dir,
			       MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD |
				   MDB_WRITEMAP | MDB_MAPASYNC,
			       0600)) != 0) {
		rc = store_lmdb_err(rc, dir);
		goto fail;
	}
	s->max_key = (size_t)mdb_env_get_maxkeysize(s->env);
	if ((rc = open_dbs(s)) != 0)
		goto fail;
	log_info("store", "opened %s: store index %llu, raft index %llu", dir,
		 (unsigned long long)s->index, (unsigned long long)s->applied);
	*out = s;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
	return rc;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	store_flush(s);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	mdb_env_sync(s->env, 1);
	mdb_env_close(s->env);
	close(s->lock_fd);
	free(s->subs);
	free(s);
}

/* Keeps the last s->window events: drops indexes <= index - window. */
static int trim_history(store *s, MDB_txn *txn, uint64_t index)
{
	if (index <= s->window)
		return 0;
	uint64_t keep_from = index - s->window + 1;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->history, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	MDB_val k, v;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 &&
	       get_be64(k.mv_data) < keep_from) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_lmdb_err(rc, "trim");
}

static void publish_event(store *s, const store_event *ev)
{
	for (size_t j = 0; j < s->n_subs; j++)
		if (s->subs[j].cb)
			s->subs[j].cb(s->subs[j].ctx, ev);
}

static void publish(store *s, const evlist *evs)
{
	for (size_t i = 0; i < evs->n; i++)
		publish_event(s, &evs->v[i]);
}

void store_publish_history(store *s, uint64_t from, uint64_t to)
{
	MDB_txn *txn;
	MDB_cursor *c;
	unsigned char first[8];
	if (from > to || store_read_begin(s, &txn) != 0)
		return;
	if (mdb_cursor_open(txn, s->history, &c) != 0) {
		store_read_end(s, txn);
		return;
	}
	put_be64(first, from);
	MDB_val k = {sizeof(first), first}, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	uint64_t at = rc == 0 ? get_be64(k.mv_data) : to + 1;
	if (at > from)
		log_warn("store",
			 "events %llu..%llu are not in the restored "
			 "history: watchers miss them",
			 (unsigned long long)from,
			 (unsigned long long)(at > to ? to : at - 1));
	for (; rc == 0 && (at = get_be64(k.mv_data)) <= to;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		store_result r;
		memset(&r, 0, sizeof(r));
		if (store_event_decode(v.mv_data, v.mv_size, &r.ev) != 0)
			continue;
		publish_event(s, &r.ev);
		store_result_free(&r);
	}
	mdb_cursor_close(c);
	store_read_end(s, txn);
}

/* Room asked for beyond the last used page: a transaction copies the
 * pages it changes, so small commands need a little, large values twice
 * their size. The reservation grows in steps of an eighth of the used
 * size (1-64 MiB), which keeps fallocate rare without grabbing a small
 * disk's last free space at once. */
#define RESERVE_MIN (4ull << 20)
#define RESERVE_STEP_MIN (1ull << 20)
#define RESERVE_STEP_MAX (64ull << 20)

static int reserve_range(int fd, uint64_t from, uint64_t to)
{
	int rc = posix_fallocate(fd, (off_t)from, (off_t)(to - from));
	return rc == 0 ? 0 : -rc;
}

int store_reserve(store *s, size_t extra)
{
	MDB_envinfo info;
	MDB_stat st;
	int fd;
	if (mdb_env_info(s->env, &info) != 0 ||
	    mdb_env_stat(s->env, &st) != 0 || mdb_env_get_fd(s->env, &fd) != 0)
		return 0; /* cannot tell: let LMDB try */
	uint64_t used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	uint64_t need = used + RESERVE_MIN + 2 * (uint64_t)extra;
	if (need > info.me_mapsize)
		need = info.me_mapsize;
	if (need <= s->reserved)
		return 0;
	uint64_t step = used / 8;
	step = step < RESERVE_STEP_MIN	 ? RESERVE_STEP_MIN
	       : step > RESERVE_STEP_MAX ? RESERVE_STEP_MAX
					 : step;
	uint64_t want = need + step;
	if (want > info.me_mapsize)
		want = info.me_mapsize;
	int rc = reserve_range(fd, s->reserved, want);
	if (rc == -ENOSPC && want > need) {
		want = need;
		rc = reserve_range(fd, s->reserved, want);
	}
	if (rc != 0) {
		log_error("store",
			  "cannot reserve %llu bytes for the data file: "
			  "%s",
			  (unsigned long long)want, strerror(-rc));
		return rc;
	}
	s->reserved = want;
	return 0;
}

/* Entries applied since the last commit share one write transaction:
 * libraft hands committed entries over in bursts, and LMDB's commit
 * bookkeeping, not the B-tree work, is most of an apply's cost. The batch
 * is committed by store_flush (once per loop turn), before any read, and
 * at BATCH_MAX entries. Durability is unchanged: the Raft log is the
 * durable copy and LMDB is never synced per entry anyway. */
#define BATCH_MAX 512

/* After a failed commit the store is behind what Raft thinks it applied;
 * applying more would skip entries, so it stops and a restart replays them
 * from the Raft log. Readers still see the last committed state. */
static void stop_applying(store *s, int rc)
{
	log_error("store",
		  "cannot commit Raft entries %llu..%llu to the data file "
		  "(%s): this host stops applying; restart it to replay them",
		  (unsigned long long)s->committed_applied + 1,
		  (unsigned long long)s->applied, mdb_strerror(rc));
	s->failed = 1;
	s->index = s->committed_index;
	s->applied = s->committed_applied;
}

int store_flush(store *s)
{
	if (s->batch == NULL)
		return 0;
	MDB_txn *txn = s->batch;
	s->batch = NULL;
	s->batch_n = 0;
	int rc = mdb_txn_commit(txn);
	if (rc != 0) {
		stop_applying(s, rc);
		return store_lmdb_err(rc, "commit");
	}
	s->committed_index = s->index;
	s->committed_applied = s->applied;
	return 0;
}

/* Reads reuse one reset read transaction: renewing it keeps its reader
 * slot, where a new one takes the lock file's mutex and a malloc. */
int store_read_begin(store *s, MDB_txn **txn)
{
	store_flush(s); /* on failure, read the last committed state */
	if (s->rtxn && !s->rtxn_busy) {
		if (mdb_txn_renew(s->rtxn) == 0) {
			s->rtxn_busy = 1;
			*txn = s->rtxn;
			return 0;
		}
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
	return store_lmdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn),
			      "begin read");
}

void store_read_end(store *s, MDB_txn *txn)
{
	if (txn == s->rtxn) {
		mdb_txn_reset(txn);
		s->rtxn_busy = 0;
	} else if (s->rtxn == NULL) {
		mdb_txn_reset(txn);
		s->rtxn = txn;
	} else {
		mdb_txn_abort(txn);
	}
}

/* Drops the batch after a failed operation. Entries before this one were
 * already answered, so losing them means stopping. */
static void abort_batch(store *s, int rc)
{
	mdb_txn_abort(s->batch);
	s->batch = NULL;
	s->batch_n = 0;
	if (s->applied != s->committed_applied)
		stop_applying(s, rc);
}

static int apply_txn(store *s, op_ctx *o, const store_cmd *cmd,
		     uint64_t raft_index)
{
	if (s->failed)
		return -EIO;
	int rc = store_reserve(s, cmd->path_len + cmd->value_len +
				      cmd->prev_value_len);
	if (rc != 0) {
		store_flush(s); /* keep what fits; this entry fails */
		return rc;
	}
	if (s->batch == NULL &&
	    (rc = mdb_txn_begin(s->env, NULL, 0, &s->batch)) != 0) {
		s->batch = NULL;
		return store_lmdb_err(rc, "begin");
	}
	o->txn = s->batch;
	rc = store_ops_run(o, cmd);
	if (rc == 0 && o->evs.n)
		rc = trim_history(s, o->txn, o->index);
	if (rc == 0)
		rc = store_state_put(s, o->txn, o->index, raft_index);
	if (rc != 0)
		abort_batch(s, rc);
	return rc;
}

int store_apply(store *s, const store_cmd *cmd, uint64_t raft_index,
		store_result *res)
{
	if (res)
		memset(res, 0, sizeof(*res));
	if (raft_index <= s->applied)
		return 0; /* a replayed entry, already in LMDB */
	op_ctx o = {.s = s, .index = s->index};
	int rc = apply_txn(s, &o, cmd, raft_index);
	if (rc != 0) {
		free(o.cause);
		store_evlist_free(&o.evs);
		return rc;
	}
	s->index = o.index;
	s->applied = raft_index;
	if (++s->batch_n >= BATCH_MAX)
		store_flush(s);
	publish(s, &o.evs);
	if (res) {
		res->error = o.error;
		res->cause = o.cause;
		o.cause = NULL;
		res->index = s->index;
		/* An expiry sweep may produce many events; its result carries
		 * only the index. */
		if (o.evs.n && cmd->op != STORE_OP_EXPIRE) {
			res->ev = o.evs.v[0];
			memset(&o.evs.v[0], 0, sizeof(o.evs.v[0]));
		}
	}
	free(o.cause);
	store_evlist_free(&o.evs);
	return 0;
}

uint64_t store_current_index(store *s)
{
	return s->index;
}

uint64_t store_applied_raft_index(store *s)
{
	return s->applied;
}

int store_subscribe(store *s, store_event_cb cb, void *ctx)
{
	if (cb == NULL)
		return -EINVAL;
	size_t slot = s->n_subs;
	for (size_t i = 0; i < s->n_subs; i++)
		if (s->subs[i].cb == NULL)
			slot = i;
	if (slot == s->n_subs) {
		if (s->n_subs == s->cap_subs) {
			size_t cap = s->cap_subs ? s->cap_subs * 2 : 4;
			store_sub *v = realloc(s->subs, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			s->subs = v;
			s->cap_subs = cap;
		}
		s->n_subs++;
	}
	s->subs[slot] = (store_sub){++s->next_sub_id, cb, ctx};
	return s->subs[slot].id;
}

void store_unsubscribe(store *s, int id)
{
	/* Slots are cleared, not removed, so a callback may unsubscribe
	 * while publish() iterates. */
	for (size_t i = 0; i < s->n_subs; i++)
		if (s->subs[i].id == id && s->subs[i].cb)
			s->subs[i] = (store_sub){0, NULL, NULL};
}

int store_meta_get(store *s, const char *key, char **value, size_t *len)
{
	*value = NULL;
	*len = 0;
	size_t kl = strlen(META_USER) + strlen(key);
	char kb[kl + 1];
	strcpy(kb, META_USER);
	strcat(kb, key);
	MDB_txn *txn;
	int rc = store_read_begin(s, &txn);
	if (rc != 0)
		return rc;
	MDB_val k = {kl, kb}, v;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		*value = malloc(v.mv_size + 1);
		if (*value) {
			memcpy(*value, v.mv_data, v.mv_size);
			(*value)[v.mv_size] = '\0';
			*len = v.mv_size;
		} else {
			rc = ENOMEM;
		}
	}
	store_read_end(s, txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return store_lmdb_err(rc, "meta get");
}

int store_meta_scan(store *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	size_t ul = strlen(META_USER), pl = ul + strlen(prefix);
	char pb[pl + 1];
	strcpy(pb, META_USER);
	strcat(pb, prefix);
	MDB_txn *txn;
	MDB_cursor *c;
	int rc = store_read_begin(s, &txn);
	if (rc != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->meta, &c)) != 0) {
		store_read_end(s, txn);
		return store_lmdb_err(rc, "cursor");
	}
	MDB_val k = {pl, pb}, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pl || memcmp(k.mv_data, pb, pl) != 0)
			break;
		char key[k.mv_size - ul + 1];
		memcpy(key, (char *)k.mv_data + ul, k.mv_size - ul);
		key[k.mv_size - ul] = '\0';
		cb(ctx, key, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	store_read_end(s, txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc, "scan");
}
