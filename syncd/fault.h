/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Fault injection for the cluster tests, as a decorator of the transport's
 * receive side: with XLB_SYNCD_FAULT_DROP_PCT=N (1..100) in the
 * environment, fault_toggle() (syncd: SIGUSR1) turns on and off dropping
 * N% of the messages received from peers, as if the network had lost
 * them, before the receiver sees them. Without the variable there is no
 * fault object and nothing between the transport and the receiver.
 */
#ifndef SYNCD_FAULT_H
#define SYNCD_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

#define FAULT_ENV_DROP_PCT "XLB_SYNCD_FAULT_DROP_PCT"

struct fault;

/* NULL when the environment asks for no fault (unset, or N <= 0); N above
 * 100 reads 100. Starts off. */
struct fault *fault_from_env(void);
void fault_free(struct fault *f);

/*
 * Puts f between the transport and the receiver *rx(*arg): on return *rx
 * and *arg are f's, to hand to transport_open(); f passes each message on
 * to the receiver given, unless it drops it. No-op for f NULL.
 */
void fault_wrap(struct fault *f, transport_rx_fn *rx, void **arg);

/* Turns dropping on or off (logged); returns the new state. False for NULL. */
bool fault_toggle(struct fault *f);
/* Messages dropped so far (0 for NULL). */
uint64_t fault_dropped(const struct fault *f);

#endif /* SYNCD_FAULT_H */
