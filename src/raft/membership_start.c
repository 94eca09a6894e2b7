/* membership_start.c - how a host enters the cluster at start-up: from
 * its saved identity, by static etcd-style bootstrap (--initial-cluster),
 * by --join through any member, or as a fresh one-voter cluster. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "membership.h"

int raftnode_init_raft(raftnode *rn);

#define JOIN_RETRY_MS 500
#define JOIN_TIMEOUT_S 60

static int bootstrap(raftnode *rn, struct raft_configuration *conf)
{
	int rv = raft_bootstrap(&rn->raft, conf);
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
		char addr[64];
		if (eq == NULL ||
		    client_hostport(eq + 1, 2380, addr, sizeof(addr)) != 0) {
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
	if (rv != 0 || membership_identity_save(rn) != 0 ||
	    raftnode_init_raft(rn) != 0) {
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
	if (membership_identity_save(rn) != 0 || raftnode_init_raft(rn) != 0)
		return -1;
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	raft_configuration_add(&conf, rn->id, rn->raft_addr, RAFT_VOTER);
	return bootstrap(rn, &conf);
}

static char *join_body(raftnode *rn)
{
	char id[32];
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)rn->id);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
			      rn->cfg.name, "peer_url", rn->cfg.peer_url,
			      "client_urls", rn->cfg.client_urls);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static int start_join(raftnode *rn)
{
	char target[64];
	if (client_hostport(rn->cfg.join, 2379, target, sizeof(target)) != 0) {
		log_error("raft", "--join %s: need IPv4[:PORT]", rn->cfg.join);
		return -1;
	}
	rn->id = raft_digest(rn->cfg.peer_url, raftnode_wall_ns());
	if (raftnode_init_raft(rn) != 0)
		return -1;
	char *body = join_body(rn);
	if (body == NULL)
		return -1;
	log_info("raft", "joining through %s as %016llx", target,
		 (unsigned long long)rn->id);
	for (int tries = 0; tries < JOIN_TIMEOUT_S * 1000 / JOIN_RETRY_MS;
	     tries++) {
		int status = 0;
		char *resp = NULL;
		size_t len = 0;
		if (client_post_sync(target, "/ovld/v1/join", body,
				     strlen(body), 5000, &status, &resp,
				     &len) == 0 &&
		    status == 200) {
			json_t *j = json_loads(resp, 0, NULL);
			const char *cid = NULL;
			json_unpack(j, "{s:s}", "cluster_id", &cid);
			rn->cluster_id = cid ? strtoull(cid, NULL, 16) : 0;
			json_decref(j);
			free(resp);
			free(body);
			log_info("raft", "joined cluster %016llx",
				 (unsigned long long)rn->cluster_id);
			return membership_identity_save(rn);
		}
		if (status >= 400 && status < 500) {
			log_error("raft", "join refused by %s: %s", target,
				  resp ? resp : "");
			free(resp);
			free(body);
			return -1;
		}
		free(resp);
		usleep(JOIN_RETRY_MS * 1000);
	}
	log_error("raft", "join through %s: no answer within %d s", target,
		  JOIN_TIMEOUT_S);
	free(body);
	return -1;
}

int membership_bootstrap_or_join(raftnode *rn)
{
	if (membership_identity_load(rn) == 0) {
		log_info("raft", "restarting as %016llx",
			 (unsigned long long)rn->id);
		return raftnode_init_raft(rn);
	}
	if (rn->cfg.initial_cluster && rn->cfg.initial_cluster[0])
		return start_static(rn);
	if (rn->cfg.join && rn->cfg.join[0])
		return start_join(rn);
	return start_single(rn);
}
