// SPDX-License-Identifier: BSD-2-Clause
/*
 * The engine's receiving side (engine.h): every message is authenticated,
 * decoded and checked, its sequence tracked (seqtrack.h) and gaps repaired,
 * its sender's liveness noted, and its entries validated and applied to
 * the store as the conflict rule (conflict.h) decides, with tombstones
 * against late copies of deleted writes.
 *
 * Which write wins, and how a value's write is identified, is the
 * conflict rule's business alone (conflict.h).
 *
 * Choices this file makes where engine.h leaves room (all deliberate):
 *
 *  - "Answered with nothing": a requester that re-requests the same
 *    missing range RESYNC_MAX_TRIES times without it arriving assumes the
 *    range is gone and pulls a full snapshot from the origin.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conflict.h"
#include "engine_priv.h"

#define RESYNC_MAX_TRIES 5 /* re-requests of one range before a snapshot */

/* --------------------------------------------------------- tombstones */

static size_t tomb_key(struct sync_engine *e, unsigned int map, const void *key, uint32_t key_len)
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
void eng_tomb_put(struct sync_engine *e, unsigned int map, const void *key, uint32_t key_len,
		  uint64_t version, uint32_t node, uint64_t now_ns)
{
	struct tomb *t = tomb_find(e, map, key, key_len);
	size_t kl = 4 + key_len;

	if (t) {
		tomb_del(e, t);
	} else if (e->st.tombstones >= e->cfg.tombstones_max && e->tombs) {
		/* bounded: the oldest (first to expire) makes room. Its key's
		 * late update, if one comes, is written back until the owner's
		 * anti-entropy digests prune it */
		tomb_del(e, e->tombs);
		e->st.tombstones_evicted++;
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: map %s: %" PRIu32 " tombstones, the most kept: the oldest "
			   "makes room (a flood of deletes? %" PRIu64 " evicted so far)",
			   e->cfg.node_name, e->maps[map].name, e->cfg.tombstones_max,
			   e->st.tombstones_evicted);
	}
	t = malloc(sizeof(*t) + kl);
	if (!t)
		return;
	t->version = version;
	t->node = node;
	t->expire_ns = now_ns + ms2ns(e->cfg.tombstone_ms);
	t->klen = (uint32_t)kl;
	tomb_key(e, map, key, key_len);
	memcpy(t->k, e->kbuf, kl);
	eng_uthash_oom = 0;
	HASH_ADD_KEYPTR(hh, e->tombs, t->k, t->klen, t);
	if (eng_uthash_oom) {
		free(t);
		return;
	}
	e->st.tombstones++;
}

void eng_tomb_expire(struct sync_engine *e, uint64_t now_ns)
{
	struct tomb *t, *tmp;

	HASH_ITER(hh, e->tombs, t, tmp)
	{
		if (t->expire_ns > now_ns)
			break; /* insertion order is expiry order */
		tomb_del(e, t);
	}
}

void eng_tombs_free(struct sync_engine *e)
{
	struct tomb *t, *tt;

	HASH_ITER(hh, e->tombs, t, tt)
	{
		HASH_DEL(e->tombs, t);
		free(t);
	}
}

/* -------------------------------------------------------------- apply */

/*
 * Entries are applied in segments of up to APPLY_SEG_MAX with distinct
 * keys, in four steps: each entry is checked (apply_check), what the keys
 * hold is read (one store->lookup_many call per map, or a lookup per
 * entry), the conflict rule decides for each (apply_decide), and the writes
 * and removals go out (one store->write_many call per map, or one call per
 * entry), after which each is accounted (apply_done). A store that writes
 * in batches writes a key only if it still holds what the lookup saw (its
 * version, or its absence); an entry whose key the data plane changed in
 * between is applied again on its own (apply_raced).
 */

enum {
	JOB_SKIP,  /* refused or decided: nothing to write */
	JOB_WRITE, /* decided: write vin */
	JOB_REMOVE /* decided: remove the key */
};

