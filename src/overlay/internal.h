/* internal.h - what the files of src/overlay share and nobody else needs:
 * the ovl struct, store access that turns etcd codes into ovl_err, node
 * accessors, a list of claims to roll back, and the pieces one concept
 * file calls in another (networks for endpoints, VNI bitmap for networks).
 * Unit tests include it for the collector's pure decision function. */
#ifndef OVLD_OVERLAY_INTERNAL_H
#define OVLD_OVERLAY_INTERNAL_H

#include <pthread.h>

#include "overlay.h"

typedef struct ovl_gc_host ovl_gc_host;
typedef struct ovl_gc_ns ovl_gc_ns;

struct ovl {
	ovl_kv kv;
	char host[64];
	int datapath;
	unsigned wait_ms;
	/* Upkeep's memory between runs (one run at a time). */
	pthread_mutex_t upkeep_lock;
	int64_t last_beat_ms;
	ovl_gc_host *hosts;
	size_t n_hosts, cap_hosts;
	ovl_gc_ns *gone;
	size_t n_gone, cap_gone;
};

/* Sets err (when not NULL) and returns code. */
int ovl_fail(ovl_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The error for a store call that returned rc (not 0), about what. */
int ovl_kv_fail(ovl_err *err, int rc, const char *what);

/* Node accessors (NULL-safe). */
const char *ovl_node_value(json_t *node);
uint64_t ovl_node_index(json_t *node);
json_t *ovl_node_children(json_t *node); /* never NULL */
const char *ovl_node_base(json_t *node);
/* The last path components of dir's children, as a JSON object used as a
 * set (empty when dir is missing or unreadable). */
json_t *ovl_child_names(ovl *o, const char *dir);
/* The JSON object stored as a node's value (new reference or NULL). */
json_t *ovl_node_json(json_t *node);

int ovl_random_id(char out[65]);
/* A name that is safe as one key component: 1-255 bytes, no '/'. */
int ovl_valid_key_part(const char *s);

/* Claim keys made by one call, deleted again (newest first) on failure. */
typedef struct ovl_claims {
	char **keys;
	size_t n, cap;
} ovl_claims;

/* create (prevExist=false); the key is remembered on success. Returns the
 * store's code. */
int ovl_claim(ovl *o, ovl_claims *cl, const char *key, const char *value);
void ovl_claims_drop_last(ovl *o, ovl_claims *cl);
void ovl_claims_rollback(ovl *o, ovl_claims *cl);
void ovl_claims_free(ovl_claims *cl);

/* Docker's VXLAN id bitmap (vxidm.c). 0, OVL_VXIDM_TAKEN, or 1 on a
 * store error or a malformed record. */
#define OVL_VXIDM_TAKEN 2
int ovl_vxidm_reserve(ovl *o, uint32_t vni);
int ovl_vxidm_release(ovl *o, uint32_t vni);

/* Adds delta to endpoint_count/<nid> (compare-and-swap retries). */
int ovl_count_add(ovl *o, const char *nid, int delta);

/* A network with the record it came from (network.c). */
typedef struct ovl_net_full {
	ovl_network n;
	json_t *record; /* owned */
} ovl_net_full;
int ovl_net_find(ovl *o, const char *ref, ovl_net_full *out, ovl_err *err);
void ovl_net_full_free(ovl_net_full *n);

/* Address rules (ip.c): a host address of the network, not the gateway. */
int ovl_addr_ok(const ovl_network *n, uint32_t ip);
void ovl_ip_key(const char *nid, uint32_t ip, char *out, size_t len);
/* Claims ip (or the lowest free one when *ip is 0) with value owner. */
int ovl_ip_take(ovl *o, const ovl_network *n, const char *ip_s,
		const char *owner, uint32_t *ip, ovl_err *err);

/* An endpoint record's fields (endpoint.c). -1 if it is not one. */
int ovl_ep_from_node(json_t *node, const ovl_network *n, ovl_endpoint *out);
/* By id, then by name, in network n. */
int ovl_ep_find(ovl *o, const ovl_network *n, const char *ref,
		ovl_endpoint *out, ovl_err *err);

/* The datapath waits (wait.c): 1 when it happened within ms, 0 if not. */
int ovl_wait_netns_ip(const char *path, uint32_t ip, unsigned ms);
int ovl_wait_link(const char *name, int present, unsigned ms);

/* The collector's decision for one silent or departed host: whether the
 * leader collects its endpoints now. missing_since is when this leader
 * first found the host silent (0 = not silent); it is updated. */
int ovl_gc_decide(int is_member, int was_member, int heartbeat_alive,
		  int64_t now_ms, int64_t *missing_since, int64_t grace_ms);
/* Whether a namespace path that has been gone since gone_since (0: it is
 * there) should be given up now; gone_since is updated. */
int ovl_gc_ns_decide(int exists, int64_t now_ms, int64_t *gone_since,
		     int64_t grace_ms);

#endif
