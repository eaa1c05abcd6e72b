// SPDX-License-Identifier: BSD-2-Clause
/*
 * The replication engine against itself: a simulated cluster of engines,
 * each with in-memory maps (sync_store_ops over a small open-addressing
 * table) and its own clock (a large per-node offset, so that timestamp
 * rebasing is visible), joined by an in-memory transport that can lose a
 * given fraction of messages, reorder them (random delays), partition
 * nodes and drop chosen message types. Time is simulated: run() advances
 * it in 1 ms steps, delivering due messages, firing flush timers and
 * ticking engines when they asked to be ticked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>
#include <xxhash.h>

#include "auth.h"
#include "codec.h"
#include "engine.h"
#include "log.h"

/* ------------------------------------------------------------ test maps */

/* map 0 "sessions": owner, version and timestamp, like xdplb's sessions */
struct tkey {
	uint32_t a, b, c, d;
};

struct tval {
	uint64_t ts;
	uint32_t owner;
	uint32_t version;
	uint8_t payload[16];
};

/* map 1 "rev": no owner, version or timestamp (like the reverse map) */
struct rkey {
	uint64_t k;
};

struct rval {
	uint64_t v;
};

#define MS    1000000ull
#define NMAPS 2

static struct sync_mapspec specs[NMAPS];

static void specs_init(void)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;

	assert_int_equal(sync_mapspec_init(&specs[0], "sessions", sizeof(struct tkey),
					   sizeof(struct tval), SYNC_FIELD(struct tval, ts),
					   SYNC_FIELD(struct tval, owner),
					   SYNC_FIELD(struct tval, version), &lim, NULL),
			 0);
	assert_int_equal(sync_mapspec_init(&specs[1], "rev", sizeof(struct rkey),
					   sizeof(struct rval), SYNC_FIELD_NONE, SYNC_FIELD_NONE,
					   SYNC_FIELD_NONE, &lim, NULL),
			 0);
}

/* -------------------------------------------------------- in-memory store */

#define SLOTS 4096 /* per map; a power of two */

struct slot {
	uint8_t state; /* 0 empty, 1 used, 2 deleted */
	uint8_t key[32];
	uint8_t val[64];
};

struct mstore {
	struct slot *m[NMAPS];
	size_t count[NMAPS];
	uint64_t writes;  /* update + remove calls that changed something */
	int fail_updates; /* test hook: -E2BIG */
	uint64_t batch_calls;
	/* test hook: the data plane writes between a batch's lookup and its
	 * writes */
	void (*between)(struct mstore *s, unsigned int map, struct sync_store_io *io, size_t n);
};

static uint32_t khash(const void *k, size_t n)
{
	const uint8_t *p = k;
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static struct slot *ms_find(struct mstore *s, unsigned int map, const void *key, bool for_insert)
{
	size_t ks = specs[map].key_size, i, idx;
	struct slot *free_slot = NULL;

	idx = khash(key, ks) & (SLOTS - 1);
	for (i = 0; i < SLOTS; i++, idx = (idx + 1) & (SLOTS - 1)) {
		struct slot *sl = &s->m[map][idx];

		if (sl->state == 0)
			return for_insert ? (free_slot ? free_slot : sl) : NULL;
		if (sl->state == 2) {
			if (!free_slot)
				free_slot = sl;
			continue;
		}
		if (!memcmp(sl->key, key, ks))
			return sl;
	}
	return for_insert ? free_slot : NULL;
}

static int ms_lookup(void *ctx, unsigned int map, const void *key, void *value)
{
	struct slot *sl;

	assert_true(map < NMAPS);
	sl = ms_find(ctx, map, key, false);
	if (!sl)
		return -ENOENT;
	memcpy(value, sl->val, specs[map].value_size);
	return 0;
}

static int ms_update(void *ctx, unsigned int map, const void *key, const void *value)
{
	struct mstore *s = ctx;
	struct slot *sl;

	assert_true(map < NMAPS);
	if (s->fail_updates)
		return -E2BIG;
	sl = ms_find(s, map, key, false);
	if (!sl) {
		sl = ms_find(s, map, key, true);
		if (!sl)
			return -E2BIG;
		sl->state = 1;
		memcpy(sl->key, key, specs[map].key_size);
		s->count[map]++;
	}
	memcpy(sl->val, value, specs[map].value_size);
	s->writes++;
	return 0;
}

static int ms_remove(void *ctx, unsigned int map, const void *key, void *old_value)
{
	struct mstore *s = ctx;
	struct slot *sl;

	assert_true(map < NMAPS);
	sl = ms_find(s, map, key, false);
	if (!sl)
		return -ENOENT;
	if (old_value)
		memcpy(old_value, sl->val, specs[map].value_size);
	sl->state = 2;
	s->count[map]--;
	s->writes++;
	return 0;
}

/* Slot order: stable while the map does not change; tolerant of changes
 * between calls (the cursor is a slot index). */
static int ms_walk(void *ctx, unsigned int map, struct sync_cursor *cur, unsigned int max,
		   sync_walk_fn fn, void *arg)
{
	struct mstore *s = ctx;
	int n = 0;

	assert_true(map < NMAPS);
	cur->started = 1;
	while (cur->pos < SLOTS && (unsigned int)n < max) {
		struct slot *sl = &s->m[map][cur->pos++];

		if (sl->state != 1)
			continue;
		n++;
		if (fn(arg, sl->key, sl->val))
			break;
	}
	if (cur->pos >= SLOTS)
		cur->done = 1;
	return n;
}

static const struct sync_store_ops mstore_ops = {
	.lookup = ms_lookup,
	.update = ms_update,
	.remove = ms_remove,
	.walk = ms_walk,
};

/* The batch calls, as store_bpf makes them: a lookup of many keys, then
 * writes that compare-and-set on presence and version. */
static int ms_lookup_many(void *ctx, unsigned int map, struct sync_store_io *io, size_t n)
{
	struct mstore *s = ctx;
	size_t i;

	s->batch_calls++;
	for (i = 0; i < n; i++)
		io[i].found = ms_lookup(ctx, map, io[i].key, io[i].value) == 0;
	return 0;
}

static int ms_write_many(void *ctx, unsigned int map, struct sync_store_io *io, size_t n)
{
	struct mstore *s = ctx;
	uint8_t cur[sizeof(((struct slot *)0)->val)];
	size_t i;

	s->batch_calls++;
	if (s->between)
		s->between(s, map, io, n);
	for (i = 0; i < n; i++) {
		bool found = ms_lookup(ctx, map, io[i].key, cur) == 0;

		if (found != io[i].found ||
		    (found && sync_mapspec_has_version(&specs[map]) &&
		     sync_mapspec_version(&specs[map], cur) != io[i].version)) {
			io[i].result = -EAGAIN;
			continue;
		}
		io[i].result = io[i].op == SYNC_STORE_WRITE
				       ? ms_update(ctx, map, io[i].key, io[i].value)
				       : ms_remove(ctx, map, io[i].key, io[i].value);
	}
	return 0;
}

static const struct sync_store_ops mstore_batch_ops = {
	.lookup = ms_lookup,
	.update = ms_update,
	.remove = ms_remove,
	.walk = ms_walk,
	.lookup_many = ms_lookup_many,
	.write_many = ms_write_many,
};

/* the store the cluster's engines use: each test runs with both */
static const struct sync_store_ops *store_ops = &mstore_ops;

static void mstore_init(struct mstore *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NMAPS; i++) {
		s->m[i] = calloc(SLOTS, sizeof(struct slot));
		assert_non_null(s->m[i]);
	}
}

static void mstore_clear(struct mstore *s)
{
	unsigned int i;

	for (i = 0; i < NMAPS; i++) {
		memset(s->m[i], 0, SLOTS * sizeof(struct slot));
		s->count[i] = 0;
	}
}

static void mstore_free(struct mstore *s)
{
	unsigned int i;

	for (i = 0; i < NMAPS; i++)
		free(s->m[i]);
}

/* ------------------------------------------------------------- cluster */

#define MAXN 3

struct tmsg {
	struct tmsg *next;
	int from, to;
	uint64_t at;
	size_t len;
	uint8_t data[];
};

struct node {
	int idx;
	uint32_t id;
	char name[16];
	uint64_t epoch;
	uint64_t clock_off; /* node clock = sim time + offset */
	struct sync_engine *e;
	struct mstore store;
	uint64_t flush_at; /* 0: no flush timer armed */
	uint64_t tick_at;
	bool up;
	uint64_t stalled_until; /* its loop is held up: no tick, rx or flush */
	bool beacons;		/* ... but its beacon thread sends */
	uint64_t beacon_at;
	int ready_calls;
	int yields;	    /* io.yield calls */
	uint32_t yield_put; /* sessions put from inside yield, from key ... */
	int alive_calls, dead_calls;
	uint32_t last_state_node;
	const uint64_t *epoch_floor; /* given to the engine at start */
	int64_t vskew;		     /* node_vclock(): its clock's skew, ns */
	uint8_t sk[SYNC_NODE_KEY_LEN], pk[SYNC_NODE_KEY_LEN]; /* per-node keys */
	uint32_t epoch_node;				      /* last io.peer_epoch call: */
	uint64_t epoch_heard;
	bool reject_ee; /* validate: refuse payload[0] == 0xEE */
	int validate_refused;
	int replaced_calls, removed_calls;  /* the replaced callback */
	uint8_t replaced_old, replaced_new; /* payload[0] of its last call */
};

struct cluster {
	int n;
	struct node nodes[MAXN];
	uint64_t now;	/* simulated time, ns */
	struct tmsg *q; /* by delivery time */
	unsigned int loss_pct;
	uint64_t jitter_ns;   /* random extra delay: reordering */
	bool cut[MAXN][MAXN]; /* partition: no delivery from i to j */
	uint32_t drop_types;  /* bitmask of message types always dropped */
	uint64_t sent, dropped, delivered;
	uint64_t sent_by_type[16];
	/* snapshot flow control: node 0's chunks against node 1's acks */
	uint64_t snap_id;
	uint32_t snap_acked, snap_inflight_max;
	/* capture: a copy of the last BATCH node 0 sent */
	uint8_t last_batch[65536];
	uint8_t last_hb[4096], last_req[4096]; /* n1's last heartbeat, n2's
						* last snapshot request to n1, as sent */
	size_t last_hb_len, last_req_len;
	size_t last_batch_len;
	struct sync_engine_cfg base;
};

static struct cluster C;
static uint64_t rng = 0x853c49e6748fea9bull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static uint64_t node_now(const struct node *nd)
{
	return C.now + nd->clock_off;
}

/* The harness reads what the engines send: with a cipher it opens the
 * frames first, as a node of the cluster would. */
static struct sync_seal tap;
static uint8_t tap_buf[64 * 1024];

static void tap_open(const uint8_t **buf, size_t *len)
{
	size_t plen;
	uint32_t sender;

	if (C.base.cipher == SYNC_CIPHER_NONE)
		return;
	if (!tap.cipher)
		assert_int_equal(sync_seal_init(&tap, C.base.cipher, 0xffff, C.base.auth_key,
						C.base.auth_key_len),
				 0);
	if (sync_open(&tap, *buf, *len, tap_buf, sizeof(tap_buf), &plen, &sender))
		return;
	*buf = tap_buf;
	*len = plen;
}

static int msg_type(const uint8_t *buf, size_t len, uint32_t *dest)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_msg m;
	int t;

	tap_open(&buf, &len);
	if (sync_decode(&m, buf, len, &lim) != SYNC_OK)
		return 0;
	t = m.type;
	*dest = m.hdr.dest;
	sync_msg_release(&m);
	return t;
}

/* Chunks node 0 sent beyond node 1's last acknowledgement, at most. */
static void snap_track(const struct node *nd, const uint8_t *buf, size_t len)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_msg m;

	tap_open(&buf, &len);
	if (nd->idx > 1 || sync_decode(&m, buf, len, &lim) != SYNC_OK)
		return;
	if (nd->idx == 0 && m.type == SYNC_MSG_SNAPSHOT_CHUNK) {
		const Xlbsync__SnapshotChunk *sc = m.env->snapshot_chunk;

		if (sc->snapshot_id != C.snap_id) {
			C.snap_id = sc->snapshot_id;
			C.snap_acked = 0;
		}
		if (sc->index + 1 - C.snap_acked > C.snap_inflight_max &&
		    sc->index + 1 > C.snap_acked)
			C.snap_inflight_max = sc->index + 1 - C.snap_acked;
	} else if (nd->idx == 1 && m.type == SYNC_MSG_SNAPSHOT_ACK) {
		const Xlbsync__SnapshotAck *sa = m.env->snapshot_ack;

		if (sa->snapshot_id == C.snap_id && sa->next_index > C.snap_acked)
			C.snap_acked = sa->next_index;
	}
	sync_msg_release(&m);
}

