// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_dp: per-packet cost of the xdplb data plane, as ratios to the
 * trivial MAC-swap program (bpf/xdp_swap.bpf.c), all measured in one run.
 *
 * Method (see bench/BENCHMARKS.md): BPF_PROG_TEST_RUN with repeat > 1 would
 * run the balancer again on its own output, so every measured pass is a
 * separate call with repeat = 1 on the original input; the kernel-reported
 * duration of such a call is the program plus a fixed timer/loop overhead.
 * That overhead is measured as duration(xdp_swap, repeat = 1) minus the
 * cost of xdp_swap alone, taken with a large repeat (valid for xdp_swap
 * only: its second pass takes the same path as its first). Each scenario
 * is then reported as (median duration - overhead) / swap cost.
 * Verdicts are checked on every call and the data plane's counters after
 * each scenario, so every pass took the path being measured.
 *
 * Usage: bench_dp [-n calls]   (root; runs in a private network namespace)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "lb_bench.skel.h"
#include "xdp_swap.skel.h"
#include "dp_fixture.h"

static struct dp_env env;
static struct lb_bench *bsk;

#define REPEAT	      1000000u
#define REPEAT_ROUNDS 5

struct result {
	const char *name;
	double median; /* ns per call, kernel-reported */
	double mean;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One test_run call; the kernel-reported duration in ns in *duration. */
static int run_once(int prog_fd, int ifindex, const uint8_t *in, size_t len, uint32_t repeat,
		    uint32_t *verdict, uint32_t *duration)
{
	return dp_test_run(prog_fd, ifindex, in, len, NULL, NULL, repeat, verdict, duration);
}

typedef void (*between_fn)(unsigned int i, uint8_t *pkt, size_t *len);

static int measure(const char *name, int prog_fd, const uint8_t *pkt0, size_t len0, unsigned int n,
		   uint32_t want, between_fn between, struct result *r)
{
	uint32_t *d = calloc(n, sizeof(*d)), verdict, i;
	uint8_t pkt[DP_PKT_MAX];
	size_t len = len0;
	double sum = 0;
	int err;

	if (!d)
		return -ENOMEM;
	memcpy(pkt, pkt0, len0);
	for (i = 0; i < n; i++) {
		if (between)
			between(i, pkt, &len);
		err = run_once(prog_fd, env.ifindex_a, pkt, len, 1, &verdict, &d[i]);
		if (err || verdict != want) {
			fprintf(stderr, "%s: call %u: err %d verdict %u, want %u\n", name, i, err,
				verdict, want);
			free(d);
			return err ? err : -EPROTO;
		}
		sum += d[i];
	}
	qsort(d, n, sizeof(*d), cmp_u32);
	r->name = name;
	r->median = d[n / 2];
	r->mean = sum / n;
	free(d);
	return 0;
}

static int check_delta(const char *name, const uint64_t *a, const uint64_t *b, unsigned int idx,
		       uint64_t want)
{
	if (b[idx] - a[idx] == want)
		return 0;
	fprintf(stderr, "%s: counter %u moved by %llu, want %llu\n", name, idx,
		(unsigned long long)(b[idx] - a[idx]), (unsigned long long)want);
	return -EPROTO;
}

/* Counters that must not move in a forwarding scenario. */
static int check_no_drops(const char *name, const uint64_t *a, const uint64_t *b)
{
	static const unsigned int bad[] = {
		XLB_STAT_DROP_MALFORMED,    XLB_STAT_DROP_FRAGMENT,
		XLB_STAT_DROP_NO_BACKEND,   XLB_STAT_DROP_PORTS_EXHAUSTED,
		XLB_STAT_DROP_SESSION_FULL, XLB_STAT_DROP_NO_SESSION,
		XLB_STAT_DROP_FIB,	    XLB_STAT_DROP_MTU,
		XLB_STAT_FWD_REDIRECT,
	};
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		err = err ?: check_delta(name, a, b, bad[i], 0);
	return err;
}

/* New-flow scenario: a fresh client tuple each call, and the previous
 * call's session, reverse entry and port released (not timed). */
static struct dp_pkt_spec newflow_spec;

static void newflow_between(unsigned int i, uint8_t *pkt, size_t *len)
{
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	int pool = bpf_map__fd(env.skel->maps.port_pool);
	uint32_t port;

	if (i) {
		dp_flow_key(&k, newflow_spec.saddr, newflow_spec.daddr, newflow_spec.sport,
			    newflow_spec.dport, IPPROTO_TCP);
		if (!dp_session_get(&env, &k, &s)) {
			rk = k;
			dp_flow_key(&rk, ntohl(s.backend.w[0]), ntohl(s.snat.w[0]),
				    ntohs(s.backend_port), ntohs(s.snat_port), IPPROTO_TCP);
			bpf_map_delete_elem(dp_fd_sessions(&env), &k);
			bpf_map_delete_elem(dp_fd_reverse(&env), &rk);
			port = ntohs(s.snat_port);
			bpf_map_update_elem(pool, NULL, &port, 0);
		}
	}
	newflow_spec.saddr = DP_IP(198, 18, 64, 0) + (i & 0xfff);
	newflow_spec.sport = (uint16_t)(1024 + (i % 60000));
	*len = dp_build(pkt, DP_PKT_MAX, &newflow_spec);
}

/* Cache-miss scenario: the forward next-hop entry of backend 1 is
 * cleared on every CPU before each call (not timed). */
static void nhmiss_between(unsigned int i, uint8_t *pkt, size_t *len)
{
	static struct xlb_nh_entry zero[512];
	uint32_t be = 1;

	if (env.ncpus <= 512)
		bpf_map_update_elem(bpf_map__fd(env.skel->maps.nh_fwd), &be, zero, BPF_ANY);
}

/* Load the restore wrappers sharing every map of the lb object. */
static int bench_open(void)
{
	struct bpf_map *m, *src;
	int err;

	bsk = lb_bench__open();
	if (!bsk)
		return -errno;
	bpf_object__for_each_map (m, bsk->obj) {
		bpf_map__set_pin_path(m, NULL);
		src = bpf_object__find_map_by_name(env.skel->obj, bpf_map__name(m));
		if (src) {
			err = bpf_map__reuse_fd(m, bpf_map__fd(src));
			if (err)
				return err;
		}
	}
	return lb_bench__load(bsk);
}

/* Method A: restore wrapper, repeat = REPEAT, median of REPEAT_ROUNDS. */
static int measure_rep(const char *name, int prog_fd, const uint8_t *pkt, size_t len, uint32_t want,
		       double *ns)
{
	double r[REPEAT_ROUNDS], t;
	struct timespec t0, t1;
	uint32_t verdict, dur;
	int i, j, err;

	memcpy(bsk->bss->bench_orig, pkt, sizeof(bsk->bss->bench_orig));
	for (i = 0; i < REPEAT_ROUNDS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = run_once(prog_fd, env.ifindex_a, pkt, len, REPEAT, &verdict, &dur);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (err || verdict != want) {
			fprintf(stderr, "%s: err %d verdict %u, want %u\n", name, err, verdict,
				want);
			return err ? err : -EPROTO;
		}
		r[i] = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / REPEAT;
	}
	for (i = 1; i < REPEAT_ROUNDS; i++) /* insertion sort */
		for (j = i; j > 0 && r[j - 1] > r[j]; j--) {
			t = r[j];
			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	*ns = r[REPEAT_ROUNDS / 2];
	return 0;
}

struct scenario {
	const char *name;
	unsigned int vip; /* 0: non-VIP */
	uint32_t verdict;
	unsigned int stat; /* counter that moves once per pass */
	bool repeat_ok;	   /* method A applies (same path every pass) */
	between_fn between;
	bool newflow;	/* SYN of a new tuple each call */
	bool reply;	/* backend -> SNAT reply of an open flow */
	uint16_t cport; /* client port of the flow */
};

static const struct scenario scenarios[] = {
	{ "established FNAT, fib cached", DP_VIP_TCP, XDP_TX, XLB_STAT_FWD_TX, true, NULL, false,
	  false, 40000 },
	{ "established FNAT, cache miss", DP_VIP_TCP, XDP_TX, XLB_STAT_FWD_TX, false,
	  nhmiss_between, false, false, 40000 },
	{ "established FNAT, config MAC", DP_VIP_CFGMAC, XDP_TX, XLB_STAT_FWD_TX, true, NULL, false,
	  false, 40000 },
	{ "established DSR, fib cached", DP_VIP_DSR, XDP_TX, XLB_STAT_FWD_TX, true, NULL, false,
	  false, 40000 },
	{ "established reply FNAT, cached", DP_VIP_TCP, XDP_TX, XLB_STAT_REPLY, true, NULL, false,
	  true, 40001 },
	{ "new flow FNAT, fib cached", DP_VIP_TCP, XDP_TX, XLB_STAT_SESSION_NEW, false,
	  newflow_between, true, false, 0 },
	{ "non-VIP (pass)", 0, XDP_PASS, XLB_STAT_PASS_NON_VIP, true, NULL, false, false, 40000 },
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

int main(int argc, char **argv)
{
	const size_t ns = NSCEN;
	uint64_t st0[XLB_STAT_MAX], st1[XLB_STAT_MAX];
	double rep_ns[NSCEN], swap_a, swap_ns, overhead;
	struct result call[NSCEN], swap_r;
	struct xdp_swap *swap;
	struct dp_pkt_spec s;
	uint8_t pkt[DP_PKT_MAX];
	uint32_t verdict, dur;
	unsigned int n = 200000;
	int opt, err, swap_fd;
	size_t len, i;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n') {
			n = (unsigned int)strtoul(optarg, NULL, 0);
		} else {
			fprintf(stderr, "usage: %s [-n calls]\n", argv[0]);
			return 2;
		}
	}
	if (n < 100)
		n = 100;
	err = dp_netns_setup();
	if (err) {
		fprintf(stderr, "failed to set up the network namespace: %s\n", strerror(-err));
		return 1;
	}
	dp_birth_fixed = 0; /* the real new-flow path: wall-clock birth version */
	err = dp_env_open(&env, 1u << 16);
	err = err ?: dp_std_config(&env, 60000);
	err = err ?: bench_open();
	if (err) {
		fprintf(stderr, "failed to load lb: %s\n", strerror(-err));
		return 1;
	}
	swap = xdp_swap__open_and_load();
	if (!swap) {
		fprintf(stderr, "failed to load xdp_swap: %s\n", strerror(errno));
		return 1;
	}
	swap_fd = bpf_program__fd(swap->progs.xdp_swap);

	memset(&s, 0, sizeof(s));
	s.saddr = DP_CLIENT;
	s.proto = IPPROTO_TCP;
	s.sport = 40000;
	s.payload_len = 64;
	s.tcp_flags = DP_TCP_ACK;
	s.daddr = DP_NONVIP;
	s.dport = 22;
	len = dp_build(pkt, sizeof(pkt), &s);

	/* baselines */
	if (measure_rep("xdp_swap (restore)", bpf_program__fd(bsk->progs.xdp_swap_bench), pkt, len,
			XDP_TX, &swap_a))
		return 1;
	{
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = run_once(swap_fd, env.ifindex_a, pkt, len, 10 * REPEAT, &verdict, &dur);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (err || verdict != XDP_TX)
			return 1;
		swap_ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
			  (10.0 * REPEAT);
	}
	if (measure("xdp_swap (repeat=1)", swap_fd, pkt, len, n, XDP_TX, NULL, &swap_r))
		return 1;
	overhead = swap_r.mean - swap_ns;

	for (i = 0; i < ns; i++) {
		const struct scenario *sc = &scenarios[i];
		uint64_t want;

		rep_ns[i] = 0;
		s.saddr = DP_CLIENT;
		s.sport = sc->cport;
		s.smac = NULL;
		if (sc->vip) {
			s.daddr = dp_vip_addr(sc->vip);
			s.dport = dp_vip_port(sc->vip);
		} else {
			s.daddr = DP_NONVIP;
			s.dport = 22;
		}
		if (sc->vip && !sc->newflow) {
			struct xlb_flow_key k;
			struct xlb_session ss;

			/* open the flow (once): SYN then the establishing ACK */
			dp_flow_key(&k, s.saddr, s.daddr, s.sport, s.dport, IPPROTO_TCP);
			if (dp_session_get(&env, &k, &ss)) {
				s.tcp_flags = DP_TCP_SYN;
				len = dp_build(pkt, sizeof(pkt), &s);
				if (measure("open", env.prog_fd, pkt, len, 1, XDP_TX, NULL,
					    &call[i]))
					return 1;
				s.tcp_flags = DP_TCP_ACK;
				len = dp_build(pkt, sizeof(pkt), &s);
				if (measure("establish", env.prog_fd, pkt, len, 1, XDP_TX, NULL,
					    &call[i]) ||
				    dp_session_get(&env, &k, &ss))
					return 1;
			}
			if (sc->reply) {
				s.smac = dp_mac_be1;
				s.saddr = ntohl(ss.backend.w[0]);
				s.sport = ntohs(ss.backend_port);
				s.daddr = ntohl(ss.snat.w[0]);
				s.dport = ntohs(ss.snat_port);
			}
		}
		s.tcp_flags = sc->newflow ? DP_TCP_SYN : DP_TCP_ACK;
		len = dp_build(pkt, sizeof(pkt), &s);
		if (sc->newflow)
			newflow_spec = s;

		/* method B: repeat=1 calls */
		dp_stats_all(&env, st0);
		if (measure(sc->name, env.prog_fd, pkt, len, n, sc->verdict, sc->between, &call[i]))
			return 1;
		dp_stats_all(&env, st1);
		want = n;
		if (check_delta(sc->name, st0, st1, XLB_STAT_RX, n) ||
		    check_delta(sc->name, st0, st1, sc->stat, want) ||
		    (sc->vip && check_delta(sc->name, st0, st1, XLB_STAT_FWD_TX, n)) ||
		    (sc->vip && check_no_drops(sc->name, st0, st1)) ||
		    (!sc->newflow && check_delta(sc->name, st0, st1, XLB_STAT_SESSION_NEW, 0)))
			return 1;

		/* method A: restore wrapper, repeat */
		if (!sc->repeat_ok)
			continue;
		dp_stats_all(&env, st0);
		if (measure_rep(sc->name, bpf_program__fd(bsk->progs.xdp_lb_bench), pkt, len,
				sc->verdict, &rep_ns[i]))
			return 1;
		dp_stats_all(&env, st1);
		want = (uint64_t)REPEAT * REPEAT_ROUNDS;
		if (check_delta(sc->name, st0, st1, XLB_STAT_RX, want) ||
		    check_delta(sc->name, st0, st1, sc->stat, want) ||
		    (sc->vip && check_delta(sc->name, st0, st1, XLB_STAT_FWD_TX, want)) ||
		    check_delta(sc->name, st0, st1, XLB_STAT_SESSION_NEW, 0) ||
		    (sc->vip && check_no_drops(sc->name, st0, st1)))
			return 1;
	}

	printf("bench_dp: one run, %u CPUs online\n", (unsigned int)sysconf(_SC_NPROCESSORS_ONLN));
	printf("A: restore wrapper, repeat=%u x %d rounds (median), wall "
	       "time / pass; ratio to the same wrapper around xdp_swap\n",
	       REPEAT, REPEAT_ROUNDS);
	printf("B: %u repeat=1 calls on the original input, mean kernel "
	       "duration minus call overhead; ratio to xdp_swap alone\n",
	       n);
	printf("   xdp_swap alone %.2f ns/pass (repeat=%u); per repeat=1 "
	       "call %.1f ns -> overhead %.1f ns\n\n",
	       swap_ns, 10 * REPEAT, swap_r.mean, overhead);
	printf("%-30s %9s %8s %11s %9s %8s\n", "scenario", "A ns/pkt", "A ratio", "B call ns",
	       "B net ns", "B ratio");
	printf("%-30s %9.1f %8.2f %11.1f %9.1f %8.2f\n", "xdp_swap (baseline)", swap_a, 1.0,
	       swap_r.mean, swap_ns, 1.0);
	for (i = 0; i < ns; i++) {
		double net = call[i].mean - overhead;

		if (rep_ns[i] > 0)
			printf("%-30s %9.1f %8.2f", scenarios[i].name, rep_ns[i],
			       rep_ns[i] / swap_a);
		else
			printf("%-30s %9s %8s", scenarios[i].name, "-", "-");
		printf(" %11.1f %9.1f %8.2f\n", call[i].mean, net, net / swap_ns);
	}
	lb_bench__destroy(bsk);
	xdp_swap__destroy(swap);
	dp_env_close(&env);
	return 0;
}
