// SPDX-License-Identifier: BSD-2-Clause
/* syncd wire codec: encode and validate proto/sync.proto envelopes. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static const char *const reason_str[SYNC_E__MAX] = {
	[SYNC_OK] = "ok",
	[SYNC_E_TOO_BIG] = "message too big",
	[SYNC_E_MALFORMED] = "malformed message",
	[SYNC_E_NOMEM] = "decode memory budget exceeded",
	[SYNC_E_VERSION] = "wrong wire version",
	[SYNC_E_TYPE] = "bad message type",
	[SYNC_E_ORIGIN] = "missing or zero origin",
	[SYNC_E_SEQ] = "missing or zero sequence/epoch",
	[SYNC_E_FIELD] = "missing field",
	[SYNC_E_ENTRIES] = "bad entry count",
	[SYNC_E_MAP_NAME] = "bad map name",
	[SYNC_E_OP] = "unknown operation",
	[SYNC_E_KEY] = "bad key length",
	[SYNC_E_VALUE] = "bad value length",
	[SYNC_E_ENTRY_VERSION] = "entry without version",
	[SYNC_E_RANGE] = "value out of range",
	[SYNC_E_DUP_ORIGIN] = "duplicate origin",
	[SYNC_E_UNKNOWN_MAP] = "map not watched",
	[SYNC_E_KEY_SIZE] = "key size mismatch",
	[SYNC_E_VALUE_SIZE] = "value size mismatch",
};

const char *sync_reason_str(enum sync_reason r)
{
	if ((unsigned int)r >= SYNC_E__MAX || !reason_str[r])
		return "unknown reason";
	return reason_str[r];
}

const char *sync_msg_type_str(int type)
{
	switch (type) {
	case SYNC_MSG_BATCH:
		return "batch";
	case SYNC_MSG_HEARTBEAT:
		return "heartbeat";
	case SYNC_MSG_RESYNC_REQUEST:
		return "resync-request";
	case SYNC_MSG_SNAPSHOT_REQUEST:
		return "snapshot-request";
	case SYNC_MSG_SNAPSHOT_CHUNK:
		return "snapshot-chunk";
	case SYNC_MSG_SNAPSHOT_END:
		return "snapshot-end";
	case SYNC_MSG_DIGEST:
		return "digest";
	case SYNC_MSG_SERVICES_REQUEST:
		return "services request";
	case SYNC_MSG_SERVICES:
		return "services";
	case SYNC_MSG_BEACON:
		return "beacon";
	case SYNC_MSG_SNAPSHOT_ACK:
		return "snapshot-ack";
	case SYNC_MSG_RESYNC_GONE:
		return "resync-gone";
	}
	return "unknown";
}

/* ---- validation shared by encode and decode ---- */

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

enum sync_reason sync_map_name_check(const char *name)
{
	size_t i;

	if (!name || !name[0])
		return SYNC_E_MAP_NAME;
	for (i = 0; name[i]; i++) {
		if (i >= SYNC_MAP_NAME_MAX || !name_char_ok(name[i]))
			return SYNC_E_MAP_NAME;
	}
	return SYNC_OK;
}

enum sync_reason sync_entry_check(const struct sync_entry *e, const struct sync_limits *lim)
{
	enum sync_reason r = sync_map_name_check(e->map);

	if (r != SYNC_OK)
		return r;
	if (e->op != SYNC_OP_UPDATE && e->op != SYNC_OP_DELETE)
		return SYNC_E_OP;
	if (!e->key || !e->key_len || e->key_len > lim->max_key)
		return SYNC_E_KEY;
	if (e->op == SYNC_OP_UPDATE) {
		if (!e->value || !e->value_len || e->value_len > lim->max_value)
			return SYNC_E_VALUE;
	} else if (e->value_len) {
		return SYNC_E_VALUE;
	}
	if (!e->origin)
		return SYNC_E_ORIGIN;
	return SYNC_OK;
}

/* What every header must carry; seq only (and always) on a BATCH. */
static enum sync_reason hdr_check(const struct sync_hdr *h, enum sync_msg_type type)
{
	if (!h->origin)
		return SYNC_E_ORIGIN;
	if (!h->epoch)
		return SYNC_E_SEQ;
	if ((type == SYNC_MSG_BATCH) != (h->seq != 0))
		return SYNC_E_SEQ;
	return SYNC_OK;
}

