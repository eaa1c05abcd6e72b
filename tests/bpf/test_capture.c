// SPDX-License-Identifier: BSD-2-Clause
/*
 * Inline capture and adoption in the data plane, through BPF_PROG_TEST_RUN
 * and syncd's capture library (sync_capture_open(SYNC_CAPTURE_INLINE)) on
 * the data plane's maps pinned in a private bpffs, as lbd pins them.
 *
 * Every lifecycle write of sessions/reverse must give exactly one record,
 * byte-identical to what the map holds afterwards; packets that change no
 * state give none; nothing is emitted while sync_ctl is off. A session of a
 * peer marked dead is adopted by one packet (owner, version + 1, one
 * record), one of a live peer is left alone.
 *
 * Needs root (network and mount namespaces, BPF); exits 77 without.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "capture_fixture.h"

#define SESS_MAX 64
#define POOL_N	 16
#define PEER	 9 /* another node's id */

static struct dp_env env;
static char pin_dir[64];
static struct sync_capture *cap;
static struct sync_capture_map lbmaps[2];
static struct cap_events ce;

static int fd_sessions(void)
{
	return dp_fd_sessions(&env);
}

static int fd_reverse(void)
{
	return dp_fd_reverse(&env);
}

static struct sync_capture *open_inline(char *err, size_t errlen)
{
	return sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, lbmaps, 2, err, errlen);
}

static void capture_on(void)
{
	char err[512];

	cap = open_inline(err, sizeof(err));
	if (!cap)
		fail_msg("inline capture: %s", err);
	assert_int_equal(sync_capture_mode(cap), SYNC_CAPTURE_INLINE);
	assert_true(sync_capture_fd(cap) >= 0);
}

static int setup(void **state)
{
	if (cap_env_setup(&env, SESS_MAX, POOL_N, pin_dir, lbmaps))
		return -1;
	cap = NULL;
	return 0;
}

static int teardown(void **state)
{
	sync_capture_close(cap);
	cap = NULL;
	cap_unpin(pin_dir);
	dp_env_close(&env);
	return 0;
}

static struct xlb_sync_ctl read_ctl(void)
{
	struct xlb_sync_ctl c;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(env.skel->maps.sync_ctl), &zero, &c), 0);
	return c;
}

static void set_node_state(uint32_t node, uint32_t st)
{
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env.skel->maps.node_state), &node, &st, BPF_ANY),
		0);
}

/* SYN of client port @cport on the TCP VIP; returns its SNAT port. */
static uint16_t syn(uint16_t cport)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, cport, DP_TCP_SYN);
	struct xlb_flow_key k;
	struct xlb_session s;

	assert_int_equal(cap_send(&env, &p), XDP_TX);
	cap_fwd_key(&k, cport);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	return ntohs(s.snat_port);
}

static uint32_t client(uint16_t cport, uint8_t flags)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, cport, flags);

	return cap_send(&env, &p);
}

static uint32_t server(uint16_t snat_port, uint8_t flags)
{
	struct dp_pkt_spec p = cap_reply_to(snat_port, flags);

	return cap_send(&env, &p);
}

/* Exactly one record: the current session of @cport, at @version. */
static void expect_one_session_update(uint16_t cport, uint32_t version)
{
	struct xlb_flow_key k;
	struct xlb_session s;

	cap_fwd_key(&k, cport);
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], fd_sessions(), XLB_SYNC_SRC_INLINE, &k, sizeof(k), sizeof(s));
	memcpy(&s, ce.ev[0].value, sizeof(s));
	assert_int_equal(s.version, version);
}

/* An adoption: the session record at @version, then its reverse entry's
 * record, adopted too (owner this node, version 2). */
