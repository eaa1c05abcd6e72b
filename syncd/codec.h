/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * syncd wire codec: proto/sync.proto envelopes to and from bytes.
 *
 * Map-agnostic: an entry is a map name, an operation and opaque key/value
 * bytes with the origin and version of the write. Whether the map is
 * watched and the sizes are exactly that map's is decided at apply time
 * (mapspec.h); the decoder checks only what every message must satisfy,
 * against the limits given, and rejects everything else with a reason that
 * the daemon counts.
 */
#ifndef SYNCD_CODEC_H
#define SYNCD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "sync.pb-c.h"

#define SYNC_WIRE_VERSION XLBSYNC__WIRE_VERSION__WIRE_VERSION

/* Map names: BPF object name characters [A-Za-z0-9_.], 1..63 bytes. */
#define SYNC_MAP_NAME_MAX 63

/* Bytes kept free in every message for what auth.h adds to an encoded
 * envelope when a key is set: the HMAC tag (field 15: tag byte, length
 * byte, 32-byte HMAC-SHA256), or the Sealed frame around it (proto/
 * sync.proto: sender 5, cipher 3, salt 19, counter 10 bytes, the box's
 * field tag and length 7 and the AEAD tag 16: 60 at most), and with
 * per-node keys one authenticator per peer (field tag 2, length 1, node
 * 6, tag 18: 27 bytes; SYNC_AUTH_PEERS_MAX of them). */
#define SYNC_AUTH_TAG_ROOM  34
#define SYNC_AUTH_PEERS_MAX 16
#define SYNC_SEAL_ROOM	    (64 + 27 * SYNC_AUTH_PEERS_MAX)
#define SYNC_FRAME_ROOM	    SYNC_SEAL_ROOM /* the larger of the two */

enum sync_msg_type {
	SYNC_MSG_BATCH = XLBSYNC__MSG_TYPE__MSG_BATCH,
	SYNC_MSG_HEARTBEAT = XLBSYNC__MSG_TYPE__MSG_HEARTBEAT,
	SYNC_MSG_RESYNC_REQUEST = XLBSYNC__MSG_TYPE__MSG_RESYNC_REQUEST,
	SYNC_MSG_SNAPSHOT_REQUEST = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_REQUEST,
	SYNC_MSG_SNAPSHOT_CHUNK = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_CHUNK,
	SYNC_MSG_SNAPSHOT_END = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_END,
	SYNC_MSG_DIGEST = XLBSYNC__MSG_TYPE__MSG_DIGEST,
	SYNC_MSG_SERVICES_REQUEST = XLBSYNC__MSG_TYPE__MSG_SERVICES_REQUEST,
	SYNC_MSG_SERVICES = XLBSYNC__MSG_TYPE__MSG_SERVICES,
	SYNC_MSG_BEACON = XLBSYNC__MSG_TYPE__MSG_BEACON,
	SYNC_MSG_SNAPSHOT_ACK = XLBSYNC__MSG_TYPE__MSG_SNAPSHOT_ACK,
	SYNC_MSG_RESYNC_GONE = XLBSYNC__MSG_TYPE__MSG_RESYNC_GONE,
};

enum sync_op {
	SYNC_OP_UPDATE = XLBSYNC__OP__OP_UPDATE,
	SYNC_OP_DELETE = XLBSYNC__OP__OP_DELETE,
};

/* Why a message or an entry was refused. Counters are indexed by it. */
enum sync_reason {
	SYNC_OK = 0,
	SYNC_E_TOO_BIG,	      /* message longer than max_msg */
	SYNC_E_MALFORMED,     /* not a protobuf Envelope */
	SYNC_E_NOMEM,	      /* decode memory budget exceeded */
	SYNC_E_VERSION,	      /* wire version missing or not ours */
	SYNC_E_TYPE,	      /* unknown type, or body does not match it */
	SYNC_E_ORIGIN,	      /* envelope or entry origin missing or 0 */
	SYNC_E_SEQ,	      /* sequence or epoch missing or 0 where needed */
	SYNC_E_FIELD,	      /* another mandatory field missing */
	SYNC_E_ENTRIES,	      /* no entries, or more than max_entries */
	SYNC_E_MAP_NAME,      /* map name empty, too long or bad characters */
	SYNC_E_OP,	      /* operation missing or unknown */
	SYNC_E_KEY,	      /* key empty or longer than max_key */
	SYNC_E_VALUE,	      /* UPDATE without value / longer than max_value,
				 * or DELETE with one */
	SYNC_E_ENTRY_VERSION, /* entry without a version */
	SYNC_E_RANGE,	      /* resync range, digest bucket or list size */
	SYNC_E_DUP_ORIGIN,    /* heartbeat lists an origin twice */
	/* apply-time checks (mapspec.h) */
	SYNC_E_UNKNOWN_MAP, /* map not watched here */
	SYNC_E_KEY_SIZE,    /* key size is not the map's */
	SYNC_E_VALUE_SIZE,  /* value size is not the map's */
	SYNC_E__MAX,
};