/* ---- encoding ---- */

static size_t budget(const struct sync_limits *lim, size_t cap)
{
	size_t max = lim->max_msg > SYNC_FRAME_ROOM ? lim->max_msg - SYNC_FRAME_ROOM : 0;

	return cap < max ? cap : max;
}

static void env_init(Xlbsync__Envelope *env, const struct sync_hdr *h, enum sync_msg_type type)
{
	xlbsync__envelope__init(env);
	env->has_version = 1;
	env->version = SYNC_WIRE_VERSION;
	env->has_type = 1;
	env->type = (Xlbsync__MsgType)type;
	env->has_origin = 1;
	env->origin = h->origin;
	env->has_epoch = 1;
	env->epoch = h->epoch;
	if (h->seq) {
		env->has_seq = 1;
		env->seq = h->seq;
	}
	if (h->dest) {
		env->has_dest = 1;
		env->dest = h->dest;
	}
	env->has_mono_ns = 1;
	env->mono_ns = h->mono_ns;
}

static int env_pack(const Xlbsync__Envelope *env, const struct sync_limits *lim, uint8_t *buf,
		    size_t cap, size_t *len)
{
	size_t sz = xlbsync__envelope__get_packed_size(env);

	if (sz > budget(lim, cap))
		return -EMSGSIZE;
	*len = xlbsync__envelope__pack(env, buf);
	return 0;
}

/* Bytes of a varint (a length prefix). */
static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void entry_to_pb(Xlbsync__Entry *pe, const struct sync_entry *e)
{
	xlbsync__entry__init(pe);
	pe->map = (char *)e->map;
	pe->has_op = 1;
	pe->op = (Xlbsync__Op)e->op;
	pe->has_key = 1;
	pe->key.data = (uint8_t *)e->key;
	pe->key.len = e->key_len;
	if (e->op == SYNC_OP_UPDATE) {
		pe->has_value = 1;
		pe->value.data = (uint8_t *)e->value;
		pe->value.len = e->value_len;
	}
	pe->has_origin = 1;
	pe->origin = e->origin;
	pe->has_version = 1;
	pe->version = e->version;
}

/*
 * Packs as many of e[0..n) as fit into one BATCH or SNAPSHOT_CHUNK. The size
 * is computed incrementally: the envelope with an empty entry list, plus
 * per entry its tag byte, length prefix and body, plus the growth of the
 * list message's own length prefix.
 */
static int encode_entries(const struct sync_hdr *h, enum sync_msg_type type, uint64_t snap_id,
			  uint32_t index, uint64_t walk_seq, const struct sync_entry *e, size_t n,
			  const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__Batch batch;
	Xlbsync__SnapshotChunk chunk;
	Xlbsync__Entry *pe = NULL, **pp = NULL;
	size_t base, list_base, body = 0, limit = budget(lim, cap), k;
	int err;

	if (!n)
		return -EINVAL;
	if (hdr_check(h, type) != SYNC_OK)
		return -EINVAL;
	if (n > lim->max_entries)
		n = lim->max_entries;
	env_init(&env, h, type);
	if (type == SYNC_MSG_BATCH) {
		xlbsync__batch__init(&batch);
		env.body_case = XLBSYNC__ENVELOPE__BODY_BATCH;
		env.batch = &batch;
		list_base = xlbsync__batch__get_packed_size(&batch);
	} else {
		xlbsync__snapshot_chunk__init(&chunk);
		chunk.has_snapshot_id = 1;
		chunk.snapshot_id = snap_id;
		chunk.has_index = 1;
		chunk.index = index;
		if (walk_seq) {
			chunk.has_walk_seq = 1;
			chunk.walk_seq = walk_seq;
		}
		env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_CHUNK;
		env.snapshot_chunk = &chunk;
		list_base = xlbsync__snapshot_chunk__get_packed_size(&chunk);
	}
	base = xlbsync__envelope__get_packed_size(&env) - varint_len(list_base);

	pe = calloc(n, sizeof(*pe));
	pp = calloc(n, sizeof(*pp));
	if (!pe || !pp) {
		err = -ENOMEM;
		goto out;
	}
	for (k = 0; k < n; k++) {
		size_t esz, total;

		if (sync_entry_check(&e[k], lim) != SYNC_OK) {
			err = -EINVAL;
			goto out;
		}
		entry_to_pb(&pe[k], &e[k]);
		pp[k] = &pe[k];
		esz = xlbsync__entry__get_packed_size(&pe[k]);
		esz += 1 + varint_len(esz); /* field tag (1..15: one byte) */
		total = base + varint_len(list_base + body + esz) + list_base + body + esz;
		if (total > limit)
			break;
		body += esz;
	}
	if (!k) {
		err = -EMSGSIZE;
		goto out;
	}
	if (type == SYNC_MSG_BATCH) {
		batch.n_entries = k;
		batch.entries = pp;
	} else {
		chunk.n_entries = k;
		chunk.entries = pp;
	}
	err = env_pack(&env, lim, buf, cap, len);
	if (!err)
		err = (int)k;
out:
	free(pp);
	free(pe);
	return err;
}

