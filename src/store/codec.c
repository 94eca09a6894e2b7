/* codec.c - the store's on-disk encodings (node keys and records, expiry
 * entries, history events, meta counters), path lookup, and the node and
 * result helpers of store.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "store_int.h"

int store_lmdb_err(int rc, const char *what)
{
	if (rc == 0)
		return 0;
	log_error("store", "%s: %s", what, mdb_strerror(rc));
	return rc < 0 ? rc : -rc;
}

void store_enc_key(const char *path, size_t len, char *out)
{
	size_t slash = len;
	while (slash > 0 && path[slash - 1] != '/')
		slash--;
	/* slash is one past the last '/', which becomes the separator. */
	memcpy(out, path, slash - 1);
	out[slash - 1] = '\0';
	memcpy(out + slash, path + slash, len - slash);
}

size_t store_enc_child_prefix(const char *dir, size_t dlen, char *out)
{
	if (dlen == 1) { /* the root */
		out[0] = '\0';
		return 1;
	}
	memcpy(out, dir, dlen);
	out[dlen] = '\0';
	return dlen + 1;
}

int store_rec_decode(const MDB_val *v, noderec *r)
{
	const unsigned char *p = v->mv_data;
	if (v->mv_size < REC_HDR)
		return -EINVAL;
	r->dir = p[0] & REC_DIR;
	r->created = get_le64(p + 1);
	r->modified = get_le64(p + 9);
	r->expire = (int64_t)get_le64(p + 17);
	r->value = (const char *)p + REC_HDR;
	r->value_len = v->mv_size - REC_HDR;
	return 0;
}

