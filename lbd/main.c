// SPDX-License-Identifier: BSD-2-Clause
/*
 * lbd: loads and attaches the xdplb data plane, owns the VIP/backend
 * configuration, builds Maglev tables, health-checks backends, ages
 * sessions and serves lbctl. One libuv loop, no threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <bpf/bpf.h>

#include "ageing.h"
#include "bpfmap.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "dataplane.h"
#include "health.h"
#include "lbd.h"
#include "synclink.h"
#include "log.h"
#include "maglev.h"

#define LBD_RUN_DIR "/run/xdplb"
/* After a restart a VIP keeps the table it had until its health checks
 * have all reported once, or this long. */
#define LBD_STARTUP_HOLD_MS 10000
/* A table that could not be installed is tried again this much later. */
#define LBD_REBUILD_RETRY_MS 1000

static struct lbd lbd_state;

/* VIPs whose health changed: rebuilt together from the next loop
 * iteration, so a burst of reports gives one rebuild. */
static struct {
	uv_timer_t timer;
	uv_timer_t hold_timer;
	bool dirty[XLB_MAX_VIPS];
	bool hold[XLB_MAX_VIPS]; /* keeping a previous run's table */
	char reason[XLB_MAX_VIPS][96];
	unsigned int changes[XLB_MAX_VIPS];
	struct xlb_ratelimit err_rl; /* failed rebuilds */
} rb = { .err_rl = XLB_RATELIMIT_INIT(10, 5) };

struct cfg_vip *lbd_vip_by_id(struct lbd *l, uint32_t vip_id)
{
	if (vip_id >= l->cfg->n_vips || !lbd_vip_used(&l->cfg->vips[vip_id]))
		return NULL;
	return &l->cfg->vips[vip_id];
}

struct cfg_vip *lbd_vip_by_name(struct lbd *l, const char *name)
{
	size_t i;

	if (!name || !*name)
		return NULL;
	for (i = 0; i < l->cfg->n_vips; i++)
		if (lbd_vip_used(&l->cfg->vips[i]) && !strcmp(l->cfg->vips[i].name, name))
			return &l->cfg->vips[i];
	return NULL;
}

size_t lbd_vip_count(const struct lbd *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->cfg->n_vips; i++)
		n += lbd_vip_used(&l->cfg->vips[i]);
	return n;
}

static struct cfg_backend *vip_backend(struct cfg_vip *v, uint32_t id, size_t *idx)
{
	size_t i;

	for (i = 0; i < v->n_backends; i++) {
		if (v->backends[i].id == id) {
			if (idx)
				*idx = i;
			return &v->backends[i];
		}
	}
	return NULL;
}

bool lbd_backend_in_table(const struct lbd *l, uint32_t vip_id, uint32_t id)
{
	const struct lbd_vip_rt *rt;
	size_t i;

	if (vip_id >= XLB_MAX_VIPS)
		return false;
	rt = &l->vrt[vip_id];
	for (i = 0; i < rt->n; i++)
		if (rt->ids[i] == id)
			return true;
	return false;
}

/* Is backend id used by a VIP other than skip? Which one in *vp (if given). */
static const struct cfg_backend *
backend_elsewhere(struct lbd *l, uint32_t id, const struct cfg_vip *skip, const struct cfg_vip **vp)
{
	const struct cfg_backend *b;
	size_t i;

	for (i = 0; i < l->cfg->n_vips; i++) {
		struct cfg_vip *v = &l->cfg->vips[i];

		if (v == skip || !lbd_vip_used(v))
			continue;
		b = vip_backend(v, id, NULL);
		if (b) {
			if (vp)
				*vp = v;
			return b;
		}
	}
	return NULL;
}

/* Free backend id's slot in the data plane (no table points at it). */
static void backend_slot_clear(struct lbd *l, const struct cfg_vip *v, uint32_t id)
{
	int r = dp_backend_clear(&l->dp, id);

	ageing_backend_gone(l->ageing, id, true, xlb_mono_ns());
	if (r < 0)
		log_warn("vip %s backend %u: cannot clear its slot in the backends map: %s",
			 v->name, id, strerror(-r));
}

static const char *ep(const struct cfg_vip *v, const struct cfg_backend *b, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u", cfg_format_addr(b->family, &b->addr, a, sizeof(a)),
		 cfg_backend_port(v, b));
	return buf;
}

