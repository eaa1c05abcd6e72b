// SPDX-License-Identifier: BSD-2-Clause
/* lbd control socket: line-delimited JSON over a Unix stream socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <json-c/json.h>

#include "ageing.h"
#include "ctl.h"
#include "dataplane.h"
#include "health.h"
#include "lbd.h"
#include "log.h"

#define CTL_READ_CHUNK		4096
#define CTL_MAX_WRITE_QUEUE	(64u << 20)	/* a client not reading is dropped */

struct ctl {
	uv_pipe_t server;
	struct lbd *l;
	char path[CFG_PATH_MAX];
	struct ctl_client *clients;
	unsigned int n_clients;
	unsigned int refs;		/* server + clients not yet closed */
	bool closing;
	uint64_t requests;
	uint64_t errors;
};

struct ctl_client {
	uv_pipe_t pipe;
	struct ctl *ctl;
	struct ctl_client *next, **pprev;
	char *buf;
	size_t len, cap;
	bool closing;
};

struct ctl_write {
	uv_write_t req;
	char data[];
};

typedef int (*ctl_fn)(struct ctl *c, struct json_object *req, struct json_object **res,
		      char *err, size_t errlen);

/* ---- request fields ----------------------------------------------------- */

/* 0 found, 1 absent and optional, -EINVAL otherwise (err set). */
static int req_str(struct json_object *req, const char *key, bool required, const char **out,
		   char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 1;
		snprintf(err, errlen, "missing \"%s\"", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}

static int req_uint(struct json_object *req, const char *key, bool required, uint64_t min,
		    uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	struct json_object *v;
	const char *s;
	char *end;
	uint64_t x;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 1;
		snprintf(err, errlen, "missing \"%s\"", key);
		return -EINVAL;
	}
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0)
			goto range;
		x = (uint64_t)i;
	} else if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		errno = 0;
		if (*s < '0' || *s > '9')
			goto bad;
		x = strtoull(s, &end, 10);
		if (*end || errno)
			goto bad;
	} else {
		goto bad;
	}
	if (x < min || x > max)
		goto range;
	*out = x;
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" must be an integer", key);
	return -EINVAL;
range:
	snprintf(err, errlen, "\"%s\" must be %llu-%llu", key, (unsigned long long)min,
		 (unsigned long long)max);
	return -EINVAL;
}

