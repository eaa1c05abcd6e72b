// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark wrappers (not shipped): BPF_PROG_TEST_RUN with repeat > 1 runs
 * a program again on its own output, so each wrapper first restores the
 * frame's headers from bench_orig[] and then runs the code under test.
 * xdp_lb_bench runs the real data plane (lb.bpf.c, maps shared with the lb
 * object by fd); xdp_swap_bench runs the MAC-swap baseline after the same
 * restore, so both pay the same restore cost.
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
