/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Message authentication and encryption for syncd (docs/design.md
 * decision 8). Authentication alone: HMAC-SHA256
 * (libsodium) with the cluster's shared key over the envelope as encoded
 * without its auth_tag, the tag appended as Envelope field 15
 * (proto/sync.proto) after every other field, so the tagged message is
 * the untagged bytes followed by exactly SYNC_AUTH_TAG_ROOM bytes: tag
 * byte 0x7a (field 15, length-delimited),
 * length byte 32, and the 32-byte MAC. A protobuf parser reads the result
 * as the same envelope with auth_tag set.
 */
#ifndef SYNCD_AUTH_H
#define SYNCD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "codec.h"

#define SYNC_AUTH_MAC_LEN 32

/* Once per process before the first use (sodium_init); 0 or -1. */
int sync_auth_init(void);

/*
 * Appends the tag to buf[0..*len) (cap must leave SYNC_AUTH_TAG_ROOM
 * bytes) and updates *len. 0, or -EMSGSIZE / -EINVAL.
 */
int sync_auth_append(uint8_t *buf, size_t *len, size_t cap, const uint8_t *key, size_t key_len);

/*
 * Checks that buf[0..len) ends with a valid tag over what precedes it.
 * Returns 0 and the untagged length in *payload_len, or -EBADMSG (no tag,
 * or a tag that is not ours). Constant time in the MAC comparison.
 */
int sync_auth_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		     size_t *payload_len);

/*
 * A key prepared once: HMAC hashes the key's inner and outer pads before
 * any message byte, two SHA-256 blocks that do not depend on the message;
 * the prepared state holds them, and every tag copies it and hashes the
 * message only.
 */
struct sync_auth_key {
	crypto_auth_hmacsha256_state st;
	int set;
};

/* 0, or -EINVAL for an empty key. */
int sync_auth_key_init(struct sync_auth_key *k, const uint8_t *key, size_t key_len);
void sync_auth_key_clear(struct sync_auth_key *k);
/* sync_auth_append() and sync_auth_verify() with a prepared key. */
int sync_auth_append_k(const struct sync_auth_key *k, uint8_t *buf, size_t *len, size_t cap);
int sync_auth_verify_k(const struct sync_auth_key *k, const uint8_t *buf, size_t len,
		       size_t *payload_len);

/*
 * Encryption (sync.cipher): every message is an Envelope, encoded, sealed
 * with an AEAD into a Sealed frame (proto/sync.proto). The key is derived
 * per sender incarnation: BLAKE2b-256 keyed with the root key (itself
 * BLAKE2b-256 of the cluster key) over a context string, the sender's
 * node id and its salt, 16 random bytes drawn at start; the nonce is a 64-bit counter that
 * starts at 1 and never repeats within an incarnation, so no (key, nonce)
 * pair is ever used twice, across restarts too. The salt, the counter and
 * the sender are authenticated through the key and the nonce they choose.
 * A receiver keeps the derived key of each sender's current salt.
 */
enum sync_cipher {
	SYNC_CIPHER_NONE = 0,		   /* HMAC tag only (sync_auth_append) */
	SYNC_CIPHER_CHACHA20_POLY1305 = 1, /* ChaCha20-Poly1305 (IETF), any CPU */
	SYNC_CIPHER_AES256_GCM = 2,	   /* AES-256-GCM, CPUs with AES-NI */
};

#define SYNC_SEAL_SALT_LEN 16
#define SYNC_SEAL_KEY_LEN  32
#define SYNC_SEAL_ABYTES   16 /* the AEAD's tag, both ciphers */
#define SYNC_SEAL_RX_SLOTS 16 /* senders whose keys are kept */

/* "none", "chacha20-poly1305", "aes-256-gcm"; NULL for another value. */
const char *sync_cipher_str(enum sync_cipher c);
/* 0 and *c, or -EINVAL for a name that is none of those. */
int sync_cipher_parse(const char *name, enum sync_cipher *c);
/* Whether this CPU and libsodium can run it (AES-256-GCM needs AES-NI). */
int sync_cipher_available(enum sync_cipher c);

