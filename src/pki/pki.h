/* pki.h - ovld's certificate policy, written once: the cluster CA, node and
 * client certificates, join tokens and their proofs, and the TLS contexts
 * built from them or from etcd-style files (--cert-file, --auto-tls, ...).
 *
 * Pure OpenSSL 3: no loop, no store, no HTTP. Callers keep the PEM texts
 * wherever they like (the replicated store's meta, files in the data dir).
 * Every function returns 0 on success or -1 with pki_strerror() saying why,
 * unless it says otherwise. */
#ifndef OVLD_PKI_H
#define OVLD_PKI_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

/* The last failure of this thread, one line for a log or a client. */
const char *pki_strerror(void);
/* A warning the last call left (a weak certificate was taken anyway), once;
 * NULL when there is none. */
const char *pki_take_warning(void);

/* ---- the cluster CA ---------------------------------------------------- */

typedef struct pki_ca pki_ca; /* a CA certificate, with its key or not */

/* A new random CA (ECDSA P-256, 10 years, CN "ovld cluster CA <hex>"). */
int pki_ca_create(pki_ca **out);
/* The CA of a static cluster: the same secret gives the same key and the
 * same certificate on every host (Ed25519 from HKDF-SHA256 of the secret,
 * fixed serial, subject and validity), so hosts that share nothing but the
 * secret trust each other. The secret has at least 16 characters. */
int pki_ca_derive(pki_ca **out, const char *secret);
/* From PEM; key_pem may be NULL (a CA that can verify but not sign). */
int pki_ca_load(pki_ca **out, const char *cert_pem, const char *key_pem);
/* malloc'd PEM texts; key_pem may be NULL to skip it (-1 if asked for a key
 * the CA does not have). */
int pki_ca_pem(const pki_ca *ca, char **cert_pem, char **key_pem);
int pki_ca_can_sign(const pki_ca *ca);
/* Hex SHA-256 of the CA certificate's DER: what a join token pins. */
void pki_ca_digest(const pki_ca *ca, char out[65]);
/* The same digest of any PEM certificate; -1 if it does not parse. */
int pki_cert_digest(const char *cert_pem, char out[65]);
X509 *pki_ca_cert(const pki_ca *ca); /* borrowed */
void pki_ca_free(pki_ca *ca);

/* CA rotation, as swarm does it: the new CA's certificate cross-signed by
 * the old CA's key, so nodes that trust only the old CA accept chains of
 * the new one during the hand-over. malloc'd PEM. */
int pki_ca_cross_sign(const pki_ca *old_ca, const pki_ca *new_ca,
		      char **cert_pem);

/* ---- keys, requests, node and client certificates ---------------------- */

/* A new ECDSA P-256 key, as malloc'd PKCS#8 PEM. */
int pki_key_new(char **key_pem);
/* A certificate request for key_pem (its subject is ignored by the signer:
 * the CA decides names). malloc'd PEM. */
int pki_csr_new(const char *key_pem, char **csr_pem);

typedef struct pki_names {
	uint64_t member_id;	 /* node certificates: CN is its %016llx */
	const char *common_name; /* client certificates: CN (the v2 user) */
	/* Host names and IP literals the certificate answers for: each one
	 * becomes a DNS SAN, and an IP literal also an IP SAN (H2O's client
	 * checks DNS SANs only). */
	const char *const *hosts;
	size_t n_hosts;
	unsigned days; /* validity; 0 = 90 */
	/* Unix seconds overriding days; 0 = unset. Tests set a past time to
	 * make an expired certificate. */
	int64_t not_after;
} pki_names;

/* A signed leaf's notBefore lies this long before its signing, so a peer
 * whose clock is a little behind accepts it; it is no part of the
 * lifetime the certificate was signed for (renewal counts from after). */
#define PKI_CLOCK_SLACK_S 60

/* Signs csr_pem with the CA: a node certificate (serverAuth+clientAuth,
 * CN = member id) when names->member_id != 0, else a client certificate
 * (clientAuth, CN = names->common_name). malloc'd PEM. Refuses a CSR whose
 * self-signature does not verify. */
int pki_sign(const pki_ca *ca, const char *csr_pem, const pki_names *names,
	     char **cert_pem);

