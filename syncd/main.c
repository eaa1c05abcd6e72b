// SPDX-License-Identifier: BSD-2-Clause
/*
 * syncd: replicates this node's watched BPF hash maps to its peers.
 *
 *   capture ring buffer ──► engine (batch, sequence) ──► nanomsg bus ──► peers
 *   lbd's deletes (local datagram socket) ──┘      ▲
 *   peers ──► nanomsg bus ──► engine (validate, conflict rule) ──► store (pinned maps)
 *
 * One libuv loop runs everything: the ring buffer's epoll fd, the nanomsg
 * descriptors, lbd's datagram socket, the status socket, the engine's
 * timer and the signals. syncd reads the node's config file (the same one
 * lbd reads) and knows the watched maps only by name, sizes and the
 * per-map options of the config (engine.h, mapspec.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <bpf/bpf.h>
#include <json-c/json.h>
#include <uv.h>

#include "beacon.h"
#include "capture.h"
#include "clock.h"
#include "codec.h"
#include "config.h"
#include "engine.h"
#include "fault.h"
#include "log.h"
#include "mapspec.h"
#include "porthold.h"
#include "services.h"
#include "svcwatch.h"
#include "snatport.h"
#include "state.h"
#include "store_bpf.h"
#include "synclocal.h"
#include "transport.h"
#include "xdplb.h"

#define SYNCD_RUN_DIR		"/run/xdplb"
#define LOCAL_FRAMES_PER_WAKEUP 256 /* lbd frames per readable event, then yield */
#define CAPTURE_DRAIN_MS	1   /* ring buffer drained at least this often */
/*
 * Batching by size or deadline, Nagle-like: a change that finds the link
 * idle (no batch sent for BATCH_DELAY_NS) leaves at once, alone; while
 * batches are flowing, changes wait until the oldest has waited
 * BATCH_DELAY_NS or BATCH_SEND_ENTRIES are pending, so that under load a
 * message carries what arrived in that time instead of one drain's worth.
 * A held batch is collected by the follow-up drain, which runs every
 * XLB_SYNC_WAKEUP_NS while drains find records or a batch waits (the data
 * plane submits records quietly for that long after a wake-up, xdplb.h),
 * so a batch leaves at most one follow-up after its deadline.
 */
#define BATCH_SEND_ENTRIES 256
#define BATCH_DELAY_NS	   200000ull
#define FIRST_TICK_MS	   1  /* the engine's first tick; then when it asks */
#define STATUS_BACKLOG	   16 /* status clients waiting to be accepted */
#define LOG_RL_SECONDS	   10 /* repeated warnings: at most */
#define LOG_RL_LINES	   10 /* 10 lines per 10 s */

/* The beacons stop when the main loop has not run for this many
 * dead_after_ms: it is hung, not slow (beacon.h). */
#define BEACON_STALL_FACTOR 10

struct syncd {
	uv_loop_t loop;
	struct sync_state state;      /* epochs kept across restarts (state.h) */
	struct svc_snat snat;	      /* what peers' full-NAT entries may name */
	struct beacon *beacon;	      /* liveness beside the loop (beacon.h) */
	uint32_t stall_ms, no_beacon; /* fault injection (the stall test) */
	uv_signal_t sig_usr2;
	_Atomic uint64_t loop_ns; /* the loop's last tick, for the beacon */
	struct node_config *cfg;
	enum sync_capture_mode mode;
	struct sync_engine *eng;
	struct sync_engine_cfg ecfg;
	struct sync_mapspec specs[SYNC_MAX_MAPS];
	struct store_bpf store;
	struct sync_capture *cap;
	struct transport *tr;
	int node_state_fd; /* pinned node_state, -1: no adoption */
	int port_pool_fd;  /* pinned port_pool, -1: ports not given back */
	int sessions_map;  /* index of the xdplb sessions map, -1: none */
	int reverse_map;   /* index of the xdplb reverse map, -1: none */
	uint64_t ports_returned, ports_return_errors, reverse_released;
	struct port_hold hold; /* TCP ports until TIME_WAIT is over (porthold.h) */
	int local_fd, lock_fd;
	uv_poll_t cap_poll, local_poll;
	uv_timer_t tick;
	uv_timer_t drain; /* 1 ms: records submitted without wake-up */
	int follow_fd;	  /* timerfd: the follow-up drain */
	uv_poll_t follow_poll;
	bool follow_up, follow_armed;
	uint64_t batch_sent_ns; /* the last batch left (see BATCH_DELAY_NS) */
	uv_timer_t svc_timer;	/* SVCWATCH_PERIOD_MS: service sets compared */
	struct svcwatch *svc;	/* NULL: no watched map names backends */
	uv_pipe_t status_srv;
	uv_signal_t sig_term, sig_int, sig_usr1;
	struct fault *fault; /* test-only loss on receive, or NULL */
	bool no_repair;	     /* test-only: capture losses not repaired */
	bool no_release;     /* test-only: superseded reverse entries kept */
	bool status_up, local_up, cap_up;
	struct svc_backends backends; /* what lbd installed (services.h) */
	char why[256];		      /* validate()'s last refusal */
	struct sync_field backend_field[SYNC_MAX_MAPS];
	uint64_t cap_events, cap_unknown_map, cap_lost_seen;
	uint64_t cap_checked_ns; /* last loss check (CAPTURE_CHECK_NS) */
	uint64_t local_msgs, local_bad, local_lost;
	struct xlb_ratelimit rl;
	bool stopping;
	int exit_code;
};

static const char *peer_addr(const struct syncd *d, uint32_t node)
{
	size_t i;

	for (i = 0; i < d->cfg->sync.n_peers; i++)
		if (d->cfg->sync.peers[i].node_id == node)
			return d->cfg->sync.peers[i].address;
	return "?";
}

/* ---- engine callbacks --------------------------------------------------- */

static int io_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct syncd *d = ctx;

	return transport_send(d->tr, buf, len);
}

static void drain_capture(struct syncd *d);

/* Between slices of the engine's walks: the live stream goes first. */
static void io_yield(void *ctx)
{
	struct syncd *d = ctx;

	if (d->cap)
		drain_capture(d);
}

static void io_peer_state(void *ctx, uint32_t node, bool alive)
{
	struct syncd *d = ctx;
	__u32 v = alive ? 0 : XLB_NODE_DEAD, key = node;

	if (alive)
		log_info("peer node %u (%s): alive", node, peer_addr(d, node));
	else
		log_warn("peer node %u (%s): dead (silent past its allowance, see the line "
			 "before): its sessions become adoptable here",
			 node, peer_addr(d, node));
	if (d->node_state_fd >= 0 && bpf_map_update_elem(d->node_state_fd, &key, &v, BPF_ANY))
		log_err("peer node %u: cannot write node_state: %s", node, strerror(errno));
}

/* A peer's new incarnation: kept for the next start (state.h). A write
 * that fails costs only that protection after a restart; it is logged. */
static void io_peer_epoch(void *ctx, uint32_t node, uint64_t epoch)
{
	struct syncd *d = ctx;
	char err[PATH_MAX + 128];

	if (sync_state_set_peer(&d->state, node, epoch) == 1 &&
	    sync_state_save(d->cfg->sync.state_file, &d->state, err, sizeof(err)) < 0)
		log_err("peer node %u: its epoch %" PRIu64 " is not kept across restarts: %s", node,
			epoch, err);
}

