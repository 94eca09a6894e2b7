/* dp.h - the VXLAN datapath: turns overlay networks and endpoints in the
 * store (Docker's key layout under /docker/network/v1.0) into kernel state
 * through libnl-route-3, and keeps it converged.
 *
 * The reconciler subscribes to store events; an event only says which
 * network to look at again. It compares desired state (the store) with the
 * kernel (read back through netlink) and fixes the difference, touching only
 * devices it owns. It never calls the API. */
#ifndef OVLD_DP_H
#define OVLD_DP_H

#include <uv.h>

#include "../raft/raftnode.h"
#include "../store/store.h"

typedef struct dp dp;

typedef struct dp_config {
	const char *host_ip; /* this host's VTEP / locator address */
	unsigned resync_ms;  /* periodic full reconcile, default 10000 */
} dp_config;

int dp_init(dp **out, uv_loop_t *loop, store *st, raftnode *rn,
	    const dp_config *cfg);
/* Reads the kernel, removes stale objects it owns, programs what is
 * missing, then follows store events. */
int dp_start(dp *d);
void dp_close(dp *d);

/* The datapath block of /metrics (an api_metrics_cb). */
void dp_metrics(void *ctx, char **buf, size_t *len, size_t *cap);

#endif
