// SPDX-License-Identifier: BSD-2-Clause
/*
 * Anti-entropy (engine.h): every antientropy_ms this node walks its maps
 * with an owner field in slices and sends one DIGEST per bucket over the
 * entries it owns; it compares the peers' digests with the same walk over
 * the entries they own, pulls the buckets that differ (engine_snapshot.c)
 * and then prunes the entries of such a bucket that the owner's snapshot
 * did not contain.
 *
 * Choices this file makes where engine.h leaves room (all deliberate):
 *
 *  - Maps without an owner field get no anti-entropy: nobody is the
 *    authority for their entries, so a missing entry cannot be told from a
 *    deleted one. They are repaired by resync and snapshots only.
 *  - Anti-entropy digests are sent and compared only once this node is
 *    ready: a restarting node with an empty map must not make its peers
 *    prune the sessions it owned before (the startup snapshot brings them
 *    back first).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_priv.h"

/* outstanding repairs asked of one peer; the rest wait for the next round */
#define BUCKET_PULLS_PER_PEER 64
#define SEED_DIGEST	      0x73796e63ull /* "sync" */
/* birth versions count CLOCK_TAI ns >> 20 (bpf/lb_session.h birth_version()) */
#define VERSION_CLOCK_SHIFT 20

/* Hash of one entry for the digest: (key, version, owner). */
static uint64_t entry_hash(const void *key, uint32_t key_len, uint64_t version, uint32_t owner)
{
	uint8_t buf[SYNC_STORE_KEY_MAX + sizeof(version) + sizeof(owner)];

	memcpy(buf, key, key_len);
	memcpy(buf + key_len, &version, sizeof(version));
	memcpy(buf + key_len + sizeof(version), &owner, sizeof(owner));
	return XXH64(buf, key_len + sizeof(version) + sizeof(owner), SEED_DIGEST);
}

/* ------------------------------------------------------------ digests */

struct ae_walk {
	struct sync_engine *e;
	unsigned int map;
};

/* Birth versions in serial order (they wrap after ~52 days): is a before b? */
static bool version_before(uint32_t a, uint32_t b)
{
	return sync_version_cmp(a, b, 32) < 0;
}

/* Now on the birth-version clock (lb.bpf.c birth_version()). */
uint32_t eng_version_now(const struct sync_engine *e)
{
	struct timespec ts;

	if (e->cfg.version_clock)
		return e->cfg.version_clock(e->cfg.version_clock_arg);
	if (clock_gettime(CLOCK_TAI, &ts))
		return 0;
	return (uint32_t)((((uint64_t)ts.tv_sec * XLB_NSEC_PER_SEC) + (uint64_t)ts.tv_nsec) >>
			  VERSION_CLOCK_SHIFT);
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
		pi = eng_find_peer(e, (uint32_t)owner);
		if (pi < 0)
			return 0;
		oi = 1 + (size_t)pi;
	}
	b = bucket_of(key, ms->key_size, e->nb);
	idx = oi * e->nb + b;
	version = sync_mapspec_version(ms, value);
	if (oi == 0 ? a->cut_on && !version_before((uint32_t)version, a->cut)
		    : a->rcut_on[idx - e->nb] &&
			      !version_before((uint32_t)version, a->rcut[idx - e->nb]))
		return 0; /* born too recently: in flight, not compared */
	a->tsum[idx] += entry_hash(key, ms->key_size, version, (uint32_t)owner);
	a->tcnt[idx]++;
	return 0;
}