int sync_encode_batch(const struct sync_hdr *h, const struct sync_entry *e, size_t n,
		      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	return encode_entries(h, SYNC_MSG_BATCH, 0, 0, 0, e, n, lim, buf, cap, len);
}

int sync_encode_snapshot_chunk(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t index,
			       const struct sync_entry *e, size_t n, const struct sync_limits *lim,
			       uint8_t *buf, size_t cap, size_t *len)
{
	return encode_entries(h, SYNC_MSG_SNAPSHOT_CHUNK, snapshot_id, index, 0, e, n, lim, buf,
			      cap, len);
}

int sync_encode_snapshot_chunk_seq(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t index,
				   uint64_t walk_seq, const struct sync_entry *e, size_t n,
				   const struct sync_limits *lim, uint8_t *buf, size_t cap,
				   size_t *len)
{
	return encode_entries(h, SYNC_MSG_SNAPSHOT_CHUNK, snapshot_id, index, walk_seq, e, n, lim,
			      buf, cap, len);
}

int sync_encode_heartbeat(const struct sync_hdr *h, int ready, const struct sync_origin_seq *s,
			  size_t n, const struct sync_limits *lim, uint8_t *buf, size_t cap,
			  size_t *len)
{
	return sync_encode_heartbeat_svc(h, ready, s, n, NULL, NULL, lim, buf, cap, len);
}

int sync_encode_beacon(const struct sync_hdr *h, const struct sync_limits *lim, uint8_t *buf,
		       size_t cap, size_t *len)
{
	Xlbsync__Envelope env;

	if (hdr_check(h, SYNC_MSG_BEACON) != SYNC_OK)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_BEACON);
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_heartbeat_svc(const struct sync_hdr *h, int ready, const struct sync_origin_seq *s,
			      size_t n, const uint64_t *services, const uint32_t *birth_clock,
			      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__Heartbeat hb;
	Xlbsync__OriginSeq *os = NULL, **pp = NULL;
	size_t i;
	int err;

	if (hdr_check(h, SYNC_MSG_HEARTBEAT) != SYNC_OK || n > lim->max_list)
		return -EINVAL;
	if (n) {
		os = calloc(n, sizeof(*os));
		pp = calloc(n, sizeof(*pp));
		if (!os || !pp) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (!s[i].origin || !s[i].epoch) {
			err = -EINVAL;
			goto out;
		}
		xlbsync__origin_seq__init(&os[i]);
		os[i].has_origin = 1;
		os[i].origin = s[i].origin;
		os[i].has_epoch = 1;
		os[i].epoch = s[i].epoch;
		os[i].has_last_seq = 1;
		os[i].last_seq = s[i].last_seq;
		pp[i] = &os[i];
	}
	env_init(&env, h, SYNC_MSG_HEARTBEAT);
	xlbsync__heartbeat__init(&hb);
	hb.has_ready = 1;
	hb.ready = !!ready;
	hb.n_seqs = n;
	hb.seqs = pp;
	if (services) {
		hb.has_services = 1;
		hb.services = *services;
	}
	if (birth_clock) {
		hb.has_birth_clock = 1;
		hb.birth_clock = *birth_clock;
	}
	env.body_case = XLBSYNC__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	err = env_pack(&env, lim, buf, cap, len);
out:
	free(pp);
	free(os);
	return err;
}

