/* config.c - parse ovld's flags: "--flag value", "--flag=value", "-flag",
 * a repeated flag's last value wins, boolean flags need no value. */
#include "config.h"

#include "url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind { STR, UINT, DURATION, ONOFF, BOOL, IGNORED_BOOL, IGNORED_STR };

struct flag {
	const char *name;
	enum kind kind;
	size_t offset;
	const char *help;
};

#define F(field) offsetof(config, field)
static const struct flag flags[] = {
    {"name", STR, F(name), "human-readable name of this member"},
    {"data-dir", STR, F(data_dir), "path to the data directory"},
    {"listen-client-urls", STR, F(listen_client_urls),
     "URLs to serve the etcd v2 API on"},
    {"advertise-client-urls", STR, F(advertise_client_urls),
     "client URLs to publish in /v2/members"},
    {"listen-peer-urls", STR, F(listen_peer_urls),
     "URL the Raft transport listens on"},
    {"initial-advertise-peer-urls", STR, F(initial_advertise_peer_urls),
     "peer URL to advertise"},
    {"initial-cluster", STR, F(initial_cluster),
     "static bootstrap: name=http://IP:PORT,..."},
    {"initial-cluster-state", STR, F(initial_cluster_state), "new or existing"},
    {"initial-cluster-token", STR, F(initial_cluster_token),
     "cluster token (seeds the cluster id)"},
    {"join", STR, F(join), "HOST[:PORT] of any member's client API"},
    {"advertise", STR, F(advertise), "this host's IP for peers and VXLAN"},
    {"log-level", STR, F(log_level), "debug, info, warn or error"},
    {"max-voters", UINT, F(max_voters), "voters kept in the cluster"},
    {"heartbeat-interval", UINT, F(heartbeat_ms), "Raft heartbeat (ms)"},
    {"election-timeout", UINT, F(election_ms), "Raft election timeout (ms)"},
    {"snapshot-count", UINT, F(snapshot_count),
     "applied entries between snapshots"},
    {"endpoint-gc", UINT, F(endpoint_gc_s),
     "seconds before a down host's endpoints are collected"},
    {"history-window", UINT, F(history_window),
     "events kept for watches with waitIndex"},
    {"datapath", ONOFF, F(datapath), "on or off: program VXLAN"},
    {"control-socket", STR, F(control_socket),
     "unix socket of the local control API, or off"},
    {"docker-plugin", STR, F(docker_plugin),
     "unix socket of Docker's ovl network/IPAM plugin, or off"},
    {"docker-host", STR, F(docker_host),
     "dockerd's API (unix:///var/run/docker.sock; else DOCKER_HOST)"},
    {"docker-sync", ONOFF, F(docker_sync),
     "on or off: create ovld's networks in the local dockerd"},
    {"netns-gc", UINT, F(netns_gc_s),
     "seconds before an endpoint whose namespace vanished is released"},
    {"cert-file", STR, F(cert_file), "client API TLS certificate (PEM)"},
    {"key-file", STR, F(key_file), "client API TLS key (PEM)"},
    {"trusted-ca-file", STR, F(trusted_ca_file),
     "CA of client certificates; set, clients must present one"},
    {"client-cert-auth", BOOL, F(client_cert_auth),
     "require client certificates; their CN names the v2 auth user"},
    {"auto-tls", BOOL, F(auto_tls),
     "client API TLS with a self-signed certificate"},
    {"cipher-suites", STR, F(cipher_suites),
     "TLS 1.2 suites in Go's names, comma-separated (caps TLS at 1.2)"},
    {"peer-cert-file", STR, F(peer_cert_file), "peer TLS certificate (PEM)"},
    {"peer-key-file", STR, F(peer_key_file), "peer TLS key (PEM)"},
    {"peer-trusted-ca-file", STR, F(peer_trusted_ca_file),
     "CA of peer certificates"},
    {"peer-client-cert-auth", BOOL, F(peer_client_cert_auth),
     "accepted for etcd: the peer port always requires them"},
    {"peer-auto-tls", BOOL, F(peer_auto_tls),
     "accepted for etcd: the cluster CA certifies every host"},
    {"token", STR, F(token),
     "join token (default: $OVLD_TOKEN, which ps does not show)"},
    {"cert-expiry", DURATION, F(cert_expiry_s),
     "node certificates' lifetime: 90d (default), 12h, 30m, 45s"},
    {"version", BOOL, F(show_version), "print the version and exit"},
    {"help", BOOL, F(show_help), "print this help and exit"},
    {"enable-v2", IGNORED_BOOL, 0, "accepted: v2 is always on"},
    {"debug", IGNORED_BOOL, 0, "accepted for etcd compatibility"},
    {"auto-compaction-retention", IGNORED_STR, 0, "accepted, ignored"},
};
#undef F

