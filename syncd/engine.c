// SPDX-License-Identifier: BSD-2-Clause
/*
 * The replication engine (engine.h): batching, sequencing, heartbeats,
 * liveness, gap repair, snapshots, anti-entropy and the apply path.
 *
 * Choices this file makes where engine.h leaves room (all deliberate):
 *
 *  - Write identity. The conflict rule compares (version, node). For an
 *    UPDATE of a map with an owner field the node is the value's owner
 *    field (falling back to the entry origin when it is 0), on both sides
 *    of the comparison; a DELETE's node is its origin. Using the same
 *    definition for the incoming and the local value keeps the order total
 *    when a node rewrites a session it does not own. For a map with a
 *    version but no owner field, the local value's node is taken to be the
 *    incoming writer, so equal versions are settled by the value bytes.
 *    Value bytes are compared with the timestamp field zeroed: the same
 *    write carries different (rebased) timestamps on different nodes.
 *  - Unversioned maps (no version field): an UPDATE always applies and a
 *    DELETE always deletes (last writer wins by arrival); no tombstones.
 *  - Maps without an owner field get no anti-entropy: nobody is the
 *    authority for their entries, so a missing entry cannot be told from a
 *    deleted one. They are repaired by resync and snapshots only.
 *  - "Answered with nothing": a requester that re-requests the same
 *    missing range RESYNC_MAX_TRIES times without it arriving assumes the
 *    range is gone and pulls a full snapshot from the origin.
 *  - Anti-entropy digests are sent and compared only once this node is
 *    ready: a restarting node with an empty map must not make its peers
 *    prune the sessions it owned before (the startup snapshot brings them
 *    back first).
 *  - Counting: rx_dropped is the sum of rx_by_reason[], rx_auth_fail,
 *    rx_duplicate and rx_stale. A refused entry inside an accepted message
 *    (apply-time mapspec reasons) counts in rx_by_reason[] and rx_dropped
 *    as well as in apply_rejected; a validate refusal only in
 *    apply_rejected. Messages from a node that is not a peer
 *    (rx_unknown_origin) and messages for another node (rx_not_for_us) are
 *    counted apart. A message of an older incarnation of a peer than one
 *    already heard is stale.
 *  - Timestamps are rebased with the mono_ns of the envelope as it was
 *    encoded: a retransmitted batch makes its entries look younger by the
 *    retransmission delay (the safe direction for ageing).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "auth.h"
#include "conflict.h"
#include "engine.h"
#include "log.h"
#include "seqtrack.h"

/* uthash: report allocation failures instead of exiting the process. */
static _Thread_local int uthash_oom;
#define HASH_NONFATAL_OOM	1
#define uthash_nonfatal_oom(obj)	do { (void)(obj); uthash_oom = 1; } while (0)
#include <uthash.h>

#define NS_PER_MS		1000000ull
#define RESYNC_MAX_TRIES	5	/* re-requests of one range before a snapshot */
#define RESYNC_MAX_SPAN		SYNC_SEQ_WINDOW	/* messages served per request */
#define SERVE_MAX_PER_PEER	160	/* snapshot walks in progress per requester */
#define BUCKET_PULLS_PER_PEER	64	/* outstanding repairs asked of one peer; the
					 * rest wait for the next digest round */
#define PULL_MAX		256	/* snapshot pulls in progress */
#define DIGEST_BUCKETS_MAX	1024
#define HDR_RESERVE		96	/* envelope header + list prefixes, generous */
#define ENTRY_OVERHEAD		40	/* per-entry field tags and lengths, generous */
#define SEED_BUCKET		0x78646c62ull	/* "xdlb" */
#define SEED_DIGEST		0x73796e63ull	/* "sync" */

/* ---------------------------------------------------------------- types */

/* Entries waiting to be encoded (a batch, a snapshot chunk): metadata plus
 * key/value bytes copied into one growing buffer. */
struct pent {
	unsigned int map;
	enum sync_op op;
	uint32_t origin;
	uint64_t version;
	size_t off;		/* key at data+off, value right after it */
	uint32_t key_len, value_len;
};

struct ebuf {
	struct pent *ent;
	size_t n, cap;
	uint8_t *data;
	size_t used, dcap;
	size_t est;		/* estimated encoded size of the entries */
};

/* A set of keys (bucket snapshot contents). */
struct kent {
	UT_hash_handle hh;
	uint32_t len;
	uint8_t key[];
};

/* A tombstone: key (prefixed by the map index) deleted at version by node. */
struct tomb {
	UT_hash_handle hh;
	uint64_t version;
	uint64_t expire_ns;
	uint32_t node;
	uint32_t klen;
	uint8_t k[];		/* uint32_t map, then the key */
};

enum pull_kind { PULL_FULL, PULL_BUCKET };

/* A snapshot this node asked a peer for. */
struct pull {
	struct pull *next;
	uint64_t id;
	size_t peer;
	enum pull_kind kind;
	bool startup;		/* counts for readiness */
	bool sent;		/* request sent to the current incarnation */
	bool answered;		/* a chunk or the end arrived */
	bool broken;		/* a chunk is missing: ask again */
	unsigned int map;	/* PULL_BUCKET */
	uint32_t bucket, bucket_count;
	uint32_t next_index;
	uint64_t sent_ns, progress_ns;
	struct kent *keys;	/* PULL_BUCKET: keys the sender has in the bucket */
};

/* A snapshot this node is serving. */
struct serve {
	struct serve *next;
	size_t peer;
	uint64_t id;
	uint32_t maps;		/* bitmask of map indexes */
	bool bucketed;
	uint32_t bucket, bucket_count;
	unsigned int cur_map;	/* < SYNC_MAX_MAPS; == SYNC_MAX_MAPS: walk done */
	struct sync_cursor cur;
	uint32_t chunks;
	uint64_t last_seq;
	struct ebuf eb;
	bool failed;
};

/* A walk deleting, after a bucket snapshot, the sender's entries that the
 * snapshot did not contain. */
struct prune {
	struct prune *next;
	size_t peer;
	unsigned int map;
	uint32_t bucket, bucket_count;
	struct sync_cursor cur;
	struct kent *keys;	/* what the sender has */
	struct kent *doomed;	/* found in this slice, deleted after it */
};

/* Per map anti-entropy state. Tables are indexed [owner][bucket] with
 * owner 0 = this node, 1 + i = peer i. */
struct ae_map {
	bool walking;
	bool send_after;	/* a round: send this node's digests at the end */
	struct sync_cursor cur;
	uint64_t walk_start_ns;
	uint64_t *tsum;		/* table being built */
	uint32_t *tcnt;
	uint64_t *rsum;		/* peers' digests [peer][bucket] */
	uint32_t *rcnt;
	uint64_t *rarr;		/* arrival time, 0: none pending */
	uint32_t *rcut;		/* their version_before [peer][bucket] */
	uint8_t *rcut_on;	/* 0: they counted every entry */
	bool cut_on;		/* this walk counts our entries born before cut */
	uint32_t cut;
};

struct peer {
	uint32_t node;
	char name[64];
	uint64_t epoch;		/* newest incarnation heard of */
	bool alive, ready, snapshot_done;
	uint64_t last_heard_ns;
	struct sync_rxseq rx;
	uint64_t acked_seq;
	uint64_t rx_msgs, rx_entries, gaps, lost;
	uint64_t resync_last_ns, resync_from;
	unsigned int resync_tries;
	bool need_snapshot;	/* gap repair needs a full snapshot */
	unsigned int serving;	/* serve jobs for it */
};

struct sync_engine {
	unsigned int budget;	/* entries all walks may still visit this tick */
	struct sync_engine_cfg cfg;
	struct sync_mapspec maps[SYNC_MAX_MAPS];
	uint32_t peer_ids[SYNC_MAX_PEERS];
	struct peer peers[SYNC_MAX_PEERS];
	const struct sync_store_ops *store;
	void *store_ctx;
	struct sync_io_ops io;
	void *io_ctx;

	struct sync_engine_stats st;
	bool started, ready;
	uint64_t start_ns;
	uint64_t next_hb_ns;
	uint64_t ae_next_ns;
	uint64_t last_tick_ns;

	uint64_t tx_seq;
	struct sync_txring ring;
	struct ebuf batch;

	uint64_t next_snap_id;
	struct pull *pulls;
	size_t n_pulls;
	struct serve *serves;
	struct prune *prunes;
	struct ae_map ae[SYNC_MAX_MAPS];
	uint32_t nb;		/* digest buckets */

	struct tomb *tombs;

	uint8_t *txbuf;		/* lim.max_msg */
	uint8_t *vin, *vloc, *vmask_a, *vmask_b;	/* lim.max_value each */
	uint8_t kbuf[4 + SYNC_STORE_KEY_MAX];

	struct xlb_ratelimit rl;
};

/* --------------------------------------------------------------- helpers */

static uint64_t ms2ns(uint32_t ms)
{
	return (uint64_t)ms * NS_PER_MS;
}

static const char *peer_name_of(const struct sync_engine *e, uint32_t node, char *buf,
				size_t len)
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
static void log_refused(struct sync_engine *e, uint32_t from, const char *what, const char *map,
			const char *why)
{
	char nb[32];

	xlb_log_rl(&e->rl, XLB_LOG_WARN, "sync %s: refused %s from %s map %s: %s",
		   e->cfg.node_name, what, peer_name_of(e, from, nb, sizeof(nb)),
		   map && *map ? map : "-", why);
}

