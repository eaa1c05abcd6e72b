/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: next hop and transmit. bpf_fib_lookup() and its per-CPU
 * cache, the address/port/checksum rewrite, the MAC write and the verdict,
 * and the bounce of a full-NAT reply to the node that owns its SNAT port.
 *
 * Part of bpf/lb.bpf.c, which includes it after its maps: uses the maps
 * nh_fwd, nh_reply, port_owner, node_state and bounce_fib (and stats through
 * lb_common.h).
 */
#ifndef XLB_LB_NEXTHOP_H
#define XLB_LB_NEXTHOP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdplb.h"
#include "lb_csum.h"
#include "lb_common.h"
#include "lb_parse.h"

/* Where and how to send a packet that is ready to be rewritten. */
struct nexthop {
	__u8 smac[ETH_ALEN];
	__u8 dmac[ETH_ALEN];
	__u32 ifindex;
	int action; /* XDP_TX or XDP_REDIRECT */
};

/* Send to @e (a cache entry or a fresh FIB result) from @in_if. */
static __always_inline void nexthop_set(struct nexthop *nh, const struct xlb_nh_entry *e,
					__u32 in_if)
{
	__builtin_memcpy(nh->dmac, e->dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, e->smac, ETH_ALEN);
	nh->ifindex = e->ifindex;
	nh->action = e->ifindex == in_if ? XDP_TX : XDP_REDIRECT;
}

/*
 * Resolve the next hop for a packet that will leave as @saddr -> @daddr.
 * Returns 0 or the stat index of the drop reason.
 *
 * @be_id != 0: forward direction, cached in nh_fwd[@be_id] with @tag_saddr
 * as the source tag (the SNAT address for full-NAT, 0 for DSR: a DSR
 * backend is on-link, only its MAC is written, so the client address never
 * selects another next hop). @be_id == 0: reply direction, cached in
 * nh_reply under (ingress interface, @saddr, @daddr). A hit needs the same
 * ingress interface and addresses and an unexpired entry; a miss runs
 * bpf_fib_lookup() and refreshes the entry; a failed lookup caches nothing.
 */
static __always_inline int resolve_nexthop(struct xdp_md *ctx, const struct pkt *p,
					   const struct xlb_backend *be, __u32 be_id,
					   __be32 tag_saddr, __be32 saddr, __be32 daddr,
					   __be16 sport, __be16 dport, __u64 now,
					   struct nexthop *nh)
{
	struct bpf_fib_lookup fib = {};
	struct xlb_nh_entry *e, ne;
	struct xlb_nh_key rk;
	__u32 in_if = ctx->ingress_ifindex;
	long rc;

	if (be && (be->flags & XLB_BE_F_HAS_MAC)) {
		__builtin_memcpy(nh->dmac, be->mac, ETH_ALEN);
		__builtin_memcpy(nh->smac, p->eth->h_dest, ETH_ALEN);
		nh->action = XDP_TX;
		return 0;
	}
	if (be_id != XLB_NO_BACKEND) {
		e = bpf_map_lookup_elem(&nh_fwd, &be_id);
	} else {
		rk.in_ifindex = in_if;
		rk.saddr = saddr;
		rk.daddr = daddr;
		tag_saddr = saddr;
		e = bpf_map_lookup_elem(&nh_reply, &rk);
	}
	if (e && e->expires_ns > now && e->in_ifindex == in_if && e->daddr == daddr &&
	    e->saddr == tag_saddr) {
		if (p->tot_len > e->mtu)
			return XLB_STAT_DROP_MTU;
		nexthop_set(nh, e, in_if);
		return 0;
	}

	fib.family = XLB_AF_INET;
	fib.ifindex = in_if;
	fib.tos = p->iph->tos;
	fib.l4_protocol = p->proto;
	fib.sport = sport;
	fib.dport = dport;
	fib.tot_len = p->tot_len;
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return XLB_STAT_DROP_MTU;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XLB_STAT_DROP_FIB;

