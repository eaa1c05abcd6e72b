// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * storeio: syncd's batched apply of peers' entries to one watched map
 * (xdplb.h struct xlb_storeio_slot; syncd/store_bpf.c loads one instance
 * per map, with "target" replaced by that map and the rodata below set to
 * its layout). Two syscall programs, each run once for up to
 * XLB_STOREIO_SLOTS keys instead of one bpf() call per key:
 *
 *  lookup_many  what each key holds (found, value);
 *  write_many   each key written (XLB_STOREIO_WRITE) or removed, but only
 *               if it still holds what lookup_many saw: present or not
 *               and, in a map with a version field, the same version. A
 *               data-plane write in between (a session's lifecycle
 *               change) makes that key -EAGAIN, and syncd decides it
 *               again; the window left is the one between this program's
 *               own lookup and write of the key, nanoseconds instead of
 *               two system calls.
 *
 * Writes made here are syncd's own and must not be captured: lookup_many
 * reports each slot's kernel address (self), syncd hands the slot array's
 * range to the capture, and mapsync.bpf.c drops a write whose key lies in
 * it (kprobe mode; fentry mode drops syncd's tgid as for its syscalls).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdplb.h"

#ifndef EAGAIN
#define EAGAIN 11
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlb_storeio_slot);
	__uint(max_entries, XLB_STOREIO_SLOTS);
} io SEC(".maps");

/* replaced by the watched map before load (bpf_map__reuse_fd) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(max_entries, 1);
} target SEC(".maps");

/* the watched map's value size and version field (size 0: none) */
const volatile __u32 value_size = 4;
const volatile __u32 ver_off = 0;
const volatile __u32 ver_size = 0;

static __always_inline __u64 version_of(const void *v)
{
	__u64 x = 0;

	/* little-endian: the low bytes of x, as syncd reads the field */
	if (ver_size && ver_size <= 8)
		bpf_probe_read_kernel(&x, ver_size, v + ver_off);
	return x;
}

static __always_inline __u32 slots(const struct xlb_storeio_args *a)
{
	__u32 n = a->n;

	return n > XLB_STOREIO_SLOTS ? 0 : n;
}

SEC("syscall")
int lookup_many(struct xlb_storeio_args *a)
{
	__u32 i, n = slots(a);

	for (i = 0; i < n && i < XLB_STOREIO_SLOTS; i++) {
		struct xlb_storeio_slot *s;
		__u32 k = i;
		void *v;

		s = bpf_map_lookup_elem(&io, &k);
		if (!s)
			return -1;
		s->self = (__u64)s;
		v = bpf_map_lookup_elem(&target, s->key);
		s->found = v != 0;
		if (v && value_size <= XLB_SYNC_VALUE_MAX)
			bpf_probe_read_kernel(s->value, value_size, v);
	}
	return 0;
}

SEC("syscall")
int write_many(struct xlb_storeio_args *a)
{
	__u32 i, n = slots(a);

	for (i = 0; i < n && i < XLB_STOREIO_SLOTS; i++) {
		struct xlb_storeio_slot *s;
		__u32 k = i;
		void *v;
		long r;

		s = bpf_map_lookup_elem(&io, &k);
		if (!s)
			return -1;
		v = bpf_map_lookup_elem(&target, s->key);
		if ((v != 0) != (s->found != 0) || (v && ver_size && version_of(v) != s->version)) {
			s->result = -EAGAIN;
			continue;
		}
		if (s->op == XLB_STOREIO_WRITE) {
			/* a key that appeared or went since the lookup
			 * above fails the flag: the same -EAGAIN */
			r = bpf_map_update_elem(&target, s->key, s->value,
						s->found ? BPF_EXIST : BPF_NOEXIST);
			if (r == -EEXIST || r == -ENOENT)
				r = -EAGAIN;
		} else if (v) {
			if (value_size <= XLB_SYNC_VALUE_MAX)
				bpf_probe_read_kernel(s->value, value_size, v);
			r = bpf_map_delete_elem(&target, s->key);
		} else {
			r = -ENOENT;
		}
		s->result = (__s32)r;
	}
	return 0;
}
