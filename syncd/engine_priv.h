/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The replication engine's insides, shared by its files and by nothing
 * else (engine.h is the API):
 *
 *   engine.c           life cycle, configuration, the tick, queries, helpers
 *   engine_send.c      local changes: batching, sequencing, transmit, retransmit
 *   engine_apply.c     receiving: validation, sequence and gap repair, liveness,
 *                      the conflict check (conflict.c) and apply, tombstones
 *   engine_snapshot.c  snapshots: pulled at start and for repairs, served in slices
 *   engine_digest.c    anti-entropy: digests, bucket repairs and prunes
 *   engine_services.c  service sets: digests in heartbeats, sets on request
 *
 * Functions shared between the files are eng_*.
 */
#ifndef SYNCD_ENGINE_PRIV_H
#define SYNCD_ENGINE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xxhash.h>

#include "auth.h"
#include "clock.h"
#include "engine.h"
#include "liveness.h"
#include "log.h"
#include "replay.h"
#include "seqtrack.h"

/* uthash: report allocation failures instead of exiting the process. */
extern _Thread_local int eng_uthash_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj)                                                                   \
	do {                                                                                       \
		(void)(obj);                                                                       \
		eng_uthash_oom = 1;                                                                \
	} while (0)
#include <uthash.h>

#define RESYNC_MAX_SPAN 256	      /* messages asked (and served) per request */
#define HDR_RESERVE	96	      /* envelope header + list prefixes, generous */
#define ENTRY_OVERHEAD	40	      /* per-entry field tags and lengths, generous */
#define SEED_BUCKET	0x78646c62ull /* "xdlb" */

/* Entries waiting to be encoded (a batch, a snapshot chunk): metadata plus
 * key/value bytes copied into one growing buffer. */
struct pent {
	unsigned int map;
	enum sync_op op;
	uint32_t origin;
	uint64_t version;
	size_t off; /* key at data+off, value right after it */
	uint32_t key_len, value_len;
};

struct ebuf {
	struct pent *ent;
	size_t n, cap;
	uint8_t *data;
	size_t used, dcap;
	size_t est; /* estimated encoded size of the entries */
};

/* An index of the keys of a set of entries (the pending batch, a segment
 * being applied) by their hash: open addressing over at least twice as
 * many slots as entries, a slot live when its gen is the index's, so that
 * emptying it is bumping gen (engine_send.c eng_kindex_*). */
struct bslot {
	uint32_t gen;
	uint32_t idx; /* the entry's index in its set */
};

struct bindex {
	struct bslot *slot;
	uint32_t mask; /* slots - 1 */
	uint32_t gen;
};

/* Does entry idx of the set hold the key looked up? */
typedef bool kindex_same_fn(const struct sync_engine *e, uint32_t idx, const void *arg);

/* A set of keys (bucket snapshot contents). */
struct kent {
	UT_hash_handle hh;
	uint32_t len;
	uint8_t key[];
};

/* A tombstone: key (prefixed by the map index) deleted at version by node. */
struct tomb {
	UT_hash_handle hh;
	uint64_t version;
	uint64_t expire_ns;
	uint32_t node;
	uint32_t klen;
	uint8_t k[]; /* uint32_t map, then the key */
};

enum pull_kind { PULL_FULL, PULL_BUCKET };

/* A snapshot this node asked a peer for. */
struct pull {
	struct pull *next;
	uint64_t id;
	size_t peer;
	enum pull_kind kind;
	bool startup;	  /* counts for readiness */
	bool sent;	  /* request sent to the current incarnation */
	bool answered;	  /* a chunk or the end arrived (of any walk) */
	bool got;	  /* ... of this walk (id) */
	unsigned int map; /* PULL_BUCKET */
	uint32_t bucket, bucket_count;
	uint32_t next_index; /* every chunk before it applied */
	uint32_t acked;	     /* next_index as last acknowledged */
	uint32_t resend_at;  /* next_index of the last resend asked ... */
	uint64_t resend_ns;  /* ... and when */
	unsigned int stalls; /* resends asked for a stall, in a row */
	uint64_t walk_seq;   /* PULL_FULL: where the walk began (chunk 0), */
	bool has_walk_seq;   /* ... once known */
	uint64_t sent_ns, progress_ns;
	struct kent *keys;    /* PULL_BUCKET: keys the sender has in the bucket */
	bool keys_incomplete; /* ... not all of them (eng_kset_add()) */
};

/* A chunk sent and not yet acknowledged, kept to be sent again. */
struct held {
	uint8_t *buf;
	size_t len, cap;
};

