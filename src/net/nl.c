/* nl.c - kernel primitives of the datapath: bridges, vxlan devices, veth
 * pairs into container namespaces, FDB and neighbour entries.
 *
 * Writes are hand-built RTM_* messages sent with nl_send_sync: libnl 3.7's
 * object API sends IFLA_VXLAN_PORT with the wrong size and silently drops
 * NDA_DST when the family is set first, and raw messages make the exact
 * kernel request obvious. Link reads use libnl's link cache. */
#include "nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/socket.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IFLA_VXLAN_PROXY
#define IFLA_VXLAN_PROXY 11
#endif

struct dpnl {
	struct nl_sock *sk;
};

static int sock_new(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return -NLE_NOMEM;
	int err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sk);
		return err;
	}
	/* Dumps of thousands of FDB entries need more than the default. */
	nl_socket_set_buffer_size(sk, 4 << 20, 1 << 20);
	*out = sk;
	return 0;
}

int dpnl_open(dpnl **out)
{
	dpnl *n = calloc(1, sizeof(*n));
	if (!n)
		return -NLE_NOMEM;
	int err = sock_new(&n->sk);
	if (err < 0) {
		free(n);
		return err;
	}
	*out = n;
	return 0;
}

void dpnl_close(dpnl *n)
{
	if (!n)
		return;
	nl_socket_free(n->sk);
	free(n);
}

const char *dpnl_strerror(int err)
{
	return nl_geterror(err < 0 ? -err : err);
}

/* A route socket inside another network namespace. setns only affects the
 * calling thread, and the thread is switched back before returning, so the
 * window in which this thread lives in the container's namespace is the
 * socket() call alone; the socket stays bound to that namespace. */
static int sock_in_netns(const char *path, struct nl_sock **out)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -nl_syserr2nlerr(errno);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0) {
		int e = errno;
		close(self);
		return -nl_syserr2nlerr(e);
	}
	int err = 0;
	if (setns(target, CLONE_NEWNET) < 0) {
		err = -nl_syserr2nlerr(errno);
	} else {
		err = sock_new(out);
		if (setns(self, CLONE_NEWNET) < 0)
			abort(); /* cannot continue in the wrong namespace */
	}
	close(target);
	close(self);
	return err;
}

/* ---- links ---- */

static int link_from_obj(struct rtnl_link *l, dpnl_link *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", rtnl_link_get_name(l));
	o->ifindex = rtnl_link_get_ifindex(l);
	o->master = rtnl_link_get_master(l);
	o->mtu = rtnl_link_get_mtu(l);
	o->up = !!(rtnl_link_get_flags(l) & IFF_UP);
	const char *type = rtnl_link_get_type(l);
	if (type && strcmp(type, "vxlan") == 0) {
		o->is_vxlan = 1;
		rtnl_link_vxlan_get_id(l, &o->vni);
		struct nl_addr *a = NULL;
		if (rtnl_link_vxlan_get_local(l, &a) == 0 && a) {
			if (nl_addr_get_len(a) == 4)
				memcpy(&o->local, nl_addr_get_binary_addr(a),
				       4);
			nl_addr_put(a);
		}
	}
	return 0;
}

static int list_links_sk(struct nl_sock *sk, const char *prefix,
			 dpnl_link **out, size_t *cnt)
{
	struct nl_cache *cache;
	int err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (err < 0)
		return err;
	size_t cap = nl_cache_nitems(cache), k = 0;
	dpnl_link *v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v) {
		nl_cache_free(cache);
		return -NLE_NOMEM;
	}
	size_t plen = prefix ? strlen(prefix) : 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o && k < cap;
	     o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);
		if (!name || (plen && strncmp(name, prefix, plen) != 0))
			continue;
		link_from_obj(l, &v[k++]);
	}
	nl_cache_free(cache);
	*out = v;
	*cnt = k;
	return 0;
}

int dpnl_list_links(dpnl *n, const char *prefix, dpnl_link **out, size_t *cnt)
{
	return list_links_sk(n->sk, prefix, out, cnt);
}

