// SPDX-License-Identifier: BSD-2-Clause
/* lbd -> syncd frames of capture records (lib/synclocal.h): what lbd
 * writes passes syncd's check; anything else is refused whole. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "synclocal.h"

static uint8_t frame[XLB_SYNCLOCAL_FRAME_MAX + 64];

static void record(struct xlb_sync_event *ev, uint8_t tag)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = 1000 + tag;
	ev->map_id = 7;
	ev->op = XLB_SYNC_OP_DELETE;
	ev->source = XLB_SYNC_SRC_LBD;
	ev->key_size = 40;
	ev->value_size = 64;
	memset(ev->key, tag, ev->key_size);
	memset(ev->value, tag ^ 0xff, ev->value_size);
}

/* A frame of n records as lbd writes it; returns its length. */
static size_t build(size_t n)
{
	struct xlb_sync_event ev;
	size_t i;

	memset(frame, 0, sizeof(frame));
	xlb_synclocal_put_hdr(frame, n);
	for (i = 0; i < n; i++) {
		record(&ev, (uint8_t)i);
		xlb_synclocal_put_record(frame, i, &ev);
	}
	return xlb_synclocal_frame_size(n);
}

static void test_round_trip(void **state)
{
	struct xlb_sync_event want, got;
	size_t len, n = 0, i;

	len = build(1);
	assert_int_equal(len, sizeof(struct xlb_synclocal_hdr) + sizeof(struct xlb_sync_event));
	assert_null(xlb_synclocal_check(frame, len, &n));
	assert_int_equal(n, 1);
	len = build(XLB_SYNCLOCAL_MAX_RECORDS);
	assert_true(len <= XLB_SYNCLOCAL_FRAME_MAX);
	assert_null(xlb_synclocal_check(frame, len, &n));
	assert_int_equal(n, XLB_SYNCLOCAL_MAX_RECORDS);
	for (i = 0; i < n; i++) {
		record(&want, (uint8_t)i);
		xlb_synclocal_get_record(frame, i, &got);
		assert_memory_equal(&want, &got, sizeof(want));
	}
	/* records are copied out: an odd buffer address is fine */
	memmove(frame + 1, frame, len);
	assert_null(xlb_synclocal_check(frame + 1, len, &n));
	xlb_synclocal_get_record(frame + 1, 3, &got);
	record(&want, 3);
	assert_memory_equal(&want, &got, sizeof(want));
}

/* Length and header: exactly one frame of this version and build. */
static void test_bad_header(void **state)
{
	struct xlb_synclocal_hdr h;
	size_t len, n = 99;

	len = build(3);
	assert_non_null(xlb_synclocal_check(frame, 0, &n));
	assert_non_null(xlb_synclocal_check(frame, sizeof(h) - 1, &n));
	assert_non_null(xlb_synclocal_check(frame, len - 1, &n));
	assert_non_null(xlb_synclocal_check(frame, len + 1, &n));
	assert_non_null(xlb_synclocal_check(frame, sizeof(h), &n));
	assert_int_equal(n, 99); /* untouched when refused */

#define BAD_HDR(field, v)                                                                          \
	do {                                                                                       \
		build(3);                                                                          \
		memcpy(&h, frame, sizeof(h));                                                      \
		h.field = (v);                                                                     \
		memcpy(frame, &h, sizeof(h));                                                      \
		assert_non_null(xlb_synclocal_check(frame, len, &n));                              \
	} while (0)
	BAD_HDR(magic, XLB_SYNCLOCAL_MAGIC ^ 1);
	BAD_HDR(version, XLB_SYNCLOCAL_VERSION + 1);
	BAD_HDR(record_size, sizeof(struct xlb_sync_event) - 8);
	BAD_HDR(count, 0);
	BAD_HDR(count, 2);
	BAD_HDR(count, 4);
#undef BAD_HDR
	/* more records than a frame may hold, even if the length agrees */
	build(1);
	memcpy(&h, frame, sizeof(h));
	h.count = XLB_SYNCLOCAL_MAX_RECORDS + 1;
	memcpy(frame, &h, sizeof(h));
	assert_non_null(xlb_synclocal_check(frame, xlb_synclocal_frame_size(h.count), &n));
}

/* lbd's count of deletes it could not hand over travels in the header:
 * with records, or alone in a frame of none (never a frame of nothing). */
static void test_lost_notice(void **state)
{
	uint8_t hdr[sizeof(struct xlb_synclocal_hdr)];
	size_t len, n = 99;

	(void)state;
	xlb_synclocal_put_hdr_lost(hdr, 0, 1234);
	assert_null(xlb_synclocal_check(hdr, sizeof(hdr), &n));
	assert_int_equal(n, 0);
	assert_int_equal(xlb_synclocal_lost(hdr), 1234);
	xlb_synclocal_put_hdr_lost(hdr, 0, 0);
	assert_non_null(xlb_synclocal_check(hdr, sizeof(hdr), &n));
	/* with records */
	len = build(3);
	assert_int_equal(xlb_synclocal_lost(frame), 0);
	xlb_synclocal_put_hdr_lost(frame, 3, 7);
	assert_null(xlb_synclocal_check(frame, len, &n));
	assert_int_equal(n, 3);
	assert_int_equal(xlb_synclocal_lost(frame), 7);
}

/* One bad record spoils the frame. */
static void test_bad_record(void **state)
{
	struct xlb_sync_event ev;
	size_t len, n;

#define BAD_REC(stmt)                                                                              \
	do {                                                                                       \
		len = build(3);                                                                    \
		xlb_synclocal_get_record(frame, 2, &ev);                                           \
		stmt;                                                                              \
		xlb_synclocal_put_record(frame, 2, &ev);                                           \
		assert_non_null(xlb_synclocal_check(frame, len, &n));                              \
	} while (0)
	BAD_REC(ev.op = 0);
	BAD_REC(ev.op = 3);
	BAD_REC(ev.source = XLB_SYNC_SRC_INLINE);
	BAD_REC(ev.map_id = 0);
	BAD_REC(ev.key_size = 0);
	BAD_REC(ev.key_size = XLB_SYNC_KEY_MAX + 1);
	BAD_REC(ev.value_size = XLB_SYNC_VALUE_MAX + 1);
	BAD_REC((ev.op = XLB_SYNC_OP_UPDATE, ev.value_size = 0));
	BAD_REC(ev.pad = 1);
	BAD_REC(ev.pad2 = 1);
#undef BAD_REC
	/* the limits themselves are fine, and so is an update */
	len = build(3);
	xlb_synclocal_get_record(frame, 1, &ev);
	ev.op = XLB_SYNC_OP_UPDATE;
	ev.key_size = XLB_SYNC_KEY_MAX;
	ev.value_size = XLB_SYNC_VALUE_MAX;
	xlb_synclocal_put_record(frame, 1, &ev);
	assert_null(xlb_synclocal_check(frame, len, &n));
	assert_int_equal(n, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_lost_notice),
		cmocka_unit_test(test_bad_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
