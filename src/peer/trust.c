/* trust.c - this host's credentials: which trust it runs on (the cluster
 * CA, a static cluster's shared secret, or the user's PKI) and its node
 * certificate in <data_dir>/pki. Who may speak with them is policy.c. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "../log.h"
#include "../url.h"
#include "trust_int.h"

int trust_write_file(const char *path, const char *text, int mode)
{
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0) {
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

char *trust_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	if (m == NULL || fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *trust_meta(peer_trust *t, const char *key)
{
	char *v = NULL;
	size_t len = 0;
	if (store_meta_get(t->st, key, &v, &len) != 0 || v == NULL)
		return NULL;
	char *s = malloc(len + 1);
	if (s) {
		memcpy(s, v, len);
		s[len] = '\0';
	}
	free(v);
	return s;
}

char *trust_meta_ca_field(peer_trust *t, const char *key, const char *field)
{
	char *v = trust_meta(t, key), *out = NULL;
	json_t *j = v ? json_loads(v, 0, NULL) : NULL;
	const char *f = json_string_value(json_object_get(j, field));
	if (f)
		out = strdup(f);
	json_decref(j);
	free(v);
	return out;
}

pki_ca *trust_meta_ca(peer_trust *t, const char *key)
{
	char *cert = trust_meta_ca_field(t, key, "cert");
	char *pk = trust_meta_ca_field(t, key, "key");
	pki_ca *ca = NULL;
	if (cert && pki_ca_load(&ca, cert, pk) != 0)
		ca = NULL;
	free(cert);
	free(pk);
	return ca;
}

pki_ca *trust_signing_ca(peer_trust *t)
{
	if (t->mode == TRUST_STATIC) {
		pki_ca *ca = NULL;
		return pki_ca_derive(&ca, t->cfg.token) == 0 ? ca : NULL;
	}
	pki_ca *next = trust_meta_ca(t, TRUST_META_NEXT);
	return next ? next : trust_meta_ca(t, TRUST_META_CA);
}

char *trust_bundle(peer_trust *t)
{
	char *cur = trust_meta_ca_field(t, TRUST_META_CA, "cert");
	char *next = trust_meta_ca_field(t, TRUST_META_NEXT, "cert");
	char *out = NULL;
	if (cur && asprintf(&out, "%s%s", cur, next ? next : "") < 0)
		out = NULL;
	free(cur);
	free(next);
	return out;
}

char *trust_chain_tail(peer_trust *t)
{
	char *cross = trust_meta_ca_field(t, TRUST_META_NEXT, "cross");
	return cross ? cross : strdup("");
}

static int add_host(char **hosts, size_t n, const char *url)
{
	char h[256];
	url_host(url, h, sizeof(h));
	if (h[0] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(hosts[i], h) == 0)
			return 0;
	hosts[n] = strdup(h);
	return hosts[n] ? 1 : 0;
}

size_t trust_hosts_of(const char *peer_url, const char *client_urls,
		      char ***out)
{
	size_t cap = 2, n = 0;
	for (const char *c = client_urls; c && *c; c++)
		cap += *c == ',';
	char **hosts = calloc(cap + 1, sizeof(*hosts));
	if (hosts == NULL) {
		*out = NULL;
		return 0;
	}
	if (peer_url)
		n += add_host(hosts, n, peer_url);
	for (const char *c = client_urls; c && *c && n < cap;) {
		n += add_host(hosts, n, c);
		const char *comma = strchr(c, ',');
		c = comma ? comma + 1 : c + strlen(c);
	}
	*out = hosts;
	return n;
}

void trust_hosts_free(char **hosts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
}

int trust_install(peer_trust *t, char *cert_pem, char *key_pem, char *trust_pem)
{
	pki_cert_info info;
	SSL_CTX *server = NULL, *client = NULL;
	int rv = -1;
	if (pki_cert_info_pem(cert_pem, &info) != 0) {
		log_error("peer", "this host's certificate: %s",
			  pki_strerror());
		goto out;
	}
	server = pki_peer_server_ctx(cert_pem, key_pem, trust_pem);
	client = pki_peer_client_ctx(cert_pem, key_pem, trust_pem);
	const char *weak = pki_take_warning();
	if (weak)
		log_warn("peer", "%s", weak);
	if (server == NULL || client == NULL) {
		log_error("peer", "TLS for the peer port: %s", pki_strerror());
		goto out;
	}
	if (t->mode != TRUST_USER_PKI &&
	    (trust_write_file(t->key_file, key_pem, 0600) != 0 ||
	     trust_write_file(t->cert_file, cert_pem, 0644) != 0 ||
	     trust_write_file(t->ca_file, trust_pem, 0644) != 0)) {
		log_error("peer", "cannot write credentials in %s: %s", t->dir,
			  strerror(errno));
		goto out;
	}
	peer_set_tls(t->peer, server, client);
	free(t->cert_pem);
	free(t->key_pem);
	free(t->trust_pem);
	t->cert_pem = cert_pem;
	t->key_pem = key_pem;
	t->trust_pem = trust_pem;
	cert_pem = key_pem = trust_pem = NULL;
	t->cert_not_before = info.not_before;
	t->cert_not_after = info.not_after;
	rv = 0;
out:
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	free(cert_pem);
	free(key_pem);
	free(trust_pem);
	return rv;
}

/* ---- start-up ---- */

