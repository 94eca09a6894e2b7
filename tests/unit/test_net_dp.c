/* test_net_dp.c - the datapath reconciler end to end against a real kernel,
 * fed by an in-memory stand-in for the store (the few store_* and
 * raftnode_* calls dp uses are defined here, so the real layers are not
 * linked in). Runs in a private network namespace (needs root). */
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
#include <uv.h>

#include "net/dp.h"
#include "test_netns.h"

/* ---- a tiny key-value store standing in for store.h ---- */

typedef struct fake_kv {
	char *key, *value;
	uint64_t index;
} fake_kv;

static fake_kv kvs[256];
static size_t n_kvs;
static uint64_t next_index = 1;
static store_event_cb sub_cb;
static void *sub_ctx;

static void notify(const char *key, int action)
{
	store_event ev = {.action = action, .index = next_index};
	ev.node.key = (char *)key;
	if (sub_cb)
		sub_cb(sub_ctx, &ev);
}

static void fake_put(const char *key, const char *value)
{
	size_t i = 0;
	while (i < n_kvs && strcmp(kvs[i].key, key))
		i++;
	if (i == n_kvs) {
		kvs[n_kvs].key = strdup(key);
		n_kvs++;
	} else {
		free(kvs[i].value);
	}
	kvs[i].value = strdup(value);
	kvs[i].index = next_index++;
	notify(key, STORE_ACTION_SET);
}

static void fake_del(const char *key)
{
	for (size_t i = 0; i < n_kvs; i++)
		if (!strcmp(kvs[i].key, key)) {
			free(kvs[i].key);
			free(kvs[i].value);
			kvs[i] = kvs[--n_kvs];
			next_index++;
			notify(key, STORE_ACTION_DELETE);
			return;
		}
}

static void fake_reset(void)
{
	while (n_kvs) {
		n_kvs--;
		free(kvs[n_kvs].key);
		free(kvs[n_kvs].value);
	}
}

/* Builds the node for path: a leaf, or a directory of the distinct next
 * components below it (nested when recursive). */
static int build_node(const char *path, int recursive, int depth,
		      store_node *out)
{
	memset(out, 0, sizeof(*out));
	out->key = strdup(path);
	size_t pl = strlen(path);
	for (size_t i = 0; i < n_kvs; i++)
		if (!strcmp(kvs[i].key, path)) {
			out->value = strdup(kvs[i].value);
			out->value_len = strlen(kvs[i].value);
			out->modified_index = kvs[i].index;
			return 0;
		}
	out->dir = 1;
	out->children = calloc(n_kvs + 1, sizeof(store_node));
	int found = 0;
	for (size_t i = 0; i < n_kvs; i++) {
		if (strncmp(kvs[i].key, path, pl) || kvs[i].key[pl] != '/')
			continue;
		found = 1;
		const char *rest = kvs[i].key + pl + 1;
		char child[512];
		snprintf(child, sizeof(child), "%s/%.*s", path,
			 (int)strcspn(rest, "/"), rest);
		size_t k = 0;
		while (k < out->n_children &&
		       strcmp(out->children[k].key, child))
			k++;
		if (k < out->n_children)
			continue;
		if (recursive || depth == 0)
			build_node(child, recursive, depth + 1,
				   &out->children[out->n_children]);
		if (!recursive && depth > 0)
			continue;
		out->n_children++;
	}
	out->has_children = 1;
	return found ? 0 : -1;
}

int store_get(store *s, const char *path, int recursive, int sorted,
	      store_result *res)
{
	memset(res, 0, sizeof(*res));
	if (build_node(path, recursive, 0, &res->ev.node) != 0)
		res->error = STORE_ERR_KEY_NOT_FOUND;
	return 0;
}

void store_node_free(store_node *n)
{
	for (size_t i = 0; i < n->n_children; i++)
		store_node_free(&n->children[i]);
	free(n->children);
	free(n->key);
	free(n->value);
	memset(n, 0, sizeof(*n));
}

