// SPDX-License-Identifier: BSD-2-Clause
/* The test-only fault injection between the transport and its receiver
 * (syncd/fault.c): off until toggled, then it drops N% on the way in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fault.h"
#include "log.h"

static unsigned int delivered;

static void receiver(void *arg, const uint8_t *buf, size_t len)
{
	assert_ptr_equal(arg, &delivered);
	assert_int_equal(len, 3);
	assert_int_equal(buf[0], 'm');
	delivered++;
}

static void test_absent(void **state)
{
	transport_rx_fn rx = receiver;
	void *arg = &delivered;

	unsetenv(FAULT_ENV_DROP_PCT);
	assert_null(fault_from_env());
	setenv(FAULT_ENV_DROP_PCT, "0", 1);
	assert_null(fault_from_env());
	/* no fault: nothing between the transport and the receiver */
	fault_wrap(NULL, &rx, &arg);
	assert_ptr_equal(rx, receiver);
	assert_ptr_equal(arg, &delivered);
	assert_false(fault_toggle(NULL));
	assert_int_equal(fault_dropped(NULL), 0);
}

static void send_n(transport_rx_fn rx, void *arg, unsigned int n)
{
	static const uint8_t msg[3] = { 'm', 's', 'g' };

	while (n--)
		rx(arg, msg, sizeof(msg));
}

static void test_drop(void **state)
{
	transport_rx_fn rx = receiver;
	void *arg = &delivered;
	struct fault *f;

	setenv(FAULT_ENV_DROP_PCT, "250", 1); /* reads 100 */
	f = fault_from_env();
	assert_non_null(f);
	fault_wrap(f, &rx, &arg);
	assert_ptr_not_equal(rx, receiver);
	/* off until toggled */
	delivered = 0;
	send_n(rx, arg, 10);
	assert_int_equal(delivered, 10);
	assert_true(fault_toggle(f));
	send_n(rx, arg, 10);
	assert_int_equal(delivered, 10);
	assert_int_equal(fault_dropped(f), 10);
	assert_false(fault_toggle(f));
	send_n(rx, arg, 5);
	assert_int_equal(delivered, 15);
	assert_int_equal(fault_dropped(f), 10);
	fault_free(f);

	/* 50%: some of each */
	setenv(FAULT_ENV_DROP_PCT, "50", 1);
	f = fault_from_env();
	rx = receiver;
	arg = &delivered;
	fault_wrap(f, &rx, &arg);
	fault_toggle(f);
	delivered = 0;
	send_n(rx, arg, 1000);
	assert_int_equal(delivered + fault_dropped(f), 1000);
	assert_true(delivered > 300 && delivered < 700);
	fault_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_drop),
	};

	xlb_log_init("test", "t", XLB_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