static int check_config(const peer_trust_config *c)
{
	int files = (c->peer_cert_file != NULL) + (c->peer_key_file != NULL) +
		    (c->peer_trusted_ca_file != NULL);
	if (files != 0 && files != 3) {
		log_error("peer", "the peer's own PKI needs all of "
				  "--peer-cert-file, --peer-key-file and "
				  "--peer-trusted-ca-file");
		return -1;
	}
	if (c->static_cluster && files == 0 && (!c->token || !*c->token)) {
		log_error("peer",
			  "refusing to leave the peer port open: a static "
			  "cluster (--initial-cluster) needs --token SECRET "
			  "(or OVLD_TOKEN), or --peer-cert-file, "
			  "--peer-key-file and --peer-trusted-ca-file");
		return -1;
	}
	if (c->join && *c->join && files == 0) {
		char digest[65], secret[PKI_SECRET_HEX];
		if (!c->token || !*c->token) {
			log_error("peer", "--join needs a join token: --token "
					  "or OVLD_TOKEN (`ovlctl cluster "
					  "token` on a member prints it)");
			return -1;
		}
		if (pki_token_parse(c->token, digest, secret) != 0) {
			log_error("peer", "%s", pki_strerror());
			return -1;
		}
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void free_trust(peer_trust *t)
{
	free((char *)t->cfg.data_dir);
	free((char *)t->cfg.listen_addr);
	free((char *)t->cfg.token);
	free((char *)t->cfg.join);
	free((char *)t->cfg.peer_cert_file);
	free((char *)t->cfg.peer_key_file);
	free((char *)t->cfg.peer_trusted_ca_file);
	free(t->cert_pem);
	free(t->key_pem);
	free(t->trust_pem);
	free(t->members);
	free(t);
}

int peer_trust_init(peer_trust **out, uv_loop_t *loop, store *st,
		    const peer_trust_config *cfg)
{
	if (check_config(cfg) != 0)
		return -1;
	peer_trust *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	t->loop = loop;
	t->st = st;
	t->cfg = *cfg;
	t->cfg.data_dir = dup_or_null(cfg->data_dir);
	t->cfg.listen_addr = dup_or_null(cfg->listen_addr);
	t->cfg.token = dup_or_null(cfg->token);
	t->cfg.join = dup_or_null(cfg->join);
	t->cfg.peer_cert_file = dup_or_null(cfg->peer_cert_file);
	t->cfg.peer_key_file = dup_or_null(cfg->peer_key_file);
	t->cfg.peer_trusted_ca_file = dup_or_null(cfg->peer_trusted_ca_file);
	if (!t->cfg.cert_expiry_s)
		t->cfg.cert_expiry_s = 90 * 86400;
	t->mode = cfg->peer_cert_file	? TRUST_USER_PKI
		  : cfg->static_cluster ? TRUST_STATIC
					: TRUST_CLUSTER_CA;
	snprintf(t->dir, sizeof(t->dir), "%s/pki", cfg->data_dir);
	snprintf(t->cert_file, sizeof(t->cert_file), "%s/node.crt", t->dir);
	snprintf(t->key_file, sizeof(t->key_file), "%s/node.key", t->dir);
	snprintf(t->ca_file, sizeof(t->ca_file), "%s/ca.crt", t->dir);
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
		log_error("peer", "cannot create %s: %s", t->dir,
			  strerror(errno));
		free_trust(t);
		return -1;
	}
	peer_config pc = {.listen_addr = cfg->listen_addr,
			  .authorize = trust_authorize,
			  .authorize_ctx = t};
	if (peer_init(&t->peer, loop, &pc) != 0) {
		free_trust(t);
		return -1;
	}
	*out = t;
	return 0;
}

peer *peer_trust_peer(peer_trust *t)
{
	return t->peer;
}

/* A node certificate for this host, signed here by ca. */
static int issue_own(peer_trust *t, const pki_ca *ca,
		     const raftnode_identity *who)
{
	char *key = NULL, *csr = NULL, *cert = NULL, *ca_pem = NULL;
	char **hosts = NULL;
	size_t n = trust_hosts_of(who->peer_url, who->client_urls, &hosts);
	pki_names names = {.member_id = who->id,
			   .hosts = (const char *const *)hosts,
			   .n_hosts = n,
			   .not_after =
			       (int64_t)time(NULL) + t->cfg.cert_expiry_s};
	int rv = -1;
	if (pki_key_new(&key) == 0 && pki_csr_new(key, &csr) == 0 &&
	    pki_sign(ca, csr, &names, &cert) == 0 &&
	    pki_ca_pem(ca, &ca_pem, NULL) == 0) {
		rv = trust_install(t, cert, key, ca_pem);
		cert = key = ca_pem = NULL;
	} else {
		log_error("peer", "issuing this host's certificate: %s",
			  pki_strerror());
	}
	free(key);
	free(csr);
	free(cert);
	free(ca_pem);
	trust_hosts_free(hosts, n);
	return rv;
}

/* The first host: a new CA and join secret, kept in files until they are
 * in the replicated store (upkeep.c publishes them). */
static int enter_bootstrap(peer_trust *t, const raftnode_identity *who)
{
	pki_ca *ca = NULL;
	char *cert = NULL, *key = NULL, secret[PKI_SECRET_HEX];
	char path[4300];
	int rv = -1;
	if (pki_ca_create(&ca) != 0 || pki_ca_pem(ca, &cert, &key) != 0 ||
	    pki_secret_new(secret) != 0) {
		log_error("peer", "creating the cluster CA: %s",
			  pki_strerror());
		goto out;
	}
	snprintf(path, sizeof(path), "%s/cluster-ca.key", t->dir);
	if (trust_write_file(path, key, 0600) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/cluster-ca.crt", t->dir);
	if (trust_write_file(path, cert, 0644) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/cluster-secret", t->dir);
	if (trust_write_file(path, secret, 0600) != 0)
		goto out;
	rv = issue_own(t, ca, who);
	if (rv == 0)
		log_info("peer", "created the cluster CA %.16s...",
			 (pki_ca_digest(ca, path), path));
out:
	pki_ca_free(ca);
	free(cert);
	free(key);
	return rv;
}

static int enter_static(peer_trust *t, const raftnode_identity *who)
{
	pki_ca *ca = NULL;
	if (pki_ca_derive(&ca, t->cfg.token) != 0) {
		log_error("peer", "the static cluster's CA: %s",
			  pki_strerror());
		return -1;
	}
	int rv = issue_own(t, ca, who);
	pki_ca_free(ca);
	return rv;
}

static int enter_user_pki(peer_trust *t)
{
	char *cert = trust_read_file(t->cfg.peer_cert_file);
	char *key = trust_read_file(t->cfg.peer_key_file);
	char *ca = trust_read_file(t->cfg.peer_trusted_ca_file);
	if (!cert || !key || !ca) {
		log_error("peer", "cannot read %s",
			  !cert	 ? t->cfg.peer_cert_file
			  : !key ? t->cfg.peer_key_file
				 : t->cfg.peer_trusted_ca_file);
		free(cert);
		free(key);
		free(ca);
		return -1;
	}
	return trust_install(t, cert, key, ca);
}

static int enter_restart(peer_trust *t, const raftnode_identity *who)
{
	char *cert = trust_read_file(t->cert_file);
	char *key = trust_read_file(t->key_file);
	char *ca = trust_read_file(t->ca_file);
	if (cert && key && ca)
		return trust_install(t, cert, key, ca);
	free(cert);
	free(key);
	free(ca);
	if (t->mode == TRUST_STATIC)
		return enter_static(t, who);
	log_error("peer",
		  "no credentials in %s: this data dir has no node "
		  "certificate; remove the host and join it again",
		  t->dir);
	return -1;
}

int peer_trust_enter(void *ctx, raftnode_identity *who)
{
	peer_trust *t = ctx;
	char addr[300];
	t->self_id = who->id;
	if (url_hostport(who->peer_url, 2380, addr, sizeof(addr)) == 0)
		peer_set_self(t->peer, who->id, addr);
	if (t->mode == TRUST_USER_PKI) {
		if (enter_user_pki(t) != 0)
			return -1;
		return who->entry == RAFTNODE_JOINING ? trust_join_user(t, who)
						      : 0;
	}
	switch (who->entry) {
	case RAFTNODE_RESTART:
		return enter_restart(t, who);
	case RAFTNODE_BOOTSTRAP:
		return enter_bootstrap(t, who);
	case RAFTNODE_STATIC:
		return enter_static(t, who);
	case RAFTNODE_JOINING:
		return trust_join(t, who);
	}
	return -1;
}

const char *peer_trust_cert_file(peer_trust *t)
{
	return t->mode == TRUST_USER_PKI ? t->cfg.peer_cert_file : t->cert_file;
}

const char *peer_trust_key_file(peer_trust *t)
{
	return t->mode == TRUST_USER_PKI ? t->cfg.peer_key_file : t->key_file;
}

const char *peer_trust_ca_file(peer_trust *t)
{
	return t->mode == TRUST_USER_PKI ? NULL : t->ca_file;
}

int peer_trust_client_cert(peer_trust *t, const char *name, char **key_pem,
			   char **cert_pem, char **ca_pem)
{
	*key_pem = *cert_pem = *ca_pem = NULL;
	pki_ca *ca = t->mode != TRUST_USER_PKI ? trust_signing_ca(t) : NULL;
	if (ca == NULL || !pki_ca_can_sign(ca)) {
		pki_ca_free(ca);
		return -1;
	}
	char *csr = NULL;
	pki_names names = {.common_name = name, .days = 365};
	int rv = pki_key_new(key_pem) == 0 &&
			 pki_csr_new(*key_pem, &csr) == 0 &&
			 pki_sign(ca, csr, &names, cert_pem) == 0 &&
			 pki_ca_pem(ca, ca_pem, NULL) == 0
		     ? 0
		     : -1;
	free(csr);
	pki_ca_free(ca);
	return rv;
}

static void on_peer_closed(void *ctx)
{
	peer_trust *t = ctx;
	void (*cb)(void *) = t->close_cb;
	void *cb_ctx = t->close_ctx;
	free_trust(t);
	if (cb)
		cb(cb_ctx);
}

static void on_tick_closed(uv_handle_t *h)
{
	peer_trust *t = h->data;
	peer_close(t->peer, on_peer_closed, t);
}

void peer_trust_close(peer_trust *t, void (*cb)(void *ctx), void *ctx)
{
	t->close_cb = cb;
	t->close_ctx = ctx;
	if (t->tick_started)
		uv_close((uv_handle_t *)&t->tick, on_tick_closed);
	else
		peer_close(t->peer, on_peer_closed, t);
}
