// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mapsync: the generic, map-agnostic change capture of syncd (DESIGN
 * decisions 6 and 7). It instruments the kernel's hash-map update and
 * delete functions and reports every successful write of a watched map as
 * one struct xlb_sync_event in the "events" ring buffer.
 *
 * A watched map is one map instance, named by its kernel id in "watch"
 * (filled by syncd before attaching): several nodes on one kernel share
 * these functions, so the id, never a name, is the filter.
 *
 * Two sets of programs live in this one object; syncd autoloads and
 * attaches exactly one of them:
 *
 *  kprobe  kprobe + kretprobe on htab_map_update_elem, htab_map_delete_elem
 *          and their LRU variants. The entry probe sees the arguments, the
 *          return probe the result: the entry pushes what it saw on a small
 *          per-CPU stack, the return pops it and emits only if the write
 *          succeeded (ret == 0) and the map is watched. kprobes do not fire
 *          for writes made through the bpf() syscall (the kernel disables
 *          BPF instrumentation there), so syncd's own applies never echo.
 *  fentry  fexit on the same functions: arguments and return value in one
 *          program, no stack needed. BPF trampolines do fire for syscall
 *          writes, so writes made by syncd's own process (self_tgid) are
 *          dropped here.
 *
 * Key and value bytes are read with bpf_probe_read_kernel(), bounded by the
 * sizes registered in "watch" (syncd refuses a map whose key or value does
 * not fit the record). A delete reports value_size 0.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "xdplb.h"

/*
 * The one kernel field read, relocated through CO-RE against the running
 * kernel's BTF (no vmlinux.h: only the field used is declared).
 */
struct bpf_map {
	__u32 id;
} __attribute__((preserve_access_index));

/* syncd's process id (tgid), set before load: fentry mode drops its own
 * (syscall) writes. 0: nothing dropped. */
const volatile __u32 self_tgid = 0;

/* Watched maps: kernel map id -> key and value sizes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_SYNC_WATCH_MAX);
	__type(key, __u32);
	__type(value, struct xlb_sync_watch);
} watch SEC(".maps");

/* Change records for syncd. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLB_SYNC_RINGBUF_SIZE);
} events SEC(".maps");

/* Records that found the ring buffer full (or, kprobe mode, whose entry
 * and return probes could not be paired), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/*
 * kprobe mode: arguments saved by an entry probe for its return probe.
 *
 * Hash-map writes nest on one CPU (an XDP program's update interrupted by
 * a tracing program that updates a hash map in an NMI, ...), so the slots
 * form a stack. Every entry pushes, watched or not, so that the return
 * probe of a nested unwatched write pops its own slot and not the outer
 * one. Nesting deeper than SLOT_DEPTH only counts (depth goes on rising
 * and falling), those writes are not reported. A slot records the task
 * that pushed it: a return probe that finds another task's slot on top
 * (preemptible callers interleaving on one CPU) pops it without
 * reporting and counts the record as lost, so a pairing error can lose an
 * event but never report a wrong one.
 */
#define SLOT_DEPTH	4

struct slot {
	__u64 task;		/* bpf_get_current_task() of the entry probe */
	__u64 key;		/* kernel address of the key */
	__u64 value;		/* kernel address of the value (update) */
	__u32 map_id;		/* 0: not watched */
	__u16 key_size;
	__u16 value_size;
};

struct slot_stack {
	__u32 depth;
	__u32 pad;
	struct slot s[SLOT_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_stack);
} slots SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&lost, &zero);

	if (v)
		*v += 1;
}

/*
 * Reserve, fill and submit one record. @key/@value are kernel addresses;
 * sizes were bounded by syncd at registration and are clamped again here
 * so the verifier sees the bound.
 */
