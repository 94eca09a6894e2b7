/* fuzz_command.c - libFuzzer target for the Raft log entry decoder
 * (msgpack, raft/command.c) and the store's apply of what it decodes.
 *
 * Every host decodes every committed entry, so no byte string may crash
 * the decoder. Invariants: a decoded command re-encodes to an entry that
 * decodes to the same fields, its length a multiple of 8 (raft 0.15's
 * padding); and a decoded command with a clean path applies to a real
 * store without a crash, leaving the store index where etcd would (never
 * lower, one step per event for single-key operations).
 *
 * OVLD_FUZZ_SEEDS=DIR writes seed entries into DIR and exits. */
#include <raft.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "raft/command.h"
#include "store/store.h"

/* Scratch stores go under $OVLD_FUZZ_TMP (tools/sanitize.sh points it at
 * a directory it deletes, as a crash skips atexit), else /dev/shm. */
static void tmp_template(char *out, size_t n, const char *what)
{
	const char *tmp = getenv("OVLD_FUZZ_TMP");
	snprintf(out, n, "%s/ovld-fuzz-%s-XXXXXX", tmp ? tmp : "/dev/shm",
		 what);
}

static store *st;
static uint64_t applied_index;
static char dir[4096];

static void cleanup(void)
{
	char path[sizeof(dir) + 32];
	if (dir[0] == '\0')
		return;
	if (st)
		store_close(st);
	st = NULL;
	const char *files[] = {"data.mdb", "lock.mdb", "ovld-store.lock"};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static int same_str(const char *a, size_t al, const char *b, size_t bl)
{
	if ((a == NULL) != (b == NULL))
		return 0;
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* The encoder writes a NULL path or value as "" (only prev_value keeps
 * nil), so those compare by content. */
static int same_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static int same(const command *a, const command *b)
{
	const store_cmd *x = &a->cmd, *y = &b->cmd;
	return a->origin == b->origin && a->seq == b->seq && x->op == y->op &&
	       same_bytes(x->path, x->path_len, y->path, y->path_len) &&
	       same_bytes(x->value, x->value_len, y->value, y->value_len) &&
	       same_str(x->prev_value, x->prev_value_len, y->prev_value,
			y->prev_value_len) &&
	       x->prev_index == y->prev_index &&
	       x->prev_exist == y->prev_exist && x->dir == y->dir &&
	       x->recursive == y->recursive && x->refresh == y->refresh &&
	       x->expire_ns == y->expire_ns && x->now_ns == y->now_ns;
}

static void write_seed(const char *out, const char *name, const command *c)
{
	void *buf;
	size_t len;
	char path[4096];
	if (raftnode_command_encode(c, &buf, &len) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s", out, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
	raft_free(buf);
}

#define CMD(...) ((command){.origin = 7, .seq = 1, .cmd = {__VA_ARGS__}})

static void seeds(const char *out)
{
	int64_t now = 1700000000000000000LL;
	command v[] = {
	    CMD(.op = STORE_OP_PUT, .path = "/a/b", .path_len = 4,
		.value = "v1", .value_len = 2, .prev_exist = -1, .now_ns = now),
	    CMD(.op = STORE_OP_PUT, .path = "/a/b", .path_len = 4,
		.value = "v2", .value_len = 2, .prev_value = "v1",
		.prev_value_len = 2, .prev_index = 3, .prev_exist = -1,
		.now_ns = now),
	    CMD(.op = STORE_OP_PUT, .path = "/t", .path_len = 2, .value = "x",
		.value_len = 1, .prev_exist = 0, .expire_ns = now + 1000000000,
		.now_ns = now),
	    CMD(.op = STORE_OP_PUT, .path = "/d", .path_len = 2, .dir = 1,
		.prev_exist = -1, .now_ns = now),
	    CMD(.op = STORE_OP_POST, .path = "/q", .path_len = 2,
		.value = "job", .value_len = 3, .prev_exist = -1,
		.now_ns = now),
	    CMD(.op = STORE_OP_DELETE, .path = "/a", .path_len = 2,
		.recursive = 1, .dir = 1, .prev_exist = -1, .now_ns = now),
	    CMD(.op = STORE_OP_EXPIRE, .path = "/", .path_len = 1,
		.prev_exist = -1, .now_ns = now + 5000000000LL),
	    CMD(.op = STORE_OP_META_PUT, .path = "members/1", .path_len = 9,
		.value = "{}", .value_len = 2, .prev_exist = -1),
	    CMD(.op = STORE_OP_PUT, .path = "/r", .path_len = 2, .value = "y",
		.value_len = 1, .refresh = 1, .prev_exist = 1,
		.expire_ns = now + 1000000000, .now_ns = now),
	};
	char name[32];
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		snprintf(name, sizeof(name), "seed%02zu", i);
		write_seed(out, name, &v[i]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *out = getenv("OVLD_FUZZ_SEEDS");
	if (out) {
		seeds(out);
		exit(0);
	}
	log_set_level(LOG_LVL_ERROR + 1);
	store_config cfg = {.map_size = 256u << 20};
	tmp_template(dir, sizeof(dir), "command");
	if (mkdtemp(dir) == NULL || store_open(&st, dir, &cfg) != 0)
		abort();
	atexit(cleanup);
	return 0;
}

static int clean_path(const store_cmd *c)
{
	if (c->op == STORE_OP_META_PUT || c->op == STORE_OP_META_DEL)
		return c->path_len > 0;
	if (memchr(c->path, '\0', c->path_len))
		return 0;
	char *p = store_clean_path(c->path, c->path_len);
	int ok = p && strlen(p) == c->path_len &&
		 memcmp(p, c->path, c->path_len) == 0;
	free(p);
	return ok;
}

static void apply(const command *c)
{
	const store_cmd *k = &c->cmd;
	if (k->op < STORE_OP_PUT || k->op > STORE_OP_NOOP || !clean_path(k))
		return;
	uint64_t before = store_current_index(st);
	store_result res;
	if (store_apply(st, k, ++applied_index, &res) != 0)
		return; /* the disk (here: the map) refused: not a bug */
	uint64_t after = store_current_index(st);
	if (after < before || res.index != after)
		abort();
	int single = k->op == STORE_OP_PUT || k->op == STORE_OP_POST ||
		     k->op == STORE_OP_DELETE;
	if (single && after - before != (res.error == 0 ? 1u : 0u))
		abort();
	if (res.error == 0 && single && res.ev.index != after)
		abort();
	store_result_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	command c, again;
	if (raftnode_command_decode(data, size, &c) != 0)
		return 0;
	if (c.cmd.path == NULL)
		abort();
	void *buf;
	size_t len;
	if (raftnode_command_encode(&c, &buf, &len) != 0)
		return 0;
	if (len % 8 != 0 || raftnode_command_decode(buf, len, &again) != 0 ||
	    !same(&c, &again))
		abort();
	apply(&c);
	raft_free(buf);
	return 0;
}