static int find_peer(const struct sync_engine *e, uint32_t node)
{
	size_t i;

	for (i = 0; i < e->cfg.n_peers; i++) {
		if (e->peers[i].node == node)
			return (int)i;
	}
	return -1;
}

static int find_map(const struct sync_engine *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->cfg.n_maps; i++) {
		if (!strcmp(e->maps[i].name, name))
			return (int)i;
	}
	return -1;
}

static uint32_t bucket_of(const void *key, uint32_t key_len, uint32_t nb)
{
	return (uint32_t)(XXH64(key, key_len, SEED_BUCKET) % nb);
}

/* Hash of one entry for the digest: (key, version, owner). */
static uint64_t entry_hash(const void *key, uint32_t key_len, uint64_t version, uint32_t owner)
{
	uint8_t buf[SYNC_STORE_KEY_MAX + sizeof(version) + sizeof(owner)];

	memcpy(buf, key, key_len);
	memcpy(buf + key_len, &version, sizeof(version));
	memcpy(buf + key_len + sizeof(version), &owner, sizeof(owner));
	return XXH64(buf, key_len + sizeof(version) + sizeof(owner), SEED_DIGEST);
}

/* ---------------------------------------------------------------- ebuf */

static void ebuf_reset(struct ebuf *b)
{
	b->n = 0;
	b->used = 0;
	b->est = 0;
}

