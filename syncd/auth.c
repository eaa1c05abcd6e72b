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

/* ------------------------------------------------------------ sealing */

#define SEAL_CONTEXT "xdplb sync seal v1" /* domain of the derived keys */

static const char *const cipher_names[] = {
	[SYNC_CIPHER_NONE] = "none",
	[SYNC_CIPHER_CHACHA20_POLY1305] = "chacha20-poly1305",
	[SYNC_CIPHER_AES256_GCM] = "aes-256-gcm",
};

const char *sync_cipher_str(enum sync_cipher c)
{
	return (unsigned int)c < sizeof(cipher_names) / sizeof(cipher_names[0]) ? cipher_names[c]
										: NULL;
}

int sync_cipher_parse(const char *name, enum sync_cipher *c)
{
	unsigned int i;

	for (i = 0; name && i < sizeof(cipher_names) / sizeof(cipher_names[0]); i++)
		if (!strcmp(name, cipher_names[i])) {
			*c = (enum sync_cipher)i;
			return 0;
		}
	return -EINVAL;
}

int sync_cipher_available(enum sync_cipher c)
{
	switch (c) {
	case SYNC_CIPHER_NONE:
	case SYNC_CIPHER_CHACHA20_POLY1305:
		return 1;
	case SYNC_CIPHER_AES256_GCM:
		return crypto_aead_aes256gcm_is_available();
	}
	return 0;
}

/* k->key from the root key, k->sender and k->salt (so a frame opens only
 * under the sender it names); the AES key schedule with it. */
static void derive(const struct sync_seal *s, struct sync_seal_key *k)
{
	uint8_t sender[4] = { (uint8_t)k->sender, (uint8_t)(k->sender >> 8),
			      (uint8_t)(k->sender >> 16), (uint8_t)(k->sender >> 24) };
	crypto_generichash_state h;

	crypto_generichash_init(&h, s->root, sizeof(s->root), sizeof(k->key));
	crypto_generichash_update(&h, (const uint8_t *)SEAL_CONTEXT, sizeof(SEAL_CONTEXT) - 1);
	crypto_generichash_update(&h, sender, sizeof(sender));
	crypto_generichash_update(&h, k->salt, sizeof(k->salt));
	crypto_generichash_final(&h, k->key, sizeof(k->key));
	if (s->cipher == SYNC_CIPHER_AES256_GCM)
		crypto_aead_aes256gcm_beforenm(&k->aes, k->key);
	k->set = 1;
}

_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == SYNC_SEAL_KEY_LEN, "key size");
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == SYNC_SEAL_KEY_LEN, "key size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "nonce size");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "nonce size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == SYNC_SEAL_ABYTES, "tag size");
_Static_assert(crypto_aead_aes256gcm_ABYTES == SYNC_SEAL_ABYTES, "tag size");

int sync_seal_init(struct sync_seal *s, enum sync_cipher c, uint32_t node, const uint8_t *key,
		   size_t key_len)
{
	memset(s, 0, sizeof(*s));
	if (c == SYNC_CIPHER_NONE || !key || !key_len || !sync_cipher_str(c))
		return -EINVAL;
	if (!sync_cipher_available(c))
		return -ENOTSUP;
	s->cipher = c;
	s->node = node;
	crypto_generichash(s->root, sizeof(s->root), key, key_len, NULL, 0);
	s->tx.sender = node;
	randombytes_buf(s->tx.salt, sizeof(s->tx.salt));
	derive(s, &s->tx);
	s->counter = 0;
	return 0;
}

#define PAIR_CONTEXT "xdplb-sync-pair-v1"

void sync_node_public_key(const uint8_t sk[SYNC_NODE_KEY_LEN], uint8_t pk[SYNC_NODE_KEY_LEN])
{
	crypto_scalarmult_base(pk, sk);
}

