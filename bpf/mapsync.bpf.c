// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mapsync: the generic, map-agnostic change capture of syncd (docs/design.md
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
 *          per-CPU stack, the return finds its own slot by stack pointer and
 *          emits only if the write succeeded (ret == 0) and the map is
 *          watched; a probe the kernel skipped is counted, never mispaired
 *          (see "slots" below). kprobes do not fire
 *          for writes made through the bpf() syscall (the kernel disables
 *          BPF instrumentation there), but they do for the writes of
 *          syncd's batch programs (bpf/storeio.bpf.c): those are known by
 *          their key, which lies in the programs' slot array (the range in
 *          "watch"), and dropped.
 *  fentry  fexit on the same functions: arguments and return value in one
 *          program, no stack needed. BPF trampolines do fire for syscall
 *          writes, so writes made by syncd's own process (self_tgid) are
 *          dropped here.
 *
 * Key and value bytes are read with bpf_probe_read_kernel(), bounded by the
 * sizes registered in "watch" (syncd refuses a map whose key or value does
 * not fit the record). A delete reports value_size 0.
 *
 * What could not be reported is counted in "cap_stats" (enum xlb_cap_stat).
 * Those counters cannot see a probe whose program the kernel did not run at
 * all (on Linux 6.1 a BPF program is skipped without a trace while another
 * one runs on the CPU, e.g. a bpf() syscall's map write interrupted by the
 * XDP program); syncd catches those by comparing the records it received
 * with the data plane's own count of its writes (XLB_STAT_SYNC_WRITES).
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

/* A record is built here, then copied into the ring at its compact size
 * (bpf_ringbuf_reserve() wants a constant size; these sizes are the
 * watched map's). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_sync_event);
} scratch SEC(".maps");

/* When this CPU last woke syncd (see XLB_SYNC_WAKEUP_NS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} woke SEC(".maps");

/* Capture counters per CPU, indexed by enum xlb_cap_stat (xdplb.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_CAP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cap_stats SEC(".maps");

/*
 * kprobe mode: arguments saved by an entry probe for its return probe.
 *
 * The entry and the return of one call are two separate probes, and the
 * kernel may run one without the other: a kretprobe whose instances are
 * all in use, a probe that hit while another kprobe ran on the CPU, a BPF
 * program skipped because another one was running on the CPU. So the
 * return probe never trusts a position: each slot records the task and the
 * stack pointer of its entry, and a return probe takes the slot whose
 * entry stack pointer sits right below its own (the return address was
 * popped in between). On the way it finds what went wrong and counts it:
 *
 *  - slots above the matching one belong to calls whose return probe never
 *    ran: dropped (LOST_STALE when their map was watched);
 *  - no matching slot: the entry probe of this call never ran, so the
 *    written map is unknown: LOST_UNPAIRED (syncd treats it as a loss);
 *  - an entry whose stack pointer equals a slot's means that slot's call
 *    has returned (a live outer call's frame cannot be at the same depth of
 *    the same stack): that slot and those above it are stale.
 *
 * So a missed probe costs a counted loss, never a wrong record and never a
 * stack that stays out of step.
 */
#define SLOT_DEPTH 8
/* The return probe's stack pointer is its entry's plus the popped return
 * address; allow for an architecture or kernel that reports either. */
#define SP_SLACK 16

struct slot {
	__u64 task;   /* bpf_get_current_task() of the entry probe */
	__u64 sp;     /* stack pointer at entry */
	__u64 key;    /* kernel address of the key */
	__u64 value;  /* kernel address of the value (update) */
	__u32 map_id; /* 0: not watched */
	__u16 key_size;
	__u16 value_size;
	__u32 own; /* the key is in syncd's batch slots: its own write */
	__u32 pad;
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

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&cap_stats, &what);

	if (v)
		*v += 1;
}

/*
 * Reserve, fill and submit one record. @key/@value are kernel addresses;
 * sizes were bounded by syncd at registration and are clamped again here
 * so the verifier sees the bound.
 */
