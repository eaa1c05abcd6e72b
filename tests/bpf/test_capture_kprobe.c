// SPDX-License-Identifier: BSD-2-Clause
/*
 * kprobe and fentry capture (bpf/mapsync.bpf.c through syncd's capture
 * library) on the data plane's writes, made by BPF_PROG_TEST_RUN:
 *
 *  - a full-NAT SYN gives exactly one record for sessions and one for
 *    reverse, byte-identical to the map contents; a state change one
 *    record with version + 1; a packet that changes nothing none;
 *  - an unwatched map gives nothing;
 *  - writes through the bpf() syscall: never seen by kprobes; seen by
 *    fentry except those of the capturing process itself (self_tgid);
 *  - writes by syncd's batch programs (bpf/storeio.bpf.c): seen by both,
 *    and dropped when their key lies in the slots registered with the
 *    capture; another process's are reported;
 *  - a failed write (reverse map full) is not reported, the data plane's
 *    undo delete is (value_size 0);
 *  - adoption of a dead peer's session is seen like any lifecycle write;
 *  - the records equal the inline capture's for the same packets (docs/design.md
 *    decision 6: one record, whatever the mode).
 *
 * Packets are sent from a child process: in fentry mode the capture drops
 * every write made in its own process, BPF_PROG_TEST_RUN included.
 *
 * On a kernel without kprobes (this project's machines) the test exits 77;
 * cluster-tests/vm/capture-test runs it on a stock Debian kernel, where it
 * must pass (XLB_VM is set there, and a capture that cannot open fails).
 * fentry parts are skipped, with the reason, where fentry cannot load.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "capture_fixture.h"
#include "store_bpf.h"

#define SESS_MAX 64
#define POOL_N	 16
#define PEER	 9

struct mode {
	enum sync_capture_mode mode;
	uint8_t source; /* XLB_SYNC_SRC_* of its records */
	bool usable;
	char why[1024]; /* why it cannot open, if not usable */
};

static struct mode kprobe = { SYNC_CAPTURE_KPROBE, XLB_SYNC_SRC_KPROBE, false, "" };
static struct mode fentry = { SYNC_CAPTURE_FENTRY, XLB_SYNC_SRC_FENTRY, false, "" };

static struct dp_env env;
static char pin_dir[64];
static struct sync_capture *cap, *cap_inline;
static struct sync_capture_map lbmaps[2];
static struct cap_events ce;

static int setup(void **state)
{
	if (cap_env_setup(&env, SESS_MAX, POOL_N, pin_dir, lbmaps))
		return -1;
	cap = cap_inline = NULL;
	return 0;
}

static int teardown(void **state)
{
	sync_capture_close(cap);
	sync_capture_close(cap_inline);
	cap = cap_inline = NULL;
	cap_unpin(pin_dir);
	dp_env_close(&env);
	return 0;
}

/* Open the capture of the test's mode on the first @n lb maps, or skip. */
static const struct mode *capture_on(void **state, size_t n)
{
	const struct mode *m = *state;
	char err[1024];

	if (!m->usable) {
		print_message("skipped: %s capture cannot open here: %s\n",
			      sync_capture_mode_str(m->mode), m->why);
		skip();
	}
	cap = sync_capture_open(m->mode, pin_dir, lbmaps, n, err, sizeof(err));
	if (!cap)
		fail_msg("%s capture: %s", sync_capture_mode_str(m->mode), err);
	assert_int_equal(sync_capture_mode(cap), m->mode);
	return m;
}

/* One packet through the data plane, from a child process; the verdict. */
static uint32_t send_child(const struct dp_pkt_spec *p)
{
	uint8_t in[DP_PKT_MAX], out[DP_PKT_MAX];
	size_t in_len, out_len = sizeof(out);
	int status;
	pid_t pid;

	in_len = dp_build(in, sizeof(in), p);
	assert_true(in_len > 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		uint32_t verdict = 0;

		_exit(dp_run(&env, in, in_len, out, &out_len, &verdict) ? 255 : (int)verdict);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 255);
	return WEXITSTATUS(status);
}

