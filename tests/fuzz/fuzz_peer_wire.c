/* fuzz_peer_wire.c - libFuzzer target for the peer port's wire decoders
 * (src/peer/hello.c, frame.c): the hello, the listener's answer and the
 * CALL frame, which every member decodes from whoever passed TLS. The
 * first byte picks the decoder. Invariants: no crash, no read past the
 * input; what decodes re-encodes to the very bytes it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer/internal.h"

static void hello(const uint8_t *b, size_t n)
{
	peer_hello h;
	ssize_t used = peer_hello_decode(b, n, &h);
	if (used <= 0)
		return;
	unsigned char out[PEER_HELLO_MAX];
	size_t len = peer_hello_encode(out, h.channel, h.id, h.addr);
	if (len != (size_t)used || memcmp(out, b, len) != 0)
		abort();
}

static void reply(const uint8_t *b, size_t n)
{
	int status;
	char why[PEER_WHY_MAX + 1];
	ssize_t used = peer_reply_decode(b, n, &status, why, sizeof(why));
	if (used <= 0)
		return;
	unsigned char out[PEER_REPLY_MAX];
	size_t len = peer_reply_encode(out, status, why);
	if (len != (size_t)used || memcmp(out, b, len) != 0)
		abort();
}

static void frame(const uint8_t *b, size_t n)
{
	peer_frame f;
	ssize_t used = peer_frame_decode(b, n, &f);
	if (used <= 0)
		return;
	unsigned char head[PEER_FRAME_HEAD];
	peer_frame_head(head, f.type, f.call, f.code, f.len);
	if ((size_t)used != PEER_FRAME_HEAD + f.len ||
	    f.body != (const char *)b + PEER_FRAME_HEAD ||
	    memcmp(head, b, PEER_FRAME_HEAD) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		hello(data + 1, size - 1);
		break;
	case 1:
		reply(data + 1, size - 1);
		break;
	default:
		frame(data + 1, size - 1);
	}
	return 0;
}
