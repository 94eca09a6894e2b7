/* gc.h - host lifecycle for the datapath (private to src/net): every host
 * heartbeats a TTL key through Raft; the leader deletes the endpoints of
 * hosts that left the cluster, and of hosts that stayed silent longer than
 * the grace period, so a dead host never holds names or addresses forever.
 * Deletions go through Raft like any write, so every host's reconciler
 * removes the matching kernel entries. */
#ifndef OVLD_NET_GC_H
#define OVLD_NET_GC_H

#include <uv.h>

#include "../raft/raftnode.h"
#include "../store/store.h"

#define GC_HOSTS_DIR "/docker/network/v1.0/_ovld/hosts"

typedef struct dp_gc dp_gc;

int dp_gc_init(dp_gc **out, uv_loop_t *loop, store *st, raftnode *rn,
	       const char *host_ip, unsigned grace_s);
void dp_gc_start(dp_gc *g);
/* Frees g once its timer is closed. */
void dp_gc_close(dp_gc *g);

/* Exposed for tests: whether the leader should collect endpoints located at
 * locator now. missing_since is the leader's note of when it first found
 * the host silent (0 = not silent); it is updated. */
int dp_gc_decide(int is_member, int was_member, int heartbeat_alive,
		 int64_t now_ms, int64_t *missing_since, int64_t grace_ms);

#endif
