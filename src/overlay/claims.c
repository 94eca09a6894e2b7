/* claims.c - claim keys and their rollback.
 *
 * A claim is a create-only key (prevExist=false): of two hosts racing for
 * a name, subnet block, VNI or address, the store lets exactly one win.
 * Every call that claims more than one thing remembers what it got, so a
 * later failure gives all of it back and leaves nothing behind. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ovl_claim(ovl *o, ovl_claims *cl, const char *key, const char *value)
{
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 8;
		char **nv = realloc(cl->keys, cap * sizeof(*nv));
		if (!nv)
			return -1;
		cl->keys = nv;
		cl->cap = cap;
	}
	char *copy = strdup(key);
	if (!copy)
		return -1;
	int rc = o->kv.create(o->kv.ctx, key, value, NULL);
	if (rc == 0)
		cl->keys[cl->n++] = copy;
	else
		free(copy);
	return rc;
}

void ovl_claims_drop_last(ovl *o, ovl_claims *cl)
{
	if (cl->n == 0)
		return;
	cl->n--;
	o->kv.del(o->kv.ctx, cl->keys[cl->n], 0, NULL, 0);
	free(cl->keys[cl->n]);
}

void ovl_claims_rollback(ovl *o, ovl_claims *cl)
{
	while (cl->n)
		ovl_claims_drop_last(o, cl);
}

void ovl_claims_free(ovl_claims *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		free(cl->keys[i]);
	free(cl->keys);
	cl->keys = NULL;
	cl->n = cl->cap = 0;
}