/* A snapshot this node is serving. */
struct serve {
	struct serve *next;
	size_t peer;
	uint64_t id;
	uint32_t maps; /* bitmask of map indexes */
	bool bucketed;
	uint32_t bucket, bucket_count;
	unsigned int cur_map; /* < SYNC_MAX_MAPS; == SYNC_MAX_MAPS: walk done */
	struct sync_cursor cur;
	uint32_t chunks; /* sent: the next chunk's index */
	uint64_t last_seq;
	struct ebuf eb; /* walked, not yet sent from eb_off on */
	size_t eb_off;
	/* flow control (window 0: none, the requester's choice) */
	uint32_t window, acked; /* chunks [acked, chunks) are in held[] */
	struct held *held;	/* window slots, chunk i in held[i % window] */
	uint64_t ack_ns;	/* the window last moved */
	bool tx_blocked;	/* the transport refused a chunk: next tick */
	bool begun;		/* stepped once (ack_ns counts from then) */
	bool end_sent;
	bool failed;
};

/* A walk deleting, after a bucket snapshot, the sender's entries that the
 * snapshot did not contain. */
struct prune {
	struct prune *next;
	size_t peer;
	unsigned int map;
	uint32_t bucket, bucket_count;
	struct sync_cursor cur;
	struct kent *keys;   /* what the sender has */
	struct kent *doomed; /* found in this slice, deleted after it */
	bool incomplete;     /* keys lacks some: nothing is pruned */
};

/* Per map anti-entropy state. Tables are indexed [owner][bucket] with
 * owner 0 = this node, 1 + i = peer i. */
struct ae_map {
	bool walking;
	bool send_after;     /* a round: send this node's digests at the end */
	bool repair_pending; /* a capture loss: a round without the settle
				 * cut as soon as no walk is in progress */
	struct sync_cursor cur;
	uint64_t walk_start_ns;
	uint64_t *tsum; /* table being built */
	uint32_t *tcnt;
	uint64_t *rsum; /* peers' digests [peer][bucket] */
	uint32_t *rcnt;
	uint64_t *rarr;	  /* arrival time, 0: none pending */
	uint32_t *rcut;	  /* their version_before [peer][bucket] */
	uint8_t *rcut_on; /* 0: they counted every entry */
	bool cut_on;	  /* this walk counts our entries born before cut */
	uint32_t cut;
};

struct peer {
	uint32_t node;
	char name[64];
	uint64_t epoch;	      /* newest incarnation heard of */
	uint64_t epoch_floor; /* ... before this start (state.h): older refused */
	bool alive, ready, snapshot_done;
	struct liveness live; /* when it was heard, when it is dead */
	struct sync_rxseq rx;
	struct sync_replay replay; /* its sealed frames' counters (replay.h) */
	uint64_t resync_tokens;	   /* bytes it may still be resent (below) */
	int64_t clock_skew;	   /* its birth clock minus ours, in 2^20 ns */
	bool has_skew, skew_warned;
	uint64_t resync_fill_ns; /* ... as of then */
	uint64_t acked_seq;
	uint64_t rx_msgs, rx_entries, gaps, lost;
	uint64_t resync_last_ns, resync_from;
	unsigned int resync_tries;
	bool need_snapshot;	 /* gap repair needs a full snapshot */
	unsigned int serving;	 /* serve jobs for it */
	uint64_t snap_cancelled; /* the last of its snapshots we cancelled */
	/* its service set (engine_services.c) */
	bool svc_announced;  /* its heartbeats carry a digest */
	uint64_t svc_digest; /* ... this one */
	uint8_t *svc_enc;    /* the encoding received, NULL: none */
	size_t svc_len;
	uint64_t svc_have;	 /* digest of svc_enc */
	uint64_t svc_req_ns;	 /* last request sent to it */
	uint64_t svc_served_ns;	 /* last answer sent to it */
	uint64_t svc_asm_digest; /* chunks being assembled */
	uint32_t svc_asm_count;
	uint64_t svc_asm_got; /* bitmask of chunk indexes */
	uint8_t *svc_part[SYNC_SERVICES_MAX_CHUNKS];
	size_t svc_part_len[SYNC_SERVICES_MAX_CHUNKS];
};

struct sync_engine {
	unsigned int budget; /* entries all walks may still visit this tick */
	struct sync_engine_cfg cfg;
	struct sync_mapspec maps[SYNC_MAX_MAPS];
	uint32_t peer_ids[SYNC_MAX_PEERS];
	struct peer peers[SYNC_MAX_PEERS];
	const struct sync_store_ops *store;
	void *store_ctx;
	struct sync_io_ops io;
	void *io_ctx;

