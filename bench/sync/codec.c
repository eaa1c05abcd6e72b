// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_sync_codec: where a replicated entry's user-space CPU goes, per
 * entry, for batches of 1, 16 and 256 session entries (key 40 bytes,
 * value 88 bytes, as xdplb.h's sessions): the sender's part (the pending
 * batch's entry views, the protobuf encode, the HMAC tag, the copy into
 * the retransmit ring) and the receiver's (the HMAC check, the protobuf
 * decode into an arena, the entry views), and, instead of the HMAC, the
 * envelope sealed and opened with each AEAD (sync.cipher), each timed in
 * alternating rounds
 * of the same run, median of the rounds, with a memcpy of the message as
 * the floor. No syscall, no network: what is left of syncd's cost per
 * entry (bench/sync/run.sh) beyond these is wake-ups, syscalls and the
 * apply in the kernel.
 *
 *   build/bench/bench_sync_codec [-r rounds] [-n entries per round]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bench_sort.h"
#include "clock.h"
#include "codec.h"

#define KEY_LEN	  40
#define VALUE_LEN 88
#define MAX_BATCH 256

enum {
	T_ENCODE,
	T_TAG,
	T_COPY,
	T_VERIFY,
	T_DECODE,
	T_VIEWS,
	T_SEAL_C,
	T_OPEN_C,
	T_SEAL_A,
	T_OPEN_A,
	T_N
};
static const char *const tname[T_N] = {
	"encode (protobuf-c)",	  "HMAC tag",
	"copy (ring, memcpy)",	  "HMAC verify",
	"decode (arena)",	  "entry views",
	"seal chacha20-poly1305", "open chacha20-poly1305",
	"seal aes-256-gcm",	  "open aes-256-gcm",
};
static struct sync_seal sc_tx, sc_rx, sa_tx, sa_rx;
static int have_aes;
static uint8_t sealed[64 * 1024 + SYNC_SEAL_ROOM], scratch[64 * 1024], opened[64 * 1024];

#define now_ns xlb_mono_ns

/* plain[0..len) sealed by tx and opened by rx, each step's time added to
 * *seal_ns and *open_ns; -1 if either fails. */
static int seal_open(struct sync_seal *tx, struct sync_seal *rx, const uint8_t *plain, size_t len,
		     uint64_t *seal_ns, uint64_t *open_ns)
{
	uint64_t t0 = now_ns(), t1;
	size_t sl, ol;
	uint32_t who;

	if (sync_seal(tx, plain, len, scratch, sealed, sizeof(sealed), &sl))
		return -1;
	t1 = now_ns();
	*seal_ns += t1 - t0;
	if (sync_open(rx, sealed, sl, opened, sizeof(opened), &ol, &who) || ol != len)
		return -1;
	*open_ns += now_ns() - t1;
	return 0;
}

static uint8_t keys[MAX_BATCH][KEY_LEN], values[MAX_BATCH][VALUE_LEN];
static uint8_t msg[64 * 1024], ring[64 * 1024];

/* One round of batches of k entries, n entries in all: ns per entry of each
 * step in t[]. Returns -1 if a step failed. */
