/* test_peer_raft.c - libraft's transport over the peer port: first used
 * directly (connect and accept give streams, 4 MiB each way arrives intact
 * and in order, closing one end closes the other, close cancels a connect
 * in flight), then by three real struct raft on one loop that elect a
 * leader and commit an entry. */
#include "test_peer_util.h"

#include <ftw.h>
#include <unistd.h>

#define BIG (4u << 20)

typedef struct side {
	uv_stream_t *stream;
	unsigned char *got;
	size_t n_got;
	int eof;
	uv_write_t write;
	int written;
} side;

typedef struct link_test {
	uv_loop_t loop;
	tp_world w;
	peer *a, *b;
	struct raft_uv_transport ta, tb;
	struct raft_uv_connect req;
	side dialer, acceptor;
	int connected, connect_status, accepted, accepted_id, closed;
	char addr_b[64];
} link_test;

static link_test *current;

static void on_accept(struct raft_uv_transport *t, raft_id id,
		      const char *address, struct uv_stream_s *stream)
{
	current->accepted++;
	current->accepted_id = (int)id;
	current->acceptor.stream = stream;
}

static void on_connect(struct raft_uv_connect *req, struct uv_stream_s *stream,
		       int status)
{
	current->connected++;
	current->connect_status = status;
	current->dialer.stream = stream;
}

static void side_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	side *s = h->data;
	*buf = uv_buf_init(
	    (char *)s->got + s->n_got,
	    (unsigned)(BIG - s->n_got < 65536 ? BIG - s->n_got : 65536));
}

static void side_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	side *s = st->data;
	if (n < 0) {
		s->eof = 1;
		uv_read_stop(st);
		return;
	}
	s->n_got += (size_t)n;
}

static void side_written(uv_write_t *w, int status)
{
	((side *)w->data)->written = status == 0 ? 1 : -1;
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed + i / 4096) & 0xff);
}

static void link_open(link_test *t, int port)
{
	memset(t, 0, sizeof(*t));
	current = t;
	uv_loop_init(&t->loop);
	tp_world_init(&t->w);
	t->a = tp_peer(&t->loop, &t->w, 1, port, NULL);
	t->b = tp_peer(&t->loop, &t->w, 2, port + 1, NULL);
	snprintf(t->addr_b, sizeof(t->addr_b), "127.0.0.1:%d", port + 1);
	assert_int_equal(peer_raft_transport(t->a, &t->ta), 0);
	assert_int_equal(peer_raft_transport(t->b, &t->tb), 0);
	char addr_a[64];
	snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", port);
	assert_int_equal(t->ta.init(&t->ta, 1, addr_a), 0);
	assert_int_equal(t->tb.init(&t->tb, 2, t->addr_b), 0);
	assert_int_equal(t->tb.listen(&t->tb, on_accept), 0);
}

static void transport_closed(struct raft_uv_transport *t)
{
	current->closed++;
}

static void link_close(link_test *t)
{
	t->ta.close(&t->ta, transport_closed);
	t->tb.close(&t->tb, transport_closed);
	assert_true(tp_run_until(&t->loop, &t->closed, 2, 3000));
	side *sides[2] = {&t->dialer, &t->acceptor};
	for (int i = 0; i < 2; i++)
		if (sides[i]->stream &&
		    !uv_is_closing((uv_handle_t *)sides[i]->stream))
			uv_close((uv_handle_t *)sides[i]->stream,
				 (uv_close_cb)raft_free);
	tp_close(&t->loop, t->a);
	tp_close(&t->loop, t->b);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	free(t->dialer.got);
	free(t->acceptor.got);
	tp_world_free(&t->w);
}

static void link_connect(link_test *t)
{
	assert_int_equal(
	    t->ta.connect(&t->ta, &t->req, 2, t->addr_b, on_connect), 0);
	assert_true(tp_run_until(&t->loop, &t->connected, 1, 5000));
	assert_int_equal(t->connect_status, 0);
	assert_true(tp_run_until(&t->loop, &t->accepted, 1, 5000));
	assert_int_equal(t->accepted_id, 1);
	t->dialer.stream->data = &t->dialer;
	t->acceptor.stream->data = &t->acceptor;
}

