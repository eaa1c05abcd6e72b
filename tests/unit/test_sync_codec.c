// SPDX-License-Identifier: BSD-2-Clause
/* syncd wire codec: round trips, size-bounded splitting, every rejection
 * reason, and thousands of random and mutated buffers through the decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"
#include "codec.h"
#include "mapspec.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, good enough for test inputs */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static const struct sync_limits lim = SYNC_LIMITS_DEFAULT;

static const struct sync_hdr hdr = {
	.origin = 3,
	.epoch = 1700000000000000000ull,
	.seq = 42,
	.mono_ns = 123456789,
};

#define MAXN 600
static uint8_t keys[MAXN][64];
static uint8_t vals[MAXN][256];
static char names[MAXN][16];
static struct sync_entry ents[MAXN];

/* Entry i: varied map names, sizes, ops and versions. */
static void mk_entries(size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct sync_entry *e = &ents[i];

		snprintf(names[i], sizeof(names[i]), i % 3 ? "sessions" : "map.%zu", i % 7);
		for (j = 0; j < sizeof(keys[i]); j++)
			keys[i][j] = (uint8_t)rnd();
		for (j = 0; j < sizeof(vals[i]); j++)
			vals[i][j] = (uint8_t)rnd();
		e->map = names[i];
		e->op = i % 5 == 4 ? SYNC_OP_DELETE : SYNC_OP_UPDATE;
		e->key = keys[i];
		e->key_len = 1 + (uint32_t)(rnd() % sizeof(keys[i]));
		e->value = e->op == SYNC_OP_UPDATE ? vals[i] : NULL;
		e->value_len =
			e->op == SYNC_OP_UPDATE ? 1 + (uint32_t)(rnd() % sizeof(vals[i])) : 0;
		e->origin = 1 + (uint32_t)(i % 4);
		e->version = i % 2 ? i : (uint64_t)i << 40;
	}
}

static void assert_entry_eq(const struct sync_entry *a, const struct sync_entry *b)
{
	assert_string_equal(a->map, b->map);
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->key_len, b->key_len);
	assert_memory_equal(a->key, b->key, a->key_len);
	assert_int_equal(a->value_len, b->value_len);
	if (a->value_len)
		assert_memory_equal(a->value, b->value, a->value_len);
	else
		assert_null(b->value);
	assert_int_equal(a->origin, b->origin);
	assert_true(a->version == b->version);
}

static void assert_hdr_eq(const struct sync_hdr *a, const struct sync_hdr *b)
{
	assert_int_equal(a->origin, b->origin);
	assert_int_equal(a->dest, b->dest);
	assert_true(a->epoch == b->epoch);
	assert_true(a->seq == b->seq);
	assert_true(a->mono_ns == b->mono_ns);
}

static uint8_t buf[1 << 20];

static void test_roundtrip(void **state)
{
	struct sync_msg m;
	struct sync_entry d;
	size_t n, i, len;
	int k;

	mk_entries(MAXN);
	for (n = 1; n <= 64; n++) {
		k = sync_encode_batch(&hdr, ents, n, &lim, buf, sizeof(buf), &len);
		assert_int_equal(k, (int)n);
		assert_true(len <= lim.max_msg - SYNC_FRAME_ROOM);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
		assert_int_equal(m.type, SYNC_MSG_BATCH);
		assert_hdr_eq(&hdr, &m.hdr);
		assert_int_equal(m.n_entries, n);
		for (i = 0; i < n; i++) {
			sync_msg_entry(&m, i, &d);
			assert_entry_eq(&ents[i], &d);
		}
		sync_msg_release(&m);
		assert_int_equal(m.mem_used, 0);
	}
}

/* The batcher's loop: as many as fit, the rest in the next message. */
static void test_split(void **state)
{
	struct sync_limits l = lim;
	struct sync_entry d;
	struct sync_msg m;
	size_t done = 0, len, i, msgs = 0;
	int k;

	mk_entries(MAXN);
	l.max_msg = 2048;
	while (done < MAXN) {
		struct sync_limits big = l;
		size_t len2;

		k = sync_encode_batch(&hdr, ents + done, MAXN - done, &l, buf, sizeof(buf), &len);
		assert_true(k >= 1);
		assert_true(len <= l.max_msg - SYNC_FRAME_ROOM);
		/* maximal: one more entry would not have fit */
		if (done + (size_t)k < MAXN) {
			big.max_msg = 1 << 20;
			assert_int_equal(sync_encode_batch(&hdr, ents + done, (size_t)k + 1, &big,
							   buf, sizeof(buf), &len2),
					 k + 1);
			assert_true(len2 > l.max_msg - SYNC_FRAME_ROOM);
			k = sync_encode_batch(&hdr, ents + done, MAXN - done, &l, buf, sizeof(buf),
					      &len);
		}
		assert_int_equal(sync_decode(&m, buf, len, &l), SYNC_OK);
		assert_int_equal(m.n_entries, (size_t)k);
		for (i = 0; i < (size_t)k; i++) {
			sync_msg_entry(&m, i, &d);
			assert_entry_eq(&ents[done + i], &d);
		}
		sync_msg_release(&m);
		done += (size_t)k;
		msgs++;
	}
	assert_true(msgs > 10);

	/* the buffer's capacity bounds too */
	k = sync_encode_batch(&hdr, ents, MAXN, &lim, buf, 700, &len);
	assert_true(k >= 1 && len <= 700);

	/* max_entries bounds the count */
	l = lim;
	l.max_entries = 7;
	assert_int_equal(sync_encode_batch(&hdr, ents, MAXN, &l, buf, sizeof(buf), &len), 7);

	/* a first entry that cannot fit at all */
	l = lim;
	l.max_msg = 64;
	assert_int_equal(sync_encode_batch(&hdr, ents, MAXN, &l, buf, sizeof(buf), &len),
			 -EMSGSIZE);
}

static void test_encode_refuses_bad(void **state)
{
	struct sync_entry e;
	struct sync_hdr h = hdr;
	size_t len;

	mk_entries(4);
	e = ents[0];
	e.origin = 0;
	assert_int_equal(sync_encode_batch(&hdr, &e, 1, &lim, buf, sizeof(buf), &len), -EINVAL);
	e = ents[0];
	e.map = "";
	assert_int_equal(sync_encode_batch(&hdr, &e, 1, &lim, buf, sizeof(buf), &len), -EINVAL);
	h.seq = 0;
	assert_int_equal(sync_encode_batch(&h, ents, 1, &lim, buf, sizeof(buf), &len), -EINVAL);
	h = hdr;
	h.origin = 0;
	assert_int_equal(sync_encode_batch(&h, ents, 1, &lim, buf, sizeof(buf), &len), -EINVAL);
	/* seq only on batches */
	assert_int_equal(sync_encode_resync_request(&hdr, 2, 1, 5, &lim, buf, sizeof(buf), &len),
			 -EINVAL);
	assert_int_equal(sync_encode_batch(&hdr, ents, 0, &lim, buf, sizeof(buf), &len), -EINVAL);
}

