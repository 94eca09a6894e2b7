/* conn.c - one TLS connection over a uv_tcp_t. OpenSSL works on two memory
 * BIOs: what libuv reads goes into one, what OpenSSL writes is taken from
 * the other and handed to uv_write. A deadline covers the handshake and
 * the hello; after that the owner's events carry the plaintext. */
#include "internal.h"

#include "log.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conn_write {
	uv_write_t req;
	size_t len;
	char bytes[];
} conn_write;

static void conn_handle_closed(uv_handle_t *h)
{
	peer_conn *c = h->data;
	if (--c->handles > 0)
		return;
	peer *p = c->p;
	peer_link_del(&c->link);
	if (c->ev && c->ev->closed)
		c->ev->closed(c, c->why[0] ? c->why : "closed");
	SSL_free(c->ssl);
	abuf_free(&c->input);
	free(c);
	peer_release(p);
}

static void conn_close_handles(peer_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->deadline))
		uv_close((uv_handle_t *)&c->deadline, conn_handle_closed);
}

static void conn_note(peer_conn *c, const char *why)
{
	if (!c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", why);
}

void peer_conn_abort(peer_conn *c, const char *why)
{
	conn_note(c, why);
	c->closing = 1;
	conn_close_handles(c);
}

/* OpenSSL's reason for the last failure, with the verify result if any. */
static void conn_tls_error(peer_conn *c, char *out, size_t len)
{
	long verify = SSL_get_verify_result(c->ssl);
	unsigned long e = ERR_peek_last_error();
	char text[160] = "connection closed during the handshake";
	if (e)
		ERR_error_string_n(e, text, sizeof(text));
	if (verify != X509_V_OK)
		snprintf(out, len, "TLS: %s (%s)", text,
			 X509_verify_cert_error_string(verify));
	else
		snprintf(out, len, "TLS: %s", text);
	ERR_clear_error();
}

static void conn_written(uv_write_t *req, int status)
{
	conn_write *w = (conn_write *)req;
	peer_conn *c = req->data;
	c->queued -= w->len;
	free(w);
	if (status < 0) {
		if (!c->closing)
			peer_conn_abort(c, uv_strerror(status));
		return;
	}
	if (c->over && c->queued <= PEER_LOW_WATER && !c->closing) {
		c->over = 0;
		if (c->ev && c->ev->drained)
			c->ev->drained(c);
	}
}

/* Hands what OpenSSL wrote to the network. */
static int conn_flush(peer_conn *c)
{
	size_t n = BIO_ctrl_pending(c->out);
	if (n == 0 || uv_is_closing((uv_handle_t *)&c->tcp))
		return 0;
	conn_write *w = malloc(sizeof(*w) + n);
	if (!w) {
		peer_conn_abort(c, "out of memory");
		return -1;
	}
	w->len = (size_t)BIO_read(c->out, w->bytes, (int)n);
	w->req.data = c;
	uv_buf_t b = uv_buf_init(w->bytes, (unsigned)w->len);
	int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_written);
	if (rv < 0) {
		free(w);
		peer_conn_abort(c, uv_strerror(rv));
		return -1;
	}
	c->queued += w->len;
	if (c->queued > PEER_HIGH_WATER)
		c->over = 1;
	return 0;
}

static void conn_fail_tls(peer_conn *c)
{
	char why[PEER_WHY_MAX];
	conn_tls_error(c, why, sizeof(why));
	c->failed = 1;
	/* Send the alert so the other side learns why. */
	peer_conn_finish(c, why);
}

static int conn_handshake(peer_conn *c)
{
	ERR_clear_error();
	int rv = SSL_do_handshake(c->ssl);
	if (rv != 1) {
		int err = SSL_get_error(c->ssl, rv);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return conn_flush(c) < 0 ? -1 : 1;
		conn_flush(c);
		conn_fail_tls(c);
		return -1;
	}
	/* The contexts should verify; refuse anyway if one does not. */
	if (!SSL_get0_peer_certificate(c->ssl) ||
	    SSL_get_verify_result(c->ssl) != X509_V_OK) {
		conn_flush(c);
		peer_conn_finish(c, "no verified certificate");
		return -1;
	}
	c->open = 1;
	if (conn_flush(c) < 0)
		return -1;
	if (c->ev && c->ev->opened)
		c->ev->opened(c);
	return c->closing ? -1 : 0;
}

static void conn_read_tls(peer_conn *c)
{
	while (!c->closing) {
		size_t got = 0;
		ERR_clear_error();
		int rv =
		    SSL_read_ex(c->ssl, c->p->plain, sizeof(c->p->plain), &got);
		if (rv == 1) {
			if (c->ev && c->ev->data)
				c->ev->data(c, c->p->plain, got);
			continue;
		}
		int err = SSL_get_error(c->ssl, rv);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			peer_conn_finish(c, "closed by the other side");
			return;
		}
		char why[PEER_WHY_MAX];
		conn_tls_error(c, why, sizeof(why));
		c->failed = 1;
		peer_conn_abort(c, why);
		return;
	}
	if (!c->closing)
		conn_flush(c); /* tickets, key updates */
}

/* Raft's heartbeats and calls are small and waited for: no Nagle. A host
 * that vanished is found by keepalive, not only by the next write. */
