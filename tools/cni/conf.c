/* conf.c - decoding the CNI runtime's config (stdin) and environment into
 * one cni_req. Every refusal carries the spec's error code, so runtimes
 * can tell a version mismatch (1) from a broken config (6, 7) or a bad
 * environment (4). */
#include "cni.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

const char *cni_version_str(enum cni_ver v)
{
	return v < CNI_V_NONE ? versions[v] : "";
}

enum cni_ver cni_version_parse(const char *s)
{
	for (int v = 0; v < CNI_V_NONE; v++)
		if (s && strcmp(s, versions[v]) == 0)
			return (enum cni_ver)v;
	return CNI_V_NONE;
}

static int valid_utf8(const char *s)
{
	json_t *t = json_string(s); /* jansson refuses bad UTF-8 */
	json_decref(t);
	return t != NULL;
}

/* Messages quote the runtime's input, and the error must still print as
 * JSON: bytes of broken UTF-8 (or of a sequence the buffer cut) become
 * '?'. */
static void make_printable(char *s)
{
	if (valid_utf8(s))
		return;
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			*s = '?';
}

void cni_fail(cni_error *err, int code, const char *details, const char *fmt,
	      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	snprintf(err->details, sizeof(err->details), "%s",
		 details ? details : "");
	make_printable(err->msg);
	make_printable(err->details);
}

static int parse_command(const char *s, enum cni_cmd *cmd, cni_error *err)
{
	static const char *const names[] = {"ADD", "DEL", "CHECK", "VERSION"};
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*cmd = (enum cni_cmd)i;
			return 0;
		}
	cni_fail(err, CNI_ERR_ENV, NULL,
		 "CNI_COMMAND %s%s%s is not ADD, DEL, CHECK or VERSION",
		 s ? "\"" : "", s ? s : "is unset:", s ? "\"" : "");
	return -1;
}

/* Copies a non-empty string that fits; refuses control bytes and broken
 * UTF-8 because the value ends up in paths, ovld's records and JSON. */
static int copy_str(char *dst, size_t dstsz, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n == 0 || n >= dstsz || !valid_utf8(src))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
			return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Linux interface names: 1-15 bytes, no '/', ':' or spaces, not "." or
 * "..", and (narrower than Linux) printable ASCII, as runtimes use. */
static int valid_ifname(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '/' || s[i] == ':')
			return 0;
	return 1;
}

static int parse_env(const cni_env *env, cni_req *req, cni_error *err)
{
	if (copy_str(req->container, sizeof(req->container), env->containerid) <
	    0) {
		cni_fail(err, CNI_ERR_ENV, NULL,
			 "CNI_CONTAINERID must be set (1-127 printable bytes)");
		return -1;
	}
	if (!valid_ifname(env->ifname)) {
		cni_fail(err, CNI_ERR_ENV, env->ifname,
			 "CNI_IFNAME must be a Linux interface name "
			 "(1-15 printable ASCII bytes, no '/', ':' or spaces)");
		return -1;
	}
	snprintf(req->ifname, sizeof(req->ifname), "%s", env->ifname);
	/* DEL may come without a namespace (it is gone); the others need it */
	if (env->netns && *env->netns &&
	    copy_str(req->netns, sizeof(req->netns), env->netns) < 0) {
		cni_fail(err, CNI_ERR_ENV, NULL, "CNI_NETNS is not a path");
		return -1;
	}
	if (req->cmd != CNI_DEL && req->netns[0] != '/') {
		cni_fail(err, CNI_ERR_ENV, req->netns,
			 "CNI_NETNS must be an absolute namespace path");
		return -1;
	}
	return cni_endpoint_name(env->args, req->container, req->endpoint,
				 sizeof(req->endpoint), err);
}

static const char *get_str(json_t *o, const char *key, int *bad)
{
	json_t *v = json_object_get(o, key);
	if (v && !json_is_string(v))
		*bad = 1;
	return json_string_value(v);
}

static int parse_version(json_t *o, cni_req *req, cni_error *err)
{
	int bad = 0;
	const char *ver = get_str(o, "cniVersion", &bad);
	req->version = cni_version_parse(ver);
	if (req->version != CNI_V_NONE)
		return 0;
	/* A config without cniVersion is 0.1.0 to the spec. */
	cni_fail(err, CNI_ERR_VERSION,
		 "plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0",
		 "incompatible CNI versions: config is \"%.32s\", plugin "
		 "supports [\"0.3.0\" \"0.3.1\" \"0.4.0\" \"1.0.0\"]",
		 bad   ? "(not a string)"
		 : ver ? ver
		       : "0.1.0");
	return -1;
}