static int req_bool(struct json_object *req, const char *key, bool *out, char *err,
		    size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return 1;
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return -EINVAL;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* ---- formatting --------------------------------------------------------- */

static const char *addr_str(int family, const union xlb_addr *a, char *buf, size_t len)
{
	return cfg_format_addr(family ? family : AF_INET, a, buf, len);
}

static struct json_object *jaddr(int family, const union xlb_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	return json_object_new_string(addr_str(family, a, buf, sizeof(buf)));
}

static void jset(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static void jset_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void jset_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "?";
}

static const char *mode_name(int m)
{
	return m == XLB_MODE_FNAT ? "fnat" : m == XLB_MODE_DSR ? "dsr" : "?";
}

static const char *hc_type_name(enum hc_type t)
{
	return t == HC_TCP ? "tcp" : t == HC_HTTP ? "http" : "none";
}

static const char *state_name(uint8_t s)
{
	switch (s) {
	case XLB_SS_SYN:
		return "syn";
	case XLB_SS_ESTABLISHED:
		return "established";
	case XLB_SS_CLOSING:
		return "closing";
	case XLB_SS_CLOSED:
		return "closed";
	case XLB_SS_UDP:
		return "udp";
	default:
		return "unknown";
	}
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_status(struct ctl *c, struct json_object *req, struct json_object **res,
		      char *err, size_t errlen)
{
	struct lbd *l = c->l;
	struct lbd_config *cfg = l->cfg;
	struct json_object *o = json_object_new_object(), *pool, *ag;
	uint64_t total = 0, owned = 0, held = 0, range;
	struct ageing_stats st;
	size_t i, nb = 0;
	int r;

	r = dp_sessions_count(&l->dp, cfg, &total, &owned, &held);
	if (r < 0) {
		json_object_put(o);
		snprintf(err, errlen, "cannot read the sessions map: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < cfg->n_vips; i++)
		if (lbd_vip_used(&cfg->vips[i]))
			nb += cfg->vips[i].n_backends;
	jset_str(o, "node", cfg->node_name);
	jset_u64(o, "node_id", cfg->node_id);
	jset_str(o, "interface", cfg->interface);
	jset_str(o, "xdp_mode", cfg->xdp_mode);
	jset(o, "xdp_attached", json_object_new_boolean(l->dp.attached));
	jset_u64(o, "prog_id", l->dp.prog_id);
	jset_u64(o, "pid", (uint64_t)getpid());
	jset_u64(o, "uptime_s", (lbd_now_ns() - l->start_ns) / 1000000000ull);
	jset_str(o, "config", cfg->path);
	jset_str(o, "pin_dir", cfg->pin_dir);
	jset(o, "maps_reused", json_object_new_boolean(l->dp.reused));
	jset_str(o, "control_socket", cfg->control_socket);
	jset_u64(o, "vips", lbd_vip_count(l));
	jset_u64(o, "backends", nb);
	jset_u64(o, "sessions", total);
	jset_u64(o, "sessions_owned", owned);
	jset_u64(o, "max_sessions", cfg->max_sessions);
	if (cfg->snat_family) {
		range = (uint64_t)cfg->snat_port_max - cfg->snat_port_min + 1;
		pool = json_object_new_object();
		jset(pool, "address", jaddr(cfg->snat_family, &cfg->snat_addr));
		jset_u64(pool, "port_min", cfg->snat_port_min);
		jset_u64(pool, "port_max", cfg->snat_port_max);
		jset_u64(pool, "size", range);
		jset_u64(pool, "in_use", held);
		jset_u64(pool, "free", held < range ? range - held : 0);
		jset(o, "port_pool", pool);
		jset_u64(o, "port_pool_free", held < range ? range - held : 0);
	}
	ageing_get_stats(l->ageing, &st);
	ag = json_object_new_object();
	jset_u64(ag, "interval_ms", cfg->timeouts.ageing_interval_ms);
	jset_u64(ag, "passes", st.passes);
	jset_u64(ag, "aged", st.aged);
	jset_u64(ag, "last_pass_ms", st.last_pass_ms);
	jset(o, "ageing", ag);
	jset_u64(o, "maglev_rebuilds", l->maglev_rebuilds);
	*res = o;
	return 0;
}

static struct json_object *vip_json(struct lbd *l, struct cfg_vip *v)
{
	struct json_object *o = json_object_new_object();
	size_t i, up = 0;

	for (i = 0; i < v->n_backends; i++)
		up += hc_is_up(l->hc, v->vip_id, v->backends[i].id);
	jset_str(o, "name", v->name);
	jset_u64(o, "vip_id", v->vip_id);
	jset(o, "address", jaddr(v->family, &v->addr));
	jset_u64(o, "port", v->port);
	jset_str(o, "protocol", proto_name(v->proto));
	jset_str(o, "mode", mode_name(v->mode));
	jset_str(o, "healthcheck", hc_type_name(v->hc.type));
	jset_u64(o, "backends", v->n_backends);
	jset_u64(o, "backends_up", up);
	jset_u64(o, "in_table", l->vrt[v->vip_id].n);
	return o;
}

static int cmd_vip_list(struct ctl *c, struct json_object *req, struct json_object **res,
			char *err, size_t errlen)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < c->l->cfg->n_vips; i++) {
		struct cfg_vip *v = &c->l->cfg->vips[i];

		if (lbd_vip_used(v))
			json_object_array_add(a, vip_json(c->l, v));
	}
	*res = a;
	return 0;
}

static int cmd_vip_add(struct ctl *c, struct json_object *req, struct json_object **res,
		       char *err, size_t errlen)
{
	const char *name, *addr, *proto = "tcp", *mode = "fnat";
	struct cfg_vip v;
	uint64_t port;
	int r;

	if (req_str(req, "name", true, &name, err, errlen) < 0 ||
	    req_str(req, "address", true, &addr, err, errlen) < 0 ||
	    req_uint(req, "port", true, 1, 65535, &port, err, errlen) < 0 ||
	    req_str(req, "protocol", false, &proto, err, errlen) < 0 ||
	    req_str(req, "mode", false, &mode, err, errlen) < 0)
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	if (strlen(name) >= sizeof(v.name)) {
		snprintf(err, errlen, "vip name must be 1-63 characters");
		return -EINVAL;
	}
	snprintf(v.name, sizeof(v.name), "%s", name);
	if (cfg_parse_addr(addr, &v.family, &v.addr) < 0) {
		snprintf(err, errlen, "address \"%.64s\" is not an IPv4 address", addr);
		return -EINVAL;
	}
	v.port = (uint16_t)port;
	if (!strcmp(proto, "tcp")) {
		v.proto = IPPROTO_TCP;
	} else if (!strcmp(proto, "udp")) {
		v.proto = IPPROTO_UDP;
	} else {
		snprintf(err, errlen, "protocol \"%.32s\" must be tcp or udp", proto);
		return -EINVAL;
	}
	if (!strcmp(mode, "fnat")) {
		v.mode = XLB_MODE_FNAT;
	} else if (!strcmp(mode, "dsr")) {
		v.mode = XLB_MODE_DSR;
	} else {
		snprintf(err, errlen, "mode \"%.32s\" must be fnat or dsr", mode);
		return -EINVAL;
	}
	/* The config file's healthcheck defaults: type none. */
	v.hc.type = HC_NONE;
	snprintf(v.hc.path, sizeof(v.hc.path), "/");
	v.hc.expect_status = 200;
	v.hc.interval_ms = 1000;
	v.hc.timeout_ms = 500;
	v.hc.rise = 2;
	v.hc.fall = 3;
	r = lbd_vip_add(c->l, &v, err, errlen);
	if (r < 0)
		return r;
	*res = vip_json(c->l, lbd_vip_by_name(c->l, v.name));
	return 0;
}

static int cmd_vip_del(struct ctl *c, struct json_object *req, struct json_object **res,
		       char *err, size_t errlen)
{
	const char *name;

	if (req_str(req, "name", true, &name, err, errlen) < 0)
		return -EINVAL;
	return lbd_vip_del(c->l, name, err, errlen);
}

static struct json_object *backend_json(struct lbd *l, const struct cfg_vip *v,
					const struct cfg_backend *b)
{
	struct json_object *o = json_object_new_object();
	bool up = hc_is_up(l->hc, v->vip_id, b->id);
	const char *reason = hc_reason(l->hc, v->vip_id, b->id);
	char mac[18];

	jset_str(o, "vip", v->name);
	jset_u64(o, "id", b->id);
	jset(o, "address", jaddr(b->family, &b->addr));
	jset_u64(o, "port", b->port ? b->port : v->port);
	jset_u64(o, "weight", b->weight);
	jset_str(o, "state", up ? "up" : "down");
	jset(o, "up", json_object_new_boolean(up));
	jset_str(o, "reason", reason ? reason : "not checked yet");
	jset(o, "drained", json_object_new_boolean(b->drain));
	jset(o, "in_table", json_object_new_boolean(lbd_backend_in_table(l, v->vip_id, b->id)));
	if (b->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b->mac[0], b->mac[1],
			 b->mac[2], b->mac[3], b->mac[4], b->mac[5]);
		jset_str(o, "mac", mac);
	}
	return o;
}

/* [{vip, backends: [...]}, ...]: grouped by VIP, every backend names its VIP. */
static int cmd_backend_list(struct ctl *c, struct json_object *req, struct json_object **res,
			    char *err, size_t errlen)
{
	struct lbd *l = c->l;
	struct json_object *a;
	const char *name = NULL;
	size_t i, j;

	if (req_str(req, "vip", false, &name, err, errlen) < 0)
		return -EINVAL;
	if (name && !lbd_vip_by_name(l, name)) {
		snprintf(err, errlen, "no vip %s", name);
		return -ENOENT;
	}
	a = json_object_new_array();
	for (i = 0; i < l->cfg->n_vips; i++) {
		struct cfg_vip *v = &l->cfg->vips[i];
		struct json_object *o, *bl;

		if (!lbd_vip_used(v) || (name && strcmp(name, v->name)))
			continue;
		o = json_object_new_object();
		bl = json_object_new_array();
		jset_str(o, "vip", v->name);
		for (j = 0; j < v->n_backends; j++)
			json_object_array_add(bl, backend_json(l, v, &v->backends[j]));
		jset(o, "backends", bl);
		json_object_array_add(a, o);
	}
	*res = a;
	return 0;
}

static int cmd_backend_add(struct ctl *c, struct json_object *req, struct json_object **res,
			   char *err, size_t errlen)
{
	const char *vip, *addr, *mac = NULL;
	struct cfg_backend b;
	uint64_t id, port = 0, weight = 1;
	bool drain = false;
	struct cfg_vip *v;
	int r;

	if (req_str(req, "vip", true, &vip, err, errlen) < 0 ||
	    req_uint(req, "id", true, 1, XLB_MAX_BACKENDS - 1, &id, err, errlen) < 0 ||
	    req_str(req, "address", true, &addr, err, errlen) < 0 ||
	    req_uint(req, "port", false, 0, 65535, &port, err, errlen) < 0 ||
	    req_uint(req, "weight", false, 0, 10000, &weight, err, errlen) < 0 ||
	    req_str(req, "mac", false, &mac, err, errlen) < 0 ||
	    req_bool(req, "drain", &drain, err, errlen) < 0)
		return -EINVAL;
	memset(&b, 0, sizeof(b));
	b.id = (uint32_t)id;
	if (cfg_parse_addr(addr, &b.family, &b.addr) < 0) {
		snprintf(err, errlen, "address \"%.64s\" is not an IPv4 address", addr);
		return -EINVAL;
	}
	b.port = (uint16_t)port;
	b.weight = (uint32_t)weight;
	b.drain = drain;
	if (mac) {
		if (cfg_parse_mac(mac, b.mac) < 0) {
			snprintf(err, errlen, "mac \"%.32s\" is not a MAC address "
				 "(aa:bb:cc:dd:ee:ff)", mac);
			return -EINVAL;
		}
		b.has_mac = true;
	}
	r = lbd_backend_add(c->l, vip, &b, err, errlen);
	if (r < 0)
		return r;
	v = lbd_vip_by_name(c->l, vip);
	*res = backend_json(c->l, v, &v->backends[v->n_backends - 1]);
	return 0;
}

static int vip_id_args(struct json_object *req, const char **vip, uint32_t *id, char *err,
		       size_t errlen)
{
	uint64_t x;

	if (req_str(req, "vip", true, vip, err, errlen) < 0 ||
	    req_uint(req, "id", true, 1, XLB_MAX_BACKENDS - 1, &x, err, errlen) < 0)
		return -EINVAL;
	*id = (uint32_t)x;
	return 0;
}

static int cmd_backend_del(struct ctl *c, struct json_object *req, struct json_object **res,
			   char *err, size_t errlen)
{
	const char *vip;
	uint32_t id;

	if (vip_id_args(req, &vip, &id, err, errlen) < 0)
		return -EINVAL;
	return lbd_backend_del(c->l, vip, id, err, errlen);
}

static int drain_common(struct ctl *c, struct json_object *req, struct json_object **res,
			char *err, size_t errlen, bool drain)
{
	const char *vip;
	uint32_t id;
	struct cfg_vip *v;
	size_t i;
	int r;

	if (vip_id_args(req, &vip, &id, err, errlen) < 0)
		return -EINVAL;
	r = lbd_backend_drain(c->l, vip, id, drain, err, errlen);
	if (r < 0)
		return r;
	v = lbd_vip_by_name(c->l, vip);
	for (i = 0; i < v->n_backends; i++)
		if (v->backends[i].id == id)
			*res = backend_json(c->l, v, &v->backends[i]);
	return 0;
}

static int cmd_backend_drain(struct ctl *c, struct json_object *req, struct json_object **res,
			     char *err, size_t errlen)
{
	return drain_common(c, req, res, err, errlen, true);
}

static int cmd_backend_undrain(struct ctl *c, struct json_object *req,
			       struct json_object **res, char *err, size_t errlen)
{
	return drain_common(c, req, res, err, errlen, false);
}

static const struct cfg_vip *vip_of_flow(struct lbd *l, const struct xlb_flow_key *k)
{
	size_t i;

	for (i = 0; i < l->cfg->n_vips; i++) {
		const struct cfg_vip *v = &l->cfg->vips[i];

		if (lbd_vip_used(v) && htons(v->port) == k->dport && v->proto == k->proto &&
		    !memcmp(&v->addr, &k->daddr, sizeof(v->addr)))
			return v;
	}
	return NULL;
}

static struct json_object *session_json(struct lbd *l, const struct xlb_flow_key *k,
					const struct xlb_session *s, uint64_t now)
{
	struct json_object *o = json_object_new_object();
	const struct cfg_vip *v = vip_of_flow(l, k);
	uint64_t idle = s->last_seen_ns < now ? now - s->last_seen_ns : 0;

	jset(o, "client", jaddr(k->family, &k->saddr));
	jset_u64(o, "client_port", ntohs(k->sport));
	jset(o, "vip", jaddr(k->family, &k->daddr));
	jset_u64(o, "vip_port", ntohs(k->dport));
	jset_str(o, "vip_name", v ? v->name : NULL);
	jset_str(o, "protocol", proto_name(k->proto));
	jset(o, "backend", jaddr(k->family, &s->backend));
	jset_u64(o, "backend_port", ntohs(s->backend_port));
	jset_u64(o, "backend_id", s->backend_id);
	if (s->flags & XLB_SF_FNAT) {
		jset(o, "snat", jaddr(k->family, &s->snat));
		jset_u64(o, "snat_port", ntohs(s->snat_port));
	} else {
		jset(o, "snat", NULL);
		jset(o, "snat_port", NULL);
	}
	jset_str(o, "state", state_name(s->state));
	jset_u64(o, "flags", s->flags);
	jset_u64(o, "owner", s->owner);
	jset_u64(o, "version", s->version);
	jset(o, "age", json_object_new_double((double)(idle / 1000000) / 1000.0));
	return o;
}

static int cmd_sessions_list(struct ctl *c, struct json_object *req, struct json_object **res,
			     char *err, size_t errlen)
{
	struct lbd *l = c->l;
	struct json_object *a;
	struct dp_walk w;
	uint64_t limit = CTL_SESSIONS_DEFAULT, now = lbd_now_ns(), n_out = 0;
	int r, done;

	if (req_uint(req, "limit", false, 1, CTL_SESSIONS_MAX, &limit, err, errlen) < 0)
		return -EINVAL;
	r = dp_walk_init(&w, l->dp.fd_sessions, sizeof(struct xlb_flow_key),
			 sizeof(struct xlb_session), 1024);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	a = json_object_new_array();
	do {
		const struct xlb_flow_key *keys = w.keys;
		const struct xlb_session *vals = w.vals;
		uint32_t i, n;

		done = dp_walk_next(&w, &n);
		if (done < 0) {
			snprintf(err, errlen, "cannot read the sessions map: %s", strerror(-done));
			dp_walk_free(&w);
			json_object_put(a);
			return done;
		}
		for (i = 0; i < n && n_out < limit; i++, n_out++)
			json_object_array_add(a, session_json(l, &keys[i], &vals[i], now));
	} while (!done && n_out < limit);
	dp_walk_free(&w);
	*res = a;
	return 0;
}

static int cmd_sessions_count(struct ctl *c, struct json_object *req,
			      struct json_object **res, char *err, size_t errlen)
{
	struct json_object *o;
	uint64_t total, owned, held;
	int r;

	r = dp_sessions_count(&c->l->dp, c->l->cfg, &total, &owned, &held);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the sessions map: %s", strerror(-r));
		return r;
	}
	o = json_object_new_object();
	jset_u64(o, "count", total);
	jset_u64(o, "owned", owned);
	jset_u64(o, "snat_ports_in_use", held);
	*res = o;
	return 0;
}

