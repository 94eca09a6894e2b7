/* proof.c - a joiner proves it holds the token's secret without sending
 * it: an HMAC-SHA256 over the server's challenge, keyed by the secret. */
#include <openssl/crypto.h>
#include <string.h>

#include "internal.h"

int pki_proof(const char *secret, const void *msg, size_t len, char out[65])
{
	unsigned char mac[32];
	size_t mac_len = 0;
	if (!secret || !secret[0])
		return pki_fail("join proof: no secret");
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
		       strlen(secret), msg, len, mac, sizeof(mac), &mac_len) ||
	    mac_len != sizeof(mac))
		return pki_fail_ssl("join proof: cannot compute");
	pki_hex(mac, sizeof(mac), out);
	return 0;
}

int pki_proof_check(const char *secret, const void *msg, size_t len,
		    const char *proof)
{
	char expected[65];
	if (!proof || strnlen(proof, 65) != 64)
		return pki_fail("join proof: must be 64 hex digits");
	if (pki_proof(secret, msg, len, expected) < 0)
		return -1;
	if (CRYPTO_memcmp(expected, proof, 64) != 0)
		return pki_fail(
		    "join proof: does not match the token's secret");
	return 0;
}
