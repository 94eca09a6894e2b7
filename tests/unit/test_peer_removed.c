/* test_peer_removed.c - the trust's memory of members seen leaving: after
 * many removals the latest TRUST_REMOVED_MAX are all still refused (the
 * replicated record covers older ones), and the peer port's policy
 * refuses a removed id that a peer claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer/trust_int.h"

#define FIRST_ID 0x1000

static peer_trust *new_trust(int mode)
{
	peer_trust *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->mode = mode;
	return t;
}

static void test_latest_removals_kept(void **state)
{
	(void)state;
	peer_trust *t = new_trust(TRUST_CLUSTER_CA);
	const unsigned n = 3 * TRUST_REMOVED_MAX + 5;
	for (unsigned i = 0; i < n; i++)
		trust_note_removed(t, FIRST_ID + i);
	for (unsigned i = n - TRUST_REMOVED_MAX; i < n; i++)
		assert_true(trust_was_removed(t, FIRST_ID + i));
	assert_false(trust_was_removed(t, FIRST_ID + n));
	assert_false(trust_was_removed(t, 42));
	free(t);
}

static void test_few_removals_kept(void **state)
{
	(void)state;
	peer_trust *t = new_trust(TRUST_CLUSTER_CA);
	trust_note_removed(t, 7);
	trust_note_removed(t, 9);
	assert_true(trust_was_removed(t, 7));
	assert_true(trust_was_removed(t, 9));
	assert_false(trust_was_removed(t, 8));
	free(t);
}

/* With the user's PKI the policy goes by the claimed id. */
static void test_policy_refuses_claimed_removed_id(void **state)
{
	(void)state;
	peer_trust *t = new_trust(TRUST_USER_PKI);
	char why[128] = "";
	for (unsigned i = 0; i < TRUST_REMOVED_MAX + 1; i++)
		trust_note_removed(t, FIRST_ID + i);
	assert_int_equal(
	    trust_authorize(t, NULL, FIRST_ID + 1, NULL, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "was removed"));
	assert_int_equal(trust_authorize(t, NULL, FIRST_ID + TRUST_REMOVED_MAX,
					 NULL, why, sizeof(why)),
			 -1);
	assert_int_equal(trust_authorize(t, NULL, 99, NULL, why, sizeof(why)),
			 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_latest_removals_kept),
	    cmocka_unit_test(test_few_removals_kept),
	    cmocka_unit_test(test_policy_refuses_claimed_removed_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
