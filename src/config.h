/* config.h - ovld's command line, with etcd's flag names where they overlap
 * so ovld drops into etcd's scripts and units. */
#ifndef OVLD_CONFIG_H
#define OVLD_CONFIG_H

typedef struct config {
	char *name;
	char *data_dir;
	char *listen_client_urls;
	char *advertise_client_urls;
	char *listen_peer_urls;
	char *initial_advertise_peer_urls;
	char *initial_cluster;
	char *initial_cluster_state;
	char *initial_cluster_token;
	char *join;	 /* host[:port] of a member's client API */
	char *advertise; /* this host's IP for peers, clients and VXLAN */
	char *log_level;
	unsigned max_voters;
	unsigned heartbeat_ms;
	unsigned election_ms;
	unsigned snapshot_count;
	unsigned endpoint_gc_s;
	unsigned history_window;
	int datapath; /* --datapath on|off */
	/* local sockets: a path, or "off"; NULL-free after parsing */
	char *control_socket;
	char *docker_plugin;
	char *docker_host; /* dockerd's API socket (DOCKER_HOST's form) */
	int docker_sync;   /* --docker-sync on|off */
	/* client API TLS, etcd's flags (pki_files) */
	char *cert_file, *key_file, *trusted_ca_file, *cipher_suites;
	int client_cert_auth, auto_tls;
	/* peer TLS, etcd's flags */
	char *peer_cert_file, *peer_key_file, *peer_trusted_ca_file;
	int peer_client_cert_auth, peer_auto_tls;
	char *token;		/* join token; else OVLD_TOKEN */
	unsigned cert_expiry_s; /* node certificates' lifetime (seconds) */
	unsigned netns_gc_s;
	/* which socket paths the user named (a default one that cannot be
	 * served is a warning; a named one is an error) */
	int control_socket_set, docker_plugin_set;
	int listen_client_urls_set; /* the user wrote the client URLs */
	int show_version;
	int show_help;
} config;

/* Parses argv into cfg (defaults first). Returns 0, or -1 after printing one
 * line to stderr. Strings in cfg are malloc'd; config_free releases them. */
int config_parse(config *cfg, int argc, char **argv);
void config_free(config *cfg);
void config_usage(void);

#endif