/* Is the entry acceptable? Fills j (map, value) or counts the refusal. */
static bool apply_check(struct sync_engine *e, struct peer *p, struct apply_job *j)
{
	const struct sync_entry *en = &j->en;
	const struct sync_mapspec *ms;
	enum sync_reason r;
	const char *why = NULL;
	int mi;

	mi = eng_find_map(e, en->map);
	if (mi < 0) {
		r = SYNC_E_UNKNOWN_MAP;
		goto refuse;
	}
	ms = &e->maps[mi];
	r = sync_mapspec_check_entry(ms, en);
	if (r != SYNC_OK)
		goto refuse;
	j->mi = mi;
	if (en->op != SYNC_OP_UPDATE)
		return true;
	memcpy(j->vin, en->value, ms->value_size);
	if (sync_mapspec_has_version(ms) && sync_mapspec_version(ms, j->vin) != en->version) {
		e->st.apply_rejected++;
		eng_log_refused(e, p->node, "entry", ms->name,
				"entry version differs from the value's");
		return false;
	}
	if (e->cfg.validate &&
	    e->cfg.validate(e->cfg.validate_arg, (unsigned int)mi, en->key, j->vin, &why)) {
		e->st.apply_rejected++;
		eng_log_refused(e, p->node, "entry", ms->name, why ? why : "validation failed");
		return false;
	}
	return true;

refuse:
	e->st.apply_rejected++;
	e->st.rx_by_reason[r]++;
	e->st.rx_dropped++;
	eng_log_refused(e, p->node, "entry", en->map, sync_reason_str(r));
	return false;
}

/* What the conflict rule makes of j, given what the key holds (j->present,
 * j->vloc). Sets j->what; a skip is counted here. */
static void apply_decide(struct sync_engine *e, struct peer *p, struct apply_job *j, int64_t delta,
			 enum apply_src src, uint64_t now_ns)
{
	const struct sync_entry *en = &j->en;
	const struct sync_mapspec *ms = &e->maps[j->mi];
	struct sync_write win, wloc, wt;
	enum sync_apply act;
	bool keep_tomb;
	struct tomb *t;

	j->what = JOB_SKIP;
	if (en->op == SYNC_OP_UPDATE &&
	    sync_conflict_own_gone(ms, j->vin, e->cfg.node_id, j->present,
				   src == SRC_SNAPSHOT && e->restore_own)) {
		/* anti-entropy removes the peer's copy (engine_digest.c) */
		e->st.apply_own_gone++;
		xlb_log_rl(&e->rl, XLB_LOG_INFO,
			   "sync %s: map %s: node %" PRIu32
			   "'s copy of an entry this node owns and "
			   "deleted is not written back",
			   e->cfg.node_name, ms->name, p->node);
		return;
	}

	if (!sync_mapspec_has_version(ms)) {
		act = sync_conflict_decide_unversioned(en->op, j->present);
		if (act == SYNC_APPLY_WRITE)
			sync_mapspec_rebase_ts(ms, j->vin, delta);
		goto act;
	}

	/* the writes as the conflict rule compares them */
	if (en->op == SYNC_OP_UPDATE) {
		sync_conflict_value_write(&win, ms, j->vin, en->origin, e->vmask_a);
	} else {
		memset(&win, 0, sizeof(win));
		win.op = SYNC_OP_DELETE;
		win.version = en->version;
		win.vbits = sync_mapspec_version_bits(ms);
		win.node = en->origin;
	}
	if (j->present)
		sync_conflict_value_write(&wloc, ms, j->vloc, win.node, e->vmask_b);
	t = tomb_find(e, (unsigned int)j->mi, en->key, en->key_len);
	if (t) {
		memset(&wt, 0, sizeof(wt));
		wt.op = SYNC_OP_DELETE;
		wt.version = t->version;
		wt.vbits = sync_mapspec_version_bits(ms);
		wt.node = t->node;
	}

	if (en->op == SYNC_OP_DELETE && en->version == 0) {
		/* "version not known" */
		if (!j->present || !sync_conflict_owner_deletes(ms, j->vloc, en->origin)) {
			e->st.apply_skipped++;
			return;
		}
		j->tomb_version = wloc.version;
		j->tomb_node = wloc.node; /* the same write, deleted */
		j->what = JOB_REMOVE;
		return;
	}

