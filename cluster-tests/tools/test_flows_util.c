// SPDX-License-Identifier: BSD-2-Clause
/*
 * xlb-flows helpers: the incremental HTTP response reader (answers split
 * anywhere, several in one read, errors, keep-alive), the ADDR:PORT and
 * number parsers, the backend name of an answer, the percentile.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "flows_util.h"

struct seen {
	int n;
	int status[8];
	char body[8][64];
	bool keep_alive[8];
	int stop_after; /* callback returns 1 at this count (0: never) */
};

static int record(void *ctx, int status, const char *body, size_t len, bool keep_alive)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		s->status[s->n] = status;
		snprintf(s->body[s->n], sizeof(s->body[0]), "%.*s", (int)len, body);
		s->keep_alive[s->n] = keep_alive;
	}
	s->n++;
	return s->stop_after && s->n == s->stop_after;
}

static size_t resp(char *out, size_t outsz, const char *body)
{
	return (size_t)snprintf(out, outsz,
				"HTTP/1.1 200 OK\r\nServer: nginx\r\n"
				"Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n%s",
				strlen(body), body);
}

static void test_split_everywhere(void **state)
{
	char buf[512];
	size_t len = resp(buf, sizeof(buf), "backend be1\n"), cut;

	for (cut = 0; cut <= len; cut++) {
		struct seen s = { 0 };
		struct hresp r;

		hresp_init(&r, record, &s);
		assert_int_equal(hresp_feed(&r, buf, cut), 0);
		assert_int_equal(s.n, cut == len ? 1 : 0);
		assert_int_equal(hresp_feed(&r, buf + cut, len - cut), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.status[0], 200);
		assert_string_equal(s.body[0], "backend be1\n");
		assert_true(s.keep_alive[0]);
	}
}

static void test_several_in_one_read(void **state)
{
	char buf[1024];
	size_t len = resp(buf, sizeof(buf), "backend be1\n");
	struct seen s = { 0 };
	struct hresp r;

	len += resp(buf + len, sizeof(buf) - len, "backend be2\n");
	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, buf, len), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.body[0], "backend be1\n");
	assert_string_equal(s.body[1], "backend be2\n");
	assert_int_equal(s.status[2], 503);
	assert_string_equal(s.body[2], "");
}

static void test_chunked_body(void **state)
{
	static const char c[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				"8\r\nbackend \r\n4\r\nbe3\n\r\n0\r\n\r\n";
	struct seen s = { 0 };
	struct hresp r;

	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, c, sizeof(c) - 1), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.body[0], "backend be3\n");
}

static void test_stop_from_callback(void **state)
{
	char buf[1024];
	size_t len = resp(buf, sizeof(buf), "a\n");
	struct seen s = { .stop_after = 1 };
	struct hresp r;

	len += resp(buf + len, sizeof(buf) - len, "b\n");
	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, buf, len), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(hresp_feed(&r, buf, len), 1); /* stays stopped */
	assert_int_equal(s.n, 1);
}

static void test_malformed_and_close(void **state)
{
	static const char junk[] = "SSH-2.0-OpenSSH_9.2\r\n";
	static const char http10[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbe\n";
	static const char closing[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
				      "Content-Length: 3\r\n\r\nbe\n";
	struct seen s = { 0 };
	struct hresp r;

	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, junk, sizeof(junk) - 1), -1);
	assert_non_null(hresp_error(&r));
	assert_int_equal(s.n, 0);

	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, http10, sizeof(http10) - 1), 0);
	assert_int_equal(s.n, 1);
	assert_false(s.keep_alive[0]);

	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, closing, sizeof(closing) - 1), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.keep_alive[1]);
}

