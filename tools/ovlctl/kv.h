/* kv.h - ovlctl's client for the local ovld: a tiny blocking HTTP/1.1 client
 * and the etcd v2 key operations ovlctl needs (get, create, compare-and-swap,
 * delete), all returning parsed JSON (jansson). */
#ifndef OVLCTL_KV_H
#define OVLCTL_KV_H

#include <jansson.h>
#include <stdint.h>

typedef struct kv {
	char host[256];
	int port;
} kv;

/* etcd error codes ovlctl reacts to. */
enum { KV_NOT_FOUND = 100, KV_TEST_FAILED = 101, KV_EXISTS = 105 };

/* Parses http://HOST:PORT. Returns 0 or -1. */
int kv_init(kv *k, const char *endpoint);

/* Plain HTTP: body (malloc'd, NUL-terminated) and status. 0 or -1 when the
 * server could not be reached or the reply is not HTTP. */
int kv_http(const kv *k, const char *method, const char *path, const char *form,
	    int *status, char **body);
/* GET of a JSON document (e.g. /v2/members). NULL on any failure. */
json_t *kv_get_json(const kv *k, const char *path);

/* A /v2/keys operation. Returns the etcd errorCode (0 on success, -1 when
 * the request failed in transport). *node (if not NULL) receives a new
 * reference to the reply's "node" on success. */
int kv_get(const kv *k, const char *key, int recursive, json_t **node);
/* value is stored only if the key does not exist (prevExist=false). */
int kv_create(const kv *k, const char *key, const char *value, json_t **node);
/* value replaces the key only if its modifiedIndex is still prev_index. */
int kv_cas(const kv *k, const char *key, const char *value, uint64_t prev_index,
	   json_t **node);
/* prev_index 0: unconditional. dir: delete a directory (recursive). */
int kv_delete(const kv *k, const char *key, uint64_t prev_index, int dir);
/* Text of the last error reply (message and cause), for diagnostics. */
const char *kv_last_error(void);

/* Convenience accessors on a node. */
const char *kv_node_value(json_t *node);
uint64_t kv_node_index(json_t *node);
/* The children array of a directory node (may be empty, never NULL). */
json_t *kv_node_children(json_t *node);
/* The last path component of a node's key. */
const char *kv_node_base(json_t *node);

#endif
