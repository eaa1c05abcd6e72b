/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lbd -> syncd: the deletes lbd makes from user space (session ageing) are
 * invisible to the map-change capture (docs/design.md decision 3), so lbd hands
 * each one to this node's syncd over a Unix datagram socket
 * (sync.local_socket), as sync BATCH envelopes of DELETE entries; syncd
 * replicates them like any captured change. If syncd is not running the
 * datagram is refused and counted; anti-entropy repairs the peers later.
 */
#ifndef LBD_SYNCLINK_H
#define LBD_SYNCLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "xdplb.h"

struct synclink;

struct synclink_stats {
	uint64_t sent, entries, refused;
};

/* NULL if sync is disabled in cfg (or out of memory). Runs on loop. */
struct synclink *synclink_new(uv_loop_t *loop, const struct lbd_config *cfg);
void synclink_free(struct synclink *s);
/* An ageing hook (ageing_delete_hook): queues the session and its reverse
 * entry; they leave at the end of the loop iteration. */
void synclink_session_deleted(void *arg, const struct xlb_flow_key *key,
			      const struct xlb_session *s, const struct xlb_reverse *rev);
void synclink_get_stats(const struct synclink *s, struct synclink_stats *st);

#endif
