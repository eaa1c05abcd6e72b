// SPDX-License-Identifier: BSD-2-Clause
/*
 * xlb-flows: traffic of the failover tests, on one libuv loop.
 *
 *   xlb-flows tcp --target ADDR:PORT --conns N --interval-ms MS --duration-s S
 *                 [--connect-timeout-ms 3000] [--gap-limit-ms 2000]
 *                 [--ramp 200] [--grace-ms 2000] [--json]
 *   xlb-flows udp --target ADDR:PORT --flows N --interval-ms MS --duration-s S
 *                 [--max-loss-pct 5] [--grace-ms 1000] [--json]
 *   xlb-flows udp-echo --listen ADDR:PORT --name NAME
 *
 * tcp: N keep-alive connections (at most --ramp connecting at a time), each
 * sending "GET / HTTP/1.1" every interval once the previous answer is in,
 * never pipelining. Every answer must be a 200 whose body names the backend
 * ("backend be1\n"); the name must not change on a connection. A connection
 * fails on connect failure/timeout, reset, EOF, other socket errors, a bad
 * or unsolicited answer, a change of backend, or an answer still missing
 * --grace-ms after the run. Its gap is the longest time without an answer:
 * from its connect to the first answer, between answers, and from the last
 * answer to its end. A request unanswered for longer than --gap-limit-ms is
 * counted as a stall, and the tool goes on waiting (TCP may recover). Pass:
 * every connection ok and no gap over --gap-limit-ms.
 *
 * udp: N unconnected sockets (so N source ports), each sending a datagram
 * every interval (staggered over the interval). Answers must come from the
 * target and name the backend. Pass: every flow answered by exactly one
 * backend, nothing from another address, loss <= --max-loss-pct per flow.
 *
 * udp-echo: answers every datagram with "NAME\n" from the address it was
 * sent to (IP_PKTINFO), so a VIP on lo works with --listen 0.0.0.0:PORT.
 *
 * SIGUSR1 prints a status line to stderr; SIGINT/SIGTERM end the run early
 * (a second one skips the grace) and such a cut-short run does not pass.
 * Everything is bounded: --duration-s, then --grace-ms, then the report.
 * Exit: 0 pass, 1 fail, 2 bad arguments (one line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "flows_util.h"

#define MAX_CONNS      60000
#define MAX_DURATION_S 86400
#define NAME_MAX_LEN   64
#define MAX_NAMES      64 /* distinct backend names tracked */
#define MAX_RESP       4  /* responders remembered per UDP flow */
#define SHOW_FAILURES  20 /* failures listed in the report */

static const char http_request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* ------------------------------------------------------------- common */

struct opts {
	const char *mode;
	struct sockaddr_storage target;
	char target_str[64];
	unsigned long n;
	unsigned long interval_ms;
	unsigned long duration_s;
	unsigned long connect_timeout_ms;
	unsigned long gap_limit_ms;
	unsigned long grace_ms;
	unsigned long ramp;
	double max_loss_pct;
	bool json;
	const char *name;
};

static uv_loop_t *loop;
static struct opts O;
static uint64_t t0_us; /* start of the run */

/* Backend names seen, with the number of connections/flows on each. */
static char names[MAX_NAMES][NAME_MAX_LEN];
static unsigned long name_users[MAX_NAMES];
static int nnames;

static uint64_t now_us(void)
{
	return uv_hrtime() / 1000;
}

static unsigned long ms(uint64_t us)
{
	return (unsigned long)((us + 500) / 1000);
}

static double run_s(void)
{
	return (double)(now_us() - t0_us) / 1e6;
}

/* Index of name, added if new; the last slot collects the overflow. */
static int name_index(const char *name)
{
	int i;

	for (i = 0; i < nnames; i++)
		if (!strcmp(names[i], name))
			return i;
	if (nnames == MAX_NAMES)
		return MAX_NAMES - 1;
	snprintf(names[nnames], NAME_MAX_LEN, "%s",
		 nnames == MAX_NAMES - 1 ? "(other names)" : name);
	return nnames++;
}

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("xlb-flows: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (xlb-flows --help)\n", stderr);
	exit(2);
}

/* Raises the fd limit for n sockets, or says why it cannot. */
static void need_fds(unsigned long n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		usage_error("%lu sockets need %lu file descriptors, the hard limit is %lu", n,
			    (unsigned long)want, (unsigned long)rl.rlim_max);
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		usage_error("cannot raise the fd limit to %lu: %s", (unsigned long)want,
			    strerror(errno));
}

static uv_signal_t sig_usr1, sig_int, sig_term;
static uv_timer_t deadline_timer, grace_timer;
static bool draining, finishing, globals_closed, interrupted;
static double ran_s; /* seconds from the start to the end of sending */

static void close_globals(void)
{
	if (globals_closed)
		return;
	globals_closed = true;
	uv_close((uv_handle_t *)&sig_usr1, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&deadline_timer, NULL);
	uv_close((uv_handle_t *)&grace_timer, NULL);
}

static void on_interrupt(uv_signal_t *s, int signum)
{
	/* first signal: end of the run now; second: skip the grace too */
	if (!draining) {
		interrupted = true; /* a cut-short run does not pass */
		uv_timer_start(&deadline_timer, deadline_timer.timer_cb, 0, 0);
	} else
		uv_timer_start(&grace_timer, grace_timer.timer_cb, 0, 0);
}

static void start_globals(uv_timer_cb on_deadline, uv_timer_cb on_grace, uv_signal_cb on_status)
{
	uv_timer_init(loop, &deadline_timer);
	uv_timer_init(loop, &grace_timer);
	uv_signal_init(loop, &sig_usr1);
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_usr1, on_status, SIGUSR1);
	uv_signal_start(&sig_int, on_interrupt, SIGINT);
	uv_signal_start(&sig_term, on_interrupt, SIGTERM);
	/* set the callbacks; on_interrupt restarts them */
	uv_timer_start(&grace_timer, on_grace, 1000ull * 86400 * 365, 0);
	uv_timer_stop(&grace_timer);
	uv_timer_start(&deadline_timer, on_deadline, O.duration_s * 1000, 0);
}

