/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: backend choice for a new flow (flow hash and the VIP's
 * Maglev table, built by lbd).
 *
 * Part of bpf/lb.bpf.c, which includes it after its maps: uses the maps
 * maglev and backends.
 */
#ifndef XLB_LB_MAGLEV_H
#define XLB_LB_MAGLEV_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdplb.h"
#include "lb_parse.h"

#define XLB_HASH_SEED 0x9e3779b9u

static __always_inline __u32 rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

/*
 * Flow hash for Maglev: Bob Jenkins' lookup3 mixing rounds over the whole
 * 5-tuple, with a fixed seed so that every node picks the same backend.
 */
static __always_inline __u32 flow_hash(const struct pkt *p)
{
	__u32 a, b, c;

	a = b = c = XLB_HASH_SEED + 13;
	a += p->saddr;
	b += p->daddr;
	c += ((__u32)p->sport << 16) | p->dport;

	a -= c;
	a ^= rol32(c, 4);
	c += b;
	b -= a;
	b ^= rol32(a, 6);
	a += c;
	c -= b;
	c ^= rol32(b, 8);
	b += a;
	a -= c;
	a ^= rol32(c, 16);
	c += b;
	b -= a;
	b ^= rol32(a, 19);
	a += c;
	c -= b;
	c ^= rol32(b, 4);
	b += a;

	a += p->proto;

	c ^= b;
	c -= rol32(b, 14);
	a ^= c;
	a -= rol32(c, 11);
	b ^= a;
	b -= rol32(a, 25);
	c ^= b;
	c -= rol32(b, 16);
	a ^= c;
	a -= rol32(c, 4);
	b ^= a;
	b -= rol32(a, 14);
	c ^= b;
	c -= rol32(b, 24);
	return c;
}

/* Maglev: backend for a new flow of @vip, or NULL. */
static __always_inline struct xlb_backend *pick_backend(const struct pkt *p, __u32 vip_id,
							__u32 *be_id)
{
	struct xlb_backend *be;
	__u32 idx, *id;
	void *table;

	table = bpf_map_lookup_elem(&maglev, &vip_id);
	if (!table)
		return NULL;
	idx = flow_hash(p) % XLB_MAGLEV_SIZE;
	id = bpf_map_lookup_elem(table, &idx);
	if (!id || *id == XLB_NO_BACKEND)
		return NULL;
	*be_id = *id;
	be = bpf_map_lookup_elem(&backends, be_id);
	if (!be || !(be->flags & XLB_BE_F_ACTIVE))
		return NULL;
	return be;
}

#endif /* XLB_LB_MAGLEV_H */
