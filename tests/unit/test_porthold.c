// SPDX-License-Identifier: BSD-2-Clause
/* SNAT ports on hold (lib/porthold.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "porthold.h"

struct got {
	uint16_t ports[16];
	int n;
	int fail_at; /* fn fails on this call (1-based), 0: never */
};

static int take(void *arg, uint16_t port)
{
	struct got *g = arg;

	if (g->fail_at && g->n + 1 == g->fail_at)
		return -EIO;
	g->ports[g->n++] = port;
	return 0;
}

/* Nothing leaves before its time; what is due leaves oldest first. */
static void test_due_in_order(void **state)
{
	struct port_hold h;
	struct got g = { 0 };

	(void)state;
	assert_int_equal(port_hold_init(&h, 4), 0);
	assert_int_equal(port_hold_put(&h, 10001, 100), 0);
	assert_int_equal(port_hold_put(&h, 10002, 200), 0);
	assert_int_equal(port_hold_put(&h, 10003, 150), 0); /* waits behind 10002 */
	assert_int_equal(port_hold_release(&h, 99, take, &g), 0);
	assert_int_equal(port_hold_release(&h, 160, take, &g), 1);
	assert_int_equal(g.ports[0], 10001);
	assert_int_equal(port_hold_release(&h, 200, take, &g), 2);
	assert_int_equal(g.ports[1], 10002);
	assert_int_equal(g.ports[2], 10003);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.held, 3);
	assert_int_equal(h.released, 3);
	port_hold_free(&h);
}

/* Full: refused and counted; a failing release keeps the port; the ring
 * wraps. */
static void test_full_fail_wrap(void **state)
{
	struct port_hold h;
	struct got g = { .fail_at = 2 };
	int i;

	(void)state;
	assert_int_equal(port_hold_init(&h, 2), 0);
	assert_int_equal(port_hold_put(&h, 1, 1), 0);
	assert_int_equal(port_hold_put(&h, 2, 1), 0);
	assert_int_equal(port_hold_put(&h, 3, 1), -ENOSPC);
	assert_int_equal(h.overflows, 1);
	assert_int_equal(port_hold_release(&h, 5, take, &g), 1); /* 2 fails */
	assert_int_equal(h.n, 1);
	g.fail_at = 0;
	for (i = 0; i < 5; i++) {
		assert_int_equal(port_hold_put(&h, (uint16_t)(100 + i), 10), 0);
		assert_int_equal(port_hold_release(&h, 10, take, &g), i == 0 ? 2 : 1);
	}
	assert_int_equal(g.n, 7);
	assert_int_equal(g.ports[1], 2);
	assert_int_equal(g.ports[6], 104);
	port_hold_free(&h);
}

/* A zero-capacity hold (port_hold_s 0) holds nothing. */
static void test_no_hold(void **state)
{
	struct port_hold h;

	(void)state;
	assert_int_equal(port_hold_init(&h, 0), 0);
	assert_int_equal(port_hold_put(&h, 1, 1), -ENOSPC);
	port_hold_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_in_order),
		cmocka_unit_test(test_full_fail_wrap),
		cmocka_unit_test(test_no_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
