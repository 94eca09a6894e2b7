/* bind.c - tying a Docker network to the ovld network of the same name.
 *
 * A network the sync creates names its ovld network in the ovl.network
 * option, so CreateNetwork binds it at once. A user's `docker network
 * create` does not: dockerd stores the network, with its name, only after
 * CreateNetwork has returned. So CreateNetwork leaves it pending, and the
 * binder thread asks dockerd for the name every BIND_POLL_MS until it shows
 * (or the create was rolled back), then creates the ovld network, which
 * the other hosts' syncs copy into their dockerds. Calls that need the
 * network before that (RequestAddress, CreateEndpoint) bind it themselves.
 *
 * The ovld network created here takes Docker's network id, and the pool
 * and gateway Docker got from RequestPool, so both agree on the subnet. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../log.h"
#include "dk_int.h"

#define BIND_POLL_MS 100

static void fmt_cidr(uint32_t net, int prefix, char out[32])
{
	char ip[16];
	ovl_ip_format(net, ip);
	snprintf(out, 32, "%s/%d", ip, prefix);
}

/* The existing ovld network named name is this Docker network's when it
 * is ovld's and has the same subnet. */
static int check_existing(const ovl_network *on, const char *subnet,
			  ovl_err *err)
{
	char have[32];
	fmt_cidr(on->subnet, on->prefix, have);
	err->code = OVL_EEXISTS;
	if (!on->ovld)
		snprintf(err->msg, sizeof(err->msg),
			 "network %s already exists and is Docker's own "
			 "overlay, not ovld's",
			 on->name);
	else if (on->in_delete)
		snprintf(err->msg, sizeof(err->msg),
			 "network %s is being removed", on->name);
	else if (subnet[0] && strcmp(subnet, have) != 0)
		snprintf(err->msg, sizeof(err->msg),
			 "network %s already exists in ovld with subnet %s, "
			 "not %s",
			 on->name, have, subnet);
	else
		err->code = OVL_OK;
	return err->code;
}

static int bind_ovld(dk *d, const char *nid, const char *name,
		     const char *subnet, const char *gateway, ovl_err *err)
{
	ovl_network on;
	for (int tries = 0; tries < 2; tries++) {
		int rc = ovl_network_get(d->ovl, name, &on, err);
		if (rc == OVL_OK)
			return check_existing(&on, subnet, err);
		if (rc != OVL_ENOTFOUND)
			return rc;
		ovl_net_req req = {.name = name,
				   .id = nid,
				   .subnet = subnet[0] ? subnet : NULL,
				   .gateway = gateway[0] ? gateway : NULL};
		rc = ovl_network_create(d->ovl, &req, &on, err);
		/* Another host made it meanwhile: check that one. */
		if (rc != OVL_EEXISTS)
			return rc;
	}
	return err->code;
}

/* What the table knows of nid; 0 if nothing. */
static int snapshot(dk *d, const char *nid, dk_net *out)
{
	pthread_mutex_lock(&d->mu);
	dk_net *n = dk_net_find(d, nid);
	if (n)
		*out = *n;
	pthread_mutex_unlock(&d->mu);
	return n != NULL;
}

static void remember(dk *d, const char *nid, const char *name, const char *pool)
{
	pthread_mutex_lock(&d->mu);
	dk_net *n = dk_net_add(d, nid);
	if (n) {
		snprintf(n->name, sizeof(n->name), "%s", name);
		if (pool[0])
			snprintf(n->pool, sizeof(n->pool), "%s", pool);
		n->pending = 0;
	}
	pthread_mutex_unlock(&d->mu);
}

/* Asks dockerd for the network's name (and subnet, after a restart of
 * ovld, when the table is empty). */