static void json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Backend names and how many connections/flows each one served. */
static struct json_object *json_names(void)
{
	struct json_object *o = json_object_new_object();
	int i;

	for (i = 0; i < nnames; i++)
		json_object_object_add(o, names[i], json_object_new_int64((int64_t)name_users[i]));
	return o;
}

static void print_names(const char *what)
{
	int i;

	printf("  %s:", what);
	if (!nnames)
		printf(" none");
	for (i = 0; i < nnames; i++)
		printf("%s \"%s\" %lu", i ? "," : "", names[i], name_users[i]);
	printf("\n");
}

/* ---------------------------------------------------------------- tcp */

enum reason {
	R_NONE,
	R_CONNECT_FAIL,
	R_CONNECT_TIMEOUT,
	R_RESET,
	R_EOF,
	R_TIMEOUT,
	R_IO,
	R_BAD_RESPONSE,
	R_BACKEND_CHANGE,
	R_NOT_STARTED,
	R__N
};

static const char *const reason_name[R__N] = {
	[R_NONE] = "none",
	[R_CONNECT_FAIL] = "connect_fail",
	[R_CONNECT_TIMEOUT] = "connect_timeout",
	[R_RESET] = "reset",
	[R_EOF] = "eof",
	[R_TIMEOUT] = "timeout",
	[R_IO] = "io_error",
	[R_BAD_RESPONSE] = "bad_response",
	[R_BACKEND_CHANGE] = "backend_change",
	[R_NOT_STARTED] = "not_started",
};

enum cstate { C_IDLE, C_CONNECTING, C_RUNNING, C_CLOSING, C_DONE };

struct tconn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* connect timeout, then the request tick */
	uv_connect_t creq;
	uv_write_t wreq;
	struct hresp rp;
	unsigned id;
	enum cstate st;
	int open_handles;
	bool outstanding; /* request sent, answer not complete */
	bool writing;	  /* uv_write not yet called back */
	bool stalled;	  /* outstanding for longer than the gap limit */
	uint64_t t_begin, t_last_ok, t_sent, t_end;
	uint64_t max_gap;
	unsigned long requests;
	unsigned long stalls;
	int backend; /* name index, -1 before the first answer */
	enum reason err;
	char detail[128];
};

static struct tconn *conns;
static unsigned long next_start, n_connecting, n_alive, n_finished;

static void tcp_start_more(void);
static void tcp_maybe_end(void);

static void tconn_closed(uv_handle_t *h)
{
	struct tconn *c = h->data;

	if (--c->open_handles == 0) {
		c->st = C_DONE;
		n_finished++;
		tcp_maybe_end();
	}
}

/* Ends a connection exactly once, as ok (err == R_NONE) or failed. */
__attribute__((format(printf, 3, 4))) static void tconn_end(struct tconn *c, enum reason err,
							    const char *fmt, ...)
{
	uint64_t now = now_us();
	enum cstate was = c->st;
	va_list ap;

	if (was != C_CONNECTING && was != C_RUNNING)
		return;
	c->err = err;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
		va_end(ap);
	}
	c->t_end = now;
	if (now - c->t_last_ok > c->max_gap)
		c->max_gap = now - c->t_last_ok;
	c->st = C_CLOSING;
	if (was == C_CONNECTING)
		n_connecting--;
	else
		n_alive--;
	c->open_handles = 2;
	uv_close((uv_handle_t *)&c->tcp, tconn_closed);
	uv_close((uv_handle_t *)&c->timer, tconn_closed);
	if (was == C_CONNECTING)
		tcp_start_more();
}

static enum reason reason_of(int uverr)
{
	switch (uverr) {
	case UV_ECONNRESET:
	case UV_EPIPE:
	case UV_ECONNABORTED:
		return R_RESET;
	case UV_EOF:
		return R_EOF;
	case UV_ETIMEDOUT:
		return R_TIMEOUT;
	default:
		return R_IO;
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct tconn *c = w->data;

	c->writing = false;
	if (status < 0 && c->st == C_RUNNING)
		tconn_end(c, reason_of(status), "send after %lu answers: %s", c->requests,
			  uv_strerror(status));
}

static void on_tick(uv_timer_t *t)
{
	struct tconn *c = t->data;
	uv_buf_t b = uv_buf_init((char *)http_request, sizeof(http_request) - 1);
	uint64_t now = now_us();
	int err;

	if (c->st != C_RUNNING)
		return;
	if (c->outstanding) {
		if (!c->stalled && now - c->t_sent > O.gap_limit_ms * 1000) {
			c->stalled = true;
			c->stalls++;
		}
		return;
	}
	if (draining || c->writing)
		return;
	c->wreq.data = c;
	err = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (err) {
		tconn_end(c, reason_of(err), "send after %lu answers: %s", c->requests,
			  uv_strerror(err));
		return;
	}
	c->writing = true;
	c->outstanding = true;
	c->stalled = false;
	c->t_sent = now;
}

static int on_response(void *ctx, int status, const char *body, size_t len, bool keep_alive)
{
	struct tconn *c = ctx;
	char name[NAME_MAX_LEN];
	uint64_t now = now_us();
	int idx;

	if (!c->outstanding) {
		tconn_end(c, R_BAD_RESPONSE, "answer without a request after %lu answers",
			  c->requests);
		return 1;
	}
	if (status != 200) {
		tconn_end(c, R_BAD_RESPONSE, "status %d after %lu answers", status, c->requests);
		return 1;
	}
	answer_name(body, len, name, sizeof(name));
	idx = name_index(name);
	if (c->backend < 0) {
		c->backend = idx;
		name_users[idx]++;
	} else if (idx != c->backend) {
		tconn_end(c, R_BACKEND_CHANGE, "\"%s\" then \"%s\" after %lu answers",
			  names[c->backend], names[idx], c->requests);
		return 1;
	}
	c->requests++;
	c->outstanding = false;
	if (now - c->t_last_ok > c->max_gap)
		c->max_gap = now - c->t_last_ok;
	c->t_last_ok = now;
	if (!keep_alive) {
		tconn_end(c, R_BAD_RESPONSE,
			  "server closes the connection (no keep-alive) after %lu answers",
			  c->requests);
		return 1;
	}
	if (draining) {
		tconn_end(c, R_NONE, NULL);
		return 1;
	}
	return 0;
}

static char rbuf[65536];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tconn *c = s->data;

