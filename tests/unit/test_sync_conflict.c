// SPDX-License-Identifier: BSD-2-Clause
/* The conflict rule: each rule, a total antisymmetric order, tombstones,
 * write identity, and the rules without versions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "conflict.h"

static struct sync_write upd(uint64_t v, uint32_t node, const char *val)
{
	struct sync_write w = {
		.version = v,
		.node = node,
		.op = SYNC_OP_UPDATE,
		.value = (const uint8_t *)val,
		.value_len = (uint32_t)strlen(val),
	};
	return w;
}

static struct sync_write del(uint64_t v, uint32_t node)
{
	struct sync_write w = { .version = v, .node = node, .op = SYNC_OP_DELETE };

	return w;
}

static void both_ways(const struct sync_write *a, const struct sync_write *b, int want)
{
	assert_int_equal(sync_conflict_cmp(a, b), want);
	assert_int_equal(sync_conflict_cmp(b, a), -want);
	assert_ptr_equal(sync_conflict_resolve(a, b), want >= 0 ? a : b);
	assert_ptr_equal(sync_conflict_resolve(b, a), want > 0 ? a : b);
}

/* Versions wrap (birth versions after ~52 days, a counter bumped past its
 * top): the write after the wrap is the newer one, in every width a
 * version field may have, for the rule and the tombstone decision alike. */
static void test_version_wrap(void **state)
{
	struct sync_write a = upd(0xfffffff0u, 2, "old"), b = upd(0x10, 2, "new");
	struct sync_write d = del(0xfffffffeu, 1), t;
	bool keep;

	(void)state;
	a.vbits = b.vbits = d.vbits = 32;
	both_ways(&b, &a, 1);
	/* adoption's version + 1 of 0xffffffff is 0, and beats it */
	a.version = 0xffffffffu;
	b.version = 0;
	both_ways(&b, &a, 1);
	/* a delete of the last version before the wrap loses to a new write
	 * after it, and its tombstone does not hold that write back */
	b.version = 3;
	assert_int_equal(sync_conflict_decide_key(&b, NULL, &d, &keep), SYNC_APPLY_WRITE);
	assert_false(keep);
	/* ... and a delete after the wrap beats the value before it */
	t = del(2, 1);
	t.vbits = 32;
	a.version = 0xfffffff0u;
	assert_int_equal(sync_conflict_decide_key(&t, &a, NULL, &keep), SYNC_APPLY_DELETE);
	/* 16-bit and 64-bit fields */
	a.vbits = b.vbits = 16;
	a.version = 0xfff0;
	b.version = 0x0005;
	both_ways(&b, &a, 1);
	a.vbits = b.vbits = 64;
	a.version = UINT64_MAX - 1;
	b.version = 1;
	both_ways(&b, &a, 1);
	/* within half the space, the plain order is unchanged */
	a.vbits = b.vbits = 32;
	a.version = 1000;
	b.version = 2000;
	both_ways(&b, &a, 1);
	/* exactly half apart: still antisymmetric */
	a.version = 0;
	b.version = 0x80000000u;
	assert_int_equal(sync_conflict_cmp(&a, &b), -sync_conflict_cmp(&b, &a));
	assert_true(sync_version_cmp(5, 0xfffffffbu, 32) > 0);
	assert_true(sync_version_cmp(0xfffffffbu, 5, 32) < 0);
}