static int cmd_stats(struct ctl *c, struct json_object *req, struct json_object **res,
		     char *err, size_t errlen)
{
	struct lbd *l = c->l;
	struct json_object *o, *g, *vips, *d;
	uint64_t st[XLB_STAT_MAX];
	struct ageing_stats as;
	unsigned int i;
	int r;

	r = dp_read_stats(&l->dp, st);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the stats map: %s", strerror(-r));
		return r;
	}
	o = json_object_new_object();
	g = json_object_new_object();
	for (i = 0; i < XLB_STAT_MAX; i++)
		jset_u64(g, dp_stat_name(i), st[i]);
	jset(o, "global", g);
	vips = json_object_new_array();
	for (i = 0; i < l->cfg->n_vips; i++) {
		struct cfg_vip *v = &l->cfg->vips[i];
		struct xlb_vip_stats vs;
		struct json_object *vo;

		if (!lbd_vip_used(v) || dp_read_vip_stats(&l->dp, v->vip_id, &vs) < 0)
			continue;
		vo = json_object_new_object();
		jset_str(vo, "name", v->name);
		jset_u64(vo, "vip_id", v->vip_id);
		jset_u64(vo, "packets", vs.packets);
		jset_u64(vo, "bytes", vs.bytes);
		jset_u64(vo, "reply_packets", vs.reply_packets);
		jset_u64(vo, "reply_bytes", vs.reply_bytes);
		jset_u64(vo, "new_sessions", vs.new_sessions);
		jset_u64(vo, "drops", vs.drops);
		json_object_array_add(vips, vo);
	}
	jset(o, "vips", vips);
	ageing_get_stats(l->ageing, &as);
	d = json_object_new_object();
	jset_u64(d, "ageing_ticks", as.ticks);
	jset_u64(d, "ageing_passes", as.passes);
	jset_u64(d, "ageing_scanned", as.scanned);
	jset_u64(d, "sessions_aged", as.aged);
	jset_u64(d, "reverse_aged", as.reverse_deleted);
	jset_u64(d, "ports_returned", as.ports_returned);
	jset_u64(d, "ageing_races", as.delete_races);
	jset_u64(d, "ageing_errors", as.errors);
	jset_u64(d, "user_deletes", as.user_deletes);
	jset_u64(d, "ageing_last_pass_ms", as.last_pass_ms);
	jset_u64(d, "maglev_rebuilds", l->maglev_rebuilds);
	jset_u64(d, "ctl_requests", c->requests);
	jset_u64(d, "ctl_errors", c->errors);
	jset(o, "lbd", d);
	*res = o;
	return 0;
}