static void test_other_types(void **state)
{
	struct sync_hdr h = hdr;
	struct sync_origin_seq os[3] = {
		{ .origin = 3, .epoch = 9, .last_seq = 100 },
		{ .origin = 1, .epoch = 8, .last_seq = 0 },
		{ .origin = 2, .epoch = 7, .last_seq = UINT64_MAX },
	};
	const char *maps[] = { "sessions", "reverse" };
	struct sync_digest dg = { .map = "sessions",
				  .bucket = 5,
				  .bucket_count = 256,
				  .entries = 77,
				  .hash = 0xdeadbeefcafef00dull,
				  .has_version_before = true,
				  .version_before = 0xfffffff1u };
	struct sync_entry d;
	struct sync_msg m;
	size_t len, i;

	h.seq = 0;
	h.dest = 2;

	assert_int_equal(sync_encode_heartbeat(&h, 1, os, 3, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_HEARTBEAT);
	assert_hdr_eq(&h, &m.hdr);
	assert_true(m.env->heartbeat->ready);
	assert_int_equal(m.env->heartbeat->n_seqs, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(m.env->heartbeat->seqs[i]->origin, os[i].origin);
		assert_true(m.env->heartbeat->seqs[i]->epoch == os[i].epoch);
		assert_true(m.env->heartbeat->seqs[i]->last_seq == os[i].last_seq);
	}
	sync_msg_release(&m);

	assert_int_equal(sync_encode_resync_request(&h, 3, 10, 20, &lim, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_RESYNC_REQUEST);
	assert_int_equal(m.env->resync_request->origin, 3);
	assert_int_equal(m.env->resync_request->from_seq, 10);
	assert_int_equal(m.env->resync_request->to_seq, 20);
	sync_msg_release(&m);

	assert_int_equal(
		sync_encode_snapshot_request(&h, 77, maps, 2, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_SNAPSHOT_REQUEST);
	assert_int_equal(m.env->snapshot_request->snapshot_id, 77);
	assert_int_equal(m.env->snapshot_request->n_maps, 2);
	assert_string_equal(m.env->snapshot_request->maps[1], "reverse");
	sync_msg_release(&m);

	mk_entries(10);
	assert_int_equal(
		sync_encode_snapshot_chunk(&h, 77, 4, ents, 10, &lim, buf, sizeof(buf), &len), 10);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_SNAPSHOT_CHUNK);
	assert_int_equal(m.env->snapshot_chunk->index, 4);
	assert_int_equal(m.n_entries, 10);
	for (i = 0; i < 10; i++) {
		sync_msg_entry(&m, i, &d);
		assert_entry_eq(&ents[i], &d);
	}
	sync_msg_release(&m);

	assert_int_equal(sync_encode_snapshot_end(&h, 77, 5, 1234, &lim, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_SNAPSHOT_END);
	assert_int_equal(m.env->snapshot_end->chunks, 5);
	assert_int_equal(m.env->snapshot_end->last_seq, 1234);
	sync_msg_release(&m);

	assert_int_equal(sync_encode_digest(&h, &dg, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_DIGEST);
	assert_string_equal(m.env->digest->map, "sessions");
	assert_true(m.env->digest->hash == dg.hash);
	assert_true(m.env->digest->has_version_before);
	assert_int_equal(m.env->digest->version_before, 0xfffffff1u);
	sync_msg_release(&m);
	dg.has_version_before = false; /* absent: every entry counted */
	assert_int_equal(sync_encode_digest(&h, &dg, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_false(m.env->digest->has_version_before);
	sync_msg_release(&m);
	dg.bucket = 256;
	assert_int_equal(sync_encode_digest(&h, &dg, &lim, buf, sizeof(buf), &len), -EINVAL);
}

/* ---- hand-built envelopes, one bad field at a time ---- */

static uint8_t kbuf[1024], vbuf[8192];

struct fixture {
	Xlbsync__Envelope env;
	Xlbsync__Batch batch;
	Xlbsync__Entry ent;
	Xlbsync__Entry *pent;
	char map[80];
};

static void fx_init(struct fixture *f)
{
	xlbsync__envelope__init(&f->env);
	xlbsync__batch__init(&f->batch);
	xlbsync__entry__init(&f->ent);
	strcpy(f->map, "sessions");
	f->env.has_version = 1;
	f->env.version = SYNC_WIRE_VERSION;
	f->env.has_type = 1;
	f->env.type = XLBSYNC__MSG_TYPE__MSG_BATCH;
	f->env.has_origin = 1;
	f->env.origin = 2;
	f->env.has_epoch = 1;
	f->env.epoch = 5;
	f->env.has_seq = 1;
	f->env.seq = 9;
	f->env.has_mono_ns = 1;
	f->env.mono_ns = 1000;
	f->env.body_case = XLBSYNC__ENVELOPE__BODY_BATCH;
	f->env.batch = &f->batch;
	f->pent = &f->ent;
	f->batch.n_entries = 1;
	f->batch.entries = &f->pent;
	f->ent.map = f->map;
	f->ent.has_op = 1;
	f->ent.op = XLBSYNC__OP__OP_UPDATE;
	f->ent.has_key = 1;
	f->ent.key.data = kbuf;
	f->ent.key.len = 40;
	f->ent.has_value = 1;
	f->ent.value.data = vbuf;
	f->ent.value.len = 64;
	f->ent.has_origin = 1;
	f->ent.origin = 2;
	f->ent.has_version = 1;
	f->ent.version = 1;
}

static enum sync_reason fx_decode(struct fixture *f, const struct sync_limits *l)
{
	struct sync_msg m;
	enum sync_reason r;
	size_t len;

	assert_true(xlbsync__envelope__get_packed_size(&f->env) <= sizeof(buf));
	len = xlbsync__envelope__pack(&f->env, buf);
	r = sync_decode(&m, buf, len, l);
	if (r == SYNC_OK) {
		assert_non_null(m.env);
		sync_msg_release(&m);
	} else {
		assert_null(m.env);
	}
	assert_int_equal(m.mem_used, 0);
	return r;
}

static void test_reject_reasons(void **state)
{
	struct sync_limits l = lim;
	struct fixture f;
	Xlbsync__Heartbeat hb;
	Xlbsync__OriginSeq os[2], *pos[2] = { &os[0], &os[1] };
	Xlbsync__ResyncRequest rr;
	size_t i;

	fx_init(&f);
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);

	/* wire version */
	f.env.version = 2;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_VERSION);
	f.env.has_version = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_VERSION);
	fx_init(&f);

	/* type: unknown, missing, not matching the body */
	f.env.type = 99;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_TYPE);
	f.env.type = XLBSYNC__MSG_TYPE__MSG_HEARTBEAT;
	f.env.has_seq = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_TYPE);
	fx_init(&f);
	f.env.has_type = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_TYPE);
	fx_init(&f);
	f.env.body_case = XLBSYNC__ENVELOPE__BODY__NOT_SET;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_TYPE);
	fx_init(&f);

	/* zero or missing origin */
	f.env.origin = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
	f.env.has_origin = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
	fx_init(&f);
	f.ent.origin = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
	fx_init(&f);

	/* sequence and epoch */
	f.env.seq = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_SEQ);
	f.env.has_seq = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_SEQ);
	fx_init(&f);
	f.env.epoch = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_SEQ);
	fx_init(&f);
	f.env.has_mono_ns = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_FIELD);
	fx_init(&f);

	/* entry count */
	f.batch.n_entries = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ENTRIES);
	fx_init(&f);
	l.max_entries = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ENTRIES);
	l = lim;

	/* map name: empty, missing, bad characters, too long; 63 is fine */
	f.map[0] = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_MAP_NAME);
	f.ent.map = NULL;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_MAP_NAME);
	fx_init(&f);
	strcpy(f.map, "../etc");
	assert_int_equal(fx_decode(&f, &l), SYNC_E_MAP_NAME);
	memset(f.map, 'a', 64);
	f.map[64] = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_MAP_NAME);
	f.map[63] = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);
	fx_init(&f);

	/* op */
	f.ent.op = 3;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_OP);
	f.ent.op = XLBSYNC__OP__OP_UNSPEC;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_OP);
	f.ent.has_op = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_OP);
	fx_init(&f);

	/* key: oversized, empty, missing; exactly max is fine */
	f.ent.key.len = l.max_key + 1;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_KEY);
	f.ent.key.len = l.max_key;
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);
	f.ent.key.len = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_KEY);
	f.ent.has_key = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_KEY);
	fx_init(&f);

	/* value: oversized, missing on UPDATE, present on DELETE */
	f.ent.value.len = l.max_value + 1;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_VALUE);
	f.ent.has_value = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_VALUE);
	fx_init(&f);
	f.ent.op = XLBSYNC__OP__OP_DELETE;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_VALUE);
	f.ent.has_value = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);
	f.ent.has_version = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ENTRY_VERSION);
	fx_init(&f);

	/* the first bad entry of many is found */
	{
		Xlbsync__Entry e2[5], *pe[5];

		for (i = 0; i < 5; i++) {
			e2[i] = f.ent;
			pe[i] = &e2[i];
		}
		e2[4].origin = 0;
		f.batch.entries = pe;
		f.batch.n_entries = 5;
		assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
		fx_init(&f);
	}

	/* too big, before any parsing */
	l.max_msg = 100;
	f.ent.value.len = 200;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_TOO_BIG);
	l = lim;
	fx_init(&f);

	/* decode memory budget */
	l.max_decode_mem = 64;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_NOMEM);
	l = lim;

	/* heartbeat: duplicate origin, zero origin, missing epoch */
	xlbsync__heartbeat__init(&hb);
	hb.has_ready = 1;
	for (i = 0; i < 2; i++) {
		xlbsync__origin_seq__init(&os[i]);
		os[i].has_origin = os[i].has_epoch = os[i].has_last_seq = 1;
		os[i].origin = 4;
		os[i].epoch = 1;
	}
	hb.n_seqs = 2;
	hb.seqs = pos;
	f.env.type = XLBSYNC__MSG_TYPE__MSG_HEARTBEAT;
	f.env.has_seq = 0;
	f.env.body_case = XLBSYNC__ENVELOPE__BODY_HEARTBEAT;
	f.env.heartbeat = &hb;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_DUP_ORIGIN);
	os[1].origin = 5;
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);
	os[1].origin = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
	os[1].origin = 5;
	os[1].has_epoch = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_SEQ);
	os[1].has_epoch = 1;
	l.max_list = 1;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_RANGE);
	l = lim;
	f.env.has_seq = 1; /* seq only on batches */
	assert_int_equal(fx_decode(&f, &l), SYNC_E_SEQ);
	f.env.has_seq = 0;
	hb.has_ready = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_FIELD);

	/* resync request: inverted or zero range */
	xlbsync__resync_request__init(&rr);
	rr.has_origin = rr.has_from_seq = rr.has_to_seq = 1;
	rr.origin = 2;
	rr.from_seq = 10;
	rr.to_seq = 9;
	f.env.type = XLBSYNC__MSG_TYPE__MSG_RESYNC_REQUEST;
	f.env.body_case = XLBSYNC__ENVELOPE__BODY_RESYNC_REQUEST;
	f.env.resync_request = &rr;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_RANGE);
	rr.from_seq = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_RANGE);
	rr.from_seq = 9;
	assert_int_equal(fx_decode(&f, &l), SYNC_OK);
	rr.origin = 0;
	assert_int_equal(fx_decode(&f, &l), SYNC_E_ORIGIN);
}

