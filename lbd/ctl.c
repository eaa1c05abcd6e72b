// SPDX-License-Identifier: BSD-2-Clause
/* lbd control socket: line-delimited JSON over a Unix stream socket. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "ageing.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "dataplane.h"
#include "health.h"
#include "lbd.h"
#include "log.h"
#include "sock.h"

#define CTL_READ_CHUNK	    4096
#define CTL_MAX_WRITE_QUEUE (64u << 20) /* a client not reading is dropped */

struct ctl {
	uv_pipe_t server;
	struct lbd *l;
	char path[CFG_PATH_MAX];
	struct ctl_client *clients;
	unsigned int n_clients;
	unsigned int refs; /* server + clients not yet closed */
	bool closing;
	uint64_t requests;
	uint64_t errors;
	struct xlb_ratelimit err_rl; /* failed requests, refused clients */
};

struct ctl_client {
	uv_pipe_t pipe;
	struct ctl *ctl;
	struct ctl_client *next, **pprev;
	char *buf;
	size_t len, cap;
	int pid; /* peer process, for log lines; 0: unknown */
	bool closing;
};

struct ctl_write {
	uv_write_t req;
	char data[];
};

typedef int (*ctl_fn)(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
		      size_t errlen);

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

/* A number within l (the config file's limits for the fields it has). */
static int req_uint(struct json_object *req, const char *key, bool required,
		    const struct cfg_limit *l, uint64_t *out, char *err, size_t errlen)
{
	struct json_object *v;
	char why[96], *end;
	const char *s;
	uint64_t x;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 1;
		snprintf(err, errlen, "missing \"%s\"", key);
		return -EINVAL;
	}
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0) {
			snprintf(err, errlen,
				 "%s: %" PRId64 " is out of range %" PRIu64 "-%" PRIu64, key, i,
				 l->min, l->max);
			return -EINVAL;
		}
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
	if (!cfg_in_limit(l, x, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -EINVAL;
	}
	*out = x;
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" must be an integer", key);
	return -EINVAL;
}

