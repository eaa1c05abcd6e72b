// SPDX-License-Identifier: BSD-2-Clause
/* lbd: session ageing on a libuv timer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"

#include "ageing.h"
#include "clock.h"
#include "log.h"
#include "porthold.h"

#define AGEING_CHUNK	 1024
#define AGEING_SLICE_NS	 (20 * XLB_NSEC_PER_MSEC) /* loop time one tick may take */
#define AGEING_RESUME_MS 10			  /* pause between slices of a pass */
#define AGEING_VIP_SLOTS (4 * XLB_MAX_VIPS)	  /* open addressing, at most 1/4 full */

struct ageing {
	uv_timer_t timer;
	struct dataplane *dp;
	const struct node_config *cfg;
	struct dp_walk walk;
	uint64_t pass_start_ns;
	bool pass_done; /* the last tick finished a pass */
	size_t n_hooks;
	struct {
		ageing_delete_hook fn;
		void *arg;
	} hooks[AGEING_MAX_HOOKS];
	struct ageing_stats st;
	struct port_hold hold;		       /* ports of aged TCP sessions, until TIME_WAIT
				* is over at the backends (porthold.h) */
	struct xlb_ratelimit err_rl;	       /* one line per 10 s; the count is in st */
	uint64_t gone_since[XLB_MAX_BACKENDS]; /* when a backend left, 0: here */
	bool reset_marked[XLB_MAX_BACKENDS];   /* XLB_BE_F_RESET set since */
	uint32_t dead[CFG_MAX_PEERS];	       /* sync peers marked dead, this tick */
	size_t n_dead;
	uint64_t vip_gone_logged; /* st.vip_gone at the last pass's log line */
	/* this node's VIPs at the start of the pass (vip_known()) */
	struct vip_slot {
		union xlb_addr addr;
		uint16_t port; /* network order, as in the flow key */
		uint8_t proto, family;
		bool used;
	} vips[AGEING_VIP_SLOTS];
};

/* Idle timeout of a session in ns; 0 = never ages. */
static uint64_t timeout_ns(const struct node_config *cfg, const struct xlb_flow_key *k,
			   const struct xlb_session *s)
{
	const struct cfg_timeouts *t = &cfg->timeouts;
	uint32_t sec;

	switch (s->state) {
	case XLB_SS_SYN:
		sec = t->tcp_syn;
		break;
	case XLB_SS_ESTABLISHED:
		sec = t->tcp_established;
		break;
	case XLB_SS_CLOSING:
		/* Half-closed: the other direction may still carry data. */
		sec = t->tcp_established;
		break;
	case XLB_SS_CLOSED:
		/* Both FINs or a RST seen: linger for late ACKs and retransmitted
		 * FINs, then free the session and its SNAT port. */
		sec = t->tcp_closing;
		break;
	case XLB_SS_UDP:
		sec = t->udp;
		break;
	default:
		sec = k->proto == IPPROTO_UDP ? t->udp : t->tcp_established;
		break;
	}
	return (uint64_t)sec * XLB_NSEC_PER_SEC;
}

static bool owner_dead(const struct ageing *a, uint32_t owner)
{
	size_t i;

	for (i = 0; i < a->n_dead; i++)
		if (a->dead[i] == owner)
			return true;
	return false;
}

/* The sync peers syncd marked dead in node_state: their sessions are aged
 * here too (adopted ones are ours anyway; this covers flows that ended
 * while their owner was down and so never sent a packet here). */
static void refresh_dead(struct ageing *a)
{
	int fd = bpf_map__fd(a->dp->skel->maps.node_state);
	size_t i;

	a->n_dead = 0;
	if (!a->cfg->sync.enabled || fd < 0)
		return;
	for (i = 0; i < a->cfg->sync.n_peers; i++) {
		__u32 k = a->cfg->sync.peers[i].node_id, v = 0;

		if (bpf_map_lookup_elem(fd, &k, &v) == 0 && (v & XLB_NODE_DEAD))
			a->dead[a->n_dead++] = k;
	}
}

/*
 * The rule for the connections of a backend that is gone (docs/design.md
 * decision 12): kept as long as their traffic by default; with
 * timeouts.backend_gone, once the backend has been gone that long its slot
 * is marked (XLB_BE_F_RESET) and the data plane answers each of its
 * sessions' next client segment with a RST and closes the session, which
 * then ages as a closed one. Sessions whose client stays silent age by
 * their idle timeout, as any other.
 */