	act = sync_conflict_decide_key(&win, j->present ? &wloc : NULL, t ? &wt : NULL, &keep_tomb);
	if (act == SYNC_APPLY_SKIP && keep_tomb) {
		/* a winning delete with nothing to delete */
		eng_tomb_put(e, (unsigned int)j->mi, en->key, en->key_len, win.version, win.node,
			     now_ns);
		e->st.apply_skipped++;
		return;
	}
	if (act == SYNC_APPLY_WRITE)
		sync_mapspec_rebase_ts(ms, j->vin, delta);
	j->tomb_version = win.version;
	j->tomb_node = win.node;

act:
	switch (act) {
	case SYNC_APPLY_WRITE:
		j->what = JOB_WRITE;
		return;
	case SYNC_APPLY_DELETE:
		j->what = JOB_REMOVE;
		return;
	case SYNC_APPLY_SKIP:
		break;
	}
	e->st.apply_skipped++;
}

/* j's write or removal was made (rc 0, or -ENOENT for a removal of what
 * was gone) or failed: count it, keep the tombstones, tell the daemon.
 * Returns 1 if the map changed. */
static int apply_done(struct sync_engine *e, struct apply_job *j, int rc, enum apply_src src,
		      uint64_t now_ns)
{
	const struct sync_entry *en = &j->en;
	const struct sync_mapspec *ms = &e->maps[j->mi];
	struct tomb *t;

	if (j->what == JOB_WRITE) {
		if (rc) {
			e->st.apply_errors++;
			xlb_log_rl(&e->rl, XLB_LOG_WARN, "sync %s: map %s write failed: %s",
				   e->cfg.node_name, ms->name, strerror(-rc));
			return 0;
		}
		t = sync_mapspec_has_version(ms)
			    ? tomb_find(e, (unsigned int)j->mi, en->key, en->key_len)
			    : NULL;
		if (t)
			tomb_del(e, t); /* the write beat it */
		e->st.applied_updates++;
		if (src == SRC_SNAPSHOT)
			e->st.snapshot_entries_applied++;
		/* last: the callback may publish a change of its own */
		if (j->present && e->cfg.replaced)
			e->cfg.replaced(e->cfg.replaced_arg, (unsigned int)j->mi, en->key, j->vloc,
					j->vin);
		return 1;
	}
	if (rc && rc != -ENOENT) {
		e->st.apply_errors++;
		return 0;
	}
	if (sync_mapspec_has_version(ms))
		eng_tomb_put(e, (unsigned int)j->mi, en->key, en->key_len, j->tomb_version,
			     j->tomb_node, now_ns);
	e->st.applied_deletes++;
	if (!rc && e->cfg.replaced)
		e->cfg.replaced(e->cfg.replaced_arg, (unsigned int)j->mi, en->key, j->vloc, NULL);
	return 1;
}

/* One entry, with the store's single-key calls. */
static int apply_one(struct sync_engine *e, struct peer *p, struct apply_job *j, int64_t delta,
		     enum apply_src src, uint64_t now_ns)
{
	int rc;

	if (!apply_check(e, p, j))
		return 0;
	rc = e->store->lookup(e->store_ctx, (unsigned int)j->mi, j->en.key, j->vloc);
	if (rc && rc != -ENOENT) {
		e->st.apply_errors++;
		return 0;
	}
	j->present = rc == 0;
	apply_decide(e, p, j, delta, src, now_ns);
	if (j->what == JOB_SKIP)
		return 0;
	if (j->what == JOB_WRITE)
		rc = e->store->update(e->store_ctx, (unsigned int)j->mi, j->en.key, j->vin);
	else
		rc = e->store->remove(e->store_ctx, (unsigned int)j->mi, j->en.key, j->vloc);
	return apply_done(e, j, rc, src, now_ns);
}

int eng_apply_entry(struct sync_engine *e, struct peer *p, const struct sync_entry *en,
		    int64_t delta, enum apply_src src, uint64_t now_ns)
{
	struct apply_job *j = &e->jobs[0];

	j->en = *en;
	return apply_one(e, p, j, delta, src, now_ns);
}

