/* test_net_nl.c - the datapath's netlink primitives against a real kernel.
 *
 * The test moves itself into a private network namespace first (needs
 * root), so everything it creates disappears with it; "containers" are
 * child processes holding their own network namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/nl.h"
#include "test_netns.h"

static uint32_t ip4(const char *s)
{
	uint32_t a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static int setup(void **state)
{
	dpnl *n;
	assert_int_equal(dpnl_open(&n), 0);
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	dpnl_close(*state);
	return 0;
}

static void test_mac_helpers(void **state)
{
	uint8_t mac[6], back[6];
	char s[18];
	dpnl_mac_from_ip(ip4("10.0.0.2"), mac);
	dpnl_format_mac(mac, s);
	assert_string_equal(s, "02:42:0a:00:00:02");
	assert_int_equal(dpnl_parse_mac(s, back), 0);
	assert_memory_equal(mac, back, 6);
	assert_int_equal(dpnl_parse_mac("02:42:0a:00:00", back), -1);
	assert_int_equal(dpnl_parse_mac("02:42:0a:00:00:02x", back), -1);
}

static void test_bridge_idempotent(void **state)
{
	dpnl *n = *state;
	int a = dpnl_bridge_ensure(n, "ovb-000101");
	assert_true(a > 0);
	assert_int_equal(dpnl_bridge_ensure(n, "ovb-000101"), a);
	/* Drifted state is repaired in place, not recreated. */
	sh("ip link set ovb-000101 mtu 1400 down");
	assert_int_equal(dpnl_bridge_ensure(n, "ovb-000101"), a);
	char *o = sh("ip -o link show ovb-000101");
	assert_non_null(strstr(o, "mtu 1450"));
	assert_non_null(strstr(o, ",UP"));
	assert_int_equal(dpnl_link_delete(n, "ovb-000101"), 0);
	assert_int_equal(dpnl_link_delete(n, "ovb-000101"), 0);
	assert_true(dpnl_link_index(n, "ovb-000101") < 0);
}

