/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the capture tests (test_capture: inline mode on any
 * kernel; test_capture_kprobe: kprobe and fentry modes, run in the VM):
 * an event collector for sync_capture_poll(), packet helpers on the
 * standard data-plane configuration of dp_fixture, and record checks.
 */
#ifndef XLB_CAPTURE_FIXTURE_H
#define XLB_CAPTURE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "dp_fixture.h"

#define CAP_EVENTS_MAX 64

struct cap_events {
	struct xlb_sync_event ev[CAP_EVENTS_MAX];
	int n;	   /* records kept */
	int total; /* records delivered (may exceed CAP_EVENTS_MAX) */
};

/* Poll @c until its ring buffer is empty, collecting into @ce (reset
 * first). Returns the number of records; fails the test on an error. */
int cap_drain(struct sync_capture *c, struct cap_events *ce);

/* Kernel id of the map behind @fd (0 on error). */
uint32_t cap_map_id(int fd);

/* sync_capture_map entries for this env's sessions and reverse maps. */
void cap_lb_maps(struct dp_env *e, struct sync_capture_map m[2]);

/* Client -> standard VIP packet and backend 1 -> SNAT reply. */
struct dp_pkt_spec cap_reply_to(uint16_t snat_port, uint8_t flags);
/* One BPF_PROG_TEST_RUN pass; returns the verdict (fails the test on a
 * test-run error). */
uint32_t cap_send(struct dp_env *e, const struct dp_pkt_spec *p);

/* Keys of the standard TCP VIP flow of client port @cport and of its
 * reverse entry for SNAT port @snat_port. */
void cap_fwd_key(struct xlb_flow_key *k, uint16_t cport);
void cap_rev_key(struct xlb_flow_key *k, uint16_t snat_port);

/*
 * Check one record: map id, op, source, and key/value sizes and bytes
 * (@value NULL: value_size must be 0).
 */
void cap_expect(const struct xlb_sync_event *ev, uint32_t map_id, uint8_t op, uint8_t source,
		const void *key, size_t key_size, const void *value, size_t value_size);

/* The record must be the current content of @fd at @key (an update). */
void cap_expect_current(const struct xlb_sync_event *ev, int fd, uint8_t source, const void *key,
			size_t key_size, size_t value_size);

/*
 * Inline mode reads the data plane's maps from its pin dir. cap_bpffs()
 * enters a private mount namespace and mounts a bpffs on a new directory
 * under /tmp (its path in @dir); cap_pin() pins this env's maps there the
 * way lbd does (sessions, reverse, stats, sync_events, sync_ctl);
 * cap_unpin() removes them. 0 or -errno.
 */
int cap_bpffs(char *dir, size_t len);
int cap_pin(struct dp_env *e, const char *dir);
void cap_unpin(const char *dir);
void cap_bpffs_done(const char *dir);
/* What every capture test's main() does first: a private network namespace
 * (dp_netns_setup()) and cap_bpffs(). 0, or 77 (skip) with one line on
 * stderr saying which could not be set up. */
int cap_test_prepare(char *dir, size_t len);

/* Loads the data plane with the standard test config (pool of pool_n
 * ports), pins its maps under a new pin_dir and fills maps[] with its
 * sessions and reverse maps. 0, or -1 with the reason on stderr. */
int cap_env_setup(struct dp_env *e, uint32_t max_sessions, uint32_t pool_n, char *pin_dir,
		  struct sync_capture_map maps[2]);

#endif
