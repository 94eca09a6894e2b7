/* call_sync.c - one blocking call for start-up code: a private loop and a
 * private peer (no listener) that live only for this call. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct sync_result {
	int done;
	int status;
	char *body;
	size_t len;
} sync_result;

static void sync_answered(void *ctx, int status, const void *body, size_t len)
{
	sync_result *r = ctx;
	r->done = 1;
	r->status = status;
	r->body = malloc(len + 1); /* NUL-terminated for reasons */
	if (r->body) {
		memcpy(r->body, body, len);
		r->body[len] = '\0';
		r->len = len;
	}
}

static void sync_closed(void *ctx)
{
	*(int *)ctx = 1;
}

static int sync_fail(const char *why, char **resp, size_t *resp_len)
{
	*resp = strdup(why);
	*resp_len = *resp ? strlen(why) : 0;
	return -1;
}

int peer_call_sync(SSL_CTX *client_ctx, peer_authorize_cb authorize,
		   void *authorize_ctx, uint64_t self_id, const char *self_addr,
		   const char *addr, int kind, const void *body, size_t len,
		   unsigned timeout_ms, int *status, char **resp,
		   size_t *resp_len)
{
	uv_loop_t loop;
	if (uv_loop_init(&loop) < 0)
		return sync_fail("cannot make a loop", resp, resp_len);
	peer_config cfg = {.client_ctx = client_ctx,
			   .authorize = authorize,
			   .authorize_ctx = authorize_ctx,
			   .handshake_timeout_ms = timeout_ms};
	peer *p;
	sync_result r = {0};
	int rv = peer_init(&p, &loop, &cfg);
	if (rv == 0) {
		peer_set_self(p, self_id, self_addr);
		rv = peer_call(p, 0, addr, kind, body, len, timeout_ms,
			       sync_answered, &r);
		while (rv == 0 && !r.done)
			uv_run(&loop, UV_RUN_ONCE);
		int closed = 0;
		peer_close(p, sync_closed, &closed);
		while (!closed)
			uv_run(&loop, UV_RUN_ONCE);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* the last close callbacks */
	uv_loop_close(&loop);
	if (rv < 0 || !r.body) {
		free(r.body);
		return sync_fail(rv < 0 ? "cannot call" : "out of memory", resp,
				 resp_len);
	}
	if (r.status == -1) {
		*resp = r.body;
		*resp_len = r.len;
		return -1;
	}
	*status = r.status;
	*resp = r.body;
	*resp_len = r.len;
	return 0;
}