static void test_reason_strings(void **state)
{
	int i, j;

	for (i = 0; i < SYNC_E__MAX; i++) {
		assert_string_not_equal(sync_reason_str(i), "unknown reason");
		for (j = 0; j < i; j++)
			assert_string_not_equal(sync_reason_str(i), sync_reason_str(j));
	}
	assert_string_equal(sync_reason_str(SYNC_E__MAX), "unknown reason");
	assert_string_equal(sync_reason_str(-1), "unknown reason");
}

/* ---- hostile input ---- */

/* Whatever decodes must satisfy every limit. */
static void check_decoded(const struct sync_msg *m, const struct sync_limits *l)
{
	struct sync_entry e;
	size_t i;

	assert_true(m->hdr.origin != 0);
	assert_true(m->hdr.epoch != 0);
	assert_true((m->type == SYNC_MSG_BATCH) == (m->hdr.seq != 0));
	for (i = 0; i < m->n_entries; i++) {
		sync_msg_entry(m, i, &e);
		assert_int_equal(sync_entry_check(&e, l), SYNC_OK);
	}
}

static void test_truncated(void **state)
{
	struct sync_msg m;
	size_t len, cut;
	unsigned int malformed = 0;

	mk_entries(50);
	assert_int_equal(sync_encode_batch(&hdr, ents, 50, &lim, buf, sizeof(buf), &len), 50);
	for (cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
		enum sync_reason r;

		memcpy(copy, buf, cut);
		r = sync_decode(&m, copy, cut, &lim);
		assert_int_not_equal(r, SYNC_OK);
		malformed += r == SYNC_E_MALFORMED;
		sync_msg_release(&m);
		free(copy);
	}
	/* cut inside the body: not even protobuf */
	assert_true(malformed > len / 2);
}