	if (c->st != C_RUNNING || nread == 0)
		return;
	if (nread < 0) {
		tconn_end(c, reason_of((int)nread), "%s after %lu answers%s",
			  uv_strerror((int)nread), c->requests,
			  c->outstanding ? ", one request unanswered" : "");
		return;
	}
	if (hresp_feed(&c->rp, buf->base, (size_t)nread) < 0)
		tconn_end(c, R_BAD_RESPONSE, "malformed answer after %lu answers: %s", c->requests,
			  hresp_error(&c->rp));
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct tconn *c = t->data;

	tconn_end(c, R_CONNECT_TIMEOUT, "no connection within %lu ms", O.connect_timeout_ms);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct tconn *c = req->data;
	int err;

	if (c->st != C_CONNECTING)
		return; /* UV_ECANCELED after a timeout */
	if (status < 0) {
		tconn_end(c, status == UV_ETIMEDOUT ? R_CONNECT_TIMEOUT : R_CONNECT_FAIL,
			  "connect: %s", uv_strerror(status));
		return;
	}
	c->st = C_RUNNING;
	n_connecting--;
	n_alive++;
	uv_tcp_nodelay(&c->tcp, 1);
	err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (err) {
		tconn_end(c, R_IO, "read start: %s", uv_strerror(err));
		return;
	}
	/* connections spread over one interval, then one request per interval */
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_tick, O.interval_ms * c->id / O.n, O.interval_ms);
	tcp_start_more();
}

static void tconn_start(struct tconn *c)
{
	int err;

	c->st = C_CONNECTING;
	n_connecting++;
	c->t_begin = c->t_last_ok = now_us();
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c->timer.data = c->creq.data = c;
	hresp_init(&c->rp, on_response, c);
	uv_timer_start(&c->timer, on_connect_timeout, O.connect_timeout_ms, 0);
	err = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&O.target, on_connect);
	if (err)
		tconn_end(c, R_CONNECT_FAIL, "connect: %s", uv_strerror(err));
}

static void tcp_start_more(void)
{
	while (!draining && next_start < O.n && n_connecting < O.ramp)
		tconn_start(&conns[next_start++]);
}

static void tcp_maybe_end(void)
{
	if (draining && n_finished == O.n)
		close_globals();
	else if (!draining && n_finished == O.n) /* all failed: nothing to wait for */
		uv_timer_start(&deadline_timer, deadline_timer.timer_cb, 0, 0);
}

static void tcp_on_deadline(uv_timer_t *t)
{
	unsigned long i;

	if (draining)
		return;
	draining = true;
	ran_s = run_s();
	for (i = 0; i < O.n; i++) {
		struct tconn *c = &conns[i];

		switch (c->st) {
		case C_IDLE:
			c->st = C_DONE;
			c->err = R_NOT_STARTED;
			snprintf(c->detail, sizeof(c->detail),
				 "the run ended before it was started");
			n_finished++;
			break;
		case C_CONNECTING:
			tconn_end(c, R_CONNECT_TIMEOUT, "still connecting at the end of the run");
			break;
		case C_RUNNING:
			if (!c->outstanding)
				tconn_end(c, R_NONE, NULL);
			break;
		default:
			break;
		}
	}
	uv_timer_start(&grace_timer, grace_timer.timer_cb, O.grace_ms, 0);
	tcp_maybe_end();
}

static void tcp_on_grace(uv_timer_t *t)
{
	unsigned long i;
	uint64_t now = now_us();

	for (i = 0; i < O.n; i++) {
		struct tconn *c = &conns[i];

		if (c->st == C_RUNNING)
			tconn_end(c, R_TIMEOUT,
				  "request unanswered for %lu ms at the end, after %lu answers",
				  ms(now - c->t_sent), c->requests);
	}
	tcp_maybe_end();
}

static void tcp_on_status(uv_signal_t *s, int signum)
{
	unsigned long i, failed = 0, stalled = 0;
	uint64_t requests = 0, gap = 0, now = now_us();

	for (i = 0; i < O.n; i++) {
		struct tconn *c = &conns[i];
		uint64_t g = c->max_gap;

		if (c->st == C_RUNNING && now - c->t_last_ok > g)
			g = now - c->t_last_ok;
		if (g > gap)
			gap = g;
		requests += c->requests;
		if (c->err != R_NONE)
			failed++;
		if (c->st == C_RUNNING && c->outstanding && now - c->t_sent > O.gap_limit_ms * 1000)
			stalled++;
	}
	fprintf(stderr,
		"xlb-flows tcp: t=%.1fs alive=%lu connecting=%lu failed=%lu "
		"stalled_now=%lu requests=%llu longest_gap_ms=%lu%s\n",
		run_s(), n_alive, n_connecting, failed, stalled, (unsigned long long)requests,
		ms(gap), draining ? " (ending)" : "");
}