static __always_inline void emit(__u32 map_id, __u8 op, __u8 source,
				 __u64 key, __u32 key_size,
				 __u64 value, __u32 value_size)
{
	struct xlb_sync_event *ev;

	if (key_size > XLB_SYNC_KEY_MAX || value_size > XLB_SYNC_VALUE_MAX) {
		count_lost();
		return;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost();
		return;
	}
	ev->ts_ns = bpf_ktime_get_ns();
	ev->map_id = map_id;
	ev->op = op;
	ev->source = source;
	ev->key_size = key_size;
	ev->value_size = value_size;
	ev->pad = 0;
	ev->pad2 = 0;
	/* The sizes stay bounded in the registers the helpers get. */
	barrier_var(key_size);
	if (key_size > XLB_SYNC_KEY_MAX)
		key_size = 0;
	if (bpf_probe_read_kernel(ev->key, key_size, (const void *)key))
		goto fail;
	if (value_size) {
		barrier_var(value_size);
		if (value_size > XLB_SYNC_VALUE_MAX)
			value_size = 0;
		if (bpf_probe_read_kernel(ev->value, value_size, (const void *)value))
			goto fail;
	}
	/* see XLB_SYNC_WAKEUP_BYTES: syncd drains every millisecond */
	bpf_ringbuf_submit(ev, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >=
			       XLB_SYNC_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return;
fail:
	/* unreadable key or value: nothing trustworthy to report */
	bpf_ringbuf_discard(ev, 0);
	count_lost();
}

/* The watch entry of @map, or NULL; *id is set either way. */
static __always_inline struct xlb_sync_watch *watched(struct bpf_map *map,
						       __u32 *id)
{
	*id = BPF_CORE_READ(map, id);
	return bpf_map_lookup_elem(&watch, id);
}

/* ---- kprobe mode --------------------------------------------------------- */

static __always_inline void slot_push(struct bpf_map *map, __u64 key,
				      __u64 value, int is_update)
{
	struct xlb_sync_watch *w;
	struct slot_stack *st;
	struct slot *sl;
	__u32 zero = 0, id, d;

	st = bpf_map_lookup_elem(&slots, &zero);
	if (!st)
		return;
	d = st->depth++;
	if (d >= SLOT_DEPTH)
		return;		/* too deep: counted, not reported */
	sl = &st->s[d];
	sl->task = bpf_get_current_task();
	sl->map_id = 0;
	w = watched(map, &id);
	if (!w)
		return;
	sl->map_id = id;
	sl->key = key;
	sl->value = value;
	sl->key_size = w->key_size;
	sl->value_size = is_update ? w->value_size : 0;
}

static __always_inline void slot_pop(long ret, __u8 op)
{
	struct slot_stack *st;
	struct slot *sl;
	__u32 zero = 0, d;

	st = bpf_map_lookup_elem(&slots, &zero);
	if (!st || !st->depth)
		return;		/* entry probe missed (attached mid-call) */
	d = --st->depth;
	if (d >= SLOT_DEPTH)
		return;
	sl = &st->s[d];
	if (!sl->map_id)
		return;
	if (sl->task != bpf_get_current_task()) {
		count_lost();
		return;
	}
	if (ret == 0)
		emit(sl->map_id, op, XLB_SYNC_SRC_KPROBE, sl->key, sl->key_size,
		     sl->value, sl->value_size);
}

SEC("kprobe/htab_map_update_elem")
int BPF_KPROBE(kp_update, struct bpf_map *map, void *key, void *value)
{
	slot_push(map, (__u64)key, (__u64)value, 1);
	return 0;
}

SEC("kretprobe/htab_map_update_elem")
int BPF_KRETPROBE(kr_update, long ret)
{
	slot_pop((int)ret, XLB_SYNC_OP_UPDATE);
	return 0;
}

SEC("kprobe/htab_map_delete_elem")
int BPF_KPROBE(kp_delete, struct bpf_map *map, void *key)
{
	slot_push(map, (__u64)key, 0, 0);
	return 0;
}

SEC("kretprobe/htab_map_delete_elem")
int BPF_KRETPROBE(kr_delete, long ret)
{
	slot_pop((int)ret, XLB_SYNC_OP_DELETE);
	return 0;
}

SEC("kprobe/htab_lru_map_update_elem")
int BPF_KPROBE(kp_lru_update, struct bpf_map *map, void *key, void *value)
{
	slot_push(map, (__u64)key, (__u64)value, 1);
	return 0;
}

SEC("kretprobe/htab_lru_map_update_elem")
int BPF_KRETPROBE(kr_lru_update, long ret)
{
	slot_pop((int)ret, XLB_SYNC_OP_UPDATE);
	return 0;
}

SEC("kprobe/htab_lru_map_delete_elem")
int BPF_KPROBE(kp_lru_delete, struct bpf_map *map, void *key)
{
	slot_push(map, (__u64)key, 0, 0);
	return 0;
}

SEC("kretprobe/htab_lru_map_delete_elem")
int BPF_KRETPROBE(kr_lru_delete, long ret)
{
	slot_pop((int)ret, XLB_SYNC_OP_DELETE);
	return 0;
}

/* ---- fentry mode --------------------------------------------------------- */

/*
 * Writes by syncd's own process are its applies of peers' entries (bpf()
 * syscall) and must not be echoed back. The test is on the current task,
 * so it has one corner case: a softirq that runs on one of syncd's threads
 * (on return from an interrupt while syncd runs) and makes an XDP write in
 * it is attributed to syncd and dropped too. That loses the capture of
 * that one write, never reports a wrong one; anti-entropy repairs it. An
 * in_serving_softirq() test would close the gap but needs the preempt
 * count, which is not portable CO-RE.
 */
static __always_inline int from_self(void)
{
	return self_tgid && (__u32)(bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

static __always_inline void fexit_emit(struct bpf_map *map, void *key,
				       void *value, int is_update, int ret)
{
	struct xlb_sync_watch *w;
	__u32 id;

	if (ret != 0 || from_self())
		return;
	w = watched(map, &id);
	if (!w)
		return;
	emit(id, is_update ? XLB_SYNC_OP_UPDATE : XLB_SYNC_OP_DELETE,
	     XLB_SYNC_SRC_FENTRY, (__u64)key, w->key_size, (__u64)value,
	     is_update ? w->value_size : 0);
}

/* The return type is int up to Linux 6.2 and long since; both come back
 * in the same register, so the low 32 bits are the result. */
SEC("fexit/htab_map_update_elem")
int BPF_PROG(fx_update, struct bpf_map *map, void *key, void *value,
	     __u64 flags, long ret)
{
	fexit_emit(map, key, value, 1, (int)ret);
	return 0;
}

SEC("fexit/htab_map_delete_elem")
int BPF_PROG(fx_delete, struct bpf_map *map, void *key, long ret)
{
	fexit_emit(map, key, NULL, 0, (int)ret);
	return 0;
}

SEC("fexit/htab_lru_map_update_elem")
int BPF_PROG(fx_lru_update, struct bpf_map *map, void *key, void *value,
	     __u64 flags, long ret)
{
	fexit_emit(map, key, value, 1, (int)ret);
	return 0;
}

SEC("fexit/htab_lru_map_delete_elem")
int BPF_PROG(fx_lru_delete, struct bpf_map *map, void *key, long ret)
{
	fexit_emit(map, key, NULL, 0, (int)ret);
	return 0;
}
