// SPDX-License-Identifier: BSD-2-Clause
/* syncd's comparison of service sets (svcwatch.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "clock.h"
#include "log.h"
#include "svcset.h"
#include "svcwatch.h"
#include "xdplb.h"

enum pv_state {
	PV_UNKNOWN,   /* its heartbeats carry no digest (yet) */
	PV_EQUAL,     /* same digest */
	PV_COMPARING, /* another digest; its set not received yet */
	PV_DIFFER,    /* compared: lines[] */
};

static const char *const state_names[] = {
	[PV_UNKNOWN] = "unknown",
	[PV_EQUAL] = "equal",
	[PV_COMPARING] = "comparing",
	[PV_DIFFER] = "differ",
};

struct pview {
	uint32_t node;
	char name[32];
	enum pv_state state;
	uint64_t digest;	     /* its announced digest */
	uint64_t cmp_mine, cmp_peer; /* digests of the last comparison */
	struct svc_set set;	     /* its set, as compared */
	struct svc_diff_count c;
	char *lines[SVCWATCH_LINES_MAX];
	size_t n_lines;
	bool refuses;	      /* it would refuse some of our sessions */
	uint64_t unprotected; /* last complete count */
	uint64_t counting;    /* the walk in progress */
	uint64_t differs_since_ns;
};

struct svcwatch {
	char node[64];
	struct svc_backends *b;
	struct sync_engine *e;
	const struct sync_store_ops *store;
	void *store_ctx;
	int sessions_map;
	struct svc_set mine;
	bool have_mine;
	uint64_t changes, read_errors;
	size_t n_peers;
	struct pview peers[SYNC_MAX_PEERS];
	bool walking;
	struct sync_cursor cur;
	uint64_t walks;
	struct xlb_ratelimit rl;
};

struct svcwatch *svcwatch_new(const char *node_name, struct svc_backends *b, struct sync_engine *e,
			      const struct sync_store_ops *store, void *store_ctx, int sessions_map)
{
	struct svcwatch *w = calloc(1, sizeof(*w));
	size_t i;

	if (!w)
		return NULL;
	snprintf(w->node, sizeof(w->node), "%s", node_name);
	w->b = b;
	w->e = e;
	w->store = store;
	w->store_ctx = store_ctx;
	w->sessions_map = sessions_map;
	w->n_peers = sync_engine_n_peers(e);
	for (i = 0; i < w->n_peers; i++) {
		struct sync_peer_status ps;

		sync_engine_get_peer(e, i, &ps);
		w->peers[i].node = ps.node;
		snprintf(w->peers[i].name, sizeof(w->peers[i].name), "node%" PRIu32, ps.node);
	}
	w->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(1, 20);
	return w;
}

static void lines_free(struct pview *p)
{
	size_t i;

	for (i = 0; i < p->n_lines; i++)
		free(p->lines[i]);
	p->n_lines = 0;
}

void svcwatch_free(struct svcwatch *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_peers; i++) {
		lines_free(&w->peers[i]);
		svcset_free(&w->peers[i].set);
	}
	svcset_free(&w->mine);
	free(w);
}

static size_t n_backends(const struct svc_set *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->n; i++)
		n += s->vips[i].n_be;
	return n;
}

/* This node's set, read again; a change goes to the engine. */
static void read_mine(struct svcwatch *w)
{
	struct svc_set s;
	int r = svc_read_set(w->b, &s);

	if (r < 0) {
		w->read_errors++;
		xlb_log_rl(&w->rl, XLB_LOG_WARN,
			   "services %s: cannot read this node's service set from the pinned "
			   "maps: %s (the last one read stays announced)",
			   w->node, strerror(-r));
		return;
	}
	if (w->have_mine && s.digest == w->mine.digest) {
		svcset_free(&s);
		return;
	}
	if (sync_engine_set_services(w->e, s.digest, s.enc, s.enc_len) < 0) {
		svcset_free(&s);
		return;
	}
	log_info("services %s: this node's service set is now %zu VIPs, %zu backends (digest "
		 "%016" PRIx64 ")",
		 w->node, s.n, n_backends(&s), s.digest);
	svcset_free(&w->mine);
	w->mine = s;
	w->have_mine = true;
	w->changes++;
}