int sync_encode_resync_request(const struct sync_hdr *h, uint32_t origin, uint64_t from_seq,
			       uint64_t to_seq, const struct sync_limits *lim, uint8_t *buf,
			       size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__ResyncRequest rr;

	if (hdr_check(h, SYNC_MSG_RESYNC_REQUEST) != SYNC_OK || !origin || !from_seq ||
	    from_seq > to_seq)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_RESYNC_REQUEST);
	xlbsync__resync_request__init(&rr);
	rr.has_origin = 1;
	rr.origin = origin;
	rr.has_from_seq = 1;
	rr.from_seq = from_seq;
	rr.has_to_seq = 1;
	rr.to_seq = to_seq;
	env.body_case = XLBSYNC__ENVELOPE__BODY_RESYNC_REQUEST;
	env.resync_request = &rr;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_resync_gone(const struct sync_hdr *h, uint64_t from_seq, uint64_t to_seq,
			    uint64_t first_kept, const struct sync_limits *lim, uint8_t *buf,
			    size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__ResyncGone rg;

	if (hdr_check(h, SYNC_MSG_RESYNC_GONE) != SYNC_OK || !from_seq || from_seq > to_seq)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_RESYNC_GONE);
	xlbsync__resync_gone__init(&rg);
	rg.has_from_seq = 1;
	rg.from_seq = from_seq;
	rg.has_to_seq = 1;
	rg.to_seq = to_seq;
	rg.has_first_kept = 1;
	rg.first_kept = first_kept;
	env.body_case = XLBSYNC__ENVELOPE__BODY_RESYNC_GONE;
	env.resync_gone = &rg;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_snapshot_request(const struct sync_hdr *h, uint64_t snapshot_id,
				 const char *const *maps, size_t n, const struct sync_limits *lim,
				 uint8_t *buf, size_t cap, size_t *len)
{
	return sync_encode_snapshot_request_bucket(h, snapshot_id, maps, n, 0, 0, lim, buf, cap,
						   len);
}

int sync_encode_snapshot_request_bucket(const struct sync_hdr *h, uint64_t snapshot_id,
					const char *const *maps, size_t n, uint32_t bucket,
					uint32_t bucket_count, const struct sync_limits *lim,
					uint8_t *buf, size_t cap, size_t *len)
{
	return sync_encode_snapshot_request_win(h, snapshot_id, maps, n, bucket, bucket_count, 0,
						lim, buf, cap, len);
}

