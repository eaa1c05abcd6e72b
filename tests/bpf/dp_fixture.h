/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Fixtures for BPF_PROG_TEST_RUN tests and benchmarks of the xdplb data
 * plane: a private network namespace with veth links and permanent
 * neighbours (addresses in 198.18.0.0/15 only), the lb skeleton loaded
 * without pinning, map fill helpers, a packet builder and a parser that
 * verifies checksums from scratch.
 */
#ifndef XLB_DP_FIXTURE_H
#define XLB_DP_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xdplb.h"

struct lb;

/* Topology (dp_netns_setup). All MACs are set explicitly. */
#define DP_IF_A		  "xlbt0" /* ingress: clients and backends */
#define DP_IF_B		  "xlbt1" /* second link: redirect target */
#define DP_IP(a, b, c, d) ((uint32_t)(((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d)))

/* Host-order addresses; helpers convert. */
#define DP_LB_A	      DP_IP(198, 18, 0, 1)
#define DP_LB_B	      DP_IP(198, 18, 1, 1)
#define DP_SNAT	      DP_IP(198, 18, 0, 5)
#define DP_CLIENT     DP_IP(198, 18, 0, 10)
#define DP_BE1	      DP_IP(198, 18, 0, 20) /* neighbour on A */
#define DP_BE2	      DP_IP(198, 18, 0, 21) /* neighbour on A */
#define DP_BE3	      DP_IP(198, 18, 1, 20) /* neighbour on B */
#define DP_BE_NONEIGH DP_IP(198, 18, 0, 30) /* on A, no neighbour */
#define DP_BE_MAC     DP_IP(198, 18, 0, 40) /* config MAC, no neighbour */
#define DP_NONVIP     DP_IP(198, 18, 0, 1)

extern const uint8_t dp_mac_a[6], dp_mac_b[6], dp_mac_client[6], dp_mac_be1[6], dp_mac_be2[6],
	dp_mac_be3[6], dp_mac_cfg[6];

/*
 * Enter a new network namespace and build the topology. Returns 0, or
 * -errno (e.g. -EPERM when not root: callers skip).
 */
int dp_netns_setup(void);

struct dp_env {
	struct lb *skel;
	int prog_fd;
	int ifindex_a;
	int ifindex_b;
	int ncpus;
};

/* Open and load the lb skeleton with pinning off and sessions/reverse
 * sized @max_sessions. */
/* First version of new sessions in envs opened from now on: 1 (default,
 * so tests can name versions 1, 2, ...), or 0 for the data plane's real
 * wall-clock birth version. */
extern uint32_t dp_birth_fixed;

int dp_env_open(struct dp_env *e, uint32_t max_sessions);
void dp_env_close(struct dp_env *e);

int dp_set_config(struct dp_env *e, uint32_t node_id, uint32_t snat);
int dp_add_vip(struct dp_env *e, uint32_t addr, uint16_t port, uint8_t proto, uint8_t mode,
	       uint32_t vip_id);
int dp_add_backend(struct dp_env *e, uint32_t id, uint32_t addr, uint16_t port, uint8_t flags,
		   const uint8_t *mac);
/* Install a Maglev table for @vip_id: ids[i % n] in slot i; n = 0 installs
 * an all-empty table. */
int dp_set_maglev(struct dp_env *e, uint32_t vip_id, const uint32_t *ids, unsigned int n);
/* Push ports [first, first + count) into port_pool. */
int dp_fill_pool(struct dp_env *e, uint32_t first, uint32_t count);
/* Pop every port left in the pool into @ports (up to @max); returns count. */
int dp_drain_pool(struct dp_env *e, uint32_t *ports, int max);

/* Standard configuration used by tests and bench (see dp_fixture.c). */
enum {
	DP_VIP_TCP = 1,	    /* 198.18.100.1:80/tcp  FNAT -> be 1 (:8080) */
	DP_VIP_UDP = 2,	    /* 198.18.100.1:53/udp  FNAT -> be 1 (:5353) */
	DP_VIP_DSR = 3,	    /* 198.18.100.2:80/tcp  DSR  -> be 2 */
	DP_VIP_EMPTY = 4,   /* 198.18.100.3:80/tcp  FNAT, empty table */
	DP_VIP_CFGMAC = 5,  /* 198.18.100.4:80/tcp  FNAT -> be 4 (mac) */
	DP_VIP_NONEIGH = 6, /* 198.18.100.5:80/tcp  FNAT -> be 5 */
	DP_VIP_REDIR = 7,   /* 198.18.100.6:80/tcp  FNAT -> be 3 (link B) */
	DP_VIP_UDP_DSR = 8, /* 198.18.100.2:53/udp  DSR  -> be 2 */
};
/* Address (host order), port and protocol of a standard VIP. */
uint32_t dp_vip_addr(unsigned int vip_id);
uint16_t dp_vip_port(unsigned int vip_id);
uint8_t dp_vip_proto(unsigned int vip_id);
#define DP_NODE_ID    7
#define DP_POOL_FIRST 20000
int dp_std_config(struct dp_env *e, uint32_t pool_count);