struct collect {
	char *lines[SVCWATCH_LINES_MAX];
	bool refuses[SVCWATCH_LINES_MAX];
	size_t n;
};

static void collect_line(void *arg, const char *line, bool refuses)
{
	struct collect *c = arg;

	if (c->n < SVCWATCH_LINES_MAX) {
		c->refuses[c->n] = refuses;
		c->lines[c->n++] = strdup(line);
	}
}

static bool has_line(char *const *lines, size_t n, const char *line)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lines[i] && !strcmp(lines[i], line))
			return true;
	return false;
}

static void compare(struct svcwatch *w, struct pview *p, const struct sync_peer_services *ps,
		    uint64_t now_ns)
{
	struct svc_set theirs;
	struct collect col = { .n = 0 };
	char why[160];
	size_t i;

	if (svcset_decode(&theirs, ps->enc, ps->len, why, sizeof(why)) < 0) {
		xlb_log_rl(&w->rl, XLB_LOG_WARN,
			   "services %s: peer %s: refused its service set: %s", w->node, p->name,
			   why);
		p->cmp_mine = w->mine.digest;
		p->cmp_peer = ps->enc_digest;
		return;
	}
	svcset_diff(&w->mine, &theirs, p->name, &p->c, collect_line, &col);
	for (i = 0; i < col.n; i++)
		if (col.lines[i] && !has_line(p->lines, p->n_lines, col.lines[i]))
			xlb_log_rl(&w->rl, XLB_LOG_WARN, "services %s: peer %s differs: %s (%s)",
				   w->node, p->name, col.lines[i],
				   col.refuses[i] ? "it refuses these sessions: their connections "
						    "break if they fail over to it"
						  : "new connections are balanced otherwise there");
	for (i = 0; i < p->n_lines; i++)
		if (!has_line(col.lines, col.n, p->lines[i]))
			xlb_log_rl(&w->rl, XLB_LOG_INFO,
				   "services %s: peer %s no longer differs: %s", w->node, p->name,
				   p->lines[i]);
	if (p->c.total > SVCWATCH_LINES_MAX && p->state != PV_DIFFER)
		xlb_log_rl(&w->rl, XLB_LOG_WARN,
			   "services %s: peer %s differs in %u ways, the first %d logged", w->node,
			   p->name, p->c.total, SVCWATCH_LINES_MAX);
	lines_free(p);
	memcpy(p->lines, col.lines, sizeof(col.lines));
	p->n_lines = col.n;
	svcset_free(&p->set);
	p->set = theirs;
	p->cmp_mine = w->mine.digest;
	p->cmp_peer = ps->enc_digest;
	p->refuses = p->c.vips_missing_there || p->c.vips_other_mode ||
		     p->c.backends_missing_there || p->c.backends_other_address;
	if (!p->refuses)
		p->unprotected = 0;
	if (p->state != PV_DIFFER)
		p->differs_since_ns = now_ns;
	p->state = p->c.total ? PV_DIFFER : PV_EQUAL;
}

static void became_equal(struct svcwatch *w, struct pview *p)
{
	if (p->state == PV_DIFFER || p->state == PV_COMPARING)
		log_info("services %s: peer %s has the same service set again (digest %016" PRIx64
			 ")",
			 w->node, p->name, w->mine.digest);
	lines_free(p);
	memset(&p->c, 0, sizeof(p->c));
	p->refuses = false;
	p->unprotected = 0;
	p->state = PV_EQUAL;
}

/* ---- the sessions a differing peer would refuse ------------------------- */

static int count_one(void *arg, const void *key, const void *value)
{
	struct svcwatch *w = arg;
	const struct xlb_flow_key *k = key;
	const struct xlb_session *s = value;
	const struct svc_vip *v;
	size_t i;

	v = svcset_find_vip(&w->mine, k->family, &k->daddr, ntohs(k->dport), k->proto);
	if (!v)
		return 0; /* not a VIP of this node: not ours to protect */
	for (i = 0; i < w->n_peers; i++) {
		struct pview *p = &w->peers[i];

		if (p->refuses && !svcset_peer_serves(&p->set, v, s->backend_id))
			p->counting++;
	}
	return 0;
}

