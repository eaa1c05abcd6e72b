/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Backend health checks on a libuv loop: TCP connect, or HTTP GET with an
 * expected status (response parsed with http-parser), with rise/fall counts.
 */
#ifndef LBD_HEALTH_H
#define LBD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

struct hc;

/*
 * Called on every state change of a (vip, backend) target. up is the new
 * state; reason is a short text ("connect refused", "timeout",
 * "status 503", "ok"). The first check result of a target always reports
 * (targets start unknown, treated as down by hc_is_up()).
 */
typedef void (*hc_state_cb)(void *arg, uint32_t vip_id, uint32_t backend_id, bool up,
			    const char *reason);

struct hc *hc_new(uv_loop_t *loop, hc_state_cb cb, void *arg);

/* Start checking backend be of VIP vip_id (vip_port: the VIP's port, used
 * when neither hc->port nor be->port is set) as cfg says (NULL: HC_NONE);
 * cfg is a health check the config file allows, -EINVAL otherwise. HC_NONE
 * targets are up at once (the callback fires from the loop, not from inside
 * hc_add). Returns 0 or -errno (-EEXIST if already present). */
int hc_add(struct hc *h, uint32_t vip_id, const struct cfg_backend *be, uint16_t vip_port,
	   const struct cfg_healthcheck *cfg);

/* Stop checking; safe while a check is in flight. Returns 0 or -ENOENT. */
int hc_remove(struct hc *h, uint32_t vip_id, uint32_t backend_id);

/* Current state; false for unknown targets. */
bool hc_is_up(const struct hc *h, uint32_t vip_id, uint32_t backend_id);

/* Last reason text of the target, or NULL. */
const char *hc_reason(const struct hc *h, uint32_t vip_id, uint32_t backend_id);

/* Stop everything and free once all handles are closed (call before
 * running the loop to completion). */
void hc_free(struct hc *h);

#endif
