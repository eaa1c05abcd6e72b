// SPDX-License-Identifier: BSD-2-Clause
/* Sequence tracking: receive windows per origin and the retransmit ring. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "seqtrack.h"

static enum sync_seq_verdict rx(struct sync_rxseq *st, uint64_t epoch, uint64_t seq,
				struct sync_seq_result *res)
{
	sync_rxseq_receive(st, epoch, seq, res);
	return res->verdict;
}

static void test_in_order(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	uint64_t s, f, t;

	/* first contact starts the stream where it is */
	assert_int_equal(rx(&st, 7, 40, &r), SYNC_SEQ_NEW_STREAM);
	assert_int_equal(r.new_epoch, 0);
	for (s = 41; s < 3000; s++) {
		assert_int_equal(rx(&st, 7, s, &r), SYNC_SEQ_ACCEPT);
		assert_true(r.lost == 0);
	}
	assert_true(st.top == 2999);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
}

static void test_gap_late_duplicate(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	uint64_t f, t;

	rx(&st, 1, 1, &r);
	assert_int_equal(rx(&st, 1, 5, &r), SYNC_SEQ_GAP);
	assert_true(r.gap_from == 2 && r.gap_to == 4);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 2 && t == 4);
	/* a late fill in the middle splits the hole */
	assert_int_equal(rx(&st, 1, 3, &r), SYNC_SEQ_LATE);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 2 && t == 2);
	assert_int_equal(rx(&st, 1, 2, &r), SYNC_SEQ_LATE);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 4 && t == 4);
	assert_int_equal(rx(&st, 1, 4, &r), SYNC_SEQ_LATE);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
	/* everything seen is a duplicate */
	assert_int_equal(rx(&st, 1, 3, &r), SYNC_SEQ_DUPLICATE);
	assert_int_equal(rx(&st, 1, 5, &r), SYNC_SEQ_DUPLICATE);
	assert_int_equal(rx(&st, 1, 1, &r), SYNC_SEQ_DUPLICATE);
	assert_int_equal(rx(&st, 1, 6, &r), SYNC_SEQ_ACCEPT);
}

static void test_stale(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	const uint64_t n = 3 * SYNC_SEQ_WINDOW;
	uint64_t s;

	assert_int_equal(rx(&st, 0, 1, &r), SYNC_SEQ_STALE); /* no epoch */
	assert_int_equal(rx(&st, 5, 0, &r), SYNC_SEQ_STALE); /* no sequence */
	for (s = 1; s <= n; s++)
		rx(&st, 5, s, &r);
	/* older than the window: cannot be told from a replay */
	assert_int_equal(rx(&st, 5, n - SYNC_SEQ_WINDOW, &r), SYNC_SEQ_STALE);
	assert_int_equal(rx(&st, 5, n + 1 - SYNC_SEQ_WINDOW, &r), SYNC_SEQ_DUPLICATE);
	assert_int_equal(rx(&st, 5, 100, &r), SYNC_SEQ_STALE);
	/* an older incarnation */
	assert_int_equal(rx(&st, 4, n + 1, &r), SYNC_SEQ_STALE);
	assert_true(st.top == n);
}

static void test_epoch_change(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	uint64_t f, t;

	rx(&st, 10, 500, &r);
	/* restarted origin: numbering starts over, from 1 */
	assert_int_equal(rx(&st, 11, 1, &r), SYNC_SEQ_ACCEPT);
	assert_int_equal(r.new_epoch, 1);
	assert_true(st.epoch == 11 && st.top == 1);
	/* a restart whose first messages were lost shows them as a gap */
	assert_int_equal(rx(&st, 12, 3, &r), SYNC_SEQ_GAP);
	assert_int_equal(r.new_epoch, 1);
	assert_true(r.gap_from == 1 && r.gap_to == 2);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 1 && t == 2);
	/* the old incarnation's stragglers are stale */
	assert_int_equal(rx(&st, 11, 2, &r), SYNC_SEQ_STALE);
}

