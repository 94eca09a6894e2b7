/* membership.h - what the files of the membership module share: member
 * records in the store's metadata, the leader's queue of configuration
 * changes, and the relay of change requests to the leader. The module's
 * entry points for the rest of src/raft are in node.h. */
#ifndef OVLD_RAFT_MEMBERSHIP_H
#define OVLD_RAFT_MEMBERSHIP_H

#include "node.h"

/* membership_identity.c: this host's id and cluster id on disk */
int membership_identity_load(raftnode *rn);
int membership_identity_save(raftnode *rn);

/* membership_records.c: member records and the Raft configuration */
void membership_record_key(raft_id id, char *out, size_t len);
int membership_record_format(char *out, size_t len, const char *name,
			     const char *peer, const char *clients);
/* Fills m's name, peer and client URLs from its record; 0 if found. */
int membership_record_read(raftnode *rn, raft_id id, raftnode_member *m);
const struct raft_server *membership_server_by_id(raftnode *rn, raft_id id);
/* The meta key that says id was removed: written once, never deleted. */
void membership_removed_key(raft_id id, char *out, size_t len);
/* The id a peer URL gets when it is named up front (--initial-cluster,
 * POST /v2/members), the same on every host. */
raft_id membership_static_id(const char *peer_url);
/* The Raft address (HOST:PORT) of a peer URL; 0 or -1 when malformed. */
int membership_peer_address(const char *peer_url, char *out, size_t len);

/* membership_publish.c: this host's record and the cluster id */
int membership_propose_meta(raftnode *rn, const char *key, const char *value,
			    raftnode_done_cb cb, void *ctx);
void membership_publish_self(raftnode *rn);

/* membership_changes.c: the leader's changes, one at a time */
enum { JOB_JOIN = 1, JOB_ADD, JOB_REMOVE, JOB_ASSIGN };

struct change_job {
	int type;
	raftnode *rn;
	raft_id id;
	int role;
	char addr[300];
	char record[1024];
	raft_id stale_id; /* JOB_JOIN: an old member at the joiner's address */
	raftnode_answer_cb reply; /* a relayed request's answer */
	void *reply_ctx;
	raftnode_member_cb member_cb; /* local API answer */
	void *member_ctx;
	struct raft_change req;
	change_job *next;
};

void membership_job_enqueue(raftnode *rn, change_job *job);

/* membership_serve.c: off the leader, pass a request on to it unchanged;
 * -1 when no leader is known or reachable. */
int membership_relay(raftnode *rn, int kind, const char *body, size_t len,
		     raftnode_answer_cb cb, void *ctx);

#endif