static uint32_t client(uint16_t cport, uint8_t flags)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, cport, flags);

	return send_child(&p);
}

static uint16_t snat_port_of(uint16_t cport)
{
	struct xlb_flow_key k;
	struct xlb_session s;

	cap_fwd_key(&k, cport);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	return ntohs(s.snat_port);
}

/*
 * Every record arrived, and the capture says so: no loss of any kind, and
 * in kprobe mode the write count check on and in agreement (the pairing of
 * entry and return probes by stack pointer holds on this kernel).
 */
static void expect_no_loss(const struct mode *m)
{
	struct sync_capture_loss l;

	cap_drain(cap, &ce);
	sync_capture_check(cap);
	sync_capture_check(cap);
	sync_capture_get_loss(cap, &l);
	if (l.total)
		fail_msg("%s: lost %llu: ringbuf %llu unreadable %llu entry missed %llu "
			 "return missed %llu other task %llu skipped %llu unseen %llu",
			 sync_capture_mode_str(m->mode), (unsigned long long)l.total,
			 (unsigned long long)l.ringbuf, (unsigned long long)l.unreadable,
			 (unsigned long long)l.unpaired, (unsigned long long)l.stale,
			 (unsigned long long)l.foreign, (unsigned long long)l.skipped,
			 (unsigned long long)l.unseen);
	assert_int_equal(l.write_check, m->source == XLB_SYNC_SRC_KPROBE);
}

/* ------------------------------------------------------------------ */

static void test_syn_and_state(void **state)
{
	const struct mode *m = capture_on(state, 2);
	struct xlb_flow_key k, rk;
	struct xlb_session s;

	assert_int_equal(client(40000, DP_TCP_SYN), XDP_TX);
	cap_fwd_key(&k, 40000);
	cap_rev_key(&rk, snat_port_of(40000));
	assert_int_equal(cap_drain(cap, &ce), 2);
	/* the data plane writes the reverse entry first */
	cap_expect_current(&ce.ev[0], dp_fd_reverse(&env), m->source, &rk, sizeof(rk),
			   sizeof(struct xlb_reverse));
	cap_expect_current(&ce.ev[1], dp_fd_sessions(&env), m->source, &k, sizeof(k),
			   sizeof(struct xlb_session));

	assert_int_equal(client(40000, DP_TCP_ACK), XDP_TX); /* -> ESTABLISHED */
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], dp_fd_sessions(&env), m->source, &k, sizeof(k), sizeof(s));
	memcpy(&s, ce.ev[0].value, sizeof(s));
	assert_int_equal(s.version, 2);
	assert_int_equal(s.state, XLB_SS_ESTABLISHED);

	assert_int_equal(client(40000, DP_TCP_ACK), XDP_TX); /* nothing changes */
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(sync_capture_lost(cap), 0);
	expect_no_loss(m);
}

static void test_unwatched(void **state)
{
	const struct mode *m = capture_on(state, 1); /* sessions only */
	struct xlb_flow_key k;

	assert_int_equal(client(40000, DP_TCP_SYN), XDP_TX);
	cap_fwd_key(&k, 40000);
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], dp_fd_sessions(&env), m->source, &k, sizeof(k),
			   sizeof(struct xlb_session));
}