static void test_random_garbage(void **state)
{
	unsigned int hist[SYNC_E__MAX] = { 0 };
	struct sync_msg m;
	size_t i, j, len;

	for (i = 0; i < 20000; i++) {
		uint8_t *g;
		enum sync_reason r;

		len = rnd() % 600;
		g = malloc(len ? len : 1);
		for (j = 0; j < len; j++)
			g[j] = (uint8_t)rnd();
		/* half of them: a plausible start (version, type, origin) */
		if (i % 2 && len > 6)
			memcpy(g, "\x08\x01\x10\x01\x18\x02", 6);
		r = sync_decode(&m, g, len, &lim);
		hist[r]++;
		if (r == SYNC_OK)
			check_decoded(&m, &lim);
		sync_msg_release(&m);
		free(g);
	}
	assert_true(hist[SYNC_E_MALFORMED] > 1000);
	print_message("random: malformed %u, version %u, type %u, other %u, ok %u\n",
		      hist[SYNC_E_MALFORMED], hist[SYNC_E_VERSION], hist[SYNC_E_TYPE],
		      20000 - hist[SYNC_E_MALFORMED] - hist[SYNC_E_VERSION] - hist[SYNC_E_TYPE] -
			      hist[SYNC_OK],
		      hist[SYNC_OK]);
}

static void test_mutated(void **state)
{
	unsigned int ok = 0, bad = 0;
	struct sync_limits l = lim;
	struct sync_msg m;
	size_t orig, i, j, len;
	uint8_t *src;

	l.max_key = 48; /* so that mutated lengths hit the limits too */
	l.max_value = 200;
	mk_entries(8);
	for (i = 0; i < 8; i++) {
		ents[i].key_len = ents[i].key_len > 48 ? 48 : ents[i].key_len;
		ents[i].value_len = ents[i].value_len > 200 ? 200 : ents[i].value_len;
	}
	assert_int_equal(sync_encode_batch(&hdr, ents, 8, &l, buf, sizeof(buf), &orig), 8);
	src = malloc(orig);
	memcpy(src, buf, orig);
	for (i = 0; i < 20000; i++) {
		uint8_t *g = malloc(orig + 16);
		unsigned int flips = 1 + (unsigned int)(rnd() % 4);
		enum sync_reason r;

		memcpy(g, src, orig);
		len = orig;
		for (j = 0; j < flips; j++) {
			size_t at = rnd() % len;

			switch (rnd() % 4) {
			case 0: /* flip a bit */
				g[at] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1: /* random byte */
				g[at] = (uint8_t)rnd();
				break;
			case 2: /* drop the tail */
				len = at + 1;
				break;
			default: /* large varint-ish byte */
				g[at] = 0xff;
				break;
			}
		}
		r = sync_decode(&m, g, len, &l);
		if (r == SYNC_OK) {
			check_decoded(&m, &l);
			ok++;
		} else {
			bad++;
		}
		sync_msg_release(&m);
		free(g);
	}
	free(src);
	print_message("mutated: %u accepted (still valid), %u rejected\n", ok, bad);
	assert_true(bad > 1000);
}

/* A BEACON is the header alone; a body under its type, or no body under
 * another type, is refused. */
