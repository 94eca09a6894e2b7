/* test_peer_call.c - the CALL channel between two peers on one loop over
 * 127.0.0.1: many concurrent calls answered out of order, a timeout, a lost
 * connection failing its calls, an answer after the caller is gone, a name
 * for an address, and the blocking call for start-up code. */
#include "test_peer_util.h"

#include <pthread.h>

#define KIND_ECHO 1
#define KIND_HOLD 2 /* the server keeps the request until told */

typedef struct server {
	peer_request *held[2048];
	int n_held;
	int served;
	uint64_t last_from;
} server;

static void serve(void *ctx, peer_request *req, uint64_t from, int kind,
		  const void *body, size_t len)
{
	server *s = ctx;
	s->served++;
	s->last_from = from;
	if (kind == KIND_ECHO)
		peer_answer(req, 200, body, len);
	else
		s->held[s->n_held++] = req;
}

typedef struct answers {
	int n;
	int failed;
	int status[1100];
	char body[1100][64];
} answers;

typedef struct one_call {
	answers *a;
	int i;
} one_call;

static void answered(void *ctx, int status, const void *body, size_t len)
{
	one_call *c = ctx;
	answers *a = c->a;
	a->status[c->i] = status;
	snprintf(a->body[c->i], sizeof(a->body[0]), "%.*s", (int)len,
		 (const char *)body);
	if (status == -1)
		a->failed++;
	a->n++;
}

typedef struct pair {
	uv_loop_t loop;
	tp_world w;
	peer *client, *server;
	server s;
	char server_addr[64];
} pair;

static void pair_open(pair *t, int port)
{
	memset(t, 0, sizeof(*t));
	uv_loop_init(&t->loop);
	tp_world_init(&t->w);
	t->server = tp_peer(&t->loop, &t->w, 2, port, NULL);
	t->client = tp_peer(&t->loop, &t->w, 1, port + 1, NULL);
	peer_serve(t->server, serve, &t->s);
	snprintf(t->server_addr, sizeof(t->server_addr), "127.0.0.1:%d", port);
}

static void pair_close(pair *t)
{
	if (t->client)
		tp_close(&t->loop, t->client);
	if (t->server)
		tp_close(&t->loop, t->server);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	tp_world_free(&t->w);
}

static void thousand_calls_out_of_order(void **state)
{
	static pair t;
	static answers a;
	static one_call calls[1000];
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(100));
	for (int i = 0; i < 1000; i++) {
		char body[32];
		int n = snprintf(body, sizeof(body), "call %d", i);
		calls[i] = (one_call){&a, i};
		assert_int_equal(peer_call(t.client, 2, t.server_addr,
					   KIND_HOLD, body, (size_t)n, 10000,
					   answered, &calls[i]),
				 0);
	}
	assert_true(tp_run_until(&t.loop, &t.s.n_held, 1000, 10000));
	assert_int_equal(t.s.last_from, 1);
	/* Answer from the last to the first. */
	for (int i = 999; i >= 0; i--) {
		char body[32];
		int n = snprintf(body, sizeof(body), "answer %d", i);
		peer_answer(t.s.held[i], 1000 + i, body, (size_t)n);
	}
	t.s.n_held = 0;
	assert_true(tp_run_until(&t.loop, &a.n, 1000, 10000));
	for (int i = 0; i < 1000; i++) {
		char want[32];
		snprintf(want, sizeof(want), "answer %d", i);
		assert_int_equal(a.status[i], 1000 + i);
		assert_string_equal(a.body[i], want);
	}
	pair_close(&t);
}

static void timeout_then_late_answer(void **state)
{
	static pair t;
	static answers a;
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(110));
	one_call c0 = {&a, 0}, c1 = {&a, 1};
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_HOLD, "x",
				   1, 300, answered, &c0),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 1, 3000));
	assert_int_equal(a.status[0], -1);
	assert_non_null(strstr(a.body[0], "no answer"));
	/* The late answer is dropped; the connection still serves. */
	assert_int_equal(t.s.n_held, 1);
	peer_answer(t.s.held[0], 200, "late", 4);
	t.s.n_held = 0;
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_ECHO,
				   "echo", 4, 3000, answered, &c1),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 2, 3000));
	assert_int_equal(a.status[1], 200);
	assert_string_equal(a.body[1], "echo");
	pair_close(&t);
}

static void lost_connection_fails_calls(void **state)
{
	static pair t;
	static answers a;
	static one_call calls[3];
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(120));
	for (int i = 0; i < 3; i++) {
		calls[i] = (one_call){&a, i};
		assert_int_equal(peer_call(t.client, 2, t.server_addr,
					   KIND_HOLD, "h", 1, 10000, answered,
					   &calls[i]),
				 0);
	}
	assert_true(tp_run_until(&t.loop, &t.s.n_held, 3, 3000));
	peer_drop(t.server, 1); /* the server forgets member 1 */
	assert_true(tp_run_until(&t.loop, &a.n, 3, 3000));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a.status[i], -1);
		assert_non_null(strstr(a.body[i], "lost"));
	}
	/* Answers to a dropped connection go nowhere, safely. */
	for (int i = 0; i < 3; i++)
		peer_answer(t.s.held[i], 200, "late", 4);
	t.s.n_held = 0;
	/* The next call dials again. */
	calls[0] = (one_call){&a, 3};
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_ECHO, "e",
				   1, 3000, answered, &calls[0]),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 4, 3000));
	assert_int_equal(a.status[3], 200);
	pair_close(&t);
}