/* ---- Maglev tables ------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Backends of v that may take new flows, sorted by id. */
static size_t eligible(struct lbd *l, struct cfg_vip *v, uint32_t *ids, uint32_t *weights)
{
	uint32_t tmp[CFG_MAX_BACKENDS_PER_VIP];
	size_t i, n = 0;

	for (i = 0; i < v->n_backends; i++) {
		const struct cfg_backend *b = &v->backends[i];

		if (!b->drain && b->weight > 0 && hc_is_up(l->hc, v->vip_id, b->id))
			tmp[n++] = b->id;
	}
	qsort(tmp, n, sizeof(tmp[0]), cmp_u32);
	for (i = 0; i < n; i++) {
		ids[i] = tmp[i];
		weights[i] = vip_backend(v, tmp[i], NULL)->weight;
	}
	return n;
}

/*
 * Rebuild v's Maglev table if its eligible set changed (or force). The new
 * table goes into a fresh inner map swapped in with one update.
 */
static int vip_rebuild(struct lbd *l, struct cfg_vip *v, bool force, const char *reason)
{
	struct lbd_vip_rt *rt = &l->vrt[v->vip_id];
	uint32_t ids[CFG_MAX_BACKENDS_PER_VIP], weights[CFG_MAX_BACKENDS_PER_VIP];
	struct maglev_backend mb[CFG_MAX_BACKENDS_PER_VIP];
	char names[CFG_MAX_BACKENDS_PER_VIP][48];
	uint32_t *table = NULL;
	size_t i, n;
	int r;

	n = eligible(l, v, ids, weights);
	if (!force && rt->table_valid && n == rt->n && !memcmp(ids, rt->ids, n * sizeof(ids[0])) &&
	    !memcmp(weights, rt->weights, n * sizeof(weights[0])))
		return 0;

	if (n) {
		table = malloc(sizeof(*table) * XLB_MAGLEV_SIZE);
		if (!table)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			const struct cfg_backend *b = vip_backend(v, ids[i], NULL);

			/* Hash by endpoint: the same on every node. */
			ep(v, b, names[i], sizeof(names[i]));
			mb[i].id = b->id;
			mb[i].weight = b->weight;
			mb[i].name = names[i];
			mb[i].name_len = strlen(names[i]);
		}
		if (maglev_build(mb, n, table, XLB_MAGLEV_SIZE) < 0) {
			r = -errno;
			log_err_rl(&rb.err_rl, "vip %s: cannot build maglev table (%s): %s",
				   v->name, reason, strerror(-r));
			free(table);
			return r;
		}
	}
	r = dp_maglev_install(&l->dp, v->vip_id, table);
	free(table);
	if (r < 0) {
		log_err_rl(&rb.err_rl, "vip %s: cannot install maglev table (%s): %s", v->name,
			   reason, strerror(-r));
		return r;
	}
	rt->table_valid = true;
	rt->n = n;
	memcpy(rt->ids, ids, n * sizeof(ids[0]));
	memcpy(rt->weights, weights, n * sizeof(weights[0]));
	rt->rebuilds++;
	l->maglev_rebuilds++;
	rb.hold[v->vip_id] = false;
	log_info("vip %s: maglev table rebuilt, %zu backend%s (%s)", v->name, n, n == 1 ? "" : "s",
		 reason);
	return 0;
}

/* Health of every candidate backend of v has been reported at least once. */
static bool vip_health_known(struct lbd *l, struct cfg_vip *v)
{
	size_t i;

	for (i = 0; i < v->n_backends; i++) {
		const struct cfg_backend *b = &v->backends[i];

		if (!b->drain && b->weight > 0 && !hc_reason(l->hc, v->vip_id, b->id))
			return false;
	}
	return true;
}

static void on_rebuild(uv_timer_t *t)
{
	struct lbd *l = t->data;
	bool retry = false;
	size_t i;

	for (i = 0; i < l->cfg->n_vips; i++) {
		struct cfg_vip *v = &l->cfg->vips[i];
		char reason[128];

		if (!rb.dirty[i] || !lbd_vip_used(v))
			continue;
		if (rb.hold[i] && !vip_health_known(l, v))
			continue; /* keep the previous run's table a little longer */
		if (rb.changes[i] > 1)
			snprintf(reason, sizeof(reason), "%s and %u more health changes",
				 rb.reason[i], rb.changes[i] - 1);
		else
			snprintf(reason, sizeof(reason), "%s", rb.reason[i]);
		if (vip_rebuild(l, v, rb.hold[i], reason) < 0) {
			/* The old table (with a backend that may be down) stays:
			 * keep the VIP dirty and try again. */
			retry = true;
			continue;
		}
		rb.dirty[i] = false;
		rb.changes[i] = 0;
	}
	if (retry && !l->stopping)
		uv_timer_start(&rb.timer, on_rebuild, LBD_REBUILD_RETRY_MS, 0);
}

static void mark_dirty(struct lbd *l, uint32_t vip_id, const char *reason)
{
	if (!rb.changes[vip_id]++)
		snprintf(rb.reason[vip_id], sizeof(rb.reason[vip_id]), "%s", reason);
	rb.dirty[vip_id] = true;
	/* Also cuts short a pending retry: a new change is worth a try now. */
	if (!l->stopping)
		uv_timer_start(&rb.timer, on_rebuild, 0, 0);
}