static void test_long_body_truncated(void **state)
{
	char body[1000], buf[1200];
	size_t len;
	struct seen s = { 0 };
	struct hresp r;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	len = resp(buf, sizeof(buf), body);
	hresp_init(&r, record, &s);
	assert_int_equal(hresp_feed(&r, buf, len), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(r.body_len, HRESP_BODY_MAX);
}

static void test_targets(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_storage other;
	char out[64];

	assert_int_equal(parse_target("198.18.100.2:80", false, &ss), 0);
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 80);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), 0xc6126402);
	format_target((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, "198.18.100.2:80");
	assert_int_equal(parse_target("198.18.100.2:80", false, &other), 0);
	assert_true(same_target((struct sockaddr *)&ss, (struct sockaddr *)&other));
	assert_int_equal(parse_target("198.18.100.2:81", false, &other), 0);
	assert_false(same_target((struct sockaddr *)&ss, (struct sockaddr *)&other));

	assert_int_equal(parse_target("[2001:db8::1]:443", false, &ss), 0);
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 443);
	format_target((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::1]:443");

	assert_int_equal(parse_target("0.0.0.0:0", true, &ss), 0);
	assert_int_equal(parse_target("0.0.0.0:0", false, &ss), -1);
	assert_int_equal(parse_target("2001:db8::1:80", false, &ss), -1);
	assert_int_equal(parse_target("1.2.3.4", false, &ss), -1);
	assert_int_equal(parse_target("1.2.3.4:", false, &ss), -1);
	assert_int_equal(parse_target("1.2.3.4:65536", false, &ss), -1);
	assert_int_equal(parse_target("1.2.3.4:8o", false, &ss), -1);
	assert_int_equal(parse_target("host.example:80", false, &ss), -1);
	assert_int_equal(parse_target(":80", false, &ss), -1);
	assert_int_equal(parse_target("[::1:80", false, &ss), -1);
	assert_int_equal(parse_target(NULL, false, &ss), -1);
}

static void test_numbers(void **state)
{
	unsigned long v;
	double d;

	assert_int_equal(parse_ulong("50", 1, 100, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(parse_ulong("0", 1, 100, &v), -1);
	assert_int_equal(parse_ulong("101", 1, 100, &v), -1);
	assert_int_equal(parse_ulong("-1", 0, 100, &v), -1);
	assert_int_equal(parse_ulong(" 5", 0, 100, &v), -1);
	assert_int_equal(parse_ulong("5ms", 0, 100, &v), -1);
	assert_int_equal(parse_ulong("", 0, 100, &v), -1);
	assert_int_equal(parse_ulong("99999999999999999999999", 0, 100, &v), -1);
	assert_int_equal(parse_double("0.5", 0, 100, &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(parse_double("nan", 0, 100, &d), -1);
	assert_int_equal(parse_double("100.1", 0, 100, &d), -1);
	assert_int_equal(parse_double("5%", 0, 100, &d), -1);
}

static void test_answer_name(void **state)
{
	char out[16];

	assert_int_equal(answer_name("backend be1\n", 12, out, sizeof(out)), 11);
	assert_string_equal(out, "backend be1");
	answer_name("  be2 \r\nsecond line\n", 20, out, sizeof(out));
	assert_string_equal(out, "be2");
	answer_name("", 0, out, sizeof(out));
	assert_string_equal(out, "");
	answer_name("a\x01"
		    "b",
		    3, out, sizeof(out));
	assert_string_equal(out, "a?b");
	answer_name("a very long backend name", 24, out, sizeof(out));
	assert_string_equal(out, "a very long bac");
}

static void test_percentile(void **state)
{
	uint64_t v[100];
	uint64_t one[1] = { 7 };
	int i;

	for (i = 0; i < 100; i++)
		v[i] = (uint64_t)(100 - i); /* 100..1, unsorted */
	assert_int_equal(percentile_u64(v, 100, 50), 50);
	assert_int_equal(percentile_u64(v, 100, 99), 99);
	assert_int_equal(percentile_u64(v, 100, 100), 100);
	assert_int_equal(percentile_u64(one, 1, 50), 7);
	assert_int_equal(percentile_u64(one, 1, 99), 7);
	assert_int_equal(percentile_u64(NULL, 0, 50), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_several_in_one_read),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_stop_from_callback),
		cmocka_unit_test(test_malformed_and_close),
		cmocka_unit_test(test_long_body_truncated),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_answer_name),
		cmocka_unit_test(test_percentile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
