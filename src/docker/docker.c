/* docker.c - Docker's network driver and IPAM calls in terms of the
 * overlay model.
 *
 * Order of calls for `docker network create -d ovl --ipam-driver ovl`:
 * RequestPool (the gateway comes back in its Data), CreateNetwork, then
 * dockerd stores the network. For `docker run --net demo`: RequestAddress,
 * CreateEndpoint, Join (the sandbox's namespace does not exist yet: the
 * container end of the veth is left in the host namespace and dockerd
 * moves it at container start), and on the way out Leave, DeleteEndpoint,
 * ReleaseAddress. The address is claimed cluster-wide by RequestAddress
 * (owner "docker/<host>"), the container's name by Join, which is why a
 * second `test1` anywhere fails `docker run`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "dk_int.h"

typedef int (*dk_handler)(dk *d, const dk_req *r, char **reply);

static int status_of(int code)
{
	switch (code) {
	case OVL_EINVAL:
		return 400;
	case OVL_ENOTFOUND:
		return 404;
	case OVL_EEXISTS:
	case OVL_EBUSY:
		return 409;
	case OVL_EFULL:
		return 507;
	case OVL_EUNAVAIL:
		return 503;
	case OVL_ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

/* dockerd shows the message to the user as is, so a taken name must say
 * "already exists" whatever wording the model chose. */
static int fail(dk_call c, ovl_err *err, char **reply)
{
	if (err->code == OVL_EEXISTS && !strstr(err->msg, "already exists")) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 n ? " (already exists)" : "already exists");
	}
	*reply = dk_reply_error(c, err->msg[0] ? err->msg : "ovld error");
	return status_of(err->code);
}

static int fail_msg(dk_call c, int code, const char *msg, char **reply)
{
	ovl_err err = {.code = code};
	snprintf(err.msg, sizeof(err.msg), "%s", msg);
	return fail(c, &err, reply);
}

static void fmt_cidr(uint32_t ip, int prefix, char out[32])
{
	char s[16];
	ovl_ip_format(ip, s);
	snprintf(out, 32, "%s/%d", s, prefix);
}

/* ---------------- network driver ---------------- */