static void set_defaults(config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = strdup("default");
	cfg->initial_cluster_state = strdup("new");
	cfg->initial_cluster_token = strdup("ovld-cluster");
	cfg->log_level = strdup("info");
	cfg->max_voters = 5;
	/* Faster than etcd's 100/1000: failover in well under a second on a
	 * LAN; pre-vote keeps a slow host from disrupting the leader. */
	cfg->heartbeat_ms = 50;
	cfg->election_ms = 300;
	cfg->snapshot_count = 10000;
	cfg->endpoint_gc_s = 600;
	cfg->history_window = 10000;
	cfg->datapath = 1;
	cfg->docker_sync = 1;
	cfg->netns_gc_s = 30;
	cfg->cert_expiry_s = 90 * 86400;
}

static const struct flag *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strlen(flags[i].name) == len &&
		    strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"1",    "t",    "T", "true",
				    "TRUE", "True", "on"};
	static const char *no[] = {"0",	    "f",     "F",  "false",
				   "FALSE", "False", "off"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

static int set_value(config *cfg, const struct flag *f, const char *v)
{
	char *base = (char *)cfg + f->offset;
	switch (f->kind) {
	case STR: {
		char **slot = (char **)base;
		free(*slot);
		*slot = strdup(v);
		return 0;
	}
	case UINT: {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno || n > 0xffffffffUL ||
		    v[0] == '-')
			return -1;
		*(unsigned *)base = (unsigned)n;
		return 0;
	}
	case DURATION: /* N days, or N with a unit: 90d, 12h, 30m, 45s */
	{
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		unsigned long unit = *end == '\0' || !strcmp(end, "d") ? 86400
				     : !strcmp(end, "h")	       ? 3600
				     : !strcmp(end, "m")	       ? 60
				     : !strcmp(end, "s")	       ? 1
								       : 0;
		if (*v == '\0' || v[0] == '-' || errno || unit == 0 ||
		    n > 0xffffffffUL / unit)
			return -1;
		*(unsigned *)base = (unsigned)(n * unit);
		return 0;
	}
	case ONOFF:
	case BOOL:
		return parse_bool(v, (int *)base);
	case IGNORED_BOOL: {
		int ignored;
		return parse_bool(v, &ignored);
	}
	case IGNORED_STR:
		return 0;
	}
	return -1;
}

static int takes_value(const struct flag *f)
{
	return f->kind != BOOL && f->kind != IGNORED_BOOL;
}

/* The local address the kernel would use to reach host: a UDP connect
 * sends nothing, it only picks a route. */
static int route_source_ip(const char *join, char *out, size_t outlen)
{
	char host[256];
	url_host(join, host, sizeof(host));
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
	struct addrinfo hints = {.ai_family = AF_INET}, *ai = NULL;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL)
		return -1;
	dst.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
	freeaddrinfo(ai);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in src;
	socklen_t len = sizeof(src);
	int rv = connect(fd, (struct sockaddr *)&dst, sizeof(dst));
	if (rv == 0)
		rv = getsockname(fd, (struct sockaddr *)&src, &len);
	close(fd);
	if (rv != 0 || inet_ntop(AF_INET, &src.sin_addr, out, outlen) == NULL)
		return -1;
	return 0;
}

static void set_default(char **slot, const char *fmt, const char *ip)
{
	if (*slot != NULL)
		return;
	size_t n = strlen(fmt) + strlen(ip) * 2 + 1;
	*slot = malloc(n);
	snprintf(*slot, n, fmt, ip, ip);
}

/* Fills in listen and advertise URLs the user left out. With an advertise
 * IP (given, or the source address towards --join) ovld serves on it and on
 * loopback; without one everything stays on loopback. */
static int derive_addresses(config *cfg)
{
	char ip[64];
	if (cfg->advertise == NULL && cfg->join != NULL) {
		if (route_source_ip(cfg->join, ip, sizeof(ip)) != 0) {
			fprintf(stderr,
				"ovld: --join %s: no IPv4 address with a route "
				"(use --advertise IP)\n",
				cfg->join);
			return -1;
		}
		cfg->advertise = strdup(ip);
	}
	const char *adv = cfg->advertise ? cfg->advertise : "127.0.0.1";
	struct in_addr probe;
	if (inet_pton(AF_INET, adv, &probe) != 1) {
		fprintf(stderr, "ovld: --advertise %s: not an IPv4 address\n",
			adv);
		return -1;
	}
	/* Secure by default: TLS (the node certificate) where the network
	 * can reach; loopback stays plain for local tools. */
	if (cfg->advertise && strcmp(adv, "127.0.0.1") != 0)
		set_default(&cfg->listen_client_urls,
			    "https://%s:2379,http://127.0.0.1:2379", adv);
	else
		set_default(&cfg->listen_client_urls, "http://%s:2379", adv);
	/* The peer port speaks only mutual TLS, whatever a URL's scheme says.
	 */
	set_default(&cfg->listen_peer_urls, "https://%s:2380", adv);
	if (cfg->advertise_client_urls == NULL) {
		/* The first listen URL is the reachable one. */
		cfg->advertise_client_urls = strdup(cfg->listen_client_urls);
		char *comma = strchr(cfg->advertise_client_urls, ',');
		if (comma)
			*comma = '\0';
	}
	if (cfg->initial_advertise_peer_urls == NULL)
		cfg->initial_advertise_peer_urls =
		    strdup(cfg->listen_peer_urls);
	return 0;
}

