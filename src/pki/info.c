/* info.c - what a certificate says (member id, CN, validity, serial), for
 * the caller's policy and for knowing when to renew. */
#include <ctype.h>
#include <openssl/asn1.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static int is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
			return 0;
	return 1;
}

static int read_common_name(X509 *cert, pki_cert_info *out)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (at < 0)
		return 0; /* no CN: neither node nor user */
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(
	    &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
	if (len < 0)
		return pki_fail_ssl("certificate: unreadable common name");
	/* A CN with a NUL inside names nobody. */
	if (memchr(utf8, '\0', (size_t)len) ||
	    (size_t)len >= sizeof(out->common_name)) {
		OPENSSL_free(utf8);
		return 0;
	}
	memcpy(out->common_name, utf8, (size_t)len);
	out->common_name[len] = '\0';
	if (len == 16 && is_hex(out->common_name, 16))
		out->member_id = strtoull(out->common_name, NULL, 16);
	OPENSSL_free(utf8);
	return 0;
}

static int unix_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return pki_fail_ssl("certificate: unreadable validity");
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int read_serial(X509 *cert, pki_cert_info *out)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (!hex)
		return pki_fail_ssl("certificate: unreadable serial");
	size_t len = strlen(hex);
	int rc = 0;
	if (len >= sizeof(out->serial)) {
		rc = pki_fail("certificate: serial longer than 20 bytes");
	} else {
		for (size_t i = 0; i <= len; i++)
			out->serial[i] = (char)tolower((unsigned char)hex[i]);
	}
	OPENSSL_free(hex);
	return rc;
}

int pki_cert_info_x509(X509 *cert, pki_cert_info *out)
{
	memset(out, 0, sizeof(*out));
	if (read_common_name(cert, out) < 0 ||
	    unix_time(X509_get0_notBefore(cert), &out->not_before) < 0 ||
	    unix_time(X509_get0_notAfter(cert), &out->not_after) < 0)
		return -1;
	return read_serial(cert, out);
}

int pki_cert_info_pem(const char *cert_pem, pki_cert_info *out)
{
	X509 *cert = pki_pem_cert(cert_pem, "certificate");
	if (!cert)
		return -1;
	int rc = pki_cert_info_x509(cert, out);
	X509_free(cert);
	return rc;
}