static void expect_adoption(uint16_t cport, uint16_t snat_port, uint32_t version)
{
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse rv;

	cap_fwd_key(&k, cport);
	cap_rev_key(&rk, snat_port);
	assert_int_equal(cap_drain(cap, &ce), 2);
	cap_expect_current(&ce.ev[0], fd_sessions(), XLB_SYNC_SRC_INLINE, &k, sizeof(k), sizeof(s));
	memcpy(&s, ce.ev[0].value, sizeof(s));
	assert_int_equal(s.version, version);
	assert_int_equal(s.owner, DP_NODE_ID);
	cap_expect_current(&ce.ev[1], fd_reverse(), XLB_SYNC_SRC_INLINE, &rk, sizeof(rk),
			   sizeof(rv));
	memcpy(&rv, ce.ev[1].value, sizeof(rv));
	assert_int_equal(rv.owner, DP_NODE_ID);
	assert_int_equal(rv.version, 2);
}

/* ------------------------------------------------------------------ */

/* sync_ctl off: no record and no ring-buffer work; on after open, off
 * again after close. */
static void test_off_no_event(void **state)
{
	uint64_t ev0 = dp_stat(&env, XLB_STAT_SYNC_EVENTS);
	struct xlb_sync_ctl c;

	c = read_ctl();
	assert_int_equal(c.flags, 0);
	syn(40000);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_EVENTS), ev0);

	capture_on();
	/* nothing was queued while off */
	assert_int_equal(cap_drain(cap, &ce), 0);
	c = read_ctl();
	assert_int_equal(c.flags, XLB_SYNC_CTL_INLINE);
	assert_int_equal(c.sessions_id, lbmaps[0].id);
	assert_int_equal(c.reverse_id, lbmaps[1].id);

	sync_capture_close(cap);
	cap = NULL;
	c = read_ctl();
	assert_int_equal(c.flags, 0);
	syn(40001);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_EVENTS), ev0);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_LOST), 0);
}

/* A full-NAT SYN: one sessions record and one reverse record, exactly the
 * bytes a lookup returns. */
static void test_syn_fnat(void **state)
{
	struct xlb_flow_key k, rk;
	struct xlb_reverse rv;
	uint16_t port;

	capture_on();
	port = syn(40000);
	cap_fwd_key(&k, 40000);
	cap_rev_key(&rk, port);
	assert_int_equal(cap_drain(cap, &ce), 2);
	/* in the order of the writes: the reverse entry first */
	cap_expect_current(&ce.ev[0], fd_reverse(), XLB_SYNC_SRC_INLINE, &rk, sizeof(rk),
			   sizeof(rv));
	cap_expect_current(&ce.ev[1], fd_sessions(), XLB_SYNC_SRC_INLINE, &k, sizeof(k),
			   sizeof(struct xlb_session));
	memcpy(&rv, ce.ev[0].value, sizeof(rv));
	assert_memory_equal(&rv.fwd, &k, sizeof(k));
	assert_int_equal(rv.owner, DP_NODE_ID);
	assert_int_equal(rv.version, 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_EVENTS), 2);
	assert_int_equal(sync_capture_lost(cap), 0);
}

/*
 * The write count check: the data plane's SYNC_WRITES against the records
 * delivered. Inline pushes turned off behind the capture's back stand for
 * records lost without a trace (what a kprobe the kernel skipped does):
 * the check finds them, one per write, and nothing while all arrive.
 */
