/* test_overlay_fake.h - an in-memory ovl_kv for the overlay model's unit
 * tests: etcd v2 semantics for the calls the model makes (create-only,
 * compare-and-swap, compare-and-delete by index or value, recursive
 * directory reads and deletes) with etcd's error codes, one global
 * modifiedIndex, and a write that can be made to fail on purpose. */
#ifndef TEST_OVERLAY_FAKE_H
#define TEST_OVERLAY_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overlay/overlay.h"

typedef struct fkv_entry {
	char *key, *value;
	uint64_t index;
	unsigned ttl;
} fkv_entry;

typedef struct fkv {
	fkv_entry *e;
	size_t n, cap;
	uint64_t index;
	int writes;  /* writes attempted so far */
	int fail_at; /* the write with this number fails (-1), 0: none */
	/* Called before each write (its number), to interleave another
	 * client's change. */
	void (*before_write)(struct fkv *f, int nth);
} fkv;

static inline fkv_entry *fkv_find(fkv *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->e[i].key, key))
			return &f->e[i];
	return NULL;
}

static inline int fkv_under(const char *key, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(key, dir, n) && key[n] == '/';
}

static inline int fkv_is_dir(fkv *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (fkv_under(f->e[i].key, key))
			return 1;
	return 0;
}

static inline json_t *fkv_leaf(const fkv_entry *e)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "key", e->key, "value",
			 e->value, "modifiedIndex", (json_int_t)e->index,
			 "createdIndex", (json_int_t)e->index);
}

static inline int fkv_cmp_key(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t **)a, "key")),
		      json_string_value(json_object_get(*(json_t **)b, "key")));
}

static inline json_t *fkv_node(fkv *f, const char *key, int recursive,
			       int depth)
{
	fkv_entry *e = fkv_find(f, key);
	if (e)
		return fkv_leaf(e);
	json_t *kids = json_array();
	size_t kl = strlen(key);
	for (size_t i = 0; i < f->n; i++) {
		if (!fkv_under(f->e[i].key, key))
			continue;
		const char *rest = f->e[i].key + kl + 1;
		char child[1024];
		snprintf(child, sizeof(child), "%s/%.*s", key,
			 (int)strcspn(rest, "/"), rest);
		size_t j;
		json_t *c;
		int dup = 0;
		json_array_foreach(kids, j, c) dup |= !strcmp(
		    json_string_value(json_object_get(c, "key")), child);
		if (dup)
			continue;
		if (fkv_find(f, child))
			json_array_append_new(kids,
					      fkv_leaf(fkv_find(f, child)));
		else if (recursive)
			json_array_append_new(kids,
					      fkv_node(f, child, 1, depth + 1));
		else
			json_array_append_new(
			    kids,
			    json_pack("{s:s, s:b}", "key", child, "dir", 1));
	}
	json_t **arr = calloc(json_array_size(kids) + 1, sizeof(*arr));
	size_t j;
	json_t *c;
	json_array_foreach(kids, j, c) arr[j] = c;
	qsort(arr, json_array_size(kids), sizeof(*arr), fkv_cmp_key);
	json_t *sorted = json_array();
	for (j = 0; j < json_array_size(kids); j++)
		json_array_append(sorted, arr[j]);
	free(arr);
	json_decref(kids);
	return json_pack("{s:s, s:b, s:o}", "key", key, "dir", 1, "nodes",
			 sorted);
}

static inline int fkv_get(void *ctx, const char *key, int recursive,
			  json_t **node)
{
	fkv *f = ctx;
	if (!fkv_find(f, key) && !fkv_is_dir(f, key))
		return OVL_KV_NOT_FOUND;
	if (node)
		*node = fkv_node(f, key, recursive, 0);
	return 0;
}

static inline int fkv_write_fails(fkv *f)
{
	++f->writes;
	if (f->before_write)
		f->before_write(f, f->writes);
	return f->writes == f->fail_at;
}