/* Queues buf from nd for node index only (-1: every other node). */
static int deliver(struct node *nd, const uint8_t *buf, size_t len, int only)
{
	uint32_t dest = 0;
	int t = msg_type(buf, len, &dest), j;

	assert_true(t > 0); /* everything an engine sends decodes */
	/* what names one node goes to that node alone (io_send_to); a
	 * stored batch (dest 0) is resent to its requester alone */
	if (only < 0)
		assert_int_equal(dest, 0);
	else
		assert_true(dest == 0 || dest == C.nodes[only].id);
	if (t == SYNC_MSG_SNAPSHOT_CHUNK || t == SYNC_MSG_SNAPSHOT_ACK)
		snap_track(nd, buf, len);
	C.sent++;
	C.sent_by_type[t]++;
	if (nd->idx == 0 && t == SYNC_MSG_BATCH && len <= sizeof(C.last_batch)) {
		memcpy(C.last_batch, buf, len);
		C.last_batch_len = len;
	}
	if (nd->idx == 0 && t == SYNC_MSG_HEARTBEAT && len <= sizeof(C.last_hb)) {
		memcpy(C.last_hb, buf, len);
		C.last_hb_len = len;
	}
	if (nd->idx == 1 && t == SYNC_MSG_SNAPSHOT_REQUEST && (!dest || dest == C.nodes[0].id) &&
	    len <= sizeof(C.last_req)) {
		memcpy(C.last_req, buf, len);
		C.last_req_len = len;
	}
	for (j = 0; j < C.n; j++) {
		struct tmsg *m, **pp;

		if (j == nd->idx || (only >= 0 && j != only))
			continue;
		if (C.cut[nd->idx][j] || (C.drop_types & (1u << t)) ||
		    (C.loss_pct && rnd() % 100 < C.loss_pct)) {
			C.dropped++;
			continue;
		}
		m = malloc(sizeof(*m) + len);
		assert_non_null(m);
		m->from = nd->idx;
		m->to = j;
		m->len = len;
		memcpy(m->data, buf, len);
		m->at = C.now + MS / 2 + (C.jitter_ns ? rnd() % C.jitter_ns : 0);
		for (pp = &C.q; *pp && (*pp)->at <= m->at; pp = &(*pp)->next)
			;
		m->next = *pp;
		*pp = m;
	}
	return 0;
}

static int io_send(void *ctx, const uint8_t *buf, size_t len)
{
	return deliver(ctx, buf, len, -1);
}

static int io_send_to(void *ctx, uint32_t node, const uint8_t *buf, size_t len)
{
	int j;

	for (j = 0; j < C.n; j++) {
		if (C.nodes[j].id == node)
			return deliver(ctx, buf, len, j);
	}
	fail_msg("send_to an unknown node %u", node);
	return -1;
}

static void io_peer_state(void *ctx, uint32_t node, bool alive)
{
	struct node *nd = ctx;

	nd->last_state_node = node;
	if (alive)
		nd->alive_calls++;
	else
		nd->dead_calls++;
}

static void io_peer_epoch(void *ctx, uint32_t node, uint64_t epoch)
{
	struct node *nd = ctx;

	nd->epoch_node = node;
	nd->epoch_heard = epoch;
}

static void io_ready(void *ctx)
{
	struct node *nd = ctx;

	nd->ready_calls++;
}

static void local_changed(struct node *nd, unsigned int map, enum sync_op op, const void *key,
			  const void *val, uint64_t version);
static void put_session(struct node *nd, uint32_t i, uint32_t version, uint32_t owner, uint8_t tag);

/* Between walk slices: as the daemon drains its capture, a node with
 * yield_put set writes a new session there. */
static void io_yield(void *ctx)
{
	struct node *nd = ctx;

	nd->yields++;
	if (nd->yield_put)
		put_session(nd, nd->yield_put++, 1, 0, 0x77);
}

static const struct sync_io_ops io_ops = {
	.yield = io_yield,
	.send = io_send,
	.send_to = io_send_to,
	.peer_state = io_peer_state,
	.peer_epoch = io_peer_epoch,
	.ready = io_ready,
};

static int validate(void *arg, unsigned int map, const void *key, const void *value,
		    const char **why)
{
	struct node *nd = arg;
	const struct tval *v = value;

	if (map == 0 && nd->reject_ee && v->payload[0] == 0xEE) {
		nd->validate_refused++;
		*why = "payload refused by the test";
		return 1;
	}
	return 0;
}

static void replaced(void *arg, unsigned int map, const void *key, const void *old, const void *new)
{
	struct node *nd = arg;

	(void)key;
	if (map != 0)
		return;
	nd->replaced_old = ((const struct tval *)old)->payload[0];
	if (new) {
		nd->replaced_calls++;
		nd->replaced_new = ((const struct tval *)new)->payload[0];
	} else {
		nd->removed_calls++;
	}
}

/* A birth-version clock per node (CLOCK_TAI >> 20), skewed by its vskew. */
static uint32_t node_vclock(void *arg)
{
	const struct node *nd = arg;

	return (uint32_t)((uint64_t)((int64_t)C.now + nd->vskew + 1000 * (int64_t)MS * 1000) >> 20);
}

