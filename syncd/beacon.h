/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Beacons: this node's liveness, sent by a thread of its own beside the
 * main loop. A peer declares this node dead when it hears nothing from it
 * for dead_after_ms (liveness.h); the main loop's heartbeats stop when the
 * loop is held up (a slow or overloaded host, an emulated one, a long
 * apply), so a live node could be declared dead and its sessions adopted.
 * The beacon thread runs at a real-time priority (SCHED_FIFO 1; nice -10
 * without CAP_SYS_NICE), wakes every heartbeat_ms for a few microseconds
 * and sends a BEACON (sync_engine_beacon()), which peers take as any
 * message from this node. It stops beaconing while the main loop has not
 * run for stall_max_ms (the loop is hung, not slow: peers must then see
 * this node dead), and dies with the process, so real failures are
 * detected as fast as before.
 */
#ifndef SYNCD_BEACON_H
#define SYNCD_BEACON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "transport.h"

struct beacon;

/* loop_ns: CLOCK_MONOTONIC ns of the main loop's last tick (it stores it).
 * NULL with one line in err. */
struct beacon *beacon_start(const struct sync_engine *e, struct transport *t, uint32_t period_ms,
			    uint32_t stall_max_ms, _Atomic uint64_t *loop_ns, char *err,
			    size_t errlen);
void beacon_stop(struct beacon *b);

#endif /* SYNCD_BEACON_H */