static void four_mib_each_way(void **state)
{
	static link_test t;
	link_open(&t, tp_port(200));
	link_connect(&t);
	static unsigned char out_a[BIG], out_b[BIG];
	pattern(out_a, BIG, 1);
	pattern(out_b, BIG, 2);
	side *d = &t.dialer, *a = &t.acceptor;
	d->got = malloc(BIG);
	a->got = malloc(BIG);
	uv_read_start(d->stream, side_alloc, side_read);
	uv_read_start(a->stream, side_alloc, side_read);
	uv_buf_t ba = uv_buf_init((char *)out_a, BIG);
	uv_buf_t bb = uv_buf_init((char *)out_b, BIG);
	d->write.data = d;
	a->write.data = a;
	uv_write(&d->write, d->stream, &ba, 1, side_written);
	uv_write(&a->write, a->stream, &bb, 1, side_written);
	size_t want = BIG;
	uint64_t end = uv_now(&t.loop) + 15000;
	while ((d->n_got < want || a->n_got < want) && uv_now(&t.loop) < end) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(&t.loop);
	}
	assert_int_equal(a->n_got, BIG);
	assert_int_equal(d->n_got, BIG);
	assert_memory_equal(a->got, out_a, BIG);
	assert_memory_equal(d->got, out_b, BIG);
	assert_int_equal(d->written, 1);
	assert_int_equal(a->written, 1);

	/* The dialer's end closes: the acceptor reads EOF. */
	uv_close((uv_handle_t *)d->stream, (uv_close_cb)raft_free);
	d->stream = NULL;
	assert_true(tp_run_until(&t.loop, &a->eof, 1, 3000));
	link_close(&t);
}

/* A reader that stops reading holds the writer back: the pumps queue a
 * few MiB, not everything. */
#define HUGE (24u << 20)
typedef struct sink {
	size_t got;
	int mismatch;
	char buf[65536];
} sink;

static void sink_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	*buf = uv_buf_init(((sink *)h->data)->buf, sizeof(((sink *)0)->buf));
}

static void sink_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	sink *k = st->data;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf->base[i] !=
		    (unsigned char)((k->got + (size_t)i) % 251))
			k->mismatch = 1;
	if (n > 0)
		k->got += (size_t)n;
}

static void slow_reader_holds_the_writer(void **state)
{
	static link_test t;
	link_open(&t, tp_port(240));
	link_connect(&t);
	unsigned char *out = malloc(HUGE);
	for (size_t i = 0; i < HUGE; i++)
		out[i] = (unsigned char)(i % 251);
	side *d = &t.dialer;
	uv_buf_t b = uv_buf_init((char *)out, HUGE);
	d->write.data = d;
	uv_write(&d->write, d->stream, &b, 1, side_written);
	/* Time enough to move it all, were nothing holding it back. */
	uint64_t until = uv_now(&t.loop) + 3000;
	while (uv_now(&t.loop) < until) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_update_time(&t.loop);
	}
	assert_int_equal(d->written, 0); /* still held back */
	static sink k;
	memset(&k, 0, sizeof(k));
	t.acceptor.stream->data = &k;
	uv_read_start(t.acceptor.stream, sink_alloc, sink_read);
	uint64_t end = uv_now(&t.loop) + 15000;
	while (k.got < HUGE && uv_now(&t.loop) < end) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_update_time(&t.loop);
	}
	assert_int_equal(k.got, HUGE);
	assert_false(k.mismatch);
	assert_true(tp_run_until(&t.loop, &d->written, 1, 3000));
	free(out);
	link_close(&t);
}

static void acceptor_close_reaches_dialer(void **state)
{
	static link_test t;
	link_open(&t, tp_port(210));
	link_connect(&t);
	side *d = &t.dialer, *a = &t.acceptor;
	d->got = malloc(BIG);
	uv_read_start(d->stream, side_alloc, side_read);
	uv_close((uv_handle_t *)a->stream, (uv_close_cb)raft_free);
	a->stream = NULL;
	assert_true(tp_run_until(&t.loop, &d->eof, 1, 3000));
	link_close(&t);
}

/* A TCP server that accepts and then says nothing. */
static void mute_accept(uv_stream_t *server, int status)
{
	uv_tcp_t *c = malloc(sizeof(*c));
	uv_tcp_init(server->loop, c);
	uv_accept(server, (uv_stream_t *)c);
	server->data = c;
}

static void close_cancels_connect(void **state)
{
	static link_test t;
	link_open(&t, tp_port(220));
	uv_tcp_t mute;
	uv_tcp_init(&t.loop, &mute);
	mute.data = NULL;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", tp_port(222), &sa);
	assert_int_equal(uv_tcp_bind(&mute, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&mute, 8, mute_accept), 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", tp_port(222));
	assert_int_equal(t.ta.connect(&t.ta, &t.req, 2, addr, on_connect), 0);
	for (int i = 0; i < 20; i++) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_sleep(5);
	}
	assert_int_equal(t.connected, 0); /* stuck in the handshake */
	t.ta.close(&t.ta, transport_closed);
	assert_true(tp_run_until(&t.loop, &t.connected, 1, 3000));
	assert_int_equal(t.connect_status, RAFT_CANCELED);
	assert_null(t.dialer.stream);
	assert_true(tp_run_until(&t.loop, &t.closed, 1, 3000));
	t.tb.close(&t.tb, transport_closed);
	if (mute.data)
		uv_close((uv_handle_t *)mute.data, (uv_close_cb)free);
	uv_close((uv_handle_t *)&mute, NULL);
	t.closed = 2;
	tp_close(&t.loop, t.a);
	tp_close(&t.loop, t.b);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	tp_world_free(&t.w);
}

