/* dk_int.h - private to src/docker: the plugin's memory of Docker networks
 * and endpoints, the parsed shapes of Docker's plugin calls, and the
 * client of the local dockerd's API.
 *
 * Docker never sends a network's name to a plugin, and a network created
 * by a user exists in dockerd's API only after CreateNetwork returns, so
 * the plugin keeps a small table from Docker's network id to the ovld
 * network's name, filled from the ovl.network option (networks the sync
 * creates), from dockerd (a user's `docker network create`), and by the
 * sync. It is a cache: everything in it can be learnt again after a
 * restart, from dockerd and from the store. */
#ifndef OVLD_DOCKER_INT_H
#define OVLD_DOCKER_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "docker.h"

#define DK_OPT_NETWORK "ovl.network"
#define DK_GENERIC "com.docker.network.generic"
#define DK_ADDRESS_SPACE "ovl"
#define DK_DRIVER "ovl"
#define DK_API "/v1.41"
/* A user's network not bound after this long is given up on (dockerd
 * rolled the create back, or it failed on a name clash). */
#define DK_BIND_GIVE_UP_MS 15000
/* The sync never re-creates a network deleted here this recently. */
#define DK_TOMB_MS 30000

typedef struct dk_net {
	char nid[65];
	char name[256]; /* "" until learnt */
	char pool[32];	/* CIDR, "" if unknown */
	char gateway[32];
	int pending;  /* CreateNetwork seen, ovld network not yet bound */
	int removing; /* the sync asked dockerd to remove this copy */
	int64_t since_ms;
} dk_net;

/* A pool handed out by RequestPool that no ovld network holds yet. */
typedef struct dk_pool {
	char cidr[32];
	int64_t since_ms;
} dk_pool;

/* An address one of this host's containers holds: "<network> <ip hex>". */
typedef struct dk_addr {
	char key[280];
} dk_addr;

typedef struct dk_tomb {
	char name[256];
	int64_t at_ms;
} dk_tomb;

struct dk {
	ovl *ovl;
	char docker_host[256];
	int sync;
	char owner[96]; /* value of this host's address claims */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dk_net *nets;
	size_t n_nets, cap_nets;
	dk_pool *pools;
	size_t n_pools, cap_pools;
	dk_tomb *tombs;
	size_t n_tombs, cap_tombs;
	dk_addr *addrs;
	size_t n_addrs, cap_addrs;
	pthread_t binder;
	int binder_on, stop;
};

int64_t dk_now_ms(void);

/* ---- proto.c: request shapes and replies (pure, no I/O) ---- */

/* The call a plugin path names. */
typedef enum dk_call {
	DK_UNKNOWN,
	DK_ACTIVATE,
	DK_NET_CAPS,
	DK_NET_CREATE,
	DK_NET_DELETE,
	DK_EP_CREATE,
	DK_EP_INFO,
	DK_JOIN,
	DK_LEAVE,
	DK_EP_DELETE,
	DK_NOOP, /* Discover*, Program/RevokeExternalConnectivity */
	DK_IPAM_CAPS,
	DK_IPAM_SPACES,
	DK_POOL_REQ,
	DK_POOL_REL,
	DK_ADDR_REQ,
	DK_ADDR_REL,
} dk_call;

dk_call dk_call_of(const char *path);
/* IPAM calls answer errors under "Error", network calls under "Err". */
int dk_call_is_ipam(dk_call c);

typedef struct dk_req {
	char network_id[65];
	char endpoint_id[65];
	char sandbox_key[512];
	char ovl_network[256]; /* ovl.network option, "" if none */
	/* CreateNetwork: IPv4Data[0]; RequestPool: Pool */
	char pool[32];
	char gateway[32]; /* without the /prefix */
	char address_space[64];
	/* CreateEndpoint: Interface; RequestAddress/ReleaseAddress */
	char address[32]; /* without the /prefix */
	char mac[18];
	char pool_id[64];
	int v6;
	int want_gateway; /* RequestAddress for the network's gateway */
	int has_ipv6_data;
} dk_req;

