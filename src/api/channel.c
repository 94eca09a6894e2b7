/* channel.c - hands /ovld/v1/... requests to raftnode's internal channel
 * (forwarded writes, barriers, joins) and sends its answer back. */
#include <h2o.h>

#include "internal.h"

static void on_internal_reply(void *ctx, int status, const char *ctype,
			      const void *body, size_t len)
{
	api_pending *p = ctx;
	if (p->req)
		api_send(p->a, p->req, status, ctype, body ? body : "", len);
	api_pending_free(p);
}

void api_channel_handle(api *a, h2o_req_t *req)
{
	api_pending *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	h2o_iovec_t m =
	    h2o_strdup(&req->pool, req->method.base, req->method.len);
	h2o_iovec_t path =
	    h2o_strdup(&req->pool, req->input.path.base, req->input.path.len);
	int rc = raftnode_handle_internal(
	    a->rn, m.base, path.base, req->entity.base ? req->entity.base : "",
	    req->entity.len, on_internal_reply, p);
	if (rc != 0) {
		api_send_text(a, req, 500, "internal channel failed\n");
		api_pending_free(p);
	}
}
