/* SPDX-License-Identifier: BSD-2-Clause */
/* The sync micro-benchmarks' median: qsort() order of doubles. */
#ifndef XLB_BENCH_SORT_H
#define XLB_BENCH_SORT_H

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif /* XLB_BENCH_SORT_H */