#define HOLD_EXPIRED "health checks still incomplete after start-up"

static void on_hold_expired(uv_timer_t *t)
{
	struct lbd *l = t->data;
	size_t i;

	for (i = 0; i < l->cfg->n_vips; i++) {
		struct cfg_vip *v = &l->cfg->vips[i];

		if (!rb.hold[i] || !lbd_vip_used(v))
			continue;
		rb.hold[i] = false;
		rb.dirty[i] = false;
		rb.changes[i] = 0;
		if (vip_rebuild(l, v, true, HOLD_EXPIRED) < 0)
			mark_dirty(l, i, HOLD_EXPIRED);
	}
}

static void on_health(void *arg, uint32_t vip_id, uint32_t backend_id, bool up, const char *reason)
{
	struct lbd *l = arg;
	struct cfg_vip *v = lbd_vip_by_id(l, vip_id);
	struct cfg_backend *b;
	char e[64], why[96];

	if (!v)
		return;
	b = vip_backend(v, backend_id, NULL);
	if (!b)
		return;
	log_info("vip %s backend %u (%s) %s: %s", v->name, backend_id, ep(v, b, e, sizeof(e)),
		 up ? "up" : "down", reason ? reason : "");
	/* its sessions' UDP flows and new connections move (decision 12) */
	ageing_backend_gone(l->ageing, backend_id, !up, xlb_mono_ns());
	if (dp_backend_state(&l->dp, backend_id, !up, b->drain) < 0)
		log_warn("vip %s backend %u: cannot mark it %s in the data plane", v->name,
			 backend_id, up ? "up" : "down");
	snprintf(why, sizeof(why), "backend %u %s", backend_id, up ? "up" : "down");
	mark_dirty(l, vip_id, why);
}

/* ---- validation: the config file's rules (lib/config.c) ----------------- */

/* "vip web address: ..."; "vip name: ..." when the name is what is wrong. */
static int validate_vip(struct lbd *l, const struct cfg_vip *v, char *err, size_t errlen)
{
	struct cfg_fault f;
	const char *key;
	int r;

	r = cfg_check_vip(l->cfg, v, &f);
	if (r < 0) {
		key = cfg_field_key(f.field);
		if (f.field == CFG_F_NAME)
			snprintf(err, errlen, "vip name: %s", f.why);
		else
			snprintf(err, errlen, "vip %s%s%s: %s", v->name, key ? " " : "",
				 key ? key : "", f.why);
	}
	return r;
}

/* "vip web backend 5 weight: ..." */
static int validate_backend(struct lbd *l, struct cfg_vip *v, const struct cfg_backend *b,
			    char *err, size_t errlen)
{
	const struct cfg_vip *ov = NULL;
	const struct cfg_backend *o;
	char at[CFG_NAME_MAX + 8] = "";
	struct cfg_fault f;
	const char *key;
	int r;

	o = backend_elsewhere(l, b->id, v, &ov);
	if (o)
		snprintf(at, sizeof(at), "vip %s", ov->name);
	r = cfg_check_backend(v, b, o, at, &f);
	if (r < 0) {
		key = cfg_field_key(f.field);
		snprintf(err, errlen, "vip %s backend %u%s%s: %s", v->name, b->id, key ? " " : "",
			 key ? key : "", f.why);
		return r;
	}
	if (v->n_backends >= CFG_MAX_BACKENDS_PER_VIP) {
		snprintf(err, errlen, "vip %s already has %d backends", v->name,
			 CFG_MAX_BACKENDS_PER_VIP);
		return -ENOSPC;
	}
	return 0;
}

/* ---- run-time changes --------------------------------------------------- */

/* v's members as syncd reads them (dp_members_publish): after every change
 * to v's backends, weights or drains. */
static void publish_members(struct lbd *l, const struct cfg_vip *v)
{
	int r = dp_members_publish(&l->dp, v);

	if (r < 0)
		log_warn("vip %s: cannot publish its members to the vip_members map: %s "
			 "(syncd compares a stale service set)",
			 v->name, strerror(-r));
}

static struct cfg_vip *find_vip(struct lbd *l, const char *name, char *err, size_t errlen)
{
	struct cfg_vip *v = lbd_vip_by_name(l, name);

	if (!v)
		snprintf(err, errlen, "no vip %s", name ? name : "");
	return v;
}

/* Backend id of the VIP named vip, its index in *idx; NULL with err set. */
static struct cfg_backend *find_backend(struct lbd *l, const char *vip, uint32_t id,
					struct cfg_vip **vp, size_t *idx, char *err, size_t errlen)
{
	struct cfg_vip *v = find_vip(l, vip, err, errlen);
	struct cfg_backend *b;