static int tcp_report(void)
{
	unsigned long count[R__N] = { 0 };
	unsigned long i, ok = 0, over = 0, stalls = 0, started = 0, shown = 0;
	uint64_t requests = 0, gap = 0, *gaps;
	unsigned long gap_conn = 0;
	uint64_t p50, p99;
	bool pass;

	gaps = calloc(O.n ? O.n : 1, sizeof(*gaps));
	if (!gaps) {
		fprintf(stderr, "xlb-flows: out of memory\n");
		return 1;
	}
	for (i = 0; i < O.n; i++) {
		struct tconn *c = &conns[i];

		count[c->err]++;
		requests += c->requests;
		stalls += c->stalls;
		if (c->max_gap > O.gap_limit_ms * 1000)
			over++;
		if (c->err == R_NONE && c->max_gap <= O.gap_limit_ms * 1000)
			ok++;
		if (c->err != R_NOT_STARTED)
			gaps[started++] = c->max_gap;
		if (c->max_gap > gap) {
			gap = c->max_gap;
			gap_conn = i;
		}
	}
	p50 = percentile_u64(gaps, started, 50);
	p99 = percentile_u64(gaps, started, 99);
	free(gaps);
	pass = ok == O.n && O.n > 0 && !interrupted;

	if (O.json) {
		struct json_object *o = json_object_new_object();
		struct json_object *f = json_object_new_object();
		struct json_object *l = json_object_new_array();
		int r;

		for (r = R_NONE + 1; r < R__N; r++)
			json_object_object_add(f, reason_name[r],
					       json_object_new_int64((int64_t)count[r]));
		json_object_object_add(f, "gap_over_limit", json_object_new_int64((int64_t)over));
		for (i = 0; i < O.n && shown < SHOW_FAILURES; i++) {
			struct tconn *c = &conns[i];
			struct json_object *e;

			if (c->err == R_NONE && c->max_gap <= O.gap_limit_ms * 1000)
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "conn", json_object_new_int64((int64_t)i));
			json_object_object_add(e, "reason",
					       json_object_new_string(c->err != R_NONE
									      ? reason_name[c->err]
									      : "gap_over_limit"));
			json_object_object_add(e, "detail", json_object_new_string(c->detail));
			json_object_object_add(e, "requests",
					       json_object_new_int64((int64_t)c->requests));
			json_object_object_add(e, "longest_gap_ms",
					       json_object_new_int64((int64_t)ms(c->max_gap)));
			json_object_array_add(l, e);
			shown++;
		}
		json_object_object_add(o, "mode", json_object_new_string("tcp"));
		json_object_object_add(o, "target", json_object_new_string(O.target_str));
		json_object_object_add(o, "conns", json_object_new_int64((int64_t)O.n));
		json_object_object_add(o, "interval_ms",
				       json_object_new_int64((int64_t)O.interval_ms));
		json_object_object_add(o, "duration_s",
				       json_object_new_int64((int64_t)O.duration_s));
		json_object_object_add(o, "ran_s",
				       json_object_new_double((double)(int64_t)(ran_s * 10) / 10));
		json_object_object_add(o, "interrupted", json_object_new_boolean(interrupted));
		json_object_object_add(o, "gap_limit_ms",
				       json_object_new_int64((int64_t)O.gap_limit_ms));
		json_object_object_add(o, "ok", json_object_new_int64((int64_t)ok));
		json_object_object_add(o, "failed", json_object_new_int64((int64_t)(O.n - ok)));
		json_object_object_add(o, "failures", f);
		json_object_object_add(o, "requests", json_object_new_int64((int64_t)requests));
		json_object_object_add(o, "stalls", json_object_new_int64((int64_t)stalls));
		json_object_object_add(o, "longest_gap_ms",
				       json_object_new_int64((int64_t)ms(gap)));
		json_object_object_add(o, "longest_gap_conn",
				       json_object_new_int64((int64_t)gap_conn));
		json_object_object_add(o, "gap_p50_ms", json_object_new_int64((int64_t)ms(p50)));
		json_object_object_add(o, "gap_p99_ms", json_object_new_int64((int64_t)ms(p99)));
		json_object_object_add(o, "backends", json_names());
		json_object_object_add(o, "failed_conns", l);
		json_object_object_add(o, "pass", json_object_new_boolean(pass));
		json_print(o);
		return pass ? 0 : 1;
	}

	printf("xlb-flows tcp %s: %lu connections, %lu s, a request every %lu ms\n", O.target_str,
	       O.n, O.duration_s, O.interval_ms);
	printf("  ok %lu, failed %lu", ok, O.n - ok);
	for (i = R_NONE + 1; i < R__N; i++)
		if (count[i])
			printf(", %s %lu", reason_name[i], count[i]);
	if (over)
		printf(", gap over %lu ms %lu", O.gap_limit_ms, over);
	printf("\n  requests %llu, stalls %lu (answer later than %lu ms)\n",
	       (unsigned long long)requests, stalls, O.gap_limit_ms);
	printf("  longest gap %lu ms (conn %lu); per connection p50 %lu ms, p99 %lu ms\n", ms(gap),
	       gap_conn, ms(p50), ms(p99));
	print_names("backends (connections)");
	for (i = 0; i < O.n && shown < SHOW_FAILURES; i++) {
		struct tconn *c = &conns[i];

		if (c->err == R_NONE && c->max_gap <= O.gap_limit_ms * 1000)
			continue;
		printf("  conn %lu: %s: %s (longest gap %lu ms)\n", i,
		       c->err != R_NONE ? reason_name[c->err] : "gap_over_limit",
		       c->err != R_NONE ? c->detail : "ok otherwise", ms(c->max_gap));
		shown++;
	}
	if (O.n - ok > shown)
		printf("  ... %lu more failed connections\n", O.n - ok - shown);
	if (interrupted)
		printf("  interrupted after %.1f s of %lu s\n", ran_s, O.duration_s);
	printf("%s\n", pass ? "PASS" : "FAIL");
	return pass ? 0 : 1;
}

static int run_tcp(void)
{
	unsigned long i;
	int rc;

	conns = calloc(O.n, sizeof(*conns));
	if (!conns) {
		fprintf(stderr, "xlb-flows: out of memory\n");
		return 1;
	}
	for (i = 0; i < O.n; i++) {
		conns[i].id = (unsigned)i;
		conns[i].backend = -1;
	}
	t0_us = now_us();
	start_globals(tcp_on_deadline, tcp_on_grace, tcp_on_status);
	tcp_start_more();
	uv_run(loop, UV_RUN_DEFAULT);
	rc = tcp_report();
	free(conns);
	return rc;
}

/* ---------------------------------------------------------------- udp */

