/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Message authentication for syncd (DESIGN decision 8): HMAC-SHA256
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

#endif /* SYNCD_AUTH_H */
