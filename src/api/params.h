/* params.h - decoding of etcd v2 requests: percent-decoding, query and
 * form parameters, typed values, and the /v2/keys request as a store_cmd.
 *
 * Pure functions (no I/O, no globals) so the fuzzer and unit tests can
 * drive them directly. Rules follow Go's net/http as etcd uses it: query
 * and x-www-form-urlencoded body are merged, the body wins, only the first
 * value of a repeated name counts, '+' is a space in both. */
#ifndef OVLD_API_PARAMS_H
#define OVLD_API_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

/* The parameter names /v2/keys understands; others are ignored. */
enum api_param {
	API_PARAM_VALUE,
	API_PARAM_TTL,
	API_PARAM_DIR,
	API_PARAM_PREV_EXIST,
	API_PARAM_PREV_VALUE,
	API_PARAM_PREV_INDEX,
	API_PARAM_REFRESH,
	API_PARAM_NO_VALUE,
	API_PARAM_RECURSIVE,
	API_PARAM_SORTED,
	API_PARAM_QUORUM,
	API_PARAM_WAIT,
	API_PARAM_WAIT_INDEX,
	API_PARAM_STREAM,
	API_PARAM_COUNT
};

typedef struct api_params {
	char *val[API_PARAM_COUNT]; /* decoded, NUL-terminated; NULL when absent
				     */
	size_t len[API_PARAM_COUNT];
} api_params;

enum api_method {
	API_METHOD_GET = 1,
	API_METHOD_HEAD,
	API_METHOD_PUT,
	API_METHOD_POST,
	API_METHOD_DELETE,
	API_METHOD_OTHER
};

/* A request-parse failure: an etcd error code (2xx) and its cause. */
typedef struct api_perr {
	int code;
	char cause[192];
} api_perr;

typedef struct api_keys_req {
	int method; /* enum api_method */
	char *path; /* cleaned key path (malloc'd) */
	int recursive, sorted, quorum, wait, stream, no_value;
	uint64_t wait_index;
	store_cmd cmd; /* PUT/POST/DELETE; strings point into params */
	api_params params;
} api_keys_req;

int api_method_parse(const char *m, size_t n);

/* Percent-decodes s into out (room for n bytes); form: '+' is a space.
 * Returns 0, or -1 with err->cause set to Go's message. */
int api_pct_decode(const char *s, size_t n, int form, char *out, size_t *outlen,
		   api_perr *err);

/* Adds name=value pairs of an urlencoded string to p; names already set
 * keep their value. Returns 0, or -1 (210, cause) on a bad escape. */
int api_params_parse(api_params *p, const char *s, size_t n, api_perr *err);
void api_params_free(api_params *p);
const char *api_param_name(int id);

/* strconv.ParseBool: 1 or 0, -1 if not a boolean. */
int api_parse_bool(const char *s, size_t n);
/* strconv.ParseUint(s, 10, 64): 0 or -1. */
int api_parse_u64(const char *s, size_t n, uint64_t *out);

/* 1 when ctype is application/x-www-form-urlencoded (parameters allowed). */
int api_is_form_type(const char *ctype, size_t n);

/* Parses a /v2/keys request. rawpath is the URL path after "/v2/keys"
 * (still encoded, no query). body/ctype are only used for PUT and POST.
 * now_ns stamps the command. Returns 0, or -1 with err filled (then r
 * holds nothing to free). */
int api_keys_parse(api_keys_req *r, int method, const char *rawpath,
		   size_t plen, const char *query, size_t qlen,
		   const char *ctype, size_t clen, const char *body,
		   size_t blen, int64_t now_ns, api_perr *err);
void api_keys_req_free(api_keys_req *r);

#endif
