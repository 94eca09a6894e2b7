/* fuzz_docker_plugin.c - libFuzzer target for the Docker plugin's request
 * parsing (dk_req_parse, every call) and the parsers of dockerd's network
 * inspect answers. Besides memory errors (ASan/UBSan) it checks that what
 * a parse accepts is safe to put in store keys and interface names: ids of
 * at most 64 hex digits, addresses without a /prefix.
 *
 * Input layout: byte 0 picks the call; the rest is the JSON body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker/dk_int.h"

static void check_id(const char *id, int required)
{
	size_t n = strlen(id);
	if ((required && n == 0) || n > 64 ||
	    strspn(id, "0123456789abcdefABCDEF") != n)
		abort();
}

static void check_req(dk_call c, const dk_req *r)
{
	int net = c >= DK_NET_CREATE && c <= DK_EP_DELETE;
	check_id(r->network_id, net);
	check_id(r->endpoint_id,
		 net && c != DK_NET_CREATE && c != DK_NET_DELETE);
	if (strchr(r->address, '/') || strchr(r->gateway, '/'))
		abort();
}

static void inspect(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	dk_dnet n;
	dk_dep ep;
	if (!doc)
		return;
	dk_dnet_parse(doc, &n);
	if (dk_dep_find(doc, "ab", &ep) == 0 && strlen(ep.name) >= 256)
		abort();
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	dk_call c = (dk_call)(data[0] % (DK_ADDR_REL + 1));
	dk_req r;
	char msg[256];
	if (dk_req_parse(c, (const char *)data + 1, size - 1, &r, msg,
			 sizeof(msg)) == 0)
		check_req(c, &r);
	inspect(data + 1, size - 1);
	return 0;
}
