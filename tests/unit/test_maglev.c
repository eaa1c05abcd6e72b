// SPDX-License-Identifier: BSD-2-Clause
/* Maglev table: population, determinism, weighted shares, disruption. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "maglev.h"
#include "xdplb.h"

#define M  XLB_MAGLEV_SIZE
#define NB 64

struct be_name {
	uint32_t addr; /* like the real caller: address + port bytes */
	uint16_t port;
	uint16_t pad; /* hashed too: keep it zero */
};

static struct be_name names[NB];
static uint32_t *t1, *t2;

static int setup(void **state)
{
	size_t i;

	for (i = 0; i < NB; i++) {
		names[i].addr = 0xc6120200u + (uint32_t)i + 1; /* 198.18.2.x */
		names[i].port = 80;
	}
	t1 = calloc(M, sizeof(*t1));
	t2 = calloc(M, sizeof(*t2));
	return t1 && t2 ? 0 : -1;
}

static int teardown(void **state)
{
	free(t1);
	free(t2);
	return 0;
}

static void mk(struct maglev_backend *be, size_t n, const uint32_t *weights)
{
	size_t i;

	for (i = 0; i < n; i++) {
		be[i].id = (uint32_t)i + 1;
		be[i].weight = weights ? weights[i] : 1;
		be[i].name = &names[i];
		be[i].name_len = sizeof(names[i]);
	}
}

static void count(const uint32_t *t, uint32_t m, size_t *cnt, size_t ncnt)
{
	uint32_t i;

	memset(cnt, 0, ncnt * sizeof(*cnt));
	for (i = 0; i < m; i++) {
		assert_true(t[i] < ncnt);
		cnt[t[i]]++;
	}
}

static void test_populated(void **state)
{
	struct maglev_backend be[NB];
	size_t cnt[NB + 1], i;

	mk(be, 5, NULL);
	assert_int_equal(maglev_build(be, 5, t1, M), 0);
	count(t1, M, cnt, NB + 1);
	assert_int_equal(cnt[0], 0); /* every entry set */
	for (i = 1; i <= 5; i++)
		assert_true(cnt[i] > 0);
	for (i = 6; i <= NB; i++)
		assert_int_equal(cnt[i], 0);

	/* a tiny prime table with as many backends as slots */
	mk(be, 7, NULL);
	assert_int_equal(maglev_build(be, 7, t1, 7), 0);
	count(t1, 7, cnt, NB + 1);
	for (i = 1; i <= 7; i++)
		assert_int_equal(cnt[i], 1);
}

static void test_deterministic(void **state)
{
	struct maglev_backend be[NB], sh[NB], tmp;
	size_t i, round;

	mk(be, 20, NULL);
	assert_int_equal(maglev_build(be, 20, t1, M), 0);
	srand(42);
	for (round = 0; round < 5; round++) {
		memcpy(sh, be, sizeof(be));
		for (i = 19; i > 0; i--) { /* Fisher-Yates */
			size_t j = (size_t)rand() % (i + 1);

			tmp = sh[i];
			sh[i] = sh[j];
			sh[j] = tmp;
		}
		assert_int_equal(maglev_build(sh, 20, t2, M), 0);
		assert_memory_equal(t1, t2, M * sizeof(*t1));
	}
	/* a different name set gives a different table */
	names[0].port = 81;
	assert_int_equal(maglev_build(be, 20, t2, M), 0);
	names[0].port = 80;
	assert_true(memcmp(t1, t2, M * sizeof(*t1)) != 0);
}

static void check_shares(size_t n, const uint32_t *w)
{
	struct maglev_backend be[NB];
	size_t cnt[NB + 1], i;
	double sum = 0;

	mk(be, n, w);
	assert_int_equal(maglev_build(be, n, t1, M), 0);
	count(t1, M, cnt, NB + 1);
	assert_int_equal(cnt[0], 0);
	for (i = 0; i < n; i++)
		sum += w ? w[i] : 1;
	for (i = 0; i < n; i++) {
		double want = M * (w ? w[i] : 1) / sum;
		double got = (double)cnt[i + 1];

		if (got < want * 0.99 || got > want * 1.01)
			fail_msg("backend %zu (weight %u): %zu entries, want %.0f +-1%%", i + 1,
				 w ? w[i] : 1, cnt[i + 1], want);
	}
}

static void test_shares(void **state)
{
	static const uint32_t w1[] = { 1, 2, 3, 4 };
	static const uint32_t w2[] = { 100, 1, 1, 50, 7, 13, 100, 2 };
	static const uint32_t w3[] = { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 };

	check_shares(1, NULL);
	check_shares(3, NULL);
	check_shares(10, NULL);
	check_shares(NB, NULL);
	check_shares(4, w1);
	check_shares(8, w2);
	check_shares(16, w3);
}