static void node_start(struct node *nd)
{
	struct sync_engine_cfg cfg = C.base;
	uint32_t peers[MAXN];
	uint8_t pks[MAXN][SYNC_NODE_KEY_LEN];
	char err[256];
	int j, np = 0;

	for (j = 0; j < C.n; j++) {
		if (j == nd->idx)
			continue;
		memcpy(pks[np], C.nodes[j].pk, SYNC_NODE_KEY_LEN);
		peers[np++] = C.nodes[j].id;
	}
	if (cfg.node_keys) {
		memcpy(cfg.node_sk, nd->sk, SYNC_NODE_KEY_LEN);
		cfg.peer_pk = (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks;
	}
	cfg.node_id = nd->id;
	cfg.node_name = nd->name;
	cfg.epoch = nd->epoch;
	cfg.n_maps = NMAPS;
	cfg.maps = specs;
	cfg.n_peers = (size_t)np;
	cfg.peers = peers;
	cfg.peer_epoch_floor = nd->epoch_floor;
	if (cfg.version_clock == node_vclock)
		cfg.version_clock_arg = nd;
	cfg.validate = validate;
	cfg.validate_arg = nd;
	cfg.replaced = replaced;
	cfg.replaced_arg = nd;
	nd->e = sync_engine_new(&cfg, store_ops, &nd->store, &io_ops, nd, err, sizeof(err));
	if (!nd->e)
		fail_msg("sync_engine_new: %s", err);
	nd->up = true;
	nd->flush_at = 0;
	nd->tick_at = C.now;
	sync_engine_start(nd->e, node_now(nd));
}

/*
 * A cluster of n nodes with the engine configuration cfg (0 fields:
 * test defaults below). Engines are not started.
 */
static void cluster_init(int n, const struct sync_engine_cfg *cfg)
{
	int i;

	memset(&C, 0, sizeof(C));
	sync_seal_clear(&tap);
	specs_init();
	C.n = n;
	C.now = 1000 * MS;
	if (cfg)
		C.base = *cfg;
	if (!C.base.heartbeat_ms)
		C.base.heartbeat_ms = 20;
	if (!C.base.dead_after_ms)
		C.base.dead_after_ms = 200;
	if (!C.base.ready_timeout_ms)
		C.base.ready_timeout_ms = 300;
	if (!C.base.resync_retry_ms)
		C.base.resync_retry_ms = 20;
	if (!C.base.digest_buckets)
		C.base.digest_buckets = 16;
	if (!C.base.walk_budget)
		C.base.walk_budget = 64; /* exercise sliced walks */
	if (!C.base.antientropy_ms)
		C.base.antientropy_ms = SYNC_ANTIENTROPY_OFF; /* unless a test asks */
	for (i = 0; i < n; i++) {
		struct node *nd = &C.nodes[i];

		nd->idx = i;
		nd->id = (uint32_t)(i + 1) * 10; /* 10, 20, 30 */
		snprintf(nd->name, sizeof(nd->name), "n%d", i + 1);
		nd->epoch = 1000 + (uint64_t)i;
		nd->clock_off = (uint64_t)(i + 1) * 1000000 * MS; /* 1000 s apart */
		randombytes_buf(nd->sk, sizeof(nd->sk));
		sync_node_public_key(nd->sk, nd->pk);
		mstore_init(&nd->store);
	}
}

static void cluster_start(void)
{
	int i;

	for (i = 0; i < C.n; i++)
		node_start(&C.nodes[i]);
}

static void cluster_free(void)
{
	struct tmsg *m;
	int i;

	while ((m = C.q)) {
		C.q = m->next;
		free(m);
	}
	for (i = 0; i < C.n; i++) {
		sync_engine_free(C.nodes[i].e);
		C.nodes[i].e = NULL;
		mstore_free(&C.nodes[i].store);
	}
}

/* Advances simulated time by ms milliseconds. */
static void run(unsigned int ms)
{
	uint64_t end = C.now + (uint64_t)ms * MS;

	while (C.now < end) {
		struct tmsg *m;
		int i;

		C.now += MS;
		while ((m = C.q) && m->at <= C.now) {
			struct node *to = &C.nodes[m->to];

			C.q = m->next;
			if (to->up && C.now < to->stalled_until) {
				/* read once its loop runs again */
				struct tmsg **pp;

				m->at = to->stalled_until;
				for (pp = &C.q; *pp && (*pp)->at <= m->at; pp = &(*pp)->next)
					;
				m->next = *pp;
				*pp = m;
				continue;
			}
			if (to->up) {
				sync_engine_rx(to->e, m->data, m->len, node_now(to));
				C.delivered++;
			}
			free(m);
		}
		for (i = 0; i < C.n; i++) {
			struct node *nd = &C.nodes[i];

			if (!nd->up)
				continue;
			if (C.now < nd->stalled_until) {
				if (nd->beacons && C.now >= nd->beacon_at) {
					uint8_t b[512];
					size_t bl;

					assert_int_equal(sync_engine_beacon(nd->e, node_now(nd), b,
									    sizeof(b), &bl),
							 0);
					io_send(nd, b, bl);
					nd->beacon_at = C.now + C.base.heartbeat_ms * MS;
				}
				continue;
			}
			if (nd->flush_at && C.now >= nd->flush_at) {
				nd->flush_at = 0;
				sync_engine_flush(nd->e, node_now(nd));
			}
			if (C.now >= nd->tick_at) {
				uint32_t w = sync_engine_tick(nd->e, node_now(nd));

				assert_true(w >= 1);
				nd->tick_at = C.now + (uint64_t)w * MS;
			}
		}
	}
}

static struct tkey tkey_of(uint32_t i)
{
	struct tkey k = { .a = i, .b = i * 7u + 1, .c = 0xc0ffee, .d = 42 };

	return k;
}

static void local_changed(struct node *nd, unsigned int map, enum sync_op op, const void *key,
			  const void *val, uint64_t version)
{
	int rc = sync_engine_local(nd->e, map, op, key, val, version, node_now(nd));

	assert_true(rc >= 0);
	if (rc == 1 && !nd->flush_at)
		nd->flush_at = C.now + MS; /* the daemon's 1 ms flush timer */
}

/* A session written by node nd as the data plane would: in its own map,
 * then handed to the engine. owner 0: nd itself. */
static void put_session(struct node *nd, uint32_t i, uint32_t version, uint32_t owner, uint8_t tag)
{
	struct tkey k = tkey_of(i);
	struct tval v;

	memset(&v, 0, sizeof(v));
	v.ts = node_now(nd) - 5 * MS;
	v.owner = owner ? owner : nd->id;
	v.version = version;
	memset(v.payload, tag, sizeof(v.payload));
	v.payload[1] = (uint8_t)i;
	assert_int_equal(ms_update(&nd->store, 0, &k, &v), 0);
	local_changed(nd, 0, SYNC_OP_UPDATE, &k, &v, 0);
}

/* lbd's ageing: delete with the version it read. */
static void del_session(struct node *nd, uint32_t i)
{
	struct tkey k = tkey_of(i);
	struct tval v;

	if (ms_lookup(&nd->store, 0, &k, &v))
		return;
	assert_int_equal(ms_remove(&nd->store, 0, &k, NULL), 0);
	local_changed(nd, 0, SYNC_OP_DELETE, &k, NULL, v.version);
}

static void put_rev(struct node *nd, uint64_t k, uint64_t val)
{
	struct rkey rk = { k };
	struct rval rv = { val };

	assert_int_equal(ms_update(&nd->store, 1, &rk, &rv), 0);
	local_changed(nd, 1, SYNC_OP_UPDATE, &rk, &rv, 0);
}

static bool get_session(struct node *nd, uint32_t i, struct tval *v)
{
	struct tkey k = tkey_of(i);

	return ms_lookup(&nd->store, 0, &k, v) == 0;
}

/* Keys present on one side only or with different values (timestamps
 * excluded: they are rebased), over both maps. */
static size_t diff_count(struct node *a, struct node *b)
{
	size_t d = 0, i;
	unsigned int map;

	for (map = 0; map < NMAPS; map++) {
		size_t vs = specs[map].value_size;

		for (i = 0; i < SLOTS; i++) {
			struct slot *sl = &a->store.m[map][i];
			uint8_t va[64], vb[64];

			if (sl->state != 1)
				continue;
			memcpy(va, sl->val, vs);
			if (ms_lookup(&b->store, map, sl->key, vb)) {
				if (getenv("SYNC_TEST_VERBOSE"))
					print_message("diff: map %u missing on %s\n", map, b->name);
				d++;
				continue;
			}
			sync_field_set(&specs[map].ts, va, 0);
			sync_field_set(&specs[map].ts, vb, 0);
			if (memcmp(va, vb, vs)) {
				if (getenv("SYNC_TEST_VERBOSE"))
					print_message("diff: map %u differs on %s\n", map, b->name);
				d++;
			}
		}
		for (i = 0; i < SLOTS; i++) {
			struct slot *sl = &b->store.m[map][i];
			uint8_t va[64];

			if (sl->state == 1 && ms_lookup(&a->store, map, sl->key, va)) {
				if (getenv("SYNC_TEST_VERBOSE"))
					print_message("diff: map %u extra on %s\n", map, b->name);
				d++;
			}
		}
	}
	return d;
}

static size_t cluster_diff(void)
{
	size_t d = 0;
	int i;

	for (i = 1; i < C.n; i++)
		d += diff_count(&C.nodes[0], &C.nodes[i]);
	return d;
}

static void stats(struct node *nd, struct sync_engine_stats *st)
{
	sync_engine_get_stats(nd->e, st);
}

/* rx_dropped is exactly the sum of what it is made of. */
static void assert_drop_sum(struct node *nd)
{
	struct sync_engine_stats st;
	uint64_t sum = 0;
	int r;

	stats(nd, &st);
	for (r = 0; r < SYNC_E__MAX; r++)
		sum += st.rx_by_reason[r];
	sum += st.rx_auth_fail + st.rx_duplicate + st.rx_stale + st.rx_replayed;
	assert_true(st.rx_dropped == sum);
}

static int setup(void **state)
{
	xlb_log_init("test", "-", XLB_LOG_ERR); /* refusals log at warn */
	return 0;
}

/* ----------------------------------------------------------- scenarios */

/* (a) updates and deletes replicate with identical keys and values, the
 * timestamp rebased to the receiver's clock; unversioned maps too. */
static void test_replicate(void **state)
{
	struct sync_engine_stats st;
	struct tval v0, v1;
	uint32_t i;

	cluster_init(3, NULL);
	cluster_start();
	run(400); /* everyone ready (empty snapshots) */
	for (i = 0; i < 3; i++)
		assert_true(sync_engine_ready(C.nodes[i].e));
	for (i = 0; i < 3; i++)
		assert_int_equal(C.nodes[i].ready_calls, 1);

	for (i = 0; i < 100; i++)
		put_session(&C.nodes[0], i, 1, 0, 0x11);
	for (i = 0; i < 20; i++)
		put_rev(&C.nodes[1], i, i * 3);
	run(20);
	assert_int_equal(C.nodes[1].store.count[0], 100);
	assert_int_equal(C.nodes[2].store.count[0], 100);
	assert_int_equal(C.nodes[0].store.count[1], 20);
	assert_int_equal(cluster_diff(), 0);

	/* timestamps: sender's value + (receiver clock - sender clock),
	 * plus the transit time (0.5..1.5 ms here) */
	assert_true(get_session(&C.nodes[0], 5, &v0));
	assert_true(get_session(&C.nodes[2], 5, &v1));
	{
		int64_t d = (int64_t)(v1.ts - v0.ts) -
			    (int64_t)(C.nodes[2].clock_off - C.nodes[0].clock_off);

		assert_true(d >= 0 && d <= (int64_t)(2 * MS));
	}
	/* version bump and deletes */
	put_session(&C.nodes[0], 5, 2, 0, 0x22);
	for (i = 50; i < 60; i++)
		del_session(&C.nodes[0], i);
	run(20);
	assert_true(get_session(&C.nodes[1], 5, &v1));
	assert_int_equal(v1.version, 2);
	assert_int_equal(v1.payload[0], 0x22);
	assert_int_equal(C.nodes[1].store.count[0], 90);
	assert_int_equal(cluster_diff(), 0);
	stats(&C.nodes[1], &st);
	assert_true(st.applied_deletes == 10);
	assert_true(st.tombstones == 10);
	assert_true(st.rx_dropped == 0);
	assert_true(st.apply_rejected == 0);
	cluster_free();
}

/* nd's pending batch sent now; its counters after it in *st. */
static void flush_now(struct node *nd, struct sync_engine_stats *st)
{
	sync_engine_flush(nd->e, node_now(nd));
	nd->flush_at = 0;
	stats(nd, st);
}

/* Once delivered, node 2 holds session i at version with payload tag, and
 * equals node 1. */
static void peer_ends_with(uint32_t i, uint32_t version, uint8_t tag)
{
	struct tval v;

	run(10);
	assert_true(get_session(&C.nodes[1], i, &v));
	assert_int_equal(v.version, version);
	assert_int_equal(v.payload[0], tag);
	assert_int_equal(diff_count(&C.nodes[0], &C.nodes[1]), 0);
}

/* Updates of one key while a batch is pending leave as one entry, the
 * last; a delete in between keeps its place, and what follows it is not
 * folded into what came before it. The peer ends equal either way. */
static void test_coalescing(void **state)
{
	struct sync_engine_stats st0, st1;
	struct node *n1;
	uint32_t i;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	stats(n1, &st0);
	/* a connection's life in one batch: created, established, closing,
	 * closed (versions 1..4), next to 10 other keys */
	for (i = 0; i < 10; i++)
		put_session(n1, 100 + i, 1, 0, 0x41);
	for (i = 1; i <= 4; i++)
		put_session(n1, 7, i, 0, (uint8_t)(0x50 + i));
	/* not newer than what is queued: kept as its own entry */
	put_session(n1, 100, 1, 0, 0x41);
	flush_now(n1, &st1);
	assert_true(st1.local_updates - st0.local_updates == 15);
	assert_true(st1.local_coalesced - st0.local_coalesced == 3);
	assert_true(st1.tx_entries - st0.tx_entries == 12);
	peer_ends_with(7, 4, 0x54);

	/* update, delete, update again (a new incarnation) in one batch:
	 * three entries in that order, the peer ends with the last */
	stats(n1, &st0);
	put_session(n1, 8, 5, 0, 0x61);
	del_session(n1, 8);
	put_session(n1, 8, 9, 0, 0x62);
	put_session(n1, 8, 10, 0, 0x63);
	flush_now(n1, &st1);
	assert_true(st1.local_coalesced - st0.local_coalesced == 1);
	assert_true(st1.tx_entries - st0.tx_entries == 3);
	peer_ends_with(8, 10, 0x63);
	/* a new batch starts with no key known */
	stats(n1, &st0);
	put_session(n1, 8, 11, 0, 0x64);
	flush_now(n1, &st1);
	assert_true(st1.local_coalesced == st0.local_coalesced);
	assert_true(st1.tx_entries - st0.tx_entries == 1);
	cluster_free();
}

/* A joining node's startup snapshot request that found no connection (the
 * bus drops it) is asked again as soon as the peer is first heard, not
 * after the pull's retry time (5 x resync_retry_ms, 1 s here). */
static void test_join_request_lost(void **state)
{
	struct sync_engine_cfg cfg = { .resync_retry_ms = 200, .ready_timeout_ms = 5000 };
	struct sync_engine_stats st;
	struct node *n1, *n2;
	uint32_t i;

	cluster_init(2, &cfg);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	node_start(n1);
	run(100);
	for (i = 0; i < 300; i++)
		put_session(n1, i, 1, 0, 0x5A);
	run(10);
	/* n2 starts with no connection to n1: its request is lost */
	C.cut[0][1] = C.cut[1][0] = true;
	node_start(n2);
	run(10);
	stats(n2, &st);
	assert_true(st.snapshots_requested == 1);
	memset(C.cut, 0, sizeof(C.cut));
	/* n1's next heartbeat (20 ms) is n2's first contact */
	run(150);
	assert_int_equal(n2->store.count[0], 300);
	assert_int_equal(cluster_diff(), 0);
	stats(n2, &st);
	assert_true(st.snapshots_requested == 2);
	cluster_free();
}

/* (b) many local changes leave in few messages; a lone change waits for
 * the flush timer. */
static void test_batching(void **state)
{
	struct sync_engine_stats st0, st1;
	struct node *n1;
	uint32_t i;
	int rc;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	stats(n1, &st0);
	for (i = 0; i < 2000; i++)
		put_session(n1, i, 1, 0, 0x33);
	sync_engine_flush(n1->e, node_now(n1));
	n1->flush_at = 0;
	stats(n1, &st1);
	/* ~75 bytes an entry, 64 KiB messages: 3 batches, not 2000 */
	assert_true(st1.tx_batches - st0.tx_batches <= 4);
	assert_true(st1.tx_entries - st0.tx_entries == 2000);
	run(10);
	assert_int_equal(C.nodes[1].store.count[0], 2000);

	/* a lone entry: first of an empty batch (1), not sent until flushed */
	{
		struct tkey k = tkey_of(5000);
		struct tval v = { .ts = 1, .owner = n1->id, .version = 1 };

		assert_int_equal(ms_update(&n1->store, 0, &k, &v), 0);
		stats(n1, &st0);
		rc = sync_engine_local(n1->e, 0, SYNC_OP_UPDATE, &k, &v, 0, node_now(n1));
		assert_int_equal(rc, 1);
		rc = sync_engine_local(n1->e, 0, SYNC_OP_UPDATE, &k, &v, 0, node_now(n1));
		assert_int_equal(rc, 0); /* already armed */
		stats(n1, &st1);
		assert_true(st1.tx_batches == st0.tx_batches);
		sync_engine_flush(n1->e, node_now(n1));
		stats(n1, &st1);
		assert_true(st1.tx_batches == st0.tx_batches + 1);
	}
	/* batch_max_entries bounds a batch: the local call sends at once */
	cluster_free();
	cluster_init(2, &(struct sync_engine_cfg){ .batch_max_entries = 10 });
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	stats(n1, &st0);
	for (i = 0; i < 25; i++)
		put_session(n1, i, 1, 0, 0x33);
	stats(n1, &st1);
	assert_true(st1.tx_batches - st0.tx_batches == 2);
	run(5);
	assert_int_equal(C.nodes[1].store.count[0], 25);
	/* refused local changes */
	assert_true(sync_engine_local(n1->e, 7, SYNC_OP_UPDATE, "k", "v", 0, 0) < 0);
	assert_true(sync_engine_local(n1->e, 0, SYNC_OP_UPDATE, "k", NULL, 0, 0) < 0);
	stats(n1, &st1);
	assert_true(st1.local_rejected == 2);
	cluster_free();
}

/* A random workload on every node: new sessions, version bumps, deletes
 * of its own sessions, reverse entries. */
static void workload(unsigned int ms, unsigned int per_ms)
{
	unsigned int t, k;

	for (t = 0; t < ms; t++) {
		for (k = 0; k < per_ms; k++) {
			struct node *nd = &C.nodes[rnd() % (uint64_t)C.n];
			uint32_t i = (uint32_t)(nd->idx * 100000 + rnd() % 400);
			struct tval v;
			uint64_t r = rnd() % 10;

			if (r < 6) {
				uint32_t ver = get_session(nd, i, &v) ? v.version + 1 : 1;

				put_session(nd, i, ver, 0, (uint8_t)rnd());
			} else if (r < 9) {
				del_session(nd, i);
			} else {
				/* unversioned: last writer by arrival, which a
				 * retransmission can reorder, so write-once keys */
				static uint64_t rev_next;

				put_rev(nd, (uint64_t)nd->idx << 32 | rev_next++, rnd());
			}
		}
		run(1);
	}
}

/* (c) 10% loss for a while, then none: maps become identical entry by
 * entry; the same run without the repair paths diverges. */
static void loss_run(bool repair, bool sealed, size_t *diff_after)
{
	struct sync_engine_cfg cfg = { .antientropy_ms = 500, .tombstone_ms = 400 };
	struct sync_engine_stats st;
	int i;

	if (sealed) {
		cfg.auth_key_len = 32;
		memset(cfg.auth_key, 0x33, 32);
		cfg.cipher = SYNC_CIPHER_CHACHA20_POLY1305;
	}

	/* SYNC_TEST_SEED=n: another workload and loss pattern */
	rng = getenv("SYNC_TEST_SEED") ? strtoull(getenv("SYNC_TEST_SEED"), NULL, 0) : 0x1234567;
	cluster_init(3, repair ? &cfg : NULL);
	cluster_start();
	run(400);
	C.jitter_ns = 3 * MS;
	C.loss_pct = 10;
	if (!repair)
		C.drop_types = 1u << SYNC_MSG_RESYNC_REQUEST | 1u << SYNC_MSG_SNAPSHOT_REQUEST |
			       1u << SYNC_MSG_SNAPSHOT_CHUNK | 1u << SYNC_MSG_SNAPSHOT_END;
	workload(2000, 3);
	C.loss_pct = 0;
	C.jitter_ns = 0;
	run(3000);
	*diff_after = cluster_diff();
	for (i = 0; getenv("SYNC_TEST_VERBOSE") && i < C.n; i++) {
		stats(&C.nodes[i], &st);
		print_message("n%d: seq %" PRIu64 " resync sent %" PRIu64 " served %" PRIu64
			      " gone %" PRIu64 " snap req %" PRIu64 " served %" PRIu64
			      " dup %" PRIu64 " stale %" PRIu64 " skipped %" PRIu64
			      " diff-vs-n1 %zu\n",
			      i + 1, st.seq, st.resync_requests_sent, st.resync_requests_served,
			      st.resync_gone, st.snapshots_requested, st.snapshots_served,
			      st.rx_duplicate, st.rx_stale, st.apply_skipped,
			      diff_count(&C.nodes[0], &C.nodes[i]));
	}
	if (repair) {
		uint64_t gaps = 0;

		for (i = 0; i < C.n; i++) {
			struct sync_peer_status ps;
			size_t p;

			stats(&C.nodes[i], &st);
			assert_true(st.resync_requests_sent > 0);
			for (p = 0; p < sync_engine_n_peers(C.nodes[i].e); p++) {
				sync_engine_get_peer(C.nodes[i].e, p, &ps);
				gaps += ps.gaps;
				assert_true(ps.alive);
			}
			assert_drop_sum(&C.nodes[i]);
		}
		assert_true(gaps > 0);
	}
	cluster_free();
}

static void test_loss_converges(void **state)
{
	size_t with, without;

	loss_run(true, false, &with);
	loss_run(false, false, &without);
	print_message("loss: %zu differing entries with repair, %zu without\n", with, without);
	assert_int_equal(with, 0);
	assert_true(without > 50); /* the repair is what converged */
	/* the same with sealed messages: resent batches are the stored
	 * frames, snapshots and digests sealed as they leave */
	loss_run(true, true, &with);
	assert_int_equal(with, 0);
}

/* (d) a node restarts (new engine, new epoch, empty maps), pulls a
 * snapshot and becomes ready with identical maps. */
static void test_restart(void **state)
{
	struct sync_engine_stats st;
	struct sync_peer_status ps;
	struct node *n2;
	uint32_t i;

	cluster_init(3, NULL);
	cluster_start();
	run(400);
	for (i = 0; i < 300; i++) {
		put_session(&C.nodes[0], i, 1, 0, 0x44);
		put_session(&C.nodes[1], 1000 + i, 3, 0, 0x55); /* n2's own */
	}
	for (i = 0; i < 50; i++)
		put_rev(&C.nodes[2], i, i);
	run(50);
	assert_int_equal(cluster_diff(), 0);

	n2 = &C.nodes[1];
	sync_engine_free(n2->e);
	n2->e = NULL;
	n2->up = false;
	mstore_clear(&n2->store);
	run(300); /* peers declare it dead */
	assert_true(C.nodes[0].dead_calls >= 1);
	assert_int_equal(C.nodes[0].last_state_node, n2->id);

	n2->epoch += 1000;
	n2->ready_calls = 0;
	node_start(n2);
	assert_false(sync_engine_ready(n2->e));
	run(100);
	assert_true(sync_engine_ready(n2->e)); /* well before ready_timeout */
	assert_int_equal(n2->ready_calls, 1);
	assert_int_equal(n2->store.count[0], 600); /* its own sessions came back */
	assert_int_equal(n2->store.count[1], 50);
	assert_int_equal(cluster_diff(), 0);
	stats(n2, &st);
	assert_true(st.snapshot_entries_applied >= 650);
	assert_int_equal(st.apply_own_gone, 0); /* maps created anew: restored */
	sync_engine_get_peer(n2->e, 0, &ps);
	assert_true(ps.snapshot_done);

	/* the restarted node's new stream is followed from sequence 1 */
	put_session(n2, 7777, 1, 0, 0x66);
	run(10);
	assert_int_equal(cluster_diff(), 0);
	sync_engine_get_peer(C.nodes[0].e, 0, &ps); /* n1's view of n2 */
	assert_true(ps.rx_epoch == n2->epoch);
	assert_true(ps.alive);
	cluster_free();
}

/* The first node of a cluster: nobody answers, ready after the timeout. */
static void test_ready_timeout(void **state)
{
	cluster_init(3, NULL);
	node_start(&C.nodes[0]);
	C.nodes[1].up = C.nodes[2].up = false;
	run(200);
	assert_false(sync_engine_ready(C.nodes[0].e));
	run(150);
	assert_true(sync_engine_ready(C.nodes[0].e));
	assert_int_equal(C.nodes[0].ready_calls, 1);
	/* a peer appearing later is pulled from and followed */
	put_session(&C.nodes[0], 1, 1, 0, 0x12);
	run(5);
	node_start(&C.nodes[1]);
	put_session(&C.nodes[1], 2, 1, 0, 0x13);
	run(100);
	/* n1 answered; n3 never does: ready only after the timeout */
	assert_false(sync_engine_ready(C.nodes[1].e));
	run(250);
	assert_true(sync_engine_ready(C.nodes[1].e));
	assert_int_equal(diff_count(&C.nodes[0], &C.nodes[1]), 0);
	assert_int_equal(C.nodes[0].store.count[0], 2);
	cluster_free();
}

/* (e) partition and heal, with a small retransmit ring so that the lost
 * range is gone: a snapshot brings the changes, anti-entropy the deletes. */
static void test_partition_heal(void **state)
{
	struct sync_engine_cfg cfg = { .antientropy_ms = 300, .txring_msgs = 4 };
	struct sync_engine_stats st;
	struct node *n1;
	int j;
	uint32_t i;

	cluster_init(3, &cfg);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (i = 0; i < 200; i++)
		put_session(n1, i, 1, 0, 0x70);
	run(20);
	assert_int_equal(cluster_diff(), 0);

	for (j = 1; j < 3; j++)
		C.cut[0][j] = C.cut[j][0] = true;
	for (i = 0; i < 40; i++) {
		put_session(n1, i, 2, 0, 0x71); /* changed */
		run(2);
	}
	for (i = 100; i < 130; i++) {
		del_session(n1, i); /* deleted */
		run(2);
	}
	put_session(&C.nodes[1], 5000, 1, 0, 0x72); /* the other side writes too */
	run(500);
	assert_true(C.nodes[1].dead_calls >= 1);
	assert_true(cluster_diff() > 0);

	memset(C.cut, 0, sizeof(C.cut));
	run(3000);
	assert_int_equal(cluster_diff(), 0);
	assert_int_equal(C.nodes[2].store.count[0], 171);
	for (j = 1; j < 3; j++) {
		stats(&C.nodes[j], &st);
		assert_true(st.antientropy_deletes > 0); /* the lost deletes */
		assert_true(st.digest_mismatches > 0);
	}
	stats(n1, &st);
	assert_true(st.resync_gone > 0); /* the ring no longer had it */
	assert_true(st.digests_sent > 0);
	for (j = 1; j < 3; j++) {
		stats(&C.nodes[j], &st);
		assert_true(st.resync_gone_heard > 0); /* ... and said so */
	}
	cluster_free();
}

/* (f) concurrent conflicting writes resolve to the same entry everywhere. */
static void test_conflicts(void **state)
{
	struct tval v[3];
	int j;

	cluster_init(3, &(struct sync_engine_cfg){ .antientropy_ms = 200 });
	cluster_start();
	run(400);
	C.jitter_ns = 4 * MS;
	/* same version, two owners (two survivors adopting one session):
	 * the lower node id (10) wins everywhere */
	put_session(&C.nodes[1], 1, 5, 0, 0xB2);
	put_session(&C.nodes[0], 1, 5, 0, 0xA1);
	/* a higher version wins whatever the node */
	put_session(&C.nodes[0], 2, 3, 0, 0xA1);
	put_session(&C.nodes[2], 2, 4, 0, 0xC3);
	/* equal version and owner, different bytes (a writer bug): the
	 * larger bytes win everywhere. The owner holds the session (a peer's
	 * copy of one it does not hold is not written: test_own_gone_*) */
	put_session(&C.nodes[0], 3, 6, 0, 0x05);
	run(20);
	put_session(&C.nodes[1], 3, 7, C.nodes[0].id, 0x01);
	put_session(&C.nodes[2], 3, 7, C.nodes[0].id, 0x09);
	/* a delete against a concurrent older update: the delete stays */
	put_session(&C.nodes[0], 4, 1, 0, 0x10);
	run(20);
	put_session(&C.nodes[0], 4, 2, 0, 0x11);
	del_session(&C.nodes[0], 4); /* delete of version 2 */
	run(500);
	for (j = 0; j < 3; j++) {
		assert_true(get_session(&C.nodes[j], 1, &v[j]));
		assert_int_equal(v[j].owner, C.nodes[0].id);
		assert_int_equal(v[j].payload[0], 0xA1);
		assert_true(get_session(&C.nodes[j], 2, &v[j]));
		assert_int_equal(v[j].version, 4);
		assert_int_equal(v[j].payload[0], 0xC3);
		assert_true(get_session(&C.nodes[j], 3, &v[j]));
		assert_int_equal(v[j].payload[0], 0x09);
		assert_false(get_session(&C.nodes[j], 4, &v[j]));
	}
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/* (f') version-0 deletes: only the owner's delete removes an entry. */
static void test_delete_version0(void **state)
{
	struct sync_engine_stats st;
	struct tkey k = tkey_of(9);
	struct tval v;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	put_session(&C.nodes[0], 9, 3, 0, 0x20); /* owned by n1 */
	run(5);
	/* n2 deletes it with version 0: not the owner, n1 keeps it */
	assert_int_equal(ms_remove(&C.nodes[1].store, 0, &k, NULL), 0);
	local_changed(&C.nodes[1], 0, SYNC_OP_DELETE, &k, NULL, 0);
	run(5);
	assert_true(get_session(&C.nodes[0], 9, &v));
	stats(&C.nodes[0], &st);
	assert_true(st.apply_skipped >= 1);
	/* the owner deletes with version 0 (a kprobe capture): removed */
	put_session(&C.nodes[1], 9, 3, C.nodes[0].id, 0x20); /* restore n2's copy */
	run(5);
	assert_int_equal(ms_remove(&C.nodes[0].store, 0, &k, NULL), 0);
	local_changed(&C.nodes[0], 0, SYNC_OP_DELETE, &k, NULL, 0);
	run(5);
	assert_false(get_session(&C.nodes[1], 9, &v));
	stats(&C.nodes[1], &st);
	assert_true(st.applied_deletes == 1);
	assert_true(st.tombstones == 1); /* at the version it removed */
	/* a late copy of the deleted write does not come back */
	put_session(&C.nodes[0], 9, 3, 0, 0x20);
	assert_int_equal(ms_remove(&C.nodes[0].store, 0, &k, NULL), 0);
	run(5);
	assert_false(get_session(&C.nodes[1], 9, &v));
	/* tombstones expire */
	run(61000);
	stats(&C.nodes[1], &st);
	assert_true(st.tombstones == 0);
	cluster_free();
}

/* Hand-made messages to n2 (index 1) from a sender of our choice. */
static size_t mk_batch(uint8_t *buf, size_t cap, uint32_t origin, uint64_t epoch, uint64_t seq,
		       const struct sync_entry *en, size_t n)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_hdr h = { .origin = origin, .epoch = epoch, .seq = seq, .mono_ns = 1 };
	size_t len;

	assert_int_equal(sync_encode_batch(&h, en, n, &lim, buf, cap, &len), (int)n);
	return len;
}

/* An update of session k owned and written by n3 (node 30), version 1. */
static struct sync_entry n3_update(const struct tkey *k, const struct tval *v)
{
	return (struct sync_entry){
		.map = "sessions",
		.op = SYNC_OP_UPDATE,
		.key = (const uint8_t *)k,
		.key_len = sizeof(*k),
		.value = (const uint8_t *)v,
		.value_len = sizeof(*v),
		.origin = 30,
		.version = 1,
	};
}

/*
 * A restarted node refuses a recording of a peer's former incarnation even
 * before it hears the peer (the daemon gives it the epochs it last heard,
 * syncd/state.h); without them it took the recording as first contact.
 * The epochs it hears are handed to the daemon (io.peer_epoch).
 */
static void test_epoch_floor(void **state)
{
	struct sync_engine_stats st0, st;
	struct node *n1, *n2;
	uint64_t floors[1], old_epoch;
	struct tkey k = tkey_of(4242);
	struct tval v;
	struct sync_entry en = n3_update(&k, &v);
	uint8_t buf[2048];
	size_t len;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		cluster_init(2, NULL);
		n1 = &C.nodes[0];
		n2 = &C.nodes[1];
		cluster_start();
		run(200);
		/* n2 heard n1, and said so */
		assert_int_equal(n2->epoch_node, n1->id);
		assert_true(n2->epoch_heard == n1->epoch);
		old_epoch = n1->epoch - 1; /* a former incarnation of n1 */

		/* n2 restarts; a recording of n1's old stream comes first */
		sync_engine_free(n2->e);
		n2->e = NULL;
		n2->up = false;
		floors[0] = n2->epoch_heard;
		n2->epoch_floor = pass ? floors : NULL;
		n2->epoch += 1000;
		node_start(n2);
		stats(n2, &st0);
		memset(&v, 0, sizeof(v));
		v.owner = n1->id;
		v.version = 1;
		en.origin = n1->id;
		len = mk_batch(buf, sizeof(buf), n1->id, old_epoch, 1, &en, 1);
		sync_engine_rx(n2->e, buf, len, node_now(n2));
		stats(n2, &st);
		if (!pass) {
			/* the control: without the floor it is taken */
			assert_true(st.rx_stale == st0.rx_stale);
			assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
		} else {
			assert_true(st.rx_stale - st0.rx_stale == 1);
			assert_int_not_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
			/* the live incarnation is heard as ever */
			run(200);
			put_session(n1, 7, 1, 0, 0x31);
			run(20);
			k = tkey_of(7);
			assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
		}
		n2->epoch_floor = NULL;
		cluster_free();
	}
}

