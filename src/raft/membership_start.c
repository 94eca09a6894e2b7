/* membership_start.c - how a host enters the cluster at start-up: from
 * its saved identity, by static etcd-style bootstrap (--initial-cluster),
 * by --join through any member, or as a fresh one-voter cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "membership.h"

int raftnode_init_raft(raftnode *rn);

/* Hands the new identity to the trust hook (credentials, and the join
 * itself for a joining host). */
static int trust(raftnode *rn, int entry)
{
	raftnode_identity who = {.id = rn->id,
				 .entry = entry,
				 .name = rn->cfg.name,
				 .peer_url = rn->cfg.peer_url,
				 .client_urls = rn->cfg.client_urls};
	if (rn->cfg.trust == NULL)
		return 0;
	if (rn->cfg.trust(rn->cfg.trust_ctx, &who) != 0)
		return -1;
	if (entry == RAFTNODE_JOINING)
		rn->cluster_id = who.cluster_id;
	return 0;
}

static int bootstrap(raftnode *rn, struct raft_configuration *conf)
{
	int rv = raft_bootstrap(rn->raft, conf);
	raft_configuration_close(conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		log_error("raft", "bootstrap: %s", raft_strerror(rv));
		return -1;
	}
	return 0;
}

/* etcd's --initial-cluster: name=http://IP:PORT,name2=... */
static int start_static(raftnode *rn)
{
	char *list = strdup(rn->cfg.initial_cluster);
	if (list == NULL)
		return -1;
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	int found = 0, rv = 0;
	char *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		char addr[300];
		if (eq == NULL ||
		    membership_peer_address(eq + 1, addr, sizeof(addr)) != 0) {
			log_error("raft", "--initial-cluster: bad member '%s'",
				  item);
			rv = -1;
			break;
		}
		*eq = '\0';
		raft_id id = membership_static_id(eq + 1);
		if (strcmp(item, rn->cfg.name) == 0) {
			rn->id = id;
			found = 1;
		}
		raft_configuration_add(&conf, id, addr, RAFT_VOTER);
	}
	free(list);
	if (rv == 0 && !found) {
		log_error("raft", "--initial-cluster has no member named '%s'",
			  rn->cfg.name);
		rv = -1;
	}
	char seed[1024];
	snprintf(seed, sizeof(seed), "%s/%s", rn->cfg.initial_cluster_token,
		 rn->cfg.initial_cluster);
	int existing = strcmp(rn->cfg.initial_cluster_state, "existing") == 0;
	rn->cluster_id = existing ? 0 : raft_digest(seed, 0);
	if (rv != 0 || trust(rn, RAFTNODE_STATIC) != 0 ||
	    membership_identity_save(rn) != 0 || raftnode_init_raft(rn) != 0) {
		raft_configuration_close(&conf);
		return -1;
	}
	if (existing) {
		raft_configuration_close(&conf);
		return 0;
	}
	return bootstrap(rn, &conf);
}

static int start_single(raftnode *rn)
{
	char seed[512];
	snprintf(seed, sizeof(seed), "%s/%s", rn->cfg.initial_cluster_token,
		 rn->cfg.peer_url);
	rn->id = raft_digest(rn->cfg.peer_url, raftnode_wall_ns());
	rn->cluster_id = raft_digest(seed, raftnode_wall_ns());
	if (trust(rn, RAFTNODE_BOOTSTRAP) != 0 ||
	    membership_identity_save(rn) != 0 || raftnode_init_raft(rn) != 0)
		return -1;
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	raft_configuration_add(&conf, rn->id, rn->raft_addr, RAFT_VOTER);
	return bootstrap(rn, &conf);
}

static int start_join(raftnode *rn)
{
	rn->id = raft_digest(rn->cfg.peer_url, raftnode_wall_ns());
	if (raftnode_init_raft(rn) != 0 || trust(rn, RAFTNODE_JOINING) != 0)
		return -1;
	log_info("raft", "joined cluster %016llx as %016llx",
		 (unsigned long long)rn->cluster_id,
		 (unsigned long long)rn->id);
	return membership_identity_save(rn);
}

int membership_bootstrap_or_join(raftnode *rn)
{
	if (membership_identity_load(rn) == 0) {
		log_info("raft", "restarting as %016llx",
			 (unsigned long long)rn->id);
		if (trust(rn, RAFTNODE_RESTART) != 0)
			return -1;
		return raftnode_init_raft(rn);
	}
	if (rn->cfg.initial_cluster && rn->cfg.initial_cluster[0])
		return start_static(rn);
	if (rn->cfg.join && rn->cfg.join[0])
		return start_join(rn);
	return start_single(rn);
}
