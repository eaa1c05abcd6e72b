// SPDX-License-Identifier: BSD-2-Clause
/*
 * Backend health checks on a libuv loop.
 *
 * Every target (vip, backend) has an interval timer. On each tick it starts
 * a probe unless one is still running: a TCP connect, and for HTTP checks a
 * "GET <path> HTTP/1.0" whose response is parsed with http-parser, all
 * bounded by a timeout timer. A probe ends exactly once (probe_finish()),
 * which closes its two handles; the probe is freed from the last close
 * callback, so requests still queued on the socket (connect, write) get
 * their UV_ECANCELED callback while the memory is still there.
 *
 * Removing a target detaches its probe (probe->t = NULL: the result is then
 * dropped) and closes the target's timer; the target is freed from that
 * timer's close callback. struct hc counts its live targets and probes and
 * is freed by hc_free() or by the last close callback after hc_free().
 *
 * State: a target starts unknown; its first result sets it up or down and
 * reports. After that `rise` consecutive successes bring it up and `fall`
 * consecutive failures bring it down. The state callback is always the
 * last thing done with a target, so it may call hc_remove() or hc_free().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "health.h"

#define HC_BUCKETS    1024
#define HC_REASON_MAX 64
#define HC_REQ_MAX    (CFG_PATH_MAX + 128)
#define HC_RBUF	      2048

enum hc_state { HC_UNKNOWN = -1, HC_DOWN = 0, HC_UP = 1 };

struct hc_probe;

struct hc_target {
	struct hc *h;
	struct hc_target *next; /* hash chain */
	uint32_t vip_id;
	uint32_t backend_id;
	struct cfg_healthcheck cfg;
	struct sockaddr_in addr;
	uv_timer_t timer;	/* interval (or one-shot for HC_NONE) */
	struct hc_probe *probe; /* in flight, or NULL */
	enum hc_state state;
	uint32_t ok_run;   /* consecutive successes */
	uint32_t fail_run; /* consecutive failures */
	char reason[HC_REASON_MAX];
};

struct hc_probe {
	struct hc *h;
	struct hc_target *t; /* NULL once the target is gone */
	bool http;
	bool done;
	int open; /* handles not yet closed */
	int expect_status;
	int status; /* HTTP status, 0 until headers seen */
	uv_tcp_t tcp;
	uv_timer_t timeout;
	uv_connect_t connect;
	uv_write_t write;
	http_parser parser;
	size_t req_len;
	char req[HC_REQ_MAX];
	char rbuf[HC_RBUF];
};

struct hc {
	uv_loop_t *loop;
	hc_state_cb cb;
	void *arg;
	bool dead;   /* hc_free() called */
	size_t live; /* targets + probes not yet freed */
	struct hc_target *bucket[HC_BUCKETS];
};

static size_t bucket_of(uint32_t vip_id, uint32_t backend_id)
{
	uint64_t k = ((uint64_t)vip_id << 32 | backend_id) * 0x9e3779b97f4a7c15ull;

	return (size_t)(k >> 54) % HC_BUCKETS;
}

static struct hc_target **find_slot(const struct hc *h, uint32_t vip_id, uint32_t backend_id)
{
	struct hc_target *const *pp = &h->bucket[bucket_of(vip_id, backend_id)];

	while (*pp && ((*pp)->vip_id != vip_id || (*pp)->backend_id != backend_id))
		pp = &(*pp)->next;
	return (struct hc_target **)pp;
}

static void hc_put(struct hc *h)
{
	if (--h->live == 0 && h->dead)
		free(h);
}

/* ---------------------------------------------------------------------- */
/* state machine */

static void target_result(struct hc_target *t, bool ok, const char *reason)
{
	enum hc_state next = t->state;

	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	if (ok) {
		t->fail_run = 0;
		t->ok_run++;
	} else {
		t->ok_run = 0;
		t->fail_run++;
	}
	if (t->state == HC_UNKNOWN)
		next = ok ? HC_UP : HC_DOWN;
	else if (t->state == HC_DOWN && ok && t->ok_run >= t->cfg.rise)
		next = HC_UP;
	else if (t->state == HC_UP && !ok && t->fail_run >= t->cfg.fall)
		next = HC_DOWN;
	if (next == t->state)
		return;
	t->state = next;
	/* Last use of t: the callback may remove it or free everything. */
	if (t->h->cb)
		t->h->cb(t->h->arg, t->vip_id, t->backend_id, next == HC_UP, t->reason);
}

/* ---------------------------------------------------------------------- */
/* probes */

