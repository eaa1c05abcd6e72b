// SPDX-License-Identifier: BSD-2-Clause
/*
 * Full-NAT port allocation under load: 10,000 new flows through
 * BPF_PROG_TEST_RUN with a pool holding exactly the node's range, then
 * churn (RST half, age them out, open 5,000 more) and exhaustion. After
 * every phase each live session must own a distinct (SNAT address, SNAT
 * port) and its reverse entry must map back to it.
 *
 * The data plane never deletes a session: a RST only marks it CLOSED and
 * its port stays taken until lbd's ageing deletes it. age_closed() does
 * here what lbd does for an expired CLOSED session: delete the session,
 * then its reverse entry, then push the port back to the pool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "dp_fixture.h"

#define RANGE_FIRST DP_POOL_FIRST
#define RANGE_N	    10000u
#define BURST	    10000u
#define CHURN	    5000u
#define EXTRA	    100u

static struct dp_env env;
/* snat port of flow i, 0 when not live */
static uint16_t flow_port[BURST + CHURN + EXTRA];

static void flow_spec(struct dp_pkt_spec *s, unsigned int i, uint8_t flags)
{
	memset(s, 0, sizeof(*s));
	s->saddr = DP_IP(198, 18, 64, 0) + (i & 0xfff);
	s->sport = (uint16_t)(10000 + i);
	s->daddr = dp_vip_addr(DP_VIP_TCP);
	s->dport = dp_vip_port(DP_VIP_TCP);
	s->proto = IPPROTO_TCP;
	s->tcp_flags = flags;
	s->ip_id = (uint16_t)i;
}

/* Send one packet of flow i; returns the verdict, output snat port in *port. */
static uint32_t flow_send(unsigned int i, uint8_t flags, uint16_t *port, bool *identical)
{
	uint8_t in[DP_PKT_MAX], out[DP_PKT_MAX];
	struct dp_pkt_spec s;
	struct dp_parsed p;
	size_t len, out_len = sizeof(out);
	uint32_t verdict;

	flow_spec(&s, i, flags);
	len = dp_build(in, sizeof(in), &s);
	assert_int_equal(dp_run(&env, in, len, out, &out_len, &verdict), 0);
	*identical = out_len == len && !memcmp(in, out, len);
	*port = 0;
	if (verdict == XDP_TX) {
		assert_int_equal(dp_parse(out, out_len, &p), 0);
		assert_true(p.ip_csum_ok && p.l4_csum_ok);
		assert_int_equal(p.saddr, DP_SNAT);
		assert_int_equal(p.daddr, DP_BE1);
		*port = p.sport;
	}
	return verdict;
}

/*
 * Walk sessions: every live (snat, port) distinct and inside the range,
 * the reverse entry present and pointing back, the expected flows live
 * with the port their packets carried. Returns the number of sessions.
 */
static unsigned int check_live(unsigned int nflows)
{
	static uint8_t seen[65536];
	struct xlb_flow_key k, nk, rk;
	struct xlb_reverse rv;
	struct xlb_session s;
	unsigned int n = 0, i, live = 0;
	int fd = dp_fd_sessions(&env);
	void *prev = NULL;

	memset(seen, 0, sizeof(seen));
	while (!bpf_map_get_next_key(fd, prev, &nk)) {
		uint16_t port;

		k = nk;
		prev = &k;
		assert_int_equal(dp_session_get(&env, &k, &s), 0);
		assert_int_equal(s.flags & XLB_SF_FNAT, XLB_SF_FNAT);
		assert_int_equal(ntohl(s.snat.w[0]), DP_SNAT);
		port = ntohs(s.snat_port);
		assert_in_range(port, RANGE_FIRST, RANGE_FIRST + RANGE_N - 1);
		if (seen[port])
			fail_msg("SNAT port %u used by two live sessions", port);
		seen[port] = 1;
		dp_flow_key(&rk, ntohl(s.backend.w[0]), DP_SNAT, ntohs(s.backend_port), port,
			    IPPROTO_TCP);
		assert_int_equal(dp_reverse_get(&env, &rk, &rv), 0);
		assert_memory_equal(&rv.fwd, &k, sizeof(k));
		n++;
	}
	assert_int_equal(dp_map_count(dp_fd_reverse(&env), sizeof(k)), n);

	for (i = 0; i < nflows; i++) {
		struct dp_pkt_spec sp;

		if (!flow_port[i])
			continue;
		live++;
		flow_spec(&sp, i, 0);
		dp_flow_key(&k, sp.saddr, sp.daddr, sp.sport, sp.dport, IPPROTO_TCP);
		assert_int_equal(dp_session_get(&env, &k, &s), 0);
		assert_int_equal(ntohs(s.snat_port), flow_port[i]);
	}
	assert_int_equal(live, n);
	return n;
}

/*
 * lbd's ageing of CLOSED sessions, from user space: returns how many were
 * deleted; their flows are marked not live.
 */
