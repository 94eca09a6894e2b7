/* ctl.h - the host's local sockets: the control API (JSON over HTTP/1.1 on
 * a unix socket, docs/control-api.md) and Docker's plugin socket.
 *
 * Requests are parsed on the loop thread and run on ctl's own worker
 * threads, because the overlay model blocks (it waits for Raft and for the
 * datapath); the model reaches the store through ctl's bridge, which hands
 * each operation to the loop thread. ctl also schedules the model's
 * upkeep (heartbeats, endpoint collection) and the Docker sync. */
#ifndef OVLD_CTL_H
#define OVLD_CTL_H

#include <uv.h>

#include "../peer/peer.h"
#include "../raft/raftnode.h"
#include "../store/store.h"

typedef struct ctl ctl;

typedef struct ctl_config {
	const char *control_socket; /* path, or NULL: none */
	const char *docker_plugin;  /* path, or NULL: none */
	/* a path the user named must be served; a default one that cannot
	 * be (not root, another ovld has it) is only a warning */
	int control_required, docker_required;
	const char *docker_host; /* dockerd's API socket path */
	int docker_sync;	 /* 1 on, 0 off */
	int datapath;		 /* this host's datapath programs */
	const char *host_ip;	 /* locator / VTEP address */
	unsigned endpoint_gc_s;	 /* grace for silent hosts */
	unsigned netns_gc_s;	 /* grace for vanished namespaces */
	peer_trust *trust;	 /* join tokens and client certificates */
} ctl_config;

int ctl_init(ctl **out, uv_loop_t *loop, store *st, raftnode *rn,
	     const ctl_config *cfg);
int ctl_start(ctl *c);
/* Stops accepting, fails queued work, joins the workers. */
void ctl_close(ctl *c);

#endif