/* Equal weights: every backend's count is within one entry of the others
 * (the paper's round robin). */
static void test_equal_exact(void **state)
{
	struct maglev_backend be[NB];
	size_t cnt[NB + 1], i, lo = M, hi = 0;

	mk(be, 9, NULL);
	assert_int_equal(maglev_build(be, 9, t1, M), 0);
	count(t1, M, cnt, NB + 1);
	for (i = 1; i <= 9; i++) {
		lo = cnt[i] < lo ? cnt[i] : lo;
		hi = cnt[i] > hi ? cnt[i] : hi;
	}
	assert_true(hi - lo <= 1);
}

/* Remove one of n backends: entries of the removed backend move (they
 * must), and only a small number of other entries change owner. */
static void disruption(size_t n, size_t gone, const uint32_t *w)
{
	struct maglev_backend be[NB];
	size_t i, moved = 0, orphaned = 0;

	mk(be, n, w);
	assert_int_equal(maglev_build(be, n, t1, M), 0);
	memmove(&be[gone], &be[gone + 1], (n - gone - 1) * sizeof(be[0]));
	assert_int_equal(maglev_build(be, n - 1, t2, M), 0);
	for (i = 0; i < M; i++) {
		if (t1[i] == gone + 1) {
			orphaned++;
			assert_int_not_equal(t2[i], gone + 1);
			assert_int_not_equal(t2[i], 0);
		} else if (t1[i] != t2[i]) {
			moved++;
		}
	}
	assert_true(orphaned > 0);
	if (moved * 50 >= M) /* < 2% of M */
		fail_msg("n=%zu: %zu entries of remaining backends moved (%.2f%% of M)", n, moved,
			 100.0 * moved / M);
}

static void test_disruption(void **state)
{
	static const uint32_t w[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	disruption(10, 3, NULL);
	disruption(10, 0, NULL);
	disruption(NB, 17, NULL);
	disruption(3, 2, NULL);
	disruption(10, 5, w);
}

/* Adding a weight-0 backend or setting one to 0: not in the table. */
static void test_weight_zero(void **state)
{
	static const uint32_t w[] = { 1, 0, 1, 0 };
	struct maglev_backend be[NB];
	size_t cnt[NB + 1];

	mk(be, 4, w);
	assert_int_equal(maglev_build(be, 4, t1, M), 0);
	count(t1, M, cnt, NB + 1);
	assert_int_equal(cnt[0], 0);
	assert_int_equal(cnt[2], 0);
	assert_int_equal(cnt[4], 0);
	assert_int_equal(cnt[1] + cnt[3], M);

	/* the weight-0 entries make no difference to the table */
	be[1] = be[2];
	assert_int_equal(maglev_build(be, 2, t2, M), 0);
	assert_memory_equal(t1, t2, M * sizeof(*t1));
}

static void test_empty(void **state)
{
	static const uint32_t w[] = { 0, 0, 0 };
	struct maglev_backend be[NB];
	uint32_t i;

	for (i = 0; i < M; i++)
		t1[i] = 77;
	assert_int_equal(maglev_build(NULL, 0, t1, M), 0);
	for (i = 0; i < M; i++)
		assert_int_equal(t1[i], XLB_NO_BACKEND);

	mk(be, 3, w);
	for (i = 0; i < M; i++)
		t1[i] = 77;
	assert_int_equal(maglev_build(be, 3, t1, M), 0);
	for (i = 0; i < M; i++)
		assert_int_equal(t1[i], XLB_NO_BACKEND);
}

static void test_bad_m(void **state)
{
	struct maglev_backend be[NB];

	mk(be, 3, NULL);
	errno = 0;
	assert_int_equal(maglev_build(be, 3, t1, 65536), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(maglev_build(be, 3, t1, 9), -1); /* 3 * 3 */
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(maglev_build(be, 3, t1, 1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(maglev_build(be, 3, t1, 0), -1);
	assert_int_equal(errno, EINVAL);
	/* prime but smaller than the backend count */
	errno = 0;
	assert_int_equal(maglev_build(be, 3, t1, 2), -1);
	assert_int_equal(errno, EINVAL);
	/* other primes are fine */
	assert_int_equal(maglev_build(be, 3, t1, 3), 0);
	assert_int_equal(maglev_build(be, 3, t1, 251), 0);
	assert_int_equal(maglev_build(be, 3, t1, 65521), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_populated),  cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_shares),	   cmocka_unit_test(test_equal_exact),
		cmocka_unit_test(test_disruption), cmocka_unit_test(test_weight_zero),
		cmocka_unit_test(test_empty),	   cmocka_unit_test(test_bad_m),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