/* A string field copied into buf (len bytes, the config struct's). */
static int req_strcpy(struct json_object *req, const char *key, bool required, char *buf,
		      size_t len, char *err, size_t errlen)
{
	const char *s;
	int r = req_str(req, key, required, &s, err, errlen);

	if (r)
		return r;
	if (strlen(s) >= len) {
		snprintf(err, errlen, "%s: too long (at most %zu characters)", key, len - 1);
		return -EINVAL;
	}
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/* Required IPv4 address field. */
static int req_addr(struct json_object *req, const char *key, int *family, union xlb_addr *addr,
		    char *err, size_t errlen)
{
	const char *s;

	if (req_str(req, key, true, &s, err, errlen) < 0)
		return -EINVAL;
	if (cfg_parse_addr(s, family, addr) < 0) {
		snprintf(err, errlen, "%s \"%.64s\" is not an IPv4 address", key, s);
		return -EINVAL;
	}
	return 0;
}

static int req_bool(struct json_object *req, const char *key, bool *out, char *err, size_t errlen)
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

static void jset_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

/* The config file's word for value v of table t. */
static const char *word(const struct cfg_word *t, int v)
{
	const char *s = cfg_word_name(t, v);

	return s ? s : "?";
}

/* Optional string field naming one of t's values; *out untouched (its
 * default) when absent. */
static int req_choice(struct json_object *req, const char *key, const struct cfg_word *t, int *out,
		      char *err, size_t errlen)
{
	const struct cfg_word *x;
	const char *s;
	int r, n;

	r = req_str(req, key, false, &s, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	if (!cfg_word_value(t, s, out))
		return 0;
	/* "mode \"x\" must be fnat or dsr" */
	n = snprintf(err, errlen, "%s \"%.32s\" must be", key, s);
	for (x = t; x->name && n >= 0 && (size_t)n < errlen; x++) {
		const char *sep = x == t ? " " : x[1].name ? ", " : " or ";

		n += snprintf(err + n, errlen - n, "%s%s", sep, x->name);
	}
	return -EINVAL;
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

static int sessions_count(struct ctl *c, uint64_t *total, uint64_t *owned, uint64_t *held,
			  char *err, size_t errlen)
{
	int r = dp_sessions_count(&c->l->dp, c->l->cfg, total, owned, held);

	if (r < 0)
		snprintf(err, errlen, "cannot read the sessions map: %s", strerror(-r));
	return r;
}

static int cmd_status(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
		      size_t errlen)
{
	struct lbd *l = c->l;
	struct node_config *cfg = l->cfg;
	struct json_object *o, *pool, *ag;
	uint64_t total = 0, owned = 0, held = 0, range;
	struct ageing_stats st;
	size_t i, nb = 0;
	int r;

	r = sessions_count(c, &total, &owned, &held, err, errlen);
	if (r < 0)
		return r;
	o = json_object_new_object();
	for (i = 0; i < cfg->n_vips; i++)
		if (lbd_vip_used(&cfg->vips[i]))
			nb += cfg->vips[i].n_backends;
	jset_str(o, "node", cfg->node_name);
	jset_u64(o, "node_id", cfg->node_id);
	jset_str(o, "interface", cfg->interface);
	jset_str(o, "xdp_mode", cfg->xdp_mode);
	jset_bool(o, "xdp_attached", l->dp.attached);
	jset_u64(o, "prog_id", l->dp.prog_id);
	jset_u64(o, "pid", (uint64_t)getpid());
	jset_u64(o, "uptime_s", (xlb_mono_ns() - l->start_ns) / XLB_NSEC_PER_SEC);
	jset_str(o, "config", cfg->path);
	jset_str(o, "pin_dir", cfg->pin_dir);
	jset_bool(o, "maps_reused", l->dp.reused);
	jset_str(o, "control_socket", cfg->control_socket);
	/* lbctl asks syncd there for the sync view (status, cluster) */
	if (cfg->sync.enabled)
		jset_str(o, "sync_control_socket", cfg->sync.control_socket);
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
	jset_str(o, "protocol", word(cfg_protocols, v->proto));
	jset_str(o, "mode", word(cfg_modes, v->mode));
	jset_str(o, "healthcheck", word(cfg_hc_types, v->hc.type));
	jset_u64(o, "backends", v->n_backends);
	jset_u64(o, "backends_up", up);
	jset_u64(o, "in_table", l->vrt[v->vip_id].n);
	return o;
}

static int cmd_vip_list(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
			size_t errlen)
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

/* A VIP as the config file would give it, with the file's defaults for the
 * keys the request leaves out (the health check's among them); lbd_vip_add()
 * checks it with the file's rules. */
static int cmd_vip_add(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
		       size_t errlen)
{
	struct cfg_vip v;
	uint64_t port;
	int proto, mode, r;

	cfg_vip_init(&v);
	proto = v.proto;
	mode = v.mode;
	if (req_strcpy(req, "name", true, v.name, sizeof(v.name), err, errlen) < 0 ||
	    req_addr(req, "address", &v.family, &v.addr, err, errlen) < 0 ||
	    req_uint(req, "port", true, &cfg_lim_vip_port, &port, err, errlen) < 0 ||
	    req_choice(req, "protocol", cfg_protocols, &proto, err, errlen) < 0 ||
	    req_choice(req, "mode", cfg_modes, &mode, err, errlen) < 0)
		return -EINVAL;
	v.port = (uint16_t)port;
	v.proto = (uint8_t)proto;
	v.mode = mode;
	r = lbd_vip_add(c->l, &v, err, errlen);
	if (r < 0)
		return r;
	*res = vip_json(c->l, lbd_vip_by_name(c->l, v.name));
	return 0;
}

static int cmd_vip_del(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
		       size_t errlen)
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
	jset_u64(o, "port", cfg_backend_port(v, b));
	jset_u64(o, "weight", b->weight);
	jset_str(o, "state", up ? "up" : "down");
	jset_bool(o, "up", up);
	jset_str(o, "reason", reason ? reason : "not checked yet");
	jset_bool(o, "drained", b->drain);
	jset_bool(o, "in_table", lbd_backend_in_table(l, v->vip_id, b->id));
	/* gone longer than sessions.timeouts.backend_gone: its clients get RSTs */
	jset_bool(o, "resetting", (dp_backend_flags(&l->dp, b->id) & XLB_BE_F_RESET) != 0);
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

static int vip_id_args(struct json_object *req, const char **vip, uint32_t *id, char *err,
		       size_t errlen)
{
	uint64_t x;

	if (req_str(req, "vip", true, vip, err, errlen) < 0 ||
	    req_uint(req, "id", true, &cfg_lim_backend_id, &x, err, errlen) < 0)
		return -EINVAL;
	*id = (uint32_t)x;
	return 0;
}

/* A backend as the config file would give it (its defaults for the keys the
 * request leaves out); lbd_backend_add() checks it with the file's rules. */
static int cmd_backend_add(struct ctl *c, struct json_object *req, struct json_object **res,
			   char *err, size_t errlen)
{
	const char *vip, *mac = NULL;
	struct cfg_backend b;
	uint64_t port, weight;
	struct cfg_vip *v;
	int r;

	cfg_backend_init(&b);
	port = b.port;
	weight = b.weight;
	if (vip_id_args(req, &vip, &b.id, err, errlen) < 0 ||
	    req_addr(req, "address", &b.family, &b.addr, err, errlen) < 0 ||
	    req_uint(req, "port", false, &cfg_lim_backend_port, &port, err, errlen) < 0 ||
	    req_uint(req, "weight", false, &cfg_lim_weight, &weight, err, errlen) < 0 ||
	    req_str(req, "mac", false, &mac, err, errlen) < 0 ||
	    req_bool(req, "drain", &b.drain, err, errlen) < 0)
		return -EINVAL;
	b.port = (uint16_t)port;
	b.weight = (uint32_t)weight;
	if (mac) {
		if (cfg_parse_mac(mac, b.mac) < 0) {
			snprintf(err, errlen,
				 "mac \"%.32s\" is not a MAC address "
				 "(aa:bb:cc:dd:ee:ff)",
				 mac);
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

static int cmd_backend_del(struct ctl *c, struct json_object *req, struct json_object **res,
			   char *err, size_t errlen)
{
	const char *vip;
	uint32_t id;

	if (vip_id_args(req, &vip, &id, err, errlen) < 0)
		return -EINVAL;
	return lbd_backend_del(c->l, vip, id, err, errlen);
}

/* Backend id of the VIP named vip as "backend list" shows it (after a
 * change that succeeded: both exist). */
static struct json_object *backend_json_of(struct lbd *l, const char *vip, uint32_t id)
{
	struct cfg_vip *v = lbd_vip_by_name(l, vip);
	size_t i;

	for (i = 0; v && i < v->n_backends; i++)
		if (v->backends[i].id == id)
			return backend_json(l, v, &v->backends[i]);
	return NULL;
}

static int drain_common(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
			size_t errlen, bool drain)
{
	const char *vip;
	uint32_t id;
	int r;

	if (vip_id_args(req, &vip, &id, err, errlen) < 0)
		return -EINVAL;
	r = lbd_backend_drain(c->l, vip, id, drain, err, errlen);
	if (r < 0)
		return r;
	*res = backend_json_of(c->l, vip, id);
	return 0;
}

static int cmd_backend_drain(struct ctl *c, struct json_object *req, struct json_object **res,
			     char *err, size_t errlen)
{
	return drain_common(c, req, res, err, errlen, true);
}

static int cmd_backend_undrain(struct ctl *c, struct json_object *req, struct json_object **res,
			       char *err, size_t errlen)
{
	return drain_common(c, req, res, err, errlen, false);
}

static int cmd_backend_weight(struct ctl *c, struct json_object *req, struct json_object **res,
			      char *err, size_t errlen)
{
	const char *vip;
	uint64_t weight;
	uint32_t id;
	int r;

	if (vip_id_args(req, &vip, &id, err, errlen) < 0 ||
	    req_uint(req, "weight", true, &cfg_lim_weight, &weight, err, errlen) < 0)
		return -EINVAL;
	r = lbd_backend_weight(c->l, vip, id, (uint32_t)weight, err, errlen);
	if (r < 0)
		return r;
	*res = backend_json_of(c->l, vip, id);
	return 0;
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
	jset_str(o, "protocol", word(cfg_protocols, k->proto));
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
	jset(o, "age", json_object_new_double((double)(idle / XLB_NSEC_PER_MSEC) / 1000.0));
	return o;
}

struct sessions_out {
	struct lbd *l;
	struct json_object *a;
	uint64_t limit, now;
};

static int session_out(void *arg, const struct xlb_flow_key *k, const struct xlb_session *s)
{
	struct sessions_out *so = arg;

	json_object_array_add(so->a, session_json(so->l, k, s, so->now));
	return json_object_array_length(so->a) >= so->limit;
}

static int cmd_sessions_list(struct ctl *c, struct json_object *req, struct json_object **res,
			     char *err, size_t errlen)
{
	static const struct cfg_limit lim = { 1, CTL_SESSIONS_MAX };
	struct sessions_out so = { .l = c->l, .limit = CTL_SESSIONS_DEFAULT, .now = xlb_mono_ns() };
	int r;

	if (req_uint(req, "limit", false, &lim, &so.limit, err, errlen) < 0)
		return -EINVAL;
	so.a = json_object_new_array();
	r = dp_sessions_foreach(&c->l->dp, 1024, session_out, &so);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the sessions map: %s", strerror(-r));
		json_object_put(so.a);
		return r;
	}
	*res = so.a;
	return 0;
}

static int cmd_sessions_count(struct ctl *c, struct json_object *req, struct json_object **res,
			      char *err, size_t errlen)
{
	struct json_object *o;
	uint64_t total, owned, held, rev, stale;
	int r;

	r = sessions_count(c, &total, &owned, &held, err, errlen);
	if (r < 0)
		return r;
	o = json_object_new_object();
	jset_u64(o, "count", total);
	jset_u64(o, "owned", owned);
	jset_u64(o, "snat_ports_in_use", held);
	r = dp_reverse_count(&c->l->dp, &rev, &stale);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the reverse map: %s", strerror(-r));
		json_object_put(o);
		return r;
	}
	jset_u64(o, "reverse", rev);
	jset_u64(o, "reverse_stale", stale);
	*res = o;
	return 0;
}

/* Counters of a struct as JSON fields, in this order. */
struct u64_field {
	const char *name;
	size_t off;
};
#define U64_FIELD(name, type, member)                                                              \
	{                                                                                          \
		name, offsetof(type, member)                                                       \
	}

static const struct u64_field vip_stat_fields[] = {
	U64_FIELD("packets", struct xlb_vip_stats, packets),
	U64_FIELD("bytes", struct xlb_vip_stats, bytes),
	U64_FIELD("reply_packets", struct xlb_vip_stats, reply_packets),
	U64_FIELD("reply_bytes", struct xlb_vip_stats, reply_bytes),
	U64_FIELD("new_sessions", struct xlb_vip_stats, new_sessions),
	U64_FIELD("drops", struct xlb_vip_stats, drops),
	{ NULL, 0 },
};

static const struct u64_field ageing_stat_fields[] = {
	U64_FIELD("ageing_ticks", struct ageing_stats, ticks),
	U64_FIELD("ageing_passes", struct ageing_stats, passes),
	U64_FIELD("ageing_scanned", struct ageing_stats, scanned),
	U64_FIELD("sessions_aged", struct ageing_stats, aged),
	U64_FIELD("reverse_aged", struct ageing_stats, reverse_deleted),
	U64_FIELD("ports_returned", struct ageing_stats, ports_returned),
	U64_FIELD("ports_held", struct ageing_stats, ports_held),
	U64_FIELD("ports_on_hold", struct ageing_stats, ports_on_hold),
	U64_FIELD("ports_hold_full", struct ageing_stats, ports_hold_full),
	U64_FIELD("ports_foreign", struct ageing_stats, ports_foreign),
	U64_FIELD("ageing_races", struct ageing_stats, delete_races),
	U64_FIELD("ageing_errors", struct ageing_stats, errors),
	U64_FIELD("user_deletes", struct ageing_stats, user_deletes),
	U64_FIELD("backends_reset", struct ageing_stats, backends_reset),
	U64_FIELD("sessions_vip_gone", struct ageing_stats, vip_gone),
	U64_FIELD("ageing_last_pass_ms", struct ageing_stats, last_pass_ms),
	{ NULL, 0 },
};

static void jset_u64_fields(struct json_object *o, const void *base, const struct u64_field *f)
{
	uint64_t v;

	for (; f->name; f++) {
		memcpy(&v, (const char *)base + f->off, sizeof(v));
		jset_u64(o, f->name, v);
	}
}

static int cmd_stats(struct ctl *c, struct json_object *req, struct json_object **res, char *err,
		     size_t errlen)
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
		jset_u64_fields(vo, &vs, vip_stat_fields);
		json_object_array_add(vips, vo);
	}
	jset(o, "vips", vips);
	ageing_get_stats(l->ageing, &as);
	d = json_object_new_object();
	jset_u64_fields(d, &as, ageing_stat_fields);
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
	{ "backend.weight", cmd_backend_weight },
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
	struct ctl_client *cl = req->handle->data;

	free(req); /* struct ctl_write: req is its first member */
	/* The client went away mid-response: stop serving it. UV_ECANCELED
	 * means the pipe is already closing. */
	if (status < 0 && status != UV_ECANCELED)
		client_close(cl);
}

static void client_send(struct ctl_client *cl, struct json_object *resp)
{
	const char *s = json_object_to_json_string_ext(
		resp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	struct ctl_write *w;
	uv_buf_t buf;

	if (cl->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) > CTL_MAX_WRITE_QUEUE) {
		log_warn_rl(&cl->ctl->err_rl,
			    "control: client pid %d does not read its "
			    "responses (over %u MiB queued): dropped",
			    cl->pid, CTL_MAX_WRITE_QUEUE >> 20);
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

/* {"ok":true,"result":result} (result consumed; NULL: {}) or, with
 * error set, {"ok":false,"error":error}. */
static void respond(struct ctl_client *cl, struct json_object *result, const char *error)
{
	struct json_object *resp = json_object_new_object();

	jset_bool(resp, "ok", !error);
	if (error) {
		jset_str(resp, "error", error);
		json_object_put(result);
	} else {
		jset(resp, "result", result ? result : json_object_new_object());
	}
	client_send(cl, resp);
	json_object_put(resp);
}

static void request_failed(struct ctl_client *cl, const char *cmd, const char *error)
{
	cl->ctl->errors++;
	log_warn_rl(&cl->ctl->err_rl, "control: %s from client pid %d failed: %s",
		    cmd ? cmd : "request", cl->pid, error);
	respond(cl, NULL, error);
}

static void handle_request(struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl *c = cl->ctl;
	struct json_tokener *tok;
	struct json_object *req, *cmdv, *result = NULL;
	const char *cmd;
	char err[512] = "";
	size_t i;
	int r = -ENOENT;

	c->requests++;
	tok = json_tokener_new();
	if (!tok) {
		request_failed(cl, NULL, "out of memory");
		return;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_tokener_free(tok);
		json_object_put(req);
		request_failed(cl, NULL, "request is not one JSON object");
		return;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmdv) ||
	    !json_object_is_type(cmdv, json_type_string)) {
		json_object_put(req);
		request_failed(cl, NULL, "request needs \"cmd\": a string");
		return;
	}
	cmd = json_object_get_string(cmdv);
	snprintf(err, sizeof(err), "unknown command \"%.64s\"", cmd);
	cmd = NULL; /* from here the table's name, never the client's text */
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, json_object_get_string(cmdv)))
			continue;
		cmd = commands[i].name;
		err[0] = '\0';
		r = commands[i].fn(c, req, &result, err, sizeof(err));
		break;
	}
	if (r < 0) {
		json_object_put(result);
		request_failed(cl, cmd, err[0] ? err : strerror(-r));
	} else {
		respond(cl, result, NULL);
	}
	json_object_put(req);
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
	if (cl->buf)
		*buf = uv_buf_init(cl->buf + cl->len, cl->cap - cl->len);
	else
		*buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
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
	/* (A read that just fills the buffer is not too long: on_alloc grows
	 * it up to CTL_MAX_REQUEST + CTL_READ_CHUNK.) */
	if (cl->len > CTL_MAX_REQUEST) {
		char msg[64];

		snprintf(msg, sizeof(msg), "request longer than %d bytes", CTL_MAX_REQUEST);
		request_failed(cl, NULL, msg);
		client_finish(cl);
	}
}