int sync_seal_pairs(struct sync_seal *s, const uint8_t sk[SYNC_NODE_KEY_LEN], size_t n,
		    const uint32_t *peers, const uint8_t (*pks)[SYNC_NODE_KEY_LEN])
{
	uint8_t pk[SYNC_NODE_KEY_LEN], shared[crypto_scalarmult_BYTES];
	size_t i;

	if (n > SYNC_AUTH_PEERS_MAX)
		return -EINVAL;
	sync_node_public_key(sk, pk);
	for (i = 0; i < n; i++) {
		crypto_generichash_state h;
		const uint8_t *lo = pk, *hi = pks[i];
		uint32_t ids[2] = { s->node < peers[i] ? s->node : peers[i],
				    s->node < peers[i] ? peers[i] : s->node };
		uint8_t idb[8];
		unsigned int b;

		/* all-zero shared secret: a low-order public key */
		if (crypto_scalarmult(shared, sk, pks[i]))
			goto bad;
		if (memcmp(lo, hi, SYNC_NODE_KEY_LEN) > 0) {
			lo = pks[i];
			hi = pk;
		}
		for (b = 0; b < 4; b++) {
			idb[b] = (uint8_t)(ids[0] >> (8 * b));
			idb[4 + b] = (uint8_t)(ids[1] >> (8 * b));
		}
		crypto_generichash_init(&h, NULL, 0, SYNC_SEAL_KEY_LEN);
		crypto_generichash_update(&h, (const uint8_t *)PAIR_CONTEXT,
					  sizeof(PAIR_CONTEXT) - 1);
		crypto_generichash_update(&h, shared, sizeof(shared));
		crypto_generichash_update(&h, lo, SYNC_NODE_KEY_LEN);
		crypto_generichash_update(&h, hi, SYNC_NODE_KEY_LEN);
		crypto_generichash_update(&h, idb, sizeof(idb));
		crypto_generichash_final(&h, s->pairs[i].key, sizeof(s->pairs[i].key));
		s->pairs[i].node = peers[i];
	}
	s->n_pairs = n;
	sodium_memzero(shared, sizeof(shared));
	return 0;
bad:
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(s->pairs, sizeof(s->pairs));
	s->n_pairs = 0;
	return -EINVAL;
}

/* The authenticator of a frame (sender, salt, counter, AEAD tag) under
 * pairwise key k. */
static void pair_tag(const uint8_t *k, uint32_t sender, const uint8_t *salt, uint64_t counter,
		     const uint8_t *aead_tag, uint8_t out[SYNC_PAIR_TAG_LEN])
{
	uint8_t m[4 + SYNC_SEAL_SALT_LEN + 8 + SYNC_SEAL_ABYTES];
	unsigned int b;

	for (b = 0; b < 4; b++)
		m[b] = (uint8_t)(sender >> (8 * b));
	memcpy(m + 4, salt, SYNC_SEAL_SALT_LEN);
	for (b = 0; b < 8; b++)
		m[4 + SYNC_SEAL_SALT_LEN + b] = (uint8_t)(counter >> (8 * b));
	memcpy(m + 4 + SYNC_SEAL_SALT_LEN + 8, aead_tag, SYNC_SEAL_ABYTES);
	crypto_generichash(out, SYNC_PAIR_TAG_LEN, m, sizeof(m), k, SYNC_SEAL_KEY_LEN);
}

static const struct sync_pair *pair_of(const struct sync_seal *s, uint32_t node)
{
	size_t i;

	for (i = 0; i < s->n_pairs; i++)
		if (s->pairs[i].node == node)
			return &s->pairs[i];
	return NULL;
}

void sync_seal_clear(struct sync_seal *s)
{
	sodium_memzero(s, sizeof(*s));
}

/* The 12-byte nonce of a counter: little-endian, zero-padded. */
static void nonce_of(uint64_t counter, uint8_t n[12])
{
	unsigned int i;

	memset(n, 0, 12);
	for (i = 0; i < 8; i++)
		n[i] = (uint8_t)(counter >> (8 * i));
}

