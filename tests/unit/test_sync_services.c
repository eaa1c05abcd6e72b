// SPDX-License-Identifier: BSD-2-Clause
/*
 * syncd/services.c: an incoming session is applied only if its backend is
 * installed on this node (the live backends map, what lbd installed at
 * start or at run time) with the address and port the session names. One
 * test per refusal reason; the map-backed check (a backend added at run
 * time is seen at once, one removed is refused) on a real BPF array, which
 * needs root: skipped without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <bpf/bpf.h>

#include "services.h"

static void backend(struct xlb_backend *b, const char *addr, uint16_t port, uint8_t flags)
{
	memset(b, 0, sizeof(*b));
	inet_pton(AF_INET, addr, &b->addr);
	b->family = XLB_AF_INET;
	b->port = htons(port);
	b->flags = flags;
}

static void session(struct xlb_flow_key *k, struct xlb_session *s, uint32_t id, const char *be,
		    uint16_t be_port)
{
	memset(k, 0, sizeof(*k));
	memset(s, 0, sizeof(*s));
	inet_pton(AF_INET, "198.18.1.10", &k->saddr);
	inet_pton(AF_INET, "198.18.100.1", &k->daddr);
	k->sport = htons(40000);
	k->dport = htons(8080);
	k->proto = IPPROTO_TCP;
	k->family = XLB_AF_INET;
	inet_pton(AF_INET, be, &s->backend);
	s->backend_port = htons(be_port);
	s->backend_id = id;
}

static void test_mismatch_reasons(void **state)
{
	struct xlb_backend b;
	struct xlb_flow_key k;
	struct xlb_session s;

	(void)state;
	session(&k, &s, 21, "198.18.2.21", 80);
	backend(&b, "198.18.2.21", 80, XLB_BE_F_ACTIVE);
	assert_null(svc_backend_mismatch(&b, &k, &s));
	/* port 0: the VIP's port */
	backend(&b, "198.18.2.21", 0, XLB_BE_F_ACTIVE);
	assert_string_equal(svc_backend_mismatch(&b, &k, &s), "installed here with another port");
	session(&k, &s, 21, "198.18.2.21", 8080);
	assert_null(svc_backend_mismatch(&b, &k, &s));
	/* down or drained: still installed */
	backend(&b, "198.18.2.21", 8080, XLB_BE_F_ACTIVE | XLB_BE_F_DOWN | XLB_BE_F_DRAIN);
	assert_null(svc_backend_mismatch(&b, &k, &s));
	backend(&b, "198.18.2.22", 8080, XLB_BE_F_ACTIVE);
	assert_string_equal(svc_backend_mismatch(&b, &k, &s),
			    "installed here with another address");
	backend(&b, "198.18.2.21", 8081, XLB_BE_F_ACTIVE);
	assert_string_equal(svc_backend_mismatch(&b, &k, &s), "installed here with another port");
	/* removed (a reset mark left behind), or never there */
	backend(&b, "198.18.2.21", 8080, XLB_BE_F_RESET);
	assert_string_equal(svc_backend_mismatch(&b, &k, &s), "not installed on this node");
	memset(&b, 0, sizeof(b));
	assert_string_equal(svc_backend_mismatch(&b, &k, &s), "not installed on this node");
	/* another map naming a backend id: presence only */
	assert_string_equal(svc_backend_mismatch(&b, NULL, NULL), "not installed on this node");
	backend(&b, "198.18.2.99", 1, XLB_BE_F_ACTIVE);
	assert_null(svc_backend_mismatch(&b, NULL, NULL));
}

/* A peer's full-NAT entry may name only this cluster's SNAT address and a
 * port in one of the cluster's ranges (a forged entry would otherwise make
 * this node rewrite flows to any address and port). */