static void ebuf_free(struct ebuf *b)
{
	free(b->ent);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int ebuf_add(struct ebuf *b, const struct sync_mapspec *ms, unsigned int map,
		    enum sync_op op, uint32_t origin, uint64_t version, const void *key,
		    const void *value)
{
	uint32_t vl = op == SYNC_OP_UPDATE ? ms->value_size : 0;
	size_t need = ms->key_size + vl;
	struct pent *p;

	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 64;
		struct pent *ne = realloc(b->ent, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		b->ent = ne;
		b->cap = nc;
	}
	if (b->dcap - b->used < need) {
		size_t nc = b->dcap ? 2 * b->dcap : 16384;
		uint8_t *nd;

		while (nc - b->used < need)
			nc *= 2;
		nd = realloc(b->data, nc);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->dcap = nc;
	}
	p = &b->ent[b->n++];
	p->map = map;
	p->op = op;
	p->origin = origin;
	p->version = version;
	p->off = b->used;
	p->key_len = ms->key_size;
	p->value_len = vl;
	memcpy(b->data + b->used, key, ms->key_size);
	if (vl)
		memcpy(b->data + b->used + ms->key_size, value, vl);
	b->used += need;
	b->est += strlen(ms->name) + need + ENTRY_OVERHEAD;
	return 0;
}

/* Estimated size if an entry of ms were added. */
static size_t ebuf_est_with(const struct ebuf *b, const struct sync_mapspec *ms, enum sync_op op)
{
	return b->est + strlen(ms->name) + ms->key_size +
	       (op == SYNC_OP_UPDATE ? ms->value_size : 0) + ENTRY_OVERHEAD;
}

static size_t msg_budget(const struct sync_engine *e)
{
	return e->cfg.lim.max_msg - SYNC_AUTH_TAG_ROOM - HDR_RESERVE;
}

/* ------------------------------------------------------------- sending */

/* Tags (if a key is set) and sends txbuf[0..len). */
static int emit(struct sync_engine *e, size_t len)
{
	int rc;

	if (e->cfg.auth_key_len &&
	    sync_auth_append(e->txbuf, &len, e->cfg.lim.max_msg, e->cfg.auth_key,
			     e->cfg.auth_key_len)) {
		e->st.tx_errors++;
		return -EMSGSIZE;
	}
	rc = e->io.send(e->io_ctx, e->txbuf, len);
	e->st.tx_msgs++;
	e->st.tx_bytes += len;
	if (rc < 0)
		e->st.tx_errors++;
	return (int)len;
}

static void hdr_fill(const struct sync_engine *e, struct sync_hdr *h, uint32_t dest,
		     uint64_t now_ns)
{
	memset(h, 0, sizeof(*h));
	h->origin = e->cfg.node_id;
	h->epoch = e->cfg.epoch;
	h->dest = dest;
	h->mono_ns = now_ns;
}

/* sync_entry views of b->ent[from..n) (caller frees). */
static struct sync_entry *ebuf_entries(const struct sync_engine *e, const struct ebuf *b)
{
	struct sync_entry *v = calloc(b->n ? b->n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	for (i = 0; i < b->n; i++) {
		const struct pent *p = &b->ent[i];

		v[i].map = e->maps[p->map].name;
		v[i].op = p->op;
		v[i].key = b->data + p->off;
		v[i].key_len = p->key_len;
		v[i].value = p->value_len ? b->data + p->off + p->key_len : NULL;
		v[i].value_len = p->value_len;
		v[i].origin = p->origin;
		v[i].version = p->version;
	}
	return v;
}

/* Sends the pending batch as one or more BATCH messages, each with the
 * next sequence, each kept in the retransmit ring. */
static void send_batch(struct sync_engine *e, uint64_t now_ns)
{
	struct sync_entry *v;
	size_t done = 0;

	if (!e->batch.n)
		return;
	v = ebuf_entries(e, &e->batch);
	if (!v) {
		e->st.tx_errors++;
		ebuf_reset(&e->batch);
		return;
	}
	while (done < e->batch.n) {
		struct sync_hdr h;
		size_t len;
		int k;

		hdr_fill(e, &h, 0, now_ns);
		h.seq = e->tx_seq + 1;
		k = sync_encode_batch(&h, v + done, e->batch.n - done, &e->cfg.lim, e->txbuf,
				      e->cfg.lim.max_msg, &len);
		if (k <= 0) {
			xlb_log_rl(&e->rl, XLB_LOG_ERR, "sync %s: cannot encode a batch: %s",
				   e->cfg.node_name, strerror(-k));
			e->st.tx_errors++;
			break;
		}
		e->tx_seq++;
		if (e->cfg.auth_key_len &&
		    sync_auth_append(e->txbuf, &len, e->cfg.lim.max_msg, e->cfg.auth_key,
				     e->cfg.auth_key_len)) {
			e->st.tx_errors++;
			break;
		}
		if (sync_txring_put(&e->ring, e->tx_seq, e->txbuf, len))
			e->st.tx_errors++;	/* not resendable; a snapshot will do */
		if (e->io.send(e->io_ctx, e->txbuf, len) < 0)
			e->st.tx_errors++;
		e->st.tx_msgs++;
		e->st.tx_bytes += len;
		e->st.tx_batches++;
		e->st.tx_entries += (uint64_t)k;
		done += (size_t)k;
	}
	free(v);
	ebuf_reset(&e->batch);
}

/* Sends b as SNAPSHOT_CHUNKs of job s. */
static void send_chunks(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct sync_entry *v;
	size_t done = 0;

	if (!s->eb.n)
		return;
	v = ebuf_entries(e, &s->eb);
	if (!v) {
		s->failed = true;
		ebuf_reset(&s->eb);
		return;
	}
	while (done < s->eb.n) {
		struct sync_hdr h;
		size_t len;
		int k;

		hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
		k = sync_encode_snapshot_chunk(&h, s->id, s->chunks, v + done, s->eb.n - done,
					       &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len);
		if (k <= 0) {
			s->failed = true;
			e->st.tx_errors++;
			break;
		}
		emit(e, len);
		s->chunks++;
		e->st.snapshot_entries_sent += (uint64_t)k;
		done += (size_t)k;
	}
	free(v);
	ebuf_reset(&s->eb);
}

static void send_heartbeat(struct sync_engine *e, uint64_t now_ns)
{
	struct sync_origin_seq s[SYNC_MAX_PEERS + 1];
	struct sync_hdr h;
	size_t n = 0, i, len;

	s[n].origin = e->cfg.node_id;
	s[n].epoch = e->cfg.epoch;
	s[n].last_seq = e->tx_seq;
	n++;
	for (i = 0; i < e->cfg.n_peers; i++) {
		const struct peer *p = &e->peers[i];

		if (!p->rx.epoch)
			continue;
		s[n].origin = p->node;
		s[n].epoch = p->rx.epoch;
		s[n].last_seq = p->rx.top;
		n++;
	}
	hdr_fill(e, &h, 0, now_ns);
	if (sync_encode_heartbeat(&h, e->ready, s, n, &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg,
				  &len)) {
		e->st.tx_errors++;
		return;
	}
	emit(e, len);
}

static void send_resync_request(struct sync_engine *e, struct peer *p, uint64_t from,
				uint64_t to, uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	if (to - from >= RESYNC_MAX_SPAN)
		to = from + RESYNC_MAX_SPAN - 1;
	hdr_fill(e, &h, p->node, now_ns);
	if (sync_encode_resync_request(&h, p->node, from, to, &e->cfg.lim, e->txbuf,
				       e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	emit(e, len);
	e->st.resync_requests_sent++;
	p->resync_last_ns = now_ns;
	if (p->resync_from == from) {
		p->resync_tries++;
	} else {
		p->resync_from = from;
		p->resync_tries = 1;
	}
}

static void send_pull_request(struct sync_engine *e, struct pull *pl, uint64_t now_ns)
{
	const char *names[SYNC_MAX_MAPS];
	struct sync_hdr h;
	size_t n = 0, i, len;
	int rc;

	if (pl->kind == PULL_BUCKET) {
		names[n++] = e->maps[pl->map].name;
	} else {
		for (i = 0; i < e->cfg.n_maps; i++)
			names[n++] = e->maps[i].name;
	}
	pl->id = ++e->next_snap_id;
	pl->next_index = 0;
	pl->broken = false;
	pl->sent = true;
	pl->sent_ns = pl->progress_ns = now_ns;
	if (pl->keys) {
		struct kent *k, *tmp;

		HASH_ITER(hh, pl->keys, k, tmp) {
			HASH_DEL(pl->keys, k);
			free(k);
		}
	}
	hdr_fill(e, &h, e->peers[pl->peer].node, now_ns);
	rc = sync_encode_snapshot_request_bucket(&h, pl->id, names, n, pl->bucket,
						 pl->kind == PULL_BUCKET ? pl->bucket_count : 0,
						 &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len);
	if (rc) {
		e->st.tx_errors++;
		return;
	}
	emit(e, len);
	e->st.snapshots_requested++;
}

/* ----------------------------------------------------------- tombstones */

static size_t tomb_key(struct sync_engine *e, unsigned int map, const void *key,
		       uint32_t key_len)
{
	uint32_t m = map;

	memcpy(e->kbuf, &m, sizeof(m));
	memcpy(e->kbuf + sizeof(m), key, key_len);
	return sizeof(m) + key_len;
}

static struct tomb *tomb_find(struct sync_engine *e, unsigned int map, const void *key,
			      uint32_t key_len)
{
	size_t kl = tomb_key(e, map, key, key_len);
	struct tomb *t = NULL;

	HASH_FIND(hh, e->tombs, e->kbuf, kl, t);
	return t;
}

static void tomb_del(struct sync_engine *e, struct tomb *t)
{
	HASH_DEL(e->tombs, t);
	free(t);
	e->st.tombstones--;
}

/* Records (or raises) the tombstone of key at (version, node). Re-added
 * at the end of the table, so the table stays in expiry order. */
static void tomb_put(struct sync_engine *e, unsigned int map, const void *key,
		     uint32_t key_len, uint64_t version, uint32_t node, uint64_t now_ns)
{
	struct tomb *t = tomb_find(e, map, key, key_len);
	size_t kl = 4 + key_len;

	if (t)
		tomb_del(e, t);
	t = malloc(sizeof(*t) + kl);
	if (!t)
		return;
	t->version = version;
	t->node = node;
	t->expire_ns = now_ns + ms2ns(e->cfg.tombstone_ms);
	t->klen = (uint32_t)kl;
	tomb_key(e, map, key, key_len);
	memcpy(t->k, e->kbuf, kl);
	uthash_oom = 0;
	HASH_ADD_KEYPTR(hh, e->tombs, t->k, t->klen, t);
	if (uthash_oom) {
		free(t);
		return;
	}
	e->st.tombstones++;
}

static void tomb_expire(struct sync_engine *e, uint64_t now_ns)
{
	struct tomb *t, *tmp;

	HASH_ITER(hh, e->tombs, t, tmp) {
		if (t->expire_ns > now_ns)
			break;		/* insertion order is expiry order */
		tomb_del(e, t);
	}
}

/* ------------------------------------------------------------- key sets */

static void kset_free(struct kent **set)
{
	struct kent *k, *tmp;

	HASH_ITER(hh, *set, k, tmp) {
		HASH_DEL(*set, k);
		free(k);
	}
}

static bool kset_has(struct kent *set, const void *key, uint32_t len)
{
	struct kent *k = NULL;

	HASH_FIND(hh, set, key, len, k);
	return k != NULL;
}

static void kset_add(struct kent **set, const void *key, uint32_t len)
{
	struct kent *k;

	if (kset_has(*set, key, len))
		return;
	k = malloc(sizeof(*k) + len);
	if (!k)
		return;
	k->len = len;
	memcpy(k->key, key, len);
	uthash_oom = 0;
	HASH_ADD_KEYPTR(hh, *set, k->key, k->len, k);
	if (uthash_oom)
		free(k);
}

/* ---------------------------------------------------------------- apply */

/* The node of a value's write (see the top of the file). */
static uint32_t value_node(const struct sync_mapspec *ms, const void *value, uint32_t fallback)
{
	uint64_t o;

	if (!sync_mapspec_has_owner(ms))
		return fallback;
	o = sync_mapspec_owner(ms, value);
	return o && o <= UINT32_MAX ? (uint32_t)o : fallback;
}

enum apply_src { SRC_BATCH, SRC_SNAPSHOT };

/*
 * Applies one decoded entry from peer p. Returns 1 if the map changed,
 * 0 if not (skipped or refused; counted).
 */
static int apply_entry(struct sync_engine *e, struct peer *p, const struct sync_entry *en,
		       int64_t delta, enum apply_src src, uint64_t now_ns)
{
	const struct sync_mapspec *ms;
	struct sync_write win = { 0 }, wloc = { 0 }, wt = { 0 };
	const struct sync_write *local = NULL;
	enum sync_apply act;
	enum sync_reason r;
	const char *why = NULL;
	struct tomb *t;
	bool present;
	int mi, rc;

	mi = find_map(e, en->map);
	if (mi < 0) {
		r = SYNC_E_UNKNOWN_MAP;
		goto refuse;
	}
	ms = &e->maps[mi];
	r = sync_mapspec_check_entry(ms, en);
	if (r != SYNC_OK)
		goto refuse;
	if (en->op == SYNC_OP_UPDATE) {
		memcpy(e->vin, en->value, ms->value_size);
		if (sync_mapspec_has_version(ms) &&
		    sync_mapspec_version(ms, e->vin) != en->version) {
			e->st.apply_rejected++;
			log_refused(e, p->node, "entry", ms->name,
				    "entry version differs from the value's");
			return 0;
		}
		if (e->cfg.validate &&
		    e->cfg.validate(e->cfg.validate_arg, (unsigned int)mi, en->key, e->vin, &why)) {
			e->st.apply_rejected++;
			log_refused(e, p->node, "entry", ms->name, why ? why : "validation failed");
			return 0;
		}
	}

	rc = e->store->lookup(e->store_ctx, (unsigned int)mi, en->key, e->vloc);
	if (rc && rc != -ENOENT) {
		e->st.apply_errors++;
		return 0;
	}
	present = rc == 0;

	if (!sync_mapspec_has_version(ms)) {
		/* last writer wins by arrival */
		if (en->op == SYNC_OP_UPDATE) {
			sync_mapspec_rebase_ts(ms, e->vin, delta);
			act = SYNC_APPLY_WRITE;
		} else {
			act = present ? SYNC_APPLY_DELETE : SYNC_APPLY_SKIP;
		}
		t = NULL;
		goto act;
	}

	memset(&win, 0, sizeof(win));
	win.op = en->op;
	win.version = en->version;
	win.node = en->op == SYNC_OP_UPDATE ? value_node(ms, e->vin, en->origin) : en->origin;
	if (present) {
		memset(&wloc, 0, sizeof(wloc));
		wloc.op = SYNC_OP_UPDATE;
		wloc.version = sync_mapspec_version(ms, e->vloc);
		wloc.node = value_node(ms, e->vloc, win.node);
		local = &wloc;
	}
	t = tomb_find(e, (unsigned int)mi, en->key, en->key_len);
	if (t) {
		memset(&wt, 0, sizeof(wt));
		wt.op = SYNC_OP_DELETE;
		wt.version = t->version;
		wt.node = t->node;
	}

	if (en->op == SYNC_OP_DELETE && en->version == 0) {
		/* "version not known": the owner is the authority over its
		 * entries; delete the present one if it is the deleter's */
		if (!present || (sync_mapspec_has_owner(ms) &&
				 sync_mapspec_owner(ms, e->vloc) != en->origin)) {
			e->st.apply_skipped++;
			return 0;
		}
		win.version = wloc.version;
		win.node = wloc.node;	/* the same write, deleted */
		act = SYNC_APPLY_DELETE;
		goto act;
	}

	if (present && t && sync_conflict_cmp(&wt, &wloc) > 0)
		local = &wt;	/* a value older than its tombstone: the tombstone rules */
	else if (!present && t)
		local = &wt;
	if (local && local->op == SYNC_OP_UPDATE && en->op == SYNC_OP_UPDATE) {
		/* compare values without their (rebased, node-local) timestamps */
		memcpy(e->vmask_a, e->vin, ms->value_size);
		memcpy(e->vmask_b, e->vloc, ms->value_size);
		sync_field_set(&ms->ts, e->vmask_a, 0);
		sync_field_set(&ms->ts, e->vmask_b, 0);
		win.value = e->vmask_a;
		win.value_len = ms->value_size;
		wloc.value = e->vmask_b;
		wloc.value_len = ms->value_size;
	}
	if (en->op == SYNC_OP_DELETE) {
		if (local && sync_conflict_cmp(&win, local) <= 0) {
			act = SYNC_APPLY_SKIP;
		} else if (!present) {
			/* a winning delete with nothing to delete: keep its
			 * tombstone against a late copy of what it deleted */
			tomb_put(e, (unsigned int)mi, en->key, en->key_len, win.version, win.node,
				 now_ns);
			e->st.apply_skipped++;
			return 0;
		} else {
			act = SYNC_APPLY_DELETE;
		}
	} else {
		act = sync_conflict_decide(&win, local);
	}
	if (act == SYNC_APPLY_WRITE)
		sync_mapspec_rebase_ts(ms, e->vin, delta);

act:
	switch (act) {
	case SYNC_APPLY_WRITE:
		rc = e->store->update(e->store_ctx, (unsigned int)mi, en->key, e->vin);
		if (rc) {
			e->st.apply_errors++;
			xlb_log_rl(&e->rl, XLB_LOG_WARN, "sync %s: map %s write failed: %s",
				   e->cfg.node_name, ms->name, strerror(-rc));
			return 0;
		}
		if (t)
			tomb_del(e, t);	/* the write beat it */
		e->st.applied_updates++;
		if (src == SRC_SNAPSHOT)
			e->st.snapshot_entries_applied++;
		return 1;
	case SYNC_APPLY_DELETE:
		rc = e->store->remove(e->store_ctx, (unsigned int)mi, en->key);
		if (rc && rc != -ENOENT) {
			e->st.apply_errors++;
			return 0;
		}
		if (sync_mapspec_has_version(ms))
			tomb_put(e, (unsigned int)mi, en->key, en->key_len, win.version, win.node,
				 now_ns);
		e->st.applied_deletes++;
		return 1;
	case SYNC_APPLY_SKIP:
		break;
	}
	e->st.apply_skipped++;
	return 0;

refuse:
	e->st.apply_rejected++;
	e->st.rx_by_reason[r]++;
	e->st.rx_dropped++;
	log_refused(e, p->node, "entry", en->map, sync_reason_str(r));
	return 0;
}

/* ------------------------------------------------------- snapshot pulls */

static struct pull *pull_new(struct sync_engine *e, size_t peer, enum pull_kind kind)
{
	struct pull *pl;

	if (e->n_pulls >= PULL_MAX)
		return NULL;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	pl->peer = peer;
	pl->kind = kind;
	pl->next = e->pulls;
	e->pulls = pl;
	e->n_pulls++;
	return pl;
}

static void pull_free(struct sync_engine *e, struct pull *pl)
{
	struct pull **pp;

	for (pp = &e->pulls; *pp; pp = &(*pp)->next) {
		if (*pp == pl) {
			*pp = pl->next;
			break;
		}
	}
	kset_free(&pl->keys);
	free(pl);
	e->n_pulls--;
}

static struct pull *pull_full_of(struct sync_engine *e, size_t peer)
{
	struct pull *pl;

	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->peer == peer && pl->kind == PULL_FULL)
			return pl;
	}
	return NULL;
}

/* A full snapshot of every watched map from peer (unless one is pending). */
static void pull_full(struct sync_engine *e, size_t peer, bool startup, uint64_t now_ns)
{
	struct pull *pl = pull_full_of(e, peer);

	if (pl) {
		pl->startup |= startup;
		return;
	}
	pl = pull_new(e, peer, PULL_FULL);
	if (!pl)
		return;
	pl->startup = startup;
	send_pull_request(e, pl, now_ns);
}

static struct pull *pull_by_id(struct sync_engine *e, size_t peer, uint64_t id)
{
	struct pull *pl;

	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->peer == peer && pl->id == id && pl->sent)
			return pl;
	}
	return NULL;
}

