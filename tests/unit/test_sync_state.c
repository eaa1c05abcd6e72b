// SPDX-License-Identifier: BSD-2-Clause
/* syncd's state across restarts (syncd/state.c): the next epoch never goes
 * below the last one whatever the clock did, the peers' epochs kept, the
 * file written whole, and a bad file refused with one line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "state.h"

static char dir[] = "/tmp/xlb-state-XXXXXX";

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_epoch_monotonic(void **state)
{
	struct sync_state st;
	char p[256], err[512];

	(void)state;
	path_of(p, sizeof(p), "sub/dir/lb1.syncd-state");
	/* no file yet: a first start, the clock's epoch */
	assert_int_equal(sync_state_load(p, &st, err, sizeof(err)), 0);
	assert_true(st.epoch == 0 && st.n_peers == 0);
	assert_true(sync_state_next_epoch(&st, 5000) == 5000);
	st.epoch = 5000;
	assert_int_equal(sync_state_set_peer(&st, 2, 700), 1);
	assert_int_equal(sync_state_set_peer(&st, 3, 900), 1);
	/* the directory is made, the file written whole */
	assert_int_equal(sync_state_save(p, &st, err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(sync_state_load(p, &st, err, sizeof(err)), 0);
	assert_true(st.epoch == 5000);
	assert_true(sync_state_peer_epoch(&st, 2) == 700);
	assert_true(sync_state_peer_epoch(&st, 3) == 900);
	assert_true(sync_state_peer_epoch(&st, 4) == 0);
	/* the clock stepped back between two runs: one above the last */
	assert_true(sync_state_next_epoch(&st, 4000) == 5001);
	assert_true(sync_state_next_epoch(&st, 5000) == 5001);
	assert_true(sync_state_next_epoch(&st, 6000) == 6000);
	/* a peer's epoch only grows */
	assert_int_equal(sync_state_set_peer(&st, 2, 600), 0);
	assert_int_equal(sync_state_set_peer(&st, 2, 700), 0);
	assert_int_equal(sync_state_set_peer(&st, 2, 800), 1);
	assert_true(sync_state_peer_epoch(&st, 2) == 800);
	/* 64-bit epochs (ns since 1970) survive the round trip */
	st.epoch = 1796673812325242000ull;
	assert_int_equal(sync_state_save(p, &st, err, sizeof(err)), 0);
	assert_int_equal(sync_state_load(p, &st, err, sizeof(err)), 0);
	assert_true(st.epoch == 1796673812325242000ull);
	assert_true(sync_state_peer_epoch(&st, 2) == 800);
}

static void test_bad_files(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "{\"epoch\": 5", "cannot be read as JSON" },
		{ "[]", "\"epoch\" (an integer) or \"peers\" (a list) missing" },
		{ "{\"epoch\": \"5\", \"peers\": []}", "\"epoch\" (an integer)" },
		{ "{\"epoch\": 5}", "\"peers\" (a list) missing" },
		{ "{\"epoch\": 5, \"peers\": [{\"node_id\": 0, \"epoch\": 1}]}",
		  "peers[0]: needs" },
		{ "{\"epoch\": 5, \"peers\": [{\"node_id\": 2}]}", "peers[0]: needs" },
	};
	struct sync_state st;
	char p[256], err[512];
	size_t i;

	(void)state;
	path_of(p, sizeof(p), "bad.syncd-state");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text(p, cases[i].text);
		err[0] = 0;
		assert_int_equal(sync_state_load(p, &st, err, sizeof(err)), -1);
		if (!strstr(err, cases[i].why) || !strstr(err, p) || strchr(err, '\n'))
			fail_msg("case %zu: \"%s\" does not say \"%s\" and the file", i, err,
				 cases[i].why);
	}
	/* a file that cannot be written (its directory is a file) */
	write_text(p, "x");
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/state");
	memset(&st, 0, sizeof(st));
	assert_int_equal(sync_state_save(p, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sync.state_file"));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_monotonic),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
