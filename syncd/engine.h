/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The replication engine: everything syncd does between the capture ring
 * buffer and the network, with no I/O of its own. The daemon (main.c)
 * feeds it local changes, messages from peers and the time, and gives it
 * two ways out: send() (one envelope to every peer; dest inside says who
 * must act on it) and the store (this node's watched maps). The unit tests
 * drive several engines against each other through the same interface,
 * with a lossy in-memory transport and in-memory maps.
 *
 * Protocol (docs/design.md decision 8, proto/sync.proto):
 *  - Local changes are queued into the current batch; a batch is sent when
 *    it is full (max entries or max message size) or when
 *    sync_engine_flush() is called (the daemon's flush timer, <= 1 ms after
 *    the first queued entry: sync_engine_local() returns 1 when it queued
 *    the first entry of an empty batch). Every BATCH gets the next sequence
 *    of this node's stream (epoch = this incarnation) and is kept encoded
 *    in the retransmit ring.
 *  - Heartbeats every heartbeat_ms carry this node's last sequence, its
 *    readiness and the last sequence held from every other origin. A peer
 *    not heard from for dead_after_ms is declared dead (peer_state
 *    callback); heard again, alive.
 *  - Gaps (seqtrack.h), from a batch beyond the next sequence or from a
 *    heartbeat's last sequence, are requested with a RESYNC_REQUEST to the
 *    origin (at most RESYNC_MAX_SPAN batches each), re-requested on every
 *    tick while missing; the origin answers from its ring, or with a
 *    RESYNC_GONE if the range has left it, and the requester then pulls a
 *    snapshot at once (after five silent requests too). The receive window
 *    is as large as the ring (SYNC_SEQ_WINDOW); holes that leave it pull a
 *    snapshot.
 *  - At start the engine is not ready: it sends a SNAPSHOT_REQUEST of every
 *    watched map to every peer and becomes ready when each peer that
 *    answered has sent SNAPSHOT_END, or after ready_timeout_ms for the
 *    peers that never answered (the first node of a cluster).
 *  - Snapshots are served in slices (sync_engine_tick() walks at most
 *    walk_budget entries per call, all walks together, and the first two
 *    snapshots of each requester at a time) as SNAPSHOT_CHUNKs of every
 *    entry of the requested maps, then SNAPSHOT_END with the sequence this
 *    node had sent when the walk began. Flow control: the requester gives
 *    a window (32 chunks, 8 for a bucket) and acknowledges every 8 chunks
 *    applied (SNAPSHOT_ACK); the server sends no further than the window
 *    beyond the last acknowledgement and keeps the chunks not yet
 *    acknowledged. A chunk that arrives after a gap is dropped and the
 *    requester asks for everything from the missing one (go-back-N: the
 *    transport drops whole messages but never reorders), and again after
 *    a stall; the server answers an acknowledgement for a snapshot it no
 *    longer serves with a SNAPSHOT_END marked gone, and the requester asks
 *    anew. A server drops a snapshot nobody acknowledged for 25 x
 *    resync_retry_ms; a requester cancels chunks it did not ask for.
 *  - Anti-entropy: every antientropy_ms the engine walks its maps (in
 *    slices) and sends, per map with an owner field, one DIGEST per bucket
 *    over the entries this node owns. In a map whose versions are birth
 *    times (mapspec version_clock) the digest counts only the entries born
 *    more than digest_settle_ms before the walk began, and says so
 *    (version_before): under a steady stream of new sessions the newest
 *    ones are always in flight and would make every bucket differ. Birth
 *    versions wrap (32 bits of ~1.05 ms), so an entry born over ~26 days ago
 *    reads as born after the cut and is left out too: such sessions are
 *    still replicated by the stream, only not re-checked by digests. A
 *    receiver computes the same digest over its entries owned by the
 *    sender; on a mismatch it requests a snapshot of that bucket from the
 *    sender (SnapshotRequest with bucket and bucket_count), applies it,
 *    and deletes the entries of that bucket owned by the sender that the
 *    snapshot did not contain.
 *  - Apply: every entry is checked (mapspec.h: known map, exact sizes;
 *    then the validate callback, e.g. the backend exists here), its
 *    timestamp field rebased by (receiver clock - sender's mono_ns), and
 *    decided by the conflict rule (conflict.h) against the local value or
 *    tombstone. A DELETE whose version is 0 ("not known": a kprobe sees
 *    only the key) deletes the local entry if that entry is owned by the
 *    delete's origin (the owner is the authority over its entries), and is
 *    recorded as a tombstone at the version it removed.
 *  - Messages are authenticated when a key is set: sealed with an AEAD
 *    (cfg.cipher, auth.h: encrypted too), else HMAC-SHA256 (libsodium)
 *    over the envelope encoded without auth_tag, appended as field 15. A
 *    message with a missing or wrong tag, sealed with another cipher or
 *    not sealed at all, or whose origin is not its sealer, is dropped and
 *    counted.
 *  - Everything refused is counted by reason (sync_engine_stats) and logged
 *    at a limited rate; nothing from the network can make the engine crash
 *    or write a map with a value that failed a check.
 */
#ifndef SYNCD_ENGINE_H
#define SYNCD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "codec.h"
#include "mapspec.h"
#include "store.h"

#define SYNC_MAX_PEERS	  16
#define SYNC_MAX_MAPS	  8
#define SYNC_AUTH_KEY_MIN 16 /* bytes of the shared key */
#define SYNC_AUTH_KEY_MAX 64

/*
 * Defaults of struct sync_engine_cfg. A tunable left 0 takes its default,
 * whether sync_engine_cfg_defaults() fills it or sync_engine_new() does;
 * 0 never means "off". Anti-entropy alone can be turned off, and says so:
 * antientropy_ms = SYNC_ANTIENTROPY_OFF.
 */
#define SYNC_DEFAULT_HEARTBEAT_MS     100
#define SYNC_DEFAULT_DEAD_AFTER_MS    1000
#define SYNC_DEFAULT_READY_TIMEOUT_MS 3000
#define SYNC_DEFAULT_RESYNC_RETRY_MS  200
#define SYNC_DEFAULT_ANTIENTROPY_MS   10000
#define SYNC_DEFAULT_DIGEST_BUCKETS   64
#define SYNC_DEFAULT_DIGEST_SETTLE_MS 5000
#define SYNC_DEFAULT_WALK_BUDGET      4096
#define SYNC_DEFAULT_TOMBSTONE_MS     60000
/* at most this many tombstones (~140 bytes each: 140 MiB); then the oldest
 * makes room (tombstones_evicted) */
#define SYNC_DEFAULT_TOMBSTONES_MAX (1u << 20)
#define SYNC_DEFAULT_TXRING_MSGS    65536
#define SYNC_DEFAULT_TXRING_BYTES   (64u << 20)
/* A tick later than this is a stall of this node (liveness.h). */
#define SYNC_TICK_LATE_SLACK_NS (20ull * 1000000ull)
#define SYNC_ANTIENTROPY_OFF	UINT32_MAX

struct sync_io_ops {
	/* One envelope for every peer (best effort: 0 or -errno, counted). */
	int (*send)(void *ctx, const uint8_t *buf, size_t len);
	/* The same for one peer (optional: else send(), and the others drop
	 * what names another node in its dest). */
	int (*send_to)(void *ctx, uint32_t node, const uint8_t *buf, size_t len);
	/* A peer changed state (optional). */
	void (*peer_state)(void *ctx, uint32_t node, bool alive);
	/* A peer's incarnation heard for the first time, or a newer one
	 * (optional): the daemon keeps it across restarts (state.h). */
	void (*peer_epoch)(void *ctx, uint32_t node, uint64_t epoch);
	/* This node became ready (optional). */
	void (*ready)(void *ctx);
	/* Between two slices of the walks of a tick (optional): the daemon
	 * drains its capture here (sync_engine_local(), sync_engine_flush()),
	 * so that the walks never hold the live stream up for more than one
	 * slice. */
	void (*yield)(void *ctx);
};

/*
 * Optional extra check of an applied UPDATE (e.g. "backend_id is a
 * backend of this node's config"). Return 0 to accept, else non-zero and
 * set *why to a short static reason.
 */
typedef int (*sync_validate_fn)(void *arg, unsigned int map, const void *key, const void *value,
				const char **why);

/*
 * Optional: a peer's entry (or anti-entropy) removed or replaced a present
 * entry of this node's map: @old is what was there, @new what is there now
 * (NULL: removed). E.g. give back the resources the old value held here.
 */
typedef void (*sync_replaced_fn)(void *arg, unsigned int map, const void *key, const void *old,
				 const void *new);

struct sync_engine_cfg {
	uint32_t node_id;      /* != 0 */
	const char *node_name; /* for logs */
	uint64_t epoch;	       /* this incarnation, != 0, grows on restart */
	size_t n_maps;
	const struct sync_mapspec *maps; /* copied */
	size_t n_peers;
	const uint32_t *peers;	       /* peer node ids (!= node_id), copied */
	const char *const *peer_names; /* for logs, may be NULL; copied */
	/* per peer, in the order of peers: the newest epoch heard of it
	 * before this start (the daemon's state file, state.h); a message of
	 * an older incarnation is refused from the first contact on. NULL or
	 * 0: none known, the first epoch heard is taken. Copied. */
	const uint64_t *peer_epoch_floor;
	struct sync_limits lim;	    /* each field 0: SYNC_LIMITS_DEFAULT's */
	uint32_t batch_max_entries; /* default lim.max_entries */
	uint32_t heartbeat_ms;	    /* default 100 */
	uint32_t dead_after_ms;	    /* default 1000 */
	uint32_t ready_timeout_ms;  /* default 3000 */
	uint32_t resync_retry_ms;   /* default 200 */
	uint32_t antientropy_ms;    /* default 10000; SYNC_ANTIENTROPY_OFF: none */
	uint32_t digest_buckets;    /* default 64 */
	uint32_t digest_settle_ms;  /* default 5000: in maps whose versions are
					 * birth times (mapspec version_clock),
					 * digests leave out the entries born this
					 * recently (still in flight) */
	/* Now on the birth-version clock (CLOCK_TAI ns >> 20); NULL: the
	 * system's CLOCK_TAI. Tests set their own. */
	uint32_t (*version_clock)(void *arg);
	void *version_clock_arg;
	uint32_t walk_budget;	 /* entries walked per tick, all jobs together,
					 * default 4096 */
	uint32_t tombstone_ms;	 /* default 60000 */
	uint32_t tombstones_max; /* default SYNC_DEFAULT_TOMBSTONES_MAX */
	uint32_t kset_keys_max;	 /* keys of all bucket repairs' key sets
				  * (engine_priv.h), default 1 Mi */
	size_t txring_msgs;	 /* default 65536 */
	size_t txring_bytes;	 /* default 64 MiB */
	size_t auth_key_len;	 /* 0: no authentication */
	uint8_t auth_key[SYNC_AUTH_KEY_MAX];
	enum sync_cipher cipher; /* with a key: messages sealed (auth.h);
				  * SYNC_CIPHER_NONE: HMAC-tagged */
	/* per-node keys (auth.h sync_seal_pairs(); needs a cipher): this
	 * node's X25519 secret key and each peer's public key, in the order
	 * of peers (copied). node_keys false: off */
	bool node_keys;
	uint8_t node_sk[SYNC_NODE_KEY_LEN];
	const uint8_t (*peer_pk)[SYNC_NODE_KEY_LEN];
	sync_validate_fn validate; /* optional */
	void *validate_arg;
	sync_replaced_fn replaced; /* optional */
	void *replaced_arg;
};

/* Fills the defaults (SYNC_DEFAULT_*) into every tunable left 0, as
 * sync_engine_new() does: for a caller that wants to see them. */
void sync_engine_cfg_defaults(struct sync_engine_cfg *cfg);

struct sync_peer_status {
	uint32_t node;
	bool alive;		   /* heard within dead_after_ms */
	bool ready;		   /* its last heartbeat said ready */
	bool snapshot_done;	   /* our startup snapshot from it ended */
	uint64_t last_heard_ns;	   /* 0: never */
	uint64_t dead_after_ns;	   /* silence after which it is dead now
					 * (liveness.h: dead_after_ms, or more
					 * after the peer's own stalls) */
	uint64_t rx_epoch, rx_top; /* its stream as we hold it */
	uint64_t acked_seq;	   /* our last sequence it says it holds */
	uint64_t rx_msgs, rx_entries;
	uint64_t gaps, lost; /* sequences reported missing / lost */
	bool has_clock_skew;
	int64_t clock_skew_ms; /* its CLOCK_TAI minus ours, from heartbeats */
};

struct sync_engine_stats {
	uint64_t local_updates, local_deletes; /* queued local changes */
	/* updates that replaced an earlier update of their key in the same
	 * pending batch (engine_send.c) */
	uint64_t local_coalesced;
	uint64_t local_rejected; /* local change for an unknown map / bad size */
	uint64_t tx_msgs, tx_batches, tx_entries, tx_bytes, tx_errors;
	uint64_t rx_msgs, rx_bytes;
	uint64_t rx_dropped; /* messages dropped, sum of by_reason + auth + seq */
	uint64_t rx_by_reason[SYNC_E__MAX];
	uint64_t rx_auth_fail;
	uint64_t rx_duplicate, rx_stale; /* batches refused by sequence */
	uint64_t rx_node_key_fail;	 /* sealed right, but not by the node named */
	uint64_t rx_replayed;		 /* sealed frames refused as replays (replay.h) */
	uint64_t rx_foreign_origin;	 /* batch entries in another node's name */
	uint64_t rx_not_for_us;		 /* dest set to another node */
	uint64_t rx_unknown_origin;	 /* origin is not a configured peer */
	uint64_t applied_updates, applied_deletes;
	uint64_t apply_skipped;	 /* the local state won or was equal */
	uint64_t apply_rejected; /* entry failed mapspec / validate */
	uint64_t apply_errors;	 /* the store failed (map full ...) */
	uint64_t apply_raced;	 /* the data plane wrote a key between a batch's
				  * lookup and write: applied again alone */
	uint64_t apply_own_gone; /* a peer's copy of an entry this node owns
				  * and no longer holds: not written back */
	uint64_t resync_requests_sent, resync_requests_served, resync_gone;
	uint64_t resync_gone_heard; /* our requests answered gone: snapshot */
	uint64_t snapshots_requested, snapshots_served, snapshot_entries_sent;
	uint64_t snapshot_entries_applied;
	uint64_t snapshot_resends_asked;  /* chunks missing: asked from there on */
	uint64_t snapshot_chunks_resent;  /* served again on such a request */
	uint64_t snapshot_chunks_dropped; /* received out of order (come again) */
	uint64_t snapshots_gone;	  /* a walk abandoned midway: anew */
	uint64_t snapshots_abandoned;	  /* served, never acknowledged: dropped */
	uint64_t digests_sent, digest_mismatches, antientropy_deletes;
	uint64_t capture_repairs;     /* anti-entropy rounds run for a capture loss */
	uint64_t local_stall_ns;      /* time this engine's ticks came late */
	uint64_t tombstones;	      /* live tombstones */
	uint64_t tombstones_evicted;  /* the oldest, for a new one, at tombstones_max */
	uint64_t kset_full;	      /* keys not recorded: key sets at their bound */
	uint64_t prunes_skipped;      /* bucket repairs not pruned: keys incomplete */
	uint64_t resync_limited;      /* resends cut by the per-peer rate limit */
	uint64_t tx_entries_lost;     /* local changes that could not be sent */
	uint64_t clock_skew_warnings; /* a peer's CLOCK_TAI off by > 500 ms */
	uint64_t services_requests_sent, services_served, services_received;
	uint64_t services_bad; /* a set whose bytes did not hash to its digest */
	uint64_t rx_beacons;   /* peers' beacons (liveness alone) */
	uint64_t seq;	       /* last sequence sent */
	bool ready;
};

struct sync_engine;

/* NULL with *err filled (one line) for a bad configuration. */
struct sync_engine *sync_engine_new(const struct sync_engine_cfg *cfg,
				    const struct sync_store_ops *store, void *store_ctx,
				    const struct sync_io_ops *io, void *io_ctx, char *err,
				    size_t errlen);
void sync_engine_free(struct sync_engine *e);

/* Starts the protocol (snapshot requests, first heartbeat). */
void sync_engine_start(struct sync_engine *e, uint64_t now_ns);

/*
 * A change of this node's map `map` (index into cfg->maps) made by this
 * node: captured from the data plane, or a delete handed over by lbd.
 * value is NULL for a DELETE. version: for a DELETE the version of the
 * value deleted if the caller knows it, else 0; ignored for an UPDATE
 * (read from the value's version field). The entry's origin is this node.
 * Returns 1 if this was the first entry of an empty batch (arm the flush
 * timer), 0 if queued (or flushed because the batch was full), -errno if
 * refused (counted in local_rejected).
 */
int sync_engine_local(struct sync_engine *e, unsigned int map, enum sync_op op, const void *key,
		      const void *value, uint64_t version, uint64_t now_ns);

/* Map index of a watched map name, or -1. */
int sync_engine_map_index(const struct sync_engine *e, const char *name);

/* Sends the pending batch, if any. */
void sync_engine_flush(struct sync_engine *e, uint64_t now_ns);
/* Entries in the pending batch, and (if first_ns) when the first of them
 * was queued (the caller's batching deadline). */
size_t sync_engine_pending(const struct sync_engine *e, uint64_t *first_ns);

/*
 * A BEACON of this node into buf (authenticated if the cluster has a key):
 * liveness alone, which a peer takes like any message from this node. It
 * reads only what does not change after sync_engine_new(), so another
 * thread may call it while the engine's thread works: syncd's beacon
 * thread (beacon.c) keeps this node alive to its peers while the main
 * loop is held up. 0, or -errno.
 */
int sync_engine_beacon(const struct sync_engine *e, uint64_t now_ns, uint8_t *buf, size_t cap,
		       size_t *len);

/* One message from the network (any peer). Never fails: bad input is
 * dropped and counted. */
void sync_engine_rx(struct sync_engine *e, const uint8_t *buf, size_t len, uint64_t now_ns);

/*
 * Periodic work: heartbeats, liveness, resync re-requests, readiness
 * timeout, snapshot and digest walks (bounded per call), tombstone expiry.
 * Call every tick_ms (<= heartbeat_ms / 2); returns the milliseconds until
 * it wants to be called again (always >= 1).
 */
uint32_t sync_engine_tick(struct sync_engine *e, uint64_t now_ns);

/* The local capture lost @n records (which ones is unknown): flushes the
 * batch and starts a digest round of every map with owners at once,
 * without the settle cut, periodic anti-entropy on or off. */
void sync_engine_capture_lost(struct sync_engine *e, uint64_t n, uint64_t now_ns);

bool sync_engine_ready(const struct sync_engine *e);
void sync_engine_get_stats(const struct sync_engine *e, struct sync_engine_stats *st);
/* Peer i (< n_peers). */
void sync_engine_get_peer(const struct sync_engine *e, size_t i, struct sync_peer_status *ps);

/*
 * This node's service set (svcset.h): its digest, announced in every
 * heartbeat from now on, and its canonical encoding, sent to a peer that
 * asks. The engine keeps a copy. 0 or -ENOMEM.
 */
int sync_engine_set_services(struct sync_engine *e, uint64_t digest, const uint8_t *enc,
			     size_t len);

/* What the engine knows of peer i's service set. */
struct sync_peer_services {
	bool announced;	     /* its heartbeats carry a digest */
	uint64_t digest;     /* ... the last one */
	const uint8_t *enc;  /* the last set received (NULL: none yet), */
	size_t len;	     /* valid until the next call into the engine */
	uint64_t enc_digest; /* ... and its digest (== digest: current) */
};
void sync_engine_peer_services(const struct sync_engine *e, size_t i, struct sync_peer_services *o);
size_t sync_engine_n_peers(const struct sync_engine *e);

#endif /* SYNCD_ENGINE_H */
