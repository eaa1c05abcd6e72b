// SPDX-License-Identifier: BSD-2-Clause
/* HMAC-SHA256 tags of syncd envelopes (auth.h). */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "codec.h"

#define TAG_FIELD_BYTE ((15u << 3) | 2u) /* field 15, wire type 2 */

_Static_assert(2 + SYNC_AUTH_MAC_LEN == SYNC_AUTH_TAG_ROOM, "auth tag room");
_Static_assert(crypto_auth_hmacsha256_BYTES == SYNC_AUTH_MAC_LEN, "HMAC-SHA256 size");

int sync_auth_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

int sync_auth_key_init(struct sync_auth_key *k, const uint8_t *key, size_t key_len)
{
	memset(k, 0, sizeof(*k));
	if (!key || !key_len)
		return -EINVAL;
	crypto_auth_hmacsha256_init(&k->st, key, key_len);
	k->set = 1;
	return 0;
}

void sync_auth_key_clear(struct sync_auth_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

static void mac_k(const struct sync_auth_key *k, const uint8_t *buf, size_t len,
		  uint8_t out[SYNC_AUTH_MAC_LEN])
{
	crypto_auth_hmacsha256_state st = k->st;

	crypto_auth_hmacsha256_update(&st, buf, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int sync_auth_append_k(const struct sync_auth_key *k, uint8_t *buf, size_t *len, size_t cap)
{
	size_t n = *len;

	if (!k->set)
		return -EINVAL;
	if (n > cap || cap - n < SYNC_AUTH_TAG_ROOM)
		return -EMSGSIZE;
	mac_k(k, buf, n, buf + n + 2);
	buf[n] = TAG_FIELD_BYTE;
	buf[n + 1] = SYNC_AUTH_MAC_LEN;
	*len = n + SYNC_AUTH_TAG_ROOM;
	return 0;
}

int sync_auth_verify_k(const struct sync_auth_key *k, const uint8_t *buf, size_t len,
		       size_t *payload_len)
{
	uint8_t want[SYNC_AUTH_MAC_LEN];
	size_t n;
	int ok;

	if (!k->set || len < SYNC_AUTH_TAG_ROOM)
		return -EBADMSG;
	n = len - SYNC_AUTH_TAG_ROOM;
	if (buf[n] != TAG_FIELD_BYTE || buf[n + 1] != SYNC_AUTH_MAC_LEN)
		return -EBADMSG;
	mac_k(k, buf, n, want);
	ok = sodium_memcmp(want, buf + n + 2, SYNC_AUTH_MAC_LEN) == 0;
	sodium_memzero(want, sizeof(want));
	if (!ok)
		return -EBADMSG;
	*payload_len = n;
	return 0;
}

/* The one-shot forms: the key prepared for this message alone. */
int sync_auth_append(uint8_t *buf, size_t *len, size_t cap, const uint8_t *key, size_t key_len)
{
	struct sync_auth_key k;
	int r;

	if (sync_auth_key_init(&k, key, key_len) < 0)
		return -EINVAL;
	r = sync_auth_append_k(&k, buf, len, cap);
	sync_auth_key_clear(&k);
	return r;
}

int sync_auth_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		     size_t *payload_len)
{
	struct sync_auth_key k;
	int r;

	if (sync_auth_key_init(&k, key, key_len) < 0)
		return -EBADMSG;
	r = sync_auth_verify_k(&k, buf, len, payload_len);
	sync_auth_key_clear(&k);
	return r;
}