/* Packet description for dp_build(). Addresses host order. */
struct dp_pkt_spec {
	const uint8_t *smac, *dmac; /* NULL: client MAC / LB MAC A */
	uint16_t eth_proto;	    /* 0: IPv4 */
	uint32_t saddr, daddr;
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP / other */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint16_t payload_len;
	uint8_t ttl; /* 0: 64 */
	uint16_t ip_id;
	uint16_t frag;	   /* host order flags|offset */
	uint8_t opt_words; /* IP option words (IHL = 5 + n) */
	uint8_t ihl;	   /* nonzero: override IHL field */
	bool udp_csum_zero;
	uint16_t truncate; /* nonzero: cut frame to this size */
	uint32_t seq;
};

#define DP_TCP_FIN 0x01
#define DP_TCP_SYN 0x02
#define DP_TCP_RST 0x04
#define DP_TCP_PSH 0x08
#define DP_TCP_ACK 0x10

#define DP_PKT_MAX 2048

/* Build a frame with correct checksums; returns its length. */
size_t dp_build(uint8_t *buf, size_t cap, const struct dp_pkt_spec *s);

struct dp_parsed {
	uint8_t dmac[6], smac[6];
	uint16_t eth_proto;
	uint8_t ihl, ttl, proto, tos;
	uint16_t tot_len, ip_id, frag;
	uint32_t saddr, daddr; /* host order */
	uint16_t sport, dport; /* host order */
	uint8_t tcp_flags;
	uint16_t ip_check, l4_check; /* as found in the packet */
	bool ip_csum_ok;	     /* recomputed from scratch matches */
	bool l4_csum_ok;	     /* recomputed from scratch matches */
};

/* Parse an Ethernet/IPv4/TCP|UDP frame. Returns 0 or -EINVAL. */
int dp_parse(const uint8_t *buf, size_t len, struct dp_parsed *p);

/* One BPF_PROG_TEST_RUN pass (repeat 1) on ingress interface A (or B
 * when @ifindex is nonzero). Returns 0 or -errno; verdict in *retval. */
int dp_run(struct dp_env *e, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
	   uint32_t *retval);
/* One BPF_PROG_TEST_RUN of any XDP program: @repeat passes on @in from
 * @ifindex; @out may be NULL (output discarded); @duration (may be NULL)
 * gets the kernel's mean ns per pass. */
int dp_test_run(int prog_fd, int ifindex, const uint8_t *in, size_t len, uint8_t *out,
		size_t *out_len, uint32_t repeat, uint32_t *retval, uint32_t *duration);
/* Client -> VIP @vip TCP segment from client port @sport; backend 1
 * (:8080) -> SNAT address:@snat_port reply with 11 payload bytes. */
struct dp_pkt_spec dp_tcp_to(unsigned int vip, uint16_t sport, uint8_t flags);
struct dp_pkt_spec dp_reply_to(uint16_t snat_port, uint8_t flags);
int dp_run_if(struct dp_env *e, int ifindex, const uint8_t *in, size_t len, uint8_t *out,
	      size_t *out_len, uint32_t *retval);

/* Counters summed over CPUs. */
uint64_t dp_stat(struct dp_env *e, unsigned int idx);
void dp_stats_all(struct dp_env *e, uint64_t *v /* [XLB_STAT_MAX] */);
int dp_vip_stats(struct dp_env *e, uint32_t vip_id, struct xlb_vip_stats *s);

/* Session/reverse helpers (host-order addresses and ports). */
void dp_flow_key(struct xlb_flow_key *k, uint32_t saddr, uint32_t daddr, uint16_t sport,
		 uint16_t dport, uint8_t proto);
int dp_session_get(struct dp_env *e, const struct xlb_flow_key *k, struct xlb_session *s);
int dp_reverse_get(struct dp_env *e, const struct xlb_flow_key *k, struct xlb_reverse *rv);
int dp_map_count(int map_fd, size_t key_size);

/* Map fds. */
int dp_fd_sessions(struct dp_env *e);
int dp_fd_port_owner(struct dp_env *e);
int dp_fd_reverse(struct dp_env *e);
int dp_fd_nh_fwd(struct dp_env *e);
int dp_fd_nh_reply(struct dp_env *e);

/* Run a shell command in the test netns (quietly); 0 or -EIO. */
int dp_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* XLB_DP_FIXTURE_H */