/* Defaults for the local sockets; "off" becomes NULL. dockerd is found as
 * the docker CLI finds it: DOCKER_HOST, else its standard socket. */
static int derive_sockets(config *cfg)
{
	cfg->control_socket_set = cfg->control_socket != NULL;
	cfg->docker_plugin_set = cfg->docker_plugin != NULL;
	if (!cfg->control_socket)
		cfg->control_socket = strdup("/run/ovld/ovld.sock");
	if (!cfg->docker_plugin)
		cfg->docker_plugin = strdup("/run/docker/plugins/ovl.sock");
	if (!cfg->docker_host) {
		const char *env = getenv("DOCKER_HOST");
		cfg->docker_host =
		    strdup(env && *env ? env : "unix:///var/run/docker.sock");
	}
	char **off[] = {&cfg->control_socket, &cfg->docker_plugin};
	for (size_t i = 0; i < 2; i++)
		if (strcmp(*off[i], "off") == 0) {
			free(*off[i]);
			*off[i] = NULL;
		}
	if (cfg->docker_sync && strncmp(cfg->docker_host, "unix://", 7)) {
		fprintf(stderr,
			"ovld: warning: dockerd's API '%s' is not a unix "
			"socket; the Docker sync is off\n",
			cfg->docker_host);
		cfg->docker_sync = 0;
	}
	return 0;
}

int config_parse(config *cfg, int argc, char **argv)
{
	set_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0') {
			fprintf(stderr, "ovld: unexpected argument '%s'\n",
				arg);
			return -1;
		}
		const char *name = arg + (arg[1] == '-' ? 2 : 1);
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct flag *f = find_flag(name, len);
		if (f == NULL) {
			fprintf(stderr,
				"ovld: unknown flag '%s' (see --help)\n", arg);
			return -1;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (value == NULL && takes_value(f)) {
			if (i + 1 >= argc) {
				fprintf(stderr,
					"ovld: flag --%s needs a value\n",
					f->name);
				return -1;
			}
			value = argv[++i];
		}
		if (value == NULL)
			value = "true";
		if (set_value(cfg, f, value) != 0) {
			fprintf(stderr, "ovld: bad value '%s' for --%s\n",
				value, f->name);
			return -1;
		}
	}
	cfg->listen_client_urls_set = cfg->listen_client_urls != NULL;
	if (derive_addresses(cfg) != 0 || derive_sockets(cfg) != 0)
		return -1;
	const char *env_token = getenv("OVLD_TOKEN");
	if (!cfg->token && env_token && *env_token)
		cfg->token = strdup(env_token);
	if (cfg->data_dir == NULL) {
		size_t n = strlen(cfg->name) + 6;
		cfg->data_dir = malloc(n);
		snprintf(cfg->data_dir, n, "%s.ovld", cfg->name);
	}
	if (strcmp(cfg->initial_cluster_state, "new") != 0 &&
	    strcmp(cfg->initial_cluster_state, "existing") != 0) {
		fprintf(stderr,
			"ovld: bad value '%s' for --initial-cluster-state "
			"(new or existing)\n",
			cfg->initial_cluster_state);
		return -1;
	}
	if (cfg->heartbeat_ms == 0 ||
	    cfg->election_ms < 2 * cfg->heartbeat_ms) {
		fprintf(stderr, "ovld: --election-timeout must be at least "
				"twice --heartbeat-interval\n");
		return -1;
	}
	if (cfg->max_voters == 0) {
		fprintf(stderr, "ovld: --max-voters must be at least 1\n");
		return -1;
	}
	if (cfg->cert_expiry_s < 30) {
		fprintf(stderr, "ovld: --cert-expiry must be at least 30s\n");
		return -1;
	}
	return 0;
}

void config_free(config *cfg)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].kind == STR)
			free(*(char **)((char *)cfg + flags[i].offset));
}

void config_usage(void)
{
	printf("Usage: ovld [flags]\n\nFlags (--flag value, --flag=value or "
	       "-flag value):\n");
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		printf("  --%-30s %s\n", flags[i].name, flags[i].help);
}