int store_rec_put(store *s, MDB_txn *txn, const char *ekey, size_t klen,
		  const noderec *r)
{
	MDB_val k = {klen, (void *)ekey};
	MDB_val v = {REC_HDR + r->value_len, NULL};
	int rc = mdb_put(txn, s->nodes, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return store_lmdb_err(rc, "put node");
	unsigned char *p = v.mv_data;
	p[0] = r->dir ? REC_DIR : 0;
	put_le64(p + 1, r->created);
	put_le64(p + 9, r->modified);
	put_le64(p + 17, (uint64_t)r->expire);
	if (r->value_len)
		memcpy(p + REC_HDR, r->value, r->value_len);
	return 0;
}

static int expiry_key(int64_t expire, const char *ekey, size_t klen,
		      unsigned char *buf)
{
	put_be64(buf, (uint64_t)expire);
	memcpy(buf + 8, ekey, klen);
	return 0;
}

int store_expiry_put(store *s, MDB_txn *txn, int64_t expire, const char *ekey,
		     size_t klen)
{
	if (expire == 0)
		return 0;
	unsigned char buf[8 + klen];
	expiry_key(expire, ekey, klen, buf);
	MDB_val k = {8 + klen, buf}, v = {0, NULL};
	return store_lmdb_err(mdb_put(txn, s->expiry, &k, &v, 0), "put expiry");
}

int store_expiry_del(store *s, MDB_txn *txn, int64_t expire, const char *ekey,
		     size_t klen)
{
	if (expire == 0)
		return 0;
	unsigned char buf[8 + klen];
	expiry_key(expire, ekey, klen, buf);
	MDB_val k = {8 + klen, buf};
	int rc = mdb_del(txn, s->expiry, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc, "del expiry");
}

static char *memdup0(const char *p, size_t len)
{
	char *d = malloc(len + 1);
	if (d == NULL)
		return NULL;
	if (len)
		memcpy(d, p, len);
	d[len] = '\0';
	return d;
}

int store_node_from_rec(store_node *n, const char *path, size_t len,
			const noderec *r, int with_value)
{
	memset(n, 0, sizeof(*n));
	n->key = memdup0(path, len);
	if (n->key == NULL)
		return -ENOMEM;
	n->dir = r->dir;
	n->expire_ns = r->expire;
	n->created_index = r->created;
	n->modified_index = r->modified;
	if (with_value && !r->dir) {
		n->value = memdup0(r->value, r->value_len);
		if (n->value == NULL)
			return -ENOMEM;
		n->value_len = r->value_len;
	}
	return 0;
}

/* Looks up one path: 0 (found), 1 (missing) or a negative error. */
static int lookup(store *s, MDB_txn *txn, const char *path, size_t len,
		  noderec *r)
{
	if (len > s->max_key)
		return 1; /* could never have been written */
	char ekey[len];
	store_enc_key(path, len, ekey);
	MDB_val k = {len, ekey}, v;
	int rc = mdb_get(txn, s->nodes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return store_lmdb_err(rc, "get node");
	return store_rec_decode(&v, r);
}

int store_walk(store *s, MDB_txn *txn, const char *path, size_t len, noderec *r,
	       size_t *stop)
{
	*stop = 0;
	memset(r, 0, sizeof(*r));
	r->dir = 1; /* the root */
	for (size_t end = 2; end <= len; end++) {
		if (end < len && path[end] != '/')
			continue;
		int rc = lookup(s, txn, path, end, r);
		if (rc < 0)
			return rc;
		if (rc == 1 || (end < len && !r->dir)) {
			*stop = end;
			return rc == 1 ? STORE_ERR_KEY_NOT_FOUND
				       : STORE_ERR_NOT_DIR;
		}
	}
	return 0;
}

int store_walk_get(store *s, MDB_txn *txn, const char *path, size_t len,
		   store_node *out, char **cause)
{
	noderec r;
	size_t stop;
	memset(out, 0, sizeof(*out));
	int rc = store_walk(s, txn, path, len, &r, &stop);
	if (rc > 0) {
		*cause = memdup0(path, stop);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (len == 1) { /* the root: a permanent dir with no indexes */
		out->dir = 1;
		return 0;
	}
	return store_node_from_rec(out, path, len, &r, 1);
}

/* History event record:
 *   u8 version(1) u8 action u8 flags(1 refresh, 2 has_prev) u64 index
 *   node [prev]
 * node: u8 flags(1 dir, 2 has value, 4 has key) u64 created u64 modified
 *       u64 expire u32 keylen key u32 vlen value (all little-endian). */
static size_t node_enc_size(const store_node *n)
{
	return 1 + 24 + 4 + (n->key ? strlen(n->key) : 0) + 4 + n->value_len;
}

static unsigned char *node_enc(unsigned char *p, const store_node *n)
{
	size_t kl = n->key ? strlen(n->key) : 0;
	p[0] = (n->dir ? 1 : 0) | (n->value ? 2 : 0) | (n->key ? 4 : 0);
	put_le64(p + 1, n->created_index);
	put_le64(p + 9, n->modified_index);
	put_le64(p + 17, (uint64_t)n->expire_ns);
	put_le32(p + 25, (uint32_t)kl);
	memcpy(p + 29, n->key ? n->key : "", kl);
	p += 29 + kl;
	put_le32(p, (uint32_t)n->value_len);
	if (n->value_len)
		memcpy(p + 4, n->value, n->value_len);
	return p + 4 + n->value_len;
}

int store_event_encode_put(store *s, MDB_txn *txn, const store_event *ev)
{
	unsigned char kb[8];
	put_be64(kb, ev->index);
	size_t size = 11 + node_enc_size(&ev->node);
	if (ev->has_prev)
		size += node_enc_size(&ev->prev);
	MDB_val k = {8, kb}, v = {size, NULL};
	int rc = mdb_put(txn, s->history, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc != 0)
		return store_lmdb_err(rc, "put history");
	unsigned char *p = v.mv_data;
	p[0] = 1;
	p[1] = (unsigned char)ev->action;
	p[2] = (ev->refresh ? 1 : 0) | (ev->has_prev ? 2 : 0);
	put_le64(p + 3, ev->index);
	p = node_enc(p + 11, &ev->node);
	if (ev->has_prev)
		node_enc(p, &ev->prev);
	return 0;
}

static const unsigned char *node_dec(const unsigned char *p,
				     const unsigned char *end, store_node *n)
{
	memset(n, 0, sizeof(*n));
	if (end - p < 29)
		return NULL;
	int fl = p[0];
	n->dir = fl & 1;
	n->created_index = get_le64(p + 1);
	n->modified_index = get_le64(p + 9);
	n->expire_ns = (int64_t)get_le64(p + 17);
	size_t kl = get_le32(p + 25);
	p += 29;
	if ((size_t)(end - p) < kl + 4)
		return NULL;
	if (fl & 4) {
		n->key = memdup0((const char *)p, kl);
		if (n->key == NULL)
			return NULL;
	}
	p += kl;
	size_t vl = get_le32(p);
	p += 4;
	if ((size_t)(end - p) < vl)
		return NULL;
	if (fl & 2) {
		n->value = memdup0((const char *)p, vl);
		if (n->value == NULL)
			return NULL;
		n->value_len = vl;
	}
	return p + vl;
}

int store_event_decode(const void *buf, size_t len, store_event *ev)
{
	const unsigned char *p = buf, *end = p + len;
	memset(ev, 0, sizeof(*ev));
	if (len < 11 || p[0] != 1)
		return -EINVAL;
	ev->action = p[1];
	ev->refresh = p[2] & 1;
	ev->has_prev = (p[2] & 2) != 0;
	ev->index = get_le64(p + 3);
	p = node_dec(p + 11, end, &ev->node);
	if (p != NULL && ev->has_prev)
		p = node_dec(p, end, &ev->prev);
	if (p == NULL) {
		store_node_free(&ev->node);
		store_node_free(&ev->prev);
		return -EINVAL;
	}
	return 0;
}

int store_state_get(store *s, MDB_txn *txn, uint64_t *index, uint64_t *raft)
{
	MDB_val k = {strlen(META_STATE), META_STATE}, d;
	int rc = mdb_get(txn, s->meta, &k, &d);
	*index = *raft = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_lmdb_err(rc, "get state");
	if (d.mv_size != 16)
		return -EINVAL;
	*index = get_le64(d.mv_data);
	*raft = get_le64((unsigned char *)d.mv_data + 8);
	return 0;
}

int store_state_put(store *s, MDB_txn *txn, uint64_t index, uint64_t raft)
{
	unsigned char b[16];
	put_le64(b, index);
	put_le64(b + 8, raft);
	MDB_val k = {strlen(META_STATE), META_STATE}, d = {16, b};
	return store_lmdb_err(mdb_put(txn, s->meta, &k, &d, 0), "put state");
}

void store_node_free(store_node *n)
{
	if (n == NULL)
		return;
	free(n->key);
	free(n->value);
	for (size_t i = 0; i < n->n_children; i++)
		store_node_free(&n->children[i]);
	free(n->children);
	memset(n, 0, sizeof(*n));
}

int store_node_copy(store_node *dst, const store_node *src)
{
	*dst = *src;
	dst->key = NULL;
	dst->value = NULL;
	dst->children = NULL;
	dst->n_children = 0;
	if (src->key && (dst->key = strdup(src->key)) == NULL)
		goto fail;
	if (src->value &&
	    (dst->value = memdup0(src->value, src->value_len)) == NULL)
		goto fail;
	if (src->n_children) {
		dst->children = calloc(src->n_children, sizeof(store_node));
		if (dst->children == NULL)
			goto fail;
		for (size_t i = 0; i < src->n_children; i++) {
			dst->n_children = i + 1;
			if (store_node_copy(&dst->children[i],
					    &src->children[i]) != 0)
				goto fail;
		}
	}
	return 0;
fail:
	store_node_free(dst);
	return -ENOMEM;
}

void store_result_free(store_result *res)
{
	if (res == NULL)
		return;
	free(res->cause);
	store_node_free(&res->ev.node);
	store_node_free(&res->ev.prev);
	memset(res, 0, sizeof(*res));
}

char *store_clean_path(const char *p, size_t len)
{
	char *out = malloc(len + 2);
	if (out == NULL)
		return NULL;
	size_t o = 0, i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		size_t seg = j - i;
		if (seg == 2 && p[i] == '.' && p[i + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* drop the '/' before the segment */
		} else if (seg > 0 && !(seg == 1 && p[i] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p + i, seg);
			o += seg;
		}
		i = j + 1;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

const char *store_action_name(int action)
{
	static const char *const names[] = {
	    [STORE_ACTION_GET] = "get",
	    [STORE_ACTION_SET] = "set",
	    [STORE_ACTION_CREATE] = "create",
	    [STORE_ACTION_UPDATE] = "update",
	    [STORE_ACTION_DELETE] = "delete",
	    [STORE_ACTION_CAS] = "compareAndSwap",
	    [STORE_ACTION_CAD] = "compareAndDelete",
	    [STORE_ACTION_EXPIRE] = "expire",
	};
	if (action < STORE_ACTION_GET || action > STORE_ACTION_EXPIRE)
		return "unknown";
	return names[action];
}

const char *store_error_message(int code)
{
	static const struct {
		int code;
		const char *msg;
	} t[] = {
	    {100, "Key not found"},
	    {101, "Compare failed"},
	    {102, "Not a file"},
	    {103, "Reached the max number of peers in the cluster"},
	    {104, "Not a directory"},
	    {105, "Key already exists"},
	    {106, "The prefix of given key is a keyword in etcd"},
	    {107, "Root is read only"},
	    {108, "Directory not empty"},
	    {109, "Peer address has existed"},
	    {110, "The request requires user authentication"},
	    {200, "Value is Required in POST form"},
	    {201, "PrevValue is Required in POST form"},
	    {202, "The given TTL in POST form is not a number"},
	    {203, "The given index in POST form is not a number"},
	    {204, "Value or TTL is required in POST form"},
	    {205, "The given timeout in POST form is not a number"},
	    {206, "Name is required in POST form"},
	    {207, "Index or value is required"},
	    {208, "Index and value cannot both be specified"},
	    {209, "Invalid field"},
	    {210, "Invalid POST form"},
	    {211, "Value provided on refresh"},
	    {212, "A TTL must be provided on refresh"},
	    {300, "Raft Internal Error"},
	    {301, "During Leader Election"},
	    {400, "watcher is cleared due to etcd recovery"},
	    {401, "The event in requested index is outdated and cleared"},
	    {402, "Standby Internal Error"},
	    {403, "Invalid active size"},
	    {404, "Standby remove delay"},
	    {500, "Client Internal Error"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].msg;
	return "Unknown error";
}
