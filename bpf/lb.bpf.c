// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdplb XDP data plane: IPv4 TCP/UDP L4 load balancing, full-NAT or DSR.
 *
 * Layout
 * ------
 *  This file holds the maps and the packet's path: xdp_lb -> lb_process
 *  (parse, VIP lookup) -> forward_session (a session exists),
 *  forward_new (none yet: Maglev, new session) or reply (full-NAT reply
 *  through reverse), each ending in transmit(). The steps they call live
 *  in headers of bpf/ that this file includes after its maps (they use
 *  them by name); they include nothing from user space:
 *   lb_common.h   counters (stat_inc, count, vip_drop) and the clock (xlb_now)
 *   lb_parse.h    struct pkt, TCP flag bits, parse_pkt()
 *   lb_maglev.h   flow hash and pick_backend()
 *   lb_sync.h     inline capture records into sync_events
 *   lb_session.h  flow keys, last-seen stamp, birth version, SNAT ports back
 *                 to the pool, ownership/adoption, session_track()
 *   lb_nexthop.h  bpf_fib_lookup() and the next-hop cache, rewrite,
 *                 transmit, bounce of a reply to its port's owner
 *   lb_csum.h     incremental checksum arithmetic
 *  Map key/value layouts shared with user space are in xdplb.h.
 *
 * Packet rules
 * ------------
 *  - Every packet is counted (RX) and ends in exactly one outcome counter.
 *  - Not IPv4: XDP_PASS (PASS_NON_IP). Ethernet/IPv4 header too short to
 *    read, or L4 ports unreadable: XDP_PASS (PASS_MALFORMED), since nothing
 *    proves the packet is ours.
 *  - IPv4 that matches no VIP (address, port, protocol) and is not a full-NAT
 *    reply: XDP_PASS, byte-identical (PASS_NON_VIP; PASS_MALFORMED if it was
 *    malformed too). Protocols other than TCP/UDP (ICMP included) pass.
 *  - For a VIP (or a full-NAT reply): a malformed packet (version != 4,
 *    IHL < 5, tot_len beyond the frame or shorter than the headers, TCP
 *    header truncated or data offset < 5, UDP length inconsistent) is
 *    dropped (DROP_MALFORMED). For a bad IHL the ports are read where a
 *    20-byte header would end, to decide whether the packet is for a VIP.
 *  - IP options (IHL > 5) are supported: L4 is found at IHL * 4.
 *  - IP fragments: a first fragment (MF set, offset 0) for a VIP is dropped
 *    (DROP_FRAGMENT). A non-first fragment carries no ports, so it cannot be
 *    matched against a VIP; it is passed (PASS_FRAGMENT) and, its first
 *    fragment having been dropped, can never be reassembled.
 *  - Never forward a half-rewritten packet: every lookup that can fail
 *    (VIP, session, Maglev, backend, port pool, session/reverse insert,
 *    FIB) happens before the first byte of the packet is written. A failed
 *    lookup drops the packet untouched and gives back anything it took
 *    (a pool port, a just-inserted session).
 *  - TTL is not decremented and the IP ID is kept: the balancer acts as a
 *    bump in the wire (as Katran and Cilium's XDP LB do), not as a router
 *    hop. Only addresses, ports, checksums and MACs are rewritten.
 *  - Next hop: a backend with a configured MAC (XLB_BE_F_HAS_MAC) gets
 *    dst MAC = that MAC, src MAC = the frame's original dst MAC, XDP_TX.
 *    Otherwise bpf_fib_lookup() on the ingress interface (which needs
 *    net.ipv4.conf.<if>.forwarding=1): same interface -> XDP_TX (FWD_TX),
 *    other interface -> bpf_redirect (FWD_REDIRECT); no neighbour, no route,
 *    forwarding disabled -> XDP_DROP (DROP_FIB); MTU exceeded -> XDP_DROP
 *    (DROP_MTU).
 *  - Next-hop cache: a successful bpf_fib_lookup() result {egress ifindex,
 *    MACs, MTU} is reused for XLB_NH_CACHE_TTL_NS (1 s), per CPU, then
 *    looked up again, so a route or neighbour change is seen within 1 s.
 *    Forward direction: nh_fwd[backend id] (PERCPU_ARRAY), tagged with the
 *    ingress ifindex, the destination and (full-NAT) the SNAT source.
 *    Replies: nh_reply (LRU_PERCPU_HASH) keyed by {ingress ifindex, VIP,
 *    client}. A tag mismatch is a miss (traffic for one backend arriving
 *    alternately on two interfaces is correct, just uncached). A failed
 *    lookup caches nothing: no-neighbour keeps dropping (DROP_FIB) until the
 *    neighbour exists; a hit still checks the packet against the cached MTU
 *    (DROP_MTU). Within the TTL the TOS and L4 ports of the packet do not
 *    select another next hop (TOS routes, port-based ip rules, L4-hash
 *    multipath are honoured only at refresh). The cache is node-local,
 *    never synced, not pinned, and never part of a session.
 *
 * Sessions (docs/design.md decision 1)
 * -------------------------------------
 *  Key = {client, VIP, client port, VIP port, proto, AF_INET}. Per-packet
 *  data (last_seen_ns) is written in place through the lookup pointer, and
 *  only when it moved forward by XLB_LAST_SEEN_GRAN_NS (1 ms) or more; the
 *  time is bpf_ktime_get_ns() read once per jiffy per CPU (xlb_now(), at
 *  most one tick old);
 *  lifecycle changes only via bpf_map_update_elem(), one write with
 *  version + 1 per change and none when nothing changes:
 *   - create: TCP SYN without ACK, or any UDP datagram (state SYN / UDP);
 *   - SYN -> ESTABLISHED on the client's first ACK;
 *   - a FIN sets CLI_FIN or SRV_FIN and the state CLOSING (half-closed:
 *     data still flows both ways); once both FIN flags are set the state
 *     is CLOSED. DSR (the LB sees the client side only): a client FIN goes
 *     straight to CLOSED. A retransmitted FIN changes nothing;
 *   - a RST from either side: CLOSED;
 *   - a client SYN without ACK on an existing session reuses it
 *     (SESSION_REUSE); on a CLOSED or CLOSING session it reopens it as SYN
 *     with the FIN flags cleared, same backend and SNAT port (a client
 *     reusing its source port).
 *  The data plane never deletes a session: CLOSING and CLOSED sessions go
 *  on forwarding both directions (late ACKs, retransmitted FINs, segments
 *  after a RST) with the same rewrite and refresh last_seen_ns in place.
 *  lbd's ageing deletes them (CLOSED after timeouts.tcp_closing idle,
 *  CLOSING after tcp_established, like any other state after its timeout),
 *  deletes the reverse entry and returns the SNAT port to the pool, so a
 *  port is never handed out again while the backend may still hold a
 *  socket on the old 4-tuple. The only delete left in the data plane undoes
 *  its own insert of a session that never carried a packet (reverse insert
 *  failed, below).
 *  Adoption (docs/design.md decision 3): a packet of a session owned by
 *  another node that syncd marked XLB_NODE_DEAD in node_state (forward or
 *  full-NAT reply direction) rewrites it once with owner = this node and
 *  version + 1 (SESSION_ADOPT), in the same write as a state change on
 *  that packet. From then on this node's lbd ages it.
 *  Inline capture: while sync_ctl has XLB_SYNC_CTL_INLINE, every successful
 *  lifecycle write of a watched map (session create/update/undo-delete,
 *  reverse create) is followed by a struct xlb_sync_event in sync_events
 *  (SYNC_EVENTS; ring buffer full: SYNC_LOST), identical to what the
 *  kprobe capture reports, except that the undo-delete carries the
 *  deleted value.
 *  Full-NAT: a new session pops a port from port_pool (empty: DROP
 *  PORTS_EXHAUSTED), inserts the session with BPF_NOEXIST (another CPU
 *  won: port back, use its session) and the reverse entry {backend, SNAT,
 *  backend port, SNAT port} -> {forward key, owner, version 1} (fails:
 *  that session is deleted again, port back, DROP_SESSION_FULL). TCP
 *  non-SYN without session: DROP_NO_SESSION.
 *  DSR: same session without SNAT and without reverse entry; only the MACs
 *  change. TCP non-SYN without session is forwarded statelessly by Maglev
 *  (FWD_STATELESS), so flows survive a restart or a move between nodes.
 *  Replies (full-NAT): daddr == lb_config.snat and a reverse hit; the
 *  session is updated like the forward direction and the packet is
 *  rewritten to VIP -> client.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdplb.h"

