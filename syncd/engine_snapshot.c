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
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conflict.h"
#include "engine_priv.h"

#define PULL_MAX 256 /* snapshot pulls in progress */
/* a pull without progress for this many resync_retry_ms is asked again */
#define PULL_RETRY_FACTOR 5
/* a stalled pull asks for the rest this many times, then for a new walk */
#define PULL_STALLS_MAX 3
/*
 * Flow control: chunks in flight per snapshot, and how often the requester
 * acknowledges. 32 chunks of at most max_msg (64 KiB by default) are 2 MiB,
 * half of the transport's socket buffers (transport.c), so a snapshot
 * cannot fill them and crowd out the live stream or the heartbeats, and
 * the live stream waits behind at most one window at the receiver.
 */
#define SNAP_WINDOW	   32
#define SNAP_ACK_EVERY	   (SNAP_WINDOW / 4)
#define BUCKET_WINDOW	   8   /* anti-entropy bucket repairs are small */
#define SERVE_MAX_PER_PEER 160 /* snapshots queued per requester */
#define SERVE_ACTIVE	   2   /* ... of which walked at once, in order */
/* a serve waiting for an acknowledgement this many resync_retry_ms is
 * dropped (the requester is gone; one alive asks again within a second) */
#define SERVE_IDLE_FACTOR 25
#define ACK_SLICE	  1024 /* entries walked between two drains (engine.c) */

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
	eng_kset_free(e, &pl->keys);
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

/* (Re)sends pl's request under its current id. */
static void pull_send(struct sync_engine *e, struct pull *pl, uint64_t now_ns)
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
	pl->sent = true;
	pl->sent_ns = pl->progress_ns = now_ns;
	eng_hdr_fill(e, &h, e->peers[pl->peer].node, now_ns);
	rc = sync_encode_snapshot_request_win(&h, pl->id, names, n, pl->bucket,
					      pl->kind == PULL_BUCKET ? pl->bucket_count : 0,
					      pl->kind == PULL_BUCKET ? BUCKET_WINDOW : SNAP_WINDOW,
					      &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len);
	if (rc) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, e->peers[pl->peer].node, len);
	e->st.snapshots_requested++;
}

/* A new walk: a new id, and everything from the first chunk. */
void eng_send_pull_request(struct sync_engine *e, struct pull *pl, uint64_t now_ns)
{
	pl->id = ++e->next_snap_id;
	pl->next_index = pl->acked = 0;
	pl->resend_ns = 0;
	pl->stalls = 0;
	pl->got = false;
	pl->has_walk_seq = false;
	eng_kset_free(e, &pl->keys);
	pull_send(e, pl, now_ns);
}

