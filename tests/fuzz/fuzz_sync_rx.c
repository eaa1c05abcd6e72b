// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for everything syncd accepts from the network.
 *
 * An input is a sequence of frames (2-byte little-endian length, then the
 * bytes of one message). Every frame goes through sync_decode() on its own
 * and then through sync_engine_rx() of a fresh engine (node 10, peers 20
 * and 30, the cluster key with ChaCha20-Poly1305 and per-node keys) twice:
 * as it is (so that mutated bytes reach the Sealed frame's parser and the
 * authenticator check), and sealed by the harness as the node its envelope
 * names, with that node's own key pair (so that mutated messages of every
 * type reach the apply path through the real authentication); the
 * engine's in-memory maps hold a few entries; the engine is ticked
 * between frames with its clock moving on, so snapshot serving, prunes,
 * resync answers, anti-entropy and tombstone expiry run on whatever the
 * frames set up. A new engine per input keeps runs reproducible.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined by run.sh. With
 * -DFUZZ_SEEDGEN the same file is a program that writes a seed corpus of
 * well-formed frame sequences into the directory given.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "auth.h"
#include "codec.h"
#include "engine.h"
#include "log.h"

#define MS    1000000ull
#define SLOTS 32

struct fkey {
	uint32_t a, b, c, d;
};

struct fval {
	uint64_t ts;
	uint32_t owner;
	uint32_t version;
	uint8_t payload[16];
};

static struct sync_mapspec specs[2];

struct fslot {
	bool used;
	uint8_t key[16];
	uint8_t val[32];
};

static struct fslot table[2][SLOTS];

static struct fslot *find(unsigned int map, const void *key, bool add)
{
	size_t i;

	for (i = 0; i < SLOTS; i++) {
		if (table[map][i].used && !memcmp(table[map][i].key, key, specs[map].key_size))
			return &table[map][i];
	}
	if (!add)
		return NULL;
	for (i = 0; i < SLOTS; i++) {
		if (!table[map][i].used)
			return &table[map][i];
	}
	return NULL;
}

static int st_lookup(void *ctx, unsigned int map, const void *key, void *value)
{
	struct fslot *s = find(map, key, false);

	if (!s)
		return -ENOENT;
	memcpy(value, s->val, specs[map].value_size);
	return 0;
}

static int st_update(void *ctx, unsigned int map, const void *key, const void *value)
{
	struct fslot *s = find(map, key, true);

	if (!s)
		return -E2BIG;
	s->used = true;
	memcpy(s->key, key, specs[map].key_size);
	memcpy(s->val, value, specs[map].value_size);
	return 0;
}

static int st_remove(void *ctx, unsigned int map, const void *key, void *old_value)
{
	struct fslot *s = find(map, key, false);

	if (!s)
		return -ENOENT;
	if (old_value)
		memcpy(old_value, s->val, specs[map].value_size);
	s->used = false;
	return 0;
}

static int st_walk(void *ctx, unsigned int map, struct sync_cursor *cur, unsigned int max,
		   sync_walk_fn fn, void *arg)
{
	int n = 0;

	while (cur->pos < SLOTS && (unsigned int)n < max) {
		struct fslot *s = &table[map][cur->pos++];

		if (!s->used)
			continue;
		n++;
		if (fn(arg, s->key, s->val))
			break;
	}
	cur->done = cur->pos >= SLOTS;
	return n;
}

static const struct sync_store_ops store_ops = {
	.lookup = st_lookup,
	.update = st_update,
	.remove = st_remove,
	.walk = st_walk,
};

static struct sync_seal tap; /* opens what the engine seals */
static uint8_t tap_buf[1 << 16];
static const uint8_t cluster_key[32];

static int io_send(void *ctx, const uint8_t *buf, size_t len)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_msg m;
	uint32_t sender;
	size_t plen;

	/* whatever the engine sends must be a valid message, sealed */
	if (!tap.cipher && sync_seal_init(&tap, SYNC_CIPHER_CHACHA20_POLY1305, 0xffff, cluster_key,
					  sizeof(cluster_key)))
		abort();
	if (sync_open(&tap, buf, len, tap_buf, sizeof(tap_buf), &plen, &sender) || sender != 10)
		abort();
	if (sync_decode(&m, tap_buf, plen, &lim) != SYNC_OK)
		abort();
	sync_msg_release(&m);
	return 0;
}

static const struct sync_io_ops io_ops = { .send = io_send };

