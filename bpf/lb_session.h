/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb data plane: sessions. Flow keys, the per-packet last-seen stamp,
 * the birth version, SNAT ports given back to the pool, ownership and
 * adoption, and the lifecycle of an existing session (its state machine is
 * described in lb.bpf.c's header comment).
 *
 * Part of bpf/lb.bpf.c, which includes it after its maps: uses the maps
 * sessions, reverse, port_pool, lb_config, node_state and adopt_scratch
 * (struct adopt_scratch).
 */
#ifndef XLB_LB_SESSION_H
#define XLB_LB_SESSION_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdplb.h"
#include "lb_common.h"
#include "lb_parse.h"
#include "lb_sync.h"

/*
 * Per-packet last_seen_ns, in place: only forwards and only by at least
 * XLB_LAST_SEEN_GRAN_NS (another CPU's tick-stale time must not move it
 * back); a stamp more than a second in the future (a peer's rebase gone
 * wrong) is replaced.
 */
static __always_inline void touch_session(struct xlb_session *s, __u64 now)
{
	__s64 d = (__s64)(now - s->last_seen_ns);

	if (d >= (__s64)XLB_LAST_SEEN_GRAN_NS || d < -1000000000LL)
		s->last_seen_ns = now;
}

static __always_inline void flow_key(struct xlb_flow_key *k, __be32 saddr, __be32 daddr,
				     __be16 sport, __be16 dport, __u8 proto)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr.w[0] = saddr;
	k->daddr.w[0] = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->family = XLB_AF_INET;
}

/* Two flow keys are the same flow (no memcmp in BPF: word by word). */
static __always_inline int flow_key_eq(const struct xlb_flow_key *a, const struct xlb_flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0;
	int i;

	_Static_assert(sizeof(*a) % 4 == 0, "flow key is whole words");
#pragma unroll
	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* Reverse (backend -> SNAT) key of a full-NAT session. */
static __always_inline void reverse_key(struct xlb_flow_key *k, const struct xlb_session *s,
					__u8 proto)
{
	flow_key(k, s->backend.w[0], s->snat.w[0], s->backend_port, s->snat_port, proto);
}

static __always_inline void port_put(__be16 port)
{
	__u32 v = bpf_ntohs(port);

	bpf_map_push_elem(&port_pool, &v, 0);
}

/* The cluster's wall clock in seconds (low 32 bits): owned_at. */
static __always_inline __u32 tai_s(void)
{
	return (__u32)(bpf_ktime_get_tai_ns() / 1000000000ULL);
}

const volatile __u32 xlb_takeover_off = 0; /* tests and control runs only */

/*
 * The owner an existing session should have after this packet.
 * Adoption (docs/design.md decision 3): a session owned by a peer that
 * syncd marked dead in node_state is taken over by this node on any
 * packet. Takeover (decision 12): a session owned by a live peer is taken
 * over by a client-side packet (@client_side), the one direction that
 * follows the router's choice of node, once its owner has held it for
 * XLB_TAKEOVER_MIN_S; so the node that forwards a flow is the one that
 * ages it. A reply never takes over: it reaches the node that holds the
 * SNAT port's route, not the flow's. Otherwise the owner stays. The
 * node_state lookup happens only for sessions owned by another node.
 */
static __always_inline __u16 session_owner(const struct xlb_session *s, int client_side)
{
	struct xlb_config *cfg;
	__u32 zero = 0, peer = s->owner, *st;

	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg || s->owner == cfg->node_id)
		return s->owner;
	st = bpf_map_lookup_elem(&node_state, &peer);
	if (st && (*st & XLB_NODE_DEAD))
		return cfg->node_id;
	if (client_side && !xlb_takeover_off &&
	    (__s32)(tai_s() - s->owned_at) >= XLB_TAKEOVER_MIN_S)
		return cfg->node_id;
	return s->owner;
}

/*
 * The first version of a new session (and of its reverse entry): the
 * cluster's wall clock (CLOCK_TAI, kept in step across nodes by NTP/PTP) in
 * units of 2^20 ns (~1 ms), odd. Each lifecycle write then adds 1. A key
 * that is reused after its entry was deleted (a client reusing its source
 * port after lbd aged the old session) therefore starts above every version
 * the earlier incarnation reached, so the peers' tombstone of that
 * incarnation, or its copy if the delete was lost, cannot win over the new
 * one (syncd/conflict.h: the higher version wins). Wraps after ~52 days;
 * versions of one key are compared only across seconds to minutes.
 */
const volatile __u32 xlb_birth_fixed = 0; /* tests only: != 0 pins it */

static __always_inline __u32 birth_version(void)
{
	if (xlb_birth_fixed)
		return xlb_birth_fixed;
	return (__u32)(bpf_ktime_get_tai_ns() >> 20) | 1;
}

