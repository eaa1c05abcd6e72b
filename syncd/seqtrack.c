// SPDX-License-Identifier: BSD-2-Clause
/* Per-origin receive windows and the sender's retransmit ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seqtrack.h"

#define WMASK ((uint64_t)SYNC_SEQ_WINDOW - 1)

_Static_assert((SYNC_SEQ_WINDOW & (SYNC_SEQ_WINDOW - 1)) == 0 && SYNC_SEQ_WINDOW >= 64,
	       "SYNC_SEQ_WINDOW must be a power of two >= 64");

static int bit_get(const struct sync_rxseq *st, uint64_t s)
{
	uint64_t i = s & WMASK;

	return !!(st->bits[i / 64] & (1ull << (i % 64)));
}

static void bit_put(struct sync_rxseq *st, uint64_t s, int v)
{
	uint64_t i = s & WMASK;

	if (v)
		st->bits[i / 64] |= 1ull << (i % 64);
	else
		st->bits[i / 64] &= ~(1ull << (i % 64));
}

/*
 * Starts tracking a stream at top: everything up to it counts as seen. A
 * peer met for the first time is caught up by a snapshot, so its stream
 * starts at the first sequence heard of; a restarted origin's new epoch
 * starts at 0, so that its messages from 1 on are all accounted for.
 */
static void stream_start(struct sync_rxseq *st, uint64_t epoch, uint64_t top)
{
	st->epoch = epoch;
	st->top = top;
	st->assumed = 0;
	memset(st->bits, 0xff, sizeof(st->bits));
}

/* Lowest sequence inside the window. */
static uint64_t window_low(const struct sync_rxseq *st)
{
	return st->top >= SYNC_SEQ_WINDOW ? st->top - SYNC_SEQ_WINDOW + 1 : 1;
}

/* Moves top to seq (> top), counting holes pushed out of the window. */
static uint64_t advance(struct sync_rxseq *st, uint64_t seq)
{
	uint64_t d = seq - st->top, lost = 0, s, from;

	if (d >= SYNC_SEQ_WINDOW) {
		/* every old slot leaves; so do new holes below the new window */
		for (s = window_low(st); s <= st->top; s++)
			lost += !bit_get(st, s);
		lost += d - SYNC_SEQ_WINDOW; /* (top, seq - WINDOW] never fit */
		from = seq - SYNC_SEQ_WINDOW + 1;
	} else {
		/* slot of s held s - WINDOW, which leaves the window now */
		for (s = st->top + 1; s <= seq; s++) {
			if (s > SYNC_SEQ_WINDOW && !bit_get(st, s))
				lost++;
		}
		from = st->top + 1;
	}
	for (s = from; s < seq; s++)
		bit_put(st, s, 0);
	bit_put(st, seq, 1);
	st->top = seq;
	return lost;
}

void sync_rxseq_receive(struct sync_rxseq *st, uint64_t epoch, uint64_t seq,
			struct sync_seq_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!epoch || !seq || epoch < st->epoch) {
		res->verdict = SYNC_SEQ_STALE;
		return;
	}
	if (!st->epoch) {
		stream_start(st, epoch, seq);
		st->assumed = seq - 1;
		res->verdict = SYNC_SEQ_NEW_STREAM;
		return;
	}
	if (epoch > st->epoch) {
		/* restarted origin: its new numbering starts over at 1 */
		stream_start(st, epoch, 0);
		res->new_epoch = 1;
	}
	if (seq == st->top + 1) {
		res->lost = advance(st, seq);
		res->verdict = SYNC_SEQ_ACCEPT;
		return;
	}
	if (seq > st->top) {
		res->gap_from = st->top + 1;
		res->gap_to = seq - 1;
		res->lost = advance(st, seq);
		res->verdict = SYNC_SEQ_GAP;
		return;
	}
	if (seq < window_low(st)) {
		res->verdict = SYNC_SEQ_STALE;
		return;
	}
	if (bit_get(st, seq)) {
		res->verdict = SYNC_SEQ_DUPLICATE;
		return;
	}
	bit_put(st, seq, 1);
	res->verdict = SYNC_SEQ_LATE;
}

int sync_rxseq_heartbeat(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq,
			 struct sync_seq_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!epoch || epoch < st->epoch)
		return 0;
	if (!st->epoch) {
		/* first contact: what came before is the snapshot's business */
		stream_start(st, epoch, last_seq);
		st->assumed = last_seq;
		res->verdict = SYNC_SEQ_NEW_STREAM;
		return 0;
	}
	if (epoch > st->epoch) {
		stream_start(st, epoch, 0);
		res->new_epoch = 1;
	}
	if (last_seq <= st->top)
		return 0;
	res->gap_from = st->top + 1;
	res->gap_to = last_seq;
	return 1;
}