int sync_encode_snapshot_request_win(const struct sync_hdr *h, uint64_t snapshot_id,
				     const char *const *maps, size_t n, uint32_t bucket,
				     uint32_t bucket_count, uint32_t window,
				     const struct sync_limits *lim, uint8_t *buf, size_t cap,
				     size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__SnapshotRequest sr;
	size_t i;

	if (hdr_check(h, SYNC_MSG_SNAPSHOT_REQUEST) != SYNC_OK || !n || n > lim->max_list)
		return -EINVAL;
	if (bucket_count && bucket >= bucket_count)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (sync_map_name_check(maps[i]) != SYNC_OK)
			return -EINVAL;
	}
	env_init(&env, h, SYNC_MSG_SNAPSHOT_REQUEST);
	xlbsync__snapshot_request__init(&sr);
	sr.has_snapshot_id = 1;
	sr.snapshot_id = snapshot_id;
	sr.n_maps = n;
	sr.maps = (char **)maps;
	if (bucket_count) {
		sr.has_bucket = 1;
		sr.bucket = bucket;
		sr.has_bucket_count = 1;
		sr.bucket_count = bucket_count;
	}
	if (window) {
		sr.has_window = 1;
		sr.window = window;
	}
	env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_REQUEST;
	env.snapshot_request = &sr;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_snapshot_end(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t chunks,
			     uint64_t last_seq, const struct sync_limits *lim, uint8_t *buf,
			     size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__SnapshotEnd se;

	if (hdr_check(h, SYNC_MSG_SNAPSHOT_END) != SYNC_OK)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_SNAPSHOT_END);
	xlbsync__snapshot_end__init(&se);
	se.has_snapshot_id = 1;
	se.snapshot_id = snapshot_id;
	se.has_chunks = 1;
	se.chunks = chunks;
	se.has_last_seq = 1;
	se.last_seq = last_seq;
	env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_END;
	env.snapshot_end = &se;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_snapshot_gone(const struct sync_hdr *h, uint64_t snapshot_id,
			      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__SnapshotEnd se;

	if (hdr_check(h, SYNC_MSG_SNAPSHOT_END) != SYNC_OK)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_SNAPSHOT_END);
	xlbsync__snapshot_end__init(&se);
	se.has_snapshot_id = 1;
	se.snapshot_id = snapshot_id;
	se.has_chunks = 1;
	se.has_last_seq = 1;
	se.has_gone = 1;
	se.gone = 1;
	env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_END;
	env.snapshot_end = &se;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_snapshot_ack(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t next_index,
			     unsigned int flags, const struct sync_limits *lim, uint8_t *buf,
			     size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__SnapshotAck sa;

	if (hdr_check(h, SYNC_MSG_SNAPSHOT_ACK) != SYNC_OK ||
	    (flags & ~(SYNC_ACK_RESEND | SYNC_ACK_CANCEL)))
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_SNAPSHOT_ACK);
	xlbsync__snapshot_ack__init(&sa);
	sa.has_snapshot_id = 1;
	sa.snapshot_id = snapshot_id;
	sa.has_next_index = 1;
	sa.next_index = next_index;
	if (flags & SYNC_ACK_RESEND) {
		sa.has_resend = 1;
		sa.resend = 1;
	}
	if (flags & SYNC_ACK_CANCEL) {
		sa.has_cancel = 1;
		sa.cancel = 1;
	}
	env.body_case = XLBSYNC__ENVELOPE__BODY_SNAPSHOT_ACK;
	env.snapshot_ack = &sa;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_digest(const struct sync_hdr *h, const struct sync_digest *d,
		       const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__Digest dg;

	if (hdr_check(h, SYNC_MSG_DIGEST) != SYNC_OK || sync_map_name_check(d->map) != SYNC_OK ||
	    !d->bucket_count || d->bucket >= d->bucket_count)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_DIGEST);
	xlbsync__digest__init(&dg);
	dg.map = (char *)d->map;
	dg.has_bucket = 1;
	dg.bucket = d->bucket;
	dg.has_bucket_count = 1;
	dg.bucket_count = d->bucket_count;
	dg.has_entries = 1;
	dg.entries = d->entries;
	dg.has_hash = 1;
	dg.hash = d->hash;
	dg.has_version_before = d->has_version_before;
	dg.version_before = d->version_before;
	env.body_case = XLBSYNC__ENVELOPE__BODY_DIGEST;
	env.digest = &dg;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_services_request(const struct sync_hdr *h, uint64_t digest,
				 const struct sync_limits *lim, uint8_t *buf, size_t cap,
				 size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__ServicesRequest sr;

	if (hdr_check(h, SYNC_MSG_SERVICES_REQUEST) != SYNC_OK)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_SERVICES_REQUEST);
	xlbsync__services_request__init(&sr);
	sr.has_digest = 1;
	sr.digest = digest;
	env.body_case = XLBSYNC__ENVELOPE__BODY_SERVICES_REQUEST;
	env.services_request = &sr;
	return env_pack(&env, lim, buf, cap, len);
}

int sync_encode_services_chunk(const struct sync_hdr *h, uint64_t digest, uint32_t index,
			       uint32_t count, const uint8_t *data, size_t n,
			       const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len)
{
	Xlbsync__Envelope env;
	Xlbsync__ServicesChunk sc;

	if (hdr_check(h, SYNC_MSG_SERVICES) != SYNC_OK || !count ||
	    count > SYNC_SERVICES_MAX_CHUNKS || index >= count)
		return -EINVAL;
	env_init(&env, h, SYNC_MSG_SERVICES);
	xlbsync__services_chunk__init(&sc);
	sc.has_digest = 1;
	sc.digest = digest;
	sc.has_index = 1;
	sc.index = index;
	sc.has_count = 1;
	sc.count = count;
	sc.has_data = 1;
	sc.data.data = (uint8_t *)data;
	sc.data.len = n;
	env.body_case = XLBSYNC__ENVELOPE__BODY_SERVICES_CHUNK;
	env.services_chunk = &sc;
	return env_pack(&env, lim, buf, cap, len);
}

/* ---- decoding ---- */