/* A key being queued into the segment, for the segment's index. */
struct skey {
	const struct sync_entry *en;
	uint64_t h;
};

static bool seg_same(const struct sync_engine *e, uint32_t idx, const void *arg)
{
	const struct skey *k = arg;
	const struct apply_job *j = &e->jobs[idx];

	return j->khash == k->h && j->en.key_len == k->en->key_len &&
	       !memcmp(j->en.key, k->en->key, k->en->key_len) && !strcmp(j->en.map, k->en->map);
}

/* Whether the segment holds en's key (hash h) already; if not, it is
 * remembered as job idx's. */
static bool seg_has_key(struct sync_engine *e, const struct sync_entry *en, uint64_t h,
			uint32_t idx)
{
	const struct skey k = { en, h };
	struct bslot *s = eng_kindex_probe(e, &e->segkeys, h, seg_same, &k);

	if (s->gen == e->segkeys.gen)
		return true;
	s->gen = e->segkeys.gen;
	s->idx = idx;
	return false;
}

/* The segment e->jobs[0..n), with the store's batch calls. */
static void apply_segment(struct sync_engine *e, struct peer *p, size_t n, int64_t delta,
			  enum apply_src src, uint64_t now_ns)
{
	struct sync_store_io *io = e->jobio;
	struct apply_job *j = e->jobs;
	unsigned int m, order[SYNC_MAX_MAPS], n_order = 0, o;
	uint32_t seen = 0;
	size_t i, k;
	int rc;

