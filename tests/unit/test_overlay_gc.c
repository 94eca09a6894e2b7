/* test_overlay_gc.c - upkeep (src/overlay/gc.c) against an in-memory
 * store: the collector's pure decisions, heartbeats, the leader collecting
 * the endpoints of departed and silent hosts, and every host collecting
 * its own endpoints whose namespace is gone, through the detach path (no
 * record, no claim left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <unistd.h>

#include "overlay/internal.h"
#include "test_overlay_fake.h"

#define H1 "192.0.2.1"
#define H2 "192.0.2.2"

static void test_decide(void **state)
{
	int64_t since = 0;
	/* Removed member: at once. Never a member, no heartbeat: at once. */
	assert_true(ovl_gc_decide(0, 1, 1, 1000, &since, 600000));
	assert_true(ovl_gc_decide(0, 0, 0, 1000, &since, 600000));
	/* A live host that is not (yet) a member is left alone. */
	assert_false(ovl_gc_decide(0, 0, 1, 1000, &since, 600000));
	/* A silent member: only after the grace period. */
	since = 0;
	assert_false(ovl_gc_decide(1, 1, 0, 1000, &since, 5000));
	assert_int_equal(since, 1000);
	assert_false(ovl_gc_decide(1, 1, 0, 5999, &since, 5000));
	assert_true(ovl_gc_decide(1, 1, 0, 6000, &since, 5000));
	/* Coming back resets the clock. */
	assert_false(ovl_gc_decide(1, 1, 1, 6001, &since, 5000));
	assert_int_equal(since, 0);
}

static void test_ns_decide(void **state)
{
	int64_t gone = 0;
	assert_false(ovl_gc_ns_decide(1, 1000, &gone, 30000));
	assert_int_equal(gone, 0);
	assert_false(ovl_gc_ns_decide(0, 2000, &gone, 30000));
	assert_int_equal(gone, 2000);
	assert_false(ovl_gc_ns_decide(0, 31999, &gone, 30000));
	/* Back (a bind mount remade): the clock starts again. */
	assert_false(ovl_gc_ns_decide(1, 32000, &gone, 30000));
	assert_int_equal(gone, 0);
	assert_false(ovl_gc_ns_decide(0, 40000, &gone, 30000));
	assert_true(ovl_gc_ns_decide(0, 70000, &gone, 30000));
}

typedef struct hosts {
	fkv f;
	ovl *h1, *h2;
	char nsfile[64];
} hosts;

static int setup(void **state)
{
	hosts *x = calloc(1, sizeof(*x));
	ovl_config cfg = {
	    .kv = fkv_kv(&x->f), .host_ip = H1, .datapath = OVL_DP_RECORDS};
	if (ovl_init(&x->h1, &cfg) != OVL_OK)
		return -1;
	cfg.host_ip = H2;
	if (ovl_init(&x->h2, &cfg) != OVL_OK)
		return -1;
	/* A file stands in for a namespace: the collector only asks whether
	 * the path still exists. */
	snprintf(x->nsfile, sizeof(x->nsfile), "/tmp/ovl-gc-ns-XXXXXX");
	int fd = mkstemp(x->nsfile);
	if (fd < 0)
		return -1;
	close(fd);
	ovl_net_req req = {.name = "n"};
	if (ovl_network_create(x->h1, &req, NULL, NULL) != OVL_OK)
		return -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	hosts *x = *state;
	unlink(x->nsfile);
	ovl_close(x->h1);
	ovl_close(x->h2);
	fkv_free(&x->f);
	free(x);
	return 0;
}

static int attach(ovl *o, const char *name, const char *ns)
{
	ovl_attach_req req = {.network = "n", .name = name, .netns = ns};
	ovl_endpoint e;
	return ovl_endpoint_attach(o, &req, &e, NULL);
}

static int has_ep(ovl *o, const char *name)
{
	ovl_endpoint e;
	return ovl_endpoint_get(o, "n", name, &e, NULL) == OVL_OK;
}

static void upkeep(ovl *o, int leader, const char (*members)[64], size_t n,
		   int64_t now, unsigned host_grace, unsigned ns_grace)
{
	ovl_cluster_view v = {.is_leader = leader,
			      .member_ips = members,
			      .n_members = n,
			      .now_ms = now};
	ovl_gc_config gc = {.host_grace_s = host_grace,
			    .netns_grace_s = ns_grace};
	ovl_upkeep(o, &v, &gc);
}

static void test_heartbeat(void **state)
{
	hosts *x = *state;
	const char members[2][64] = {H1, H2};
	upkeep(x->h1, 0, members, 2, 1000, 600, 30);
	fkv_entry *b = fkv_find(&x->f, OVL_HOSTS "/" H1);
	assert_non_null(b);
	assert_int_equal(b->ttl, 15);
	uint64_t idx = b->index;
	upkeep(x->h1, 0, members, 2, 2000, 600, 30); /* not yet again */
	assert_int_equal(fkv_find(&x->f, OVL_HOSTS "/" H1)->index, idx);
	upkeep(x->h1, 0, members, 2, 6000, 600, 30);
	assert_true(fkv_find(&x->f, OVL_HOSTS "/" H1)->index > idx);
}

