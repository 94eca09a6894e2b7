/* ep.c - `ovlctl attach`, `detach` and `endpoint ls`.
 *
 * attach writes an endpoint record in Docker's layout, owned by this host
 * (locator), and then waits for the local reconciler to give the namespace
 * its interface: ovlctl never touches the kernel itself, so there is a
 * single writer of datapath state per host. Names and addresses are made
 * unique cluster-wide with claim keys (prevExist=false). */
#include "ovlctl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000

typedef struct attach_opts {
	const char *net, *name, *netns, *pid, *ip;
} attach_opts;

static int parse_attach(int argc, char **argv, attach_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int m;
		if ((m = flag_value(argc, argv, &i, "--netns", &o->netns)) ||
		    (m = flag_value(argc, argv, &i, "--pid", &o->pid)) ||
		    (m = flag_value(argc, argv, &i, "--ip", &o->ip))) {
			if (m < 0)
				return 1;
		} else if (a[0] == '-') {
			return fail("unknown flag: %s", a);
		} else if (!o->net) {
			o->net = a;
		} else if (!o->name) {
			o->name = a;
		} else {
			return fail("attach takes NETWORK NAME");
		}
	}
	if (!o->net || !o->name)
		return fail(
		    "usage: ovlctl attach NETWORK NAME --netns NAME|PATH "
		    "| --pid PID [--ip IP]");
	if (!o->netns == !o->pid)
		return fail("attach needs exactly one of --netns or --pid");
	return 0;
}

/* Absolute path of the target namespace, checked to exist. */
static int netns_path(const attach_opts *o, char *out, size_t len)
{
	if (o->pid) {
		char *end;
		long pid = strtol(o->pid, &end, 10);
		if (*end || pid <= 0)
			return fail("invalid pid %s", o->pid);
		snprintf(out, len, "/proc/%ld/ns/net", pid);
	} else if (strchr(o->netns, '/')) {
		snprintf(out, len, "%s", o->netns);
	} else {
		snprintf(out, len, "/var/run/netns/%s", o->netns);
	}
	struct stat st;
	if (stat(out, &st) != 0)
		return o->pid
			   ? fail("no process with pid %s", o->pid)
			   : fail("network namespace %s not found", o->netns);
	return 0;
}

static int addr_ok(const netinfo *n, uint32_t ip)
{
	uint32_t m = prefix_mask(n->prefix);
	return (ip & m) == n->subnet && ip != n->subnet &&
	       ip != (n->subnet | ~m) && ip != n->gateway;
}

static int claim_ip(ctl *c, const netinfo *n, uint32_t ip, const char *eid)
{
	char key[256], s[16];
	ip_format(ip, s);
	snprintf(key, sizeof(key), P_IP "/%s/%s", n->id, s);
	return kv_create(&c->kv, key, eid, NULL);
}

static void release_ip(ctl *c, const char *nid, uint32_t ip)
{
	char key[256], s[16];
	ip_format(ip, s);
	snprintf(key, sizeof(key), P_IP "/%s/%s", nid, s);
	kv_delete(&c->kv, key, 0, 0);
}

/* Lowest free host address; claims already taken are skipped without a
 * write, and a lost race just moves on to the next address. */
static int alloc_ip(ctl *c, const netinfo *n, const char *eid, uint32_t *ip)
{
	char key[256];
	json_t *dir = NULL, *used = json_object();
	snprintf(key, sizeof(key), P_IP "/%s", n->id);
	if (kv_get(&c->kv, key, 0, &dir) == 0) {
		size_t i;
		json_t *ch;
		json_array_foreach(kv_node_children(dir), i, ch)
		    json_object_set_new(used, kv_node_base(ch), json_true());
	}
	json_decref(dir);
	int rc = 1;
	uint32_t last = n->subnet | ~prefix_mask(n->prefix);
	for (uint32_t a = n->subnet + 1; a < last; a++) {
		char s[16];
		ip_format(a, s);
		if (!addr_ok(n, a) || json_object_get(used, s))
			continue;
		int err = claim_ip(c, n, a, eid);
		if (err == KV_EXISTS)
			continue;
		if (err == 0) {
			*ip = a;
			rc = 0;
		}
		break;
	}
	json_decref(used);
	return rc;
}