	if (!v)
		return NULL;
	b = vip_backend(v, id, idx);
	if (!b)
		snprintf(err, errlen, "vip %s has no backend %u", v->name, id);
	*vp = v;
	return b;
}

/* Forget the run-time state of VIP slot id (free or about to be reused). */
static void vip_slot_reset(struct lbd *l, uint32_t id)
{
	memset(&l->vrt[id], 0, sizeof(l->vrt[id]));
	rb.dirty[id] = rb.hold[id] = false;
	rb.changes[id] = 0;
}

int lbd_vip_add(struct lbd *l, const struct cfg_vip *in, char *err, size_t errlen)
{
	struct node_config *cfg = l->cfg;
	struct cfg_vip *v;
	size_t slot;
	int r;

	r = validate_vip(l, in, err, errlen);
	if (r < 0)
		return r;
	for (slot = 0; slot < cfg->n_vips; slot++)
		if (!lbd_vip_used(&cfg->vips[slot]))
			break;
	if (slot >= CFG_MAX_VIPS) {
		snprintf(err, errlen, "already %d VIPs", CFG_MAX_VIPS);
		return -ENOSPC;
	}
	v = &cfg->vips[slot];
	*v = *in;
	v->vip_id = slot;
	v->n_backends = 0;
	vip_slot_reset(l, slot);

	r = dp_vip_stats_reset(&l->dp, slot);
	if (r == 0)
		r = vip_rebuild(l, v, true, "vip added");
	if (r == 0)
		r = dp_vip_set(&l->dp, v);
	if (r < 0) {
		snprintf(err, errlen, "vip %s: cannot update the data plane: %s", in->name,
			 strerror(-r));
		dp_maglev_remove(&l->dp, slot);
		memset(v, 0, sizeof(*v));
		vip_slot_reset(l, slot);
		return r;
	}
	if (slot == cfg->n_vips)
		cfg->n_vips++;
	publish_members(l, v);
	log_info("vip %s added (id %zu)", v->name, slot);
	return 0;
}

int lbd_vip_del(struct lbd *l, const char *name, char *err, size_t errlen)
{
	struct node_config *cfg = l->cfg;
	struct cfg_vip *v = find_vip(l, name, err, errlen);
	uint32_t id;
	size_t i;
	int r;

	if (!v)
		return -ENOENT;
	id = v->vip_id;
	/* New packets stop matching first, then the table goes. */
	r = dp_vip_del(&l->dp, v);
	if (r < 0) {
		snprintf(err, errlen, "vip %s: cannot delete it from the data plane: %s", name,
			 strerror(-r));
		return r;
	}
	/* Past the point of no return: what fails now leaves an unused slot. */
	r = dp_maglev_remove(&l->dp, id);
	if (r < 0)
		log_warn("vip %s: cannot remove its maglev table (id %u): %s", name, id,
			 strerror(-r));
	r = dp_members_clear(&l->dp, id);
	if (r < 0)
		log_warn("vip %s: cannot remove its members from the vip_members map: %s", name,
			 strerror(-r));
	for (i = 0; i < v->n_backends; i++) {
		uint32_t bid = v->backends[i].id;

		hc_remove(l->hc, id, bid);
		if (!backend_elsewhere(l, bid, v, NULL))
			backend_slot_clear(l, v, bid);
	}
	log_info("vip %s deleted (%zu backends)", v->name, v->n_backends);
	memset(v, 0, sizeof(*v));
	vip_slot_reset(l, id);
	while (cfg->n_vips && !lbd_vip_used(&cfg->vips[cfg->n_vips - 1]))
		cfg->n_vips--;
	return 0;
}

int lbd_backend_add(struct lbd *l, const char *vip, const struct cfg_backend *b, char *err,
		    size_t errlen)
{
	struct cfg_vip *v = find_vip(l, vip, err, errlen);
	char e[64], why[64];
	int r;

	if (!v)
		return -ENOENT;
	r = validate_backend(l, v, b, err, errlen);
	if (r < 0)
		return r;
	r = dp_backend_set(&l->dp, b);
	if (r < 0) {
		snprintf(err, errlen, "backend %u: cannot write the backends map: %s", b->id,
			 strerror(-r));
		return r;
	}
	ageing_backend_gone(l->ageing, b->id, false, 0);
	r = hc_add(l->hc, v->vip_id, b, v->port, &v->hc);
	if (r < 0) {
		snprintf(err, errlen, "backend %u: cannot start its health check: %s", b->id,
			 strerror(-r));
		if (!backend_elsewhere(l, b->id, v, NULL))
			backend_slot_clear(l, v, b->id);
		return r;
	}
	v->backends[v->n_backends++] = *b;
	publish_members(l, v);
	log_info("vip %s backend %u (%s) added, weight %u", v->name, b->id, ep(v, b, e, sizeof(e)),
		 b->weight);
	/* Not in the table before its first health report: nothing to build
	 * yet, and a failure is retried like a health change. */
	snprintf(why, sizeof(why), "backend %u added", b->id);
	if (vip_rebuild(l, v, false, why) < 0)
		mark_dirty(l, v->vip_id, why);
	return 0;
}

