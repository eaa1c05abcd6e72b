// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_sync_capture: the data plane's per-packet cost of a new flow with
 * the inline capture on vs off (sync_ctl flags XLB_SYNC_CTL_INLINE), as a
 * ratio measured in one run. Method B of bench/bench_dp.c: BPF_PROG_TEST_RUN
 * calls with repeat = 1, each on a fresh client tuple (the previous call's
 * session, reverse entry and SNAT port are released from user space
 * between calls, outside the timed region); the fixed per-call overhead is
 * measured as duration(xdp_swap, repeat = 1) - cost of xdp_swap alone
 * (repeat = 1e7) and subtracted. Off and on alternate in blocks (the order
 * flips every round) so that drift on the shared machine hits both alike.
 *
 * While the capture is on, a consumer thread drains sync_events with
 * libbpf's ring_buffer__poll() (as syncd does, on its own thread and
 * waiting in epoll, so the producer's wake-ups are part of the cost).
 * Checked: every verdict XDP_TX; per block, SESSION_NEW moved once per
 * call, SYNC_EVENTS by the records per flow (on) or not at all (off), no
 * drop, SYNC_LOST never; at the end the consumer got every record.
 *
 * Usage: bench_sync_capture [-n calls per cell] [-b block]   (root; it
 * enters a private network namespace, as tests/bpf and bench_dp do)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "xdp_swap.skel.h"
#include "dp_fixture.h"

static struct dp_env env;
static _Atomic bool stop, paused, idle;
static _Atomic uint64_t consumed;

/* Modes, measured side by side: capture off; on; on, no wake-up. */
enum { M_OFF, M_ON, M_ON_NOWAKE, M_N };

struct scen {
	const char *name;
	unsigned int vip;
	unsigned int records; /* capture records per new flow */
	bool fnat;
};

static const struct scen scens[] = {
	{ "new flow FNAT (session + reverse)", DP_VIP_TCP, 2, true },
	{ "new flow DSR (session)", DP_VIP_DSR, 1, false },
};
#define NSCEN (sizeof(scens) / sizeof(scens[0]))

struct cell {
	double sum;
	uint64_t n;
	uint32_t *d; /* every duration, for the median */
};

static int run_once(int prog_fd, const uint8_t *in, size_t len, uint32_t repeat, uint32_t *verdict,
		    uint32_t *duration)
{
	return dp_test_run(prog_fd, env.ifindex_a, in, len, NULL, NULL, repeat, verdict, duration);
}

static int on_record(void *ctx, void *data, size_t size)
{
	atomic_fetch_add(&consumed, 1);
	return 0;
}