static void test_syscall_writes(void **state)
{
	const struct mode *m = capture_on(state, 2);
	struct xlb_flow_key k;
	struct xlb_session s;
	int status, fd = dp_fd_sessions(&env);
	pid_t pid;

	memset(&s, 0, sizeof(s));
	s.owner = PEER;
	s.version = 3;
	s.state = XLB_SS_ESTABLISHED;
	cap_fwd_key(&k, 42000);
	/* this process: what syncd's applies look like */
	assert_int_equal(bpf_map_update_elem(fd, &k, &s, BPF_ANY), 0);
	assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
	assert_int_equal(cap_drain(cap, &ce), 0);

	/* another process (say, lbd or bpftool) */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(bpf_map_update_elem(fd, &k, &s, BPF_ANY) ? 1 : 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (m->mode == SYNC_CAPTURE_KPROBE) {
		/* kprobes never fire inside the bpf() syscall */
		assert_int_equal(cap_drain(cap, &ce), 0);
	} else {
		/* trampolines do; only the capturing process is filtered */
		assert_int_equal(cap_drain(cap, &ce), 1);
		cap_expect(&ce.ev[0], lbmaps[0].id, XLB_SYNC_OP_UPDATE, m->source, &k, sizeof(k),
			   &s, sizeof(s));
	}
}

/* syncd's store on the pinned sessions map, with its batch programs. */
static void store_open(struct store_bpf *st)
{
	const char *names[] = { XLB_MAP_SESSIONS };
	char err[256];

	if (store_bpf_open(st, pin_dir, names, 1, err, sizeof(err)) ||
	    store_bpf_batch_init(st, 0, offsetof(struct xlb_session, version),
				 sizeof(((struct xlb_session *)0)->version), true, err,
				 sizeof(err)))
		fail_msg("store: %s", err);
}

/* One write and one removal of k by the batch programs of st. */
static void batch_write(struct store_bpf *st, const struct xlb_flow_key *k,
			const struct xlb_session *s)
{
	struct xlb_session old;
	struct sync_store_io io;

	io = (struct sync_store_io){ .key = k, .value = (void *)s, .op = SYNC_STORE_WRITE };
	assert_int_equal(store_bpf_ops.write_many(st, 0, &io, 1), 0);
	assert_int_equal(io.result, 0);
	io = (struct sync_store_io){ .key = k,
				     .value = &old,
				     .op = SYNC_STORE_REMOVE,
				     .found = true,
				     .version = s->version };
	assert_int_equal(store_bpf_ops.write_many(st, 0, &io, 1), 0);
	assert_int_equal(io.result, 0);
}

/*
 * syncd's batch programs write from a BPF program, where kprobes do fire
 * (unlike the bpf() syscall) and so do trampolines: the capture is given
 * the range of syncd's batch slots and drops the writes whose key lies
 * there, so applying a peer's entries never echoes. Control: another
 * process's batch programs (other slots) are captured.
 */
static void test_batch_writes(void **state)
{
	const struct mode *m;
	struct store_bpf st;
	struct xlb_flow_key k;
	struct xlb_session s;
	int status;
	pid_t pid;

	store_open(&st);
	store_bpf_self_range(&st, 0, &lbmaps[0].self_lo, &lbmaps[0].self_hi);
	assert_true(lbmaps[0].self_hi > lbmaps[0].self_lo);
	m = capture_on(state, 2);
	/* the capture has its copy; the next tests register none */
	lbmaps[0].self_lo = lbmaps[0].self_hi = 0;
	memset(&s, 0, sizeof(s));
	s.owner = PEER;
	s.version = 5;
	s.state = XLB_SS_ESTABLISHED;
	cap_fwd_key(&k, 42100);
	batch_write(&st, &k, &s); /* this process: syncd */
	assert_int_equal(cap_drain(cap, &ce), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct store_bpf other;

		store_open(&other);
		batch_write(&other, &k, &s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(cap_drain(cap, &ce), 2);
	cap_expect(&ce.ev[0], lbmaps[0].id, XLB_SYNC_OP_UPDATE, m->source, &k, sizeof(k), &s,
		   sizeof(s));
	cap_expect(&ce.ev[1], lbmaps[0].id, XLB_SYNC_OP_DELETE, m->source, &k, sizeof(k), NULL, 0);
	store_bpf_close(&st);
}

static void test_failed_write_and_undo(void **state)
{
	const struct mode *m = capture_on(state, 2);
	struct xlb_flow_key k, fill;
	struct xlb_session s;
	struct xlb_reverse rv;
	int i;

	/* reverse full: the data plane's reverse insert, its first write,
	 * fails: no session is made, nothing is written, nothing captured */
	memset(&rv, 0, sizeof(rv));
	for (i = 0; i < SESS_MAX; i++) {
		dp_flow_key(&fill, DP_BE2, DP_SNAT, 9000, 30000 + i, IPPROTO_TCP);
		assert_int_equal(bpf_map_update_elem(dp_fd_reverse(&env), &fill, &rv, BPF_NOEXIST),
				 0);
	}
	assert_int_equal(client(40000, DP_TCP_SYN), XDP_DROP);
	cap_fwd_key(&k, 40000);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(bpf_map_lookup_elem(dp_fd_sessions(&env), &k, &s), -ENOENT);
	(void)m;
}

/* A live peer's session it has just taken (owned_at ahead: no takeover,
 * docs/design.md decision 12) is left alone; once the peer is dead, one
 * packet adopts it: one record. */
static void test_adoption(void **state)
{
	const struct mode *m = capture_on(state, 2);
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t peer = PEER, dead = XLB_NODE_DEAD;
	struct timespec tai;

	memset(&s, 0, sizeof(s));
	s.backend.w[0] = htonl(DP_BE1);
	s.backend_port = htons(8080);
	s.snat.w[0] = htonl(DP_SNAT);
	s.snat_port = htons(30500);
	s.backend_id = 1;
	s.owner = PEER;
	s.state = XLB_SS_ESTABLISHED;
	s.flags = XLB_SF_FNAT;
	s.version = 5;
	assert_int_equal(clock_gettime(CLOCK_TAI, &tai), 0);
	/* a minute ahead (a peer whose clock runs ahead): with owned_at =
	 * now, a second boundary before the packet ended the period and the
	 * packet took the session over, about one run in ten on the VM */
	s.owned_at = (uint32_t)tai.tv_sec + 60;
	cap_fwd_key(&k, 41000);
	assert_int_equal(bpf_map_update_elem(dp_fd_sessions(&env), &k, &s, BPF_NOEXIST), 0);
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);

	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env.skel->maps.node_state), &peer, &dead, BPF_ANY),
		0);
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], dp_fd_sessions(&env), m->source, &k, sizeof(k), sizeof(s));
	memcpy(&s, ce.ev[0].value, sizeof(s));
	assert_int_equal(s.owner, DP_NODE_ID);
	assert_int_equal(s.version, 6);
}

