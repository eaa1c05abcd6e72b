// SPDX-License-Identifier: BSD-2-Clause
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "clock.h"
#include "log.h"

static char log_prog[32] = "xdplb";
static char log_node[64] = "-";
static enum xlb_log_level log_level = XLB_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void xlb_log_init(const char *prog, const char *node, enum xlb_log_level level)
{
	snprintf(log_prog, sizeof(log_prog), "%s", prog ? prog : "xdplb");
	xlb_log_set_node(node);
	log_level = level;
}

void xlb_log_set_node(const char *node)
{
	snprintf(log_node, sizeof(log_node), "%s", node && *node ? node : "-");
}

void xlb_log_set_level(enum xlb_log_level level)
{
	log_level = level;
}

enum xlb_log_level xlb_log_get_level(void)
{
	return log_level;
}

void xlb_vlog(enum xlb_log_level level, const char *fmt, va_list ap)
{
	char msg[1024], ts[32], *p;
	struct timespec now;
	struct tm tm;
	size_t n;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* One record, one line: a newline or escape a peer or a client put in
	 * its text cannot start a record of its own. */
	for (p = msg; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			*p = '?';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s node=%s %s: %s\n", ts, now.tv_nsec / 1000000, log_prog,
		log_node, level_names[level], msg);
}

void xlb_log(enum xlb_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	xlb_vlog(level, fmt, ap);
	va_end(ap);
}

void xlb_log_rl(struct xlb_ratelimit *rl, enum xlb_log_level level, const char *fmt, ...)
{
	uint64_t now;
	char msg[1024];
	va_list ap;

	if (level > log_level)
		return;
	now = xlb_mono_ns();
	if (!rl->start_ns || now - rl->start_ns >= rl->interval_ns) {
		rl->start_ns = now ? now : 1;
		rl->printed = 0;
	}
	if (rl->printed >= (rl->burst ? rl->burst : 1)) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->suppressed)
		xlb_log(level, "%s (%llu similar lines suppressed)", msg,
			(unsigned long long)rl->suppressed);
	else
		xlb_log(level, "%s", msg);
	rl->suppressed = 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[8192], *line, *nl;
	enum xlb_log_level l;

	switch (level) {
	case LIBBPF_WARN:
		l = XLB_LOG_WARN;
		break;
	case LIBBPF_INFO:
		l = XLB_LOG_DEBUG;
		break;
	default:
		l = XLB_LOG_DEBUG;
		break;
	}
	if (l > log_level)
		return 0;
	/* libbpf's verifier log is many lines in one message: one record each. */
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = buf; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (*line)
			xlb_log(l, "%s", line);
	}
	return 0;
}

void xlb_log_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
