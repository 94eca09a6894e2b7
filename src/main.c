/* main.c - ovld: parse flags, open the store, start Raft, the API and the
 * datapath on one libuv loop, and shut them down in reverse on a signal. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "api/api.h"
#include "client_tls.h"
#include "config.h"
#include "ctl/ctl.h"
#include "log.h"
#include "metrics.h"
#include "net/dp.h"
#include "notify.h"
#include "peer/peer.h"
#include "raft/raftnode.h"
#include "store/store.h"
#include "url.h"

typedef struct daemon {
	uv_loop_t loop;
	config cfg;
	store *st;
	raftnode *rn;
	api *api;
	dp *dp;
	ctl *ctl;
	peer_trust *trust; /* the host's credentials and its peer port */
	struct raft_uv_transport transport;
	SSL_CTX *client_tls; /* https:// listen URLs; NULL without */
	uv_signal_t sigint, sigterm;
	uv_timer_t watchdog;
	uv_timer_t ready_poll;
	int stopping;
} daemon_t;

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_error("main", "cannot create %s: %s", path,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/* Libraries may keep idle timers (H2O's) registered: once Raft and the
 * peer port are closed nothing left matters, so stop the loop rather than
 * wait for them. */
static void on_peer_closed(void *ctx)
{
	daemon_t *d = ctx;
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->ready_poll, NULL);
	uv_stop(&d->loop);
}

static void on_raft_closed(void *ctx)
{
	daemon_t *d = ctx;
	peer_trust_close(d->trust, on_peer_closed, d);
}

/* READY=1 (systemd Type=notify) once clients can use the cluster: a
 * leader is known and /v2/members lists this host with its client URLs. */
static void on_ready_poll(uv_timer_t *t)
{
	daemon_t *d = t->data;
	if (!raftnode_is_ready(d->rn))
		return;
	uv_timer_stop(t);
	log_info("main", "ready");
	notify_ready();
}

/* The Raft log is durable, so a shutdown that hangs (a peer that never
 * answers) may simply end. */