	for (i = 0; i < n; i++) {
		j[i].what = JOB_SKIP;
		j[i].ok = apply_check(e, p, &j[i]);
		/* maps in the order the message names them first: a full-NAT
		 * flow's reverse entry goes in before its session, as the
		 * data plane wrote them */
		if (j[i].ok && !(seen & (1u << j[i].mi))) {
			seen |= 1u << j[i].mi;
			order[n_order++] = (unsigned int)j[i].mi;
		}
	}
	for (o = 0; o < n_order; o++) {
		m = order[o];
		for (i = 0, k = 0; i < n; i++) {
			if (!j[i].ok || j[i].mi != (int)m)
				continue;
			io[k] = (struct sync_store_io){ .key = j[i].en.key, .value = j[i].vloc };
			j[i].io = k++;
		}
		if (!k)
			continue;
		rc = e->store->lookup_many(e->store_ctx, m, io, k);
		for (i = 0; i < n; i++) {
			if (!j[i].ok || j[i].mi != (int)m)
				continue;
			if (rc) {
				j[i].ok = false;
				e->st.apply_errors++;
				continue;
			}
			j[i].present = io[j[i].io].found;
			j[i].seen_version = j[i].present && sync_mapspec_has_version(&e->maps[m])
						    ? sync_mapspec_version(&e->maps[m], j[i].vloc)
						    : 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (j[i].ok)
			apply_decide(e, p, &j[i], delta, src, now_ns);
	}
	for (o = 0; o < n_order; o++) {
		m = order[o];
		for (i = 0, k = 0; i < n; i++) {
			if (!j[i].ok || j[i].what == JOB_SKIP || j[i].mi != (int)m)
				continue;
			io[k] = (struct sync_store_io){
				.key = j[i].en.key,
				/* a removal hands back what it removed */
				.value = j[i].what == JOB_WRITE ? j[i].vin : j[i].vloc,
				.op = j[i].what == JOB_WRITE ? SYNC_STORE_WRITE : SYNC_STORE_REMOVE,
				.found = j[i].present,
				.version = j[i].seen_version,
			};
			j[i].io = k++;
		}
		if (!k)
			continue;
		rc = e->store->write_many(e->store_ctx, m, io, k);
		for (i = 0; i < n; i++) {
			if (!j[i].ok || j[i].what == JOB_SKIP || j[i].mi != (int)m)
				continue;
			if (!rc && io[j[i].io].result == -EAGAIN) {
				/* the data plane wrote the key since the
				 * lookup: decide again on what it holds now */
				e->st.apply_raced++;
				apply_one(e, p, &j[i], delta, src, now_ns);
				continue;
			}
			apply_done(e, &j[i], rc ? rc : io[j[i].io].result, src, now_ns);
		}
	}
}

void eng_apply_entries(struct sync_engine *e, struct peer *p, const struct sync_msg *m,
		       const bool *skip, int64_t delta, enum apply_src src, uint64_t now_ns)
{
	size_t i, n = 0;

	if (!e->store->lookup_many || !e->store->write_many) {
		for (i = 0; i < m->n_entries; i++) {
			if (skip && skip[i])
				continue;
			sync_msg_entry(m, i, &e->jobs[0].en);
			apply_one(e, p, &e->jobs[0], delta, src, now_ns);
		}
		return;
	}
	eng_kindex_clear(&e->segkeys);
	for (i = 0; i < m->n_entries; i++) {
		struct apply_job *j;
		struct sync_entry en;
		uint64_t h;

		if (skip && skip[i])
			continue;
		sync_msg_entry(m, i, &en);
		h = XXH3_64bits(en.key, en.key_len);
		if (n == APPLY_SEG_MAX || seg_has_key(e, &en, h, (uint32_t)n)) {
			apply_segment(e, p, n, delta, src, now_ns);
			n = 0;
			eng_kindex_clear(&e->segkeys);
			seg_has_key(e, &en, h, 0);
		}
		j = &e->jobs[n++];
		j->en = en;
		j->khash = h;
	}
	if (n)
		apply_segment(e, p, n, delta, src, now_ns);
}

/* --------------------------------------------------------- gap repair */

/*
 * [from, to] of peer pi's stream is missing: ask its origin for it, at most
 * every resync_retry_ms. RESYNC_MAX_TRIES requests of the same range left
 * unanswered mean it has left the origin's ring (it answers those with
 * nothing): pull a full snapshot instead. While a full snapshot is pending,
 * only what comes after the point its walk began (known from its first
 * chunk) is asked for: the rest is the snapshot's.
 */
void eng_want_range(struct sync_engine *e, size_t pi, uint64_t from, uint64_t to, uint64_t now_ns)
{
	struct peer *p = &e->peers[pi];
	struct pull *pl = eng_pull_full_of(e, pi);

	if (pl) {
		if (!pl->has_walk_seq || to <= pl->walk_seq)
			return;
		if (from <= pl->walk_seq)
			from = pl->walk_seq + 1;
	}
	if (p->resync_from == from) {
		if (now_ns - p->resync_last_ns < ms2ns(e->cfg.resync_retry_ms))
			return;
		if (p->resync_tries >= RESYNC_MAX_TRIES) {
			p->resync_tries = 0;
			p->resync_from = 0;
			eng_pull_full(e, pi, false, now_ns);
			return;
		}
	}
	eng_send_resync_request(e, p, from, to, now_ns);
}

/* The origin no longer keeps a range we asked for: a snapshot at once
 * rather than after RESYNC_MAX_TRIES silent requests. */
void eng_rx_resync_gone(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__ResyncGone *rg = x->m->env->resync_gone;
	struct peer *p = x->p;

	if (x->m->hdr.epoch != p->rx.epoch || !p->resync_from || rg->from_seq > p->resync_from ||
	    rg->to_seq < p->resync_from)
		return; /* not what we are missing (any more) */
	e->st.resync_gone_heard++;
	xlb_log_rl(&e->rl, XLB_LOG_INFO,
		   "sync %s: peer %s no longer keeps batches %" PRIu64 "..%" PRIu64
		   " (oldest kept %" PRIu64 "): pulling a snapshot",
		   e->cfg.node_name, p->name, rg->from_seq, rg->to_seq, rg->first_kept);
	p->resync_tries = 0;
	p->resync_from = 0;
	eng_pull_full(e, x->pi, false, x->now_ns);
}

/* ---------------------------------------------------------- receiving */

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
	/* a batch is its sender's own changes: an entry in another node's
	 * name is refused (it could delete that node's sessions with the
	 * owner's authority, conflict.h) */
	for (i = 0; i < x->m->n_entries; i++) {
		sync_msg_entry(x->m, i, &en);
		e->skip[i] = en.origin != x->m->hdr.origin;
		if (e->skip[i]) {
			char nb[32];

			e->st.rx_foreign_origin++;
			snprintf(nb, sizeof(nb), "node%" PRIu32 "'s name", en.origin);
			eng_log_refused(e, x->p->node, "batch entry", en.map, nb);
			continue;
		}
		if (e->pulls || e->prunes)
			eng_note_stream_key(e, x->pi, &en);
	}
	eng_apply_entries(e, x->p, x->m, e->skip, x->delta, SRC_BATCH, x->now_ns);
	x->p->rx_entries += x->m->n_entries;
	if (res.lost) {
		x->p->lost += res.lost;
		x->p->need_snapshot = true;
	}
	if (res.verdict == SYNC_SEQ_GAP) {
		x->p->gaps += res.gap_to - res.gap_from + 1;
		eng_want_range(e, x->pi, res.gap_from, res.gap_to, x->now_ns);
	}
	if (res.verdict == SYNC_SEQ_NEW_STREAM && !x->p->snapshot_done)
		x->p->need_snapshot = true; /* first contact after startup */
}

