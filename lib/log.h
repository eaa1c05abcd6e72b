/* SPDX-License-Identifier: BSD-2-Clause */
/* One-line operator logs: "<ts> <prog> <node> <level>: message". */
#ifndef XLB_LOG_H
#define XLB_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum xlb_log_level { XLB_LOG_ERR = 0, XLB_LOG_WARN, XLB_LOG_INFO, XLB_LOG_DEBUG };

/* prog: "lbd"/"syncd"; node: node name (may be NULL until known). */
void xlb_log_init(const char *prog, const char *node, enum xlb_log_level level);
void xlb_log_set_node(const char *node);
void xlb_log_set_level(enum xlb_log_level level);
enum xlb_log_level xlb_log_get_level(void);
void xlb_log(enum xlb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xlb_vlog(enum xlb_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/*
 * A repeated error (a map write failing on every tick, a client flood) logs
 * at most burst lines per interval; the lines held back are counted and the
 * next line that gets through says how many.
 */
struct xlb_ratelimit {
	uint64_t interval_ns;
	unsigned int burst;
	unsigned int printed; /* lines in the current interval */
	uint64_t start_ns;    /* CLOCK_MONOTONIC start of the interval, 0: none */
	uint64_t suppressed;
};
#define XLB_RATELIMIT_INIT(seconds, lines)                                                         \
	{                                                                                          \
		.interval_ns = (seconds)*1000000000ull, .burst = (lines)                           \
	}

void xlb_log_rl(struct xlb_ratelimit *rl, enum xlb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Route libbpf's messages through xlb_log (warnings and errors only unless
 * the level is debug). */
void xlb_log_libbpf(void);

#define log_err(...)	     xlb_log(XLB_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	     xlb_log(XLB_LOG_WARN, __VA_ARGS__)
#define log_info(...)	     xlb_log(XLB_LOG_INFO, __VA_ARGS__)
#define log_err_rl(rl, ...)  xlb_log_rl(rl, XLB_LOG_ERR, __VA_ARGS__)
#define log_warn_rl(rl, ...) xlb_log_rl(rl, XLB_LOG_WARN, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (xlb_log_get_level() >= XLB_LOG_DEBUG)                                          \
			xlb_log(XLB_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
