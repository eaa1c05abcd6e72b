/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A RST to the client, for a TCP connection whose backend has been gone
 * longer than sessions.timeouts.backend_gone (docs/design.md decision 12):
 * the client learns at its next segment that the connection is over,
 * instead of retransmitting into a backend that will never answer.
 *
 * The client's segment is turned around in place: MACs, addresses and
 * ports swapped (the RST comes from the VIP and goes back out the
 * interface the segment came in on, to the router that sent it), the frame
 * cut to its Ethernet, IPv4 and TCP headers, sequence numbers as RFC 9293
 * (3.10.7.1) wants them for a segment that reaches no connection: to a
 * segment with ACK, SEQ = its ACK number (exactly what the client expects
 * next, so RFC 5961's check accepts it); otherwise SEQ 0, ACK = its
 * sequence number plus its length.
 */
#ifndef XLB_LB_RESET_H
#define XLB_LB_RESET_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lb_csum.h"
#include "lb_parse.h"

#define XLB_RST_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct tcphdr))

/* Returns XDP_TX, or XDP_DROP if the frame cannot be turned around (IP
 * options, a failed trim): the client then retransmits into the next. */
static __always_inline int send_reset(struct xdp_md *ctx, struct pkt *p)
{
	struct tcphdr *th = p->l4;
	struct ethhdr *eth;
	struct iphdr *iph;
	__u8 mac[ETH_ALEN];
	__be32 seq, ack, a;
	__be16 port;
	__u32 seglen, hdrs;
	int ack_in, trim;
	__u64 sum;
	void *data, *data_end;

	if (p->iph->ihl != 5)
		return XDP_DROP;
	hdrs = sizeof(struct iphdr) + th->doff * 4;
	if (p->tot_len < hdrs)
		return XDP_DROP;
	seglen = p->tot_len - hdrs + !!th->syn + !!th->fin;
	ack_in = th->ack;
	seq = ack_in ? th->ack_seq : 0;
	ack = ack_in ? 0 : bpf_htonl(bpf_ntohl(th->seq) + seglen);

	trim = (int)(ctx->data_end - ctx->data) - (int)XLB_RST_LEN;
	if (trim < 0 || (trim > 0 && bpf_xdp_adjust_tail(ctx, -trim)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	iph = (void *)(eth + 1);
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > data_end)
		return XDP_DROP;

	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	a = iph->saddr;
	iph->saddr = iph->daddr;
	iph->daddr = a;
	iph->tos = 0;
	iph->tot_len = bpf_htons(sizeof(struct iphdr) + sizeof(struct tcphdr));
	iph->id = 0;
	iph->frag_off = bpf_htons(0x4000); /* DF */
	iph->ttl = 64;
	iph->check = 0;
	iph->check = ~csum_fold64((__u32)bpf_csum_diff(0, 0, (__be32 *)iph, sizeof(*iph), 0));

	port = th->source;
	th->source = th->dest;
	th->dest = port;
	th->seq = seq;
	th->ack_seq = ack;
	/* doff 5, RST (and ACK for a segment without one), nothing else */
	((__u8 *)th)[12] = 5 << 4;
	((__u8 *)th)[13] = ack_in ? TCPF_RST : (TCPF_RST | TCPF_ACK);
	th->window = 0;
	th->urg_ptr = 0;
	th->check = 0;
	/* pseudo-header: addresses, protocol, TCP length */
	sum = (__u64)iph->saddr + iph->daddr + bpf_htons(IPPROTO_TCP) +
	      bpf_htons(sizeof(struct tcphdr));
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)th, sizeof(*th), 0) + sum;
	th->check = ~csum_fold64(sum);
	return XDP_TX;
}

#endif /* XLB_LB_RESET_H */