/*
 * Clock skew between this node and a peer, from the birth-version clock its
 * heartbeat carries (CLOCK_TAI, the clock birth versions and the digests'
 * cut are read from; the transit adds a millisecond or so). Nodes whose
 * CLOCK_TAI differ by S (a TAI offset set on one node only is 37 s) order
 * key reuses wrongly for S: a new session that the node behind makes for a
 * key whose last incarnation came from the node ahead less than S before
 * loses to that incarnation's tombstone or copy on the peers, so it is not
 * replicated and does not survive a failover, and digests leave out
 * sessions "born in the future". Warned once past SKEW_WARN_MS, and again
 * after it has come back under half of that.
 */
#define SKEW_WARN_MS 500
static void skew_heard(struct sync_engine *e, struct peer *p, uint32_t theirs)
{
	int64_t d = (int32_t)(theirs - eng_version_now(e)); /* serial difference */
	int64_t ms = d * (1 << 20) / 1000000, ams = ms < 0 ? -ms : ms;

	p->clock_skew = d;
	p->has_skew = true;
	if (ams > SKEW_WARN_MS && !p->skew_warned) {
		p->skew_warned = true;
		e->st.clock_skew_warnings++;
		xlb_log(XLB_LOG_WARN,
			"sync %s: peer %s's clock (CLOCK_TAI) is %" PRId64 " ms %s this node's: "
			"for that long after a key's last session from the node ahead, the "
			"node behind's new session of that key loses to it and is not "
			"replicated (fix the clocks: NTP, and the same TAI offset on every node)",
			e->cfg.node_name, p->name, ams, ms > 0 ? "ahead of" : "behind");
	} else if (p->skew_warned && ams < SKEW_WARN_MS / 2) {
		p->skew_warned = false;
		xlb_log(XLB_LOG_INFO,
			"sync %s: peer %s's clock is within %" PRId64 " ms of ours again",
			e->cfg.node_name, p->name, ams);
	}
}

static void rx_heartbeat(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__Heartbeat *hb = x->m->env->heartbeat;
	struct sync_seq_result res;
	size_t i;

	x->p->ready = hb->ready;
	eng_services_heard(e, x->p, hb, x->now_ns);
	if (hb->has_birth_clock)
		skew_heard(e, x->p, hb->birth_clock);
	for (i = 0; i < hb->n_seqs; i++) {
		const Xlbsync__OriginSeq *s = hb->seqs[i];

		if (s->origin == e->cfg.node_id) {
			if (s->epoch == e->cfg.epoch)
				x->p->acked_seq = s->last_seq;
			continue;
		}
		if (s->origin != x->p->node)
			continue; /* a third node's stream: it speaks for itself */
		if (s->epoch != x->m->hdr.epoch)
			continue;
		if (sync_rxseq_heartbeat(&x->p->rx, s->epoch, s->last_seq, &res)) {
			/* a tail loss; counted once per range */
			if (x->p->resync_from != res.gap_from)
				x->p->gaps += res.gap_to - res.gap_from + 1;
			eng_want_range(e, x->pi, res.gap_from, res.gap_to, x->now_ns);
		}
		if (res.verdict == SYNC_SEQ_NEW_STREAM && !x->p->snapshot_done)
			x->p->need_snapshot = true;
	}
}

