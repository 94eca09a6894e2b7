/* cni.h - the CNI plugin `ovl`'s pure parts: decoding the runtime's
 * config (stdin) and environment into one request, and rendering results
 * and errors in the shape of the spec version the runtime asked for.
 *
 * Nothing here does I/O, so the unit tests and the fuzzer drive it
 * directly; ovl.c does the talking to ovld and to the kernel. */
#ifndef OVLD_CNI_H
#define OVLD_CNI_H

#include <jansson.h>
#include <stddef.h>

/* Error codes of the CNI specification (section "Error"), then ovl's own
 * (100+). */
enum {
	CNI_ERR_VERSION = 1,	  /* incompatible CNI version */
	CNI_ERR_FIELD = 2,	  /* unsupported field in the config */
	CNI_ERR_CONTAINER = 3,	  /* container unknown or does not exist */
	CNI_ERR_ENV = 4,	  /* invalid environment variables */
	CNI_ERR_IO = 5,		  /* I/O failure */
	CNI_ERR_DECODE = 6,	  /* failed to decode content */
	CNI_ERR_CONFIG = 7,	  /* invalid network config */
	CNI_ERR_TRY_AGAIN = 11,	  /* transient: ovld down, no leader */
	CNI_ERR_OVLD = 100,	  /* ovld refused for another reason */
	CNI_ERR_EXISTS = 101,	  /* the endpoint name is taken */
	CNI_ERR_FULL = 102,	  /* the network has no free address */
	CNI_ERR_NO_NETWORK = 103, /* ovld has no such network */
	CNI_ERR_INVALID = 104,	  /* ovld found the request invalid */
	CNI_ERR_CHECK = 105,	  /* CHECK found a difference */
};

enum cni_cmd { CNI_ADD, CNI_DEL, CNI_CHECK, CNI_VERSION };

/* Spec versions the plugin speaks, oldest first; CNI_V_NONE: unknown. */
enum cni_ver { CNI_V030, CNI_V031, CNI_V040, CNI_V100, CNI_V_NONE };
#define CNI_V_LATEST CNI_V100

typedef struct cni_error {
	int code;
	char msg[256];
	char details[512];
} cni_error;

/* The environment as the runtime set it; NULL for unset variables. */
typedef struct cni_env {
	const char *command;	 /* CNI_COMMAND */
	const char *containerid; /* CNI_CONTAINERID */
	const char *netns;	 /* CNI_NETNS */
	const char *ifname;	 /* CNI_IFNAME */
	const char *args;	 /* CNI_ARGS, "A=B;C=D" */
	const char *socket;	 /* OVLD_CONTROL_SOCKET */
} cni_env;

#define CNI_DEFAULT_SOCKET "/run/ovld/ovld.sock"

typedef struct cni_req {
	enum cni_cmd cmd;
	enum cni_ver version; /* the config's cniVersion */
	char name[256];	      /* the config's network name */
	char network[256];    /* ovld network: "network", else name */
	char socket[1024];    /* "unix:PATH" or "http://..." for httpc */
	char container[128];  /* CNI_CONTAINERID */
	char netns[1024];     /* CNI_NETNS, "" when unset (DEL) */
	char ifname[16];      /* CNI_IFNAME */
	char endpoint[256];   /* ovld endpoint name (see cni_endpoint_name) */
	char ip[16];	      /* a fixed IPv4 address asked for, or "" */
	char mac[18];	      /* a fixed MAC asked for, or "" */
	json_t *prev;	      /* prevResult, a reference, or NULL */
} cni_req;

const char *cni_version_str(enum cni_ver v);
enum cni_ver cni_version_parse(const char *s);

/* Decodes stdin's config and the environment. 0 on success (free with
 * cni_req_free); -1 with err filled in with the spec's code. For VERSION
 * only the command is decoded: a runtime may send anything then. */
int cni_parse(const char *conf, size_t len, const cni_env *env, cni_req *req,
	      cni_error *err);
void cni_req_free(cni_req *req);

/* The endpoint's name in ovld, unique per network cluster-wide:
 * "POD.NAMESPACE" when CNI_ARGS has K8S_POD_NAME and K8S_POD_NAMESPACE,
 * "POD" with only the name (podman passes its container name so), else
 * the container id. 0, or -1 with err (code 4) when CNI_ARGS is bad. */
int cni_endpoint_name(const char *args, const char *container, char *out,
		      size_t outsz, cni_error *err);

/* ADD's fixed address and MAC, if asked for: runtimeConfig's "ips" and
 * "mac" (capabilities), else CNI_ARGS IP= and MAC=. Fills req->ip and
 * req->mac; -1 with code 2 for what ovl cannot give (IPv6, several). */
int cni_parse_static(json_t *conf, const char *args, cni_req *req,
		     cni_error *err);

/* KEY's value in CNI_ARGS ("A=B;C=D"): 1 found, 0 absent, -1 malformed.
 */
int cni_arg_get(const char *args, const char *key, const char **val,
		size_t *vlen);

/* What ovld told us about an endpoint, as the result needs it. */
typedef struct cni_ep {
	const char *ifname;
	const char *mac;
	int mtu;
	const char *netns;
	const char *address; /* CIDR */
} cni_ep;

/* Decodes ovld's ENDPOINT JSON; the strings point into ep_json. */
int cni_ep_from_json(json_t *ep_json, cni_ep *ep);

/* The ADD result in version v's shape (a new reference). */
json_t *cni_result(enum cni_ver v, const cni_ep *ep);
/* The spec's error object; version_str NULL: the latest. */
json_t *cni_error_json(const char *version_str, const cni_error *err);
/* ovld's error (HTTP status, "code" of its error body) as a CNI code. */
int cni_code_from_ovld(int status, const char *code);
/* VERSION's answer. */
json_t *cni_version_json(void);

/* Sets err; printf-style message, details may be NULL. */
void cni_fail(cni_error *err, int code, const char *details, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));

#endif