static void answer_after_the_caller_is_gone(void **state)
{
	static pair t;
	static answers a;
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(130));
	one_call c0 = {&a, 0};
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_HOLD, "h",
				   1, 10000, answered, &c0),
			 0);
	assert_true(tp_run_until(&t.loop, &t.s.n_held, 1, 3000));
	tp_close(&t.loop, t.client);
	t.client = NULL;
	assert_int_equal(a.n, 1);
	assert_int_equal(a.status[0], -1);
	/* Let the server see the end of the connection, then answer. */
	for (int i = 0; i < 50; i++) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_sleep(2);
	}
	peer_answer(t.s.held[0], 200, "late", 4);
	pair_close(&t);
}

static void names_are_resolved(void **state)
{
	static pair t;
	static answers a;
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(140));
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%d", tp_port(140));
	one_call c0 = {&a, 0};
	assert_int_equal(peer_call(t.client, 2, addr, KIND_ECHO, "hi", 2, 3000,
				   answered, &c0),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 1, 4000));
	assert_int_equal(a.status[0], 200);
	assert_string_equal(a.body[0], "hi");
	/* A name that does not resolve fails the call with a reason. */
	one_call c1 = {&a, 1};
	assert_int_equal(peer_call(t.client, 2, "no-such-host.invalid:1",
				   KIND_ECHO, "hi", 2, 3000, answered, &c1),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 2, 4000));
	assert_int_equal(a.status[1], -1);
	assert_non_null(strstr(a.body[1], "resolve"));
	pair_close(&t);
}

static void new_contexts_for_new_connections(void **state)
{
	static pair t;
	static answers a;
	static one_call calls[3];
	memset(&a, 0, sizeof(a));
	pair_open(&t, tp_port(160));
	for (int i = 0; i < 3; i++)
		calls[i] = (one_call){&a, i};
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_ECHO, "1",
				   1, 3000, answered, &calls[0]),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 1, 3000));
	assert_int_equal(a.status[0], 200);
	/* The server now trusts only the other CA. */
	SSL_CTX *sctx = tp_ctx(1, &t.w.member[2], &t.w.other_ca);
	SSL_CTX *cctx = tp_ctx(0, &t.w.member[2], &t.w.other_ca);
	peer_set_tls(t.server, sctx, cctx);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	/* The open connection keeps its context... */
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_ECHO, "2",
				   1, 3000, answered, &calls[1]),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 2, 3000));
	assert_int_equal(a.status[1], 200);
	/* ...a new one gets the new context, which refuses our CA. */
	peer_drop(t.client, 2);
	for (int i = 0; i < 20; i++) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	assert_int_equal(peer_call(t.client, 2, t.server_addr, KIND_ECHO, "3",
				   1, 3000, answered, &calls[2]),
			 0);
	assert_true(tp_run_until(&t.loop, &a.n, 3, 4000));
	assert_int_equal(a.status[2], -1);
	assert_int_equal(t.s.served, 2);
	pair_close(&t);
}

/* peer_call_sync blocks, so the server runs on a thread of its own. */
typedef struct sync_server {
	uv_loop_t loop;
	uv_async_t stop;
	peer *p;
	server s;
	tp_world *w;
	int port;
	int ready;
} sync_server;

static void sync_stop(uv_async_t *a)
{
	sync_server *ss = a->data;
	peer_close(ss->p, NULL, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *sync_thread(void *arg)
{
	sync_server *ss = arg;
	uv_run(&ss->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void blocking_call(void **state)
{
	static tp_world w;
	static sync_server ss;
	tp_world_init(&w);
	memset(&ss, 0, sizeof(ss));
	uv_loop_init(&ss.loop);
	ss.p = tp_peer(&ss.loop, &w, 2, tp_port(150), NULL);
	peer_serve(ss.p, serve, &ss.s);
	uv_async_init(&ss.loop, &ss.stop, sync_stop);
	ss.stop.data = &ss;
	pthread_t th;
	pthread_create(&th, NULL, sync_thread, &ss);

	SSL_CTX *cctx = tp_ctx(0, &w.member[3], &w.ca);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", tp_port(150));
	int status = 0;
	char *resp = NULL;
	size_t len = 0;
	assert_int_equal(peer_call_sync(cctx, tp_authorize, NULL, 3,
					"127.0.0.1:1", addr, KIND_ECHO, "join",
					4, 3000, &status, &resp, &len),
			 0);
	assert_int_equal(status, 200);
	assert_int_equal(len, 4);
	assert_memory_equal(resp, "join", 4);
	free(resp);
	/* Nobody there: -1 and a reason. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", tp_port(151));
	assert_int_equal(peer_call_sync(cctx, tp_authorize, NULL, 3,
					"127.0.0.1:1", addr, KIND_ECHO, "join",
					4, 1000, &status, &resp, &len),
			 -1);
	assert_non_null(resp);
	assert_true(strlen(resp) > 0);
	free(resp);
	SSL_CTX_free(cctx);

	uv_async_send(&ss.stop);
	pthread_join(th, NULL);
	assert_int_equal(uv_loop_close(&ss.loop), 0);
	tp_world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(thousand_calls_out_of_order),
	    cmocka_unit_test(timeout_then_late_answer),
	    cmocka_unit_test(lost_connection_fails_calls),
	    cmocka_unit_test(answer_after_the_caller_is_gone),
	    cmocka_unit_test(names_are_resolved),
	    cmocka_unit_test(new_contexts_for_new_connections),
	    cmocka_unit_test(blocking_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