/* Three nodes with the cluster key (32 bytes) in cfg, started; a session
 * from n1 has reached n2 (traffic authenticated, or sealed, flows).
 * Returns n2. */
static struct node *keyed_cluster(struct sync_engine_cfg *cfg, const uint8_t *key)
{
	struct node *n2 = &C.nodes[1];

	memcpy(cfg->auth_key, key, 32);
	cfg->auth_key_len = 32;
	cluster_init(3, cfg);
	cluster_start();
	run(400);
	put_session(&C.nodes[0], 1, 1, 0, 0x01);
	run(5);
	assert_int_equal(n2->store.count[0], 1);
	return n2;
}

/* Sealed messages (cfg.cipher): sessions travel encrypted between the
 * nodes; a tagged-only or plain message, one sealed with another key, and
 * one whose envelope claims another origin than its sealer are refused
 * and counted, and change nothing; a frame sealed right by n3 is applied. */
static void test_sealed(void **state)
{
	static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
	static uint8_t buf[4096], frame[4096 + SYNC_SEAL_ROOM], scratch[4096];
	struct sync_engine_cfg cfg = { .auth_key_len = 32,
				       .cipher = SYNC_CIPHER_CHACHA20_POLY1305 };
	static struct sync_seal as3, wrong;
	struct sync_engine_stats st0, st;
	struct tkey k = tkey_of(78);
	struct tval v = { .ts = 5, .owner = 30, .version = 1 };
	struct sync_entry en = n3_update(&k, &v);
	uint8_t other_key[32];
	struct node *n2;
	uint64_t writes;
	size_t len, flen;

	memset(other_key, 0x5a, sizeof(other_key));
	n2 = keyed_cluster(&cfg, key);
	/* what went on the wire is a sealed frame, not the envelope */
	assert_true(C.last_batch_len > 0);
	{
		struct sync_msg m;
		const struct sync_limits lim = SYNC_LIMITS_DEFAULT;

		assert_int_not_equal(sync_decode(&m, C.last_batch, C.last_batch_len, &lim),
				     SYNC_OK);
	}
	C.nodes[2].up = false; /* n3 is silent: we speak for it */
	writes = n2->store.writes;
	stats(n2, &st0);
	assert_int_equal(sync_seal_init(&as3, SYNC_CIPHER_CHACHA20_POLY1305, 30, key, 32), 0);
	assert_int_equal(sync_seal_init(&wrong, SYNC_CIPHER_CHACHA20_POLY1305, 30, other_key, 32),
			 0);

#define RX(b, l) sync_engine_rx(n2->e, (b), (l), node_now(n2))
	/* plain, then HMAC-tagged with the right key: not sealed */
	len = mk_batch(buf, sizeof(buf), 30, 5000, 1, &en, 1);
	RX(buf, len);
	assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
	RX(buf, len);
	/* sealed with another key */
	len = mk_batch(buf, sizeof(buf), 30, 5000, 1, &en, 1);
	assert_int_equal(sync_seal(&wrong, buf, len, scratch, frame, sizeof(frame), &flen), 0);
	RX(frame, flen);
	/* sealed by n3, but the envelope says n1 */
	len = mk_batch(buf, sizeof(buf), 10, 5000, 1, &en, 1);
	assert_int_equal(sync_seal(&as3, buf, len, scratch, frame, sizeof(frame), &flen), 0);
	RX(frame, flen);
	stats(n2, &st);
	assert_int_equal(st.rx_auth_fail - st0.rx_auth_fail, 4);
	assert_true(n2->store.writes == writes);
	assert_int_equal(n2->store.count[0], 1);
	/* sealed right by n3: applied */
	len = mk_batch(buf, sizeof(buf), 30, 5000, 1, &en, 1);
	assert_int_equal(sync_seal(&as3, buf, len, scratch, frame, sizeof(frame), &flen), 0);
	RX(frame, flen);
	stats(n2, &st);
	assert_int_equal(st.rx_auth_fail - st0.rx_auth_fail, 4);
	assert_int_equal(n2->store.count[0], 2);
#undef RX
	sync_seal_clear(&as3);
	sync_seal_clear(&wrong);
	cluster_free();
	(void)state;
}

