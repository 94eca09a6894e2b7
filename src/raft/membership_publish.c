/* membership_publish.c - each host proposes its own member record once a
 * leader is known (and again if its URLs changed), and the first host
 * seeds the cluster id that the others learn from the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "membership.h"

static void on_published(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->publish.inflight = 0;
	if (res->error == 0)
		rn->publish.done = 1;
	else
		log_warn("raft", "publishing this member failed: %d %s",
			 res->error, res->cause ? res->cause : "");
	store_result_free(res);
}

static void on_cluster_id_published(void *ctx, store_result *res)
{
	raftnode *rn = ctx;
	rn->publish.inflight = 0;
	store_result_free(res);
}

static int meta_equals(raftnode *rn, const char *key, const char *want)
{
	char *v = NULL;
	size_t len = 0;
	int same = store_meta_get(rn->st, key, &v, &len) == 0 && v &&
		   len == strlen(want) && memcmp(v, want, len) == 0;
	free(v);
	return same;
}

static int meta_exists(raftnode *rn, const char *key)
{
	char *v = NULL;
	size_t len = 0;
	int found = store_meta_get(rn->st, key, &v, &len) == 0 && v;
	free(v);
	return found;
}

int membership_propose_meta(raftnode *rn, const char *key, const char *value,
			    raftnode_done_cb cb, void *ctx)
{
	store_cmd cmd = {.op = STORE_OP_META_PUT,
			 .path = key,
			 .path_len = strlen(key),
			 .value = value,
			 .value_len = strlen(value),
			 .prev_exist = -1,
			 .now_ns = raftnode_wall_ns()};
	return raftnode_propose(rn, &cmd, cb, ctx);
}

void membership_publish_self(raftnode *rn)
{
	char key[64], rec[1024], cid[32];
	if (rn->publish.inflight || !raftnode_has_leader(rn))
		return;
	/* A cluster id not yet in the store is learnt, or seeded by us. */
	snprintf(cid, sizeof(cid), "%016llx",
		 (unsigned long long)rn->cluster_id);
	if (rn->cluster_id == 0) {
		char *v = NULL;
		size_t len;
		if (store_meta_get(rn->st, "cluster_id", &v, &len) == 0 && v) {
			rn->cluster_id = strtoull(v, NULL, 16);
			membership_identity_save(rn);
		}
		free(v);
	} else if (!meta_exists(rn, "cluster_id")) {
		/* Seed it (first host); a race with a twin is harmless since
		 * both carry the same id. */
		if (membership_propose_meta(rn, "cluster_id", cid,
					    on_cluster_id_published, rn) == 0)
			rn->publish.inflight = 1;
		return;
	}
	membership_record_key(rn->id, key, sizeof(key));
	membership_record_format(rec, sizeof(rec), rn->cfg.name,
				 rn->cfg.peer_url, rn->cfg.client_urls);
	if (meta_equals(rn, key, rec)) {
		rn->publish.done = 1;
		return;
	}
	rn->publish.done = 0;
	if (membership_propose_meta(rn, key, rec, on_published, rn) == 0)
		rn->publish.inflight = 1;
}
