/* fuzz_token.c - libFuzzer target for join tokens: pki_token_parse on any
 * bytes. Besides memory errors it checks that a token it accepts formats
 * back to itself (in lower case) and that a proof made with its secret
 * passes the check. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

static void check_round_trip(const char *token, const char *digest,
			     const char *secret)
{
	char again[PKI_TOKEN_MAX], proof[65];
	if (pki_token_format(digest, secret, again, sizeof(again)) != 0 ||
	    strlen(again) != strlen(token))
		abort();
	for (size_t i = 0; token[i]; i++)
		if (again[i] != token[i] &&
		    again[i] != tolower((unsigned char)token[i]))
			abort();
	if (pki_proof(secret, token, strlen(token), proof) != 0 ||
	    pki_proof_check(secret, token, strlen(token), proof) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token = malloc(size + 1);
	if (!token)
		return 0;
	memcpy(token, data, size);
	token[size] = '\0';
	char digest[65], secret[PKI_SECRET_HEX];
	if (pki_token_parse(token, digest, secret) == 0)
		check_round_trip(token, digest, secret);
	else if (!pki_strerror()[0])
		abort(); /* a refusal always says why */
	free(token);
	return 0;
}