static void *consumer_main(void *arg)
{
	struct ring_buffer *rb = arg;

	while (!atomic_load(&stop)) {
		if (atomic_load(&paused)) {
			atomic_store(&idle, true);
			usleep(1000);
			continue;
		}
		atomic_store(&idle, false);
		ring_buffer__poll(rb, 20);
	}
	ring_buffer__consume(rb);
	return NULL;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static int set_capture(bool on)
{
	struct xlb_sync_ctl c;
	uint32_t zero = 0;

	memset(&c, 0, sizeof(c));
	if (on) {
		c.flags = XLB_SYNC_CTL_INLINE;
		c.sessions_id = map_id(dp_fd_sessions(&env));
		c.reverse_id = map_id(dp_fd_reverse(&env));
	}
	return bpf_map_update_elem(bpf_map__fd(env.skel->maps.sync_ctl), &zero, &c, BPF_ANY)
		       ? -errno
		       : 0;
}

/* Release the flow of client (@saddr, @sport) to @vip: not timed. */
static void release(const struct scen *sc, uint32_t saddr, uint16_t sport)
{
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	uint32_t port;

	dp_flow_key(&k, saddr, dp_vip_addr(sc->vip), sport, dp_vip_port(sc->vip), IPPROTO_TCP);
	if (dp_session_get(&env, &k, &s))
		return;
	bpf_map_delete_elem(dp_fd_sessions(&env), &k);
	if (sc->fnat) {
		dp_flow_key(&rk, ntohl(s.backend.w[0]), ntohl(s.snat.w[0]), ntohs(s.backend_port),
			    ntohs(s.snat_port), IPPROTO_TCP);
		bpf_map_delete_elem(dp_fd_reverse(&env), &rk);
		port = ntohs(s.snat_port);
		bpf_map_update_elem(bpf_map__fd(env.skel->maps.port_pool), NULL, &port, 0);
	}
}

/*
 * on: the consumer thread waits in epoll (as syncd does) and drains at
 * once, so nearly every record finds the consumer caught up and the
 * producer wakes it (irq_work, then a wake-up of the waiting thread).
 * on, no wake-up: the consumer is parked during the block and the ring is
 * drained after it (not timed); the consumer position then trails, so no
 * record but the block's first wakes anyone: the cost of writing the
 * records alone.
 */
static int mode_enter(unsigned int md, struct ring_buffer *rb)
{
	int i;

	atomic_store(&paused, md == M_ON_NOWAKE);
	if (md != M_ON_NOWAKE)
		return 0;
	for (i = 0; i < 1000 && !atomic_load(&idle); i++)
		usleep(1000);
	if (!atomic_load(&idle))
		return -ETIMEDOUT;
	ring_buffer__consume(rb);
	return 0;
}

static uint64_t seq; /* client tuple counter, never reused in a run */

/* One block of @n new flows of @sc; durations appended to @c. */
static int block(const struct scen *sc, bool on, unsigned int n, struct cell *c)
{
	uint64_t st0[XLB_STAT_MAX], st1[XLB_STAT_MAX], i;
	uint8_t pkt[DP_PKT_MAX];
	struct dp_pkt_spec s;
	uint32_t verdict, dur;
	size_t len;
	int err;

	memset(&s, 0, sizeof(s));
	s.proto = IPPROTO_TCP;
	s.daddr = dp_vip_addr(sc->vip);
	s.dport = dp_vip_port(sc->vip);
	s.tcp_flags = DP_TCP_SYN;
	s.payload_len = 64;
	dp_stats_all(&env, st0);
	for (i = 0; i < n; i++, seq++) {
		s.saddr = DP_IP(198, 18, 64, 0) + (uint32_t)(seq / 60000 % 16000);
		s.sport = (uint16_t)(1024 + seq % 60000);
		len = dp_build(pkt, sizeof(pkt), &s);
		err = run_once(env.prog_fd, pkt, len, 1, &verdict, &dur);
		if (err || verdict != XDP_TX) {
			fprintf(stderr, "%s, capture %s: err %d verdict %u\n", sc->name,
				on ? "on" : "off", err, verdict);
			return err ? err : -EPROTO;
		}
		c->d[c->n++] = dur;
		c->sum += dur;
		release(sc, s.saddr, s.sport);
	}
	dp_stats_all(&env, st1);
#define D(x) (st1[x] - st0[x])
	if (D(XLB_STAT_SESSION_NEW) != n || D(XLB_STAT_FWD_TX) != n ||
	    D(XLB_STAT_SYNC_EVENTS) != (on ? (uint64_t)n * sc->records : 0) ||
	    D(XLB_STAT_SYNC_LOST) || D(XLB_STAT_DROP_SESSION_FULL) ||
	    D(XLB_STAT_DROP_PORTS_EXHAUSTED) || D(XLB_STAT_DROP_FIB)) {
		fprintf(stderr,
			"%s, capture %s: counters: new %llu tx %llu "
			"events %llu lost %llu for %u calls\n",
			sc->name, on ? "on" : "off", (unsigned long long)D(XLB_STAT_SESSION_NEW),
			(unsigned long long)D(XLB_STAT_FWD_TX),
			(unsigned long long)D(XLB_STAT_SYNC_EVENTS),
			(unsigned long long)D(XLB_STAT_SYNC_LOST), n);
		return -EPROTO;
	}
#undef D
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double median(struct cell *c)
{
	qsort(c->d, c->n, sizeof(*c->d), cmp_u32);
	return c->d[c->n / 2];
}

int main(int argc, char **argv)
{
	unsigned int n = 100000, blk = 2000, rounds, r, si, m;
	struct cell cells[NSCEN][M_N];
	double swap_alone, swap_call, overhead;
	struct ring_buffer *rb;
	struct xdp_swap *swap;
	struct dp_pkt_spec s;
	uint8_t pkt[DP_PKT_MAX];
	uint32_t verdict, dur;
	uint64_t events, lost, i;
	struct timespec t0, t1;
	pthread_t th;
	size_t len;
	int opt, err, swap_fd;

	while ((opt = getopt(argc, argv, "n:b:")) != -1) {
		if (opt == 'n') {
			n = (unsigned int)strtoul(optarg, NULL, 0);
		} else if (opt == 'b') {
			blk = (unsigned int)strtoul(optarg, NULL, 0);
		} else {
			fprintf(stderr,
				"usage: %s [-n calls per cell] "
				"[-b block]\n",
				argv[0]);
			return 2;
		}
	}
	if (blk < 100)
		blk = 100;
	if (n < blk)
		n = blk;
	rounds = n / blk;
	n = rounds * blk;

	err = dp_netns_setup();
	if (err) {
		fprintf(stderr, "failed to set up the network namespace: %s\n", strerror(-err));
		return 1;
	}
	err = dp_env_open(&env, 1u << 16);
	err = err ?: dp_std_config(&env, 60000);
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
	rb = ring_buffer__new(bpf_map__fd(env.skel->maps.sync_events), on_record, NULL, NULL);
	if (!rb || pthread_create(&th, NULL, consumer_main, rb)) {
		fprintf(stderr, "cannot start the ring buffer consumer\n");
		return 1;
	}
	for (si = 0; si < NSCEN; si++)
		for (m = 0; m < M_N; m++) {
			cells[si][m].sum = 0;
			cells[si][m].n = 0;
			cells[si][m].d = calloc(n, sizeof(uint32_t));
			if (!cells[si][m].d)
				return 1;
		}

	/* call overhead: xdp_swap alone (repeat 1e7) vs repeat = 1 calls */
	memset(&s, 0, sizeof(s));
	s.saddr = DP_CLIENT;
	s.daddr = DP_NONVIP;
	s.proto = IPPROTO_TCP;
	s.sport = 40000;
	s.dport = 22;
	s.tcp_flags = DP_TCP_ACK;
	s.payload_len = 64;
	len = dp_build(pkt, sizeof(pkt), &s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run_once(swap_fd, pkt, len, 10000000, &verdict, &dur) || verdict != XDP_TX)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	swap_alone = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e7;
	swap_call = 0;
	for (i = 0; i < n; i++) {
		if (run_once(swap_fd, pkt, len, 1, &verdict, &dur) || verdict != XDP_TX)
			return 1;
		swap_call += dur;
	}
	swap_call /= n;
	overhead = swap_call - swap_alone;

	/* warm-up: one block of each, not counted; then rounds of every
	 * (scenario, mode) block, the mode order rotating every round */
	for (r = 0; r <= rounds; r++)
		for (si = 0; si < NSCEN; si++)
			for (m = 0; m < M_N; m++) {
				unsigned int md = (m + r) % M_N;
				struct cell w = { 0, 0, NULL }, *c = &w;

				if (!r) {
					w.d = calloc(blk, sizeof(uint32_t));
					if (!w.d)
						return 1;
				} else {
					c = &cells[si][md];
				}
				if (set_capture(md != M_OFF) || mode_enter(md, rb) ||
				    block(&scens[si], md != M_OFF, blk, c))
					return 1;
				if (md == M_ON_NOWAKE)
					ring_buffer__consume(rb);
				free(w.d);
			}
	atomic_store(&paused, false);
	set_capture(false);
	events = dp_stat(&env, XLB_STAT_SYNC_EVENTS);
	lost = dp_stat(&env, XLB_STAT_SYNC_LOST);
	for (i = 0; i < 100 && atomic_load(&consumed) < events; i++)
		usleep(10000);
	atomic_store(&stop, true);
	pthread_join(th, NULL);

	printf("bench_sync_capture: one run, %ld CPUs online; %u calls per "
	       "cell in %u blocks of %u; modes off / on / on, no wake-up rotating\n",
	       sysconf(_SC_NPROCESSORS_ONLN), n, rounds, blk);
	printf("xdp_swap alone %.2f ns/pass (repeat=10000000); per repeat=1 "
	       "call %.1f ns -> overhead %.1f ns\n",
	       swap_alone, swap_call, overhead);
	printf("capture records: %llu pushed, %llu consumed, %llu lost "
	       "(SYNC_LOST)\n\n",
	       (unsigned long long)events, (unsigned long long)atomic_load(&consumed),
	       (unsigned long long)lost);
	printf("per-packet cost of a new flow, net of the call overhead (mean "
	       "of repeat=1 calls; ratio of medians in brackets)\n");
	printf("%-34s %9s %9s %8s %8s %9s %8s %8s %7s\n", "scenario", "off ns", "on ns", "on/off",
	       "(med)", "nowake ns", "nw/off", "(med)", "records");
	for (si = 0; si < NSCEN; si++) {
		double v[M_N], med[M_N];

		for (m = 0; m < M_N; m++) {
			v[m] = cells[si][m].sum / cells[si][m].n - overhead;
			med[m] = median(&cells[si][m]) - overhead;
		}
		printf("%-34s %9.1f %9.1f %8.3f %8.3f %9.1f %8.3f %8.3f %7u\n", scens[si].name,
		       v[M_OFF], v[M_ON], v[M_ON] / v[M_OFF], med[M_ON] / med[M_OFF],
		       v[M_ON_NOWAKE], v[M_ON_NOWAKE] / v[M_OFF], med[M_ON_NOWAKE] / med[M_OFF],
		       scens[si].records);
		printf("RESULT scenario=%s off_ns=%.1f on_ns=%.1f ratio=%.4f "
		       "median_ratio=%.4f nowake_ns=%.1f nowake_ratio=%.4f "
		       "nowake_median_ratio=%.4f\n",
		       scens[si].vip == DP_VIP_TCP ? "fnat" : "dsr", v[M_OFF], v[M_ON],
		       v[M_ON] / v[M_OFF], med[M_ON] / med[M_OFF], v[M_ON_NOWAKE],
		       v[M_ON_NOWAKE] / v[M_OFF], med[M_ON_NOWAKE] / med[M_OFF]);
	}
	ring_buffer__free(rb);
	xdp_swap__destroy(swap);
	dp_env_close(&env);
	return (lost || atomic_load(&consumed) != events) ? 1 : 0;
}