/* See XLB_SYNC_WAKEUP_BYTES. */
static __always_inline __u64 wakeup(void)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&woke, &zero), now;

	if (!w)
		return BPF_RB_FORCE_WAKEUP;
	now = bpf_ktime_get_ns();
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < XLB_SYNC_WAKEUP_BYTES &&
	    now - *w < XLB_SYNC_WAKEUP_NS)
		return BPF_RB_NO_WAKEUP;
	*w = now;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void emit(__u32 map_id, __u8 op, __u8 source, __u64 key, __u32 key_size,
				 __u64 value, __u32 value_size)
{
	struct xlb_sync_event *ev;
	__u32 zero = 0, size;
	__u64 flags;

	if (key_size > XLB_SYNC_KEY_MAX || value_size > XLB_SYNC_VALUE_MAX) {
		count(XLB_CAP_LOST_READ);
		return;
	}
	ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev) {
		count(XLB_CAP_LOST_READ);
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
	if (bpf_probe_read_kernel(ev->key, key_size, (const void *)key)) {
		/* unreadable key or value: nothing trustworthy to report */
		count(XLB_CAP_LOST_READ);
		return;
	}
	if (value_size) {
		barrier_var(value_size);
		if (value_size > XLB_SYNC_VALUE_MAX)
			value_size = 0;
		/* the value right after the key (compact record, xdplb.h) */
		if (bpf_probe_read_kernel(ev->key + key_size, value_size, (const void *)value)) {
			count(XLB_CAP_LOST_READ);
			return;
		}
	}
	size = XLB_SYNC_REC_SIZE(key_size, value_size);
	barrier_var(size);
	if (size > sizeof(*ev))
		return;
	flags = wakeup();
	if (bpf_ringbuf_output(&events, ev, size, flags)) {
		count(XLB_CAP_LOST_RINGBUF);
		return;
	}
	count(XLB_CAP_EMITTED);
}

/* The watch entry of @map, or NULL; *id is set either way. */
static __always_inline struct xlb_sync_watch *watched(struct bpf_map *map, __u32 *id)
{
	*id = BPF_CORE_READ(map, id);
	return bpf_map_lookup_elem(&watch, id);
}

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

/* ---- kprobe mode --------------------------------------------------------- */

/* Drops slots [from, depth) of @st as stale; counts the watched ones. */
static __always_inline void slots_drop(struct slot_stack *st, __u32 from)
{
	__u32 i;

	for (i = 0; i < SLOT_DEPTH; i++) {
		if (i < from || i >= st->depth)
			continue;
		if (st->s[i].map_id)
			count(XLB_CAP_LOST_STALE);
	}
	if (from < st->depth)
		st->depth = from;
}

static __always_inline void slot_push(struct pt_regs *ctx, struct bpf_map *map, __u64 key,
				      __u64 value, int is_update)
{
	struct xlb_sync_watch *w;
	struct slot_stack *st;
	struct slot *sl;
	__u64 task = bpf_get_current_task(), sp = PT_REGS_SP(ctx);
	__u32 zero = 0, id, d, i;

	st = bpf_map_lookup_elem(&slots, &zero);
	if (!st)
		return;
	if (st->depth > SLOT_DEPTH)
		st->depth = SLOT_DEPTH;
	/* a slot at this very stack position has returned unseen */
	for (i = 0; i < SLOT_DEPTH; i++) {
		if (i < st->depth && st->s[i].sp == sp) {
			slots_drop(st, i);
			break;
		}
	}
	if (st->depth >= SLOT_DEPTH)
		slots_drop(st, 0); /* deeper than any real nesting: stale */
	d = st->depth;
	if (d >= SLOT_DEPTH)
		return;
	sl = &st->s[d];
	st->depth = d + 1;
	sl->task = task;
	sl->sp = sp;
	sl->map_id = 0;
	w = watched(map, &id);
	if (!w)
		return;
	sl->map_id = id;
	sl->own = key >= w->self_lo && key < w->self_hi;
	sl->key = key;
	sl->value = value;
	sl->key_size = w->key_size;
	sl->value_size = is_update ? w->value_size : 0;
}

