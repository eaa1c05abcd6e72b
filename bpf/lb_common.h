/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: counters and the clock, used by every other part.
 *
 * Part of bpf/lb.bpf.c, which includes it after its maps: uses the maps
 * stats and lb_clock (struct xlb_clock).
 */
#ifndef XLB_LB_COMMON_H
#define XLB_LB_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdplb.h"

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline int count(__u32 idx, int verdict)
{
	stat_inc(idx);
	return verdict;
}

static __always_inline int vip_drop(struct xlb_vip_stats *vs, __u32 idx)
{
	if (vs)
		vs->drops++;
	return count(idx, XDP_DROP);
}

/*
 * CLOCK_MONOTONIC ns for sessions and the next-hop cache. bpf_ktime_get_ns()
 * costs about as much as the whole MAC-swap program here, while jiffies64
 * and a per-CPU array lookup are inlined: read the clock on the first packet
 * of each jiffy on this CPU and reuse it until the next tick.
 */
static __always_inline __u64 xlb_now(void)
{
	struct xlb_clock *c;
	__u32 zero = 0;
	__u64 j;

	c = bpf_map_lookup_elem(&lb_clock, &zero);
	if (!c)
		return bpf_ktime_get_ns();
	j = bpf_jiffies64();
	if (c->jiffies != j) {
		c->jiffies = j;
		c->ns = bpf_ktime_get_ns();
	}
	return c->ns;
}

#endif /* XLB_LB_COMMON_H */