static void test_rules(void **state)
{
	struct sync_write a, b;

	/* 1: higher version, whatever the node or op */
	a = upd(5, 9, "x");
	b = upd(4, 1, "zzz");
	both_ways(&a, &b, 1);
	a = upd(5, 9, "x");
	b = del(4, 1);
	both_ways(&a, &b, 1);
	a = del(6, 9);
	b = upd(5, 1, "x");
	both_ways(&a, &b, 1);
	/* 2: equal versions, the lower node id */
	a = upd(5, 1, "a");
	b = upd(5, 2, "z");
	both_ways(&a, &b, 1);
	a = del(5, 1);
	b = upd(5, 2, "z");
	both_ways(&a, &b, 1);
	a = upd(5, 1, "a");
	b = del(5, 2);
	both_ways(&a, &b, 1);
	/* 3: equal version and node: the delete */
	a = del(5, 3);
	b = upd(5, 3, "q");
	both_ways(&a, &b, 1);
	/* 4: equal version and node, two values: larger bytes, then length */
	a = upd(5, 3, "b");
	b = upd(5, 3, "a");
	both_ways(&a, &b, 1);
	a = upd(5, 3, "ab");
	b = upd(5, 3, "a");
	both_ways(&a, &b, 1);
	/* 5: identical */
	a = upd(5, 3, "same");
	b = upd(5, 3, "same");
	both_ways(&a, &b, 0);
	a = del(5, 3);
	b = del(5, 3);
	both_ways(&a, &b, 0);
	/* versions are in serial-number order: 0 comes after the top
	 * (test_version_wrap) */
	a = upd(UINT64_MAX, 3, "x");
	b = upd(0, 3, "x");
	both_ways(&b, &a, 1);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static const char *const vals[] = { "", "a", "b", "ab", "ba", "aa" };

static struct sync_write rnd_write(void)
{
	/* small ranges: many ties, so every rule is reached */
	if (rnd() % 3 == 0)
		return del(rnd() % 3, 1 + (uint32_t)(rnd() % 3));
	return upd(rnd() % 3, 1 + (uint32_t)(rnd() % 3), vals[rnd() % 6]);
}

static int sgn(int x)
{
	return (x > 0) - (x < 0);
}

/* A total order: antisymmetric, transitive, the same winner both ways. */
static void test_total_order(void **state)
{
	int i;

	for (i = 0; i < 200000; i++) {
		struct sync_write a = rnd_write(), b = rnd_write(), c = rnd_write();
		int ab = sgn(sync_conflict_cmp(&a, &b)), bc = sgn(sync_conflict_cmp(&b, &c));
		int ac = sgn(sync_conflict_cmp(&a, &c));
		const struct sync_write *w1 = sync_conflict_resolve(&a, &b);
		const struct sync_write *w2 = sync_conflict_resolve(&b, &a);

		assert_int_equal(ab, -sgn(sync_conflict_cmp(&b, &a)));
		if (ab >= 0 && bc >= 0)
			assert_true(ac >= 0);
		if (ab == 0 && bc == 0)
			assert_int_equal(ac, 0);
		/* the same write (by content) whichever order */
		assert_int_equal(sync_conflict_cmp(w1, w2), 0);
	}
}

static void test_decide(void **state)
{
	struct sync_write in, loc;

	/* nothing local */
	in = upd(1, 1, "x");
	assert_int_equal(sync_conflict_decide(&in, NULL), SYNC_APPLY_WRITE);
	in = del(1, 1);
	assert_int_equal(sync_conflict_decide(&in, NULL), SYNC_APPLY_SKIP);
	/* a local value */
	loc = upd(3, 1, "x");
	in = upd(4, 2, "y");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_WRITE);
	in = upd(2, 1, "y");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
	in = upd(3, 1, "x");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP); /* identical */
	in = del(3, 1);
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_DELETE);
	in = del(2, 1);
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
	/* a tombstone: a late copy of the deleted write stays deleted */
	loc = del(3, 1);
	in = upd(3, 1, "x");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
	in = upd(2, 1, "x");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
	in = upd(3, 2, "x"); /* same version, higher node: loses */
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
	/* a later write beats the tombstone */
	in = upd(4, 1, "x");
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_WRITE);
	/* a delete over a tombstone has nothing to delete */
	in = del(5, 1);
	assert_int_equal(sync_conflict_decide(&in, &loc), SYNC_APPLY_SKIP);
}

/* The key's local state is the newer of its value and its tombstone. */
static void test_decide_key(void **state)
{
	struct sync_write in, val, tomb;
	bool keep;

	/* a value older than its tombstone: the tombstone rules */
	val = upd(3, 1, "x");
	tomb = del(4, 1);
	in = upd(4, 1, "y");
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_SKIP);
	assert_false(keep);
	in = upd(5, 1, "y");
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_WRITE);
	assert_false(keep);
	/* a delete beating that tombstone deletes the stale value */
	in = del(5, 2);
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_DELETE);
	assert_true(keep);
	in = del(4, 2); /* loses to the tombstone (node) */
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_SKIP);
	assert_false(keep);
	/* a value newer than its tombstone: the value rules */
	val = upd(6, 1, "x");
	in = del(5, 1);
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_SKIP);
	assert_false(keep);
	in = del(6, 1);
	assert_int_equal(sync_conflict_decide_key(&in, &val, &tomb, &keep), SYNC_APPLY_DELETE);
	assert_true(keep);
	/* a winning delete with nothing to delete is still kept */
	in = del(7, 1);
	assert_int_equal(sync_conflict_decide_key(&in, NULL, &tomb, &keep), SYNC_APPLY_SKIP);
	assert_true(keep);
	assert_int_equal(sync_conflict_decide_key(&in, NULL, NULL, &keep), SYNC_APPLY_SKIP);
	assert_true(keep);
	in = upd(1, 1, "x");
	assert_int_equal(sync_conflict_decide_key(&in, NULL, NULL, &keep), SYNC_APPLY_WRITE);
	assert_false(keep);
}