static char *endpoint_record(const netinfo *n, const char *eid,
			     const char *name, uint32_t ip, const char *host,
			     const char *nspath)
{
	char ips[16], addr[32], mac[18], src[16], pool[64], nets[16];
	ip_format(ip, ips);
	ip_format(n->subnet, nets);
	snprintf(addr, sizeof(addr), "%s/%d", ips, n->prefix);
	snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x", ip >> 24,
		 (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	snprintf(src, sizeof(src), "ovv-%.8s", eid);
	snprintf(pool, sizeof(pool), "GlobalDefault/%s/%d", nets, n->prefix);
	json_t *r = json_pack(
	    "{s:b, s:b, s:{s:s, s:s, s:s, s:n, s:s, s:s, s:s}, s:[], s:{}, "
	    "s:s, s:n, s:n, s:b, s:s, s:n, s:s, s:s, s:n, s:s, s:s, s:s, "
	    "s:b, s:s, s:s}",
	    "anonymous", 0, "disableResolution", 0, "ep_iface", "addr", addr,
	    "dstPrefix", "eth", "mac", mac, "routes", "srcName", src,
	    "v4PoolID", pool, "v6PoolID", "", "exposed_ports", "generic", "id",
	    eid, "ingressPorts", "joinInfo", "loadBalancer", 0, "locator", host,
	    "myAliases", "name", name, "sandbox", "", "svcAliases", "svcID", "",
	    "svcName", "", "virtualIP", "<nil>", "ovld", 1, "ovld_netns",
	    nspath, "ovld_net", n->id);
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(r);
	return s;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the namespace at path has an interface holding ip. ovlctl is
 * single-threaded, so switching this thread's namespace for a moment and
 * back is safe. */
static int netns_has_ip(const char *path, uint32_t ip)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int found = -1;
	if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
		struct ifaddrs *ifa;
		found = 0;
		if (getifaddrs(&ifa) == 0) {
			for (struct ifaddrs *p = ifa; p; p = p->ifa_next)
				if (p->ifa_addr &&
				    p->ifa_addr->sa_family == AF_INET &&
				    ntohl(((struct sockaddr_in *)p->ifa_addr)
					      ->sin_addr.s_addr) == ip &&
				    (p->ifa_flags & IFF_UP))
					found = 1;
			freeifaddrs(ifa);
		}
		if (setns(self, CLONE_NEWNET) != 0)
			abort();
	}
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return found;
}

