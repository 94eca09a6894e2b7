/* fuzz_params.c - libFuzzer target for the API's request decoding and JSON
 * string escaping: percent-decoding, query/form parsing, the /v2/keys
 * request mapping, and api_json_str. Besides memory errors (ASan/UBSan) it
 * checks invariants: a parsed key path is absolute and clean, parse errors
 * carry an etcd 2xx code, and escaped JSON strings hold no raw control bytes or
 * <, >, &.
 *
 * Input layout: byte 0 picks the method; the rest is split at NUL bytes
 * into raw path, query, content type and body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "api/params.h"

static const char *next_field(const char **p, const char *end, size_t *len)
{
	const char *start = *p;
	const char *nul = start < end ? memchr(start, '\0', end - start) : NULL;
	const char *stop = nul ? nul : end;
	*len = (size_t)(stop - start);
	*p = nul ? nul + 1 : end;
	return start;
}

static void check_path(const char *path)
{
	size_t n = strlen(path);
	if (path[0] != '/')
		abort();
	if (n > 1 && path[n - 1] == '/')
		abort();
	if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
		abort();
}

static void check_json_string(const char *s, size_t n)
{
	abuf b;
	abuf_init(&b);
	api_json_str(&b, s, n);
	if (!abuf_ok(&b) || b.len < 2 || b.p[0] != '"' || b.p[b.len - 1] != '"')
		abort();
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.p[i];
		if (c < 0x20 || c == '<' || c == '>' || c == '&')
			abort();
	}
	abuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int methods[] = {API_METHOD_GET, API_METHOD_HEAD,
				      API_METHOD_PUT, API_METHOD_POST,
				      API_METHOD_DELETE};
	if (size < 1)
		return 0;
	int m = methods[data[0] % 5];
	const char *p = (const char *)data + 1,
		   *end = (const char *)data + size;
	size_t plen, qlen, clen, blen;
	const char *path = next_field(&p, end, &plen);
	const char *query = next_field(&p, end, &qlen);
	const char *ctype = next_field(&p, end, &clen);
	const char *body = next_field(&p, end, &blen);

	api_keys_req r;
	api_perr err;
	if (api_keys_parse(&r, m, path, plen, query, qlen, ctype, clen, body,
			   blen, 1700000000000000000LL, &err) == 0) {
		check_path(r.path);
		if (r.cmd.op && (r.cmd.path != r.path || !r.cmd.value))
			abort();
		for (int i = 0; i < API_PARAM_COUNT; i++)
			if (r.params.val[i] &&
			    strlen(r.params.val[i]) > r.params.len[i])
				abort();
		api_keys_req_free(&r);
	} else if (err.code < 200 || (err.code > 212 && err.code != 300)) {
		abort();
	}

	char *out = malloc(size + 1);
	size_t olen;
	if (out &&
	    api_pct_decode((const char *)data, size, 1, out, &olen, &err) ==
		0 &&
	    olen > size)
		abort();
	free(out);
	check_json_string((const char *)data, size);
	return 0;
}
