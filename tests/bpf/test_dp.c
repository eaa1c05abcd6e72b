// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF_PROG_TEST_RUN tests of the xdplb data plane (bpf/lb.bpf.c).
 *
 * Each test loads a fresh lb object into a private network namespace (see
 * dp_fixture.h for the topology and the standard VIPs) so that pool ports
 * and counters start from a known state. Single-packet behaviour is a
 * fixture table; session lifecycles are step sequences.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "dp_fixture.h"

#define POOL_N 16

static struct dp_env env;

static int setup(void **state)
{
	int err = dp_env_open(&env, 65536);

	if (err) {
		fprintf(stderr, "failed to load lb: %s\n", strerror(-err));
		return -1;
	}
	if (dp_std_config(&env, POOL_N)) {
		dp_env_close(&env);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	dp_env_close(&env);
	return 0;
}

/* The data plane's own birth version: CLOCK_TAI in 2^20 ns units, odd. */
static int setup_wallclock(void **state)
{
	int r;

	dp_birth_fixed = 0;
	r = setup(state);
	dp_birth_fixed = 1;
	return r;
}

/* ------------------------------------------------------------------ */
/* helpers */

struct sent {
	uint8_t in[DP_PKT_MAX];
	uint8_t out[DP_PKT_MAX];
	size_t in_len;
	size_t out_len;
	uint32_t verdict;
	uint64_t before[XLB_STAT_MAX];
	uint64_t after[XLB_STAT_MAX];
};

static uint32_t send_pkt(const struct dp_pkt_spec *s, struct sent *r)
{
	memset(r, 0, sizeof(*r));
	r->in_len = dp_build(r->in, sizeof(r->in), s);
	assert_true(r->in_len > 0);
	r->out_len = sizeof(r->out);
	dp_stats_all(&env, r->before);
	assert_int_equal(dp_run(&env, r->in, r->in_len, r->out, &r->out_len, &r->verdict), 0);
	dp_stats_all(&env, r->after);
	return r->verdict;
}

/*
 * Counter deltas of the last packet: RX +1, each listed (index, delta)
 * pair as given, every other counter unchanged. List ends with -1.
 * SYNC_WRITES (one per lifecycle write) is left to test_sync_writes,
 * which follows it through every kind of write.
 */
static void expect_stats(const struct sent *r, ...)
{
	int64_t want[XLB_STAT_MAX] = { 0 };
	va_list ap;
	int idx, i;

	want[XLB_STAT_RX] = 1;
	va_start(ap, r);
	while ((idx = va_arg(ap, int)) >= 0)
		want[idx] += va_arg(ap, int);
	va_end(ap);
	for (i = 0; i < XLB_STAT_MAX; i++) {
		int64_t got = (int64_t)(r->after[i] - r->before[i]);

		if (i == XLB_STAT_SYNC_WRITES)
			continue;

		if (got != want[i])
			fail_msg("stat %d: delta %lld, want %lld", i, (long long)got,
				 (long long)want[i]);
	}
}

static void expect_identical(const struct sent *r)
{
	assert_int_equal(r->out_len, r->in_len);
	assert_memory_equal(r->out, r->in, r->in_len);
}

struct out_expect {
	const uint8_t *dmac, *smac;
	uint32_t saddr, daddr; /* host order */
	uint16_t sport, dport;
};

/*
 * Rewritten frame: every header field checked, checksums recomputed from
 * scratch, everything not meant to change (TTL, ID, TOS, flags, options,
 * payload, TCP flags/seq) byte-identical.
 */
static void expect_rewrite(const struct sent *r, const struct out_expect *x)
{
	struct dp_parsed in, out;
	size_t hdr;

	assert_int_equal(dp_parse(r->in, r->in_len, &in), 0);
	assert_int_equal(dp_parse(r->out, r->out_len, &out), 0);
	assert_int_equal(r->out_len, r->in_len);
	assert_memory_equal(out.dmac, x->dmac, 6);
	assert_memory_equal(out.smac, x->smac, 6);
	assert_int_equal(out.eth_proto, 0x0800);
	assert_int_equal(out.saddr, x->saddr);
	assert_int_equal(out.daddr, x->daddr);
	assert_int_equal(out.sport, x->sport);
	assert_int_equal(out.dport, x->dport);
	assert_int_equal(out.ttl, in.ttl);
	assert_int_equal(out.ip_id, in.ip_id);
	assert_int_equal(out.tos, in.tos);
	assert_int_equal(out.frag, in.frag);
	assert_int_equal(out.ihl, in.ihl);
	assert_int_equal(out.tot_len, in.tot_len);
	assert_int_equal(out.proto, in.proto);
	assert_int_equal(out.tcp_flags, in.tcp_flags);
	assert_true(out.ip_csum_ok);
	if (in.proto == IPPROTO_UDP && in.l4_check == 0)
		assert_int_equal(out.l4_check, 0);
	else
		assert_true(out.l4_csum_ok);
	/* IP options */
	assert_memory_equal(r->out + 34, r->in + 34, in.ihl * 4 - 20);
	/* L4 beyond ports and checksum: TCP seq..window, payload */
	hdr = 14 + in.ihl * 4;
	if (in.proto == IPPROTO_TCP) {
		assert_memory_equal(r->out + hdr + 4, r->in + hdr + 4, 12);
		hdr += 20;
	} else {
		assert_memory_equal(r->out + hdr + 4, r->in + hdr + 4, 2);
		hdr += 8;
	}
	assert_memory_equal(r->out + hdr, r->in + hdr, r->in_len - hdr);
}

static struct out_expect fwd_be1(uint16_t snat_port)
{
	struct out_expect x = {
		.dmac = dp_mac_be1,
		.smac = dp_mac_a,
		.saddr = DP_SNAT,
		.daddr = DP_BE1,
		.sport = snat_port,
		.dport = 8080,
	};
	return x;
}

static struct out_expect to_client(uint16_t cport)
{
	struct out_expect x = {
		.dmac = dp_mac_client,
		.smac = dp_mac_a,
		.saddr = dp_vip_addr(DP_VIP_TCP),
		.daddr = DP_CLIENT,
		.sport = 80,
		.dport = cport,
	};
	return x;
}

static void fwd_key(struct xlb_flow_key *k, unsigned int vip, uint16_t sport)
{
	dp_flow_key(k, DP_CLIENT, dp_vip_addr(vip), sport, dp_vip_port(vip), dp_vip_proto(vip));
}

static void rev_key(struct xlb_flow_key *k, uint16_t snat_port)
{
	dp_flow_key(k, DP_BE1, DP_SNAT, 8080, snat_port, IPPROTO_TCP);
}

/* Ports left in the pool, in FIFO order. Empties the pool. */
static int pool_ports(uint32_t *ports)
{
	return dp_drain_pool(&env, ports, POOL_N + 8);
}

/* ------------------------------------------------------------------ */
/* single-packet fixture table */

enum out_kind { OUT_IDENTICAL, OUT_REWRITE, OUT_L2_ONLY };

struct dp_case {
	const char *desc;
	struct dp_pkt_spec pkt;
	uint32_t verdict;
	int stat1, stat2;      /* counters +1 besides RX (-1: none) */
	unsigned int vip_drop; /* vip whose drops go +1, 0: none */
	enum out_kind out;
	struct out_expect x; /* OUT_REWRITE / OUT_L2_ONLY */
	int session;	     /* 1: a session must exist, 0: none */
	int reverse;	     /* 1: a reverse entry must exist */
};

static const uint8_t mac_other[6] = { 0x02, 0, 0, 0, 0, 0x99 };

/* rows leave the trailing members (output, session) zero when unused */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static struct dp_case cases[] = {
	{ "non-VIP TCP passes byte-identical",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_NONVIP,
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 22,
	    .tcp_flags = DP_TCP_SYN },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_VIP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "VIP address, other port passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 54 },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_VIP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "ICMP to a VIP address passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_ICMP,
	    .sport = 0x0800,
	    .payload_len = 8 },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_VIP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "ARP passes",
	  { .eth_proto = 0x0806 },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_IP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "IPv6 passes",
	  { .eth_proto = 0x86dd },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_IP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "non-VIP with truncated TCP header passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_NONVIP,
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 22,
	    .tcp_flags = DP_TCP_SYN,
	    .truncate = 14 + 20 + 10 },
	  XDP_PASS,
	  XLB_STAT_PASS_MALFORMED,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "ports unreadable passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .truncate = 14 + 20 + 2 },
	  XDP_PASS,
	  XLB_STAT_PASS_MALFORMED,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "truncated TCP header to VIP dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .truncate = 14 + 20 + 10 },
	  XDP_DROP,
	  XLB_STAT_DROP_MALFORMED,
	  -1,
	  DP_VIP_TCP,
	  OUT_IDENTICAL },
	{ "truncated UDP header to VIP dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .truncate = 14 + 20 + 6 },
	  XDP_DROP,
	  XLB_STAT_DROP_MALFORMED,
	  -1,
	  DP_VIP_UDP,
	  OUT_IDENTICAL },
	{ "tot_len beyond frame to VIP dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_ACK,
	    .payload_len = 100,
	    .truncate = 14 + 20 + 20 + 50 },
	  XDP_DROP,
	  XLB_STAT_DROP_MALFORMED,
	  -1,
	  DP_VIP_TCP,
	  OUT_IDENTICAL },
	{ "IHL 4 to VIP dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .ihl = 4 },
	  XDP_DROP,
	  XLB_STAT_DROP_MALFORMED,
	  -1,
	  DP_VIP_TCP,
	  OUT_IDENTICAL },
	{ "first fragment to VIP dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 64,
	    .frag = 0x2000 },
	  XDP_DROP,
	  XLB_STAT_DROP_FRAGMENT,
	  -1,
	  DP_VIP_UDP,
	  OUT_IDENTICAL },
	{ "non-first fragment passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 64,
	    .frag = 0x0008 },
	  XDP_PASS,
	  XLB_STAT_PASS_FRAGMENT,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "fragment not for a VIP passes",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_NONVIP,
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 64,
	    .frag = 0x2000 },
	  XDP_PASS,
	  XLB_STAT_PASS_NON_VIP,
	  -1,
	  0,
	  OUT_IDENTICAL },
	{ "FNAT TCP non-SYN without session dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_ACK,
	    .payload_len = 10 },
	  XDP_DROP,
	  XLB_STAT_DROP_NO_SESSION,
	  -1,
	  DP_VIP_TCP,
	  OUT_IDENTICAL },
	{ "empty Maglev table dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 3),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN },
	  XDP_DROP,
	  XLB_STAT_DROP_NO_BACKEND,
	  -1,
	  DP_VIP_EMPTY,
	  OUT_IDENTICAL },
	{ "fib without neighbour dropped",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 5),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN },
	  XDP_DROP,
	  XLB_STAT_DROP_FIB,
	  -1,
	  DP_VIP_NONEIGH,
	  OUT_IDENTICAL },
	{ "FNAT TCP SYN new flow",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .ip_id = 0x1234,
	    .ttl = 61 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 8080 },
	  1,
	  1 },
	{ "FNAT TCP SYN with IP options",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .opt_words = 3,
	    .payload_len = 5 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 8080 },
	  1,
	  1 },
	{ "FNAT TCP SYN odd payload",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_TCP,
	    .sport = 40001,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .payload_len = 33,
	    .ttl = 1 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 8080 },
	  1,
	  1 },
	{ "UDP new flow",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 32 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 5353 },
	  1,
	  1 },
	{ "UDP odd payload",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40003,
	    .dport = 53,
	    .payload_len = 7 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 5353 },
	  1,
	  1 },
	{ "UDP checksum 0 stays 0",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 1),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 9,
	    .udp_csum_zero = true },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be1, dp_mac_a, DP_SNAT, DP_BE1, DP_POOL_FIRST, 5353 },
	  1,
	  1 },
	{ "DSR TCP SYN: only MACs change",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 2),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN,
	    .payload_len = 3 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_L2_ONLY,
	  { dp_mac_be2, dp_mac_a, 0, 0, 0, 0 },
	  1,
	  0 },
	{ "DSR UDP: only MACs change",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 2),
	    .proto = IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 53,
	    .payload_len = 3 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_L2_ONLY,
	  { dp_mac_be2, dp_mac_a, 0, 0, 0, 0 },
	  1,
	  0 },
	{ "DSR TCP ACK without session forwarded statelessly",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 2),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_ACK,
	    .payload_len = 3 },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_FWD_STATELESS,
	  0,
	  OUT_L2_ONLY,
	  { dp_mac_be2, dp_mac_a, 0, 0, 0, 0 },
	  0,
	  0 },
	{ "backend with configured MAC",
	  { .dmac = mac_other,
	    .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 4),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN },
	  XDP_TX,
	  XLB_STAT_FWD_TX,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_cfg, mac_other, DP_SNAT, DP_BE_MAC, DP_POOL_FIRST, 8080 },
	  1,
	  1 },
	{ "backend on another link: redirect",
	  { .saddr = DP_CLIENT,
	    .daddr = DP_IP(198, 18, 100, 6),
	    .proto = IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 80,
	    .tcp_flags = DP_TCP_SYN },
	  XDP_REDIRECT,
	  XLB_STAT_FWD_REDIRECT,
	  XLB_STAT_SESSION_NEW,
	  0,
	  OUT_REWRITE,
	  { dp_mac_be3, dp_mac_b, DP_SNAT, DP_BE3, DP_POOL_FIRST, 80 },
	  1,
	  1 },
};
#pragma GCC diagnostic pop

