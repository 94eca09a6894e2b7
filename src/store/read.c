/* read.c - local reads: GET with directory listings, watch matching and
 * the event history scan, and the small counters (key count, next
 * expiry). All run in LMDB read transactions. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static int add_child(store_node *dir, size_t *cap, const char *dpath,
		     size_t dlen, const char *name, size_t nlen,
		     const MDB_val *v)
{
	if (dir->n_children == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		store_node *c = realloc(dir->children, nc * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		dir->children = c;
		*cap = nc;
	}
	noderec r;
	if (store_rec_decode(v, &r) != 0)
		return -EINVAL;
	size_t base = dlen == 1 ? 0 : dlen;
	char key[base + 1 + nlen];
	memcpy(key, dpath, base);
	key[base] = '/';
	memcpy(key + base + 1, name, nlen);
	store_node *n = &dir->children[dir->n_children++];
	int rc = store_node_from_rec(n, key, base + 1 + nlen, &r, 1);
	if (rc == 0 && !r.dir && n->value == NULL)
		rc = (n->value = strdup("")) ? 0 : -ENOMEM;
	return rc;
}

/* Lists dir's children (sorted, hidden ones left out), and their
 * subtrees when recursive. */
static int list_dir(store *s, MDB_txn *txn, store_node *dir, const char *path,
		    size_t len, int recursive)
{
	char prefix[len + 1];
	size_t plen = store_enc_child_prefix(path, len, prefix), cap = 0;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->nodes, &c);
	if (rc != 0)
		return store_lmdb_err(rc, "cursor");
	dir->has_children = 1;
	MDB_val k = {plen, prefix}, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		const char *name = (const char *)k.mv_data + plen;
		size_t nlen = k.mv_size - plen;
		if (nlen > 0 && name[0] == '_')
			continue; /* hidden */
		if ((rc = add_child(dir, &cap, path, len, name, nlen, &v)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc < 0 ? rc : store_lmdb_err(rc, "list");
	for (size_t i = 0; recursive && i < dir->n_children; i++) {
		store_node *ch = &dir->children[i];
		if (ch->dir && (rc = list_dir(s, txn, ch, ch->key,
					      strlen(ch->key), 1)) != 0)
			return rc;
	}
	return 0;
}

int store_get(store *s, const char *path, int recursive, int sorted,
	      store_result *res)
{
	(void)sorted; /* always sorted: a legal "unsorted" order too */
	memset(res, 0, sizeof(*res));
	char *p = store_clean_path(path ? path : "/", path ? strlen(path) : 1);
	if (p == NULL)
		return -ENOMEM;
	size_t len = strlen(p);
	MDB_txn *txn;
	int rc = store_read_begin(s, &txn);
	if (rc != 0) {
		free(p);
		return rc;
	}
	res->index = s->index;
	rc = store_walk_get(s, txn, p, len, &res->ev.node, &res->cause);
	if (rc > 0) {
		res->error = rc;
		rc = 0;
	} else if (rc == 0) {
		res->ev.action = STORE_ACTION_GET;
		res->ev.index = s->index;
		if (res->ev.node.dir)
			rc = list_dir(s, txn, &res->ev.node, p, len, recursive);
	}
	store_read_end(s, txn);
	free(p);
	if (rc != 0)
		store_result_free(res);
	return rc;
}

/* a is strictly below b. */
static int below(const char *a, size_t alen, const char *b, size_t blen)
{
	if (blen == 1 && b[0] == '/')
		return alen > 1 && a[0] == '/';
	return alen > blen && memcmp(a, b, blen) == 0 && a[blen] == '/';
}

/* The part of k below watched path p has a component starting with '_'. */
static int hidden_below(const char *k, size_t klen, size_t plen)
{
	size_t from = plen == 1 ? 0 : plen;
	for (size_t i = from; i + 1 < klen; i++)
		if (k[i] == '/' && k[i + 1] == '_')
			return 1;
	return 0;
}

/* live: etcd's watcher hub skips events hidden relative to the watched
 * path; its history scan does not (checked against etcd 3.4), so a watch
 * resumed from the past does see them. */
static int match(int action, int dir, const char *k, size_t klen, const char *p,
		 size_t plen, int recursive, int live)
{
	if (klen == plen && memcmp(k, p, klen) == 0)
		return 1;
	if (recursive && below(k, klen, p, plen) &&
	    !(live && hidden_below(k, klen, plen)))
		return 1;
	/* Removing a directory removes everything under it, so watchers
	 * inside it hear about it. */
	return (action == STORE_ACTION_DELETE ||
		action == STORE_ACTION_EXPIRE) &&
	       dir && below(p, plen, k, klen);
}

int store_event_matches(const store_event *ev, const char *watch_path,
			int recursive)
{
	const char *k = ev->node.key ? ev->node.key : "/";
	int dir = ev->node.dir || (ev->has_prev && ev->prev.dir);
	return match(ev->action, dir, k, strlen(k), watch_path,
		     strlen(watch_path), recursive, 1);
}

/* Matches a history record without decoding it (see codec.c for the
 * layout), so scanning a long quiet history allocates nothing. */
static int record_matches(const MDB_val *v, const char *p, size_t plen,
			  int recursive)
{
	const unsigned char *b = v->mv_data;
	if (v->mv_size < 11 + 29 || b[0] != 1 || (b[2] & 1))
		return 0; /* refresh events are skipped by watches */
	const unsigned char *n = b + 11;
	uint32_t kl = get_le32(n + 25);
	if (kl > v->mv_size - 40)
		return 0;
	int dir = n[0] & 1;
	if ((b[2] & 2) && !dir) { /* prev node's flags */
		const unsigned char *q = n + 29 + kl;
		if ((size_t)(q + 4 - b) <= v->mv_size) {
			uint32_t vl = get_le32(q);
			size_t off = (size_t)(q + 4 - b) + vl;
			if (off < v->mv_size)
				dir = b[off] & 1;
		}
	}
	return match(b[1], dir, (const char *)n + 29, kl, p, plen, recursive,
		     0);
}

uint64_t store_history_start(store *s)
{
	MDB_txn *txn;
	MDB_cursor *c;
	uint64_t start = s->index + 1;
	if (store_read_begin(s, &txn) != 0)
		return start;
	if (mdb_cursor_open(txn, s->history, &c) == 0) {
		MDB_val k, v;
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8)
			start = get_be64(k.mv_data);
		mdb_cursor_close(c);
	}
	store_read_end(s, txn);
	return start;
}

