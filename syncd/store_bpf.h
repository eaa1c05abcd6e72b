/* SPDX-License-Identifier: BSD-2-Clause */
/* The engine's store on this node's pinned BPF hash maps. */
#ifndef SYNCD_STORE_BPF_H
#define SYNCD_STORE_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "xdplb.h"

#define STORE_BPF_MAX_MAPS  8
#define STORE_BPF_KEY_MAX   64	 /* == XLB_SYNC_KEY_MAX */
#define STORE_BPF_VALUE_MAX 256	 /* == XLB_SYNC_VALUE_MAX */
#define STORE_BPF_BATCH	    1024 /* entries per BPF_MAP_LOOKUP_BATCH */

struct storeio; /* bpf/storeio.bpf.c's skeleton */

struct store_bpf_map {
	char name[64];
	int fd;
	uint32_t id, type, key_size, value_size, max_entries;
	int use_batch;
	/* the batched apply (store_bpf_batch_init()); NULL: key by key */
	struct storeio *io_skel;
	struct xlb_storeio_slot *io; /* its slot array, memory-mapped */
	int lookup_fd, write_fd;     /* its programs */
	uint32_t ver_off, ver_size;  /* the version field (size 0: none) */
};

struct store_bpf {
	size_t n;
	struct store_bpf_map maps[STORE_BPF_MAX_MAPS];
	uint8_t *keys, *values; /* batch buffers */
};

/* Opens pin_dir/NAME for every name (hash maps only). 0, or -errno with
 * one line in err. */
int store_bpf_open(struct store_bpf *s, const char *pin_dir, const char *const *names, size_t n,
		   char *err, size_t errlen);
void store_bpf_close(struct store_bpf *s);

/*
 * Sets the version field of map index map (at ver_off, ver_size bytes; size
 * 0: none), which the batch calls compare, and with programs makes those
 * calls run in the kernel (one bpf/storeio.bpf.c instance on that map).
 * Without programs, or if loading them fails (-errno with one line in err:
 * a kernel without syscall programs), the batch calls go key by key, with
 * the same compare-and-set made with two system calls per key. 0 or -errno.
 */
int store_bpf_batch_init(struct store_bpf *s, unsigned int map, uint32_t ver_off, uint32_t ver_size,
			 bool programs, char *err, size_t errlen);

/* The kernel addresses [*lo, *hi) of map index map's batch slots, where
 * the keys of its batch writes lie (the capture drops those writes); 0, 0
 * without batch programs. */
void store_bpf_self_range(const struct store_bpf *s, unsigned int map, uint64_t *lo, uint64_t *hi);

extern const struct sync_store_ops store_bpf_ops;

#endif /* SYNCD_STORE_BPF_H */