static unsigned int vip_of(const struct dp_pkt_spec *s)
{
	unsigned int id;

	for (id = 1; id <= DP_VIP_UDP_DSR; id++)
		if (dp_vip_addr(id) == s->daddr && dp_vip_port(id) == s->dport &&
		    dp_vip_proto(id) == s->proto)
			return id;
	return 0;
}

static void run_case(void **state)
{
	const struct dp_case *c = *state;
	struct xlb_vip_stats vs0, vs1;
	struct xlb_flow_key k, rk;
	struct xlb_reverse rv;
	struct xlb_session s;
	unsigned int vip = vip_of(&c->pkt);
	struct sent r;

	if (vip)
		assert_int_equal(dp_vip_stats(&env, vip, &vs0), 0);
	assert_int_equal(send_pkt(&c->pkt, &r), c->verdict);
	expect_stats(&r, c->stat1, 1, c->stat2 < 0 ? XLB_STAT_RX : c->stat2, c->stat2 < 0 ? 0 : 1,
		     -1);

	switch (c->out) {
	case OUT_IDENTICAL:
		expect_identical(&r);
		break;
	case OUT_REWRITE:
		expect_rewrite(&r, &c->x);
		break;
	case OUT_L2_ONLY:
		assert_int_equal(r.out_len, r.in_len);
		assert_memory_equal(r.out, c->x.dmac, 6);
		assert_memory_equal(r.out + 6, c->x.smac, 6);
		assert_memory_equal(r.out + 12, r.in + 12, r.in_len - 12);
		break;
	}

	if (vip) {
		assert_int_equal(dp_vip_stats(&env, vip, &vs1), 0);
		assert_int_equal(vs1.drops - vs0.drops, c->vip_drop ? 1 : 0);
		if (c->verdict == XDP_TX || c->verdict == XDP_REDIRECT) {
			assert_int_equal(vs1.packets - vs0.packets, 1);
			assert_int_equal(vs1.bytes - vs0.bytes, r.in_len);
			assert_int_equal(vs1.new_sessions - vs0.new_sessions, c->session ? 1 : 0);
		} else {
			assert_int_equal(vs1.packets, vs0.packets);
		}
	}

	dp_flow_key(&k, c->pkt.saddr, c->pkt.daddr, c->pkt.sport, c->pkt.dport, c->pkt.proto);
	assert_int_equal(dp_session_get(&env, &k, &s) == 0, c->session == 1);
	if (c->session == 1) {
		assert_int_equal(s.owner, DP_NODE_ID);
		assert_int_equal(s.version, 1);
		assert_int_equal(s.state, c->pkt.proto == IPPROTO_TCP ? XLB_SS_SYN : XLB_SS_UDP);
		assert_true(s.last_seen_ns > 0);
		if (c->reverse) {
			assert_int_equal(s.flags, XLB_SF_FNAT);
			assert_int_equal(ntohl(s.backend.w[0]), c->x.daddr);
			assert_int_equal(ntohs(s.backend_port), c->x.dport);
			assert_int_equal(ntohl(s.snat.w[0]), DP_SNAT);
			assert_int_equal(ntohs(s.snat_port), c->x.sport);
			dp_flow_key(&rk, c->x.daddr, DP_SNAT, c->x.dport, c->x.sport, c->pkt.proto);
			assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
			assert_memory_equal(&rv.fwd, &k, sizeof(k));
			assert_int_equal(rv.owner, DP_NODE_ID);
			assert_int_equal(rv.version, 1);
			assert_int_equal(rv.pad, 0);
		} else {
			assert_int_equal(s.flags, 0);
			assert_int_equal(s.snat_port, 0);
			assert_int_equal(s.snat.w[0], 0);
		}
	}
	assert_int_equal(dp_map_count(dp_fd_reverse(&env), sizeof(k)), c->reverse ? 1 : 0);
	/* a drop or a pass never consumes a pool port */
	if (!c->reverse) {
		uint32_t ports[POOL_N + 8];

		assert_int_equal(pool_ports(ports), POOL_N);
	}
}

/* ------------------------------------------------------------------ */
/* lifecycles */

static uint16_t open_flow(uint16_t cport)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, cport, DP_TCP_SYN);
	struct xlb_flow_key k;
	struct xlb_session s;
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	fwd_key(&k, DP_VIP_TCP, cport);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	return ntohs(s.snat_port);
}

static uint32_t tai_version(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_TAI, &ts);
	return (uint32_t)((((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) >> 20) | 1);
}

/*
 * A new session and its reverse entry start at the wall-clock birth
 * version, so a key reused after its session was deleted starts above the
 * old incarnation (and its peers' tombstone); later writes add 1.
 */
static void test_birth_version(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse rv;
	uint32_t before, after, first;
	struct sent r;

	before = tai_version();
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	after = tai_version();
	fwd_key(&k, DP_VIP_TCP, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.version & 1);
	assert_in_range(s.version, before, after);
	rev_key(&rk, ntohs(s.snat_port));
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
	assert_int_equal(rv.version, s.version);
	first = s.version;

	p.tcp_flags = DP_TCP_ACK;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.version, first + 1);

	/* the key comes back after a delete (lbd's ageing), a little later:
	 * the new incarnation starts above everything the old one reached */
	assert_int_equal(bpf_map_delete_elem(dp_fd_sessions(&env), &k), 0);
	assert_int_equal(bpf_map_delete_elem(dp_fd_reverse(&env), &rk), 0);
	usleep(5000);
	p.tcp_flags = DP_TCP_SYN;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.version > first + 1);
}