const char *sync_reason_str(enum sync_reason r);
const char *sync_msg_type_str(int type);

struct sync_limits {
	size_t max_msg;	      /* encoded envelope, auth tag room included */
	uint32_t max_entries; /* per batch or snapshot chunk */
	uint32_t max_key;
	uint32_t max_value;
	uint32_t max_list;     /* heartbeat origins, snapshot request maps */
	size_t max_decode_mem; /* heap one decode may use; 0: 64 x len + 64 KiB */
};

/* nanomsg's default receive limit is 1 MiB; a batch flushes well before. */
#define SYNC_LIMITS_DEFAULT                                                                        \
	{                                                                                          \
		.max_msg = 64 * 1024, .max_entries = 4096, .max_key = 512, .max_value = 4096,      \
		.max_list = 256                                                                    \
	}

/* The envelope header every message carries. */
struct sync_hdr {
	uint32_t origin;  /* sender node id, != 0 */
	uint32_t dest;	  /* 0: every peer */
	uint64_t epoch;	  /* sender incarnation, != 0, grows on restart */
	uint64_t seq;	  /* BATCH: origin's sequence, != 0; else 0 */
	uint64_t mono_ns; /* sender's CLOCK_MONOTONIC at encode */
};

/* One map change; pointers borrow the caller's (or the decoded message's)
 * memory. value is NULL and value_len 0 for a DELETE. */
struct sync_entry {
	const char *map;
	enum sync_op op;
	const uint8_t *key;
	const uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t origin;
	uint64_t version;
};

/* Checks one entry against the limits (the same rule encode and decode
 * apply, so a sender never emits what its peers refuse). */
enum sync_reason sync_entry_check(const struct sync_entry *e, const struct sync_limits *lim);
enum sync_reason sync_map_name_check(const char *name);

/*
 * Encoders write one envelope into buf[0..cap) and its length into *len.
 * They return 0 (or, for entries, how many were encoded) or a negative
 * errno: -EINVAL for a header/entry that would be refused by the decoder,
 * -EMSGSIZE if the message does not fit in min(cap, max_msg - auth room),
 * -ENOMEM.
 *
 * sync_encode_batch() packs entries e[0..n) in order, as many as fit, and
 * returns that count (>= 1); the caller sends the message and passes the
 * rest to the next call. -EMSGSIZE only when e[0] alone does not fit.
 */
int sync_encode_batch(const struct sync_hdr *h, const struct sync_entry *e, size_t n,
		      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len);
int sync_encode_snapshot_chunk(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t index,
			       const struct sync_entry *e, size_t n, const struct sync_limits *lim,
			       uint8_t *buf, size_t cap, size_t *len);
/* The same with the walk's starting sequence (0: absent), for chunk 0. */
int sync_encode_snapshot_chunk_seq(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t index,
				   uint64_t walk_seq, const struct sync_entry *e, size_t n,
				   const struct sync_limits *lim, uint8_t *buf, size_t cap,
				   size_t *len);

struct sync_origin_seq {
	uint32_t origin;
	uint64_t epoch;
	uint64_t last_seq;
};

int sync_encode_heartbeat(const struct sync_hdr *h, int ready, const struct sync_origin_seq *s,
			  size_t n, const struct sync_limits *lim, uint8_t *buf, size_t cap,
			  size_t *len);
/* The same with the digest of the sender's service set (if services). */
/* A BEACON: the header alone (liveness; syncd/beacon.c). 0 or -errno. */
int sync_encode_beacon(const struct sync_hdr *h, const struct sync_limits *lim, uint8_t *buf,
		       size_t cap, size_t *len);
/* ... and (if birth_clock) the sender's birth-version clock. */
int sync_encode_heartbeat_svc(const struct sync_hdr *h, int ready, const struct sync_origin_seq *s,
			      size_t n, const uint64_t *services, const uint32_t *birth_clock,
			      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len);
int sync_encode_services_request(const struct sync_hdr *h, uint64_t digest,
				 const struct sync_limits *lim, uint8_t *buf, size_t cap,
				 size_t *len);
/* Part index (< count, count <= SYNC_SERVICES_MAX_CHUNKS) of a service set
 * encoding of digest: data[0..n). */
#define SYNC_SERVICES_MAX_CHUNKS 64
int sync_encode_services_chunk(const struct sync_hdr *h, uint64_t digest, uint32_t index,
			       uint32_t count, const uint8_t *data, size_t n,
			       const struct sync_limits *lim, uint8_t *buf, size_t cap,
			       size_t *len);
int sync_encode_resync_request(const struct sync_hdr *h, uint32_t origin, uint64_t from_seq,
			       uint64_t to_seq, const struct sync_limits *lim, uint8_t *buf,
			       size_t cap, size_t *len);