static bool peer_has_pending_repair(const struct sync_engine *e, size_t pi)
{
	const struct peer *p = &e->peers[pi];
	uint64_t f, t;

	return p->need_snapshot || eng_pull_full_of((struct sync_engine *)e, pi) ||
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
				.map = ms->name,
				.bucket = b,
				.bucket_count = e->nb,
				.entries = a->tcnt[b],
				.hash = a->tsum[b],
				.has_version_before = a->cut_on,
				.version_before = a->cut,
			};
			struct sync_hdr h;
			size_t len;

			eng_hdr_fill(e, &h, 0, now_ns);
			if (sync_encode_digest(&h, &d, &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg,
					       &len)) {
				e->st.tx_errors++;
				continue;
			}
			eng_emit(e, 0, len);
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
			/* a digest that cannot be acted on now (a repair of
			 * that peer in progress, too many bucket pulls out)
			 * stays pending: compared again after the next walk,
			 * not left to the next round, which may be far off or,
			 * for a capture loss, never come */
			if (skip)
				continue;
			if (a->rsum[ri] == a->tsum[li] && a->rcnt[ri] == a->tcnt[li]) {
				a->rarr[ri] = 0;
				continue;
			}
			switch (pull_bucket_pending(e, pi, mi, b)) {
			case 1: /* that bucket is being pulled already */
				a->rarr[ri] = 0;
				e->st.digest_mismatches++;
				continue;
			case 2:
				continue;
			}
			pl = eng_pull_new(e, pi, PULL_BUCKET);
			if (!pl)
				continue;
			a->rarr[ri] = 0;
			e->st.digest_mismatches++;
			pl->map = mi;
			pl->bucket = b;
			pl->bucket_count = e->nb;
			eng_send_pull_request(e, pl, now_ns);
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
		if (!a->send_after && !a->repair_pending && !ae_compare_pending(e, mi))
			return;
		a->walking = true;
		a->walk_start_ns = now_ns;
		/* entries born within digest_settle_ms are still in flight;
		 * a round that repairs a capture loss counts them too (the
		 * lost record may be of the newest ones; what is in flight
		 * costs at most a bucket pulled for nothing) */
		a->cut_on = ms->version_clock && !a->repair_pending;
		if (a->repair_pending) {
			a->repair_pending = false;
			a->send_after = true;
		}
		if (a->cut_on)
			a->cut = eng_version_now(e) -
				 (uint32_t)(ms2ns(e->cfg.digest_settle_ms) >> VERSION_CLOCK_SHIFT);
		memset(&a->cur, 0, sizeof(a->cur));
		memset(a->tsum, 0, (1 + e->cfg.n_peers) * e->nb * sizeof(*a->tsum));
		memset(a->tcnt, 0, (1 + e->cfg.n_peers) * e->nb * sizeof(*a->tcnt));
	}
	if (!e->budget)
		return; /* this tick's walking is used up */
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

void eng_rx_digest(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__Digest *d = x->m->env->digest;
	struct ae_map *a;
	size_t idx;
	int mi;

	/* compared even with periodic rounds off: a peer's capture-loss
	 * repair sends digests too */
	if (!e->ready)
		return;
	mi = eng_find_map(e, d->map);
	if (mi < 0 || !sync_mapspec_has_owner(&e->maps[mi]))
		return;
	if (d->bucket_count != e->nb) {
		eng_log_refused(e, x->p->node, "digest", d->map, "bucket count differs from ours");
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

/* ------------------------------------------------------------- prunes */

void eng_start_prune(struct sync_engine *e, struct pull *pl)
{
	struct prune *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return;
	pr->peer = pl->peer;
	pr->map = pl->map;
	pr->bucket = pl->bucket;
	pr->bucket_count = pl->bucket_count;
	pr->keys = pl->keys; /* moved */
	pr->incomplete = pl->keys_incomplete;
	pl->keys = NULL;
	pr->next = e->prunes;
	e->prunes = pr;
}

static void prune_free(struct sync_engine *e, struct prune *pr)
{
	eng_kset_free(e, &pr->keys);
	eng_kset_free(e, &pr->doomed);
	free(pr);
}

/* While a bucket snapshot from p is pending, or its prune is running,
 * remember the keys its live stream touched: they are current, whatever
 * the snapshot missed, and must not be pruned. */
void eng_note_stream_key(struct sync_engine *e, size_t pi, const struct sync_entry *en)
{
	struct prune *pr;
	struct pull *pl;
	int mi;

	for (pr = e->prunes; pr; pr = pr->next) {
		if (pr->peer != pi)
			continue;
		mi = eng_find_map(e, en->map);
		if (mi < 0 || (unsigned int)mi != pr->map || en->key_len != e->maps[mi].key_size ||
		    bucket_of(en->key, en->key_len, pr->bucket_count) != pr->bucket)
			continue;
		if (!eng_kset_add(e, &pr->keys, en->key, en->key_len))
			pr->incomplete = true;
	}
	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->kind != PULL_BUCKET || pl->peer != pi)
			continue;
		mi = eng_find_map(e, en->map);
		if (mi < 0 || (unsigned int)mi != pl->map || en->key_len != e->maps[mi].key_size ||
		    bucket_of(en->key, en->key_len, pl->bucket_count) != pl->bucket)
			continue;
		if (!eng_kset_add(e, &pl->keys, en->key, en->key_len))
			pl->keys_incomplete = true;
	}
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
	    eng_kset_has(pr->keys, key, ms->key_size))
		return 0;
	eng_kset_add(e, &pr->doomed, key, ms->key_size); /* not added: not deleted */
	return 0;
}

