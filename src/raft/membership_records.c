/* membership_records.c - member records (name, peer URL, client URLs),
 * replicated as store metadata so every host answers /v2/members alike,
 * the records of removed member ids, and lookups in the Raft
 * configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../url.h"
#include "membership.h"

void membership_record_key(raft_id id, char *out, size_t len)
{
	snprintf(out, len, "member/%016llx", (unsigned long long)id);
}

void membership_removed_key(raft_id id, char *out, size_t len)
{
	snprintf(out, len, "removed/%016llx", (unsigned long long)id);
}

int raftnode_was_removed(raftnode *rn, uint64_t id)
{
	char key[64];
	char *v = NULL;
	size_t len = 0;
	if (id == 0)
		return 0;
	membership_removed_key(id, key, sizeof(key));
	int found = store_meta_get(rn->st, key, &v, &len) == 0 && v != NULL;
	free(v);
	return found;
}

int membership_record_format(char *out, size_t len, const char *name,
			     const char *peer, const char *clients)
{
	return snprintf(out, len, "%s\n%s\n%s", name, peer, clients);
}

/* Fills m's name, peer and client URLs from its record; 0 if found. */
int membership_record_read(raftnode *rn, raft_id id, raftnode_member *m)
{
	char key[64];
	char *v = NULL;
	size_t len = 0;
	membership_record_key(id, key, sizeof(key));
	if (store_meta_get(rn->st, key, &v, &len) != 0 || v == NULL)
		return -1;
	char *save = NULL;
	char *name = strtok_r(v, "\n", &save);
	char *peer = strtok_r(NULL, "\n", &save);
	char *clients = strtok_r(NULL, "\n", &save);
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
	snprintf(m->peer_url, sizeof(m->peer_url), "%s", peer ? peer : "");
	snprintf(m->client_urls, sizeof(m->client_urls), "%s",
		 clients ? clients : "");
	free(v);
	return 0;
}

int membership_peer_address(const char *peer_url, char *out, size_t len)
{
	return url_hostport(peer_url, 2380, out, len);
}

static int role_of(int raft_role)
{
	switch (raft_role) {
	case RAFT_VOTER:
		return RAFTNODE_VOTER;
	case RAFT_STANDBY:
		return RAFTNODE_STANDBY;
	default:
		return RAFTNODE_SPARE;
	}
}

static int by_id(const void *a, const void *b)
{
	const raftnode_member *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int raftnode_members(raftnode *rn, raftnode_member **list, size_t *n)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	raft_id leader = 0;
	const char *addr;
	if (rn->raft_started)
		raft_leader(rn->raft, &leader, &addr);
	*list = calloc(c->n ? c->n : 1, sizeof(**list));
	*n = *list ? c->n : 0;
	if (*list == NULL)
		return -1;
	for (unsigned i = 0; i < c->n; i++) {
		raftnode_member *m = &(*list)[i];
		m->id = c->servers[i].id;
		m->role = role_of(c->servers[i].role);
		m->is_leader = m->id == leader;
		if (membership_record_read(rn, m->id, m) != 0)
			snprintf(m->peer_url, sizeof(m->peer_url), "http://%s",
				 c->servers[i].address);
	}
	qsort(*list, *n, sizeof(**list), by_id);
	return 0;
}

const struct raft_server *membership_server_by_id(raftnode *rn, raft_id id)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

unsigned membership_voters(raftnode *rn)
{
	const struct raft_configuration *c = &rn->raft->configuration;
	unsigned voters = 0;
	for (unsigned i = 0; i < c->n; i++)
		voters += c->servers[i].role == RAFT_VOTER;
	return voters;
}

raft_id membership_static_id(const char *peer_url)
{
	return raft_digest(peer_url, 0);
}