static void test_established(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct out_expect x = fwd_be1(DP_POOL_FIRST);
	struct xlb_flow_key k;
	struct xlb_session s1, s2;
	struct sent r;

	fwd_key(&k, DP_VIP_TCP, 40000);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s1), 0);

	p.tcp_flags = DP_TCP_ACK;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	expect_rewrite(&r, &x);
	assert_int_equal(dp_session_get(&env, &k, &s2), 0);
	assert_int_equal(s2.state, XLB_SS_ESTABLISHED);
	assert_int_equal(s2.version, 2);

	/* data: per-packet last_seen only, no lifecycle write; last_seen
	 * moves once it is XLB_LAST_SEEN_GRAN_NS old and the data plane's
	 * per-jiffy clock ticked (HZ >= 100) */
	usleep(20000);
	p.tcp_flags = DP_TCP_ACK | DP_TCP_PSH;
	p.payload_len = 101;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	expect_rewrite(&r, &x);
	assert_int_equal(dp_session_get(&env, &k, &s1), 0);
	assert_int_equal(s1.version, 2);
	assert_int_equal(s1.state, XLB_SS_ESTABLISHED);
	assert_true(s1.last_seen_ns > s2.last_seen_ns);
	assert_int_equal(dp_map_count(dp_fd_sessions(&env), sizeof(k)), 1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define TICK_NS 10000000ull /* one jiffy at HZ >= 100 */
#define OLD_NS	100000000ull

/* last_seen_ns is not rewritten within XLB_LAST_SEEN_GRAN_NS. */
static void test_last_seen_granularity(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_ACK);
	struct xlb_flow_key k;
	struct xlb_session s;
	uint64_t t0, t1;
	struct sent r;

	fwd_key(&k, DP_VIP_TCP, 40000);
	open_flow(40000);
	assert_int_equal(send_pkt(&p, &r), XDP_TX); /* establish */
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	/* a user-space write: only to plant a known fresh timestamp */
	t0 = mono_ns();
	s.last_seen_ns = t0;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	t1 = mono_ns();
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	if (t1 - t0 < XLB_LAST_SEEN_GRAN_NS)
		assert_int_equal(s.last_seen_ns, t0);
	/* an old timestamp is refreshed (the data plane's time is at most
	 * one tick, <= 10 ms, behind CLOCK_MONOTONIC) */
	s.last_seen_ns = t0 - OLD_NS;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.last_seen_ns > t0 - TICK_NS && s.last_seen_ns <= mono_ns());
	/* and so is the reply direction */
	s.last_seen_ns = t0 - OLD_NS;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	p = dp_reply_to(DP_POOL_FIRST, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.last_seen_ns > t0 - TICK_NS);
	/* a newer stamp (another CPU's) is never moved back ... */
	s.last_seen_ns = mono_ns() + TICK_NS;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	t0 = s.last_seen_ns;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.last_seen_ns, t0);
	/* ... unless it is absurdly far in the future */
	s.last_seen_ns = mono_ns() + 3600ull * 1000000000ull;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.last_seen_ns <= mono_ns());
}

/* ------------------------------------------------------------------ */
/* next-hop cache */

static const uint8_t mac_poison[6] = { 0x02, 0xee, 0xee, 0xee, 0xee, 0xee };
static const uint8_t mac_new_be1[6] = { 0x02, 0x00, 0x00, 0x00, 0x0b, 0x11 };
static const uint8_t mac_new_client[6] = { 0x02, 0x00, 0x00, 0x00, 0x0c, 0x11 };

/* All CPUs' values of one cache entry; returns the one with the latest
 * deadline in *e (the last refreshed), or -ENOENT if all are empty. */
static int nh_get(int fd, const void *key, struct xlb_nh_entry *e)
{
	struct xlb_nh_entry pc[512];
	int c;

	memset(e, 0, sizeof(*e));
	if (env.ncpus > 512 || bpf_map_lookup_elem(fd, key, pc))
		return -ENOENT;
	for (c = 0; c < env.ncpus; c++)
		if (pc[c].expires_ns > e->expires_ns)
			*e = pc[c];
	return e->expires_ns ? 0 : -ENOENT;
}

/* Write @e (NULL: zeros) to every CPU's value of a cache entry. */
static void nh_set(int fd, const void *key, const struct xlb_nh_entry *e)
{
	struct xlb_nh_entry pc[512];
	int c;

	assert_true(env.ncpus <= 512);
	for (c = 0; c < env.ncpus; c++) {
		if (e)
			pc[c] = *e;
		else
			memset(&pc[c], 0, sizeof(pc[c]));
	}
	assert_int_equal(bpf_map_update_elem(fd, key, pc, BPF_ANY), 0);
}

static void nh_reply_key(struct xlb_nh_key *k, uint32_t client)
{
	memset(k, 0, sizeof(*k));
	k->in_ifindex = (uint32_t)env.ifindex_a;
	k->saddr = htonl(dp_vip_addr(DP_VIP_TCP));
	k->daddr = htonl(client);
}

static void expect_entry(const struct xlb_nh_entry *e, int in_if, uint32_t saddr, uint32_t daddr,
			 int out_if, const uint8_t *smac, const uint8_t *dmac)
{
	uint64_t now = mono_ns();

	assert_int_equal(e->in_ifindex, in_if);
	assert_int_equal(ntohl(e->saddr), saddr);
	assert_int_equal(ntohl(e->daddr), daddr);
	assert_int_equal(e->ifindex, out_if);
	assert_int_equal(e->mtu, 1500);
	assert_memory_equal(e->smac, smac, 6);
	assert_memory_equal(e->dmac, dmac, 6);
	assert_true(e->expires_ns > now && e->expires_ns <= now + XLB_NH_CACHE_TTL_NS);
}

/*
 * A hit gives exactly the output of the FIB path: the same packet sent
 * with a cold and a warm cache is rewritten byte-identically; the cache
 * is really used (a planted entry wins) and an expired entry is refreshed
 * from the FIB. Both directions.
 */
static void test_nh_cache_hit(void **state)
{
	struct dp_pkt_spec c = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_ACK);
	struct dp_pkt_spec b = dp_reply_to(DP_POOL_FIRST, DP_TCP_ACK);
	struct out_expect fx = fwd_be1(DP_POOL_FIRST), rx = to_client(40000);
	int fwd = dp_fd_nh_fwd(&env), rep = dp_fd_nh_reply(&env);
	struct xlb_nh_entry e, planted;
	struct xlb_nh_key rk;
	uint8_t cold[DP_PKT_MAX];
	uint32_t be = 1;
	struct sent r;

	/* the SYN missed and filled the forward entry */
	open_flow(40000);
	assert_int_equal(nh_get(fwd, &be, &e), 0);
	expect_entry(&e, env.ifindex_a, DP_SNAT, DP_BE1, env.ifindex_a, dp_mac_a, dp_mac_be1);

	/* cold */
	nh_set(fwd, &be, NULL);
	c.payload_len = 77;
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	expect_rewrite(&r, &fx);
	memcpy(cold, r.out, r.out_len);
	assert_int_equal(nh_get(fwd, &be, &e), 0);
	expect_entry(&e, env.ifindex_a, DP_SNAT, DP_BE1, env.ifindex_a, dp_mac_a, dp_mac_be1);
	/* warm: identical output */
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	assert_memory_equal(r.out, cold, r.out_len);

	/* a planted entry is used as is ... */
	planted = e;
	memcpy(planted.dmac, mac_poison, 6);
	planted.expires_ns = mono_ns() + 10ull * XLB_NH_CACHE_TTL_NS;
	nh_set(fwd, &be, &planted);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	assert_memory_equal(r.out, mac_poison, 6);
	assert_memory_equal(r.out + 6, cold + 6, r.out_len - 6);
	/* ... but not once expired, nor for another source/destination tag */
	planted.expires_ns = 1;
	nh_set(fwd, &be, &planted);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	assert_memory_equal(r.out, cold, r.out_len);
	assert_int_equal(nh_get(fwd, &be, &e), 0);
	expect_entry(&e, env.ifindex_a, DP_SNAT, DP_BE1, env.ifindex_a, dp_mac_a, dp_mac_be1);
	planted.expires_ns = mono_ns() + 10ull * XLB_NH_CACHE_TTL_NS;
	planted.daddr = htonl(DP_BE2);
	nh_set(fwd, &be, &planted);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	assert_memory_equal(r.out, cold, r.out_len);
	planted.daddr = htonl(DP_BE1);
	planted.saddr = htonl(DP_LB_A);
	nh_set(fwd, &be, &planted);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	assert_memory_equal(r.out, cold, r.out_len);

	/* reply direction: nh_reply keyed by (ingress, VIP, client) */
	nh_reply_key(&rk, DP_CLIENT);
	assert_int_equal(send_pkt(&b, &r), XDP_TX); /* miss */
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	expect_rewrite(&r, &rx);
	memcpy(cold, r.out, r.out_len);
	assert_int_equal(nh_get(rep, &rk, &e), 0);
	expect_entry(&e, env.ifindex_a, dp_vip_addr(DP_VIP_TCP), DP_CLIENT, env.ifindex_a, dp_mac_a,
		     dp_mac_client);
	assert_int_equal(send_pkt(&b, &r), XDP_TX); /* hit */
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	assert_memory_equal(r.out, cold, r.out_len);
	planted = e;
	memcpy(planted.dmac, mac_poison, 6);
	nh_set(rep, &rk, &planted);
	assert_int_equal(send_pkt(&b, &r), XDP_TX);
	assert_memory_equal(r.out, mac_poison, 6);
	planted.expires_ns = 1;
	nh_set(rep, &rk, &planted);
	assert_int_equal(send_pkt(&b, &r), XDP_TX);
	assert_memory_equal(r.out, cold, r.out_len);
	assert_int_equal(bpf_map_delete_elem(rep, &rk), 0);
	assert_int_equal(send_pkt(&b, &r), XDP_TX);
	assert_memory_equal(r.out, cold, r.out_len);
	assert_int_equal(nh_get(rep, &rk, &e), 0);
}