static int history_err(store *s, uint64_t start, uint64_t from,
		       store_result *err)
{
	if (err == NULL)
		return STORE_ERR_EVENT_INDEX_CLEARED;
	store_result_free(err);
	err->error = STORE_ERR_EVENT_INDEX_CLEARED;
	err->index = s->index;
	if (asprintf(&err->cause,
		     "the requested history has been cleared [%" PRIu64
		     "/%" PRIu64 "]",
		     start, from) < 0)
		err->cause = NULL;
	return STORE_ERR_EVENT_INDEX_CLEARED;
}

int store_history_find(store *s, uint64_t from, const char *path, int recursive,
		       int *found, store_event *ev, store_result *err)
{
	*found = 0;
	memset(ev, 0, sizeof(*ev));
	if (from == 0) /* etcd: "no index" means the next one */
		from = s->index + 1;
	uint64_t start = store_history_start(s);
	if (from < start)
		return history_err(s, start, from, err);
	MDB_txn *txn;
	MDB_cursor *c;
	int rc = store_read_begin(s, &txn);
	if (rc != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->history, &c)) != 0) {
		store_read_end(s, txn);
		return store_lmdb_err(rc, "cursor");
	}
	unsigned char kb[8];
	put_be64(kb, from);
	MDB_val k = {8, kb}, v;
	char *p = store_clean_path(path ? path : "/", path ? strlen(path) : 1);
	size_t plen = p ? strlen(p) : 0;
	for (rc = p ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : ENOMEM;
	     rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!record_matches(&v, p, plen, recursive))
			continue;
		rc = store_event_decode(v.mv_data, v.mv_size, ev);
		*found = rc == 0;
		break;
	}
	free(p);
	mdb_cursor_close(c);
	store_read_end(s, txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc, "scan");
}

int64_t store_next_expiry(store *s)
{
	MDB_txn *txn;
	MDB_cursor *c;
	int64_t next = 0;
	if (store_read_begin(s, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, s->expiry, &c) == 0) {
		MDB_val k, v;
		if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size > 8)
			next = (int64_t)get_be64(k.mv_data);
		mdb_cursor_close(c);
	}
	store_read_end(s, txn);
	return next;
}

size_t store_key_count(store *s)
{
	MDB_txn *txn;
	MDB_stat st;
	size_t n = 0;
	if (store_read_begin(s, &txn) != 0)
		return 0;
	if (mdb_stat(txn, s->nodes, &st) == 0)
		n = st.ms_entries;
	store_read_end(s, txn);
	return n;
}
