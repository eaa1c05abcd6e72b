/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one clock of the daemons: CLOCK_MONOTONIC in nanoseconds, the clock
 * the data plane reads with bpf_ktime_get_ns(), so user space and BPF
 * timestamps compare directly.
 */
#ifndef XLB_CLOCK_H
#define XLB_CLOCK_H

#include <stdint.h>
#include <time.h>

#define XLB_NSEC_PER_SEC  1000000000ull
#define XLB_NSEC_PER_MSEC 1000000ull

static inline uint64_t xlb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * XLB_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif /* XLB_CLOCK_H */
