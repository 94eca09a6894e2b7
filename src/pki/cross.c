/* cross.c - CA rotation: the new CA's name and key, signed by the old CA,
 * so a chain leaf -> cross-signed new CA -> old CA verifies on hosts that
 * still trust only the old one. */
#include "internal.h"

int pki_ca_cross_sign(const pki_ca *old_ca, const pki_ca *new_ca,
		      char **cert_pem)
{
	if (!pki_ca_can_sign(old_ca))
		return pki_fail("CA rotation: this host holds no old CA key");
	pki_cert_info old_info, new_info;
	if (pki_cert_info_x509(old_ca->cert, &old_info) < 0 ||
	    pki_cert_info_x509(new_ca->cert, &new_info) < 0)
		return -1;
	pki_cert_plan plan = {.subject = X509_get_subject_name(new_ca->cert),
			      .subject_key = X509_get0_pubkey(new_ca->cert),
			      .issuer = old_ca->cert,
			      .issuer_key = old_ca->key,
			      .not_before = new_info.not_before,
			      .not_after = new_info.not_after,
			      .is_ca = 1};
	/* Vouches for no longer than the old CA itself is valid. */
	if (old_info.not_after < plan.not_after)
		plan.not_after = old_info.not_after;
	if (!plan.subject_key)
		return pki_fail_ssl(
		    "CA rotation: the new CA has no usable key");
	X509 *cert = pki_cert_build(&plan);
	if (!cert)
		return -1;
	int rc = pki_cert_to_pem(cert, cert_pem);
	X509_free(cert);
	return rc;
}
