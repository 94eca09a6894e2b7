/* command.c - msgpack encoding of Raft log entries.
 *
 * An entry is a fixed-order array, so decoding needs no key lookups:
 * [version, origin, seq, op, path, value, prev_value|nil, prev_index,
 *  prev_exist, dir, recursive, refresh, expire_ns, now_ns] */
#include "command.h"

#include <msgpack.h>
#include <raft.h>
#include <string.h>

#include "../byteorder.h"

#define COMMAND_VERSION 1
#define COMMAND_FIELDS 14

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s ? s : "", len);
}

int raftnode_command_encode(const command *c, void **buf, size_t *len)
{
	const store_cmd *s = &c->cmd;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, COMMAND_FIELDS);
	msgpack_pack_uint8(&pk, COMMAND_VERSION);
	msgpack_pack_uint64(&pk, c->origin);
	msgpack_pack_uint64(&pk, c->seq);
	msgpack_pack_int(&pk, s->op);
	pack_str(&pk, s->path, s->path_len);
	pack_str(&pk, s->value, s->value_len);
	if (s->prev_value)
		pack_str(&pk, s->prev_value, s->prev_value_len);
	else
		msgpack_pack_nil(&pk);
	msgpack_pack_uint64(&pk, s->prev_index);
	msgpack_pack_int(&pk, s->prev_exist);
	msgpack_pack_int(&pk, s->dir);
	msgpack_pack_int(&pk, s->recursive);
	msgpack_pack_int(&pk, s->refresh);
	msgpack_pack_int64(&pk, s->expire_ns);
	msgpack_pack_int64(&pk, s->now_ns);
	/* raft 0.15's TCP transport pads every entry to 8 bytes on the
	 * receiving side but not on the sending side, so an entry whose size
	 * is not a multiple of 8 shifts the entries after it on followers.
	 * Padding with zeros (which decode ignores) keeps them aligned. */
	size_t padded = (sb.size + 7) & ~(size_t)7;
	*buf = raft_malloc(padded ? padded : 8);
	if (*buf == NULL) {
		msgpack_sbuffer_destroy(&sb);
		return -1;
	}
	memcpy(*buf, sb.data, sb.size);
	memset((char *)*buf + sb.size, 0, padded - sb.size);
	*len = padded;
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

static int get_u64(const msgpack_object *o, uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*out = o->via.u64;
	return 0;
}

static int get_i64(const msgpack_object *o, int64_t *out)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return -1;
		*out = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return 0;
	}
	return -1;
}

static int get_int(const msgpack_object *o, int *out)
{
	int64_t v;
	if (get_i64(o, &v) != 0 || v < INT32_MIN || v > INT32_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

static int get_str(const msgpack_object *o, const char **s, size_t *len)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*s = NULL;
		*len = 0;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_STR)
		return -1;
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

/* Length of the scalar (nil, bool, int, str) at p, or 0 if p holds
 * anything else or runs past n. */
static size_t scalar_len(const unsigned char *p, size_t n)
{
	size_t hdr = 1, body = 0;
	if (n == 0)
		return 0;
	unsigned c = p[0];
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		body = 0;
	else if (c >= 0xa0 && c <= 0xbf)
		body = c & 0x1f;
	else if (c == 0xcc || c == 0xd0)
		body = 1;
	else if (c == 0xcd || c == 0xd1)
		body = 2;
	else if (c == 0xce || c == 0xd2)
		body = 4;
	else if (c == 0xcf || c == 0xd3)
		body = 8;
	else if (c == 0xd9 && n >= 2)
		hdr = 2, body = p[1];
	else if (c == 0xda && n >= 3)
		hdr = 3, body = get_be16(p + 1);
	else if (c == 0xdb && n >= 5)
		hdr = 5, body = get_be32(p + 1);
	else
		return 0;
	return hdr + body <= n ? hdr + body : 0;
}

/* msgpack_unpack allocates an array's elements before reading them, so a
 * corrupt header claiming 2^32 of them asks for ~100 GB. An entry is one
 * fixarray of scalars: check that shape on the bytes first. */
static int command_shape_ok(const unsigned char *p, size_t n)
{
	if (n == 0 || p[0] != (0x90 | COMMAND_FIELDS))
		return 0;
	size_t off = 1;
	for (int i = 0; i < COMMAND_FIELDS; i++) {
		size_t used = scalar_len(p + off, n - off);
		if (used == 0)
			return 0;
		off += used;
	}
	return 1;
}

int raftnode_command_decode(const void *buf, size_t len, command *c)
{
	if (!command_shape_ok(buf, len)) {
		memset(c, 0, sizeof(*c));
		return -1;
	}
	msgpack_zone zone;
	msgpack_object obj;
	memset(c, 0, sizeof(*c));
	if (!msgpack_zone_init(&zone, 256))
		return -1;
	/* msgpack_unpack keeps str pointers into buf (zero-copy), so only the
	 * array of objects lives in the zone, and it is freed below. */
	size_t off = 0;
	int rv = -1;
	int ur = msgpack_unpack((const char *)buf, len, &off, &zone, &obj);
	if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES)
		goto out;
	/* Only the zero padding of raftnode_command_encode may follow; entries
	 * are whole multiples of 8, so a truncated one is still refused. */
	if (len % 8 != 0 || len - off >= 8)
		goto out;
	for (size_t i = off; i < len; i++)
		if (((const char *)buf)[i] != 0)
			goto out;
	if (obj.type != MSGPACK_OBJECT_ARRAY ||
	    obj.via.array.size != COMMAND_FIELDS)
		goto out;
	const msgpack_object *f = obj.via.array.ptr;
	uint64_t version;
	store_cmd *s = &c->cmd;
	if (get_u64(&f[0], &version) || version != COMMAND_VERSION ||
	    get_u64(&f[1], &c->origin) || get_u64(&f[2], &c->seq) ||
	    get_int(&f[3], &s->op) || get_str(&f[4], &s->path, &s->path_len) ||
	    get_str(&f[5], &s->value, &s->value_len) ||
	    get_str(&f[6], &s->prev_value, &s->prev_value_len) ||
	    get_u64(&f[7], &s->prev_index) || get_int(&f[8], &s->prev_exist) ||
	    get_int(&f[9], &s->dir) || get_int(&f[10], &s->recursive) ||
	    get_int(&f[11], &s->refresh) || get_i64(&f[12], &s->expire_ns) ||
	    get_i64(&f[13], &s->now_ns))
		goto out;
	/* Every command names a path or meta key; msgpack gives an empty
	 * string a NULL or a real pointer depending on its encoding. */
	if (s->path == NULL || s->path_len == 0)
		goto out;
	rv = 0;
out:
	msgpack_zone_destroy(&zone);
	return rv;
}
