// SPDX-License-Identifier: BSD-2-Clause
/* SNAT ports on hold until TIME_WAIT is over (porthold.h). */
#include <errno.h>
#include <stdlib.h>

#include "porthold.h"

int port_hold_init(struct port_hold *h, uint32_t cap)
{
	*h = (struct port_hold){ 0 };
	if (!cap)
		return 0;
	h->q = calloc(cap, sizeof(*h->q));
	if (!h->q)
		return -ENOMEM;
	h->cap = cap;
	return 0;
}

void port_hold_free(struct port_hold *h)
{
	free(h->q);
	*h = (struct port_hold){ 0 };
}

int port_hold_put(struct port_hold *h, uint16_t port, uint64_t due_ns)
{
	struct port_hold_slot *s;

	if (h->n == h->cap) {
		h->overflows++;
		return -ENOSPC;
	}
	s = &h->q[(h->head + h->n) % h->cap];
	s->port = port;
	s->due_ns = due_ns;
	h->n++;
	h->held++;
	return 0;
}

uint32_t port_hold_release(struct port_hold *h, uint64_t now_ns,
			   int (*fn)(void *arg, uint16_t port), void *arg)
{
	uint32_t done = 0;

	while (h->n && h->q[h->head].due_ns <= now_ns) {
		if (fn(arg, h->q[h->head].port) < 0)
			break;
		h->head = (h->head + 1) % h->cap;
		h->n--;
		h->released++;
		done++;
	}
	return done;
}