static void test_snat_check(void **state)
{
	struct svc_snat sn = { .family = XLB_AF_INET, .n = 2 };
	union xlb_addr a = { 0 }, other = { 0 }, v6 = { 0 };
	char why[160];

	(void)state;
	inet_pton(AF_INET, "198.18.101.1", &sn.addr);
	inet_pton(AF_INET, "198.18.101.1", &a);
	inet_pton(AF_INET, "198.18.9.9", &other);
	inet_pton(AF_INET6, "2001:2::1", &v6);
	sn.range[0].min = 20000; /* this node */
	sn.range[0].max = 39999;
	sn.range[1].min = 40000; /* its peer */
	sn.range[1].max = 59999;
	assert_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(20000), why, sizeof(why)));
	assert_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(59999), why, sizeof(why)));
	/* bytes past an IPv4 address are not compared (the data plane reads 4) */
	a.w[3] = 0x12345678;
	assert_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(45000), why, sizeof(why)));
	assert_non_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(19999), why, sizeof(why)));
	assert_string_equal(why, "SNAT port 19999 is in no node's range");
	assert_non_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(60000), why, sizeof(why)));
	assert_non_null(svc_snat_check(&sn, XLB_AF_INET, &other, htons(20000), why, sizeof(why)));
	assert_string_equal(why, "SNAT address 198.18.9.9 is not this node's snat.address "
				 "198.18.101.1");
	assert_non_null(svc_snat_check(&sn, XLB_AF_INET6, &v6, htons(20000), why, sizeof(why)));
	/* a peer whose range is not configured: any port */
	sn.range[1].min = sn.range[1].max = 0;
	assert_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(60000), why, sizeof(why)));
	/* no snat.address here: no full-NAT entry is taken */
	sn.family = 0;
	assert_non_null(svc_snat_check(&sn, XLB_AF_INET, &a, htons(20000), why, sizeof(why)));
	assert_non_null(strstr(why, "no snat.address"));
}

static void test_id_out_of_range(void **state)
{
	struct svc_backends sb = { .fd = -1 };
	struct xlb_flow_key k;
	struct xlb_session s;
	char why[256];

	(void)state;
	session(&k, &s, XLB_NO_BACKEND, "198.18.2.21", 80);
	assert_int_equal(svc_backends_check(&sb, XLB_NO_BACKEND, &k, &s, 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "out of range"));
	assert_int_equal(svc_backends_check(&sb, XLB_MAX_BACKENDS, &k, &s, 1, why, sizeof(why)),
			 -1);
}

/* The live map: a backend added after the last whole read is seen (the
 * slot is read again before a refusal); one removed is refused with a
 * line that names the VIP, the backend and the reason. */
static void test_live_map(void **state)
{
	struct svc_backends sb;
	struct xlb_backend b;
	struct xlb_flow_key k;
	struct xlb_session s;
	uint32_t id = 21;
	uint64_t now = 1000;
	char why[256];
	int fd;

	(void)state;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "backends", sizeof(uint32_t),
			    sizeof(struct xlb_backend), XLB_MAX_BACKENDS, NULL);
	if (fd < 0) {
		skip(); /* no BPF here (not root) */
		return;
	}
	memset(&sb, 0, sizeof(sb));
	sb.slot = calloc(XLB_MAX_BACKENDS, sizeof(*sb.slot));
	assert_non_null(sb.slot);
	sb.fd = fd;

	session(&k, &s, id, "198.18.2.21", 80);
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), -1);
	assert_string_equal(why, "vip 198.18.100.1:8080/tcp backend 21 (198.18.2.21:80 in the "
				 "entry): not installed on this node");
	assert_int_equal(sb.reads, 1);

	backend(&b, "198.18.2.21", 80, XLB_BE_F_ACTIVE); /* lbctl backend add */
	assert_int_equal(bpf_map_update_elem(fd, &id, &b, BPF_ANY), 0);
	now += 1000; /* well within SVC_REFRESH_NS: no whole read */
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), 0);
	assert_int_equal(sb.reads, 1);
	assert_int_equal(sb.rereads, 2);
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), 0);
	assert_int_equal(sb.rereads, 2); /* cached now */

	backend(&b, "198.18.2.21", 81, XLB_BE_F_ACTIVE); /* changed at run time */
	assert_int_equal(bpf_map_update_elem(fd, &id, &b, BPF_ANY), 0);
	now += SVC_REFRESH_NS + 1;
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), -1);
	assert_string_equal(why, "vip 198.18.100.1:8080/tcp backend 21 (198.18.2.21:80 in the "
				 "entry): installed here with another port (198.18.2.21:81)");
	assert_int_equal(sb.reads, 2);

	memset(&b, 0, sizeof(b)); /* lbctl backend del */
	assert_int_equal(bpf_map_update_elem(fd, &id, &b, BPF_ANY), 0);
	session(&k, &s, id, "198.18.2.21", 81);
	/* the cached slot still serves it, for at most SVC_REFRESH_NS */
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), 0);
	now += SVC_REFRESH_NS + 1;
	assert_int_equal(svc_backends_check(&sb, id, &k, &s, now, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not installed on this node"));
	svc_backends_close(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mismatch_reasons),
		cmocka_unit_test(test_id_out_of_range),
		cmocka_unit_test(test_snat_check),
		cmocka_unit_test(test_live_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
