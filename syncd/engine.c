// SPDX-License-Identifier: BSD-2-Clause
/*
 * The replication engine (engine.h): its life cycle and configuration, the
 * tick that drives the periodic work of every role, the queries, and the
 * helpers the roles share. The roles are in engine_send.c,
 * engine_apply.c, engine_snapshot.c and engine_digest.c (engine_priv.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "engine_priv.h"

#define DIGEST_BUCKETS_MAX 1024
/* walks go in slices of this many entries, with io.yield() between (one
 * BPF_MAP_LOOKUP_BATCH of the store: a few hundred microseconds) */
#define WALK_SLICE	    1024
#define TICKS_PER_HEARTBEAT 2
#define LOG_RL_SECONDS	    1  /* refusals and errors: at most */
#define LOG_RL_LINES	    20 /* 20 lines a second */

_Thread_local int eng_uthash_oom;

/* ------------------------------------------------------------ helpers */

static const char *peer_name_of(const struct sync_engine *e, uint32_t node, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < e->cfg.n_peers; i++) {
		if (e->peers[i].node == node)
			return e->peers[i].name;
	}
	snprintf(buf, len, "node%" PRIu32, node);
	return buf;
}

/* One rate-limited line per refused message or entry. */
void eng_log_refused(struct sync_engine *e, uint32_t from, const char *what, const char *map,
		     const char *why)
{
	char nb[32];

	xlb_log_rl(&e->rl, XLB_LOG_WARN, "sync %s: refused %s from %s map %s: %s", e->cfg.node_name,
		   what, peer_name_of(e, from, nb, sizeof(nb)), map && *map ? map : "-", why);
}

int eng_find_peer(const struct sync_engine *e, uint32_t node)
{
	size_t i;

	for (i = 0; i < e->cfg.n_peers; i++) {
		if (e->peers[i].node == node)
			return (int)i;
	}
	return -1;
}

int eng_find_map(const struct sync_engine *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->cfg.n_maps; i++) {
		if (!strcmp(e->maps[i].name, name))
			return (int)i;
	}
	return -1;
}

/* ----------------------------------------------------------- key sets */

void eng_kset_free(struct sync_engine *e, struct kent **set)
{
	struct kent *k, *tmp;

	HASH_ITER(hh, *set, k, tmp)
	{
		HASH_DEL(*set, k);
		free(k);
		e->kset_keys--;
	}
}

void eng_kset_del(struct sync_engine *e, struct kent **set, struct kent *k)
{
	HASH_DEL(*set, k);
	free(k);
	e->kset_keys--;
}

bool eng_kset_has(struct kent *set, const void *key, uint32_t len)
{
	struct kent *k = NULL;

	HASH_FIND(hh, set, key, len, k);
	return k != NULL;
}

bool eng_kset_add(struct sync_engine *e, struct kent **set, const void *key, uint32_t len)
{
	struct kent *k;

	if (eng_kset_has(*set, key, len))
		return true;
	if (e->kset_keys >= e->cfg.kset_keys_max) {
		e->st.kset_full++;
		return false;
	}
	k = malloc(sizeof(*k) + len);
	if (!k)
		return false;
	k->len = len;
	memcpy(k->key, key, len);
	eng_uthash_oom = 0;
	HASH_ADD_KEYPTR(hh, *set, k->key, k->len, k);
	if (eng_uthash_oom) {
		free(k);
		return false;
	}
	e->kset_keys++;
	return true;
}

/* --------------------------------------------------------------- tick */

/* The longest wait between ticks: liveness and heartbeats are checked
 * TICKS_PER_HEARTBEAT times per heartbeat_ms. */
static uint32_t tick_max_ms(const struct sync_engine *e)
{
	uint32_t ms = e->cfg.heartbeat_ms / TICKS_PER_HEARTBEAT;

	return ms ? ms : 1;
}

