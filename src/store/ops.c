/* ops.c - etcd v2 write operations (set, create, update, compareAndSwap,
 * delete, compareAndDelete, POST, the expiry sweep) against LMDB, inside
 * the apply's write transaction.
 *
 * Every operation finishes all of its checks before its first write, so an
 * etcd error leaves the transaction untouched and the apply can still
 * commit the Raft index. Each event takes the next store index, goes into
 * the history in the same transaction, and is kept in o->evs for the
 * subscribers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

void store_evlist_free(evlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		store_node_free(&l->v[i].node);
		store_node_free(&l->v[i].prev);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Takes ownership of ev's nodes, also on failure. */
static int emit(op_ctx *o, store_event *ev)
{
	int rc = store_event_encode_put(o->s, o->txn, ev);
	if (rc == 0 && o->evs.n == o->evs.cap) {
		size_t cap = o->evs.cap ? o->evs.cap * 2 : 4;
		store_event *v = realloc(o->evs.v, cap * sizeof(*v));
		if (v == NULL) {
			rc = -ENOMEM;
		} else {
			o->evs.v = v;
			o->evs.cap = cap;
		}
	}
	if (rc != 0) {
		store_node_free(&ev->node);
		store_node_free(&ev->prev);
		return rc;
	}
	o->evs.v[o->evs.n++] = *ev;
	return 0;
}

static int fail(op_ctx *o, int code, char *cause)
{
	o->error = code;
	o->cause = cause;
	return 0;
}

static int fail_path(op_ctx *o, int code, const char *path, size_t len)
{
	return fail(o, code, strndup(path, len));
}

static int is_root(const char *path, size_t len)
{
	return len == 1 && path[0] == '/';
}

static int64_t norm_expire(int64_t e)
{
	return e < STORE_MIN_EXPIRE_NS ? 0 : e;
}

/* Gets the node at path the way etcd's internalGet does. Returns 0 with
 * *n filled, 0 with o->error set, or a negative error. */
static int get_existing(op_ctx *o, const char *path, size_t len, store_node *n)
{
	char *cause = NULL;
	int rc = store_walk_get(o->s, o->txn, path, len, n, &cause);
	if (rc > 0)
		return fail(o, rc, cause);
	return rc;
}