#ifndef EEXIST
#define EEXIST 17
#endif
/* All maps pinned by name under the node's pin dir (lbd sets pin_root_path). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, struct xlb_vip_key);
	__type(value, struct xlb_vip_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

struct maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAGLEV_SIZE);
	__type(key, __u32);
	__type(value, __u32);
};

/* One Maglev table per VIP (index vip_id); lbd swaps a whole inner map in. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct maglev_inner);
} maglev SEC(".maps");

/* Written by lbd, read by syncd; never by this program (xdplb.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_MEMBERS);
	__type(key, struct xlb_member_key);
	__type(value, struct xlb_member);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_members SEC(".maps");

/* max_entries of sessions/reverse are set by lbd from the config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DEFAULT_SESSIONS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_session);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DEFAULT_SESSIONS);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_reverse);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reverse SEC(".maps");

/* Free full-NAT ports of this node's range (FIFO), filled by lbd. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XLB_PORT_POOL_MAX);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} port_pool SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xlb_vip_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_config SEC(".maps");

/* Inline capture: change records for syncd (read through the pin). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLB_SYNC_RINGBUF_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sync_events SEC(".maps");

/* Inline capture switch and the ids of the watched maps, set by syncd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_sync_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sync_ctl SEC(".maps");

/* Scratch space for reverse_adopt() and session_repick(), off the
 * stack. Not pinned. */