/*
 * A flood of deletes of keys nobody holds (any version wins against
 * nothing) makes tombstones; they stay within tombstones_max, the oldest
 * making room and counted, and the memory stays bounded.
 */
static void test_tombstone_flood(void **state)
{
	struct sync_engine_cfg cfg = { .tombstones_max = 1000 };
	struct sync_engine_stats st;
	struct rusage ru0, ru1;
	struct node *n1, *n2;
	uint32_t i;

	(void)state;
	cluster_init(2, &cfg);
	cluster_start();
	run(200);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	getrusage(RUSAGE_SELF, &ru0);
	for (i = 0; i < 400000; i++) {
		struct tkey k = tkey_of(1000000 + i);

		local_changed(n1, 0, SYNC_OP_DELETE, &k, NULL, 0x70000000u + i);
		if (i % 2000 == 1999)
			run(2);
	}
	run(50);
	getrusage(RUSAGE_SELF, &ru1);
	stats(n2, &st);
	assert_true(st.tombstones <= 1000);
	assert_true(st.tombstones_evicted >= 400000 - 1000);
	stats(n1, &st);
	assert_true(st.tombstones <= 1000); /* the sender keeps its own too */
	/* unbounded, 800,000 tombstones of ~140 bytes would be ~110 MB
	 * (under AddressSanitizer freed memory sits in its quarantine: the
	 * resident size says nothing there, the counts above do) */
#if !defined(__SANITIZE_ADDRESS__)
	assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 32 * 1024);
#else
	(void)ru0;
	(void)ru1;
#endif
	cluster_free();
}

/*
 * Resends are rate-limited per requester: a hundred requests for the same
 * range at once make this node resend at most what its ring holds (the
 * burst) plus the refill, not a hundred times the range.
 */
static void test_resync_limit(void **state)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_engine_stats a, b;
	struct node *n1, *n2;
	uint8_t buf[512];
	size_t len;
	uint32_t i;

	(void)state;
	cluster_init(2, &(struct sync_engine_cfg){ .txring_bytes = 64 << 10 });
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	for (i = 0; i < 300; i++) {
		put_session(n1, i, 1, 0, 0x01);
		run(1); /* a batch each */
	}
	run(10);
	stats(n1, &a);
	for (i = 0; i < 100; i++) {
		struct sync_hdr h = {
			.origin = n2->id, .epoch = n2->epoch, .dest = n1->id, .mono_ns = 1
		};
		uint64_t top = a.tx_batches;

		assert_int_equal(sync_encode_resync_request(&h, n1->id, top - 200, top, &lim, buf,
							    sizeof(buf), &len),
				 0);
		sync_engine_rx(n1->e, buf, len, node_now(n1));
	}
	stats(n1, &b);
	assert_true(b.resync_requests_served - a.resync_requests_served == 100);
	assert_true(b.resync_limited > a.resync_limited);
	/* the burst (64 KiB, the ring) and what refills meanwhile (no time
	 * passed), against 100 x 200 messages without the limit */
	assert_true(b.tx_bytes - a.tx_bytes <= (64 << 10));
	run(50);
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/*
 * Per-node keys: a cluster whose nodes each have their own key pair works
 * as with the cluster key alone; a holder of the cluster key (here the
 * harness, with n3's key pair) that seals a frame in n1's name is refused
 * and counted, and changes nothing; the same frame in n3's own name is
 * applied.
 */