struct uflow {
	uv_udp_t udp;
	uv_timer_t timer;
	unsigned long id;
	bool open;
	uint64_t seq;
	unsigned long sent, send_err, recv, wrong_src;
	int resp[MAX_RESP];
	unsigned long resp_count[MAX_RESP];
	int nresp; /* may exceed MAX_RESP: counted, not kept */
	uint64_t t_begin, t_last_rx, max_gap;
	char last_err[64];
};

static struct uflow *flows;
static unsigned long n_open;

static void on_udp_tick(uv_timer_t *t)
{
	struct uflow *f = t->data;
	char msg[64];
	uv_buf_t b;
	int n;

	if (draining)
		return;
	n = snprintf(msg, sizeof(msg), "xlb-flows %lu %llu\n", f->id, (unsigned long long)f->seq++);
	b = uv_buf_init(msg, (unsigned)n);
	n = uv_udp_try_send(&f->udp, &b, 1, (struct sockaddr *)&O.target);
	if (n < 0) {
		f->send_err++;
		snprintf(f->last_err, sizeof(f->last_err), "send: %s", uv_strerror(n));
	} else {
		f->sent++;
	}
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags)
{
	struct uflow *f = u->data;
	char name[NAME_MAX_LEN];
	uint64_t now = now_us();
	int idx, i;

	if (nread < 0) {
		snprintf(f->last_err, sizeof(f->last_err), "recv: %s", uv_strerror((int)nread));
		return;
	}
	if (!addr)
		return;
	if (!same_target(addr, (struct sockaddr *)&O.target)) {
		f->wrong_src++;
		return;
	}
	f->recv++;
	if (now - f->t_last_rx > f->max_gap)
		f->max_gap = now - f->t_last_rx;
	f->t_last_rx = now;
	answer_name(buf->base, (size_t)nread, name, sizeof(name));
	idx = name_index(name);
	for (i = 0; i < f->nresp && i < MAX_RESP; i++)
		if (f->resp[i] == idx)
			break;
	if (i < MAX_RESP && i < f->nresp) {
		f->resp_count[i]++;
		return;
	}
	if (f->nresp < MAX_RESP) {
		f->resp[f->nresp] = idx;
		f->resp_count[f->nresp] = 1;
	}
	f->nresp++;
	name_users[idx]++;
}

static void uflow_closed(uv_handle_t *h)
{
	if (--n_open == 0)
		close_globals();
}

static void udp_close_all(void)
{
	unsigned long i;

	if (finishing)
		return;
	finishing = true;
	for (i = 0; i < O.n; i++) {
		if (!flows[i].open)
			continue;
		flows[i].open = false;
		uv_close((uv_handle_t *)&flows[i].udp, uflow_closed);
		uv_close((uv_handle_t *)&flows[i].timer, uflow_closed);
	}
	if (n_open == 0)
		close_globals();
}

static void udp_on_deadline(uv_timer_t *t)
{
	unsigned long i;
	uint64_t now = now_us();

	if (draining)
		return;
	draining = true;
	ran_s = run_s();
	for (i = 0; i < O.n; i++) {
		struct uflow *f = &flows[i];

		if (f->open)
			uv_timer_stop(&f->timer);
		/* the silence from the last answer to the last send counts */
		if (now - f->t_last_rx > f->max_gap)
			f->max_gap = now - f->t_last_rx;
	}
	uv_timer_start(&grace_timer, grace_timer.timer_cb, O.grace_ms, 0);
}

static void udp_on_grace(uv_timer_t *t)
{
	udp_close_all();
}

static double flow_loss_pct(const struct uflow *f)
{
	unsigned long tried = f->sent + f->send_err;

	if (!tried)
		return 0;
	return f->recv >= tried ? 0 : 100.0 * (double)(tried - f->recv) / (double)tried;
}

static void udp_on_status(uv_signal_t *s, int signum)
{
	unsigned long i, multi = 0, silent = 0;
	unsigned long long sent = 0, recv = 0;
	uint64_t gap = 0, now = now_us();

	for (i = 0; i < O.n; i++) {
		struct uflow *f = &flows[i];
		uint64_t g = f->max_gap;

		if (!draining && now - f->t_last_rx > g)
			g = now - f->t_last_rx;
		if (g > gap)
			gap = g;
		sent += f->sent;
		recv += f->recv;
		multi += f->nresp > 1;
		silent += f->nresp == 0;
	}
	fprintf(stderr,
		"xlb-flows udp: t=%.1fs flows=%lu sent=%llu received=%llu "
		"multi_responder=%lu unanswered=%lu longest_gap_ms=%lu%s\n",
		run_s(), O.n, sent, recv, multi, silent, ms(gap), draining ? " (ending)" : "");
}

enum ufail { U_NO_ANSWER, U_MULTI, U_LOSS, U_WRONG_SRC, U__N };
static const char *const ufail_name[U__N] = {
	"no_answer",
	"multi_responder",
	"loss_over_limit",
	"wrong_source",
};

static unsigned flow_failures(const struct uflow *f)
{
	unsigned m = 0;

	if (f->nresp == 0)
		m |= 1u << U_NO_ANSWER;
	if (f->nresp > 1)
		m |= 1u << U_MULTI;
	if (flow_loss_pct(f) > O.max_loss_pct)
		m |= 1u << U_LOSS;
	if (f->wrong_src)
		m |= 1u << U_WRONG_SRC;
	return m;
}

static void flow_responders(const struct uflow *f, char *out, size_t outsz)
{
	size_t off = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < f->nresp && i < MAX_RESP && off < outsz; i++)
		off += (size_t)snprintf(out + off, outsz - off, "%s\"%s\" x%lu", i ? ", " : "",
					names[f->resp[i]], f->resp_count[i]);
	if (f->nresp > MAX_RESP && off < outsz)
		snprintf(out + off, outsz - off, ", %d more", f->nresp - MAX_RESP);
}

