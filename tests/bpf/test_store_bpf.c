// SPDX-License-Identifier: BSD-2-Clause
/*
 * syncd's store on pinned BPF hash maps (syncd/store_bpf.c), its batch
 * calls in particular: lookup_many and write_many run by the syscall
 * programs of bpf/storeio.bpf.c, and the same calls key by key on a store
 * without them. Each is checked on a hash and an LRU hash map:
 *  - what write_many writes, lookup_many reads back, over more keys than
 *    one run of the programs takes;
 *  - write_many is a compare-and-set: a key whose version changed since the
 *    lookup (the data plane's write), that appeared or that went is left
 *    alone with -EAGAIN, and the other keys of the call are written;
 *  - a removal hands back the value removed.
 * It creates and pins maps (a private bpffs): it needs root and exits 77
 * (skipped) without.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "capture_fixture.h"
#include "store_bpf.h"

struct k {
	uint32_t a, b;
};

struct v {
	uint64_t ts;
	uint32_t version;
	uint32_t owner;
	uint8_t payload[40];
};

#define N 700 /* more than XLB_STOREIO_SLOTS */

static char dir[64];

static struct v val(uint32_t i, uint32_t version, uint8_t tag)
{
	struct v x;

	memset(&x, 0, sizeof(x));
	x.ts = i;
	x.version = version;
	x.owner = 1;
	memset(x.payload, tag, sizeof(x.payload));
	return x;
}

/* A pinned map of type type, opened as a store; batch: with the programs. */
static int open_store(struct store_bpf *s, enum bpf_map_type type, bool batch)
{
	const char *names[] = { "m" };
	char path[128], err[256];
	int fd;

	snprintf(path, sizeof(path), "%s/m", dir);
	unlink(path);
	fd = bpf_map_create(type, "m", sizeof(struct k), sizeof(struct v), 4096, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	if (store_bpf_open(s, dir, names, 1, err, sizeof(err)))
		fail_msg("store_bpf_open: %s", err);
	if (store_bpf_batch_init(s, 0, offsetof(struct v, version), 4, batch, err, sizeof(err)))
		fail_msg("store_bpf_batch_init: %s", err);
	assert_true(!batch || s->maps[0].io);
	{
		uint64_t lo, hi;

		/* where the capture will find the keys of these writes */
		store_bpf_self_range(s, 0, &lo, &hi);
		if (batch)
			assert_true(lo &&
				    hi - lo == XLB_STOREIO_SLOTS * sizeof(struct xlb_storeio_slot));
		else
			assert_true(!lo && !hi);
	}
	return fd;
}

static void batch_calls(enum bpf_map_type type, bool batch)
{
	static struct k keys[N];
	static struct v vals[N], got[N];
	static struct sync_store_io io[N];
	struct store_bpf s;
	struct v cur;
	int fd;
	size_t i;

	fd = open_store(&s, type, batch);
	for (i = 0; i < N; i++) {
		keys[i] = (struct k){ (uint32_t)i, 7 };
		vals[i] = val((uint32_t)i, 5, 0x11);
		io[i] = (struct sync_store_io){
			.key = &keys[i], .value = &vals[i], .op = SYNC_STORE_WRITE, .found = false
		};
	}
	assert_int_equal(store_bpf_ops.write_many(&s, 0, io, N), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(io[i].result, 0);

	for (i = 0; i < N; i++)
		io[i] = (struct sync_store_io){ .key = &keys[i], .value = &got[i] };
	assert_int_equal(store_bpf_ops.lookup_many(&s, 0, io, N), 0);
	for (i = 0; i < N; i++) {
		assert_true(io[i].found);
		assert_memory_equal(&got[i], &vals[i], sizeof(struct v));
	}

	/* the data plane writes key 3 (version 6) between lookup and write */
	cur = val(3, 6, 0x66);
	assert_int_equal(bpf_map_update_elem(fd, &keys[3], &cur, BPF_EXIST), 0);
	/* key 4 goes, key N-1 is written by the data plane again (same
	 * version: a touch of its timestamp, which a version CAS ignores) */
	assert_int_equal(bpf_map_delete_elem(fd, &keys[4]), 0);
	cur = vals[N - 1];
	cur.ts = 999;
	assert_int_equal(bpf_map_update_elem(fd, &keys[N - 1], &cur, BPF_EXIST), 0);
	for (i = 0; i < N; i++) {
		vals[i] = val((uint32_t)i, 8, 0x22);
		io[i] = (struct sync_store_io){ .key = &keys[i],
						.value = &vals[i],
						.op = SYNC_STORE_WRITE,
						.found = true,
						.version = 5 };
	}
	/* key 10: "absent" when it is there; key 11: removed */
	io[10].found = false;
	io[11].op = SYNC_STORE_REMOVE;
	io[11].value = &got[11];
	assert_int_equal(store_bpf_ops.write_many(&s, 0, io, N), 0);
	for (i = 0; i < N; i++) {
		int want = i == 3 || i == 4 || i == 10 ? -EAGAIN : 0;

		if (io[i].result != want)
			fail_msg("key %zu: result %d, want %d", i, io[i].result, want);
	}
	assert_int_equal(bpf_map_lookup_elem(fd, &keys[3], &cur), 0);
	assert_int_equal(cur.version, 6); /* the data plane's write stayed */
	assert_int_equal(cur.payload[0], 0x66);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &keys[4], &cur), 0); /* still gone */
	assert_int_equal(bpf_map_lookup_elem(fd, &keys[10], &cur), 0);
	assert_int_equal(cur.version, 5);				   /* left alone */
	assert_int_not_equal(bpf_map_lookup_elem(fd, &keys[11], &cur), 0); /* removed */
	assert_int_equal(got[11].version, 5);				   /* ... and handed back */
	assert_int_equal(got[11].payload[0], 0x11);
	assert_int_equal(bpf_map_lookup_elem(fd, &keys[N - 1], &cur), 0);
	assert_int_equal(cur.version, 8); /* written */
	assert_int_equal(cur.payload[0], 0x22);
	store_bpf_close(&s);
	close(fd);
}

static void test_hash_programs(void **state)
{
	batch_calls(BPF_MAP_TYPE_HASH, true);
}

static void test_lru_programs(void **state)
{
	batch_calls(BPF_MAP_TYPE_LRU_HASH, true);
}

static void test_hash_key_by_key(void **state)
{
	batch_calls(BPF_MAP_TYPE_HASH, false);
}

static void test_lru_key_by_key(void **state)
{
	batch_calls(BPF_MAP_TYPE_LRU_HASH, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_programs),
		cmocka_unit_test(test_lru_programs),
		cmocka_unit_test(test_hash_key_by_key),
		cmocka_unit_test(test_lru_key_by_key),
	};
	int rc, err;

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root (BPF maps and programs)\n");
		return 77;
	}
	err = cap_bpffs(dir, sizeof(dir));
	if (err) {
		fprintf(stderr, "skip: cannot mount a private bpffs: %s\n", strerror(-err));
		return 77;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cap_bpffs_done(dir);
	return rc;
}
