// SPDX-License-Identifier: BSD-2-Clause
/*
 * Snapshots (engine.h). Pulls: the full snapshot of every watched map
 * this node asks each peer for at start (readiness waits for them) and
 * when gap repair cannot do, and the bucket snapshots anti-entropy asks
 * for (engine_digest.c). Serves: the snapshots peers ask this node for,
 * walked in slices within the tick's walk budget and sent as
 * SNAPSHOT_CHUNKs, then SNAPSHOT_END.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conflict.h"
#include "engine_priv.h"

#define PULL_MAX 256 /* snapshot pulls in progress */
/* a pull without progress for this many resync_retry_ms is asked again */
#define PULL_RETRY_FACTOR  5
#define SERVE_MAX_PER_PEER 160 /* snapshot walks in progress per requester */

/* -------------------------------------------------------------- pulls */

struct pull *eng_pull_new(struct sync_engine *e, size_t peer, enum pull_kind kind)
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

void eng_pull_free(struct sync_engine *e, struct pull *pl)
{
	struct pull **pp;

	for (pp = &e->pulls; *pp; pp = &(*pp)->next) {
		if (*pp == pl) {
			*pp = pl->next;
			break;
		}
	}
	eng_kset_free(&pl->keys);
	free(pl);
	e->n_pulls--;
}

struct pull *eng_pull_full_of(struct sync_engine *e, size_t peer)
{
	struct pull *pl;

	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->peer == peer && pl->kind == PULL_FULL)
			return pl;
	}
	return NULL;
}

/* A full snapshot of every watched map from peer (unless one is pending). */
void eng_pull_full(struct sync_engine *e, size_t peer, bool startup, uint64_t now_ns)
{
	struct pull *pl = eng_pull_full_of(e, peer);

	if (pl) {
		pl->startup |= startup;
		return;
	}
	pl = eng_pull_new(e, peer, PULL_FULL);
	if (!pl)
		return;
	pl->startup = startup;
	eng_send_pull_request(e, pl, now_ns);
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

void eng_send_pull_request(struct sync_engine *e, struct pull *pl, uint64_t now_ns)
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

		HASH_ITER(hh, pl->keys, k, tmp)
		{
			HASH_DEL(pl->keys, k);
			free(k);
		}
	}
	eng_hdr_fill(e, &h, e->peers[pl->peer].node, now_ns);
	rc = sync_encode_snapshot_request_bucket(&h, pl->id, names, n, pl->bucket,
						 pl->kind == PULL_BUCKET ? pl->bucket_count : 0,
						 &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len);
	if (rc) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, len);
	e->st.snapshots_requested++;
}

void eng_rx_snapshot_chunk(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotChunk *sc = x->m->env->snapshot_chunk;
	struct pull *pl = pull_by_id(e, x->pi, sc->snapshot_id);
	struct sync_entry en;
	size_t i;

	if (!pl)
		return; /* not (or no longer) asked for */
	pl->answered = true;
	pl->progress_ns = x->now_ns;
	if (sc->index != pl->next_index)
		pl->broken = true;
	pl->next_index = sc->index + 1;
	for (i = 0; pl->kind == PULL_BUCKET && i < x->m->n_entries; i++) {
		/* only what the bucket holds, and remember it */
		sync_msg_entry(x->m, i, &en);
		e->skip[i] = strcmp(en.map, e->maps[pl->map].name) ||
			     en.key_len != e->maps[pl->map].key_size ||
			     bucket_of(en.key, en.key_len, pl->bucket_count) != pl->bucket;
		if (e->skip[i])
			eng_log_refused(e, x->p->node, "snapshot entry", en.map,
					"outside the requested bucket");
		else
			eng_kset_add(&pl->keys, en.key, en.key_len);
	}
	eng_apply_entries(e, x->p, x->m, pl->kind == PULL_BUCKET ? e->skip : NULL, x->delta,
			  SRC_SNAPSHOT, x->now_ns);
	x->p->rx_entries += x->m->n_entries;
}

void eng_rx_snapshot_end(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotEnd *se = x->m->env->snapshot_end;
	struct pull *pl = pull_by_id(e, x->pi, se->snapshot_id);

	if (!pl)
		return;
	pl->answered = true;
	pl->progress_ns = x->now_ns;
	if (pl->broken || se->chunks != pl->next_index) {
		/* a chunk went missing: ask again (entries apply idempotently) */
		eng_send_pull_request(e, pl, x->now_ns);
		return;
	}
	if (pl->kind == PULL_FULL) {
		sync_rxseq_cover(&x->p->rx, x->m->hdr.epoch, se->last_seq);
		x->p->snapshot_done = true;
		x->p->need_snapshot = false;
		x->p->resync_tries = 0;
		/* a full snapshot adds what we missed but cannot tell what
		 * was deleted meanwhile: compare digests right away instead
		 * of at the next round */
		e->ae_next_ns = x->now_ns;
	} else {
		eng_start_prune(e, pl);
	}
	eng_pull_free(e, pl);
}

/* Pulls to (re)send: never sent to the peer's current incarnation, or
 * stalled. */
