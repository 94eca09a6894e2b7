/* overlay.h - the overlay model: networks and endpoints in Docker's key
 * layout under /docker/network/v1.0, with the cluster-wide claim rules
 * (names, subnets, VNIs, addresses) that make them unique.
 *
 * This is the one place that knows how a network or an endpoint is written
 * to the store. Every client goes through it: the control socket (ovlctl,
 * the CNI plugin), the Docker plugin, and the endpoint collector. Each
 * allocation is decided before the log and checked in the apply: claims
 * are create-only keys (prevExist=false) and updates are compare-and-swap,
 * so of two hosts racing, exactly one wins and the other gets a clear
 * error.
 *
 * The calls block: they run on worker threads, never on the loop thread,
 * and reach the store through an ovl_kv (the daemon's bridge to Raft, or a
 * fake in unit tests). Errors are OVL_E* codes with a message for users. */
#ifndef OVLD_OVERLAY_H
#define OVLD_OVERLAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Docker's key layout (libnetwork's etcd store) and ovld's claim keys. The
 * "_ovld" directory is hidden from etcd listings, so Docker never sees it. */
#define OVL_ROOT "/docker/network/v1.0"
#define OVL_NET OVL_ROOT "/network"
#define OVL_OVERLAY OVL_ROOT "/overlay/network"
#define OVL_EP OVL_ROOT "/endpoint"
#define OVL_COUNT OVL_ROOT "/endpoint_count"
#define OVL_CLAIM OVL_ROOT "/_ovld"
#define OVL_NETNAME OVL_CLAIM "/netnames"
#define OVL_SUBNET OVL_CLAIM "/subnets"
#define OVL_VNI OVL_CLAIM "/vnis"
#define OVL_IP OVL_CLAIM "/ips"
#define OVL_EPNAME OVL_CLAIM "/epnames"
#define OVL_HOSTS OVL_CLAIM "/hosts"

#define OVL_VNI_MIN 256u
#define OVL_VNI_MAX 16777215u
#define OVL_MTU 1450

/* etcd error codes the model reacts to (0 = success, -1 = the store could
 * not be reached: no leader, shutting down). */
enum { OVL_KV_NOT_FOUND = 100, OVL_KV_TEST_FAILED = 101, OVL_KV_EXISTS = 105 };

/* Blocking access to the replicated store. Nodes are etcd v2 JSON nodes
 * ({"key","value","modifiedIndex","dir","nodes":[...]}); *node receives a
 * new reference on success when node is not NULL. Reads are local (they
 * may lag the leader; every write is checked in the apply). */
typedef struct ovl_kv {
	void *ctx;
	int (*get)(void *ctx, const char *key, int recursive, json_t **node);
	/* prevExist=false */
	int (*create)(void *ctx, const char *key, const char *value,
		      json_t **node);
	/* prevIndex=prev_index */
	int (*cas)(void *ctx, const char *key, const char *value,
		   uint64_t prev_index, json_t **node);
	/* prev_index 0 and prev_value NULL: unconditional; dir: recursive */
	int (*del)(void *ctx, const char *key, uint64_t prev_index,
		   const char *prev_value, int dir);
	/* unconditional set; ttl_s 0: no expiry (host heartbeats use it) */
	int (*set)(void *ctx, const char *key, const char *value,
		   unsigned ttl_s);
} ovl_kv;

/* Error codes; the control socket maps them to HTTP statuses and the CNI
 * plugin to the spec's codes. */
enum {
	OVL_OK = 0,
	OVL_EINVAL = 1,	   /* bad input: name, subnet, address, netns path */
	OVL_ENOTFOUND = 2, /* no such network or endpoint */
	OVL_EEXISTS = 3,   /* name, address, subnet or VNI already taken */
	OVL_EBUSY = 4,	   /* network has endpoints, or is being removed */
	OVL_EFULL = 5,	   /* pool of subnets, addresses or VNIs exhausted */
	OVL_EUNAVAIL = 6,  /* the store cannot be reached (no leader) */
	OVL_ETIMEDOUT = 7, /* the datapath did not program it in time */
	OVL_EINTERNAL = 8,
};

typedef struct ovl_err {
	int code;
	char msg[512];
} ovl_err;

typedef struct ovl ovl;

enum { OVL_DP_OFF = 0, OVL_DP_ON = 1, OVL_DP_RECORDS = 2 };

typedef struct ovl_config {
	ovl_kv kv;
	const char *host_ip; /* this host's locator (VTEP) address */
	/* Whether this host's datapath programs endpoints (OVL_DP_*): on,
	 * attach waits for the interface; off, an attach is refused (nothing
	 * would create the interface; the record would be a lie); records,
	 * attach writes the records and does not wait (unit tests). */
	int datapath;
	unsigned wait_ms; /* attach/detach wait for the datapath, 10000 */
} ovl_config;

int ovl_init(ovl **out, const ovl_config *cfg);
void ovl_close(ovl *o);
const char *ovl_host_ip(ovl *o);

typedef struct ovl_network {
	char id[65];
	char name[256];
	char driver[32]; /* "overlay" for ovld's and Docker's */
	char scope[32];
	int ovld; /* ovld programs it (Docker's own overlays: 0) */
	int in_delete;
	uint32_t subnet; /* host order */
	int prefix;
	uint32_t gateway; /* host order, 0 if none */
	uint32_t vni;
	char created[40];
	uint64_t index; /* modifiedIndex of network/<id> */
} ovl_network;

typedef struct ovl_net_req {
	const char *name;
	const char *id;	     /* NULL: random 64-hex */
	const char *subnet;  /* CIDR, NULL: allocate a free /24 in 10/8 */
	const char *gateway; /* NULL: first host address */
	uint32_t vni;	     /* 0: allocate */
} ovl_net_req;