static unsigned int age_closed(unsigned int nflows)
{
	static struct xlb_flow_key keys[BURST + CHURN + EXTRA];
	struct xlb_flow_key k, nk, rk;
	struct xlb_session s;
	int fd = dp_fd_sessions(&env);
	unsigned int n = 0, i, j;
	void *prev = NULL;

	/* collect first: deleting while walking a hash map restarts it */
	while (!bpf_map_get_next_key(fd, prev, &nk)) {
		k = nk;
		prev = &k;
		assert_int_equal(dp_session_get(&env, &k, &s), 0);
		if (s.state == XLB_SS_CLOSED) {
			assert_true(n < sizeof(keys) / sizeof(keys[0]));
			keys[n++] = k;
		}
	}
	for (i = 0; i < n; i++) {
		uint32_t port;

		assert_int_equal(dp_session_get(&env, &keys[i], &s), 0);
		port = ntohs(s.snat_port);
		assert_int_equal(bpf_map_delete_elem(fd, &keys[i]), 0);
		dp_flow_key(&rk, ntohl(s.backend.w[0]), ntohl(s.snat.w[0]), ntohs(s.backend_port),
			    port, IPPROTO_TCP);
		assert_int_equal(bpf_map_delete_elem(dp_fd_reverse(&env), &rk), 0);
		assert_int_equal(dp_fill_pool(&env, port, 1), 0);
		for (j = 0; j < nflows; j++)
			if (flow_port[j] == port)
				flow_port[j] = 0;
	}
	return n;
}

static int setup(void **state)
{
	if (dp_env_open(&env, 65536))
		return -1;
	if (dp_std_config(&env, RANGE_N)) {
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

static void test_port_alloc(void **state)
{
	static uint8_t freed[65536];
	uint64_t st0[XLB_STAT_MAX], st1[XLB_STAT_MAX];
	unsigned int i, reused = 0;
	uint16_t port;
	bool same;
	uint32_t left[8];

	/* burst of new flows: the whole range is handed out */
	for (i = 0; i < BURST; i++) {
		assert_int_equal(flow_send(i, DP_TCP_SYN, &port, &same), XDP_TX);
		flow_port[i] = port;
	}
	assert_int_equal(check_live(BURST), BURST);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_NEW), BURST);

	/* RST half of them: CLOSED, but they keep their ports ... */
	memset(freed, 0, sizeof(freed));
	for (i = 0; i < BURST; i += 2) {
		assert_int_equal(flow_send(i, DP_TCP_RST, &port, &same), XDP_TX);
		assert_int_equal(port, flow_port[i]);
		freed[port] = 1;
		/* a late segment of the reset flow still goes through */
		assert_int_equal(flow_send(i, DP_TCP_ACK, &port, &same), XDP_TX);
		assert_int_equal(port, flow_port[i]);
	}
	assert_int_equal(check_live(BURST), BURST);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_DELETE), 0);
	assert_int_equal(dp_drain_pool(&env, left, 8), 0);
	/* ... so a new flow finds the pool empty */
	dp_stats_all(&env, st0);
	assert_int_equal(flow_send(BURST, DP_TCP_SYN, &port, &same), XDP_DROP);
	assert_true(same);
	dp_stats_all(&env, st1);
	assert_int_equal(st1[XLB_STAT_DROP_PORTS_EXHAUSTED] - st0[XLB_STAT_DROP_PORTS_EXHAUSTED],
			 1);

	/* lbd ages the CLOSED ones out: their ports go back to the pool */
	assert_int_equal(age_closed(BURST), BURST / 2);
	for (i = 0; i < BURST; i++)
		assert_int_equal(flow_port[i] != 0, i % 2 == 1);
	assert_int_equal(check_live(BURST), BURST / 2);

	/* 5,000 more: only the returned ports are free */
	for (i = BURST; i < BURST + CHURN; i++) {
		assert_int_equal(flow_send(i, DP_TCP_SYN, &port, &same), XDP_TX);
		if (freed[port])
			reused++;
		freed[port] = 0;
		flow_port[i] = port;
	}
	assert_int_equal(reused, CHURN);
	assert_int_equal(check_live(BURST + CHURN), BURST / 2 + CHURN);

	/* pool exhausted: dropped and counted, never forwarded */
	dp_stats_all(&env, st0);
	for (i = BURST + CHURN; i < BURST + CHURN + EXTRA; i++) {
		assert_int_equal(flow_send(i, DP_TCP_SYN, &port, &same), XDP_DROP);
		assert_true(same);
	}
	dp_stats_all(&env, st1);
	assert_int_equal(st1[XLB_STAT_DROP_PORTS_EXHAUSTED] - st0[XLB_STAT_DROP_PORTS_EXHAUSTED],
			 EXTRA);
	assert_int_equal(st1[XLB_STAT_FWD_TX], st0[XLB_STAT_FWD_TX]);
	assert_int_equal(st1[XLB_STAT_SESSION_NEW], st0[XLB_STAT_SESSION_NEW]);
	assert_int_equal(check_live(BURST + CHURN + EXTRA), BURST / 2 + CHURN);
	assert_int_equal(dp_drain_pool(&env, left, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_port_alloc, setup, teardown),
	};
	int err = dp_netns_setup();

	if (err) {
		fprintf(stderr, "skip: cannot set up a network namespace: %s\n", strerror(-err));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