void store_result_free(store_result *res)
{
	store_node_free(&res->ev.node);
	free(res->cause);
	memset(res, 0, sizeof(*res));
}

int store_subscribe(store *s, store_event_cb cb, void *ctx)
{
	sub_cb = cb;
	sub_ctx = ctx;
	return 1;
}

void store_unsubscribe(store *s, int id)
{
	sub_cb = NULL;
}

int raftnode_propose(raftnode *rn, const store_cmd *cmd, raftnode_done_cb cb,
		     void *ctx)
{
	return -1;
}

int raftnode_members(raftnode *rn, raftnode_member **list, size_t *n)
{
	return -1;
}

void raftnode_get_status(raftnode *rn, raftnode_status *out)
{
	memset(out, 0, sizeof(*out));
}

/* ---- helpers ---- */

#define NID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define NID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define EID1 "aaaaaaaa00000000000000000000000000000000000000000000000000000001"
#define EID2 "bbbbbbbb00000000000000000000000000000000000000000000000000000002"
#define EID3 "cccccccc00000000000000000000000000000000000000000000000000000003"
#define EID4 "dddddddd00000000000000000000000000000000000000000000000000000004"
#define ROOT "/docker/network/v1.0"

static container ctr; /* started by the first test, stopped by the last */

static void put_network(const char *nid, int ovld, unsigned vni)
{
	char key[256], val[512];
	snprintf(key, sizeof(key), ROOT "/network/%s", nid);
	snprintf(val, sizeof(val),
		 "{\"id\":\"%s\",\"name\":\"n\",\"networkType\":\"overlay\","
		 "\"enableIPv6\":false%s}",
		 nid, ovld ? ",\"ovld\":true" : "");
	fake_put(key, val);
	snprintf(key, sizeof(key), ROOT "/overlay/network/%s", nid);
	snprintf(val, sizeof(val),
		 "{\"mtu\":0,\"secure\":false,\"subnets\":[{\"SubnetIP\":"
		 "\"10.0.0.0/24\",\"GwIP\":\"10.0.0.1/24\",\"Vni\":%u}]}",
		 vni);
	fake_put(key, val);
}

/* An endpoint record; ifname (CNI_IFNAME) and peer (Docker's end left in
 * the host namespace) are ovld's newer fields, left out when NULL. */
static void put_endpoint_ex(const char *nid, const char *eid, const char *ip,
			    const char *locator, const char *netns,
			    const char *ifname, const char *peer)
{
	char key[256], val[1024], newer[256] = "";
	uint32_t a;
	inet_pton(AF_INET, ip, &a);
	const uint8_t *b = (const uint8_t *)&a;
	if (ifname)
		snprintf(newer, sizeof(newer),
			 ",\"ovld_ifname\":\"%s\",\"ovld_peer\":\"%s\"", ifname,
			 peer);
	snprintf(key, sizeof(key), ROOT "/endpoint/%s/%s", nid, eid);
	snprintf(val, sizeof(val),
		 "{\"id\":\"%s\",\"name\":\"e\",\"locator\":\"%s\","
		 "\"ep_iface\":{\"addr\":\"%s/24\",\"mac\":"
		 "\"02:42:%02x:%02x:%02x:%02x\",\"srcName\":\"x\"},"
		 "\"ovld\":true,\"ovld_netns\":\"%s\"%s}",
		 eid, locator, ip, b[0], b[1], b[2], b[3], netns, newer);
	fake_put(key, val);
}

static void put_endpoint(const char *nid, const char *eid, const char *ip,
			 const char *locator, const char *netns)
{
	put_endpoint_ex(nid, eid, ip, locator, netns, NULL, NULL);
}

