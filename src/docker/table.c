/* table.c - the plugin's memory: Docker network id -> ovld network, the
 * pools handed to dockerd that no ovld network holds yet, and the names of
 * networks deleted here lately (so the sync does not bring them back while
 * other hosts' copies are still going away).
 *
 * The tables are small (one entry per Docker network on this host), so
 * they are plain arrays searched linearly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dk_int.h"

int64_t dk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	void *p = realloc(*arr, nc * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

dk_net *dk_net_find(dk *d, const char *nid)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (strcmp(d->nets[i].nid, nid) == 0)
			return &d->nets[i];
	return NULL;
}

dk_net *dk_net_add(dk *d, const char *nid)
{
	dk_net *n = dk_net_find(d, nid);
	if (n)
		return n;
	if (grow((void **)&d->nets, &d->cap_nets, d->n_nets, sizeof(dk_net)))
		return NULL;
	n = &d->nets[d->n_nets++];
	memset(n, 0, sizeof(*n));
	strncpy(n->nid, nid, sizeof(n->nid) - 1);
	n->since_ms = dk_now_ms();
	return n;
}

void dk_net_drop(dk *d, const char *nid)
{
	dk_net *n = dk_net_find(d, nid);
	if (n)
		*n = d->nets[--d->n_nets];
}

void dk_pool_hold(dk *d, const char *cidr)
{
	pthread_mutex_lock(&d->mu);
	if (grow((void **)&d->pools, &d->cap_pools, d->n_pools,
		 sizeof(dk_pool)) == 0) {
		dk_pool *p = &d->pools[d->n_pools++];
		strncpy(p->cidr, cidr, sizeof(p->cidr) - 1);
		p->cidr[sizeof(p->cidr) - 1] = '\0';
		p->since_ms = dk_now_ms();
	}
	pthread_mutex_unlock(&d->mu);
}

void dk_pool_release(dk *d, const char *cidr)
{
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_pools; i++)
		if (strcmp(d->pools[i].cidr, cidr) == 0) {
			d->pools[i] = d->pools[--d->n_pools];
			break;
		}
	pthread_mutex_unlock(&d->mu);
}

static int overlaps(uint32_t a, int pa, uint32_t b, int pb)
{
	int p = pa < pb ? pa : pb;
	return ((a ^ b) & ovl_prefix_mask(p)) == 0;
}

/* Whether a held pool overlaps net/prefix. Held pools expire: one that no
 * network took within the bind window was rolled back by dockerd. */
int dk_pool_held(dk *d, uint32_t net, int prefix)
{
	int held = 0;
	int64_t now = dk_now_ms();
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_pools && !held; i++) {
		uint32_t pn;
		int pp;
		if (now - d->pools[i].since_ms > DK_BIND_GIVE_UP_MS * 4)
			continue;
		if (ovl_cidr_parse(d->pools[i].cidr, &pn, &pp) == 0 &&
		    overlaps(pn, pp, net, prefix))
			held = 1;
	}
	pthread_mutex_unlock(&d->mu);
	return held;
}

static void addr_key(const char *net, uint32_t ip, char out[280])
{
	snprintf(out, 280, "%.256s %08x", net, ip);
}

int dk_addr_hold(dk *d, const char *net, uint32_t ip)
{
	char k[280];
	int held = 0;
	addr_key(net, ip, k);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_addrs && !held; i++)
		held = strcmp(d->addrs[i].key, k) == 0;
	if (!held && grow((void **)&d->addrs, &d->cap_addrs, d->n_addrs,
			  sizeof(dk_addr)) == 0)
		memcpy(d->addrs[d->n_addrs++].key, k, sizeof(k));
	pthread_mutex_unlock(&d->mu);
	return held;
}

void dk_addr_drop(dk *d, const char *net, uint32_t ip)
{
	char k[280];
	addr_key(net, ip, k);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_addrs; i++)
		if (strcmp(d->addrs[i].key, k) == 0) {
			d->addrs[i] = d->addrs[--d->n_addrs];
			break;
		}
	pthread_mutex_unlock(&d->mu);
}

void dk_tomb_add(dk *d, const char *name)
{
	pthread_mutex_lock(&d->mu);
	if (grow((void **)&d->tombs, &d->cap_tombs, d->n_tombs,
		 sizeof(dk_tomb)) == 0) {
		dk_tomb *t = &d->tombs[d->n_tombs++];
		strncpy(t->name, name, sizeof(t->name) - 1);
		t->name[sizeof(t->name) - 1] = '\0';
		t->at_ms = dk_now_ms();
	}
	pthread_mutex_unlock(&d->mu);
}

int dk_tomb_has(dk *d, const char *name)
{
	int64_t now = dk_now_ms();
	int has = 0;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_tombs;) {
		if (now - d->tombs[i].at_ms > DK_TOMB_MS) {
			d->tombs[i] = d->tombs[--d->n_tombs];
			continue;
		}
		if (strcmp(d->tombs[i].name, name) == 0)
			has = 1;
		i++;
	}
	pthread_mutex_unlock(&d->mu);
	return has;
}
