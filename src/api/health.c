/* health.c - GET /health as etcd answers it: true once a quorum read
 * succeeds, false without a leader or after HEALTH_TIMEOUT_MS. */
#include <string.h>

#include "internal.h"

#define HEALTH_TIMEOUT_MS 1000

typedef struct health_pending {
	api_pending base;
	uv_timer_t timer;
	int refs; /* the quorum callback and the timer's close */
	int answered;
} health_pending;

static void health_answer(health_pending *h, int ok)
{
	if (h->answered)
		return;
	h->answered = 1;
	h2o_req_t *req = h->base.req;
	if (!req)
		return;
	const char *body =
	    ok ? "{\"health\":\"true\"}" : "{\"health\":\"false\"}";
	api_send(h->base.a, req, ok ? 200 : 503, "text/plain; charset=utf-8",
		 body, strlen(body));
}

static void health_unref(health_pending *h)
{
	if (--h->refs == 0)
		api_pending_free(h);
}

static void health_timer_closed(uv_handle_t *t)
{
	health_unref(t->data);
}

static void health_done(health_pending *h, int ok)
{
	health_answer(h, ok);
	if (!uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, health_timer_closed);
}

static void on_health_timeout(uv_timer_t *t)
{
	health_done(t->data, 0);
}

static void on_health_read(void *ctx, int status, const char *why)
{
	health_pending *h = ctx;
	health_done(h, status == 0);
	health_unref(h);
}

/* etcdctl cluster-health has no read timeout: this answers within 1 s
 * whatever raft does. */
void api_health_send(api *a, h2o_req_t *req)
{
	raftnode_status st;
	raftnode_get_status(a->rn, &st);
	if (st.leader_id == 0) {
		api_send(a, req, 503, "text/plain; charset=utf-8",
			 "{\"health\":\"false\"}", 18);
		return;
	}
	health_pending *h = api_pending_new(a, req, sizeof(*h));
	if (!h) {
		api_send_text(a, req, 500, "out of memory\n");
		return;
	}
	uv_timer_init(a->loop, &h->timer);
	h->timer.data = h;
	h->refs = 2;
	if (raftnode_quorum_read(a->rn, on_health_read, h) != 0) {
		h->refs = 1;
		health_done(h, 0);
		return;
	}
	uv_timer_start(&h->timer, on_health_timeout, HEALTH_TIMEOUT_MS, 0);
}
