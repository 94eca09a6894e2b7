/* sync.c - makes the local dockerd's ovl networks follow ovld's networks:
 * every ovld network gets a Docker copy on every host (created through
 * dockerd's API with the ovl.network option, so CreateNetwork binds it at
 * once), and a copy whose ovld network is gone is removed once no local
 * container uses it.
 *
 * dockerd is read before the store. A `docker network rm` on this host
 * deletes the ovld network (DeleteNetwork) and only then drops dockerd's
 * record, so a sync that read the store first could see the ovld network
 * still there, then dockerd's record gone, and create the network again.
 * Reading dockerd first, the worst case is removing a copy dockerd is
 * already removing. Names deleted here lately are never re-created (the
 * tombstones), for the same window seen from the other side.
 *
 * No lock is held over a dockerd call: dockerd calls back into the plugin
 * (RequestPool, CreateNetwork, DeleteNetwork) on other worker threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "dk_int.h"

static const dk_dnet *docker_has(const dk_dnet *dn, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(dn[i].name, name) == 0)
			return &dn[i];
	return NULL;
}

static const ovl_network *ovld_has(const ovl_network *on, size_t n,
				   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (on[i].ovld && !on[i].in_delete &&
		    strcmp(on[i].name, name) == 0)
			return &on[i];
	return NULL;
}

static void create_missing(dk *d, const dk_dnet *dn, size_t ndn,
			   const ovl_network *on, size_t non)
{
	char cidr[32], ip[16], msg[300];
	for (size_t i = 0; i < non; i++) {
		if (!on[i].ovld || on[i].in_delete ||
		    docker_has(dn, ndn, on[i].name) ||
		    dk_tomb_has(d, on[i].name))
			continue;
		ovl_ip_format(on[i].subnet, ip);
		snprintf(cidr, sizeof(cidr), "%s/%d", ip, on[i].prefix);
		if (dk_docker_create(d, on[i].name, cidr, msg, sizeof(msg)))
			/* e.g. a non-ovl Docker network has the name: said
			 * again every few seconds, so at debug. */
			log_debug("docker",
				  "cannot create network %s in "
				  "dockerd: %s",
				  on[i].name, msg);
		else
			log_info("docker", "network %s created in dockerd",
				 on[i].name);
	}
}

/* Learnt names, so DeleteNetwork knows its ovld network even after an
 * ovld restart. Pending entries are left to the binder. */
static void remember(dk *d, const dk_dnet *dn, size_t ndn)
{
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < ndn; i++) {
		dk_net *n = dk_net_find(d, dn[i].id);
		if (n && n->pending)
			continue;
		if (!n && !(n = dk_net_add(d, dn[i].id)))
			break;
		snprintf(n->name, sizeof(n->name), "%s",
			 dn[i].ovl_network[0] ? dn[i].ovl_network : dn[i].name);
		if (!n->pool[0])
			snprintf(n->pool, sizeof(n->pool), "%s", dn[i].subnet);
	}
	pthread_mutex_unlock(&d->mu);
}

/* 1 if the copy may go: not waiting to be bound, and flagged removing so
 * the DeleteNetwork it causes leaves the store alone. */
static int mark_removing(dk *d, const char *nid, int on)
{
	int ok = 1;
	pthread_mutex_lock(&d->mu);
	dk_net *n = dk_net_find(d, nid);
	if (n && n->pending)
		ok = 0;
	else if (n)
		n->removing = on;
	pthread_mutex_unlock(&d->mu);
	return ok;
}

static void remove_copy(dk *d, const dk_dnet *net)
{
	dk_dnet full;
	char msg[300];
	/* Listings leave Containers empty: ask for this one. */
	if (dk_docker_network(d, net->id, &full) != 0 || full.n_containers) {
		log_debug("docker",
			  "network %s: ovld's is gone, kept while "
			  "containers use it",
			  net->name);
		return;
	}
	if (!mark_removing(d, net->id, 1))
		return;
	int rc = dk_docker_remove(d, net->id, msg, sizeof(msg));
	if (rc < 0) {
		mark_removing(d, net->id, 0);
		log_debug("docker", "cannot remove network %s from dockerd: %s",
			  net->name, msg);
		return;
	}
	pthread_mutex_lock(&d->mu);
	dk_net_drop(d, net->id);
	pthread_mutex_unlock(&d->mu);
	log_info("docker", "network %s removed from dockerd (not ovld's)",
		 net->name);
}

/* A copy is an orphan when ovld has no network of its name, or one with
 * another subnet (a `docker network create` whose binding failed because
 * the name was taken in ovld): once unused it goes, and the next sync
 * makes the right one. */
static int orphan(const dk_dnet *dn, const ovl_network *on, size_t non)
{
	const char *name = dn->ovl_network[0] ? dn->ovl_network : dn->name;
	const ovl_network *n = ovld_has(on, non, name);
	char ip[16], cidr[32];
	if (!n)
		return 1;
	ovl_ip_format(n->subnet, ip);
	snprintf(cidr, sizeof(cidr), "%s/%d", ip, n->prefix);
	return dn->subnet[0] && strcmp(dn->subnet, cidr) != 0;
}

static void remove_orphans(dk *d, const dk_dnet *dn, size_t ndn,
			   const ovl_network *on, size_t non)
{
	for (size_t i = 0; i < ndn; i++)
		if (orphan(&dn[i], on, non))
			remove_copy(d, &dn[i]);
}

void dk_sync(dk *d)
{
	dk_dnet *dn = NULL;
	ovl_network *on = NULL;
	size_t ndn = 0, non = 0;
	ovl_err err;
	if (!d->sync)
		return;
	if (dk_docker_list(d, &dn, &ndn) != 0) {
		log_debug("docker", "sync: dockerd at %s not reachable",
			  d->docker_host);
		return;
	}
	if (ovl_network_list(d->ovl, &on, &non, &err) != OVL_OK) {
		log_debug("docker", "sync: %s", err.msg);
		free(dn);
		return;
	}
	remember(d, dn, ndn);
	create_missing(d, dn, ndn, on, non);
	remove_orphans(d, dn, ndn, on, non);
	free(on);
	free(dn);
}