static void test_heartbeat(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;

	/* first contact through a heartbeat: no gap (the snapshot's job) */
	assert_int_equal(sync_rxseq_heartbeat(&st, 3, 100, &r), 0);
	assert_int_equal(r.verdict, SYNC_SEQ_NEW_STREAM);
	assert_true(st.top == 100);
	assert_int_equal(rx(&st, 3, 101, &r), SYNC_SEQ_ACCEPT);
	/* tail loss: 102..104 sent, none arrived */
	assert_int_equal(sync_rxseq_heartbeat(&st, 3, 104, &r), 1);
	assert_true(r.gap_from == 102 && r.gap_to == 104);
	assert_int_equal(sync_rxseq_heartbeat(&st, 3, 101, &r), 0);
	assert_int_equal(sync_rxseq_heartbeat(&st, 2, 999, &r), 0); /* older epoch */
	/* restarted: [1, last] is missing */
	assert_int_equal(sync_rxseq_heartbeat(&st, 4, 3, &r), 1);
	assert_int_equal(r.new_epoch, 1);
	assert_true(r.gap_from == 1 && r.gap_to == 3);
	/* restarted and silent so far */
	assert_int_equal(sync_rxseq_heartbeat(&st, 5, 0, &r), 0);
	assert_int_equal(r.new_epoch, 1);
}

static void test_window_loss(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	uint64_t f, t, far = 1 + SYNC_SEQ_WINDOW + 10;

	rx(&st, 1, 1, &r);
	/* a jump beyond the window: 10 holes can never be held */
	assert_int_equal(rx(&st, 1, far, &r), SYNC_SEQ_GAP);
	assert_true(r.gap_from == 2 && r.gap_to == far - 1);
	assert_true(r.lost == 10);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == far - SYNC_SEQ_WINDOW + 1 && t == far - 1);
	/* each new sequence pushes one more hole out */
	assert_int_equal(rx(&st, 1, far + 1, &r), SYNC_SEQ_ACCEPT);
	assert_true(r.lost == 1);
	/* filling holes stops the loss */
	for (f = far - SYNC_SEQ_WINDOW + 2; f < far; f++)
		assert_int_equal(rx(&st, 1, f, &r), SYNC_SEQ_LATE);
	assert_int_equal(rx(&st, 1, far + 2, &r), SYNC_SEQ_ACCEPT);
	assert_true(r.lost == 0);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
}

/* A snapshot whose walk began before the first message of the stream
 * arrived covers less than the first contact took as seen: the rest is
 * missing, and asked for. */
static void test_cover_first_contact(void **state)
{
	struct sync_rxseq st = { 0 };
	struct sync_seq_result r;
	uint64_t f, t, s;

	/* first contact by a heartbeat at 100, then batches 101..110 */
	sync_rxseq_heartbeat(&st, 7, 100, &r);
	assert_int_equal(r.verdict, SYNC_SEQ_NEW_STREAM);
	for (s = 101; s <= 110; s++)
		assert_int_equal(rx(&st, 7, s, &r), SYNC_SEQ_ACCEPT);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
	sync_rxseq_cover(&st, 7, 90); /* the walk began at 90 */
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 91 && t == 100);
	for (s = 91; s <= 100; s++)
		assert_int_equal(rx(&st, 7, s, &r), SYNC_SEQ_LATE);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
	/* a later snapshot changes nothing of that */
	sync_rxseq_cover(&st, 7, 95);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);

	/* first contact by a batch at 50: 50 arrived, up to 49 assumed */
	memset(&st, 0, sizeof(st));
	assert_int_equal(rx(&st, 7, 50, &r), SYNC_SEQ_NEW_STREAM);
	sync_rxseq_cover(&st, 7, 40);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 41 && t == 49);

	/* known early from the first chunk: missing at once, and still
	 * missing after the END until it arrives */
	memset(&st, 0, sizeof(st));
	sync_rxseq_heartbeat(&st, 7, 100, &r);
	sync_rxseq_uncover(&st, 7, 96);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 97 && t == 99);
	sync_rxseq_cover(&st, 7, 96);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 1);
	assert_true(f == 97 && t == 99);

	/* a snapshot that covers all of it: nothing missing */
	memset(&st, 0, sizeof(st));
	sync_rxseq_heartbeat(&st, 7, 100, &r);
	assert_int_equal(rx(&st, 7, 101, &r), SYNC_SEQ_ACCEPT);
	sync_rxseq_cover(&st, 7, 100);
	assert_int_equal(sync_rxseq_missing(&st, &f, &t), 0);
}