static int net_create(dk *d, const dk_req *r, char **reply)
{
	if (r->address_space[0] && strcmp(r->address_space, DK_ADDRESS_SPACE))
		return fail_msg(DK_NET_CREATE, OVL_EINVAL,
				"the ovl driver needs ovl's IPAM: docker "
				"network create -d ovl --ipam-driver ovl ...",
				reply);
	if (!r->pool[0] || r->has_ipv6_data)
		return fail_msg(DK_NET_CREATE, OVL_EINVAL,
				"ovl networks have one IPv4 subnet and no "
				"IPv6",
				reply);
	pthread_mutex_lock(&d->mu);
	dk_net *n = dk_net_add(d, r->network_id);
	if (n) {
		snprintf(n->pool, sizeof(n->pool), "%s", r->pool);
		snprintf(n->gateway, sizeof(n->gateway), "%s", r->gateway);
		snprintf(n->name, sizeof(n->name), "%s", r->ovl_network);
		n->pending = !r->ovl_network[0];
		n->since_ms = dk_now_ms();
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	if (!n)
		return fail_msg(DK_NET_CREATE, OVL_EINTERNAL, "out of memory",
				reply);
	if (r->ovl_network[0])
		dk_pool_release(d, r->pool);
	*reply = dk_reply_empty();
	return 200;
}

/* The ovld network a DeleteNetwork is about; 0 when there is nothing to
 * delete in ovld (a copy the sync removes, a network ovld never had). */
static int net_to_delete(dk *d, const char *nid, char name[256], char pool[32])
{
	dk_net n = {0};
	int have = 0, removing = 0;
	pthread_mutex_lock(&d->mu);
	dk_net *e = dk_net_find(d, nid);
	if (e) {
		n = *e;
		have = 1;
		removing = e->removing;
	}
	pthread_mutex_unlock(&d->mu);
	if (removing)
		return 0;
	if (have && n.name[0]) {
		snprintf(name, 256, "%s", n.name);
		snprintf(pool, 32, "%s", n.pool);
		return 1;
	}
	dk_dnet dn;
	if (dk_docker_network(d, nid, &dn) != 0)
		return 0;
	snprintf(name, 256, "%s", dn.ovl_network[0] ? dn.ovl_network : dn.name);
	snprintf(pool, 32, "%s", have ? n.pool : dn.subnet);
	return 1;
}

static int net_delete(dk *d, const dk_req *r, char **reply)
{
	char name[256], pool[32], have[32];
	ovl_network on;
	ovl_err err;
	int rc = OVL_OK;
	if (net_to_delete(d, r->network_id, name, pool) &&
	    ovl_network_get(d->ovl, name, &on, &err) == OVL_OK && on.ovld &&
	    !on.in_delete) {
		fmt_cidr(on.subnet, on.prefix, have);
		/* A namesake with another subnet is not this network. */
		if (!pool[0] || strcmp(pool, have) == 0)
			rc = ovl_network_delete(d->ovl, name, &err);
		if (rc == OVL_OK)
			dk_tomb_add(d, name);
	}
	if (rc != OVL_OK && rc != OVL_ENOTFOUND)
		return fail(DK_NET_DELETE, &err, reply);
	pthread_mutex_lock(&d->mu);
	dk_net_drop(d, r->network_id);
	pthread_mutex_unlock(&d->mu);
	*reply = dk_reply_empty();
	return 200;
}

static int ep_create(dk *d, const dk_req *r, char **reply)
{
	char name[256];
	ovl_err err;
	uint32_t ip;
	if (dk_bind(d, r->network_id, name, &err) != OVL_OK)
		return fail(DK_EP_CREATE, &err, reply);
	if (r->mac[0]) {
		*reply = dk_reply_endpoint(NULL);
		return 200;
	}
	if (ovl_ip_parse(r->address, &ip) != 0)
		return fail_msg(DK_EP_CREATE, OVL_EINVAL,
				"the endpoint has no IPv4 address (is the "
				"network's IPAM driver ovl?)",
				reply);
	char mac[18];
	dk_mac_of_ip(ip, mac);
	*reply = dk_reply_endpoint(mac);
	return 200;
}

static int ep_info(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_json(json_pack("{s{}}", "Value"));
	return 200;
}

/* The endpoint as dockerd lists it: the container's name and id, the
 * address and MAC it holds. Listed once CreateEndpoint has returned. */
static int join_facts(dk *d, const dk_req *r, dk_dep *ep, ovl_err *err)
{
	dk_dnet dn;
	int rc = dk_docker_endpoint(d, r->network_id, r->endpoint_id, &dn, ep);
	if (rc == 0 && ep->address[0])
		return OVL_OK;
	err->code = rc < 0 ? OVL_EUNAVAIL : OVL_ENOTFOUND;
	snprintf(err->msg, sizeof(err->msg),
		 rc < 0 ? "dockerd cannot be reached to learn endpoint %.12s"
			: "dockerd does not list endpoint %.12s",
		 r->endpoint_id);
	return err->code;
}

static int join(dk *d, const dk_req *r, char **reply)
{
	char net[256], peer[16], ip[32], mac[18];
	dk_dep ep;
	ovl_err err;
	ovl_endpoint out;
	uint32_t a;
	if (dk_bind(d, r->network_id, net, &err) != OVL_OK ||
	    join_facts(d, r, &ep, &err) != OVL_OK)
		return fail(DK_JOIN, &err, reply);
	if (!ep.name[0])
		snprintf(ep.name, sizeof(ep.name), "%.12s", r->endpoint_id);
	snprintf(ip, sizeof(ip), "%s", ep.address);
	*strchrnul(ip, '/') = '\0';
	if (!ep.mac[0] && ovl_ip_parse(ip, &a) == 0)
		dk_mac_of_ip(a, ep.mac);
	snprintf(mac, sizeof(mac), "%s", ep.mac);
	snprintf(peer, sizeof(peer), "ovc-%.8s", r->endpoint_id);
	ovl_attach_req req = {.network = net,
			      .name = ep.name,
			      .id = r->endpoint_id,
			      .peer = peer,
			      .ip = ip,
			      .ip_claimed = 1,
			      .mac = mac[0] ? mac : NULL,
			      .runtime = "docker",
			      .container =
				  ep.container[0] ? ep.container : NULL,
			      .sandbox = r->sandbox_key};
	if (ovl_endpoint_attach(d->ovl, &req, &out, &err) != OVL_OK)
		return fail(DK_JOIN, &err, reply);
	*reply = dk_reply_join(peer);
	return 200;
}

/* Leave and DeleteEndpoint: the endpoint is found by its id (the ovld
 * endpoint has Docker's id) in whichever network holds it, so nothing
 * needs to be remembered between Join and Leave. */
static int detach(dk *d, const dk_req *r, char **reply)
{
	ovl_endpoint *eps = NULL;
	size_t n = 0;
	ovl_err err;
	int rc = ovl_endpoint_list(d->ovl, NULL, &eps, &n, &err);
	for (size_t i = 0; rc == OVL_OK && i < n; i++)
		if (strcmp(eps[i].id, r->endpoint_id) == 0)
			rc = ovl_endpoint_detach(d->ovl, eps[i].network_id,
						 eps[i].id, 1, &err);
	free(eps);
	if (rc != OVL_OK)
		return fail(DK_LEAVE, &err, reply);
	*reply = dk_reply_empty();
	return 200;
}

static int noop(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_empty();
	return 200;
}

/* ---------------- IPAM ---------------- */

static int overlap(uint32_t a, int pa, uint32_t b, int pb)
{
	return ((a ^ b) & ovl_prefix_mask(pa < pb ? pa : pb)) == 0;
}

/* The network whose subnet overlaps net/prefix, if any (OVL_OK: none). */
static int find_overlap(dk *d, uint32_t net, int prefix, ovl_network *hit,
			int *found, ovl_err *err)
{
	ovl_network *nets = NULL;
	size_t n = 0;
	*found = 0;
	int rc = ovl_network_list(d->ovl, &nets, &n, err);
	for (size_t i = 0; rc == OVL_OK && i < n && !*found; i++)
		if (nets[i].prefix > 0 &&
		    overlap(nets[i].subnet, nets[i].prefix, net, prefix)) {
			*hit = nets[i];
			*found = 1;
		}
	free(nets);
	return rc;
}

static int reply_pool(uint32_t net, int prefix, uint32_t gw, char **reply)
{
	char cidr[32], gwc[32];
	fmt_cidr(net, prefix, cidr);
	fmt_cidr(gw ? gw : net + 1, prefix, gwc);
	*reply = dk_reply_pool(cidr, cidr, gwc);
	return 200;
}

static int pool_of_network(dk *d, const char *name, char **reply)
{
	ovl_network on;
	ovl_err err;
	if (ovl_network_get(d->ovl, name, &on, &err) != OVL_OK)
		return fail(DK_POOL_REQ, &err, reply);
	if (!on.ovld || on.in_delete)
		return fail_msg(DK_POOL_REQ, OVL_ENOTFOUND,
				on.in_delete ? "network is being removed"
					     : "not an ovld network",
				reply);
	return reply_pool(on.subnet, on.prefix, on.gateway, reply);
}

static int pool_requested(dk *d, const char *cidr, char **reply)
{
	uint32_t net;
	int prefix, found;
	ovl_network hit;
	ovl_err err;
	char msg[400];
	if (ovl_cidr_parse(cidr, &net, &prefix) != 0 || prefix > 30)
		return fail_msg(DK_POOL_REQ, OVL_EINVAL, "bad subnet", reply);
	net &= ovl_prefix_mask(prefix);
	if (find_overlap(d, net, prefix, &hit, &found, &err) != OVL_OK)
		return fail(DK_POOL_REQ, &err, reply);
	if (found) {
		char have[32];
		fmt_cidr(hit.subnet, hit.prefix, have);
		snprintf(msg, sizeof(msg),
			 "subnet %s overlaps network %s (%s), which already "
			 "exists",
			 cidr, hit.name, have);
		return fail_msg(DK_POOL_REQ, OVL_EEXISTS, msg, reply);
	}
	if (dk_pool_held(d, net, prefix))
		return fail_msg(DK_POOL_REQ, OVL_EEXISTS,
				"subnet overlaps a network being created",
				reply);
	fmt_cidr(net, prefix, msg);
	dk_pool_hold(d, msg);
	return reply_pool(net, prefix, 0, reply);
}

/* ovl_subnet_pick does not claim: skip pools handed out here that no
 * network holds yet (dockerd also asks again while it holds one that
 * overlaps a route of the host). */
static int pool_free(dk *d, char **reply)
{
	char cidr[32];
	ovl_err err;
	uint32_t net;
	int prefix, found = 0;
	ovl_network hit;
	if (ovl_subnet_pick(d->ovl, cidr, &err) != OVL_OK)
		return fail(DK_POOL_REQ, &err, reply);
	if (ovl_cidr_parse(cidr, &net, &prefix) != 0)
		return fail_msg(DK_POOL_REQ, OVL_EINTERNAL, "bad pick", reply);
	for (int i = 0; i < 4096; i++) {
		if (!dk_pool_held(d, net, prefix) &&
		    (i == 0 || (find_overlap(d, net, prefix, &hit, &found,
					     &err) == OVL_OK &&
				!found))) {
			fmt_cidr(net, prefix, cidr);
			dk_pool_hold(d, cidr);
			return reply_pool(net, prefix, 0, reply);
		}
		net += 1u << (32 - prefix);
	}
	return fail_msg(DK_POOL_REQ, OVL_EFULL, "no free subnet", reply);
}

static int pool_request(dk *d, const dk_req *r, char **reply)
{
	if (r->v6)
		return fail_msg(DK_POOL_REQ, OVL_EINVAL,
				"ovl networks have no IPv6", reply);
	if (r->ovl_network[0])
		return pool_of_network(d, r->ovl_network, reply);
	if (r->pool[0])
		return pool_requested(d, r->pool, reply);
	return pool_free(d, reply);
}

static int pool_release(dk *d, const dk_req *r, char **reply)
{
	dk_pool_release(d, r->pool_id);
	*reply = dk_reply_empty();
	return 200;
}

/* Whether ovld's network called name has the subnet pool. It has not when
 * a user's network took a name ovld has with another subnet (the sync
 * removes such a copy once unused). */
static int same_subnet(dk *d, const char *name, const char *pool, ovl_err *err)
{
	ovl_network on;
	char have[32];
	if (ovl_network_get(d->ovl, name, &on, err) != OVL_OK)
		return err->code;
	fmt_cidr(on.subnet, on.prefix, have);
	if (strcmp(have, pool) == 0)
		return OVL_OK;
	err->code = OVL_EEXISTS;
	snprintf(err->msg, sizeof(err->msg),
		 "network %s already exists in ovld with subnet %s, not %s",
		 name, have, pool);
	return err->code;
}

/* The ovld network of a pool: a Docker network of this host with that
 * pool (bound now if still pending), else the ovld network whose subnet
 * it is. bind 0: never create one (ReleaseAddress). */
static int net_of_pool(dk *d, const char *pool, int bind, char name[256],
		       ovl_err *err)
{
	char nid[65] = "";
	uint32_t net;
	int prefix, found;
	ovl_network hit;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_nets && !nid[0]; i++)
		if (strcmp(d->nets[i].pool, pool) == 0)
			memcpy(nid, d->nets[i].nid, 65);
	pthread_mutex_unlock(&d->mu);
	if (nid[0] && bind) {
		int rc = dk_bind(d, nid, name, err);
		return rc ? rc : same_subnet(d, name, pool, err);
	}
	if (ovl_cidr_parse(pool, &net, &prefix) != 0) {
		err->code = OVL_EINVAL;
		snprintf(err->msg, sizeof(err->msg), "bad PoolID %s", pool);
		return err->code;
	}
	if (find_overlap(d, net, prefix, &hit, &found, err) != OVL_OK)
		return err->code;
	if (!found || hit.subnet != net || hit.prefix != prefix) {
		err->code = OVL_ENOTFOUND;
		snprintf(err->msg, sizeof(err->msg),
			 "no ovld network holds pool %s", pool);
		return err->code;
	}
	snprintf(name, 256, "%s", hit.name);
	return OVL_OK;
}