static int validate(void *arg, unsigned int map, const void *key, const void *value,
		    const char **why)
{
	const struct fval *v = value;

	if (map == 0 && v->payload[0] == 0xEE) {
		*why = "refused";
		return 1;
	}
	return 0;
}

static void setup_specs(void)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;

	if (specs[0].key_size)
		return;
	xlb_log_init("fuzz", "f", XLB_LOG_ERR);
	if (sync_mapspec_init(&specs[0], "sessions", sizeof(struct fkey), sizeof(struct fval),
			      SYNC_FIELD(struct fval, ts), SYNC_FIELD(struct fval, owner),
			      SYNC_FIELD(struct fval, version), &lim, NULL) ||
	    sync_mapspec_init(&specs[1], "rev", 8, 8, SYNC_FIELD_NONE, SYNC_FIELD_NONE,
			      SYNC_FIELD_NONE, &lim, NULL))
		abort();
}

/* A service set's encoding (proto ServiceSet: one VIP 198.18.100.1:8080/tcp,
 * full-NAT, no backend), this node's and the seed peer's. */
static const uint8_t svc_set[] = { 0x0a, 0x0c, 0x0a, 0x04, 198,	 18,   100, 1,
				   0x10, 0x90, 0x3f, 0x18, 0x06, 0x20, 0x01 };

/* The cluster key and each node's key pair (fixed: runs reproduce), and
 * the seals of peers 20 and 30 as the harness speaks for them. */
static const uint8_t cluster_key[32] = "xdplb fuzz cluster key 32 bytes";
/* (declared above, for io_send) */
static uint8_t node_sk[3][SYNC_NODE_KEY_LEN], node_pk[3][SYNC_NODE_KEY_LEN];
static struct sync_seal seal_of[2]; /* 20, 30 */
static uint8_t seal_scratch[1 << 16], sealed[(1 << 16) + SYNC_SEAL_ROOM];

static void setup_keys(void)
{
	static const uint32_t ids[3] = { 10, 20, 30 };
	static bool done;
	unsigned int i, j;

	if (done)
		return;
	done = true;
	for (i = 0; i < 3; i++) {
		memset(node_sk[i], 0x41 + (int)i, SYNC_NODE_KEY_LEN);
		sync_node_public_key(node_sk[i], node_pk[i]);
	}
	for (i = 1; i < 3; i++) {
		uint32_t peers[2];
		uint8_t pks[2][SYNC_NODE_KEY_LEN];
		unsigned int n = 0;

		if (sync_seal_init(&seal_of[i - 1], SYNC_CIPHER_CHACHA20_POLY1305, ids[i],
				   cluster_key, sizeof(cluster_key)))
			abort();
		for (j = 0; j < 3; j++) {
			if (j == i)
				continue;
			peers[n] = ids[j];
			memcpy(pks[n++], node_pk[j], SYNC_NODE_KEY_LEN);
		}
		if (sync_seal_pairs(&seal_of[i - 1], node_sk[i], 2, peers,
				    (const uint8_t(*)[SYNC_NODE_KEY_LEN])pks))
			abort();
	}
}

static struct sync_engine *make_engine(void)
{
	static const uint32_t peers[] = { 20, 30 };
	struct sync_engine_cfg cfg;
	struct sync_engine *e;
	char err[256];
	uint32_t i;

	setup_specs();
	memset(table, 0, sizeof(table));
	for (i = 0; i < 6; i++) {
		struct fkey k = { i, i, i, i };
		struct fval v = { .ts = 1000 * MS, .owner = i % 2 ? 20 : 10, .version = 1 + i };

		st_update(NULL, 0, &k, &v);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.node_id = 10;
	cfg.node_name = "fuzz";
	cfg.epoch = 1;
	cfg.n_maps = 2;
	cfg.maps = specs;
	cfg.n_peers = 2;
	cfg.peers = peers;
	cfg.heartbeat_ms = 10;
	cfg.dead_after_ms = 50;
	cfg.ready_timeout_ms = 5;
	cfg.resync_retry_ms = 3;
	cfg.antientropy_ms = 20;
	cfg.digest_buckets = 4;
	cfg.walk_budget = 4;
	cfg.tombstone_ms = 30;
	cfg.txring_msgs = 16;
	cfg.txring_bytes = 1 << 20;
	cfg.validate = validate;
	setup_keys();
	memcpy(cfg.auth_key, cluster_key, sizeof(cluster_key));
	cfg.auth_key_len = sizeof(cluster_key);
	cfg.cipher = SYNC_CIPHER_CHACHA20_POLY1305;
	cfg.node_keys = true;
	memcpy(cfg.node_sk, node_sk[0], SYNC_NODE_KEY_LEN);
	cfg.peer_pk = (const uint8_t(*)[SYNC_NODE_KEY_LEN]) & node_pk[1];
	e = sync_engine_new(&cfg, &store_ops, NULL, &io_ops, NULL, err, sizeof(err));
	if (!e)
		abort();
	/* a service set to serve to a peer that asks (engine_services.c) */
	if (sync_engine_set_services(e, XXH3_64bits(svc_set, sizeof(svc_set)), svc_set,
				     sizeof(svc_set)))
		abort();
	return e;
}

#ifndef FUZZ_SEEDGEN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	struct sync_engine *e = make_engine();
	uint64_t now = 1000 * MS;
	struct fkey k = { 99, 1, 2, 3 };
	struct fval v = { .ts = now, .owner = 10, .version = 1 };
	size_t off = 0;