static int validate(void *arg, unsigned int map, const void *key, const void *value,
		    const char **why)
{
	struct syncd *d = arg;
	const struct sync_field *f;
	uint64_t id;

	if (map >= SYNC_MAX_MAPS)
		return 0;
	if ((int)map == d->sessions_map) {
		const struct xlb_session *se = value;

		/* the SNAT address and port a peer's entry makes this node
		 * use: this cluster's (services.h) */
		if ((se->flags & XLB_SF_FNAT) &&
		    (*why = svc_snat_check(&d->snat, ((const struct xlb_flow_key *)key)->family,
					   &se->snat, se->snat_port, d->why, sizeof(d->why))))
			return -1;
	} else if ((int)map == d->reverse_map) {
		const struct xlb_flow_key *rk = key;

		/* backend -> SNAT address:port */
		if ((*why = svc_snat_check(&d->snat, rk->family, &rk->daddr, rk->dport, d->why,
					   sizeof(d->why))))
			return -1;
	}
	f = &d->backend_field[map];
	if (!f->size)
		return 0;
	id = sync_field_get(f, value);
	if (svc_backends_check(&d->backends, (uint32_t)id, (int)map == d->sessions_map ? key : NULL,
			       (int)map == d->sessions_map ? value : NULL, xlb_mono_ns(), d->why,
			       sizeof(d->why))) {
		*why = d->why;
		return -1;
	}
	return 0;
}

/*
 * A collision: this node's session of a flow (@o, holding one of this
 * node's ports) lost to a peer's session of the same flow. Its reverse
 * entry would still send the backend's packets for the port to the flow
 * (the data plane drops them: DROP_SUPERSEDED) and would block the port's
 * next use: removed here, and the removal published like lbd's deletes, so
 * the peers drop their copy. Before the port goes back to the pool.
 */
static void release_reverse(struct syncd *d, const struct xlb_flow_key *k,
			    const struct xlb_session *o)
{
	struct xlb_flow_key rk;
	struct xlb_reverse rv;
	int fd;

	if (d->reverse_map < 0 || d->no_release)
		return;
	fd = d->store.maps[d->reverse_map].fd;
	memset(&rk, 0, sizeof(rk));
	rk.saddr = o->backend;
	rk.daddr = o->snat;
	rk.sport = o->backend_port;
	rk.dport = o->snat_port;
	rk.proto = k->proto;
	rk.family = k->family;
	if (bpf_map_lookup_elem(fd, &rk, &rv) || memcmp(&rv.fwd, k, sizeof(*k)) ||
	    bpf_map_lookup_and_delete_elem(fd, &rk, &rv))
		return;
	d->reverse_released++;
	sync_engine_local(d->eng, (unsigned int)d->reverse_map, SYNC_OP_DELETE, &rk, NULL,
			  rv.version, xlb_mono_ns());
}

/*
 * A full-NAT session that a peer deleted (or anti-entropy pruned, or a
 * peer's version of the same flow replaced) held one of this node's SNAT
 * ports: it goes back to this node's pool, since the node whose range holds
 * a port is the only one that gives it out (docs/design.md decisions 4 and
 * 12). Sessions move between nodes (adoption, takeover), so the node that
 * ages one is often not the one whose port it holds; lbd gives back the
 * ports of the sessions it deletes itself. The store removed the entry and
 * read its value in one step, so each removal gives a port back once.
 */
static int give_port(void *arg, uint16_t port)
{
	struct syncd *d = arg;
	__u32 v = port;

	if (bpf_map_update_elem(d->port_pool_fd, NULL, &v, BPF_ANY)) {
		d->ports_return_errors++;
		log_warn_rl(&d->rl, "map %s: cannot give SNAT port %u back to the pool: %s",
			    XLB_MAP_SESSIONS, port, strerror(errno));
		return -1;
	}
	d->ports_returned++;
	return 0;
}

static void on_replaced(void *arg, unsigned int map, const void *key, const void *old,
			const void *new)
{
	const struct xlb_session *o = old, *n = new;
	struct syncd *d = arg;
	uint16_t port;
	uint64_t due;

	if ((int)map != d->sessions_map || d->port_pool_fd < 0 ||
	    !xlb_snat_holds_pool_port(d->cfg, o))
		return; /* not a full-NAT session, or another node's port */
	port = ntohs(o->snat_port);
	if (n && n->snat_port == o->snat_port && !memcmp(&n->snat, &o->snat, sizeof(n->snat)))
		return; /* the same session, still holding it */
	if (n)
		release_reverse(d, key, o);
	/* a TCP port waits until the backend's TIME_WAIT for the old
	 * connection is over, as lbd's (snat.port_hold_s) */
	due = o->last_seen_ns + (uint64_t)d->cfg->snat_port_hold_s * XLB_NSEC_PER_SEC;
	if (((const struct xlb_flow_key *)key)->proto == IPPROTO_TCP && due > xlb_mono_ns() &&
	    port_hold_put(&d->hold, port, due) == 0)
		return;
	give_port(d, port);
}

/* ---- this node's changes ------------------------------------------------ */

/*
 * One change of this node's watched map, as the capture records it: from
 * the capture ring buffer (on_event) or handed over by lbd (on_local), so
 * both are replicated alike. Returns 0, -ENOENT if the map is not watched
 * here, -EINVAL if the record's sizes are not the map's, or the engine's
 * -errno.
 */
static int local_change(struct syncd *d, const struct xlb_sync_event *ev)
{
	const struct sync_mapspec *ms;
	size_t i;
	int r;

	for (i = 0; i < d->store.n; i++)
		if (d->store.maps[i].id == ev->map_id)
			break;
	if (i == d->store.n)
		return -ENOENT;
	ms = &d->specs[i];
	if (ev->key_size != ms->key_size ||
	    (ev->op == XLB_SYNC_OP_UPDATE && ev->value_size != ms->value_size))
		r = -EINVAL;
	else if (ev->op == XLB_SYNC_OP_UPDATE)
		r = sync_engine_local(d->eng, (unsigned int)i, SYNC_OP_UPDATE, ev->key, ev->value,
				      0, xlb_mono_ns());
	else
		/* a delete with its value (inline, lbd) knows the version deleted */
		r = sync_engine_local(
			d->eng, (unsigned int)i, SYNC_OP_DELETE, ev->key, NULL,
			ev->value_size == ms->value_size ? sync_mapspec_version(ms, ev->value) : 0,
			xlb_mono_ns());
	if (r < 0)
		log_warn_rl(&d->rl, "map %s: local change refused: %s", ms->name, strerror(-r));
	return r < 0 ? r : 0;
}

/* ---- capture ------------------------------------------------------------ */

static void on_event(void *arg, const struct xlb_sync_event *ev)
{
	struct syncd *d = arg;

	d->cap_events++;
	if (local_change(d, ev) == -ENOENT)
		d->cap_unknown_map++;
}

/*
 * Every record the capture owed and did not deliver is a change a peer may
 * not have: log it with its reasons and have the engine repair (an
 * anti-entropy round now, see sync_engine_capture_lost()).
 */
/*
 * Capture fault injection for the cluster tests (capture.h): the environment
 * variables XLB_SYNCD_FAULT_CAPTURE_DROP_EVERY=N (throw away every Nth
 * record before anything counts it), XLB_SYNCD_FAULT_RINGBUF_BYTES=B
 * (kprobe/fentry ring buffer of B bytes) and XLB_SYNCD_FAULT_NO_REPAIR=1
 * (capture losses are counted but not repaired, and periodic anti-entropy
 * is off: the tests' control); XLB_SYNCD_FAULT_NO_RELEASE=1 (a reverse entry
 * superseded by a peer's session for the same flow is left in place, as
 * before decision 12's collision rule: the collision test's control);
 * XLB_SYNCD_FAULT_STALL_MS=N (SIGUSR2 holds the main loop up for N ms, as
 * an overloaded host would) and XLB_SYNCD_FAULT_NO_BEACON=1 (no beacon
 * thread: the stall test's control).
 * Logged when set; a bad value is refused.
 */
static int env_u32(const char *name, uint32_t max, uint32_t *v)
{
	const char *s = getenv(name);
	char *end;
	unsigned long n;

	*v = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max) {
		log_err("%s=%s: not a number from 0 to %u", name, s, max);
		return -1;
	}
	*v = (uint32_t)n;
	return 0;
}