static int get_link(struct nl_sock *sk, const char *name, dpnl_link *o)
{
	struct rtnl_link *l = NULL;
	int err = rtnl_link_get_kernel(sk, 0, name, &l);
	if (err < 0)
		return err;
	link_from_obj(l, o);
	rtnl_link_put(l);
	return 0;
}

int dpnl_link_index(dpnl *n, const char *name)
{
	dpnl_link o;
	int err = get_link(n->sk, name, &o);
	return err < 0 ? err : o.ifindex;
}

static struct nl_msg *link_msg(int type, int flags, int ifindex,
			       unsigned ifflags)
{
	struct nl_msg *m = nlmsg_alloc_simple(type, flags);
	if (!m)
		return NULL;
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC,
				.ifi_index = ifindex,
				.ifi_flags = ifflags,
				.ifi_change = ifflags};
	if (nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

int dpnl_link_delete(dpnl *n, const char *name)
{
	struct nl_msg *m = link_msg(RTM_DELLINK, 0, 0, 0);
	if (!m)
		return -NLE_NOMEM;
	if (nla_put_string(m, IFLA_IFNAME, name) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	int err = nl_send_sync(n->sk, m);
	return err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND ? 0 : err;
}

/* Sets master (when >0), MTU and IFF_UP on an existing link. */
static int link_fix(struct nl_sock *sk, int ifindex, int master)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex, IFF_UP);
	if (!m)
		return -NLE_NOMEM;
	if (nla_put_u32(m, IFLA_MTU, DPNL_MTU) < 0 ||
	    (master > 0 && nla_put_u32(m, IFLA_MASTER, master) < 0)) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return nl_send_sync(sk, m);
}

static int link_ok(const dpnl_link *l, int master)
{
	return l->up && l->mtu == DPNL_MTU &&
	       (master <= 0 || l->master == master);
}

int dpnl_bridge_ensure(dpnl *n, const char *name)
{
	dpnl_link cur;
	if (get_link(n->sk, name, &cur) == 0) {
		if (link_ok(&cur, 0))
			return cur.ifindex;
		int err = link_fix(n->sk, cur.ifindex, 0);
		return err < 0 ? err : cur.ifindex;
	}
	struct nl_msg *m =
	    link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP);
	if (!m)
		return -NLE_NOMEM;
	struct nlattr *li;
	if (nla_put_string(m, IFLA_IFNAME, name) < 0 ||
	    nla_put_u32(m, IFLA_MTU, DPNL_MTU) < 0 ||
	    !(li = nla_nest_start(m, IFLA_LINKINFO)) ||
	    nla_put_string(m, IFLA_INFO_KIND, "bridge") < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	nla_nest_end(m, li);
	int err = nl_send_sync(n->sk, m);
	if (err < 0 && err != -NLE_EXIST)
		return err;
	return dpnl_link_index(n, name);
}

static int vxlan_create(dpnl *n, const char *name, uint32_t vni, uint32_t local,
			int master)
{
	struct nl_msg *m =
	    link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP);
	if (!m)
		return -NLE_NOMEM;
	struct nlattr *li, *data;
	int bad = nla_put_string(m, IFLA_IFNAME, name) < 0 ||
		  nla_put_u32(m, IFLA_MTU, DPNL_MTU) < 0 ||
		  (master > 0 && nla_put_u32(m, IFLA_MASTER, master) < 0) ||
		  !(li = nla_nest_start(m, IFLA_LINKINFO)) ||
		  nla_put_string(m, IFLA_INFO_KIND, "vxlan") < 0 ||
		  !(data = nla_nest_start(m, IFLA_INFO_DATA)) ||
		  nla_put_u32(m, IFLA_VXLAN_ID, vni) < 0 ||
		  nla_put(m, IFLA_VXLAN_LOCAL, 4, &local) < 0 ||
		  nla_put_u8(m, IFLA_VXLAN_LEARNING, 0) < 0 ||
		  nla_put_u8(m, IFLA_VXLAN_PROXY, 1) < 0 ||
		  nla_put_u16(m, IFLA_VXLAN_PORT, htons(DPNL_VXLAN_PORT)) < 0;
	if (bad) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	nla_nest_end(m, data);
	nla_nest_end(m, li);
	return nl_send_sync(n->sk, m);
}

