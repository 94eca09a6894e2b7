/* params.c - etcd v2 request decoding (see params.h). Mirrors the order in
 * which etcd's parseKeyRequest checks things, so the first error reported
 * for a request with several problems matches etcd's. */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const param_names[API_PARAM_COUNT] = {
    [API_PARAM_VALUE] = "value",
    [API_PARAM_TTL] = "ttl",
    [API_PARAM_DIR] = "dir",
    [API_PARAM_PREV_EXIST] = "prevExist",
    [API_PARAM_PREV_VALUE] = "prevValue",
    [API_PARAM_PREV_INDEX] = "prevIndex",
    [API_PARAM_REFRESH] = "refresh",
    [API_PARAM_NO_VALUE] = "noValueOnSuccess",
    [API_PARAM_RECURSIVE] = "recursive",
    [API_PARAM_SORTED] = "sorted",
    [API_PARAM_QUORUM] = "quorum",
    [API_PARAM_WAIT] = "wait",
    [API_PARAM_WAIT_INDEX] = "waitIndex",
    [API_PARAM_STREAM] = "stream",
};

const char *api_param_name(int id)
{
	return id >= 0 && id < API_PARAM_COUNT ? param_names[id] : "";
}

int api_method_parse(const char *m, size_t n)
{
	static const struct {
		const char *name;
		int id;
	} tab[] = {{"GET", API_METHOD_GET},
		   {"HEAD", API_METHOD_HEAD},
		   {"PUT", API_METHOD_PUT},
		   {"POST", API_METHOD_POST},
		   {"DELETE", API_METHOD_DELETE}};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == n && memcmp(tab[i].name, m, n) == 0)
			return tab[i].id;
	return API_METHOD_OTHER;
}

static void set_err(api_perr *err, int code, const char *fmt, const char *arg,
		    size_t arglen)
{
	if (!err)
		return;
	err->code = code;
	snprintf(err->cause, sizeof(err->cause), fmt, (int)arglen, arg);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int api_pct_decode(const char *s, size_t n, int form, char *out, size_t *outlen,
		   api_perr *err)
{
	size_t o = 0, i = 0;
	while (i < n) {
		/* Values are mostly plain runs: copy them whole. */
		size_t j = i;
		while (j < n && s[j] != '%' && s[j] != '+')
			j++;
		memcpy(out + o, s + i, j - i);
		o += j - i;
		i = j;
		if (i == n)
			break;
		if (s[i] == '+') {
			out[o++] = form ? ' ' : '+';
			i++;
			continue;
		}
		int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
		int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			/* Go quotes at most the three bytes of the broken
			 * escape. */
			size_t l = n - i < 3 ? n - i : 3;
			set_err(err, 210, "invalid URL escape \"%.*s\"", s + i,
				l);
			return -1;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 3;
	}
	*outlen = o;
	return 0;
}

static int param_lookup(const char *name, size_t n)
{
	for (int i = 0; i < API_PARAM_COUNT; i++)
		if (strlen(param_names[i]) == n &&
		    memcmp(param_names[i], name, n) == 0)
			return i;
	return -1;
}

/* Decodes one "name=value" pair into p unless the name is already set. */
static int params_pair(api_params *p, const char *s, size_t n, api_perr *err)
{
	const char *eq = memchr(s, '=', n);
	size_t klen = eq ? (size_t)(eq - s) : n;
	const char *v = eq ? eq + 1 : s + n;
	size_t vlen = eq ? n - klen - 1 : 0;
	char *key = malloc(klen + 1);
	if (!key) {
		set_err(err, 300, "%.*s", "out of memory", 13);
		return -1;
	}
	size_t kdec;
	int rc = api_pct_decode(s, klen, 1, key, &kdec, err);
	int id = rc == 0 ? param_lookup(key, kdec) : -1;
	free(key);
	if (rc != 0)
		return -1;
	char *val = malloc(vlen + 1);
	if (!val) {
		set_err(err, 300, "%.*s", "out of memory", 13);
		return -1;
	}
	size_t vdec;
	/* Go decodes (and rejects) every value, even of unknown names. */
	if (api_pct_decode(v, vlen, 1, val, &vdec, err) != 0) {
		free(val);
		return -1;
	}
	if (id < 0 || p->val[id]) {
		free(val);
		return 0;
	}
	val[vdec] = '\0';
	p->val[id] = val;
	p->len[id] = vdec;
	return 0;
}

int api_params_parse(api_params *p, const char *s, size_t n, api_perr *err)
{
	size_t i = 0;
	while (i < n) {
		const char *amp = memchr(s + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - s) : n;
		if (end > i && params_pair(p, s + i, end - i, err) != 0)
			return -1;
		i = end + 1;
	}
	return 0;
}

void api_params_free(api_params *p)
{
	for (int i = 0; i < API_PARAM_COUNT; i++) {
		free(p->val[i]);
		p->val[i] = NULL;
		p->len[i] = 0;
	}
}

int api_parse_bool(const char *s, size_t n)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0",	 "f",	  "F",
					"FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (strlen(t[i]) == n && memcmp(t[i], s, n) == 0)
			return 1;
		if (strlen(f[i]) == n && memcmp(f[i], s, n) == 0)
			return 0;
	}
	return -1;
}