static int capture_fault_from_env(struct syncd *d)
{
	struct sync_capture_fault f;
	uint32_t no_repair, no_release;

	if (env_u32("XLB_SYNCD_FAULT_CAPTURE_DROP_EVERY", UINT32_MAX, &f.drop_every) < 0 ||
	    env_u32("XLB_SYNCD_FAULT_RINGBUF_BYTES", 1u << 30, &f.ringbuf_bytes) < 0 ||
	    env_u32("XLB_SYNCD_FAULT_NO_REPAIR", 1, &no_repair) < 0 ||
	    env_u32("XLB_SYNCD_FAULT_NO_RELEASE", 1, &no_release) < 0 ||
	    env_u32("XLB_SYNCD_FAULT_STALL_MS", 600000, &d->stall_ms) < 0 ||
	    env_u32("XLB_SYNCD_FAULT_NO_BEACON", 1, &d->no_beacon) < 0)
		return -1;
	if (d->stall_ms || d->no_beacon)
		log_warn("fault injection: SIGUSR2 holds the main loop up for %u ms; beacons %s",
			 d->stall_ms, d->no_beacon ? "OFF" : "on");
	d->no_repair = no_repair;
	d->no_release = no_release;
	if (no_release)
		log_warn("fault injection: reverse entries superseded by a peer's session are "
			 "NOT released");
	if (f.drop_every || f.ringbuf_bytes || d->no_repair)
		log_warn("fault injection: capture drops every %u records (0: none), ring buffer "
			 "%u bytes (0: normal), repair of capture losses %s",
			 f.drop_every, f.ringbuf_bytes, d->no_repair ? "OFF" : "on");
	sync_capture_set_fault(&f);
	return 0;
}

static void check_capture_lost(struct syncd *d)
{
	struct sync_capture_loss l;
	char maps[256] = "";
	size_t i, off = 0;

	sync_capture_check(d->cap);
	sync_capture_get_loss(d->cap, &l);
	if (l.total <= d->cap_lost_seen)
		return;
	for (i = 0; i < d->store.n && off < sizeof(maps); i++)
		off += (size_t)snprintf(maps + off, sizeof(maps) - off, "%s%s", i ? "," : "",
					d->specs[i].name);
	log_warn_rl(&d->rl,
		    "node %s: capture (%s) lost %llu records of maps %s: ring buffer full %llu, "
		    "unreadable %llu, entry probe missed %llu, return probe missed %llu, "
		    "other task %llu, skipped by the kernel %llu, malformed %llu, "
		    "unseen by the write count %llu: repairing",
		    d->cfg->node_name, sync_capture_mode_str(d->mode),
		    (unsigned long long)(l.total - d->cap_lost_seen), maps,
		    (unsigned long long)l.ringbuf, (unsigned long long)l.unreadable,
		    (unsigned long long)l.unpaired, (unsigned long long)l.stale,
		    (unsigned long long)l.foreign, (unsigned long long)l.skipped,
		    (unsigned long long)l.malformed, (unsigned long long)l.unseen);
	if (!d->no_repair)
		sync_engine_capture_lost(d->eng, l.total - d->cap_lost_seen, xlb_mono_ns());
	d->cap_lost_seen = l.total;
}

/* The follow-up drain: a timer that fires every XLB_SYNC_WAKEUP_NS for as
 * long as drains find records or a batch waits, set once when that begins
 * and stopped by the first drain that finds neither (not set again for
 * every drain: a timerfd_settime() per drain was a tenth of syncd's CPU
 * under load). */
static void follow_run(struct syncd *d, bool on)
{
	struct itimerspec its = { 0 };

	if (!d->follow_up || d->follow_armed == on)
		return;
	if (on) {
		its.it_value.tv_nsec = (long)XLB_SYNC_WAKEUP_NS;
		its.it_interval.tv_nsec = (long)XLB_SYNC_WAKEUP_NS;
	}
	if (timerfd_settime(d->follow_fd, 0, &its, NULL) == 0)
		d->follow_armed = on;
}

static void drain_capture(struct syncd *d)
{
	int n = sync_capture_poll(d->cap, on_event, d);
	uint64_t first, now;
	size_t q;

	if (n < 0)
		log_err_rl(&d->rl, "capture: ring buffer read failed: %s", strerror(-n));
	q = sync_engine_pending(d->eng, &first);
	if (q) {
		now = xlb_mono_ns();
		if (q >= BATCH_SEND_ENTRIES || now - first >= BATCH_DELAY_NS ||
		    now - d->batch_sent_ns >= BATCH_DELAY_NS) {
			sync_engine_flush(d->eng, now);
			d->batch_sent_ns = now;
			q = 0;
		}
	}
	/* records may follow quietly; a held batch waits for its deadline */
	follow_run(d, n > 0 || q > 0);
}

/* A record woke us (the ring buffer's descriptor). */
static void on_capture(uv_poll_t *p, int status, int events)
{
	drain_capture(p->data);
}