static void probe_closed(uv_handle_t *hd)
{
	struct hc_probe *p = hd->data;
	struct hc *h = p->h;

	if (--p->open)
		return;
	free(p);
	hc_put(h);
}

static void probe_finish(struct hc_probe *p, bool ok, const char *reason)
{
	struct hc_target *t = p->t;

	if (p->done)
		return;
	p->done = true;
	p->t = NULL;
	uv_close((uv_handle_t *)&p->tcp, probe_closed);
	uv_close((uv_handle_t *)&p->timeout, probe_closed);
	if (t) {
		t->probe = NULL;
		target_result(t, ok, reason);
	}
}

static void probe_fail_uv(struct hc_probe *p, const char *what, int err)
{
	char reason[HC_REASON_MAX];

	if (err == UV_ECONNREFUSED)
		snprintf(reason, sizeof(reason), "%s refused", what);
	else if (err == UV_ECONNRESET)
		snprintf(reason, sizeof(reason), "%s reset", what);
	else
		snprintf(reason, sizeof(reason), "%s failed: %s", what, uv_strerror(err));
	probe_finish(p, false, reason);
}

static void probe_status(struct hc_probe *p)
{
	char reason[HC_REASON_MAX];

	if (p->status == p->expect_status) {
		probe_finish(p, true, "ok");
		return;
	}
	snprintf(reason, sizeof(reason), "status %d", p->status);
	probe_finish(p, false, reason);
}

static void on_timeout(uv_timer_t *tm)
{
	probe_finish(tm->data, false, "timeout");
}

static int on_headers_complete(http_parser *hp)
{
	struct hc_probe *p = hp->data;

	p->status = hp->status_code;
	return 1; /* body not needed */
}

static const http_parser_settings hp_settings = {
	.on_headers_complete = on_headers_complete,
};

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct hc_probe *p = hd->data;

	*buf = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hc_probe *p = s->data;
	char reason[HC_REASON_MAX];

	if (p->done || nread == 0)
		return;
	if (nread < 0 && nread != UV_EOF) {
		probe_fail_uv(p, "read", (int)nread);
		return;
	}
	http_parser_execute(&p->parser, &hp_settings, nread > 0 ? buf->base : NULL,
			    nread > 0 ? (size_t)nread : 0);
	if (p->status) {
		probe_status(p);
		return;
	}
	if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK) {
		snprintf(reason, sizeof(reason), "bad HTTP response (%s)",
			 http_errno_name(HTTP_PARSER_ERRNO(&p->parser)));
		probe_finish(p, false, reason);
		return;
	}
	if (nread == UV_EOF)
		probe_finish(p, false, "closed before a response");
}

static void on_write(uv_write_t *w, int status)
{
	struct hc_probe *p = w->data;

	if (status < 0 && status != UV_ECANCELED)
		probe_fail_uv(p, "send", status);
}

static void on_connect(uv_connect_t *c, int status)
{
	struct hc_probe *p = c->data;
	uv_buf_t b;
	int err;

	if (p->done)
		return; /* UV_ECANCELED after a timeout or remove */
	if (status < 0) {
		probe_fail_uv(p, "connect", status);
		return;
	}
	if (!p->http) {
		probe_finish(p, true, "ok");
		return;
	}
	http_parser_init(&p->parser, HTTP_RESPONSE);
	p->parser.data = p;
	b = uv_buf_init(p->req, (unsigned int)p->req_len);
	p->write.data = p;
	err = uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, on_write);
	if (!err)
		err = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
	if (err)
		probe_fail_uv(p, "send", err);
}

static void probe_start(struct hc_target *t)
{
	struct hc *h = t->h;
	struct hc_probe *p;
	char host[INET_ADDRSTRLEN];
	int err, n;

	p = calloc(1, sizeof(*p));
	if (!p) {
		target_result(t, false, "out of memory");
		return;
	}
	p->h = h;
	p->t = t;
	p->http = t->cfg.type == HC_HTTP;
	p->expect_status = t->cfg.expect_status;
	if (p->http) {
		inet_ntop(AF_INET, &t->addr.sin_addr, host, sizeof(host));
		n = snprintf(p->req, sizeof(p->req),
			     "GET %s HTTP/1.0\r\nHost: %s\r\n"
			     "User-Agent: xdplb-hc\r\nConnection: close\r\n\r\n",
			     t->cfg.path[0] ? t->cfg.path : "/", host);
		p->req_len = n > 0 && (size_t)n < sizeof(p->req) ? (size_t)n : sizeof(p->req) - 1;
	}
	/* Both inits only fail on bad arguments; they never leave a
	 * half-initialized handle behind. */
	uv_tcp_init(h->loop, &p->tcp);
	uv_timer_init(h->loop, &p->timeout);
	p->tcp.data = p;
	p->timeout.data = p;
	p->connect.data = p;
	p->open = 2;
	h->live++;
	t->probe = p;

	uv_timer_start(&p->timeout, on_timeout, t->cfg.timeout_ms, 0);
	err = uv_tcp_connect(&p->connect, &p->tcp, (const struct sockaddr *)&t->addr, on_connect);
	if (err)
		probe_fail_uv(p, "connect", err);
}