static void mark_resets(struct ageing *a, uint64_t now)
{
	uint64_t grace = (uint64_t)a->cfg->timeouts.backend_gone * XLB_NSEC_PER_SEC;
	uint32_t id;
	int r;

	if (!grace)
		return;
	for (id = 1; id < XLB_MAX_BACKENDS; id++) {
		uint64_t since = a->gone_since[id];

		if (!since || a->reset_marked[id] || now <= since || now - since <= grace)
			continue;
		r = dp_backend_reset(a->dp, id);
		if (r < 0) {
			a->st.errors++;
			log_warn_rl(
				&a->err_rl,
				"node %s: backend %u gone for %u s: cannot mark it for resets: %s",
				a->cfg->node_name, id, a->cfg->timeouts.backend_gone, strerror(-r));
			continue;
		}
		a->reset_marked[id] = true;
		a->st.backends_reset++;
		log_info("node %s: backend %u gone for over %u s (sessions.timeouts.backend_gone): "
			 "its connections are reset at their next client segment",
			 a->cfg->node_name, id, a->cfg->timeouts.backend_gone);
	}
}

/*
 * The rule for sessions whose VIP is gone (deleted at run time, or not in
 * the config lbd restarted with; docs/design.md decision 13): they are
 * aged at the next pass like expired ones by their owner, their delete
 * replicated; a peer that still has the VIP and forwards the flow has
 * taken the session over (decision 12) and keeps it.
 */
static uint32_t vip_slot_of(const union xlb_addr *addr, uint16_t port, uint8_t proto)
{
	uint32_t h = addr->w[0] ^ addr->w[1] ^ addr->w[2] ^ addr->w[3];

	h ^= ((uint32_t)port << 8) ^ proto;
	h *= 0x9e3779b1u;
	return h % AGEING_VIP_SLOTS;
}

static void vip_put(struct ageing *a, const union xlb_addr *addr, uint16_t port, uint8_t proto,
		    uint8_t family)
{
	uint32_t i = vip_slot_of(addr, port, proto);

	while (a->vips[i].used)
		i = (i + 1) % AGEING_VIP_SLOTS;
	a->vips[i].addr = *addr;
	a->vips[i].port = port;
	a->vips[i].proto = proto;
	a->vips[i].family = family;
	a->vips[i].used = true;
}

static void vips_snapshot(struct ageing *a)
{
	size_t i;

	memset(a->vips, 0, sizeof(a->vips));
	for (i = 0; i < a->cfg->n_vips; i++) {
		const struct cfg_vip *v = &a->cfg->vips[i];

		if (v->name[0])
			vip_put(a, &v->addr, htons(v->port), v->proto, v->family);
	}
}

/* In the pass's snapshot; a VIP added since is found by vip_live(). */
static bool vip_known(const struct ageing *a, const struct xlb_flow_key *k)
{
	uint32_t i = vip_slot_of(&k->daddr, k->dport, k->proto);

	for (; a->vips[i].used; i = (i + 1) % AGEING_VIP_SLOTS) {
		const struct vip_slot *v = &a->vips[i];

		if (v->port == k->dport && v->proto == k->proto && v->family == k->family &&
		    !memcmp(&v->addr, &k->daddr, sizeof(v->addr)))
			return true;
	}
	return false;
}

static bool vip_live(const struct ageing *a, const struct xlb_flow_key *k)
{
	size_t i;

	for (i = 0; i < a->cfg->n_vips; i++) {
		const struct cfg_vip *v = &a->cfg->vips[i];

		if (v->name[0] && htons(v->port) == k->dport && v->proto == k->proto &&
		    v->family == k->family && !memcmp(&v->addr, &k->daddr, sizeof(v->addr)))
			return true;
	}
	return false;
}

static bool ours(const struct ageing *a, const struct xlb_session *s)
{
	return s->owner == a->cfg->node_id || owner_dead(a, s->owner);
}

static bool expired(const struct ageing *a, const struct xlb_flow_key *k,
		    const struct xlb_session *s, uint64_t now)
{
	uint64_t to;

	if (!ours(a, s))
		return false; /* a node ages only what it owns, and what
				 * nobody can age any more (docs/design.md decision 3) */
	if (!vip_known(a, k))
		return true; /* its VIP is gone: vip_gone() decides */
	to = timeout_ns(a->cfg, k, s);
	if (!to || s->last_seen_ns >= now)
		return false;
	return now - s->last_seen_ns > to;
}

