/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Map-change capture (docs/design.md decision 6): kprobe, fentry or inline, all
 * producing struct xlb_sync_event (bpf/xdplb.h) into a BPF ring buffer.
 *
 *  kprobe  bpf/mapsync.bpf.c: kprobe + kretprobe on htab_map_update_elem /
 *          htab_map_delete_elem (and the LRU variants): the entry probe
 *          keeps the arguments, the return probe emits the event only if
 *          the write succeeded and the map id is registered.
 *  fentry  the same on BPF trampolines (fexit sees arguments and return
 *          value together); syncd's own syscall writes are filtered out by
 *          its tgid.
 *  inline  the data plane (bpf/lb.bpf.c) emits the event itself into the
 *          pinned sync_events ring buffer after each successful lifecycle
 *          write, while sync_ctl says so; turned off again on close.
 *  auto    tries kprobe, fentry, inline in that order.
 */
#ifndef SYNCD_CAPTURE_H
#define SYNCD_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xdplb.h"

enum sync_capture_mode {
	SYNC_CAPTURE_AUTO = 0,
	SYNC_CAPTURE_KPROBE,
	SYNC_CAPTURE_FENTRY,
	SYNC_CAPTURE_INLINE,
};

const char *sync_capture_mode_str(enum sync_capture_mode m);
/* "auto" | "kprobe" | "fentry" | "inline"; 0 or -EINVAL */
int sync_capture_mode_parse(const char *s, enum sync_capture_mode *m);

/* A watched map of this node, resolved from its pin. */
struct sync_capture_map {
	const char *name;
	uint32_t id; /* kernel map id */
	uint32_t key_size, value_size;
	/* syncd's batch slots for this map (store_bpf_self_range()): writes
	 * whose key lies in [self_lo, self_hi) are not captured; 0, 0: none */
	uint64_t self_lo, self_hi;
};

struct sync_capture;

typedef void (*sync_capture_cb)(void *arg, const struct xlb_sync_event *ev);

/*
 * Opens the capture for maps[0..n). pin_dir is this node's pin directory
 * (inline mode uses its sync_events and sync_ctl pins). Returns NULL with
 * one line in err naming what failed (for auto: why each mode failed).
 * A map whose key or value does not fit the record is refused here.
 */
struct sync_capture *sync_capture_open(enum sync_capture_mode mode, const char *pin_dir,
				       const struct sync_capture_map *maps, size_t n, char *err,
				       size_t errlen);
/* The mode in use (never AUTO). */
enum sync_capture_mode sync_capture_mode(const struct sync_capture *c);
/* An fd that is readable when events are waiting (ring buffer epoll fd). */
int sync_capture_fd(const struct sync_capture *c);
/* Consumes every waiting event through cb. Returns the count or -errno. */
int sync_capture_poll(struct sync_capture *c, sync_capture_cb cb, void *arg);
/*
 * Records this capture owed syncd and did not deliver, since it was opened,
 * by reason. Every one of them is a change a peer may not have heard of.
 */
struct sync_capture_loss {
	uint64_t ringbuf;    /* the ring buffer was full */
	uint64_t unreadable; /* kprobe/fentry: key or value unreadable */
	uint64_t unpaired;   /* kprobe: return probe without its entry */
	uint64_t stale;	     /* kprobe: entry probe without its return */
	uint64_t foreign;    /* kprobe: return in another task than entry */
	uint64_t skipped;    /* program runs the kernel skipped and counted */
	uint64_t malformed;  /* records of a wrong size (build mismatch) */
	uint64_t unseen;     /* the write count check: data plane writes
				 * with neither a record nor a count above */
	uint64_t total;	     /* the sum */
	bool write_check;    /* the write count check is on */
};

void sync_capture_get_loss(const struct sync_capture *c, struct sync_capture_loss *l);
/* The loss total (sync_capture_get_loss().total). */
uint64_t sync_capture_lost(const struct sync_capture *c);
/*
 * Compares the records received for the data plane's sessions and reverse
 * maps with the data plane's own count of its writes of them and counts
 * the shortfall as unseen. Call it periodically (every few ms at least),
 * right after draining the ring buffer with sync_capture_poll().
 */
void sync_capture_check(struct sync_capture *c);
/*
 * Fault injection for tests, applied by the next sync_capture_open():
 * ringbuf_bytes (kprobe/fentry: the ring buffer's size, a power of 2 and a
 * multiple of the page size; 0 = XLB_SYNC_RINGBUF_SIZE) makes records find
 * it full; drop_every N (0 = off) throws away every Nth record as it
 * arrives, before any count sees it, as a probe the kernel skipped would.
 */
struct sync_capture_fault {
	uint32_t ringbuf_bytes;
	uint32_t drop_every;
};

void sync_capture_set_fault(const struct sync_capture_fault *f);
/* Records thrown away by drop_every. */
uint64_t sync_capture_fault_dropped(const struct sync_capture *c);

/* Detaches / turns inline off, frees. NULL is fine. */
void sync_capture_close(struct sync_capture *c);

#endif /* SYNCD_CAPTURE_H */
