/* test_peer_attack.c - what the peer port refuses: plain TCP (libraft's own
 * preamble and garbage), TLS clients without a certificate, with another
 * CA's, or with an expired one, a certificate claiming another member's id,
 * a server that is not the member we meant; and peer_drop closing a live
 * connection. In every case nothing reaches raft or a request handler. */
#include "test_peer_util.h"

typedef struct victim {
	uv_loop_t loop;
	tp_world w;
	peer *server; /* member 2 */
	struct raft_uv_transport t;
	int accepted, served;
	uv_stream_t *accepted_stream;
	char addr[64];
} victim;

static victim *current;

static void on_accept(struct raft_uv_transport *t, raft_id id,
		      const char *address, struct uv_stream_s *stream)
{
	current->accepted++;
	current->accepted_stream = stream;
}

static void serve(void *ctx, peer_request *req, uint64_t from, int kind,
		  const void *body, size_t len)
{
	current->served++;
	peer_answer(req, 200, "ok", 2);
}

static void victim_open(victim *v, int port)
{
	memset(v, 0, sizeof(*v));
	current = v;
	uv_loop_init(&v->loop);
	tp_world_init(&v->w);
	v->server = tp_peer(&v->loop, &v->w, 2, port, NULL);
	snprintf(v->addr, sizeof(v->addr), "127.0.0.1:%d", port);
	peer_serve(v->server, serve, NULL);
	assert_int_equal(peer_raft_transport(v->server, &v->t), 0);
	assert_int_equal(v->t.init(&v->t, 2, v->addr), 0);
	assert_int_equal(v->t.listen(&v->t, on_accept), 0);
}

static void transport_closed(struct raft_uv_transport *t) {}

static void victim_close(victim *v)
{
	v->t.close(&v->t, transport_closed);
	if (v->accepted_stream)
		uv_close((uv_handle_t *)v->accepted_stream,
			 (uv_close_cb)raft_free);
	tp_close(&v->loop, v->server);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&v->loop), 0);
	tp_world_free(&v->w);
}

/* ---- plain TCP ----------------------------------------------------------- */
typedef struct raw {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	char buf[4096];
	size_t got;
	int ended;
} raw;

static void raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	raw *r = h->data;
	*buf = uv_buf_init(r->buf, sizeof(r->buf));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	raw *r = s->data;
	if (n < 0)
		r->ended = 1;
	else
		r->got += (size_t)n;
}

static void raw_connected(uv_connect_t *req, int status)
{
	raw *r = req->data;
	assert_int_equal(status, 0);
	/* libraft 0.15's TCP preamble: protocol 1, id 1, address length,
	 * the address; then a RequestVote-sized blob of garbage. */
	static unsigned char bytes[24 + 16 + 256];
	memset(bytes, 0, sizeof(bytes));
	bytes[0] = 1;
	bytes[8] = 1;
	bytes[16] = 16;
	memcpy(bytes + 24, "127.0.0.1:9999", 14);
	for (size_t i = 40; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7);
	uv_buf_t b = uv_buf_init((char *)bytes, sizeof(bytes));
	uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, NULL);
	uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void plain_tcp_is_refused(void **state)
{
	static victim v;
	static raw r;
	victim_open(&v, tp_port(300));
	memset(&r, 0, sizeof(r));
	uv_tcp_init(&v.loop, &r.tcp);
	r.tcp.data = r.connect.data = &r;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", tp_port(300), &sa);
	uv_tcp_connect(&r.connect, &r.tcp, (struct sockaddr *)&sa,
		       raw_connected);
	assert_true(tp_run_until(&v.loop, &r.ended, 1, 3000));
	assert_int_equal(v.accepted, 0);
	assert_int_equal(v.served, 0);
	/* What came back, if anything, is a TLS alert, not raft. */
	assert_true(r.got < 64);
	uv_close((uv_handle_t *)&r.tcp, NULL);
	victim_close(&v);
}