/* ---------------------------------------------------------------------- */
/* targets */

static void on_tick(uv_timer_t *tm)
{
	struct hc_target *t = tm->data;

	if (t->cfg.type == HC_NONE) {
		target_result(t, true, "no health check");
		return;
	}
	if (!t->probe)
		probe_start(t);
}

static void target_closed(uv_handle_t *hd)
{
	struct hc_target *t = hd->data;
	struct hc *h = t->h;

	free(t);
	hc_put(h);
}

static void target_drop(struct hc_target *t)
{
	if (t->probe) {
		t->probe->t = NULL;
		probe_finish(t->probe, false, "removed");
		t->probe = NULL;
	}
	uv_close((uv_handle_t *)&t->timer, target_closed);
}

struct hc *hc_new(uv_loop_t *loop, hc_state_cb cb, void *arg)
{
	struct hc *h;

	if (!loop)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->loop = loop;
	h->cb = cb;
	h->arg = arg;
	return h;
}

int hc_add(struct hc *h, uint32_t vip_id, const struct cfg_backend *be, uint16_t vip_port,
	   const struct cfg_healthcheck *cfg)
{
	struct hc_target **slot, *t;
	uint16_t port;

	if (!h || !be || h->dead)
		return -EINVAL;
	/* The config file's rules hold (lib/config.c applies its defaults):
	 * no zero here stands for a default. */
	if (cfg && cfg->type != HC_NONE &&
	    (!cfg->interval_ms || !cfg->timeout_ms || cfg->timeout_ms >= cfg->interval_ms ||
	     !cfg->rise || !cfg->fall))
		return -EINVAL;
	if (be->family != AF_INET)
		return -EAFNOSUPPORT;
	slot = find_slot(h, vip_id, be->id);
	if (*slot)
		return -EEXIST;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->h = h;
	t->vip_id = vip_id;
	t->backend_id = be->id;
	if (cfg)
		t->cfg = *cfg;
	else
		t->cfg.type = HC_NONE;
	port = t->cfg.port != CFG_PORT_INHERIT ? t->cfg.port
	       : be->port != CFG_PORT_INHERIT  ? be->port
					       : vip_port;
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons(port);
	t->addr.sin_addr.s_addr = be->addr.w[0];
	t->state = HC_UNKNOWN;
	uv_timer_init(h->loop, &t->timer);
	t->timer.data = t;
	h->live++;
	*slot = t;
	if (t->cfg.type == HC_NONE)
		uv_timer_start(&t->timer, on_tick, 0, 0);
	else
		uv_timer_start(&t->timer, on_tick, 0, t->cfg.interval_ms);
	return 0;
}

int hc_remove(struct hc *h, uint32_t vip_id, uint32_t backend_id)
{
	struct hc_target **slot, *t;

	if (!h)
		return -ENOENT;
	slot = find_slot(h, vip_id, backend_id);
	t = *slot;
	if (!t)
		return -ENOENT;
	*slot = t->next;
	target_drop(t);
	return 0;
}

static const struct hc_target *lookup(const struct hc *h, uint32_t vip_id, uint32_t backend_id)
{
	return h ? *find_slot(h, vip_id, backend_id) : NULL;
}

bool hc_is_up(const struct hc *h, uint32_t vip_id, uint32_t backend_id)
{
	const struct hc_target *t = lookup(h, vip_id, backend_id);

	return t && t->state == HC_UP;
}

const char *hc_reason(const struct hc *h, uint32_t vip_id, uint32_t backend_id)
{
	const struct hc_target *t = lookup(h, vip_id, backend_id);

	return t && t->reason[0] ? t->reason : NULL;
}

void hc_free(struct hc *h)
{
	size_t i;

	if (!h || h->dead)
		return;
	h->dead = true;
	for (i = 0; i < HC_BUCKETS; i++) {
		while (h->bucket[i]) {
			struct hc_target *t = h->bucket[i];

			h->bucket[i] = t->next;
			target_drop(t);
		}
	}
	if (!h->live)
		free(h);
}