static int peer_pid(uv_pipe_t *p)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return 0;
	return cr.pid;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ctl *c = server->data;
	struct ctl_client *cl;
	int r;

	if (c->closing)
		return;
	if (status < 0) {
		log_warn_rl(&c->err_rl, "control: cannot accept a client on %s: %s", c->path,
			    uv_strerror(status));
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		/* libuv stops watching the listener until this connection is
		 * accepted; the next one retries. */
		log_warn_rl(&c->err_rl, "control: cannot accept a client on %s: %s", c->path,
			    strerror(ENOMEM));
		return;
	}
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	c->refs++;
	r = uv_accept(server, (uv_stream_t *)&cl->pipe);
	if (r < 0) {
		log_warn_rl(&c->err_rl, "control: cannot accept a client on %s: %s", c->path,
			    uv_strerror(r));
		client_close(cl);
		return;
	}
	cl->pid = peer_pid(&cl->pipe);
	cl->next = c->clients;
	if (cl->next)
		cl->next->pprev = &cl->next;
	cl->pprev = &c->clients;
	c->clients = cl;
	c->n_clients++;
	if (c->n_clients > CTL_MAX_CLIENTS) {
		request_failed(cl, NULL, "too many control clients");
		client_finish(cl);
		return;
	}
	uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

/* Is someone accepting connections on path? */
static int socket_in_use(const char *path)
{
	int fd = xlb_unix_connect(path);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return fd == -ECONNREFUSED || fd == -ENOENT ? 0 : fd;
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
			snprintf(err, errlen, "control socket %s is in use by another process",
				 path);
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
	c->err_rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(1, 10);
	snprintf(c->path, sizeof(c->path), "%s", path);
	uv_pipe_init(&l->loop, &c->server, 0);
	c->server.data = c;
	old = umask(0177); /* the socket is created 0600 */
	r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (r == 0) {
		r = uv_listen((uv_stream_t *)&c->server, 64, on_connection);
		if (r < 0)
			unlink(path);
	}
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
