/* join.c - POST /ovld/v1/join: a host asking to join, with its token's
 * proof. The API only carries it: whoever admits hosts (api_config.join)
 * decides and answers. */
#include <h2o.h>

#include "internal.h"

static void on_join_answer(void *ctx, int status, const char *json)
{
	api_pending *p = ctx;
	if (p->req)
		api_send(p->a, p->req, status, "application/json", json,
			 strlen(json));
	api_pending_free(p);
}

void api_join_handle(api *a, h2o_req_t *req)
{
	if (a->cfg.join == NULL) {
		api_send_text(a, req, 404, "404 page not found\n");
		return;
	}
	if (!h2o_memis(req->method.base, req->method.len,
		       H2O_STRLIT("POST"))) {
		api_send_text(a, req, 405, "Method Not Allowed\n");
		return;
	}
	api_pending *p = api_pending_new(a, req, sizeof(*p));
	if (!p) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	a->cfg.join(a->cfg.join_ctx, req->entity.base ? req->entity.base : "",
		    req->entity.len, on_join_answer, p);
}