static int round_k(size_t k, size_t n, const struct sync_auth_key *ak, struct sync_arena *arena,
		   const struct sync_limits *lim, double *t)
{
	struct sync_entry v[MAX_BATCH], got;
	uint64_t acc[T_N] = { 0 }, t0, t1;
	size_t done, i, len, plen;
	uint64_t seq = 1, sum = 0;

	for (done = 0; done + k <= n; done += k, seq++) {
		struct sync_hdr h = { .origin = 1, .epoch = 7, .seq = seq, .mono_ns = seq };
		struct sync_msg m;
		int r;

		for (i = 0; i < k; i++) {
			keys[i][0] = (uint8_t)seq;
			v[i] = (struct sync_entry){ .map = "sessions",
						    .op = SYNC_OP_UPDATE,
						    .key = keys[i],
						    .key_len = KEY_LEN,
						    .value = values[i],
						    .value_len = VALUE_LEN,
						    .origin = 1,
						    .version = seq };
		}
		t0 = now_ns();
		r = sync_encode_batch(&h, v, k, lim, msg, sizeof(msg) - SYNC_AUTH_TAG_ROOM, &len);
		t1 = now_ns();
		acc[T_ENCODE] += t1 - t0;
		if (r != (int)k)
			return -1;
		if (sync_auth_append_k(ak, msg, &len, sizeof(msg)))
			return -1;
		t0 = now_ns();
		acc[T_TAG] += t0 - t1;
		memcpy(ring, msg, len);
		t1 = now_ns();
		acc[T_COPY] += t1 - t0;
		if (sync_auth_verify_k(ak, ring, len, &plen))
			return -1;
		t0 = now_ns();
		acc[T_VERIFY] += t0 - t1;
		if (sync_decode_in(&m, arena, ring, plen, lim) != SYNC_OK || m.n_entries != k)
			return -1;
		t1 = now_ns();
		acc[T_DECODE] += t1 - t0;
		for (i = 0; i < k; i++) {
			sync_msg_entry(&m, i, &got);
			sum += got.version + got.key[0];
		}
		t0 = now_ns();
		acc[T_VIEWS] += t0 - t1;
		sync_msg_release(&m);
		/* the envelope sealed and opened instead of tagged */
		if (seal_open(&sc_tx, &sc_rx, msg, plen, &acc[T_SEAL_C], &acc[T_OPEN_C]) ||
		    (have_aes &&
		     seal_open(&sa_tx, &sa_rx, msg, plen, &acc[T_SEAL_A], &acc[T_OPEN_A])))
			return -1;
	}
	if (!sum)
		return -1;
	for (i = 0; i < T_N; i++)
		t[i] = (double)acc[i] / (double)done;
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t ks[] = { 1, 16, 256 };
	struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	unsigned int rounds = 9, r;
	size_t n = 200000, ki, i;
	struct sync_auth_key ak;
	struct sync_arena arena;
	uint8_t key[32];
	double *t;
	int opt;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			rounds = (unsigned int)strtoul(optarg, NULL, 10);
		else if (opt == 'n')
			n = strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: bench_sync_codec [-r rounds] [-n entries]\n");
			return 2;
		}
	}
	if (!rounds || rounds > 101 || n < MAX_BATCH) {
		fprintf(stderr, "bench_sync_codec: -r must be 1..101 and -n at least %d\n",
			MAX_BATCH);
		return 2;
	}
	if (sync_auth_init() < 0) {
		fprintf(stderr, "bench_sync_codec: libsodium did not initialise\n");
		return 1;
	}
	memset(key, 0x5a, sizeof(key));
	for (i = 0; i < MAX_BATCH; i++) {
		memset(keys[i], (int)i, KEY_LEN);
		memset(values[i], (int)(i * 7), VALUE_LEN);
	}
	have_aes = sync_cipher_available(SYNC_CIPHER_AES256_GCM);
	if (sync_seal_init(&sc_tx, SYNC_CIPHER_CHACHA20_POLY1305, 1, key, sizeof(key)) ||
	    sync_seal_init(&sc_rx, SYNC_CIPHER_CHACHA20_POLY1305, 2, key, sizeof(key)) ||
	    (have_aes && (sync_seal_init(&sa_tx, SYNC_CIPHER_AES256_GCM, 1, key, sizeof(key)) ||
			  sync_seal_init(&sa_rx, SYNC_CIPHER_AES256_GCM, 2, key, sizeof(key))))) {
		fprintf(stderr, "bench_sync_codec: cipher set-up failed\n");
		return 1;
	}
	if (sync_auth_key_init(&ak, key, sizeof(key)) ||
	    sync_arena_init(&arena, 64 * sizeof(msg) + 65536)) {
		fprintf(stderr, "bench_sync_codec: set-up failed\n");
		return 1;
	}
	t = calloc((size_t)rounds * 3 * T_N, sizeof(*t));
	if (!t)
		return 1;
	/* rounds alternate over the batch sizes, so drift hits all alike */
	for (r = 0; r < rounds; r++)
		for (ki = 0; ki < 3; ki++)
			if (round_k(ks[ki], n, &ak, &arena, &lim, t + ((size_t)r * 3 + ki) * T_N)) {
				fprintf(stderr, "bench_sync_codec: a step failed (k=%zu)\n",
					ks[ki]);
				return 1;
			}
	printf("ns per entry, median of %u rounds of %zu entries (key %d B, value %d B)\n", rounds,
	       n, KEY_LEN, VALUE_LEN);
	printf("%-24s %10s %10s %10s\n", "step", "batch 1", "batch 16", "batch 256");
	for (i = 0; i < T_N; i++) {
		if ((i == T_SEAL_A || i == T_OPEN_A) && !have_aes)
			continue;
		printf("%-24s", tname[i]);
		for (ki = 0; ki < 3; ki++) {
			double col[101];

			for (r = 0; r < rounds; r++)
				col[r] = t[((size_t)r * 3 + ki) * T_N + i];
			qsort(col, rounds, sizeof(double), cmp_double);
			printf(" %10.1f", col[rounds / 2]);
		}
		printf("\n");
	}
	free(t);
	sync_arena_free(&arena);
	sync_auth_key_clear(&ak);
	return 0;
}