static void test_txring(void **state)
{
	struct sync_txring r;
	const uint8_t *b;
	uint8_t msg[200];
	size_t len;
	uint64_t s;

	assert_int_equal(sync_txring_init(&r, 0, 10), -EINVAL);
	assert_int_equal(sync_txring_init(&r, 3, 1000), 0);
	assert_true(sync_txring_first(&r) == 0);
	assert_int_equal(sync_txring_lookup(&r, 1, 1), SYNC_TXR_FUTURE);
	assert_int_equal(sync_txring_put(&r, 0, msg, 1), -EINVAL);
	for (s = 1; s <= 5; s++) {
		memset(msg, (int)s, sizeof(msg));
		assert_int_equal(sync_txring_put(&r, s, msg, 10 * s), 0);
	}
	/* count bound: 3 kept */
	assert_true(sync_txring_first(&r) == 3); /* 1 and 2 evicted */
	assert_int_equal(sync_txring_lookup(&r, 3, 5), SYNC_TXR_PRESENT);
	assert_int_equal(sync_txring_lookup(&r, 2, 4), SYNC_TXR_GONE);
	assert_int_equal(sync_txring_lookup(&r, 4, 6), SYNC_TXR_FUTURE);
	assert_int_equal(sync_txring_lookup(&r, 5, 4), SYNC_TXR_FUTURE);
	assert_int_equal(sync_txring_lookup(&r, 0, 4), SYNC_TXR_FUTURE);
	assert_int_equal(sync_txring_get(&r, 4, &b, &len), 0);
	assert_int_equal(len, 40);
	assert_int_equal(b[0], 4);
	assert_int_equal(b[39], 4);
	assert_int_equal(sync_txring_get(&r, 2, &b, &len), -ENOENT);
	assert_int_equal(sync_txring_get(&r, 6, &b, &len), -ENOENT);
	/* sequences must follow on */
	assert_int_equal(sync_txring_put(&r, 7, msg, 1), -EINVAL);
	assert_int_equal(sync_txring_put(&r, 5, msg, 1), -EINVAL);
	sync_txring_free(&r);

	/* byte bound */
	assert_int_equal(sync_txring_init(&r, 100, 150), 0);
	assert_int_equal(sync_txring_put(&r, 1, msg, 100), 0);
	assert_int_equal(sync_txring_put(&r, 2, msg, 40), 0);
	assert_true(r.bytes == 140);
	assert_int_equal(sync_txring_put(&r, 3, msg, 60), 0); /* evicts 1 */
	assert_true(sync_txring_first(&r) == 2);
	assert_true(r.bytes == 100);
	assert_int_equal(sync_txring_put(&r, 4, msg, 151), -EMSGSIZE);
	assert_int_equal(sync_txring_put(&r, 4, msg, 150), 0); /* evicts all else */
	assert_true(sync_txring_first(&r) == 4 && r.n == 1);
	/* wrap around many times */
	for (s = 5; s < 1000; s++)
		assert_int_equal(sync_txring_put(&r, s, msg, 1 + s % 7), 0);
	assert_int_equal(sync_txring_lookup(&r, sync_txring_first(&r), 999), SYNC_TXR_PRESENT);
	for (s = sync_txring_first(&r); s < 1000; s++) {
		assert_int_equal(sync_txring_get(&r, s, &b, &len), 0);
		assert_int_equal(len, 1 + s % 7);
	}
	sync_txring_free(&r);

	/* one buffer, many sizes: every message kept reads back byte for
	 * byte, the newest is always kept, and the bounds hold */
	{
		static uint8_t big[3000];
		uint64_t x = 12345;

		assert_int_equal(sync_txring_init(&r, 50, 4096), 0);
		for (s = 1; s < 20000; s++) {
			size_t l, i;
			uint64_t k;

			x = x * 6364136223846793005ull + 1442695040888963407ull;
			l = (size_t)(x >> 33) % (s % 10 ? 300 : 3000);
			for (i = 0; i < l; i++)
				big[i] = (uint8_t)(s * 31 + i);
			assert_int_equal(sync_txring_put(&r, s, big, l), 0);
			assert_true(r.n >= 1 && r.n <= 50 && r.bytes <= 4096);
			assert_true(sync_txring_first(&r) + r.n - 1 == s);
			if (s % 97)
				continue;
			for (k = sync_txring_first(&r); k <= s; k++) {
				assert_int_equal(sync_txring_get(&r, k, &b, &len), 0);
				for (i = 0; i < len; i++)
					assert_int_equal(b[i], (uint8_t)(k * 31 + i));
			}
		}
		assert_int_equal(sync_txring_get(&r, s - 1, &b, &len), 0);
		sync_txring_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),  cmocka_unit_test(test_gap_late_duplicate),
		cmocka_unit_test(test_stale),	  cmocka_unit_test(test_epoch_change),
		cmocka_unit_test(test_heartbeat), cmocka_unit_test(test_window_loss),
		cmocka_unit_test(test_txring),	  cmocka_unit_test(test_cover_first_contact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
