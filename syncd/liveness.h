/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Peer liveness: when is a silent peer dead?
 *
 * A peer sends a heartbeat every heartbeat_ms and is declared dead after
 * dead_after_ms without a message. On a healthy host that is the whole
 * rule, and dead_after_ms is the failure detection time. On a slow host
 * (an emulated kernel, a machine thrashing) two things make a live peer
 * look dead, and each has its own correction:
 *
 *  1. This node did not run. If our own loop was held up, we could not
 *     have heard anyone meanwhile: the time our ticks came late is not
 *     counted as the peer's silence (liveness_stalled()).
 *  2. The peer did not run. Its heartbeats carry its clock at sending; a
 *     run of heartbeats whose sending times are far apart shows a peer
 *     whose own loop stalls. The silence allowed grows with the longest
 *     recent stall of that peer: LIVENESS_GAP_FACTOR times the longest of
 *     its last LIVENESS_WINDOW send gaps, never more than
 *     LIVENESS_MAX_FACTOR times dead_after_ms.
 *
 * A peer whose heartbeats leave on time (send gaps of heartbeat_ms) keeps
 * the configured dead_after_ms: real failures are detected as fast as
 * before. Only a peer that was seen stalling gets more time, and only as
 * much as its stalls were long; after LIVENESS_WINDOW regular heartbeats
 * it is back to dead_after_ms.
 */
#ifndef SYNCD_LIVENESS_H
#define SYNCD_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

#define LIVENESS_WINDOW	    32 /* send gaps remembered per peer */
#define LIVENESS_GAP_FACTOR 3  /* silence allowed per longest gap */
#define LIVENESS_MAX_FACTOR 5  /* ... at most this many dead_after_ms */

struct liveness {
	uint64_t last_heard_ns;		/* our clock; 0: never */
	uint64_t last_sent_ns;		/* the peer's clock of its last message */
	uint64_t gaps[LIVENESS_WINDOW]; /* the peer's recent send gaps */
	unsigned int next;		/* ring index into gaps */
};

/* A message from the peer arrived at @now_ns (our clock), sent at
 * @sent_ns (the peer's clock, 0 if unknown). A send gap of
 * LIVENESS_MAX_FACTOR x @dead_after_ns or more is not remembered. */
void liveness_heard(struct liveness *l, uint64_t now_ns, uint64_t sent_ns, uint64_t dead_after_ns);

/* The peer restarted: its former stalls say nothing of the new process.
 * (A partition's lost heartbeats look like a stall of the peer's until
 * LIVENESS_WINDOW messages later; at most that long, detection is slower.) */
void liveness_forget_stalls(struct liveness *l);

/* This node's loop was held up for @stall_ns: not the peer's silence. */
void liveness_stalled(struct liveness *l, uint64_t stall_ns);

/* The silence after which the peer is dead, for the configured
 * @dead_after_ns. */
uint64_t liveness_allowed_ns(const struct liveness *l, uint64_t dead_after_ns);

/* Has the peer been silent past its allowance at @now_ns? */
bool liveness_expired(const struct liveness *l, uint64_t now_ns, uint64_t dead_after_ns);

#endif /* SYNCD_LIVENESS_H */