/*
 * The stream of p is covered up to last_seq of epoch by a snapshot: holes
 * at or below it need no resync any more.
 */
static void rxseq_cover(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq)
{
	uint64_t s, low;

	if (epoch < st->epoch)
		return;
	if (epoch > st->epoch || last_seq >= st->top) {
		/* everything up to last_seq is held: restart the window there */
		st->epoch = epoch;
		st->top = last_seq;
		memset(st->bits, 0xff, sizeof(st->bits));
		return;
	}
	low = st->top >= SYNC_SEQ_WINDOW ? st->top - SYNC_SEQ_WINDOW + 1 : 1;
	for (s = low; s <= last_seq; s++) {
		uint64_t i = s & (SYNC_SEQ_WINDOW - 1);

		st->bits[i / 64] |= 1ull << (i % 64);
	}
}

/*
 * [from, to] of peer pi's stream is missing: ask its origin for it, at most
 * every resync_retry_ms. RESYNC_MAX_TRIES requests of the same range left
 * unanswered mean it has left the origin's ring (it answers those with
 * nothing): pull a full snapshot instead. Nothing while one is pending.
 */
static void want_range(struct sync_engine *e, size_t pi, uint64_t from, uint64_t to,
		       uint64_t now_ns)
{
	struct peer *p = &e->peers[pi];

	if (pull_full_of(e, pi))
		return;
	if (p->resync_from == from) {
		if (now_ns - p->resync_last_ns < ms2ns(e->cfg.resync_retry_ms))
			return;
		if (p->resync_tries >= RESYNC_MAX_TRIES) {
			p->resync_tries = 0;
			p->resync_from = 0;
			pull_full(e, pi, false, now_ns);
			return;
		}
	}
	send_resync_request(e, p, from, to, now_ns);
}

static void start_prune(struct sync_engine *e, struct pull *pl)
{
	struct prune *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return;
	pr->peer = pl->peer;
	pr->map = pl->map;
	pr->bucket = pl->bucket;
	pr->bucket_count = pl->bucket_count;
	pr->keys = pl->keys;	/* moved */
	pl->keys = NULL;
	pr->next = e->prunes;
	e->prunes = pr;
}

/* ------------------------------------------------------------ receiving */

struct rx {
	struct peer *p;
	size_t pi;
	const struct sync_msg *m;
	int64_t delta;
	uint64_t now_ns;
};

/* While a bucket snapshot from p is pending, or its prune is running,
 * remember the keys its live stream touched: they are current, whatever
 * the snapshot missed, and must not be pruned. */
static void note_stream_key(struct sync_engine *e, size_t pi, const struct sync_entry *en)
{
	struct prune *pr;
	struct pull *pl;
	int mi;

	for (pr = e->prunes; pr; pr = pr->next) {
		if (pr->peer != pi)
			continue;
		mi = find_map(e, en->map);
		if (mi < 0 || (unsigned int)mi != pr->map ||
		    en->key_len != e->maps[mi].key_size ||
		    bucket_of(en->key, en->key_len, pr->bucket_count) != pr->bucket)
			continue;
		kset_add(&pr->keys, en->key, en->key_len);
	}
	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->kind != PULL_BUCKET || pl->peer != pi)
			continue;
		mi = find_map(e, en->map);
		if (mi < 0 || (unsigned int)mi != pl->map ||
		    en->key_len != e->maps[mi].key_size ||
		    bucket_of(en->key, en->key_len, pl->bucket_count) != pl->bucket)
			continue;
		kset_add(&pl->keys, en->key, en->key_len);
	}
}

static void rx_batch(struct sync_engine *e, struct rx *x)
{
	struct sync_seq_result res;
	struct sync_entry en;
	size_t i;

	sync_rxseq_receive(&x->p->rx, x->m->hdr.epoch, x->m->hdr.seq, &res);
	if (res.verdict == SYNC_SEQ_DUPLICATE || res.verdict == SYNC_SEQ_STALE) {
		if (res.verdict == SYNC_SEQ_DUPLICATE)
			e->st.rx_duplicate++;
		else
			e->st.rx_stale++;
		e->st.rx_dropped++;
		return;
	}
	for (i = 0; i < x->m->n_entries; i++) {
		sync_msg_entry(x->m, i, &en);
		if (e->pulls || e->prunes)
			note_stream_key(e, x->pi, &en);
		apply_entry(e, x->p, &en, x->delta, SRC_BATCH, x->now_ns);
	}
	x->p->rx_entries += x->m->n_entries;
	if (res.lost) {
		x->p->lost += res.lost;
		x->p->need_snapshot = true;
	}
	if (res.verdict == SYNC_SEQ_GAP) {
		x->p->gaps += res.gap_to - res.gap_from + 1;
		want_range(e, x->pi, res.gap_from, res.gap_to, x->now_ns);
	}
	if (res.verdict == SYNC_SEQ_NEW_STREAM && !x->p->snapshot_done)
		x->p->need_snapshot = true;	/* first contact after startup */
}

static void rx_heartbeat(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__Heartbeat *hb = x->m->env->heartbeat;
	struct sync_seq_result res;
	size_t i;

	x->p->ready = hb->ready;
	for (i = 0; i < hb->n_seqs; i++) {
		const Xlbsync__OriginSeq *s = hb->seqs[i];

		if (s->origin == e->cfg.node_id) {
			if (s->epoch == e->cfg.epoch)
				x->p->acked_seq = s->last_seq;
			continue;
		}
		if (s->origin != x->p->node)
			continue;	/* a third node's stream: it speaks for itself */
		if (s->epoch != x->m->hdr.epoch)
			continue;
		if (sync_rxseq_heartbeat(&x->p->rx, s->epoch, s->last_seq, &res)) {
			/* a tail loss; counted once per range */
			if (x->p->resync_from != res.gap_from)
				x->p->gaps += res.gap_to - res.gap_from + 1;
			want_range(e, x->pi, res.gap_from, res.gap_to, x->now_ns);
		}
		if (res.verdict == SYNC_SEQ_NEW_STREAM && !x->p->snapshot_done)
			x->p->need_snapshot = true;
	}
}

