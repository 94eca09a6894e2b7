/* nl.h - the datapath's kernel primitives over libnl-route-3 (private to
 * src/net).
 *
 * Every call is idempotent where the kernel allows it (links are checked and
 * adjusted, FDB and neighbour entries are written with replace, deletes treat
 * "not there" as success), so the reconciler can simply re-apply desired
 * state. IPv4 addresses are uint32_t in network byte order. Errors are
 * negative libnl codes (NLE_*); dpnl_strerror turns them into text. */
#ifndef OVLD_NET_NL_H
#define OVLD_NET_NL_H

#include <stddef.h>
#include <stdint.h>

#define DPNL_MTU 1450
#define DPNL_VXLAN_PORT 4789

typedef struct dpnl dpnl;

/* Opens a route socket in the caller's current network namespace. */
int dpnl_open(dpnl **out);
void dpnl_close(dpnl *n);
const char *dpnl_strerror(int err);

/* Links whose name starts with prefix. */
typedef struct dpnl_link {
	char name[16];
	int ifindex;
	int master;
	unsigned mtu;
	int up;
	int is_vxlan;
	uint32_t vni;	/* vxlan only */
	uint32_t local; /* vxlan only */
} dpnl_link;
/* *out is malloc'd (free it); *n may be 0. */
int dpnl_list_links(dpnl *n, const char *prefix, dpnl_link **out, size_t *cnt);
int dpnl_link_index(dpnl *n, const char *name); /* ifindex, or <0 */
int dpnl_link_delete(dpnl *n, const char *name);

/* A bridge, up, MTU DPNL_MTU. Returns its ifindex or <0. */
int dpnl_bridge_ensure(dpnl *n, const char *name);

/* A vxlan device (vni, UDP 4789, learning off, proxy ARP on, local address)
 * enslaved to master and up. One with a different VNI or local address is
 * recreated. Returns its ifindex or <0. */
int dpnl_vxlan_ensure(dpnl *n, const char *name, uint32_t vni, uint32_t local,
		      int master);

/* A container interface: a veth pair whose host end host_name sits on
 * master (up, MTU DPNL_MTU), and whose other end has mac and MTU DPNL_MTU
 * and is either
 * - created inside the network namespace at netns_path as ifname (NULL or
 *   "": eth0, or the next free ethN), with ip/prefix, up; or
 * - (peer set, netns_path NULL) left in the caller's namespace as peer,
 *   down and without an address: Docker moves it into the container and
 *   configures it there.
 * If host_name already exists only its master, MTU and state are fixed
 * (the other end may have been moved away by then). */
typedef struct dpnl_veth {
	const char *host_name;
	int master;
	const char *netns_path;
	const char *ifname;
	const char *peer;
	const uint8_t *mac; /* 6 bytes */
	uint32_t ip;
	int prefix;
} dpnl_veth;
/* created (if not NULL, 16 bytes) receives the other end's name when it
 * was created now, "" otherwise. */
int dpnl_veth_ensure(dpnl *n, const dpnl_veth *v, char *created);

/* Entries on a vxlan device. mac is all-zero for a flood entry. */
typedef struct dpnl_fdb {
	uint8_t mac[6];
	uint32_t dst;
} dpnl_fdb;
typedef struct dpnl_neigh {
	uint32_t ip;
	uint8_t mac[6];
} dpnl_neigh;

/* Permanent self entries with a remote destination on ifindex. */
int dpnl_fdb_list(dpnl *n, int ifindex, dpnl_fdb **out, size_t *cnt);
/* mac all-zero: appended (one flood entry per dst); otherwise replaced. */
int dpnl_fdb_add(dpnl *n, int ifindex, const dpnl_fdb *e);
int dpnl_fdb_del(dpnl *n, int ifindex, const dpnl_fdb *e);

/* IPv4 neighbours on ifindex (any state except NOARP-less incompletes). */
int dpnl_neigh_list(dpnl *n, int ifindex, dpnl_neigh **out, size_t *cnt);
int dpnl_neigh_add(dpnl *n, int ifindex, const dpnl_neigh *e);
int dpnl_neigh_del(dpnl *n, int ifindex, const dpnl_neigh *e);

/* Helpers shared with the reconciler and tests. */
void dpnl_mac_from_ip(uint32_t ip, uint8_t mac[6]);
int dpnl_parse_mac(const char *s, uint8_t mac[6]);
void dpnl_format_mac(const uint8_t mac[6], char out[18]);

#endif
