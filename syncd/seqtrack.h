/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Sequence tracking for the reliable sync stream (docs/design.md decision 8).
 *
 * Every origin numbers its BATCH messages 1, 2, 3, ... within an epoch (its
 * incarnation: a larger epoch is a restarted origin whose numbering starts
 * over). A receiver keeps, per origin, the highest sequence it accepted
 * ("top") and a window of SYNC_SEQ_WINDOW bits saying which of the
 * sequences (top - WINDOW, top] it has seen. The first message heard from
 * an origin starts its stream there (the past comes with the snapshot a
 * starting node pulls); a restarted origin (larger epoch) is tracked from
 * sequence 0 again, so its new messages 1, 2, ... are all accounted for.
 *
 * Accept-and-report-gap: a message beyond top + 1 is accepted and applied at
 * once, and the sequences it skipped are reported as a gap for the caller
 * to request (ResyncRequest). Applying out of order is safe because every
 * entry carries a version and the conflict rule (conflict.h), not the
 * arrival order, decides what a map ends up holding; holding messages back
 * would only add latency. A missing sequence that arrives later (reordered
 * or retransmitted) fills its hole and is accepted; a second copy of
 * anything is a duplicate. A hole that slides out of the window unfilled
 * can no longer be accepted: it is reported as lost, and the caller pulls a
 * snapshot. Anything older than the window is refused (stale) - it cannot
 * be told from a replay.
 *
 * The sender keeps its last messages, encoded, in a retransmit ring bounded
 * in count and bytes, to answer ResyncRequests; a range that has left the
 * ring is "gone" and the requester needs a snapshot.
 */
#ifndef SYNCD_SEQTRACK_H
#define SYNCD_SEQTRACK_H

#include <stddef.h>
#include <stdint.h>

/* bits; a power of two, as large as what a sender keeps for resends
 * (SYNC_DEFAULT_TXRING_MSGS): a hole is given up only when its origin can
 * no longer fill it */
#define SYNC_SEQ_WINDOW 65536

enum sync_seq_verdict {
	SYNC_SEQ_ACCEPT,     /* next in order */
	SYNC_SEQ_GAP,	     /* accepted; [gap_from, gap_to] skipped */
	SYNC_SEQ_LATE,	     /* accepted; filled a hole of an earlier gap */
	SYNC_SEQ_NEW_STREAM, /* accepted; first contact with this origin */
	SYNC_SEQ_DUPLICATE,  /* seen already: drop */
	SYNC_SEQ_STALE,	     /* older than the window or epoch: drop */
};

struct sync_seq_result {
	enum sync_seq_verdict verdict;
	uint64_t gap_from, gap_to; /* SYNC_SEQ_GAP, or a heartbeat's tail gap */
	uint64_t lost;		   /* holes that left the window with this call (> 0: snapshot) */
	int new_epoch;		   /* the origin restarted: its stream was reset first */
};

/* Receive state of one origin. Zero-initialised: nothing received yet. */
struct sync_rxseq {
	uint64_t epoch; /* 0: nothing received yet */
	uint64_t top;	/* highest accepted sequence */
	/* first contact: the sequences up to this one count as seen without
	 * having arrived, for the snapshot to cover; what the snapshot does
	 * not cover is missing (sync_rxseq_cover()). 0: none */
	uint64_t assumed;
	uint64_t bits[SYNC_SEQ_WINDOW / 64]; /* bit (s % WINDOW): s seen */
};

/* Classifies BATCH seq of epoch (both != 0) and records it if accepted. */
void sync_rxseq_receive(struct sync_rxseq *st, uint64_t epoch, uint64_t seq,
			struct sync_seq_result *res);

/*
 * A heartbeat says the origin's last sent sequence in epoch. Returns 1 and
 * the range in res->gap_from/gap_to when messages beyond top were lost (a
 * tail loss: nothing later arrived to reveal the gap), else 0. The first
 * contact with an origin starts its stream at last_seq (verdict
 * NEW_STREAM, no gap: a snapshot covers the past); a newer epoch resets the
 * stream to 0 (new_epoch) and so reports [1, last_seq] if last_seq > 0; an
 * older epoch is ignored.
 */
int sync_rxseq_heartbeat(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq,
			 struct sync_seq_result *res);

/*
 * A snapshot of the origin's maps covers its stream of epoch up to
 * last_seq: the holes at or below it need no resync any more. A newer
 * epoch, or a last_seq at or beyond top, restarts the stream there. The
 * sequences after last_seq that the first contact took as seen without
 * having them (the snapshot's walk began before the first message
 * arrived) become missing, to be asked for like any gap.
 */
void sync_rxseq_cover(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq);

/*
 * The oldest still-missing range inside the window, for re-requesting on
 * a timer: returns 1 and [*from, *to], or 0 if nothing is missing.
 */
int sync_rxseq_missing(const struct sync_rxseq *st, uint64_t *from, uint64_t *to);
/* The part of sync_rxseq_cover() that can come early: a snapshot of epoch
 * whose walk began at last_seq is on its way, so the sequences after it
 * that the first contact took as seen are missing. */
void sync_rxseq_uncover(struct sync_rxseq *st, uint64_t epoch, uint64_t last_seq);

/* ---- sender side: retransmit ring ---- */

enum sync_txr_lookup {
	SYNC_TXR_PRESENT, /* every message of the range is stored */
	SYNC_TXR_GONE,	  /* part of it was evicted: snapshot needed */
	SYNC_TXR_FUTURE,  /* part of it was never sent: bogus request */
};

struct sync_txring_slot {
	uint64_t seq;
	size_t off, len; /* in buf */
};

/* The messages are copied into one buffer of max_bytes, one after the
 * other, wrapping to its start when the next does not fit before its end:
 * no allocation per message, and once the buffer has been written round
 * once no page is touched for the first time. */
struct sync_txring {
	size_t max_msgs, max_bytes;
	size_t head, n;	   /* oldest slot, slots in use */
	size_t bytes;	   /* stored, sum of the messages' lengths */
	size_t tail;	   /* where the last stored message ends in buf */
	uint64_t last_seq; /* last stored; 0: none yet */
	struct sync_txring_slot *slot;
	uint8_t *buf;
};

int sync_txring_init(struct sync_txring *r, size_t max_msgs, size_t max_bytes);
void sync_txring_free(struct sync_txring *r);
/*
 * Stores a copy of a sent message. seq must be last_seq + 1 (or anything
 * for the first one). Evicts the oldest messages until both bounds hold.
 * 0, -EINVAL (out-of-order seq), -EMSGSIZE (len > max_bytes), -ENOMEM.
 */
int sync_txring_put(struct sync_txring *r, uint64_t seq, const void *buf, size_t len);
enum sync_txr_lookup sync_txring_lookup(const struct sync_txring *r, uint64_t from, uint64_t to);
/* Stored message seq, or -ENOENT. */
int sync_txring_get(const struct sync_txring *r, uint64_t seq, const uint8_t **buf, size_t *len);
/* Oldest stored sequence, 0 if empty. */
uint64_t sync_txring_first(const struct sync_txring *r);

#endif /* SYNCD_SEQTRACK_H */
