/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdplb: the one header shared by the BPF programs and user space.
 *
 * Every map key and value layout lives here. Layouts are fixed-size, carry
 * no pointers and no node-local absolute data (docs/design.md decision 2),
 * and use 16-byte addresses with a family field so that IPv6 can be added
 * without changing any layout. IPv4 addresses are stored in addr.w[0]
 * (network byte order) with the remaining 12 bytes zero.
 *
 * Multi-byte fields marked __be are in network byte order; all others are
 * in host byte order.
 */
#ifndef XDPLB_H
#define XDPLB_H

#include <linux/types.h>

#define XLB_AF_INET  2	/* == AF_INET */
#define XLB_AF_INET6 10 /* == AF_INET6 */

/* Map names. They are also the pin file names under the node's pin dir. */
#define XLB_MAP_VIPS	  "vips"
#define XLB_MAP_BACKENDS  "backends"
#define XLB_MAP_MAGLEV	  "maglev"
#define XLB_MAP_SESSIONS  "sessions"
#define XLB_MAP_REVERSE	  "reverse"
#define XLB_MAP_PORT_POOL "port_pool"
#define XLB_MAP_STATS	  "stats"
#define XLB_MAP_VIP_STATS "vip_stats"
#define XLB_MAP_CONFIG	  "lb_config"
#define XLB_MAP_NH_FWD	  "nh_fwd"	/* next-hop cache, not pinned */
#define XLB_MAP_NH_REPLY  "nh_reply"	/* next-hop cache, not pinned */
#define XLB_MAP_CLOCK	  "lb_clock"	/* per-CPU time cache, not pinned */
#define XLB_MAP_MEMBERS	  "vip_members" /* control plane only, read by syncd */

/* Capacities. */
#define XLB_MAX_VIPS	     256   /* vip_id in [0, XLB_MAX_VIPS) */
#define XLB_MAX_BACKENDS     4096  /* backend id in [1, XLB_MAX_BACKENDS) */
#define XLB_MAGLEV_SIZE	     65537 /* prime >= 65537 (Maglev paper M) */
#define XLB_DEFAULT_SESSIONS (1u << 20)
#define XLB_PORT_POOL_MAX    65536

#define XLB_NO_BACKEND 0 /* backend id 0 is never used */

union xlb_addr {
	__u8 b[16];
	__be32 w[4];
};

/* VIP map: (address, port, protocol) -> vip_info. */
struct xlb_vip_key {
	union xlb_addr addr;
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* XLB_AF_INET / XLB_AF_INET6 */
};

enum xlb_fwd_mode {
	XLB_MODE_FNAT = 1, /* full NAT: SNAT to node address + pool port */
	XLB_MODE_DSR = 2,  /* direct server return: rewrite dst MAC only */
};

struct xlb_vip_info {
	__u32 vip_id; /* index into maglev and vip_stats */
	__u8 mode;    /* enum xlb_fwd_mode */
	__u8 flags;   /* reserved, 0 */
	__u16 pad;
};

/* Backends map: ARRAY indexed by backend id (ids come from the config and
 * are identical on every node, so a replicated session's backend_id means
 * the same backend everywhere). */
#define XLB_BE_F_ACTIVE	 (1u << 0) /* slot in use */
#define XLB_BE_F_HAS_MAC (1u << 1) /* mac[] from config, skip fib neigh */
#define XLB_BE_F_DOWN                                                                              \
	(1u << 2) /* health checks say down: out of the
					    * Maglev tables, its UDP flows and
					    * new connections move */
#define XLB_BE_F_DRAIN                                                                             \
	(1u << 3) /* drained: no new connection (a SYN
					    * that reopens a closed session moves),
					    * its flows stay */
#define XLB_BE_F_RESET                                                                             \
	(1u << 4) /* gone (down, or removed: then not
					    * ACTIVE) longer than
					    * sessions.timeouts.backend_gone:
					    * its sessions' TCP segments from
					    * clients are answered with a RST */