static void raw_silent(uv_connect_t *req, int status)
{
	raw *r = req->data;
	assert_int_equal(status, 0);
	uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

/* A client that connects and says nothing is cut at the deadline. */
static void silent_client_is_cut(void **state)
{
	static victim v;
	static raw r;
	victim_open(&v, tp_port(380));
	memset(&r, 0, sizeof(r));
	uv_tcp_init(&v.loop, &r.tcp);
	r.tcp.data = r.connect.data = &r;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", tp_port(380), &sa);
	uv_tcp_connect(&r.connect, &r.tcp, (struct sockaddr *)&sa, raw_silent);
	uint64_t start = uv_now(&v.loop);
	assert_true(tp_run_until(&v.loop, &r.ended, 1, 5000));
	assert_true(uv_now(&v.loop) - start >= 1900); /* the 2 s deadline */
	uv_close((uv_handle_t *)&r.tcp, NULL);
	victim_close(&v);
}

/* ---- TLS clients the victim must refuse ---------------------------------- */
typedef struct attempt {
	int answered, status;
	char why[512];
	int connected, connect_status;
	uv_stream_t *stream;
} attempt;

static void attempt_answered(void *ctx, int status, const void *body,
			     size_t len)
{
	attempt *a = ctx;
	a->answered = 1;
	a->status = status;
	snprintf(a->why, sizeof(a->why), "%.*s", (int)len, (const char *)body);
}

static void attempt_connected(struct raft_uv_connect *req,
			      struct uv_stream_s *stream, int status)
{
	attempt *a = req->data;
	a->connected = 1;
	a->connect_status = status;
	a->stream = stream;
}

/* An attacker (or a confused member) claiming self_id, presenting client
 * (NULL: no certificate): a call and a raft connect to the victim. */
static void attack(victim *v, const tp_identity *client, uint64_t self_id,
		   uint64_t target_id, attempt *call, attempt *conn)
{
	SSL_CTX *cctx = tp_ctx(0, client, &v->w.ca);
	peer_config cfg = {.client_ctx = cctx,
			   .authorize = tp_authorize,
			   .handshake_timeout_ms = 2000};
	peer *p;
	assert_int_equal(peer_init(&p, &v->loop, &cfg), 0);
	SSL_CTX_free(cctx);
	peer_set_self(p, self_id, "127.0.0.1:1");
	struct raft_uv_transport t;
	assert_int_equal(peer_raft_transport(p, &t), 0);
	static struct raft_uv_connect req;
	req.data = conn;
	memset(call, 0, sizeof(*call));
	memset(conn, 0, sizeof(*conn));
	assert_int_equal(peer_call(p, target_id, v->addr, 1, "x", 1, 3000,
				   attempt_answered, call),
			 0);
	assert_int_equal(
	    t.connect(&t, &req, target_id, v->addr, attempt_connected), 0);
	assert_true(tp_run_until(&v->loop, &call->answered, 1, 5000));
	assert_true(tp_run_until(&v->loop, &conn->connected, 1, 5000));
	if (conn->stream)
		uv_close((uv_handle_t *)conn->stream, (uv_close_cb)raft_free);
	t.close(&t, transport_closed);
	tp_close(&v->loop, p);
}

static void assert_refused(victim *v, attempt *call, attempt *conn)
{
	assert_int_equal(call->status, -1);
	assert_true(strlen(call->why) > 0);
	assert_int_equal(conn->connect_status, RAFT_NOCONNECTION);
	assert_null(conn->stream);
	assert_int_equal(v->accepted, 0);
	assert_int_equal(v->served, 0);
}

static void client_without_certificate(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(310));
	attack(&v, NULL, 1, 2, &call, &conn);
	assert_refused(&v, &call, &conn);
	victim_close(&v);
}

static void client_of_another_ca(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(320));
	attack(&v, &v.w.stranger, 1, 2, &call, &conn);
	assert_refused(&v, &call, &conn);
	victim_close(&v);
}