/* The cache is per ingress interface: a packet from link B for a backend
 * on link A is redirected, whatever link A's traffic cached. */
static void test_nh_cache_ingress(void **state)
{
	struct dp_pkt_spec c = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_ACK);
	struct out_expect fx = fwd_be1(DP_POOL_FIRST);
	struct xlb_nh_entry e;
	uint32_t be = 1, verdict;
	uint8_t in[DP_PKT_MAX], out[DP_PKT_MAX];
	size_t len, out_len = sizeof(out);
	struct sent r;

	open_flow(40000);
	assert_int_equal(send_pkt(&c, &r), XDP_TX); /* cached for A */
	len = dp_build(in, sizeof(in), &c);
	assert_int_equal(dp_run_if(&env, env.ifindex_b, in, len, out, &out_len, &verdict), 0);
	assert_int_equal(verdict, XDP_REDIRECT);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, r.out, len); /* same rewrite, egress A */
	assert_int_equal(nh_get(dp_fd_nh_fwd(&env), &be, &e), 0);
	assert_int_equal(e.in_ifindex, env.ifindex_b);
	assert_int_equal(e.ifindex, env.ifindex_a);
	assert_int_equal(send_pkt(&c, &r), XDP_TX); /* A again */
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	expect_rewrite(&r, &fx);
}

/* A packet over the egress MTU is dropped on a hit as by the FIB. */
static void test_nh_cache_mtu(void **state)
{
	struct dp_pkt_spec c = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_ACK);
	struct xlb_nh_entry e;
	uint32_t be = 1;
	struct sent r;

	open_flow(40000);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	c.payload_len = 1500 - 40 + 1;
	assert_int_equal(send_pkt(&c, &r), XDP_DROP); /* hit */
	expect_stats(&r, XLB_STAT_DROP_MTU, 1, -1);
	expect_identical(&r);
	nh_set(dp_fd_nh_fwd(&env), &be, NULL);
	assert_int_equal(send_pkt(&c, &r), XDP_DROP); /* miss: FIB */
	expect_stats(&r, XLB_STAT_DROP_MTU, 1, -1);
	expect_identical(&r);
	assert_int_equal(nh_get(dp_fd_nh_fwd(&env), &be, &e), -ENOENT);
	c.payload_len = 1500 - 40;
	assert_int_equal(send_pkt(&c, &r), XDP_TX); /* miss, fits */
	assert_int_equal(send_pkt(&c, &r), XDP_TX); /* hit, fits */
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
}

static int neigh_restore(void **state)
{
	dp_sh("ip neigh replace 198.18.0.20 lladdr 02:00:00:00:0b:01 "
	      "nud permanent dev " DP_IF_A);
	dp_sh("ip neigh replace 198.18.0.10 lladdr 02:00:00:00:0c:01 "
	      "nud permanent dev " DP_IF_A);
	dp_sh("ip neigh del 198.18.0.30 dev " DP_IF_A);
	return teardown(state);
}

static void sleep_ttl(void)
{
	usleep(XLB_NH_CACHE_TTL_NS / 1000 + 100000);
}

/* A neighbour change is picked up once the entry expired (both ways). */
static void test_nh_cache_neigh_change(void **state)
{
	struct dp_pkt_spec c = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_ACK);
	struct dp_pkt_spec b = dp_reply_to(DP_POOL_FIRST, DP_TCP_ACK);
	struct out_expect fx = fwd_be1(DP_POOL_FIRST), rx = to_client(40000);
	uint64_t t0;
	struct sent r;

	open_flow(40000);
	t0 = mono_ns();
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	expect_rewrite(&r, &fx);
	assert_int_equal(send_pkt(&b, &r), XDP_TX);
	expect_rewrite(&r, &rx);

	assert_int_equal(dp_sh("ip neigh replace 198.18.0.20 lladdr "
			       "02:00:00:00:0b:11 nud permanent dev " DP_IF_A),
			 0);
	assert_int_equal(dp_sh("ip neigh replace 198.18.0.10 lladdr "
			       "02:00:00:00:0c:11 nud permanent dev " DP_IF_A),
			 0);
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	if (mono_ns() - t0 < XLB_NH_CACHE_TTL_NS - 2 * TICK_NS) /* cached */
		assert_memory_equal(r.out, dp_mac_be1, 6);
	sleep_ttl();
	fx.dmac = mac_new_be1;
	rx.dmac = mac_new_client;
	assert_int_equal(send_pkt(&c, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	expect_rewrite(&r, &fx);
	assert_int_equal(send_pkt(&b, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	expect_rewrite(&r, &rx);
}

/*
 * No neighbour: dropped and counted on every packet, nothing cached; a
 * neighbour that appears is used at once; one that vanishes stops the
 * flow (DROP_FIB) once the entry expired.
 */
static void test_nh_cache_noneigh(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_NONEIGH, 40000, DP_TCP_SYN);
	static const uint8_t mac_be5[6] = { 0x02, 0, 0, 0, 0x0b, 0x05 };
	struct out_expect x = {
		.dmac = mac_be5,
		.smac = dp_mac_a,
		.saddr = DP_SNAT,
		.daddr = DP_BE_NONEIGH,
		.sport = DP_POOL_FIRST,
		.dport = 80,
	};
	struct xlb_vip_stats vs;
	struct xlb_session s0, s1;
	struct xlb_flow_key k;
	struct xlb_nh_entry e;
	uint32_t be = 5;
	struct sent r;
	int i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(send_pkt(&p, &r), XDP_DROP);
		expect_stats(&r, XLB_STAT_DROP_FIB, 1, -1);
		expect_identical(&r);
		assert_int_equal(nh_get(dp_fd_nh_fwd(&env), &be, &e), -ENOENT);
	}
	assert_int_equal(dp_vip_stats(&env, DP_VIP_NONEIGH, &vs), 0);
	assert_int_equal(vs.drops, 2);

	assert_int_equal(dp_sh("ip neigh replace 198.18.0.30 lladdr "
			       "02:00:00:00:0b:05 nud permanent dev " DP_IF_A),
			 0);
	/* the two drops queued their port behind the others */
	x.sport = DP_POOL_FIRST + 2;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_SESSION_NEW, 1, -1);
	expect_rewrite(&r, &x);
	p.tcp_flags = DP_TCP_ACK;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_rewrite(&r, &x);

	assert_int_equal(dp_sh("ip neigh del 198.18.0.30 dev " DP_IF_A), 0);
	fwd_key(&k, DP_VIP_NONEIGH, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s0), 0);
	sleep_ttl();
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_FIB, 1, -1);
	expect_identical(&r);
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_FIB, 1, -1);
	assert_int_equal(dp_vip_stats(&env, DP_VIP_NONEIGH, &vs), 0);
	assert_int_equal(vs.drops, 4);
	/* dropped packets do not refresh the session: a flow to a backend
	 * that cannot be reached ages (on the landed tree they did, a
	 * second after the last forwarded one) */
	assert_int_equal(dp_session_get(&env, &k, &s1), 0);
	assert_true(s1.last_seen_ns == s0.last_seen_ns);
}

static void test_syn_retransmit(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct out_expect x = fwd_be1(DP_POOL_FIRST);
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t ports[POOL_N + 8];
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_SESSION_REUSE, 1, -1);
	expect_rewrite(&r, &x);
	fwd_key(&k, DP_VIP_TCP, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.version, 1);
	assert_int_equal(ntohs(s.snat_port), DP_POOL_FIRST);
	/* exactly one port consumed */
	assert_int_equal(pool_ports(ports), POOL_N - 1);
	assert_int_equal(ports[0], DP_POOL_FIRST + 1);
}

static void test_reply(void **state)
{
	struct dp_pkt_spec p;
	struct out_expect x = to_client(40000);
	struct xlb_vip_stats vs;
	struct sent r;

	assert_int_equal(open_flow(40000), DP_POOL_FIRST);
	p = dp_reply_to(DP_POOL_FIRST, DP_TCP_SYN | DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	expect_rewrite(&r, &x);
	assert_int_equal(dp_vip_stats(&env, DP_VIP_TCP, &vs), 0);
	assert_int_equal(vs.reply_packets, 1);
	assert_int_equal(vs.reply_bytes, r.in_len);
	assert_int_equal(vs.packets, 1);

	/* a reply for an unknown SNAT port is not ours */
	p = dp_reply_to(DP_POOL_FIRST + 5, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_PASS);
	expect_stats(&r, XLB_STAT_PASS_NON_VIP, 1, -1);
	expect_identical(&r);
}

static void expect_port_back(uint16_t port)
{
	uint32_t ports[POOL_N + 8];
	int n = pool_ports(ports);

	/* FIFO: the returned port is queued behind the never-used ones */
	assert_int_equal(n, POOL_N);
	assert_int_equal(ports[n - 1], port);
}

/*
 * The session of client port @cport on the TCP VIP: in @state with @flags
 * at @version, and (full-NAT) its reverse entry still maps back to it.
 */
static void expect_session(uint16_t cport, uint8_t state, uint8_t flags, uint32_t version)
{
	struct xlb_flow_key k, rk;
	struct xlb_reverse rv;
	struct xlb_session s;

	fwd_key(&k, DP_VIP_TCP, cport);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.state, state);
	assert_int_equal(s.flags, flags);
	assert_int_equal(s.version, version);
	assert_int_equal(ntohs(s.snat_port), DP_POOL_FIRST);
	rev_key(&rk, DP_POOL_FIRST);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
	assert_memory_equal(&rv.fwd, &k, sizeof(k));
	/* the reverse entry is written once, at create */
	assert_int_equal(rv.owner, DP_NODE_ID);
	assert_int_equal(rv.version, 1);
}