static const struct {
	const char *name;
	ctl_fn fn;
} commands[] = {
	{ "status", cmd_status },
	{ "vip.list", cmd_vip_list },
	{ "vip.add", cmd_vip_add },
	{ "vip.del", cmd_vip_del },
	{ "backend.list", cmd_backend_list },
	{ "backend.add", cmd_backend_add },
	{ "backend.del", cmd_backend_del },
	{ "backend.drain", cmd_backend_drain },
	{ "backend.undrain", cmd_backend_undrain },
	{ "sessions.list", cmd_sessions_list },
	{ "sessions.count", cmd_sessions_count },
	{ "stats", cmd_stats },
};

/* ---- connection handling ------------------------------------------------ */

static void ctl_unref(struct ctl *c)
{
	if (--c->refs == 0)
		free(c);
}

static void on_client_closed(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;
	struct ctl *c = cl->ctl;

	if (cl->pprev) {
		*cl->pprev = cl->next;
		if (cl->next)
			cl->next->pprev = cl->pprev;
		c->n_clients--;
	}
	free(cl->buf);
	free(cl);
	ctl_unref(c);
}

static void client_close(struct ctl_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct ctl_client *cl = req->data;

	free(req);
	client_close(cl);
}

/* Close once everything queued has been written. */
static void client_finish(struct ctl_client *cl)
{
	uv_shutdown_t *req;

	if (cl->closing)
		return;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	req = malloc(sizeof(*req));
	if (!req) {
		client_close(cl);
		return;
	}
	req->data = cl;
	if (uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown) < 0) {
		free(req);
		client_close(cl);
	}
}