/* Fills r from a call's JSON body; -1 with msg on malformed input. */
int dk_req_parse(dk_call c, const char *body, size_t len, dk_req *r, char *msg,
		 size_t msg_len);

/* Replies (malloc'd JSON text). */
char *dk_reply_json(json_t *obj); /* steals obj */
char *dk_reply_error(dk_call c, const char *msg);
char *dk_reply_activate(void);
char *dk_reply_net_caps(void);
char *dk_reply_ipam_caps(void);
char *dk_reply_spaces(void);
char *dk_reply_pool(const char *pool_id, const char *cidr,
		    const char *gateway_cidr);
char *dk_reply_address(const char *cidr);
char *dk_reply_endpoint(const char *mac); /* mac NULL: Docker's is kept */
char *dk_reply_join(const char *src_name);
char *dk_reply_empty(void);

/* 02:42 and the four bytes of ip (host order), as Docker's bridge does. */
void dk_mac_of_ip(uint32_t ip, char out[18]);

/* ---- dockerd.c: the local dockerd's API ---- */

typedef struct dk_dnet {
	char id[65];
	char name[256];
	char driver[64];
	char subnet[32];
	char ovl_network[256]; /* option ovl.network */
	int n_containers;
} dk_dnet;

/* What GET /networks/<id> says of one endpoint. */
typedef struct dk_dep {
	char name[256];
	char container[128];
	char mac[18];
	char address[32]; /* CIDR */
} dk_dep;

/* 0 found, 1 not found, -1 dockerd unreachable or bad answer. */
int dk_docker_network(dk *d, const char *id, dk_dnet *out);
/* Like dk_docker_network, and the endpoint eid if present (ep->name ""
 * when not listed). */
int dk_docker_endpoint(dk *d, const char *nid, const char *eid, dk_dnet *net,
		       dk_dep *ep);
/* The ovl-driver networks (*out malloc'd); -1 unreachable. */
int dk_docker_list(dk *d, dk_dnet **out, size_t *n);
/* POST /networks/create; 0, or -1 with msg. */
int dk_docker_create(dk *d, const char *name, const char *subnet, char *msg,
		     size_t msg_len);
/* DELETE /networks/<id>; 0, 1 not found, -1 with msg. */
int dk_docker_remove(dk *d, const char *id, char *msg, size_t msg_len);

/* Parsers of dockerd's answers, exposed for tests. */
int dk_dnet_parse(json_t *doc, dk_dnet *out);
int dk_dep_find(json_t *doc, const char *eid, dk_dep *out);

/* ---- table.c: the memory of networks, pools and deletions (locked) ---- */

dk_net *dk_net_find(dk *d, const char *nid); /* caller holds mu */
dk_net *dk_net_add(dk *d, const char *nid);  /* caller holds mu */
void dk_net_drop(dk *d, const char *nid);    /* caller holds mu */
void dk_pool_hold(dk *d, const char *cidr);
void dk_pool_release(dk *d, const char *cidr);
int dk_pool_held(dk *d, uint32_t net, int prefix);
/* The claims of this host share one owner, and the model hands a claim
 * back to its owner (Docker retries), so a second container asking for an
 * address another local container holds is refused from this set. */
int dk_addr_hold(dk *d, const char *net, uint32_t ip); /* 1 if held */
void dk_addr_drop(dk *d, const char *net, uint32_t ip);
void dk_tomb_add(dk *d, const char *name);
int dk_tomb_has(dk *d, const char *name);

/* ---- bind.c: tying a Docker network to its ovld network ---- */

/* Makes sure the ovld network for Docker network nid exists, learning the
 * name from dockerd if need be; *name gets it. OVL_* code. */
int dk_bind(dk *d, const char *nid, char name[256], ovl_err *err);
int dk_binder_start(dk *d);
void dk_binder_stop(dk *d);

#endif