/* Finds by name, full id or unique id prefix. */
int ovl_network_get(ovl *o, const char *ref, ovl_network *out, ovl_err *err);
/* All networks, ovld's and Docker's (*out malloc'd, sorted by name). */
int ovl_network_list(ovl *o, ovl_network **out, size_t *n, ovl_err *err);
int ovl_network_create(ovl *o, const ovl_net_req *req, ovl_network *out,
		       ovl_err *err);
/* OVL_EBUSY while any host has an endpoint on it. */
int ovl_network_delete(ovl *o, const char *ref, ovl_err *err);

/* A free subnet that no network claims (not claimed by this call); for
 * Docker's IPAM, which hands out a pool before the network exists. */
int ovl_subnet_pick(ovl *o, char out[32], ovl_err *err);

typedef struct ovl_endpoint {
	char id[65];
	char network_id[65];
	char network[256]; /* network name */
	char name[256];
	uint32_t ip; /* host order */
	int prefix;
	uint32_t gateway; /* host order, 0 if none */
	char mac[18];
	char host[64];	     /* locator */
	char netns[512];     /* local namespace path, "" if none */
	char ifname[16];     /* interface name inside netns */
	char peer[16];	     /* Docker: veth end left in the host namespace */
	char runtime[32];    /* "ovlctl", "cni", "docker", ... */
	char container[128]; /* the runtime's container id, if given */
	int ipam_external;   /* the address is owned by a Docker IPAM claim */
	uint64_t index;	     /* modifiedIndex of the record */
	char sandbox[512];   /* Docker's SandboxKey, "" if none */
	int ovld;	     /* written by ovld (Docker's own endpoints: 0) */
} ovl_endpoint;

typedef struct ovl_attach_req {
	const char *network; /* name, id or prefix */
	const char *name;    /* cluster-wide unique per network */
	const char *id;	     /* NULL: random 64-hex */
	/* Where the interface goes, exactly one of: */
	const char *netns;   /* namespace path (or a name under /var/run/netns):
				the datapath creates ifname inside it */
	const char *peer;    /* Docker: leave the container end in the host
				namespace under this name (Docker moves it) */
	const char *ifname;  /* inside netns, NULL: eth0 (or next free) */
	const char *ip;	     /* NULL: allocate the lowest free address */
	int ip_claimed;	     /* ip was claimed with ovl_ip_claim already */
	const char *mac;     /* NULL: 02:42 + the IPv4 address */
	const char *runtime; /* who asks, shown by `ovlctl status` */
	const char *container;
	const char *sandbox; /* Docker: SandboxKey, recorded for the GC */
} ovl_attach_req;

/* Claims the name and the address, writes the record, and (with the
 * datapath on) waits until this host's datapath has programmed the
 * interface. Any failure leaves no record and no claim behind. */
int ovl_endpoint_attach(ovl *o, const ovl_attach_req *req, ovl_endpoint *out,
			ovl_err *err);
/* By endpoint name or id. missing_ok: a missing network or endpoint is
 * success (CNI DEL, Docker's retries). Waits until the interface is gone
 * when it was local. Releases the address unless ipam_external. */
int ovl_endpoint_detach(ovl *o, const char *network, const char *ref,
			int missing_ok, ovl_err *err);
/* Finds an endpoint by name or id in network. */
int ovl_endpoint_get(ovl *o, const char *network, const char *ref,
		     ovl_endpoint *out, ovl_err *err);
/* network NULL: all networks. *out malloc'd. */
int ovl_endpoint_list(ovl *o, const char *network, ovl_endpoint **out,
		      size_t *n, ovl_err *err);

/* Address claims on their own, for Docker's IPAM (RequestAddress comes
 * before the endpoint exists). ip NULL: the lowest free address. owner is
 * the claim's value (an owner asking again for the address it holds gets
 * it back: Docker retries); ovl_ip_release deletes the claim only while it
 * still holds owner (NULL: whatever it holds). */
int ovl_ip_claim(ovl *o, const char *network, const char *ip, const char *owner,
		 uint32_t *out, ovl_err *err);
int ovl_ip_release(ovl *o, const char *network, uint32_t ip, const char *owner,
		   ovl_err *err);

/* Periodic upkeep, run about once a second on a worker thread: refreshes
 * this host's heartbeat (OVL_HOSTS/<ip>, a TTL key); on the leader,
 * detaches the endpoints of hosts that left the cluster, or stayed silent
 * longer than the grace period; on every host, detaches local endpoints
 * whose namespace has been gone longer than netns_grace_s (a runtime that
 * crashed or never called DEL). Detaching uses ovl_endpoint_detach.
 * gc NULL: the defaults below. */
typedef struct ovl_cluster_view {
	int is_leader;
	const char (*member_ips)[64]; /* every member's locator address */
	size_t n_members;
	int64_t now_ms; /* monotonic */
} ovl_cluster_view;
typedef struct ovl_gc_config {
	unsigned host_grace_s;	/* --endpoint-gc, default 600 */
	unsigned netns_grace_s; /* default 30 */
} ovl_gc_config;
void ovl_upkeep(ovl *o, const ovl_cluster_view *view, const ovl_gc_config *gc);

/* Helpers shared by the clients of the model. */
int ovl_ip_parse(const char *s, uint32_t *ip); /* host order; 0 or -1 */
void ovl_ip_format(uint32_t ip, char out[16]);
int ovl_cidr_parse(const char *s, uint32_t *net, int *prefix);
uint32_t ovl_prefix_mask(int prefix);
/* JSON of a network / endpoint as the control socket returns them. */
json_t *ovl_network_json(const ovl_network *n);
json_t *ovl_endpoint_json(const ovl_endpoint *e);

#endif
