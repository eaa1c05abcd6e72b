// SPDX-License-Identifier: BSD-2-Clause
/*
 * syncd/svcset.c: a node's service set. The digest is the same for the
 * same set whatever order it was read in and changes with every field an
 * operator can change (VIP mode, a backend's address, port, weight,
 * drain); every kind of difference gives its own line naming the VIP and
 * the backend; a peer's encoding that this node would not send is refused
 * with the reason; svcset_peer_serves() says which sessions a peer would
 * refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "svcset.h"
#include "sync.pb-c.h"

static union xlb_addr a4(const char *s)
{
	union xlb_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct svc_vip *vip(struct svc_set *s, const char *addr, uint16_t port, uint8_t proto,
			   uint8_t mode)
{
	union xlb_addr a = a4(addr);
	struct svc_vip *v = svcset_add_vip(s, XLB_AF_INET, &a, port, proto, mode);

	assert_non_null(v);
	return v;
}

static void be(struct svc_vip *v, uint32_t id, const char *addr, uint16_t port, uint32_t weight,
	       bool drain)
{
	struct svc_be b;

	memset(&b, 0, sizeof(b));
	b.id = id;
	b.family = XLB_AF_INET;
	b.addr = a4(addr);
	b.port = port;
	b.weight = weight;
	b.drain = drain;
	assert_int_equal(svcset_add_be(v, &b), 0);
}

/* web: 198.18.100.1:8080/tcp full-NAT with backends 11, 12; dns:
 * 198.18.100.2:53/udp DSR with 21. Built in the order asked. */
static void standard(struct svc_set *s, bool reversed)
{
	struct svc_vip *v;

	memset(s, 0, sizeof(*s));
	if (reversed) {
		v = vip(s, "198.18.100.2", 53, IPPROTO_UDP, XLB_MODE_DSR);
		be(v, 21, "198.18.2.21", 53, 1, false);
		v = vip(s, "198.18.100.1", 8080, IPPROTO_TCP, XLB_MODE_FNAT);
		be(v, 12, "198.18.2.12", 80, 2, false);
		be(v, 11, "198.18.2.11", 80, 1, false);
	} else {
		v = vip(s, "198.18.100.1", 8080, IPPROTO_TCP, XLB_MODE_FNAT);
		be(v, 11, "198.18.2.11", 80, 1, false);
		be(v, 12, "198.18.2.12", 80, 2, false);
		v = vip(s, "198.18.100.2", 53, IPPROTO_UDP, XLB_MODE_DSR);
		be(v, 21, "198.18.2.21", 53, 1, false);
	}
	assert_int_equal(svcset_finish(s), 0);
}

static void test_digest_canonical(void **state)
{
	struct svc_set a, b, d;
	char why[128];

	(void)state;
	standard(&a, false);
	standard(&b, true);
	assert_true(a.digest == b.digest);
	assert_int_equal(a.enc_len, b.enc_len);
	assert_memory_equal(a.enc, b.enc, a.enc_len);
	/* the encoding decodes to the same set, the same digest */
	assert_int_equal(svcset_decode(&d, a.enc, a.enc_len, why, sizeof(why)), 0);
	assert_true(d.digest == a.digest);
	assert_int_equal(d.n, 2);
	svcset_free(&a);
	svcset_free(&b);
	svcset_free(&d);
}

/* Every field an operator changes changes the digest. */
static void test_digest_changes(void **state)
{
	struct svc_set base, s;
	uint64_t seen[8];
	size_t n = 0, i, j;

	(void)state;
	standard(&base, false);
	seen[n++] = base.digest;
	for (i = 0; i < 6; i++) {
		standard(&s, false);
		switch (i) {
		case 0:
			s.vips[0].mode = XLB_MODE_DSR;
			break;
		case 1:
			s.vips[0].be[0].weight = 5;
			break;
		case 2:
			s.vips[0].be[0].drain = true;
			break;
		case 3:
			s.vips[0].be[0].port = 81;
			break;
		case 4:
			s.vips[0].be[0].addr = a4("198.18.2.99");
			break;
		case 5:
			s.vips[1].n_be = 0; /* backend 21 removed */
			break;
		}
		assert_int_equal(svcset_finish(&s), 0);
		for (j = 0; j < n; j++)
			assert_true(s.digest != seen[j]);
		seen[n++] = s.digest;
		svcset_free(&s);
	}
	svcset_free(&base);
}

