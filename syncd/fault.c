// SPDX-License-Identifier: BSD-2-Clause
/* Test-only message loss between the transport and its receiver; see fault.h. */
#include <stdlib.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"

#define PCT_MAX 100

struct fault {
	unsigned int drop_pct;
	bool on;
	uint64_t dropped;
	transport_rx_fn rx; /* the receiver decorated */
	void *arg;
};

struct fault *fault_from_env(void)
{
	const char *v = getenv(FAULT_ENV_DROP_PCT);
	struct fault *f;
	int pct;

	pct = v ? atoi(v) : 0;
	if (pct <= 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->drop_pct = pct > PCT_MAX ? PCT_MAX : (unsigned int)pct;
	srandom((unsigned int)getpid());
	return f;
}

void fault_free(struct fault *f)
{
	free(f);
}

static void fault_rx(void *arg, const uint8_t *buf, size_t len)
{
	struct fault *f = arg;

	if (f->on && (unsigned int)(random() % PCT_MAX) < f->drop_pct) {
		f->dropped++;
		return;
	}
	f->rx(f->arg, buf, len);
}

void fault_wrap(struct fault *f, transport_rx_fn *rx, void **arg)
{
	if (!f)
		return;
	f->rx = *rx;
	f->arg = *arg;
	*rx = fault_rx;
	*arg = f;
}

bool fault_toggle(struct fault *f)
{
	if (!f)
		return false;
	f->on = !f->on;
	log_warn("fault injection %s: dropping %u%% of received sync messages "
		 "(%llu dropped so far)",
		 f->on ? "ON" : "OFF", f->drop_pct, (unsigned long long)f->dropped);
	return f->on;
}

uint64_t fault_dropped(const struct fault *f)
{
	return f ? f->dropped : 0;
}
