/* h2oconn.c - accepting and tracking H2O connections (see h2oconn.h). */
#include "h2oconn.h"

#include <stdlib.h>
#include <sys/socket.h>

#include <h2o/socket/uv-binding.h>

struct h2oconn {
	union { /* first: H2O hands the handle back on close */
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	h2oconn_set *set;
	h2oconn *prev, *next;
};

static void conn_closed(uv_handle_t *h)
{
	h2oconn *c = (h2oconn *)h;
	h2oconn_set *s = c->set;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	if (s->closed)
		s->closed(s->owner);
}

int h2oconn_accept(h2oconn_set *s, uv_stream_t *listener)
{
	h2oconn *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	if (s->tcp)
		uv_tcp_init(s->loop, &c->h.tcp);
	else
		uv_pipe_init(s->loop, &c->h.pipe, 0);
	if (uv_accept(listener, &c->h.stream) != 0) {
		uv_close(&c->h.handle, (uv_close_cb)free);
		return -1;
	}
	if (s->tcp) /* small responses must not wait for Nagle's timer */
		uv_tcp_nodelay(&c->h.tcp, 1);
	c->set = s;
	c->next = s->head;
	if (s->head)
		s->head->prev = c;
	s->head = c;
	h2o_socket_t *sock = h2o_uv_socket_create(&c->h.stream, conn_closed);
	h2o_accept(s->accept, sock);
	return 0;
}

void h2oconn_shutdown_all(h2oconn_set *s)
{
	for (h2oconn *c = s->head; c; c = c->next) {
		uv_os_fd_t fd;
		if (uv_fileno(&c->h.handle, &fd) == 0)
			shutdown(fd, SHUT_RDWR);
	}
}