/* One slice of a prune walk; true when finished. */
static bool prune_step(struct sync_engine *e, struct prune *pr, uint64_t now_ns)
{
	const struct sync_mapspec *ms = &e->maps[pr->map];
	struct prune_walk w = { e, pr };
	struct kent *k, *tmp;
	int n;

	if (pr->incomplete) {
		/* a key the peer has may be missing from the set: pruning
		 * could delete it; the next round repairs again */
		e->st.prunes_skipped++;
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: map %s: peer %s's bucket %" PRIu32 " is not pruned: its key "
			   "set is incomplete (%" PRIu32 " keys held by all repairs, the most "
			   "kept)",
			   e->cfg.node_name, ms->name, e->peers[pr->peer].name, pr->bucket,
			   e->cfg.kset_keys_max);
		return true;
	}
	if (!e->budget)
		return false; /* this tick's walking is used up */
	n = e->store->walk(e->store_ctx, pr->map, &pr->cur, e->budget, prune_cb, &w);
	if (n > 0)
		e->budget = (unsigned int)n >= e->budget ? 0 : e->budget - (unsigned int)n;
	/* delete after the slice, not under the walk */
	HASH_ITER(hh, pr->doomed, k, tmp)
	{
		/* re-check: the stream may have rewritten it meanwhile */
		if (!eng_kset_has(pr->keys, k->key, k->len) &&
		    e->store->lookup(e->store_ctx, pr->map, k->key, e->vloc) == 0 &&
		    sync_mapspec_owner(ms, e->vloc) == e->peers[pr->peer].node &&
		    e->store->remove(e->store_ctx, pr->map, k->key, e->vloc) == 0) {
			if (sync_mapspec_has_version(ms))
				eng_tomb_put(e, pr->map, k->key, k->len,
					     sync_mapspec_version(ms, e->vloc),
					     e->peers[pr->peer].node, now_ns);
			if (e->cfg.replaced)
				e->cfg.replaced(e->cfg.replaced_arg, pr->map, k->key, e->vloc,
						NULL);
			e->st.antientropy_deletes++;
		}
		eng_kset_del(e, &pr->doomed, k);
	}
	return n < 0 || pr->cur.done;
}

/* ------------------------------------------------------- tick, set-up */

/* Digest walks (a round every antientropy_ms) and prunes, in slices;
 * true while some are in progress. */
bool eng_digest_tick(struct sync_engine *e, uint64_t now_ns)
{
	struct prune *pr, **rp;
	bool busy = false;
	unsigned int m;

	if (e->ready) {
		if (ae_enabled(e) && now_ns >= e->ae_next_ns) {
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
			prune_free(e, pr);
			continue;
		}
		busy = true;
		rp = &pr->next;
	}
	return busy;
}

/*
 * The capture lost records: which keys is unknown, so every map this node
 * owns entries of gets a digest round now, without the settle cut. The
 * batch in progress leaves first, so that the digests follow every record
 * that did arrive; a peer whose copy differs pulls the bucket and prunes
 * what this node no longer has (a lost delete).
 */
void sync_engine_capture_lost(struct sync_engine *e, uint64_t n, uint64_t now_ns)
{
	unsigned int m;

	if (!n)
		return;
	sync_engine_flush(e, now_ns);
	for (m = 0; m < e->cfg.n_maps; m++) {
		if (sync_mapspec_has_owner(&e->maps[m]))
			e->ae[m].repair_pending = true;
	}
	e->st.capture_repairs++;
	xlb_log_rl(&e->rl, XLB_LOG_WARN,
		   "sync %s: capture lost %" PRIu64 " records: digest round of every owned map now",
		   e->cfg.node_name, n);
}

/* Peer pi restarted or is dead: its digests still pending are void. */
void eng_digest_peer_restarted(struct sync_engine *e, size_t pi)
{
	size_t m;

	for (m = 0; m < e->cfg.n_maps; m++) {
		if (e->ae[m].rarr)
			memset(e->ae[m].rarr + pi * e->nb, 0, e->nb * sizeof(uint64_t));
	}
}

/* Tables indexed [owner][bucket], owner 0 = this node, 1 + i = peer i. */
int eng_digest_init(struct sync_engine *e)
{
	size_t tab = (1 + e->cfg.n_peers) * e->nb, i;

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
			return -ENOMEM;
	}
	return 0;
}

void eng_digest_free(struct sync_engine *e)
{
	size_t i;

	while (e->prunes) {
		struct prune *pr = e->prunes;

		e->prunes = pr->next;
		prune_free(e, pr);
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
}