static int gateway_address(dk *d, const dk_req *r, char **reply)
{
	uint32_t net, ip;
	int prefix;
	char out[32];
	if (ovl_cidr_parse(r->pool_id, &net, &prefix) != 0)
		return fail_msg(DK_ADDR_REQ, OVL_EINVAL, "bad PoolID", reply);
	ip = net + 1;
	if (r->address[0] && (ovl_ip_parse(r->address, &ip) != 0 ||
			      ((ip ^ net) & ovl_prefix_mask(prefix)) != 0))
		return fail_msg(DK_ADDR_REQ, OVL_EINVAL,
				"gateway outside the subnet", reply);
	fmt_cidr(ip, prefix, out);
	*reply = dk_reply_address(out);
	return 200;
}

static int addr_request(dk *d, const dk_req *r, char **reply)
{
	char name[256], out[32];
	ovl_err err;
	uint32_t ip, net;
	int prefix;
	if (r->want_gateway)
		return gateway_address(d, r, reply);
	if (ovl_cidr_parse(r->pool_id, &net, &prefix) != 0)
		return fail_msg(DK_ADDR_REQ, OVL_EINVAL, "bad PoolID", reply);
	if (net_of_pool(d, r->pool_id, 1, name, &err) != OVL_OK ||
	    ovl_ip_claim(d->ovl, name, r->address[0] ? r->address : NULL,
			 d->owner, &ip, &err) != OVL_OK)
		return fail(DK_ADDR_REQ, &err, reply);
	if (dk_addr_hold(d, name, ip)) {
		char a[16];
		ovl_ip_format(ip, a);
		err.code = OVL_EEXISTS;
		snprintf(err.msg, sizeof(err.msg),
			 "address %s already exists on network %s", a, name);
		return fail(DK_ADDR_REQ, &err, reply);
	}
	fmt_cidr(ip, prefix, out);
	*reply = dk_reply_address(out);
	return 200;
}

