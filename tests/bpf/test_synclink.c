// SPDX-License-Identifier: BSD-2-Clause
/*
 * lbd's hand-over of its deletes to syncd (lbd/synclink.c): what lbd puts
 * on sync.local_socket is frames that syncd's check accepts
 * (lib/synclocal.h), holding exactly one capture record per deleted entry
 * (the session and its reverse entry: op DELETE, source lbd, the maps'
 * kernel ids, key and value as lbd read them), in order. A syncd that is
 * not there costs lbd nothing but the deletes.
 *
 * The records name real maps by id, so this creates two hash maps: it needs
 * CAP_BPF (root) and exits 77 (skipped) without.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "log.h"
#include "synclink.h"
#include "synclocal.h"

#define N_SESSIONS 300 /* 600 records: more than one frame */

static struct dataplane dp;
static uint32_t sessions_id, reverse_id;
static struct node_config *cfg;
static char dir[] = "/tmp/xlb-synclink-XXXXXX";
static uv_loop_t loop;

/* The real one is in dataplane.c; any fixed function of the session does
 * here, as long as the record carries its result. */
void dp_reverse_key(const struct xlb_flow_key *fwd, const struct xlb_session *s,
		    struct xlb_flow_key *rev)
{
	memset(rev, 0, sizeof(*rev));
	rev->saddr = s->backend;
	rev->daddr = s->snat;
	rev->sport = s->backend_port;
	rev->dport = s->snat_port;
	rev->proto = fwd->proto;
	rev->family = fwd->family;
}