int sync_seal(struct sync_seal *s, const uint8_t *plain, size_t len, uint8_t *scratch, uint8_t *out,
	      size_t cap, size_t *out_len)
{
	Xlbsync__Sealed f = XLBSYNC__SEALED__INIT;
	uint64_t ctr = __atomic_add_fetch(&s->counter, 1, __ATOMIC_RELAXED);
	Xlbsync__Authenticator au[SYNC_AUTH_PEERS_MAX], *aup[SYNC_AUTH_PEERS_MAX];
	uint8_t tags[SYNC_AUTH_PEERS_MAX][SYNC_PAIR_TAG_LEN];
	unsigned long long clen;
	uint8_t n[12];
	size_t need, i;

	if (s->cipher == SYNC_CIPHER_NONE)
		return -EINVAL;
	nonce_of(ctr, n);
	if (s->cipher == SYNC_CIPHER_AES256_GCM)
		crypto_aead_aes256gcm_encrypt_afternm(scratch, &clen, plain, len, NULL, 0, NULL, n,
						      &s->tx.aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt(scratch, &clen, plain, len, NULL, 0, NULL,
							  n, s->tx.key);
	f.has_sender = f.has_cipher = f.has_salt = f.has_counter = f.has_box = 1;
	f.sender = s->node;
	f.cipher = (uint32_t)s->cipher;
	f.salt.data = s->tx.salt;
	f.salt.len = sizeof(s->tx.salt);
	f.counter = ctr;
	f.box.data = scratch;
	f.box.len = (size_t)clen;
	for (i = 0; i < s->n_pairs; i++) {
		pair_tag(s->pairs[i].key, s->node, s->tx.salt, ctr,
			 scratch + clen - SYNC_SEAL_ABYTES, tags[i]);
		xlbsync__authenticator__init(&au[i]);
		au[i].has_node = au[i].has_tag = 1;
		au[i].node = s->pairs[i].node;
		au[i].tag.data = tags[i];
		au[i].tag.len = SYNC_PAIR_TAG_LEN;
		aup[i] = &au[i];
	}
	f.n_auth = s->n_pairs;
	f.auth = s->n_pairs ? aup : NULL;
	need = xlbsync__sealed__get_packed_size(&f);
	if (need > cap)
		return -EMSGSIZE;
	*out_len = xlbsync__sealed__pack(&f, out);
	return 0;
}

/* The kept receive key of (sender, salt), or NULL. */
static const struct sync_seal_key *rx_find(const struct sync_seal *s, uint32_t sender,
					   const uint8_t *salt)
{
	unsigned int i;

	for (i = 0; i < SYNC_SEAL_RX_SLOTS; i++) {
		const struct sync_seal_key *c = &s->rx[i];

		if (c->set && c->sender == sender && !memcmp(c->salt, salt, SYNC_SEAL_SALT_LEN))
			return c;
	}
	return NULL;
}

/* Keeps k, a key that opened a message: in its sender's slot (a restarted
 * sender's new salt replaces the old), a free one, or the oldest. */
static void rx_keep(struct sync_seal *s, const struct sync_seal_key *k)
{
	struct sync_seal_key *slot = NULL;
	unsigned int i;

	for (i = 0; i < SYNC_SEAL_RX_SLOTS; i++) {
		struct sync_seal_key *c = &s->rx[i];

		if (c->set && c->sender == k->sender) {
			slot = c;
			break;
		}
		if (!c->set && !slot)
			slot = c;
	}
	if (!slot) {
		slot = &s->rx[s->rx_next];
		s->rx_next = (s->rx_next + 1) % SYNC_SEAL_RX_SLOTS;
	}
	*slot = *k;
}

int sync_open(struct sync_seal *s, const uint8_t *buf, size_t len, uint8_t *plain, size_t cap,
	      size_t *plain_len, uint32_t *sender)
{
	const struct sync_seal_key *k;
	struct sync_seal_key fresh;
	Xlbsync__Sealed *f;
	unsigned long long mlen;
	uint8_t n[12];
	int r = -EBADMSG;

	f = xlbsync__sealed__unpack(NULL, len, buf);
	if (!f)
		return -EBADMSG;
	if (!f->has_sender || !f->has_cipher || !f->has_salt || !f->has_counter || !f->has_box ||
	    f->cipher != (uint32_t)s->cipher || f->salt.len != SYNC_SEAL_SALT_LEN ||
	    f->box.len < SYNC_SEAL_ABYTES || !f->counter)
		goto out;
	if (f->box.len - SYNC_SEAL_ABYTES > cap) {
		r = -EMSGSIZE;
		goto out;
	}
	/* a key not kept yet is kept only once it opened a message, so that
	 * forged salts cannot push a peer's key out */
	k = rx_find(s, f->sender, f->salt.data);
	if (!k) {
		fresh.sender = f->sender;
		memcpy(fresh.salt, f->salt.data, SYNC_SEAL_SALT_LEN);
		derive(s, &fresh);
		k = &fresh;
	}
	nonce_of(f->counter, n);
	if (s->cipher == SYNC_CIPHER_AES256_GCM)
		r = crypto_aead_aes256gcm_decrypt_afternm(plain, &mlen, NULL, f->box.data,
							  f->box.len, NULL, 0, n, &k->aes);
	else
		r = crypto_aead_chacha20poly1305_ietf_decrypt(plain, &mlen, NULL, f->box.data,
							      f->box.len, NULL, 0, n, k->key);
	if (r) {
		r = -EBADMSG;
		goto out;
	}
	if (s->n_pairs) {
		/* per-node keys: this node's authenticator, under the key only
		 * the sender it names and this node hold */
		const struct sync_pair *pr = pair_of(s, f->sender);
		uint8_t want[SYNC_PAIR_TAG_LEN];
		size_t i;

		r = -EACCES;
		for (i = 0; pr && i < f->n_auth; i++) {
			const Xlbsync__Authenticator *a = f->auth[i];

			if (!a->has_node || a->node != s->node || !a->has_tag ||
			    a->tag.len != SYNC_PAIR_TAG_LEN)
				continue;
			pair_tag(pr->key, f->sender, f->salt.data, f->counter,
				 f->box.data + f->box.len - SYNC_SEAL_ABYTES, want);
			if (!sodium_memcmp(want, a->tag.data, SYNC_PAIR_TAG_LEN))
				r = 0;
			break;
		}
		if (r) {
			sodium_memzero(plain, (size_t)mlen);
			goto out;
		}
	}
	if (k == &fresh)
		rx_keep(s, &fresh);
	*plain_len = (size_t)mlen;
	*sender = f->sender;
	memcpy(s->last_salt, f->salt.data, SYNC_SEAL_SALT_LEN);
	s->last_counter = f->counter;
out:
	sodium_memzero(&fresh, sizeof(fresh));
	xlbsync__sealed__free_unpacked(f, NULL);
	return r;
}