/* k: the session concerned, or NULL. */
static void log_error(struct ageing *a, const char *what, const struct xlb_flow_key *k, int err)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], flow[128] = "";

	a->st.errors++;
	if (k)
		snprintf(flow, sizeof(flow), " %s:%u -> %s:%u/%s",
			 cfg_format_addr(AF_INET, &k->saddr, s, sizeof(s)), ntohs(k->sport),
			 cfg_format_addr(AF_INET, &k->daddr, d, sizeof(d)), ntohs(k->dport),
			 k->proto == IPPROTO_UDP ? "udp" : "tcp");
	log_warn_rl(&a->err_rl, "ageing: %s%s: %s (%llu errors so far)", what, flow, strerror(-err),
		    (unsigned long long)a->st.errors);
}

/*
 * The SNAT port of an aged session of this node's range back to the pool;
 * a TCP session's port only once the backend's TIME_WAIT for the old
 * connection is over (snat.port_hold_s after its last packet), so that the
 * next connection on it is not taken for the old one (docs/design.md
 * decision 12).
 */
static void give_back_port(struct ageing *a, const struct xlb_flow_key *k,
			   const struct xlb_session *s, uint64_t now)
{
	uint64_t due = s->last_seen_ns + (uint64_t)a->cfg->snat_port_hold_s * XLB_NSEC_PER_SEC;
	int r;

	if (k->proto == IPPROTO_TCP && a->cfg->snat_port_hold_s && due > now) {
		if (port_hold_put(&a->hold, ntohs(s->snat_port), due) == 0) {
			a->st.ports_held++;
			return;
		}
		a->st.ports_hold_full++;
	}
	r = dp_port_pool_push(a->dp, ntohs(s->snat_port));
	if (r < 0)
		log_error(a, "cannot return its SNAT port to the pool", k, r);
	else
		a->st.ports_returned++;
}

static void age_one(struct ageing *a, const struct xlb_flow_key *k, uint64_t now)
{
	struct xlb_session cur;
	struct xlb_flow_key rk;
	struct xlb_reverse rv;
	bool rev_deleted = false;
	size_t i;

	/* Re-read just before deleting: a packet may have refreshed it. */
	if (bpf_map_lookup_elem(a->dp->fd_sessions, k, &cur) < 0 || !expired(a, k, &cur, now)) {
		a->st.delete_races++;
		return;
	}
	/* not in the pass's snapshot of the VIPs: gone, or added since */
	if (!vip_known(a, k)) {
		if (vip_live(a, k) || !ours(a, &cur))
			return;
		a->st.vip_gone++;
	}
	if (bpf_map_delete_elem(a->dp->fd_sessions, k) < 0) {
		if (errno == ENOENT)
			a->st.delete_races++;
		else
			log_error(a, "cannot delete session", k, -errno);
		return;
	}
	a->st.aged++;
	if (cur.flags & XLB_SF_FNAT) {
		dp_reverse_key(k, &cur, &rk);
		/* Delete the reverse entry only if it still points to this flow. */
		if (bpf_map_lookup_elem(a->dp->fd_reverse, &rk, &rv) == 0 &&
		    !memcmp(&rv.fwd, k, sizeof(rv.fwd)) &&
		    bpf_map_delete_elem(a->dp->fd_reverse, &rk) == 0) {
			rev_deleted = true;
			a->st.reverse_deleted++;
		}
		/*
		 * Only a port of this node's own range and SNAT address goes
		 * back to this node's pool. A session adopted or taken over
		 * from a peer holds a port of the peer's range: pushing it
		 * here would let this node hand out a port of another node's
		 * partition (docs/design.md decision 4); the peer's syncd gives
		 * it back when this delete reaches it (decision 12).
		 */
		if (dp_session_holds_pool_port(a->cfg, &cur))
			give_back_port(a, k, &cur, now);
		else
			a->st.ports_foreign++;
	}
	a->st.user_deletes++;
	for (i = 0; i < a->n_hooks; i++)
		a->hooks[i].fn(a->hooks[i].arg, k, &cur, rev_deleted ? &rv : NULL);
}

static int release_port(void *arg, uint16_t port)
{
	struct ageing *a = arg;
	int r = dp_port_pool_push(a->dp, port);

	if (r < 0)
		log_error(a, "cannot return a held SNAT port to the pool", NULL, r);
	else
		a->st.ports_returned++;
	return r;
}