static void rx_resync_request(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__ResyncRequest *rr = x->m->env->resync_request;
	uint64_t s, to;

	if (rr->origin != e->cfg.node_id)
		return;
	to = rr->to_seq;
	if (to - rr->from_seq >= RESYNC_MAX_SPAN)
		to = rr->from_seq + RESYNC_MAX_SPAN - 1;
	switch (sync_txring_lookup(&e->ring, rr->from_seq, to)) {
	case SYNC_TXR_PRESENT:
		for (s = rr->from_seq; s <= to; s++) {
			const uint8_t *buf;
			size_t len;

			if (sync_txring_get(&e->ring, s, &buf, &len))
				break;
			if (e->io.send(e->io_ctx, buf, len) < 0)
				e->st.tx_errors++;
			e->st.tx_msgs++;
			e->st.tx_bytes += len;
		}
		e->st.resync_requests_served++;
		break;
	case SYNC_TXR_GONE:
		e->st.resync_gone++;	/* answered with nothing: it pulls a snapshot */
		break;
	case SYNC_TXR_FUTURE:
		log_refused(e, x->p->node, "resync-request", NULL,
			    "range beyond the last sequence sent");
		break;
	}
}

static void serve_free(struct serve *s)
{
	ebuf_free(&s->eb);
	free(s);
}

static void rx_snapshot_request(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotRequest *sr = x->m->env->snapshot_request;
	struct serve *s, **pp;
	uint32_t mask = 0;
	size_t i;
	int mi;

	for (i = 0; i < sr->n_maps; i++) {
		mi = find_map(e, sr->maps[i]);
		if (mi >= 0)
			mask |= 1u << mi;
	}
	/* the same request again (a retry) restarts its walk */
	for (pp = &e->serves; *pp;) {
		s = *pp;
		if (s->peer == x->pi && s->maps == mask && s->bucketed == sr->has_bucket_count &&
		    (!s->bucketed || (s->bucket == sr->bucket &&
				      s->bucket_count == sr->bucket_count))) {
			*pp = s->next;
			x->p->serving--;
			serve_free(s);
			continue;
		}
		pp = &s->next;
	}
	if (x->p->serving >= SERVE_MAX_PER_PEER) {
		log_refused(e, x->p->node, "snapshot-request", NULL, "too many snapshots in progress");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->peer = x->pi;
	s->id = sr->snapshot_id;
	s->maps = mask;
	s->bucketed = sr->has_bucket_count;
	s->bucket = sr->bucket;
	s->bucket_count = sr->bucket_count;
	s->last_seq = e->tx_seq;	/* the walk begins now */
	s->cur_map = 0;
	while (s->cur_map < SYNC_MAX_MAPS && !(s->maps & (1u << s->cur_map)))
		s->cur_map++;
	/* append: served in arrival order */
	for (pp = &e->serves; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	x->p->serving++;
	e->st.snapshots_served++;
}

static void rx_snapshot_chunk(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotChunk *sc = x->m->env->snapshot_chunk;
	struct pull *pl = pull_by_id(e, x->pi, sc->snapshot_id);
	struct sync_entry en;
	size_t i;

	if (!pl)
		return;		/* not (or no longer) asked for */
	pl->answered = true;
	pl->progress_ns = x->now_ns;
	if (sc->index != pl->next_index)
		pl->broken = true;
	pl->next_index = sc->index + 1;
	for (i = 0; i < x->m->n_entries; i++) {
		sync_msg_entry(x->m, i, &en);
		if (pl->kind == PULL_BUCKET) {
			/* only what the bucket holds, and remember it */
			if (strcmp(en.map, e->maps[pl->map].name) ||
			    en.key_len != e->maps[pl->map].key_size ||
			    bucket_of(en.key, en.key_len, pl->bucket_count) != pl->bucket) {
				log_refused(e, x->p->node, "snapshot entry", en.map,
					    "outside the requested bucket");
				continue;
			}
			kset_add(&pl->keys, en.key, en.key_len);
		}
		apply_entry(e, x->p, &en, x->delta, SRC_SNAPSHOT, x->now_ns);
	}
	x->p->rx_entries += x->m->n_entries;
}

static void rx_snapshot_end(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotEnd *se = x->m->env->snapshot_end;
	struct pull *pl = pull_by_id(e, x->pi, se->snapshot_id);

	if (!pl)
		return;
	pl->answered = true;
	pl->progress_ns = x->now_ns;
	if (pl->broken || se->chunks != pl->next_index) {
		/* a chunk went missing: ask again (entries apply idempotently) */
		send_pull_request(e, pl, x->now_ns);
		return;
	}
	if (pl->kind == PULL_FULL) {
		rxseq_cover(&x->p->rx, x->m->hdr.epoch, se->last_seq);
		x->p->snapshot_done = true;
		x->p->need_snapshot = false;
		x->p->resync_tries = 0;
		/* a full snapshot adds what we missed but cannot tell what
		 * was deleted meanwhile: compare digests right away instead
		 * of at the next round */
		e->ae_next_ns = x->now_ns;
	} else {
		start_prune(e, pl);
	}
	pull_free(e, pl);
}

static void rx_digest(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__Digest *d = x->m->env->digest;
	struct ae_map *a;
	size_t idx;
	int mi;

	if (!e->ready || !e->cfg.antientropy_ms)
		return;
	mi = find_map(e, d->map);
	if (mi < 0 || !sync_mapspec_has_owner(&e->maps[mi]))
		return;
	if (d->bucket_count != e->nb) {
		log_refused(e, x->p->node, "digest", d->map, "bucket count differs from ours");
		return;
	}
	a = &e->ae[mi];
	idx = x->pi * e->nb + d->bucket;
	a->rsum[idx] = d->hash;
	a->rcnt[idx] = d->entries;
	a->rarr[idx] = x->now_ns ? x->now_ns : 1;
	a->rcut_on[idx] = d->has_version_before;
	a->rcut[idx] = d->version_before;
	/* compared after a walk of ours that starts from now on, which counts
	 * the sender's entries as the sender did (version_before) */
}

static void peer_heard(struct sync_engine *e, struct peer *p, uint64_t now_ns)
{
	p->last_heard_ns = now_ns ? now_ns : 1;
	if (!p->alive) {
		p->alive = true;
		xlb_log(XLB_LOG_INFO, "sync %s: peer %s is alive", e->cfg.node_name, p->name);
		if (e->io.peer_state)
			e->io.peer_state(e->io_ctx, p->node, true);
	}
}

/* A peer restarted: forget what was tied to its former incarnation. */
static void peer_new_epoch(struct sync_engine *e, size_t pi, uint64_t epoch)
{
	struct peer *p = &e->peers[pi];
	struct serve *s, **pp;
	struct pull *pl;
	size_t m;

	if (!p->epoch) {
		p->epoch = epoch;	/* first contact: nothing to forget */
		return;
	}
	xlb_log(XLB_LOG_INFO, "sync %s: peer %s restarted", e->cfg.node_name, p->name);
	p->epoch = epoch;
	p->ready = false;
	p->acked_seq = 0;
	for (pp = &e->serves; *pp;) {
		s = *pp;
		if (s->peer == pi) {
			*pp = s->next;
			p->serving--;
			serve_free(s);
			continue;
		}
		pp = &s->next;
	}
	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->peer == pi)
			pl->sent = false;	/* re-sent to the new incarnation */
	}
	for (m = 0; m < e->cfg.n_maps; m++) {
		if (e->ae[m].rarr)
			memset(e->ae[m].rarr + pi * e->nb, 0, e->nb * sizeof(uint64_t));
	}
}

