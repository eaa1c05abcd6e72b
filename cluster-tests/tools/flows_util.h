/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pure helpers of xlb-flows, kept apart so that the unit test can reach
 * them: an incremental HTTP/1.1 response reader on top of http-parser, the
 * ADDR:PORT and number parsers of the command line, the backend name of an
 * answer, and a nearest-rank percentile.
 */
#ifndef XLB_FLOWS_UTIL_H
#define XLB_FLOWS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <http_parser.h>

#define HRESP_BODY_MAX 256 /* body bytes kept per response (rest dropped) */

/*
 * Called once per complete response. Returning non-zero stops the parsing
 * of the current chunk (hresp_feed() then returns 1).
 */
typedef int (*hresp_cb)(void *ctx, int status, const char *body, size_t body_len, bool keep_alive);

struct hresp {
	http_parser parser;
	hresp_cb cb;
	void *ctx;
	bool stopped;
	size_t body_len;
	char body[HRESP_BODY_MAX];
};

void hresp_init(struct hresp *r, hresp_cb cb, void *ctx);
/* 0: all consumed; 1: the callback stopped it; -1: malformed (hresp_error) */
int hresp_feed(struct hresp *r, const char *data, size_t len);
const char *hresp_error(const struct hresp *r);

/*
 * "1.2.3.4:80" or "[2001:db8::1]:80". Port 1..65535, or 0 too when
 * allow_port0. Returns 0 or -1.
 */
int parse_target(const char *s, bool allow_port0, struct sockaddr_storage *ss);
/* Formats an address as parse_target() reads it. */
void format_target(const struct sockaddr *sa, char *out, size_t outsz);
/* Same family, address and port. */
bool same_target(const struct sockaddr *a, const struct sockaddr *b);

/* Whole-string decimal in [min, max]. Returns 0 or -1. */
int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);
int parse_double(const char *s, double min, double max, double *out);

/*
 * The backend's name in an answer: its first line without surrounding
 * white space, truncated to outsz - 1; unprintable bytes become '?'.
 * Returns the length written.
 */
size_t answer_name(const char *body, size_t len, char *out, size_t outsz);

/* Nearest-rank percentile (0 < pct <= 100) of v[0..n); sorts v. 0 if n == 0. */
uint64_t percentile_u64(uint64_t *v, size_t n, double pct);

#endif
