/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lbd daemon state and the operations the control socket calls.
 *
 * The running configuration is the struct node_config the parser filled in,
 * changed in place by run-time commands. VIP slot i of cfg->vips has
 * vip_id i (its index in the maglev and vip_stats maps); a deleted VIP leaves
 * an empty slot (name[0] == '\0') that a later vip.add reuses, so the ids of
 * the other VIPs never move. cfg->n_vips is the number of slots in use or
 * free below the highest used one.
 */
#ifndef LBD_LBD_H
#define LBD_LBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dataplane.h"

struct hc;
struct ageing;
struct ctl;

/* Backends currently in a VIP's Maglev table (the eligible set it was built
 * from), used to rebuild only when the set changes. */
struct lbd_vip_rt {
	bool table_valid; /* a table has been installed */
	size_t n;
	uint32_t ids[CFG_MAX_BACKENDS_PER_VIP]; /* sorted by id */
	uint32_t weights[CFG_MAX_BACKENDS_PER_VIP];
	uint64_t rebuilds;
};

struct lbd {
	uv_loop_t loop;
	struct node_config *cfg;
	struct dataplane dp;
	struct hc *hc;
	struct ageing *ageing;
	struct synclink *synclink; /* deletes to syncd, NULL: sync off */
	struct ctl *ctl;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uint64_t start_ns; /* CLOCK_MONOTONIC at start */
	int lock_fd;	   /* flock()ed pin dir */
	char pid_path[CFG_PATH_MAX + 16];
	struct lbd_vip_rt vrt[XLB_MAX_VIPS];
	uint64_t maglev_rebuilds;
	bool stopping;
};

static inline bool lbd_vip_used(const struct cfg_vip *v)
{
	return v->name[0] != '\0';
}

/* Run-time changes. Each validates with the config parser's own checks
 * (cfg_check_vip(), cfg_check_backend()), changes nothing on error and
 * writes a one-line reason into err. Return 0 or -errno. */
int lbd_vip_add(struct lbd *l, const struct cfg_vip *v, char *err, size_t errlen);
int lbd_vip_del(struct lbd *l, const char *name, char *err, size_t errlen);
int lbd_backend_add(struct lbd *l, const char *vip, const struct cfg_backend *b, char *err,
		    size_t errlen);
int lbd_backend_del(struct lbd *l, const char *vip, uint32_t id, char *err, size_t errlen);
int lbd_backend_drain(struct lbd *l, const char *vip, uint32_t id, bool drain, char *err,
		      size_t errlen);
/* A new weight for backend id of vip (0: no new flows, sessions kept). */
int lbd_backend_weight(struct lbd *l, const char *vip, uint32_t id, uint32_t weight, char *err,
		       size_t errlen);

bool lbd_backend_in_table(const struct lbd *l, uint32_t vip_id, uint32_t id);
struct cfg_vip *lbd_vip_by_id(struct lbd *l, uint32_t vip_id);
struct cfg_vip *lbd_vip_by_name(struct lbd *l, const char *name);
size_t lbd_vip_count(const struct lbd *l);

#endif