static void test_write_check(void **state)
{
	struct sync_capture_loss l;
	struct xlb_sync_ctl off = { 0 }, on;
	__u32 zero = 0;
	int fd = bpf_map__fd(env.skel->maps.sync_ctl);

	capture_on();
	syn(40000);
	assert_int_equal(cap_drain(cap, &ce), 2);
	sync_capture_check(cap);
	sync_capture_check(cap);
	sync_capture_get_loss(cap, &l);
	assert_true(l.write_check);
	assert_int_equal(l.unseen, 0);
	assert_int_equal(l.total, 0);

	on = read_ctl();
	assert_int_equal(bpf_map_update_elem(fd, &zero, &off, BPF_ANY), 0);
	syn(40001); /* 2 writes, no record */
	assert_int_equal(bpf_map_update_elem(fd, &zero, &on, BPF_ANY), 0);
	assert_int_equal(cap_drain(cap, &ce), 0);
	sync_capture_check(cap); /* the writes counted from here on */
	sync_capture_check(cap);
	sync_capture_get_loss(cap, &l);
	assert_int_equal(l.unseen, 2);
	assert_int_equal(sync_capture_lost(cap), 2);

	/* and records that do arrive are not counted as lost */
	assert_int_equal(client(40000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 1);
	sync_capture_check(cap);
	sync_capture_check(cap);
	assert_int_equal(sync_capture_lost(cap), 2);
}

/* Watching only sessions: the reverse write is not reported. */
static void test_unwatched_reverse(void **state)
{
	char err[512];
	struct xlb_flow_key k;

	cap = sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, lbmaps, 1, err, sizeof(err));
	if (!cap)
		fail_msg("inline capture: %s", err);
	assert_int_equal(read_ctl().reverse_id, 0);
	syn(40000);
	cap_fwd_key(&k, 40000);
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], fd_sessions(), XLB_SYNC_SRC_INLINE, &k, sizeof(k),
			   sizeof(struct xlb_session));
}

/* Each state change is one record with version + 1; packets that change
 * nothing (established ACKs, a retransmitted FIN) give none. */
static void test_lifecycle(void **state)
{
	uint16_t port;

	capture_on();
	port = syn(40000);
	assert_int_equal(cap_drain(cap, &ce), 2);

	assert_int_equal(client(40000, DP_TCP_ACK), XDP_TX); /* -> ESTABLISHED */
	expect_one_session_update(40000, 2);
	assert_int_equal(client(40000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(server(port, DP_TCP_ACK), XDP_TX);
	assert_int_equal(client(40000, DP_TCP_ACK | DP_TCP_PSH), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);

	assert_int_equal(client(40000, DP_TCP_FIN | DP_TCP_ACK), XDP_TX); /* CLOSING */
	expect_one_session_update(40000, 3);
	assert_int_equal(((struct xlb_session *)ce.ev[0].value)->state, XLB_SS_CLOSING);
	assert_int_equal(client(40000, DP_TCP_FIN | DP_TCP_ACK), XDP_TX); /* retransmit */
	assert_int_equal(cap_drain(cap, &ce), 0);

	assert_int_equal(server(port, DP_TCP_FIN | DP_TCP_ACK), XDP_TX); /* CLOSED */
	expect_one_session_update(40000, 4);
	assert_int_equal(((struct xlb_session *)ce.ev[0].value)->state, XLB_SS_CLOSED);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_EVENTS), 5);
}

/* DSR and UDP flows: a session record, no reverse entry. */
static void test_dsr_udp(void **state)
{
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_DSR, 40000, DP_TCP_SYN);
	struct xlb_flow_key k;

	capture_on();
	assert_int_equal(cap_send(&env, &p), XDP_TX);
	dp_flow_key(&k, DP_CLIENT, dp_vip_addr(DP_VIP_DSR), 40000, dp_vip_port(DP_VIP_DSR),
		    IPPROTO_TCP);
	assert_int_equal(cap_drain(cap, &ce), 1);
	cap_expect_current(&ce.ev[0], fd_sessions(), XLB_SYNC_SRC_INLINE, &k, sizeof(k),
			   sizeof(struct xlb_session));

	p = dp_tcp_to(DP_VIP_UDP, 40001, 0);
	assert_int_equal(cap_send(&env, &p), XDP_TX);
	/* the second datagram changes nothing */
	assert_int_equal(cap_send(&env, &p), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 2); /* full-NAT UDP: reverse + session */
	assert_int_equal(ce.ev[0].map_id, lbmaps[1].id);
	assert_int_equal(ce.ev[1].map_id, lbmaps[0].id);
}