/* @sent_ns: the peer's clock when it sent the message (liveness.h). */
static void peer_heard(struct sync_engine *e, struct peer *p, uint64_t now_ns, uint64_t sent_ns)
{
	liveness_heard(&p->live, now_ns ? now_ns : 1, sent_ns, ms2ns(e->cfg.dead_after_ms));
	if (!p->alive) {
		p->alive = true;
		xlb_log(XLB_LOG_INFO, "sync %s: peer %s is alive", e->cfg.node_name, p->name);
		if (e->io.peer_state)
			e->io.peer_state(e->io_ctx, p->node, true);
		eng_pulls_peer_heard(e, (size_t)(p - e->peers), now_ns);
	}
}

/* A peer restarted: forget what was tied to its former incarnation. */
static void peer_new_epoch(struct sync_engine *e, size_t pi, uint64_t epoch)
{
	struct peer *p = &e->peers[pi];

	if (e->io.peer_epoch)
		e->io.peer_epoch(e->io_ctx, p->node, epoch);
	if (!p->epoch) {
		p->epoch = epoch; /* first contact: nothing to forget */
		return;
	}
	xlb_log(XLB_LOG_INFO, "sync %s: peer %s restarted", e->cfg.node_name, p->name);
	p->epoch = epoch;
	p->ready = false;
	p->acked_seq = 0;
	liveness_forget_stalls(&p->live);
	eng_snapshot_peer_restarted(e, pi);
	eng_digest_peer_restarted(e, pi);
}