/* [from_seq, to_seq] of the sender's stream is gone (first_kept: the
 * oldest sequence it still keeps, 0: none). */
int sync_encode_resync_gone(const struct sync_hdr *h, uint64_t from_seq, uint64_t to_seq,
			    uint64_t first_kept, const struct sync_limits *lim, uint8_t *buf,
			    size_t cap, size_t *len);
int sync_encode_snapshot_request(const struct sync_hdr *h, uint64_t snapshot_id,
				 const char *const *maps, size_t n, const struct sync_limits *lim,
				 uint8_t *buf, size_t cap, size_t *len);
/* The same for one digest bucket (bucket < bucket_count; bucket_count 0:
 * every entry, as sync_encode_snapshot_request()). */
int sync_encode_snapshot_request_bucket(const struct sync_hdr *h, uint64_t snapshot_id,
					const char *const *maps, size_t n, uint32_t bucket,
					uint32_t bucket_count, const struct sync_limits *lim,
					uint8_t *buf, size_t cap, size_t *len);
/* The same with flow control: window chunks beyond the last acknowledged
 * (0: none, as the two above). */
int sync_encode_snapshot_request_win(const struct sync_hdr *h, uint64_t snapshot_id,
				     const char *const *maps, size_t n, uint32_t bucket,
				     uint32_t bucket_count, uint32_t window,
				     const struct sync_limits *lim, uint8_t *buf, size_t cap,
				     size_t *len);
int sync_encode_snapshot_end(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t chunks,
			     uint64_t last_seq, const struct sync_limits *lim, uint8_t *buf,
			     size_t cap, size_t *len);
/* A SNAPSHOT_END saying the snapshot is gone (not served, ask anew). */
int sync_encode_snapshot_gone(const struct sync_hdr *h, uint64_t snapshot_id,
			      const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len);
/* A SNAPSHOT_ACK: every chunk before next_index arrived; flags: */
#define SYNC_ACK_RESEND 1u /* send again from next_index */
#define SYNC_ACK_CANCEL 2u /* drop the snapshot */
int sync_encode_snapshot_ack(const struct sync_hdr *h, uint64_t snapshot_id, uint32_t next_index,
			     unsigned int flags, const struct sync_limits *lim, uint8_t *buf,
			     size_t cap, size_t *len);

struct sync_digest {
	const char *map;
	uint32_t bucket;
	uint32_t bucket_count;
	uint32_t entries;
	uint64_t hash;
	bool has_version_before; /* only versions before version_before counted */
	uint32_t version_before;
};

int sync_encode_digest(const struct sync_hdr *h, const struct sync_digest *d,
		       const struct sync_limits *lim, uint8_t *buf, size_t cap, size_t *len);

/*
 * A decoded, validated message. Everything it points to is owned by it
 * (allocated through a budgeted allocator whose state lives in the struct,
 * so the struct must not move between decode and release).
 */
/*
 * Memory a decode takes its allocations from instead of the heap: one block,
 * reused by every message decoded in it (protobuf-c allocates per entry: the
 * entry, its key, value and map name). Only one message decoded in an arena
 * may be alive at a time.
 */
struct sync_arena {
	uint8_t *base;
	size_t cap, used;
};

/* 0 or -ENOMEM. cap: the most one decode may use (sync_limits.max_decode_mem,
 * or 64 x max_msg + 64 KiB). */
int sync_arena_init(struct sync_arena *a, size_t cap);
void sync_arena_free(struct sync_arena *a);

struct sync_msg {
	Xlbsync__Envelope *env;
	enum sync_msg_type type;
	struct sync_hdr hdr;
	size_t n_entries; /* BATCH and SNAPSHOT_CHUNK */
	/* allocator state */
	ProtobufCAllocator alloc;
	struct sync_arena *arena; /* NULL: the heap */
	size_t mem_used;
	size_t mem_budget;
	int mem_refused;
};

/*
 * Decodes and validates buf[0..len). Returns SYNC_OK with *m filled (release
 * with sync_msg_release()), or the reason it was refused with *m empty
 * (nothing to release, though releasing is harmless). Never reads outside
 * buf and never aborts on any input.
 */
enum sync_reason sync_decode(struct sync_msg *m, const uint8_t *buf, size_t len,
			     const struct sync_limits *lim);
/* The same, allocating from arena (its budget is the smaller of the arena's
 * size and the limits'). */
enum sync_reason sync_decode_in(struct sync_msg *m, struct sync_arena *arena, const uint8_t *buf,
				size_t len, const struct sync_limits *lim);
void sync_msg_release(struct sync_msg *m);

/* Entry i (< n_entries) of a decoded BATCH or SNAPSHOT_CHUNK. */
void sync_msg_entry(const struct sync_msg *m, size_t i, struct sync_entry *e);

#endif /* SYNCD_CODEC_H */