static void pump(uv_loop_t *loop, int ms)
{
	for (int i = 0; i < ms; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static int has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* ---- tests ---- */

static void test_reconcile(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	assert_int_equal(container_start(&ctr), 0);
	fake_reset();
	put_network(NID1, 1, 300);
	put_endpoint(NID1, EID1, "10.0.0.2", "192.0.2.1", ctr.path);
	put_endpoint(NID1, EID2, "10.0.0.3", "192.0.2.2", "");
	/* Docker's own network with an endpoint "here": not ours. */
	put_network(NID2, 0, 301);
	put_endpoint(NID2, EID4, "10.0.1.2", "192.0.2.1", ctr.path);

	dp *d;
	dp_config cfg = {.host_ip = "192.0.2.1", .resync_ms = 60000};
	assert_int_equal(dp_init(&d, &loop, (store *)1, NULL, &cfg), 0);
	assert_int_equal(dp_start(d), 0);

	char *o = sh("ip -d link show ovx-00012c");
	assert_true(has(o, "vxlan id 300 "));
	assert_true(has(o, "local 192.0.2.1"));
	assert_true(has(o, "master ovb-00012c"));
	assert_true(
	    has(sh("ip -o link show ovv-aaaaaaaa"), "master ovb-00012c"));
	assert_false(has(sh("ip -o link"), "ovb-00012d"));
	o = sh("nsenter --net=%s ip -o addr show eth0", ctr.path);
	assert_true(has(o, "10.0.0.2/24"));
	o = sh("bridge fdb show dev ovx-00012c");
	assert_true(has(o, "02:42:0a:00:00:03 dst 192.0.2.2 self permanent"));
	assert_true(has(o, "00:00:00:00:00:00 dst 192.0.2.2 self permanent"));
	assert_true(has(sh("ip neigh show dev ovx-00012c"),
			"10.0.0.3 lladdr 02:42:0a:00:00:03 PERMANENT"));

	/* A new remote endpoint arrives through an event. */
	put_endpoint(NID1, EID3, "10.0.0.4", "192.0.2.3", "");
	pump(&loop, 20);
	o = sh("bridge fdb show dev ovx-00012c");
	assert_true(has(o, "02:42:0a:00:00:04 dst 192.0.2.3 self permanent"));
	assert_true(has(o, "00:00:00:00:00:00 dst 192.0.2.3 self permanent"));

	/* Removal removes its entries, and the flood entry of its VTEP. */
	fake_del(ROOT "/endpoint/" NID1 "/" EID2);
	pump(&loop, 20);
	o = sh("bridge fdb show dev ovx-00012c");
	assert_false(has(o, "02:42:0a:00:00:03"));
	assert_false(has(o, "dst 192.0.2.2"));
	assert_false(has(sh("ip neigh show dev ovx-00012c"), "10.0.0.3"));

	/* Restart: existing devices are adopted (same ifindex, so traffic
	 * keeps flowing), leftovers of ours go, foreign devices stay. */
	char before[64];
	snprintf(before, sizeof(before), "%s",
		 sh("ip -o link show ovx-00012c | cut -d: -f1"));
	dp_close(d);
	pump(&loop, 2);
	sh("ip link add ovb-0000ff type bridge");
	sh("ip link add ovv-deadbeef type veth peer name ovtpeer0");
	sh("ip link add vx-000100-abcde type vxlan id 9 dstport 4789");
	assert_int_equal(dp_init(&d, &loop, (store *)1, NULL, &cfg), 0);
	assert_int_equal(dp_start(d), 0);
	assert_string_equal(sh("ip -o link show ovx-00012c | cut -d: -f1"),
			    before);
	o = sh("ip -o link");
	assert_false(has(o, "ovb-0000ff"));
	assert_false(has(o, "ovv-deadbeef"));
	assert_true(has(o, "vx-000100-abcde"));
	assert_true(has(o, "ovv-aaaaaaaa"));
	assert_true(has(sh("bridge fdb show dev ovx-00012c"),
			"02:42:0a:00:00:04 dst 192.0.2.3"));

	/* Drift is repaired by the periodic resync (here forced by a
	 * restart of the resync through an event on the directory). */
	sh("bridge fdb del 02:42:0a:00:00:04 dev ovx-00012c dst 192.0.2.3");
	fake_put(ROOT "/network", "x"); /* a directory-level event */
	fake_del(ROOT "/network");
	pump(&loop, 20);
	assert_true(has(sh("bridge fdb show dev ovx-00012c"),
			"02:42:0a:00:00:04 dst 192.0.2.3"));

	/* The last local endpoint leaves: everything for the network goes. */
	fake_del(ROOT "/endpoint/" NID1 "/" EID1);
	pump(&loop, 20);
	o = sh("ip -o link");
	assert_false(has(o, "ovx-00012c"));
	assert_false(has(o, "ovb-00012c"));
	assert_false(has(o, "ovv-aaaaaaaa"));
	assert_false(has(sh("nsenter --net=%s ip -o link", ctr.path), "eth0"));

	dp_close(d);
	pump(&loop, 2);
	sh("ip link del vx-000100-abcde");
	uv_loop_close(&loop);
	container_stop(&ctr);
}

static void test_ifname_and_peer(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	assert_int_equal(container_start(&ctr), 0);
	fake_reset();
	put_network(NID1, 1, 302);
	put_endpoint_ex(NID1, EID1, "10.0.0.2", "192.0.2.1", ctr.path, "net5",
			"");
	put_endpoint_ex(NID1, EID2, "10.0.0.3", "192.0.2.1", "", "",
			"ovp-bbbbbbbb");
	dp *d;
	dp_config cfg = {.host_ip = "192.0.2.1", .resync_ms = 60000};
	assert_int_equal(dp_init(&d, &loop, (store *)1, NULL, &cfg), 0);
	assert_int_equal(dp_start(d), 0);
	char *o = sh("nsenter --net=%s ip -o addr show net5", ctr.path);
	assert_true(has(o, "10.0.0.2/24"));
	assert_false(has(sh("nsenter --net=%s ip -o link", ctr.path), "eth0"));
	o = sh("ip -o link show ovp-bbbbbbbb");
	assert_true(has(o, "mtu 1450"));
	assert_true(has(o, "02:42:0a:00:00:03"));
	assert_false(has(sh("ip -o addr show ovp-bbbbbbbb"), "inet "));
	assert_true(
	    has(sh("ip -o link show ovv-bbbbbbbb"), "master ovb-00012e"));
	/* Docker moves the peer into the container: the endpoint is still
	 * programmed (its host end is there); a full resync keeps it and
	 * makes no second peer. */
	sh("ip link set ovp-bbbbbbbb netns %s name eth0", ctr.path);
	fake_put(ROOT "/network", "x");
	fake_del(ROOT "/network");
	pump(&loop, 20);
	assert_true(has(sh("ip -o link"), "ovv-bbbbbbbb"));
	assert_false(has(sh("ip -o link"), "ovp-bbbbbbbb"));
	assert_true(has(sh("nsenter --net=%s ip -o link", ctr.path), "eth0"));
	/* Detached: its veth goes, the other endpoint stays. */
	fake_del(ROOT "/endpoint/" NID1 "/" EID2);
	pump(&loop, 20);
	o = sh("ip -o link");
	assert_false(has(o, "ovv-bbbbbbbb"));
	assert_true(has(o, "ovv-aaaaaaaa"));
	assert_false(has(sh("nsenter --net=%s ip -o link", ctr.path), "eth0"));
	fake_del(ROOT "/endpoint/" NID1 "/" EID1);
	pump(&loop, 20);
	assert_false(has(sh("ip -o link"), "ovb-00012e"));
	dp_close(d);
	pump(&loop, 2);
	uv_loop_close(&loop);
	container_stop(&ctr);
}

int main(void)
{
	int rc = netns_enter("test_net_dp");
	if (rc != 0)
		return rc;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reconcile),
	    cmocka_unit_test(test_ifname_and_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