int lbd_backend_del(struct lbd *l, const char *vip, uint32_t id, char *err, size_t errlen)
{
	struct cfg_backend *b, saved;
	struct cfg_vip *v;
	char e[64], why[64];
	size_t idx;
	int r;

	b = find_backend(l, vip, id, &v, &idx, err, errlen);
	if (!b)
		return -ENOENT;
	saved = *b;
	ep(v, b, e, sizeof(e));
	memmove(&v->backends[idx], &v->backends[idx + 1],
		(v->n_backends - idx - 1) * sizeof(v->backends[0]));
	v->n_backends--;
	snprintf(why, sizeof(why), "backend %u removed", id);
	r = vip_rebuild(l, v, false, why);
	if (r < 0) {
		/* The table still sends flows to it: keep everything. */
		memmove(&v->backends[idx + 1], &v->backends[idx],
			(v->n_backends - idx) * sizeof(v->backends[0]));
		v->backends[idx] = saved;
		v->n_backends++;
		snprintf(err, errlen,
			 "vip %s backend %u: cannot install the maglev table "
			 "without it: %s",
			 v->name, id, strerror(-r));
		return r;
	}
	hc_remove(l->hc, v->vip_id, id);
	publish_members(l, v);
	/* The slot goes only once no table can point at it. */
	if (!backend_elsewhere(l, id, NULL, NULL))
		backend_slot_clear(l, v, id);
	log_info("vip %s backend %u (%s) removed", v->name, id, e);
	return 0;
}

int lbd_backend_drain(struct lbd *l, const char *vip, uint32_t id, bool drain, char *err,
		      size_t errlen)
{
	struct cfg_backend *b;
	struct cfg_vip *v;
	char why[64];
	int r;

	b = find_backend(l, vip, id, &v, NULL, err, errlen);
	if (!b)
		return -ENOENT;
	if (b->drain == drain)
		return 0;
	b->drain = drain;
	snprintf(why, sizeof(why), "backend %u %s", id, drain ? "drained" : "undrained");
	r = vip_rebuild(l, v, false, why);
	if (r < 0) {
		b->drain = !drain;
		snprintf(err, errlen, "vip %s backend %u: cannot install the maglev table: %s",
			 v->name, id, strerror(-r));
		return r;
	}
	if (dp_backend_state(&l->dp, id, !hc_is_up(l->hc, v->vip_id, id), drain) < 0)
		log_warn("vip %s backend %u: cannot mark it %s in the data plane", v->name, id,
			 drain ? "drained" : "undrained");
	publish_members(l, v);
	log_info("vip %s backend %u %s", v->name, id,
		 drain ? "drained: no new flows, sessions kept" : "undrained");
	return 0;
}

int lbd_backend_weight(struct lbd *l, const char *vip, uint32_t id, uint32_t weight, char *err,
		       size_t errlen)
{
	struct cfg_backend *b;
	struct cfg_vip *v;
	uint32_t old;
	char why[64];
	int r;

	b = find_backend(l, vip, id, &v, NULL, err, errlen);
	if (!b)
		return -ENOENT;
	if (weight > CFG_WEIGHT_MAX) {
		snprintf(err, errlen, "vip %s backend %u weight: %u is above %u", v->name, id,
			 weight, CFG_WEIGHT_MAX);
		return -EINVAL;
	}
	if (b->weight == weight)
		return 0;
	old = b->weight;
	b->weight = weight;
	snprintf(why, sizeof(why), "backend %u weight %u", id, weight);
	r = vip_rebuild(l, v, false, why);
	if (r < 0) {
		b->weight = old;
		snprintf(err, errlen, "vip %s backend %u: cannot install the maglev table: %s",
			 v->name, id, strerror(-r));
		return r;
	}
	publish_members(l, v);
	log_info("vip %s backend %u weight %u (was %u)%s", v->name, id, weight, old,
		 weight ? "" : ": no new flows, sessions kept");
	return 0;
}

/* ---- start-up ----------------------------------------------------------- */