static void test_beacon(void **state)
{
	struct sync_hdr h = hdr;
	struct sync_msg m;
	size_t len, hl;

	h.seq = 0; /* only a batch has one */
	assert_int_equal(sync_encode_beacon(&h, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_BEACON);
	assert_hdr_eq(&h, &m.hdr);
	assert_int_equal(m.n_entries, 0);
	sync_msg_release(&m);
	/* the same bytes with the type of a heartbeat: no body, refused */
	assert_int_equal(
		sync_encode_heartbeat_svc(&h, 1, NULL, 0, NULL, NULL, &lim, buf, sizeof(buf), &hl),
		0);
	assert_int_equal(sync_decode(&m, buf, hl, &lim), SYNC_OK);
	sync_msg_release(&m);
	{
		/* type field 2 (HEARTBEAT) rewritten to 10 (BEACON) with the
		 * heartbeat body kept: refused */
		size_t i;
		bool done = false;

		for (i = 0; i + 1 < hl && !done; i++) {
			if (buf[i] == 0x10 && buf[i + 1] == SYNC_MSG_HEARTBEAT) {
				buf[i + 1] = SYNC_MSG_BEACON;
				done = true;
			}
		}
		assert_true(done);
		assert_int_equal(sync_decode(&m, buf, hl, &lim), SYNC_E_TYPE);
		sync_msg_release(&m);
	}
}

/* Decoding in an arena: the same entries as from the heap, the arena
 * reused message after message, a budget it cannot hold refused as
 * SYNC_E_NOMEM, and mutated input as safe as on the heap. */
static void test_arena(void **state)
{
	struct sync_arena a, small;
	struct sync_msg m;
	struct sync_entry d;
	size_t n, i, len, hi = 0;
	int round;

	assert_int_equal(sync_arena_init(&a, 64 * lim.max_msg + 64 * 1024), 0);
	mk_entries(MAXN);
	for (round = 0; round < 3; round++) {
		for (n = 1; n <= 64; n++) {
			assert_int_equal(
				sync_encode_batch(&hdr, ents, n, &lim, buf, sizeof(buf), &len),
				(int)n);
			assert_int_equal(sync_decode_in(&m, &a, buf, len, &lim), SYNC_OK);
			assert_int_equal(m.n_entries, n);
			for (i = 0; i < n; i++) {
				sync_msg_entry(&m, i, &d);
				assert_entry_eq(&ents[i], &d);
			}
			if (a.used > hi)
				hi = a.used;
			sync_msg_release(&m);
			assert_int_equal(a.used, 0); /* reset, not freed piece by piece */
		}
	}
	print_message("arena: at most %zu bytes for a 64-entry batch\n", hi);
	/* an arena smaller than a message's needs: refused, nothing kept */
	assert_int_equal(sync_arena_init(&small, hi / 2), 0);
	assert_int_equal(sync_decode_in(&m, &small, buf, len, &lim), SYNC_E_NOMEM);
	sync_msg_release(&m);
	sync_arena_free(&small);
	/* garbage in an arena */
	for (i = 0; i < 5000; i++) {
		uint8_t g[512];
		size_t k, gl = 1 + rnd() % sizeof(g);

		for (k = 0; k < gl; k++)
			g[k] = (uint8_t)rnd();
		if (sync_decode_in(&m, &a, g, gl, &lim) == SYNC_OK)
			check_decoded(&m, &lim);
		sync_msg_release(&m);
	}
	sync_arena_free(&a);
}

/* Snapshot flow control and resync answers: windows, acknowledgements,
 * "gone" - round trips and refusals. */
static void test_flow_messages(void **state)
{
	const char *maps[] = { "sessions" };
	struct sync_hdr h = hdr;
	struct sync_msg m;
	size_t len;

	h.seq = 0;
	assert_int_equal(sync_encode_snapshot_request_win(&h, 9, maps, 1, 0, 0, 32, &lim, buf,
							  sizeof(buf), &len),
			 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_true(m.env->snapshot_request->has_window);
	assert_int_equal(m.env->snapshot_request->window, 32);
	assert_false(m.env->snapshot_request->has_bucket);
	sync_msg_release(&m);

	assert_int_equal(
		sync_encode_snapshot_ack(&h, 9, 17, SYNC_ACK_RESEND, &lim, buf, sizeof(buf), &len),
		0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_SNAPSHOT_ACK);
	assert_int_equal(m.env->snapshot_ack->snapshot_id, 9);
	assert_int_equal(m.env->snapshot_ack->next_index, 17);
	assert_true(m.env->snapshot_ack->resend);
	assert_false(m.env->snapshot_ack->has_cancel);
	sync_msg_release(&m);
	assert_int_equal(sync_encode_snapshot_ack(&h, 9, 0, 4, &lim, buf, sizeof(buf), &len),
			 -EINVAL); /* unknown flag */

	{
		struct sync_entry en = { .map = "sessions",
					 .op = SYNC_OP_DELETE,
					 .key = (const uint8_t *)"k",
					 .key_len = 1,
					 .origin = 3,
					 .version = 1 };

		assert_int_equal(sync_encode_snapshot_chunk_seq(&h, 9, 0, 4242, &en, 1, &lim, buf,
								sizeof(buf), &len),
				 1);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
		assert_true(m.env->snapshot_chunk->has_walk_seq);
		assert_int_equal(m.env->snapshot_chunk->walk_seq, 4242);
		sync_msg_release(&m);
		assert_int_equal(
			sync_encode_snapshot_chunk(&h, 9, 1, &en, 1, &lim, buf, sizeof(buf), &len),
			1);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
		assert_false(m.env->snapshot_chunk->has_walk_seq);
		sync_msg_release(&m);
	}
	assert_int_equal(sync_encode_snapshot_gone(&h, 9, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_SNAPSHOT_END);
	assert_true(m.env->snapshot_end->gone);
	sync_msg_release(&m);

	assert_int_equal(sync_encode_resync_gone(&h, 5, 9, 100, &lim, buf, sizeof(buf), &len), 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_int_equal(m.type, SYNC_MSG_RESYNC_GONE);
	assert_int_equal(m.env->resync_gone->from_seq, 5);
	assert_int_equal(m.env->resync_gone->to_seq, 9);
	assert_int_equal(m.env->resync_gone->first_kept, 100);
	sync_msg_release(&m);
	assert_int_equal(sync_encode_resync_gone(&h, 9, 5, 0, &lim, buf, sizeof(buf), &len),
			 -EINVAL);

	/* hand-built: an ack without its index, a gone range upside down */
	{
		Xlbsync__Envelope env;
		Xlbsync__SnapshotAck sa;
		Xlbsync__ResyncGone rg;

		xlbsync__envelope__init(&env);
		env.has_version = env.has_type = env.has_origin = env.has_epoch = 1;
		env.has_mono_ns = 1;
		env.version = SYNC_WIRE_VERSION;
		env.origin = 7;
		env.epoch = 1;
		env.mono_ns = 1;
		env.type = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_ACK;
		xlbsync__snapshot_ack__init(&sa);
		sa.has_snapshot_id = 1;
		sa.snapshot_id = 3;
		env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_ACK;
		env.snapshot_ack = &sa;
		len = xlbsync__envelope__pack(&env, buf);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_E_FIELD);
		env.type = XLBSYNC__MSG_TYPE__MSG_RESYNC_GONE;
		xlbsync__resync_gone__init(&rg);
		rg.has_from_seq = rg.has_to_seq = rg.has_first_kept = 1;
		rg.from_seq = 9;
		rg.to_seq = 5;
		env.body_case = XLBSYNC__ENVELOPE__BODY_RESYNC_GONE;
		env.resync_gone = &rg;
		len = xlbsync__envelope__pack(&env, buf);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_E_RANGE);
		/* a type that does not match its body */
		env.type = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_ACK;
		rg.from_seq = 5;
		rg.to_seq = 9;
		len = xlbsync__envelope__pack(&env, buf);
		assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_E_TYPE);
	}
}

/* Bucket snapshot requests (anti-entropy repair): round trip and refusals. */
static void test_bucket_request(void **state)
{
	const char *maps[] = { "sessions" };
	struct sync_hdr h = hdr;
	Xlbsync__SnapshotRequest *sr;
	struct sync_msg m;
	size_t len;

	h.seq = 0;
	assert_int_equal(sync_encode_snapshot_request_bucket(&h, 9, maps, 1, 3, 64, &lim, buf,
							     sizeof(buf), &len),
			 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	sr = m.env->snapshot_request;
	assert_true(sr->has_bucket && sr->has_bucket_count);
	assert_int_equal(sr->bucket, 3);
	assert_int_equal(sr->bucket_count, 64);
	sync_msg_release(&m);
	/* a full one carries neither */
	assert_int_equal(sync_encode_snapshot_request(&h, 9, maps, 1, &lim, buf, sizeof(buf), &len),
			 0);
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_false(m.env->snapshot_request->has_bucket);
	assert_false(m.env->snapshot_request->has_bucket_count);
	sync_msg_release(&m);
	assert_int_equal(sync_encode_snapshot_request_bucket(&h, 9, maps, 1, 64, 64, &lim, buf,
							     sizeof(buf), &len),
			 -EINVAL);

	/* hand-built: one of the two, bucket out of range, count 0 */
	{
		Xlbsync__Envelope env;
		Xlbsync__SnapshotRequest r;
		char *mnames[] = { (char *)"sessions" };
		struct {
			int hb, hc;
			uint32_t b, c;
			enum sync_reason want;
		} cases[] = {
			{ 1, 0, 1, 0, SYNC_E_FIELD }, { 0, 1, 0, 8, SYNC_E_FIELD },
			{ 1, 1, 8, 8, SYNC_E_RANGE }, { 1, 1, 0, 0, SYNC_E_RANGE },
			{ 1, 1, 7, 8, SYNC_OK },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			xlbsync__envelope__init(&env);
			xlbsync__snapshot_request__init(&r);
			env.has_version = env.has_type = env.has_origin = env.has_epoch = 1;
			env.has_mono_ns = 1;
			env.version = SYNC_WIRE_VERSION;
			env.type = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_REQUEST;
			env.origin = 1;
			env.epoch = 1;
			env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_REQUEST;
			env.snapshot_request = &r;
			r.has_snapshot_id = 1;
			r.n_maps = 1;
			r.maps = mnames;
			r.has_bucket = cases[i].hb;
			r.bucket = cases[i].b;
			r.has_bucket_count = cases[i].hc;
			r.bucket_count = cases[i].c;
			len = xlbsync__envelope__pack(&env, buf);
			assert_int_equal(sync_decode(&m, buf, len, &lim), cases[i].want);
			sync_msg_release(&m);
		}
	}
}

/* Apply-time reasons: the map is not watched, the sizes are not its own. */
static void test_apply_checks(void **state)
{
	struct sync_mapspec ms;
	uint8_t k[40] = { 0 }, v[64] = { 0 };
	struct sync_entry e = {
		.map = "sessions",
		.op = SYNC_OP_UPDATE,
		.key = k,
		.key_len = 40,
		.value = v,
		.value_len = 64,
		.origin = 1,
		.version = 1,
	};

	assert_int_equal(sync_mapspec_init(&ms, "sessions", 40, 64, SYNC_FIELD_NONE,
					   SYNC_FIELD_NONE, SYNC_FIELD_NONE, &lim, NULL),
			 0);
	assert_int_equal(sync_mapspec_check_entry(&ms, &e), SYNC_OK);
	e.map = "reverse";
	assert_int_equal(sync_mapspec_check_entry(&ms, &e), SYNC_E_UNKNOWN_MAP);
	e.map = "sessions";
	e.key_len = 39;
	assert_int_equal(sync_mapspec_check_entry(&ms, &e), SYNC_E_KEY_SIZE);
	e.key_len = 40;
	e.value_len = 63;
	assert_int_equal(sync_mapspec_check_entry(&ms, &e), SYNC_E_VALUE_SIZE);
	e.op = SYNC_OP_DELETE;
	e.value = NULL;
	e.value_len = 0;
	assert_int_equal(sync_mapspec_check_entry(&ms, &e), SYNC_OK);
}

/* Sealing (sync.cipher): what one node seals, another with the same key
 * and cipher opens to the same bytes; a different key, cipher, an altered
 * byte anywhere, a plain envelope or a tagged one are refused; the counter
 * never repeats; a restarted sender (new salt) is opened too. Both
 * ciphers where the CPU runs them. */
/*
 * Per-node keys: a frame opens at node 2 only with an authenticator for
 * node 2 under the key that node 2 and the frame's sender alone derive. A
 * node that holds the cluster key (node 3) but not node 1's secret key
 * cannot speak as node 1; it can speak as itself; a frame without
 * authenticators, one with a tag changed, and one from a node that is not
 * a peer are refused.
 */
/* sync_seal_pairs() with one or two peers (p2 0: one). */
static int pairs2(struct sync_seal *s, const uint8_t *sk, uint32_t p1, const uint8_t *pk1,
		  uint32_t p2, const uint8_t *pk2)
{
	uint8_t pks[2][SYNC_NODE_KEY_LEN];
	uint32_t peers[2] = { p1, p2 };

	memcpy(pks[0], pk1, SYNC_NODE_KEY_LEN);
	if (p2)
		memcpy(pks[1], pk2, SYNC_NODE_KEY_LEN);
	return sync_seal_pairs(s, sk, p2 ? 2 : 1, peers, (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks);
}

static void test_seal_pairs(void **state)
{
	static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
	static struct sync_seal a, b, c, c_as_a, bare, d;
	uint8_t sk[5][SYNC_NODE_KEY_LEN], pk[5][SYNC_NODE_KEY_LEN];
	struct sync_hdr h = { .origin = 1, .epoch = 7, .mono_ns = 1 };
	uint8_t plain[256], scratch[256], out[1024], got[256];
	size_t plen, len, glen;
	uint32_t sender;
	unsigned int i;

	(void)state;
	for (i = 1; i <= 4; i++) {
		randombytes_buf(sk[i], SYNC_NODE_KEY_LEN);
		sync_node_public_key(sk[i], pk[i]);
	}
	assert_int_equal(sync_seal_init(&a, SYNC_CIPHER_CHACHA20_POLY1305, 1, key, 32), 0);
	assert_int_equal(pairs2(&a, sk[1], 2, pk[2], 3, pk[3]), 0);
	assert_int_equal(sync_seal_init(&b, SYNC_CIPHER_CHACHA20_POLY1305, 2, key, 32), 0);
	assert_int_equal(pairs2(&b, sk[2], 1, pk[1], 3, pk[3]), 0);
	assert_int_equal(sync_seal_init(&c, SYNC_CIPHER_CHACHA20_POLY1305, 3, key, 32), 0);
	assert_int_equal(pairs2(&c, sk[3], 1, pk[1], 2, pk[2]), 0);
	/* node 3 with the cluster key, sealing in node 1's name */
	assert_int_equal(sync_seal_init(&c_as_a, SYNC_CIPHER_CHACHA20_POLY1305, 1, key, 32), 0);
	assert_int_equal(pairs2(&c_as_a, sk[3], 2, pk[2], 3, pk[3]), 0);
	assert_int_equal(sync_seal_init(&bare, SYNC_CIPHER_CHACHA20_POLY1305, 1, key, 32), 0);
	assert_int_equal(sync_seal_init(&d, SYNC_CIPHER_CHACHA20_POLY1305, 4, key, 32), 0);
	assert_int_equal(pairs2(&d, sk[4], 2, pk[2], 0, NULL), 0);
	assert_int_equal(sync_encode_snapshot_end(&h, 1, 2, 3, &lim, plain, sizeof(plain), &plen),
			 0);

	/* node 1 to node 2: opens, and the frame has room enough */
	assert_int_equal(sync_seal(&a, plain, plen, scratch, out, sizeof(out), &len), 0);
	assert_true(len <= plen + SYNC_SEAL_ROOM);
	assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
	assert_int_equal(sender, 1);
	assert_memory_equal(got, plain, plen);
	/* node 2's authenticator changed, byte by byte */
	assert_int_equal(sync_seal(&a, plain, plen, scratch, out, sizeof(out), &len), 0);
	{
		Xlbsync__Sealed *f = xlbsync__sealed__unpack(NULL, len, out);
		uint8_t *at = NULL;
		size_t j;

		assert_non_null(f);
		assert_int_equal(f->n_auth, 2);
		for (j = 0; j < f->n_auth; j++)
			if (f->auth[j]->node == 2)
				at = memmem(out, len, f->auth[j]->tag.data, SYNC_PAIR_TAG_LEN);
		xlbsync__sealed__free_unpacked(f, NULL);
		assert_non_null(at);
		for (j = 0; j < SYNC_PAIR_TAG_LEN; j++) {
			at[j] ^= 0x40;
			assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender),
					 -EACCES);
			at[j] ^= 0x40;
		}
		assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
	}
	/* node 3, with the cluster key, in node 1's name: refused */
	assert_int_equal(sync_seal(&c_as_a, plain, plen, scratch, out, sizeof(out), &len), 0);
	assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), -EACCES);
	/* ... in its own name: a peer with its own key, taken */
	assert_int_equal(sync_seal(&c, plain, plen, scratch, out, sizeof(out), &len), 0);
	assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
	assert_int_equal(sender, 3);
	/* without authenticators */
	assert_int_equal(sync_seal(&bare, plain, plen, scratch, out, sizeof(out), &len), 0);
	assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), -EACCES);
	/* a node that is not node 2's peer, whatever its key */
	assert_int_equal(sync_seal(&d, plain, plen, scratch, out, sizeof(out), &len), 0);
	assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), -EACCES);
	/* a low-order public key gives no pairwise key */
	{
		static const uint8_t zero[SYNC_NODE_KEY_LEN];

		assert_int_equal(pairs2(&d, sk[4], 2, zero, 0, NULL), -EINVAL);
	}
	sync_seal_clear(&a);
	sync_seal_clear(&b);
}

