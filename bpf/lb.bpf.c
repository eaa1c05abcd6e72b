// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdplb XDP data plane: IPv4 TCP/UDP L4 load balancing, full-NAT or DSR.
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
 * Sessions (DESIGN decision 1)
 * ----------------------------
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
 *  Adoption (DESIGN decision 3): a packet of a session owned by another
 *  node that syncd marked XLB_NODE_DEAD in node_state (forward or full-NAT
 *  reply direction) rewrites it once with owner = this node and version + 1
 *  (SESSION_ADOPT), in the same write as a state change on that packet.
 *  From then on this node's lbd ages it.
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
#include "lb_csum.h"

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

/* Scratch space for reverse_adopt(), off the stack. Not pinned. */
struct adopt_scratch {
	struct xlb_flow_key rk;
	struct xlb_reverse rv;
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
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_clock);
} lb_clock SEC(".maps");

/* TCP flag bits (byte 13 of the TCP header). */
#define TCPF_FIN	0x01
#define TCPF_SYN	0x02
#define TCPF_RST	0x04
#define TCPF_ACK	0x10

#define IPV4_MF		0x2000
#define IPV4_OFFSET	0x1fff

#define XLB_HASH_SEED	0x9e3779b9u

/* Parsed packet: everything a lookup or the rewrite needs. */
struct pkt {
	struct ethhdr *eth;
	struct iphdr *iph;
	void *l4;		/* TCP or UDP header, full header present */
	__u32 len;		/* frame length, for byte counters */
	__u16 tot_len;		/* host order */
	__u8 proto;
	__u8 tcp_flags;		/* 0 for UDP */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

/* Where and how to send a packet that is ready to be rewritten. */
struct nexthop {
	__u8 smac[ETH_ALEN];
	__u8 dmac[ETH_ALEN];
	__u32 ifindex;
	int action;		/* XDP_TX or XDP_REDIRECT */
};

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

	a -= c; a ^= rol32(c, 4);  c += b;
	b -= a; b ^= rol32(a, 6);  a += c;
	c -= b; c ^= rol32(b, 8);  b += a;
	a -= c; a ^= rol32(c, 16); c += b;
	b -= a; b ^= rol32(a, 19); a += c;
	c -= b; c ^= rol32(b, 4);  b += a;

	a += p->proto;

	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

static __always_inline void flow_key(struct xlb_flow_key *k, __be32 saddr,
				     __be32 daddr, __be16 sport, __be16 dport,
				     __u8 proto)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr.w[0] = saddr;
	k->daddr.w[0] = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->family = XLB_AF_INET;
}

/* Reverse (backend -> SNAT) key of a full-NAT session. */
static __always_inline void reverse_key(struct xlb_flow_key *k,
					const struct xlb_session *s, __u8 proto)
{
	flow_key(k, s->backend.w[0], s->snat.w[0], s->backend_port,
		 s->snat_port, proto);
}

static __always_inline void port_put(__be16 port)
{
	__u32 v = bpf_ntohs(port);

	bpf_map_push_elem(&port_pool, &v, 0);
}

/*
 * Inline capture (syncd --capture inline, DESIGN decision 6). After a
 * successful lifecycle write of sessions or reverse, the data plane pushes
 * the same record the kprobe/fentry capture would have produced. While
 * sync_ctl is off this costs one array lookup per lifecycle write and
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
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= XLB_SYNC_WAKEUP_BYTES ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Push one record: *@k_ and *@v_ are copied with their compile-time
 * sizes, exactly as they were written to the map. A full ring buffer loses
 * the record (SYNC_LOST; syncd's anti-entropy repairs what it missed).
 */
