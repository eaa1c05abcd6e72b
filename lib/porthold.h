/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * SNAT ports on hold: a port freed by a TCP session that ended goes back to
 * the pool only once the backend can no longer hold the old connection in
 * TIME_WAIT for it (snat.port_hold_s, docs/design.md decision 12). A FIFO
 * of (port, due time); both lbd (the sessions it ages) and syncd (the
 * sessions a peer removed) hold ports in one, and release what is due on
 * their ticks. Not thread-safe; no allocation after port_hold_init().
 */
#ifndef XLB_PORTHOLD_H
#define XLB_PORTHOLD_H

#include <stdint.h>

struct port_hold_slot {
	uint64_t due_ns;
	uint16_t port;
};

struct port_hold {
	struct port_hold_slot *q;
	uint32_t cap, head, n;
	uint64_t held, released, overflows;
};

/* cap: at most that many ports on hold (a port range's size). 0 or
 * -ENOMEM. */
int port_hold_init(struct port_hold *h, uint32_t cap);
void port_hold_free(struct port_hold *h);

/* Hold port until due_ns (CLOCK_MONOTONIC). -ENOSPC when full: the caller
 * then releases it at once (counted in overflows). */
int port_hold_put(struct port_hold *h, uint16_t port, uint64_t due_ns);

/* Hands fn every port due at now_ns, oldest first, until fn fails (that
 * port stays on hold). Returns how many were released. The FIFO is in
 * order of put: a port put later with an earlier due time waits behind
 * the ones before it, never the reverse, so none leaves early. */
uint32_t port_hold_release(struct port_hold *h, uint64_t now_ns,
			   int (*fn)(void *arg, uint16_t port), void *arg);

#endif /* XLB_PORTHOLD_H */
