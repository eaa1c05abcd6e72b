/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conflict resolution: the same key written on two nodes (docs/design.md decision 2).
 * Everything that decides between two writes of a key lives here; the
 * engine gathers what a key holds and acts on the verdict.
 *
 * Every write of a key, local or replicated, is described by its version,
 * the node that wrote it and the operation (struct sync_write). Of two
 * writes, the winner is:
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
 * Write identity (sync_conflict_value_write()). A DELETE's node is its
 * origin. A value's node is its owner field, falling back to the writer
 * the caller names when the map has no owner field or it reads 0: the
 * entry's origin for an incoming UPDATE, the incoming writer for the value
 * found here. Using the same definition on both sides keeps the order
 * total when a node rewrites a session it does not own; in a map with a
 * version but no owner field, equal versions are then settled by the value
 * bytes. Values are compared with their timestamp field zeroed: the same
 * write carries different (rebased) timestamps on different nodes.
 *
 * Tombstones: a DELETE carries the version of the value it deleted (the
 * deleter read it: lbd's ageing does, and syncd knows the last version it
 * saw of a key). It therefore beats that value and every older write of
 * the key (rules 1 and 3), and loses to any later write. A receiver keeps
 * a tombstone (key, version, node) for each delete it accepts, so that an
 * UPDATE of the deleted incarnation that arrives late (reordered,
 * retransmitted, or from a snapshot taken before the delete) cannot
 * resurrect the entry. Tombstones are kept for a bounded time (at least
 * the retransmit/snapshot horizon) and then dropped. A genuinely new
 * session on the same key is not held up by one: the data plane starts
 * it at its birth version (lb.bpf.c birth_version(): the cluster's wall
 * clock in ~1 ms units), above every version the deleted incarnation
 * reached.
 *
 * Two rules do without a version to compare:
 *  - a DELETE whose version is not known (0: a kprobe sees only the key)
 *    deletes the value present only if it is the deleter's: the owner is
 *    the authority over its entries (sync_conflict_owner_deletes());
 *  - for the same reason a peer's copy of an entry this node owns is not
 *    written when this node no longer holds the key: the node deleted it,
 *    and the delete left no tombstone here when its capture record was
 *    lost or syncd was down; only a node that lost its maps (a reboot)
 *    takes its own entries back, from its startup snapshots
 *    (sync_conflict_own_gone());
 *  - in a map without a version field an UPDATE always applies and a
 *    DELETE always deletes: the last writer wins by arrival, and there are
 *    no tombstones (sync_conflict_decide_unversioned()).
 *
 * Versions are compared in serial-number order over the width of the
 * map's version field (sync_version_cmp(), mapspec.h): birth versions are
 * 32 bits of ~1 ms and wrap after ~52 days, and a version + 1 can wrap a
 * counter to 0; the write after the wrap is still the newer one. Versions
 * of one key are compared only across seconds to minutes (its lifetime,
 * the tombstones' horizon), far less than half the space, where this order
 * is total. Every comparison of versions in syncd uses it (the conflict
 * rule, folding in the pending batch, the digests' cut).
 */
#ifndef SYNCD_CONFLICT_H
#define SYNCD_CONFLICT_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "mapspec.h"

struct sync_write {
	uint64_t version;
	uint32_t vbits; /* the version field's width (mapspec.h; 0: 64) */
	uint32_t node;	/* writer (entry origin / owner field) */
	enum sync_op op;
	const uint8_t *value; /* UPDATE: used by rule 4 only */
	uint32_t value_len;
};

/* > 0: a wins, < 0: b wins, 0: identical. Antisymmetric. */
int sync_conflict_cmp(const struct sync_write *a, const struct sync_write *b);

/* The winner of a and b (a if identical): the same write whichever order
 * they are passed in. */
const struct sync_write *sync_conflict_resolve(const struct sync_write *a,
					       const struct sync_write *b);

/* The node of a value's write in map ms (above): its owner field, or
 * fallback when the map has none or it reads 0. */
uint32_t sync_conflict_value_node(const struct sync_mapspec *ms, const void *value,
				  uint32_t fallback);

/*
 * The UPDATE that value (of map ms) stands for: its version field, its
 * node (sync_conflict_value_node()), and for rule 4 its bytes with the
 * timestamp field zeroed, copied into scratch (ms->value_size bytes, which
 * must outlive *w).
 */
void sync_conflict_value_write(struct sync_write *w, const struct sync_mapspec *ms,
			       const void *value, uint32_t fallback, uint8_t *scratch);

enum sync_apply {
	SYNC_APPLY_SKIP,   /* local state wins or equals: leave the map */
	SYNC_APPLY_WRITE,  /* write incoming value into the map */
	SYNC_APPLY_DELETE, /* delete the key from the map */
};

/*
 * What to do with an incoming write of a key of a versioned map, given
 * what the key holds here: present is the write of the value in the map
 * (NULL: absent), tomb its tombstone (NULL: none). The key's local state
 * is the newer of the two (a value older than its tombstone is a copy the
 * tombstone has beaten already). *keep_tomb says whether the incoming
 * write is a winning DELETE, to be kept as the key's tombstone at its
 * (version, node), even when there is nothing to delete; a WRITE that
 * wins replaces any tombstone.
 */
enum sync_apply sync_conflict_decide_key(const struct sync_write *incoming,
					 const struct sync_write *present,
					 const struct sync_write *tomb, bool *keep_tomb);

/*
 * sync_conflict_decide_key() with the local state given as one write: the
 * present value's (op UPDATE), a tombstone (op DELETE), or NULL if the key
 * is neither present nor tombstoned.
 */
enum sync_apply sync_conflict_decide(const struct sync_write *incoming,
				     const struct sync_write *local);

/*
 * A DELETE by origin whose version is not known: true if it deletes the
 * present value (of map ms), which it does only if that value is origin's
 * (the map has no owner field, or its owner field is origin). The delete
 * then stands for the value's own write, deleted.
 */
bool sync_conflict_owner_deletes(const struct sync_mapspec *ms, const void *present,
				 uint32_t origin);

/*
 * An UPDATE of map ms carrying value, from a peer, for a key this node
 * (self) does not hold (present false): true if it must not be written
 * because value is owned by this node, which deleted it. @restoring: this
 * node lost its maps and the write comes from a startup snapshot; it then
 * takes its own entries back.
 */
bool sync_conflict_own_gone(const struct sync_mapspec *ms, const void *value, uint32_t self,
			    bool present, bool restoring);

/* A write of op in a map without a version field, the key present or not. */
enum sync_apply sync_conflict_decide_unversioned(enum sync_op op, bool present);

#endif /* SYNCD_CONFLICT_H */