static int udp_report(void)
{
	unsigned long count[U__N] = { 0 };
	unsigned long i, ok = 0, shown = 0, gap_flow = 0, send_err = 0;
	unsigned long long sent = 0, recv = 0, wrong = 0;
	double worst_loss = 0;
	uint64_t gap = 0;
	bool pass;
	int u;

	for (i = 0; i < O.n; i++) {
		struct uflow *f = &flows[i];
		unsigned m = flow_failures(f);

		for (u = 0; u < U__N; u++)
			if (m & (1u << u))
				count[u]++;
		ok += m == 0;
		sent += f->sent;
		send_err += f->send_err;
		recv += f->recv;
		wrong += f->wrong_src;
		if (flow_loss_pct(f) > worst_loss)
			worst_loss = flow_loss_pct(f);
		if (f->max_gap > gap) {
			gap = f->max_gap;
			gap_flow = i;
		}
	}
	pass = ok == O.n && O.n > 0 && !interrupted;

	if (O.json) {
		struct json_object *o = json_object_new_object();
		struct json_object *fo = json_object_new_object();
		struct json_object *l = json_object_new_array();

		for (u = 0; u < U__N; u++)
			json_object_object_add(fo, ufail_name[u],
					       json_object_new_int64((int64_t)count[u]));
		for (i = 0; i < O.n && shown < SHOW_FAILURES; i++) {
			struct uflow *f = &flows[i];
			unsigned m = flow_failures(f);
			struct json_object *e, *r;
			int k;

			if (!m)
				continue;
			e = json_object_new_object();
			r = json_object_new_array();
			for (k = 0; k < f->nresp && k < MAX_RESP; k++)
				json_object_array_add(r, json_object_new_string(names[f->resp[k]]));
			json_object_object_add(e, "flow", json_object_new_int64((int64_t)i));
			for (u = 0; u < U__N; u++)
				if (m & (1u << u)) {
					json_object_object_add(
						e, "reason", json_object_new_string(ufail_name[u]));
					break;
				}
			json_object_object_add(e, "responders", r);
			json_object_object_add(e, "sent", json_object_new_int64((int64_t)f->sent));
			json_object_object_add(e, "received",
					       json_object_new_int64((int64_t)f->recv));
			json_object_object_add(e, "wrong_source",
					       json_object_new_int64((int64_t)f->wrong_src));
			json_object_object_add(e, "loss_pct",
					       json_object_new_double(flow_loss_pct(f)));
			json_object_array_add(l, e);
			shown++;
		}
		json_object_object_add(o, "mode", json_object_new_string("udp"));
		json_object_object_add(o, "target", json_object_new_string(O.target_str));
		json_object_object_add(o, "flows", json_object_new_int64((int64_t)O.n));
		json_object_object_add(o, "interval_ms",
				       json_object_new_int64((int64_t)O.interval_ms));
		json_object_object_add(o, "duration_s",
				       json_object_new_int64((int64_t)O.duration_s));
		json_object_object_add(o, "ran_s",
				       json_object_new_double((double)(int64_t)(ran_s * 10) / 10));
		json_object_object_add(o, "interrupted", json_object_new_boolean(interrupted));
		json_object_object_add(o, "max_loss_pct", json_object_new_double(O.max_loss_pct));
		json_object_object_add(o, "ok", json_object_new_int64((int64_t)ok));
		json_object_object_add(o, "failed", json_object_new_int64((int64_t)(O.n - ok)));
		json_object_object_add(o, "failures", fo);
		json_object_object_add(o, "sent", json_object_new_int64((int64_t)sent));
		json_object_object_add(o, "send_errors", json_object_new_int64((int64_t)send_err));
		json_object_object_add(o, "received", json_object_new_int64((int64_t)recv));
		json_object_object_add(o, "wrong_source", json_object_new_int64((int64_t)wrong));
		json_object_object_add(o, "worst_flow_loss_pct",
				       json_object_new_double(worst_loss));
		json_object_object_add(o, "longest_gap_ms",
				       json_object_new_int64((int64_t)ms(gap)));
		json_object_object_add(o, "longest_gap_flow",
				       json_object_new_int64((int64_t)gap_flow));
		json_object_object_add(o, "backends", json_names());
		json_object_object_add(o, "failed_flows", l);
		json_object_object_add(o, "pass", json_object_new_boolean(pass));
		json_print(o);
		return pass ? 0 : 1;
	}

	printf("xlb-flows udp %s: %lu flows, %lu s, a datagram every %lu ms\n", O.target_str, O.n,
	       O.duration_s, O.interval_ms);
	printf("  ok %lu, failed %lu", ok, O.n - ok);
	for (u = 0; u < U__N; u++)
		if (count[u])
			printf(", %s %lu", ufail_name[u], count[u]);
	printf("\n  sent %llu (send errors %lu), received %llu, from another address %llu\n", sent,
	       send_err, recv, wrong);
	printf("  worst flow loss %.2f%% (limit %.2f%%), longest gap %lu ms (flow %lu)\n",
	       worst_loss, O.max_loss_pct, ms(gap), gap_flow);
	print_names("backends (flows)");
	for (i = 0; i < O.n && shown < SHOW_FAILURES; i++) {
		struct uflow *f = &flows[i];
		unsigned m = flow_failures(f);
		char resp[256];

		if (!m)
			continue;
		flow_responders(f, resp, sizeof(resp));
		printf("  flow %lu:", i);
		for (u = 0; u < U__N; u++)
			if (m & (1u << u))
				printf(" %s", ufail_name[u]);
		printf(": responders [%s], sent %lu, received %lu, loss %.1f%%%s%s\n", resp,
		       f->sent, f->recv, flow_loss_pct(f), f->last_err[0] ? ", last error " : "",
		       f->last_err);
		shown++;
	}
	if (O.n - ok > shown)
		printf("  ... %lu more failed flows\n", O.n - ok - shown);
	if (interrupted)
		printf("  interrupted after %.1f s of %lu s\n", ran_s, O.duration_s);
	printf("%s\n", pass ? "PASS" : "FAIL");
	return pass ? 0 : 1;
}