static __always_inline void slot_pop(struct pt_regs *ctx, long ret, __u8 op)
{
	__u64 task = bpf_get_current_task(), sp = PT_REGS_SP(ctx);
	struct slot_stack *st;
	struct slot *sl;
	__u32 zero = 0, i, d;
	int found = -1;

	st = bpf_map_lookup_elem(&slots, &zero);
	if (!st)
		return;
	d = st->depth;
	if (d > SLOT_DEPTH)
		d = SLOT_DEPTH;
	/* the topmost slot of this call: its entry sp just below ours */
	for (i = 0; i < SLOT_DEPTH; i++) {
		__u32 j = SLOT_DEPTH - 1 - i;
		__u64 esp;

		if (j >= d)
			continue;
		esp = st->s[j].sp;
		if (esp <= sp && sp - esp <= SP_SLACK) {
			found = j;
			break;
		}
	}
	if (found < 0) {
		count(XLB_CAP_LOST_UNPAIRED);
		return;
	}
	slots_drop(st, found + 1); /* calls above it never returned */
	st->depth = found;
	if (found >= SLOT_DEPTH)
		return;
	sl = &st->s[found];
	if (!sl->map_id)
		return;
	if (sl->task != task) {
		count(XLB_CAP_LOST_FOREIGN);
		return;
	}
	if (ret == 0 && !sl->own)
		emit(sl->map_id, op, XLB_SYNC_SRC_KPROBE, sl->key, sl->key_size, sl->value,
		     sl->value_size);
}

SEC("kprobe/htab_map_update_elem")
int BPF_KPROBE(kp_update, struct bpf_map *map, void *key, void *value)
{
	slot_push(ctx, map, (__u64)key, (__u64)value, 1);
	return 0;
}

SEC("kretprobe/htab_map_update_elem")
int BPF_KRETPROBE(kr_update, long ret)
{
	slot_pop(ctx, (int)ret, XLB_SYNC_OP_UPDATE);
	return 0;
}

SEC("kprobe/htab_map_delete_elem")
int BPF_KPROBE(kp_delete, struct bpf_map *map, void *key)
{
	slot_push(ctx, map, (__u64)key, 0, 0);
	return 0;
}

SEC("kretprobe/htab_map_delete_elem")
int BPF_KRETPROBE(kr_delete, long ret)
{
	slot_pop(ctx, (int)ret, XLB_SYNC_OP_DELETE);
	return 0;
}

SEC("kprobe/htab_lru_map_update_elem")
int BPF_KPROBE(kp_lru_update, struct bpf_map *map, void *key, void *value)
{
	slot_push(ctx, map, (__u64)key, (__u64)value, 1);
	return 0;
}

SEC("kretprobe/htab_lru_map_update_elem")
int BPF_KRETPROBE(kr_lru_update, long ret)
{
	slot_pop(ctx, (int)ret, XLB_SYNC_OP_UPDATE);
	return 0;
}

SEC("kprobe/htab_lru_map_delete_elem")
int BPF_KPROBE(kp_lru_delete, struct bpf_map *map, void *key)
{
	slot_push(ctx, map, (__u64)key, 0, 0);
	return 0;
}

SEC("kretprobe/htab_lru_map_delete_elem")
int BPF_KRETPROBE(kr_lru_delete, long ret)
{
	slot_pop(ctx, (int)ret, XLB_SYNC_OP_DELETE);
	return 0;
}

/* ---- fentry mode --------------------------------------------------------- */

static __always_inline void fexit_emit(struct bpf_map *map, void *key, void *value, int is_update,
				       int ret)
{
	struct xlb_sync_watch *w;
	__u32 id;

	if (ret != 0 || from_self())
		return;
	w = watched(map, &id);
	if (!w || ((__u64)key >= w->self_lo && (__u64)key < w->self_hi))
		return;
	emit(id, is_update ? XLB_SYNC_OP_UPDATE : XLB_SYNC_OP_DELETE, XLB_SYNC_SRC_FENTRY,
	     (__u64)key, w->key_size, (__u64)value, is_update ? w->value_size : 0);
}

/* The return type is int up to Linux 6.2 and long since; both come back
 * in the same register, so the low 32 bits are the result. */
SEC("fexit/htab_map_update_elem")
int BPF_PROG(fx_update, struct bpf_map *map, void *key, void *value, __u64 flags, long ret)
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
int BPF_PROG(fx_lru_update, struct bpf_map *map, void *key, void *value, __u64 flags, long ret)
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