struct lines {
	char l[16][320];
	bool refuses[16];
	size_t n;
};

static void keep(void *arg, const char *line, bool refuses)
{
	struct lines *ls = arg;

	assert_true(ls->n < 16);
	ls->refuses[ls->n] = refuses;
	snprintf(ls->l[ls->n++], sizeof(ls->l[0]), "%s", line);
}

static void diff(const struct svc_set *mine, const struct svc_set *peer, struct svc_diff_count *c,
		 struct lines *ls)
{
	memset(ls, 0, sizeof(*ls));
	svcset_diff(mine, peer, "node2", c, keep, ls);
	assert_int_equal(c->total, ls->n);
}

static void test_diff_equal(void **state)
{
	struct svc_set a, b;
	struct svc_diff_count c;
	struct lines ls;

	(void)state;
	standard(&a, false);
	standard(&b, true);
	diff(&a, &b, &c, &ls);
	assert_int_equal(c.total, 0);
	svcset_free(&a);
	svcset_free(&b);
}

static void test_diff_each_kind(void **state)
{
	struct svc_set mine, peer;
	struct svc_diff_count c;
	struct lines ls;

	(void)state;
	/* the peer lacks dns, has another VIP, and differs in every
	 * backend field of web */
	standard(&mine, false);
	memset(&peer, 0, sizeof(peer));
	{
		struct svc_vip *v = vip(&peer, "198.18.100.1", 8080, IPPROTO_TCP, XLB_MODE_DSR);

		be(v, 11, "198.18.2.11", 80, 3, true);	/* weight, drain */
		be(v, 12, "198.18.2.99", 80, 2, false); /* address */
		be(v, 13, "198.18.2.13", 80, 1, false); /* only there */
		vip(&peer, "198.18.100.9", 443, IPPROTO_TCP, XLB_MODE_FNAT);
	}
	assert_int_equal(svcset_finish(&peer), 0);
	diff(&mine, &peer, &c, &ls);
	assert_int_equal(c.vips_other_mode, 1);
	assert_int_equal(c.weights, 1);
	assert_int_equal(c.drains, 1);
	assert_int_equal(c.backends_other_address, 1);
	assert_int_equal(c.backends_missing_here, 1);
	assert_int_equal(c.vips_missing_there, 1);
	assert_int_equal(c.vips_missing_here, 1);
	assert_int_equal(c.backends_missing_there, 0);
	assert_int_equal(c.total, 7);
	assert_string_equal(ls.l[0], "VIP 198.18.100.1:8080/tcp: full-NAT here, DSR on node2");
	assert_string_equal(ls.l[1], "VIP 198.18.100.1:8080/tcp: backend 11 (198.18.2.11:80): "
				     "weight 1 here, 3 on node2");
	assert_string_equal(ls.l[2], "VIP 198.18.100.1:8080/tcp: backend 11 (198.18.2.11:80): "
				     "not drained here, drained on node2");
	assert_string_equal(ls.l[3], "VIP 198.18.100.1:8080/tcp: backend 12: 198.18.2.12:80 "
				     "here, 198.18.2.99:80 on node2");
	assert_string_equal(ls.l[4], "VIP 198.18.100.1:8080/tcp: backend 13: missing here, node2 "
				     "has it (198.18.2.13:80)");
	assert_string_equal(ls.l[5], "VIP 198.18.100.2:53/udp (DSR, 1 backends): missing on node2");
	assert_string_equal(ls.l[6], "VIP 198.18.100.9:443/tcp: missing here, node2 has it "
				     "(full-NAT, 0 backends)");

	/* which of them make the peer refuse this node's sessions */
	{
		static const bool refuses[7] = { true, false, false, true, false, true, false };
		size_t i;

		for (i = 0; i < 7; i++)
			if (ls.refuses[i] != refuses[i])
				fail_msg("line %zu (%s): refuses %d", i, ls.l[i], ls.refuses[i]);
	}

	/* and from the other side: backend 13 is missing there */
	diff(&peer, &mine, &c, &ls);
	assert_int_equal(c.backends_missing_there, 1);
	svcset_free(&mine);
	svcset_free(&peer);
}

