/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lbd -> syncd: the deletes lbd makes from user space (session ageing) are
 * invisible to the map-change capture (docs/design.md decision 3), so lbd hands
 * each one to this node's syncd over a Unix datagram socket
 * (sync.local_socket) as the capture's own record (lib/synclocal.h); syncd
 * replicates them like any captured change. If syncd is not running the
 * datagram is refused and dropped; anti-entropy repairs the peers later.
 */
#ifndef LBD_SYNCLINK_H
#define LBD_SYNCLINK_H

#include <uv.h>

#include "config.h"
#include "dataplane.h"
#include "xdplb.h"

struct synclink;

/* NULL if sync is disabled in cfg, or (logged) if the link cannot be set
 * up. Runs on loop; dp's sessions and reverse maps name the records. */
struct synclink *synclink_new(uv_loop_t *loop, const struct node_config *cfg,
			      const struct dataplane *dp);
void synclink_free(struct synclink *s);
/* An ageing hook (ageing_delete_hook): queues the session and its reverse
 * entry; they leave at the end of the loop iteration. */
void synclink_session_deleted(void *arg, const struct xlb_flow_key *key,
			      const struct xlb_session *s, const struct xlb_reverse *rev);

#endif
