/* client_tls.h - the client API's TLS context from etcd's flags
 * (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth,
 * --auto-tls, --cipher-suites), for the daemon's https:// listen URLs. */
#ifndef OVLD_CLIENT_TLS_H
#define OVLD_CLIENT_TLS_H

#include <openssl/ssl.h>

#include "config.h"

/* 0 with *out set (NULL: the flags ask for no TLS and no listen URL is
 * https://), or -1 after one error line (a missing or mismatched file, an
 * unknown suite, https:// without a certificate). --auto-tls keeps its
 * certificate in <data-dir>/fixtures/client, as etcd does. */
int client_tls_open(const config *c, SSL_CTX **out);

/* Adds the certificates of ca_file to the chain ctx serves: a joiner
 * whose token pins the cluster CA by its digest finds it there. 0 or -1
 * (one warning line). */
int client_tls_send_ca(SSL_CTX *ctx, const char *ca_file);

/* One warning line for each plain http:// listen URL the user wrote on a
 * non-loopback address: the client API travels unencrypted there. */
void client_tls_warn_plain(const config *c);

#endif