struct adopt_scratch {
	struct xlb_flow_key rk;
	struct xlb_reverse rv;
	struct xlb_session s;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adopt_scratch);
} adopt_scratch SEC(".maps");

/* Peer liveness by node id (XLB_NODE_DEAD), set by syncd, for adoption. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_NODES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_state SEC(".maps");

/* FIB lookup parameters of bounce_to_owner(), off the stack (the main
 * path leaves it no room). Not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_fib_lookup);
} bounce_fib SEC(".maps");

/* SNAT port -> node that allocates it (xdplb.h), written by lbd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct xlb_port_owner);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} port_owner SEC(".maps");

/* Next-hop cache (see the header comment and xdplb.h): not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_nh_entry);
} nh_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XLB_NH_REPLY_ENTRIES);
	__type(key, struct xlb_nh_key);
	__type(value, struct xlb_nh_entry);
} nh_reply SEC(".maps");

/* Per-CPU time cache (see xlb_now()): not pinned. */
struct xlb_clock {
	__u64 jiffies;
	__u64 ns;
	__u64 woke_ns; /* this CPU last woke syncd (lb_sync.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_clock);
} lb_clock SEC(".maps");

/* The steps of the path (see Layout above), in dependency order. */
#include "lb_common.h"
#include "lb_parse.h"
#include "lb_maglev.h"
#include "lb_sync.h"
#include "lb_session.h"
#include "lb_nexthop.h"
#include "lb_reset.h"

/*
 * A session whose backend left (docs/design.md decision 12): a UDP flow
 * whose backend was removed or is down, and a SYN that opens a new
 * connection on a session whose backend was removed, is down or drained,
 * move to the backend the VIP's Maglev table gives now. One write of the
 * session (backend, version + 1; TCP starts again at SYN) and, in
 * full-NAT, its reverse entry moved to the new backend's key (the SNAT
 * port stays: it is this flow's). Established TCP flows stay where they
 * are (a drained backend still answers; see decision 12 for removed ones).
 * Returns the session to go on with (the scratch copy after a move, *bep
 * its backend) or @s. @now: the packet's time.
 */
static __always_inline struct xlb_session *
session_repick(const struct pkt *p, const struct xlb_flow_key *k, struct xlb_session *s,
	       struct xlb_backend **bep, const struct xlb_vip_info *vip, __u64 now)
{
	const struct xlb_backend *be = *bep;
	struct adopt_scratch *sc;
	struct xlb_backend *nb;
	struct xlb_reverse *rp;
	__u32 nid = 0, zero = 0;
	int gone = !be || (be->flags & XLB_BE_F_DOWN), had_rev = 0;

