/* attach.c - putting an endpoint on a network.
 *
 * The name is claimed first (_ovld/epnames/<nid>/<name>, unique per
 * network cluster-wide), then the address, then the record is written in
 * Docker's layout, owned by this host (locator). The model never touches
 * the kernel: this host's datapath sees the record and creates the
 * interface, and attach waits (bounded) until it has, so the caller gets
 * an interface that works. Any failure gives back what was claimed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* What one attach has done so far, for the rollback. */
typedef struct attach_ctx {
	const ovl_attach_req *req;
	ovl_network net;
	char eid[65];
	char nspath[512];
	uint32_t ip;
	int named, addressed, recorded, counted;
	json_t *node; /* the record as written */
} attach_ctx;

static int valid_ifname(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 16 && strcspn(s, "/: \t\n") == n &&
	       strcmp(s, ".") && strcmp(s, "..");
}

static int valid_mac(const char *s)
{
	unsigned b[6];
	char extra;
	return sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		      &b[3], &b[4], &b[5], &extra) == 6 &&
	       strlen(s) == 17;
}

static int check_names(const ovl_attach_req *req, ovl_err *err)
{
	if (!req->network || !*req->network)
		return ovl_fail(err, OVL_EINVAL, "no network given");
	if (!ovl_valid_key_part(req->name))
		return ovl_fail(err, OVL_EINVAL, "invalid endpoint name \"%s\"",
				req->name ? req->name : "");
	size_t idn = req->id ? strlen(req->id) : 0;
	if (req->id &&
	    (idn < 8 || idn > 64 || strspn(req->id, "0123456789abcdef") != idn))
		return ovl_fail(err, OVL_EINVAL, "invalid endpoint id \"%s\"",
				req->id);
	if (req->ifname && !valid_ifname(req->ifname))
		return ovl_fail(err, OVL_EINVAL, "invalid interface name %s",
				req->ifname);
	if (req->peer && !valid_ifname(req->peer))
		return ovl_fail(err, OVL_EINVAL, "invalid interface name %s",
				req->peer);
	if (req->mac && !valid_mac(req->mac))
		return ovl_fail(err, OVL_EINVAL, "invalid MAC address %s",
				req->mac);
	return OVL_OK;
}

/* The namespace's absolute path, checked to exist. */
static int check_netns(attach_ctx *a, ovl_err *err)
{
	const ovl_attach_req *req = a->req;
	if (!req->netns == !req->peer)
		return ovl_fail(err, OVL_EINVAL,
				"attach needs exactly one of a network "
				"namespace or a peer interface name");
	if (req->peer)
		return OVL_OK;
	if (!*req->netns)
		return ovl_fail(err, OVL_EINVAL, "empty network namespace");
	if (strchr(req->netns, '/'))
		snprintf(a->nspath, sizeof(a->nspath), "%s", req->netns);
	else
		snprintf(a->nspath, sizeof(a->nspath), "/var/run/netns/%s",
			 req->netns);
	struct stat st;
	if (stat(a->nspath, &st) != 0)
		return ovl_fail(err, OVL_EINVAL,
				"network namespace %s not found", req->netns);
	return OVL_OK;
}

static int check_network(attach_ctx *a, ovl *o, ovl_err *err)
{
	if (o->datapath == OVL_DP_OFF)
		return ovl_fail(err, OVL_EINVAL,
				"ovld's datapath is off on this host "
				"(--datapath off): nothing would create the "
				"interface");
	int rc = ovl_network_get(o, a->req->network, &a->net, err);
	if (rc)
		return rc;
	if (!a->net.ovld || !a->net.prefix || !a->net.vni)
		return ovl_fail(err, OVL_EINVAL,
				"network %s is not an ovld overlay network",
				a->net.name);
	if (a->net.in_delete)
		return ovl_fail(err, OVL_EBUSY, "network %s is being removed",
				a->net.name);
	return OVL_OK;
}

static int claim_name(attach_ctx *a, ovl *o, ovl_err *err)
{
	char key[512];
	snprintf(key, sizeof(key), OVL_EPNAME "/%s/%s", a->net.id,
		 a->req->name);
	int rc = o->kv.create(o->kv.ctx, key, a->eid, NULL);
	if (rc == OVL_KV_EXISTS)
		return ovl_fail(err, OVL_EEXISTS,
				"service endpoint with name %s already exists",
				a->req->name);
	if (rc)
		return ovl_kv_fail(err, rc, "claiming the endpoint name");
	a->named = 1;
	return OVL_OK;
}