/*
 * An adopted full-NAT session's reverse entry changes owner with it
 * (version + 1), so that the adopter's ageing deletes it with a version
 * that wins on every peer, and the dead node's copy cannot come back
 * through anti-entropy once it is alive again.
 */
static __always_inline void reverse_adopt(const struct xlb_flow_key *k, const struct xlb_session *s,
					  __u16 owner)
{
	struct adopt_scratch *sc;
	struct xlb_reverse *rp;
	__u32 zero = 0;

	/* the forward path's stack is near the 512-byte limit: work in a
	 * per-CPU scratch slot (rare path: once per adopted session) */
	sc = bpf_map_lookup_elem(&adopt_scratch, &zero);
	if (!sc)
		return;
	reverse_key(&sc->rk, s, k->proto);
	rp = bpf_map_lookup_elem(&reverse, &sc->rk);
	if (!rp || rp->owner == owner)
		return;
	sc->rv = *rp;
	sc->rv.owner = owner;
	sc->rv.version++;
	if (!bpf_map_update_elem(&reverse, &sc->rk, &sc->rv, BPF_EXIST))
		sync_reverse(&sc->rk, &sc->rv);
}

/*
 * Lifecycle of an existing session for one packet. @tcp_flags: the TCP
 * flags (0 for UDP); @srv_side: the packet comes from the backend
 * (full-NAT reply); @owner: from session_owner() (differs from sp->owner
 * when this packet adopts or takes over the session). Called after the next hop is
 * resolved, before the rewrite. Never deletes: a closed session lingers,
 * still forwarding late ACKs and retransmitted FINs, until lbd ages it out
 * and returns its SNAT port. One bpf_map_update_elem() (version + 1) when,
 * and only when, the state, the flags or the owner change, so an adoption
 * and a state change on the same packet are one write.
 */
static __always_inline void session_track(const struct xlb_flow_key *k, struct xlb_session *sp,
					  __u8 tcp_flags, int srv_side, __u16 owner)
{
	struct xlb_session s;
	__u8 fin_flag = srv_side ? XLB_SF_SRV_FIN : XLB_SF_CLI_FIN;
	__u8 both = XLB_SF_CLI_FIN | XLB_SF_SRV_FIN;
	__u8 state = sp->state, flags = sp->flags;

	if (tcp_flags & TCPF_RST) {
		state = XLB_SS_CLOSED;
	} else if (tcp_flags & TCPF_SYN) {
		if (!srv_side && !(tcp_flags & TCPF_ACK)) {
			stat_inc(XLB_STAT_SESSION_REUSE);
			if (state == XLB_SS_CLOSED || state == XLB_SS_CLOSING) {
				/* source port reused by the client: reopen
				 * with the same backend and SNAT port */
				state = XLB_SS_SYN;
				flags &= ~both;
			}
		}
	} else if ((tcp_flags & TCPF_FIN) && state != XLB_SS_CLOSED) {
		flags |= fin_flag;
		/* DSR: the LB never sees the backend's FIN */
		if ((flags & both) == both || !(flags & XLB_SF_FNAT))
			state = XLB_SS_CLOSED;
		else
			state = XLB_SS_CLOSING;
	}
	if (state == XLB_SS_SYN && (tcp_flags & TCPF_ACK) && !srv_side)
		state = XLB_SS_ESTABLISHED;
	if (state == sp->state && flags == sp->flags && owner == sp->owner)
		return;
	s = *sp;
	s.state = state;
	s.flags = flags;
	s.owner = owner;
	s.version++;
	if (owner != sp->owner)
		s.owned_at = tai_s();
	if (bpf_map_update_elem(&sessions, k, &s, BPF_EXIST))
		return;
	sync_session(XLB_SYNC_OP_UPDATE, k, &s);
	if (owner != sp->owner) {
		__u32 peer = sp->owner, *st = bpf_map_lookup_elem(&node_state, &peer);

		stat_inc(st && (*st & XLB_NODE_DEAD) ? XLB_STAT_SESSION_ADOPT
						     : XLB_STAT_SESSION_TAKEOVER);
		if (s.flags & XLB_SF_FNAT)
			reverse_adopt(k, &s, owner);
	}
}

/* Does this TCP packet possibly change the state of session @s? */
static __always_inline int tcp_tracks(const struct pkt *p, const struct xlb_session *s,
				      int srv_side)
{
	if (p->proto != IPPROTO_TCP)
		return 0;
	if (p->tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST))
		return 1;
	/* client's first ACK: SYN -> ESTABLISHED */
	return !srv_side && s->state == XLB_SS_SYN;
}

#endif /* XLB_LB_SESSION_H */