int ageing_tick(struct ageing *a, uint64_t now)
{
	uint32_t scanned = 0;
	int done = 0;

	a->st.ticks++;
	port_hold_release(&a->hold, now, release_port, a);
	mark_resets(a, now);
	a->pass_done = false;
	refresh_dead(a);
	while (scanned < AGEING_BUDGET && xlb_mono_ns() - now < AGEING_SLICE_NS) {
		const struct xlb_flow_key *keys = a->walk.keys;
		const struct xlb_session *vals = a->walk.vals;
		uint32_t i, n;

		if (!a->walk.started && !a->pass_start_ns) {
			a->pass_start_ns = now ? now : 1;
			vips_snapshot(a);
		}
		done = dp_walk_next(&a->walk, &n);
		if (done < 0) {
			log_error(a, "cannot read the sessions map", NULL, done);
			dp_walk_reset(&a->walk);
			a->pass_start_ns = 0;
			return done;
		}
		for (i = 0; i < n; i++) {
			if (expired(a, &keys[i], &vals[i], now))
				age_one(a, &keys[i], now);
		}
		scanned += n;
		if (done) {
			uint64_t end = xlb_mono_ns();

			a->st.passes++;
			a->st.last_pass_ms = (end - a->pass_start_ns) / XLB_NSEC_PER_MSEC;
			if (a->st.vip_gone != a->vip_gone_logged)
				log_info("node %s: %llu sessions of VIPs this node no longer has "
					 "deleted (their deletes replicate)",
					 a->cfg->node_name,
					 (unsigned long long)(a->st.vip_gone - a->vip_gone_logged));
			a->vip_gone_logged = a->st.vip_gone;
			a->pass_start_ns = 0;
			a->pass_done = true;
			break;
		}
	}
	a->st.scanned += scanned;
	return scanned;
}

static uint64_t interval_ms(const struct ageing *a)
{
	return a->cfg->timeouts.ageing_interval_ms;
}

/* A pass over a big table runs in slices with short pauses for the rest of
 * the loop; the next pass starts one interval after the previous one ended. */
static void on_timer(uv_timer_t *t)
{
	struct ageing *a = t->data;
	uint64_t next;

	if (ageing_tick(a, xlb_mono_ns()) < 0 || a->pass_done)
		next = interval_ms(a);
	else
		next = AGEING_RESUME_MS < interval_ms(a) ? AGEING_RESUME_MS : interval_ms(a);
	uv_timer_start(&a->timer, on_timer, next, 0);
}

struct ageing *ageing_new(uv_loop_t *loop, struct dataplane *dp, const struct node_config *cfg)
{
	struct ageing *a;

	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->dp = dp;
	a->cfg = cfg;
	a->err_rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(10, 1);
	if (port_hold_init(&a->hold, cfg->snat_family && cfg->snat_port_hold_s
					     ? (uint32_t)cfg->snat_port_max - cfg->snat_port_min + 1
					     : 0) < 0) {
		free(a);
		return NULL;
	}
	if (dp_walk_init(&a->walk, dp->fd_sessions, sizeof(struct xlb_flow_key),
			 sizeof(struct xlb_session), AGEING_CHUNK) < 0) {
		port_hold_free(&a->hold);
		free(a);
		return NULL;
	}
	uv_timer_init(loop, &a->timer);
	a->timer.data = a;
	return a;
}

int ageing_start(struct ageing *a)
{
	return uv_timer_start(&a->timer, on_timer, interval_ms(a), 0);
}

int ageing_add_hook(struct ageing *a, ageing_delete_hook fn, void *arg)
{
	if (a->n_hooks >= AGEING_MAX_HOOKS)
		return -ENOSPC;
	a->hooks[a->n_hooks].fn = fn;
	a->hooks[a->n_hooks].arg = arg;
	a->n_hooks++;
	return 0;
}

void ageing_backend_gone(struct ageing *a, uint32_t id, bool gone, uint64_t now_ns)
{
	if (!a || id >= XLB_MAX_BACKENDS)
		return;
	if (!gone) {
		a->gone_since[id] = 0;
		a->reset_marked[id] = false; /* lbd rewrote its slot's flags */
	} else if (!a->gone_since[id])
		a->gone_since[id] = now_ns ? now_ns : 1;
}

void ageing_get_stats(const struct ageing *a, struct ageing_stats *st)
{
	*st = a->st;
	st->ports_on_hold = a->hold.n;
}

static void on_close(uv_handle_t *h)
{
	struct ageing *a = h->data;

	dp_walk_free(&a->walk);
	port_hold_free(&a->hold);
	free(a);
}

void ageing_free(struct ageing *a)
{
	if (!a)
		return;
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->timer, on_close);
}
