/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The node configuration, one file read by lbd and syncd alike: parsed from
 * YAML or JSON with libyaml (lib/config.c).
 */
#ifndef XLB_CONFIG_H
#define XLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "xdplb.h"

#define CFG_NAME_MAX	64
#define CFG_PATH_MAX	256
#define CFG_MAX_VIPS	XLB_MAX_VIPS
#define CFG_MAX_BACKENDS_PER_VIP 256
#define CFG_MAX_PEERS	16

enum hc_type {
	HC_NONE = 0,	/* backend always considered healthy */
	HC_TCP,		/* TCP connect */
	HC_HTTP,	/* HTTP GET, expect status */
};

struct cfg_healthcheck {
	enum hc_type type;
	uint16_t port;		/* 0 = backend port */
	char path[CFG_PATH_MAX];	/* HTTP: request path, default "/" */
	int expect_status;	/* HTTP: default 200 */
	uint32_t interval_ms;	/* default 1000 */
	uint32_t timeout_ms;	/* default 500 */
	uint32_t rise;		/* consecutive successes to go up, default 2 */
	uint32_t fall;		/* consecutive failures to go down, default 3 */
};

struct cfg_backend {
	uint32_t id;		/* 1..XLB_MAX_BACKENDS-1, same on every node */
	int family;		/* AF_INET */
	union xlb_addr addr;
	uint16_t port;		/* host order; 0 = VIP port */
	uint32_t weight;	/* default 1, 0 = no new flows */
	bool has_mac;
	uint8_t mac[6];
	bool drain;		/* start drained */
};

struct cfg_vip {
	char name[CFG_NAME_MAX];
	uint32_t vip_id;	/* assigned by the parser: index in cfg->vips */
	int family;
	union xlb_addr addr;
	uint16_t port;		/* host order */
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	enum xlb_fwd_mode mode;
	struct cfg_healthcheck hc;
	size_t n_backends;
	struct cfg_backend backends[CFG_MAX_BACKENDS_PER_VIP];
};

struct cfg_timeouts {		/* seconds */
	uint32_t tcp_syn;	/* default 30 */
	uint32_t tcp_established; /* default 900 */
	uint32_t tcp_closing;	/* default 10 */
	uint32_t udp;		/* default 60 */
	uint32_t ageing_interval_ms; /* how often the ageing scan runs, default 1000 */
};

struct cfg_peer {
	uint32_t node_id;
	char address[CFG_NAME_MAX];	/* "198.18.2.12:7400" */
	uint16_t snat_port_min;		/* its SNAT port range (host order), 0: */
	uint16_t snat_port_max;		/* not given (no reply bounce to it) */
};

/* A field inside a synced map's value: byte offset and size (2, 4 or 8);
 * size 0 = the map has no such field. */
struct cfg_sync_field {
	uint32_t off;
	uint32_t size;
};

/* Per-map options of a watched map. The built-in maps (sessions, reverse)
 * need none: syncd knows their layout from bpf/xdplb.h. Any other map
 * (another program's, synced by config alone) is given as a mapping
 * {name, timestamp, owner, version, backend} with the fields it has. */
struct cfg_sync_map {
	bool builtin;			/* plain name of a built-in map */
	struct cfg_sync_field timestamp; /* CLOCK_MONOTONIC ns, rebased on apply */
	struct cfg_sync_field owner;	/* owning node id */
	struct cfg_sync_field version;	/* per-key write version */
	struct cfg_sync_field backend;	/* backend id: must exist in this config */
};

#define CFG_SYNC_MAPS_MAX 8

struct cfg_sync {		/* for syncd; lbd parses and validates it and
				 * hands its user-space deletes to local_socket */
	bool enabled;
	char listen[CFG_NAME_MAX];
	char capture[16];		/* auto (default) | kprobe | fentry | inline */
	char key_file[CFG_PATH_MAX];	/* shared secret for message authentication */
	char local_socket[CFG_PATH_MAX]; /* lbd -> syncd deletes (datagrams) */
	char control_socket[CFG_PATH_MAX]; /* syncd status (lbctl sync) */
	uint32_t heartbeat_ms;		/* default 100 */
	uint32_t dead_after_ms;		/* default 1000 */
	uint32_t antientropy_ms;	/* default 10000, 0 = off */
	uint32_t digest_settle_ms;	/* default 5000: younger sessions not in digests */
	size_t n_peers;
	struct cfg_peer peers[CFG_MAX_PEERS];
	size_t n_maps;
	char maps[CFG_SYNC_MAPS_MAX][CFG_NAME_MAX];	/* watched map names, default sessions+reverse */
	struct cfg_sync_map map_opts[CFG_SYNC_MAPS_MAX];
};

struct lbd_config {
	char path[CFG_PATH_MAX];	/* file it was read from */
	uint32_t node_id;		/* 1..65535 */
	char node_name[CFG_NAME_MAX];	/* default "node<id>" */
	char interface[IF_NAMESIZE];
	char bpffs[CFG_PATH_MAX];	/* bpffs mount, default /run/xdplb/bpf */
	char pin_dir[CFG_PATH_MAX];	/* default <bpffs>/<node_name> */
	char control_socket[CFG_PATH_MAX]; /* default /run/xdplb/<node_name>.sock */
	char xdp_mode[16];		/* "native" (default) | "generic" */
	int snat_family;
	union xlb_addr snat_addr;
	uint16_t snat_port_min;		/* host order, default 10000 */
	uint16_t snat_port_max;		/* inclusive, default 59999 */
	uint32_t max_sessions;		/* default XLB_DEFAULT_SESSIONS */
	struct cfg_timeouts timeouts;
	size_t n_vips;
	struct cfg_vip vips[CFG_MAX_VIPS];
	struct cfg_sync sync;
};

/*
 * Parse a config file (YAML; JSON is accepted as YAML flow style).
 * On success returns 0 and fills *cfg (caller allocates; the struct is big,
 * allocate it on the heap). On failure returns -1 and writes one line
 * "FILE:LINE:COL: reason" (no trailing newline) into err; *cfg is then
 * unspecified and must not be used.
 */
int cfg_load_file(const char *path, struct lbd_config *cfg, char *err, size_t errlen);

/* Same, from a memory buffer; name is used in error messages. */
int cfg_load_buffer(const char *name, const char *buf, size_t len,
		    struct lbd_config *cfg, char *err, size_t errlen);

/* Parse "a.b.c.d" into family/addr. Returns 0 or -1. */
int cfg_parse_addr(const char *s, int *family, union xlb_addr *addr);

/* Format addr into buf ("a.b.c.d"). Returns buf. */
const char *cfg_format_addr(int family, const union xlb_addr *addr, char *buf, size_t len);

/* Parse "aa:bb:cc:dd:ee:ff". Returns 0 or -1. */
int cfg_parse_mac(const char *s, uint8_t mac[6]);

/* Look up helpers. */
struct cfg_vip *cfg_find_vip(struct lbd_config *cfg, const char *name);

#endif /* XLB_CONFIG_H */