void sync_engine_rx(struct sync_engine *e, const uint8_t *buf, size_t len, uint64_t now_ns)
{
	struct sync_msg m;
	enum sync_reason r;
	struct rx x;
	size_t plen = len;
	int pi;

	e->st.rx_msgs++;
	e->st.rx_bytes += len;
	if (len > e->cfg.lim.max_msg) {
		r = SYNC_E_TOO_BIG;
		goto refused;
	}
	if (e->cfg.auth_key_len &&
	    sync_auth_verify(buf, len, e->cfg.auth_key, e->cfg.auth_key_len, &plen)) {
		e->st.rx_auth_fail++;
		e->st.rx_dropped++;
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: refused message from %s map -: missing or wrong auth tag",
			   e->cfg.node_name, "unauthenticated sender");
		return;
	}
	r = sync_decode(&m, buf, plen, &e->cfg.lim);
	if (r != SYNC_OK)
		goto refused;

	pi = find_peer(e, m.hdr.origin);
	if (pi < 0) {
		char nb[32];

		e->st.rx_unknown_origin++;
		snprintf(nb, sizeof(nb), "node%" PRIu32, m.hdr.origin);
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: refused %s from %s map -: origin is not a peer",
			   e->cfg.node_name, sync_msg_type_str(m.type), nb);
		goto out;
	}
	x.p = &e->peers[pi];
	x.pi = (size_t)pi;
	x.m = &m;
	x.now_ns = now_ns;
	x.delta = (int64_t)(now_ns - m.hdr.mono_ns);
	if (m.hdr.epoch < x.p->epoch) {
		e->st.rx_stale++;
		e->st.rx_dropped++;
		log_refused(e, x.p->node, sync_msg_type_str(m.type), NULL,
			    "from a former incarnation");
		goto out;
	}
	if (m.hdr.epoch > x.p->epoch)
		peer_new_epoch(e, x.pi, m.hdr.epoch);
	peer_heard(e, x.p, now_ns);
	x.p->rx_msgs++;
	if (m.hdr.dest && m.hdr.dest != e->cfg.node_id) {
		e->st.rx_not_for_us++;
		goto out;
	}
	switch (m.type) {
	case SYNC_MSG_BATCH:
		rx_batch(e, &x);
		break;
	case SYNC_MSG_HEARTBEAT:
		rx_heartbeat(e, &x);
		break;
	case SYNC_MSG_RESYNC_REQUEST:
		rx_resync_request(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_REQUEST:
		rx_snapshot_request(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_CHUNK:
		rx_snapshot_chunk(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_END:
		rx_snapshot_end(e, &x);
		break;
	case SYNC_MSG_DIGEST:
		rx_digest(e, &x);
		break;
	}
out:
	sync_msg_release(&m);
	return;
refused:
	e->st.rx_by_reason[r]++;
	e->st.rx_dropped++;
	xlb_log_rl(&e->rl, XLB_LOG_WARN, "sync %s: refused message from %s map -: %s",
		   e->cfg.node_name, "unknown sender", sync_reason_str(r));
}

/* ------------------------------------------------------- local changes */

int sync_engine_local(struct sync_engine *e, unsigned int map, enum sync_op op, const void *key,
		      const void *value, uint64_t version, uint64_t now_ns)
{
	const struct sync_mapspec *ms;
	bool first;
	int rc;

	if (map >= e->cfg.n_maps || !key || (op != SYNC_OP_UPDATE && op != SYNC_OP_DELETE) ||
	    (op == SYNC_OP_UPDATE && !value)) {
		e->st.local_rejected++;
		return -EINVAL;
	}
	ms = &e->maps[map];
	if (op == SYNC_OP_UPDATE)
		version = sync_mapspec_version(ms, value);
	if (e->batch.n && ebuf_est_with(&e->batch, ms, op) > msg_budget(e))
		send_batch(e, now_ns);
	first = e->batch.n == 0;
	rc = ebuf_add(&e->batch, ms, map, op, e->cfg.node_id, version, key, value);
	if (rc) {
		e->st.local_rejected++;
		return rc;
	}
	if (op == SYNC_OP_UPDATE) {
		e->st.local_updates++;
	} else {
		e->st.local_deletes++;
		/* our own delete: a late copy of the deleted write must not
		 * come back from a peer's snapshot */
		if (version && sync_mapspec_has_version(ms))
			tomb_put(e, map, key, ms->key_size, version, e->cfg.node_id, now_ns);
	}
	if (e->batch.n >= e->cfg.batch_max_entries) {
		send_batch(e, now_ns);
		return 0;
	}
	return first ? 1 : 0;
}

void sync_engine_flush(struct sync_engine *e, uint64_t now_ns)
{
	send_batch(e, now_ns);
}

/* ------------------------------------------------------------- walking */

struct serve_walk {
	struct sync_engine *e;
	struct serve *s;
	uint64_t now_ns;
};

static int serve_cb(void *arg, const void *key, const void *value)
{
	struct serve_walk *w = arg;
	struct sync_engine *e = w->e;
	struct serve *s = w->s;
	const struct sync_mapspec *ms = &e->maps[s->cur_map];

	if (s->bucketed && bucket_of(key, ms->key_size, s->bucket_count) != s->bucket)
		return 0;
	if (s->eb.n && (ebuf_est_with(&s->eb, ms, SYNC_OP_UPDATE) > msg_budget(e) ||
			s->eb.n >= e->cfg.batch_max_entries))
		send_chunks(e, s, w->now_ns);
	if (ebuf_add(&s->eb, ms, s->cur_map, SYNC_OP_UPDATE,
		     value_node(ms, value, e->cfg.node_id), sync_mapspec_version(ms, value), key,
		     value))
		s->failed = true;
	return s->failed;
}

/* One slice of a snapshot walk. Returns true when the job is finished. */
static bool serve_step(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct serve_walk w = { e, s, now_ns };
	unsigned int budget = e->budget;
	struct sync_hdr h;
	size_t len;
	int n;

	while (budget && s->cur_map < SYNC_MAX_MAPS && !s->failed) {
		n = e->store->walk(e->store_ctx, s->cur_map, &s->cur, budget, serve_cb, &w);
		if (n < 0) {
			xlb_log_rl(&e->rl, XLB_LOG_ERR, "sync %s: snapshot walk of %s failed: %s",
				   e->cfg.node_name, e->maps[s->cur_map].name, strerror(-n));
			s->failed = true;
			break;
		}
		budget = (unsigned int)n >= budget ? 0 : budget - (unsigned int)n;
		e->budget = budget;
		if (!s->cur.done && !n)
			break;
		if (s->cur.done) {
			memset(&s->cur, 0, sizeof(s->cur));
			s->cur_map++;
			while (s->cur_map < SYNC_MAX_MAPS && !(s->maps & (1u << s->cur_map)))
				s->cur_map++;
		}
	}
	if (s->failed)
		return true;	/* no END: the requester asks again */
	if (s->cur_map < SYNC_MAX_MAPS)
		return false;
	send_chunks(e, s, now_ns);
	if (s->failed)
		return true;
	hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
	if (sync_encode_snapshot_end(&h, s->id, s->chunks, s->last_seq, &e->cfg.lim, e->txbuf,
				     e->cfg.lim.max_msg, &len) == 0)
		emit(e, len);
	else
		e->st.tx_errors++;
	return true;
}

struct ae_walk {
	struct sync_engine *e;
	unsigned int map;
};

/* Birth versions in serial order (they wrap after ~52 days): is a before b? */
static bool version_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* Now on the birth-version clock (lb.bpf.c birth_version()). */
static uint32_t version_now(const struct sync_engine *e)
{
	struct timespec ts;

	if (e->cfg.version_clock)
		return e->cfg.version_clock(e->cfg.version_clock_arg);
	if (clock_gettime(CLOCK_TAI, &ts))
		return 0;
	return (uint32_t)((((uint64_t)ts.tv_sec * 1000000000ull) + (uint64_t)ts.tv_nsec) >> 20);
}

static int ae_cb(void *arg, const void *key, const void *value)
{
	struct ae_walk *w = arg;
	struct sync_engine *e = w->e;
	const struct sync_mapspec *ms = &e->maps[w->map];
	struct ae_map *a = &e->ae[w->map];
	uint64_t owner = sync_mapspec_owner(ms, value);
	uint64_t version;
	size_t oi, idx;
	uint32_t b;
	int pi;

	if (owner == e->cfg.node_id) {
		oi = 0;
	} else {
		if (owner > UINT32_MAX)
			return 0;
		pi = find_peer(e, (uint32_t)owner);
		if (pi < 0)
			return 0;
		oi = 1 + (size_t)pi;
	}
	b = bucket_of(key, ms->key_size, e->nb);
	idx = oi * e->nb + b;
	version = sync_mapspec_version(ms, value);
	if (oi == 0 ? a->cut_on && !version_before((uint32_t)version, a->cut)
		    : a->rcut_on[idx - e->nb] && !version_before((uint32_t)version, a->rcut[idx - e->nb]))
		return 0;	/* born too recently: in flight, not compared */
	a->tsum[idx] += entry_hash(key, ms->key_size, version, (uint32_t)owner);
	a->tcnt[idx]++;
	return 0;
}

static bool peer_has_pending_repair(const struct sync_engine *e, size_t pi)
{
	const struct peer *p = &e->peers[pi];
	uint64_t f, t;

	return p->need_snapshot || pull_full_of((struct sync_engine *)e, pi) ||
	       sync_rxseq_missing(&p->rx, &f, &t);
}

/* 1: this bucket is being repaired already; 2: too many repairs pending
 * from that peer; 0: go. */
static int pull_bucket_pending(const struct sync_engine *e, size_t pi, unsigned int map,
			       uint32_t bucket)
{
	const struct pull *pl;
	unsigned int n = 0;

	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->kind != PULL_BUCKET || pl->peer != pi)
			continue;
		if (pl->map == map && pl->bucket == bucket)
			return 1;
		n++;
	}
	return n >= BUCKET_PULLS_PER_PEER ? 2 : 0;
}

