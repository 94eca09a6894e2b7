/* fuzz_cert.c - libFuzzer target for certificates and requests from
 * outside: the bytes as a PEM certificate into pki_cert_info_pem and
 * pki_cert_digest, and as a PEM request into pki_sign with a fixed CA.
 * Input that does not start with "-----" is taken as DER and wrapped in
 * PEM first, so the fuzzer reaches the ASN.1 rather than the base64. */
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

static pki_ca *fixed_ca(void)
{
	static pki_ca *ca;
	if (!ca && pki_ca_derive(&ca, "fuzz_cert fixed CA secret") != 0)
		abort();
	return ca;
}

/* data as a NUL-terminated PEM text of kind (a "CERTIFICATE", ...). */
static char *as_pem(const uint8_t *data, size_t size, const char *kind)
{
	if (size >= 5 && memcmp(data, "-----", 5) == 0) {
		char *text = malloc(size + 1);
		if (text) {
			memcpy(text, data, size);
			text[size] = '\0';
		}
		return text;
	}
	BIO *bio = BIO_new(BIO_s_mem());
	char *mem = NULL, *text = NULL;
	if (bio && PEM_write_bio(bio, kind, "", data, (long)size) > 0) {
		long len = BIO_get_mem_data(bio, &mem);
		text = malloc((size_t)len + 1);
		if (text) {
			memcpy(text, mem, (size_t)len);
			text[len] = '\0';
		}
	}
	BIO_free(bio);
	return text;
}

static void fuzz_as_cert(const uint8_t *data, size_t size)
{
	char *pem = as_pem(data, size, "CERTIFICATE");
	if (!pem)
		return;
	pki_cert_info info;
	char digest[65];
	int parsed = pki_cert_info_pem(pem, &info) == 0;
	if (pki_cert_digest(pem, digest) == 0 && strlen(digest) != 64)
		abort();
	if (parsed && strlen(info.serial) > 40)
		abort();
	free(pem);
}

static void fuzz_as_request(const uint8_t *data, size_t size)
{
	char *pem = as_pem(data, size, "CERTIFICATE REQUEST");
	if (!pem)
		return;
	static const char *const hosts[] = {"127.0.0.1", "fuzz.example"};
	pki_names names = {.member_id = 42, .hosts = hosts, .n_hosts = 2};
	char *cert = NULL;
	if (pki_sign(fixed_ca(), pem, &names, &cert) == 0) {
		/* Whatever the request said, the CA chose the name. */
		pki_cert_info info;
		if (pki_cert_info_pem(cert, &info) != 0 || info.member_id != 42)
			abort();
		free(cert);
	}
	free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_as_cert(data, size);
	fuzz_as_request(data, size);
	return 0;
}