/* The reverse insert fails (map full): it comes first, so no session was
 * made and nothing is published or undone; the port is back in the pool.
 * (The landed order made the session first and deleted it again, though
 * another CPU could already have forwarded with it.) */
static void test_reverse_full_first(void **state)
{
	struct xlb_flow_key k, fill;
	struct xlb_reverse rv;
	struct xlb_session s;
	struct dp_pkt_spec p = dp_tcp_to(DP_VIP_TCP, 40000, DP_TCP_SYN);
	int i;

	memset(&rv, 0, sizeof(rv));
	for (i = 0; i < SESS_MAX; i++) {
		dp_flow_key(&fill, DP_BE2, DP_SNAT, 9000, 30000 + i, IPPROTO_TCP);
		assert_int_equal(bpf_map_update_elem(fd_reverse(), &fill, &rv, BPF_NOEXIST), 0);
	}
	capture_on();
	assert_int_equal(cap_send(&env, &p), XDP_DROP);
	assert_int_equal(dp_stat(&env, XLB_STAT_DROP_SESSION_FULL), 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_WRITES), 0);
	assert_int_equal(cap_drain(cap, &ce), 0);
	cap_fwd_key(&k, 40000);
	assert_int_equal(dp_session_get(&env, &k, &s), -ENOENT);
}

/* The cluster clock in seconds, as the data plane's owned_at. */
static uint32_t tai_now_s(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_TAI, &ts), 0);
	return (uint32_t)ts.tv_sec;
}

/* A session of node PEER on this node, with its reverse entry, which PEER
 * has owned since owned_at (0: for ever). */
static void peer_session_at(uint16_t cport, uint16_t snat_port, uint8_t state, uint32_t owned_at)
{
	struct xlb_flow_key k, rk;
	struct xlb_session s;
	struct xlb_reverse rv;

	memset(&s, 0, sizeof(s));
	s.backend.w[0] = htonl(DP_BE1);
	s.backend_port = htons(8080);
	s.snat.w[0] = htonl(DP_SNAT);
	s.snat_port = htons(snat_port);
	s.backend_id = 1;
	s.owner = PEER;
	s.state = state;
	s.flags = XLB_SF_FNAT;
	s.version = 5;
	s.owned_at = owned_at;
	s.last_seen_ns = 1;
	cap_fwd_key(&k, cport);
	assert_int_equal(bpf_map_update_elem(fd_sessions(), &k, &s, BPF_NOEXIST), 0);
	memset(&rv, 0, sizeof(rv));
	rv.fwd = k;
	rv.owner = PEER;
	rv.version = 1;
	cap_rev_key(&rk, snat_port);
	assert_int_equal(bpf_map_update_elem(fd_reverse(), &rk, &rv, BPF_NOEXIST), 0);
}

/* ... that PEER has just taken (within XLB_TAKEOVER_MIN_S): owned_at a
 * minute ahead (a peer whose clock runs ahead), so that no second boundary
 * between this write and the test's packets can end the period (owned_at =
 * now took the session over in about one run in ten on a slow VM). */
static void peer_session(uint16_t cport, uint16_t snat_port, uint8_t state)
{
	peer_session_at(cport, snat_port, state, tai_now_s() + 60);
}

static struct xlb_session session_of(uint16_t cport)
{
	struct xlb_flow_key k;
	struct xlb_session s;

	cap_fwd_key(&k, cport);
	assert_int_equal(dp_session_get(&env, &k, &s), 0);
	return s;
}

/* Forward direction: a session a live peer has just taken is left alone;
 * once the peer is dead, one packet adopts it (one write, one record), the
 * next packets change nothing. */