static void send_ack(struct sync_engine *e, size_t peer, uint64_t id, uint32_t next_index,
		     unsigned int flags, uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	eng_hdr_fill(e, &h, e->peers[peer].node, now_ns);
	if (sync_encode_snapshot_ack(&h, id, next_index, flags, &e->cfg.lim, e->txbuf,
				     e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, e->peers[peer].node, len);
}

static void pull_ack(struct sync_engine *e, struct pull *pl, unsigned int flags, uint64_t now_ns)
{
	send_ack(e, pl->peer, pl->id, pl->next_index, flags, now_ns);
	pl->acked = pl->next_index;
	if (flags & SYNC_ACK_RESEND) {
		pl->resend_at = pl->next_index;
		pl->resend_ns = now_ns;
		e->st.snapshot_resends_asked++;
	}
}

/* A chunk came after a missing one: ask for everything from the missing
 * one on, once per resync_retry_ms (the chunks still in flight behind the
 * gap arrive out of order too). */
static void pull_gap(struct sync_engine *e, struct pull *pl, uint64_t now_ns)
{
	if (pl->resend_ns && pl->resend_at == pl->next_index &&
	    now_ns - pl->resend_ns < ms2ns(e->cfg.resync_retry_ms))
		return;
	pull_ack(e, pl, SYNC_ACK_RESEND, now_ns);
}

void eng_rx_snapshot_chunk(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotChunk *sc = x->m->env->snapshot_chunk;
	struct pull *pl = pull_by_id(e, x->pi, sc->snapshot_id);
	struct sync_entry en;
	size_t i;

	if (!pl) {
		/* not (or no longer) asked for: the server can let it go */
		if (x->p->snap_cancelled != sc->snapshot_id) {
			x->p->snap_cancelled = sc->snapshot_id;
			send_ack(e, x->pi, sc->snapshot_id, 0, SYNC_ACK_CANCEL, x->now_ns);
		}
		return;
	}
	pl->answered = pl->got = true;
	if (sc->index != pl->next_index) {
		/* in order only: what came after a gap comes again */
		e->st.snapshot_chunks_dropped++;
		if (sc->index > pl->next_index)
			pull_gap(e, pl, x->now_ns);
		return;
	}
	pl->progress_ns = x->now_ns;
	pl->stalls = 0;
	pl->next_index++;
	if (pl->kind == PULL_FULL && sc->has_walk_seq) {
		/* what the walk will not hold: asked for now, not at the END */
		pl->walk_seq = sc->walk_seq;
		pl->has_walk_seq = true;
		sync_rxseq_uncover(&x->p->rx, x->m->hdr.epoch, sc->walk_seq);
	}
	for (i = 0; pl->kind == PULL_BUCKET && i < x->m->n_entries; i++) {
		/* only what the bucket holds, and remember it */
		sync_msg_entry(x->m, i, &en);
		e->skip[i] = strcmp(en.map, e->maps[pl->map].name) ||
			     en.key_len != e->maps[pl->map].key_size ||
			     bucket_of(en.key, en.key_len, pl->bucket_count) != pl->bucket;
		if (e->skip[i])
			eng_log_refused(e, x->p->node, "snapshot entry", en.map,
					"outside the requested bucket");
		else if (!eng_kset_add(e, &pl->keys, en.key, en.key_len))
			pl->keys_incomplete = true;
	}
	eng_apply_entries(e, x->p, x->m, pl->kind == PULL_BUCKET ? e->skip : NULL, x->delta,
			  SRC_SNAPSHOT, x->now_ns);
	x->p->rx_entries += x->m->n_entries;
	if (pl->next_index - pl->acked >= SNAP_ACK_EVERY)
		pull_ack(e, pl, 0, x->now_ns);
}

void eng_rx_snapshot_end(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotEnd *se = x->m->env->snapshot_end;
	struct pull *pl = pull_by_id(e, x->pi, se->snapshot_id);

	if (!pl)
		return;
	pl->answered = pl->got = true;
	pl->progress_ns = x->now_ns;
	if (se->has_gone && se->gone) {
		/* the server dropped it (or restarted it elsewhere): anew */
		e->st.snapshots_gone++;
		xlb_log_rl(&e->rl, XLB_LOG_INFO,
			   "sync %s: peer %s no longer serves snapshot %" PRIu64 " after %" PRIu32
			   " chunks: asking anew",
			   e->cfg.node_name, x->p->name, pl->id, pl->next_index);
		eng_send_pull_request(e, pl, x->now_ns);
		return;
	}
	if (se->chunks != pl->next_index) {
		if (se->chunks > pl->next_index)
			pull_gap(e, pl, x->now_ns); /* the tail is missing */
		else
			eng_send_pull_request(e, pl, x->now_ns); /* cannot be */
		return;
	}
	pull_ack(e, pl, 0, x->now_ns); /* the last: the server lets it go */
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

/* Peer pi is heard for the first time since it was silent: a pull sent to
 * it that got nothing yet may have left before there was a connection to
 * carry it (the bus drops such a message), so it is asked again now, under
 * its id, rather than after PULL_RETRY_FACTOR x resync_retry_ms. */
void eng_pulls_peer_heard(struct sync_engine *e, size_t pi, uint64_t now_ns)
{
	struct pull *pl;

	for (pl = e->pulls; pl; pl = pl->next) {
		if (pl->peer == pi && pl->sent && !pl->got)
			pull_send(e, pl, now_ns);
	}
}

/* Pulls to (re)send: never sent to the peer's current incarnation, or
 * stalled: one that got nothing yet is asked again under its id (a server that
 * has it queued keeps its place), one that stopped midway asks for the
 * rest, and after PULL_STALLS_MAX of those for a new walk. A stalled
 * bucket pull is dropped: the next digest round asks again. */
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
		if (!pl->got) {
			pull_send(e, pl, now_ns);
		} else if (pl->kind == PULL_BUCKET) {
			send_ack(e, pl->peer, pl->id, pl->next_index, SYNC_ACK_CANCEL, now_ns);
			eng_pull_free(e, pl);
		} else if (pl->stalls < PULL_STALLS_MAX) {
			pl->stalls++;
			pl->progress_ns = now_ns;
			pull_ack(e, pl, SYNC_ACK_RESEND, now_ns);
		} else {
			eng_send_pull_request(e, pl, now_ns);
		}
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
	uint32_t i;

	for (i = 0; s->held && i < s->window; i++)
		free(s->held[i].buf);
	free(s->held);
	eng_ebuf_free(&s->eb);
	free(s);
}

/* Unlinks s from the serves and frees it. */
static void serve_drop(struct sync_engine *e, struct serve *s)
{
	struct serve **pp;

	for (pp = &e->serves; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	e->peers[s->peer].serving--;
	serve_free(s);
}

static struct serve *serve_by_id(struct sync_engine *e, size_t peer, uint64_t id)
{
	struct serve *s;

	for (s = e->serves; s; s = s->next) {
		if (s->peer == peer && s->id == id)
			return s;
	}
	return NULL;
}

static bool serve_room(const struct serve *s)
{
	return !s->window || s->chunks - s->acked < s->window;
}

static void send_gone(struct sync_engine *e, size_t peer, uint64_t id, uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	eng_hdr_fill(e, &h, e->peers[peer].node, now_ns);
	if (sync_encode_snapshot_gone(&h, id, &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, e->peers[peer].node, len);
}

void eng_rx_snapshot_request(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotRequest *sr = x->m->env->snapshot_request;
	struct serve *s, *old = NULL, **pp;
	uint32_t mask = 0, window = sr->has_window ? sr->window : 0;
	size_t i;
	int mi;

	for (i = 0; i < sr->n_maps; i++) {
		mi = eng_find_map(e, sr->maps[i]);
		if (mi >= 0)
			mask |= 1u << mi;
	}
	if (window > SNAP_WINDOW)
		window = SNAP_WINDOW; /* what this node keeps, at most */
	/*
	 * The same request again is a requester that saw nothing yet (the
	 * walk is queued or its first chunks were lost): the job goes on where
	 * it is. Another request for the same maps and bucket replaces the old
	 * job in its place in the queue.
	 */
	for (s = e->serves; s; s = s->next) {
		if (s->peer == x->pi && s->maps == mask && s->bucketed == sr->has_bucket_count &&
		    (!s->bucketed ||
		     (s->bucket == sr->bucket && s->bucket_count == sr->bucket_count))) {
			if (s->id == sr->snapshot_id)
				return;
			old = s;
			break;
		}
	}
	if (!old && x->p->serving >= SERVE_MAX_PER_PEER) {
		eng_log_refused(e, x->p->node, "snapshot-request", NULL,
				"too many snapshots in progress");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s || (window && !(s->held = calloc(window, sizeof(*s->held))))) {
		free(s);
		return;
	}
	s->peer = x->pi;
	s->id = sr->snapshot_id;
	s->maps = mask;
	s->bucketed = sr->has_bucket_count;
	s->bucket = sr->bucket;
	s->bucket_count = sr->bucket_count;
	s->window = window;
	s->last_seq = e->tx_seq; /* the walk begins now */
	s->cur_map = 0;
	while (s->cur_map < SYNC_MAX_MAPS && !(s->maps & (1u << s->cur_map)))
		s->cur_map++;
	for (pp = &e->serves; *pp && *pp != old; pp = &(*pp)->next)
		;
	/* in old's place, else appended: served in arrival order */
	if (old) {
		s->next = old->next;
		serve_free(old);
	} else {
		x->p->serving++;
	}
	*pp = s;
	e->st.snapshots_served++;
}

/* Keeps the chunk just encoded in txbuf[0..len) for a resend. */
static int hold_chunk(struct sync_engine *e, struct serve *s, size_t len)
{
	struct held *hd = &s->held[s->chunks % s->window];

	if (hd->cap < len) {
		uint8_t *nb = realloc(hd->buf, len);

		if (!nb)
			return -ENOMEM;
		hd->buf = nb;
		hd->cap = len;
	}
	memcpy(hd->buf, e->txbuf, len);
	hd->len = len;
	return 0;
}

/* Sends what the walk put in s->eb as SNAPSHOT_CHUNKs, as far as the
 * window lets it. */
static void serve_send(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct sync_entry *v;

	if (s->eb_off >= s->eb.n || !serve_room(s))
		return;
	v = eng_ebuf_entries(e, &s->eb);
	if (!v) {
		s->failed = true;
		return;
	}
	while (s->eb_off < s->eb.n && serve_room(s)) {
		struct sync_hdr h;
		size_t len;
		int k;

		eng_hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
		k = sync_encode_snapshot_chunk_seq(&h, s->id, s->chunks,
						   s->chunks || s->bucketed ? 0 : s->last_seq,
						   v + s->eb_off, s->eb.n - s->eb_off, &e->cfg.lim,
						   e->txbuf, e->cfg.lim.max_msg, &len);
		if (k <= 0 || (s->window && hold_chunk(e, s, len))) {
			s->failed = true;
			e->st.tx_errors++;
			break;
		}
		if (s->window && eng_emit(e, e->peers[s->peer].node, len) < 0) {
			/* not connected to it (yet), or its buffer is full:
			 * this chunk again at the next tick */
			s->tx_blocked = true;
			break;
		}
		if (!s->window)
			eng_emit(e, e->peers[s->peer].node, len);
		if (s->chunks == s->acked)
			s->ack_ns = now_ns; /* the wait for an ack begins */
		s->chunks++;
		e->st.snapshot_entries_sent += (uint64_t)k;
		s->eb_off += (size_t)k;
	}
	free(v);
	if (s->eb_off >= s->eb.n) {
		eng_ebuf_reset(&s->eb);
		s->eb_off = 0;
	}
}

static void send_end(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	eng_hdr_fill(e, &h, e->peers[s->peer].node, now_ns);
	if (sync_encode_snapshot_end(&h, s->id, s->chunks, s->last_seq, &e->cfg.lim, e->txbuf,
				     e->cfg.lim.max_msg, &len) == 0)
		eng_emit(e, e->peers[s->peer].node, len);
	else
		e->st.tx_errors++;
	if (!s->end_sent && s->chunks == s->acked)
		s->ack_ns = now_ns;
	s->end_sent = true;
}

struct serve_walk {
	struct sync_engine *e;
	struct serve *s;
};

static int serve_cb(void *arg, const void *key, const void *value)
{
	struct serve_walk *w = arg;
	struct sync_engine *e = w->e;
	struct serve *s = w->s;
	const struct sync_mapspec *ms = &e->maps[s->cur_map];

	if (s->bucketed && bucket_of(key, ms->key_size, s->bucket_count) != s->bucket)
		return 0;
	if (eng_ebuf_add(&s->eb, ms, s->cur_map, SYNC_OP_UPDATE,
			 sync_conflict_value_node(ms, value, e->cfg.node_id),
			 sync_mapspec_version(ms, value), key, value))
		s->failed = true;
	return s->failed;
}

enum serve_state {
	SERVE_DONE, /* finished (or failed: no END, the requester asks again) */
	SERVE_BUSY, /* can go on when the walk budget allows */
	SERVE_WAIT, /* waits for the requester's acknowledgement */
};

/* One slice of a snapshot: what is walked and not sent goes out as far as
 * the window allows; the walk goes on (within the tick's budget) only
 * once everything it found is sent. */
static enum serve_state serve_step(struct sync_engine *e, struct serve *s, uint64_t now_ns)
{
	struct serve_walk w = { e, s };
	int n;

	if (!s->begun) {
		s->begun = true;
		s->ack_ns = now_ns;
	}
	s->tx_blocked = false;
	serve_send(e, s, now_ns);
	if (s->tx_blocked)
		return SERVE_WAIT;
	while (e->budget && s->cur_map < SYNC_MAX_MAPS && !s->failed && !s->eb.n && serve_room(s)) {
		n = e->store->walk(e->store_ctx, s->cur_map, &s->cur, e->budget, serve_cb, &w);
		if (n < 0) {
			xlb_log_rl(&e->rl, XLB_LOG_ERR, "sync %s: snapshot walk of %s failed: %s",
				   e->cfg.node_name, e->maps[s->cur_map].name, strerror(-n));
			s->failed = true;
			break;
		}
		e->budget = (unsigned int)n >= e->budget ? 0 : e->budget - (unsigned int)n;
		if (s->cur.done) {
			memset(&s->cur, 0, sizeof(s->cur));
			s->cur_map++;
			while (s->cur_map < SYNC_MAX_MAPS && !(s->maps & (1u << s->cur_map)))
				s->cur_map++;
		} else if (!n) {
			break;
		}
		serve_send(e, s, now_ns);
		if (s->tx_blocked)
			return SERVE_WAIT;
	}
	if (s->failed)
		return SERVE_DONE;
	if (s->cur_map < SYNC_MAX_MAPS || s->eb.n)
		return serve_room(s) ? SERVE_BUSY : SERVE_WAIT;
	if (!s->end_sent)
		send_end(e, s, now_ns);
	return !s->window || s->acked == s->chunks ? SERVE_DONE : SERVE_WAIT;
}

void eng_rx_snapshot_ack(struct sync_engine *e, struct rx *x)
{
	const Xlbsync__SnapshotAck *sa = x->m->env->snapshot_ack;
	struct serve *s = serve_by_id(e, x->pi, sa->snapshot_id);
	bool resend = sa->has_resend && sa->resend;
	unsigned int left, used;
	enum serve_state st;
	uint32_t i;

	if (s && sa->has_cancel && sa->cancel) {
		serve_drop(e, s);
		return;
	}
	if (!s || (sa->has_cancel && sa->cancel)) {
		if (!s && !(sa->has_cancel && sa->cancel))
			send_gone(e, x->pi, sa->snapshot_id, x->now_ns);
		return;
	}
	if (sa->next_index > s->chunks || !s->window) {
		/* never sent, or nothing kept */
		if (resend) {
			e->st.snapshots_gone++;
			send_gone(e, x->pi, s->id, x->now_ns);
			serve_drop(e, s);
		}
		return;
	}
	if (sa->next_index < s->acked)
		return; /* overtaken by a later one (cumulative) */
	s->acked = sa->next_index;
	s->ack_ns = x->now_ns;
	if (resend) {
		for (i = s->acked; i < s->chunks; i++) {
			const struct held *hd = &s->held[i % s->window];

			memcpy(e->txbuf, hd->buf, hd->len);
			eng_emit(e, e->peers[s->peer].node, hd->len);
			e->st.snapshot_chunks_resent++;
		}
		if (s->end_sent)
			send_end(e, s, x->now_ns);
	}
	/* the window moved: fill it now rather than at the next tick (which
	 * may be a heartbeat away), in slices of the walk with the capture
	 * drained between them, at most a tick's walk budget */
	for (left = e->cfg.walk_budget;;) {
		e->budget = left < ACK_SLICE ? left : ACK_SLICE;
		used = e->budget;
		st = serve_step(e, s, x->now_ns);
		used -= e->budget;
		left = used >= left ? 0 : left - used;
		if (st != SERVE_BUSY || !used || !left)
			break;
		if (e->io.yield)
			e->io.yield(e->io_ctx);
	}
	if (st == SERVE_DONE)
		serve_drop(e, s);
}

/* One slice of the snapshots being served (the first SERVE_ACTIVE of
 * each requester; the others wait their turn); true while one can go on.
 * A serve whose requester has not acknowledged anything for a while is
 * dropped. */
bool eng_serves_tick(struct sync_engine *e, uint64_t now_ns)
{
	uint64_t idle = SERVE_IDLE_FACTOR * ms2ns(e->cfg.resync_retry_ms);
	unsigned int active[SYNC_MAX_PEERS] = { 0 };
	struct serve *s, *sn;
	bool busy = false;

	for (s = e->serves; s; s = sn) {
		enum serve_state st;

		sn = s->next;
		if (active[s->peer]++ >= SERVE_ACTIVE)
			continue;
		st = serve_step(e, s, now_ns);
		if (st == SERVE_WAIT && now_ns - s->ack_ns > idle) {
			e->st.snapshots_abandoned++;
			xlb_log_rl(&e->rl, XLB_LOG_WARN,
				   "sync %s: dropped the snapshot served to peer %s: no "
				   "acknowledgement for %" PRIu64 " ms",
				   e->cfg.node_name, e->peers[s->peer].name,
				   (uint64_t)((now_ns - s->ack_ns) / XLB_NSEC_PER_MSEC));
			st = SERVE_DONE;
		}
		if (st == SERVE_DONE)
			serve_drop(e, s);
		else if (st == SERVE_BUSY)
			busy = true;
	}
	return busy;
}

/* Peer pi restarted: what it asked of its former incarnation is void, and
 * what we asked of it goes again to the new one. */
void eng_snapshot_peer_restarted(struct sync_engine *e, size_t pi)
{
	struct serve *s, *sn;
	struct pull *pl;

	for (s = e->serves; s; s = sn) {
		sn = s->next;
		if (s->peer == pi)
			serve_drop(e, s);
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
