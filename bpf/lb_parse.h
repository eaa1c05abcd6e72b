/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: packet parsing into struct pkt.
 *
 * parse_pkt() applies the header checks of the packet rules in lb.bpf.c's
 * header comment: what goes to the stack right away (not IPv4, not TCP/UDP,
 * a non-first fragment, ports unreadable) and what is dropped later if the
 * packet turns out to be for a VIP or a full-NAT reply (malformed, first
 * fragment). Part of bpf/lb.bpf.c, which includes it after its maps (uses
 * stats through lb_common.h).
 */
#ifndef XLB_LB_PARSE_H
#define XLB_LB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdplb.h"
#include "lb_common.h"

/* TCP flag bits (byte 13 of the TCP header). */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#define IPV4_MF	    0x2000
#define IPV4_OFFSET 0x1fff

/* Parsed packet: everything a lookup or the rewrite needs. */
struct pkt {
	struct ethhdr *eth;
	struct iphdr *iph;
	void *l4;      /* TCP or UDP header, full header present */
	__u32 len;     /* frame length, for byte counters */
	__u16 tot_len; /* host order */
	__u8 proto;
	__u8 tcp_flags; /* 0 for UDP */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

/*
 * Parse the frame [@data, @data_end) into @p. Returns -1 when @p is filled
 * in, with *@bad = 0, or the drop counter (DROP_MALFORMED, DROP_FRAGMENT) to
 * apply if the packet is for a VIP or a full-NAT reply; otherwise the packet
 * goes to the stack as it is, and the XDP verdict (XDP_PASS, already
 * counted) is returned.
 */
static __always_inline int parse_pkt(void *data, void *data_end, struct pkt *p, int *bad)
{
	struct iphdr *iph;
	__u32 ihl, l4_min;
	__u16 frag;
	__be16 *ports;

	*bad = 0;
	p->eth = data;
	if ((void *)(p->eth + 1) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	if (p->eth->h_proto != bpf_htons(ETH_P_IP))
		return count(XLB_STAT_PASS_NON_IP, XDP_PASS);
	iph = (void *)(p->eth + 1);
	if ((void *)(iph + 1) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	p->iph = iph;
	p->proto = iph->protocol;
	if (p->proto == IPPROTO_TCP)
		l4_min = sizeof(struct tcphdr);
	else if (p->proto == IPPROTO_UDP)
		l4_min = sizeof(struct udphdr);
	else
		return count(XLB_STAT_PASS_NON_VIP, XDP_PASS);

	frag = bpf_ntohs(iph->frag_off);
	if (frag & IPV4_OFFSET)
		return count(XLB_STAT_PASS_FRAGMENT, XDP_PASS);

	ihl = iph->ihl;
	if (iph->version != 4 || ihl < 5) {
		*bad = XLB_STAT_DROP_MALFORMED;
		ihl = 5;
	}
	ports = (void *)iph + ihl * 4;
	if ((void *)(ports + 2) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	p->l4 = ports;
	p->saddr = iph->saddr;
	p->daddr = iph->daddr;
	p->sport = ports[0];
	p->dport = ports[1];
	p->len = data_end - data;
	p->tot_len = bpf_ntohs(iph->tot_len);
	p->tcp_flags = 0;

	if ((void *)ports + l4_min > data_end || p->tot_len > (__u32)(data_end - (void *)iph) ||
	    p->tot_len < ihl * 4 + l4_min) {
		*bad = XLB_STAT_DROP_MALFORMED;
	} else if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if ((void *)(th + 1) > data_end)
			return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
		p->tcp_flags = ((__u8 *)th)[13];
		if (th->doff < 5 || ihl * 4 + th->doff * 4 > p->tot_len)
			*bad = XLB_STAT_DROP_MALFORMED;
	} else {
		struct udphdr *uh = (void *)ports;

		if ((void *)(uh + 1) > data_end)
			return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
		if (bpf_ntohs(uh->len) < sizeof(*uh) || bpf_ntohs(uh->len) > p->tot_len - ihl * 4)
			*bad = XLB_STAT_DROP_MALFORMED;
	}

	/* a first fragment's L4 lengths describe the whole datagram */
	if (frag & IPV4_MF)
		*bad = XLB_STAT_DROP_FRAGMENT;
	return -1;
}

/*
 * A TCP segment no endpoint sends: SYN with FIN or RST, or none of SYN, ACK
 * and RST (a FIN alone, a bare PSH, no flag at all). Such segments are
 * scans or attacks; they must neither open a session nor move one.
 */
static __always_inline int tcp_flags_invalid(const struct pkt *p)
{
	__u8 f = p->tcp_flags;

	if (p->proto != IPPROTO_TCP)
		return 0;
	if ((f & TCPF_SYN) && (f & (TCPF_FIN | TCPF_RST)))
		return 1;
	return !(f & (TCPF_SYN | TCPF_ACK | TCPF_RST));
}

#endif /* XLB_LB_PARSE_H */
