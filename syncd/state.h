/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * syncd's state across restarts (sync.state_file): the epoch of its last
 * incarnation and the newest epoch it heard of each peer.
 *
 * The epoch names an incarnation of a node's stream; peers refuse a message
 * whose epoch is older than the one they know (a former incarnation). It
 * starts as CLOCK_REALTIME, but a clock stepped back between two runs would
 * give the new incarnation a smaller epoch than the last one, and peers
 * would refuse it for good (then declare the node dead and adopt its
 * sessions). So the next epoch is max(now, last + 1), and the last one is
 * written down before the first message leaves.
 *
 * The peers' epochs: a freshly started node knows no peer's epoch, so it
 * would take a recording of any former incarnation of a peer as first
 * contact. It starts from the epochs it last heard instead and refuses
 * older ones as it would have before the restart.
 *
 * The file is JSON (json-c), written whole to a temporary file, synced,
 * and renamed over the old one, so it is never half written.
 */
#ifndef SYNCD_STATE_H
#define SYNCD_STATE_H

#include <stddef.h>
#include <stdint.h>

#define SYNC_STATE_PEERS_MAX 64

struct sync_state {
	uint64_t epoch; /* this node's last incarnation; 0: none yet */
	size_t n_peers;
	struct {
		uint32_t node;
		uint64_t epoch;
	} peers[SYNC_STATE_PEERS_MAX];
};

/* Reads path into *st. A missing file is an empty state (0); a file that
 * cannot be read or parsed is -1 with one line in err (what, where, why). */
int sync_state_load(const char *path, struct sync_state *st, char *err, size_t errlen);

/* Writes *st to path (temporary file, fsync, rename; the directory is
 * created 0700 when missing). 0, or -1 with one line in err. */
int sync_state_save(const char *path, const struct sync_state *st, char *err, size_t errlen);

/* The epoch of a new incarnation: now, or one above the last one when the
 * clock is behind it. */
uint64_t sync_state_next_epoch(const struct sync_state *st, uint64_t now_ns);

/* The newest epoch recorded for node (0: none). */
uint64_t sync_state_peer_epoch(const struct sync_state *st, uint32_t node);

/* Records node's epoch (kept if newer than the one recorded). Returns 1
 * when the state changed, 0 when not, -1 when the table is full. */
int sync_state_set_peer(struct sync_state *st, uint32_t node, uint64_t epoch);

#endif