uint32_t sync_engine_tick(struct sync_engine *e, uint64_t now_ns)
{
	unsigned int left = e->cfg.walk_budget, slice, used;
	bool busy = false, b;
	uint64_t wait;

	if (!e->started)
		return tick_max_ms(e);

	/* a tick that comes late means this node did not run: nobody could
	 * be heard meanwhile, so that time is not the peers' silence */
	if (e->tick_due_ns && now_ns > e->tick_due_ns + SYNC_TICK_LATE_SLACK_NS) {
		size_t i;

		e->st.local_stall_ns += now_ns - e->tick_due_ns;
		for (i = 0; i < e->cfg.n_peers; i++)
			liveness_stalled(&e->peers[i].live, now_ns - e->tick_due_ns);
	}
	eng_peers_tick(e, now_ns); /* liveness and gap repair */
	eng_pulls_tick(e, now_ns);
	eng_update_ready(e, now_ns);
	if (now_ns >= e->next_hb_ns) {
		eng_send_heartbeat(e, now_ns);
		e->next_hb_ns = now_ns + ms2ns(e->cfg.heartbeat_ms);
	}
	/*
	 * One budget for every walk of this tick (snapshots served, digests,
	 * prunes), so that many jobs at once cannot stall the live stream (a
	 * busy engine asks for the next tick 1 ms later), spent in slices
	 * with the daemon's capture drained between them.
	 */
	for (;;) {
		slice = left < WALK_SLICE ? left : WALK_SLICE;
		e->budget = slice;
		b = eng_serves_tick(e, now_ns);
		b |= eng_digest_tick(e, now_ns);
		busy |= b;
		used = slice - e->budget;
		left = used >= left ? 0 : left - used;
		if (!b || !used || !left)
			break;
		if (e->io.yield)
			e->io.yield(e->io_ctx);
	}
	eng_tomb_expire(e, now_ns);

	if (busy) {
		wait = 1;
	} else {
		wait = e->next_hb_ns > now_ns ? (e->next_hb_ns - now_ns) / XLB_NSEC_PER_MSEC : 0;
		if (wait > tick_max_ms(e))
			wait = tick_max_ms(e);
		if (!wait)
			wait = 1;
	}
	e->tick_due_ns = now_ns + wait * XLB_NSEC_PER_MSEC;
	return (uint32_t)wait;
}

static int any_entry(void *arg, const void *key, const void *value)
{
	(void)key;
	(void)value;
	*(bool *)arg = true;
	return 1;
}

/* Do the watched maps with an owner field hold no entry at all? Then this
 * node starts without the sessions it owned (its maps were created anew:
 * a reboot), not as a syncd restarted beside a running data plane. */
static bool owned_maps_empty(struct sync_engine *e)
{
	struct sync_cursor cur;
	bool seen = false;
	size_t i;

	for (i = 0; i < e->cfg.n_maps && !seen; i++) {
		if (!sync_mapspec_has_owner(&e->maps[i]))
			continue;
		memset(&cur, 0, sizeof(cur));
		if (e->store->walk(e->store_ctx, (unsigned int)i, &cur, 1, any_entry, &seen) < 0)
			return false; /* unknown: keep what the node holds */
	}
	return !seen;
}

void sync_engine_start(struct sync_engine *e, uint64_t now_ns)
{
	size_t i;

	if (e->started)
		return;
	e->started = true;
	e->start_ns = now_ns;
	e->restore_own = owned_maps_empty(e);
	e->ae_next_ns = now_ns + ms2ns(e->cfg.antientropy_ms);
	for (i = 0; i < e->cfg.n_peers; i++)
		eng_pull_full(e, i, true, now_ns);
	eng_send_heartbeat(e, now_ns);
	e->next_hb_ns = now_ns + ms2ns(e->cfg.heartbeat_ms);
	eng_update_ready(e, now_ns); /* no peers: ready at once */
}

/* ----------------------------------------------------- setup, queries */