static void test_adopt_forward(void **state)
{
	struct xlb_session s;

	peer_session(41000, 30500, XLB_SS_ESTABLISHED);
	capture_on();

	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	s = session_of(41000);
	assert_int_equal(s.owner, PEER);
	assert_int_equal(s.version, 5);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_ADOPT), 0);

	set_node_state(PEER, 0); /* alive, explicitly */
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);

	set_node_state(PEER, XLB_NODE_DEAD);
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	expect_adoption(41000, 30500, 6);
	s = session_of(41000);
	assert_int_equal(s.owner, DP_NODE_ID);
	assert_int_equal(s.state, XLB_SS_ESTABLISHED);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_ADOPT), 1);

	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(session_of(41000).version, 6);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_ADOPT), 1);
}

/* Full-NAT reply direction adopts too. */
static void test_adopt_reply(void **state)
{
	struct xlb_session s;

	peer_session(41000, 30500, XLB_SS_ESTABLISHED);
	set_node_state(PEER, XLB_NODE_DEAD);
	capture_on();
	assert_int_equal(server(30500, DP_TCP_ACK), XDP_TX);
	assert_int_equal(dp_stat(&env, XLB_STAT_REPLY), 1);
	expect_adoption(41000, 30500, 6);
	s = session_of(41000);
	assert_int_equal(s.owner, DP_NODE_ID);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_ADOPT), 1);
	assert_int_equal(server(30500, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);
}

/*
 * Takeover (docs/design.md decision 12): a live peer's session whose
 * client side now reaches this node becomes this node's, so that the node
 * that forwards it is the one that ages it; one write (session + reverse
 * entry), counted apart from adoption. The landed rule left it with the
 * peer, which aged it out while this node forwarded it.
 */
static void test_takeover_forward(void **state)
{
	struct xlb_session s;
	uint32_t t0 = tai_now_s();

	peer_session_at(41000, 30500, XLB_SS_ESTABLISHED, t0 - 5);
	set_node_state(PEER, 0); /* alive */
	capture_on();
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	expect_adoption(41000, 30500, 6);
	s = session_of(41000);
	assert_int_equal(s.owner, DP_NODE_ID);
	assert_int_equal(s.state, XLB_SS_ESTABLISHED);
	assert_true(s.owned_at >= t0 && s.owned_at <= tai_now_s());
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_TAKEOVER), 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_ADOPT), 0);

	/* ours now: the next packets write nothing */
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_TAKEOVER), 1);
}

/* A full-NAT reply never takes a live peer's session: it reaches the node
 * that holds the SNAT port's route, not the one the flow's router chose. */
static void test_takeover_not_by_reply(void **state)
{
	peer_session_at(41000, 30500, XLB_SS_ESTABLISHED, tai_now_s() - 5);
	capture_on();
	assert_int_equal(server(30500, DP_TCP_ACK), XDP_TX);
	assert_int_equal(dp_stat(&env, XLB_STAT_REPLY), 1);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(session_of(41000).owner, PEER);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_TAKEOVER), 0);
}

/* Rate limit: a session the peer took within the last XLB_TAKEOVER_MIN_S
 * (both nodes see client packets of one flow) stays with it for now;
 * once that has passed, the next client packet takes it. A flow that
 * reaches two nodes at once costs a write per period, not per packet. */
static void test_takeover_rate_limited(void **state)
{
	struct xlb_flow_key k;
	struct xlb_session s;
	int i;

	peer_session(41000, 30500, XLB_SS_ESTABLISHED); /* just taken */
	capture_on();
	for (i = 0; i < 10; i++)
		assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(session_of(41000).owner, PEER);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_TAKEOVER), 0);

	/* the period is over (the peer's owned_at moved back in time) */
	cap_fwd_key(&k, 41000);
	s = session_of(41000);
	s.owned_at = tai_now_s() - XLB_TAKEOVER_MIN_S - 1;
	assert_int_equal(bpf_map_update_elem(fd_sessions(), &k, &s, BPF_EXIST), 0);
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	expect_adoption(41000, 30500, 6);
	assert_int_equal(dp_stat(&env, XLB_STAT_SESSION_TAKEOVER), 1);
}

