/* json.h - etcd v2 JSON rendering: nodes, events, errors, timestamps.
 *
 * A small emitter instead of jansson because etcd's output has rules a
 * generic encoder does not follow: Go's omitempty on every node field,
 * "value" always present on keys, <, > and & escaped as \u003c etc.,
 * invalid UTF-8 replaced, RFC 3339 times with trimmed nanoseconds. */
#ifndef OVLD_API_JSON_H
#define OVLD_API_JSON_H

#include <stdint.h>

#include "../buf.h"
#include "../store/store.h"

/* A JSON string literal (with quotes) escaped like Go's encoding/json. */
void api_json_str(abuf *b, const char *s, size_t n);
void api_json_cstr(abuf *b, const char *s);
/* RFC 3339 with nanoseconds, UTC "Z", fraction zeros trimmed (unquoted). */
void api_json_time(abuf *b, int64_t unix_ns);
/* Go's time.Duration.String() for a duration in nanoseconds. */
void api_json_duration(abuf *b, int64_t ns);
/* ceil((expire - now) / 1 s), or 0 when nothing remains. */
int64_t api_json_ttl(int64_t expire_ns, int64_t now_ns);

void api_json_node(abuf *b, const store_node *n, int64_t now_ns);
/* {"action":..,"node":..,"prevNode":..}; no_value drops node and prevNode
 * (noValueOnSuccess). No trailing newline. */
void api_json_event(abuf *b, const store_event *ev, int64_t now_ns,
		    int no_value);
/* {"errorCode":..,"message":..,"cause":..,"index":..} */
void api_json_error(abuf *b, int code, const char *cause, uint64_t index);
/* The HTTP status etcd uses for an error code. */
int api_json_error_status(int code);

#endif