static void walk(struct svcwatch *w)
{
	bool any = false;
	size_t i;
	int r;

	for (i = 0; i < w->n_peers; i++)
		any |= w->peers[i].refuses;
	if (!any || w->sessions_map < 0) {
		w->walking = false;
		return;
	}
	if (!w->walking) {
		memset(&w->cur, 0, sizeof(w->cur));
		for (i = 0; i < w->n_peers; i++)
			w->peers[i].counting = 0;
		w->walking = true;
	}
	r = w->store->walk(w->store_ctx, (unsigned int)w->sessions_map, &w->cur, SVCWATCH_WALK_MAX,
			   count_one, w);
	if (r < 0) {
		xlb_log_rl(&w->rl, XLB_LOG_WARN,
			   "services %s: map sessions: cannot count the unprotected sessions: %s",
			   w->node, strerror(-r));
		w->walking = false;
		return;
	}
	if (!w->cur.done)
		return;
	w->walking = false;
	w->walks++;
	for (i = 0; i < w->n_peers; i++) {
		struct pview *p = &w->peers[i];

		if (p->refuses && p->counting != p->unprotected && p->counting)
			xlb_log_rl(&w->rl, XLB_LOG_WARN,
				   "services %s: peer %s: %" PRIu64 " sessions of this node are "
				   "unprotected (their VIP or backend differs there)",
				   w->node, p->name, p->counting);
		p->unprotected = p->refuses ? p->counting : 0;
	}
}

void svcwatch_tick(struct svcwatch *w, uint64_t now_ns)
{
	struct sync_peer_services ps;
	size_t i;

	read_mine(w);
	if (!w->have_mine)
		return;
	for (i = 0; i < w->n_peers; i++) {
		struct pview *p = &w->peers[i];

		sync_engine_peer_services(w->e, i, &ps);
		if (!ps.announced) {
			p->state = PV_UNKNOWN;
			continue;
		}
		p->digest = ps.digest;
		if (ps.digest == w->mine.digest) {
			if (p->state != PV_EQUAL)
				became_equal(w, p);
			continue;
		}
		if (ps.enc && ps.enc_digest == ps.digest) {
			if (p->state != PV_DIFFER || p->cmp_mine != w->mine.digest ||
			    p->cmp_peer != ps.digest)
				compare(w, p, &ps, now_ns);
			continue;
		}
		if (p->state == PV_EQUAL || p->state == PV_UNKNOWN) {
			p->state = PV_COMPARING;
			p->differs_since_ns = now_ns;
		}
	}
	walk(w);
}

/* ---- status --------------------------------------------------------------- */

static struct json_object *hex64(uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%016" PRIx64, v);
	return json_object_new_string(b);
}

struct json_object *svcwatch_json(const struct svcwatch *w)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "digest", w->have_mine ? hex64(w->mine.digest) : NULL);
	json_object_object_add(o, "vips", json_object_new_uint64(w->mine.n));
	json_object_object_add(o, "backends", json_object_new_uint64(n_backends(&w->mine)));
	json_object_object_add(o, "changes", json_object_new_uint64(w->changes));
	json_object_object_add(o, "read_errors", json_object_new_uint64(w->read_errors));
	return o;
}

struct json_object *svcwatch_peer_json(const struct svcwatch *w, size_t peer)
{
	const struct pview *p = &w->peers[peer];
	struct json_object *o = json_object_new_object(), *c, *l;
	size_t i;

	json_object_object_add(o, "state", json_object_new_string(state_names[p->state]));
	json_object_object_add(o, "equal", json_object_new_boolean(p->state == PV_EQUAL));
	json_object_object_add(o, "digest", p->state != PV_UNKNOWN ? hex64(p->digest) : NULL);
	json_object_object_add(o, "differences", json_object_new_uint64(p->c.total));
	c = json_object_new_object();
#define C(name) json_object_object_add(c, #name, json_object_new_uint64(p->c.name))
	C(vips_missing_there);
	C(vips_missing_here);
	C(vips_other_mode);
	C(backends_missing_there);
	C(backends_missing_here);
	C(backends_other_address);
	C(weights);
	C(drains);
#undef C
	json_object_object_add(o, "by_kind", c);
	l = json_object_new_array();
	for (i = 0; i < p->n_lines; i++)
		json_object_array_add(l, json_object_new_string(p->lines[i]));
	json_object_object_add(o, "lines", l);
	json_object_object_add(o, "unprotected_sessions", json_object_new_uint64(p->unprotected));
	return o;
}