#define sync_emit(id_, op_, k_, v_)					\
	do {									\
		struct xlb_sync_event *ev_;					\
										\
		_Static_assert(sizeof(*(k_)) <= XLB_SYNC_KEY_MAX,		\
			       "key does not fit xlb_sync_event");		\
		_Static_assert(sizeof(*(v_)) <= XLB_SYNC_VALUE_MAX,		\
			       "value does not fit xlb_sync_event");		\
		ev_ = bpf_ringbuf_reserve(&sync_events, sizeof(*ev_), 0);	\
		if (!ev_) {							\
			stat_inc(XLB_STAT_SYNC_LOST);				\
			break;							\
		}								\
		ev_->ts_ns = xlb_now();					\
		ev_->map_id = (id_);						\
		ev_->op = (op_);						\
		ev_->source = XLB_SYNC_SRC_INLINE;				\
		ev_->key_size = sizeof(*(k_));					\
		ev_->value_size = sizeof(*(v_));				\
		ev_->pad = 0;							\
		ev_->pad2 = 0;							\
		__builtin_memcpy(ev_->key, (k_), sizeof(*(k_)));		\
		__builtin_memcpy(ev_->value, (v_), sizeof(*(v_)));		\
		bpf_ringbuf_submit(ev_, sync_wakeup(&sync_events));		\
		stat_inc(XLB_STAT_SYNC_EVENTS);					\
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

static __always_inline void sync_reverse(const struct xlb_flow_key *rk,
					 const struct xlb_reverse *rv)
{
	__u32 id = sync_map_id(SYNC_REVERSE);

	stat_inc(XLB_STAT_SYNC_WRITES);
	if (id)
		sync_emit(id, XLB_SYNC_OP_UPDATE, rk, rv);
}

/*
 * Adoption (DESIGN decision 3): the owner an existing session should have
 * after this packet. A session owned by a peer that syncd marked dead in
 * node_state is taken over by this node; otherwise the owner stays. The
 * node_state lookup happens only for sessions owned by another node.
 */
static __always_inline __u16 session_owner(const struct xlb_session *s)
{
	struct xlb_config *cfg;
	__u32 zero = 0, peer = s->owner, *st;

	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg || s->owner == cfg->node_id)
		return s->owner;
	st = bpf_map_lookup_elem(&node_state, &peer);
	if (!st || !(*st & XLB_NODE_DEAD))
		return s->owner;
	return cfg->node_id;
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
const volatile __u32 xlb_birth_fixed = 0;	/* tests only: != 0 pins it */

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
static __always_inline void reverse_adopt(const struct xlb_flow_key *k,
					  const struct xlb_session *s, __u16 owner)
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
 * when this packet adopts the session). Called after the next hop is
 * resolved, before the rewrite. Never deletes: a closed session lingers,
 * still forwarding late ACKs and retransmitted FINs, until lbd ages it out
 * and returns its SNAT port. One bpf_map_update_elem() (version + 1) when,
 * and only when, the state, the flags or the owner change, so an adoption
 * and a state change on the same packet are one write.
 */
static __always_inline void session_track(const struct xlb_flow_key *k,
					  struct xlb_session *sp,
					  __u8 tcp_flags, int srv_side,
					  __u16 owner)
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
			if (state == XLB_SS_CLOSED ||
			    state == XLB_SS_CLOSING) {
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
	if (bpf_map_update_elem(&sessions, k, &s, BPF_EXIST))
		return;
	sync_session(XLB_SYNC_OP_UPDATE, k, &s);
	if (owner != sp->owner) {
		stat_inc(XLB_STAT_SESSION_ADOPT);
		if (s.flags & XLB_SF_FNAT)
			reverse_adopt(k, &s, owner);
	}
}

/* Does this TCP packet possibly change the state of session @s? */
static __always_inline int tcp_tracks(const struct pkt *p,
				      const struct xlb_session *s, int srv_side)
{
	if (p->proto != IPPROTO_TCP)
		return 0;
	if (p->tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST))
		return 1;
	/* client's first ACK: SYN -> ESTABLISHED */
	return !srv_side && s->state == XLB_SS_SYN;
}