int dpnl_vxlan_ensure(dpnl *n, const char *name, uint32_t vni, uint32_t local,
		      int master)
{
	dpnl_link cur;
	if (get_link(n->sk, name, &cur) == 0) {
		if (cur.is_vxlan && cur.vni == vni && cur.local == local) {
			if (link_ok(&cur, master))
				return cur.ifindex;
			int err = link_fix(n->sk, cur.ifindex, master);
			return err < 0 ? err : cur.ifindex;
		}
		/* Wrong identity: entries on it would be wrong too. */
		int err = dpnl_link_delete(n, name);
		if (err < 0)
			return err;
	}
	int err = vxlan_create(n, name, vni, local, master);
	if (err < 0)
		return err;
	return dpnl_link_index(n, name);
}

/* ---- veth into a container namespace ---- */

static int free_eth_name(struct nl_sock *sk, char name[16])
{
	dpnl_link *v;
	size_t cnt;
	int err = list_links_sk(sk, "eth", &v, &cnt);
	if (err < 0)
		return err;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, 16, "eth%d", i);
		size_t k = 0;
		while (k < cnt && strcmp(v[k].name, name) != 0)
			k++;
		if (k == cnt) {
			free(v);
			return 0;
		}
	}
	free(v);
	return -NLE_EXIST;
}

