/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Session ageing: a libuv timer scans the sessions map in bounded steps and
 * deletes this node's sessions that have been idle longer than the timeout
 * of their state, with their reverse entry, returning the SNAT port to the
 * pool.
 *
 * User-space deletes are not seen by the data plane's capture (docs/design.md
 * decision 3), so every delete is offered to the registered hooks; syncd
 * integration publishes them to the peers from there.
 */
#ifndef LBD_AGEING_H
#define LBD_AGEING_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dataplane.h"

struct ageing;

/* Called after a session was deleted by user space. rev: its reverse
 * entry as it was when deleted with it, or NULL if none was deleted. */
typedef void (*ageing_delete_hook)(void *arg, const struct xlb_flow_key *key,
				   const struct xlb_session *s, const struct xlb_reverse *rev);

struct ageing_stats {
	uint64_t ticks;
	uint64_t passes;	  /* complete scans of the sessions map */
	uint64_t scanned;	  /* entries looked at */
	uint64_t aged;		  /* sessions deleted */
	uint64_t reverse_deleted; /* reverse entries deleted with them */
	uint64_t ports_returned;  /* SNAT ports pushed back to the pool */
	uint64_t ports_held;	  /* ... of TCP sessions put on hold first, for
				   * snat.port_hold_s after their last packet
				   * (the backend's TIME_WAIT) */
	uint64_t ports_on_hold;	  /* ports waiting for it now */
	uint64_t ports_hold_full; /* hold full: port returned at once */
	uint64_t ports_foreign;	  /* SNAT ports of aged sessions outside this
					 * node's range/address (adopted from a
					 * peer): not pushed to this node's pool */
	uint64_t delete_races;	  /* session gone or refreshed before delete */
	uint64_t errors;	  /* map errors */
	uint64_t user_deletes;	  /* deletes offered to the hooks */
	uint64_t backends_reset;  /* backends marked so that their sessions'
				     * clients get a RST: gone longer than
				     * timeouts.backend_gone */
	uint64_t vip_gone;	  /* sessions deleted because their VIP is gone
				   * (deleted, or not in the config any more) */
	uint64_t last_pass_ms;	  /* duration of the last complete scan */
};

/* Entries examined per tick at most (a tick also stops after 20 ms), so a
 * big table never stalls the loop. */
#define AGEING_BUDGET	 65536
#define AGEING_MAX_HOOKS 4

struct ageing *ageing_new(uv_loop_t *loop, struct dataplane *dp, const struct node_config *cfg);
int ageing_start(struct ageing *a);
int ageing_add_hook(struct ageing *a, ageing_delete_hook fn, void *arg);
/* One bounded step (what the timer runs). Returns entries scanned or -errno. */
int ageing_tick(struct ageing *a, uint64_t now_ns);
void ageing_get_stats(const struct ageing *a, struct ageing_stats *st);
/* Backend id left (health down, removed: gone) or is back, at now_ns: with
 * sessions.timeouts.backend_gone, that long after it left its connections
 * are reset at their next client segment (mark_resets()). */
void ageing_backend_gone(struct ageing *a, uint32_t id, bool gone, uint64_t now_ns);
/* Stop the timer; memory is released once the loop has closed it. */
void ageing_free(struct ageing *a);

#endif