int api_parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int api_is_form_type(const char *ctype, size_t n)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t i = 0;
	while (i < n && (ctype[i] == ' ' || ctype[i] == '\t'))
		i++;
	size_t wl = sizeof(want) - 1;
	if (n - i < wl || strncasecmp(ctype + i, want, wl) != 0)
		return 0;
	i += wl;
	while (i < n && (ctype[i] == ' ' || ctype[i] == '\t'))
		i++;
	return i == n || ctype[i] == ';';
}

/* A boolean parameter: absent is 0; present but not a boolean is 209. */
static int get_bool(const api_params *p, int id, int *out, api_perr *err)
{
	*out = 0;
	if (!p->val[id])
		return 0;
	int b = api_parse_bool(p->val[id], p->len[id]);
	if (b < 0) {
		const char *name = api_param_name(id);
		set_err(err, 209, "invalid value for \"%.*s\"", name,
			strlen(name));
		return -1;
	}
	*out = b;
	return 0;
}

static int get_u64(const api_params *p, int id, int code, uint64_t *out,
		   api_perr *err)
{
	*out = 0;
	if (!p->val[id])
		return 0;
	if (api_parse_u64(p->val[id], p->len[id], out) != 0) {
		const char *name = api_param_name(id);
		set_err(err, code, "invalid value for \"%.*s\"", name,
			strlen(name));
		return -1;
	}
	return 0;
}

static int decode_path(api_keys_req *r, const char *raw, size_t n,
		       api_perr *err)
{
	char *dec = malloc(n + 1);
	size_t dlen;
	if (!dec) {
		set_err(err, 300, "%.*s", "out of memory", 13);
		return -1;
	}
	if (api_pct_decode(raw, n, 0, dec, &dlen, err) != 0) {
		free(dec);
		return -1;
	}
	/* Keys are C strings in the store: an embedded NUL cannot be kept. */
	if (memchr(dec, '\0', dlen)) {
		free(dec);
		set_err(err, 210, "%.*s", "invalid key: contains NUL", 25);
		return -1;
	}
	r->path = store_clean_path(dec, dlen);
	free(dec);
	if (!r->path) {
		set_err(err, 300, "%.*s", "out of memory", 13);
		return -1;
	}
	return 0;
}

static int parse_sources(api_keys_req *r, const char *query, size_t qlen,
			 const char *ctype, size_t clen, const char *body,
			 size_t blen, api_perr *err)
{
	int has_body =
	    r->method == API_METHOD_PUT || r->method == API_METHOD_POST;
	/* The body is parsed first so that it wins over the query. */
	if (has_body && body && ctype && api_is_form_type(ctype, clen) &&
	    api_params_parse(&r->params, body, blen, err) != 0)
		return -1;
	return api_params_parse(&r->params, query, qlen, err);
}

static int parse_flags(api_keys_req *r, api_perr *err)
{
	const api_params *p = &r->params;
	if (get_u64(p, API_PARAM_PREV_INDEX, 203, &r->cmd.prev_index, err) ||
	    get_u64(p, API_PARAM_WAIT_INDEX, 203, &r->wait_index, err) ||
	    get_bool(p, API_PARAM_RECURSIVE, &r->recursive, err) ||
	    get_bool(p, API_PARAM_SORTED, &r->sorted, err) ||
	    get_bool(p, API_PARAM_WAIT, &r->wait, err) ||
	    get_bool(p, API_PARAM_DIR, &r->cmd.dir, err) ||
	    get_bool(p, API_PARAM_QUORUM, &r->quorum, err) ||
	    get_bool(p, API_PARAM_STREAM, &r->stream, err))
		return -1;
	if (r->wait && r->method != API_METHOD_GET) {
		set_err(err, 209, "%.*s",
			"\"wait\" can only be used with GET requests", 41);
		return -1;
	}
	if (p->val[API_PARAM_PREV_VALUE] && p->len[API_PARAM_PREV_VALUE] == 0) {
		set_err(err, 201, "%.*s", "\"prevValue\" cannot be empty", 27);
		return -1;
	}
	return get_bool(p, API_PARAM_NO_VALUE, &r->no_value, err);
}

