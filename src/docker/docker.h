/* docker.h - ovld as Docker's network and IPAM plugin ("ovl"), and the
 * sync that makes an ovld network appear in every host's local dockerd.
 *
 * Docker's legacy plugin protocol (POST /Plugin.Activate,
 * /NetworkDriver.*, /IpamDriver.*) is answered here in terms of the
 * overlay model (src/overlay): a Docker network named N is the ovld
 * network named N; an endpoint's name is its container's name, claimed
 * cluster-wide. The socket and HTTP framing belong to src/ctl, which calls
 * dk_handle on a worker thread. dk_sync talks to the local dockerd's API
 * (unix socket) and also runs on a worker thread. */
#ifndef OVLD_DOCKER_H
#define OVLD_DOCKER_H

#include <stddef.h>

#include "../overlay/overlay.h"

typedef struct dk dk;

typedef struct dk_config {
	ovl *ovl;
	const char *docker_host; /* dockerd's API: a unix socket path */
	int sync;		 /* create/remove Docker copies of networks */
} dk_config;

int dk_init(dk **out, const dk_config *cfg);
void dk_close(dk *d);

/* One plugin call: path is e.g. "/NetworkDriver.CreateNetwork", body its
 * JSON. Returns the HTTP status; *reply is a malloc'd JSON body. Blocks. */
int dk_handle(dk *d, const char *path, const char *body, size_t len,
	      char **reply);

/* Brings the local dockerd's ovl networks in line with ovld's networks:
 * creates the missing ones, removes those whose ovld network is gone and
 * that no local container uses. Called after network changes (debounced)
 * and every few seconds. Blocks; a dockerd that is down is not an error. */
void dk_sync(dk *d);

#endif