static void on_written(uv_write_t *req, int status)
{
	free(req);	/* struct ctl_write: req is its first member */
}

static void client_send(struct ctl_client *cl, struct json_object *resp)
{
	const char *s = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	struct ctl_write *w;
	uv_buf_t buf;

	if (cl->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) > CTL_MAX_WRITE_QUEUE) {
		log_warn("control: client does not read its responses: dropped");
		client_close(cl);
		return;
	}
	w = malloc(sizeof(*w) + n + 1);
	if (!w) {
		client_close(cl);
		return;
	}
	memcpy(w->data, s, n);
	w->data[n] = '\n';
	buf = uv_buf_init(w->data, n + 1);
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &buf, 1, on_written) < 0) {
		free(w);
		client_close(cl);
	}
}

static void send_error(struct ctl_client *cl, const char *msg)
{
	struct json_object *resp = json_object_new_object();

	jset(resp, "ok", json_object_new_boolean(false));
	jset_str(resp, "error", msg);
	client_send(cl, resp);
	json_object_put(resp);
}

static void handle_request(struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl *c = cl->ctl;
	struct json_tokener *tok;
	struct json_object *req, *cmdv, *resp, *result = NULL;
	const char *cmd;
	char err[512] = "";
	size_t i;
	int r = -ENOENT;

	c->requests++;
	tok = json_tokener_new();
	if (!tok) {
		send_error(cl, "out of memory");
		return;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_tokener_free(tok);
		json_object_put(req);
		c->errors++;
		send_error(cl, "request is not one JSON object");
		return;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmdv) ||
	    !json_object_is_type(cmdv, json_type_string)) {
		json_object_put(req);
		c->errors++;
		send_error(cl, "request needs \"cmd\": a string");
		return;
	}
	cmd = json_object_get_string(cmdv);
	snprintf(err, sizeof(err), "unknown command \"%.64s\"", cmd);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, cmd))
			continue;
		err[0] = '\0';
		r = commands[i].fn(c, req, &result, err, sizeof(err));
		break;
	}
	resp = json_object_new_object();
	if (r < 0) {
		c->errors++;
		jset(resp, "ok", json_object_new_boolean(false));
		jset_str(resp, "error", err[0] ? err : strerror(-r));
		json_object_put(result);
		log_debug("control: %s: %s", cmd, err);
	} else {
		jset(resp, "ok", json_object_new_boolean(true));
		jset(resp, "result", result ? result : json_object_new_object());
	}
	json_object_put(req);
	client_send(cl, resp);
	json_object_put(resp);
}