void eng_pulls_tick(struct sync_engine *e, uint64_t now_ns)
{
	uint64_t pull_retry = PULL_RETRY_FACTOR * ms2ns(e->cfg.resync_retry_ms);
	struct pull *pl, *pn;

	for (pl = e->pulls; pl; pl = pn) {
		pn = pl->next;
		if (!e->peers[pl->peer].alive && pl->sent)
			continue; /* waits for the peer */
		if (!pl->sent) {
			if (e->peers[pl->peer].alive || pl->startup)
				eng_send_pull_request(e, pl, now_ns);
			continue;
		}
		if (now_ns - pl->progress_ns < pull_retry)
			continue;
		if (pl->kind == PULL_BUCKET)
			eng_pull_free(e, pl); /* the next digest round asks again */
		else
			eng_send_pull_request(e, pl, now_ns);
	}
}

void eng_update_ready(struct sync_engine *e, uint64_t now_ns)
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
		pl = eng_pull_full_of(e, i);
		/* a peer that answered is waited for while it is alive; one
		 * that never did only until the timeout */
		if (!timed_out || (pl && pl->answered && p->alive))
			return;
	}
	e->ready = true;
	e->restore_own = false;
	xlb_log(XLB_LOG_INFO, "sync %s: ready", e->cfg.node_name);
	if (e->io.ready)
		e->io.ready(e->io_ctx);
}

/* ------------------------------------------------------------- serves */

static void serve_free(struct serve *s)
{
	eng_ebuf_free(&s->eb);
	free(s);
}

void eng_rx_snapshot_request(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotRequest *sr = x->m->env->snapshot_request;
	struct serve *s, **pp;
	uint32_t mask = 0;
	size_t i;
	int mi;

	for (i = 0; i < sr->n_maps; i++) {
		mi = eng_find_map(e, sr->maps[i]);
		if (mi >= 0)
			mask |= 1u << mi;
	}
	/*
	 * The same request again is a requester that saw no chunk for a while:
	 * the walk in progress goes on (restarting it would let retries of
	 * many queued walks start each other over for ever; a chunk lost on
	 * the way shows at its END, after which the retry walks anew). Any
	 * other request for the same maps and bucket replaces the old walk.
	 */
	for (pp = &e->serves; *pp;) {
		s = *pp;
		if (s->peer == x->pi && s->maps == mask && s->bucketed == sr->has_bucket_count &&
		    (!s->bucketed ||
		     (s->bucket == sr->bucket && s->bucket_count == sr->bucket_count))) {
			if (s->id == sr->snapshot_id)
				return;
			*pp = s->next;
			x->p->serving--;
			serve_free(s);
			continue;
		}
		pp = &s->next;
	}
	if (x->p->serving >= SERVE_MAX_PER_PEER) {
		eng_log_refused(e, x->p->node, "snapshot-request", NULL,
				"too many snapshots in progress");
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
	s->last_seq = e->tx_seq; /* the walk begins now */
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

/* Sends b as SNAPSHOT_CHUNKs of job s. */
static void send_chunks(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct sync_entry *v;
	size_t done = 0;

	if (!s->eb.n)
		return;
	v = eng_ebuf_entries(e, &s->eb);
	if (!v) {
		s->failed = true;
		eng_ebuf_reset(&s->eb);
		return;
	}
	while (done < s->eb.n) {
		struct sync_hdr h;
		size_t len;
		int k;

		eng_hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
		k = sync_encode_snapshot_chunk(&h, s->id, s->chunks, v + done, s->eb.n - done,
					       &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len);
		if (k <= 0) {
			s->failed = true;
			e->st.tx_errors++;
			break;
		}
		eng_emit(e, len);
		s->chunks++;
		e->st.snapshot_entries_sent += (uint64_t)k;
		done += (size_t)k;
	}
	free(v);
	eng_ebuf_reset(&s->eb);
}

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
	if (s->eb.n && (eng_ebuf_est_with(&s->eb, ms, SYNC_OP_UPDATE) > eng_msg_budget(e) ||
			s->eb.n >= e->cfg.batch_max_entries))
		send_chunks(e, s, w->now_ns);
	if (eng_ebuf_add(&s->eb, ms, s->cur_map, SYNC_OP_UPDATE,
			 sync_conflict_value_node(ms, value, e->cfg.node_id),
			 sync_mapspec_version(ms, value), key, value))
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
		return true; /* no END: the requester asks again */
	if (s->cur_map < SYNC_MAX_MAPS)
		return false;
	send_chunks(e, s, now_ns);
	if (s->failed)
		return true;
	eng_hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
	if (sync_encode_snapshot_end(&h, s->id, s->chunks, s->last_seq, &e->cfg.lim, e->txbuf,
				     e->cfg.lim.max_msg, &len) == 0)
		eng_emit(e, len);
	else
		e->st.tx_errors++;
	return true;
}

/* One slice of every snapshot being served; true while some remain. */
bool eng_serves_tick(struct sync_engine *e, uint64_t now_ns)
{
	struct serve *s, **sp;
	bool busy = false;

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
	return busy;
}

/* Peer pi restarted: what it asked of its former incarnation is void, and
 * what we asked of it goes again to the new one. */
void eng_snapshot_peer_restarted(struct sync_engine *e, size_t pi)
{
	struct peer *p = &e->peers[pi];
	struct serve *s, **pp;
	struct pull *pl;

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
			pl->sent = false; /* re-sent to the new incarnation */
	}
}

void eng_snapshot_free(struct sync_engine *e)
{
	while (e->pulls)
		eng_pull_free(e, e->pulls);
	while (e->serves) {
		struct serve *s = e->serves;

		e->serves = s->next;
		serve_free(s);
	}
}