/* Only this host's claims are released (the owner check), so the
 * gateway, which is never claimed, and a claim another host holds stay. */
static int addr_release(dk *d, const dk_req *r, char **reply)
{
	char name[256];
	ovl_err err;
	uint32_t ip;
	if (ovl_ip_parse(r->address, &ip) == 0 &&
	    net_of_pool(d, r->pool_id, 0, name, &err) == OVL_OK) {
		if (ovl_ip_release(d->ovl, name, ip, d->owner, &err) !=
			OVL_OK &&
		    err.code != OVL_ENOTFOUND)
			return fail(DK_ADDR_REL, &err, reply);
		dk_addr_drop(d, name, ip);
	}
	*reply = dk_reply_empty();
	return 200;
}

static int ipam_caps(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_ipam_caps();
	return 200;
}

static int ipam_spaces(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_spaces();
	return 200;
}

static int activate(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_activate();
	return 200;
}

static int net_caps(dk *d, const dk_req *r, char **reply)
{
	*reply = dk_reply_net_caps();
	return 200;
}

static dk_handler handler_of(dk_call c)
{
	static const dk_handler h[] = {
	    [DK_ACTIVATE] = activate,
	    [DK_NET_CAPS] = net_caps,
	    [DK_NET_CREATE] = net_create,
	    [DK_NET_DELETE] = net_delete,
	    [DK_EP_CREATE] = ep_create,
	    [DK_EP_INFO] = ep_info,
	    [DK_JOIN] = join,
	    [DK_LEAVE] = detach,
	    [DK_EP_DELETE] = detach,
	    [DK_NOOP] = noop,
	    [DK_IPAM_CAPS] = ipam_caps,
	    [DK_IPAM_SPACES] = ipam_spaces,
	    [DK_POOL_REQ] = pool_request,
	    [DK_POOL_REL] = pool_release,
	    [DK_ADDR_REQ] = addr_request,
	    [DK_ADDR_REL] = addr_release,
	};
	return c < sizeof(h) / sizeof(h[0]) ? h[c] : NULL;
}