static void session(unsigned int i, struct xlb_flow_key *k, struct xlb_session *s,
		    struct xlb_reverse *r)
{
	memset(k, 0, sizeof(*k));
	memset(s, 0, sizeof(*s));
	memset(r, 0, sizeof(*r));
	k->family = XLB_AF_INET;
	k->proto = 6;
	k->saddr.w[0] = 0x0a000000u + i;
	k->daddr.w[0] = 0x0b000001u;
	k->sport = (uint16_t)(1000 + i);
	k->dport = 80;
	s->backend.w[0] = 0x0c000000u + i;
	s->snat.w[0] = 0x0d000001u;
	s->backend_port = 8080;
	s->snat_port = (uint16_t)(20000 + i);
	s->backend_id = 1 + i % 7;
	s->owner = 3;
	s->state = XLB_SS_ESTABLISHED;
	s->flags = XLB_SF_FNAT;
	s->version = 0x40000001u + 2 * i;
	s->last_seen_ns = 123456789ull * i;
	r->fwd = *k;
	r->owner = 3;
	r->version = s->version;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

static int setup(void **state)
{
	dp.fd_sessions =
		bpf_map_create(BPF_MAP_TYPE_HASH, "t_sessions", sizeof(struct xlb_flow_key),
			       sizeof(struct xlb_session), 16, NULL);
	dp.fd_reverse = bpf_map_create(BPF_MAP_TYPE_HASH, "t_reverse", sizeof(struct xlb_flow_key),
				       sizeof(struct xlb_reverse), 16, NULL);
	if (dp.fd_sessions < 0 || dp.fd_reverse < 0) {
		fprintf(stderr, "test_synclink: cannot create BPF maps (%s): skipped\n",
			strerror(errno));
		exit(77);
	}
	sessions_id = map_id(dp.fd_sessions);
	reverse_id = map_id(dp.fd_reverse);
	assert_non_null(mkdtemp(dir));
	cfg = calloc(1, sizeof(*cfg));
	assert_non_null(cfg);
	cfg->sync.enabled = true;
	snprintf(cfg->sync.local_socket, sizeof(cfg->sync.local_socket), "%s/local.sock", dir);
	assert_int_equal(uv_loop_init(&loop), 0);
	return 0;
}

static int teardown(void **state)
{
	uv_loop_close(&loop);
	unlink(cfg->sync.local_socket);
	rmdir(dir);
	free(cfg);
	close(dp.fd_sessions);
	close(dp.fd_reverse);
	return 0;
}

/* syncd's end of the local socket. */
static int listen_local(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_true(strlen(cfg->sync.local_socket) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, cfg->sync.local_socket, strlen(cfg->sync.local_socket) + 1);
	unlink(sa.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void close_link(struct synclink *s)
{
	synclink_free(s);
	uv_run(&loop, UV_RUN_DEFAULT); /* until its handles are closed */
}

static void test_frames(void **state)
{
	static uint8_t buf[XLB_SYNCLOCAL_FRAME_MAX + 1];
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse r;
	struct xlb_sync_event ev;
	struct synclink *sl;
	unsigned int rec = 0, frames = 0, i;
	int fd = listen_local();
	size_t n, j;
	ssize_t len;

	sl = synclink_new(&loop, cfg, &dp);
	assert_non_null(sl);
	for (i = 0; i < N_SESSIONS; i++) {
		session(i, &k, &s, &r);
		/* every other one without a reverse entry (DSR) */
		synclink_session_deleted(sl, &k, &s, i % 2 ? NULL : &r);
	}
	uv_run(&loop, UV_RUN_NOWAIT); /* the check handle sends them */
	while ((len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC)) > 0) {
		assert_null(xlb_synclocal_check(buf, (size_t)len, &n));
		assert_true(n <= XLB_SYNCLOCAL_MAX_RECORDS);
		frames++;
		for (j = 0; j < n; j++, rec++) {
			bool reverse;

			xlb_synclocal_get_record(buf, j, &ev);
			/* session i, then its reverse entry if it has one */
			i = (rec / 3) * 2 + (rec % 3 == 2);
			reverse = rec % 3 == 1;
			session(i, &k, &s, &r);
			assert_int_equal(ev.op, XLB_SYNC_OP_DELETE);
			assert_int_equal(ev.source, XLB_SYNC_SRC_LBD);
			assert_int_equal(ev.key_size, sizeof(k));
			assert_true(ev.ts_ns > 0);
			if (reverse) {
				dp_reverse_key(&k, &s, &rk);
				assert_int_equal(ev.map_id, reverse_id);
				assert_memory_equal(ev.key, &rk, sizeof(rk));
				assert_int_equal(ev.value_size, sizeof(r));
				assert_memory_equal(ev.value, &r, sizeof(r));
			} else {
				assert_int_equal(ev.map_id, sessions_id);
				assert_memory_equal(ev.key, &k, sizeof(k));
				assert_int_equal(ev.value_size, sizeof(s));
				assert_memory_equal(ev.value, &s, sizeof(s));
			}
		}
	}
	assert_int_equal(rec, N_SESSIONS + N_SESSIONS / 2);
	assert_true(frames >= 2);
	close_link(sl);
	close(fd);
}

/* No syncd listening: the deletes are dropped (logged), nothing blocks, and
 * a syncd that comes back gets the next ones. */
static void test_no_syncd(void **state)
{
	static uint8_t buf[XLB_SYNCLOCAL_FRAME_MAX];
	struct xlb_flow_key k;
	struct xlb_session s;
	struct xlb_reverse r;
	struct synclink *sl;
	size_t n;
	ssize_t len;
	int fd;

	unlink(cfg->sync.local_socket);
	sl = synclink_new(&loop, cfg, &dp);
	assert_non_null(sl);
	session(1, &k, &s, &r);
	synclink_session_deleted(sl, &k, &s, &r);
	uv_run(&loop, UV_RUN_NOWAIT);
	fd = listen_local();
	session(2, &k, &s, &r);
	synclink_session_deleted(sl, &k, &s, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(len > 0);
	assert_null(xlb_synclocal_check(buf, (size_t)len, &n));
	assert_int_equal(n, 1);
	assert_true(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	close_link(sl);
	close(fd);
}

static void test_disabled(void **state)
{
	cfg->sync.enabled = false;
	assert_null(synclink_new(&loop, cfg, &dp));
	cfg->sync.enabled = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_no_syncd),
		cmocka_unit_test(test_disabled),
	};

	xlb_log_init("test_synclink", "t", XLB_LOG_ERR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
