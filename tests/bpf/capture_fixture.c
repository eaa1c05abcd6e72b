// SPDX-License-Identifier: BSD-2-Clause
/* Helpers for the capture tests; see capture_fixture.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mount.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "capture_fixture.h"

static void collect(void *arg, const struct xlb_sync_event *ev)
{
	struct cap_events *ce = arg;

	if (ce->n < CAP_EVENTS_MAX)
		ce->ev[ce->n++] = *ev;
	ce->total++;
}

int cap_drain(struct sync_capture *c, struct cap_events *ce)
{
	int r;

	memset(ce, 0, sizeof(*ce));
	do {
		r = sync_capture_poll(c, collect, ce);
		if (r < 0)
			fail_msg("sync_capture_poll: %s", strerror(-r));
	} while (r > 0);
	return ce->total;
}

uint32_t cap_map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

void cap_lb_maps(struct dp_env *e, struct sync_capture_map m[2])
{
	memset(m, 0, 2 * sizeof(*m)); /* no batch slots registered */
	m[0].name = XLB_MAP_SESSIONS;
	m[0].id = cap_map_id(dp_fd_sessions(e));
	m[0].key_size = sizeof(struct xlb_flow_key);
	m[0].value_size = sizeof(struct xlb_session);
	m[1].name = XLB_MAP_REVERSE;
	m[1].id = cap_map_id(dp_fd_reverse(e));
	m[1].key_size = sizeof(struct xlb_flow_key);
	m[1].value_size = sizeof(struct xlb_reverse);
}

/* dp_reply_to() without payload and IP id */
struct dp_pkt_spec cap_reply_to(uint16_t snat_port, uint8_t flags)
{
	struct dp_pkt_spec s = dp_reply_to(snat_port, flags);

	s.ip_id = 0;
	s.payload_len = 0;
	return s;
}

uint32_t cap_send(struct dp_env *e, const struct dp_pkt_spec *p)
{
	uint8_t in[DP_PKT_MAX], out[DP_PKT_MAX];
	size_t in_len, out_len = sizeof(out);
	uint32_t verdict = 0;
	int r;

	in_len = dp_build(in, sizeof(in), p);
	assert_true(in_len > 0);
	r = dp_run(e, in, in_len, out, &out_len, &verdict);
	if (r)
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(-r));
	return verdict;
}

void cap_fwd_key(struct xlb_flow_key *k, uint16_t cport)
{
	dp_flow_key(k, DP_CLIENT, dp_vip_addr(DP_VIP_TCP), cport, dp_vip_port(DP_VIP_TCP),
		    IPPROTO_TCP);
}

void cap_rev_key(struct xlb_flow_key *k, uint16_t snat_port)
{
	dp_flow_key(k, DP_BE1, DP_SNAT, 8080, snat_port, IPPROTO_TCP);
}

void cap_expect(const struct xlb_sync_event *ev, uint32_t map_id, uint8_t op, uint8_t source,
		const void *key, size_t key_size, const void *value, size_t value_size)
{
	assert_int_equal(ev->map_id, map_id);
	assert_int_equal(ev->op, op);
	assert_int_equal(ev->source, source);
	assert_int_equal(ev->pad, 0);
	assert_int_equal(ev->pad2, 0);
	assert_true(ev->ts_ns > 0);
	assert_int_equal(ev->key_size, key_size);
	assert_memory_equal(ev->key, key, key_size);
	if (!value) {
		assert_int_equal(ev->value_size, 0);
		return;
	}
	assert_int_equal(ev->value_size, value_size);
	assert_memory_equal(ev->value, value, value_size);
}

void cap_expect_current(const struct xlb_sync_event *ev, int fd, uint8_t source, const void *key,
			size_t key_size, size_t value_size)
{
	uint8_t cur[XLB_SYNC_VALUE_MAX];

	assert_true(value_size <= sizeof(cur));
	if (bpf_map_lookup_elem(fd, key, cur))
		fail_msg("record for a key that is not in the map: %s", strerror(errno));
	cap_expect(ev, cap_map_id(fd), XLB_SYNC_OP_UPDATE, source, key, key_size, cur, value_size);
}

static const char *const pinned[] = {
	XLB_MAP_SESSIONS, XLB_MAP_REVERSE, XLB_MAP_STATS, XLB_MAP_SYNC_EVENTS, XLB_MAP_SYNC_CTL,
};

int cap_bpffs(char *dir, size_t len)
{
	if (unshare(CLONE_NEWNS))
		return -errno;
	/* keep our mounts out of the parent namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	if (snprintf(dir, len, "/tmp/xlbcap.XXXXXX") >= (int)len || !mkdtemp(dir))
		return -errno;
	if (mount("bpf", dir, "bpf", 0, NULL)) {
		int e = errno;

		rmdir(dir);
		return -e;
	}
	return 0;
}

int cap_test_prepare(char *dir, size_t len)
{
	int err = dp_netns_setup();

	if (err) {
		fprintf(stderr, "skip: cannot set up a network namespace: %s\n", strerror(-err));
		return 77;
	}
	err = cap_bpffs(dir, len);
	if (err) {
		fprintf(stderr, "skip: cannot mount a private bpffs: %s\n", strerror(-err));
		return 77;
	}
	return 0;
}

void cap_bpffs_done(const char *dir)
{
	umount(dir);
	rmdir(dir);
}

int cap_pin(struct dp_env *e, const char *dir)
{
	char path[256];
	size_t i;

	cap_unpin(dir);
	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(e->skel->obj, pinned[i]);

		snprintf(path, sizeof(path), "%s/%s", dir, pinned[i]);
		if (!m)
			return -ENOENT;
		if (bpf_obj_pin(bpf_map__fd(m), path))
			return -errno;
	}
	return 0;
}

void cap_unpin(const char *dir)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pinned[i]);
		unlink(path);
	}
}

int cap_env_setup(struct dp_env *e, uint32_t max_sessions, uint32_t pool_n, char *pin_dir,
		  struct sync_capture_map maps[2])
{
	int err = dp_env_open(e, max_sessions);

	if (err) {
		fprintf(stderr, "failed to load lb: %s\n", strerror(-err));
		return -1;
	}
	if (dp_std_config(e, pool_n) || cap_pin(e, pin_dir)) {
		fprintf(stderr, "failed to configure or pin lb\n");
		dp_env_close(e);
		return -1;
	}
	cap_lb_maps(e, maps);
	return 0;
}