static inline fkv_entry *fkv_put(fkv *f, const char *key, const char *value)
{
	fkv_entry *e = fkv_find(f, key);
	if (!e) {
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 64;
			f->e = realloc(f->e, f->cap * sizeof(*f->e));
		}
		e = &f->e[f->n++];
		e->key = strdup(key);
		e->value = NULL;
	}
	free(e->value);
	e->value = strdup(value);
	e->index = ++f->index;
	e->ttl = 0;
	return e;
}

static inline int fkv_create(void *ctx, const char *key, const char *value,
			     json_t **node)
{
	fkv *f = ctx;
	if (fkv_write_fails(f))
		return -1;
	if (fkv_find(f, key) || fkv_is_dir(f, key))
		return OVL_KV_EXISTS;
	fkv_entry *e = fkv_put(f, key, value);
	if (node)
		*node = fkv_leaf(e);
	return 0;
}

static inline int fkv_cas(void *ctx, const char *key, const char *value,
			  uint64_t prev_index, json_t **node)
{
	fkv *f = ctx;
	if (fkv_write_fails(f))
		return -1;
	fkv_entry *e = fkv_find(f, key);
	if (!e)
		return OVL_KV_NOT_FOUND;
	if (e->index != prev_index)
		return OVL_KV_TEST_FAILED;
	e = fkv_put(f, key, value);
	if (node)
		*node = fkv_leaf(e);
	return 0;
}

static inline void fkv_remove(fkv *f, size_t i)
{
	free(f->e[i].key);
	free(f->e[i].value);
	f->e[i] = f->e[--f->n];
}

static inline int fkv_del(void *ctx, const char *key, uint64_t prev_index,
			  const char *prev_value, int dir)
{
	fkv *f = ctx;
	if (fkv_write_fails(f))
		return -1;
	fkv_entry *e = fkv_find(f, key);
	if (e) {
		if ((prev_index && e->index != prev_index) ||
		    (prev_value && strcmp(e->value, prev_value)))
			return OVL_KV_TEST_FAILED;
		fkv_remove(f, (size_t)(e - f->e));
		f->index++;
		return 0;
	}
	if (!fkv_is_dir(f, key))
		return OVL_KV_NOT_FOUND;
	if (!dir)
		return 102; /* not a file */
	for (size_t i = f->n; i-- > 0;)
		if (fkv_under(f->e[i].key, key))
			fkv_remove(f, i);
	f->index++;
	return 0;
}

static inline int fkv_set(void *ctx, const char *key, const char *value,
			  unsigned ttl_s)
{
	fkv *f = ctx;
	if (fkv_write_fails(f))
		return -1;
	fkv_put(f, key, value)->ttl = ttl_s;
	return 0;
}

static inline ovl_kv fkv_kv(fkv *f)
{
	ovl_kv kv = {.ctx = f,
		     .get = fkv_get,
		     .create = fkv_create,
		     .cas = fkv_cas,
		     .del = fkv_del,
		     .set = fkv_set};
	return kv;
}

static inline void fkv_free(fkv *f)
{
	while (f->n)
		fkv_remove(f, f->n - 1);
	free(f->e);
	memset(f, 0, sizeof(*f));
}

/* Every key=value, sorted, one per line, except keys under skip (NULL:
 * none); malloc'd. For comparing the store before and after a call. */
static inline char *fkv_dump(fkv *f, const char *skip)
{
	json_t *all = json_object();
	for (size_t i = 0; i < f->n; i++)
		if (!skip || strncmp(f->e[i].key, skip, strlen(skip)))
			json_object_set_new(all, f->e[i].key,
					    json_string(f->e[i].value));
	char *s = json_dumps(all, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(all);
	return s;
}

static inline int fkv_count_under(fkv *f, const char *dir)
{
	int n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += fkv_under(f->e[i].key, dir);
	return n;
}

static inline const char *fkv_value(fkv *f, const char *key)
{
	fkv_entry *e = fkv_find(f, key);
	return e ? e->value : NULL;
}

#endif
