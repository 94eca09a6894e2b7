/* vxidm.c - VNIs shared with Docker's overlay driver.
 *
 * Docker allocates VXLAN ids from one bitmap in the store (libnetwork's idm
 * "vxlan-id", ids 256..2^24-1) and, on a container's first join, creates a
 * VXLAN device with that id on the host. A VNI that ovld gave to a network
 * but Docker does not know about is handed out again by Docker, and the
 * kernel refuses the second device ("file exists"). So the model sets its
 * VNIs in Docker's bitmap too, and clears them when the network goes.
 *
 * The record is {"id":"vxlan-id","sequence":<base64>}; the bytes are the
 * bitmap size and free count (u64 big endian each), then runs of (u32
 * block, u64 repeat count). Bit 31 of block 0 is id 256. Updates are
 * compare-and-swap on the record's modifiedIndex, as Docker's are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../byteorder.h"
#include "internal.h"

#define IDM_KEY OVL_ROOT "/idm/vxlan-id"
#define IDM_BITS (OVL_VNI_MAX - OVL_VNI_MIN + 1)
#define IDM_BLOCKS (IDM_BITS / 32)
#define IDM_RETRIES 50

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Bytes of a padded base64 string; NULL if it is not one. */
static unsigned char *b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	if (len % 4)
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 1);
	size_t k = 0;
	for (size_t i = 0; out && i < len; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			const char *p =
			    s[i + j] == '=' ? NULL : strchr(b64, s[i + j]);
			if (!p && (s[i + j] != '=' || i + 4 < len || j < 2)) {
				free(out);
				return NULL;
			}
			pad += !p;
			v = v << 6 | (p ? (uint32_t)(p - b64) : 0);
		}
		out[k++] = v >> 16;
		if (pad < 2)
			out[k++] = (v >> 8) & 255;
		if (pad < 1)
			out[k++] = v & 255;
	}
	*n = k;
	return out;
}

/* The bitmap, one u32 per block; *free_ids is its free count. */
static uint32_t *idm_expand(const char *seq, uint64_t *free_ids)
{
	size_t n;
	unsigned char *raw = b64_decode(seq, &n);
	uint32_t *blocks = raw ? calloc(IDM_BLOCKS, sizeof(*blocks)) : NULL;
	int ok = blocks && n >= 16 && (n - 16) % 12 == 0 &&
		 get_be64(raw) == IDM_BITS;
	size_t at = 0;
	for (size_t i = 16; ok && i < n; i += 12) {
		uint32_t block = get_be32(raw + i);
		uint64_t count = get_be64(raw + i + 4);
		if (count > IDM_BLOCKS - at) {
			ok = 0;
			break;
		}
		for (uint64_t j = 0; j < count; j++)
			blocks[at++] = block;
	}
	if (ok)
		*free_ids = get_be64(raw + 8);
	free(raw);
	if (!ok || at != IDM_BLOCKS) {
		free(blocks);
		return NULL;
	}
	return blocks;
}

/* Runs of equal blocks, as Docker writes them. */
static char *idm_compress(const uint32_t *blocks, uint64_t free_ids)
{
	size_t runs = 1;
	for (size_t i = 1; i < IDM_BLOCKS; i++)
		runs += blocks[i] != blocks[i - 1];
	unsigned char *raw = malloc(16 + 12 * runs), *p = raw + 16;
	if (!raw)
		return NULL;
	put_be64(raw, IDM_BITS);
	put_be64(raw + 8, free_ids);
	for (size_t i = 0; i < IDM_BLOCKS;) {
		size_t j = i;
		while (j < IDM_BLOCKS && blocks[j] == blocks[i])
			j++;
		put_be32(p, blocks[i]);
		put_be64(p + 4, j - i);
		p += 12;
		i = j;
	}
	char *s = b64_encode(raw, (size_t)(p - raw));
	free(raw);
	return s;
}

/* Sets (on) or clears one VNI's bit: 0, OVL_VXIDM_TAKEN if already set, or 1
 * on a malformed record. */
static int idm_flip(json_t *rec, uint32_t vni, int on)
{
	uint64_t free_ids;
	uint32_t *blocks = idm_expand(
	    json_string_value(json_object_get(rec, "sequence")) ?: "",
	    &free_ids);
	if (!blocks)
		return 1;
	uint32_t ord = vni - OVL_VNI_MIN, mask = 0x80000000u >> (ord % 32);
	int set = (blocks[ord / 32] & mask) != 0, rc = 0;
	if (on && set) {
		rc = OVL_VXIDM_TAKEN;
	} else if (on != set) {
		blocks[ord / 32] ^= mask;
		free_ids += on ? (uint64_t)-1 : 1;
		char *seq = idm_compress(blocks, free_ids);
		rc = seq ? 0 : 1;
		json_object_set_new(rec, "sequence", json_string(seq ?: ""));
		free(seq);
	}
	free(blocks);
	return rc;
}

/* A fresh allocator record, as Docker creates it on its first overlay
 * network. */
static json_t *idm_new(void)
{
	static uint32_t zero[IDM_BLOCKS];
	char *seq = idm_compress(zero, IDM_BITS);
	json_t *r =
	    json_pack("{s:s, s:s}", "id", "vxlan-id", "sequence", seq ?: "");
	free(seq);
	return r;
}

static int idm_update(ovl *o, uint32_t vni, int on)
{
	if (vni < OVL_VNI_MIN || vni > OVL_VNI_MAX)
		return 0; /* outside Docker's range: nothing to share */
	for (int i = 0; i < IDM_RETRIES; i++) {
		json_t *node = NULL, *rec;
		int err = o->kv.get(o->kv.ctx, IDM_KEY, 0, &node);
		if (err == OVL_KV_NOT_FOUND && !on)
			return 0;
		if (err && err != OVL_KV_NOT_FOUND)
			return 1;
		rec = err ? idm_new()
			  : json_loads(ovl_node_value(node) ?: "", 0, NULL);
		int rc = rec ? idm_flip(rec, vni, on) : 1;
		char *val = rc ? NULL : json_dumps(rec, JSON_COMPACT);
		if (!rc && !val)
			rc = 1;
		if (val)
			err = node
				  ? o->kv.cas(o->kv.ctx, IDM_KEY, val,
					      ovl_node_index(node), NULL)
				  : o->kv.create(o->kv.ctx, IDM_KEY, val, NULL);
		free(val);
		json_decref(rec);
		json_decref(node);
		if (rc)
			return rc;
		if (err != OVL_KV_TEST_FAILED && err != OVL_KV_EXISTS &&
		    err != OVL_KV_NOT_FOUND)
			return err ? 1 : 0;
	}
	return 1; /* Docker kept winning the race; very unlikely */
}

int ovl_vxidm_reserve(ovl *o, uint32_t vni)
{
	return idm_update(o, vni, 1);
}

int ovl_vxidm_release(ovl *o, uint32_t vni)
{
	return idm_update(o, vni, 0);
}
