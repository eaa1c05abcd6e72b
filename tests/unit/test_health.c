// SPDX-License-Identifier: BSD-2-Clause
/*
 * Health checks against local servers on 127.0.0.1 (loopback only): a TCP
 * listener that accepts and closes, a tiny HTTP responder, and a silent
 * peer that accepts and never answers. Every wait is bounded in time; every
 * test ends with uv_loop_close() == 0, so no handle is left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "health.h"

#define WAIT_MS	   3000 /* upper bound of any single wait */
#define MAX_CONNS  64
#define MAX_EVENTS 64

enum srv_mode { SRV_CLOSE, SRV_HTTP, SRV_SILENT };

struct conn {
	uv_tcp_t tcp;
	struct srv *s;
	int slot;
	size_t len;
	char buf[1024];
	char resp[128];
	uv_write_t w;
};

struct srv {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listening;
	enum srv_mode mode;
	int status; /* HTTP status to answer */
	int accepts;
	int requests;
	char last_req[1024];
	uint16_t port;
	struct conn *conns[MAX_CONNS];
};

struct ev {
	uint32_t vip, be;
	bool up;
	char reason[64];
	uint64_t at; /* uv_now() */
};

static uv_loop_t loop;
static uv_timer_t ticker;
static struct srv srv;
static struct hc *H;
static struct ev evs[MAX_EVENTS];
static int n_evs;
static bool remove_in_cb; /* state callback removes its target */
static bool free_in_cb;	  /* state callback frees everything */

/* ---------------------------------------------------------------------- */
/* loop helpers */

static void on_tick(uv_timer_t *t)
{
}

static void on_state(void *arg, uint32_t vip, uint32_t be, bool up, const char *reason)
{
	struct ev *e;

	assert_ptr_equal(arg, &evs);
	assert_true(n_evs < MAX_EVENTS);
	e = &evs[n_evs++];
	e->vip = vip;
	e->be = be;
	e->up = up;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->at = uv_now(&loop);
	if (remove_in_cb)
		assert_int_equal(hc_remove(H, vip, be), 0);
	if (free_in_cb) {
		hc_free(H);
		H = NULL;
	}
}

/* Run the loop until *counter >= want or ms elapse. */
static bool run_until(const int *counter, int want, uint64_t ms)
{
	uint64_t end;

	uv_update_time(&loop);
	end = uv_now(&loop) + ms;
	while (*counter < want) {
		uv_update_time(&loop);
		if (uv_now(&loop) >= end)
			return false;
		uv_run(&loop, UV_RUN_ONCE);
	}
	return true;
}

static void run_for(uint64_t ms)
{
	int never = 0;

	run_until(&never, 1, ms);
}

/* ---------------------------------------------------------------------- */
/* the test server */

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->s->conns[c->slot] = NULL;
	free(c);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct conn *c = h->data;

	*b = uv_buf_init(c->buf + c->len, (unsigned int)(sizeof(c->buf) - 1 - c->len));
}

static void conn_written(uv_write_t *w, int status)
{
	conn_close(w->data);
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = st->data;
	struct srv *s = c->s;
	uv_buf_t out;

	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (s->mode != SRV_HTTP || !strstr(c->buf, "\r\n\r\n"))
		return;
	s->requests++;
	memcpy(s->last_req, c->buf, c->len + 1);
	uv_read_stop(st);
	snprintf(c->resp, sizeof(c->resp), "HTTP/1.0 %d Whatever\r\nContent-Length: 2\r\n\r\nok",
		 s->status);
	out = uv_buf_init(c->resp, (unsigned int)strlen(c->resp));
	c->w.data = c;
	assert_int_equal(uv_write(&c->w, st, &out, 1, conn_written), 0);
}

static void on_conn(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	struct conn *c;
	int i;

	assert_int_equal(status, 0);
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	for (i = 0; i < MAX_CONNS && s->conns[i]; i++)
		;
	assert_true(i < MAX_CONNS);
	c->s = s;
	c->slot = i;
	s->conns[i] = c;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	s->accepts++;
	if (s->mode == SRV_CLOSE)
		conn_close(c);
	else
		assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read), 0);
}

static void srv_listen(struct srv *s, uint16_t port)
{
	struct sockaddr_in a;
	struct sockaddr_storage got;
	int len = sizeof(got);

	assert_false(s->listening);
	s->loop = &loop;
	uv_ip4_addr("127.0.0.1", port, &a);
	assert_int_equal(uv_tcp_init(&loop, &s->listener), 0);
	s->listener.data = s;
	assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
	s->listening = true;
}