	if (!vip)
		return s;
	if (p->proto == IPPROTO_UDP) {
		if (!gone)
			return s;
	} else if ((p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN ||
		   s->state == XLB_SS_ESTABLISHED || !(gone || (be->flags & XLB_BE_F_DRAIN))) {
		return s;
	}
	nb = pick_backend(p, vip->vip_id, &nid);
	if (!nb || nid == s->backend_id)
		return s;
	sc = bpf_map_lookup_elem(&adopt_scratch, &zero);
	if (!sc)
		return s;
	/* the old reverse entry, read before the session's element is
	 * replaced (a preallocated element is reused at once) */
	if (s->flags & XLB_SF_FNAT) {
		reverse_key(&sc->rk, s, k->proto);
		rp = bpf_map_lookup_elem(&reverse, &sc->rk);
		if (rp && flow_key_eq(&rp->fwd, k)) {
			sc->rv = *rp;
			had_rev = 1;
		}
	}
	sc->s = *s;
	sc->s.backend = nb->addr;
	sc->s.backend_port = nb->port ? nb->port : p->dport;
	sc->s.backend_id = nid;
	sc->s.version++;
	sc->s.last_seen_ns = now;
	if (p->proto == IPPROTO_TCP) {
		sc->s.state = XLB_SS_SYN;
		sc->s.flags &= ~(XLB_SF_CLI_FIN | XLB_SF_SRV_FIN);
	}
	if (bpf_map_update_elem(&sessions, k, &sc->s, BPF_EXIST))
		return s;
	sync_session(XLB_SYNC_OP_UPDATE, k, &sc->s);
	stat_inc(XLB_STAT_SESSION_REPICK);
	*bep = nb;
	if (!(sc->s.flags & XLB_SF_FNAT))
		return &sc->s;
	if (had_rev && !bpf_map_delete_elem(&reverse, &sc->rk))
		sync_reverse_op(XLB_SYNC_OP_DELETE, &sc->rk, &sc->rv);
	reverse_key(&sc->rk, &sc->s, k->proto);
	sc->rv.fwd = *k;
	sc->rv.owner = sc->s.owner;
	sc->rv.pad = 0;
	sc->rv.version = birth_version();
	if (!bpf_map_update_elem(&reverse, &sc->rk, &sc->rv, BPF_ANY))
		sync_reverse(&sc->rk, &sc->rv);
	return &sc->s;
}

/* Packet for an existing session: forward direction. */
static __always_inline int forward_session(struct xdp_md *ctx, struct pkt *p,
					   const struct xlb_flow_key *k, struct xlb_session *s,
					   const struct xlb_vip_info *vip, struct xlb_vip_stats *vs)
{
	struct xlb_backend *be;
	struct nexthop nh;
	__be32 saddr = p->saddr, daddr, snat;
	__be16 sport = p->sport, dport, snat_port;
	__u32 be_id = s->backend_id;
	__u64 now = xlb_now();
	__u16 owner;
	__u8 bflags;
	int fnat, err;

	be = bpf_map_lookup_elem(&backends, &be_id);
	bflags = be ? be->flags : 0;
	if (be && !(be->flags & XLB_BE_F_ACTIVE))
		be = NULL;
	s = session_repick(p, k, s, &be, vip, now);
	if (s->backend_id != be_id)
		bflags = 0; /* moved to a live backend */
	be_id = s->backend_id;
	if ((bflags & XLB_BE_F_RESET) && p->proto == IPPROTO_TCP && !(p->tcp_flags & TCPF_RST)) {
		/* its backend is gone for good: the connection is over */
		if (s->state != XLB_SS_CLOSED)
			session_track(k, s, TCPF_RST, 0, session_owner(s, 1));
		if (vs)
			vs->drops++;
		return count(XLB_STAT_SESSION_RESET, send_reset(ctx, p));
	}
	fnat = s->flags & XLB_SF_FNAT;
	daddr = s->backend.w[0];
	dport = s->backend_port;
	snat = s->snat.w[0];
	snat_port = s->snat_port;
	if (fnat) {
		saddr = snat;
		sport = snat_port;
	}
	err = resolve_nexthop(ctx, p, be, be_id, fnat ? snat : 0, saddr, daddr, sport, dport, now,
			      &nh);
	if (err)
		return vip_drop(vs, err);
	/* only a packet that leaves refreshes its session: a flow to a
	 * backend that cannot be reached ages */
	touch_session(s, now);

	owner = session_owner(s, 1);
	if (owner != s->owner || tcp_tracks(p, s, 0))
		session_track(k, s, p->tcp_flags, 0, owner);

	if (vs) {
		vs->packets++;
		vs->bytes += p->len;
	}
	if (fnat)
		rewrite_l3l4(p, saddr, daddr, sport, dport);
	return transmit(p, &nh);
}

/* Packet for a VIP without a session. */
static __always_inline int forward_new(struct xdp_md *ctx, struct pkt *p,
				       const struct xlb_flow_key *k, const struct xlb_vip_info *vip,
				       struct xlb_vip_stats *vs)
{
	struct xlb_session ns = {}, *s;
	struct adopt_scratch *sc = NULL;
	struct xlb_backend *be;
	struct xlb_config *cfg;
	struct nexthop nh;
	__u32 be_id = 0, port = 0, zero = 0;
	int fnat = vip->mode == XLB_MODE_FNAT;
	int stateless = 0;
	__u64 now;
	long err;

