/* command.h - the Raft log entry: a store command plus who proposed it,
 * encoded with msgpack so every host decodes the same bytes the same way. */
#ifndef OVLD_RAFT_COMMAND_H
#define OVLD_RAFT_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

typedef struct command {
	uint64_t origin; /* host id of the proposer: it answers the client */
	uint64_t seq;	 /* the proposer's request number */
	store_cmd cmd;	 /* strings point into the decoded buffer */
} command;

/* Encodes into a raft_malloc'd buffer (raft takes ownership on apply). */
int raftnode_command_encode(const command *c, void **buf, size_t *len);

/* Decodes buf; c's strings point into buf, which must outlive c.
 * Returns 0, or -1 for bytes that are not a command. */
int raftnode_command_decode(const void *buf, size_t len, command *c);

#endif
