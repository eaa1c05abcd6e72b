/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lbd control socket: a Unix stream socket on the daemon's libuv loop.
 * One JSON request per line, {"cmd":"status", ...}; one JSON response line
 * each, {"ok":true,"result":...} or {"ok":false,"error":"..."}.
 */
#ifndef LBD_CTL_H
#define LBD_CTL_H

#include <stddef.h>

struct lbd;
struct ctl;

#define CTL_MAX_REQUEST	     (64 * 1024) /* longest request line */
#define CTL_MAX_CLIENTS	     256
#define CTL_SESSIONS_DEFAULT 100
#define CTL_SESSIONS_MAX     1000000

/* Listen on path (mode 0600). A stale socket file is replaced only when no
 * one answers on it. NULL on error with a message in err. */
struct ctl *ctl_new(struct lbd *l, const char *path, char *err, size_t errlen);

/* Close the listener and every client, unlink the socket; memory is
 * released as the loop closes the handles. */
void ctl_free(struct ctl *c);

#endif
