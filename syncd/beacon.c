// SPDX-License-Identifier: BSD-2-Clause
/* The beacon thread (beacon.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "beacon.h"
#include "clock.h"
#include "log.h"

#define BEACON_NICE -10 /* without CAP_SYS_NICE for SCHED_FIFO */

struct beacon {
	const struct sync_engine *e;
	struct transport *t;
	uint64_t period_ns, stall_max_ns;
	_Atomic uint64_t *loop_ns;
	_Atomic bool stop;
	pthread_t th;
	uint8_t buf[512];
};

/* SCHED_FIFO 1, else nice -10, else as it is: what it got, for the log. */
static const char *raise_priority(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (!pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
		return "SCHED_FIFO 1";
	if (!setpriority(PRIO_PROCESS, (id_t)gettid(), BEACON_NICE))
		return "nice -10 (no CAP_SYS_NICE for SCHED_FIFO)";
	return "the process's priority (no CAP_SYS_NICE)";
}

static void *beacon_main(void *arg)
{
	struct beacon *b = arg;
	bool held = false;
	struct timespec ts;
	uint64_t next, now;
	size_t len;

	log_info("beacons every %llu ms from a thread at %s",
		 (unsigned long long)(b->period_ns / XLB_NSEC_PER_MSEC), raise_priority());
	next = xlb_mono_ns();
	while (!atomic_load(&b->stop)) {
		next += b->period_ns;
		ts.tv_sec = (time_t)(next / XLB_NSEC_PER_SEC);
		ts.tv_nsec = (long)(next % XLB_NSEC_PER_SEC);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		now = xlb_mono_ns();
		if (next + b->period_ns < now)
			next = now; /* this thread was held up too: no burst */
		if (now - atomic_load(b->loop_ns) > b->stall_max_ns) {
			if (!held)
				log_warn("main loop held up for more than %llu ms: beacons stop "
					 "until "
					 "it runs (peers will see this node dead)",
					 (unsigned long long)(b->stall_max_ns / XLB_NSEC_PER_MSEC));
			held = true;
			continue;
		}
		if (held)
			log_info("main loop runs again: beacons resume");
		held = false;
		if (!sync_engine_beacon(b->e, now, b->buf, sizeof(b->buf), &len))
			transport_send_beacon(b->t, b->buf, len);
	}
	return NULL;
}

struct beacon *beacon_start(const struct sync_engine *e, struct transport *t, uint32_t period_ms,
			    uint32_t stall_max_ms, _Atomic uint64_t *loop_ns, char *err,
			    size_t errlen)
{
	struct beacon *b = calloc(1, sizeof(*b));
	int r;

	if (!b) {
		snprintf(err, errlen, "beacon thread: out of memory");
		return NULL;
	}
	b->e = e;
	b->t = t;
	b->period_ns = (uint64_t)period_ms * XLB_NSEC_PER_MSEC;
	b->stall_max_ns = (uint64_t)stall_max_ms * XLB_NSEC_PER_MSEC;
	b->loop_ns = loop_ns;
	r = pthread_create(&b->th, NULL, beacon_main, b);
	if (r) {
		snprintf(err, errlen, "beacon thread: %s", strerror(r));
		free(b);
		return NULL;
	}
	return b;
}

void beacon_stop(struct beacon *b)
{
	if (!b)
		return;
	atomic_store(&b->stop, true);
	pthread_join(b->th, NULL);
	free(b);
}