/*
 * Ends a test (empties the pool): the session's SNAT port was never given
 * back by the data plane, and no other port was taken.
 */
static void expect_port_held(uint16_t port)
{
	uint32_t ports[POOL_N + 8];
	int n = pool_ports(ports), i;

	assert_int_equal(n, POOL_N - 1);
	for (i = 0; i < n; i++)
		assert_int_not_equal(ports[i], port);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_DELETE), 0);
}

/* One packet of a lifecycle: who sends it, what the session is after. */
enum { CLI, SRV };

/* step tables leave "reuse" zero when SESSION_REUSE is not counted */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct step {
	int from; /* CLI: client -> VIP, SRV: backend -> SNAT */
	uint8_t tcp_flags;
	uint16_t payload_len;
	uint8_t state; /* session after the packet */
	uint8_t flags;
	uint32_t version;
	uint8_t reuse; /* 1: SESSION_REUSE counted too */
};

/*
 * Run @steps on the established flow of client port 40000 (SNAT port
 * DP_POOL_FIRST): every packet is forwarded with the full rewrite of its
 * direction and nothing but FWD_TX (+ REPLY, + REUSE) counted (no drop,
 * no delete),
 * the session is as the step says and its reverse entry is still there.
 */
static void run_steps(const struct step *st, size_t n)
{
	struct out_expect fx = fwd_be1(DP_POOL_FIRST), rx = to_client(40000);
	struct dp_pkt_spec p;
	struct sent r;
	size_t i;

	for (i = 0; i < n; i++) {
		if (st[i].from == CLI)
			p = dp_tcp_to(DP_VIP_TCP, 40000, st[i].tcp_flags);
		else
			p = dp_reply_to(DP_POOL_FIRST, st[i].tcp_flags);
		p.payload_len = st[i].payload_len;
		p.seq = (uint32_t)i;
		if (send_pkt(&p, &r) != XDP_TX)
			fail_msg("step %zu: verdict %u", i, r.verdict);
		if (st[i].from == CLI) {
			expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_SESSION_REUSE, st[i].reuse,
				     -1);
			expect_rewrite(&r, &fx);
		} else {
			expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
			expect_rewrite(&r, &rx);
		}
		expect_session(40000, st[i].state, st[i].flags, st[i].version);
	}
}

#define F_ACK  DP_TCP_ACK
#define F_FIN  (DP_TCP_FIN | DP_TCP_ACK)
#define F_RST  DP_TCP_RST
#define F_RSTA (DP_TCP_RST | DP_TCP_ACK)
#define F_DATA (DP_TCP_PSH | DP_TCP_ACK)
#define SF     XLB_SF_FNAT
#define SF_C   (XLB_SF_FNAT | XLB_SF_CLI_FIN)
#define SF_S   (XLB_SF_FNAT | XLB_SF_SRV_FIN)
#define SF_CS  (XLB_SF_FNAT | XLB_SF_CLI_FIN | XLB_SF_SRV_FIN)
#define ESTAB  XLB_SS_ESTABLISHED
#define CLSING XLB_SS_CLOSING
#define CLSD   XLB_SS_CLOSED

/* Open the flow of client port 40000 and establish it (version 2). */
static void open_established(void)
{
	static const struct step est[] = {
		{ SRV, DP_TCP_SYN | DP_TCP_ACK, 0, XLB_SS_SYN, SF, 1 },
		{ CLI, F_ACK, 0, ESTAB, SF, 2 },
	};

	assert_int_equal(open_flow(40000), DP_POOL_FIRST);
	run_steps(est, sizeof(est) / sizeof(est[0]));
}

/* Client closes first, then the backend; the last ACK and everything
 * after it are still forwarded. */
static void test_fin_close(void **state)
{
	static const struct step st[] = {
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 },
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 }, /* retransmit: no write */
		{ SRV, F_ACK, 0, CLSING, SF_C, 3 },
		{ SRV, F_FIN, 0, CLSD, SF_CS, 4 },
		{ CLI, F_ACK, 0, CLSD, SF_CS, 4 }, /* last ACK */
		{ SRV, F_FIN, 0, CLSD, SF_CS, 4 }, /* its ACK was lost */
		{ CLI, F_ACK, 0, CLSD, SF_CS, 4 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);
}

static void test_fin_close_server_first(void **state)
{
	static const struct step st[] = {
		{ SRV, F_FIN, 11, CLSING, SF_S, 3 },
		{ CLI, F_ACK, 0, CLSING, SF_S, 3 },
		{ SRV, F_FIN, 11, CLSING, SF_S, 3 }, /* retransmit */
		{ CLI, F_FIN, 0, CLSD, SF_CS, 4 },
		{ SRV, F_ACK, 0, CLSD, SF_CS, 4 }, /* last ACK */
		{ CLI, F_FIN, 0, CLSD, SF_CS, 4 }, /* retransmit */
		{ SRV, F_ACK, 0, CLSD, SF_CS, 4 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);
}

/*
 * Simultaneous close (both ends send FIN before seeing the other's, as
 * with "Connection: close"): the final ACKs of both sides and the FIN
 * retransmits after them all reach the other end.
 */
static void test_fin_close_simultaneous(void **state)
{
	static const struct step st[] = {
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 }, { SRV, F_FIN, 0, CLSD, SF_CS, 4 }, /* crossed */
		{ CLI, F_ACK, 0, CLSD, SF_CS, 4 }, /* ACK of backend FIN */
		{ SRV, F_ACK, 0, CLSD, SF_CS, 4 }, /* ACK of client FIN */
		{ CLI, F_FIN, 0, CLSD, SF_CS, 4 }, /* retransmits */
		{ SRV, F_FIN, 0, CLSD, SF_CS, 4 },  { CLI, F_FIN, 0, CLSD, SF_CS, 4 },
		{ SRV, F_ACK, 0, CLSD, SF_CS, 4 },  { CLI, F_ACK, 0, CLSD, SF_CS, 4 },
	};
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, F_ACK);
	struct xlb_flow_key k;
	struct xlb_session s;
	uint64_t t0;
	struct sent r;

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));

	/* a closed session still has its last_seen refreshed in place
	 * (both directions), with no lifecycle write */
	fwd_key(&k, DP_VIP_TCP, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	t0 = mono_ns();
	s.last_seen_ns = t0 - OLD_NS;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.last_seen_ns > t0 - TICK_NS);
	assert_int_equal(s.version, 4);
	s.last_seen_ns = t0 - OLD_NS;
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_EXIST), 0);
	p = dp_reply_to(DP_POOL_FIRST, F_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_true(s.last_seen_ns > t0 - TICK_NS);
	assert_int_equal(s.version, 4);
	expect_port_held(DP_POOL_FIRST);
}

/* Half-closed: data keeps flowing the other way (and ACKs this way). */
static void test_half_close(void **state)
{
	static const struct step st[] = {
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 },	{ SRV, F_DATA, 1400, CLSING, SF_C, 3 },
		{ CLI, F_ACK, 0, CLSING, SF_C, 3 },	{ SRV, F_DATA, 7, CLSING, SF_C, 3 },
		{ SRV, F_DATA, 1000, CLSING, SF_C, 3 }, { CLI, F_ACK, 0, CLSING, SF_C, 3 },
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 }, /* retransmit */
		{ SRV, F_FIN, 5, CLSD, SF_CS, 4 },	{ CLI, F_ACK, 0, CLSD, SF_CS, 4 },
	};
	static const struct step rev[] = {
		/* backend closes first */
		{ SRV, F_FIN, 0, CLSING, SF_S, 3 }, { CLI, F_DATA, 1400, CLSING, SF_S, 3 },
		{ SRV, F_ACK, 0, CLSING, SF_S, 3 }, { CLI, F_DATA, 33, CLSING, SF_S, 3 },
		{ SRV, F_ACK, 0, CLSING, SF_S, 3 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);

	teardown(state);
	assert_int_equal(setup(state), 0);
	open_established();
	run_steps(rev, sizeof(rev) / sizeof(rev[0]));
	expect_port_held(DP_POOL_FIRST);
}

