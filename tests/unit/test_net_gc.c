/* test_net_gc.c - the endpoint collector's decision (dp_gc_decide) on its
 * own: a pure function of membership, heartbeat and time, so it needs no
 * root and no kernel, unlike the reconciler's test (test_net_dp.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net/gc.h"

static void test_gc_decide(void **state)
{
	int64_t since = 0;
	/* Removed member: at once. Never a member, no heartbeat: at once. */
	assert_true(dp_gc_decide(0, 1, 1, 1000, &since, 600000));
	assert_true(dp_gc_decide(0, 0, 0, 1000, &since, 600000));
	/* A live host that is not (yet) a member is left alone. */
	assert_false(dp_gc_decide(0, 0, 1, 1000, &since, 600000));
	/* A silent member: only after the grace period. */
	since = 0;
	assert_false(dp_gc_decide(1, 1, 0, 1000, &since, 5000));
	assert_int_equal(since, 1000);
	assert_false(dp_gc_decide(1, 1, 0, 5999, &since, 5000));
	assert_true(dp_gc_decide(1, 1, 0, 6000, &since, 5000));
	/* Coming back resets the clock. */
	assert_false(dp_gc_decide(1, 1, 1, 6001, &since, 5000));
	assert_int_equal(since, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gc_decide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