static void test_peer_serves(void **state)
{
	struct svc_set mine, peer;

	(void)state;
	standard(&mine, false);
	standard(&peer, false);
	assert_true(svcset_peer_serves(&peer, &mine.vips[0], 11));
	peer.vips[0].be[0].weight = 9; /* weights and drains do not refuse */
	peer.vips[0].be[0].drain = true;
	assert_true(svcset_peer_serves(&peer, &mine.vips[0], 11));
	peer.vips[0].be[1].port = 81; /* another port refuses */
	assert_false(svcset_peer_serves(&peer, &mine.vips[0], 12));
	peer.vips[1].n_be = 0; /* a missing backend refuses */
	assert_false(svcset_peer_serves(&peer, &mine.vips[1], 21));
	peer.vips[0].mode = XLB_MODE_DSR; /* another mode refuses */
	assert_false(svcset_peer_serves(&peer, &mine.vips[0], 11));
	peer.n = 0; /* a missing VIP refuses */
	assert_false(svcset_peer_serves(&peer, &mine.vips[0], 11));
	peer.n = 2;
	svcset_free(&mine);
	svcset_free(&peer);
}

/* A peer's encoding with each field this node never sends is refused. */
static void test_decode_refusals(void **state)
{
	static const struct {
		int field;
		uint32_t value;
		const char *why;
	} cases[] = {
		{ 0, 0, "port 0 out of range" },
		{ 1, 6000, "protocol 6000" },
		{ 2, 7, "mode 7" },
		{ 3, 0, "id 0 out of range" },
		{ 4, 70000, "port 70000 out of range" },
		{ 5, 0, "listed twice" },
		{ 6, 0, "no address of 4 or 16 bytes" },
	};
	uint8_t addr[4] = { 198, 18, 100, 1 }, baddr[16] = { 198, 18, 2, 11 };
	char why[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Xlbsync__ServiceSet set = XLBSYNC__SERVICE_SET__INIT;
		Xlbsync__Service sv = XLBSYNC__SERVICE__INIT, *psv[2] = { &sv, &sv };
		Xlbsync__ServiceBackend sb = XLBSYNC__SERVICE_BACKEND__INIT, *psb[1] = { &sb };
		struct svc_set out;
		uint8_t buf[256];
		size_t len;

		sv.has_address = 1;
		sv.address.data = addr;
		sv.address.len = 4;
		sv.has_port = sv.has_protocol = sv.has_mode = 1;
		sv.port = 8080;
		sv.protocol = IPPROTO_TCP;
		sv.mode = XLB_MODE_FNAT;
		sb.has_id = sb.has_address = sb.has_port = sb.has_weight = 1;
		sb.id = 11;
		sb.address.data = baddr;
		sb.address.len = 4;
		sb.port = 80;
		sb.weight = 1;
		sv.n_backends = 1;
		sv.backends = psb;
		set.n_services = 1;
		set.services = psv;
		switch (cases[i].field) {
		case 0:
			sv.port = cases[i].value;
			break;
		case 1:
			sv.protocol = cases[i].value;
			break;
		case 2:
			sv.mode = cases[i].value;
			break;
		case 3:
			sb.id = cases[i].value;
			break;
		case 4:
			sb.port = cases[i].value;
			break;
		case 5:
			set.n_services = 2; /* the same VIP twice */
			break;
		case 6:
			sb.address.len = 5;
			break;
		}
		len = xlbsync__service_set__pack(&set, buf);
		why[0] = 0;
		assert_int_equal(svcset_decode(&out, buf, len, why, sizeof(why)), -EBADMSG);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, cases[i].why);
	}
	/* not a protobuf message at all */
	{
		uint8_t junk[] = { 0xff, 0xff, 0xff };
		struct svc_set out;

		assert_int_equal(svcset_decode(&out, junk, sizeof(junk), why, sizeof(why)),
				 -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_canonical), cmocka_unit_test(test_digest_changes),
		cmocka_unit_test(test_diff_equal),	 cmocka_unit_test(test_diff_each_kind),
		cmocka_unit_test(test_peer_serves),	 cmocka_unit_test(test_decode_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