/* The follow-up drain (see BATCH_DELAY_NS). */
static void on_follow(uv_poll_t *p, int status, int events)
{
	struct syncd *d = p->data;
	uint64_t expirations;

	if (read(d->follow_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	drain_capture(d);
}

/* Records submitted quietly and no follow-up due (a lost wake-up, a
 * follow-up timer that failed): collected every millisecond anyway. */
static void on_drain(uv_timer_t *t)
{
	drain_capture(t->data);
}

/* ---- lbd's user-space deletes ------------------------------------------- */

/*
 * Frames of capture records (lib/synclocal.h). A frame that fails the
 * check is dropped whole; a record of a map not watched here is skipped;
 * both ways of refusing count in local_refused.
 */
static void on_local(uv_poll_t *p, int status, int events)
{
	struct syncd *d = p->data;
	static uint8_t buf[XLB_SYNCLOCAL_FRAME_MAX];
	int i;

	for (i = 0; i < LOCAL_FRAMES_PER_WAKEUP; i++) {
		struct xlb_sync_event ev;
		const char *why;
		uint32_t lost;
		size_t k, n;
		/* MSG_TRUNC: the real length, so a frame too long is seen */
		ssize_t len = recv(d->local_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (len < 0)
			break;
		d->local_msgs++;
		why = xlb_synclocal_check(buf, (size_t)len, &n);
		if (why) {
			d->local_bad++;
			log_warn_rl(&d->rl, "local socket: frame from lbd dropped (%zd bytes): %s",
				    len, why);
			continue;
		}
		lost = xlb_synclocal_lost(buf);
		if (lost) {
			/* deletes lbd dropped: the peers hold those sessions
			 * still; an anti-entropy round now repairs them */
			d->local_lost += lost;
			log_warn_rl(&d->rl,
				    "local socket: lbd could not hand over %" PRIu32 " deletes "
				    "(%" PRIu64 " so far): anti-entropy round now",
				    lost, d->local_lost);
			if (!d->no_repair) /* the tests' control run */
				sync_engine_capture_lost(d->eng, lost, xlb_mono_ns());
		}
		for (k = 0; k < n; k++) {
			int r;

			xlb_synclocal_get_record(buf, k, &ev);
			r = local_change(d, &ev);
			if (r < 0 && r != -ENOENT) /* -ENOENT: not watched here */
				d->local_bad++;
		}
	}
	sync_engine_flush(d->eng, xlb_mono_ns());
}

static int open_local_socket(struct syncd *d, char *err, size_t errlen)
{
	const char *path = d->cfg->sync.local_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "local socket: %s", strerror(errno));
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "sync.local_socket %s: cannot bind: %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	chmod(path, 0600); /* lbd runs as root; nobody else may inject deletes */
	d->local_fd = fd;
	return 0;
}

/* ---- status socket ------------------------------------------------------ */

static struct json_object *status_json(struct syncd *d)
{
	struct sync_engine_stats st;
	struct transport_stats ts;
	struct json_object *o = json_object_new_object(), *peers, *maps, *rej;
	size_t i;

	sync_engine_get_stats(d->eng, &st);
	transport_get_stats(d->tr, &ts);
	json_object_object_add(o, "node", json_object_new_string(d->cfg->node_name));
	json_object_object_add(o, "node_id", json_object_new_int64(d->cfg->node_id));
	json_object_object_add(o, "capture",
			       json_object_new_string(sync_capture_mode_str(d->mode)));
	json_object_object_add(o, "ready", json_object_new_boolean(st.ready));
	json_object_object_add(o, "epoch", json_object_new_uint64(d->ecfg.epoch));
	json_object_object_add(o, "seq", json_object_new_uint64(st.seq));
	json_object_object_add(o, "authenticated",
			       json_object_new_boolean(d->ecfg.auth_key_len > 0));
	json_object_object_add(o, "node_keys", json_object_new_boolean(d->ecfg.node_keys));
	json_object_object_add(o, "encrypted",
			       json_object_new_string(d->ecfg.auth_key_len
							      ? sync_cipher_str(d->ecfg.cipher)
							      : "none"));
	maps = json_object_new_array();
	for (i = 0; i < d->store.n; i++) {
		struct json_object *m = json_object_new_object();

		json_object_object_add(m, "name", json_object_new_string(d->store.maps[i].name));
		json_object_object_add(m, "id", json_object_new_int64(d->store.maps[i].id));
		json_object_object_add(m, "key_size",
				       json_object_new_int64(d->store.maps[i].key_size));
		json_object_object_add(m, "value_size",
				       json_object_new_int64(d->store.maps[i].value_size));
		json_object_array_add(maps, m);
	}
	json_object_object_add(o, "maps", maps);
	if (d->svc)
		json_object_object_add(o, "services", svcwatch_json(d->svc));
	peers = json_object_new_array();
	for (i = 0; i < sync_engine_n_peers(d->eng); i++) {
		struct sync_peer_status ps;
		struct json_object *p = json_object_new_object();
		uint64_t now = xlb_mono_ns();

		sync_engine_get_peer(d->eng, i, &ps);
		json_object_object_add(p, "node_id", json_object_new_int64(ps.node));
		json_object_object_add(p, "address",
				       json_object_new_string(d->cfg->sync.peers[i].address));
		json_object_object_add(p, "alive", json_object_new_boolean(ps.alive));
		json_object_object_add(p, "ready", json_object_new_boolean(ps.ready));
		if (ps.has_clock_skew)
			json_object_object_add(p, "clock_skew_ms",
					       json_object_new_int64(ps.clock_skew_ms));
		json_object_object_add(p, "snapshot_done",
				       json_object_new_boolean(ps.snapshot_done));
		json_object_object_add(
			p, "last_heard_ms",
			ps.last_heard_ns
				? json_object_new_int64(
					  (int64_t)((now - ps.last_heard_ns) / XLB_NSEC_PER_MSEC))
				: NULL);
		json_object_object_add(
			p, "dead_after_ms",
			json_object_new_uint64(ps.dead_after_ns / XLB_NSEC_PER_MSEC));
		json_object_object_add(p, "rx_epoch", json_object_new_uint64(ps.rx_epoch));
		json_object_object_add(p, "rx_seq", json_object_new_uint64(ps.rx_top));
		json_object_object_add(p, "acked_seq", json_object_new_uint64(ps.acked_seq));
		json_object_object_add(p, "rx_msgs", json_object_new_uint64(ps.rx_msgs));
		json_object_object_add(p, "rx_entries", json_object_new_uint64(ps.rx_entries));
		json_object_object_add(p, "gaps", json_object_new_uint64(ps.gaps));
		json_object_object_add(p, "lost", json_object_new_uint64(ps.lost));

		if (d->svc)
			json_object_object_add(p, "services", svcwatch_peer_json(d->svc, i));
		json_object_array_add(peers, p);
	}
	json_object_object_add(o, "peers", peers);
#define ADD(name, v) json_object_object_add(o, name, json_object_new_uint64(v))
	ADD("fault_dropped", fault_dropped(d->fault));
	ADD("capture_events", d->cap_events);
	ADD("capture_unknown_map", d->cap_unknown_map);
	ADD("capture_lost", d->cap_lost_seen);
	ADD("capture_fault_dropped", sync_capture_fault_dropped(d->cap));
	ADD("capture_repairs", st.capture_repairs);
	ADD("ports_returned", d->ports_returned);
	ADD("ports_return_errors", d->ports_return_errors);
	ADD("reverse_released", d->reverse_released);
	ADD("ports_on_hold", d->hold.n);
	ADD("local_stall_ms", st.local_stall_ns / XLB_NSEC_PER_MSEC);
	{
		struct sync_capture_loss l;
		struct json_object *c = json_object_new_object();

		sync_capture_get_loss(d->cap, &l);
#define CADD(name, v) json_object_object_add(c, name, json_object_new_uint64(v))
		CADD("ringbuf", l.ringbuf);
		CADD("unreadable", l.unreadable);
		CADD("entry_missed", l.unpaired);
		CADD("return_missed", l.stale);
		CADD("other_task", l.foreign);
		CADD("skipped", l.skipped);
		CADD("malformed", l.malformed);
		CADD("unseen", l.unseen);
#undef CADD
		json_object_object_add(c, "write_check", json_object_new_boolean(l.write_check));
		json_object_object_add(o, "capture_loss", c);
	}
	ADD("local_msgs", d->local_msgs);
	ADD("local_refused", d->local_bad);
	ADD("local_lost", d->local_lost);
	ADD("local_updates", st.local_updates);
	ADD("local_deletes", st.local_deletes);
	ADD("local_coalesced", st.local_coalesced);
	ADD("local_rejected", st.local_rejected);
	ADD("tx_msgs", st.tx_msgs);
	ADD("tx_batches", st.tx_batches);
	ADD("tx_entries", st.tx_entries);
	ADD("tx_bytes", st.tx_bytes);
	ADD("tx_errors", st.tx_errors);
	ADD("tx_dropped", ts.tx_dropped);
	ADD("rx_msgs", st.rx_msgs);
	ADD("rx_bytes", st.rx_bytes);
	ADD("rx_dropped", st.rx_dropped);
	ADD("rx_auth_fail", st.rx_auth_fail);
	ADD("rx_duplicate", st.rx_duplicate);
	ADD("rx_stale", st.rx_stale);
	ADD("rx_replayed", st.rx_replayed);
	ADD("rx_node_key_fail", st.rx_node_key_fail);
	ADD("rx_foreign_origin", st.rx_foreign_origin);
	ADD("tombstones_evicted", st.tombstones_evicted);
	ADD("kset_full", st.kset_full);
	ADD("prunes_skipped", st.prunes_skipped);
	ADD("resync_limited", st.resync_limited);
	ADD("tx_entries_lost", st.tx_entries_lost);
	ADD("clock_skew_warnings", st.clock_skew_warnings);
	ADD("rx_not_for_us", st.rx_not_for_us);
	ADD("rx_unknown_origin", st.rx_unknown_origin);
	ADD("applied_updates", st.applied_updates);
	ADD("applied_deletes", st.applied_deletes);
	ADD("apply_skipped", st.apply_skipped);
	ADD("apply_rejected", st.apply_rejected);
	ADD("apply_own_gone", st.apply_own_gone);
	ADD("apply_raced", st.apply_raced);
	ADD("apply_errors", st.apply_errors);
	ADD("resync_requests_sent", st.resync_requests_sent);
	ADD("resync_requests_served", st.resync_requests_served);
	ADD("resync_gone", st.resync_gone);
	ADD("resync_gone_heard", st.resync_gone_heard);
	ADD("snapshots_requested", st.snapshots_requested);
	ADD("snapshots_served", st.snapshots_served);
	ADD("snapshot_entries_sent", st.snapshot_entries_sent);
	ADD("snapshot_entries_applied", st.snapshot_entries_applied);
	ADD("snapshot_resends_asked", st.snapshot_resends_asked);
	ADD("snapshot_chunks_resent", st.snapshot_chunks_resent);
	ADD("snapshot_chunks_dropped", st.snapshot_chunks_dropped);
	ADD("snapshots_gone", st.snapshots_gone);
	ADD("snapshots_abandoned", st.snapshots_abandoned);
	ADD("digests_sent", st.digests_sent);
	ADD("digest_mismatches", st.digest_mismatches);
	ADD("antientropy_deletes", st.antientropy_deletes);
	ADD("tombstones", st.tombstones);
	ADD("services_requests_sent", st.services_requests_sent);
	ADD("services_served", st.services_served);
	ADD("services_received", st.services_received);
	ADD("services_bad", st.services_bad);
	ADD("rx_beacons", st.rx_beacons);
#undef ADD
	rej = json_object_new_object();
	for (i = 1; i < SYNC_E__MAX; i++)
		if (st.rx_by_reason[i])
			json_object_object_add(rej, sync_reason_str((enum sync_reason)i),
					       json_object_new_uint64(st.rx_by_reason[i]));
	json_object_object_add(o, "rx_refused_by_reason", rej);
	return o;
}

struct status_write {
	uv_write_t req;
	uv_pipe_t *client;
	char *data;
};

static void on_client_closed(uv_handle_t *h)
{
	free(h);
}

static void on_status_written(uv_write_t *req, int status)
{
	struct status_write *w = (struct status_write *)req;

	uv_close((uv_handle_t *)w->client, on_client_closed);
	free(w->data);
	free(w);
}

/* Every connection gets the status as one JSON line, then EOF. */
static void on_status_conn(uv_stream_t *srv, int status)
{
	struct syncd *d = srv->data;
	uv_pipe_t *c = malloc(sizeof(*c));
	struct status_write *w;
	struct json_object *o;
	const char *s;
	uv_buf_t b;

	if (!c)
		return;
	uv_pipe_init(&d->loop, c, 0);
	if (status < 0 || uv_accept(srv, (uv_stream_t *)c)) {
		uv_close((uv_handle_t *)c, on_client_closed);
		return;
	}
	w = calloc(1, sizeof(*w));
	o = status_json(d);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!w || asprintf(&w->data, "%s\n", s) < 0) {
		json_object_put(o);
		free(w);
		uv_close((uv_handle_t *)c, on_client_closed);
		return;
	}
	json_object_put(o);
	w->client = c;
	b = uv_buf_init(w->data, (unsigned int)strlen(w->data));
	if (uv_write(&w->req, (uv_stream_t *)c, &b, 1, on_status_written)) {
		free(w->data);
		free(w);
		uv_close((uv_handle_t *)c, on_client_closed);
	}
}

static int open_status_socket(struct syncd *d, char *err, size_t errlen)
{
	const char *path = d->cfg->sync.control_socket;
	int r;

	uv_pipe_init(&d->loop, &d->status_srv, 0);
	d->status_srv.data = d;
	d->status_up = true;
	unlink(path);
	r = uv_pipe_bind(&d->status_srv, path);
	if (!r) {
		chmod(path, 0600);
		r = uv_listen((uv_stream_t *)&d->status_srv, STATUS_BACKLOG, on_status_conn);
	}
	if (r) {
		snprintf(err, errlen, "sync.control_socket %s: %s", path, uv_strerror(r));
		return -1;
	}
	return 0;
}

/* ---- timers and signals ------------------------------------------------- */

#define CAPTURE_CHECK_NS (10 * XLB_NSEC_PER_MSEC)

static void on_tick(uv_timer_t *t)
{
	struct syncd *d = t->data;
	uint32_t next;

	uint64_t now = xlb_mono_ns();

	atomic_store(&d->loop_ns, now); /* the loop runs: beacons go on */
	if (d->hold.n)
		port_hold_release(&d->hold, now, give_port, d);
	/* the loss check costs a dozen bpf() calls: every CAPTURE_CHECK_NS,
	 * not on every 1 ms tick of a busy engine */
	if (now - d->cap_checked_ns >= CAPTURE_CHECK_NS) {
		d->cap_checked_ns = now;
		drain_capture(d);
		check_capture_lost(d);
	}
	next = sync_engine_tick(d->eng, xlb_mono_ns()); /* >= 1 */
	uv_timer_start(&d->tick, on_tick, next, 0);
}

static void on_svc(uv_timer_t *t)
{
	struct syncd *d = t->data;

	svcwatch_tick(d->svc, xlb_mono_ns());
}

static void on_closed_noop(uv_handle_t *h)
{
}

static void stop(struct syncd *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (d->eng)
		sync_engine_flush(d->eng, xlb_mono_ns());
	uv_timer_stop(&d->tick);
	uv_close((uv_handle_t *)&d->tick, on_closed_noop);
	uv_timer_stop(&d->drain);
	uv_close((uv_handle_t *)&d->drain, on_closed_noop);
	uv_timer_stop(&d->svc_timer);
	uv_close((uv_handle_t *)&d->svc_timer, on_closed_noop);
	if (d->cap_up)
		uv_close((uv_handle_t *)&d->cap_poll, on_closed_noop);
	if (d->follow_up)
		uv_close((uv_handle_t *)&d->follow_poll, on_closed_noop);
	if (d->local_up)
		uv_close((uv_handle_t *)&d->local_poll, on_closed_noop);
	if (d->status_up)
		uv_close((uv_handle_t *)&d->status_srv, on_closed_noop);
	uv_close((uv_handle_t *)&d->sig_term, on_closed_noop);
	uv_close((uv_handle_t *)&d->sig_int, on_closed_noop);
	uv_close((uv_handle_t *)&d->sig_usr1, on_closed_noop);
	uv_close((uv_handle_t *)&d->sig_usr2, on_closed_noop);
	beacon_stop(d->beacon); /* it sends on the transport */
	d->beacon = NULL;
	transport_close(d->tr);
	d->tr = NULL;
}

/* Fault injection for the cluster tests (fault.h): SIGUSR1 toggles it;
 * without XLB_SYNCD_FAULT_DROP_PCT in the environment it is ignored. */
static void on_usr1(uv_signal_t *s, int signum)
{
	struct syncd *d = s->data;

	fault_toggle(d->fault);
}

/* Fault injection (XLB_SYNCD_FAULT_STALL_MS): the loop held up. */
static void on_usr2(uv_signal_t *s, int signum)
{
	struct syncd *d = s->data;
	struct timespec ts;

	(void)signum;
	if (!d->stall_ms)
		return;
	log_warn("fault injection: main loop held up for %u ms", d->stall_ms);
	ts.tv_sec = d->stall_ms / 1000;
	ts.tv_nsec = (long)(d->stall_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct syncd *d = s->data;

	log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	stop(d);
}

/* ---- set-up ------------------------------------------------------------- */

/* A secret file (the config key what, at path) into buf: its length with
 * a trailing newline left out, or -1 with one line in err. Warns when
 * others than its owner may read it. */
static ssize_t read_secret(const char *what, const char *path, void *buf, size_t cap, char *err,
			   size_t errlen)
{
	const char *b = buf;
	struct stat sb;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
		log_warn("%s %s: readable by group or others (mode %03o)", what, path,
			 (unsigned int)(sb.st_mode & 0777));
	n = read(fd, buf, cap);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	return n;
}

static int read_key_file(struct syncd *d, char *err, size_t errlen)
{
	const char *path = d->cfg->sync.key_file;
	uint8_t buf[SYNC_AUTH_KEY_MAX + 2];
	ssize_t n;

	if (!path[0])
		return 0;
	n = read_secret("sync.key_file", path, buf, sizeof(buf), err, errlen);
	if (n < 0)
		return -1;
	if (n < SYNC_AUTH_KEY_MIN || n > SYNC_AUTH_KEY_MAX) {
		snprintf(err, errlen, "sync.key_file %s: the key must be %d to %d bytes, not %zd",
			 path, SYNC_AUTH_KEY_MIN, SYNC_AUTH_KEY_MAX, n);
		return -1;
	}
	memcpy(d->ecfg.auth_key, buf, (size_t)n);
	d->ecfg.auth_key_len = (size_t)n;
	sodium_memzero(buf, sizeof(buf));
	if (sync_cipher_parse(d->cfg->sync.cipher, &d->ecfg.cipher)) {
		snprintf(err, errlen, "sync.cipher \"%s\": not a cipher syncd knows",
			 d->cfg->sync.cipher);
		return -1;
	}
	if (!sync_cipher_available(d->ecfg.cipher)) {
		snprintf(err, errlen,
			 "sync.cipher %s: this CPU has no AES-NI, which libsodium's AES-256-GCM "
			 "needs (chacha20-poly1305 runs on any CPU; every node must use the same)",
			 d->cfg->sync.cipher);
		return -1;
	}
	return 0;
}

/*
 * sync.node_key_file: this node's X25519 secret key, 64 hex digits (what
 * `syncd keygen` writes). The peers' public keys come from the config.
 */
static int read_node_key(struct syncd *d, uint8_t (*pks)[SYNC_NODE_KEY_LEN], char *err,
			 size_t errlen)
{
	const struct cfg_sync *s = &d->cfg->sync;
	const char *path = s->node_key_file;
	char hex[2 * SYNC_NODE_KEY_LEN + 4];
	size_t n = 0, i;
	ssize_t r;

	if (!path[0])
		return 0;
	r = read_secret("sync.node_key_file", path, hex, sizeof(hex), err, errlen);
	if (r < 0)
		return -1;
	if (r != 2 * SYNC_NODE_KEY_LEN ||
	    sodium_hex2bin(d->ecfg.node_sk, sizeof(d->ecfg.node_sk), hex, (size_t)r, NULL, &n,
			   NULL) ||
	    n != SYNC_NODE_KEY_LEN) {
		sodium_memzero(hex, sizeof(hex));
		snprintf(err, errlen,
			 "sync.node_key_file %s: expected %d hexadecimal digits (syncd keygen)",
			 path, 2 * SYNC_NODE_KEY_LEN);
		return -1;
	}
	sodium_memzero(hex, sizeof(hex));
	for (i = 0; i < s->n_peers; i++)
		memcpy(pks[i], s->peers[i].public_key, SYNC_NODE_KEY_LEN);
	d->ecfg.node_keys = true;
	return 0;
}

/* `syncd keygen FILE`: a new node key pair; the secret key into FILE
 * (created 0600, never overwritten), the public key on stdout, for the
 * peers' sync.peers[].public_key. */
static int keygen(const char *path)
{
	uint8_t sk[SYNC_NODE_KEY_LEN], pk[SYNC_NODE_KEY_LEN];
	char hex[2 * SYNC_NODE_KEY_LEN + 1];
	int fd;

	if (sodium_init() < 0) {
		fprintf(stderr, "syncd keygen: libsodium cannot start\n");
		return 1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "syncd keygen: %s: %s (an existing key is never replaced)\n", path,
			strerror(errno));
		return 1;
	}
	randombytes_buf(sk, sizeof(sk));
	sync_node_public_key(sk, pk);
	sodium_bin2hex(hex, sizeof(hex), sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	if (write(fd, hex, 2 * SYNC_NODE_KEY_LEN) != 2 * SYNC_NODE_KEY_LEN ||
	    write(fd, "\n", 1) != 1 || fsync(fd) || close(fd)) {
		fprintf(stderr, "syncd keygen: %s: %s\n", path, strerror(errno));
		sodium_memzero(hex, sizeof(hex));
		unlink(path);
		return 1;
	}
	sodium_memzero(hex, sizeof(hex));
	sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
	printf("public_key: %s\n", hex);
	return 0;
}

static struct sync_field cfield(const struct cfg_sync_field *f)
{
	return (struct sync_field){ f->off, f->size };
}

static int build_specs(struct syncd *d, char *err, size_t errlen)
{
	const struct cfg_sync *s = &d->cfg->sync;
	struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	size_t i;

	for (i = 0; i < s->n_maps; i++) {
		const struct cfg_sync_map *o = &s->map_opts[i];
		const struct store_bpf_map *m = &d->store.maps[i];
		struct sync_mapspec *ms = &d->specs[i];
		const char *why = NULL;
		int r;

		if (o->builtin && !strcmp(s->maps[i], XLB_MAP_SESSIONS)) {
			r = sync_mapspec_xdplb_sessions(ms);
			d->sessions_map = (int)i;
			d->backend_field[i] =
				(struct sync_field)SYNC_FIELD(struct xlb_session, backend_id);
		} else if (o->builtin && !strcmp(s->maps[i], XLB_MAP_REVERSE)) {
			r = sync_mapspec_xdplb_reverse(ms);
			d->reverse_map = (int)i;
		} else {
			r = sync_mapspec_init(ms, s->maps[i], m->key_size, m->value_size,
					      cfield(&o->timestamp), cfield(&o->owner),
					      cfield(&o->version), &lim, &why);
			d->backend_field[i] = cfield(&o->backend);
			if (!r && d->backend_field[i].size &&
			    d->backend_field[i].off + d->backend_field[i].size > m->value_size)
				why = "backend field outside the value", r = -EINVAL;
		}
		if (r) {
			snprintf(err, errlen, "%s: sync.maps[%zu] %s: %s", d->cfg->path, i,
				 s->maps[i], why ? why : strerror(-r));
			return -1;
		}
		if (ms->key_size != m->key_size || ms->value_size != m->value_size) {
			snprintf(err, errlen,
				 "map %s: pinned map has key %u / value %u bytes, "
				 "syncd expects %u / %u (data plane and syncd from different "
				 "builds?)",
				 s->maps[i], m->key_size, m->value_size, ms->key_size,
				 ms->value_size);
			return -1;
		}
	}
	return 0;
}

static int lock_node(struct syncd *d, char *err, size_t errlen)
{
	char path[CFG_PATH_MAX + 32];

	mkdir(SYNCD_RUN_DIR, 0755);
	snprintf(path, sizeof(path), SYNCD_RUN_DIR "/%s.syncd.lock", d->cfg->node_name);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		snprintf(err, errlen, "cannot open lock file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "another syncd is running for node %s (lock %s held)",
			 d->cfg->node_name, path);
		return -1;
	}
	return 0;
}

static void on_transport_rx(void *arg, const uint8_t *buf, size_t len)
{
	struct syncd *d = arg;

	size_t q0 = sync_engine_pending(d->eng, NULL);

	sync_engine_rx(d->eng, buf, len, xlb_mono_ns());
	/* what applying it published (a released reverse entry) leaves now;
	 * replies are sent as they are made */
	if (sync_engine_pending(d->eng, NULL) > q0)
		sync_engine_flush(d->eng, xlb_mono_ns());
}

static int setup(struct syncd *d, char *err, size_t errlen)
{
	static const struct sync_io_ops io = {
		.send = io_send,
		.yield = io_yield,
		.peer_state = io_peer_state, /* .ready: the engine logs it */
		.peer_epoch = io_peer_epoch,
	};
	const struct cfg_sync *s = &d->cfg->sync;
	const char *names[CFG_SYNC_MAPS_MAX];
	const char *connect[CFG_MAX_PEERS];
	uint32_t peers[CFG_MAX_PEERS];
	uint64_t floors[CFG_MAX_PEERS], now_rt;
	uint8_t pks[CFG_MAX_PEERS][SYNC_NODE_KEY_LEN];
	struct sync_capture_map cm[CFG_SYNC_MAPS_MAX];
	char path[CFG_PATH_MAX + 32];
	size_t i, n_connect = 0;
	transport_rx_fn rx;
	struct timespec rt;
	void *rx_arg;

	if (lock_node(d, err, errlen) < 0)
		return -1;
	for (i = 0; i < s->n_maps; i++)
		names[i] = s->maps[i];
	if (store_bpf_open(&d->store, d->cfg->pin_dir, names, s->n_maps, err, errlen) < 0)
		return -1;
	if (build_specs(d, err, errlen) < 0)
		return -1;
	/* peers' entries applied in batches, by a syscall program per map */
	for (i = 0; i < s->n_maps; i++) {
		char why[256];

		if (store_bpf_batch_init(&d->store, (unsigned int)i, d->specs[i].version.off,
					 d->specs[i].version.size, true, why, sizeof(why)) < 0)
			log_warn("%s (peers' entries are applied key by key)", why);
	}
	if (read_key_file(d, err, errlen) < 0 || read_node_key(d, pks, err, errlen) < 0)
		return -1;
	d->ecfg.peer_pk = d->ecfg.node_keys ? (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks : NULL;
	if (d->ecfg.auth_key_len && !d->ecfg.node_keys)
		log_warn("sync.node_key_file not set: a node that holds the cluster key can speak "
			 "for any node (per-node keys: syncd keygen, sync.peers[].public_key)");
	if (!d->ecfg.auth_key_len && !d->cfg->sync.auth_off) {
		/* the config refuses this when sync is enabled; syncd run on a
		 * config with sync disabled gets the same rule */
		snprintf(err, errlen,
			 "sync.key_file: not set: peers' messages must be authenticated (or say "
			 "sync.auth: off)");
		return -1;
	}
	if (!d->ecfg.auth_key_len)
		log_warn("sync.auth: off: messages between nodes are neither authenticated nor "
			 "encrypted; anyone who reaches %s can write this node's sessions",
			 d->cfg->sync.listen);
	/* sync.nice: heartbeats and the stream wait less behind the node's
	 * other work (0: the priority syncd was started with) */
	if (d->cfg->sync.nice && setpriority(PRIO_PROCESS, 0, d->cfg->sync.nice) < 0)
		log_warn("sync.nice %d: cannot set this process's priority: %s (heartbeats may "
			 "wait behind other work under load)",
			 d->cfg->sync.nice, strerror(errno));

	for (i = 0; i < d->store.n && !d->backend_field[i].size; i++)
		;
	if (i < d->store.n && svc_backends_open(&d->backends, d->cfg->pin_dir, err, errlen) < 0)
		return -1; /* a watched map names backends: they must be checked */

	snprintf(path, sizeof(path), "%s/%s", d->cfg->pin_dir, XLB_MAP_NODE_STATE);
	d->node_state_fd = bpf_obj_get(path);
	if (d->node_state_fd < 0)
		log_warn("%s: %s: dead peers' sessions will not be adopted", path, strerror(errno));
	if (d->sessions_map >= 0 && d->cfg->snat_family == AF_INET) {
		snprintf(path, sizeof(path), "%s/%s", d->cfg->pin_dir, XLB_MAP_PORT_POOL);
		d->port_pool_fd = bpf_obj_get(path);
		if (d->port_pool_fd < 0)
			log_warn("%s: %s: SNAT ports of sessions deleted by peers will not return "
				 "to this node's pool",
				 path, strerror(errno));
		else if (port_hold_init(&d->hold, d->cfg->snat_port_hold_s
							  ? (uint32_t)d->cfg->snat_port_max -
								    d->cfg->snat_port_min + 1
							  : 0) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}

	/* this incarnation's epoch: never below the last one, whatever the
	 * clock did meanwhile; written down before any message leaves */
	if (sync_state_load(s->state_file, &d->state, err, errlen) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &rt);
	now_rt = (uint64_t)rt.tv_sec * XLB_NSEC_PER_SEC + (uint64_t)rt.tv_nsec;
	d->ecfg.epoch = sync_state_next_epoch(&d->state, now_rt);
	if (d->state.epoch && now_rt <= d->state.epoch)
		log_warn("sync.state_file %s: the clock (%" PRIu64 ") is behind the last "
			 "incarnation's epoch (%" PRIu64 "): this one is %" PRIu64
			 " so that peers take it as newer",
			 s->state_file, now_rt, d->state.epoch, d->ecfg.epoch);
	d->state.epoch = d->ecfg.epoch;
	if (sync_state_save(s->state_file, &d->state, err, errlen) < 0)
		return -1;
	/* the SNAT addresses and ports peers' entries may name */
	d->snat.family = d->cfg->snat_family == AF_INET6  ? XLB_AF_INET6
			 : d->cfg->snat_family == AF_INET ? XLB_AF_INET
							  : 0;
	d->snat.addr = d->cfg->snat_addr;
	d->snat.range[0].min = d->cfg->snat_port_min;
	d->snat.range[0].max = d->cfg->snat_port_max;
	d->snat.n = 1;
	for (i = 0; i < s->n_peers && d->snat.n < SVC_SNAT_RANGES_MAX; i++) {
		d->snat.range[d->snat.n].min = s->peers[i].snat_port_min;
		d->snat.range[d->snat.n].max = s->peers[i].snat_port_max;
		d->snat.n++;
	}
	for (i = 0; i < s->n_peers; i++) {
		peers[i] = s->peers[i].node_id;
		floors[i] = sync_state_peer_epoch(&d->state, peers[i]);
		if (peers[i] > d->cfg->node_id)
			connect[n_connect++] = s->peers[i].address;
	}
	d->ecfg.node_id = d->cfg->node_id;
	d->ecfg.node_name = d->cfg->node_name;
	d->ecfg.peer_epoch_floor = floors;
	d->ecfg.n_maps = s->n_maps;
	d->ecfg.maps = d->specs;
	d->ecfg.n_peers = s->n_peers;
	d->ecfg.peers = peers;
	d->ecfg.lim = (struct sync_limits)SYNC_LIMITS_DEFAULT;
	d->ecfg.heartbeat_ms = s->heartbeat_ms;
	d->ecfg.dead_after_ms = s->dead_after_ms;
	/* the config's 0 turns anti-entropy off */
	d->ecfg.antientropy_ms =
		s->antientropy_ms && !d->no_repair ? s->antientropy_ms : SYNC_ANTIENTROPY_OFF;
	d->ecfg.digest_settle_ms = s->digest_settle_ms;
	d->ecfg.validate = validate;
	d->ecfg.validate_arg = d;
	d->ecfg.replaced = on_replaced;
	d->ecfg.replaced_arg = d;
	sync_engine_cfg_defaults(&d->ecfg);
	d->eng = sync_engine_new(&d->ecfg, &store_bpf_ops, &d->store, &io, d, err, errlen);
	d->ecfg.peer_epoch_floor = NULL; /* floors[] was copied */
	d->ecfg.peer_pk = NULL;
	sodium_memzero(pks, sizeof(pks));
	sodium_memzero(d->ecfg.node_sk, sizeof(d->ecfg.node_sk));
	if (!d->eng)
		return -1;

	/* messages from peers go to on_transport_rx, through the test-only
	 * fault injection if the environment asks for it */
	rx = on_transport_rx;
	rx_arg = d;
	fault_wrap(d->fault, &rx, &rx_arg);
	d->tr = transport_open(&d->loop, s->listen, connect, n_connect, d->ecfg.lim.max_msg, rx,
			       rx_arg, err, errlen);
	if (!d->tr)
		return -1;

	for (i = 0; i < s->n_maps; i++) {
		cm[i].name = s->maps[i];
		cm[i].id = d->store.maps[i].id;
		cm[i].key_size = d->store.maps[i].key_size;
		cm[i].value_size = d->store.maps[i].value_size;
		/* syncd's batch writes of peers' entries are not captured */
		store_bpf_self_range(&d->store, (unsigned int)i, &cm[i].self_lo, &cm[i].self_hi);
	}
	d->cap = sync_capture_open(d->mode, d->cfg->pin_dir, cm, s->n_maps, err, errlen);
	if (!d->cap)
		return -1;
	log_info("capture: %s (requested %s)", sync_capture_mode_str(sync_capture_mode(d->cap)),
		 sync_capture_mode_str(d->mode));
	d->mode = sync_capture_mode(d->cap);
	d->cap_lost_seen = sync_capture_lost(d->cap);

	if (uv_poll_init(&d->loop, &d->cap_poll, sync_capture_fd(d->cap))) {
		snprintf(err, errlen, "libuv: cannot poll the capture ring buffer");
		return -1;
	}
	d->cap_up = true;
	d->cap_poll.data = d;
	uv_poll_start(&d->cap_poll, UV_READABLE, on_capture);
	uv_timer_start(&d->drain, on_drain, CAPTURE_DRAIN_MS, CAPTURE_DRAIN_MS);
	d->follow_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->follow_fd < 0 || uv_poll_init(&d->loop, &d->follow_poll, d->follow_fd)) {
		snprintf(err, errlen, "cannot make the follow-up drain timer: %s", strerror(errno));
		return -1;
	}
	d->follow_up = true;
	d->follow_poll.data = d;
	uv_poll_start(&d->follow_poll, UV_READABLE, on_follow);

	if (open_local_socket(d, err, errlen) < 0)
		return -1;
	uv_poll_init(&d->loop, &d->local_poll, d->local_fd);
	d->local_up = true;
	d->local_poll.data = d;
	uv_poll_start(&d->local_poll, UV_READABLE, on_local);

	if (open_status_socket(d, err, errlen) < 0)
		return -1;

	if (d->backends.fd >= 0) {
		d->svc = svcwatch_new(d->cfg->node_name, &d->backends, d->eng, &store_bpf_ops,
				      &d->store, d->sessions_map);
		if (!d->svc) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		/* the first heartbeat announces this node's services */
		svcwatch_tick(d->svc, xlb_mono_ns());
		uv_timer_start(&d->svc_timer, on_svc, SVCWATCH_PERIOD_MS, SVCWATCH_PERIOD_MS);
	}
	sync_engine_start(d->eng, xlb_mono_ns());
	uv_timer_start(&d->tick, on_tick, FIRST_TICK_MS, 0);
	atomic_store(&d->loop_ns, xlb_mono_ns());
	if (!d->no_beacon) {
		d->beacon = beacon_start(d->eng, d->tr, d->ecfg.heartbeat_ms,
					 BEACON_STALL_FACTOR * d->ecfg.dead_after_ms, &d->loop_ns,
					 err, errlen);
		if (!d->beacon)
			return -1;
	}
	for (i = 0; i < s->n_maps; i++)
		log_info("watching map %s (id %u, key %u, value %u bytes)", s->maps[i],
			 d->store.maps[i].id, d->store.maps[i].key_size,
			 d->store.maps[i].value_size);
	for (i = 0; i < s->n_peers; i++)
		log_info("peer node %u at %s (%s)", s->peers[i].node_id, s->peers[i].address,
			 s->peers[i].node_id > d->cfg->node_id ? "we connect" : "it connects");
	log_info("listening on %s, %zu peer(s), messages %s, not ready until peers' snapshots "
		 "are in",
		 s->listen, s->n_peers,
		 !d->ecfg.auth_key_len		      ? "in clear, not authenticated"
		 : d->ecfg.cipher == SYNC_CIPHER_NONE ? "authenticated (HMAC-SHA256), not encrypted"
		 : d->ecfg.cipher == SYNC_CIPHER_AES256_GCM ? "encrypted (AES-256-GCM)"
							    : "encrypted (ChaCha20-Poly1305)");
	return 0;
}

static void teardown(struct syncd *d)
{
	sync_capture_close(d->cap); /* turns inline capture off */
	d->cap = NULL;
	if (d->local_fd >= 0) {
		close(d->local_fd);
		unlink(d->cfg->sync.local_socket);
	}
	if (d->status_up)
		unlink(d->cfg->sync.control_socket);
	svcwatch_free(d->svc);
	d->svc = NULL;
	if (d->eng)
		sync_engine_free(d->eng);
	store_bpf_close(&d->store);
	svc_backends_close(&d->backends);
	if (d->node_state_fd >= 0)
		close(d->node_state_fd);
	if (d->port_pool_fd >= 0)
		close(d->port_pool_fd);
	port_hold_free(&d->hold);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->follow_fd >= 0)
		close(d->follow_fd);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: syncd -c FILE [--capture auto|kprobe|fentry|inline] [-v] [--check]\n"
		   "       syncd status -c FILE      print this node's sync status (JSON)\n"
		   "       syncd keygen FILE         a node key pair (sync.node_key_file): the "
		   "secret into FILE, the public key printed\n"
		   "  -c, --config FILE   the node's config file (the one lbd reads)\n"
		   "      --capture MODE  map-change capture (default: sync.capture, auto)\n"
		   "      --check         check the config and exit\n"
		   "  -v, --verbose       debug logs\n");
}