static int64_t ttl_expiry(uint64_t ttl, int64_t now_ns)
{
	const int64_t sec = 1000000000;
	if (ttl > (uint64_t)((INT64_MAX - now_ns) / sec))
		return INT64_MAX;
	return now_ns + (int64_t)ttl * sec;
}

static int parse_write(api_keys_req *r, int64_t now_ns, api_perr *err)
{
	const api_params *p = &r->params;
	store_cmd *c = &r->cmd;
	uint64_t ttl = 0;
	/* ttl= (empty) is "no TTL", which makes an updated key permanent. */
	int has_ttl = p->val[API_PARAM_TTL] && p->len[API_PARAM_TTL] > 0;
	if (has_ttl && get_u64(p, API_PARAM_TTL, 202, &ttl, err))
		return -1;
	c->prev_exist = -1;
	if (p->val[API_PARAM_PREV_EXIST]) {
		int b = api_parse_bool(p->val[API_PARAM_PREV_EXIST],
				       p->len[API_PARAM_PREV_EXIST]);
		/* etcd quotes the name for most fields but not these two. */
		if (b < 0) {
			set_err(err, 209, "%.*s", "invalid value for prevExist",
				27);
			return -1;
		}
		c->prev_exist = b;
	}
	if (p->val[API_PARAM_REFRESH]) {
		c->refresh = api_parse_bool(p->val[API_PARAM_REFRESH],
					    p->len[API_PARAM_REFRESH]);
		if (c->refresh < 0) {
			set_err(err, 209, "%.*s", "invalid value for refresh",
				25);
			return -1;
		}
		if (c->refresh && p->val[API_PARAM_VALUE] &&
		    p->len[API_PARAM_VALUE] > 0) {
			set_err(err, 211, "%.*s",
				"A value was provided on a refresh", 33);
			return -1;
		}
		if (c->refresh && !has_ttl) {
			set_err(err, 212, "%.*s", "No TTL value set", 16);
			return -1;
		}
	}
	c->now_ns = now_ns;
	c->expire_ns = has_ttl ? ttl_expiry(ttl, now_ns) : 0;
	c->path = r->path;
	c->path_len = strlen(r->path);
	if (p->val[API_PARAM_VALUE] && !c->dir) {
		c->value = p->val[API_PARAM_VALUE];
		c->value_len = p->len[API_PARAM_VALUE];
	} else {
		c->value = "";
		c->value_len = 0;
	}
	if (p->val[API_PARAM_PREV_VALUE]) {
		c->prev_value = p->val[API_PARAM_PREV_VALUE];
		c->prev_value_len = p->len[API_PARAM_PREV_VALUE];
	}
	if (r->method == API_METHOD_PUT)
		c->op = STORE_OP_PUT;
	else if (r->method == API_METHOD_POST)
		c->op = STORE_OP_POST;
	else if (r->method == API_METHOD_DELETE)
		c->op = STORE_OP_DELETE;
	else
		c->op = 0; /* reads: validated like etcd, nothing to propose */
	if (c->op == STORE_OP_DELETE) {
		c->recursive = r->recursive;
		if (c->recursive)
			c->dir = 1;
	}
	return 0;
}

int api_keys_parse(api_keys_req *r, int method, const char *rawpath,
		   size_t plen, const char *query, size_t qlen,
		   const char *ctype, size_t clen, const char *body,
		   size_t blen, int64_t now_ns, api_perr *err)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->cmd.prev_exist = -1;
	if (parse_sources(r, query, qlen, ctype, clen, body, blen, err) != 0 ||
	    decode_path(r, rawpath, plen, err) != 0 || parse_flags(r, err) != 0)
		goto fail;
	if (parse_write(r, now_ns, err) != 0)
		goto fail;
	return 0;
fail:
	api_keys_req_free(r);
	return -1;
}

void api_keys_req_free(api_keys_req *r)
{
	api_params_free(&r->params);
	free(r->path);
	r->path = NULL;
}
