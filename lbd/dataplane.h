/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The XDP data plane as lbd sees it: bpffs and pins, the lb skeleton, map
 * writes (VIPs, backends, Maglev tables, port pool), XDP attach/detach and
 * map reads (sessions, counters).
 *
 * Functions return 0 or a negative errno; those that can fail for a reason
 * the operator must act on also write a one-line message into err.
 */
#ifndef LBD_DATAPLANE_H
#define LBD_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "config.h"
#include "xdplb.h"

struct lb;

struct dataplane {
	struct lb *skel;
	int ifindex;
	char ifname[IF_NAMESIZE];
	uint32_t xdp_flags; /* XDP_FLAGS_DRV_MODE or _SKB_MODE */
	bool attached;
	int prog_fd;
	uint32_t prog_id;
	int ncpus;			/* possible CPUs (per-CPU map values) */
	bool reused;			/* sessions map came from an existing pin */
	int maglev_inner[XLB_MAX_VIPS]; /* inner map fds we installed, -1 */

	int fd_vips;
	int fd_backends;
	int fd_maglev;
	int fd_sessions;
	int fd_reverse;
	int fd_pool;
	int fd_stats;
	int fd_vip_stats;
	int fd_config;
	int fd_members;
};

/* Start-up checks: capabilities and kernel support. */
int dp_check_privileges(char *err, size_t errlen);
int dp_check_kernel(char *err, size_t errlen);

/* Make sure a bpffs is mounted at cfg->bpffs and cfg->pin_dir exists. */
int dp_prepare_bpffs(const struct node_config *cfg, char *err, size_t errlen);

/* Open the skeleton with pins under cfg->pin_dir (reusing them), size the
 * session maps and load. Does not attach. */
int dp_open(struct dataplane *dp, const struct node_config *cfg, char *err, size_t errlen);
void dp_close(struct dataplane *dp);

int dp_write_config(struct dataplane *dp, const struct node_config *cfg);
/* port_owner: this node's and its sync peers' SNAT port ranges. */
int dp_write_port_owner(struct dataplane *dp, const struct node_config *cfg);

int dp_vip_set(struct dataplane *dp, const struct cfg_vip *v);
int dp_vip_del(struct dataplane *dp, const struct cfg_vip *v);
int dp_vip_stats_reset(struct dataplane *dp, uint32_t vip_id);

int dp_backend_set(struct dataplane *dp, const struct cfg_backend *b);
/* The backend's state as the data plane sees it for the sessions it holds
 * (XLB_BE_F_DOWN, XLB_BE_F_DRAIN); 0, -ENOENT (no such backend), -errno. */
int dp_backend_state(struct dataplane *dp, uint32_t id, bool down, bool drain);
/* Backend id has been gone (down, or removed: its slot cleared) longer
 * than sessions.timeouts.backend_gone: mark it so that the data plane
 * answers its sessions' client TCP segments with a RST (XLB_BE_F_RESET;
 * cleared when it comes back up or is added again). */
int dp_backend_reset(struct dataplane *dp, uint32_t id);
/* XLB_BE_F_* of backend id's slot as the data plane sees them (0: none). */
int dp_backend_flags(struct dataplane *dp, uint32_t id);
int dp_backend_clear(struct dataplane *dp, uint32_t id);

/*
 * The vip_members map (xdplb.h): v's backends with their weight and drain
 * state, and none of another VIP that had v's slot before. A VIP deleted:
 * dp_members_clear(dp, vip_id); every VIP: vip_id XLB_MAX_VIPS.
 */
int dp_members_publish(struct dataplane *dp, const struct cfg_vip *v);
int dp_members_clear(struct dataplane *dp, uint32_t vip_id);
/* Deletes the members of every VIP id not used[]. */
int dp_members_keep(struct dataplane *dp, const bool used[XLB_MAX_VIPS]);

/* Build a new inner map from table[XLB_MAGLEV_SIZE] (NULL: all empty) and
 * swap it into maglev[vip_id]. */
int dp_maglev_install(struct dataplane *dp, uint32_t vip_id, const uint32_t *table);
int dp_maglev_remove(struct dataplane *dp, uint32_t vip_id);

/* Empty the port pool, then push the node's SNAT range minus the ports held
 * by existing sessions. Reports how many were pushed and held. */
int dp_port_pool_fill(struct dataplane *dp, const struct node_config *cfg, unsigned int *pushed,
		      unsigned int *held);
int dp_port_pool_push(struct dataplane *dp, uint16_t port);

int dp_attach(struct dataplane *dp, const struct node_config *cfg, char *err, size_t errlen);
int dp_detach(struct dataplane *dp);

/* Global counters summed over CPUs. */
int dp_read_stats(struct dataplane *dp, uint64_t out[XLB_STAT_MAX]);
const char *dp_stat_name(unsigned int i);
int dp_read_vip_stats(struct dataplane *dp, uint32_t vip_id, struct xlb_vip_stats *out);

/*
 * Batched walk over a hash map of flow keys (sessions or reverse). A cursor
 * resumes where the previous call stopped; dp_walk_next() fills up to
 * w->cap entries into w->keys/w->vals, sets *n and returns 1 when the end of
 * the map was reached (the cursor restarts), 0 when there is more, or
 * -errno.
 */
struct dp_walk {
	int fd;
	size_t key_size;
	size_t val_size;
	uint32_t cap;
	void *keys;
	void *vals;
	uint32_t token; /* batch position */
	void *next_key; /* element-at-a-time position */
	bool started;
};

int dp_walk_init(struct dp_walk *w, int fd, size_t key_size, size_t val_size, uint32_t cap);
int dp_walk_next(struct dp_walk *w, uint32_t *n);
void dp_walk_reset(struct dp_walk *w);
void dp_walk_free(struct dp_walk *w);

/* Call fn for each entry of the sessions map, read cap entries at a time;
 * a non-zero return from fn stops the walk. Returns 0 or -errno. */
typedef int (*dp_session_fn)(void *arg, const struct xlb_flow_key *k, const struct xlb_session *s);
int dp_sessions_foreach(struct dataplane *dp, uint32_t cap, dp_session_fn fn, void *arg);

/* Counts of the sessions map and of SNAT ports of cfg's range in use. */
int dp_sessions_count(struct dataplane *dp, const struct node_config *cfg, uint64_t *total,
		      uint64_t *owned, uint64_t *ports_held);

/* A session holds a port of this node's pool (to return on delete): this
 * node's SNAT address and a port of its range, whoever owns the session
 * now (adoption and takeover move sessions, never ports). */
bool dp_session_holds_pool_port(const struct node_config *cfg, const struct xlb_session *s);

/* The reverse-map key of a full-NAT session. */
void dp_reverse_key(const struct xlb_flow_key *fwd, const struct xlb_session *s,
		    struct xlb_flow_key *rev);

/* Entries of the reverse map, and how many of them are stale: their
 * session is gone or now holds another SNAT port or backend (a leak once
 * replication has settled; transient while a session is being written). */
int dp_reverse_count(struct dataplane *dp, uint64_t *total, uint64_t *stale);

#endif
