/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: sync records of the inline capture.
 *
 * Part of bpf/lb.bpf.c, which includes it after its maps: uses the maps
 * sync_ctl and sync_events (and stats, lb_clock through lb_common.h).
 */
#ifndef XLB_LB_SYNC_H
#define XLB_LB_SYNC_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdplb.h"
#include "lb_common.h"

/*
 * Inline capture (syncd --capture inline, docs/design.md decision 6).
 * After a successful lifecycle write of sessions or reverse, the data plane
 * pushes the same record the kprobe/fentry capture would have produced.
 * While sync_ctl is off this costs one array lookup per lifecycle write and
 * nothing on packets that change no state.
 */
enum sync_map { SYNC_SESSIONS, SYNC_REVERSE };

/* Kernel id of the map to report, or 0 when inline capture is off or the
 * map is not watched. */
static __always_inline __u32 sync_map_id(enum sync_map which)
{
	struct xlb_sync_ctl *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&sync_ctl, &zero);
	if (!c || !(c->flags & XLB_SYNC_CTL_INLINE))
		return 0;
	return which == SYNC_SESSIONS ? c->sessions_id : c->reverse_id;
}

/* See XLB_SYNC_WAKEUP_BYTES. */
static __always_inline __u64 sync_wakeup(void *rb)
{
	struct xlb_clock *c;
	__u32 zero = 0;
	__u64 now;

	c = bpf_map_lookup_elem(&lb_clock, &zero);
	if (!c)
		return BPF_RB_FORCE_WAKEUP;
	now = bpf_ktime_get_ns();
	if (bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) < XLB_SYNC_WAKEUP_BYTES &&
	    now - c->woke_ns < XLB_SYNC_WAKEUP_NS)
		return BPF_RB_NO_WAKEUP;
	c->woke_ns = now;
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * Push one record: *@k_ and *@v_ are copied with their compile-time
 * sizes, exactly as they were written to the map. A full ring buffer loses
 * the record (SYNC_LOST; syncd's anti-entropy repairs what it missed).
 */
#define sync_emit(id_, op_, k_, v_)                                                                \
	do {                                                                                       \
		struct xlb_sync_event *ev_;                                                        \
                                                                                                   \
		_Static_assert(sizeof(*(k_)) <= XLB_SYNC_KEY_MAX,                                  \
			       "key does not fit xlb_sync_event");                                 \
		_Static_assert(sizeof(*(v_)) <= XLB_SYNC_VALUE_MAX,                                \
			       "value does not fit xlb_sync_event");                               \
		/* compact: the header, the key, the value (xdplb.h) */                            \
		ev_ = bpf_ringbuf_reserve(&sync_events,                                            \
					  XLB_SYNC_REC_SIZE(sizeof(*(k_)), sizeof(*(v_))), 0);     \
		if (!ev_) {                                                                        \
			stat_inc(XLB_STAT_SYNC_LOST);                                              \
			break;                                                                     \
		}                                                                                  \
		ev_->ts_ns = xlb_now();                                                            \
		ev_->map_id = (id_);                                                               \
		ev_->op = (op_);                                                                   \
		ev_->source = XLB_SYNC_SRC_INLINE;                                                 \
		ev_->key_size = sizeof(*(k_));                                                     \
		ev_->value_size = sizeof(*(v_));                                                   \
		ev_->pad = 0;                                                                      \
		ev_->pad2 = 0;                                                                     \
		__builtin_memcpy(ev_->key, (k_), sizeof(*(k_)));                                   \
		__builtin_memcpy(ev_->key + sizeof(*(k_)), (v_), sizeof(*(v_)));                   \
		bpf_ringbuf_submit(ev_, sync_wakeup(&sync_events));                                \
		stat_inc(XLB_STAT_SYNC_EVENTS);                                                    \
	} while (0)

static __always_inline void sync_session(__u8 op, const struct xlb_flow_key *k,
					 const struct xlb_session *s)
{
	__u32 id = sync_map_id(SYNC_SESSIONS);

	/* whatever the capture mode, syncd checks it got one record per
	 * write against this count */
	stat_inc(XLB_STAT_SYNC_WRITES);
	if (id)
		sync_emit(id, op, k, s);
}

static __always_inline void sync_reverse_op(__u8 op, const struct xlb_flow_key *rk,
					    const struct xlb_reverse *rv)
{
	__u32 id = sync_map_id(SYNC_REVERSE);

	stat_inc(XLB_STAT_SYNC_WRITES);
	if (id)
		sync_emit(id, op, rk, rv);
}

static __always_inline void sync_reverse(const struct xlb_flow_key *rk,
					 const struct xlb_reverse *rv)
{
	sync_reverse_op(XLB_SYNC_OP_UPDATE, rk, rv);
}

#endif /* XLB_LB_SYNC_H */