/* An address claimed earlier through ovl_ip_claim (Docker's IPAM). */
static int check_claimed_ip(attach_ctx *a, ovl *o, ovl_err *err)
{
	char key[256];
	if (!a->req->ip || ovl_ip_parse(a->req->ip, &a->ip) != 0 ||
	    !ovl_addr_ok(&a->net, a->ip))
		return ovl_fail(
		    err, OVL_EINVAL, "invalid address %s for network %s",
		    a->req->ip ? a->req->ip : "(none)", a->net.name);
	ovl_ip_key(a->net.id, a->ip, key, sizeof(key));
	int rc = o->kv.get(o->kv.ctx, key, 0, NULL);
	if (rc == OVL_KV_NOT_FOUND)
		return ovl_fail(err, OVL_EINVAL,
				"address %s is not claimed on network %s",
				a->req->ip, a->net.name);
	return rc ? ovl_kv_fail(err, rc, "reading the address claim") : OVL_OK;
}

static int take_ip(attach_ctx *a, ovl *o, ovl_err *err)
{
	if (a->req->ip_claimed)
		return check_claimed_ip(a, o, err);
	int rc = ovl_ip_take(o, &a->net, a->req->ip, a->eid, &a->ip, err);
	a->addressed = rc == OVL_OK;
	return rc;
}

static char *endpoint_record(const attach_ctx *a, const char *host)
{
	const ovl_attach_req *req = a->req;
	char ips[16], addr[32], mac[18], src[16], pool[64], nets[16];
	ovl_ip_format(a->ip, ips);
	ovl_ip_format(a->net.subnet, nets);
	snprintf(addr, sizeof(addr), "%s/%d", ips, a->net.prefix);
	if (req->mac)
		snprintf(mac, sizeof(mac), "%s", req->mac);
	else
		snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x",
			 a->ip >> 24, (a->ip >> 16) & 255, (a->ip >> 8) & 255,
			 a->ip & 255);
	snprintf(src, sizeof(src), "ovv-%.8s", a->eid);
	snprintf(pool, sizeof(pool), "GlobalDefault/%s/%d", nets,
		 a->net.prefix);
	json_t *r = json_pack(
	    "{s:b, s:b, s:{s:s, s:s, s:s, s:n, s:s, s:s, s:s}, s:[], s:{}, "
	    "s:s, s:n, s:n, s:b, s:s, s:n, s:s, s:s, s:n, s:s, s:s, s:s, "
	    "s:b, s:s, s:s}",
	    "anonymous", 0, "disableResolution", 0, "ep_iface", "addr", addr,
	    "dstPrefix", "eth", "mac", mac, "routes", "srcName", src,
	    "v4PoolID", pool, "v6PoolID", "", "exposed_ports", "generic", "id",
	    a->eid, "ingressPorts", "joinInfo", "loadBalancer", 0, "locator",
	    host, "myAliases", "name", req->name, "sandbox", "", "svcAliases",
	    "svcID", "", "svcName", "", "virtualIP", "<nil>", "ovld", 1,
	    "ovld_netns", a->nspath, "ovld_net", a->net.id);
	json_t *extra =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ovld_ifname",
		      req->ifname ? req->ifname : "", "ovld_peer",
		      req->peer ? req->peer : "", "ovld_runtime",
		      req->runtime ? req->runtime : "", "ovld_container",
		      req->container ? req->container : "", "ovld_sandbox",
		      req->sandbox ? req->sandbox : "", "ovld_ipam",
		      req->ip_claimed ? "external" : "");
	json_object_update(r, extra);
	json_decref(extra);
	char *s = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(r);
	return s;
}