/* End of a digest walk of map mi: send ours, compare the peers'. */
static void ae_walk_done(struct sync_engine *e, unsigned int mi, uint64_t now_ns)
{
	struct ae_map *a = &e->ae[mi];
	const struct sync_mapspec *ms = &e->maps[mi];
	size_t pi;
	uint32_t b;

	a->walking = false;
	if (a->send_after) {
		a->send_after = false;
		for (b = 0; b < e->nb; b++) {
			struct sync_digest d = {
				.map = ms->name, .bucket = b, .bucket_count = e->nb,
				.entries = a->tcnt[b], .hash = a->tsum[b],
				.has_version_before = a->cut_on, .version_before = a->cut,
			};
			struct sync_hdr h;
			size_t len;

			hdr_fill(e, &h, 0, now_ns);
			if (sync_encode_digest(&h, &d, &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg,
					       &len)) {
				e->st.tx_errors++;
				continue;
			}
			emit(e, len);
			e->st.digests_sent++;
		}
	}
	for (pi = 0; pi < e->cfg.n_peers; pi++) {
		bool skip = peer_has_pending_repair(e, pi);

		for (b = 0; b < e->nb; b++) {
			size_t ri = pi * e->nb + b, li = (1 + pi) * e->nb + b;
			struct pull *pl;

			if (!a->rarr[ri] || a->rarr[ri] > a->walk_start_ns)
				continue;
			a->rarr[ri] = 0;
			if (skip || (a->rsum[ri] == a->tsum[li] && a->rcnt[ri] == a->tcnt[li]))
				continue;
			e->st.digest_mismatches++;
			if (pull_bucket_pending(e, pi, mi, b))
				continue;
			pl = pull_new(e, pi, PULL_BUCKET);
			if (!pl)
				continue;
			pl->map = mi;
			pl->bucket = b;
			pl->bucket_count = e->nb;
			send_pull_request(e, pl, now_ns);
		}
	}
}

static bool ae_compare_pending(const struct sync_engine *e, unsigned int mi)
{
	const struct ae_map *a = &e->ae[mi];
	size_t i;

	for (i = 0; i < e->cfg.n_peers * e->nb; i++) {
		if (a->rarr[i])
			return true;
	}
	return false;
}

/* One slice of the digest walk of map mi. */
static void ae_step(struct sync_engine *e, unsigned int mi, uint64_t now_ns)
{
	struct ae_map *a = &e->ae[mi];
	const struct sync_mapspec *ms = &e->maps[mi];
	struct ae_walk w = { e, mi };
	int n;

	if (!a->walking) {
		if (!a->send_after && !ae_compare_pending(e, mi))
			return;
		a->walking = true;
		a->walk_start_ns = now_ns;
		/* entries born within digest_settle_ms are still in flight */
		a->cut_on = ms->version_clock;
		if (a->cut_on)
			a->cut = version_now(e) -
				 (uint32_t)(((uint64_t)e->cfg.digest_settle_ms * NS_PER_MS) >> 20);
		memset(&a->cur, 0, sizeof(a->cur));
		memset(a->tsum, 0, (1 + e->cfg.n_peers) * e->nb * sizeof(*a->tsum));
		memset(a->tcnt, 0, (1 + e->cfg.n_peers) * e->nb * sizeof(*a->tcnt));
	}
	if (!e->budget)
		return;		/* this tick's walking is used up */
	n = e->store->walk(e->store_ctx, mi, &a->cur, e->budget, ae_cb, &w);
	if (n > 0)
		e->budget = (unsigned int)n >= e->budget ? 0 : e->budget - (unsigned int)n;
	if (n < 0) {
		xlb_log_rl(&e->rl, XLB_LOG_ERR, "sync %s: digest walk of %s failed: %s",
			   e->cfg.node_name, e->maps[mi].name, strerror(-n));
		a->walking = false;
		return;
	}
	if (a->cur.done)
		ae_walk_done(e, mi, now_ns);
}

struct prune_walk {
	struct sync_engine *e;
	struct prune *pr;
};

static int prune_cb(void *arg, const void *key, const void *value)
{
	struct prune_walk *w = arg;
	struct sync_engine *e = w->e;
	struct prune *pr = w->pr;
	const struct sync_mapspec *ms = &e->maps[pr->map];

	if (sync_mapspec_owner(ms, value) != e->peers[pr->peer].node ||
	    bucket_of(key, ms->key_size, pr->bucket_count) != pr->bucket ||
	    kset_has(pr->keys, key, ms->key_size))
		return 0;
	kset_add(&pr->doomed, key, ms->key_size);
	return 0;
}

/* One slice of a prune walk; true when finished. */
static bool prune_step(struct sync_engine *e, struct prune *pr, uint64_t now_ns)
{
	const struct sync_mapspec *ms = &e->maps[pr->map];
	struct prune_walk w = { e, pr };
	struct kent *k, *tmp;
	int n;

	if (!e->budget)
		return false;	/* this tick's walking is used up */
	n = e->store->walk(e->store_ctx, pr->map, &pr->cur, e->budget, prune_cb, &w);
	if (n > 0)
		e->budget = (unsigned int)n >= e->budget ? 0 : e->budget - (unsigned int)n;
	/* delete after the slice, not under the walk */
	HASH_ITER(hh, pr->doomed, k, tmp) {
		/* re-check: the stream may have rewritten it meanwhile */
		if (!kset_has(pr->keys, k->key, k->len) &&
		    e->store->lookup(e->store_ctx, pr->map, k->key, e->vloc) == 0 &&
		    sync_mapspec_owner(ms, e->vloc) == e->peers[pr->peer].node &&
		    e->store->remove(e->store_ctx, pr->map, k->key) == 0) {
			if (sync_mapspec_has_version(ms))
				tomb_put(e, pr->map, k->key, k->len,
					 sync_mapspec_version(ms, e->vloc), e->peers[pr->peer].node,
					 now_ns);
			e->st.antientropy_deletes++;
		}
		HASH_DEL(pr->doomed, k);
		free(k);
	}
	return n < 0 || pr->cur.done;
}

/* ---------------------------------------------------------------- tick */

static void update_ready(struct sync_engine *e, uint64_t now_ns)
{
	bool timed_out = now_ns - e->start_ns >= ms2ns(e->cfg.ready_timeout_ms);
	size_t i;

	if (e->ready)
		return;
	for (i = 0; i < e->cfg.n_peers; i++) {
		const struct peer *p = &e->peers[i];
		struct pull *pl;

		if (p->snapshot_done)
			continue;
		pl = pull_full_of(e, i);
		/* a peer that answered is waited for while it is alive; one
		 * that never did only until the timeout */
		if (!timed_out || (pl && pl->answered && p->alive))
			return;
	}
	e->ready = true;
	xlb_log(XLB_LOG_INFO, "sync %s: ready", e->cfg.node_name);
	if (e->io.ready)
		e->io.ready(e->io_ctx);
}

uint32_t sync_engine_tick(struct sync_engine *e, uint64_t now_ns)
{
	uint64_t pull_retry = 5 * ms2ns(e->cfg.resync_retry_ms);
	bool busy = false;
	struct serve *s, **sp;
	struct prune *pr, **rp;
	struct pull *pl, *pn;
	uint64_t wait;
	size_t i;
	unsigned int m;

	if (!e->started)
		return e->cfg.heartbeat_ms / 2 ? e->cfg.heartbeat_ms / 2 : 1;
	e->last_tick_ns = now_ns;
	/* one budget for every walk of this tick (snapshots served, digests,
	 * prunes), so that many jobs at once cannot stall the live stream:
	 * a busy engine asks for the next tick 1 ms later */
	e->budget = e->cfg.walk_budget;

	/* liveness and gap repair */
	for (i = 0; i < e->cfg.n_peers; i++) {
		struct peer *p = &e->peers[i];
		uint64_t from, to;

		if (p->alive && now_ns - p->last_heard_ns >= ms2ns(e->cfg.dead_after_ms)) {
			p->alive = false;
			p->ready = false;
			xlb_log(XLB_LOG_WARN, "sync %s: peer %s is dead (silent for %" PRIu32 " ms)",
				e->cfg.node_name, p->name, e->cfg.dead_after_ms);
			if (e->io.peer_state)
				e->io.peer_state(e->io_ctx, p->node, false);
		}
		if (!p->alive)
			continue;
		if (sync_rxseq_missing(&p->rx, &from, &to))
			want_range(e, i, from, to, now_ns);
		if (p->need_snapshot) {
			p->need_snapshot = false;
			pull_full(e, i, false, now_ns);
		}
	}

	/* snapshot pulls: (re)send, retry stalled ones */
	for (pl = e->pulls; pl; pl = pn) {
		pn = pl->next;
		if (!e->peers[pl->peer].alive && pl->sent)
			continue;	/* waits for the peer */
		if (!pl->sent) {
			if (e->peers[pl->peer].alive || pl->startup)
				send_pull_request(e, pl, now_ns);
			continue;
		}
		if (now_ns - pl->progress_ns < pull_retry)
			continue;
		if (pl->kind == PULL_BUCKET)
			pull_free(e, pl);	/* the next digest round asks again */
		else
			send_pull_request(e, pl, now_ns);
	}
	update_ready(e, now_ns);

	/* heartbeat */
	if (now_ns >= e->next_hb_ns) {
		send_heartbeat(e, now_ns);
		e->next_hb_ns = now_ns + ms2ns(e->cfg.heartbeat_ms);
	}

	/* snapshot serving */
	for (sp = &e->serves; *sp;) {
		s = *sp;
		if (serve_step(e, s, now_ns)) {
			*sp = s->next;
			e->peers[s->peer].serving--;
			serve_free(s);
			continue;
		}
		busy = true;
		sp = &s->next;
	}

	/* anti-entropy */
	if (e->ready && e->cfg.antientropy_ms) {
		if (now_ns >= e->ae_next_ns) {
			for (m = 0; m < e->cfg.n_maps; m++) {
				if (sync_mapspec_has_owner(&e->maps[m]))
					e->ae[m].send_after = true;
			}
			e->ae_next_ns = now_ns + ms2ns(e->cfg.antientropy_ms);
		}
		for (m = 0; m < e->cfg.n_maps; m++) {
			if (!sync_mapspec_has_owner(&e->maps[m]))
				continue;
			ae_step(e, m, now_ns);
			busy |= e->ae[m].walking;
		}
	}
	for (rp = &e->prunes; *rp;) {
		pr = *rp;
		if (prune_step(e, pr, now_ns)) {
			*rp = pr->next;
			kset_free(&pr->keys);
			kset_free(&pr->doomed);
			free(pr);
			continue;
		}
		busy = true;
		rp = &pr->next;
	}

	tomb_expire(e, now_ns);

	if (busy)
		return 1;
	wait = e->next_hb_ns > now_ns ? (e->next_hb_ns - now_ns) / NS_PER_MS : 0;
	if (wait > e->cfg.heartbeat_ms / 2)
		wait = e->cfg.heartbeat_ms / 2;
	return wait ? (uint32_t)wait : 1;
}

