/* fuzz_cni_config.c - libFuzzer target for the CNI plugin's decoding of
 * the runtime's config and environment (cni_parse, cni_endpoint_name) and
 * the JSON it prints back. Besides memory errors (ASan/UBSan) it checks
 * invariants: a refusal carries one of the spec's codes and renders as an
 * error object that parses back; an accepted request has a known version,
 * a valid interface name, an absolute netns (but for DEL), a socket URL,
 * an endpoint name of [a-zA-Z0-9_.-], a fixed address that is IPv4 and a
 * fixed MAC of 17 bytes; its result renders and parses.
 *
 * Input layout: byte 0 picks the command; the rest is split at NUL bytes
 * into the config, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and
 * OVLD_CONTROL_SOCKET (a missing field is an unset variable). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

static const char *next_field(const char **p, const char *end, char **own)
{
	if (*p >= end) {
		*own = NULL;
		return NULL;
	}
	const char *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t len = (size_t)((nul ? nul : end) - *p);
	/* not strndup: the fuzzer's bytes end without a NUL, and ASan's
	 * strict_string_checks reads a strndup source as a whole string */
	*own = malloc(len + 1);
	if (!*own)
		abort();
	memcpy(*own, *p, len);
	(*own)[len] = '\0';
	*p = nul ? nul + 1 : end;
	return *own;
}

static void check_json_roundtrip(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!s)
		abort();
	json_t *back = json_loads(s, 0, NULL);
	if (!json_is_object(back))
		abort();
	json_decref(back);
	free(s);
}

static void check_refusal(const cni_error *err)
{
	static const int codes[] = {CNI_ERR_VERSION, CNI_ERR_FIELD, CNI_ERR_ENV,
				    CNI_ERR_DECODE, CNI_ERR_CONFIG};
	int known = 0;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		known |= err->code == codes[i];
	if (!known || !err->msg[0])
		abort();
	json_t *j = cni_error_json(NULL, err);
	check_json_roundtrip(j);
	json_decref(j);
}

static void check_request(const cni_req *r)
{
	if (r->cmd == CNI_VERSION)
		return;
	if (r->version >= CNI_V_NONE || !r->name[0] || !r->network[0])
		abort();
	size_t n = strlen(r->ifname);
	if (n == 0 || n > 15 || strchr(r->ifname, '/'))
		abort();
	if (r->cmd != CNI_DEL && r->netns[0] != '/')
		abort();
	if (strncmp(r->socket, "unix:", 5) && strncmp(r->socket, "http://", 7))
		abort();
	if (!isalnum((unsigned char)r->endpoint[0]))
		abort();
	for (const char *c = r->endpoint; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
			abort();
	struct in_addr a;
	if (r->ip[0] && inet_pton(AF_INET, r->ip, &a) != 1)
		abort();
	if (r->mac[0] && strlen(r->mac) != 17)
		abort();
	cni_ep ep = {r->ifname, "02:42:0a:00:00:02", 1450, r->netns,
		     "10.0.0.2/24"};
	json_t *res = cni_result(r->version, &ep);
	check_json_roundtrip(res);
	json_decref(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cmds[] = {"ADD",     "DEL", "CHECK",
					   "VERSION", NULL,  "add"};
	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1,
		   *end = (const char *)data + size;
	char *own[7];
	const char *conf = next_field(&p, end, &own[0]);
	cni_env env = {.command = cmds[data[0] % 6]};
	env.containerid = next_field(&p, end, &own[1]);
	env.netns = next_field(&p, end, &own[2]);
	env.ifname = next_field(&p, end, &own[3]);
	env.args = next_field(&p, end, &own[4]);
	env.socket = next_field(&p, end, &own[5]);
	cni_req req;
	cni_error err;
	if (cni_parse(conf ? conf : "", conf ? strlen(conf) : 0, &env, &req,
		      &err) < 0) {
		check_refusal(&err);
	} else {
		check_request(&req);
		cni_req_free(&req);
	}
	for (int i = 0; i < 6; i++)
		free(own[i]);
	return 0;
}