	struct sync_engine_stats st;
	struct sync_auth_key auth; /* prepared from cfg.auth_key */
	struct sync_seal seal;	   /* cfg.cipher: this node's sealing key */
	bool started, ready;
	/* the watched maps with an owner field were empty at start: this node
	 * lost them (a reboot), and until it is ready its startup snapshots
	 * may bring back the entries it owned (engine_apply.c) */
	bool restore_own;
	uint64_t start_ns;
	uint64_t next_hb_ns;
	uint64_t tick_due_ns; /* when the next tick should come (stall check) */
	uint64_t ae_next_ns;

	uint64_t tx_seq;
	struct sync_txring ring;
	struct ebuf batch;
	struct bindex bidx;	 /* the batch's keys, by entry */
	uint64_t batch_first_ns; /* its first entry was queued */

	uint64_t next_snap_id;
	struct pull *pulls;
	size_t n_pulls;
	struct serve *serves;
	struct prune *prunes;
	struct ae_map ae[SYNC_MAX_MAPS];
	uint32_t nb; /* digest buckets */

	struct tomb *tombs;

	bool svc_known; /* this node's service set, engine_services.c */
	uint64_t svc_digest;
	uint8_t *svc_enc;
	size_t svc_len;

	uint8_t *txbuf;				 /* lim.max_msg */
	uint8_t *sealbuf, *scratch, *openbuf;	 /* cfg.cipher: lim.max_msg each */
	uint8_t *vin, *vloc, *vmask_a, *vmask_b; /* lim.max_value each */
	struct apply_job *jobs;			 /* APPLY_SEG_MAX */
	struct bindex segkeys;			 /* the segment's keys, by job */
	struct sync_store_io *jobio;		 /* APPLY_SEG_MAX */
	uint8_t *jobbuf;			 /* their vin and vloc */
	bool *skip;				 /* lim.max_entries */
	struct sync_arena arena;		 /* received messages are decoded in it */
	uint8_t kbuf[4 + SYNC_STORE_KEY_MAX];
	size_t kset_keys; /* keys held by all key sets (SYNC_KSET_KEYS_MAX) */

	struct xlb_ratelimit rl;
};

/* A message being received from peer p (index pi). */
struct rx {
	struct peer *p;
	size_t pi;
	const struct sync_msg *m;
	int64_t delta;
	uint64_t now_ns;
};

enum apply_src { SRC_BATCH, SRC_SNAPSHOT };

/* Entries applied together (engine_apply.c): at most this many, keys
 * distinct. */
#define APPLY_SEG_MAX 256

/* One entry being applied. */
struct apply_job {
	struct sync_entry en;
	uint64_t khash;	       /* of the key: duplicates end a segment */
	int mi;		       /* map index */
	bool ok;	       /* accepted and looked up */
	bool present;	       /* the key holds vloc */
	uint8_t what;	       /* JOB_* */
	uint64_t seen_version; /* vloc's version (0: none) */
	uint64_t tomb_version; /* a removal's tombstone */
	uint32_t tomb_node;
	size_t io;	     /* index in the store call */
	uint8_t *vin, *vloc; /* value_max bytes each */
};

static inline uint64_t ms2ns(uint32_t ms)
{
	return (uint64_t)ms * XLB_NSEC_PER_MSEC;
}

static inline bool ae_enabled(const struct sync_engine *e)
{
	return e->cfg.antientropy_ms != SYNC_ANTIENTROPY_OFF;
}

static inline uint32_t bucket_of(const void *key, uint32_t key_len, uint32_t nb)
{
	return (uint32_t)(XXH64(key, key_len, SEED_BUCKET) % nb);
}

/* engine.c */
int eng_find_peer(const struct sync_engine *e, uint32_t node);
int eng_find_map(const struct sync_engine *e, const char *name);
void eng_log_refused(struct sync_engine *e, uint32_t from, const char *what, const char *map,
		     const char *why);
/*
 * Key sets (bucket pulls and prunes): every key held counts against
 * cfg.kset_keys_max (default SYNC_KSET_KEYS_MAX), all sets together, so that a peer's bucket snapshot
 * cannot grow them without bound. A key that cannot be added (the bound,
 * or memory) returns false: the set is then incomplete, and a prune from
 * an incomplete set would delete entries the peer has, so it is skipped.
 */
#define SYNC_KSET_KEYS_MAX (1u << 20) /* ~80 bytes each */
void eng_kset_free(struct sync_engine *e, struct kent **set);
void eng_kset_del(struct sync_engine *e, struct kent **set, struct kent *k);
bool eng_kset_has(struct kent *set, const void *key, uint32_t len);
bool eng_kset_add(struct sync_engine *e, struct kent **set, const void *key, uint32_t len);
/* Now on the birth-version clock (CLOCK_TAI ns >> 20, engine_digest.c). */
uint32_t eng_version_now(const struct sync_engine *e);