void sync_engine_start(struct sync_engine *e, uint64_t now_ns)
{
	size_t i;

	if (e->started)
		return;
	e->started = true;
	e->start_ns = now_ns;
	e->ae_next_ns = now_ns + ms2ns(e->cfg.antientropy_ms);
	for (i = 0; i < e->cfg.n_peers; i++)
		pull_full(e, i, true, now_ns);
	send_heartbeat(e, now_ns);
	e->next_hb_ns = now_ns + ms2ns(e->cfg.heartbeat_ms);
	update_ready(e, now_ns);	/* no peers: ready at once */
}

void sync_engine_capture_lost(struct sync_engine *e, uint64_t n)
{
	if (!n)
		return;
	xlb_log_rl(&e->rl, XLB_LOG_WARN,
		   "sync %s: capture lost %" PRIu64 " events, anti-entropy round scheduled",
		   e->cfg.node_name, n);
	e->ae_next_ns = 0;
}

/* ------------------------------------------------------- setup, queries */

/*
 * sync_engine_cfg_defaults() fills every default; sync_engine_new() fills
 * the same ones except antientropy_ms, whose 0 there means "disabled" (a
 * caller takes the defaults first, then may turn anti-entropy off).
 */
static void cfg_fill(struct sync_engine_cfg *cfg, bool antientropy)
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
		cfg->heartbeat_ms = 100;
	if (!cfg->dead_after_ms)
		cfg->dead_after_ms = 1000;
	if (!cfg->ready_timeout_ms)
		cfg->ready_timeout_ms = 3000;
	if (!cfg->resync_retry_ms)
		cfg->resync_retry_ms = 200;
	if (antientropy && !cfg->antientropy_ms)
		cfg->antientropy_ms = 10000;
	if (!cfg->digest_buckets)
		cfg->digest_buckets = 64;
	if (!cfg->digest_settle_ms)
		cfg->digest_settle_ms = 5000;
	if (!cfg->walk_budget)
		cfg->walk_budget = 4096;
	if (!cfg->tombstone_ms)
		cfg->tombstone_ms = 60000;
	if (!cfg->txring_msgs)
		cfg->txring_msgs = 65536;
	if (!cfg->txring_bytes)
		cfg->txring_bytes = 64ull << 20;
}

void sync_engine_cfg_defaults(struct sync_engine_cfg *cfg)
{
	cfg_fill(cfg, true);
}

static int cfg_check(struct sync_engine *e, const struct sync_engine_cfg *cfg,
		     const char **why)
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
	if (lim->max_msg <= SYNC_AUTH_TAG_ROOM + HDR_RESERVE + ENTRY_OVERHEAD ||
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
		    lim->max_msg - SYNC_AUTH_TAG_ROOM - HDR_RESERVE)
			return *why = "an entry does not fit in a message", -EINVAL;
		for (j = 0; j < i; j++) {
			if (!strcmp(cfg->maps[j].name, m->name))
				return *why = "map watched twice", -EINVAL;
		}
	}
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
				    const struct sync_io_ops *io, void *io_ctx,
				    char *err, size_t errlen)
{
	struct sync_engine *e;
	const char *why = NULL;
	size_t i, vmax, tab;

	if (!cfg || !store || !store->lookup || !store->update || !store->remove ||
	    !store->walk || !io || !io->send) {
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
	cfg_fill(&e->cfg, false);
	if (cfg_check(e, cfg, &why)) {
		snprintf(err, errlen, "sync engine: %s", why ? why : "bad configuration");
		free(e);
		return NULL;
	}
	e->cfg.maps = e->maps;
	e->cfg.peers = e->peer_ids;
	e->cfg.peer_names = NULL;
	e->cfg.node_name = cfg->node_name ? cfg->node_name : "-";
	memcpy(e->peer_ids, cfg->peers, cfg->n_peers * sizeof(*cfg->peers));
	for (i = 0; i < cfg->n_peers; i++) {
		struct peer *p = &e->peers[i];

		p->node = cfg->peers[i];
		if (cfg->peer_names && cfg->peer_names[i])
			snprintf(p->name, sizeof(p->name), "%s", cfg->peer_names[i]);
		else
			snprintf(p->name, sizeof(p->name), "node%" PRIu32, p->node);
	}
	e->store = store;
	e->store_ctx = store_ctx;
	e->io = *io;
	e->io_ctx = io_ctx;
	e->nb = e->cfg.digest_buckets;
	e->rl = (struct xlb_ratelimit)XLB_RATELIMIT_INIT(1, 20);
	vmax = e->cfg.lim.max_value;
	e->txbuf = malloc(e->cfg.lim.max_msg);
	e->vin = malloc(vmax);
	e->vloc = malloc(vmax);
	e->vmask_a = malloc(vmax);
	e->vmask_b = malloc(vmax);
	if (!e->txbuf || !e->vin || !e->vloc || !e->vmask_a || !e->vmask_b ||
	    sync_txring_init(&e->ring, e->cfg.txring_msgs, e->cfg.txring_bytes))
		goto nomem;
	tab = (1 + e->cfg.n_peers) * e->nb;
	for (i = 0; i < e->cfg.n_maps; i++) {
		struct ae_map *a = &e->ae[i];

		a->tsum = calloc(tab, sizeof(*a->tsum));
		a->tcnt = calloc(tab, sizeof(*a->tcnt));
		a->rsum = calloc(tab, sizeof(*a->rsum));
		a->rcnt = calloc(tab, sizeof(*a->rcnt));
		a->rarr = calloc(tab, sizeof(*a->rarr));
		a->rcut = calloc(tab, sizeof(*a->rcut));
		a->rcut_on = calloc(tab, sizeof(*a->rcut_on));
		if (!a->tsum || !a->tcnt || !a->rsum || !a->rcnt || !a->rarr || !a->rcut ||
		    !a->rcut_on)
			goto nomem;
	}
	return e;
nomem:
	sync_engine_free(e);
	snprintf(err, errlen, "sync engine: out of memory");
	return NULL;
}

void sync_engine_free(struct sync_engine *e)
{
	struct tomb *t, *tt;
	size_t i;

	if (!e)
		return;
	while (e->pulls)
		pull_free(e, e->pulls);
	while (e->serves) {
		struct serve *s = e->serves;

		e->serves = s->next;
		serve_free(s);
	}
	while (e->prunes) {
		struct prune *pr = e->prunes;

		e->prunes = pr->next;
		kset_free(&pr->keys);
		kset_free(&pr->doomed);
		free(pr);
	}
	HASH_ITER(hh, e->tombs, t, tt) {
		HASH_DEL(e->tombs, t);
		free(t);
	}
	for (i = 0; i < SYNC_MAX_MAPS; i++) {
		free(e->ae[i].tsum);
		free(e->ae[i].tcnt);
		free(e->ae[i].rsum);
		free(e->ae[i].rcnt);
		free(e->ae[i].rarr);
		free(e->ae[i].rcut);
		free(e->ae[i].rcut_on);
	}
	ebuf_free(&e->batch);
	sync_txring_free(&e->ring);
	free(e->txbuf);
	free(e->vin);
	free(e->vloc);
	free(e->vmask_a);
	free(e->vmask_b);
	free(e);
}

int sync_engine_map_index(const struct sync_engine *e, const char *name)
{
	return name ? find_map(e, name) : -1;
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
	ps->last_heard_ns = p->last_heard_ns;
	ps->rx_epoch = p->rx.epoch;
	ps->rx_top = p->rx.top;
	ps->acked_seq = p->acked_seq;
	ps->rx_msgs = p->rx_msgs;
	ps->rx_entries = p->rx_entries;
	ps->gaps = p->gaps;
	ps->lost = p->lost;
}
