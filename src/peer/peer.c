/* peer.c - the peer object: its contexts and policy, its identity, the
 * listening socket, dropping a member's connections, and closing it all. */
#include "internal.h"

#include "log.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#define PEER_DEFAULT_HANDSHAKE_MS 5000

static void peer_ctx_swap(SSL_CTX **slot, SSL_CTX *ctx)
{
	if (ctx)
		SSL_CTX_up_ref(ctx);
	SSL_CTX_free(*slot);
	*slot = ctx;
}

int peer_init(peer **out, uv_loop_t *loop, const peer_config *cfg)
{
	*out = NULL;
	if (!cfg->authorize)
		return -1;
	peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	if (cfg->listen_addr && !(p->listen_addr = strdup(cfg->listen_addr))) {
		free(p);
		return -1;
	}
	p->loop = loop;
	peer_ctx_swap(&p->server_ctx, cfg->server_ctx);
	peer_ctx_swap(&p->client_ctx, cfg->client_ctx);
	p->authorize = cfg->authorize;
	p->authorize_ctx = cfg->authorize_ctx;
	p->handshake_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
						    : PEER_DEFAULT_HANDSHAKE_MS;
	peer_link_init(&p->conns);
	peer_link_init(&p->dials);
	peer_link_init(&p->unreachable);
	peer_link_init(&p->channels);
	peer_link_init(&p->calls);
	uv_timer_init(loop, &p->sweep);
	p->sweep.data = p;
	p->pending = 1; /* the sweep timer */
	*out = p;
	return 0;
}

void peer_set_self(peer *p, uint64_t id, const char *addr)
{
	char *copy = addr ? strdup(addr) : NULL;
	if (addr && !copy) {
		log_error("peer", "out of memory for this host's address");
		return;
	}
	free(p->self_addr);
	p->self_addr = copy;
	p->self_id = id;
}

void peer_set_tls(peer *p, SSL_CTX *server_ctx, SSL_CTX *client_ctx)
{
	peer_ctx_swap(&p->server_ctx, server_ctx);
	peer_ctx_swap(&p->client_ctx, client_ctx);
}

static void peer_connection(uv_stream_t *listener, int status)
{
	peer *p = listener->data;
	if (status < 0) {
		log_warn("peer", "accept on %s: %s", p->listen_addr,
			 uv_strerror(status));
		return;
	}
	peer_accept(p, listener);
}

static int peer_bind(peer *p, const struct addrinfo *ai)
{
	int rv = uv_tcp_init(p->loop, &p->listener);
	if (rv < 0)
		return rv;
	p->listener.data = p;
	p->listening = 1;
	peer_hold(p);
	rv = uv_tcp_bind(&p->listener, ai->ai_addr, 0); /* sets SO_REUSEADDR */
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&p->listener, 128,
			       peer_connection);
	return rv;
}

static void peer_listener_closed(uv_handle_t *h)
{
	peer_release(h->data);
}

int peer_listen(peer *p)
{
	char host[PEER_ADDR_MAX + 1], port[8];
	if (!p->listen_addr || p->listening || !p->server_ctx ||
	    peer_addr_split(p->listen_addr, host, sizeof(host), port,
			    sizeof(port)) != 0) {
		log_error("peer", "cannot listen on \"%s\"",
			  p->listen_addr ? p->listen_addr : "");
		return -1;
	}
	uv_getaddrinfo_t gai;
	struct addrinfo hints = {.ai_flags = AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	int rv = uv_getaddrinfo(p->loop, &gai, NULL, host, port, &hints);
	if (rv == 0) {
		rv = peer_bind(p, gai.addrinfo);
		uv_freeaddrinfo(gai.addrinfo);
	}
	if (rv < 0) {
		log_error("peer", "cannot listen on %s: %s", p->listen_addr,
			  uv_strerror(rv));
		if (p->listening) {
			p->listening = 0;
			uv_close((uv_handle_t *)&p->listener,
				 peer_listener_closed);
		}
		return -1;
	}
	return 0;
}

void peer_drop(peer *p, uint64_t id)
{
	for (peer_link *l = p->conns.next; l != &p->conns; l = l->next) {
		peer_conn *c = peer_of(l, peer_conn, link);
		if (c->established && c->member == id)
			peer_conn_abort(c, "member dropped");
	}
}

void peer_hold(peer *p)
{
	p->pending++;
}

void peer_release(peer *p)
{
	if (--p->pending > 0 || !p->closing)
		return;
	void (*cb)(void *) = p->close_cb;
	void *ctx = p->close_ctx;
	peer_raft_free(p);
	peer_dial_forget_all(p);
	SSL_CTX_free(p->server_ctx);
	SSL_CTX_free(p->client_ctx);
	free(p->listen_addr);
	free(p->self_addr);
	free(p);
	if (cb)
		cb(ctx);
}

static void peer_sweep_closed(uv_handle_t *h)
{
	peer_release(h->data);
}

void peer_close(peer *p, void (*cb)(void *ctx), void *ctx)
{
	if (p->closing)
		return;
	p->closing = 1;
	p->close_cb = cb;
	p->close_ctx = ctx;
	if (p->listening) {
		p->listening = 0;
		uv_close((uv_handle_t *)&p->listener, peer_listener_closed);
	}
	peer_raft_close(p);
	peer_calls_close(p);
	peer_dial_cancel_all(p);
	for (peer_link *l = p->conns.next; l != &p->conns; l = l->next)
		peer_conn_abort(peer_of(l, peer_conn, link), "closing");
	uv_close((uv_handle_t *)&p->sweep, peer_sweep_closed);
}
