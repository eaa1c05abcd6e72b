// SPDX-License-Identifier: BSD-2-Clause
/* Peer liveness (liveness.h). */
#include <string.h>

#include "liveness.h"

void liveness_heard(struct liveness *l, uint64_t now_ns, uint64_t sent_ns, uint64_t dead_after_ns)
{
	/* the peer's own clock orders its messages; a reordered or
	 * retransmitted one says nothing about its stalls, and a gap longer
	 * than any allowance (a restart, a long partition) is no stall */
	if (sent_ns && l->last_sent_ns && sent_ns > l->last_sent_ns &&
	    sent_ns - l->last_sent_ns < dead_after_ns * LIVENESS_MAX_FACTOR) {
		l->gaps[l->next] = sent_ns - l->last_sent_ns;
		l->next = (l->next + 1) % LIVENESS_WINDOW;
	}
	if (sent_ns > l->last_sent_ns)
		l->last_sent_ns = sent_ns;
	if (now_ns > l->last_heard_ns)
		l->last_heard_ns = now_ns;
}

void liveness_stalled(struct liveness *l, uint64_t stall_ns)
{
	if (l->last_heard_ns)
		l->last_heard_ns += stall_ns;
}

uint64_t liveness_allowed_ns(const struct liveness *l, uint64_t dead_after_ns)
{
	uint64_t longest = 0, allowed, cap = dead_after_ns * LIVENESS_MAX_FACTOR;
	unsigned int i;

	for (i = 0; i < LIVENESS_WINDOW; i++)
		if (l->gaps[i] > longest)
			longest = l->gaps[i];
	allowed = longest * LIVENESS_GAP_FACTOR;
	if (allowed < dead_after_ns)
		return dead_after_ns;
	return allowed > cap ? cap : allowed;
}

bool liveness_expired(const struct liveness *l, uint64_t now_ns, uint64_t dead_after_ns)
{
	if (!l->last_heard_ns || now_ns <= l->last_heard_ns)
		return false;
	return now_ns - l->last_heard_ns >= liveness_allowed_ns(l, dead_after_ns);
}

void liveness_forget_stalls(struct liveness *l)
{
	memset(l->gaps, 0, sizeof(l->gaps));
	l->last_sent_ns = 0;
}
