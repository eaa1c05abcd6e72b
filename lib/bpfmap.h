/* SPDX-License-Identifier: BSD-2-Clause */
/* BPF map calls that lbd and syncd share. */
#ifndef XLB_BPFMAP_H
#define XLB_BPFMAP_H

/*
 * BPF_MAP_GET_NEXT_KEY with a fully initialised attr (libbpf 1.1 clears
 * only part of it, which valgrind's memcheck reports). key must not be
 * NULL: a key that is not in a hash map yields its first key. 0 or -errno.
 */
int xlb_map_next_key(int fd, const void *key, void *next);

#endif /* XLB_BPFMAP_H */