	if (p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN) {
		/* mid-flow TCP segment without a session */
		if (fnat)
			return vip_drop(vs, XLB_STAT_DROP_NO_SESSION);
		stateless = 1;
	}
	be = pick_backend(p, vip->vip_id, &be_id);
	if (!be)
		return vip_drop(vs, XLB_STAT_DROP_NO_BACKEND);
	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg)
		return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);

	ns.backend = be->addr;
	ns.backend_port = be->port ? be->port : p->dport;
	ns.backend_id = be_id;
	ns.owner = cfg->node_id;
	ns.state = p->proto == IPPROTO_TCP ? XLB_SS_SYN : XLB_SS_UDP;
	ns.version = birth_version();
	ns.owned_at = tai_s();
	now = xlb_now();
	if (fnat) {
		if (bpf_map_pop_elem(&port_pool, &port))
			return vip_drop(vs, XLB_STAT_DROP_PORTS_EXHAUSTED);
		ns.snat = cfg->snat;
		ns.snat_port = bpf_htons((__u16)port);
		ns.flags = XLB_SF_FNAT;
		err = resolve_nexthop(ctx, p, be, be_id, ns.snat.w[0], ns.snat.w[0],
				      ns.backend.w[0], ns.snat_port, ns.backend_port, now, &nh);
	} else {
		err = resolve_nexthop(ctx, p, be, be_id, 0, p->saddr, ns.backend.w[0], p->sport,
				      ns.backend_port, now, &nh);
	}
	if (err) {
		if (fnat)
			port_put(ns.snat_port);
		return vip_drop(vs, err);
	}
	if (stateless) {
	stateless:
		if (vs) {
			vs->packets++;
			vs->bytes += p->len;
		}
		stat_inc(XLB_STAT_FWD_STATELESS);
		return transmit(p, &nh);
	}