static int wait_iface(const char *path, uint32_t ip)
{
	int64_t deadline = now_ms() + WAIT_MS;
	struct timespec pause = {.tv_nsec = 1000000};
	while (now_ms() < deadline) {
		int r = netns_has_ip(path, ip);
		if (r != 0)
			return r;
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Undoes a failed attach: record, count, address and name claims. */
static void attach_rollback(ctl *c, const netinfo *n, const char *eid,
			    const char *name, uint32_t ip, int stage)
{
	char key[256];
	if (stage >= 3) {
		snprintf(key, sizeof(key), P_EP "/%s/%s", n->id, eid);
		kv_delete(&c->kv, key, 0, 0);
		count_add(c, n->id, -1);
	}
	if (stage >= 2)
		release_ip(c, n->id, ip);
	snprintf(key, sizeof(key), P_EPNAME "/%s/%s", n->id, name);
	kv_delete(&c->kv, key, 0, 0);
}

static int attach_ip(ctl *c, const netinfo *n, const attach_opts *o,
		     const char *eid, uint32_t *ip)
{
	if (!o->ip) {
		if (alloc_ip(c, n, eid, ip) != 0)
			return fail("no available IPv4 addresses on network %s",
				    n->name);
		return 0;
	}
	if (ip_parse(o->ip, ip) != 0 || !addr_ok(n, *ip))
		return fail("invalid address %s for network %s", o->ip,
			    n->name);
	int err = claim_ip(c, n, *ip, eid);
	if (err == KV_EXISTS)
		return fail("Address already in use: %s", o->ip);
	return err ? fail("%s", kv_last_error()) : 0;
}

int cmd_attach(ctl *c, int argc, char **argv)
{
	attach_opts o;
	char path[512], host[64], eid[65], key[256], ips[16];
	if (parse_attach(argc, argv, &o) || netns_path(&o, path, sizeof(path)))
		return 1;
	netinfo n;
	if (net_lookup(c, o.net, &n) != 0)
		return 1;
	int rc = 1, stage = 0;
	uint32_t ip = 0;
	if (!n.ovld || !n.prefix || !n.vni) {
		fail("network %s is not an ovld overlay network", n.name);
		goto out;
	}
	if (json_is_true(json_object_get(n.record, "inDelete"))) {
		fail("network %s is being removed", n.name);
		goto out;
	}
	if (self_host_ip(c, host) || random_id(eid))
		goto out;
	snprintf(key, sizeof(key), P_EPNAME "/%s/%s", n.id, o.name);
	int err = kv_create(&c->kv, key, eid, NULL);
	if (err) {
		fail(err == KV_EXISTS
			 ? "service endpoint with name %s already exists"
			 : "cannot claim endpoint name %s",
		     o.name);
		goto out;
	}
	stage = 1;
	if (attach_ip(c, &n, &o, eid, &ip) != 0)
		goto out;
	stage = 2;
	char *rec = endpoint_record(&n, eid, o.name, ip, host, path);
	snprintf(key, sizeof(key), P_EP "/%s/%s", n.id, eid);
	if (!rec || kv_create(&c->kv, key, rec, NULL) != 0) {
		free(rec);
		fail("%s", kv_last_error());
		goto out;
	}
	free(rec);
	stage = 3;
	count_add(c, n.id, 1);
	if (wait_iface(path, ip) != 1) {
		fail("the interface did not appear in %s within %d s (is "
		     "ovld's datapath on?)",
		     path, WAIT_MS / 1000);
		goto out;
	}
	ip_format(ip, ips);
	printf("%s\n", ips);
	rc = 0;
out:
	if (rc && stage)
		attach_rollback(c, &n, eid, o.name, ip, stage);
	net_free(&n);
	return rc;
}

/* The endpoint named name in network nid, found through its name claim,
 * falling back to a scan (records written by other tools). */
static json_t *find_endpoint(ctl *c, const char *nid, const char *name,
			     uint64_t *index)
{
	char key[256];
	json_t *dir = NULL, *found = NULL;
	snprintf(key, sizeof(key), P_EP "/%s", nid);
	if (kv_get(&c->kv, key, 1, &dir) != 0)
		return NULL;
	size_t i;
	json_t *ch;
	json_array_foreach(kv_node_children(dir), i, ch)
	{
		json_t *e = json_loads(kv_node_value(ch) ?: "", 0, NULL);
		const char *en = json_string_value(json_object_get(e, "name"));
		if (!found && en && strcmp(en, name) == 0) {
			found = e;
			*index = kv_node_index(ch);
		} else {
			json_decref(e);
		}
	}
	json_decref(dir);
	return found;
}

static uint32_t ep_ip(json_t *e)
{
	char buf[32];
	uint32_t ip = 0;
	snprintf(buf, sizeof(buf), "%s",
		 json_string_value(
		     json_object_get(json_object_get(e, "ep_iface"), "addr"))
		     ?: "");
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	ip_parse(buf, &ip);
	return ip;
}

/* After removing a local endpoint, wait (bounded) until the reconciler
 * has removed its interface, so a following command sees it gone. */
static void wait_gone(const char *src)
{
	int64_t deadline = now_ms() + WAIT_MS;
	struct timespec pause = {.tv_nsec = 1000000};
	while (src && if_nametoindex(src) != 0 && now_ms() < deadline)
		nanosleep(&pause, NULL);
}

int cmd_detach(ctl *c, int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: ovlctl detach NETWORK NAME");
	netinfo n;
	if (net_lookup(c, argv[0], &n) != 0)
		return 1;
	uint64_t index = 0;
	json_t *e = find_endpoint(c, n.id, argv[1], &index);
	int rc = 1;
	if (!e) {
		fail("endpoint %s not found in network %s", argv[1], n.name);
		goto out;
	}
	const char *eid = json_string_value(json_object_get(e, "id")) ?: "";
	char key[256];
	snprintf(key, sizeof(key), P_EP "/%s/%s", n.id, eid);
	if (kv_delete(&c->kv, key, index, 0) != 0) {
		fail("%s", kv_last_error());
		goto out;
	}
	count_add(c, n.id, -1);
	release_ip(c, n.id, ep_ip(e));
	snprintf(key, sizeof(key), P_EPNAME "/%s/%s", n.id, argv[1]);
	kv_delete(&c->kv, key, 0, 0);
	/* ovv- names are unique per endpoint: if it is here, it is ours. */
	wait_gone(json_string_value(
	    json_object_get(json_object_get(e, "ep_iface"), "srcName")));
	rc = 0;
out:
	json_decref(e);
	net_free(&n);
	return rc;
}

static void ls_network(ctl *c, const netinfo *n)
{
	char key[256];
	json_t *dir = NULL;
	snprintf(key, sizeof(key), P_EP "/%s", n->id);
	if (kv_get(&c->kv, key, 1, &dir) != 0)
		return;
	size_t i;
	json_t *ch;
	json_array_foreach(kv_node_children(dir), i, ch)
	{
		json_t *e = json_loads(kv_node_value(ch) ?: "", 0, NULL);
		json_t *ifc = json_object_get(e, "ep_iface");
		printf("%-15s%-20s%-20s%-20s%s\n", n->name,
		       json_string_value(json_object_get(e, "name")) ?: "",
		       json_string_value(json_object_get(ifc, "addr")) ?: "",
		       json_string_value(json_object_get(ifc, "mac")) ?: "",
		       json_string_value(json_object_get(e, "locator")) ?: "");
		json_decref(e);
	}
	json_decref(dir);
}

int cmd_endpoint(ctl *c, int argc, char **argv)
{
	if (argc < 1 || (strcmp(argv[0], "ls") && strcmp(argv[0], "list")))
		return fail("usage: ovlctl endpoint ls [NETWORK]");
	netinfo *v = NULL;
	size_t cnt = 0;
	if (argc > 1) {
		v = calloc(1, sizeof(*v));
		if (net_lookup(c, argv[1], v) != 0) {
			free(v);
			return 1;
		}
		cnt = 1;
	} else if (net_list(c, &v, &cnt) != 0) {
		return 1;
	}
	printf("%-15s%-20s%-20s%-20s%s\n", "NETWORK", "NAME", "ADDRESS", "MAC",
	       "HOST");
	for (size_t i = 0; i < cnt; i++) {
		ls_network(c, &v[i]);
		net_free(&v[i]);
	}
	free(v);
	return 0;
}