int dk_handle(dk *d, const char *path, const char *body, size_t len,
	      char **reply)
{
	dk_call c = dk_call_of(path);
	dk_handler h = handler_of(c);
	char msg[256];
	dk_req r;
	if (!h) {
		*reply = dk_reply_error(c, "no such plugin call");
		return 404;
	}
	if (dk_req_parse(c, body, len, &r, msg, sizeof(msg)) != 0) {
		*reply = dk_reply_error(c, msg);
		return 400;
	}
	int64_t t0 = dk_now_ms();
	int st = h(d, &r, reply);
	/* Timed: it shows ovld's share of a slow `docker run`. */
	if (st >= 400)
		log_info("docker", "%s: %d in %lld ms %s", path, st,
			 (long long)(dk_now_ms() - t0), *reply ? *reply : "");
	else
		log_debug("docker", "%s: %d in %lld ms", path, st,
			  (long long)(dk_now_ms() - t0));
	return st;
}

int dk_init(dk **out, const dk_config *cfg)
{
	dk *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->ovl = cfg->ovl;
	d->sync = cfg->sync;
	const char *h =
	    cfg->docker_host ? cfg->docker_host : "/var/run/docker.sock";
	if (strncmp(h, "unix://", 7) == 0)
		h += 7;
	snprintf(d->docker_host, sizeof(d->docker_host), "%s", h);
	snprintf(d->owner, sizeof(d->owner), "docker/%s",
		 d->ovl ? ovl_host_ip(d->ovl) : "");
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	if (dk_binder_start(d) != 0) {
		dk_close(d);
		return -1;
	}
	*out = d;
	return 0;
}

void dk_close(dk *d)
{
	if (!d)
		return;
	dk_binder_stop(d);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d->nets);
	free(d->pools);
	free(d->tombs);
	free(d->addrs);
	free(d);
}