struct xlb_backend {
	union xlb_addr addr;
	__be16 port; /* 0 = same as VIP port */
	__u8 family;
	__u8 flags; /* XLB_BE_F_* */
	__u8 mac[6];
	__u16 pad;
};

/*
 * VIP members: which backends lbd installed in which VIP, with the weight
 * and drain state the Maglev tables are built from. The data plane never
 * reads it; it is how syncd learns this node's service set (VIPs from the
 * vips map, addresses from the backends map, membership from here) to
 * compare it with its peers' (docs/design.md decision 13). lbd writes a
 * VIP's members after every change to them, so a change made at run time
 * shows like one from the config file.
 */
#define XLB_MAX_MEMBERS (XLB_MAX_VIPS * 256)

struct xlb_member_key {
	__u32 vip_id;
	__u32 backend_id;
};

#define XLB_MEMBER_F_DRAIN (1u << 0) /* drained in this VIP */

struct xlb_member {
	__u32 weight;
	__u32 flags; /* XLB_MEMBER_F_* */
};

/* Flow key: sessions map key (client -> VIP direction) and reverse map key
 * (backend -> SNAT direction). Always fully zeroed before filling. */
struct xlb_flow_key {
	union xlb_addr saddr;
	union xlb_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

enum xlb_sess_state {
	XLB_SS_SYN = 1,		/* TCP: SYN seen, handshake not complete */
	XLB_SS_ESTABLISHED = 2, /* TCP: ACK after SYN seen */
	XLB_SS_CLOSING = 3,	/* TCP: FIN seen from one side (half-closed) */
	XLB_SS_UDP = 4,		/* UDP flow */
	XLB_SS_CLOSED = 5,	/* TCP: FINs from both sides (DSR: client FIN) or a
				 * RST; forwarded until lbd ages it (tcp_closing) */
};

#define XLB_SF_FNAT    (1u << 0) /* full-NAT session (has snat) */
#define XLB_SF_CLI_FIN (1u << 1) /* FIN seen from client */
#define XLB_SF_SRV_FIN (1u << 2) /* FIN seen from backend */

/*
 * Session value. Lifecycle fields (everything except last_seen_ns) change
 * only through bpf_map_update_elem()/bpf_map_delete_elem()
 * (docs/design.md decision 1). last_seen_ns is written in place through
 * the lookup pointer on every packet; it is bpf_ktime_get_ns()
 * (CLOCK_MONOTONIC) of the writing node and is rebased to the receiver's
 * clock when a peer applies the entry.
 */
struct xlb_session {
	union xlb_addr backend; /* backend address (== backends[backend_id]) */
	union xlb_addr snat;	/* SNAT address (FNAT), zero for DSR */
	__be16 backend_port;
	__be16 snat_port; /* FNAT pool port, 0 for DSR */
	__u32 backend_id;
	__u16 owner; /* node id that owns (ages) this session */
	__u8 state;  /* enum xlb_sess_state */
	__u8 flags;  /* XLB_SF_* */
	/* starts at the wall-clock birth version (lb_session.h
	 * birth_version()), + 1 on every lifecycle write */
	__u32 version;
	/* cluster wall clock (CLOCK_TAI, s, low 32 bits) of the birth or
	 * the last owner change: rate-limits takeovers */
	__u32 owned_at;
	__u64 last_seen_ns; /* per-packet, in place */
};

/*
 * Reverse map value: backend-side flow key (backend -> SNAT address) ->
 * forward (client-side) flow key of the full-NAT session. It carries an
 * owner and a version like a session so that it is replicated and
 * anti-entropy-checked the same way: the session's birth version and
 * owner = the creating node at create; the data plane rewrites it only when
 * a node adopts the session (owner = the adopter, version + 1).
 */
struct xlb_reverse {
	struct xlb_flow_key fwd; /* sessions map key of the flow */
	__u16 owner;		 /* node id that created (owns) the entry */
	__u16 pad;
	__u32 version;
};
_Static_assert(sizeof(struct xlb_reverse) == sizeof(struct xlb_flow_key) + 8,
	       "struct xlb_reverse must have no implicit padding");

/* Node configuration map: ARRAY with one element, written by lbd. */

struct xlb_config {
	__u32 node_id;
	__u32 flags;	     /* reserved, 0 (syncd's switch is sync_ctl) */
	union xlb_addr snat; /* this node's SNAT address */
	__u8 snat_family;
	__u8 pad[7];
};

/*
 * Next-hop cache (bpf/lb_nexthop.h): node-local, never synced and not pinned,
 * so unlike every other layout here it holds node-local data (interface
 * indexes, MACs, a CLOCK_MONOTONIC deadline) and may change freely.
 * bpf_fib_lookup() stays the source of truth: an entry is its result for
 * (ingress interface, source, destination), reused for at most
 * XLB_NH_CACHE_TTL_NS so that route and neighbour changes are picked up.
 *  nh_fwd:   PERCPU_ARRAY indexed by backend id (client -> backend).
 *  nh_reply: LRU_PERCPU_HASH keyed by struct xlb_nh_key (backend -> client).
 */
#define XLB_NH_CACHE_TTL_NS  1000000000ULL /* 1 s */
#define XLB_NH_REPLY_ENTRIES 16384	   /* x 40 B x possible CPUs */

struct xlb_nh_key {
	__u32 in_ifindex; /* ingress interface */
	__be32 saddr;	  /* source of the rewritten packet (VIP) */
	__be32 daddr;	  /* destination (client) */
};

struct xlb_nh_entry {
	__u64 expires_ns; /* bpf_ktime_get_ns() deadline, 0 = empty */
	__u32 in_ifindex; /* tag: ingress interface of the lookup */
	__be32 saddr;	  /* tag: source (0 for a DSR forward entry) */
	__be32 daddr;	  /* tag: destination */
	__u32 ifindex;	  /* egress interface */
	__u16 mtu;	  /* egress MTU reported by the lookup */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 pad;
};

/*
 * Time in the data plane: bpf_ktime_get_ns() (CLOCK_MONOTONIC) read at most
 * once per jiffy per CPU and reused for the rest of that tick, so stamps
 * lag by at most one tick (4 ms at HZ=250). A session's last_seen_ns is
 * rewritten only when it is at least XLB_LAST_SEEN_GRAN_NS older than that
 * time (never moved backwards), so a busy flow does not dirty its session
 * on every packet (lbd ages with timeouts in seconds).
 */
#define XLB_LAST_SEEN_GRAN_NS 1000000ULL /* 1 ms */

/* Per-CPU global counters: PERCPU_ARRAY indexed by enum xlb_stat. */
enum xlb_stat {
	XLB_STAT_RX = 0,	       /* every packet seen */
	XLB_STAT_PASS_NON_IP,	       /* not IPv4: passed */
	XLB_STAT_PASS_NON_VIP,	       /* IPv4 not for a VIP nor a reply: passed */
	XLB_STAT_PASS_MALFORMED,       /* could not parse, not for a VIP: passed */
	XLB_STAT_DROP_MALFORMED,       /* for a VIP but truncated/bad header */
	XLB_STAT_DROP_FRAGMENT,	       /* IP fragment to a VIP */
	XLB_STAT_DROP_NO_BACKEND,      /* VIP with empty Maglev table */
	XLB_STAT_DROP_PORTS_EXHAUSTED, /* FNAT port pool empty */
	XLB_STAT_DROP_SESSION_FULL,    /* session/reverse map insert failed */
	XLB_STAT_DROP_NO_SESSION,      /* FNAT non-SYN TCP without session */
	XLB_STAT_DROP_FIB,	       /* no route / no neighbour to next hop */
	XLB_STAT_FWD_TX,	       /* forwarded with XDP_TX */
	XLB_STAT_FWD_REDIRECT,	       /* forwarded with bpf_redirect */
	XLB_STAT_SESSION_NEW,	       /* sessions created */
	XLB_STAT_SESSION_REUSE,	       /* client SYN on an existing session
					 * (retransmit, or reopen of a
					 * CLOSING/CLOSED one) */
	XLB_STAT_SESSION_DELETE,       /* unused: the data plane no longer
					 * deletes sessions (lbd's ageing
					 * does); kept for layout stability */
	XLB_STAT_REPLY,		       /* FNAT replies rewritten to the client */
	XLB_STAT_DROP_MTU,	       /* fib: packet exceeds egress MTU */
	XLB_STAT_FWD_STATELESS,	       /* DSR TCP non-SYN without session,
					 * forwarded by Maglev only */
	XLB_STAT_PASS_FRAGMENT,	       /* non-first IPv4 fragment (no ports
					 * to match a VIP on): passed */
	XLB_STAT_SYNC_EVENTS,	       /* inline capture: events pushed to
					 * sync_events */
	XLB_STAT_SYNC_LOST,	       /* inline capture: ring buffer full,
					 * event lost (syncd resyncs) */
	XLB_STAT_SESSION_ADOPT,	       /* sessions of a dead peer taken over
					 * by this node (owner, version + 1) */
	XLB_STAT_FWD_BOUNCE,	       /* full-NAT reply without a reverse entry
					 * here, sent on to the node whose port
					 * range holds its SNAT port */
	XLB_STAT_SYNC_WRITES,	       /* successful lifecycle writes of the
					 * sessions and reverse maps: every
					 * capture mode owes syncd one record
					 * per write (syncd's loss check) */
	XLB_STAT_SESSION_TAKEOVER,     /* sessions of a live peer taken over
					 * because their client side now
					 * reaches this node (owner, version
					 * + 1; docs/design.md decision 12) */
	XLB_STAT_SESSION_REPICK,       /* sessions moved to a live backend:
					 * their backend left (removed, down;
					 * drained for a reopening SYN) and a
					 * UDP datagram or a SYN came */
	XLB_STAT_DROP_SUPERSEDED,      /* full-NAT reply whose reverse entry
					 * names a session that now holds
					 * another SNAT port or backend (a
					 * collision the peer's copy won) */
	XLB_STAT_SESSION_RESET,	       /* client segments answered with a
					 * RST: the session's backend has
					 * been gone longer than
					 * sessions.timeouts.backend_gone
					 * (the session is closed) */
	XLB_STAT_DSR_STATELESS_FULL,   /* DSR flows forwarded by the Maglev
					 * table alone because the sessions
					 * map is full (FWD_STATELESS too) */
	XLB_STAT_DROP_BAD_FLAGS,       /* TCP segment to a VIP or a full-NAT
					 * reply with a flag combination no
					 * endpoint sends (SYN with FIN or
					 * RST; none of SYN, ACK, RST) */
	XLB_STAT_DROP_BOUNCE_TTL,      /* full-NAT reply to bounce to its
					 * port's owner with TTL 1: dropped
					 * (a loop between nodes whose
					 * port_owner maps disagree) */
	XLB_STAT_MAX,
};

/* Per-CPU per-VIP counters: PERCPU_ARRAY indexed by vip_id. */
struct xlb_vip_stats {
	__u64 packets; /* client -> VIP packets forwarded */
	__u64 bytes;
	__u64 reply_packets; /* FNAT backend -> client packets */
	__u64 reply_bytes;
	__u64 new_sessions;
	__u64 drops;
};

/*
 * Map-change capture (syncd, docs/design.md decision 6). The kprobe,
 * fentry and inline captures all write this one record into a BPF ring
 * buffer, so everything after the ring buffer is one code path. A watched
 * map is one node's map instance, named by its kernel map id (decision 7).
 * Key and value sizes beyond the record's capacity are refused when the
 * map is registered, never truncated.
 */
#define XLB_SYNC_KEY_MAX      64
#define XLB_SYNC_VALUE_MAX    256
#define XLB_MAP_SYNC_EVENTS   "sync_events" /* inline mode ring buffer */
#define XLB_MAP_SYNC_CTL      "sync_ctl"    /* inline mode switch */
#define XLB_MAP_NODE_STATE    "node_state"  /* peer liveness, for adoption */
#define XLB_MAP_PORT_OWNER    "port_owner"  /* SNAT port -> allocating node */
#define XLB_SYNC_RINGBUF_SIZE (16u << 20)

/*
 * syncd's batched apply (bpf/storeio.bpf.c, syncd/store_bpf.c): syncd puts
 * up to XLB_STOREIO_SLOTS keys of one watched map in a memory-mapped array
 * and runs a BPF_PROG_TYPE_SYSCALL program once for all of them: one
 * reads what the keys hold, the other writes or removes each key if it
 * still holds what the first one read (presence, and the version field).
 */
#define XLB_STOREIO_SLOTS  256
#define XLB_STOREIO_WRITE  1
#define XLB_STOREIO_REMOVE 2

struct xlb_storeio_slot {
	__u8 op;    /* write_many: XLB_STOREIO_WRITE or XLB_STOREIO_REMOVE */
	__u8 found; /* lookup_many: out; write_many: in, what the key held */
	__u8 pad[2];
	__s32 result;  /* write_many: 0, -EAGAIN (the key changed since:
		       * nothing done), or the helper's -errno */
	__u64 version; /* write_many: the version field's value it held */
	__u64 self;    /* lookup_many: this slot's kernel address (the
			* capture's filter of syncd's own writes) */
	__u8 key[XLB_SYNC_KEY_MAX];
	__u8 value[XLB_SYNC_VALUE_MAX]; /* lookup_many: out; write_many: in
					 * (write), out (remove: the value) */
};

struct xlb_storeio_args {
	__u32 n; /* slots used, from 0 */
	__u32 pad;
};
/*
 * Consumer wake-ups: a record wakes syncd when the ring holds at least
 * XLB_SYNC_WAKEUP_BYTES, or when this CPU has not woken it for
 * XLB_SYNC_WAKEUP_NS; any other record is submitted quietly. syncd, once
 * woken, drains again every XLB_SYNC_WAKEUP_NS for as long as it finds
 * records, so a quiet record waits at most about that long (and a lone
 * record, which always wakes, not at all), while a burst costs at most one
 * wake-up per CPU per XLB_SYNC_WAKEUP_NS or per XLB_SYNC_WAKEUP_BYTES
 * (~64 session records) instead of one per record (a wake-up costs several times
 * the record itself).
 */
#define XLB_SYNC_WAKEUP_BYTES (8u << 10)
#define XLB_SYNC_WAKEUP_NS    100000ull

enum xlb_sync_op {
	XLB_SYNC_OP_UPDATE = 1,
	XLB_SYNC_OP_DELETE = 2,
};

enum xlb_sync_source {
	XLB_SYNC_SRC_KPROBE = 1,
	XLB_SYNC_SRC_FENTRY = 2,
	XLB_SYNC_SRC_INLINE = 3,
	XLB_SYNC_SRC_LBD = 4, /* a user-space delete of lbd, handed to syncd
				 * over sync.local_socket (lib/synclocal.h) */
};

struct xlb_sync_event {
	__u64 ts_ns;  /* CLOCK_MONOTONIC at capture (inline: the data
				 * plane's per-jiffy clock, <= 1 tick old) */
	__u32 map_id; /* kernel id of the written map */
	__u8 op;      /* enum xlb_sync_op */
	__u8 source;  /* enum xlb_sync_source */
	__u16 key_size;
	__u16 value_size; /* 0 for a DELETE whose value is not known */
	__u16 pad;
	__u32 pad2;
	__u8 key[XLB_SYNC_KEY_MAX];
	__u8 value[XLB_SYNC_VALUE_MAX];
};
/* Bytes of key[] past key_size and of value[] past value_size are
 * unspecified; pad and pad2 are 0.
 *
 * In the capture ring buffers a record is compact: the header above
 * (XLB_SYNC_REC_HDR bytes, up to key[]), then key_size bytes of key, then
 * value_size bytes of value, and nothing else (a session record is 128
 * bytes instead of 344). syncd's capture reads it into a struct
 * xlb_sync_event (syncd/capture.c). */
#define XLB_SYNC_REC_HDR 24
_Static_assert(__builtin_offsetof(struct xlb_sync_event, key) == XLB_SYNC_REC_HDR,
	       "capture record header");
#define XLB_SYNC_REC_SIZE(ks, vs) (XLB_SYNC_REC_HDR + (ks) + (vs))

/*
 * kprobe/fentry capture counters (bpf/mapsync.bpf.c "cap_stats", PERCPU_ARRAY
 * indexed by enum xlb_cap_stat). Every LOST_* is a record that a watched
 * write may have owed syncd and did not get; syncd repairs after any of them.
 */
enum xlb_cap_stat {
	XLB_CAP_EMITTED = 0,   /* records submitted to the ring buffer */
	XLB_CAP_LOST_RINGBUF,  /* ring buffer full */
	XLB_CAP_LOST_READ,     /* key or value unreadable */
	XLB_CAP_LOST_UNPAIRED, /* kprobe: a return probe whose entry probe
				 * did not run (the write's map is unknown) */
	XLB_CAP_LOST_STALE,    /* kprobe: a watched write whose return
				 * probe never ran (its slot found stale) */
	XLB_CAP_LOST_FOREIGN,  /* kprobe: the return probe ran in another
				 * task than its entry */
	XLB_CAP_STAT_MAX,
};

/* sync_ctl: ARRAY with one element, written by syncd. While flags has
 * XLB_SYNC_CTL_INLINE, the data plane pushes an event after each successful
 * lifecycle write of a map whose id is listed here (0: not watched). */
#define XLB_SYNC_CTL_INLINE (1u << 0)

/*
 * kprobe/fentry capture (bpf/mapsync.bpf.c): its "watch" map (HASH, map id
 * -> struct xlb_sync_watch, at most XLB_SYNC_WATCH_MAX entries) names the
 * watched maps; syncd fills it before attaching.
 */
#define XLB_SYNC_WATCH_MAX 64

struct xlb_sync_watch {
	__u32 key_size;	  /* <= XLB_SYNC_KEY_MAX */
	__u32 value_size; /* <= XLB_SYNC_VALUE_MAX */
	/* syncd's batch slots for this map (bpf/storeio.bpf.c), kernel
	 * addresses [self_lo, self_hi): a write whose key lies there is
	 * syncd applying a peer's entry, not a change to report */
	__u64 self_lo, self_hi;
};

struct xlb_sync_ctl {
	__u32 flags;
	__u32 sessions_id; /* kernel id of this node's sessions map, or 0 */
	__u32 reverse_id;  /* kernel id of this node's reverse map, or 0 */
	__u32 pad;
};

/* node_state: ARRAY indexed by node id (XLB_MAX_NODES entries), written by
 * syncd. A session owned by a node marked dead is adopted by the first
 * packet of its flow on this node (docs/design.md decision 3). */
#define XLB_MAX_NODES 65536
#define XLB_NODE_DEAD (1u << 0)

/*
 * Takeover (docs/design.md decision 12): a client-side packet of a session
 * that a live peer owns makes this node its owner, at most once per
 * XLB_TAKEOVER_MIN_S seconds of the cluster clock per session (owned_at),
 * so a flow whose packets reach two nodes at once costs one write per
 * period, not one per packet.
 */
#define XLB_TAKEOVER_MIN_S 1

/*
 * port_owner: ARRAY indexed by SNAT port (host order, 65536 entries),
 * written by lbd from its own and its sync peers' port ranges (docs/design.md
 * decision 4: the ranges partition the shared SNAT address). With ECMP in
 * front of the nodes, a backend's reply can reach a node before the
 * session's reverse entry has been replicated to it (the SYN-ACK of a
 * flow another node just opened): instead of dropping it, the data plane
 * sends it, unchanged, to the node that allocated the port (node_addr, its
 * address on the segment, resolved with bpf_fib_lookup()), unless that
 * node is marked dead. node 0: nobody's port.
 */
struct xlb_port_owner {
	__u16 node;
	__u16 pad;
	__be32 node_addr; /* IPv4 address of that node on this segment */
};

#endif /* XDPLB_H */