/*
 * Budgeted allocator: protobuf-c allocates in proportion to the input (one
 * struct per sub-message, copies of strings and bytes, pointer arrays),
 * but a small struct per two-byte empty sub-message is a large factor;
 * the budget bounds what a single hostile message can make us allocate.
 * Each block carries its size in a header so that free can account for it.
 */
union alloc_hdr {
	size_t size;
	max_align_t align;
};

int sync_arena_init(struct sync_arena *a, size_t cap)
{
	a->base = malloc(cap);
	a->cap = a->base ? cap : 0;
	a->used = 0;
	return a->base ? 0 : -ENOMEM;
}

void sync_arena_free(struct sync_arena *a)
{
	free(a->base);
	a->base = NULL;
	a->cap = a->used = 0;
}

static void *budget_alloc(void *data, size_t size)
{
	struct sync_msg *m = data;
	union alloc_hdr *h;

	if (size > m->mem_budget - m->mem_used) {
		m->mem_refused = 1;
		return NULL;
	}
	if (m->arena) {
		/* a bump of the arena, aligned as malloc's; freed all at once */
		struct sync_arena *a = m->arena;
		size_t at = (a->used + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

		if (at > a->cap || size > a->cap - at) {
			m->mem_refused = 1;
			return NULL;
		}
		a->used = at + size;
		m->mem_used += size;
		return a->base + at;
	}
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	m->mem_used += size;
	return h + 1;
}

static void budget_free(void *data, void *p)
{
	struct sync_msg *m = data;
	union alloc_hdr *h;

	if (!p || m->arena)
		return; /* an arena is reset as a whole */
	h = (union alloc_hdr *)p - 1;
	m->mem_used -= h->size;
	free(h);
}

static enum sync_reason entry_pb_check(const Xlbsync__Entry *pe, const struct sync_limits *lim)
{
	if (sync_map_name_check(pe->map) != SYNC_OK)
		return SYNC_E_MAP_NAME;
	if (!pe->has_op || (pe->op != XLBSYNC__OP__OP_UPDATE && pe->op != XLBSYNC__OP__OP_DELETE))
		return SYNC_E_OP;
	if (!pe->has_key || !pe->key.len || pe->key.len > lim->max_key)
		return SYNC_E_KEY;
	if (pe->op == XLBSYNC__OP__OP_UPDATE) {
		if (!pe->has_value || !pe->value.len || pe->value.len > lim->max_value)
			return SYNC_E_VALUE;
	} else if (pe->has_value) {
		return SYNC_E_VALUE;
	}
	if (!pe->has_origin || !pe->origin)
		return SYNC_E_ORIGIN;
	if (!pe->has_version)
		return SYNC_E_ENTRY_VERSION;
	return SYNC_OK;
}

static enum sync_reason entries_check(Xlbsync__Entry *const *pe, size_t n,
				      const struct sync_limits *lim)
{
	enum sync_reason r;
	size_t i;

	if (!n || n > lim->max_entries)
		return SYNC_E_ENTRIES;
	for (i = 0; i < n; i++) {
		r = entry_pb_check(pe[i], lim);
		if (r != SYNC_OK)
			return r;
	}
	return SYNC_OK;
}

static enum sync_reason heartbeat_check(const Xlbsync__Heartbeat *hb, const struct sync_limits *lim)
{
	size_t i, j;

	if (!hb->has_ready)
		return SYNC_E_FIELD;
	if (hb->n_seqs > lim->max_list)
		return SYNC_E_RANGE;
	for (i = 0; i < hb->n_seqs; i++) {
		const Xlbsync__OriginSeq *s = hb->seqs[i];

		if (!s->has_origin || !s->origin)
			return SYNC_E_ORIGIN;
		if (!s->has_epoch || !s->epoch || !s->has_last_seq)
			return SYNC_E_SEQ;
		for (j = 0; j < i; j++) { /* max_list is small */
			if (hb->seqs[j]->origin == s->origin)
				return SYNC_E_DUP_ORIGIN;
		}
	}
	return SYNC_OK;
}

static enum sync_reason body_check(struct sync_msg *m, const struct sync_limits *lim)
{
	const Xlbsync__Envelope *env = m->env;
	size_t i;

	switch (env->body_case) {
	case XLBSYNC__ENVELOPE__BODY_BATCH:
		if (env->type != XLBSYNC__MSG_TYPE__MSG_BATCH)
			return SYNC_E_TYPE;
		m->n_entries = env->batch->n_entries;
		return entries_check(env->batch->entries, env->batch->n_entries, lim);
	case XLBSYNC__ENVELOPE__BODY_HEARTBEAT:
		if (env->type != XLBSYNC__MSG_TYPE__MSG_HEARTBEAT)
			return SYNC_E_TYPE;
		return heartbeat_check(env->heartbeat, lim);
	case XLBSYNC__ENVELOPE__BODY_RESYNC_REQUEST: {
		const Xlbsync__ResyncRequest *rr = env->resync_request;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_RESYNC_REQUEST)
			return SYNC_E_TYPE;
		if (!rr->has_origin || !rr->origin)
			return SYNC_E_ORIGIN;
		if (!rr->has_from_seq || !rr->has_to_seq)
			return SYNC_E_FIELD;
		if (!rr->from_seq || rr->from_seq > rr->to_seq)
			return SYNC_E_RANGE;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_SNAPSHOT_REQUEST: {
		const Xlbsync__SnapshotRequest *sr = env->snapshot_request;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_REQUEST)
			return SYNC_E_TYPE;
		if (!sr->has_snapshot_id)
			return SYNC_E_FIELD;
		if (!sr->n_maps || sr->n_maps > lim->max_list)
			return SYNC_E_RANGE;
		for (i = 0; i < sr->n_maps; i++) {
			if (sync_map_name_check(sr->maps[i]) != SYNC_OK)
				return SYNC_E_MAP_NAME;
		}
		/* a bucket snapshot names both, a full one neither */
		if (sr->has_bucket != sr->has_bucket_count)
			return SYNC_E_FIELD;
		if (sr->has_bucket_count && (!sr->bucket_count || sr->bucket >= sr->bucket_count))
			return SYNC_E_RANGE;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_SNAPSHOT_CHUNK: {
		const Xlbsync__SnapshotChunk *sc = env->snapshot_chunk;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_CHUNK)
			return SYNC_E_TYPE;
		if (!sc->has_snapshot_id || !sc->has_index)
			return SYNC_E_FIELD;
		m->n_entries = sc->n_entries;
		return entries_check(sc->entries, sc->n_entries, lim);
	}
	case XLBSYNC__ENVELOPE__BODY_SNAPSHOT_END: {
		const Xlbsync__SnapshotEnd *se = env->snapshot_end;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_END)
			return SYNC_E_TYPE;
		if (!se->has_snapshot_id || !se->has_chunks || !se->has_last_seq)
			return SYNC_E_FIELD;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_RESYNC_GONE: {
		const Xlbsync__ResyncGone *rg = env->resync_gone;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_RESYNC_GONE)
			return SYNC_E_TYPE;
		if (!rg->has_from_seq || !rg->has_to_seq || !rg->has_first_kept)
			return SYNC_E_FIELD;
		if (!rg->from_seq || rg->from_seq > rg->to_seq)
			return SYNC_E_RANGE;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_SNAPSHOT_ACK: {
		const Xlbsync__SnapshotAck *sa = env->snapshot_ack;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_ACK)
			return SYNC_E_TYPE;
		if (!sa->has_snapshot_id || !sa->has_next_index)
			return SYNC_E_FIELD;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_DIGEST: {
		const Xlbsync__Digest *d = env->digest;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_DIGEST)
			return SYNC_E_TYPE;
		if (sync_map_name_check(d->map) != SYNC_OK)
			return SYNC_E_MAP_NAME;
		if (!d->has_bucket || !d->has_bucket_count || !d->has_entries || !d->has_hash)
			return SYNC_E_FIELD;
		if (!d->bucket_count || d->bucket >= d->bucket_count)
			return SYNC_E_RANGE;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY_SERVICES_REQUEST:
		if (env->type != XLBSYNC__MSG_TYPE__MSG_SERVICES_REQUEST)
			return SYNC_E_TYPE;
		if (!env->services_request->has_digest)
			return SYNC_E_FIELD;
		return SYNC_OK;
	case XLBSYNC__ENVELOPE__BODY_SERVICES_CHUNK: {
		const Xlbsync__ServicesChunk *sc = env->services_chunk;

		if (env->type != XLBSYNC__MSG_TYPE__MSG_SERVICES)
			return SYNC_E_TYPE;
		if (!sc->has_digest || !sc->has_index || !sc->has_count || !sc->has_data)
			return SYNC_E_FIELD;
		if (!sc->count || sc->count > SYNC_SERVICES_MAX_CHUNKS || sc->index >= sc->count)
			return SYNC_E_RANGE;
		return SYNC_OK;
	}
	case XLBSYNC__ENVELOPE__BODY__NOT_SET:
		/* only a BEACON has no body */
		return env->type == XLBSYNC__MSG_TYPE__MSG_BEACON ? SYNC_OK : SYNC_E_TYPE;
	default:
		return SYNC_E_TYPE;
	}
}