struct sync_seal_key {
	uint32_t sender;
	uint8_t salt[SYNC_SEAL_SALT_LEN];
	uint8_t key[SYNC_SEAL_KEY_LEN];
	crypto_aead_aes256gcm_state aes; /* the expanded key (AES-256-GCM) */
	int set;
};

#define SYNC_NODE_KEY_LEN 32 /* X25519 secret and public keys */
#define SYNC_PAIR_TAG_LEN 16

/* This node and one peer: the key only they derive (sync_seal_pair()). */
struct sync_pair {
	uint32_t node;
	uint8_t key[SYNC_SEAL_KEY_LEN];
};

struct sync_seal {
	enum sync_cipher cipher;
	uint32_t node;
	/* per-node keys (sync_seal_pairs()): n_pairs 0 = off */
	size_t n_pairs;
	struct sync_pair pairs[SYNC_AUTH_PEERS_MAX];
	uint8_t root[SYNC_SEAL_KEY_LEN];
	struct sync_seal_key tx; /* this incarnation's */
	uint64_t counter;	 /* atomically incremented: the beacon thread seals too */
	struct sync_seal_key rx[SYNC_SEAL_RX_SLOTS];
	unsigned int rx_next; /* slot replaced next when all are taken */
	/* the frame sync_open() opened last: its salt and counter, for the
	 * caller's replay check (replay.h) */
	uint8_t last_salt[SYNC_SEAL_SALT_LEN];
	uint64_t last_counter;
};

/*
 * Prepares sealing for node with the cluster key and a fresh salt. 0, or
 * -EINVAL (no key, cipher NONE) / -ENOTSUP (cipher not available here).
 */
int sync_seal_init(struct sync_seal *s, enum sync_cipher c, uint32_t node, const uint8_t *key,
		   size_t key_len);
void sync_seal_clear(struct sync_seal *s);

/*
 * Per-node keys: this node's X25519 secret key and each peer's public key
 * give one pairwise key per peer (BLAKE2b of the shared secret, both
 * public keys in order and both node ids). From then on sync_seal() adds
 * one authenticator per peer to every frame, and sync_open() accepts a
 * frame only with a valid authenticator for this node under its sender's
 * pairwise key: a node that holds the cluster key but not the sender's
 * secret key cannot speak for it. 0, or -EINVAL (a bad public key, too
 * many peers).
 */
int sync_seal_pairs(struct sync_seal *s, const uint8_t sk[SYNC_NODE_KEY_LEN], size_t n,
		    const uint32_t *peers, const uint8_t (*pks)[SYNC_NODE_KEY_LEN]);
/* The public key of secret key sk (X25519). */
void sync_node_public_key(const uint8_t sk[SYNC_NODE_KEY_LEN], uint8_t pk[SYNC_NODE_KEY_LEN]);

/*
 * Seals plain[0..len) into a Sealed frame in out[0..*out_len) (cap bytes;
 * SYNC_SEAL_ROOM more than len always suffice); scratch holds at least
 * len bytes (the ciphertext before it is framed). 0 or -EMSGSIZE.
 */
int sync_seal(struct sync_seal *s, const uint8_t *plain, size_t len, uint8_t *scratch, uint8_t *out,
	      size_t cap, size_t *out_len);

/*
 * Opens a Sealed frame buf[0..len) into plain (cap bytes): 0 with the
 * plaintext's length in *plain_len and the sender in *sender (its salt and
 * counter in s->last_salt, s->last_counter), -EACCES (per-node keys: no
 * valid authenticator for this node from the sender it names), or -EBADMSG
 * (not a Sealed frame, another cipher, a tag that is not ours) or
 * -EMSGSIZE (plaintext over cap). Not thread-safe (the receive keys).
 */
int sync_open(struct sync_seal *s, const uint8_t *buf, size_t len, uint8_t *plain, size_t cap,
	      size_t *plain_len, uint32_t *sender);

#endif /* SYNCD_AUTH_H */