static void test_departed_and_silent(void **state)
{
	hosts *x = *state;
	const char both[2][64] = {H1, H2};
	const char only1[1][64] = {H1};
	assert_int_equal(attach(x->h2, "remote", x->nsfile), OVL_OK);
	assert_int_equal(attach(x->h1, "local", x->nsfile), OVL_OK);
	upkeep(x->h2, 0, both, 2, 1000, 5, 30); /* h2's heartbeat */
	/* A member with a heartbeat is left alone, on any host. */
	upkeep(x->h1, 1, both, 2, 1000, 5, 30);
	assert_true(has_ep(x->h1, "remote"));
	/* Silent: kept through the grace period, then collected. */
	fkv_del(&x->f, OVL_HOSTS "/" H2, 0, NULL, 0);
	upkeep(x->h1, 1, both, 2, 2000, 5, 30);
	assert_true(has_ep(x->h1, "remote"));
	upkeep(x->h1, 1, both, 2, 6999, 5, 30);
	assert_true(has_ep(x->h1, "remote"));
	/* A follower never collects other hosts' endpoints. */
	upkeep(x->h2, 0, both, 2, 8000, 5, 30);
	fkv_del(&x->f, OVL_HOSTS "/" H2, 0, NULL, 0);
	upkeep(x->h1, 1, both, 2, 9000, 5, 30);
	upkeep(x->h1, 1, both, 2, 14000, 5, 30);
	assert_false(has_ep(x->h1, "remote"));
	assert_true(has_ep(x->h1, "local"));
	/* Through detach: the name and address are free again. */
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 1);
	assert_int_equal(fkv_count_under(&x->f, OVL_EPNAME), 1);
	/* A host that left the cluster: at once, heartbeat or not. */
	assert_int_equal(attach(x->h2, "remote", x->nsfile), OVL_OK);
	upkeep(x->h2, 0, both, 2, 20000, 5, 30);
	upkeep(x->h1, 1, both, 2, 20000, 5, 30);
	assert_true(has_ep(x->h1, "remote"));
	upkeep(x->h1, 1, only1, 1, 20001, 5, 30);
	assert_false(has_ep(x->h1, "remote"));
	assert_true(has_ep(x->h1, "local"));
}

static void test_netns_gone(void **state)
{
	hosts *x = *state;
	const char both[2][64] = {H1, H2};
	assert_int_equal(attach(x->h1, "mine", x->nsfile), OVL_OK);
	assert_int_equal(attach(x->h2, "theirs", x->nsfile), OVL_OK);
	upkeep(x->h1, 1, both, 2, 1000, 600, 30);
	assert_true(has_ep(x->h1, "mine"));
	unlink(x->nsfile);
	upkeep(x->h1, 1, both, 2, 2000, 600, 30);
	upkeep(x->h1, 1, both, 2, 31999, 600, 30);
	assert_true(has_ep(x->h1, "mine"));
	upkeep(x->h1, 1, both, 2, 32000, 600, 30);
	assert_false(has_ep(x->h1, "mine"));
	/* Another host's namespace is that host's business. */
	assert_true(has_ep(x->h1, "theirs"));
	upkeep(x->h2, 0, both, 2, 32000, 600, 30);
	upkeep(x->h2, 0, both, 2, 62000, 600, 30);
	assert_false(has_ep(x->h1, "theirs"));
	assert_int_equal(fkv_count_under(&x->f, OVL_IP), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_EPNAME), 0);
	assert_int_equal(fkv_count_under(&x->f, OVL_EP), 0);
}

static void test_docker_sandbox(void **state)
{
	hosts *x = *state;
	const char both[2][64] = {H1, H2};
	/* Docker's endpoint: a peer link, the sandbox recorded for the GC. */
	ovl_attach_req req = {.network = "n",
			      .name = "dock",
			      .peer = "ovp-test",
			      .sandbox = x->nsfile,
			      .runtime = "docker"};
	ovl_endpoint e;
	assert_int_equal(ovl_endpoint_attach(x->h1, &req, &e, NULL), OVL_OK);
	/* Before Docker's Join there is no sandbox: never collected. */
	req.name = "early";
	req.peer = "ovp-early";
	req.sandbox = NULL;
	assert_int_equal(ovl_endpoint_attach(x->h1, &req, &e, NULL), OVL_OK);
	upkeep(x->h1, 1, both, 2, 1000, 600, 0);
	assert_true(has_ep(x->h1, "dock"));
	unlink(x->nsfile);
	upkeep(x->h1, 1, both, 2, 2000, 600, 0);
	assert_false(has_ep(x->h1, "dock"));
	assert_true(has_ep(x->h1, "early"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_ns_decide),
	    cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_departed_and_silent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_netns_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_sandbox, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