/* The same packets through this mode and the inline capture at once give
 * the same records, source and time stamp aside. */
static void test_same_as_inline(void **state)
{
	static const uint8_t flags[] = {
		DP_TCP_SYN, DP_TCP_ACK, DP_TCP_ACK, DP_TCP_FIN | DP_TCP_ACK, DP_TCP_SYN,
	};
	struct cap_events ci;
	char err[512];
	const struct mode *m;
	size_t i;
	int n;

	m = capture_on(state, 2);
	cap_inline = sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, lbmaps, 2, err, sizeof(err));
	if (!cap_inline)
		fail_msg("inline capture: %s", err);
	for (i = 0; i < sizeof(flags); i++)
		client(40000, flags[i]);
	n = cap_drain(cap, &ce);
	assert_int_equal(n, 5); /* sessions + reverse, then 3 state changes */
	assert_int_equal(cap_drain(cap_inline, &ci), n);
	for (i = 0; i < (size_t)n; i++) {
		const struct xlb_sync_event *a = &ce.ev[i], *b = &ci.ev[i];

		assert_int_equal(b->source, XLB_SYNC_SRC_INLINE);
		assert_int_equal(a->map_id, b->map_id);
		assert_int_equal(a->op, b->op);
		assert_int_equal(a->key_size, b->key_size);
		assert_int_equal(a->value_size, b->value_size);
		assert_memory_equal(a->key, b->key, a->key_size);
		assert_memory_equal(a->value, b->value, a->value_size);
	}
	expect_no_loss(m);
}