/* Addresses come from ovld's pool; a config naming another IPAM plugin
 * would be silently ignored otherwise. */
static int refuse_ipam(json_t *o, cni_error *err)
{
	json_t *ipam = json_object_get(o, "ipam");
	if (!json_is_object(ipam) || !json_object_get(ipam, "type"))
		return 0;
	cni_fail(err, CNI_ERR_FIELD, "ipam",
		 "the ovl plugin takes no ipam: ovld allocates the addresses "
		 "from the network's subnet");
	return -1;
}

static int parse_names(json_t *o, cni_req *req, cni_error *err)
{
	int bad = 0;
	const char *name = get_str(o, "name", &bad);
	get_str(o, "type", &bad); /* the runtime picked us by it */
	const char *net = get_str(o, "network", &bad);
	get_str(o, "socket", &bad); /* read by parse_socket */
	if (bad) {
		cni_fail(err, CNI_ERR_CONFIG, NULL,
			 "name, type, network and socket must be strings");
		return -1;
	}
	if (copy_str(req->name, sizeof(req->name), name) < 0 ||
	    copy_str(req->network, sizeof(req->network), net ? net : name) <
		0) {
		cni_fail(
		    err, CNI_ERR_CONFIG, NULL,
		    "the config needs a name (and the network, when given, "
		    "1-255 printable bytes)");
		return -1;
	}
	return 0;
}

static int parse_socket(json_t *o, const cni_env *env, cni_req *req,
			cni_error *err)
{
	const char *s = json_string_value(json_object_get(o, "socket"));
	if (!s || !*s)
		s = env->socket && *env->socket ? env->socket
						: CNI_DEFAULT_SOCKET;
	/* httpc takes "unix:PATH" or "http://HOST:PORT"; bare paths are
	 * what users write. */
	int http = strncmp(s, "http://", 7) == 0;
	int unix_url = strncmp(s, "unix:", 5) == 0;
	if (!http && !unix_url && s[0] != '/') {
		cni_fail(err, CNI_ERR_CONFIG, s,
			 "socket must be an absolute path, unix:PATH or "
			 "http://HOST:PORT");
		return -1;
	}
	int n = snprintf(req->socket, sizeof(req->socket), "%s%s",
			 http || unix_url ? "" : "unix:", s);
	if (n < 0 || (size_t)n >= sizeof(req->socket)) {
		cni_fail(err, CNI_ERR_CONFIG, NULL, "socket path too long");
		return -1;
	}
	return 0;
}

static int parse_prev(json_t *o, cni_req *req, cni_error *err)
{
	json_t *prev = json_object_get(o, "prevResult");
	if (!prev || json_is_null(prev))
		return 0;
	if (!json_is_object(prev)) {
		cni_fail(err, CNI_ERR_DECODE, NULL,
			 "prevResult must be an object");
		return -1;
	}
	req->prev = json_incref(prev);
	return 0;
}

static int parse_config(json_t *o, const cni_env *env, cni_req *req,
			cni_error *err)
{
	if (parse_version(o, req, err) < 0 || parse_names(o, req, err) < 0 ||
	    refuse_ipam(o, err) < 0 || parse_socket(o, env, req, err) < 0)
		return -1;
	/* CHECK arrived with spec 0.4.0; libcni never sends it for older. */
	if (req->cmd == CNI_CHECK && req->version < CNI_V040) {
		cni_fail(err, CNI_ERR_VERSION, cni_version_str(req->version),
			 "config version does not allow CHECK");
		return -1;
	}
	return parse_prev(o, req, err);
}

int cni_parse(const char *conf, size_t len, const cni_env *env, cni_req *req,
	      cni_error *err)
{
	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	req->version = CNI_V_NONE;
	if (parse_command(env->command, &req->cmd, err) < 0)
		return -1;
	if (req->cmd == CNI_VERSION)
		return 0;
	json_error_t jerr;
	json_t *o = json_loadb(conf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		cni_fail(err, CNI_ERR_DECODE, o ? "not an object" : jerr.text,
			 "cannot decode the network config from stdin");
		json_decref(o);
		return -1;
	}
	int rc = parse_config(o, env, req, err);
	if (rc == 0)
		rc = parse_env(env, req, err);
	if (rc == 0 && req->cmd == CNI_ADD)
		rc = cni_parse_static(o, env->args, req, err);
	json_decref(o);
	if (rc < 0)
		cni_req_free(req);
	return rc;
}

void cni_req_free(cni_req *req)
{
	json_decref(req->prev);
	req->prev = NULL;
}