static int write_pid_file(struct lbd *l)
{
	char buf[32];
	int fd, n;

	snprintf(l->pid_path, sizeof(l->pid_path), LBD_RUN_DIR "/%s.pid", l->cfg->node_name);
	if (mkdir(LBD_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(l->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static long read_pid_file(const struct node_config *cfg)
{
	char path[CFG_PATH_MAX + 16], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), LBD_RUN_DIR "/%s.pid", cfg->node_name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* One lbd per pin dir: an exclusive lock held for the daemon's life. */
static int lock_pin_dir(struct lbd *l, char *err, size_t errlen)
{
	long pid;

	l->lock_fd = open(l->cfg->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->lock_fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open pin dir %s: %s", l->cfg->pin_dir, strerror(e));
		return -e;
	}
	if (flock(l->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(l->lock_fd);
		l->lock_fd = -1;
		if (e != EWOULDBLOCK) {
			snprintf(err, errlen, "cannot lock pin dir %s: %s", l->cfg->pin_dir,
				 strerror(e));
			return -e;
		}
		pid = read_pid_file(l->cfg);
		if (pid > 0)
			snprintf(err, errlen, "another lbd (pid %ld) is running on pin dir %s", pid,
				 l->cfg->pin_dir);
		else
			snprintf(err, errlen, "another lbd is running on pin dir %s",
				 l->cfg->pin_dir);
		return -EBUSY;
	}
	return 0;
}

/* Remove what an earlier run on these pins left that the config no longer
 * has: VIP keys, Maglev slots and backend slots. */
static void prune_stale(struct lbd *l)
{
	struct xlb_vip_key k, next;
	struct xlb_vip_key stale[XLB_MAX_VIPS];
	bool used_be[XLB_MAX_BACKENDS] = { false };
	struct xlb_backend be;
	size_t i, j, n_stale = 0;
	__u32 id;

	memset(&k, 0, sizeof(k)); /* not a valid key: start at the first */
	while (xlb_map_next_key(l->dp.fd_vips, &k, &next) == 0) {
		bool known = false;

		for (i = 0; i < l->cfg->n_vips && !known; i++) {
			const struct cfg_vip *v = &l->cfg->vips[i];

			known = lbd_vip_used(v) && v->family == next.family &&
				htons(v->port) == next.port && v->proto == next.proto &&
				!memcmp(&v->addr, &next.addr, sizeof(v->addr));
		}
		if (!known && n_stale < XLB_MAX_VIPS)
			stale[n_stale++] = next;
		k = next;
	}
	for (i = 0; i < n_stale; i++)
		bpf_map_delete_elem(l->dp.fd_vips, &stale[i]);
	for (id = 0; id < XLB_MAX_VIPS; id++)
		if (!lbd_vip_by_id(l, id))
			dp_maglev_remove(&l->dp, id);
	for (i = 0; i < l->cfg->n_vips; i++)
		for (j = 0; j < l->cfg->vips[i].n_backends; j++)
			used_be[l->cfg->vips[i].backends[j].id] = true;
	for (id = 1; id < XLB_MAX_BACKENDS; id++) {
		if (used_be[id] || bpf_map_lookup_elem(l->dp.fd_backends, &id, &be) < 0 ||
		    !(be.flags & XLB_BE_F_ACTIVE))
			continue;
		dp_backend_clear(&l->dp, id);
	}
	if (n_stale)
		log_info("removed %zu VIP%s left in the pinned maps by an earlier config", n_stale,
			 n_stale == 1 ? "" : "s");
}

static int populate(struct lbd *l, char *err, size_t errlen)
{
	struct node_config *cfg = l->cfg;
	unsigned int pushed, held;
	size_t i, j;
	int r;

	r = dp_write_config(&l->dp, cfg);
	if (r < 0) {
		snprintf(err, errlen, "cannot write lb_config: %s", strerror(-r));
		return r;
	}
	r = dp_write_port_owner(&l->dp, cfg);
	if (r < 0) {
		snprintf(err, errlen, "cannot write port_owner: %s", strerror(-r));
		return r;
	}
	if (l->dp.reused)
		prune_stale(l);
	{
		bool used[XLB_MAX_VIPS] = { false };

		for (i = 0; i < cfg->n_vips; i++)
			used[cfg->vips[i].vip_id] = lbd_vip_used(&cfg->vips[i]);
		r = dp_members_keep(&l->dp, used);
		if (r < 0) {
			snprintf(err, errlen, "cannot prune the vip_members map: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < cfg->n_vips; i++) {
		struct cfg_vip *v = &cfg->vips[i];
		__u32 inner_id;

		for (j = 0; j < v->n_backends; j++) {
			r = dp_backend_set(&l->dp, &v->backends[j]);
			if (r < 0) {
				snprintf(err, errlen, "cannot write backend %u: %s",
					 v->backends[j].id, strerror(-r));
				return r;
			}
		}
		if (!l->dp.reused)
			dp_vip_stats_reset(&l->dp, v->vip_id);
		/* A restart keeps the running table until health is known. */
		if (l->dp.reused && v->n_backends &&
		    bpf_map_lookup_elem(l->dp.fd_maglev, &v->vip_id, &inner_id) == 0) {
			rb.hold[i] = true;
			log_info("vip %s: keeping the previous maglev table until its health "
				 "checks report",
				 v->name);
		} else {
			r = vip_rebuild(l, v, true, "start-up");
			if (r < 0) {
				snprintf(err, errlen, "vip %s: cannot install its maglev table: %s",
					 v->name, strerror(-r));
				return r;
			}
		}
		r = dp_vip_set(&l->dp, v);
		if (r < 0) {
			snprintf(err, errlen, "cannot write vip %s: %s", v->name, strerror(-r));
			return r;
		}
		r = dp_members_publish(&l->dp, v);
		if (r < 0) {
			snprintf(err, errlen, "vip %s: cannot write its members: %s", v->name,
				 strerror(-r));
			return r;
		}
	}
	if (cfg->snat_family) {
		r = dp_port_pool_fill(&l->dp, cfg, &pushed, &held);
		if (r < 0) {
			snprintf(err, errlen, "cannot fill the SNAT port pool: %s", strerror(-r));
			return r;
		}
		log_info("snat port pool: %u free ports, %u held by existing sessions", pushed,
			 held);
	}
	return 0;
}

static int start_health(struct lbd *l, char *err, size_t errlen)
{
	struct node_config *cfg = l->cfg;
	size_t i, j;
	int r;

	l->hc = hc_new(&l->loop, on_health, l);
	if (!l->hc) {
		snprintf(err, errlen, "cannot start health checks: %s", strerror(errno));
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_vips; i++) {
		struct cfg_vip *v = &cfg->vips[i];

		for (j = 0; j < v->n_backends; j++) {
			r = hc_add(l->hc, v->vip_id, &v->backends[j], v->port, &v->hc);
			if (r < 0) {
				snprintf(err, errlen,
					 "vip %s backend %u: cannot start its health "
					 "check: %s",
					 v->name, v->backends[j].id, strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

/* ---- shutdown ----------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void lbd_shutdown(struct lbd *l, const char *why)
{
	int r;

	if (l->stopping)
		return;
	l->stopping = true;
	if (l->dp.attached) {
		log_info("%s: detaching XDP from %s; maps stay pinned in %s", why,
			 l->cfg->interface, l->cfg->pin_dir);
		r = dp_detach(&l->dp);
		if (r < 0)
			log_warn("cannot detach XDP from %s: %s", l->cfg->interface, strerror(-r));
		else if (r > 0)
			log_warn("the XDP program on %s is no longer ours: left in place",
				 l->cfg->interface);
	}
	if (l->ctl)
		ctl_free(l->ctl);
	l->ctl = NULL;
	if (l->ageing)
		ageing_free(l->ageing);
	l->ageing = NULL;
	synclink_free(l->synclink);
	l->synclink = NULL;
	if (l->hc)
		hc_free(l->hc);
	l->hc = NULL;
	uv_timer_stop(&rb.timer);
	uv_timer_stop(&rb.hold_timer);
	close_handle((uv_handle_t *)&rb.timer);
	close_handle((uv_handle_t *)&rb.hold_timer);
	close_handle((uv_handle_t *)&l->sig_term);
	close_handle((uv_handle_t *)&l->sig_int);
}

static void on_signal(uv_signal_t *s, int signum)
{
	lbd_shutdown(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lbd -c FILE [-v] [--check]\n"
		   "  -c, --config FILE  node configuration (YAML or JSON)\n"
		   "  -v, --verbose      debug logging (libbpf included)\n"
		   "      --check        validate the configuration and exit\n"
		   "  -h, --help         this help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lbd *l = &lbd_state;
	const char *path = NULL;
	bool check = false, verbose = false, loop_init = false;
	char err[512];
	int c, r, rc = 1;
	size_t i, nb = 0;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}

	memset(l, 0, sizeof(*l));
	l->lock_fd = -1;
	l->cfg = calloc(1, sizeof(*l->cfg));
	if (!l->cfg) {
		fprintf(stderr, "lbd: out of memory\n");
		return 1;
	}
	if (cfg_load_file(path, l->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbd: %s\n", err);
		free(l->cfg);
		return 2;
	}
	for (i = 0; i < l->cfg->n_vips; i++) {
		l->cfg->vips[i].vip_id = i;
		nb += l->cfg->vips[i].n_backends;
	}
	if (check) {
		printf("lbd: %s: configuration OK (node %s, %zu VIPs, %zu backends)\n", path,
		       l->cfg->node_name, l->cfg->n_vips, nb);
		free(l->cfg);
		return 0;
	}
	xlb_log_init("lbd", l->cfg->node_name, verbose ? XLB_LOG_DEBUG : XLB_LOG_INFO);
	xlb_log_libbpf();
	signal(SIGPIPE, SIG_IGN);

	/* Say what is missing before touching anything. */
	if (dp_check_privileges(err, sizeof(err)) < 0)
		goto fail_msg;
	if (!if_nametoindex(l->cfg->interface)) {
		snprintf(err, sizeof(err), "interface %s not found", l->cfg->interface);
		goto fail_msg;
	}
	if (dp_check_kernel(err, sizeof(err)) < 0)
		goto fail_msg;
	if (dp_prepare_bpffs(l->cfg, err, sizeof(err)) < 0)
		goto fail_msg;
	if (lock_pin_dir(l, err, sizeof(err)) < 0)
		goto fail_msg;
	r = write_pid_file(l);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot write pid file %.280s: %s", l->pid_path,
			 strerror(-r));
		goto fail_msg;
	}

	r = uv_loop_init(&l->loop);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot create the event loop: %s", uv_strerror(r));
		goto fail_msg;
	}
	loop_init = true;
	uv_timer_init(&l->loop, &rb.timer);
	uv_timer_init(&l->loop, &rb.hold_timer);
	rb.timer.data = rb.hold_timer.data = l;
	uv_signal_init(&l->loop, &l->sig_term);
	uv_signal_init(&l->loop, &l->sig_int);
	l->sig_term.data = l->sig_int.data = l;
	/* From here a SIGTERM during start-up is not fatal on the spot (it
	 * could leave XDP attached with no lbd): it is handled once the loop
	 * runs, by the same clean shutdown. */
	r = uv_signal_start(&l->sig_term, on_signal, SIGTERM);
	if (r == 0)
		r = uv_signal_start(&l->sig_int, on_signal, SIGINT);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot handle SIGTERM/SIGINT: %s", uv_strerror(r));
		goto fail_msg;
	}
	l->start_ns = xlb_mono_ns();

	if (dp_open(&l->dp, l->cfg, err, sizeof(err)) < 0)
		goto fail_msg;
	log_info("data plane loaded, maps %s in %s", l->dp.reused ? "reused" : "created",
		 l->cfg->pin_dir);
	if (start_health(l, err, sizeof(err)) < 0)
		goto fail_msg;
	if (populate(l, err, sizeof(err)) < 0)
		goto fail_msg;
	for (i = 0; i < l->cfg->n_vips; i++) {
		if (rb.hold[i]) {
			uv_timer_start(&rb.hold_timer, on_hold_expired, LBD_STARTUP_HOLD_MS, 0);
			break;
		}
	}
	l->ageing = ageing_new(&l->loop, &l->dp, l->cfg);
	if (!l->ageing || ageing_start(l->ageing) < 0) {
		snprintf(err, sizeof(err), "cannot start session ageing");
		goto fail_msg;
	}
	l->synclink = synclink_new(&l->loop, l->cfg, &l->dp);
	if (l->synclink) {
		ageing_add_hook(l->ageing, synclink_session_deleted, l->synclink);
		log_info("sync enabled: aged sessions are handed to syncd at %s",
			 l->cfg->sync.local_socket);
	}
	if (dp_attach(&l->dp, l->cfg, err, sizeof(err)) < 0)
		goto fail_msg;
	log_info("xdp_lb attached to %s (%s mode, prog id %u)", l->cfg->interface, l->cfg->xdp_mode,
		 l->dp.prog_id);
	l->ctl = ctl_new(l, l->cfg->control_socket, err, sizeof(err));
	if (!l->ctl)
		goto fail_msg;
	log_info("lbd ready: node %s (id %u), %zu VIPs, %zu backends, control socket %s",
		 l->cfg->node_name, l->cfg->node_id, lbd_vip_count(l), nb, l->cfg->control_socket);

	uv_run(&l->loop, UV_RUN_DEFAULT);
	rc = 0;
	goto out;

fail_msg:
	fprintf(stderr, "lbd: %s\n", err);
	rc = 1;
	if (loop_init) {
		lbd_shutdown(l, "start-up failed");
		uv_run(&l->loop, UV_RUN_DEFAULT);
	}
out:
	if (loop_init) {
		r = uv_loop_close(&l->loop);
		if (r < 0)
			log_warn("event loop closed with handles open: %s", uv_strerror(r));
	}
	dp_close(&l->dp);
	if (l->lock_fd >= 0) {
		if (l->pid_path[0])
			unlink(l->pid_path);
		close(l->lock_fd);
	}
	if (rc == 0)
		log_info("lbd stopped");
	free(l->cfg);
	return rc;
}