/* Send to @e (a cache entry or a fresh FIB result) from @in_if. */
static __always_inline void nexthop_set(struct nexthop *nh,
					const struct xlb_nh_entry *e,
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
static __always_inline int resolve_nexthop(struct xdp_md *ctx,
					   const struct pkt *p,
					   const struct xlb_backend *be,
					   __u32 be_id, __be32 tag_saddr,
					   __be32 saddr, __be32 daddr,
					   __be16 sport, __be16 dport,
					   __u64 now, struct nexthop *nh)
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
	if (e && e->expires_ns > now && e->in_ifindex == in_if &&
	    e->daddr == daddr && e->saddr == tag_saddr) {
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
	ne.mtu = fib.mtu_result;	/* set on success since Linux 5.12 */
	__builtin_memcpy(ne.smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(ne.dmac, fib.dmac, ETH_ALEN);
	ne.pad = 0;
	if (e)		/* this CPU's slot: written in place */
		*e = ne;
	else if (be_id == XLB_NO_BACKEND)
		bpf_map_update_elem(&nh_reply, &rk, &ne, BPF_ANY);
	nexthop_set(nh, &ne, in_if);
	return 0;
}

/* Rewrite addresses and ports, updating the IP and L4 checksums. */
static __always_inline void rewrite_l3l4(struct pkt *p, __be32 saddr,
					 __be32 daddr, __be16 sport,
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
	__u32 port = bpf_ntohs(dport), owner, zero = 0;
	__u32 *st;

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
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	stat_inc(XLB_STAT_FWD_BOUNCE);
	return XDP_TX;
}

/* Maglev: backend for a new flow of @vip, or NULL. */
static __always_inline struct xlb_backend *
pick_backend(const struct pkt *p, __u32 vip_id, __u32 *be_id)
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

/* Packet for an existing session: forward direction. */
static __always_inline int forward_session(struct xdp_md *ctx, struct pkt *p,
					   const struct xlb_flow_key *k,
					   struct xlb_session *s,
					   struct xlb_vip_stats *vs)
{
	struct xlb_backend *be;
	struct nexthop nh;
	__be32 saddr = p->saddr, daddr, snat;
	__be16 sport = p->sport, dport, snat_port;
	__u32 be_id = s->backend_id;
	__u64 now = xlb_now();
	__u16 owner;
	int fnat, err;

	touch_session(s, now);
	fnat = s->flags & XLB_SF_FNAT;
	daddr = s->backend.w[0];
	dport = s->backend_port;
	snat = s->snat.w[0];
	snat_port = s->snat_port;
	if (fnat) {
		saddr = snat;
		sport = snat_port;
	}
	be = bpf_map_lookup_elem(&backends, &be_id);
	if (be && !(be->flags & XLB_BE_F_ACTIVE))
		be = NULL;
	err = resolve_nexthop(ctx, p, be, be_id, fnat ? snat : 0, saddr, daddr,
			      sport, dport, now, &nh);
	if (err)
		return vip_drop(vs, err);

	owner = session_owner(s);
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
				       const struct xlb_flow_key *k,
				       const struct xlb_vip_info *vip,
				       struct xlb_vip_stats *vs)
{
	struct xlb_session ns = {}, *s;
	struct xlb_reverse rv = {};
	struct xlb_flow_key rk;
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
	now = xlb_now();
	if (fnat) {
		if (bpf_map_pop_elem(&port_pool, &port))
			return vip_drop(vs, XLB_STAT_DROP_PORTS_EXHAUSTED);
		ns.snat = cfg->snat;
		ns.snat_port = bpf_htons((__u16)port);
		ns.flags = XLB_SF_FNAT;
		err = resolve_nexthop(ctx, p, be, be_id, ns.snat.w[0],
				      ns.snat.w[0], ns.backend.w[0],
				      ns.snat_port, ns.backend_port, now, &nh);
	} else {
		err = resolve_nexthop(ctx, p, be, be_id, 0, p->saddr,
				      ns.backend.w[0], p->sport,
				      ns.backend_port, now, &nh);
	}
	if (err) {
		if (fnat)
			port_put(ns.snat_port);
		return vip_drop(vs, err);
	}
	if (stateless) {
		if (vs) {
			vs->packets++;
			vs->bytes += p->len;
		}
		stat_inc(XLB_STAT_FWD_STATELESS);
		return transmit(p, &nh);
	}

	ns.last_seen_ns = now;
	err = bpf_map_update_elem(&sessions, k, &ns, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* another CPU created it first: use that one */
		if (fnat)
			port_put(ns.snat_port);
		s = bpf_map_lookup_elem(&sessions, k);
		if (!s)
			return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
		return forward_session(ctx, p, k, s, vs);
	}
	if (err) {
		if (fnat)
			port_put(ns.snat_port);
		return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
	}
	sync_session(XLB_SYNC_OP_UPDATE, k, &ns);
	if (fnat) {
		reverse_key(&rk, &ns, p->proto);
		rv.fwd = *k;
		rv.owner = ns.owner;
		rv.version = ns.version;
		if (bpf_map_update_elem(&reverse, &rk, &rv, BPF_NOEXIST)) {
			/* undo this packet's own insert: no packet used it.
			 * The delete record carries the deleted value, so a
			 * peer knows which version it removes. */
			if (!bpf_map_delete_elem(&sessions, k))
				sync_session(XLB_SYNC_OP_DELETE, k, &ns);
			port_put(ns.snat_port);
			return vip_drop(vs, XLB_STAT_DROP_SESSION_FULL);
		}
		sync_reverse(&rk, &rv);
	}
	stat_inc(XLB_STAT_SESSION_NEW);
	if (vs) {
		vs->new_sessions++;
		vs->packets++;
		vs->bytes += p->len;
	}
	if (fnat)
		rewrite_l3l4(p, ns.snat.w[0], ns.backend.w[0], ns.snat_port,
			     ns.backend_port);
	return transmit(p, &nh);
}

/* Full-NAT reply (backend -> SNAT address), @fk from the reverse map. */
static __always_inline int reply(struct xdp_md *ctx, struct pkt *p,
				 const struct xlb_flow_key *rev)
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
	now = xlb_now();
	touch_session(s, now);

	vk.addr = fk.daddr;
	vk.port = fk.dport;
	vk.proto = fk.proto;
	vk.family = XLB_AF_INET;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (vip)
		vs = bpf_map_lookup_elem(&vip_stats, &vip->vip_id);

	err = resolve_nexthop(ctx, p, NULL, XLB_NO_BACKEND, 0, fk.daddr.w[0],
			      fk.saddr.w[0], fk.dport, fk.sport, now, &nh);
	if (err)
		return vip_drop(vs, err);
	owner = session_owner(s);
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
	struct iphdr *iph;
	struct pkt p;
	__u32 ihl, l4_min, zero = 0;
	__u16 frag;
	__be16 *ports;
	int bad = 0;

	stat_inc(XLB_STAT_RX);
	p.eth = data;
	if ((void *)(p.eth + 1) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	if (p.eth->h_proto != bpf_htons(ETH_P_IP))
		return count(XLB_STAT_PASS_NON_IP, XDP_PASS);
	iph = (void *)(p.eth + 1);
	if ((void *)(iph + 1) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	p.iph = iph;
	p.proto = iph->protocol;
	if (p.proto == IPPROTO_TCP)
		l4_min = sizeof(struct tcphdr);
	else if (p.proto == IPPROTO_UDP)
		l4_min = sizeof(struct udphdr);
	else
		return count(XLB_STAT_PASS_NON_VIP, XDP_PASS);

	frag = bpf_ntohs(iph->frag_off);
	if (frag & IPV4_OFFSET)
		return count(XLB_STAT_PASS_FRAGMENT, XDP_PASS);

	ihl = iph->ihl;
	if (iph->version != 4 || ihl < 5) {
		bad = XLB_STAT_DROP_MALFORMED;
		ihl = 5;
	}
	ports = (void *)iph + ihl * 4;
	if ((void *)(ports + 2) > data_end)
		return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
	p.l4 = ports;
	p.saddr = iph->saddr;
	p.daddr = iph->daddr;
	p.sport = ports[0];
	p.dport = ports[1];
	p.len = data_end - data;
	p.tot_len = bpf_ntohs(iph->tot_len);
	p.tcp_flags = 0;

	if ((void *)ports + l4_min > data_end ||
	    p.tot_len > (__u32)(data_end - (void *)iph) ||
	    p.tot_len < ihl * 4 + l4_min) {
		bad = XLB_STAT_DROP_MALFORMED;
	} else if (p.proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if ((void *)(th + 1) > data_end)
			return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
		p.tcp_flags = ((__u8 *)th)[13];
		if (th->doff < 5 || ihl * 4 + th->doff * 4 > p.tot_len)
			bad = XLB_STAT_DROP_MALFORMED;
	} else {
		struct udphdr *uh = (void *)ports;

		if ((void *)(uh + 1) > data_end)
			return count(XLB_STAT_PASS_MALFORMED, XDP_PASS);
		if (bpf_ntohs(uh->len) < sizeof(*uh) ||
		    bpf_ntohs(uh->len) > p.tot_len - ihl * 4)
			bad = XLB_STAT_DROP_MALFORMED;
	}

	/* a first fragment's L4 lengths describe the whole datagram */
	if (frag & IPV4_MF)
		bad = XLB_STAT_DROP_FRAGMENT;

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

			flow_key(&k, p.saddr, p.daddr, p.sport, p.dport,
				 p.proto);
			rv = bpf_map_lookup_elem(&reverse, &k);
			if (rv) {
				if (bad)
					return count(bad, XDP_DROP);
				return reply(ctx, &p, &rv->fwd);
			}
			if (!bad) {
				int v = bounce_to_owner(ctx, cfg->node_id, p.dport,
							ctx->ingress_ifindex, p.tot_len);

				if (v >= 0)
					return v;
			}
		}
		return count(bad == XLB_STAT_DROP_MALFORMED ?
			     XLB_STAT_PASS_MALFORMED : XLB_STAT_PASS_NON_VIP,
			     XDP_PASS);
	}

	vs = bpf_map_lookup_elem(&vip_stats, &vip->vip_id);
	if (bad)
		return vip_drop(vs, bad);

	flow_key(&k, p.saddr, p.daddr, p.sport, p.dport, p.proto);
	s = bpf_map_lookup_elem(&sessions, &k);
	if (s)
		return forward_session(ctx, &p, &k, s, vs);
	return forward_new(ctx, &p, &k, vip, vs);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	return lb_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
