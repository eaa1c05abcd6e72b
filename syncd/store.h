/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The engine's view of this node's watched maps. syncd implements it on the
 * pinned BPF maps (store_bpf.c); the unit tests implement it in memory.
 * Maps are named by their index in the engine's mapspec array.
 */
#ifndef SYNCD_STORE_H
#define SYNCD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_STORE_KEY_MAX 512 /* == SYNC_LIMITS_DEFAULT.max_key */

/* Position of a sliced walk over one map. Zero it to start. */
struct sync_cursor {
	uint64_t pos; /* implementation-defined (BPF batch token) */
	uint32_t key_len;
	uint8_t key[SYNC_STORE_KEY_MAX]; /* implementation-defined */
	int started;
	int done; /* set by walk() when the end was reached */
};

/* Return non-zero to stop the walk after this entry. */
typedef int (*sync_walk_fn)(void *arg, const void *key, const void *value);

/* One key of a batch call (lookup_many, write_many). */
enum { SYNC_STORE_WRITE = 1, SYNC_STORE_REMOVE };
struct sync_store_io {
	const void *key;
	/* lookup_many: filled with the value if found. write_many: the value
	 * to write (SYNC_STORE_WRITE), or filled with the value removed */
	void *value;
	uint8_t op;	  /* write_many: SYNC_STORE_WRITE or SYNC_STORE_REMOVE */
	bool found;	  /* lookup_many: out. write_many: in, what the key held */
	uint64_t version; /* write_many: the version field's value it held */
	int result;	  /* write_many: 0, -EAGAIN (the key no longer holds
			   * what .found and .version say: nothing done),
			   * -ENOENT (remove: gone), or -errno */
};

struct sync_store_ops {
	/* 0 (value filled, value_size bytes), -ENOENT, or -errno */
	int (*lookup)(void *ctx, unsigned int map, const void *key, void *value);
	/* create or replace: 0 or -errno (-E2BIG: map full) */
	int (*update)(void *ctx, unsigned int map, const void *key, const void *value);
	/* 0, -ENOENT, or -errno; old_value (may be NULL): the value removed,
	 * read and removed in one step */
	int (*remove)(void *ctx, unsigned int map, const void *key, void *old_value);
	/*
	 * Visits up to max entries from *cur on, in an order that is stable
	 * while the map does not change, and sets cur->done at the end.
	 * Entries added or removed during a walk may or may not be visited.
	 * Returns the number of entries visited, or -errno.
	 */
	int (*walk)(void *ctx, unsigned int map, struct sync_cursor *cur, unsigned int max,
		    sync_walk_fn fn, void *arg);
	/*
	 * Optional, both or neither: the batch calls. lookup_many reads n
	 * keys; write_many writes or removes n keys, each only if the key
	 * still holds what it held (present or not and, in a map with a
	 * version field, the same version): a compare-and-set against the
	 * data plane's writes in between. 0 (per-key results in io), or
	 * -errno for the whole call (nothing done).
	 */
	int (*lookup_many)(void *ctx, unsigned int map, struct sync_store_io *io, size_t n);
	int (*write_many)(void *ctx, unsigned int map, struct sync_store_io *io, size_t n);
};

#endif /* SYNCD_STORE_H */