	sync_engine_start(e, now);
	/* one local change, so that resync requests find something */
	sync_engine_local(e, 0, SYNC_OP_UPDATE, &k, &v, 0, now);
	sync_engine_flush(e, now);
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8, slen;
		uint32_t origin = 20;
		struct sync_msg m;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* the decoder on its own: valid or refused, never more */
		if (sync_decode(&m, data + off, len, &lim) == SYNC_OK) {
			struct sync_entry en;
			size_t i;

			for (i = 0; i < m.n_entries; i++)
				sync_msg_entry(&m, i, &en);
			origin = m.hdr.origin;
		}
		sync_msg_release(&m);
		/* as it is: the Sealed parser and the authenticators */
		sync_engine_rx(e, data + off, len, now);
		/* sealed by the node it names (20 otherwise), with its key */
		if (!sync_seal(&seal_of[origin == 30], data + off, len, seal_scratch, sealed,
			       sizeof(sealed), &slen))
			sync_engine_rx(e, sealed, slen, now);
		off += len;
		now += 3 * MS;
		sync_engine_tick(e, now);
	}
	/* let the jobs the frames started run to their end */
	for (off = 0; off < 40; off++) {
		now += 5 * MS;
		sync_engine_tick(e, now);
	}
	sync_engine_free(e);
	return 0;
}

#else /* FUZZ_SEEDGEN */

static uint8_t seed[1 << 16];
static size_t seed_len;
static uint8_t msg[1 << 16];

static void frame(size_t len)
{
	if (seed_len + 2 + len > sizeof(seed))
		abort();
	seed[seed_len++] = (uint8_t)len;
	seed[seed_len++] = (uint8_t)(len >> 8);
	memcpy(seed + seed_len, msg, len);
	seed_len += len;
}

static void write_seed(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f)) {
		perror(path);
		exit(1);
	}
	seed_len = 0;
}