/* Removes every descendant of dir with the given encoded prefix. */
static int remove_range(op_ctx *o, const char *prefix, size_t plen)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(o->txn, o->s->nodes, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	for (;;) {
		MDB_val k = {plen, (void *)prefix}, v;
		/* Re-seek after each delete: simple and always correct. */
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND || k.mv_size < plen ||
		    memcmp(k.mv_data, prefix, plen) != 0) {
			rc = 0;
			break;
		}
		if (rc != 0) {
			rc = store_lmdb_err(rc, "seek");
			break;
		}
		noderec r;
		if (store_rec_decode(&v, &r) == 0 && r.expire != 0) {
			char ek[k.mv_size];
			memcpy(ek, k.mv_data, k.mv_size);
			rc = store_expiry_del(o->s, o->txn, r.expire, ek,
					      k.mv_size);
			if (rc != 0)
				break;
		}
		rc = mdb_cursor_del(c, 0);
		if (rc != 0) {
			rc = store_lmdb_err(rc, "cursor del");
			break;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

/* Deletes the node n at path and, for a dir, its whole subtree. */
static int remove_node(op_ctx *o, const char *path, size_t len,
		       const store_node *n)
{
	char ek[len + 1];
	int rc;
	if (n->dir) {
		memcpy(ek, path, len);
		ek[len] = '\0';
		if ((rc = remove_range(o, ek, len + 1)) != 0)
			return rc;
		ek[len] = '/';
		if ((rc = remove_range(o, ek, len + 1)) != 0)
			return rc;
	}
	store_enc_key(path, len, ek);
	if ((rc = store_expiry_del(o->s, o->txn, n->expire_ns, ek, len)) != 0)
		return rc;
	MDB_val k = {len, ek};
	return store_lmdb_err(mdb_del(o->txn, o->s->nodes, &k, NULL),
			      "del node");
}

static int has_children(op_ctx *o, const char *path, size_t len)
{
	char prefix[len + 1];
	size_t plen = store_enc_child_prefix(path, len, prefix);
	MDB_cursor *c;
	int rc = mdb_cursor_open(o->txn, o->s->nodes, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	MDB_val k = {plen, prefix}, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	int found = rc == 0 && k.mv_size >= plen &&
		    memcmp(k.mv_data, prefix, plen) == 0;
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_lmdb_err(rc, "seek");
	return found;
}

/* Writes node rec at path (key encoded here) and its expiry entry. */
static int write_node(op_ctx *o, const char *path, size_t len, const noderec *r)
{
	char ek[len];
	store_enc_key(path, len, ek);
	int rc = store_rec_put(o->s, o->txn, ek, len, r);
	if (rc == 0)
		rc = store_expiry_put(o->s, o->txn, r->expire, ek, len);
	return rc;
}

static int make_parents(op_ctx *o, const char *path, size_t len, size_t from,
			uint64_t index)
{
	noderec d = {.dir = 1, .created = index, .modified = index};
	for (size_t end = from; from && end < len; end++) {
		if (path[end] != '/')
			continue;
		int rc = write_node(o, path, end, &d);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* etcd's internalCreate: one walk finds a 104, the first missing parent
 * (made as a dir with this write's index) or the existing node, which
 * replace (set) takes over unless it is a dir. */
static int create_node(op_ctx *o, const char *path, size_t len, int dir,
		       const char *value, size_t vlen, int64_t expire,
		       int replace, int action, int refresh)
{
	if (is_root(path, len))
		return fail(o, STORE_ERR_ROOT_RONLY, strdup("/"));
	noderec cur;
	size_t stop, missing = 0;
	int rc = store_walk(o->s, o->txn, path, len, &cur, &stop);
	if (rc < 0)
		return rc;
	if (rc == STORE_ERR_NOT_DIR)
		return fail_path(o, rc, path, stop);
	store_event ev = {.action = action, .refresh = refresh};
	if (rc == STORE_ERR_KEY_NOT_FOUND) {
		missing = stop < len ? stop : 0;
	} else if (!replace || cur.dir) {
		return fail_path(
		    o, replace ? STORE_ERR_NOT_FILE : STORE_ERR_NODE_EXIST,
		    path, len);
	} else {
		if ((rc = store_node_from_rec(&ev.prev, path, len, &cur, 1)) !=
		    0)
			goto out;
		ev.has_prev = 1;
	}
	uint64_t idx = o->index + 1;
	if ((rc = make_parents(o, path, len, missing, idx)) != 0)
		goto out;
	if (ev.has_prev) {
		char ek[len];
		store_enc_key(path, len, ek);
		if ((rc = store_expiry_del(o->s, o->txn, ev.prev.expire_ns, ek,
					   len)) != 0)
			goto out;
	}
	noderec r = {.dir = dir,
		     .created = idx,
		     .modified = idx,
		     .expire = expire,
		     .value = dir ? NULL : value,
		     .value_len = dir ? 0 : vlen};
	if ((rc = write_node(o, path, len, &r)) != 0 ||
	    (rc = store_node_from_rec(&ev.node, path, len, &r, 1)) != 0)
		goto out;
	if (!dir && ev.node.value == NULL)
		ev.node.value = strdup("");
	o->index = idx;
	ev.index = idx;
	return emit(o, &ev);
out:
	store_node_free(&ev.prev);
	store_node_free(&ev.node);
	return rc;
}

/* Set: a refresh needs the existing node (and keeps its value). */
static int op_set(op_ctx *o, const store_cmd *c, const char *path, size_t len)
{
	int64_t expire = norm_expire(c->expire_ns);
	if (!c->refresh)
		return create_node(o, path, len, c->dir, c->value, c->value_len,
				   expire, 1, STORE_ACTION_SET, 0);
	store_node cur;
	int rc = get_existing(o, path, len, &cur);
	if (rc != 0 || o->error)
		return rc;
	rc = create_node(o, path, len, c->dir, cur.value, cur.value_len, expire,
			 1, STORE_ACTION_SET, 1);
	store_node_free(&cur);
	return rc;
}

static char *compare_cause(const store_node *n, const store_cmd *c)
{
	int vok = c->prev_value_len == 0 ||
		  (n->value_len == c->prev_value_len &&
		   memcmp(n->value, c->prev_value, c->prev_value_len) == 0);
	int iok = c->prev_index == 0 || c->prev_index == n->modified_index;
	char *s = NULL;
	int pl = (int)c->prev_value_len, vl = (int)n->value_len;
	const char *v = n->value ? n->value : "";
	if (vok && iok)
		return NULL;
	int r;
	if (!vok && !iok)
		r = asprintf(&s, "[%.*s != %.*s] [%" PRIu64 " != %" PRIu64 "]",
			     pl, c->prev_value, vl, v, c->prev_index,
			     n->modified_index);
	else if (!vok)
		r = asprintf(&s, "[%.*s != %.*s]", pl, c->prev_value, vl, v);
	else
		r = asprintf(&s, "[%" PRIu64 " != %" PRIu64 "]", c->prev_index,
			     n->modified_index);
	return r < 0 ? strdup("") : s;
}

/* Update and compareAndSwap: the node keeps its createdIndex. */
static int op_update(op_ctx *o, const store_cmd *c, const char *path,
		     size_t len, int cas)
{
	if (is_root(path, len))
		return fail(o, STORE_ERR_ROOT_RONLY, strdup("/"));
	store_event ev = {.action =
			      cas ? STORE_ACTION_CAS : STORE_ACTION_UPDATE,
			  .refresh = c->refresh,
			  .has_prev = 1};
	int rc = get_existing(o, path, len, &ev.prev);
	if (rc != 0 || o->error)
		return rc;
	if (ev.prev.dir && (cas || c->value_len != 0)) {
		store_node_free(&ev.prev);
		return fail_path(o, STORE_ERR_NOT_FILE, path, len);
	}
	char *cause = cas ? compare_cause(&ev.prev, c) : NULL;
	if (cause != NULL) {
		store_node_free(&ev.prev);
		return fail(o, STORE_ERR_TEST_FAILED, cause);
	}
	uint64_t idx = o->index + 1;
	noderec r = {.dir = ev.prev.dir,
		     .created = ev.prev.created_index,
		     .modified = idx,
		     .expire = norm_expire(c->expire_ns),
		     .value = c->refresh ? ev.prev.value : c->value,
		     .value_len =
			 c->refresh ? ev.prev.value_len : c->value_len};
	if (r.dir) {
		/* etcd keeps a dir's stored modifiedIndex on a TTL update
		 * (node.Write refuses dirs); only the event carries the new
		 * index. Verified against etcd 3.4 by test_differential. */
		r.value = NULL;
		r.value_len = 0;
		r.modified = ev.prev.modified_index;
	}
	char ek[len];
	store_enc_key(path, len, ek);
	if ((rc = store_expiry_del(o->s, o->txn, ev.prev.expire_ns, ek, len)) !=
		0 ||
	    (rc = write_node(o, path, len, &r)) != 0 ||
	    (rc = store_node_from_rec(&ev.node, path, len, &r, 1)) != 0) {
		store_node_free(&ev.prev);
		store_node_free(&ev.node);
		return rc;
	}
	ev.node.modified_index = idx;
	if (!r.dir && ev.node.value == NULL)
		ev.node.value = strdup("");
	o->index = idx;
	ev.index = idx;
	return emit(o, &ev);
}

/* Removes the node at path (ev->prev, with its subtree) and emits ev with
 * etcd's tombstone node: key, dir, createdIndex and the new index, no
 * value. Shared by delete, compareAndDelete and expire. */
static int remove_and_emit(op_ctx *o, const char *path, size_t len,
			   store_event *ev)
{
	int rc = remove_node(o, path, len, &ev->prev);
	if (rc != 0) {
		store_node_free(&ev->prev);
		return rc;
	}
	ev->index = ++o->index;
	ev->node.key = strndup(path, len);
	ev->node.dir = ev->prev.dir;
	ev->node.created_index = ev->prev.created_index;
	ev->node.modified_index = ev->index;
	return emit(o, ev);
}

/* delete and compareAndDelete (cad). The event's node is the removed
 * node without value or TTL, with the new modifiedIndex. */
static int op_delete(op_ctx *o, const store_cmd *c, const char *path,
		     size_t len, int cad)
{
	if (is_root(path, len))
		return fail(o, STORE_ERR_ROOT_RONLY, strdup("/"));
	store_event ev = {.action =
			      cad ? STORE_ACTION_CAD : STORE_ACTION_DELETE,
			  .has_prev = 1};
	int rc = get_existing(o, path, len, &ev.prev);
	if (rc != 0 || o->error)
		return rc;
	int dir = c->dir || c->recursive;
	if (ev.prev.dir && (cad || !dir)) {
		store_node_free(&ev.prev);
		return fail_path(o, STORE_ERR_NOT_FILE, path, len);
	}
	char *cause = cad ? compare_cause(&ev.prev, c) : NULL;
	if (cause != NULL) {
		store_node_free(&ev.prev);
		return fail(o, STORE_ERR_TEST_FAILED, cause);
	}
	if (ev.prev.dir && !c->recursive &&
	    (rc = has_children(o, path, len)) != 0) {
		store_node_free(&ev.prev);
		return rc < 0
			   ? rc
			   : fail_path(o, STORE_ERR_DIR_NOT_EMPTY, path, len);
	}
	return remove_and_emit(o, path, len, &ev);
}

static int op_post(op_ctx *o, const store_cmd *c, const char *path, size_t len)
{
	size_t plen = is_root(path, len) ? 0 : len;
	char p[plen + 22];
	memcpy(p, path, plen);
	snprintf(p + plen, 22, "/%020" PRIu64, o->index + 1);
	return create_node(o, p, plen + 21, c->dir, c->value, c->value_len,
			   norm_expire(c->expire_ns), 0, STORE_ACTION_CREATE,
			   0);
}

/* One expiry: the node at encoded key ek (and its subtree). */
static int expire_one(op_ctx *o, const char *ek, size_t klen,
		      const MDB_val *rec)
{
	char path[klen + 1];
	memcpy(path, ek, klen);
	path[klen] = '\0';
	char *sep = memchr(path, '\0', klen);
	if (sep)
		*sep = '/';
	if (path[0] != '/') /* a root child: "\0name" decoded to "/name" */
		return -EINVAL;
	noderec r;
	store_event ev = {.action = STORE_ACTION_EXPIRE, .has_prev = 1};
	int rc = store_rec_decode(rec, &r);
	if (rc == 0)
		rc = store_node_from_rec(&ev.prev, path, klen, &r, 1);
	if (rc != 0) {
		store_node_free(&ev.prev);
		return rc;
	}
	return remove_and_emit(o, path, klen, &ev);
}

static int op_expire(op_ctx *o, int64_t now)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(o->txn, o->s->expiry, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	for (;;) {
		MDB_val k, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0 || k.mv_size <= 8) {
			rc = store_lmdb_err(rc ? rc : EINVAL, "expiry");
			break;
		}
		if ((int64_t)get_be64(k.mv_data) > now)
			break;
		size_t klen = k.mv_size - 8;
		char ek[klen];
		memcpy(ek, (char *)k.mv_data + 8, klen);
		MDB_val nk = {klen, ek}, nv;
		rc = mdb_get(o->txn, o->s->nodes, &nk, &nv);
		noderec r;
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (store_rec_decode(&nv, &r) != 0 ||
				 r.expire != (int64_t)get_be64(k.mv_data))))
			rc = mdb_cursor_del(c, 0); /* stale entry: drop it */
		else if (rc == 0)
			rc = expire_one(o, ek, klen, &nv);
		if (rc != 0) {
			rc = store_lmdb_err(rc, "expire");
			break;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

static int op_meta(op_ctx *o, const store_cmd *c)
{
	size_t kl = strlen(META_USER) + c->path_len;
	if (kl > o->s->max_key)
		return fail(o, 209, strdup("meta key too long"));
	char kb[kl];
	memcpy(kb, META_USER, strlen(META_USER));
	memcpy(kb + strlen(META_USER), c->path, c->path_len);
	MDB_val k = {kl, kb}, v = {c->value_len, (void *)c->value}, cur;
	/* prevExist as for keys: the proposer decided on what it saw, the
	 * apply tells the loser of a race (a result, never a failure). */
	int want_absent = c->op == STORE_OP_META_PUT && c->prev_exist == 0;
	if (want_absent || c->prev_exist == 1) {
		int rc = mdb_get(o->txn, o->s->meta, &k, &cur);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_lmdb_err(rc, "meta");
		if (want_absent && rc == 0)
			return fail(o, STORE_ERR_NODE_EXIST, NULL);
		if (!want_absent && rc == MDB_NOTFOUND)
			return fail(o, STORE_ERR_KEY_NOT_FOUND, NULL);
	}
	int rc = c->op == STORE_OP_META_PUT
		     ? mdb_put(o->txn, o->s->meta, &k, &v, 0)
		     : mdb_del(o->txn, o->s->meta, &k, NULL);
	o->s->meta_gen++;
	return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc, "meta");
}

static int op_key(op_ctx *o, const store_cmd *c, const char *path, size_t len)
{
	if (c->op == STORE_OP_POST)
		return op_post(o, c, path, len);
	int compare = c->prev_value_len != 0 || c->prev_index != 0;
	if (c->op == STORE_OP_DELETE)
		return op_delete(o, c, path, len, compare);
	if (c->prev_exist == 0)
		return create_node(o, path, len, c->dir, c->value, c->value_len,
				   norm_expire(c->expire_ns), 0,
				   STORE_ACTION_CREATE, 0);
	if (compare || c->prev_exist == 1)
		return op_update(o, c, path, len, compare);
	return op_set(o, c, path, len);
}

int store_ops_run(op_ctx *o, const store_cmd *c)
{
	switch (c->op) {
	case STORE_OP_NOOP:
		return 0;
	case STORE_OP_EXPIRE:
		return op_expire(o, c->now_ns);
	case STORE_OP_META_PUT:
	case STORE_OP_META_DEL:
		return op_meta(o, c);
	case STORE_OP_PUT:
	case STORE_OP_POST:
	case STORE_OP_DELETE:
		break;
	default:
		return fail(o, 209, strdup("unknown operation"));
	}
	if (c->path == NULL || memchr(c->path, '\0', c->path_len) != NULL)
		return fail(o, 209, strdup("invalid key"));
	char *path = store_clean_path(c->path, c->path_len);
	if (path == NULL)
		return -ENOMEM;
	size_t len = strlen(path);
	int rc;
	/* POST adds "/" + 20 digits; the expiry key adds 8 bytes. */
	if (len + 8 + (c->op == STORE_OP_POST ? 21 : 0) > o->s->max_key)
		rc = fail(o, 209, strdup("key too long"));
	else
		rc = op_key(o, c, path, len);
	free(path);
	return rc;
}
