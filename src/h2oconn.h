/* h2oconn.h - the live H2O connections behind a set of listeners, TCP
 * (the client API) or unix sockets (ctl's sockets): accept a stream, hand
 * it to H2O, keep it listed until H2O closes it, and shut them all down
 * when the server closes, so idle keep-alive connections do not hold the
 * loop open until H2O's timeout. */
#ifndef OVLD_H2OCONN_H
#define OVLD_H2OCONN_H

#include <h2o.h>
#include <uv.h>

typedef struct h2oconn h2oconn;

typedef struct h2oconn_set {
	uv_loop_t *loop;
	h2o_accept_ctx_t *accept;
	int tcp; /* 1: uv_tcp_t connections (Nagle off); 0: uv_pipe_t */
	/* called after a connection is gone, e.g. to drop a reference */
	void (*closed)(void *owner);
	void *owner;
	h2oconn *head;
} h2oconn_set;

/* Accepts one connection from listener. 0, or -1 when none was taken
 * (closed is then not called for it). */
int h2oconn_accept(h2oconn_set *s, uv_stream_t *listener);
/* Shuts every live connection down; H2O then sees EOF and closes them
 * through its own path. */
void h2oconn_shutdown_all(h2oconn_set *s);

#endif
