// SPDX-License-Identifier: BSD-2-Clause
/*
 * Peer liveness (syncd/liveness.h): a peer whose heartbeats leave on time is
 * dead after dead_after; one seen stalling gets time in proportion to its
 * stalls, bounded; our own stalls are never the peer's silence.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "liveness.h"

#define MS   1000000ull
#define DEAD (1000 * MS)

/* The peer sends every @gap_ms from @t0 (its clock = ours + 7 s) for @n
 * messages, each arriving 1 ms later; returns the last arrival time. */
static uint64_t beats(struct liveness *l, uint64_t t0, unsigned int n, uint64_t gap_ms)
{
	uint64_t t = t0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		t = t0 + i * gap_ms * MS;
		liveness_heard(l, t + MS, t + 7000 * MS, DEAD);
	}
	return t + MS;
}

static void test_regular_peer(void **state)
{
	struct liveness l;
	uint64_t t;

	memset(&l, 0, sizeof(l));
	assert_false(liveness_expired(&l, 5000 * MS, DEAD)); /* never heard */
	t = beats(&l, 1000 * MS, 50, 100);
	assert_int_equal(liveness_allowed_ns(&l, DEAD), DEAD);
	assert_false(liveness_expired(&l, t + 999 * MS, DEAD));
	assert_true(liveness_expired(&l, t + 1000 * MS, DEAD));
}

static void test_stalling_peer(void **state)
{
	struct liveness l;
	uint64_t t;

	memset(&l, 0, sizeof(l));
	t = beats(&l, 1000 * MS, 10, 100);
	/* the peer's loop stalled 800 ms between two heartbeats */
	liveness_heard(&l, t + 800 * MS, t - MS + 7000 * MS + 800 * MS, DEAD);
	t += 800 * MS;
	assert_int_equal(liveness_allowed_ns(&l, DEAD), 3 * 800 * MS);
	assert_false(liveness_expired(&l, t + 2000 * MS, DEAD));
	assert_true(liveness_expired(&l, t + 2400 * MS, DEAD));

	/* a long stall: bounded by LIVENESS_MAX_FACTOR x dead_after */
	liveness_heard(&l, t + 4000 * MS, t - MS + 7000 * MS + 4000 * MS, DEAD);
	assert_int_equal(liveness_allowed_ns(&l, DEAD), LIVENESS_MAX_FACTOR * DEAD);
	/* longer than any allowance (a restart, a partition): not a stall */
	t += 4000 * MS;
	liveness_forget_stalls(&l);
	beats(&l, t, 5, 100);
	liveness_heard(&l, t + 20000 * MS, t + 7000 * MS + 20000 * MS, DEAD);
	assert_int_equal(liveness_allowed_ns(&l, DEAD), DEAD);
	t += 9000 * MS;

	/* LIVENESS_WINDOW regular heartbeats later: back to dead_after */
	t = beats(&l, t + 9100 * MS, LIVENESS_WINDOW + 1, 100);
	assert_int_equal(liveness_allowed_ns(&l, DEAD), DEAD);
}

/* A retransmitted or reordered message (older send time) is no gap. */
static void test_reordered(void **state)
{
	struct liveness l;
	uint64_t t;

	memset(&l, 0, sizeof(l));
	t = beats(&l, 1000 * MS, 10, 100);
	liveness_heard(&l, t + 10 * MS, 7000 * MS, DEAD); /* sent long ago */
	assert_int_equal(liveness_allowed_ns(&l, DEAD), DEAD);
	assert_false(liveness_expired(&l, t + 10 * MS + 999 * MS, DEAD));
}

/* Our own stall is not the peer's silence. */
static void test_local_stall(void **state)
{
	struct liveness l;
	uint64_t t;

	memset(&l, 0, sizeof(l));
	t = beats(&l, 1000 * MS, 10, 100);
	/* we did not run for 1.5 s: the peer's heartbeats wait unread */
	liveness_stalled(&l, 1500 * MS);
	assert_false(liveness_expired(&l, t + 1600 * MS, DEAD));
	assert_true(liveness_expired(&l, t + 2500 * MS, DEAD));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular_peer),
		cmocka_unit_test(test_stalling_peer),
		cmocka_unit_test(test_reordered),
		cmocka_unit_test(test_local_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