static void on_watchdog(uv_timer_t *t)
{
	log_warn("main", "shutdown did not finish in time; exiting");
	exit(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	daemon_t *d = h->data;
	if (d->stopping++) {
		log_warn("main", "second signal: exiting now");
		exit(1);
	}
	log_info("main", "signal %d: shutting down", signum);
	notify_stopping();
	uv_timer_init(&d->loop, &d->watchdog);
	uv_timer_start(&d->watchdog, on_watchdog, 5000, 0);
	uv_unref((uv_handle_t *)&d->watchdog);
	ctl_close(d->ctl);
	if (d->dp)
		dp_close(d->dp);
	api_close(d->api);
	raftnode_close(d->rn, on_raft_closed, d);
}

static int open_ctl(daemon_t *d, const char *host_ip)
{
	config *c = &d->cfg;
	ctl_config cc = {.control_socket = c->control_socket,
			 .docker_plugin = c->docker_plugin,
			 .control_required = c->control_socket_set,
			 .docker_required = c->docker_plugin_set,
			 .docker_host = c->docker_host + strlen("unix://"),
			 .docker_sync = c->docker_sync,
			 .datapath = c->datapath,
			 .host_ip = host_ip,
			 .endpoint_gc_s = c->endpoint_gc_s,
			 .netns_gc_s = c->netns_gc_s,
			 .trust = d->trust};
	if (ctl_init(&d->ctl, &d->loop, d->st, d->rn, &cc) != 0)
		return -1;
	return ctl_start(d->ctl);
}

/* The host's credentials, its peer port and its Raft member. */
static int open_raft(daemon_t *d)
{
	config *c = &d->cfg;
	char listen[300];
	if (url_hostport(c->listen_peer_urls, 2380, listen, sizeof(listen)) !=
	    0) {
		log_error("main",
			  "--listen-peer-urls %s: need scheme://HOST:PORT",
			  c->listen_peer_urls);
		return -1;
	}
	peer_trust_config tc = {.data_dir = c->data_dir,
				.listen_addr = listen,
				.token = c->token,
				.join = c->join,
				.static_cluster =
				    c->initial_cluster && *c->initial_cluster,
				.peer_cert_file = c->peer_cert_file,
				.peer_key_file = c->peer_key_file,
				.peer_trusted_ca_file = c->peer_trusted_ca_file,
				.cert_expiry_s = c->cert_expiry_s};
	if (peer_trust_init(&d->trust, &d->loop, d->st, &tc) != 0)
		return -1;
	peer *p = peer_trust_peer(d->trust);
	if (peer_raft_transport(p, &d->transport) != 0)
		return -1;
	raftnode_config rc = {
	    .data_dir = c->data_dir,
	    .name = c->name,
	    .peer_url = c->initial_advertise_peer_urls,
	    .listen_peer_url = c->listen_peer_urls,
	    .client_urls = c->advertise_client_urls,
	    .join = c->join,
	    .initial_cluster = c->initial_cluster,
	    .initial_cluster_state = c->initial_cluster_state,
	    .initial_cluster_token = c->initial_cluster_token,
	    .heartbeat_ms = c->heartbeat_ms,
	    .election_ms = c->election_ms,
	    .max_voters = c->max_voters,
	    .snapshot_threshold = c->snapshot_count,
	    .request_timeout_ms = 2000,
	    .transport = &d->transport,
	    .trust = peer_trust_enter,
	    .trust_ctx = d->trust,
	};
	peer_raft_link(p, &rc.link);
	if (raftnode_init(&d->rn, &d->loop, d->st, &rc) != 0)
		return -1;
	peer_trust_attach(d->trust, d->rn);
	/* joins (and credentials) happen here, before anything serves */
	if (raftnode_start(d->rn) != 0)
		return -1;
	return peer_listen(p);
}

/* A renewed node certificate serves new client connections too. */
static void on_renewed(void *ctx)
{
	daemon_t *d = ctx;
	if (d->client_tls == NULL || d->cfg.cert_file || d->cfg.auto_tls)
		return;
	if (SSL_CTX_use_certificate_chain_file(
		d->client_tls, peer_trust_cert_file(d->trust)) != 1 ||
	    SSL_CTX_use_PrivateKey_file(d->client_tls,
					peer_trust_key_file(d->trust),
					SSL_FILETYPE_PEM) != 1)
		log_warn("main", "the client API keeps its old certificate");
	else if (peer_trust_ca_file(d->trust))
		client_tls_send_ca(d->client_tls, peer_trust_ca_file(d->trust));
}

/* The client API. https:// listen URLs without etcd's --cert-file or
 * --auto-tls serve the host's node certificate (the user's own files were
 * loaded before anything else started, see open_layers). */
static int open_api(daemon_t *d)
{
	config tls = d->cfg;
	if (!tls.cert_file && !tls.key_file && !tls.auto_tls) {
		tls.cert_file = (char *)peer_trust_cert_file(d->trust);
		tls.key_file = (char *)peer_trust_key_file(d->trust);
		if (client_tls_open(&tls, &d->client_tls) != 0)
			return -1;
		/* a joiner pins the CA by digest: it must see it */
		if (d->client_tls && peer_trust_ca_file(d->trust) &&
		    client_tls_send_ca(d->client_tls,
				       peer_trust_ca_file(d->trust)) != 0)
			return -1;
	}
	peer_trust_on_renewed(d->trust, on_renewed, d);
	api_config ac = {.listen_client_urls = d->cfg.listen_client_urls,
			 .tls_ctx = d->client_tls,
			 .client_cert_auth = d->cfg.client_cert_auth,
			 .join = peer_trust_admit,
			 .join_ctx = d->trust};
	if (api_init(&d->api, &d->loop, d->st, d->rn, &ac) != 0)
		return -1;
	api_add_metrics(d->api, metrics_process, NULL);
	api_add_metrics(d->api, raftnode_metrics, d->rn);
	return api_start(d->api);
}

static int open_layers(daemon_t *d)
{
	config *c = &d->cfg;
	char path[4096];
	if (make_dir(c->data_dir) != 0)
		return -1;
	client_tls_warn_plain(c);
	/* bad TLS files stop the start before the host makes an identity */
	if ((c->cert_file || c->key_file || c->auto_tls) &&
	    client_tls_open(c, &d->client_tls) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/store", c->data_dir);
	store_config sc = {.history_window = c->history_window};
	if (store_open(&d->st, path, &sc) != 0) {
		log_error("main", "cannot open the store in %s", path);
		return -1;
	}
	if (open_raft(d) != 0 || open_api(d) != 0)
		return -1;
	char host_ip[64];
	if (c->advertise)
		snprintf(host_ip, sizeof(host_ip), "%s", c->advertise);
	else
		url_host(c->initial_advertise_peer_urls, host_ip,
			 sizeof(host_ip));
	if (c->datapath) {
		dp_config dc = {.host_ip = host_ip, .resync_ms = 10000};
		if (dp_init(&d->dp, &d->loop, d->st, d->rn, &dc) != 0 ||
		    dp_start(d->dp) != 0)
			return -1;
		api_add_metrics(d->api, dp_metrics, d->dp);
	}
	return open_ctl(d, host_ip);
}

int main(int argc, char **argv)
{
	static daemon_t d;
	if (config_parse(&d.cfg, argc, argv) != 0)
		return 2;
	if (d.cfg.show_help) {
		config_usage();
		return 0;
	}
	if (d.cfg.show_version) {
		printf("ovld Version: %s\netcd Version: 3.4.0\n"
		       "API: etcd v2 keys, members and stats\n",
		       OVLD_VERSION);
		return 0;
	}
	int level = log_parse_level(d.cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "ovld: bad value '%s' for --log-level\n",
			d.cfg.log_level);
		return 2;
	}
	log_set_level(level);
	signal(SIGPIPE, SIG_IGN);
	/* Snapshot buffers are tens of MiB: serve them from mmap so they go
	 * back to the kernel, instead of staying in per-thread arenas. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	uv_loop_init(&d.loop);
	if (open_layers(&d) != 0)
		return 1;
	uv_signal_init(&d.loop, &d.sigint);
	uv_signal_init(&d.loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	log_info("main", "ovld %s serving %s as %s", OVLD_VERSION,
		 d.cfg.listen_client_urls, d.cfg.name);
	uv_timer_init(&d.loop, &d.ready_poll);
	d.ready_poll.data = &d;
	uv_timer_start(&d.ready_poll, on_ready_poll, 0, 10);
	uv_unref((uv_handle_t *)&d.ready_poll);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	store_close(d.st);
	SSL_CTX_free(d.client_tls);
	config_free(&d.cfg);
	log_info("main", "stopped");
	return 0;
}