static void test_vxlan(void **state)
{
	dpnl *n = *state;
	int br = dpnl_bridge_ensure(n, "ovb-000100");
	assert_true(br > 0);
	int vx = dpnl_vxlan_ensure(n, "ovx-000100", 256, ip4("192.0.2.1"), br);
	assert_true(vx > 0);
	char *o = sh("ip -d link show ovx-000100");
	assert_non_null(strstr(o, "vxlan id 256 "));
	assert_non_null(strstr(o, "local 192.0.2.1"));
	assert_non_null(strstr(o, "dstport 4789"));
	assert_non_null(strstr(o, "nolearning"));
	assert_non_null(strstr(o, "proxy"));
	assert_non_null(strstr(o, "mtu 1450"));
	assert_non_null(strstr(o, "master ovb-000100"));
	assert_int_equal(
	    dpnl_vxlan_ensure(n, "ovx-000100", 256, ip4("192.0.2.1"), br), vx);

	dpnl_link *v;
	size_t cnt;
	assert_int_equal(dpnl_list_links(n, "ovx-", &v, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_true(v[0].is_vxlan);
	assert_int_equal(v[0].vni, 256);
	assert_int_equal(v[0].local, ip4("192.0.2.1"));
	assert_int_equal(v[0].master, br);
	free(v);

	/* A different VNI means a different device. */
	int vx2 = dpnl_vxlan_ensure(n, "ovx-000100", 257, ip4("192.0.2.1"), br);
	assert_true(vx2 > 0);
	assert_non_null(strstr(sh("ip -d link show ovx-000100"), "id 257 "));
	dpnl_link_delete(n, "ovx-000100");
	dpnl_link_delete(n, "ovb-000100");
}

static void test_fdb_and_neigh(void **state)
{
	dpnl *n = *state;
	int br = dpnl_bridge_ensure(n, "ovb-000102");
	int vx = dpnl_vxlan_ensure(n, "ovx-000102", 258, ip4("192.0.2.1"), br);
	assert_true(vx > 0);
	dpnl_fdb e = {.dst = ip4("192.0.2.2")};
	dpnl_mac_from_ip(ip4("10.0.0.3"), e.mac);
	assert_int_equal(dpnl_fdb_add(n, vx, &e), 0);
	assert_int_equal(dpnl_fdb_add(n, vx, &e), 0);
	/* Replace moves a MAC to another VTEP. */
	e.dst = ip4("192.0.2.3");
	assert_int_equal(dpnl_fdb_add(n, vx, &e), 0);
	dpnl_fdb flood1 = {.dst = ip4("192.0.2.2")};
	dpnl_fdb flood2 = {.dst = ip4("192.0.2.3")};
	assert_int_equal(dpnl_fdb_add(n, vx, &flood1), 0);
	assert_int_equal(dpnl_fdb_add(n, vx, &flood2), 0);
	assert_int_equal(dpnl_fdb_add(n, vx, &flood2), 0);

	dpnl_fdb *f;
	size_t cnt;
	assert_int_equal(dpnl_fdb_list(n, vx, &f, &cnt), 0);
	assert_int_equal(cnt, 3);
	int found = 0;
	for (size_t i = 0; i < cnt; i++)
		if (memcmp(f[i].mac, e.mac, 6) == 0 && f[i].dst == e.dst)
			found++;
	assert_int_equal(found, 1);
	free(f);
	char *o = sh("bridge fdb show dev ovx-000102");
	assert_non_null(strstr(o, "02:42:0a:00:00:03 dst 192.0.2.3"));
	assert_non_null(strstr(o, "00:00:00:00:00:00 dst 192.0.2.2"));

	assert_int_equal(dpnl_fdb_del(n, vx, &flood1), 0);
	assert_int_equal(dpnl_fdb_del(n, vx, &flood1), 0);
	assert_int_equal(dpnl_fdb_list(n, vx, &f, &cnt), 0);
	assert_int_equal(cnt, 2);
	free(f);

	dpnl_neigh ne = {.ip = ip4("10.0.0.3")};
	memcpy(ne.mac, e.mac, 6);
	assert_int_equal(dpnl_neigh_add(n, vx, &ne), 0);
	assert_int_equal(dpnl_neigh_add(n, vx, &ne), 0);
	dpnl_neigh *nv;
	assert_int_equal(dpnl_neigh_list(n, vx, &nv, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(nv[0].ip, ne.ip);
	assert_memory_equal(nv[0].mac, ne.mac, 6);
	free(nv);
	assert_non_null(strstr(sh("ip neigh show dev ovx-000102"),
			       "10.0.0.3 lladdr 02:42:0a:00:00:03 PERMANENT"));
	assert_int_equal(dpnl_neigh_del(n, vx, &ne), 0);
	assert_int_equal(dpnl_neigh_del(n, vx, &ne), 0);
	assert_int_equal(dpnl_neigh_list(n, vx, &nv, &cnt), 0);
	assert_int_equal(cnt, 0);
	free(nv);
	dpnl_link_delete(n, "ovx-000102");
	dpnl_link_delete(n, "ovb-000102");
}

/* The netns form of dpnl_veth_ensure, default container-side name. */
static int veth(dpnl *n, const char *host, int br, const char *path,
		const uint8_t mac[6], uint32_t ip, int prefix, char *ifname)
{
	dpnl_veth v = {.host_name = host,
		       .master = br,
		       .netns_path = path,
		       .mac = mac,
		       .ip = ip,
		       .prefix = prefix};
	return dpnl_veth_ensure(n, &v, ifname);
}

static void test_veth_into_netns(void **state)
{
	dpnl *n = *state;
	container c;
	assert_int_equal(container_start(&c), 0);
	int br = dpnl_bridge_ensure(n, "ovb-000103");
	uint8_t mac[6];
	dpnl_mac_from_ip(ip4("10.0.0.2"), mac);
	char ifname[16];
	assert_int_equal(veth(n, "ovv-aabbccdd", br, c.path, mac,
			      ip4("10.0.0.2"), 24, ifname),
			 0);
	assert_string_equal(ifname, "eth0");
	/* Already there: nothing is created. */
	assert_int_equal(veth(n, "ovv-aabbccdd", br, c.path, mac,
			      ip4("10.0.0.2"), 24, ifname),
			 0);
	assert_string_equal(ifname, "");
	char *o = sh("nsenter --net=%s ip -o addr show dev eth0", c.path);
	assert_non_null(strstr(o, "inet 10.0.0.2/24"));
	o = sh("nsenter --net=%s ip -o link show dev eth0", c.path);
	assert_non_null(strstr(o, "mtu 1450"));
	assert_non_null(strstr(o, "link/ether 02:42:0a:00:00:02"));
	assert_non_null(strstr(o, "UP"));
	o = sh("ip -o link show ovv-aabbccdd");
	assert_non_null(strstr(o, "master ovb-000103"));
	assert_non_null(strstr(o, "mtu 1450"));

	/* eth0 taken: the next interface is eth1. */
	uint8_t mac2[6];
	dpnl_mac_from_ip(ip4("10.0.1.2"), mac2);
	assert_int_equal(veth(n, "ovv-aabbccde", br, c.path, mac2,
			      ip4("10.0.1.2"), 24, ifname),
			 0);
	assert_string_equal(ifname, "eth1");

	/* A missing namespace fails and leaves nothing behind. */
	assert_true(veth(n, "ovv-aabbccdf", br,
			 "/var/run/netns/ovt-does-not-exist", mac,
			 ip4("10.0.0.9"), 24, ifname) < 0);
	assert_true(dpnl_link_index(n, "ovv-aabbccdf") < 0);

	/* Deleting the host end removes the container end too. */
	assert_int_equal(dpnl_link_delete(n, "ovv-aabbccdd"), 0);
	o = sh("nsenter --net=%s ip -o link show", c.path);
	assert_null(strstr(o, "eth0"));
	assert_non_null(strstr(o, "eth1"));
	dpnl_link_delete(n, "ovv-aabbccde");
	dpnl_link_delete(n, "ovb-000103");
	container_stop(&c);
}

/* The container end named by the caller (CNI_IFNAME). */
static void test_veth_named(void **state)
{
	dpnl *n = *state;
	container c;
	assert_int_equal(container_start(&c), 0);
	int br = dpnl_bridge_ensure(n, "ovb-000104");
	uint8_t mac[6];
	dpnl_mac_from_ip(ip4("10.0.0.5"), mac);
	dpnl_veth v = {.host_name = "ovv-11112222",
		       .master = br,
		       .netns_path = c.path,
		       .ifname = "net1",
		       .mac = mac,
		       .ip = ip4("10.0.0.5"),
		       .prefix = 24};
	char made[16];
	assert_int_equal(dpnl_veth_ensure(n, &v, made), 0);
	assert_string_equal(made, "net1");
	char *o = sh("nsenter --net=%s ip -o addr show dev net1", c.path);
	assert_non_null(strstr(o, "inet 10.0.0.5/24"));
	/* The name taken by another pair: refused, nothing left behind. */
	v.host_name = "ovv-11113333";
	assert_true(dpnl_veth_ensure(n, &v, made) < 0);
	assert_true(dpnl_link_index(n, "ovv-11113333") < 0);
	dpnl_link_delete(n, "ovv-11112222");
	dpnl_link_delete(n, "ovb-000104");
	container_stop(&c);
}

/* Docker's mode: the peer stays in this namespace, down, no address;
 * once Docker has moved it away, the pair still counts as there. */
static void test_veth_peer(void **state)
{
	dpnl *n = *state;
	container c;
	assert_int_equal(container_start(&c), 0);
	int br = dpnl_bridge_ensure(n, "ovb-000105");
	uint8_t mac[6];
	dpnl_mac_from_ip(ip4("10.0.0.6"), mac);
	dpnl_veth v = {.host_name = "ovv-44445555",
		       .master = br,
		       .peer = "ovp-44445555",
		       .mac = mac,
		       .ip = ip4("10.0.0.6"),
		       .prefix = 24};
	char made[16];
	assert_int_equal(dpnl_veth_ensure(n, &v, made), 0);
	assert_string_equal(made, "ovp-44445555");
	char *o = sh("ip -o link show ovp-44445555");
	assert_non_null(strstr(o, "mtu 1450"));
	assert_non_null(strstr(o, "link/ether 02:42:0a:00:00:06"));
	assert_null(strstr(o, ",UP"));
	assert_null(strstr(sh("ip -o addr show dev ovp-44445555"), "inet "));
	o = sh("ip -o link show ovv-44445555");
	assert_non_null(strstr(o, "master ovb-000105"));
	/* Docker moves the peer into the container (and renames it). */
	sh("ip link set ovp-44445555 netns %s name eth0", c.path);
	assert_true(dpnl_link_index(n, "ovp-44445555") < 0);
	assert_int_equal(dpnl_veth_ensure(n, &v, made), 0);
	assert_string_equal(made, "");
	assert_true(dpnl_link_index(n, "ovp-44445555") < 0);
	o = sh("nsenter --net=%s ip -o link show eth0", c.path);
	assert_non_null(strstr(o, "02:42:0a:00:00:06"));
	dpnl_link_delete(n, "ovv-44445555");
	dpnl_link_delete(n, "ovb-000105");
	container_stop(&c);
}

/* Two "hosts" in one kernel: a veth underlay between two namespaces, one
 * overlay per host, entries programmed only through dpnl; a real ping. */
static void test_two_host_ping(void **state)
{
	container h2, c1, c2;
	assert_int_equal(container_start(&h2), 0);
	assert_int_equal(container_start(&c1), 0);
	assert_int_equal(container_start(&c2), 0);
	sh("ip link add ul1 type veth peer name ul2 netns %s 2>&1", h2.path);
	sh("ip addr add 192.0.2.11/24 dev ul1 && ip link set ul1 up");
	sh("nsenter --net=%s sh -c 'ip addr add 192.0.2.12/24 dev ul2 && "
	   "ip link set ul2 up'",
	   h2.path);

	dpnl *h1n = *state, *h2n;
	/* dpnl_open binds to the caller's namespace: enter h2 for it. */
	FILE *self = fopen("/proc/thread-self/ns/net", "r");
	FILE *f = fopen(h2.path, "r");
	assert_int_equal(setns(fileno(f), CLONE_NEWNET), 0);
	assert_int_equal(dpnl_open(&h2n), 0);
	assert_int_equal(setns(fileno(self), CLONE_NEWNET), 0);
	fclose(f);
	fclose(self);

	struct {
		dpnl *n;
		container *c;
		const char *me, *peer, *ip, *peer_ip;
	} h[2] = {
	    {h1n, &c1, "192.0.2.11", "192.0.2.12", "10.0.0.2", "10.0.0.3"},
	    {h2n, &c2, "192.0.2.12", "192.0.2.11", "10.0.0.3", "10.0.0.2"}};
	for (int i = 0; i < 2; i++) {
		int br = dpnl_bridge_ensure(h[i].n, "ovb-000200");
		int vx = dpnl_vxlan_ensure(h[i].n, "ovx-000200", 512,
					   ip4(h[i].me), br);
		assert_true(vx > 0);
		uint8_t mac[6];
		dpnl_mac_from_ip(ip4(h[i].ip), mac);
		assert_int_equal(veth(h[i].n, "ovv-00000001", br, h[i].c->path,
				      mac, ip4(h[i].ip), 24, NULL),
				 0);
		dpnl_fdb fe = {.dst = ip4(h[i].peer)};
		dpnl_mac_from_ip(ip4(h[i].peer_ip), fe.mac);
		dpnl_neigh ne = {.ip = ip4(h[i].peer_ip)};
		memcpy(ne.mac, fe.mac, 6);
		assert_int_equal(dpnl_fdb_add(h[i].n, vx, &fe), 0);
		assert_int_equal(dpnl_neigh_add(h[i].n, vx, &ne), 0);
	}
	char *o = sh("nsenter --net=%s ping -c1 -W2 10.0.0.3 >/dev/null 2>&1 "
		     "&& echo ok",
		     c1.path);
	assert_string_equal(o, "ok\n");
	o = sh("nsenter --net=%s ping -c1 -W2 10.0.0.2 >/dev/null 2>&1 "
	       "&& echo ok",
	       c2.path);
	assert_string_equal(o, "ok\n");
	dpnl_close(h2n);
	dpnl_link_delete(h1n, "ovx-000200");
	dpnl_link_delete(h1n, "ovb-000200");
	dpnl_link_delete(h1n, "ul1");
	container_stop(&c1);
	container_stop(&c2);
	container_stop(&h2);
}

int main(void)
{
	int rc = netns_enter("test_net_nl");
	if (rc != 0)
		return rc;
	system("ip link set lo up");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mac_helpers),
	    cmocka_unit_test_setup_teardown(test_bridge_idempotent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_vxlan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fdb_and_neigh, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_veth_named, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_veth_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_veth_into_netns, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_two_host_ping, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
