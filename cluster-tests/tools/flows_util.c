// SPDX-License-Identifier: BSD-2-Clause
/* Pure helpers of xlb-flows (see flows_util.h). */
#include "flows_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ responses */

static int on_message_begin(http_parser *p)
{
	struct hresp *r = p->data;

	r->body_len = 0;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct hresp *r = p->data;
	size_t room = sizeof(r->body) - r->body_len;

	if (len > room)
		len = room;
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct hresp *r = p->data;

	if (r->cb(r->ctx, (int)p->status_code, r->body, r->body_len,
		  http_should_keep_alive(p) != 0)) {
		r->stopped = true;
		return 1;
	}
	return 0;
}

static const http_parser_settings hresp_settings = {
	.on_message_begin = on_message_begin,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void hresp_init(struct hresp *r, hresp_cb cb, void *ctx)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	r->cb = cb;
	r->ctx = ctx;
}

int hresp_feed(struct hresp *r, const char *data, size_t len)
{
	if (r->stopped)
		return 1;
	http_parser_execute(&r->parser, &hresp_settings, data, len);
	if (r->stopped)
		return 1;
	if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
		return -1;
	return 0;
}

const char *hresp_error(const struct hresp *r)
{
	return http_errno_description(HTTP_PARSER_ERRNO(&r->parser));
}

/* ------------------------------------------------------- command line */

int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_target(const char *s, bool allow_port0, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hlen;
	unsigned long port;

	if (!s)
		return -1;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1; /* bare IPv6 needs brackets */
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_ulong(colon + 1, allow_port0 ? 0 : 1, 65535, &port))
		return -1;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
	}
	return 0;
}

void format_target(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(out, outsz, "[%s]:%u", host, ntohs(a->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(out, outsz, "%s:%u", host, ntohs(a->sin_port));
	} else {
		snprintf(out, outsz, "(family %d)", sa->sa_family);
	}
}

bool same_target(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

/* ---------------------------------------------------------------- misc */

size_t answer_name(const char *body, size_t len, char *out, size_t outsz)
{
	size_t b = 0, e, n, i;

	if (outsz == 0)
		return 0;
	e = 0;
	while (e < len && body[e] != '\n')
		e++;
	while (b < e && (body[b] == ' ' || body[b] == '\t' || body[b] == '\r'))
		b++;
	while (e > b && (body[e - 1] == ' ' || body[e - 1] == '\t' || body[e - 1] == '\r'))
		e--;
	n = e - b;
	if (n > outsz - 1)
		n = outsz - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body[b + i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t percentile_u64(uint64_t *v, size_t n, double pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	rank = (size_t)ceil(pct / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}
