// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark wrappers (not shipped): BPF_PROG_TEST_RUN with repeat > 1 runs
 * a program again on its own output, so each wrapper first restores the
 * frame's headers from bench_orig[] and then runs the code under test.
 * xdp_lb_bench runs the real data plane (lb.bpf.c, maps shared with the lb
 * object by fd); xdp_swap_bench runs the MAC-swap baseline after the same
 * restore, so both pay the same restore cost.
 *
 * xdp_gen_bench is bench_sync_repl's session generator: one run (repeat 1)
 * makes gen_count new sessions through the real data plane (lb_process on
 * a live node's maps), each from the SYN in bench_orig with the client
 * tuple of entry gen_next, gen_next + 1, ... (gen_addr_base + i / gen_ports,
 * gen_port_base + i % gen_ports). bpf_loop and a global function keep it
 * within the verifier's limits.
 */
#include "lb.bpf.c"

#define BENCH_HDR 64 /* Ethernet + IPv4 + TCP + 10 payload bytes */

__u8 bench_orig[BENCH_HDR];

static __always_inline int restore(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + BENCH_HDR > data_end)
		return -1;
	__builtin_memcpy(data, bench_orig, BENCH_HDR);
	return 0;
}

SEC("xdp")
int xdp_lb_bench(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	return lb_process(ctx);
}

SEC("xdp")
int xdp_swap_bench(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if (restore(ctx))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

__u32 gen_count, gen_ports, gen_addr_base, gen_port_base;
__u64 gen_next, gen_tx; /* next entry; runs that gave XDP_TX */

#define GEN_SADDR_OFF (14 + 12) /* Ethernet + IPv4 header: source address */
#define GEN_SPORT_OFF (14 + 20) /* + TCP: source port (no IP options) */

/* The data plane as a global function: verified once on its own, as the
 * XDP program is, not again inside the loop's callback (where the
 * verifier's state pruning gives up: over 1M instructions). */
__noinline int gen_lb_process(struct xdp_md *ctx)
{
	return lb_process(ctx);
}

static long gen_one(__u32 i, void *arg)
{
	struct xdp_md *ctx = *(struct xdp_md **)arg;
	void *data, *data_end;
	__u64 e = gen_next++;
	__u32 a;
	__u16 port;

	if (restore(ctx))
		return 1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + GEN_SPORT_OFF + 2 > data_end || !gen_ports)
		return 1;
	a = bpf_htonl(gen_addr_base + (__u32)(e / gen_ports));
	port = bpf_htons((__u16)(gen_port_base + (__u32)(e % gen_ports)));
	__builtin_memcpy(data + GEN_SADDR_OFF, &a, sizeof(a));
	__builtin_memcpy(data + GEN_SPORT_OFF, &port, sizeof(port));
	if (gen_lb_process(ctx) == XDP_TX)
		gen_tx++;
	return 0;
}

SEC("xdp")
int xdp_gen_bench(struct xdp_md *ctx)
{
	struct xdp_md *c = ctx;

	bpf_loop(gen_count, gen_one, &c, 0);
	return XDP_PASS;
}
