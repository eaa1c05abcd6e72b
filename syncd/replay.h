/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Replay protection of every sealed message (docs/design.md section 3,
 * step 7): a peer's sealed frames carry its incarnation's salt and a
 * counter that grows with every message it seals (auth.h, the AEAD's
 * nonce), whatever the message type. A receiver keeps per peer the salt
 * and epoch of its current incarnation, the highest counter accepted and a
 * window of SYNC_REPLAY_WINDOW bits of the counters below it, and refuses
 * a counter seen already or older than the window: a replayed heartbeat
 * cannot keep a dead node alive, nor a replayed snapshot request restart a
 * dump. Frames of one incarnation arrive almost in order (one connection;
 * the beacon thread seals from the same counter), so the window is
 * generous rather than exact.
 *
 * A new incarnation (a larger epoch, which the caller has checked against
 * the ones it knows) starts a new window with its new salt; a second salt
 * within one epoch is refused (an incarnation seals with one salt). The
 * window is not kept across this node's restarts: a freshly started node
 * takes the first frame of a peer's current incarnation it hears as the
 * start (the epoch floor, state.h, still refuses former incarnations).
 */
#ifndef SYNCD_REPLAY_H
#define SYNCD_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define SYNC_REPLAY_WINDOW   4096 /* bits, a power of two */
#define SYNC_REPLAY_SALT_LEN 16

struct sync_replay {
	bool set;
	uint64_t epoch;
	uint8_t salt[SYNC_REPLAY_SALT_LEN];
	uint64_t top; /* highest counter accepted */
	uint64_t bits[SYNC_REPLAY_WINDOW / 64];
};

enum sync_replay_verdict {
	SYNC_REPLAY_OK,
	SYNC_REPLAY_SEEN,	/* this counter was accepted already */
	SYNC_REPLAY_TOO_OLD,	/* below the window: cannot be told from a replay */
	SYNC_REPLAY_OTHER_SALT, /* a second salt for the same incarnation */
};

/* Checks (and on SYNC_REPLAY_OK records) a frame of epoch sealed with salt
 * and counter (!= 0). The caller has refused epochs older than the peer's. */
enum sync_replay_verdict sync_replay_check(struct sync_replay *r, uint64_t epoch,
					   const uint8_t *salt, uint64_t counter);

const char *sync_replay_str(enum sync_replay_verdict v);

#endif