void sync_rxseq_cover(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq)
{
	uint64_t s;

	if (epoch < st->epoch)
		return;
	if (epoch > st->epoch || last_seq >= st->top) {
		/* everything up to last_seq is held: restart the window there */
		stream_start(st, epoch, last_seq);
		st->assumed = 0;
		return;
	}
	for (s = window_low(st); s <= last_seq; s++)
		bit_put(st, s, 1);
	sync_rxseq_uncover(st, epoch, last_seq);
	st->assumed = 0;
}

void sync_rxseq_uncover(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq)
{
	uint64_t s;

	if (epoch != st->epoch || last_seq >= st->assumed)
		return;
	/* taken as seen at first contact, and not in the snapshot either */
	for (s = last_seq + 1 > window_low(st) ? last_seq + 1 : window_low(st); s <= st->assumed;
	     s++)
		bit_put(st, s, 0);
	st->assumed = last_seq;
}

int sync_rxseq_missing(const struct sync_rxseq *st, uint64_t *from, uint64_t *to)
{
	uint64_t s;

	if (!st->epoch)
		return 0;
	for (s = window_low(st); s < st->top; s++) {
		/* a word of sequences all seen is skipped whole */
		if (!(s & 63) && s + 64 <= st->top && st->bits[(s & WMASK) / 64] == UINT64_MAX) {
			s += 63;
			continue;
		}
		if (bit_get(st, s))
			continue;
		*from = s;
		while (s + 1 < st->top && !bit_get(st, s + 1))
			s++;
		*to = s;
		return 1;
	}
	return 0;
}

/* ---- retransmit ring ---- */

int sync_txring_init(struct sync_txring *r, size_t max_msgs, size_t max_bytes)
{
	memset(r, 0, sizeof(*r));
	if (!max_msgs || !max_bytes)
		return -EINVAL;
	r->slot = calloc(max_msgs, sizeof(*r->slot));
	r->buf = malloc(max_bytes); /* pages are taken as they are first written */
	if (!r->slot || !r->buf) {
		free(r->slot);
		free(r->buf);
		return -ENOMEM;
	}
	r->max_msgs = max_msgs;
	r->max_bytes = max_bytes;
	return 0;
}

static void evict_oldest(struct sync_txring *r)
{
	struct sync_txring_slot *sl = &r->slot[r->head];

	r->bytes -= sl->len;
	memset(sl, 0, sizeof(*sl));
	r->head = (r->head + 1) % r->max_msgs;
	r->n--;
}

void sync_txring_free(struct sync_txring *r)
{
	free(r->slot);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Where a message of len bytes goes, after evicting the oldest messages
 * that are in the way: stored messages run from the oldest's offset h to
 * tail, wrapping once; the free space is [tail, end) and [0, h) when they
 * do not wrap, [tail, h) when they do. */
static size_t place(struct sync_txring *r, size_t len)
{
	for (;;) {
		size_t h;

		if (!r->n)
			return 0;
		h = r->slot[r->head].off;
		if (r->n < r->max_msgs) {
			if (r->tail > h) {
				if (r->tail + len <= r->max_bytes)
					return r->tail;
				if (len <= h)
					return 0;
			} else if (r->tail < h && r->tail + len <= h) {
				return r->tail;
			}
		}
		evict_oldest(r);
	}
}

int sync_txring_put(struct sync_txring *r, uint64_t seq, const void *buf, size_t len)
{
	struct sync_txring_slot *sl;
	size_t off;

	if (!seq || (r->last_seq && seq != r->last_seq + 1))
		return -EINVAL;
	if (len > r->max_bytes)
		return -EMSGSIZE;
	off = place(r, len);
	memcpy(r->buf + off, buf, len);
	sl = &r->slot[(r->head + r->n) % r->max_msgs];
	sl->seq = seq;
	sl->off = off;
	sl->len = len;
	r->n++;
	r->bytes += len;
	r->tail = off + len;
	r->last_seq = seq;
	return 0;
}

uint64_t sync_txring_first(const struct sync_txring *r)
{
	return r->n ? r->slot[r->head].seq : 0;
}

enum sync_txr_lookup sync_txring_lookup(const struct sync_txring *r, uint64_t from, uint64_t to)
{
	if (!from || from > to || to > r->last_seq)
		return SYNC_TXR_FUTURE;
	if (!r->n || from < sync_txring_first(r))
		return SYNC_TXR_GONE;
	return SYNC_TXR_PRESENT;
}

int sync_txring_get(const struct sync_txring *r, uint64_t seq, const uint8_t **buf, size_t *len)
{
	const struct sync_txring_slot *sl;
	uint64_t first = sync_txring_first(r);

	if (!r->n || seq < first || seq > r->last_seq)
		return -ENOENT;
	/* stored sequences are contiguous */
	sl = &r->slot[(r->head + (size_t)(seq - first)) % r->max_msgs];
	*buf = r->buf + sl->off;
	*len = sl->len;
	return 0;
}