static int write_record(attach_ctx *a, ovl *o, ovl_err *err)
{
	char key[256];
	char *rec = endpoint_record(a, o->host);
	snprintf(key, sizeof(key), OVL_EP "/%s/%s", a->net.id, a->eid);
	int rc = rec ? o->kv.create(o->kv.ctx, key, rec, &a->node) : -1;
	/* A store that answers without the node: the value is ours. */
	if (rc == 0 && !a->node)
		a->node = json_pack("{s:s}", "value", rec);
	free(rec);
	if (rc == OVL_KV_EXISTS)
		return ovl_fail(err, OVL_EEXISTS,
				"endpoint with id %s already exists", a->eid);
	if (rc)
		return ovl_kv_fail(err, rc, "writing the endpoint");
	a->recorded = 1;
	a->counted = ovl_count_add(o, a->net.id, 1) == 0;
	return OVL_OK;
}

/* A removal that marked the network inDelete after check_network read it
 * counted endpoints before this record existed, and would leave it
 * orphaned. The record's write comes after the mark in the log, so this
 * host has applied the mark by now: reading the network again settles
 * it (worst case both calls fail, never an orphan). */
static int recheck_network(attach_ctx *a, ovl *o, ovl_err *err)
{
	char key[256];
	json_t *node = NULL;
	snprintf(key, sizeof(key), OVL_NET "/%s", a->net.id);
	int rc = o->kv.get(o->kv.ctx, key, 0, &node);
	json_t *r = rc == 0 ? ovl_node_json(node) : NULL;
	int removing = rc == OVL_KV_NOT_FOUND ||
		       json_is_true(json_object_get(r, "inDelete"));
	json_decref(r);
	json_decref(node);
	if (removing)
		return ovl_fail(err, OVL_EBUSY, "network %s is being removed",
				a->net.name);
	return rc ? ovl_kv_fail(err, rc, "reading the network") : OVL_OK;
}

static int wait_programmed(attach_ctx *a, ovl *o, ovl_err *err)
{
	if (o->datapath != OVL_DP_ON)
		return OVL_OK;
	int ok = a->req->peer ? ovl_wait_link(a->req->peer, 1, o->wait_ms)
			      : ovl_wait_netns_ip(a->nspath, a->ip, o->wait_ms);
	if (ok)
		return OVL_OK;
	return ovl_fail(err, OVL_ETIMEDOUT,
			"the interface did not appear in %s within %u s (is "
			"ovld's datapath on?)",
			a->req->peer ? "the host namespace" : a->nspath,
			o->wait_ms / 1000);
}

/* Undoes a failed attach: record, count, address and name claims. */
static void rollback(attach_ctx *a, ovl *o)
{
	char key[512];
	if (a->recorded) {
		snprintf(key, sizeof(key), OVL_EP "/%s/%s", a->net.id, a->eid);
		o->kv.del(o->kv.ctx, key, 0, NULL, 0);
	}
	if (a->counted)
		ovl_count_add(o, a->net.id, -1);
	if (a->addressed) {
		ovl_ip_key(a->net.id, a->ip, key, sizeof(key));
		o->kv.del(o->kv.ctx, key, 0, a->eid, 0);
	}
	if (a->named) {
		snprintf(key, sizeof(key), OVL_EPNAME "/%s/%s", a->net.id,
			 a->req->name);
		o->kv.del(o->kv.ctx, key, 0, a->eid, 0);
	}
}

static int attach_steps(attach_ctx *a, ovl *o, ovl_err *err)
{
	int rc = check_names(a->req, err);
	if (!rc)
		rc = check_netns(a, err);
	if (!rc)
		rc = check_network(a, o, err);
	if (rc)
		return rc;
	if (a->req->id)
		snprintf(a->eid, sizeof(a->eid), "%s", a->req->id);
	else if (ovl_random_id(a->eid) != 0)
		return ovl_fail(err, OVL_EINTERNAL, "cannot read /dev/urandom");
	rc = claim_name(a, o, err);
	if (!rc)
		rc = take_ip(a, o, err);
	if (!rc)
		rc = write_record(a, o, err);
	if (!rc)
		rc = recheck_network(a, o, err);
	if (!rc)
		rc = wait_programmed(a, o, err);
	return rc;
}

int ovl_endpoint_attach(ovl *o, const ovl_attach_req *req, ovl_endpoint *out,
			ovl_err *err)
{
	attach_ctx a = {.req = req};
	int rc = attach_steps(&a, o, err);
	if (rc)
		rollback(&a, o);
	else if (out)
		ovl_ep_from_node(a.node, &a.net, out);
	json_decref(a.node);
	return rc;
}