/* engine_send.c */
void eng_ebuf_reset(struct ebuf *b);
void eng_ebuf_free(struct ebuf *b);
int eng_ebuf_add(struct ebuf *b, const struct sync_mapspec *ms, unsigned int map, enum sync_op op,
		 uint32_t origin, uint64_t version, const void *key, const void *value);
size_t eng_ebuf_est_with(const struct ebuf *b, const struct sync_mapspec *ms, enum sync_op op);
struct sync_entry *eng_ebuf_entries(const struct sync_engine *e, const struct ebuf *b);
size_t eng_msg_budget(const struct sync_engine *e);
int eng_kindex_init(struct bindex *x, size_t entries);
void eng_kindex_clear(struct bindex *x);
struct bslot *eng_kindex_probe(const struct sync_engine *e, struct bindex *x, uint64_t h,
			       kindex_same_fn *same, const void *arg);
void eng_hdr_fill(const struct sync_engine *e, struct sync_hdr *h, uint32_t dest, uint64_t now_ns);
const uint8_t *eng_frame(struct sync_engine *e, size_t *len);
int eng_emit(struct sync_engine *e, uint32_t dest, size_t len);
void eng_send_heartbeat(struct sync_engine *e, uint64_t now_ns);
void eng_send_resync_request(struct sync_engine *e, struct peer *p, uint64_t from, uint64_t to,
			     uint64_t now_ns);
void eng_rx_resync_request(struct sync_engine *e, struct rx *x);

/* engine_apply.c */
/* Applies m's entries (but those skip[] says; skip may be NULL), in
 * segments of distinct keys with the store's batch calls if it has them. */
void eng_apply_entries(struct sync_engine *e, struct peer *p, const struct sync_msg *m,
		       const bool *skip, int64_t delta, enum apply_src src, uint64_t now_ns);
int eng_apply_entry(struct sync_engine *e, struct peer *p, const struct sync_entry *en,
		    int64_t delta, enum apply_src src, uint64_t now_ns);
void eng_tomb_put(struct sync_engine *e, unsigned int map, const void *key, uint32_t key_len,
		  uint64_t version, uint32_t node, uint64_t now_ns);
void eng_tomb_expire(struct sync_engine *e, uint64_t now_ns);
void eng_tombs_free(struct sync_engine *e);
void eng_want_range(struct sync_engine *e, size_t pi, uint64_t from, uint64_t to, uint64_t now_ns);
void eng_peers_tick(struct sync_engine *e, uint64_t now_ns);
void eng_rx_resync_gone(struct sync_engine *e, struct rx *x);

/* engine_snapshot.c */
struct pull *eng_pull_new(struct sync_engine *e, size_t peer, enum pull_kind kind);
void eng_pull_free(struct sync_engine *e, struct pull *pl);
struct pull *eng_pull_full_of(struct sync_engine *e, size_t peer);
void eng_pull_full(struct sync_engine *e, size_t peer, bool startup, uint64_t now_ns);
void eng_pulls_peer_heard(struct sync_engine *e, size_t pi, uint64_t now_ns);
void eng_send_pull_request(struct sync_engine *e, struct pull *pl, uint64_t now_ns);
void eng_rx_snapshot_request(struct sync_engine *e, struct rx *x);
void eng_rx_snapshot_chunk(struct sync_engine *e, struct rx *x);
void eng_rx_snapshot_end(struct sync_engine *e, struct rx *x);
void eng_rx_snapshot_ack(struct sync_engine *e, struct rx *x);
void eng_update_ready(struct sync_engine *e, uint64_t now_ns);
void eng_pulls_tick(struct sync_engine *e, uint64_t now_ns);
bool eng_serves_tick(struct sync_engine *e, uint64_t now_ns);
void eng_snapshot_peer_restarted(struct sync_engine *e, size_t pi);
void eng_snapshot_free(struct sync_engine *e);

/* engine_digest.c */
int eng_digest_init(struct sync_engine *e);
void eng_digest_free(struct sync_engine *e);
void eng_start_prune(struct sync_engine *e, struct pull *pl);
void eng_note_stream_key(struct sync_engine *e, size_t pi, const struct sync_entry *en);
void eng_rx_digest(struct sync_engine *e, struct rx *x);
bool eng_digest_tick(struct sync_engine *e, uint64_t now_ns);
void eng_digest_peer_restarted(struct sync_engine *e, size_t pi);

/* engine_services.c */
void eng_services_free(struct sync_engine *e);
const uint64_t *eng_services_digest(const struct sync_engine *e);
void eng_services_heard(struct sync_engine *e, struct peer *p, const Xlbsync__Heartbeat *hb,
			uint64_t now_ns);
void eng_rx_services_request(struct sync_engine *e, struct rx *x);
void eng_rx_services_chunk(struct sync_engine *e, struct rx *x);

#endif /* SYNCD_ENGINE_PRIV_H */