int main(int argc, char **argv)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	const char *maps[] = { "sessions", "rev" };
	struct sync_hdr h = { .origin = 20, .epoch = 5, .mono_ns = 7 * MS };
	struct fkey keys[4];
	struct fval vals[4];
	struct sync_entry en[5];
	struct sync_origin_seq os[2] = {
		{ .origin = 20, .epoch = 5, .last_seq = 4 },
		{ .origin = 10, .epoch = 1, .last_seq = 1 },
	};
	struct sync_digest dg = {
		.map = "sessions", .bucket = 1, .bucket_count = 4, .entries = 2, .hash = 12345
	};
	size_t len, i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	setup_specs();
	for (i = 0; i < 4; i++) {
		keys[i] = (struct fkey){ (uint32_t)i, (uint32_t)i, (uint32_t)i, (uint32_t)i };
		vals[i] = (struct fval){ .ts = 5 * MS, .owner = 20, .version = 7 };
		memset(vals[i].payload, (int)i, sizeof(vals[i].payload));
		en[i] = (struct sync_entry){
			.map = "sessions",
			.op = SYNC_OP_UPDATE,
			.key = (uint8_t *)&keys[i],
			.key_len = sizeof(keys[i]),
			.value = (uint8_t *)&vals[i],
			.value_len = sizeof(vals[i]),
			.origin = 20,
			.version = 7,
		};
	}
	en[3].op = SYNC_OP_DELETE;
	en[3].value = NULL;
	en[3].value_len = 0;
	en[4] = (struct sync_entry){ .map = "rev",
				     .op = SYNC_OP_UPDATE,
				     .key = (uint8_t *)"abcdefgh",
				     .key_len = 8,
				     .value = (uint8_t *)"ABCDEFGH",
				     .value_len = 8,
				     .origin = 20,
				     .version = 0 };

	/* heartbeat, batches in order and with a gap, a replay */
	if (sync_encode_heartbeat(&h, 1, os, 2, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	for (i = 1; i <= 4; i++) {
		if (i == 2)
			continue;
		h.seq = i;
		if (sync_encode_batch(&h, en, 5, &lim, msg, sizeof(msg), &len) <= 0)
			abort();
		frame(len);
	}
	frame(len);
	write_seed(argv[1], "batches");

	/* the startup snapshot answered: chunks and end (ids 1 and 2) */
	h.seq = 0;
	h.dest = 10;
	if (sync_encode_snapshot_chunk(&h, 1, 0, en, 5, &lim, msg, sizeof(msg), &len) <= 0)
		abort();
	frame(len);
	if (sync_encode_snapshot_end(&h, 1, 1, 4, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	write_seed(argv[1], "snapshot");

	/* requests to this node: resync, full and bucket snapshots */
	if (sync_encode_resync_request(&h, 10, 1, 1, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	if (sync_encode_snapshot_request(&h, 42, maps, 2, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	if (sync_encode_snapshot_request_bucket(&h, 43, maps, 1, 2, 4, &lim, msg, sizeof(msg),
						&len))
		abort();
	frame(len);
	write_seed(argv[1], "requests");

	/* anti-entropy: ready after the timeout, digests, a bucket answer */
	h.dest = 0;
	if (sync_encode_heartbeat(&h, 1, os, 1, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	for (i = 0; i < 4; i++) {
		dg.bucket = (uint32_t)i;
		if (sync_encode_digest(&h, &dg, &lim, msg, sizeof(msg), &len))
			abort();
		frame(len);
	}
	h.dest = 10;
	if (sync_encode_snapshot_chunk(&h, 3, 0, en, 2, &lim, msg, sizeof(msg), &len) <= 0)
		abort();
	frame(len);
	if (sync_encode_snapshot_end(&h, 3, 1, 4, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	/* flow control and "gone" answers */
	if (sync_encode_snapshot_ack(&h, 3, 1, SYNC_ACK_RESEND, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	if (sync_encode_snapshot_ack(&h, 42, 0, SYNC_ACK_CANCEL, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	if (sync_encode_snapshot_gone(&h, 42, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	if (sync_encode_resync_gone(&h, 1, 3, 0, &lim, msg, sizeof(msg), &len))
		abort();
	frame(len);
	write_seed(argv[1], "digests");

	/* service sets: a heartbeat announcing one, a request for this
	 * node's, the peer's set in two chunks (and one that does not hash
	 * to its digest) */
	{
		const uint8_t *set = svc_set;
		uint64_t d = XXH3_64bits(svc_set, sizeof(svc_set));

		h.dest = 0;
		h.seq = 0;
		if (sync_encode_heartbeat_svc(&h, 1, os, 1, &d, NULL, &lim, msg, sizeof(msg), &len))
			abort();
		frame(len);
		h.dest = 10;
		if (sync_encode_services_request(&h, d, &lim, msg, sizeof(msg), &len))
			abort();
		frame(len);
		if (sync_encode_services_chunk(&h, d, 0, 2, set, 6, &lim, msg, sizeof(msg), &len))
			abort();
		frame(len);
		if (sync_encode_services_chunk(&h, d, 1, 2, set + 6, sizeof(svc_set) - 6, &lim, msg,
					       sizeof(msg), &len))
			abort();
		frame(len);
		if (sync_encode_services_chunk(&h, d ^ 1, 0, 1, set, sizeof(svc_set), &lim, msg,
					       sizeof(msg), &len))
			abort();
		frame(len);
		write_seed(argv[1], "services");
	}

	/* a restarted peer, a message from an unknown node */
	h.epoch = 9;
	h.dest = 0;
	h.seq = 1;
	if (sync_encode_batch(&h, en + 3, 2, &lim, msg, sizeof(msg), &len) <= 0)
		abort();
	frame(len);
	h.origin = 77;
	if (sync_encode_batch(&h, en, 1, &lim, msg, sizeof(msg), &len) <= 0)
		abort();
	frame(len);
	write_seed(argv[1], "restart");
	return 0;
}

#endif /* FUZZ_SEEDGEN */