static int run_udp(void)
{
	struct sockaddr_storage any;
	unsigned long i;
	int err, rc;

	flows = calloc(O.n, sizeof(*flows));
	if (!flows) {
		fprintf(stderr, "xlb-flows: out of memory\n");
		return 1;
	}
	memset(&any, 0, sizeof(any));
	any.ss_family = O.target.ss_family;
	t0_us = now_us();
	start_globals(udp_on_deadline, udp_on_grace, udp_on_status);
	for (i = 0; i < O.n; i++) {
		struct uflow *f = &flows[i];

		f->id = i;
		f->t_begin = f->t_last_rx = now_us();
		uv_udp_init_ex(loop, &f->udp, O.target.ss_family);
		uv_timer_init(loop, &f->timer);
		f->udp.data = f->timer.data = f;
		f->open = true;
		n_open += 2;
		err = uv_udp_bind(&f->udp, (struct sockaddr *)&any, 0);
		if (!err)
			err = uv_udp_recv_start(&f->udp, on_udp_alloc, on_udp_recv);
		if (err) {
			fprintf(stderr, "xlb-flows: flow %lu: %s\n", i, uv_strerror(err));
			udp_close_all();
			break;
		}
		/* spread the flows over one interval */
		uv_timer_start(&f->timer, on_udp_tick, O.interval_ms * i / O.n, O.interval_ms);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	rc = finishing && !draining ? 1 : udp_report();
	free(flows);
	return rc;
}

/* ------------------------------------------------------------ udp-echo */

static int echo_fd = -1;
static uv_poll_t echo_poll;
static unsigned long long echo_answers, echo_errors;
static char echo_reply[NAME_MAX_LEN + 1];
static size_t echo_reply_len;

/*
 * Answers every datagram waiting on the socket, from the address it was
 * sent to: the destination that IP_PKTINFO/IPV6_PKTINFO reported becomes the
 * source of the answer.
 */
static void on_echo(uv_poll_t *p, int status, int events)
{
	int burst;

	for (burst = 0; burst < 256; burst++) {
		struct sockaddr_storage peer;
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				 CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} cin, cout;
		struct iovec iov = { .iov_base = rbuf, .iov_len = sizeof(rbuf) };
		struct msghdr m = {
			.msg_name = &peer,
			.msg_namelen = sizeof(peer),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cin.buf,
			.msg_controllen = sizeof(cin.buf),
		};
		struct msghdr r;
		struct cmsghdr *cm, *om;
		ssize_t n;

		n = recvmsg(echo_fd, &m, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				echo_errors++; /* e.g. a queued ICMP error */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue;
		}
		memset(&cout, 0, sizeof(cout));
		memset(&r, 0, sizeof(r));
		iov.iov_base = echo_reply;
		iov.iov_len = echo_reply_len;
		r.msg_name = &peer;
		r.msg_namelen = m.msg_namelen;
		r.msg_iov = &iov;
		r.msg_iovlen = 1;
		r.msg_control = cout.buf;
		r.msg_controllen = sizeof(cout.buf);
		om = CMSG_FIRSTHDR(&r);
		r.msg_controllen = 0;
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				pi.ipi_spec_dst = pi.ipi_addr;
				pi.ipi_ifindex = 0; /* routing picks the way out */
				om->cmsg_level = IPPROTO_IP;
				om->cmsg_type = IP_PKTINFO;
				om->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(om), &pi, sizeof(pi));
				r.msg_controllen = CMSG_SPACE(sizeof(pi));
				break;
			}
			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				om->cmsg_level = IPPROTO_IPV6;
				om->cmsg_type = IPV6_PKTINFO;
				om->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(om), &pi, sizeof(pi));
				r.msg_controllen = CMSG_SPACE(sizeof(pi));
				break;
			}
		}
		if (r.msg_controllen == 0)
			r.msg_control = NULL;
		if (sendmsg(echo_fd, &r, MSG_DONTWAIT) < 0)
			echo_errors++;
		else
			echo_answers++;
	}
}

static void echo_on_status(uv_signal_t *s, int signum)
{
	fprintf(stderr, "xlb-flows udp-echo %s on %s: answers=%llu errors=%llu\n", O.name,
		O.target_str, echo_answers, echo_errors);
}

