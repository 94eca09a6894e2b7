/* ovlctl.h - shared pieces of the ovlctl commands: the store layout (Docker's
 * keys under /docker/network/v1.0 plus ovld's hidden claim keys), IPv4
 * helpers, network lookup and error reporting. */
#ifndef OVLCTL_H
#define OVLCTL_H

#include <jansson.h>
#include <stdint.h>

#include "kv.h"

#define P_ROOT "/docker/network/v1.0"
#define P_NET P_ROOT "/network"
#define P_OVERLAY P_ROOT "/overlay/network"
#define P_EP P_ROOT "/endpoint"
#define P_COUNT P_ROOT "/endpoint_count"
/* Claim keys, created with prevExist=false so exactly one creator wins.
 * "_ovld" is hidden from etcd listings, so Docker never sees it. */
#define P_CLAIM P_ROOT "/_ovld"
#define P_NETNAME P_CLAIM "/netnames"
#define P_SUBNET P_CLAIM "/subnets"
#define P_VNI P_CLAIM "/vnis"
#define P_IP P_CLAIM "/ips"
#define P_EPNAME P_CLAIM "/epnames"

#define VNI_MIN 256u
#define VNI_MAX 16777215u

typedef struct ctl {
	kv kv;
	const char *host_ip; /* --host: this host's address (locator) */
} ctl;

/* A network as ovlctl sees it (from network/<id> + overlay/network/<id>). */
typedef struct netinfo {
	char id[65];
	char name[256];
	char driver[32];
	char scope[32];
	int ovld;	 /* created by ovlctl: the datapath programs it */
	uint32_t subnet; /* host order */
	int prefix;
	uint32_t gateway; /* host order, 0 if unknown */
	uint32_t vni;
	json_t *record; /* the network/<id> JSON (owned) */
	uint64_t index; /* its modifiedIndex */
} netinfo;

/* Prints "Error: <msg>" on stderr; always returns 1 (the exit status). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE": 1 and *dst
 * set (the value consumed), 0 when it is another argument, or -1 after
 * printing the error when the value is missing. */
int flag_value(int argc, char **argv, int *i, const char *name,
	       const char **dst);

int ip_parse(const char *s, uint32_t *ip); /* host order */
void ip_format(uint32_t ip, char out[16]);
int cidr_parse(const char *s, uint32_t *net, int *prefix);
uint32_t prefix_mask(int prefix);
int random_id(char out[65]);

/* Finds a network by name, full id or unique id prefix. 0, or 1 after
 * printing the error. */
int net_lookup(ctl *c, const char *ref, netinfo *out);
void net_free(netinfo *n);
/* All networks (array of netinfo, malloc'd). */
int net_list(ctl *c, netinfo **out, size_t *n);

/* The address this host's ovld uses as locator/VTEP. 0 or 1 (error). */
int self_host_ip(ctl *c, char out[64]);

/* Adds delta to endpoint_count/<nid> with compare-and-swap retries. */
int count_add(ctl *c, const char *nid, int delta);

/* Sets or clears a VNI in Docker's VXLAN id allocator, so Docker's overlay
 * driver never reuses an ovld VNI. 0, VXIDM_TAKEN (reserve: Docker has
 * it), or 1 on a store error. VNIs below 256 are outside Docker's range. */
#define VXIDM_TAKEN 2
int vxidm_reserve(ctl *c, uint32_t vni);
int vxidm_release(ctl *c, uint32_t vni);

int cmd_network(ctl *c, int argc, char **argv);
int cmd_attach(ctl *c, int argc, char **argv);
int cmd_detach(ctl *c, int argc, char **argv);
int cmd_status(ctl *c, int argc, char **argv);
int cmd_member(ctl *c, int argc, char **argv);
int cmd_endpoint(ctl *c, int argc, char **argv);

#endif