static int learn(dk *d, const char *nid, dk_net *n, ovl_err *err)
{
	dk_dnet dn;
	int rc = dk_docker_network(d, nid, &dn);
	if (rc != 0) {
		err->code = rc > 0 ? OVL_ENOTFOUND : OVL_EUNAVAIL;
		snprintf(err->msg, sizeof(err->msg),
			 rc > 0 ? "Docker network %.12s is not known to "
				  "dockerd (yet)"
				: "dockerd cannot be reached to learn the name "
				  "of network %.12s",
			 nid);
		return err->code;
	}
	snprintf(n->name, sizeof(n->name), "%s",
		 dn.ovl_network[0] ? dn.ovl_network : dn.name);
	if (!n->pool[0])
		snprintf(n->pool, sizeof(n->pool), "%s", dn.subnet);
	return OVL_OK;
}

int dk_bind(dk *d, const char *nid, char name[256], ovl_err *err)
{
	dk_net n;
	memset(err, 0, sizeof(*err));
	if (!snapshot(d, nid, &n)) {
		memset(&n, 0, sizeof(n));
		snprintf(n.nid, sizeof(n.nid), "%s", nid);
		n.pending = 1;
	}
	if (!n.pending && n.name[0]) {
		snprintf(name, 256, "%s", n.name);
		return OVL_OK;
	}
	if (!n.name[0] && learn(d, nid, &n, err) != OVL_OK)
		return err->code;
	if (bind_ovld(d, nid, n.name, n.pool, n.gateway, err) != OVL_OK)
		return err->code;
	remember(d, nid, n.name, n.pool);
	if (n.pool[0])
		dk_pool_release(d, n.pool);
	snprintf(name, 256, "%s", n.name);
	log_info("docker", "Docker network %.12s is ovld network %s", nid,
		 n.name);
	return OVL_OK;
}

/* The pending networks' ids, copied so the lock is not held over
 * dockerd calls (dockerd calls back into the plugin). Gives up on those
 * that waited too long. */
static size_t pending_ids(dk *d, char (*ids)[65], size_t cap)
{
	size_t n = 0;
	int64_t now = dk_now_ms();
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_nets;) {
		dk_net *e = &d->nets[i];
		if (e->pending && now - e->since_ms > DK_BIND_GIVE_UP_MS) {
			log_warn("docker",
				 "gave up binding Docker network %.12s",
				 e->nid);
			*e = d->nets[--d->n_nets];
			continue;
		}
		if (e->pending && n < cap)
			memcpy(ids[n++], e->nid, 65);
		i++;
	}
	pthread_mutex_unlock(&d->mu);
	return n;
}

static void bind_pending(dk *d)
{
	char ids[16][65], name[256];
	size_t n = pending_ids(d, ids, 16);
	for (size_t i = 0; i < n; i++) {
		ovl_err err;
		int rc = dk_bind(d, ids[i], name, &err);
		/* Not in dockerd yet, or dockerd busy: try again. Any other
		 * error is final; the first RequestAddress reports it. */
		if (rc != OVL_OK && rc != OVL_ENOTFOUND && rc != OVL_EUNAVAIL) {
			log_warn("docker", "Docker network %.12s: %s", ids[i],
				 err.msg);
			pthread_mutex_lock(&d->mu);
			dk_net_drop(d, ids[i]);
			pthread_mutex_unlock(&d->mu);
		}
	}
}

static int any_pending(dk *d)
{
	for (size_t i = 0; i < d->n_nets; i++)
		if (d->nets[i].pending)
			return 1;
	return 0;
}

static void *binder(void *arg)
{
	dk *d = arg;
	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		if (!any_pending(d)) {
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BIND_POLL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->mu);
		bind_pending(d);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int dk_binder_start(dk *d)
{
	if (pthread_create(&d->binder, NULL, binder, d) != 0)
		return -1;
	d->binder_on = 1;
	return 0;
}

void dk_binder_stop(dk *d)
{
	if (!d->binder_on)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = 1;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->binder, NULL);
	d->binder_on = 0;
}