static void test_node_keys(void **state)
{
	static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
	static uint8_t buf[4096], frame[4096 + SYNC_SEAL_ROOM], scratch[4096];
	struct sync_engine_cfg cfg = { .auth_key_len = 32,
				       .cipher = SYNC_CIPHER_CHACHA20_POLY1305,
				       .node_keys = true };
	static struct sync_seal as1, as3;
	struct sync_engine_stats st0, st;
	struct tkey k = tkey_of(91);
	struct tval v = { .ts = 5, .owner = 10, .version = 1 };
	struct sync_entry en = n3_update(&k, &v);
	uint8_t pks[2][SYNC_NODE_KEY_LEN];
	struct node *n2;

	(void)state;
	n2 = keyed_cluster(&cfg, key); /* traffic flows under the node keys */
	C.nodes[2].up = false;
	stats(n2, &st0);
	/* n3's key pair, the cluster key, n1's name */
	assert_int_equal(sync_seal_init(&as1, SYNC_CIPHER_CHACHA20_POLY1305, 10, key, 32), 0);
	memcpy(pks[0], C.nodes[1].pk, SYNC_NODE_KEY_LEN);
	memcpy(pks[1], C.nodes[2].pk, SYNC_NODE_KEY_LEN);
	assert_int_equal(sync_seal_pairs(&as1, C.nodes[2].sk, 2, (uint32_t[]){ 20, 30 },
					 (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks),
			 0);
	en.origin = 10;
	{
		size_t len = mk_batch(buf, sizeof(buf), 10, C.nodes[0].epoch, 900000, &en, 1);
		size_t flen;

		assert_int_equal(sync_seal(&as1, buf, len, scratch, frame, sizeof(frame), &flen),
				 0);
		sync_engine_rx(n2->e, frame, flen, node_now(n2));
	}
	stats(n2, &st);
	assert_true(st.rx_node_key_fail - st0.rx_node_key_fail == 1);
	assert_int_not_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
	/* in its own name, with its own key pair: applied */
	assert_int_equal(sync_seal_init(&as3, SYNC_CIPHER_CHACHA20_POLY1305, 30, key, 32), 0);
	memcpy(pks[0], C.nodes[0].pk, SYNC_NODE_KEY_LEN);
	memcpy(pks[1], C.nodes[1].pk, SYNC_NODE_KEY_LEN);
	assert_int_equal(sync_seal_pairs(&as3, C.nodes[2].sk, 2, (uint32_t[]){ 10, 20 },
					 (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks),
			 0);
	v.owner = 30;
	en.origin = 30;
	{
		size_t len = mk_batch(buf, sizeof(buf), 30, 5000, 1, &en, 1);
		size_t flen;

		assert_int_equal(sync_seal(&as3, buf, len, scratch, frame, sizeof(frame), &flen),
				 0);
		sync_engine_rx(n2->e, frame, flen, node_now(n2));
	}
	assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
	sync_seal_clear(&as1);
	sync_seal_clear(&as3);
	cluster_free();
}

/*
 * A batch is its sender's own changes: n3 cannot delete n1's session by
 * naming n1 as the entry's origin (a version-0 delete by the owner would
 * be applied), nor write in n1's name; the same delete in its own name is
 * not n1's to make and is skipped. The session survives on n2.
 */
static void test_foreign_origin(void **state)
{
	struct sync_engine_stats st0, st;
	struct node *n1, *n2;
	struct tkey k = tkey_of(5);
	struct tval v;
	struct sync_entry en = { .map = "sessions",
				 .op = SYNC_OP_DELETE,
				 .key = (const uint8_t *)&k,
				 .key_len = sizeof(k),
				 .version = 0 };
	uint8_t buf[2048];
	size_t len;

	(void)state;
	cluster_init(3, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	put_session(n1, 5, 1, 0, 0x05);
	run(10);
	assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
	C.nodes[2].up = false; /* we speak for n3 (node 30) */
	stats(n2, &st0);
	en.origin = n1->id;
	len = mk_batch(buf, sizeof(buf), 30, C.nodes[2].epoch, 100000, &en, 1);
	sync_engine_rx(n2->e, buf, len, node_now(n2));
	stats(n2, &st);
	assert_true(st.rx_foreign_origin - st0.rx_foreign_origin == 1);
	assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0); /* still there */
	/* in its own name: not the owner, skipped */
	en.origin = 30;
	len = mk_batch(buf, sizeof(buf), 30, C.nodes[2].epoch, 100001, &en, 1);
	sync_engine_rx(n2->e, buf, len, node_now(n2));
	assert_int_equal(ms_lookup(&n2->store, 0, &k, &v), 0);
	cluster_free();
}

/*
 * A peer whose CLOCK_TAI is 37 s off (a TAI offset set on one node only):
 * both nodes measure the skew from the heartbeats, warn once, show it in
 * the peer's status, and say when it is gone; no warning without a skew.
 */
static void test_clock_skew(void **state)
{
	struct sync_engine_stats s1, s2;
	struct sync_peer_status ps;
	struct node *n1, *n2;

	(void)state;
	cluster_init(2, &(struct sync_engine_cfg){ .version_clock = node_vclock });
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	n2->vskew = 37 * 1000 * (int64_t)MS;
	cluster_start();
	run(500);
	sync_engine_get_peer(n1->e, 0, &ps);
	assert_true(ps.has_clock_skew);
	assert_true(ps.clock_skew_ms > 36990 && ps.clock_skew_ms < 37010);
	sync_engine_get_peer(n2->e, 0, &ps);
	assert_true(ps.clock_skew_ms < -36990 && ps.clock_skew_ms > -37010);
	stats(n1, &s1);
	stats(n2, &s2);
	assert_true(s1.clock_skew_warnings == 1 && s2.clock_skew_warnings == 1);
	/* fixed: measured again, no new warning */
	n2->vskew = 0;
	run(500);
	sync_engine_get_peer(n1->e, 0, &ps);
	assert_true(ps.clock_skew_ms > -5 && ps.clock_skew_ms < 5);
	stats(n1, &s1);
	assert_true(s1.clock_skew_warnings == 1);
	/* and skewed again: warned again */
	n2->vskew = -2 * 1000 * (int64_t)MS;
	run(500);
	stats(n1, &s1);
	assert_true(s1.clock_skew_warnings == 2);
	cluster_free();

	/* no skew, no warning */
	cluster_init(2, &(struct sync_engine_cfg){ .version_clock = node_vclock });
	cluster_start();
	run(500);
	stats(&C.nodes[0], &s1);
	assert_true(s1.clock_skew_warnings == 0);
	cluster_free();
}

/*
 * Sealed frames cannot be replayed, whatever their type: n1's batch, n1's
 * heartbeat and n2's snapshot request, each sent again as recorded, are
 * refused and counted, and change nothing; replaying a dead node's
 * heartbeats does not keep it alive.
 */
static void test_replay(void **state)
{
	static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
	struct sync_engine_cfg cfg = { .auth_key_len = 32,
				       .cipher = SYNC_CIPHER_CHACHA20_POLY1305 };
	struct sync_engine_stats st0, st, s1a, s1b;
	struct sync_peer_status ps;
	struct node *n1, *n2;
	uint64_t writes;
	int i;

	(void)state;
	n2 = keyed_cluster(&cfg, key);
	n1 = &C.nodes[0];
	assert_true(C.last_batch_len && C.last_hb_len && C.last_req_len);
	writes = n2->store.writes;
	stats(n2, &st0);
	sync_engine_rx(n2->e, C.last_batch, C.last_batch_len, node_now(n2));
	sync_engine_rx(n2->e, C.last_hb, C.last_hb_len, node_now(n2));
	stats(n2, &st);
	assert_true(st.rx_replayed - st0.rx_replayed == 2);
	assert_true(n2->store.writes == writes);
	/* n2's snapshot request again at n1: no new dump */
	stats(n1, &s1a);
	sync_engine_rx(n1->e, C.last_req, C.last_req_len, node_now(n1));
	run(50);
	stats(n1, &s1b);
	assert_true(s1b.rx_replayed - s1a.rx_replayed == 1);
	assert_true(s1b.snapshots_served == s1a.snapshots_served);
	assert_drop_sum(n1);
	assert_drop_sum(n2);

	/* n1 dies; its recorded heartbeats keep coming */
	n1->up = false;
	for (i = 0; i < 30; i++) {
		sync_engine_rx(n2->e, C.last_hb, C.last_hb_len, node_now(n2));
		run(50);
	}
	sync_engine_get_peer(n2->e, 0, &ps);
	assert_int_equal(ps.node, n1->id);
	assert_false(ps.alive);
	assert_true(n2->dead_calls >= 1);
	stats(n2, &st);
	assert_true(st.rx_replayed - st0.rx_replayed >= 2 + 30);
	cluster_free();
}

/* (g) bad input is dropped and counted and leaves the maps untouched. */
static void test_bad_input(void **state)
{
	static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
	struct sync_engine_cfg cfg = { .auth_key_len = 32 };
	uint8_t buf[4096], other_key[32];
	struct sync_engine_stats st0, st;
	struct tkey k = tkey_of(77);
	struct tval v = { .ts = 5, .owner = 30, .version = 1 };
	struct sync_entry en = n3_update(&k, &v);
	struct node *n2;
	uint64_t writes;
	size_t len;
	uint64_t seq = 1;

	memset(other_key, 0x5a, sizeof(other_key));
	n2 = keyed_cluster(&cfg, key);
	C.nodes[2].up = false; /* n3 is silent: we speak for it */
	writes = n2->store.writes;
	stats(n2, &st0);

#define RX(b, l) sync_engine_rx(n2->e, (b), (l), node_now(n2))
	/* a valid message from n3, but no tag */
	len = mk_batch(buf, sizeof(buf), 30, 5000, seq, &en, 1);
	RX(buf, len);
	/* tagged with another key */
	assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), other_key, 32), 0);
	RX(buf, len);
	/* right key, one bit flipped in the body */
	len = mk_batch(buf, sizeof(buf), 30, 5000, seq, &en, 1);
	assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
	buf[10] ^= 1;
	RX(buf, len);
	stats(n2, &st);
	assert_true(st.rx_auth_fail - st0.rx_auth_fail == 3);
	assert_true(n2->store.writes == writes);

	/* replayed batch (captured from n1, tag and all) */
	assert_true(C.last_batch_len > 0);
	RX(C.last_batch, C.last_batch_len);
	RX(C.last_batch, C.last_batch_len);
	stats(n2, &st);
	assert_true(st.rx_duplicate - st0.rx_duplicate == 2);

	/* origin not a peer (properly tagged) */
	len = mk_batch(buf, sizeof(buf), 99, 5000, seq, &en, 1);
	assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
	RX(buf, len);
	stats(n2, &st);
	assert_true(st.rx_unknown_origin - st0.rx_unknown_origin == 1);

	/* unknown map, wrong key size, wrong value size (from n3) */
	{
		struct sync_entry bad[3] = { en, en, en };
		uint8_t big[64] = { 0 };

		bad[0].map = "nosuch";
		bad[1].key_len = sizeof(k) - 1;
		memcpy(big, &v, sizeof(v));
		bad[2].value = big;
		bad[2].value_len = sizeof(v) + 4;
		len = mk_batch(buf, sizeof(buf), 30, 5000, seq++, bad, 3);
		assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
		RX(buf, len);
		stats(n2, &st);
		assert_true(st.rx_by_reason[SYNC_E_UNKNOWN_MAP] ==
			    st0.rx_by_reason[SYNC_E_UNKNOWN_MAP] + 1);
		assert_true(st.rx_by_reason[SYNC_E_KEY_SIZE] ==
			    st0.rx_by_reason[SYNC_E_KEY_SIZE] + 1);
		assert_true(st.rx_by_reason[SYNC_E_VALUE_SIZE] ==
			    st0.rx_by_reason[SYNC_E_VALUE_SIZE] + 1);
		assert_true(st.apply_rejected - st0.apply_rejected == 3);
	}
	/* an entry whose version disagrees with its value's */
	{
		struct sync_entry bad = en;

		bad.version = 9;
		len = mk_batch(buf, sizeof(buf), 30, 5000, seq++, &bad, 1);
		assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
		RX(buf, len);
	}
	/* a message for another node */
	{
		const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
		struct sync_hdr h = { .origin = 30, .epoch = 5000, .dest = 10, .mono_ns = 1 };

		assert_int_equal(
			sync_encode_resync_request(&h, 10, 1, 5, &lim, buf, sizeof(buf), &len), 0);
		assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
		RX(buf, len);
		stats(n2, &st);
		assert_true(st.rx_not_for_us - st0.rx_not_for_us == 1);
	}
	/* garbage, and an oversized message */
	{
		static uint8_t huge[70000];
		uint8_t g[200];
		size_t i;

		for (i = 0; i < sizeof(g); i++)
			g[i] = (uint8_t)rnd();
		len = sizeof(g) - SYNC_AUTH_TAG_ROOM;
		assert_int_equal(sync_auth_append(g, &len, sizeof(g), key, 32), 0);
		RX(g, len);
		RX(huge, sizeof(huge));
		stats(n2, &st);
		assert_true(st.rx_by_reason[SYNC_E_MALFORMED] > st0.rx_by_reason[SYNC_E_MALFORMED]);
		assert_true(st.rx_by_reason[SYNC_E_TOO_BIG] ==
			    st0.rx_by_reason[SYNC_E_TOO_BIG] + 1);
	}
	/* an older incarnation of n3 after a newer one */
	{
		len = mk_batch(buf, sizeof(buf), 30, 4999, 1, &en, 1);
		assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, 32), 0);
		RX(buf, len);
		stats(n2, &st);
		assert_true(st.rx_stale - st0.rx_stale == 1);
	}
#undef RX
	assert_true(n2->store.writes == writes); /* nothing written */
	assert_int_equal(n2->store.count[0], 1);
	assert_drop_sum(n2);
	/* and the engine carries on */
	put_session(&C.nodes[0], 2, 1, 0, 0x02);
	run(5);
	assert_int_equal(n2->store.count[0], 2);
	cluster_free();
}

/* (h) the validate callback's refusal is counted; nothing is written. */
static void test_validate(void **state)
{
	struct sync_engine_stats st;
	struct tval v;

	cluster_init(2, NULL);
	C.nodes[1].reject_ee = true;
	cluster_start();
	run(400);
	put_session(&C.nodes[0], 1, 1, 0, 0xEE);
	put_session(&C.nodes[0], 2, 1, 0, 0x01);
	run(5);
	assert_false(get_session(&C.nodes[1], 1, &v));
	assert_true(get_session(&C.nodes[1], 2, &v));
	stats(&C.nodes[1], &st);
	assert_true(st.apply_rejected == 1);
	assert_int_equal(C.nodes[1].validate_refused, 1);
	cluster_free();
}

/* (h') the replaced callback sees what a peer's entry removed or replaced
 * here, with the value that was there (syncd gives back the SNAT port a
 * session held); a first write and a losing entry call nothing. */
static void test_replaced(void **state)
{
	struct node *n1;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[1];
	put_session(&C.nodes[0], 1, 1, 0, 0x11); /* new on node 1: no call */
	run(5);
	assert_int_equal(n1->replaced_calls + n1->removed_calls, 0);
	put_session(&C.nodes[0], 1, 2, 0, 0x22); /* replaces 0x11 */
	run(5);
	assert_int_equal(n1->replaced_calls, 1);
	assert_int_equal(n1->replaced_old, 0x11);
	assert_int_equal(n1->replaced_new, 0x22);
	del_session(&C.nodes[0], 1); /* removes 0x22 */
	run(5);
	assert_int_equal(n1->removed_calls, 1);
	assert_int_equal(n1->replaced_old, 0x22);
	put_session(n1, 2, 9, 0, 0x99); /* node 1's own, a newer version */
	run(5);
	put_session(&C.nodes[0], 2, 3, 0, 0x33); /* loses on node 1: no call */
	run(5);
	assert_int_equal(n1->replaced_calls, 1);
	assert_int_equal(n1->removed_calls, 1);
	cluster_free();
}

static size_t held(struct node *nd, uint32_t from, uint32_t to);

/* The batch store calls: a message's entries are read and written in a
 * few calls, the same key twice in one message is applied in order, and
 * a key the data plane writes between the lookup and the write is
 * decided again on what it holds then. */
static uint32_t race_key = 7;

static void race_between(struct mstore *s, unsigned int map, struct sync_store_io *io, size_t n)
{
	struct tkey k = tkey_of(race_key);
	struct tval v;

	(void)io;
	(void)n;
	if (map != 0 || ms_lookup(s, 0, &k, &v))
		return;
	v.version = 99; /* a lifecycle write of the data plane */
	v.payload[0] = 0xDD;
	ms_update(s, 0, &k, &v);
	s->between = NULL;
}

static void test_batch_store(void **state)
{
	struct sync_engine_stats st;
	struct node *n1, *n2;
	struct tval v;
	uint32_t i;

	if (store_ops != &mstore_batch_ops)
		skip();
	cluster_init(2, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];

	/* 200 entries in one or two messages: a few calls, not 400 */
	n2->store.batch_calls = 0;
	for (i = 0; i < 200; i++)
		put_session(n1, i, 1, 0, 0x51);
	run(5);
	assert_int_equal(held(n2, 0, 200), 200);
	print_message("batch: 200 entries applied in %" PRIu64 " store calls\n",
		      n2->store.batch_calls);
	assert_true(n2->store.batch_calls <= 8);

	/* the same key three times (an update, its delete and a new update:
	 * the sender folds only an update into an update), and a delete after
	 * an update, in one message */
	put_session(n1, 300, 1, 0, 0x61);
	del_session(n1, 300);
	put_session(n1, 300, 2, 0, 0x62);
	put_session(n1, 301, 1, 0, 0x63);
	del_session(n1, 301);
	run(5);
	assert_true(get_session(n2, 300, &v));
	assert_int_equal(v.version, 2);
	assert_int_equal(v.payload[0], 0x62);
	assert_false(get_session(n2, 301, &v));

	/* n2's data plane writes key 7 (version 99) between the lookup and the
	 * write of n1's version 3 of it: version 99 stays */
	race_key = 7;
	n2->store.between = race_between;
	put_session(n1, 7, 3, 0, 0x71);
	put_session(n1, 8, 3, 0, 0x72);
	run(5);
	assert_null(n2->store.between); /* the hook ran */
	assert_true(get_session(n2, 7, &v));
	assert_int_equal(v.version, 99);
	assert_int_equal(v.payload[0], 0xDD);
	assert_true(get_session(n2, 8, &v)); /* the rest of the batch applied */
	assert_int_equal(v.version, 3);
	stats(n2, &st);
	assert_int_equal(st.apply_raced, 1);
	cluster_free();
}

/* A session written by nd's data plane whose capture record was lost:
 * in its map only. owner 0: nd itself. */
static void put_session_unseen(struct node *nd, uint32_t i, uint32_t owner, uint8_t tag)
{
	struct tkey k = tkey_of(i);
	struct tval v;

	memset(&v, 0, sizeof(v));
	v.ts = node_now(nd) - 5 * MS;
	v.owner = owner ? owner : nd->id;
	v.version = 1;
	memset(v.payload, tag, sizeof(v.payload));
	assert_int_equal(ms_update(&nd->store, 0, &k, &v), 0);
}

/* lbd's ageing deleted the session, and the record never reached the
 * engine (lost, or syncd was down): no tombstone anywhere. */
static void del_session_unseen(struct node *nd, uint32_t i)
{
	struct tkey k = tkey_of(i);

	assert_int_equal(ms_remove(&nd->store, 0, &k, NULL), 0);
}

static size_t held(struct node *nd, uint32_t from, uint32_t to)
{
	struct tval v;
	size_t n = 0;
	uint32_t i;

	for (i = from; i < to; i++)
		n += get_session(nd, i, &v);
	return n;
}

/*
 * The owner is the authority over its entries. n1 deletes 100 of its
 * sessions and every delete record is lost; n2 makes 100 sessions whose
 * records are lost too, so that both pull each other's buckets in the
 * next digest round. n2's snapshot of a bucket carries its stale copies
 * of n1's deleted sessions: n1 must not write them back (it used to, and
 * the next rounds then agreed on the resurrected sessions everywhere).
 */