static void srv_stop(struct srv *s)
{
	int i;

	if (s->listening)
		uv_close((uv_handle_t *)&s->listener, NULL);
	s->listening = false;
	for (i = 0; i < MAX_CONNS; i++)
		if (s->conns[i])
			conn_close(s->conns[i]);
}

/* ---------------------------------------------------------------------- */
/* fixtures */

static int setup(void **state)
{
	if (uv_loop_init(&loop))
		return -1;
	uv_timer_init(&loop, &ticker);
	uv_timer_start(&ticker, on_tick, 5, 5); /* bounds every UV_RUN_ONCE */
	memset(&srv, 0, sizeof(srv));
	srv.status = 200;
	memset(evs, 0, sizeof(evs));
	n_evs = 0;
	remove_in_cb = false;
	free_in_cb = false;
	H = hc_new(&loop, on_state, &evs);
	return H ? 0 : -1;
}

static int teardown(void **state)
{
	hc_free(H);
	H = NULL;
	srv_stop(&srv);
	uv_close((uv_handle_t *)&ticker, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	run_for(50);
	/* every handle (targets, probes, server) must be closed by now */
	uv_run(&loop, UV_RUN_NOWAIT);
	return uv_loop_close(&loop) == 0 ? 0 : -1;
}

static struct cfg_backend backend(uint32_t id, uint16_t port)
{
	struct cfg_backend be = { .id = id, .family = AF_INET, .port = port, .weight = 1 };

	be.addr.w[0] = htonl(INADDR_LOOPBACK);
	return be;
}

static struct cfg_healthcheck check(enum hc_type type, uint32_t interval, uint32_t timeout,
				    uint32_t rise, uint32_t fall)
{
	struct cfg_healthcheck hc = {
		.type = type,
		.expect_status = 200,
		.interval_ms = interval,
		.timeout_ms = timeout,
		.rise = rise,
		.fall = fall,
	};

	snprintf(hc.path, sizeof(hc.path), "/health");
	return hc;
}

/* ---------------------------------------------------------------------- */
/* tests */

static void test_tcp_up(void **state)
{
	struct cfg_healthcheck hc = check(HC_TCP, 50, 40, 2, 2);
	struct cfg_backend be = backend(7, 0);

	srv.mode = SRV_CLOSE;
	srv_listen(&srv, 0);
	/* port: hc->port 0, backend port 0 -> the VIP port */
	assert_int_equal(hc_add(H, 3, &be, srv.port, &hc), 0);
	assert_int_equal(hc_add(H, 3, &be, srv.port, &hc), -EEXIST);
	assert_false(hc_is_up(H, 3, 7));
	assert_null(hc_reason(H, 3, 7));

	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_int_equal(evs[0].vip, 3);
	assert_int_equal(evs[0].be, 7);
	assert_true(evs[0].up); /* first result reports at once */
	assert_string_equal(evs[0].reason, "ok");
	assert_true(hc_is_up(H, 3, 7));
	assert_string_equal(hc_reason(H, 3, 7), "ok");
	assert_false(hc_is_up(H, 3, 8));
	assert_null(hc_reason(H, 3, 8));

	/* stays up, no more reports */
	run_for(200);
	assert_int_equal(n_evs, 1);
	assert_true(srv.accepts >= 3);
}

static void test_tcp_fall_rise(void **state)
{
	struct cfg_healthcheck hc = check(HC_TCP, 40, 30, 3, 4);
	struct cfg_backend be = backend(1, 0);
	uint64_t t0;
	uint16_t port;
	int accepts;

	srv.mode = SRV_CLOSE;
	srv_listen(&srv, 0);
	port = srv.port;
	hc.port = port; /* hc port wins over backend and VIP ports */
	be.port = 1;
	assert_int_equal(hc_add(H, 0, &be, 2, &hc), 0);
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_true(evs[0].up);

	/* listener gone: connect refused, down only after `fall` failures */
	srv_stop(&srv);
	uv_update_time(&loop);
	t0 = uv_now(&loop);
	assert_true(run_until(&n_evs, 2, WAIT_MS));
	assert_false(evs[1].up);
	assert_string_equal(evs[1].reason, "connect refused");
	assert_false(hc_is_up(H, 0, 1));
	/* 4 failures need at least 3 more intervals after the first one */
	assert_true(evs[1].at - t0 >= 3 * 40 - 5);

	/* back: up after exactly `rise` successful connects */
	srv_listen(&srv, port);
	accepts = srv.accepts;
	assert_true(run_until(&n_evs, 3, WAIT_MS));
	assert_true(evs[2].up);
	assert_string_equal(evs[2].reason, "ok");
	run_for(15); /* let the server see the last accept; < 1 interval */
	assert_in_range(srv.accepts - accepts, 3, 4);
	assert_true(hc_is_up(H, 0, 1));
}

static void test_http(void **state)
{
	struct cfg_healthcheck hc = check(HC_HTTP, 50, 40, 2, 2);
	struct cfg_backend be = backend(2, 0);
	char want[64];
	int reqs;

	srv.mode = SRV_HTTP;
	srv.status = 200;
	srv_listen(&srv, 0);
	be.port = srv.port;
	assert_int_equal(hc_add(H, 1, &be, 9, &hc), 0);
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_true(evs[0].up);
	assert_string_equal(evs[0].reason, "ok");
	assert_true(srv.requests >= 1);
	snprintf(want, sizeof(want), "GET /health HTTP/1.0\r\n");
	assert_memory_equal(srv.last_req, want, strlen(want));
	assert_non_null(strstr(srv.last_req, "\r\nHost: 127.0.0.1\r\n"));
	assert_non_null(strstr(srv.last_req, "\r\nUser-Agent: xdplb-hc\r\n"));
	assert_non_null(strstr(srv.last_req, "\r\nConnection: close\r\n\r\n"));

	/* wrong status: down after `fall` answers */
	srv.status = 503;
	reqs = srv.requests;
	assert_true(run_until(&n_evs, 2, WAIT_MS));
	assert_false(evs[1].up);
	assert_string_equal(evs[1].reason, "status 503");
	assert_string_equal(hc_reason(H, 1, 2), "status 503");
	assert_true(srv.requests - reqs >= 2);

	/* and up again after `rise` good answers */
	srv.status = 200;
	assert_true(run_until(&n_evs, 3, WAIT_MS));
	assert_true(evs[2].up);
}

static void test_http_first_down(void **state)
{
	struct cfg_healthcheck hc = check(HC_HTTP, 50, 40, 2, 2);
	struct cfg_backend be = backend(2, 0);

	srv.mode = SRV_HTTP;
	srv.status = 404;
	srv_listen(&srv, 0);
	be.port = srv.port;
	hc.expect_status = 204;
	assert_int_equal(hc_add(H, 1, &be, 9, &hc), 0);
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_false(evs[0].up); /* the first result, down, reports too */
	assert_string_equal(evs[0].reason, "status 404");

	srv.status = 204;
	assert_true(run_until(&n_evs, 2, WAIT_MS));
	assert_true(evs[1].up);
}

static void test_timeout(void **state)
{
	struct cfg_healthcheck hc = check(HC_HTTP, 100, 50, 1, 1);
	struct cfg_backend be = backend(4, 0);
	uint64_t t0;

	srv.mode = SRV_SILENT;
	srv_listen(&srv, 0);
	be.port = srv.port;
	uv_update_time(&loop);
	t0 = uv_now(&loop);
	assert_int_equal(hc_add(H, 5, &be, 80, &hc), 0);
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_false(evs[0].up);
	assert_string_equal(evs[0].reason, "timeout");
	assert_true(evs[0].at - t0 >= 45);
	assert_true(srv.accepts >= 1);
}

static void test_remove_in_flight(void **state)
{
	struct cfg_healthcheck hc = check(HC_HTTP, 5000, 2000, 1, 1);
	struct cfg_backend be = backend(9, 0);

	srv.mode = SRV_SILENT;
	srv_listen(&srv, 0);
	be.port = srv.port;
	assert_int_equal(hc_add(H, 2, &be, 80, &hc), 0);
	/* the probe is connected and waiting for an answer */
	assert_true(run_until(&srv.accepts, 1, WAIT_MS));
	run_for(20);
	assert_int_equal(hc_remove(H, 2, 9), 0);
	assert_int_equal(hc_remove(H, 2, 9), -ENOENT);
	assert_false(hc_is_up(H, 2, 9));
	run_for(100);
	assert_int_equal(n_evs, 0); /* a removed target never reports */

	/* re-adding the same target works */
	assert_int_equal(hc_add(H, 2, &be, 80, &hc), 0);
	assert_true(run_until(&srv.accepts, 2, WAIT_MS));

	/* removal right after the connect was started, before it completed */
	be.id = 10;
	assert_int_equal(hc_add(H, 2, &be, 80, &hc), 0);
	uv_run(&loop, UV_RUN_NOWAIT); /* timer fires, connect in flight */
	assert_int_equal(hc_remove(H, 2, 10), 0);
	assert_int_equal(hc_remove(H, 7, 7), -ENOENT);
	run_for(50);
	assert_int_equal(n_evs, 0);
	/* teardown frees target 9 with its probe still in flight */
}

static void test_none(void **state)
{
	struct cfg_healthcheck hc = check(HC_NONE, 0, 0, 0, 0);
	struct cfg_backend be = backend(11, 80);

	assert_int_equal(hc_add(H, 0, &be, 80, &hc), 0);
	assert_int_equal(n_evs, 0); /* not from inside hc_add */
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_true(evs[0].up);
	assert_true(hc_is_up(H, 0, 11));
	/* NULL config = no check as well */
	be.id = 12;
	assert_int_equal(hc_add(H, 0, &be, 80, NULL), 0);
	assert_true(run_until(&n_evs, 2, WAIT_MS));
	assert_true(evs[1].up);
	run_for(50);
	assert_int_equal(n_evs, 2);
}

/* Zeros are not defaults: a check the config file would refuse is refused,
 * and the VIP's defaults (cfg_vip_init()) are a valid check. */
static void test_invalid(void **state)
{
	struct cfg_backend be = backend(15, 80);
	struct cfg_healthcheck hc;
	struct cfg_vip v;

	hc = check(HC_TCP, 0, 0, 0, 0);
	assert_int_equal(hc_add(H, 0, &be, 80, &hc), -EINVAL);
	hc = check(HC_HTTP, 100, 100, 1, 1); /* timeout not below interval */
	assert_int_equal(hc_add(H, 0, &be, 80, &hc), -EINVAL);
	hc = check(HC_TCP, 100, 50, 0, 1);
	assert_int_equal(hc_add(H, 0, &be, 80, &hc), -EINVAL);
	assert_false(hc_is_up(H, 0, 15));
	cfg_vip_init(&v);
	v.hc.type = HC_TCP;
	assert_int_equal(hc_add(H, 0, &be, 80, &v.hc), 0);
	assert_int_equal(hc_remove(H, 0, 15), 0);
	assert_int_equal(n_evs, 0);
}

static void test_remove_from_callback(void **state)
{
	struct cfg_healthcheck hc = check(HC_TCP, 30, 20, 1, 1);
	struct cfg_backend be = backend(13, 0);

	srv.mode = SRV_CLOSE;
	srv_listen(&srv, 0);
	remove_in_cb = true;
	assert_int_equal(hc_add(H, 0, &be, srv.port, &hc), 0);
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	assert_false(hc_is_up(H, 0, 13)); /* removed */
	run_for(100);
	assert_int_equal(n_evs, 1);
}

static void test_free_from_callback(void **state)
{
	struct cfg_healthcheck hc = check(HC_TCP, 30, 20, 1, 1);
	struct cfg_backend be = backend(14, 0);
	int i;

	srv.mode = SRV_CLOSE;
	srv_listen(&srv, 0);
	free_in_cb = true;
	for (i = 0; i < 8; i++) {
		be.id = 14 + i;
		assert_int_equal(hc_add(H, 0, &be, srv.port, &hc), 0);
	}
	assert_true(run_until(&n_evs, 1, WAIT_MS));
	run_for(100);
	assert_int_equal(n_evs, 1);
	assert_null(H);
}

static void test_many(void **state)
{
	struct cfg_healthcheck hc = check(HC_HTTP, 60, 50, 1, 1);
	struct cfg_backend be = backend(0, 0);
	uint32_t i;

	srv.mode = SRV_HTTP;
	srv_listen(&srv, 0);
	be.port = srv.port;
	for (i = 1; i <= 20; i++) {
		be.id = i;
		assert_int_equal(hc_add(H, i % 3, &be, 80, &hc), 0);
	}
	assert_true(run_until(&n_evs, 20, WAIT_MS));
	for (i = 0; i < 20; i++)
		if (!evs[i].up)
			fail_msg("target %u/%u: %s", evs[i].vip, evs[i].be, evs[i].reason);
	for (i = 1; i <= 20; i++)
		assert_true(hc_is_up(H, i % 3, i));
	for (i = 1; i <= 20; i += 2)
		assert_int_equal(hc_remove(H, i % 3, i), 0);
	run_for(150);
	assert_int_equal(n_evs, 20);
	/* teardown's hc_free closes the other 10 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tcp_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_fall_rise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_first_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
