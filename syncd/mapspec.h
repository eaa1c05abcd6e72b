/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A watched map as syncd knows it: a name, key and value sizes, and where
 * in the value three optional fields are:
 *
 *   timestamp  a CLOCK_MONOTONIC time of the writing node, rebased to the
 *              receiver's clock on apply (docs/design.md decision 2);
 *   owner      the node id that owns the entry (ages it; decision 3);
 *   version    the per-key write version (conflict.h).
 *
 * Fields are unsigned integers of 2, 4 or 8 bytes in host byte order, at
 * any offset (read with memcpy, no alignment needed), inside the value and
 * not overlapping each other. Nothing here knows what the map holds.
 */
#ifndef SYNCD_MAPSPEC_H
#define SYNCD_MAPSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct sync_field {
	uint32_t off;
	uint32_t size; /* 0: the map has no such field */
};

struct sync_mapspec {
	char name[SYNC_MAP_NAME_MAX + 1];
	uint32_t key_size;
	uint32_t value_size;
	struct sync_field ts;
	struct sync_field owner;
	struct sync_field version;
	/* The version field starts at a wall-clock birth value (CLOCK_TAI ns
	 * >> 20, lb.bpf.c birth_version()) and grows by one per write, so a
	 * version also says when the entry was born: anti-entropy leaves the
	 * entries born in the last moments (still in flight) out of its
	 * digests. Set for the data plane's own maps; false from
	 * sync_mapspec_init(). */
	bool version_clock;
};

#define SYNC_FIELD_NONE ((struct sync_field){ 0, 0 })
#define SYNC_FIELD(type, member)                                                                   \
	((struct sync_field){ offsetof(type, member), sizeof(((type *)0)->member) })

/*
 * Fills ms after validating: name (sync_map_name_check()), key and value
 * sizes 1..max (the codec limits of the peers), each present field of size
 * 2, 4 or 8 and inside the value, no two fields overlapping. Returns 0, or
 * -EINVAL with *why (if why) saying what is wrong, for a config error.
 */
int sync_mapspec_init(struct sync_mapspec *ms, const char *name, uint32_t key_size,
		      uint32_t value_size, struct sync_field ts, struct sync_field owner,
		      struct sync_field version, const struct sync_limits *lim, const char **why);

/* Field accessors; value is value_size bytes. A missing field reads 0. */
uint64_t sync_field_get(const struct sync_field *f, const void *value);
void sync_field_set(const struct sync_field *f, void *value, uint64_t v);

static inline int sync_mapspec_has_owner(const struct sync_mapspec *ms)
{
	return ms->owner.size != 0;
}

static inline int sync_mapspec_has_version(const struct sync_mapspec *ms)
{
	return ms->version.size != 0;
}

/* The width of the version field in bits (16, 32 or 64; 0: none). */
static inline unsigned int sync_mapspec_version_bits(const struct sync_mapspec *ms)
{
	return ms->version.size * 8;
}

/*
 * Serial-number order of two versions of a field `bits` wide (RFC 1982):
 * a is newer than b when a - b, modulo 2^bits, is below half the space, so
 * a version that wrapped (birth versions after ~52 days, a counter bumped
 * past its top) is still newer than the ones before it. Meaningful for
 * versions less than half the space apart, which versions of one key
 * always are (its lifetime and the tombstones' horizon, minutes); exactly
 * half apart, the plain unsigned order decides so that the result stays
 * antisymmetric. bits 0 or 64: 64-bit serial order. > 0: a newer.
 */
static inline int sync_version_cmp(uint64_t a, uint64_t b, unsigned int bits)
{
	uint64_t mask = bits && bits < 64 ? (1ull << bits) - 1 : ~0ull;
	uint64_t half = (mask >> 1) + 1, d;

	a &= mask;
	b &= mask;
	if (a == b)
		return 0;
	d = (a - b) & mask;
	if (d == half)
		return a > b ? 1 : -1;
	return d < half ? 1 : -1;
}

static inline uint64_t sync_mapspec_owner(const struct sync_mapspec *ms, const void *value)
{
	return sync_field_get(&ms->owner, value);
}

static inline uint64_t sync_mapspec_version(const struct sync_mapspec *ms, const void *value)
{
	return sync_field_get(&ms->version, value);
}

/*
 * Adds delta (receiver clock - sender clock, ns) to the timestamp field, in
 * place. 0 means "never" and stays 0; a result below 1 or above the field's
 * maximum saturates there (an entry older than the receiver's clock origin
 * just reads as very old). No-op for a map without a timestamp.
 */
void sync_mapspec_rebase_ts(const struct sync_mapspec *ms, void *value, int64_t delta);

/*
 * Apply-time check of a decoded entry against the map it names: SYNC_OK,
 * SYNC_E_UNKNOWN_MAP (name differs), SYNC_E_KEY_SIZE or SYNC_E_VALUE_SIZE
 * (sizes must be exactly the map's; a DELETE has no value).
 */
enum sync_reason sync_mapspec_check_entry(const struct sync_mapspec *ms,
					  const struct sync_entry *e);

/* Built-in specs for xdplb's own maps (bpf/xdplb.h); the config will
 * normally say the same. */
int sync_mapspec_xdplb_sessions(struct sync_mapspec *ms);
int sync_mapspec_xdplb_reverse(struct sync_mapspec *ms);

#endif /* SYNCD_MAPSPEC_H */