void sync_engine_rx(struct sync_engine *e, const uint8_t *buf, size_t len, uint64_t now_ns)
{
	struct sync_msg m;
	enum sync_reason r;
	uint32_t sealer = 0;
	struct rx x;
	size_t plen = len;
	int pi;

	e->st.rx_msgs++;
	e->st.rx_bytes += len;
	if (len > e->cfg.lim.max_msg) {
		r = SYNC_E_TOO_BIG;
		goto refused;
	}
	if (e->cfg.cipher != SYNC_CIPHER_NONE) {
		int orc = sync_open(&e->seal, buf, len, e->openbuf, e->cfg.lim.max_msg, &plen,
				    &sealer);

		if (orc == -EACCES) {
			e->st.rx_auth_fail++;
			e->st.rx_node_key_fail++;
			e->st.rx_dropped++;
			xlb_log_rl(&e->rl, XLB_LOG_WARN,
				   "sync %s: refused message from %s map -: no valid authenticator "
				   "from the node it names (per-node keys: sealed by another node, "
				   "or by one that is not a peer)",
				   e->cfg.node_name, "a holder of the cluster key");
			return;
		}
		if (orc) {
			e->st.rx_auth_fail++;
			e->st.rx_dropped++;
			xlb_log_rl(&e->rl, XLB_LOG_WARN,
				   "sync %s: refused message from %s map -: not sealed with this "
				   "cluster's key and cipher (%s)",
				   e->cfg.node_name, "unauthenticated sender",
				   sync_cipher_str(e->cfg.cipher));
			return;
		}
		buf = e->openbuf;
	} else if (e->cfg.auth_key_len && sync_auth_verify_k(&e->auth, buf, len, &plen)) {
		e->st.rx_auth_fail++;
		e->st.rx_dropped++;
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: refused message from %s map -: missing or wrong auth tag",
			   e->cfg.node_name, "unauthenticated sender");
		return;
	}
	r = sync_decode_in(&m, &e->arena, buf, plen, &e->cfg.lim);
	if (r != SYNC_OK)
		goto refused;
	if (e->cfg.cipher != SYNC_CIPHER_NONE && m.hdr.origin != sealer) {
		char nb[32];

		e->st.rx_auth_fail++;
		e->st.rx_dropped++;
		snprintf(nb, sizeof(nb), "node%" PRIu32, sealer);
		xlb_log_rl(&e->rl, XLB_LOG_WARN,
			   "sync %s: refused %s from %s map -: sealed by it but claims origin "
			   "node%" PRIu32,
			   e->cfg.node_name, sync_msg_type_str(m.type), nb, m.hdr.origin);
		goto out;
	}

	pi = eng_find_peer(e, m.hdr.origin);
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
	if (m.hdr.epoch < x.p->epoch || m.hdr.epoch < x.p->epoch_floor) {
		e->st.rx_stale++;
		e->st.rx_dropped++;
		eng_log_refused(e, x.p->node, sync_msg_type_str(m.type), NULL,
				"from a former incarnation");
		goto out;
	}
	if (e->cfg.cipher != SYNC_CIPHER_NONE) {
		enum sync_replay_verdict rv = sync_replay_check(
			&x.p->replay, m.hdr.epoch, e->seal.last_salt, e->seal.last_counter);

		if (rv != SYNC_REPLAY_OK) {
			e->st.rx_replayed++;
			e->st.rx_dropped++;
			eng_log_refused(e, x.p->node, sync_msg_type_str(m.type), NULL,
					sync_replay_str(rv));
			goto out;
		}
	}
	if (m.hdr.epoch > x.p->epoch)
		peer_new_epoch(e, x.pi, m.hdr.epoch);
	peer_heard(e, x.p, now_ns, m.hdr.mono_ns);
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
		eng_rx_resync_request(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_REQUEST:
		eng_rx_snapshot_request(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_CHUNK:
		eng_rx_snapshot_chunk(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_END:
		eng_rx_snapshot_end(e, &x);
		break;
	case SYNC_MSG_SNAPSHOT_ACK:
		eng_rx_snapshot_ack(e, &x);
		break;
	case SYNC_MSG_RESYNC_GONE:
		eng_rx_resync_gone(e, &x);
		break;
	case SYNC_MSG_DIGEST:
		eng_rx_digest(e, &x);
		break;
	case SYNC_MSG_SERVICES_REQUEST:
		eng_rx_services_request(e, &x);
		break;
	case SYNC_MSG_SERVICES:
		eng_rx_services_chunk(e, &x);
		break;
	case SYNC_MSG_BEACON:
		e->st.rx_beacons++; /* heard, above: nothing else */
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

/* Once per tick: peers gone silent are dead; missing ranges of the live
 * ones are asked for again, and the snapshots they need pulled. */
void eng_peers_tick(struct sync_engine *e, uint64_t now_ns)
{
	size_t i;

	for (i = 0; i < e->cfg.n_peers; i++) {
		struct peer *p = &e->peers[i];
		uint64_t from, to;

		if (p->alive && liveness_expired(&p->live, now_ns, ms2ns(e->cfg.dead_after_ms))) {
			p->alive = false;
			p->ready = false;
			/* its digests waiting for a comparison are void */
			eng_digest_peer_restarted(e, i);
			xlb_log(XLB_LOG_WARN,
				"sync %s: peer %s is dead (silent for %" PRIu64
				" ms; allowed %" PRIu64 " ms: dead_after_ms %" PRIu32
				", longer after the peer's own stalls)",
				e->cfg.node_name, p->name,
				(uint64_t)((now_ns - p->live.last_heard_ns) / XLB_NSEC_PER_MSEC),
				(uint64_t)(liveness_allowed_ns(&p->live,
							       ms2ns(e->cfg.dead_after_ms)) /
					   XLB_NSEC_PER_MSEC),
				e->cfg.dead_after_ms);
			if (e->io.peer_state)
				e->io.peer_state(e->io_ctx, p->node, false);
		}
		if (!p->alive)
			continue;
		if (sync_rxseq_missing(&p->rx, &from, &to))
			eng_want_range(e, i, from, to, now_ns);
		if (p->need_snapshot) {
			p->need_snapshot = false;
			eng_pull_full(e, i, false, now_ns);
		}
	}
}