static int print_status(const struct node_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, cfg->sync.control_socket, strlen(cfg->sync.control_socket) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "syncd: %s: cannot connect: %s (is syncd running for node %s?)\n",
			cfg->sync.control_socket, strerror(errno), cfg->node_name);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "capture", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct syncd *d;
	const char *cfg_path = NULL, *mode = NULL;
	bool check = false, verbose = false, status = false;
	char err[1024];
	int c;

	if (argc > 1 && !strcmp(argv[1], "keygen")) {
		if (argc != 3) {
			fprintf(stderr,
				"syncd keygen: one argument, the secret key file to create\n");
			return 2;
		}
		return keygen(argv[2]);
	}
	if (argc > 1 && !strcmp(argv[1], "status")) {
		status = true;
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "syncd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!cfg_path) {
		fprintf(stderr, "syncd: -c FILE is required\n");
		usage(stderr);
		return 2;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->cfg = calloc(1, sizeof(*d->cfg)))) {
		fprintf(stderr, "syncd: out of memory\n");
		return 1;
	}
	d->local_fd = d->lock_fd = d->node_state_fd = d->port_pool_fd = -1;
	d->backends.fd = -1;
	d->sessions_map = d->reverse_map = -1;
	d->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(LOG_RL_SECONDS, LOG_RL_LINES);
	if (cfg_load_file(cfg_path, d->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "syncd: %s\n", err);
		return 2;
	}
	if (status)
		return print_status(d->cfg);
	if (sync_capture_mode_parse(mode ? mode : d->cfg->sync.capture, &d->mode) < 0) {
		fprintf(stderr,
			"syncd: --capture \"%s\": not one of auto, kprobe, fentry, inline\n", mode);
		return 2;
	}
	if (!d->cfg->sync.enabled) {
		fprintf(stderr, "syncd: %s: sync.enabled is false: nothing to do\n", cfg_path);
		return 2;
	}
	if (!d->cfg->sync.n_peers) {
		fprintf(stderr, "syncd: %s: sync.peers is empty: nothing to replicate to\n",
			cfg_path);
		return 2;
	}
	if (check) {
		printf("%s: ok\n", cfg_path);
		return 0;
	}
	xlb_log_init("syncd", d->cfg->node_name, verbose ? XLB_LOG_DEBUG : XLB_LOG_INFO);
	xlb_log_libbpf();
	if (uv_loop_init(&d->loop)) {
		fprintf(stderr, "syncd: libuv loop init failed\n");
		return 1;
	}
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	d->sig_term.data = d->sig_int.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_init(&d->loop, &d->sig_usr1);
	d->sig_usr1.data = d;
	uv_signal_start(&d->sig_usr1, on_usr1, SIGUSR1);
	uv_signal_init(&d->loop, &d->sig_usr2);
	d->sig_usr2.data = d;
	uv_signal_start(&d->sig_usr2, on_usr2, SIGUSR2);
	d->fault = fault_from_env();
	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(&d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_init(&d->loop, &d->drain);
	d->follow_fd = -1;
	uv_timer_init(&d->loop, &d->svc_timer);
	d->svc_timer.data = d;
	d->drain.data = d;

	if (capture_fault_from_env(d) < 0) {
		d->exit_code = 2;
		stop(d);
	} else if (setup(d, err, sizeof(err)) < 0) {
		log_err("cannot start: %s", err);
		d->exit_code = 1;
		stop(d);
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	teardown(d);
	uv_loop_close(&d->loop);
	if (!d->exit_code)
		log_info("stopped");
	c = d->exit_code;
	fault_free(d->fault);
	free(d->cfg);
	free(d);
	return c;
}
