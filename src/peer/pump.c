/* pump.c - libraft's byte stream over TLS. libraft gets one end of a
 * socketpair as a plain uv_pipe_t; the pump copies between the other end
 * and the TLS connection both ways, pausing a side while the other has more
 * than PEER_HIGH_WATER queued, and passes an end of stream on: raft closing
 * its end closes TLS after what is queued, TLS closing closes the pipe so
 * raft reads EOF (or fails its next write). */
#include "internal.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct pump {
	peer *p;
	peer_conn *conn;
	uv_pipe_t pipe; /* our end */
	uv_shutdown_t shutdown;
	size_t queued; /* bytes written to our end, not yet taken */
	int conn_paused;
	int pipe_reading;
	int pipe_open;
} pump;

typedef struct pump_write {
	uv_write_t req;
	size_t len;
	char bytes[];
} pump_write;

static void pump_pipe_closed(uv_handle_t *h)
{
	pump *u = h->data;
	u->pipe_open = 0;
	if (u->conn)
		return;
	peer *p = u->p;
	free(u);
	peer_release(p);
}

static void pump_close_pipe(pump *u)
{
	if (!uv_is_closing((uv_handle_t *)&u->pipe))
		uv_close((uv_handle_t *)&u->pipe, pump_pipe_closed);
}

static void pump_written(uv_write_t *req, int status)
{
	pump_write *w = (pump_write *)req;
	pump *u = req->data;
	u->queued -= w->len;
	free(w);
	if (u->conn_paused && u->queued <= PEER_LOW_WATER && u->conn) {
		u->conn_paused = 0;
		peer_conn_resume(u->conn);
	}
}

/* TLS -> raft */
static void pump_tls_data(peer_conn *c, const char *bytes, size_t len)
{
	pump *u = c->owner;
	if (uv_is_closing((uv_handle_t *)&u->pipe))
		return;
	pump_write *w = malloc(sizeof(*w) + len);
	if (!w) {
		peer_conn_abort(c, "out of memory");
		return;
	}
	memcpy(w->bytes, bytes, len);
	w->len = len;
	w->req.data = u;
	uv_buf_t b = uv_buf_init(w->bytes, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&u->pipe, &b, 1, pump_written) <
	    0) {
		free(w);
		peer_conn_abort(c, "raft's end is gone");
		return;
	}
	u->queued += len;
	if (u->queued > PEER_HIGH_WATER && !u->conn_paused) {
		u->conn_paused = 1;
		peer_conn_pause(c);
	}
}

static void pump_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	pump *u = h->data;
	*buf = uv_buf_init(u->p->cipher, sizeof(u->p->cipher));
}

/* raft -> TLS */
static void pump_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	pump *u = s->data;
	if (n < 0) {
		if (u->conn)
			peer_conn_finish(u->conn, "raft closed its stream");
		pump_close_pipe(u);
		return;
	}
	if (n == 0 || !u->conn)
		return;
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
	if (peer_conn_write(u->conn, &b, 1) < 0) {
		pump_close_pipe(u);
		return;
	}
	if (peer_conn_queued(u->conn) > PEER_HIGH_WATER) {
		uv_read_stop(s);
		u->pipe_reading = 0;
	}
}

static void pump_tls_drained(peer_conn *c)
{
	pump *u = c->owner;
	if (u->pipe_reading || uv_is_closing((uv_handle_t *)&u->pipe))
		return;
	if (uv_read_start((uv_stream_t *)&u->pipe, pump_alloc,
			  pump_pipe_read) == 0)
		u->pipe_reading = 1;
}

static void pump_pipe_shut(uv_shutdown_t *req, int status)
{
	pump_close_pipe(req->data);
}

static void pump_tls_closed(peer_conn *c, const char *why)
{
	pump *u = c->owner;
	u->conn = NULL;
	if (!u->pipe_open) {
		peer *p = u->p;
		free(u);
		peer_release(p);
		return;
	}
	if (uv_is_closing((uv_handle_t *)&u->pipe))
		return;
	/* Let raft read what arrived before the end. */
	u->shutdown.data = u;
	if (u->queued == 0 || uv_shutdown(&u->shutdown, (uv_stream_t *)&u->pipe,
					  pump_pipe_shut) < 0)
		pump_close_pipe(u);
}

static const peer_conn_events pump_events = {
    .data = pump_tls_data,
    .drained = pump_tls_drained,
    .closed = pump_tls_closed,
};

static uv_stream_t *pump_raft_end(peer *p, int fd)
{
	uv_pipe_t *end = raft_malloc(sizeof(*end));
	if (!end) {
		close(fd);
		return NULL;
	}
	uv_pipe_init(p->loop, end, 0);
	if (uv_pipe_open(end, fd) < 0) {
		close(fd);
		uv_close((uv_handle_t *)end, (uv_close_cb)raft_free);
		return NULL;
	}
	return (uv_stream_t *)end;
}

uv_stream_t *peer_pump_start(peer *p, peer_conn *c)
{
	int fds[2];
	pump *u = calloc(1, sizeof(*u));
	if (!u || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		free(u);
		peer_conn_abort(c, "cannot make a socketpair");
		return NULL;
	}
	uv_stream_t *raft_end = pump_raft_end(p, fds[0]);
	uv_pipe_init(p->loop, &u->pipe, 0);
	u->pipe.data = u;
	u->p = p;
	u->conn = c;
	u->pipe_open = 1;
	peer_hold(p);
	peer_conn_set_owner(c, &pump_events, u);
	int ok = raft_end && uv_pipe_open(&u->pipe, fds[1]) == 0;
	if (!ok)
		close(fds[1]);
	ok = ok && uv_read_start((uv_stream_t *)&u->pipe, pump_alloc,
				 pump_pipe_read) == 0;
	if (!ok) {
		pump_close_pipe(u);
		peer_conn_abort(c, "cannot open the socketpair");
		if (raft_end)
			uv_close((uv_handle_t *)raft_end,
				 (uv_close_cb)raft_free);
		return NULL;
	}
	u->pipe_reading = 1;
	return raft_end;
}