static enum sync_reason envelope_check(struct sync_msg *m, const struct sync_limits *lim)
{
	const Xlbsync__Envelope *env = m->env;

	if (!env->has_version || env->version != SYNC_WIRE_VERSION)
		return SYNC_E_VERSION;
	/* protobuf-c keeps unknown enum values as they came */
	if (!env->has_type || env->type < XLBSYNC__MSG_TYPE__MSG_BATCH ||
	    env->type > XLBSYNC__MSG_TYPE__MSG_RESYNC_GONE)
		return SYNC_E_TYPE;
	if (!env->has_origin || !env->origin)
		return SYNC_E_ORIGIN;
	if (!env->has_epoch || !env->epoch)
		return SYNC_E_SEQ;
	/* a sequence number on a BATCH, and only there */
	if ((env->type == XLBSYNC__MSG_TYPE__MSG_BATCH) != (env->has_seq && env->seq))
		return SYNC_E_SEQ;
	if (!env->has_mono_ns)
		return SYNC_E_FIELD;
	return body_check(m, lim);
}

enum sync_reason sync_decode(struct sync_msg *m, const uint8_t *buf, size_t len,
			     const struct sync_limits *lim)
{
	return sync_decode_in(m, NULL, buf, len, lim);
}

enum sync_reason sync_decode_in(struct sync_msg *m, struct sync_arena *arena, const uint8_t *buf,
				size_t len, const struct sync_limits *lim)
{
	enum sync_reason r;

	memset(m, 0, sizeof(*m));
	if (len > lim->max_msg)
		return SYNC_E_TOO_BIG;
	m->arena = arena;
	if (arena)
		arena->used = 0;
	m->alloc.alloc = budget_alloc;
	m->alloc.free = budget_free;
	m->alloc.allocator_data = m;
	m->mem_budget = lim->max_decode_mem ? lim->max_decode_mem : 64 * len + 64 * 1024;
	m->env = xlbsync__envelope__unpack(&m->alloc, len, buf);
	if (!m->env) /* protobuf-c has freed what it had allocated */
		return m->mem_refused ? SYNC_E_NOMEM : SYNC_E_MALFORMED;
	r = envelope_check(m, lim);
	if (r != SYNC_OK) {
		sync_msg_release(m);
		return r;
	}
	m->type = (enum sync_msg_type)m->env->type;
	m->hdr.origin = m->env->origin;
	m->hdr.dest = m->env->has_dest ? m->env->dest : 0;
	m->hdr.epoch = m->env->epoch;
	m->hdr.seq = m->env->has_seq ? m->env->seq : 0;
	m->hdr.mono_ns = m->env->mono_ns;
	return SYNC_OK;
}

void sync_msg_release(struct sync_msg *m)
{
	if (m->env && m->arena)
		m->arena->used = 0; /* no walk of the tree to free nothing */
	else if (m->env)
		xlbsync__envelope__free_unpacked(m->env, &m->alloc);
	m->env = NULL;
	m->n_entries = 0;
}

void sync_msg_entry(const struct sync_msg *m, size_t i, struct sync_entry *e)
{
	const Xlbsync__Entry *pe;

	pe = m->type == SYNC_MSG_BATCH ? m->env->batch->entries[i]
				       : m->env->snapshot_chunk->entries[i];
	e->map = pe->map;
	e->op = (enum sync_op)pe->op;
	e->key = pe->key.data;
	e->key_len = (uint32_t)pe->key.len;
	e->value = pe->has_value ? pe->value.data : NULL;
	e->value_len = pe->has_value ? (uint32_t)pe->value.len : 0;
	e->origin = pe->origin;
	e->version = pe->version;
}
