/* token.c - join tokens, "OVLTKN-1-<CA digest>-<secret>": the digest pins
 * the CA a joiner will trust, the secret admits it. Parsing is strict and
 * says which part is wrong, since users paste these by hand. */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define PREFIX "OVLTKN-"
#define VERSION_PREFIX "OVLTKN-1-"
#define DIGEST_HEX 64
#define SECRET_HEX 32

/* The count of hex digits at s, at most max + 1. */
static size_t hex_run(const char *s, size_t max)
{
	size_t n = 0;
	while (n <= max && s[n] && strchr("0123456789abcdefABCDEF", s[n]))
		n++;
	return n;
}

static int exact_hex(const char *s, size_t len)
{
	return s && hex_run(s, len) == len && s[len] == '\0';
}

static void copy_lower(char *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
	out[len] = '\0';
}

int pki_secret_new(char out[PKI_SECRET_HEX])
{
	unsigned char bytes[SECRET_HEX / 2];
	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return pki_fail_ssl("join token: no random secret");
	pki_hex(bytes, sizeof(bytes), out);
	OPENSSL_cleanse(bytes, sizeof(bytes));
	return 0;
}

int pki_token_format(const char digest[65], const char *secret, char *out,
		     size_t len)
{
	if (!exact_hex(digest, DIGEST_HEX))
		return pki_fail("join token: the CA digest must be 64 hex "
				"digits");
	if (!exact_hex(secret, SECRET_HEX))
		return pki_fail("join token: the secret must be 32 hex digits");
	int n = snprintf(out, len, VERSION_PREFIX "%s-%s", digest, secret);
	if (n < 0 || (size_t)n >= len)
		return pki_fail("join token: no room for %d bytes", n + 1);
	return 0;
}

static int check_prefix(const char *token)
{
	if (!token || strncmp(token, PREFIX, strlen(PREFIX)) != 0)
		return pki_fail("join token: not an ovld token (it starts with "
				"OVLTKN-1-)");
	if (strncmp(token, VERSION_PREFIX, strlen(VERSION_PREFIX)) != 0)
		return pki_fail("join token: an unknown version (this ovld "
				"reads OVLTKN-1- tokens)");
	return 0;
}

int pki_token_parse(const char *token, char digest[65],
		    char secret[PKI_SECRET_HEX])
{
	if (check_prefix(token) < 0)
		return -1;
	const char *d = token + strlen(VERSION_PREFIX);
	if (hex_run(d, DIGEST_HEX) != DIGEST_HEX || d[DIGEST_HEX] != '-')
		return pki_fail("join token: the CA digest must be 64 hex "
				"digits");
	const char *s = d + DIGEST_HEX + 1;
	if (!exact_hex(s, SECRET_HEX))
		return pki_fail("join token: the secret must be 32 hex digits");
	copy_lower(digest, d, DIGEST_HEX);
	copy_lower(secret, s, SECRET_HEX);
	return 0;
}