/* ---- three real raft servers ------------------------------------------- */
typedef struct node {
	struct raft raft;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft_uv_transport transport;
	peer *p;
	char dir[64];
	char addr[64];
	int applied;
	int closed;
} node;

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	node *n = fsm->data;
	if (buf->len == 8 && memcmp(buf->base, "peer-tls", 8) == 0)
		n->applied++;
	*result = NULL;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			unsigned *n)
{
	return RAFT_NOTFOUND;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	return RAFT_NOTFOUND;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static int committed;
static void applied_cb(struct raft_apply *req, int status, void *result)
{
	committed = status == 0 ? 1 : -1;
}

static void raft_closed(struct raft *r)
{
	((node *)r->data)->closed = 1;
}

static void three_rafts_elect_and_commit(void **state)
{
	static uv_loop_t loop;
	static tp_world w;
	static node nodes[3];
	uv_loop_init(&loop);
	tp_world_init(&w);
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	for (int i = 0; i < 3; i++) {
		node *n = &nodes[i];
		memset(n, 0, sizeof(*n));
		n->p = tp_peer(&loop, &w, i + 1, tp_port(230 + i), NULL);
		snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d",
			 tp_port(230 + i));
		raft_configuration_add(&conf, (raft_id)(i + 1), n->addr,
				       RAFT_VOTER);
	}
	for (int i = 0; i < 3; i++) {
		node *n = &nodes[i];
		strcpy(n->dir, "/tmp/ovld-peer-raft-XXXXXX");
		assert_non_null(mkdtemp(n->dir));
		assert_int_equal(peer_raft_transport(n->p, &n->transport), 0);
		assert_int_equal(
		    raft_uv_init(&n->io, &loop, n->dir, &n->transport), 0);
		n->fsm = (struct raft_fsm){.version = 1,
					   .data = n,
					   .apply = fsm_apply,
					   .snapshot = fsm_snapshot,
					   .restore = fsm_restore};
		assert_int_equal(raft_init(&n->raft, &n->io, &n->fsm,
					   (raft_id)(i + 1), n->addr),
				 0);
		n->raft.data = n;
		raft_set_election_timeout(&n->raft, 300);
		raft_set_heartbeat_timeout(&n->raft, 50);
		assert_int_equal(raft_bootstrap(&n->raft, &conf), 0);
		assert_int_equal(raft_start(&n->raft), 0);
	}
	raft_configuration_close(&conf);

	struct raft *leader = NULL;
	uint64_t end = uv_now(&loop) + 10000;
	while (!leader && uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(2);
		uv_update_time(&loop);
		for (int i = 0; i < 3; i++)
			if (raft_state(&nodes[i].raft) == RAFT_LEADER)
				leader = &nodes[i].raft;
	}
	assert_non_null(leader);

	static struct raft_apply req;
	struct raft_buffer buf = {.base = raft_malloc(8), .len = 8};
	memcpy(buf.base, "peer-tls", 8);
	assert_int_equal(raft_apply(leader, &req, &buf, 1, applied_cb), 0);
	assert_true(tp_run_until(&loop, &committed, 1, 5000));
	end = uv_now(&loop) + 5000;
	int everywhere = 0;
	while (!everywhere && uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(2);
		uv_update_time(&loop);
		everywhere =
		    nodes[0].applied && nodes[1].applied && nodes[2].applied;
	}
	assert_true(everywhere);

	for (int i = 0; i < 3; i++)
		raft_close(&nodes[i].raft, raft_closed);
	int all = 0;
	end = uv_now(&loop) + 5000;
	while (all < 3 && uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(&loop);
		all = nodes[0].closed + nodes[1].closed + nodes[2].closed;
	}
	assert_int_equal(all, 3);
	for (int i = 0; i < 3; i++) {
		raft_uv_close(&nodes[i].io);
		tp_close(&loop, nodes[i].p);
		nftw(nodes[i].dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	tp_world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(four_mib_each_way),
	    cmocka_unit_test(acceptor_close_reaches_dialer),
	    cmocka_unit_test(slow_reader_holds_the_writer),
	    cmocka_unit_test(close_cancels_connect),
	    cmocka_unit_test(three_rafts_elect_and_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
