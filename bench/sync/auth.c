// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_sync_auth: the cost of one message's HMAC-SHA256 tag (syncd/auth.h)
 * with the key prepared once (what the engine does) against the key
 * hashed again for every message (what it did before), for message sizes
 * from a heartbeat to a full batch; and, as candidates for the per-node
 * keys and encryption to come, libsodium's keyed BLAKE2b MAC and its AEADs
 * (ChaCha20-Poly1305 IETF; AES-256-GCM where the CPU has AES-NI), which
 * encrypt the message as well. All are timed in alternating rounds of the
 * same run and reported as ns per message and as ratios to the prepared
 * HMAC (median of the rounds); every HMAC tag is checked to be the same
 * either way.
 *
 *   build/bench/bench_sync_auth [-r rounds] [-n messages per round]
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

#define now_ns xlb_mono_ns

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 120, 2048, 16384, 65000 };
	static uint8_t buf[65536 + SYNC_AUTH_TAG_ROOM], tag[SYNC_AUTH_TAG_ROOM];
	unsigned int rounds = 9, n = 20000, r, i, s;
	uint8_t key[32];
	struct sync_auth_key k;
	int opt;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			rounds = (unsigned int)strtoul(optarg, NULL, 10);
		else if (opt == 'n')
			n = (unsigned int)strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: bench_sync_auth [-r rounds] [-n messages]\n");
			return 2;
		}
	}
	if (!rounds || rounds > 101 || !n) {
		fprintf(stderr, "bench_sync_auth: -r 1..101, -n >= 1\n");
		return 2;
	}
	if (sync_auth_init() < 0)
		return 1;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13);
	sync_auth_key_init(&k, key, sizeof(key));
	int gcm = crypto_aead_aes256gcm_is_available();
	static uint8_t ct[65536 + 64];
	uint8_t nonce[24] = { 0 }, akey[32];
	unsigned long long clen;

	memcpy(akey, key, sizeof(akey));
	printf("median of %u rounds of %u messages each, methods alternating within a round\n",
	       rounds, n);
	printf("ns per message; ratios to hmac-prep (the prepared HMAC-SHA256 key syncd uses)\n");
	printf("%8s %10s %10s %7s %10s %7s %10s %7s %10s %7s\n", "bytes", "hmac-key", "hmac-prep",
	       "ratio", "blake2b", "ratio", "chacha20", "ratio", "aes-gcm", "ratio");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double once[101], prep[101], ratio[101], b2[101], b2r[101], cc[101], ccr[101],
			ag[101], agr[101];
		size_t len;

		/* the same tag either way */
		len = sizes[s];
		sync_auth_append(buf, &len, sizeof(buf), key, sizeof(key));
		memcpy(tag, buf + sizes[s], sizeof(tag));
		len = sizes[s];
		sync_auth_append_k(&k, buf, &len, sizeof(buf));
		if (memcmp(tag, buf + sizes[s], sizeof(tag))) {
			fprintf(stderr, "bench_sync_auth: the prepared key gives another tag\n");
			return 1;
		}
		for (r = 0; r < rounds; r++) {
			uint64_t t[6];

			t[0] = now_ns();
			for (i = 0; i < n; i++) {
				len = sizes[s];
				sync_auth_append(buf, &len, sizeof(buf), key, sizeof(key));
			}
			t[1] = now_ns();
			for (i = 0; i < n; i++) {
				len = sizes[s];
				sync_auth_append_k(&k, buf, &len, sizeof(buf));
			}
			t[2] = now_ns();
			for (i = 0; i < n; i++)
				crypto_generichash(buf + sizes[s], 32, buf, sizes[s], key,
						   sizeof(key));
			t[3] = now_ns();
			for (i = 0; i < n; i++) {
				memcpy(nonce, &i, sizeof(i));
				crypto_aead_chacha20poly1305_ietf_encrypt(
					ct, &clen, buf, sizes[s], NULL, 0, NULL, nonce, akey);
			}
			t[4] = now_ns();
			for (i = 0; gcm && i < n; i++) {
				memcpy(nonce, &i, sizeof(i));
				crypto_aead_aes256gcm_encrypt(ct, &clen, buf, sizes[s], NULL, 0,
							      NULL, nonce, akey);
			}
			t[5] = now_ns();
			once[r] = (double)(t[1] - t[0]) / n;
			prep[r] = (double)(t[2] - t[1]) / n;
			b2[r] = (double)(t[3] - t[2]) / n;
			cc[r] = (double)(t[4] - t[3]) / n;
			ag[r] = (double)(t[5] - t[4]) / n;
			ratio[r] = once[r] / prep[r];
			b2r[r] = b2[r] / prep[r];
			ccr[r] = cc[r] / prep[r];
			agr[r] = ag[r] / prep[r];
		}
#define MED(a) (qsort(a, rounds, sizeof(double), cmp_double), a[rounds / 2])
		printf("%8zu %10.0f %10.0f %7.2f %10.0f %7.2f %10.0f %7.2f ", sizes[s], MED(once),
		       MED(prep), MED(ratio), MED(b2), MED(b2r), MED(cc), MED(ccr));
		if (gcm)
			printf("%10.0f %7.2f\n", MED(ag), MED(agr));
		else
			printf("%10s %7s\n", "-", "-");
#undef MED
	}
	sync_auth_key_clear(&k);
	return 0;
}
