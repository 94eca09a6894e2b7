/* client_tls.c - the client API's TLS context (see client_tls.h).
 *
 * As etcd 3.4's embed: files win over --auto-tls (then ignored with a
 * warning); --auto-tls makes a self-signed certificate for the listen
 * hosts once and reuses it. */
#include "client_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"
#include "pki/pki.h"

#define MAX_HOSTS 16

/* Calls fn for each URL of a comma-separated list. */
static void each_url(const char *list, void (*fn)(const char *, size_t, void *),
		     void *arg)
{
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, ",");
		if (n > 0)
			fn(p, n, arg);
		p += n;
		if (*p == ',')
			p++;
	}
}

static int is_https(const char *u, size_t n)
{
	return n > 8 && strncmp(u, "https://", 8) == 0;
}

static void count_https(const char *u, size_t n, void *arg)
{
	*(int *)arg += is_https(u, n);
}

/* The host of one URL ("[v6]" without brackets); 0 or -1. */
static int url_host_of(const char *u, size_t n, char *out, size_t len)
{
	const char *p = memmem(u, n, "://", 3);
	if (!p)
		return -1;
	p += 3;
	size_t left = n - (size_t)(p - u), hl;
	if (left > 0 && *p == '[') {
		const char *rb = memchr(p, ']', left);
		if (!rb)
			return -1;
		p++;
		hl = (size_t)(rb - p);
	} else {
		hl = 0;
		while (hl < left && p[hl] != ':' && p[hl] != '/')
			hl++;
	}
	if (hl == 0 || hl >= len)
		return -1;
	memcpy(out, p, hl);
	out[hl] = '\0';
	return 0;
}

typedef struct host_list {
	char names[MAX_HOSTS][64];
	const char *ptrs[MAX_HOSTS];
	size_t n;
} host_list;

static void add_host(const char *u, size_t n, void *arg)
{
	host_list *h = arg;
	if (h->n == MAX_HOSTS ||
	    url_host_of(u, n, h->names[h->n], sizeof(h->names[0])) != 0)
		return;
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->names[i], h->names[h->n]) == 0)
			return;
	h->ptrs[h->n] = h->names[h->n];
	h->n++;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int rc = close(fd);
	return n == (ssize_t)len && rc == 0 ? 0 : -1;
}

static int make_dirs(const char *data_dir, char *dir, size_t len)
{
	snprintf(dir, len, "%s/fixtures", data_dir);
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(dir, len, "%s/fixtures/client", data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* etcd's SelfCert: reuse cert.pem and key.pem when both exist. */
static int auto_cert(const config *c, char *cert, char *key, size_t len)
{
	char dir[4096];
	if (make_dirs(c->data_dir, dir, sizeof(dir)) != 0) {
		log_error("main", "--auto-tls: cannot create %s: %s", dir,
			  strerror(errno));
		return -1;
	}
	snprintf(cert, len, "%s/cert.pem", dir);
	snprintf(key, len, "%s/key.pem", dir);
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	host_list hosts = {.n = 0};
	each_url(c->listen_client_urls, add_host, &hosts);
	pki_names names = {.hosts = hosts.ptrs,
			   .n_hosts = hosts.n,
			   .days = 365,
			   .common_name = "ovld"};
	char *cert_pem = NULL, *key_pem = NULL;
	int rc = pki_self_signed(&names, &cert_pem, &key_pem);
	if (rc != 0)
		log_error("main", "--auto-tls: %s", pki_strerror());
	else if (write_file(key, key_pem, 0600) != 0 ||
		 write_file(cert, cert_pem, 0644) != 0) {
		log_error("main", "--auto-tls: cannot write %s: %s", dir,
			  strerror(errno));
		rc = -1;
	}
	free(cert_pem);
	if (key_pem)
		OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
	return rc;
}

int client_tls_open(const config *c, SSL_CTX **out)
{
	*out = NULL;
	int https = 0;
	each_url(c->listen_client_urls, count_https, &https);
	pki_files f = {.cert_file = c->cert_file,
		       .key_file = c->key_file,
		       .trusted_ca_file = c->trusted_ca_file,
		       .client_cert_auth = c->client_cert_auth,
		       .cipher_suites = c->cipher_suites};
	char cert[4200], key[4200];
	int files = c->cert_file || c->key_file;
	if (files && c->auto_tls)
		log_warn("main", "ignoring --auto-tls: --cert-file and "
				 "--key-file are given");
	if (!files && c->auto_tls) {
		if (auto_cert(c, cert, key, sizeof(cert)) != 0)
			return -1;
		f.cert_file = cert;
		f.key_file = key;
	}
	if (!f.cert_file && !f.key_file) {
		if (!https)
			return 0;
		log_error("main", "https:// in --listen-client-urls needs "
				  "--cert-file and --key-file, or --auto-tls");
		return -1;
	}
	*out = pki_files_server_ctx(&f);
	if (!*out) {
		log_error("main", "client TLS: %s", pki_strerror());
		return -1;
	}
	const char *weak = pki_take_warning();
	if (weak)
		log_warn("main", "client TLS: %s", weak);
	return 0;
}

int client_tls_send_ca(SSL_CTX *ctx, const char *ca_file)
{
	FILE *f = fopen(ca_file, "r");
	X509 *x;
	int n = 0, rc = 0;
	if (!f) {
		log_warn("main", "client TLS: cannot read %s: %s", ca_file,
			 strerror(errno));
		return -1;
	}
	while (rc == 0 && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		rc = SSL_CTX_add1_chain_cert(ctx, x) == 1 ? 0 : -1;
		X509_free(x);
		n++;
	}
	fclose(f);
	ERR_clear_error(); /* the end of the file */
	if (rc != 0 || n == 0) {
		log_warn("main", "client TLS: %s: no CA certificate to send",
			 ca_file);
		return -1;
	}
	return 0;
}

static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

static void warn_plain(const char *u, size_t n, void *arg)
{
	char host[64];
	(void)arg;
	if (n < 7 || strncmp(u, "http://", 7) != 0 ||
	    url_host_of(u, n, host, sizeof(host)) != 0 || is_loopback(host))
		return;
	log_warn("main",
		 "%.*s serves the client API without TLS: keys and "
		 "passwords cross that network in cleartext",
		 (int)n, u);
}

void client_tls_warn_plain(const config *c)
{
	if (c->listen_client_urls_set)
		each_url(c->listen_client_urls, warn_plain, NULL);
}
