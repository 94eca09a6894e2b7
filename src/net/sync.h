/* sync.h - desired datapath state of one overlay network and the code that
 * converges the kernel to it (private to src/net).
 *
 * The model is plain data parsed from Docker-layout records; dp.c builds
 * it from the store, tests build it by hand. Device names are derived from
 * the VNI and the endpoint id, so they are stable across restarts and never
 * clash with Docker's (vx-*, br0, veth*): ovb-<vni 6 hex> bridge,
 * ovx-<vni 6 hex> vxlan, ovv-<first 8 hex of endpoint id> veth host end. */
#ifndef OVLD_NET_SYNC_H
#define OVLD_NET_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "nl.h"

#define SYNC_BRIDGE_PREFIX "ovb-"
#define SYNC_VXLAN_PREFIX "ovx-"
#define SYNC_VETH_PREFIX "ovv-"

typedef struct sync_ep {
	char id[65];
	uint32_t ip; /* network order */
	int prefix;
	uint8_t mac[6];
	uint32_t locator; /* owning host, network order */
	char netns[512];  /* local endpoints: the namespace to plumb */
	char ifname[16];  /* its interface there, "" for eth0 or next free */
	char peer[16];	  /* Docker: the other end stays here under this name */
} sync_ep;

typedef struct sync_net {
	char id[65];
	uint32_t vni;
	sync_ep *eps;
	size_t n_eps;
} sync_net;

/* Parses an endpoint/<nid>/<eid> JSON value. -1 if it is unusable. */
int dp_sync_parse_endpoint(const char *json, sync_ep *ep);

void dp_sync_bridge_name(uint32_t vni, char out[16]);
void dp_sync_vxlan_name(uint32_t vni, char out[16]);
void dp_sync_veth_name(const char *eid, char out[16]);

/* What this host has programmed for one network: a cache of the entries on
 * its vxlan device, so an event costs only the netlink writes it needs.
 * valid = 0 forces a kernel dump on the next converge. */
typedef struct sync_state {
	char id[65];
	uint32_t vni;
	int vx_ifindex;
	int valid;
	dpnl_fdb *fdb;
	size_t n_fdb;
	dpnl_neigh *neigh;
	size_t n_neigh;
	char (*veths)[16];
	size_t n_veths;
} sync_state;

void dp_sync_state_free(sync_state *st);

/* Converges one network. net == NULL, or a network without endpoints on
 * host, removes everything st says was programmed. Returns 0, or the first
 * error (the rest is still attempted). */
int dp_sync_network(dpnl *nl, uint32_t host, const sync_net *net,
		    sync_state *st);

/* Removes ovb-/ovx- devices whose VNI is not in keep_vnis and ovv- devices
 * not in keep_veths: the leftovers of a crash or of records deleted while
 * ovld was down. Nothing without our prefixes is ever touched. */
int dp_sync_remove_stale(dpnl *nl, const uint32_t *keep_vnis, size_t n_vnis,
			 char (*keep_veths)[16], size_t n_veths);

#endif