static void test_rst_client(void **state)
{
	static const struct step st[] = {
		{ CLI, F_RST, 0, CLSD, SF, 3 },	  { CLI, F_RST, 0, CLSD, SF, 3 }, /* once */
		{ SRV, F_DATA, 20, CLSD, SF, 3 }, /* late segments */
		{ SRV, F_RSTA, 0, CLSD, SF, 3 },  { CLI, F_ACK, 0, CLSD, SF, 3 },
		{ CLI, F_FIN, 0, CLSD, SF, 3 }, /* no FIN after RST */
		{ SRV, F_FIN, 0, CLSD, SF, 3 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);
}

static void test_rst_server(void **state)
{
	static const struct step st[] = {
		{ SRV, F_RSTA, 0, CLSD, SF, 3 },
		{ SRV, F_ACK, 11, CLSD, SF, 3 }, /* late, not to the stack */
		{ CLI, F_DATA, 50, CLSD, SF, 3 },
		{ SRV, F_RST, 0, CLSD, SF, 3 },
	};
	static const struct step closing[] = {
		/* RST while half-closed */
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 },
		{ SRV, F_RSTA, 0, CLSD, SF_C, 4 },
		{ CLI, F_ACK, 0, CLSD, SF_C, 4 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);

	teardown(state);
	assert_int_equal(setup(state), 0);
	open_established();
	run_steps(closing, sizeof(closing) / sizeof(closing[0]));
	expect_port_held(DP_POOL_FIRST);
}

/* A RST before the handshake completed closes the session too. */
static void test_rst_syn(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct out_expect rx = to_client(40000);
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	p = dp_reply_to(DP_POOL_FIRST, F_RSTA); /* port closed on the backend */
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	expect_rewrite(&r, &rx);
	expect_session(40000, CLSD, SF, 2);
	expect_port_held(DP_POOL_FIRST);
}

/*
 * A client SYN (no ACK) on a closed session reopens it: same backend and
 * SNAT port, FIN flags cleared, version + 1, SESSION_REUSE; the new
 * connection then goes through its own lifecycle.
 */
static void test_syn_reopens_closed(void **state)
{
	static const struct step close[] = {
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 },
		{ SRV, F_FIN, 0, CLSD, SF_CS, 4 },
		{ CLI, F_ACK, 0, CLSD, SF_CS, 4 },
	};
	static const struct step again[] = {
		{ CLI, DP_TCP_SYN, 0, XLB_SS_SYN, SF, 5, 1 }, /* reopen */
		{ CLI, DP_TCP_SYN, 0, XLB_SS_SYN, SF, 5, 1 }, /* retransmit */
		{ SRV, DP_TCP_SYN | DP_TCP_ACK, 0, XLB_SS_SYN, SF, 5 },
		{ CLI, F_ACK, 0, ESTAB, SF, 6 },
		{ CLI, F_DATA, 100, ESTAB, SF, 6 },
		{ SRV, F_FIN, 0, CLSING, SF_S, 7 }, /* not CLOSED: flags
							 * were cleared */
		{ CLI, F_RST, 0, CLSD, SF_S, 8 },
		/* closed by a RST: reopened the same way */
		{ CLI, DP_TCP_SYN, 0, XLB_SS_SYN, SF, 9, 1 },
		{ CLI, F_ACK, 0, ESTAB, SF, 10 },
	};

	open_established();
	run_steps(close, sizeof(close) / sizeof(close[0]));
	run_steps(again, sizeof(again) / sizeof(again[0]));
	assert_int_equal(dp_map_count(dp_fd_sessions(&env), sizeof(struct xlb_flow_key)), 1);
	assert_int_equal(dp_map_count(dp_fd_reverse(&env), sizeof(struct xlb_flow_key)), 1);
	expect_port_held(DP_POOL_FIRST);
}

/* A client SYN on a half-closed session reopens it as well; on an
 * established one it is counted and changes nothing; a backend SYN|ACK
 * never reopens anything. */
static void test_syn_reuse(void **state)
{
	static const struct step st[] = {
		{ CLI, DP_TCP_SYN, 0, ESTAB, SF, 2, 1 },
		{ CLI, F_FIN, 0, CLSING, SF_C, 3 },
		{ CLI, DP_TCP_SYN, 0, XLB_SS_SYN, SF, 4, 1 },
		{ SRV, F_FIN, 0, CLSING, SF_S, 5 },
		{ SRV, DP_TCP_SYN | DP_TCP_ACK, 0, CLSING, SF_S, 5 },
		{ CLI, F_FIN, 0, CLSD, SF_CS, 6 },
		{ SRV, DP_TCP_SYN | DP_TCP_ACK, 0, CLSD, SF_CS, 6 },
		{ CLI, DP_TCP_SYN | DP_TCP_ACK, 0, CLSD, SF_CS, 6 },
	};

	open_established();
	run_steps(st, sizeof(st) / sizeof(st[0]));
	expect_port_held(DP_POOL_FIRST);
}
#pragma GCC diagnostic pop

static void test_pool_exhausted(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_SYN);
	struct xlb_vip_stats vs;
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t ports[POOL_N + 8];
	struct sent r;

	assert_int_equal(pool_ports(ports), POOL_N); /* empty it */
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_PORTS_EXHAUSTED, 1, -1);
	expect_identical(&r);
	fwd_key(&k, DP_VIP_TCP, 41000);
	assert_int_equal(dp_session_get(&env, &k, &s), -ENOENT);
	assert_int_equal(dp_vip_stats(&env, DP_VIP_TCP, &vs), 0);
	assert_int_equal(vs.drops, 1);
	assert_int_equal(vs.packets, 0);

	/* UDP too */
	p.proto = IPPROTO_UDP;
	p.dport = 53;
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_PORTS_EXHAUSTED, 1, -1);
	expect_identical(&r);

	/* DSR needs no port */
	p = dp_tcp_to(DP_VIP_DSR, 41000, DP_TCP_SYN);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
}

/* DSR packet of client port 40000: only the MACs change. */
static void dsr_step(uint8_t tcp_flags, uint16_t payload_len, int reuse, uint8_t state,
		     uint8_t flags, uint32_t version)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_DSR, 40000, tcp_flags);
	struct xlb_flow_key k;
	struct xlb_session s;
	struct sent r;

	p.payload_len = payload_len;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_SESSION_REUSE, reuse, -1);
	assert_int_equal(r.out_len, r.in_len);
	assert_memory_equal(r.out, dp_mac_be2, 6);
	assert_memory_equal(r.out + 6, dp_mac_a, 6);
	assert_memory_equal(r.out + 12, r.in + 12, r.in_len - 12);
	fwd_key(&k, DP_VIP_DSR, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.state, state);
	assert_int_equal(s.flags, flags);
	assert_int_equal(s.version, version);
	assert_int_equal(s.snat_port, 0);
	assert_int_equal(ntohl(s.backend.w[0]), DP_BE2);
	assert_int_equal(ntohs(s.backend_port), 80);
	assert_int_equal(s.backend_id, 2);
}

/*
 * DSR: the LB sees only the client side, so a client FIN closes the
 * session at once; a RST too; both keep forwarding; a SYN reopens.
 */
static void test_dsr_session(void **state)
{
	uint32_t ports[POOL_N + 8];
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_DSR, 40000, DP_TCP_SYN);
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	dsr_step(F_ACK, 0, 0, ESTAB, 0, 2);
	dsr_step(F_DATA, 100, 0, ESTAB, 0, 2);
	dsr_step(F_FIN, 0, 0, CLSD, XLB_SF_CLI_FIN, 3);
	dsr_step(F_FIN, 0, 0, CLSD, XLB_SF_CLI_FIN, 3); /* retransmit */
	dsr_step(F_ACK, 0, 0, CLSD, XLB_SF_CLI_FIN, 3); /* last ACK */
	dsr_step(F_RST, 0, 0, CLSD, XLB_SF_CLI_FIN, 3);
	dsr_step(DP_TCP_SYN, 0, 1, XLB_SS_SYN, 0, 4); /* reopen */
	dsr_step(F_ACK, 0, 0, ESTAB, 0, 5);
	dsr_step(F_RST, 0, 0, CLSD, 0, 6);
	dsr_step(F_ACK, 10, 0, CLSD, 0, 6);
	dsr_step(F_RST, 0, 0, CLSD, 0, 6); /* once */
	assert_int_equal(dp_map_count(dp_fd_reverse(&env), sizeof(struct xlb_flow_key)), 0);
	assert_int_equal(pool_ports(ports), POOL_N);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_DELETE), 0);
}

/*
 * SYNC_WRITES counts every successful lifecycle write of sessions and
 * reverse and nothing else: syncd compares it with the records its capture
 * delivered, so a write it does not count would hide a lost record and a
 * count without a write would raise a false alarm.
 */
static void test_sync_writes(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct dp_pkt_spec d = dp_tcp_to(DP_VIP_DSR, 40001, DP_TCP_SYN);
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX); /* session + reverse */
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 2);
	assert_int_equal(send_pkt(&p, &r), XDP_TX); /* SYN retransmitted */
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 0);
	p.tcp_flags = DP_TCP_ACK; /* -> ESTABLISHED */
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 1);
	p.tcp_flags = DP_TCP_ACK | DP_TCP_PSH; /* data: in place only */
	p.payload_len = 10;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 0);
	p.tcp_flags = DP_TCP_FIN | DP_TCP_ACK; /* -> CLOSING */
	p.payload_len = 0;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 1);
	assert_int_equal(send_pkt(&d, &r), XDP_TX); /* DSR: session only */
	assert_int_equal(r.after[XLB_STAT_SYNC_WRITES] - r.before[XLB_STAT_SYNC_WRITES], 1);
}

static void test_noneigh_keeps_port(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_NONEIGH, 40000, DP_TCP_SYN);
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_FIB, 1, -1);
	expect_identical(&r);
	/* the popped port went back (to the tail); nothing was created */
	assert_int_equal(dp_map_count(dp_fd_sessions(&env), sizeof(struct xlb_flow_key)), 0);
	expect_port_back(DP_POOL_FIRST);
}

static void test_inactive_backend(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	struct sent r;

	assert_int_equal(dp_add_backend(&env, 1, DP_BE1, 8080, 0, NULL), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_NO_BACKEND, 1, -1);
	expect_identical(&r);
}

/* The frame last sent went to @addr:@port (host order). */
static void expect_to(const struct sent *r, uint32_t addr, uint16_t port)
{
	struct dp_parsed o;

	assert_int_equal(dp_parse(r->out, r->out_len, &o), 0);
	assert_int_equal(o.daddr, addr);
	assert_int_equal(o.dport, port);
	assert_true(o.l4_csum_ok);
}

/*
 * A full-NAT UDP flow whose backend goes down moves to the backend the
 * Maglev table gives now, on its next datagram, with its reverse entry (same
 * SNAT port), and the new backend's answers reach the client. While the
 * old backend is up, a table change alone moves nothing. On the landed
 * tree the flow stayed with the dead backend for as long as it sent.
 */