/*
 * A collision: this node opened the flow with SNAT port 30600, the peer
 * with 30500, and the peer's session won (replaced ours). Our reverse
 * entry (30600 -> the flow) is still here for a moment: the backend's
 * answer to the connection that lost must be dropped and counted, not
 * translated into the client's flow (the client would get a second
 * SYN-ACK with a foreign ISN). The winner's replies pass.
 */
static void test_reply_superseded(void **state)
{
	struct xlb_flow_key k, rk;
	struct xlb_reverse rv;

	peer_session(41000, 30500, XLB_SS_SYN);
	cap_fwd_key(&k, 41000);
	cap_rev_key(&rk, 30600);
	memset(&rv, 0, sizeof(rv));
	rv.fwd = k;
	rv.owner = DP_NODE_ID;
	rv.version = 1;
	assert_int_equal(bpf_map_update_elem(fd_reverse(), &rk, &rv, BPF_NOEXIST), 0);
	capture_on();
	assert_int_equal(server(30600, DP_TCP_SYN | DP_TCP_ACK), XDP_DROP);
	assert_int_equal(dp_stat(&env, XLB_STAT_DROP_SUPERSEDED), 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_REPLY), 0);
	assert_int_equal(cap_drain(cap, &ce), 0);
	assert_int_equal(session_of(41000).state, XLB_SS_SYN);

	assert_int_equal(server(30500, DP_TCP_SYN | DP_TCP_ACK), XDP_TX);
	assert_int_equal(dp_stat(&env, XLB_STAT_REPLY), 1);
	assert_int_equal(dp_stat(&env, XLB_STAT_DROP_SUPERSEDED), 1);
}

/* Adoption and a state change on the same packet: one write. */
static void test_adopt_with_fin(void **state)
{
	struct xlb_session s;

	peer_session(41000, 30500, XLB_SS_ESTABLISHED);
	set_node_state(PEER, XLB_NODE_DEAD);
	capture_on();
	assert_int_equal(client(41000, DP_TCP_FIN | DP_TCP_ACK), XDP_TX);
	expect_adoption(41000, 30500, 6);
	s = session_of(41000);
	assert_int_equal(s.owner, DP_NODE_ID);
	assert_int_equal(s.state, XLB_SS_CLOSING);
	assert_int_equal(s.flags, XLB_SF_FNAT | XLB_SF_CLI_FIN);
}

/* Without a capture, adoption still happens (it is data-plane logic). */
static void test_adopt_no_capture(void **state)
{
	peer_session(41000, 30500, XLB_SS_ESTABLISHED);
	set_node_state(PEER, XLB_NODE_DEAD);
	assert_int_equal(client(41000, DP_TCP_ACK), XDP_TX);
	assert_int_equal(session_of(41000).owner, DP_NODE_ID);
	assert_int_equal(session_of(41000).version, 6);
	assert_int_equal(dp_stat(&env, XLB_STAT_SYNC_EVENTS), 0);
}