void sync_engine_cfg_defaults(struct sync_engine_cfg *cfg)
{
	const struct sync_limits dl = SYNC_LIMITS_DEFAULT;

	if (!cfg->lim.max_msg)
		cfg->lim.max_msg = dl.max_msg;
	if (!cfg->lim.max_entries)
		cfg->lim.max_entries = dl.max_entries;
	if (!cfg->lim.max_key)
		cfg->lim.max_key = dl.max_key;
	if (!cfg->lim.max_value)
		cfg->lim.max_value = dl.max_value;
	if (!cfg->lim.max_list)
		cfg->lim.max_list = dl.max_list;
	if (!cfg->batch_max_entries)
		cfg->batch_max_entries = cfg->lim.max_entries;
	if (!cfg->heartbeat_ms)
		cfg->heartbeat_ms = SYNC_DEFAULT_HEARTBEAT_MS;
	if (!cfg->dead_after_ms)
		cfg->dead_after_ms = SYNC_DEFAULT_DEAD_AFTER_MS;
	if (!cfg->ready_timeout_ms)
		cfg->ready_timeout_ms = SYNC_DEFAULT_READY_TIMEOUT_MS;
	if (!cfg->resync_retry_ms)
		cfg->resync_retry_ms = SYNC_DEFAULT_RESYNC_RETRY_MS;
	if (!cfg->antientropy_ms)
		cfg->antientropy_ms = SYNC_DEFAULT_ANTIENTROPY_MS;
	if (!cfg->digest_buckets)
		cfg->digest_buckets = SYNC_DEFAULT_DIGEST_BUCKETS;
	if (!cfg->digest_settle_ms)
		cfg->digest_settle_ms = SYNC_DEFAULT_DIGEST_SETTLE_MS;
	if (!cfg->walk_budget)
		cfg->walk_budget = SYNC_DEFAULT_WALK_BUDGET;
	if (!cfg->tombstone_ms)
		cfg->tombstone_ms = SYNC_DEFAULT_TOMBSTONE_MS;
	if (!cfg->tombstones_max)
		cfg->tombstones_max = SYNC_DEFAULT_TOMBSTONES_MAX;
	if (!cfg->kset_keys_max)
		cfg->kset_keys_max = SYNC_KSET_KEYS_MAX;
	if (!cfg->txring_msgs)
		cfg->txring_msgs = SYNC_DEFAULT_TXRING_MSGS;
	if (!cfg->txring_bytes)
		cfg->txring_bytes = SYNC_DEFAULT_TXRING_BYTES;
}

static int cfg_check(struct sync_engine *e, const struct sync_engine_cfg *cfg, const char **why)
{
	const struct sync_limits *lim = &e->cfg.lim;
	size_t i, j;

	if (!cfg->node_id)
		return *why = "node id must not be 0", -EINVAL;
	if (!cfg->epoch)
		return *why = "epoch must not be 0", -EINVAL;
	if (!cfg->n_maps || cfg->n_maps > SYNC_MAX_MAPS || !cfg->maps)
		return *why = "1 to 8 watched maps", -EINVAL;
	if (cfg->n_peers > SYNC_MAX_PEERS || (cfg->n_peers && !cfg->peers))
		return *why = "at most 16 peers", -EINVAL;
	if (cfg->auth_key_len > SYNC_AUTH_KEY_MAX)
		return *why = "authentication key longer than 64 bytes", -EINVAL;
	if (cfg->cipher != SYNC_CIPHER_NONE) {
		if (!sync_cipher_str(cfg->cipher))
			return *why = "unknown cipher", -EINVAL;
		if (!cfg->auth_key_len)
			return *why = "a cipher needs a key", -EINVAL;
		if (!sync_cipher_available(cfg->cipher))
			return *why = "aes-256-gcm needs a CPU with AES-NI "
				      "(chacha20-poly1305 runs anywhere)",
			       -ENOTSUP;
	}
	if (lim->max_msg <= SYNC_FRAME_ROOM + HDR_RESERVE + ENTRY_OVERHEAD ||
	    lim->max_key > SYNC_STORE_KEY_MAX)
		return *why = "message limits out of range", -EINVAL;
	if (e->cfg.digest_buckets > DIGEST_BUCKETS_MAX)
		return *why = "at most 1024 digest buckets", -EINVAL;
	for (i = 0; i < cfg->n_maps; i++) {
		const struct sync_mapspec *m = &cfg->maps[i];

		if (sync_mapspec_init(&e->maps[i], m->name, m->key_size, m->value_size, m->ts,
				      m->owner, m->version, lim, why))
			return -EINVAL;
		e->maps[i].version_clock = m->version_clock;
		if (m->value_size + m->key_size + strlen(m->name) + ENTRY_OVERHEAD >
		    lim->max_msg - SYNC_FRAME_ROOM - HDR_RESERVE)
			return *why = "an entry does not fit in a message", -EINVAL;
		for (j = 0; j < i; j++) {
			if (!strcmp(cfg->maps[j].name, m->name))
				return *why = "map watched twice", -EINVAL;
		}
	}
	if (e->cfg.txring_msgs > SYNC_SEQ_WINDOW)
		return *why = "txring_msgs is more than a receiver's window (65536)", -EINVAL;
	for (i = 0; i < cfg->n_peers; i++) {
		if (!cfg->peers[i] || cfg->peers[i] == cfg->node_id)
			return *why = "peer id 0 or this node's", -EINVAL;
		for (j = 0; j < i; j++) {
			if (cfg->peers[j] == cfg->peers[i])
				return *why = "peer listed twice", -EINVAL;
		}
	}
	return 0;
}