static void test_repick_udp(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_UDP, 41000, 0), a;
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse rv;
	uint32_t two = 2, v0;
	uint16_t port;
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	fwd_key(&k, DP_VIP_UDP, 41000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 6);
	port = ntohs(s.snat_port);
	v0 = s.version;

	assert_int_equal(dp_set_maglev(&env, DP_VIP_UDP, &two, 1), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE1, 5353);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 0);

	assert_int_equal(
		dp_add_backend(&env, 6, DP_BE1, 5353, XLB_BE_F_ACTIVE | XLB_BE_F_DOWN, NULL), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE2, dp_vip_port(DP_VIP_UDP));
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 1);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 2);
	assert_int_equal(s.version, v0 + 1);
	assert_int_equal(ntohs(s.snat_port), port);
	dp_flow_key(&rk, DP_BE1, DP_SNAT, 5353, port, IPPROTO_UDP);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), -ENOENT);
	dp_flow_key(&rk, DP_BE2, DP_SNAT, dp_vip_port(DP_VIP_UDP), port, IPPROTO_UDP);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
	assert_memory_equal(&rv.fwd, &k, sizeof(k));

	/* the next datagrams stay there; the new backend's answer gets home */
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE2, dp_vip_port(DP_VIP_UDP));
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 1);
	memset(&a, 0, sizeof(a));
	a.saddr = DP_BE2;
	a.daddr = DP_SNAT;
	a.proto = IPPROTO_UDP;
	a.sport = dp_vip_port(DP_VIP_UDP);
	a.dport = port;
	a.payload_len = 11;
	assert_int_equal(send_pkt(&a, &r), XDP_TX);
	expect_to(&r, DP_CLIENT, 41000);
	assert_int_equal(dp_stat(&env, XLB_STAT_REPLY), 1);
}

/*
 * A SYN that reopens a closed session (the client reused its port) is a
 * new connection: if the session's backend was drained (or is down, or
 * removed) it goes to the table's backend, its reverse entry with it. An
 * established connection to a drained backend stays (drain keeps flows).
 */
static void test_repick_syn(void **state)
{
	struct dp_pkt_spec p;
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse rv;
	uint16_t port, port2;
	uint32_t two = 2;
	struct sent r;

	port = open_flow(41000);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_RST);
	assert_int_equal(send_pkt(&p, &r), XDP_TX); /* CLOSED */
	port2 = open_flow(41001);
	p = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX); /* ESTABLISHED */

	assert_int_equal(
		dp_add_backend(&env, 1, DP_BE1, 8080, XLB_BE_F_ACTIVE | XLB_BE_F_DRAIN, NULL), 0);
	assert_int_equal(dp_set_maglev(&env, DP_VIP_TCP, &two, 1), 0);
	p = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE1, 8080);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_SYN);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE2, dp_vip_port(DP_VIP_TCP));
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 1);
	fwd_key(&k, DP_VIP_TCP, 41000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 2);
	assert_int_equal(s.state, XLB_SS_SYN);
	assert_int_equal(ntohs(s.snat_port), port);
	rev_key(&rk, port);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), -ENOENT);
	dp_flow_key(&rk, DP_BE2, DP_SNAT, dp_vip_port(DP_VIP_TCP), port, IPPROTO_TCP);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
	assert_memory_equal(&rv.fwd, &k, sizeof(k));
	rev_key(&rk, port2);
	assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0); /* 41001 kept */
}

/* An established flow whose backend is down stays with it (the rule for
 * removed backends' connections is decision 12's: they are not moved, a
 * backend that answers no more loses them); its next SYN-less segments go
 * where they went. */
static void test_repick_not_established(void **state)
{
	struct dp_pkt_spec p;
	uint32_t two = 2;
	struct sent r;

	open_flow(41000);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(
		dp_add_backend(&env, 1, DP_BE1, 8080, XLB_BE_F_ACTIVE | XLB_BE_F_DOWN, NULL), 0);
	assert_int_equal(dp_set_maglev(&env, DP_VIP_TCP, &two, 1), 0);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE1, 8080);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 0);
}

/*
 * DSR too: a UDP flow whose backend is down and a SYN reopening a closed
 * TCP session whose backend was removed move to the table's backend (no
 * reverse entry to move: the backend answers the client itself).
 */
static void test_repick_dsr(void **state)
{
	struct dp_pkt_spec u = dp_tcp_to(DP_VIP_UDP_DSR, 41000, 0),
			   t = dp_tcp_to(DP_VIP_DSR, 41001, DP_TCP_SYN);
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t one = 1;
	struct sent r;

	assert_int_equal(send_pkt(&u, &r), XDP_TX);
	assert_int_equal(send_pkt(&t, &r), XDP_TX);
	t = dp_tcp_to(DP_VIP_DSR, 41001, DP_TCP_RST);
	assert_int_equal(send_pkt(&t, &r), XDP_TX); /* CLOSED */

	assert_int_equal(dp_set_maglev(&env, DP_VIP_UDP_DSR, &one, 1), 0);
	assert_int_equal(dp_set_maglev(&env, DP_VIP_DSR, &one, 1), 0);
	assert_int_equal(send_pkt(&u, &r), XDP_TX); /* backend 2 still up: stays */
	fwd_key(&k, DP_VIP_UDP_DSR, 41000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 2);

	assert_int_equal(dp_add_backend(&env, 2, DP_BE2, 0, XLB_BE_F_ACTIVE | XLB_BE_F_DOWN, NULL),
			 0);
	assert_int_equal(send_pkt(&u, &r), XDP_TX);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 1);
	assert_int_equal(s.flags & XLB_SF_FNAT, 0);

	assert_int_equal(dp_add_backend(&env, 2, DP_BE2, 0, 0, NULL), 0); /* removed */
	t = dp_tcp_to(DP_VIP_DSR, 41001, DP_TCP_SYN);
	assert_int_equal(send_pkt(&t, &r), XDP_TX);
	fwd_key(&k, DP_VIP_DSR, 41001);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.backend_id, 1);
	assert_int_equal(s.state, XLB_SS_SYN);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_REPICK), 2);
	assert_int_equal(dp_map_count(dp_fd_reverse(&env), sizeof(struct xlb_flow_key)), 0);
}

/*
 * A full sessions map: a new DSR flow is forwarded by the Maglev table
 * alone, as its mid-flow segments would be (no session; DSR_STATELESS_FULL
 * and FWD_STATELESS), where the landed tree dropped it (DROP_SESSION_FULL).
 * Full NAT cannot: it needs a session for its port, and still drops, port
 * back in the pool.
 */
static void test_dsr_stateless_when_full(void **state)
{
	struct dp_pkt_spec d = dp_tcp_to(DP_VIP_DSR, 41000, DP_TCP_SYN),
			   f = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_SYN);
	struct xlb_session v = { .state = XLB_SS_UDP, .backend_id = 2 };
	uint32_t ports[POOL_N + 8];
	struct xlb_flow_key k;
	struct sent r;
	uint32_t i;

	for (i = 0; i < 65536; i++) {
		dp_flow_key(&k, DP_IP(198, 18, 200 + (i >> 16), (uint8_t)(i >> 8)), DP_CLIENT,
			    (uint16_t)(10000 + (i & 0xff)), 53, IPPROTO_UDP);
		if (bpf_map_update_elem(dp_fd_sessions(&env), &k, &v, BPF_NOEXIST))
			break;
	}
	assert_int_equal(i, 65536);
	assert_int_equal(send_pkt(&d, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_FWD_STATELESS, 1, XLB_STAT_DSR_STATELESS_FULL,
		     1, -1);
	fwd_key(&k, DP_VIP_DSR, 41000);
	assert_int_equal(dp_session_get(&env, &k, &v), -ENOENT);

	assert_int_equal(send_pkt(&f, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_SESSION_FULL, 1, -1);
	assert_int_equal(pool_ports(ports), POOL_N);
}

/*
 * A drained backend with a configured MAC keeps serving its sessions at
 * that MAC: drain marks the slot (XLB_BE_F_DRAIN), it does not clear it
 * (the landed tree cleared ACTIVE, the next hop fell back to a FIB lookup
 * and the flow was dropped, DROP_FIB, where the backend is off the FIB).
 */
static void test_drain_keeps_mac(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_CFGMAC, 41000, DP_TCP_SYN);
	struct dp_parsed o;
	struct sent r;

	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	assert_int_equal(dp_add_backend(&env, 4, DP_BE_MAC, 8080,
					XLB_BE_F_ACTIVE | XLB_BE_F_HAS_MAC | XLB_BE_F_DRAIN,
					dp_mac_cfg),
			 0);
	p.tcp_flags = DP_TCP_ACK;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, -1);
	assert_int_equal(dp_parse(r.out, r.out_len, &o), 0);
	assert_memory_equal(o.dmac, dp_mac_cfg, 6);
	assert_int_equal(o.daddr, DP_BE_MAC);
}

/*
 * Flag combinations no endpoint sends are dropped and counted, before they
 * open or move anything: SYN|FIN, SYN|RST, a FIN alone, a bare PSH, no
 * flag; towards a VIP and as a full-NAT reply. (On the landed tree a
 * SYN|FIN opened a session and took a port.)
 */
