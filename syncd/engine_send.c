// SPDX-License-Identifier: BSD-2-Clause
/*
 * The engine's sending side (engine.h): local changes are queued into the
 * current batch and leave as BATCH messages, each with the next sequence
 * of this node's stream and kept encoded in the retransmit ring, which
 * answers peers' resync requests. Heartbeats carry the stream positions.
 * Every message is authenticated here when a key is set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "engine_priv.h"

#define EBUF_MIN_ENTRIES 64    /* first allocation of a batch or chunk, */
#define EBUF_MIN_BYTES	 16384 /* then doubled as needed */

/* --------------------------------------------------------------- ebuf */

void eng_ebuf_reset(struct ebuf *b)
{
	b->n = 0;
	b->used = 0;
	b->est = 0;
}

void eng_ebuf_free(struct ebuf *b)
{
	free(b->ent);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int eng_ebuf_add(struct ebuf *b, const struct sync_mapspec *ms, unsigned int map, enum sync_op op,
		 uint32_t origin, uint64_t version, const void *key, const void *value)
{
	uint32_t vl = op == SYNC_OP_UPDATE ? ms->value_size : 0;
	size_t need = ms->key_size + vl;
	struct pent *p;

	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : EBUF_MIN_ENTRIES;
		struct pent *ne = realloc(b->ent, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		b->ent = ne;
		b->cap = nc;
	}
	if (b->dcap - b->used < need) {
		size_t nc = b->dcap ? 2 * b->dcap : EBUF_MIN_BYTES;
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
size_t eng_ebuf_est_with(const struct ebuf *b, const struct sync_mapspec *ms, enum sync_op op)
{
	return b->est + strlen(ms->name) + ms->key_size +
	       (op == SYNC_OP_UPDATE ? ms->value_size : 0) + ENTRY_OVERHEAD;
}

size_t eng_msg_budget(const struct sync_engine *e)
{
	return e->cfg.lim.max_msg - SYNC_FRAME_ROOM - HDR_RESERVE;
}

/* ------------------------------------------------------- key indexes */

int eng_kindex_init(struct bindex *x, size_t entries)
{
	uint32_t n = 16;

	while (n < 2 * entries)
		n *= 2;
	x->slot = calloc(n, sizeof(*x->slot));
	x->mask = n - 1;
	x->gen = 1;
	return x->slot ? 0 : -ENOMEM;
}

/* Every slot stale at once. */
void eng_kindex_clear(struct bindex *x)
{
	if (++x->gen == 0) {
		memset(x->slot, 0, ((size_t)x->mask + 1) * sizeof(*x->slot));
		x->gen = 1;
	}
}

/* The slot of the key of hash h: live (gen == x->gen) if an entry holds
 * it (same()), else the free slot where it goes. At most half the slots
 * are live, so a free one is always found. */
struct bslot *eng_kindex_probe(const struct sync_engine *e, struct bindex *x, uint64_t h,
			       kindex_same_fn *same, const void *arg)
{
	uint32_t i = (uint32_t)h & x->mask;

	for (;; i = (i + 1) & x->mask) {
		struct bslot *s = &x->slot[i];

		if (s->gen != x->gen || same(e, s->idx, arg))
			return s;
	}
}

/* A key of the pending batch, for the batch's index. */
struct bkey {
	unsigned int map;
	const void *key;
	uint32_t key_len;
};

static bool batch_same(const struct sync_engine *e, uint32_t idx, const void *arg)
{
	const struct bkey *k = arg;
	const struct pent *p = &e->batch.ent[idx];

	return p->map == k->map && p->key_len == k->key_len &&
	       !memcmp(e->batch.data + p->off, k->key, k->key_len);
}

static struct bslot *batch_slot(struct sync_engine *e, const struct bkey *k)
{
	return eng_kindex_probe(e, &e->bidx, XXH3_64bits_withSeed(k->key, k->key_len, k->map),
				batch_same, k);
}

/* ------------------------------------------------------------ sending */

/* Sends buf[0..len) to node dest alone (if the transport can), else to
 * every peer. */
static int send_to(struct sync_engine *e, uint32_t dest, const uint8_t *buf, size_t len)
{
	if (dest && e->io.send_to)
		return e->io.send_to(e->io_ctx, dest, buf, len);
	return e->io.send(e->io_ctx, buf, len);
}

/* The frame of the envelope in txbuf[0..*len) as it goes on the wire:
 * sealed into sealbuf (a cipher), tagged in place (a key alone) or as it
 * is; *len updated. NULL if it does not fit. */
const uint8_t *eng_frame(struct sync_engine *e, size_t *len)
{
	if (e->cfg.cipher != SYNC_CIPHER_NONE)
		return sync_seal(&e->seal, e->txbuf, *len, e->scratch, e->sealbuf,
				 e->cfg.lim.max_msg, len)
			       ? NULL
			       : e->sealbuf;
	if (e->cfg.auth_key_len && sync_auth_append_k(&e->auth, e->txbuf, len, e->cfg.lim.max_msg))
		return NULL;
	return e->txbuf;
}

/* Frames (eng_frame()) and sends txbuf[0..len) to dest (0: every peer;
 * the header's dest, eng_hdr_fill()). */
int eng_emit(struct sync_engine *e, uint32_t dest, size_t len)
{
	const uint8_t *f = eng_frame(e, &len);
	int rc;

	if (!f) {
		e->st.tx_errors++;
		return -EMSGSIZE;
	}
	rc = send_to(e, dest, f, len);
	e->st.tx_msgs++;
	e->st.tx_bytes += len;
	if (rc < 0) {
		e->st.tx_errors++;
		return rc;
	}
	return (int)len;
}

int sync_engine_beacon(const struct sync_engine *e, uint64_t now_ns, uint8_t *buf, size_t cap,
		       size_t *len)
{
	/* called from the beacon thread: its own buffers; the seal's counter
	 * is atomic and the rest of it is not written after start */
	uint8_t plain[256], scratch[256];
	struct sync_hdr h;
	size_t plen;
	int rc;

	eng_hdr_fill(e, &h, 0, now_ns);
	if (e->cfg.cipher == SYNC_CIPHER_NONE) {
		rc = sync_encode_beacon(&h, &e->cfg.lim, buf, cap, len);
		if (!rc && e->cfg.auth_key_len)
			rc = sync_auth_append_k(&e->auth, buf, len, cap);
		return rc;
	}
	rc = sync_encode_beacon(&h, &e->cfg.lim, plain, sizeof(plain), &plen);
	if (!rc)
		rc = sync_seal((struct sync_seal *)&e->seal, plain, plen, scratch, buf, cap, len);
	return rc;
}

void eng_hdr_fill(const struct sync_engine *e, struct sync_hdr *h, uint32_t dest, uint64_t now_ns)
{
	memset(h, 0, sizeof(*h));
	h->origin = e->cfg.node_id;
	h->epoch = e->cfg.epoch;
	h->dest = dest;
	h->mono_ns = now_ns;
}

/* sync_entry views of b->ent[from..n) (caller frees). */
struct sync_entry *eng_ebuf_entries(const struct sync_engine *e, const struct ebuf *b)
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

/* Local changes that could not leave (out of memory, an encode error):
 * counted, said, and repaired like a capture loss (an anti-entropy round
 * now), never dropped silently. */
static void batch_lost(struct sync_engine *e, size_t n, const char *why, uint64_t now_ns)
{
	e->st.tx_errors++;
	e->st.tx_entries_lost += n;
	xlb_log_rl(&e->rl, XLB_LOG_ERR,
		   "sync %s: %zu local changes not sent (%s): anti-entropy repairs the peers",
		   e->cfg.node_name, n, why);
	sync_engine_capture_lost(e, n, now_ns);
}

/* Sends the pending batch as one or more BATCH messages, each with the
 * next sequence, each kept in the retransmit ring. */
static void send_batch(struct sync_engine *e, uint64_t now_ns)
{
	struct sync_entry *v;
	size_t done = 0;

	if (!e->batch.n)
		return;
	v = eng_ebuf_entries(e, &e->batch);
	if (!v) {
		batch_lost(e, e->batch.n, "out of memory", now_ns);
		eng_ebuf_reset(&e->batch);
		eng_kindex_clear(&e->bidx);
		return;
	}
	while (done < e->batch.n) {
		const uint8_t *f;
		struct sync_hdr h;
		size_t len;
		int k;

		eng_hdr_fill(e, &h, 0, now_ns);
		h.seq = e->tx_seq + 1;
		k = sync_encode_batch(&h, v + done, e->batch.n - done, &e->cfg.lim, e->txbuf,
				      e->cfg.lim.max_msg, &len);
		if (k <= 0) {
			batch_lost(e, e->batch.n - done, k ? strerror(-k) : "an entry too large",
				   now_ns);
			break;
		}
		e->tx_seq++;
		f = eng_frame(e, &len);
		if (!f) {
			/* the sequence is used: peers see a gap, ask, and are
			 * told it is gone (not in the ring); and the changes
			 * are repaired */
			batch_lost(e, e->batch.n - done, "cannot seal", now_ns);
			break;
		}
		if (sync_txring_put(&e->ring, e->tx_seq, f, len))
			e->st.tx_errors++; /* not resendable; a snapshot will do */
		if (e->io.send(e->io_ctx, f, len) < 0)
			e->st.tx_errors++;
		e->st.tx_msgs++;
		e->st.tx_bytes += len;
		e->st.tx_batches++;
		e->st.tx_entries += (uint64_t)k;
		done += (size_t)k;
	}
	free(v);
	eng_ebuf_reset(&e->batch);
	eng_kindex_clear(&e->bidx);
}

void eng_send_heartbeat(struct sync_engine *e, uint64_t now_ns)
{
	struct sync_origin_seq s[SYNC_MAX_PEERS + 1];
	struct sync_hdr h;
	size_t n = 0, i, len;
	uint32_t clk;

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
	eng_hdr_fill(e, &h, 0, now_ns);
	clk = eng_version_now(e);
	if (sync_encode_heartbeat_svc(&h, e->ready, s, n, eng_services_digest(e), &clk, &e->cfg.lim,
				      e->txbuf, e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, 0, len);
}

void eng_send_resync_request(struct sync_engine *e, struct peer *p, uint64_t from, uint64_t to,
			     uint64_t now_ns)
{
	struct sync_hdr h;
	size_t len;

	if (to - from >= RESYNC_MAX_SPAN)
		to = from + RESYNC_MAX_SPAN - 1;
	eng_hdr_fill(e, &h, p->node, now_ns);
	if (sync_encode_resync_request(&h, p->node, from, to, &e->cfg.lim, e->txbuf,
				       e->cfg.lim.max_msg, &len)) {
		e->st.tx_errors++;
		return;
	}
	eng_emit(e, p->node, len);
	e->st.resync_requests_sent++;
	p->resync_last_ns = now_ns;
	if (p->resync_from == from) {
		p->resync_tries++;
	} else {
		p->resync_from = from;
		p->resync_tries = 1;
	}
}

/*
 * Resends are rate-limited per requester: a token bucket of bytes, as much
 * as the retransmit ring holds at once (a peer that lost everything the
 * ring keeps gets it in one go) and refilled at RESYNC_BYTES_PER_S, so
 * that a stream of small requests cannot make this node send its ring
 * over and over. What does not fit now is left: the requester asks again
 * after resync_retry_ms for what it still lacks.
 */
#define RESYNC_BYTES_PER_S (32ull << 20)
static bool resync_take(struct sync_engine *e, struct peer *p, size_t len, uint64_t now_ns)
{
	uint64_t burst = e->cfg.txring_bytes;

	if (!p->resync_fill_ns) {
		p->resync_tokens = burst;
	} else if (now_ns > p->resync_fill_ns) {
		uint64_t add = (now_ns - p->resync_fill_ns) * RESYNC_BYTES_PER_S / XLB_NSEC_PER_SEC;

		p->resync_tokens = add >= burst - p->resync_tokens ? burst : p->resync_tokens + add;
	}
	p->resync_fill_ns = now_ns;
	if (p->resync_tokens < len)
		return false;
	p->resync_tokens -= len;
	return true;
}

void eng_rx_resync_request(struct sync_engine *e, struct rx *x)
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
			if (!resync_take(e, x->p, len, x->now_ns)) {
				e->st.resync_limited++;
				xlb_log_rl(&e->rl, XLB_LOG_WARN,
					   "sync %s: peer %s: resend of %" PRIu64 "..%" PRIu64
					   " cut at %" PRIu64 ": over %llu MiB/s of resends (it "
					   "asks again for the rest)",
					   e->cfg.node_name, x->p->name, rr->from_seq, to, s,
					   RESYNC_BYTES_PER_S >> 20);
				break;
			}
			if (send_to(e, x->p->node, buf, len) < 0)
				e->st.tx_errors++;
			e->st.tx_msgs++;
			e->st.tx_bytes += len;
		}
		e->st.resync_requests_served++;
		break;
	case SYNC_TXR_GONE: {
		/* say so: the requester pulls a snapshot at once */
		struct sync_hdr h;
		size_t len;

		e->st.resync_gone++;
		eng_hdr_fill(e, &h, x->p->node, x->now_ns);
		if (sync_encode_resync_gone(&h, rr->from_seq, to,
					    e->ring.n ? sync_txring_first(&e->ring) : 0,
					    &e->cfg.lim, e->txbuf, e->cfg.lim.max_msg, &len))
			e->st.tx_errors++;
		else
			eng_emit(e, x->p->node, len);
		break;
	}
	case SYNC_TXR_FUTURE:
		eng_log_refused(e, x->p->node, "resync-request", NULL,
				"range beyond the last sequence sent");
		break;
	}
}

/* ------------------------------------------------------ local changes */

int sync_engine_local(struct sync_engine *e, unsigned int map, enum sync_op op, const void *key,
		      const void *value, uint64_t version, uint64_t now_ns)
{
	const struct sync_mapspec *ms;
	struct bkey bk = { .map = map, .key = key };
	struct bslot *slot;
	bool first;
	int rc;

	if (map >= e->cfg.n_maps || !key || (op != SYNC_OP_UPDATE && op != SYNC_OP_DELETE) ||
	    (op == SYNC_OP_UPDATE && !value)) {
		e->st.local_rejected++;
		return -EINVAL;
	}
	ms = &e->maps[map];
	bk.key_len = ms->key_size;
	if (op == SYNC_OP_UPDATE)
		version = sync_mapspec_version(ms, value);
	slot = batch_slot(e, &bk);
	if (op == SYNC_OP_UPDATE && slot->gen == e->bidx.gen) {
		struct pent *p = &e->batch.ent[slot->idx];

		/* the key's last change in this batch was an update: this
		 * one replaces it in place, where it was queued (a delete in
		 * between is the last change instead, and keeps its order) */
		if (p->op == SYNC_OP_UPDATE && p->value_len == ms->value_size &&
		    (!sync_mapspec_has_version(ms) ||
		     sync_version_cmp(version, p->version, sync_mapspec_version_bits(ms)) > 0)) {
			memcpy(e->batch.data + p->off + p->key_len, value, ms->value_size);
			p->version = version;
			e->st.local_updates++;
			e->st.local_coalesced++;
			return 0;
		}
	}
	if (e->batch.n && eng_ebuf_est_with(&e->batch, ms, op) > eng_msg_budget(e)) {
		send_batch(e, now_ns);
		slot = batch_slot(e, &bk);
	}
	first = e->batch.n == 0;
	if (first)
		e->batch_first_ns = now_ns;
	rc = eng_ebuf_add(&e->batch, ms, map, op, e->cfg.node_id, version, key, value);
	if (rc) {
		e->st.local_rejected++;
		return rc;
	}
	slot->gen = e->bidx.gen;
	slot->idx = (uint32_t)(e->batch.n - 1);
	if (op == SYNC_OP_UPDATE) {
		e->st.local_updates++;
	} else {
		e->st.local_deletes++;
		/* our own delete: a late copy of the deleted write must not
		 * come back from a peer's snapshot */
		if (version && sync_mapspec_has_version(ms))
			eng_tomb_put(e, map, key, ms->key_size, version, e->cfg.node_id, now_ns);
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

size_t sync_engine_pending(const struct sync_engine *e, uint64_t *first_ns)
{
	if (first_ns)
		*first_ns = e->batch_first_ns;
	return e->batch.n;
}