static void test_seal(void **state)
{
	static const enum sync_cipher cs[] = { SYNC_CIPHER_CHACHA20_POLY1305,
					       SYNC_CIPHER_AES256_GCM };
	static uint8_t plain[4096], scratch[4096], out[4096 + SYNC_SEAL_ROOM], got[4096];
	static struct sync_seal a, a2, b, other, wrong;
	struct sync_hdr h = hdr;
	uint8_t key[32], key2[32];
	enum sync_cipher c;
	size_t ci, len, glen, plen, i;
	uint32_t sender;

	assert_int_equal(sync_auth_init(), 0);
	assert_int_equal(sync_cipher_parse("chacha20-poly1305", &c), 0);
	assert_int_equal(c, SYNC_CIPHER_CHACHA20_POLY1305);
	assert_int_equal(sync_cipher_parse("aes-256-gcm", &c), 0);
	assert_int_equal(sync_cipher_parse("none", &c), 0);
	assert_int_equal(c, SYNC_CIPHER_NONE);
	assert_int_equal(sync_cipher_parse("rot13", &c), -EINVAL);
	memset(key, 1, sizeof(key));
	memset(key2, 2, sizeof(key2));
	assert_int_equal(sync_seal_init(&a, SYNC_CIPHER_NONE, 1, key, sizeof(key)), -EINVAL);
	assert_int_equal(sync_seal_init(&a, SYNC_CIPHER_CHACHA20_POLY1305, 1, NULL, 0), -EINVAL);
	for (ci = 0; ci < 2; ci++) {
		if (!sync_cipher_available(cs[ci])) {
			assert_int_equal(sync_seal_init(&a, cs[ci], 1, key, sizeof(key)), -ENOTSUP);
			continue;
		}
		assert_int_equal(sync_seal_init(&a, cs[ci], 1, key, sizeof(key)), 0);
		assert_int_equal(sync_seal_init(&a2, cs[ci], 1, key, sizeof(key)), 0);
		assert_int_equal(sync_seal_init(&b, cs[ci], 2, key, sizeof(key)), 0);
		assert_int_equal(sync_seal_init(&wrong, cs[ci], 2, key2, sizeof(key2)), 0);
		assert_int_equal(sync_seal_init(&other,
						cs[1 - ci] == SYNC_CIPHER_AES256_GCM &&
								!sync_cipher_available(cs[1 - ci])
							? cs[ci]
							: cs[1 - ci],
						2, key, sizeof(key)),
				 0);
		/* a real envelope, sealed and opened */
		h.seq = 0;
		assert_int_equal(
			sync_encode_snapshot_end(&h, 1, 2, 3, &lim, plain, sizeof(plain), &plen),
			0);
		assert_int_equal(sync_seal(&a, plain, plen, scratch, out, sizeof(out), &len), 0);
		assert_true(len <= plen + SYNC_SEAL_ROOM);
		/* encrypted: the box (the frame's last field, the AEAD's tag
		 * last) holds other bytes than the envelope's */
		assert_true(len > plen + SYNC_SEAL_ABYTES);
		assert_memory_not_equal(out + len - SYNC_SEAL_ABYTES - plen, plain, plen);
		assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
		assert_int_equal(sender, 1);
		assert_int_equal(glen, plen);
		assert_memory_equal(got, plain, plen);
		/* neither a plain nor a tagged envelope is a sealed frame */
		assert_int_equal(sync_open(&b, plain, plen, got, sizeof(got), &glen, &sender),
				 -EBADMSG);
		glen = plen;
		memcpy(scratch, plain, plen);
		assert_int_equal(
			sync_auth_append(scratch, &glen, sizeof(scratch), key, sizeof(key)), 0);
		assert_int_equal(sync_open(&b, scratch, glen, got, sizeof(got), &glen, &sender),
				 -EBADMSG);
		/* another key, another cipher */
		assert_int_equal(sync_open(&wrong, out, len, got, sizeof(got), &glen, &sender),
				 -EBADMSG);
		if (other.cipher != cs[ci])
			assert_int_equal(
				sync_open(&other, out, len, got, sizeof(got), &glen, &sender),
				-EBADMSG);
		/* any byte altered */
		for (i = 0; i < len; i++) {
			out[i] ^= 0x20;
			assert_int_not_equal(
				sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
			out[i] ^= 0x20;
		}
		assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
		/* too small a plaintext buffer */
		assert_int_equal(sync_open(&b, out, len, got, plen - 1, &glen, &sender), -EMSGSIZE);
		/* the same plaintext sealed again differs (the counter) */
		{
			static uint8_t out2[4096 + SYNC_SEAL_ROOM];
			size_t len2;

			assert_int_equal(
				sync_seal(&a, plain, plen, scratch, out2, sizeof(out2), &len2), 0);
			assert_int_equal(len2, len);
			assert_memory_not_equal(out2, out, len);
			assert_int_equal(
				sync_open(&b, out2, len2, got, sizeof(got), &glen, &sender), 0);
		}
		/* a restarted sender: same node, new salt; then the old one
		 * still opens too (a late message of the former incarnation
		 * is the engine's to refuse, by its epoch) */
		assert_int_equal(sync_seal(&a2, plain, plen, scratch, out, sizeof(out), &len), 0);
		assert_int_equal(sync_open(&b, out, len, got, sizeof(got), &glen, &sender), 0);
		assert_int_equal(sender, 1);
		/* no room for the frame */
		assert_int_equal(sync_seal(&a, plain, plen, scratch, out, plen, &len), -EMSGSIZE);
		sync_seal_clear(&a);
		sync_seal_clear(&a2);
		sync_seal_clear(&b);
		sync_seal_clear(&wrong);
		sync_seal_clear(&other);
	}
	(void)state;
}

/* The HMAC tag: appended as field 15, verified, refused when altered. */
static void test_auth_tag(void **state)
{
	uint8_t key[32], key2[32];
	struct sync_hdr h = hdr;
	struct sync_msg m;
	size_t len, plen, i;

	assert_int_equal(sync_auth_init(), 0);
	memset(key, 1, sizeof(key));
	memset(key2, 2, sizeof(key2));
	h.seq = 0;
	assert_int_equal(sync_encode_snapshot_end(&h, 1, 2, 3, &lim, buf, sizeof(buf), &len), 0);
	plen = len;
	assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, sizeof(key)), 0);
	assert_int_equal(len, plen + SYNC_AUTH_TAG_ROOM);
	/* still one valid envelope, with auth_tag set */
	assert_int_equal(sync_decode(&m, buf, len, &lim), SYNC_OK);
	assert_true(m.env->has_auth_tag);
	assert_int_equal(m.env->auth_tag.len, SYNC_AUTH_MAC_LEN);
	sync_msg_release(&m);
	i = 0;
	assert_int_equal(sync_auth_verify(buf, len, key, sizeof(key), &i), 0);
	assert_int_equal(i, plen);
	assert_int_equal(sync_auth_verify(buf, len, key2, sizeof(key2), &i), -EBADMSG);
	assert_int_equal(sync_auth_verify(buf, plen, key, sizeof(key), &i), -EBADMSG);
	assert_int_equal(sync_auth_verify(buf, 3, key, sizeof(key), &i), -EBADMSG);
	for (i = 0; i < len; i++) {
		size_t pl;

		buf[i] ^= 0x40;
		assert_int_equal(sync_auth_verify(buf, len, key, sizeof(key), &pl), -EBADMSG);
		buf[i] ^= 0x40;
	}
	/* no room left for the tag */
	len = plen;
	assert_int_equal(sync_auth_append(buf, &len, plen + 10, key, sizeof(key)), -EMSGSIZE);

	/* a prepared key gives the same tag, used again and again, and
	 * refuses what the one-shot form refuses */
	{
		struct sync_auth_key k, k2;
		uint8_t once[SYNC_AUTH_TAG_ROOM];
		size_t l2, j;

		assert_int_equal(sync_auth_key_init(&k, key, sizeof(key)), 0);
		assert_int_equal(sync_auth_key_init(&k2, key2, sizeof(key2)), 0);
		assert_int_equal(sync_auth_key_init(&k2, NULL, 0), -EINVAL);
		assert_int_equal(sync_auth_key_init(&k2, key2, sizeof(key2)), 0);
		len = plen;
		assert_int_equal(sync_auth_append(buf, &len, sizeof(buf), key, sizeof(key)), 0);
		memcpy(once, buf + plen, sizeof(once));
		for (j = 0; j < 3; j++) {
			l2 = plen;
			assert_int_equal(sync_auth_append_k(&k, buf, &l2, sizeof(buf)), 0);
			assert_int_equal(l2, len);
			assert_memory_equal(buf + plen, once, sizeof(once));
			assert_int_equal(sync_auth_verify_k(&k, buf, l2, &i), 0);
			assert_int_equal(i, plen);
			assert_int_equal(sync_auth_verify_k(&k2, buf, l2, &i), -EBADMSG);
		}
		buf[0] ^= 1;
		assert_int_equal(sync_auth_verify_k(&k, buf, len, &i), -EBADMSG);
		buf[0] ^= 1;
		l2 = plen;
		assert_int_equal(sync_auth_append_k(&k, buf, &l2, plen + 10), -EMSGSIZE);
		sync_auth_key_clear(&k);
		assert_int_equal(sync_auth_verify_k(&k, buf, len, &i), -EBADMSG);
		sync_auth_key_clear(&k2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_encode_refuses_bad),
		cmocka_unit_test(test_other_types),
		cmocka_unit_test(test_reject_reasons),
		cmocka_unit_test(test_reason_strings),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_mutated),
		cmocka_unit_test(test_bucket_request),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_beacon),
		cmocka_unit_test(test_flow_messages),
		cmocka_unit_test(test_apply_checks),
		cmocka_unit_test(test_auth_tag),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_seal_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