static void test_own_gone_antientropy(void **state)
{
	struct sync_engine_cfg cfg = { .antientropy_ms = 300 };
	struct sync_engine_stats st;
	struct node *n1, *n2;
	uint32_t i;

	cluster_init(2, &cfg);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	for (i = 0; i < 100; i++)
		put_session(n1, i, 1, 0, 0x31);
	run(50);
	assert_int_equal(held(n2, 0, 100), 100);
	for (i = 0; i < 100; i++) {
		del_session_unseen(n1, i);
		put_session_unseen(n2, 1000 + i, 0, 0x32);
	}
	run(2000);
	assert_int_equal(held(n1, 0, 100), 0); /* not resurrected */
	assert_int_equal(held(n2, 0, 100), 0); /* pruned by anti-entropy */
	assert_int_equal(held(n1, 1000, 1100), 100);
	assert_int_equal(cluster_diff(), 0);
	stats(n1, &st);
	print_message("own gone: n1 refused %" PRIu64 " copies of its deleted sessions\n",
		      st.apply_own_gone);
	assert_true(st.apply_own_gone > 0); /* the race this test is about happened */
	cluster_free();
}

/*
 * syncd restarts beside a running data plane (its maps kept): while it
 * was down, lbd deleted 50 of the node's sessions and the deletes went
 * nowhere. The startup snapshot from the peer carries the peer's copies:
 * the node must not take them back; the peer's copies are pruned. A node
 * whose maps were created anew (test_restart) does take its own back.
 */