static void test_bad_flags(void **state)
{
	static const uint8_t bad[] = { DP_TCP_SYN | DP_TCP_FIN,
				       DP_TCP_SYN | DP_TCP_RST,
				       DP_TCP_FIN,
				       DP_TCP_PSH,
				       0,
				       DP_TCP_SYN | DP_TCP_FIN | DP_TCP_ACK };
	uint32_t ports[POOL_N + 8];
	struct dp_pkt_spec p;
	struct sent r;
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		p = dp_tcp_to(DP_VIP_TCP, (uint16_t)(42000 + i), bad[i]);
		assert_int_equal(send_pkt(&p, &r), XDP_DROP);
		expect_stats(&r, XLB_STAT_DROP_BAD_FLAGS, 1, -1);
		p = dp_tcp_to(DP_VIP_DSR, (uint16_t)(42000 + i), bad[i]);
		assert_int_equal(send_pkt(&p, &r), XDP_DROP);
		expect_stats(&r, XLB_STAT_DROP_BAD_FLAGS, 1, -1);
	}
	assert_int_equal(dp_map_count(dp_fd_sessions(&env), sizeof(struct xlb_flow_key)), 0);

	/* a reply of an open flow, and the flow goes on */
	port = open_flow(41000);
	p = dp_reply_to(port, DP_TCP_SYN | DP_TCP_FIN | DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_BAD_FLAGS, 1, -1);
	p = dp_reply_to(port, DP_TCP_SYN | DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_TX, 1, XLB_STAT_REPLY, 1, -1);
	assert_int_equal(pool_ports(ports), POOL_N - 1); /* only the open flow's */
}

/*
 * A full-NAT reply for a port of another node's range is bounced to that
 * node (port_owner) as a router hop: TTL - 1, checksum updated; with TTL 1
 * it is dropped (DROP_BOUNCE_TTL), so two nodes whose port_owner maps
 * disagree cannot pass a frame back and forth for ever. (On the landed
 * tree the TTL never moved: 10 of 10 passes bounced, TTL unchanged.)
 */
static void test_bounce_ttl(void **state)
{
	struct xlb_port_owner po = { .node = 2, .node_addr = htonl(DP_BE1) };
	struct dp_pkt_spec p = dp_reply_to(50000, DP_TCP_ACK);
	uint32_t port = 50000;
	struct dp_parsed in, out;
	struct sent r;

	assert_int_equal(bpf_map_update_elem(dp_fd_port_owner(&env), &port, &po, BPF_ANY), 0);
	p.ttl = 5;
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_stats(&r, XLB_STAT_FWD_BOUNCE, 1, -1);
	assert_int_equal(dp_parse(r.in, r.in_len, &in), 0);
	assert_int_equal(dp_parse(r.out, r.out_len, &out), 0);
	assert_int_equal(out.ttl, 4);
	assert_true(out.ip_csum_ok);
	assert_true(out.l4_csum_ok);
	assert_int_equal(out.daddr, in.daddr);
	assert_int_equal(out.dport, 50000);
	assert_memory_equal(out.dmac, dp_mac_be1, 6); /* the owner's MAC */

	p.ttl = 1;
	assert_int_equal(send_pkt(&p, &r), XDP_DROP);
	expect_stats(&r, XLB_STAT_DROP_BOUNCE_TTL, 1, -1);
}

/* The 32-bit word at @off of a frame (host order). */
static uint32_t get32(const uint8_t *b, size_t off)
{
	return (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 | (uint32_t)b[off + 2] << 8 |
	       b[off + 3];
}

/* A RST from the VIP to the client, turned around from @r's input. */
static void expect_reset(const struct sent *r, uint16_t cport, uint8_t flags, uint32_t seq,
			 uint32_t ack)
{
	struct dp_parsed o;

	assert_int_equal(r->verdict, XDP_TX);
	assert_int_equal(r->out_len, 54);
	assert_int_equal(dp_parse(r->out, r->out_len, &o), 0);
	assert_memory_equal(r->out, r->in + 6, 6); /* back where it came from */
	assert_memory_equal(r->out + 6, r->in, 6);
	assert_int_equal(o.saddr, dp_vip_addr(DP_VIP_TCP));
	assert_int_equal(o.daddr, DP_CLIENT);
	assert_int_equal(o.sport, dp_vip_port(DP_VIP_TCP));
	assert_int_equal(o.dport, cport);
	assert_int_equal(o.tot_len, 40);
	assert_int_equal(o.tcp_flags, flags);
	assert_int_equal(get32(r->out, 34 + 4), seq);
	assert_int_equal(get32(r->out, 34 + 8), ack);
	assert_true(o.ip_csum_ok);
	assert_true(o.l4_csum_ok);
}

/*
 * A backend gone longer than sessions.timeouts.backend_gone (lbd marks it
 * XLB_BE_F_RESET; down, or removed: its slot no longer active): the next
 * client segment of each of its connections is answered with a RST from the
 * VIP (SEQ = the segment's ACK; for a segment without ACK, SEQ 0 and ACK =
 * its SEQ + length) and the session is closed (one replicated write). Down
 * without the mark, it is forwarded as before (test_repick_not_established).
 * On the landed tree the segments went on to the dead backend.
 */
static void test_reset_gone_backend(void **state)
{
	struct dp_pkt_spec p;
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t two = 2, v;
	struct sent r;

	open_flow(41000);
	open_flow(41001);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	p = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_ACK);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	fwd_key(&k, DP_VIP_TCP, 41000);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.state, XLB_SS_ESTABLISHED);
	v = s.version;

	assert_int_equal(dp_add_backend(&env, 1, DP_BE1, 8080,
					XLB_BE_F_ACTIVE | XLB_BE_F_DOWN | XLB_BE_F_RESET, NULL),
			 0);
	assert_int_equal(dp_set_maglev(&env, DP_VIP_TCP, &two, 1), 0);
	p = dp_tcp_to(DP_VIP_TCP, 41000, DP_TCP_ACK | DP_TCP_PSH);
	p.payload_len = 100;
	p.seq = 5000;
	send_pkt(&p, &r);
	expect_reset(&r, 41000, DP_TCP_RST, 1000, 0);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_RESET), 1);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.state, XLB_SS_CLOSED);
	assert_int_equal(s.version, v + 1);
	assert_int_equal(s.backend_id, 1);
	/* a retransmit: reset again, no second write */
	send_pkt(&p, &r);
	expect_reset(&r, 41000, DP_TCP_RST, 1000, 0);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	assert_int_equal(s.version, v + 1);

	/* removed (slot inactive) and marked, no live backend to move to; a
	 * segment without ACK (a SYN reopening the flow) */
	assert_int_equal(dp_add_backend(&env, 1, DP_BE1, 8080, XLB_BE_F_RESET, NULL), 0);
	assert_int_equal(dp_set_maglev(&env, DP_VIP_TCP, NULL, 0), 0);
	p = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_SYN);
	p.seq = 7000;
	send_pkt(&p, &r);
	expect_reset(&r, 41001, DP_TCP_RST | DP_TCP_ACK, 0, 7000 + 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_RESET), 3);
	/* the client's own RST is forwarded, never answered */
	p = dp_tcp_to(DP_VIP_TCP, 41001, DP_TCP_RST);
	assert_int_equal(send_pkt(&p, &r), XDP_TX);
	expect_to(&r, DP_BE1, 8080);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_RESET), 3);
}

/* Spread over two backends: flows land on both, same tuple same backend. */
static void test_maglev_spread(void **state)
{
	uint32_t ids[2] = { 1, 2 }, hits[3] = { 0 };
	struct xlb_flow_key k;
	struct xlb_session s;
	struct dp_pkt_spec p;
	struct sent r;
	int i;

	assert_int_equal(dp_set_maglev(&env, DP_VIP_DSR, ids, 2), 0);
	for (i = 0; i < 200; i++) {
		p = dp_tcp_to(DP_VIP_DSR, (uint16_t)(30000 + i), DP_TCP_SYN);
		assert_int_equal(send_pkt(&p, &r), XDP_TX);
		fwd_key(&k, DP_VIP_DSR, (uint16_t)(30000 + i));
		assert_int_equal(dp_session_get(&env, &k, &s), 0);
		assert_true(s.backend_id == 1 || s.backend_id == 2);
		hits[s.backend_id]++;
		/* stateless forwarding picks the same backend */
		assert_memory_equal(r.out, s.backend_id == 1 ? dp_mac_be1 : dp_mac_be2, 6);
	}
	assert_true(hits[1] > 50 && hits[2] > 50);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test_setup_teardown(test_birth_version, setup_wallclock, teardown),
		cmocka_unit_test_setup_teardown(test_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_retransmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_close_server_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_close_simultaneous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_syn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_reopens_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_exhausted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsr_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noneigh_keeps_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inactive_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repick_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repick_syn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repick_not_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_gone_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repick_dsr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsr_stateless_when_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_keeps_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maglev_spread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_seen_granularity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nh_cache_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nh_cache_ingress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nh_cache_mtu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nh_cache_neigh_change, setup, neigh_restore),
		cmocka_unit_test_setup_teardown(test_nh_cache_noneigh, setup, neigh_restore),
	};
	size_t nc = sizeof(cases) / sizeof(cases[0]);
	size_t nf = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *t;
	cpu_set_t one;
	size_t i;
	int err, rc;

	err = dp_netns_setup();
	if (err) {
		fprintf(stderr, "skip: cannot set up a network namespace: %s\n", strerror(-err));
		return 77;
	}
	/* one CPU: every test_run sees the same per-CPU cache values */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	t = calloc(nc + nf, sizeof(*t));
	if (!t)
		return 1;
	for (i = 0; i < nc; i++) {
		t[i].name = cases[i].desc;
		t[i].test_func = run_case;
		t[i].setup_func = setup;
		t[i].teardown_func = teardown;
		t[i].initial_state = &cases[i];
	}
	memcpy(t + nc, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("data plane", t, nc + nf, NULL, NULL);
	free(t);
	return rc;
}