static void conn_tune(peer_conn *c)
{
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 15);
}

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	peer_conn *c = h->data;
	*buf = uv_buf_init(c->p->cipher, sizeof(c->p->cipher));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	peer_conn *c = s->data;
	if (c->closing)
		return;
	if (n < 0) {
		peer_conn_abort(c, n == UV_EOF
				       ? (c->open ? "closed by the other side"
						  : "closed during the "
						    "handshake")
				       : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	BIO_write(c->in, buf->base, (int)n);
	if (!c->open && conn_handshake(c) != 0)
		return;
	conn_read_tls(c);
}

static void conn_deadline(uv_timer_t *t)
{
	peer_conn *c = t->data;
	peer_conn_abort(c, c->closing ? "close timed out"
			   : c->open  ? "no hello in time"
				      : "TLS handshake timed out");
}

static peer_conn *conn_new(peer *p, SSL_CTX *ctx, const peer_conn_events *ev,
			   void *owner)
{
	if (!ctx)
		return NULL;
	peer_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->in || !c->out) {
		BIO_free(c->in);
		BIO_free(c->out);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	BIO_set_mem_eof_return(c->in, -1);
	BIO_set_mem_eof_return(c->out, -1);
	SSL_set_bio(c->ssl, c->in, c->out);
	c->p = p;
	c->ev = ev;
	c->owner = owner;
	abuf_init(&c->input);
	uv_tcp_init(p->loop, &c->tcp);
	uv_timer_init(p->loop, &c->deadline);
	c->tcp.data = c->deadline.data = c;
	c->handles = 2;
	peer_link_add(&p->conns, &c->link);
	peer_hold(p);
	uv_timer_start(&c->deadline, conn_deadline, p->handshake_ms, 0);
	return c;
}

peer_conn *peer_conn_accept(peer *p, uv_stream_t *listener,
			    const peer_conn_events *ev, void *owner)
{
	peer_conn *c = conn_new(p, p->server_ctx, ev, owner);
	if (!c)
		return NULL;
	SSL_set_accept_state(c->ssl);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0) {
		peer_conn_abort(c, "accept failed");
		return c;
	}
	conn_tune(c);
	char ip[64] = "?";
	int port = 0;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(s6, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		uv_ip4_name(s4, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	}
	snprintf(c->label, sizeof(c->label), "%s:%d", ip, port);
	return c;
}

static void conn_connected(uv_connect_t *req, int status)
{
	peer_conn *c = req->data;
	if (c->closing)
		return;
	if (status < 0) {
		peer_conn_abort(c, uv_strerror(status));
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0) {
		peer_conn_abort(c, "cannot read");
		return;
	}
	conn_tune(c);
	conn_handshake(c); /* sends the ClientHello */
}

peer_conn *peer_conn_dial(peer *p, const struct sockaddr *sa, const char *sni,
			  const char *label, const peer_conn_events *ev,
			  void *owner)
{
	peer_conn *c = conn_new(p, p->client_ctx, ev, owner);
	if (!c)
		return NULL;
	snprintf(c->label, sizeof(c->label), "%s", label);
	SSL_set_connect_state(c->ssl);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	c->connect.data = c;
	int rv = uv_tcp_connect(&c->connect, &c->tcp, sa, conn_connected);
	if (rv < 0)
		peer_conn_abort(c, uv_strerror(rv));
	return c;
}

void peer_conn_set_owner(peer_conn *c, const peer_conn_events *ev, void *owner)
{
	c->ev = ev;
	c->owner = owner;
}

void peer_conn_established(peer_conn *c, uint64_t member)
{
	c->member = member;
	c->established = 1;
	if (!c->closing)
		uv_timer_stop(&c->deadline);
}

int peer_conn_write(peer_conn *c, const uv_buf_t *bufs, unsigned n)
{
	if (c->closing || !c->open)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		size_t done = 0;
		if (bufs[i].len == 0)
			continue;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, bufs[i].base, bufs[i].len, &done) !=
		    1) {
			char why[PEER_WHY_MAX];
			conn_tls_error(c, why, sizeof(why));
			peer_conn_abort(c, why);
			return -1;
		}
	}
	return conn_flush(c);
}

size_t peer_conn_queued(const peer_conn *c)
{
	return c->queued;
}

void peer_conn_pause(peer_conn *c)
{
	if (!c->closing)
		uv_read_stop((uv_stream_t *)&c->tcp);
}

void peer_conn_resume(peer_conn *c)
{
	if (!c->closing)
		uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

X509 *peer_conn_cert(const peer_conn *c)
{
	return c->open ? SSL_get0_peer_certificate(c->ssl) : NULL;
}

static void conn_shut(uv_shutdown_t *req, int status)
{
	peer_conn_abort(req->data, "closed");
}

void peer_conn_finish(peer_conn *c, const char *why)
{
	if (c->closing)
		return;
	conn_note(c, why);
	c->closing = 1;
	if (c->open && !c->failed) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* queues the close_notify */
	}
	conn_flush(c);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_shut) < 0) {
		conn_close_handles(c);
		return;
	}
	/* A reader that never reads must not keep us open. */
	uv_timer_start(&c->deadline, conn_deadline, c->p->handshake_ms, 0);
}