static void test_own_gone_restart(void **state)
{
	struct sync_engine_cfg cfg = { .antientropy_ms = 300 };
	struct sync_engine_stats st;
	struct node *n1, *n2;
	uint32_t i;

	cluster_init(2, &cfg);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	n2 = &C.nodes[1];
	for (i = 0; i < 100; i++)
		put_session(n2, i, 1, 0, 0x41);
	run(50);
	assert_int_equal(held(n1, 0, 100), 100);

	sync_engine_free(n2->e);
	n2->e = NULL;
	n2->up = false;
	for (i = 0; i < 50; i++)
		del_session_unseen(n2, i);
	run(300);
	n2->epoch += 1000;
	node_start(n2);
	run(100);
	assert_true(sync_engine_ready(n2->e));
	assert_int_equal(held(n2, 0, 50), 0);	 /* not taken back */
	assert_int_equal(held(n2, 50, 100), 50); /* kept */
	stats(n2, &st);
	assert_int_equal(st.apply_own_gone, 50);
	run(1500);
	assert_int_equal(held(n1, 0, 50), 0); /* the peer's copies pruned */
	assert_int_equal(held(n2, 0, 50), 0);
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/*
 * A started two-node cluster (cfg) where n1 has 100 sessions that reached
 * n2, then 50 more and 10 deletes written to n1's map that were never
 * captured: n2 lacks 50 and holds 10 stale. Returns n1.
 */
static struct node *uncaptured_changes(const struct sync_engine_cfg *cfg)
{
	struct node *n1;
	uint32_t i;

	cluster_init(2, cfg);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (i = 0; i < 100; i++)
		put_session(n1, i, 1, 0, 0x01);
	run(10);
	for (i = 100; i < 150; i++) {
		struct tkey k = tkey_of(i);
		struct tval v = { .ts = node_now(n1), .owner = n1->id, .version = 1 };

		assert_int_equal(ms_update(&n1->store, 0, &k, &v), 0);
	}
	for (i = 0; i < 10; i++) {
		struct tkey k = tkey_of(i);

		assert_int_equal(ms_remove(&n1->store, 0, &k, NULL), 0);
	}
	run(500);
	return n1;
}

/* The capture lost events: the changes never reached the engine. An
 * anti-entropy round scheduled at once repairs the peers. */
static void test_capture_lost(void **state)
{
	struct sync_engine_stats st;
	struct node *n1;

	n1 = uncaptured_changes(&(struct sync_engine_cfg){ .antientropy_ms = 100000 });
	assert_true(cluster_diff() == 60); /* no round due before 100 s */
	sync_engine_capture_lost(n1->e, 60, C.now);
	run(500);
	assert_int_equal(cluster_diff(), 0);
	stats(&C.nodes[1], &st);
	assert_true(st.digest_mismatches > 0);
	assert_true(st.antientropy_deletes == 10);
	cluster_free();
}

/*
 * The repairs' key sets are bounded: with room for 3 keys, a bucket repair
 * cannot hold the keys the peer has, so it prunes nothing (it would delete
 * entries the peer has); the missing entries still arrive, the stale ones
 * stay, and both are counted.
 */
static void test_kset_bound(void **state)
{
	struct sync_engine_stats st;
	struct node *n1, *n2;

	(void)state;
	n1 = uncaptured_changes(
		&(struct sync_engine_cfg){ .antientropy_ms = 100000, .kset_keys_max = 3 });
	n2 = &C.nodes[1];
	sync_engine_capture_lost(n1->e, 60, C.now);
	run(500);
	stats(n2, &st);
	assert_true(st.kset_full > 0);
	assert_true(st.prunes_skipped > 0);
	assert_true(st.antientropy_deletes == 0);
	assert_int_equal(held(n2, 100, 150), 50); /* what was missing came */
	assert_int_equal(held(n2, 10, 100), 90);  /* nothing n1 has was lost */
	assert_int_equal(held(n2, 0, 10), 10);	  /* the stale ones stay */
	cluster_free();
}

static uint32_t sim_birth(void);
static uint32_t sim_version_clock(void *arg);

/*
 * A capture loss of the newest sessions (born now: a round with the settle
 * cut would leave them out for digest_settle_ms) is repaired within a
 * second of being reported, with periodic anti-entropy off on both nodes;
 * the control without the report stays different.
 */
static void capture_lost_fresh(bool report)
{
	struct node *n1;
	uint32_t i;

	cluster_init(2, &(struct sync_engine_cfg){ .antientropy_ms = SYNC_ANTIENTROPY_OFF,
						   .digest_settle_ms = 5000,
						   .version_clock = sim_version_clock });
	specs[0].version_clock = true;
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (i = 0; i < 20; i++)
		put_session(n1, i, sim_birth(), 0, 0x01);
	run(10);
	for (i = 20; i < 40; i++) { /* written, never captured */
		struct tkey k = tkey_of(i);
		struct tval v = { .ts = node_now(n1), .owner = n1->id, .version = sim_birth() };

		assert_int_equal(ms_update(&n1->store, 0, &k, &v), 0);
	}
	for (i = 0; i < 5; i++) { /* deleted, never captured */
		struct tkey k = tkey_of(i);

		assert_int_equal(ms_remove(&n1->store, 0, &k, NULL), 0);
	}
	assert_int_equal(cluster_diff(), 25);
	if (report)
		sync_engine_capture_lost(n1->e, 25, C.now);
	run(1000);
	assert_int_equal(cluster_diff(), report ? 0 : 25);
	cluster_free();
}

static void test_capture_lost_fresh(void **state)
{
	capture_lost_fresh(true);
	capture_lost_fresh(false); /* control */
}

/*
 * A capture loss that leaves more buckets different than a peer may pull at
 * once (BUCKET_PULLS_PER_PEER, 64): the buckets over the limit are compared
 * again once pulls complete, not left to a next round (there is none here:
 * periodic anti-entropy is off).
 */
static void test_capture_lost_many_buckets(void **state)
{
	struct node *n1;
	uint32_t i;

	cluster_init(2, &(struct sync_engine_cfg){ .antientropy_ms = SYNC_ANTIENTROPY_OFF,
						   .digest_buckets = 256,
						   .walk_budget = SYNC_DEFAULT_WALK_BUDGET });
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (i = 0; i < 300; i++) { /* written, never captured */
		struct tkey k = tkey_of(i);
		struct tval v = { .ts = node_now(n1), .owner = n1->id, .version = 1 };

		assert_int_equal(ms_update(&n1->store, 0, &k, &v), 0);
	}
	assert_int_equal(cluster_diff(), 300);
	sync_engine_capture_lost(n1->e, 300, C.now);
	run(1000);
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/* The birth-version clock of the simulated cluster: one wall clock, which
 * the tests start just before it wraps. */
static uint32_t sim_vclock_base;

static uint32_t sim_version_clock(void *arg)
{
	(void)arg;
	return sim_vclock_base + (uint32_t)(C.now >> 20);
}

static uint32_t sim_birth(void)
{
	return sim_version_clock(NULL) | 1;
}

/*
 * Steady churn of short-lived sessions on n1 (new ones every millisecond at
 * the wall-clock birth version, each deleted 100 ms later), with a
 * reordering transport, no loss, digests every 200 ms: returns the digest
 * mismatches n2 saw. Nothing diverges, so every mismatch is an entry in
 * flight and every repair it starts is wasted.
 */
static uint64_t churn_mismatches(bool version_clock)
{
	struct sync_engine_stats st;
	struct node *n1;
	uint32_t next = 0, gone = 0, t, k;

	cluster_init(2, &(struct sync_engine_cfg){ .antientropy_ms = 200,
						   .digest_settle_ms = 1000,
						   .version_clock = sim_version_clock });
	specs[0].version_clock = version_clock;
	sim_vclock_base = UINT32_MAX - 2000; /* wraps during the churn */
	C.jitter_ns = 2 * MS;
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (t = 0; t < 2000; t++) {
		for (k = 0; k < 3; k++)
			put_session(n1, next++, sim_birth(), 0, 0x5e);
		while (gone + 300 < next)
			del_session(n1, gone++);
		run(1);
	}
	run(1500);
	assert_int_equal(cluster_diff(), 0);
	stats(&C.nodes[1], &st);
	cluster_free();
	return st.digest_mismatches;
}

static void test_digest_settle_churn(void **state)
{
	uint64_t with = churn_mismatches(true), without = churn_mismatches(false);

	(void)state;
	print_message("churn: digest mismatches %" PRIu64 " with birth-time settling, %" PRIu64
		      " without\n",
		      with, without);
	assert_int_equal(with, 0);
	assert_true(without > 0); /* control: in-flight entries do mismatch */
}

/*
 * Settling only delays the check: entries that really diverge (written to
 * n1's map, never captured) are left alone while they are younger than
 * digest_settle_ms, then repaired by the first round after.
 */
static void test_digest_settle_repairs(void **state)
{
	struct sync_engine_stats st;
	struct node *n1;
	uint32_t i;

	(void)state;
	cluster_init(2, &(struct sync_engine_cfg){ .antientropy_ms = 200,
						   .digest_settle_ms = 1000,
						   .version_clock = sim_version_clock });
	specs[0].version_clock = true;
	sim_vclock_base = UINT32_MAX - 1500; /* born before the wrap, checked after */
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	for (i = 0; i < 50; i++) {
		struct tkey k = tkey_of(i);
		struct tval v = { .ts = node_now(n1), .owner = n1->id, .version = sim_birth() };

		assert_int_equal(ms_update(&n1->store, 0, &k, &v), 0);
	}
	run(700);
	assert_int_equal(cluster_diff(), 50); /* young: not compared yet */
	stats(&C.nodes[1], &st);
	assert_int_equal(st.digest_mismatches, 0);
	run(1000);
	assert_int_equal(cluster_diff(), 0); /* old enough: repaired */
	stats(&C.nodes[1], &st);
	assert_true(st.digest_mismatches > 0);
	cluster_free();
}

/* The store fails (map full): counted as an apply error, not fatal. */
static void test_store_errors(void **state)
{
	struct sync_engine_stats st;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	C.nodes[1].store.fail_updates = 1;
	put_session(&C.nodes[0], 1, 1, 0, 0x01);
	run(5);
	stats(&C.nodes[1], &st);
	assert_true(st.apply_errors == 1);
	cluster_free();
}

/* Liveness: a silent peer is declared dead, heard again alive. */
static void test_liveness(void **state)
{
	struct sync_peer_status ps;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	assert_int_equal(C.nodes[0].alive_calls, 1);
	sync_engine_get_peer(C.nodes[0].e, 0, &ps);
	assert_true(ps.alive && ps.ready);
	C.cut[1][0] = true;
	run(250);
	assert_int_equal(C.nodes[0].dead_calls, 1);
	sync_engine_get_peer(C.nodes[0].e, 0, &ps);
	assert_false(ps.alive);
	C.cut[1][0] = false;
	run(50);
	assert_int_equal(C.nodes[0].alive_calls, 2);
	/* acknowledgements: n2 says which of n1's sequences it holds */
	put_session(&C.nodes[0], 1, 1, 0, 0x01);
	run(50);
	sync_engine_get_peer(C.nodes[0].e, 0, &ps);
	assert_true(ps.acked_seq >= 1);
	cluster_free();
}

/*
 * Beacons (syncd's beacon thread): a node whose loop is held up for 5 x
 * dead_after_ms (no tick, no receive, no heartbeat) but whose beacon thread
 * runs is not declared dead; the same stall without beacons is (control);
 * a node that is gone is declared dead as fast as before.
 */
static void stall_run(bool beacons, int *dead)
{
	struct node *n1;

	cluster_init(2, NULL);
	cluster_start();
	run(400);
	n1 = &C.nodes[0];
	put_session(n1, 1, 1, 0, 0x01);
	run(20);
	n1->beacons = beacons;
	n1->beacon_at = C.now;
	n1->stalled_until = C.now + 5 * C.base.dead_after_ms * MS;
	run(5 * C.base.dead_after_ms + 300);
	*dead = C.nodes[1].dead_calls;
	/* the held-up node went on where it stopped */
	put_session(n1, 2, 1, 0, 0x02);
	run(50);
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

static void test_beacons(void **state)
{
	struct sync_engine_stats st;
	int with, without;
	uint64_t t0;

	stall_run(true, &with);
	stall_run(false, &without);
	print_message("beacons: a loop held up 1 s (dead_after 200 ms): declared dead %d times "
		      "with beacons, %d without\n",
		      with, without);
	assert_int_equal(with, 0);
	assert_true(without >= 1);

	/* a node that is gone: dead after dead_after_ms, beacons or not */
	cluster_init(2, NULL);
	cluster_start();
	run(400);
	stats(&C.nodes[1], &st);
	assert_true(st.rx_beacons == 0);
	C.nodes[0].up = false;
	t0 = C.now;
	while (!C.nodes[1].dead_calls && C.now - t0 < 1000 * MS)
		run(5);
	print_message("beacons: a node gone is declared dead after %llu ms\n",
		      (unsigned long long)((C.now - t0) / MS));
	assert_true(C.nodes[1].dead_calls == 1 && C.now - t0 <= 260 * MS);
	cluster_free();
}

/* Two nodes with cfg: node 1 alone holds n sessions (payload tag), node 2
 * is not started yet (the joining node). */
static void join_setup(const struct sync_engine_cfg *cfg, uint32_t n, uint8_t tag)
{
	uint32_t i;

	cluster_init(2, cfg);
	node_start(&C.nodes[0]);
	C.nodes[1].up = false;
	run(400);
	for (i = 0; i < n; i++)
		put_session(&C.nodes[0], i, 1, 0, tag);
	run(10);
}

/*
 * A joining node pulls a snapshot of many chunks over a lossy link: flow
 * control keeps at most a window of chunks in flight, and a lost chunk is
 * sent again from where it went missing instead of the walk starting over.
 */
static void test_snapshot_flow(void **state)
{
	/* ~30 entries a chunk: ~100 chunks */
	struct sync_engine_cfg cfg = { .lim.max_msg = 2048, .walk_budget = 256 };
	struct sync_engine_stats s1, s2;
	uint32_t n = 3000;
	uint64_t t0;

	join_setup(&cfg, n, 0x21);
	C.loss_pct = 3; /* in order, as over the transport's TCP */
	t0 = C.now;
	node_start(&C.nodes[1]);
	while (!sync_engine_ready(C.nodes[1].e) && C.now - t0 < 5000 * MS)
		run(5);
	C.loss_pct = 0;
	stats(&C.nodes[0], &s1);
	stats(&C.nodes[1], &s2);
	print_message("snapshot flow: %u entries in %llu chunks' worth, ready after %llu ms; "
		      "in flight at most %u chunks; resends asked %llu, chunks sent again %llu, "
		      "out of order %llu, walks asked %llu\n",
		      n, (unsigned long long)(s1.snapshot_entries_sent / 30),
		      (unsigned long long)((C.now - t0) / MS), C.snap_inflight_max,
		      (unsigned long long)s2.snapshot_resends_asked,
		      (unsigned long long)s1.snapshot_chunks_resent,
		      (unsigned long long)s2.snapshot_chunks_dropped,
		      (unsigned long long)s2.snapshots_requested);
	assert_true(sync_engine_ready(C.nodes[1].e));
	assert_int_equal(C.nodes[1].store.count[0], n);
	assert_int_equal(cluster_diff(), 0);
	assert_true(C.snap_inflight_max <= 32); /* the window */
	assert_true(s2.snapshot_resends_asked >= 1 && s1.snapshot_chunks_resent >= 1);
	/* one walk: the losses were sent again, not the whole snapshot
	 * (unless the request itself was lost: then asked again, same id) */
	assert_true(s1.snapshots_served == 1);
	assert_true(s1.snapshot_entries_sent < 2 * n);
	run(200);
	stats(&C.nodes[0], &s1);
	assert_int_equal(s1.snapshots_abandoned, 0); /* the last ack let it go */
	cluster_free();
}

/* Walks go in slices with the daemon's capture drained between them: a
 * tick serving a large snapshot yields, and what the data plane wrote
 * meanwhile is sent and arrives like any change. */
static void test_walk_yields(void **state)
{
	struct sync_engine_cfg cfg = { .walk_budget = 4096 };
	uint32_t n = 3000;

	join_setup(&cfg, n, 0x31);
	C.nodes[0].yield_put = 100000;
	node_start(&C.nodes[1]);
	run(300);
	C.nodes[0].yield_put = 0;
	run(100);
	print_message("walk yields: %d, sessions written during them %zu\n", C.nodes[0].yields,
		      C.nodes[0].store.count[0] - n);
	assert_true(C.nodes[0].yields >= 1);
	assert_true(C.nodes[0].store.count[0] > n);
	assert_true(sync_engine_ready(C.nodes[1].e));
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/*
 * A requester that goes quiet midway: the server drops the snapshot after
 * a while (its memory is the window), and when the requester comes back
 * and asks for the rest it is told the snapshot is gone, and asks anew.
 */
static void test_snapshot_gone(void **state)
{
	struct sync_engine_cfg cfg = { .lim.max_msg = 2048, .walk_budget = 256 };
	struct sync_engine_stats s1, s2;
	uint32_t n = 3000;
	uint64_t t0;

	join_setup(&cfg, n, 0x22);
	node_start(&C.nodes[1]);
	/* the snapshot begins, then node 2's loop is held up for 1 s (more
	 * than the server waits for an acknowledgement: 25 x 20 ms) */
	C.drop_types = 1u << SYNC_MSG_SNAPSHOT_ACK;
	run(5);
	C.drop_types = 0;
	C.nodes[1].stalled_until = C.now + 1000 * MS;
	t0 = C.now;
	while (!sync_engine_ready(C.nodes[1].e) && C.now - t0 < 5000 * MS)
		run(5);
	stats(&C.nodes[0], &s1);
	stats(&C.nodes[1], &s2);
	print_message(
		"snapshot gone: served %llu, abandoned %llu; the requester was told gone "
		"%llu times, asked %llu walks; ready %llu ms after its stall began\n",
		(unsigned long long)s1.snapshots_served, (unsigned long long)s1.snapshots_abandoned,
		(unsigned long long)s2.snapshots_gone, (unsigned long long)s2.snapshots_requested,
		(unsigned long long)((C.now - t0) / MS));
	assert_true(sync_engine_ready(C.nodes[1].e));
	assert_int_equal(C.nodes[1].store.count[0], n);
	assert_int_equal(s1.snapshots_abandoned, 1);
	assert_true(s2.snapshots_gone >= 1);
	assert_true(s1.snapshots_served >= 2);
	assert_int_equal(cluster_diff(), 0);
	cluster_free();
}

/* Configuration errors are refused with a message. */
static void test_bad_config(void **state)
{
	struct sync_engine_cfg cfg;
	uint32_t peers[2] = { 2, 2 };
	char err[128];

	specs_init();
	memset(&cfg, 0, sizeof(cfg));
	cfg.n_maps = NMAPS;
	cfg.maps = specs;
	cfg.epoch = 1;
	err[0] = 0;
	assert_null(sync_engine_new(&cfg, &mstore_ops, NULL, &io_ops, NULL, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	cfg.node_id = 1;
	cfg.n_peers = 2;
	cfg.peers = peers;
	assert_null(sync_engine_new(&cfg, &mstore_ops, NULL, &io_ops, NULL, err, sizeof(err)));
	peers[1] = 1;
	assert_null(sync_engine_new(&cfg, &mstore_ops, NULL, &io_ops, NULL, err, sizeof(err)));
	peers[1] = 3;
	cfg.auth_key_len = 65;
	assert_null(sync_engine_new(&cfg, &mstore_ops, NULL, &io_ops, NULL, err, sizeof(err)));
	cfg.auth_key_len = 0;
	sync_engine_cfg_defaults(&cfg);
	assert_int_equal(cfg.heartbeat_ms, 100);
	assert_int_equal(cfg.antientropy_ms, 10000);
	{
		/* off is said, and stays said */
		struct sync_engine_cfg off = cfg;

		off.antientropy_ms = SYNC_ANTIENTROPY_OFF;
		sync_engine_cfg_defaults(&off);
		assert_true(off.antientropy_ms == SYNC_ANTIENTROPY_OFF);
	}
	{
		struct sync_engine *e =
			sync_engine_new(&cfg, &mstore_ops, NULL, &io_ops, NULL, err, sizeof(err));

		assert_non_null(e);
		assert_int_equal(sync_engine_map_index(e, "rev"), 1);
		assert_int_equal(sync_engine_map_index(e, "nope"), -1);
		assert_int_equal(sync_engine_n_peers(e), 2);
		sync_engine_free(e);
	}
}

/* Service sets: each engine announces its digest in heartbeats and sends
 * its set (here an opaque blob of several chunks) to the peer that asks;
 * a change arrives within a second, also through loss; a set whose bytes
 * do not hash to its digest is refused and counted, the last good one
 * kept. */
static void blob(uint8_t *b, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void expect_set(int at, size_t peer, const uint8_t *b, size_t n)
{
	struct sync_peer_services ps;

	sync_engine_peer_services(C.nodes[at].e, peer, &ps);
	assert_true(ps.announced);
	assert_true(ps.digest == XXH3_64bits(b, n));
	assert_non_null(ps.enc);
	assert_true(ps.enc_digest == ps.digest);
	assert_int_equal(ps.len, n);
	assert_memory_equal(ps.enc, b, n);
}

static void test_services(void **state)
{
	static uint8_t a[150000], b[3000], c[70000];
	struct sync_peer_services ps;
	struct sync_engine_stats st;
	uint64_t req0;

	(void)state;
	blob(a, sizeof(a), 1);
	blob(b, sizeof(b), 2);
	blob(c, sizeof(c), 3);
	cluster_init(2, NULL);
	cluster_start();
	/* nothing announced yet */
	run(100);
	sync_engine_peer_services(C.nodes[1].e, 0, &ps);
	assert_false(ps.announced);
	assert_null(ps.enc);

	assert_int_equal(
		sync_engine_set_services(C.nodes[0].e, XXH3_64bits(a, sizeof(a)), a, sizeof(a)), 0);
	assert_int_equal(
		sync_engine_set_services(C.nodes[1].e, XXH3_64bits(b, sizeof(b)), b, sizeof(b)), 0);
	run(200);
	expect_set(1, 0, a, sizeof(a)); /* three chunks */
	expect_set(0, 0, b, sizeof(b));
	stats(&C.nodes[0], &st);
	assert_int_equal(st.services_served, 1);
	assert_int_equal(st.services_received, 1);

	/* a change, through 30% loss */
	C.loss_pct = 30;
	assert_int_equal(
		sync_engine_set_services(C.nodes[0].e, XXH3_64bits(c, sizeof(c)), c, sizeof(c)), 0);
	run(3000);
	C.loss_pct = 0;
	run(700);
	expect_set(1, 0, c, sizeof(c));

	/* bytes that do not hash to the digest: refused, the last set kept,
	 * and asked for again at most every 500 ms (1200 ms: 3 requests) */
	stats(&C.nodes[1], &st);
	req0 = st.services_requests_sent;
	assert_int_equal(sync_engine_set_services(C.nodes[0].e, 0x1234, b, sizeof(b)), 0);
	run(1200);
	stats(&C.nodes[1], &st);
	assert_true(st.services_bad >= 1);
	assert_true(st.services_requests_sent - req0 >= 2);
	assert_true(st.services_requests_sent - req0 <= 3);
	sync_engine_peer_services(C.nodes[1].e, 0, &ps);
	assert_true(ps.digest == 0x1234);
	assert_true(ps.enc_digest == XXH3_64bits(c, sizeof(c)));
	assert_int_equal(ps.len, sizeof(c));
	assert_drop_sum(&C.nodes[1]);
	cluster_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replicate),
		cmocka_unit_test(test_batching),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_join_request_lost),
		cmocka_unit_test(test_loss_converges),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_epoch_floor),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_tombstone_flood),
		cmocka_unit_test(test_kset_bound),
		cmocka_unit_test(test_resync_limit),
		cmocka_unit_test(test_clock_skew),
		cmocka_unit_test(test_foreign_origin),
		cmocka_unit_test(test_node_keys),
		cmocka_unit_test(test_ready_timeout),
		cmocka_unit_test(test_partition_heal),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_delete_version0),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_replaced),
		cmocka_unit_test(test_batch_store),
		cmocka_unit_test(test_own_gone_antientropy),
		cmocka_unit_test(test_own_gone_restart),
		cmocka_unit_test(test_store_errors),
		cmocka_unit_test(test_capture_lost),
		cmocka_unit_test(test_capture_lost_fresh),
		cmocka_unit_test(test_capture_lost_many_buckets),
		cmocka_unit_test(test_digest_settle_churn),
		cmocka_unit_test(test_digest_settle_repairs),
		cmocka_unit_test(test_liveness),
		cmocka_unit_test(test_beacons),
		cmocka_unit_test(test_snapshot_flow),
		cmocka_unit_test(test_snapshot_gone),
		cmocka_unit_test(test_walk_yields),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_services),
	};

	int failed;

	failed = cmocka_run_group_tests_name("entry by entry", tests, setup, NULL);
	store_ops = &mstore_batch_ops;
	failed += cmocka_run_group_tests_name("batch store calls", tests, setup, NULL);
	return failed;
}