static void expired_client(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(330));
	attack(&v, &v.w.expired, 9, 2, &call, &conn);
	assert_refused(&v, &call, &conn);
	victim_close(&v);
}

static void certificate_claiming_another_id(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(340));
	/* member-3's certificate, claiming to be member 1 */
	attack(&v, &v.w.member[3], 1, 2, &call, &conn);
	assert_refused(&v, &call, &conn);
	assert_non_null(strstr(call.why, "refused us"));
	assert_non_null(strstr(call.why, "may not be member 1"));
	victim_close(&v);
}

static void server_that_is_not_who_we_meant(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(350));
	/* A legitimate member 1 dialing member 3 at the victim's address. */
	attack(&v, &v.w.member[1], 1, 3, &call, &conn);
	assert_refused(&v, &call, &conn);
	assert_non_null(strstr(call.why, "not who we meant"));
	victim_close(&v);
}

static void legitimate_member_gets_through(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(360));
	attack(&v, &v.w.member[1], 1, 2, &call, &conn);
	assert_int_equal(call.status, 200);
	assert_int_equal(conn.connect_status, 0);
	assert_true(tp_run_until(&v.loop, &v.accepted, 1, 3000));
	assert_int_equal(v.served, 1);
	victim_close(&v);
}

static void raft_not_listening_turns_away(void **state)
{
	static victim v;
	attempt call, conn;
	victim_open(&v, tp_port(390));
	v.t.close(&v.t, transport_closed); /* raft stopped: no taker */
	attack(&v, &v.w.member[1], 1, 2, &call, &conn);
	assert_int_equal(call.status, 200); /* calls are still served */
	assert_int_equal(conn.connect_status, RAFT_NOCONNECTION);
	assert_int_equal(v.accepted, 0);
	victim_close(&v);
}

/* ---- peer_drop ------------------------------------------------------------
 */
typedef struct reader {
	char buf[256];
	int eof;
} reader;

static void reader_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	reader *r = h->data;
	*buf = uv_buf_init(r->buf, sizeof(r->buf));
}

static void reader_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0) {
		((reader *)s->data)->eof = 1;
		uv_read_stop(s);
	}
}

static void drop_closes_a_live_connection(void **state)
{
	static victim v;
	victim_open(&v, tp_port(370));
	peer *m1 = tp_peer(&v.loop, &v.w, 1, tp_port(371), NULL);
	struct raft_uv_transport t;
	assert_int_equal(peer_raft_transport(m1, &t), 0);
	static struct raft_uv_connect req;
	static attempt conn;
	memset(&conn, 0, sizeof(conn));
	req.data = &conn;
	assert_int_equal(t.connect(&t, &req, 2, v.addr, attempt_connected), 0);
	assert_true(tp_run_until(&v.loop, &v.accepted, 1, 3000));
	assert_int_equal(conn.connect_status, 0);
	static reader r;
	memset(&r, 0, sizeof(r));
	v.accepted_stream->data = &r;
	uv_read_start(v.accepted_stream, reader_alloc, reader_read);
	peer_drop(v.server, 1);
	assert_true(tp_run_until(&v.loop, &r.eof, 1, 3000));
	uv_close((uv_handle_t *)conn.stream, (uv_close_cb)raft_free);
	t.close(&t, transport_closed);
	tp_close(&v.loop, m1);
	victim_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plain_tcp_is_refused),
	    cmocka_unit_test(silent_client_is_cut),
	    cmocka_unit_test(client_without_certificate),
	    cmocka_unit_test(client_of_another_ca),
	    cmocka_unit_test(expired_client),
	    cmocka_unit_test(certificate_claiming_another_id),
	    cmocka_unit_test(server_that_is_not_who_we_meant),
	    cmocka_unit_test(legitimate_member_gets_through),
	    cmocka_unit_test(raft_not_listening_turns_away),
	    cmocka_unit_test(drop_closes_a_live_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