struct sync_engine *sync_engine_new(const struct sync_engine_cfg *cfg,
				    const struct sync_store_ops *store, void *store_ctx,
				    const struct sync_io_ops *io, void *io_ctx, char *err,
				    size_t errlen)
{
	struct sync_engine *e;
	const char *why = NULL;
	size_t i, vmax, jv = 0;

	if (!cfg || !store || !store->lookup || !store->update || !store->remove || !store->walk ||
	    !store->lookup_many != !store->write_many || !io || !io->send) {
		snprintf(err, errlen, "sync engine: missing store or io operations");
		return NULL;
	}
	if (sync_auth_init()) {
		snprintf(err, errlen, "sync engine: libsodium initialisation failed");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "sync engine: out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	sync_engine_cfg_defaults(&e->cfg);
	if (cfg_check(e, cfg, &why)) {
		snprintf(err, errlen, "sync engine: %s", why ? why : "bad configuration");
		free(e);
		return NULL;
	}
	e->cfg.maps = e->maps;
	e->cfg.peers = e->peer_ids;
	e->cfg.peer_names = NULL;
	/* the key's HMAC pads hashed once, not per message */
	if (e->cfg.auth_key_len)
		sync_auth_key_init(&e->auth, e->cfg.auth_key, e->cfg.auth_key_len);
	if (e->cfg.cipher != SYNC_CIPHER_NONE &&
	    sync_seal_init(&e->seal, e->cfg.cipher, e->cfg.node_id, e->cfg.auth_key,
			   e->cfg.auth_key_len)) {
		snprintf(err, errlen, "sync engine: cannot prepare the cipher");
		free(e);
		return NULL;
	}
	if (e->cfg.node_keys &&
	    (e->cfg.cipher == SYNC_CIPHER_NONE || !cfg->peer_pk ||
	     sync_seal_pairs(&e->seal, e->cfg.node_sk, cfg->n_peers, cfg->peers, cfg->peer_pk))) {
		snprintf(
			err, errlen,
			"sync engine: per-node keys need a cipher and a valid public key per peer");
		sodium_memzero(&e->seal, sizeof(e->seal));
		free(e);
		return NULL;
	}
	sodium_memzero(e->cfg.node_sk, sizeof(e->cfg.node_sk)); /* in the pairwise keys now */
	e->cfg.peer_pk = NULL;
	e->cfg.node_name = cfg->node_name ? cfg->node_name : "-";
	memcpy(e->peer_ids, cfg->peers, cfg->n_peers * sizeof(*cfg->peers));
	for (i = 0; i < cfg->n_peers; i++) {
		struct peer *p = &e->peers[i];

		p->node = cfg->peers[i];
		if (cfg->peer_epoch_floor)
			p->epoch_floor = cfg->peer_epoch_floor[i];
		if (cfg->peer_names && cfg->peer_names[i])
			snprintf(p->name, sizeof(p->name), "%s", cfg->peer_names[i]);
		else
			snprintf(p->name, sizeof(p->name), "node%" PRIu32, p->node);
	}
	e->cfg.peer_epoch_floor = NULL; /* copied into the peers */
	e->store = store;
	e->store_ctx = store_ctx;
	e->io = *io;
	e->io_ctx = io_ctx;
	e->nb = e->cfg.digest_buckets;
	e->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(LOG_RL_SECONDS, LOG_RL_LINES);
	vmax = e->cfg.lim.max_value;
	e->txbuf = malloc(e->cfg.lim.max_msg);
	e->vin = malloc(vmax);
	e->vloc = malloc(vmax);
	e->vmask_a = malloc(vmax);
	e->vmask_b = malloc(vmax);
	for (i = 0; i < e->cfg.n_maps; i++) {
		if (e->maps[i].value_size > jv)
			jv = e->maps[i].value_size;
	}
	e->jobs = calloc(APPLY_SEG_MAX, sizeof(*e->jobs));
	e->jobio = calloc(APPLY_SEG_MAX, sizeof(*e->jobio));
	e->jobbuf = calloc(APPLY_SEG_MAX * 2, jv ? jv : 1);
	e->skip = calloc(e->cfg.lim.max_entries, sizeof(*e->skip));
	if (!e->jobs || eng_kindex_init(&e->segkeys, APPLY_SEG_MAX) || !e->jobio || !e->jobbuf ||
	    !e->skip ||
	    sync_arena_init(&e->arena, e->cfg.lim.max_decode_mem
					       ? e->cfg.lim.max_decode_mem
					       : 64 * (size_t)e->cfg.lim.max_msg + 64 * 1024))
		goto nomem;
	for (i = 0; i < APPLY_SEG_MAX; i++) {
		e->jobs[i].vin = e->jobbuf + 2 * i * jv;
		e->jobs[i].vloc = e->jobbuf + (2 * i + 1) * jv;
	}
	if (e->cfg.cipher != SYNC_CIPHER_NONE) {
		e->sealbuf = malloc(e->cfg.lim.max_msg);
		e->scratch = malloc(e->cfg.lim.max_msg);
		e->openbuf = malloc(e->cfg.lim.max_msg);
		if (!e->sealbuf || !e->scratch || !e->openbuf)
			goto nomem;
	}
	if (!e->txbuf || !e->vin || !e->vloc || !e->vmask_a || !e->vmask_b ||
	    sync_txring_init(&e->ring, e->cfg.txring_msgs, e->cfg.txring_bytes))
		goto nomem;
	if (eng_digest_init(e) || eng_kindex_init(&e->bidx, e->cfg.batch_max_entries))
		goto nomem;
	return e;
nomem:
	sync_engine_free(e);
	snprintf(err, errlen, "sync engine: out of memory");
	return NULL;
}

void sync_engine_free(struct sync_engine *e)
{
	if (!e)
		return;
	eng_snapshot_free(e);
	eng_digest_free(e);
	eng_services_free(e);
	sync_auth_key_clear(&e->auth);
	sync_seal_clear(&e->seal);
	free(e->sealbuf);
	free(e->scratch);
	free(e->openbuf);
	eng_tombs_free(e);
	eng_ebuf_free(&e->batch);
	free(e->bidx.slot);
	sync_txring_free(&e->ring);
	free(e->txbuf);
	free(e->vin);
	free(e->vloc);
	free(e->jobs);
	free(e->segkeys.slot);
	free(e->jobio);
	free(e->jobbuf);
	free(e->skip);
	sync_arena_free(&e->arena);
	free(e->vmask_a);
	free(e->vmask_b);
	free(e);
}

int sync_engine_map_index(const struct sync_engine *e, const char *name)
{
	return name ? eng_find_map(e, name) : -1;
}

bool sync_engine_ready(const struct sync_engine *e)
{
	return e->ready;
}

void sync_engine_get_stats(const struct sync_engine *e, struct sync_engine_stats *st)
{
	*st = e->st;
	st->seq = e->tx_seq;
	st->ready = e->ready;
}

size_t sync_engine_n_peers(const struct sync_engine *e)
{
	return e->cfg.n_peers;
}

void sync_engine_get_peer(const struct sync_engine *e, size_t i, struct sync_peer_status *ps)
{
	const struct peer *p;

	memset(ps, 0, sizeof(*ps));
	if (i >= e->cfg.n_peers)
		return;
	p = &e->peers[i];
	ps->node = p->node;
	ps->alive = p->alive;
	ps->ready = p->ready;
	ps->snapshot_done = p->snapshot_done;
	ps->last_heard_ns = p->live.last_heard_ns;
	ps->dead_after_ns = liveness_allowed_ns(&p->live, ms2ns(e->cfg.dead_after_ms));
	ps->rx_epoch = p->rx.epoch;
	ps->rx_top = p->rx.top;
	ps->acked_seq = p->acked_seq;
	ps->rx_msgs = p->rx_msgs;
	ps->rx_entries = p->rx_entries;
	ps->gaps = p->gaps;
	ps->lost = p->lost;
	ps->has_clock_skew = p->has_skew;
	ps->clock_skew_ms = p->clock_skew * (1 << 20) / 1000000;
}
