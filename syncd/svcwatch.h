/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * syncd's comparison of service sets (docs/design.md decision 13). Every
 * SVCWATCH_PERIOD_MS it reads this node's set from the data plane
 * (services.h), hands a changed one to the engine (whose heartbeats
 * announce its digest), and compares it with each peer's as the engine
 * received it (svcset.h): equal, differing (each difference one line,
 * logged when it appears and when it is gone, at a limited rate), or not
 * known yet. While a peer differs in a way that makes it refuse this
 * node's sessions (a VIP or a backend it lacks, another mode, another
 * backend address), a walk of the sessions map in slices counts them:
 * the sessions whose connections would break if their packets moved to
 * that peer (unprotected).
 */
#ifndef SYNCD_SVCWATCH_H
#define SYNCD_SVCWATCH_H

#include <stdint.h>

#include <json-c/json.h>

#include "engine.h"
#include "services.h"
#include "store.h"

#define SVCWATCH_PERIOD_MS 250
#define SVCWATCH_WALK_MAX  65536 /* sessions visited per period */
#define SVCWATCH_LINES_MAX 32	 /* difference lines kept per peer */

struct svcwatch;

/* sessions_map: the store's index of the sessions map, -1: none (no
 * unprotected count). NULL on ENOMEM. */
struct svcwatch *svcwatch_new(const char *node_name, struct svc_backends *b, struct sync_engine *e,
			      const struct sync_store_ops *store, void *store_ctx,
			      int sessions_map);
void svcwatch_free(struct svcwatch *w);

/* Every SVCWATCH_PERIOD_MS (and once at start, before the engine starts). */
void svcwatch_tick(struct svcwatch *w, uint64_t now_ns);

/* "services" of syncd status: this node's digest and counts, and per peer
 * (index as the engine's) its state, differences and unprotected count. */
struct json_object *svcwatch_json(const struct svcwatch *w);
struct json_object *svcwatch_peer_json(const struct svcwatch *w, size_t peer);

#endif /* SYNCD_SVCWATCH_H */
