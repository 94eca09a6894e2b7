/* test_pki_token.c - unit tests for join tokens and proofs: the round trip,
 * every malformed shape refused with a message naming the wrong part, and
 * proofs that only the right secret over the right message passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_pki_fixture.h"

#define DIGEST                                                                 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SECRET "00112233445566778899aabbccddeeff"

static void test_round_trip(void **state)
{
	char secret[PKI_SECRET_HEX], other[PKI_SECRET_HEX];
	char token[PKI_TOKEN_MAX], digest[65], parsed[PKI_SECRET_HEX];
	assert_int_equal(pki_secret_new(secret), 0);
	assert_int_equal(pki_secret_new(other), 0);
	assert_int_equal(strlen(secret), 32);
	assert_string_not_equal(secret, other);
	assert_int_equal(pki_token_format(DIGEST, secret, token, sizeof(token)),
			 0);
	assert_memory_equal(token, "OVLTKN-1-" DIGEST "-", 74);
	assert_int_equal(pki_token_parse(token, digest, parsed), 0);
	assert_string_equal(digest, DIGEST);
	assert_string_equal(parsed, secret);
	/* Upper case pastes still work, and read as the lower case. */
	assert_int_equal(pki_token_parse("OVLTKN-1-0123456789ABCDEF0123456789"
					 "abcdef0123456789abcdef0123456789abcd"
					 "ef-00112233445566778899AABBCCDDEEFF",
					 digest, parsed),
			 0);
	assert_string_equal(digest, DIGEST);
	assert_string_equal(parsed, SECRET);
	char small[50];
	assert_int_equal(pki_token_format(DIGEST, secret, small, sizeof(small)),
			 -1);
	char short_digest[65] = "abc";
	assert_int_equal(
	    pki_token_format(short_digest, secret, token, sizeof(token)), -1);
	assert_int_equal(pki_token_format(DIGEST, "xyz", token, sizeof(token)),
			 -1);
}

static void refused(const char *token, const char *message)
{
	char digest[65], secret[PKI_SECRET_HEX];
	assert_int_equal(pki_token_parse(token, digest, secret), -1);
	assert_string_equal(pki_strerror(), message);
}

static void test_malformed(void **state)
{
	const char *not_ours =
	    "join token: not an ovld token (it starts with OVLTKN-1-)";
	const char *bad_digest =
	    "join token: the CA digest must be 64 hex digits";
	const char *bad_secret = "join token: the secret must be 32 hex digits";
	refused(NULL, not_ours);
	refused("", not_ours);
	refused("SWMTKN-1-" DIGEST "-" SECRET, not_ours);
	refused("ovltkn-1-" DIGEST "-" SECRET, not_ours);
	refused(" OVLTKN-1-" DIGEST "-" SECRET, not_ours);
	refused("OVLTKN-2-" DIGEST "-" SECRET, "join token: an unknown version "
					       "(this ovld reads OVLTKN-1- "
					       "tokens)");
	refused("OVLTKN-1-", bad_digest);
	refused("OVLTKN-1-" DIGEST, bad_digest);
	refused("OVLTKN-1-" DIGEST "0-" SECRET, bad_digest);
	refused("OVLTKN-1-123-" SECRET, bad_digest);
	refused("OVLTKN-1-g123456789abcdef0123456789abcdef0123456789abcdef0123"
		"456789abcdef-" SECRET,
		bad_digest);
	refused("OVLTKN-1-" DIGEST "-", bad_secret);
	refused("OVLTKN-1-" DIGEST "-" SECRET "0", bad_secret);
	refused("OVLTKN-1-" DIGEST "-0011", bad_secret);
	refused("OVLTKN-1-" DIGEST "-" SECRET "\n", bad_secret);
	refused("OVLTKN-1-" DIGEST "-" SECRET "-x", bad_secret);
	refused("OVLTKN-1-" DIGEST "-0011223344556677889zaabbccddeeff",
		bad_secret);
}

static void test_proof(void **state)
{
	const char msg[] = "challenge 42";
	char proof[65], altered[65];
	assert_int_equal(pki_proof(SECRET, msg, sizeof(msg) - 1, proof), 0);
	assert_int_equal(strlen(proof), 64);
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, proof),
			 0);
	/* Another secret, another message. */
	assert_int_equal(pki_proof_check("00112233445566778899aabbccddeefe",
					 msg, sizeof(msg) - 1, proof),
			 -1);
	assert_string_equal(pki_strerror(),
			    "join proof: does not match the token's secret");
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 2, proof),
			 -1);
	/* Truncated, extended, altered or missing. */
	snprintf(altered, sizeof(altered), "%.63s", proof);
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, altered),
			 -1);
	assert_string_equal(pki_strerror(),
			    "join proof: must be 64 hex digits");
	char *longer = concat(proof, "0");
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, longer),
			 -1);
	free(longer);
	memcpy(altered, proof, 65);
	altered[10] = altered[10] == '0' ? '1' : '0';
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, altered),
			 -1);
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, ""), -1);
	assert_int_equal(pki_proof_check(SECRET, msg, sizeof(msg) - 1, NULL),
			 -1);
	/* A known answer pins the construction: HMAC-SHA256, key = secret. */
	assert_int_equal(pki_proof("key",
				   "The quick brown fox jumps over "
				   "the lazy dog",
				   43, proof),
			 0);
	assert_string_equal(proof, "f7bc83f430538424b13298e6aa6fb143ef4d59a1494"
				   "6175997479dbc2d1a3cd8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_proof),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
