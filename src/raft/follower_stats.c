/* follower_stats.c - the leader's per-follower counts for
 * /v2/stats/leader, sampled on every tick. */
#include <stdlib.h>

#include "membership.h"

/* raft 0.15 keeps no per-follower latency or counts, only a flag that a
 * follower answered since the last quorum check (reset every election
 * timeout). The tick samples it: a follower counts as answering while it
 * was seen within two election timeouts. */
static follower_seen *seen_slot(raftnode *rn, raft_id id)
{
	follower_seen *free_slot = NULL;
	for (unsigned i = 0; i < SEEN_SLOTS; i++) {
		follower_seen *f = &rn->followers.seen[i];
		if (f->id == id)
			return f;
		/* a slot is free if unused or its server left */
		if (free_slot == NULL &&
		    (f->id == 0 || membership_server_by_id(rn, f->id) == NULL))
			free_slot = f;
	}
	if (free_slot)
		*free_slot = (follower_seen){.id = id,
					     .last_ok_ms = raftnode_now_ms(rn)};
	return free_slot;
}

void raftnode_follower_stats_sample(raftnode *rn)
{
	if (raft_state(rn->raft) != RAFT_LEADER ||
	    rn->raft->leader_state.progress == NULL)
		return;
	const struct raft_configuration *c = &rn->raft->configuration;
	uint64_t now = raftnode_now_ms(rn);
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == rn->id)
			continue;
		follower_seen *f = seen_slot(rn, c->servers[i].id);
		if (f == NULL)
			continue;
		if (rn->raft->leader_state.progress[i].recent_recv) {
			f->last_ok_ms = now;
			f->ok++;
		} else if (now - f->last_ok_ms > 2 * rn->cfg.election_ms) {
			f->failed++;
		}
	}
}

int raftnode_follower_stats(raftnode *rn, raftnode_follower **list, size_t *n)
{
	if (raft_state(rn->raft) != RAFT_LEADER)
		return -1;
	const struct raft_configuration *c = &rn->raft->configuration;
	*list = calloc(c->n ? c->n : 1, sizeof(**list));
	*n = 0;
	if (*list == NULL)
		return -1;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == rn->id)
			continue;
		raftnode_follower *f = &(*list)[(*n)++];
		f->id = c->servers[i].id;
		follower_seen *s = seen_slot(rn, f->id);
		f->success = s ? s->ok : 0;
		f->fail = s ? s->failed : 0;
	}
	return 0;
}