	ne.expires_ns = now + XLB_NH_CACHE_TTL_NS;
	ne.in_ifindex = in_if;
	ne.saddr = tag_saddr;
	ne.daddr = daddr;
	ne.ifindex = fib.ifindex;
	ne.mtu = fib.mtu_result; /* set on success since Linux 5.12 */
	__builtin_memcpy(ne.smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(ne.dmac, fib.dmac, ETH_ALEN);
	ne.pad = 0;
	if (e) /* this CPU's slot: written in place */
		*e = ne;
	else if (be_id == XLB_NO_BACKEND)
		bpf_map_update_elem(&nh_reply, &rk, &ne, BPF_ANY);
	nexthop_set(nh, &ne, in_if);
	return 0;
}

/* Rewrite addresses and ports, updating the IP and L4 checksums. */
static __always_inline void rewrite_l3l4(struct pkt *p, __be32 saddr, __be32 daddr, __be16 sport,
					 __be16 dport)
{
	struct iphdr *iph = p->iph;
	__u64 d = 0;

	d = csum_delta32(d, iph->saddr, saddr);
	d = csum_delta32(d, iph->daddr, daddr);
	iph->check = csum_apply(iph->check, d);
	iph->saddr = saddr;
	iph->daddr = daddr;

	/* the L4 checksum covers the pseudo-header addresses and the ports */
	d = csum_delta16(d, p->sport, sport);
	d = csum_delta16(d, p->dport, dport);
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = p->l4;

		th->check = csum_apply(th->check, d);
		th->source = sport;
		th->dest = dport;
	} else {
		struct udphdr *uh = p->l4;

		uh->check = csum_apply_udp(uh->check, d);
		uh->source = sport;
		uh->dest = dport;
	}
}

/* Write the MACs and send. */
static __always_inline int transmit(struct pkt *p, const struct nexthop *nh)
{
	__builtin_memcpy(p->eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, nh->smac, ETH_ALEN);
	if (nh->action == XDP_TX)
		return count(XLB_STAT_FWD_TX, XDP_TX);
	stat_inc(XLB_STAT_FWD_REDIRECT);
	return bpf_redirect(nh->ifindex, 0);
}

/*
 * A full-NAT reply with no reverse entry here: if its SNAT port belongs to
 * another live node, send the frame, unchanged but for the MACs, to that
 * node (see struct xlb_port_owner). Returns -1 when it is not for a bounce
 * (the caller passes it to the stack as before), else the XDP verdict.
 */
static __always_inline int bounce_to_owner(struct xdp_md *ctx, __u32 self, __be16 dport,
					   __u32 in_if, __u16 tot_len)
{
	void *data, *end;
	struct bpf_fib_lookup *fib;
	struct xlb_port_owner *po;
	struct ethhdr *eth;
	struct iphdr *iph;
	__u32 port = bpf_ntohs(dport), owner, zero = 0;
	__u32 *st;
	__be16 old_w;

	po = bpf_map_lookup_elem(&port_owner, &port);
	if (!po || !po->node || po->node == self || !po->node_addr)
		return -1;
	owner = po->node;
	st = bpf_map_lookup_elem(&node_state, &owner);
	if (st && (*st & XLB_NODE_DEAD))
		return -1;
	fib = bpf_map_lookup_elem(&bounce_fib, &zero);
	if (!fib)
		return -1;
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = XLB_AF_INET;
	fib->ifindex = in_if;
	fib->tot_len = tot_len;
	fib->ipv4_dst = po->node_addr;
	if (bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS ||
	    fib->ifindex != in_if) {
		stat_inc(XLB_STAT_DROP_FIB);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end)
		return XDP_DROP;
	/* a hop like any router's: two nodes whose port_owner maps disagree
	 * pass a frame back and forth at most TTL times, never for ever */
	if (iph->ttl <= 1) {
		stat_inc(XLB_STAT_DROP_BOUNCE_TTL);
		return XDP_DROP;
	}
	old_w = *(__be16 *)&iph->ttl; /* TTL and protocol: one 16-bit word */
	iph->ttl--;
	iph->check = csum_apply(iph->check, csum_delta16(0, old_w, *(__be16 *)&iph->ttl));
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	stat_inc(XLB_STAT_FWD_BOUNCE);
	return XDP_TX;
}

#endif /* XLB_LB_NEXTHOP_H */
