/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conflict resolution: the same key written on two nodes (DESIGN decision 2).
 *
 * Every write of a key, local or replicated, is described by its version,
 * the node that wrote it (the entry's origin; for a value found in a local
 * map, its owner field) and the operation. Of two writes, the winner is:
 *
 *   1. the higher version;
 *   2. at equal versions, the LOWER node id. Arbitrary but fixed, as in
 *      BGP's lowest-router-id tie-break: node ids are unique in a cluster,
 *      so this settles two survivors adopting the same session at once;
 *   3. at equal version and node, a DELETE over an UPDATE (tombstone rule,
 *      below);
 *   4. two UPDATEs with equal version and node but different values (a
 *      writer bug; never legitimately) are ordered by their bytes (memcmp,
 *      then length, larger wins) so that the nodes cannot diverge even then;
 *   5. otherwise the writes are identical: nothing to do.
 *
 * The order is total and depends only on the two writes, so every node
 * picks the same winner whatever order it saw them in, and
 * sync_conflict_cmp(a, b) == -sync_conflict_cmp(b, a).
 *
 * Tombstones: a DELETE carries the version of the value it deleted (the
 * deleter read it: lbd's ageing does, and syncd knows the last version it
 * saw of a key). It therefore beats that value and every older write of
 * the key (rules 1 and 3), and loses to any later write. A receiver keeps
 * a tombstone (key, version, node) for each delete it accepts, so that an
 * UPDATE of the deleted incarnation that arrives late (reordered,
 * retransmitted, or from a snapshot taken before the delete) cannot
 * resurrect the entry. Tombstones are kept for a bounded time (at least
 * the retransmit/snapshot horizon) and then dropped: the data plane starts
 * a new session at version 1, so a tombstone kept longer would also refuse
 * a genuinely new session on the same key until it expires.
 *
 * Versions are compared as plain unsigned integers (no wrap-around): a
 * 32-bit per-key counter bumped on lifecycle events does not wrap.
 */
#ifndef SYNCD_CONFLICT_H
#define SYNCD_CONFLICT_H

#include <stdint.h>

#include "codec.h"

struct sync_write {
	uint64_t version;
	uint32_t node;		/* writer (entry origin / owner field) */
	enum sync_op op;
	const uint8_t *value;	/* UPDATE: used by rule 4 only */
	uint32_t value_len;
};

/* > 0: a wins, < 0: b wins, 0: identical. Antisymmetric. */
int sync_conflict_cmp(const struct sync_write *a, const struct sync_write *b);

/* The winner of a and b (a if identical): the same write whichever order
 * they are passed in. */
const struct sync_write *sync_conflict_resolve(const struct sync_write *a,
					       const struct sync_write *b);

enum sync_apply {
	SYNC_APPLY_SKIP,	/* local state wins or equals: leave the map */
	SYNC_APPLY_WRITE,	/* write incoming value into the map */
	SYNC_APPLY_DELETE,	/* delete the key from the map */
};

/*
 * What to do with an incoming write given the local state of its key:
 * local is the present value's write, a tombstone (op DELETE), or NULL if
 * the key is neither present nor tombstoned. The caller records a
 * tombstone for every incoming DELETE that wins (even when it has nothing
 * to delete).
 */
enum sync_apply sync_conflict_decide(const struct sync_write *incoming,
				     const struct sync_write *local);

#endif /* SYNCD_CONFLICT_H */