	ns.last_seen_ns = now;
	/*
	 * Full NAT: the reverse entry first. Until the session exists no
	 * packet can use the port (no other CPU finds a session to forward
	 * with, no reply can come for a port nobody sent from), so every
	 * failure below gives the port back safely. The landed order (session
	 * first, undone when the reverse insert failed) could delete a session
	 * another CPU had already forwarded a packet with, and reuse its port.
	 */
	if (fnat) {
		/* rk and rv off the stack (the forward path is near its
		 * 512-byte limit) */
		sc = bpf_map_lookup_elem(&adopt_scratch, &zero);
		if (!sc) {
			port_put(ns.snat_port);
			return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
		}
		reverse_key(&sc->rk, &ns, p->proto);
		__builtin_memset(&sc->rv, 0, sizeof(sc->rv));
		sc->rv.fwd = *k;
		sc->rv.owner = ns.owner;
		sc->rv.version = ns.version;
		if (bpf_map_update_elem(&reverse, &sc->rk, &sc->rv, BPF_NOEXIST)) {
			port_put(ns.snat_port);
			return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
		}
	}
	err = bpf_map_update_elem(&sessions, k, &ns, BPF_NOEXIST);
	if (err) {
		/* not ours to keep: the reverse entry was never published
		 * and never used */
		if (sc) {
			bpf_map_delete_elem(&reverse, &sc->rk);
			port_put(ns.snat_port);
		}
		if (err != -EEXIST) {
			if (fnat)
				return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
			/* DSR, sessions map full: the Maglev table alone
			 * decides, as for the mid-flow segments it serves */
			stat_inc(XLB_STAT_DSR_STATELESS_FULL);
			goto stateless;
		}
		/* another CPU created it first: use that one */
		s = bpf_map_lookup_elem(&sessions, k);
		if (!s)
			return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
		return forward_session(ctx, p, k, s, vip, vs);
	}
	/* the records in the order of the writes (a kprobe capture sees
	 * them so): the reverse entry, then the session */
	if (sc)
		sync_reverse(&sc->rk, &sc->rv);
	sync_session(XLB_SYNC_OP_UPDATE, k, &ns);
	stat_inc(XLB_STAT_SESSION_NEW);
	if (vs) {
		vs->new_sessions++;
		vs->packets++;
		vs->bytes += p->len;
	}
	if (fnat)
		rewrite_l3l4(p, ns.snat.w[0], ns.backend.w[0], ns.snat_port, ns.backend_port);
	return transmit(p, &nh);
}