static void echo_on_stop(uv_signal_t *s, int signum)
{
	uv_close((uv_handle_t *)&echo_poll, NULL);
	uv_close((uv_handle_t *)&sig_usr1, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
}

static int run_echo(void)
{
	int af = O.target.ss_family, one = 1, rcvbuf = 8 << 20, err;
	socklen_t len = af == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	echo_reply_len = (size_t)snprintf(echo_reply, sizeof(echo_reply), "%s\n", O.name);
	echo_fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (echo_fd < 0) {
		fprintf(stderr, "xlb-flows udp-echo: socket: %s\n", strerror(errno));
		return 1;
	}
	setsockopt(echo_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* room for bursts of thousands of flows (FORCE needs CAP_NET_ADMIN) */
	if (setsockopt(echo_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(echo_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (af == AF_INET6)
		err = setsockopt(echo_fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	else
		err = setsockopt(echo_fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (err || bind(echo_fd, (struct sockaddr *)&O.target, len)) {
		fprintf(stderr, "xlb-flows udp-echo: %s: %s\n", O.target_str, strerror(errno));
		close(echo_fd);
		return 1;
	}
	uv_poll_init_socket(loop, &echo_poll, echo_fd);
	uv_poll_start(&echo_poll, UV_READABLE, on_echo);
	uv_signal_init(loop, &sig_usr1);
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_usr1, echo_on_status, SIGUSR1);
	uv_signal_start(&sig_int, echo_on_stop, SIGINT);
	uv_signal_start(&sig_term, echo_on_stop, SIGTERM);
	printf("xlb-flows udp-echo: %s listening on %s\n", O.name, O.target_str);
	uv_run(loop, UV_RUN_DEFAULT);
	close(echo_fd);
	echo_on_status(NULL, 0);
	return 0;
}

/* ---------------------------------------------------------- arguments */

static void help(void)
{
	printf("usage:\n"
	       "  xlb-flows tcp --target ADDR:PORT --conns N --interval-ms MS --duration-s S\n"
	       "                [--connect-timeout-ms 3000] [--gap-limit-ms 2000] [--ramp 200]\n"
	       "                [--grace-ms 2000] [--json]\n"
	       "  xlb-flows udp --target ADDR:PORT --flows N --interval-ms MS --duration-s S\n"
	       "                [--max-loss-pct 5] [--grace-ms 1000] [--json]\n"
	       "  xlb-flows udp-echo --listen ADDR:PORT --name NAME\n"
	       "ADDR is IPv4 or [IPv6]. SIGUSR1: status line on stderr. SIGINT/SIGTERM: end now.\n"
	       "Exit status: 0 pass, 1 fail, 2 bad arguments.\n");
}

enum {
	OPT_TARGET = 1,
	OPT_CONNS,
	OPT_FLOWS,
	OPT_INTERVAL,
	OPT_DURATION,
	OPT_CTIMEOUT,
	OPT_GAP,
	OPT_GRACE,
	OPT_RAMP,
	OPT_LOSS,
	OPT_JSON,
	OPT_LISTEN,
	OPT_NAME,
	OPT_HELP,
};

static void parse_num(const char *opt, const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	if (parse_ulong(s, min, max, out))
		usage_error("--%s wants an integer in %lu..%lu, not \"%s\"", opt, min, max, s);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "flows", required_argument, NULL, OPT_FLOWS },
		{ "interval-ms", required_argument, NULL, OPT_INTERVAL },
		{ "duration-s", required_argument, NULL, OPT_DURATION },
		{ "connect-timeout-ms", required_argument, NULL, OPT_CTIMEOUT },
		{ "gap-limit-ms", required_argument, NULL, OPT_GAP },
		{ "grace-ms", required_argument, NULL, OPT_GRACE },
		{ "ramp", required_argument, NULL, OPT_RAMP },
		{ "max-loss-pct", required_argument, NULL, OPT_LOSS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool tcp, udp, echo, have_target = false, have_n = false;
	bool have_interval = false, have_duration = false, have_grace = false;
	const char *addr = NULL;
	int c;

	if (argc < 2)
		usage_error("missing mode: tcp, udp or udp-echo");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help();
		exit(0);
	}
	O.mode = argv[1];
	tcp = !strcmp(O.mode, "tcp");
	udp = !strcmp(O.mode, "udp");
	echo = !strcmp(O.mode, "udp-echo");
	if (!tcp && !udp && !echo)
		usage_error("unknown mode \"%s\": tcp, udp or udp-echo", O.mode);

	O.connect_timeout_ms = 3000;
	O.gap_limit_ms = 2000;
	O.ramp = 200;
	O.max_loss_pct = 5;
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		const char *a = optarg;

		switch (c) {
		case OPT_TARGET:
			if (echo)
				usage_error("udp-echo takes --listen, not --target");
			addr = a;
			have_target = true;
			break;
		case OPT_LISTEN:
			if (!echo)
				usage_error("--listen is for udp-echo");
			addr = a;
			have_target = true;
			break;
		case OPT_CONNS:
		case OPT_FLOWS:
			if ((c == OPT_CONNS && !tcp) || (c == OPT_FLOWS && !udp))
				usage_error("%s is not an option of %s",
					    c == OPT_CONNS ? "--conns" : "--flows", O.mode);
			parse_num(c == OPT_CONNS ? "conns" : "flows", a, 1, MAX_CONNS, &O.n);
			have_n = true;
			break;
		case OPT_INTERVAL:
			parse_num("interval-ms", a, 1, 60000, &O.interval_ms);
			have_interval = true;
			break;
		case OPT_DURATION:
			parse_num("duration-s", a, 1, MAX_DURATION_S, &O.duration_s);
			have_duration = true;
			break;
		case OPT_CTIMEOUT:
			parse_num("connect-timeout-ms", a, 1, 600000, &O.connect_timeout_ms);
			break;
		case OPT_GAP:
			parse_num("gap-limit-ms", a, 1, 3600000, &O.gap_limit_ms);
			break;
		case OPT_GRACE:
			parse_num("grace-ms", a, 0, 600000, &O.grace_ms);
			have_grace = true;
			break;
		case OPT_RAMP:
			parse_num("ramp", a, 1, MAX_CONNS, &O.ramp);
			break;
		case OPT_LOSS:
			if (parse_double(a, 0, 100, &O.max_loss_pct))
				usage_error("--max-loss-pct wants a number in 0..100, not \"%s\"",
					    a);
			break;
		case OPT_JSON:
			O.json = true;
			break;
		case OPT_NAME:
			if (!echo)
				usage_error("--name is for udp-echo");
			if (!*a || strlen(a) >= NAME_MAX_LEN || strchr(a, '\n'))
				usage_error("--name wants 1..%d characters on one line",
					    NAME_MAX_LEN - 1);
			O.name = a;
			break;
		case OPT_HELP:
			help();
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option \"%s\" for %s", argv[optind - 1], O.mode);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (!have_target)
		usage_error(echo ? "--listen ADDR:PORT is required"
				 : "--target ADDR:PORT is required");
	if (parse_target(addr, echo, &O.target))
		usage_error("bad address \"%s\": want IPv4:PORT or [IPv6]:PORT", addr);
	format_target((struct sockaddr *)&O.target, O.target_str, sizeof(O.target_str));
	if (echo) {
		if (!O.name)
			usage_error("--name NAME is required");
		return;
	}
	if (!have_n)
		usage_error(tcp ? "--conns N is required" : "--flows N is required");
	if (!have_interval)
		usage_error("--interval-ms MS is required");
	if (!have_duration)
		usage_error("--duration-s S is required");
	if (!have_grace)
		O.grace_ms = tcp ? 2000 : 1000;
}

int main(int argc, char **argv)
{
	int rc;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	need_fds(!strcmp(O.mode, "udp-echo") ? 1 : O.n);
	loop = uv_default_loop();
	if (!strcmp(O.mode, "tcp"))
		rc = run_tcp();
	else if (!strcmp(O.mode, "udp"))
		rc = run_udp();
	else
		rc = run_echo();
	uv_loop_close(loop);
	return rc;
}