struct tv {
	uint64_t ts;
	uint32_t version;
	uint16_t owner;
	uint8_t payload[2];
};

/* A value's write: version and owner fields, timestamp left out of rule 4. */
static void test_value_write(void **state)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_mapspec owned, unowned;
	struct tv a = { .ts = 111, .version = 9, .owner = 3, .payload = { 1, 2 } };
	struct tv b = a;
	struct sync_write wa, wb;
	uint8_t sa[sizeof(struct tv)], sb[sizeof(struct tv)];

	assert_int_equal(sync_mapspec_init(&owned, "m", 4, sizeof(struct tv),
					   SYNC_FIELD(struct tv, ts), SYNC_FIELD(struct tv, owner),
					   SYNC_FIELD(struct tv, version), &lim, NULL),
			 0);
	assert_int_equal(sync_mapspec_init(&unowned, "u", 4, sizeof(struct tv),
					   SYNC_FIELD(struct tv, ts), SYNC_FIELD_NONE,
					   SYNC_FIELD(struct tv, version), &lim, NULL),
			 0);
	sync_conflict_value_write(&wa, &owned, &a, 7, sa);
	assert_int_equal(wa.op, SYNC_OP_UPDATE);
	assert_int_equal(wa.version, 9);
	assert_int_equal(wa.node, 3); /* the owner field */
	/* the same write with another (rebased) timestamp is identical */
	b.ts = 222;
	sync_conflict_value_write(&wb, &owned, &b, 7, sb);
	assert_int_equal(sync_conflict_cmp(&wa, &wb), 0);
	assert_int_equal(a.ts, 111); /* the value itself is left alone */
	b.payload[1] = 3;
	sync_conflict_value_write(&wb, &owned, &b, 7, sb);
	assert_int_equal(sync_conflict_cmp(&wb, &wa), 1);
	/* no owner: the fallback, from either kind of map */
	a.owner = 0;
	assert_int_equal(sync_conflict_value_node(&owned, &a, 7), 7);
	a.owner = 3;
	assert_int_equal(sync_conflict_value_node(&unowned, &a, 7), 7);

	/* a delete whose version is not known: only the owner's */
	assert_true(sync_conflict_owner_deletes(&owned, &a, 3));
	assert_false(sync_conflict_owner_deletes(&owned, &a, 4));
	assert_true(sync_conflict_owner_deletes(&unowned, &a, 4));
	a.owner = 0;
	assert_false(sync_conflict_owner_deletes(&owned, &a, 4));

	/* a peer's copy of an entry this node (3) owns, absent here: not
	 * written unless the node lost its maps and restores from a startup
	 * snapshot; present, or another owner's, or no owner field: the
	 * ordinary rule decides */
	a.owner = 3;
	assert_true(sync_conflict_own_gone(&owned, &a, 3, false, false));
	assert_false(sync_conflict_own_gone(&owned, &a, 3, false, true));
	assert_false(sync_conflict_own_gone(&owned, &a, 3, true, false));
	assert_false(sync_conflict_own_gone(&owned, &a, 4, false, false));
	assert_false(sync_conflict_own_gone(&unowned, &a, 3, false, false));
}

static void test_unversioned(void **state)
{
	assert_int_equal(sync_conflict_decide_unversioned(SYNC_OP_UPDATE, false), SYNC_APPLY_WRITE);
	assert_int_equal(sync_conflict_decide_unversioned(SYNC_OP_UPDATE, true), SYNC_APPLY_WRITE);
	assert_int_equal(sync_conflict_decide_unversioned(SYNC_OP_DELETE, true), SYNC_APPLY_DELETE);
	assert_int_equal(sync_conflict_decide_unversioned(SYNC_OP_DELETE, false), SYNC_APPLY_SKIP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_wrap), cmocka_unit_test(test_rules),
		cmocka_unit_test(test_total_order),  cmocka_unit_test(test_decide),
		cmocka_unit_test(test_decide_key),   cmocka_unit_test(test_value_write),
		cmocka_unit_test(test_unversioned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
