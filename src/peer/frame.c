/* frame.c - the CALL channel's frames:
 *   u32 BE length of the rest | u8 type (1 request, 2 answer) |
 *   u64 BE call id | i32 BE kind (request) or status (answer) | body
 * and their reassembly from a connection's plaintext. */
#include "internal.h"

#include "byteorder.h"

#include <string.h>

#define FRAME_REST_MIN (PEER_FRAME_HEAD - 4)

void peer_frame_head(unsigned char head[PEER_FRAME_HEAD], int type,
		     uint64_t call, int32_t code, size_t body_len)
{
	put_be32(head, (uint32_t)(FRAME_REST_MIN + body_len));
	head[4] = (unsigned char)type;
	put_be64(head + 5, call);
	put_be32(head + 13, (uint32_t)code);
}

ssize_t peer_frame_decode(const void *bytes, size_t len, peer_frame *f)
{
	const unsigned char *b = bytes;
	if (len < 4)
		return 0;
	uint32_t rest = get_be32(b);
	if (rest < FRAME_REST_MIN || rest > PEER_FRAME_MAX)
		return -1;
	if (len >= 5 && b[4] != PEER_FRAME_REQUEST && b[4] != PEER_FRAME_ANSWER)
		return -1;
	if (len - 4 < rest)
		return 0;
	f->type = b[4];
	f->call = get_be64(b + 5);
	f->code = (int32_t)get_be32(b + 13);
	f->body = (const char *)b + PEER_FRAME_HEAD;
	f->len = rest - FRAME_REST_MIN;
	return (ssize_t)(4 + rest);
}

int peer_frame_send(peer_conn *c, int type, uint64_t call, int32_t code,
		    const void *body, size_t len)
{
	if (len > PEER_FRAME_MAX - FRAME_REST_MIN)
		return -1;
	unsigned char head[PEER_FRAME_HEAD];
	peer_frame_head(head, type, call, code, len);
	uv_buf_t bufs[2] = {uv_buf_init((char *)head, sizeof(head)),
			    uv_buf_init((char *)body, (unsigned)len)};
	return peer_conn_write(c, bufs, len ? 2 : 1);
}

/* Calls fn on each whole frame in bytes; the count of bytes used, or -1. */
static ssize_t frame_walk(peer_conn *c, const char *bytes, size_t len,
			  int (*fn)(void *ctx, const peer_frame *f), void *ctx)
{
	size_t at = 0;
	while (!c->closing) {
		peer_frame f;
		ssize_t n = peer_frame_decode(bytes + at, len - at, &f);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		at += (size_t)n;
		if (fn(ctx, &f) < 0)
			break;
	}
	return (ssize_t)at;
}

int peer_frame_feed(peer_conn *c, const char *bytes, size_t len,
		    int (*fn)(void *ctx, const peer_frame *f), void *ctx)
{
	abuf *in = &c->input;
	if (in->len == 0) { /* the usual case: whole frames, no copy */
		ssize_t used = frame_walk(c, bytes, len, fn, ctx);
		if (used < 0)
			return -1;
		if (!c->closing)
			abuf_put(in, bytes + used, len - (size_t)used);
		return abuf_ok(in) ? 0 : -1;
	}
	abuf_put(in, bytes, len);
	if (!abuf_ok(in))
		return -1;
	peer_frame f;
	ssize_t whole = peer_frame_decode(in->p, in->len, &f);
	if (whole <= 0) /* a big frame still arriving stays where it is */
		return (int)whole;
	/* fn may feed no more bytes into c while it runs: the loop is ours. */
	abuf taken = *in;
	abuf_init(in);
	ssize_t used = frame_walk(c, taken.p, taken.len, fn, ctx);
	if (used >= 0 && !c->closing)
		abuf_put(in, taken.p + used, taken.len - (size_t)used);
	abuf_free(&taken);
	return used < 0 || !abuf_ok(in) ? -1 : 0;
}