/* What a PEM certificate says, for policy and renewal. */
typedef struct pki_cert_info {
	uint64_t member_id; /* from a node certificate's CN; 0 otherwise */
	char common_name[128];
	int64_t not_before, not_after; /* unix seconds */
	char serial[41];	       /* hex */
} pki_cert_info;
int pki_cert_info_pem(const char *cert_pem, pki_cert_info *out);
int pki_cert_info_x509(X509 *cert, pki_cert_info *out);
/* 0 if cert_pem is signed by ca (or by a CA in trust_pem, a PEM bundle,
 * when ca is NULL), is valid now and its public key is key_pem's (key_pem
 * NULL: not checked). cert_pem may carry intermediates after the leaf. */
int pki_cert_check(const char *cert_pem, const char *key_pem, const pki_ca *ca,
		   const char *trust_pem);

/* A self-signed certificate and key for etcd's --auto-tls and
 * --peer-auto-tls: encryption without authentication, hosts as SANs. */
int pki_self_signed(const pki_names *names, char **cert_pem, char **key_pem);

/* ---- join tokens --------------------------------------------------------- */

/* "OVLTKN-1-<64 hex CA digest>-<32 hex secret>", as swarm's SWMTKN-1. */
#define PKI_TOKEN_MAX 112
#define PKI_SECRET_HEX 33 /* 32 hex digits and a NUL */

int pki_secret_new(char out[PKI_SECRET_HEX]);
int pki_token_format(const char digest[65], const char *secret, char *out,
		     size_t len);
/* Parses and checks the shape; -1 with a message naming what is wrong. */
int pki_token_parse(const char *token, char digest[65],
		    char secret[PKI_SECRET_HEX]);

/* The joiner proves it holds the secret without sending it: an HMAC-SHA256
 * (keyed by the secret) over msg, as hex. check is constant-time: 0 when
 * proof matches. */
int pki_proof(const char *secret, const void *msg, size_t len, char out[65]);
int pki_proof_check(const char *secret, const void *msg, size_t len,
		    const char *proof);

/* ---- TLS contexts ------------------------------------------------------ */

/* Peer contexts: TLS 1.2+ (1.3 preferred), our certificate and key, trust
 * in trust_pem (a PEM bundle: the CA, and during a rotation the next one).
 * The server requires a client certificate and completes no handshake
 * without one; both sides set SSL_VERIFY_PEER. Who the verified peer is
 * allowed to be is the caller's policy, checked after the handshake. */
SSL_CTX *pki_peer_server_ctx(const char *cert_pem, const char *key_pem,
			     const char *trust_pem);
SSL_CTX *pki_peer_client_ctx(const char *cert_pem, const char *key_pem,
			     const char *trust_pem);

/* A client context that trusts exactly one CA, named by its digest (a join
 * token's pin): the handshake fails unless the server's chain ends in a
 * certificate with that digest. No client certificate. */
SSL_CTX *pki_pinned_client_ctx(const char digest[65]);
/* 1 once a server's chain failed the pin in a handshake with ctx (it
 * lacks the pinned CA or does not verify up to it): another cluster's
 * host or a man in the middle, not a port that is down or not TLS. */
int pki_pinned_refused(const SSL_CTX *ctx);
/* 1 once a server asked a pinned context for a client certificate (a
 * member with --client-cert-auth, which a joiner cannot satisfy). */
int pki_pinned_cert_requested(const SSL_CTX *ctx);

/* etcd's TLS flags, as etcd 3.4 reads them. */
typedef struct pki_files {
	const char *cert_file, *key_file;
	const char *trusted_ca_file; /* set: clients must present a cert */
	int client_cert_auth;	     /* --client-cert-auth */
	const char *cipher_suites;   /* Go names, comma-separated, or NULL */
} pki_files;
/* A server context from files (client API, or peer with the user's PKI). */
SSL_CTX *pki_files_server_ctx(const pki_files *f);
SSL_CTX *pki_files_client_ctx(const pki_files *f);
/* Maps etcd's --cipher-suites (Go's names) onto ctx; -1 naming the first
 * unknown suite. */
int pki_cipher_suites(SSL_CTX *ctx, const char *go_names);

/* The CN of a verified client certificate (etcd's --client-cert-auth
 * user); -1 when there is none. */
int pki_ssl_peer_cn(SSL *ssl, char *out, size_t len);

#endif