/* What inline mode refuses, with a reason, leaving sync_ctl off. */
static void test_refuse(void **state)
{
	struct sync_capture_map m[2];
	enum sync_capture_mode mode;
	char err[512];

	m[0] = lbmaps[0];
	m[1].name = XLB_MAP_VIPS;
	m[1].id = cap_map_id(bpf_map__fd(env.skel->maps.vips));
	m[1].key_size = sizeof(struct xlb_vip_key);
	m[1].value_size = sizeof(struct xlb_vip_info);
	assert_null(sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, m, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot be captured inline"));

	m[1] = lbmaps[1];
	m[1].id = m[0].id; /* not the pinned reverse map */
	assert_null(sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, m, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "is not the data plane's map"));

	m[1] = lbmaps[1];
	m[1].value_size = XLB_SYNC_VALUE_MAX + 1;
	assert_null(sync_capture_open(SYNC_CAPTURE_INLINE, pin_dir, m, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "does not fit"));

	assert_null(sync_capture_open(SYNC_CAPTURE_INLINE, "/nonexistent", lbmaps, 2, err,
				      sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/sessions"));
	assert_int_equal(read_ctl().flags, 0);

	assert_int_equal(sync_capture_mode_parse("fentry", &mode), 0);
	assert_int_equal(mode, SYNC_CAPTURE_FENTRY);
	assert_string_equal(sync_capture_mode_str(SYNC_CAPTURE_INLINE), "inline");
	assert_int_equal(sync_capture_mode_parse("ebpf", &mode), -EINVAL);
}

/* auto falls back to inline on a kernel without kprobes and fentry (this
 * project's machines); elsewhere it picks kprobe. Either way it works. */
static void test_auto(void **state)
{
	char err[1024];
	struct xlb_flow_key k;

	cap = sync_capture_open(SYNC_CAPTURE_AUTO, pin_dir, lbmaps, 2, err, sizeof(err));
	if (!cap)
		fail_msg("auto capture: %s", err);
	assert_int_not_equal(sync_capture_mode(cap), SYNC_CAPTURE_AUTO);
	syn(40000);
	cap_fwd_key(&k, 40000);
	assert_int_equal(cap_drain(cap, &ce), 2);
	assert_int_equal(ce.ev[0].map_id, lbmaps[1].id); /* the reverse entry first */
	assert_int_equal(ce.ev[1].map_id, lbmaps[0].id);
	assert_memory_equal(ce.ev[1].key, &k, sizeof(k));
}

/* A full ring buffer loses records and counts them (SYNC_LOST, and
 * sync_capture_lost() since the capture was opened); what was queued is
 * intact and in order. */
static void test_lost(void **state)
{
	/* compact records (xdplb.h) and the ring's 8-byte record header */
	const uint64_t cap_records =
		XLB_SYNC_RINGBUF_SIZE /
		(XLB_SYNC_REC_SIZE(sizeof(struct xlb_flow_key), sizeof(struct xlb_session)) + 8);
	uint64_t sent = 0, written, events, lost;
	uint32_t last_version = 0;
	int n, i;

	capture_on();
	syn(40000);
	assert_int_equal(cap_drain(cap, &ce), 2);
	/* every packet is a lifecycle write: FIN (-> CLOSING), SYN (reopen) */
	while (dp_stat(&env, XLB_STAT_SYNC_LOST) < 10 && sent < cap_records + 1000) {
		assert_int_equal(client(40000, sent & 1 ? DP_TCP_SYN : DP_TCP_FIN | DP_TCP_ACK),
				 XDP_TX);
		sent++;
	}
	written = session_of(40000).version - 1;
	assert_int_equal(written, sent);
	lost = dp_stat(&env, XLB_STAT_SYNC_LOST);
	events = dp_stat(&env, XLB_STAT_SYNC_EVENTS) - 2;
	assert_true(lost >= 10);
	assert_int_equal(events + lost, written);
	assert_int_equal(sync_capture_lost(cap), lost);

	/* everything queued comes out, in write order */
	n = cap_drain(cap, &ce);
	assert_int_equal(n, events);
	for (i = 0; i < ce.n; i++) {
		uint32_t v = ((struct xlb_session *)ce.ev[i].value)->version;

		assert_true(v > last_version);
		last_version = v;
	}
	/* the write count check agrees: what is missing was counted */
	sync_capture_check(cap);
	sync_capture_check(cap);
	assert_int_equal(sync_capture_lost(cap), lost);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_off_no_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_fnat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwatched_reverse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsr_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_full_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_with_fin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_not_by_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_superseded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_no_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
	};
	cpu_set_t one;
	int err, rc;

	err = cap_test_prepare(pin_dir, sizeof(pin_dir));
	if (err)
		return err;
	/* one CPU: per-CPU counters and caches are read back consistently */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	rc = cmocka_run_group_tests_name("inline capture and adoption", tests, NULL, NULL);
	cap_bpffs_done(pin_dir);
	return rc;
}