/* nsfd < 0: the peer stays in this socket's namespace. */
static int veth_create(dpnl *n, const char *host_name, int master, int nsfd,
		       const char *peer_name, const uint8_t mac[6])
{
	struct nl_msg *m =
	    link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP);
	if (!m)
		return -NLE_NOMEM;
	struct nlattr *li, *data, *peer;
	/* The peer is brought up later, from inside its namespace: the kernel
	 * refuses (ENOTCONN) to open it while it is being created there. */
	struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
	int bad =
	    nla_put_string(m, IFLA_IFNAME, host_name) < 0 ||
	    nla_put_u32(m, IFLA_MTU, DPNL_MTU) < 0 ||
	    nla_put_u32(m, IFLA_MASTER, master) < 0 ||
	    !(li = nla_nest_start(m, IFLA_LINKINFO)) ||
	    nla_put_string(m, IFLA_INFO_KIND, "veth") < 0 ||
	    !(data = nla_nest_start(m, IFLA_INFO_DATA)) ||
	    !(peer = nla_nest_start(m, VETH_INFO_PEER)) ||
	    nlmsg_append(m, &pifi, sizeof(pifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(m, IFLA_IFNAME, peer_name) < 0 ||
	    nla_put_u32(m, IFLA_MTU, DPNL_MTU) < 0 ||
	    nla_put(m, IFLA_ADDRESS, 6, mac) < 0 ||
	    (nsfd >= 0 && nla_put_u32(m, IFLA_NET_NS_FD, (uint32_t)nsfd) < 0);
	if (bad) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	nla_nest_end(m, peer);
	nla_nest_end(m, data);
	nla_nest_end(m, li);
	return nl_send_sync(n->sk, m);
}

static int addr_add(struct nl_sock *sk, int ifindex, uint32_t ip, int prefix)
{
	struct nl_msg *m =
	    nlmsg_alloc_simple(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	if (!m)
		return -NLE_NOMEM;
	struct ifaddrmsg ifa = {.ifa_family = AF_INET,
				.ifa_prefixlen = (unsigned char)prefix,
				.ifa_index = (unsigned)ifindex};
	if (nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(m, IFA_LOCAL, 4, &ip) < 0 ||
	    nla_put(m, IFA_ADDRESS, 4, &ip) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return nl_send_sync(sk, m);
}

/* Creates the pair and configures the container end; on any failure the
 * pair is removed again so no half-made interface is left behind. */
static int veth_setup(dpnl *n, const dpnl_veth *v, char *created)
{
	struct nl_sock *csk = NULL;
	int err = sock_in_netns(v->netns_path, &csk);
	if (err < 0)
		return err;
	int nsfd = open(v->netns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		nl_socket_free(csk);
		return -nl_syserr2nlerr(errno);
	}
	char peer[16];
	dpnl_link cl;
	if (v->ifname && v->ifname[0])
		snprintf(peer, sizeof(peer), "%s", v->ifname);
	else
		err = free_eth_name(csk, peer);
	if (err == 0)
		err =
		    veth_create(n, v->host_name, v->master, nsfd, peer, v->mac);
	if (err == 0)
		err = get_link(csk, peer, &cl);
	if (err == 0)
		err = addr_add(csk, cl.ifindex, v->ip, v->prefix);
	if (err == 0)
		err = link_fix(csk, cl.ifindex, 0);
	if (err < 0)
		dpnl_link_delete(n, v->host_name);
	else if (created)
		snprintf(created, 16, "%s", peer);
	close(nsfd);
	nl_socket_free(csk);
	return err;
}

/* Docker's mode: both ends here; Docker moves the peer into the sandbox
 * and gives it its address, so it is left down and bare. */
static int veth_setup_peer(dpnl *n, const dpnl_veth *v, char *created)
{
	int err = veth_create(n, v->host_name, v->master, -1, v->peer, v->mac);
	if (err == 0 && created)
		snprintf(created, 16, "%s", v->peer);
	return err;
}

int dpnl_veth_ensure(dpnl *n, const dpnl_veth *v, char *created)
{
	if (created)
		created[0] = '\0';
	dpnl_link cur;
	if (get_link(n->sk, v->host_name, &cur) == 0)
		return link_ok(&cur, v->master)
			   ? 0
			   : link_fix(n->sk, cur.ifindex, v->master);
	if (v->peer && v->peer[0])
		return veth_setup_peer(n, v, created);
	if (!v->netns_path || !v->netns_path[0])
		return -NLE_INVAL;
	return veth_setup(n, v, created);
}

/* ---- FDB and neighbour entries ---- */

static struct nl_msg *neigh_msg(int type, int flags, int family, int ifindex,
				int state, int ntf)
{
	struct nl_msg *m = nlmsg_alloc_simple(type, flags);
	if (!m)
		return NULL;
	struct ndmsg nd = {.ndm_family = (unsigned char)family,
			   .ndm_ifindex = ifindex,
			   .ndm_state = (uint16_t)state,
			   .ndm_flags = (unsigned char)ntf};
	if (nlmsg_append(m, &nd, sizeof(nd), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

static int send_entry(dpnl *n, struct nl_msg *m, const uint8_t mac[6],
		      uint32_t ip)
{
	if (!m)
		return -NLE_NOMEM;
	if (nla_put(m, NDA_LLADDR, 6, mac) < 0 ||
	    nla_put(m, NDA_DST, 4, &ip) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return nl_send_sync(n->sk, m);
}

static int is_zero_mac(const uint8_t mac[6])
{
	static const uint8_t z[6];
	return memcmp(mac, z, 6) == 0;
}

int dpnl_fdb_add(dpnl *n, int ifindex, const dpnl_fdb *e)
{
	/* The all-zero MAC holds a list of flood destinations (append); a
	 * unicast MAC has exactly one destination (replace moves it). */
	int how = is_zero_mac(e->mac) ? NLM_F_APPEND : NLM_F_REPLACE;
	struct nl_msg *m =
	    neigh_msg(RTM_NEWNEIGH, NLM_F_CREATE | how, AF_BRIDGE, ifindex,
		      NUD_PERMANENT | NUD_NOARP, NTF_SELF);
	int err = send_entry(n, m, e->mac, e->dst);
	return err == -NLE_EXIST ? 0 : err;
}

int dpnl_fdb_del(dpnl *n, int ifindex, const dpnl_fdb *e)
{
	struct nl_msg *m =
	    neigh_msg(RTM_DELNEIGH, 0, AF_BRIDGE, ifindex, 0, NTF_SELF);
	int err = send_entry(n, m, e->mac, e->dst);
	return err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR ? 0 : err;
}

int dpnl_neigh_add(dpnl *n, int ifindex, const dpnl_neigh *e)
{
	struct nl_msg *m = neigh_msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE,
				     AF_INET, ifindex, NUD_PERMANENT, 0);
	return send_entry(n, m, e->mac, e->ip);
}

int dpnl_neigh_del(dpnl *n, int ifindex, const dpnl_neigh *e)
{
	struct nl_msg *m = neigh_msg(RTM_DELNEIGH, 0, AF_INET, ifindex, 0, 0);
	int err = send_entry(n, m, e->mac, e->ip);
	return err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR ? 0 : err;
}

/* A dump of one neighbour family, filtered to ifindex in the callback. */
struct neigh_dump {
	int family;
	int ifindex;
	void *v;
	size_t n, cap, elem;
	int err;
};

static void *dump_slot(struct neigh_dump *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *nv = realloc(d->v, cap * d->elem);
		if (!nv) {
			d->err = -NLE_NOMEM;
			return NULL;
		}
		d->v = nv;
		d->cap = cap;
	}
	return (char *)d->v + d->elem * d->n++;
}

static int neigh_dump_cb(struct nl_msg *msg, void *arg)
{
	struct neigh_dump *d = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (h->nlmsg_type != RTM_NEWNEIGH)
		return NL_OK;
	struct ndmsg *nd = nlmsg_data(h);
	struct nlattr *tb[NDA_MAX + 1];
	if (nd->ndm_family != d->family || nd->ndm_ifindex != d->ifindex ||
	    nlmsg_parse(h, sizeof(*nd), tb, NDA_MAX, NULL) < 0)
		return NL_OK;
	if (!tb[NDA_LLADDR] || nla_len(tb[NDA_LLADDR]) != 6 || !tb[NDA_DST] ||
	    nla_len(tb[NDA_DST]) != 4)
		return NL_OK;
	if (d->family == AF_BRIDGE) {
		if (!(nd->ndm_flags & NTF_SELF))
			return NL_OK;
		dpnl_fdb *e = dump_slot(d);
		if (e) {
			memcpy(e->mac, nla_data(tb[NDA_LLADDR]), 6);
			memcpy(&e->dst, nla_data(tb[NDA_DST]), 4);
		}
	} else {
		dpnl_neigh *e = dump_slot(d);
		if (e) {
			memcpy(e->mac, nla_data(tb[NDA_LLADDR]), 6);
			memcpy(&e->ip, nla_data(tb[NDA_DST]), 4);
		}
	}
	return NL_OK;
}

static int neigh_dump(dpnl *n, struct neigh_dump *d)
{
	struct ndmsg nd = {.ndm_family = (unsigned char)d->family};
	int err =
	    nl_send_simple(n->sk, RTM_GETNEIGH, NLM_F_DUMP, &nd, sizeof(nd));
	if (err < 0)
		return err;
	struct nl_cb *base = nl_socket_get_cb(n->sk); /* takes a reference */
	struct nl_cb *cb = nl_cb_clone(base);
	nl_cb_put(base);
	if (!cb)
		return -NLE_NOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, neigh_dump_cb, d);
	err = nl_recvmsgs(n->sk, cb);
	nl_cb_put(cb);
	if (err < 0)
		return err;
	return d->err;
}

int dpnl_fdb_list(dpnl *n, int ifindex, dpnl_fdb **out, size_t *cnt)
{
	struct neigh_dump d = {
	    .family = AF_BRIDGE, .ifindex = ifindex, .elem = sizeof(dpnl_fdb)};
	int err = neigh_dump(n, &d);
	if (err < 0) {
		free(d.v);
		return err;
	}
	*out = d.v;
	*cnt = d.n;
	return 0;
}

int dpnl_neigh_list(dpnl *n, int ifindex, dpnl_neigh **out, size_t *cnt)
{
	struct neigh_dump d = {
	    .family = AF_INET, .ifindex = ifindex, .elem = sizeof(dpnl_neigh)};
	int err = neigh_dump(n, &d);
	if (err < 0) {
		free(d.v);
		return err;
	}
	*out = d.v;
	*cnt = d.n;
	return 0;
}

/* ---- helpers ---- */

void dpnl_mac_from_ip(uint32_t ip, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x42;
	memcpy(mac + 2, &ip, 4); /* network order: 10.0.0.2 -> 0a:00:00:02 */
}

int dpnl_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char extra;
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
			 &b[3], &b[4], &b[5], &extra) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

void dpnl_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}