/* Full-NAT reply (backend -> SNAT address), @fk from the reverse map. */
static __always_inline int reply(struct xdp_md *ctx, struct pkt *p, const struct xlb_flow_key *rev)
{
	struct xlb_vip_stats *vs = NULL;
	struct xlb_vip_info *vip;
	struct xlb_vip_key vk = {};
	struct xlb_flow_key fk = *rev;
	struct xlb_session *s;
	struct nexthop nh;
	__u16 owner;
	__u64 now;
	int err;

	s = bpf_map_lookup_elem(&sessions, &fk);
	if (!s)
		return count(XLB_STAT_DROP_NO_SESSION, XDP_DROP);
	/* A reverse entry another session of the same flow superseded (two
	 * nodes opened it at once and the peer's won): the packet belongs
	 * to the connection that lost, not to the client's; never translate
	 * it into the client's flow (docs/design.md decision 12). */
	if (!(s->flags & XLB_SF_FNAT) || s->snat_port != p->dport || s->snat.w[0] != p->daddr ||
	    s->backend.w[0] != p->saddr || s->backend_port != p->sport)
		return count(XLB_STAT_DROP_SUPERSEDED, XDP_DROP);
	now = xlb_now();

	vk.addr = fk.daddr;
	vk.port = fk.dport;
	vk.proto = fk.proto;
	vk.family = XLB_AF_INET;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (vip)
		vs = bpf_map_lookup_elem(&vip_stats, &vip->vip_id);

	err = resolve_nexthop(ctx, p, NULL, XLB_NO_BACKEND, 0, fk.daddr.w[0], fk.saddr.w[0],
			      fk.dport, fk.sport, now, &nh);
	if (err)
		return vip_drop(vs, err);
	touch_session(s, now); /* only a reply that leaves refreshes it */
	owner = session_owner(s, 0);
	if (owner != s->owner || tcp_tracks(p, s, 1))
		session_track(&fk, s, p->tcp_flags, 1, owner);

	stat_inc(XLB_STAT_REPLY);
	if (vs) {
		vs->reply_packets++;
		vs->reply_bytes += p->len;
	}
	rewrite_l3l4(p, fk.daddr.w[0], fk.saddr.w[0], fk.dport, fk.sport);
	return transmit(p, &nh);
}

/* The whole data plane; bench/lb_bench.bpf.c wraps it too. */
static __always_inline int lb_process(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_vip_key vk = {};
	struct xlb_vip_stats *vs;
	struct xlb_vip_info *vip;
	struct xlb_flow_key k;
	struct xlb_session *s;
	struct xlb_config *cfg;
	struct pkt p;
	__u32 zero = 0;
	int bad, verdict;

	stat_inc(XLB_STAT_RX);
	verdict = parse_pkt(data, data_end, &p, &bad);
	if (verdict >= 0)
		return verdict;

	vk.addr.w[0] = p.daddr;
	vk.port = p.dport;
	vk.proto = p.proto;
	vk.family = XLB_AF_INET;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (!vip) {
		/* full-NAT reply? */
		cfg = bpf_map_lookup_elem(&lb_config, &zero);
		if (cfg && cfg->snat.w[0] == p.daddr) {
			struct xlb_reverse *rv;

			flow_key(&k, p.saddr, p.daddr, p.sport, p.dport, p.proto);
			rv = bpf_map_lookup_elem(&reverse, &k);
			if (rv) {
				if (bad)
					return count(bad, XDP_DROP);
				if (tcp_flags_invalid(&p))
					return count(XLB_STAT_DROP_BAD_FLAGS, XDP_DROP);
				return reply(ctx, &p, &rv->fwd);
			}
			if (!bad) {
				int v = bounce_to_owner(ctx, cfg->node_id, p.dport,
							ctx->ingress_ifindex, p.tot_len);

				if (v >= 0)
					return v;
			}
		}
		return count(bad == XLB_STAT_DROP_MALFORMED ? XLB_STAT_PASS_MALFORMED
							    : XLB_STAT_PASS_NON_VIP,
			     XDP_PASS);
	}

	vs = bpf_map_lookup_elem(&vip_stats, &vip->vip_id);
	if (bad)
		return vip_drop(vs, bad);
	if (tcp_flags_invalid(&p))
		return vip_drop(vs, XLB_STAT_DROP_BAD_FLAGS);

	flow_key(&k, p.saddr, p.daddr, p.sport, p.dport, p.proto);
	s = bpf_map_lookup_elem(&sessions, &k);
	if (s)
		return forward_session(ctx, &p, &k, s, vip, vs);
	return forward_new(ctx, &p, &k, vip, vs);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	return lb_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