/* Registration refuses what it cannot capture. */
static void test_refuse(void **state)
{
	const struct mode *m = *state;
	struct sync_capture_map bad[1];
	char err[512];

	if (!m->usable)
		skip();
	bad[0].name = XLB_MAP_STATS;
	bad[0].id = cap_map_id(bpf_map__fd(env.skel->maps.stats));
	bad[0].key_size = 4;
	bad[0].value_size = 8;
	assert_null(sync_capture_open(m->mode, NULL, bad, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "only hash and LRU hash maps"));
	bad[0] = lbmaps[0];
	bad[0].value_size = 8;
	assert_null(sync_capture_open(m->mode, NULL, bad, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "key/value sizes"));
}

static bool kernel_has_kprobes(void)
{
	return !access("/sys/bus/event_source/devices/kprobe/type", F_OK) ||
	       !access("/sys/kernel/tracing/kprobe_events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/kprobe_events", F_OK);
}

/* Can @m open on this kernel (probe with a throwaway env)? */
static void probe_mode(struct mode *m)
{
	struct sync_capture *c;

	if (setup(NULL)) {
		snprintf(m->why, sizeof(m->why), "cannot load the data plane");
		return;
	}
	c = sync_capture_open(m->mode, NULL, lbmaps, 2, m->why, sizeof(m->why));
	m->usable = c != NULL;
	sync_capture_close(c);
	teardown(NULL);
}

#define MODE_TESTS(m)                                                                              \
	cmocka_unit_test_prestate_setup_teardown(test_syn_and_state, setup, teardown, m),          \
		cmocka_unit_test_prestate_setup_teardown(test_unwatched, setup, teardown, m),      \
		cmocka_unit_test_prestate_setup_teardown(test_syscall_writes, setup, teardown, m), \
		cmocka_unit_test_prestate_setup_teardown(test_batch_writes, setup, teardown, m),   \
		cmocka_unit_test_prestate_setup_teardown(test_failed_write_and_undo, setup,        \
							 teardown, m),                             \
		cmocka_unit_test_prestate_setup_teardown(test_adoption, setup, teardown, m),       \
		cmocka_unit_test_prestate_setup_teardown(test_same_as_inline, setup, teardown, m), \
		cmocka_unit_test_prestate_setup_teardown(test_refuse, setup, teardown, m)

int main(void)
{
	const struct CMUnitTest kprobe_tests[] = { MODE_TESTS(&kprobe) };
	const struct CMUnitTest fentry_tests[] = { MODE_TESTS(&fentry) };
	bool in_vm = getenv("XLB_VM") != NULL;
	int err, rc;

	err = cap_test_prepare(pin_dir, sizeof(pin_dir));
	if (err)
		return err;
	probe_mode(&kprobe);
	probe_mode(&fentry);
	if (!kprobe.usable) {
		if (!in_vm && !kernel_has_kprobes()) {
			fprintf(stderr,
				"skip: this kernel has no kprobes (%s); run "
				"cluster-tests/vm/capture-test\n",
				kprobe.why);
			cap_bpffs_done(pin_dir);
			return 77;
		}
		fprintf(stderr, "kprobe capture cannot open: %s\n", kprobe.why);
		cap_bpffs_done(pin_dir);
		return 1;
	}
	if (!fentry.usable)
		fprintf(stderr, "note: fentry capture cannot open, its tests are skipped: %s\n",
			fentry.why);
	rc = cmocka_run_group_tests_name("kprobe capture", kprobe_tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("fentry capture", fentry_tests, NULL, NULL);
	cap_bpffs_done(pin_dir);
	return rc ? 1 : 0;
}