static void process_lines(struct ctl_client *cl)
{
	size_t start = 0;
	char *nl;

	while (!cl->closing && start < cl->len &&
	       (nl = memchr(cl->buf + start, '\n', cl->len - start))) {
		size_t n = nl - (cl->buf + start);

		if (n && cl->buf[start + n - 1] == '\r')
			n--;
		if (n)
			handle_request(cl, cl->buf + start, n);
		start = nl - cl->buf + 1;
	}
	if (start) {
		memmove(cl->buf, cl->buf + start, cl->len - start);
		cl->len -= start;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	if (cl->cap - cl->len < CTL_READ_CHUNK && cl->cap < CTL_MAX_REQUEST + CTL_READ_CHUNK) {
		size_t cap = cl->cap ? cl->cap * 2 : 2 * CTL_READ_CHUNK;
		char *p;

		if (cap > CTL_MAX_REQUEST + CTL_READ_CHUNK)
			cap = CTL_MAX_REQUEST + CTL_READ_CHUNK;
		p = realloc(cl->buf, cap);
		if (p) {
			cl->buf = p;
			cl->cap = cap;
		}
	}
	*buf = uv_buf_init(cl->buf + cl->len, cl->cap - cl->len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *cl = s->data;

	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		/* A last request without its newline still counts. */
		if (cl->len && !cl->closing)
			handle_request(cl, cl->buf, cl->len);
		cl->len = 0;
		client_finish(cl);
		return;
	}
	if (nread < 0 || cl->closing) {
		client_close(cl);
		return;
	}
	cl->len += nread;
	process_lines(cl);
	if (cl->len > CTL_MAX_REQUEST || cl->len == cl->cap) {
		cl->ctl->errors++;
		send_error(cl, "request longer than 65536 bytes");
		client_finish(cl);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ctl *c = server->data;
	struct ctl_client *cl;

	if (status < 0 || c->closing)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	c->refs++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
		client_close(cl);
		return;
	}
	cl->next = c->clients;
	if (cl->next)
		cl->next->pprev = &cl->next;
	cl->pprev = &c->clients;
	c->clients = cl;
	c->n_clients++;
	if (c->n_clients > CTL_MAX_CLIENTS) {
		send_error(cl, "too many control clients");
		client_finish(cl);
		return;
	}
	uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

/* Is someone accepting connections on path? */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	r = r == 0 ? 1 : (errno == ECONNREFUSED || errno == ENOENT) ? 0 : -errno;
	close(fd);
	return r;
}

static void on_server_closed(uv_handle_t *h)
{
	ctl_unref(h->data);
}

struct ctl *ctl_new(struct lbd *l, const char *path, char *err, size_t errlen)
{
	struct ctl *c;
	struct stat st;
	char dir[CFG_PATH_MAX], *slash;
	mode_t old;
	int r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return NULL;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s exists and is not a socket", path);
			return NULL;
		}
		r = socket_in_use(path);
		if (r > 0) {
			snprintf(err, errlen, "control socket %s is in use by another process", path);
			return NULL;
		}
		if (unlink(path) < 0) {
			snprintf(err, errlen, "cannot remove stale control socket %s: %s", path,
				 strerror(errno));
			return NULL;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->l = l;
	c->refs = 1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	uv_pipe_init(&l->loop, &c->server, 0);
	c->server.data = c;
	old = umask(0177);	/* the socket is created 0600 */
	r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&c->server, 64, on_connection);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen on control socket %s: %s", path,
			 uv_strerror(r));
		c->closing = true;
		uv_close((uv_handle_t *)&c->server, on_server_closed);
		return NULL;
	}
	return c;
}

void ctl_free(struct ctl *c)
{
	struct ctl_client *cl, *next;

	if (!c || c->closing)
		return;
	c->closing = true;
	for (cl = c->clients; cl; cl = next) {
		next = cl->next;
		client_close(cl);
	}
	uv_close((uv_handle_t *)&c->server, on_server_closed);
	unlink(c->path);
}
