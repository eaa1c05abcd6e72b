/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The node configuration, one file read by lbd and syncd alike: parsed from
 * YAML or JSON with libyaml (lib/config.c).
 *
 * Everything about the file lives in lib/config.c: the parser, the limits of
 * every number, the defaults (named below, applied there and nowhere else)
 * and the validators of a VIP and of a backend. lbd's control socket (lbctl
 * vip add, backend add) builds its entries with cfg_vip_init() and
 * cfg_backend_init() and checks them with cfg_check_vip() and
 * cfg_check_backend(), so a run-time change is accepted exactly when the
 * same entry would be accepted in the file.
 */
#ifndef XLB_CONFIG_H
#define XLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>

#include "xdplb.h"

#define CFG_NAME_MAX		 64
#define CFG_PATH_MAX		 256
#define CFG_MAX_VIPS		 XLB_MAX_VIPS
#define CFG_MAX_BACKENDS_PER_VIP 256
#define CFG_MAX_PEERS		 16
#define CFG_NODE_KEY_LEN	 32 /* X25519 keys (sync.node_key_file) */
#define CFG_SYNC_MAPS_MAX	 8

enum hc_type {
	HC_NONE = 0, /* backend always considered healthy */
	HC_TCP,	     /* TCP connect */
	HC_HTTP,     /* HTTP GET, expect status */
};

/* Values that mean "not given" or "off" rather than a number. */
/* a backend's or health check's port: the one above (backend, then VIP) */
#define CFG_PORT_INHERIT 0
/* sync.antientropy_ms: no digests */
#define CFG_SYNC_ANTIENTROPY_OFF 0

/*
 * Defaults: the value of every optional key left out of the file. The
 * parser applies them, and so do cfg_vip_init() and cfg_backend_init() for
 * entries lbd adds at run time. A _FMT default is built from the keys named
 * in its comment. Optional keys not listed here have no value when absent:
 * snat.address (no full NAT), sync.listen, sync.key_file (required
 * when sync is enabled, unless sync.auth is off), a backend's mac (FIB lookup), a peer's snat ports, and
 * the empty lists (vips, backends, sync.peers).
 */
#define CFG_DEF_NODE_NAME_FMT		"node%u" /* node.id */
#define CFG_DEF_XDP_MODE		"native"
#define CFG_DEF_BPFFS			"/run/xdplb/bpf"
#define CFG_DEF_PIN_DIR_FMT		"%s/%s" /* bpffs, node.name */
#define CFG_DEF_RUN_DIR			"/run/xdplb"
#define CFG_DEF_CONTROL_SOCKET_FMT	CFG_DEF_RUN_DIR "/%s.sock" /* node.name */
#define CFG_DEF_SNAT_PORT_MIN		10000
#define CFG_DEF_SNAT_PORT_MAX		59999
#define CFG_DEF_SNAT_PORT_HOLD_S	60 /* a backend's TIME_WAIT (Linux: 60 s) */
#define CFG_DEF_MAX_SESSIONS		XLB_DEFAULT_SESSIONS
#define CFG_DEF_AGEING_INTERVAL_MS	1000
#define CFG_DEF_TIMEOUT_TCP_SYN		30 /* seconds */
#define CFG_DEF_TIMEOUT_TCP_ESTABLISHED 900
#define CFG_DEF_TIMEOUT_TCP_CLOSING	10
#define CFG_DEF_TIMEOUT_UDP		60
#define CFG_DEF_VIP_PROTO		IPPROTO_TCP
#define CFG_DEF_VIP_MODE		XLB_MODE_FNAT
#define CFG_DEF_HC_TYPE			HC_NONE
#define CFG_DEF_HC_PORT			CFG_PORT_INHERIT
#define CFG_DEF_HC_PATH			"/"
#define CFG_DEF_HC_EXPECT_STATUS	200
#define CFG_DEF_HC_INTERVAL_MS		1000
#define CFG_DEF_HC_TIMEOUT_MS		500
#define CFG_DEF_HC_RISE			2
#define CFG_DEF_HC_FALL			3
#define CFG_DEF_BACKEND_PORT		CFG_PORT_INHERIT
#define CFG_DEF_WEIGHT			1
#define CFG_DEF_DRAIN			false
#define CFG_DEF_SYNC_ENABLED		false
#define CFG_DEF_SYNC_CAPTURE		"auto"
#define CFG_DEF_SYNC_CIPHER		"chacha20-poly1305"
#define CFG_DEF_SYNC_LOCAL_SOCKET_FMT	CFG_DEF_RUN_DIR "/%s.syncd-local.sock" /* node.name */
#define CFG_DEF_SYNC_CONTROL_SOCKET_FMT CFG_DEF_RUN_DIR "/%s.syncd.sock"       /* node.name */
#define CFG_DEF_SYNC_STATE_FILE_FMT	"/var/lib/xdplb/%s.syncd-state"	       /* node.name */
#define CFG_DEF_SYNC_HEARTBEAT_MS	100
#define CFG_DEF_SYNC_DEAD_AFTER_MS	1000
/* syncd's nice value: below 0 its heartbeats wait less behind the node's
 * other work; 0 by default (docs/xdplb.conf.5.md says why) */
#define CFG_DEF_SYNC_NICE	      0
#define CFG_DEF_SYNC_ANTIENTROPY_MS   10000
#define CFG_DEF_SYNC_DIGEST_SETTLE_MS 5000
#define CFG_DEF_SYNC_MAPS                                                                          \
	{                                                                                          \
		XLB_MAP_SESSIONS, XLB_MAP_REVERSE                                                  \
	}

/* The largest backend weight (lbctl checks its argument against it too). */
#define CFG_WEIGHT_MAX 10000

/* Defaults: see CFG_DEF_* above; limits: lib/config.c. */
struct cfg_healthcheck {
	enum hc_type type;
	uint16_t port;		 /* CFG_PORT_INHERIT: the backend's port */
	char path[CFG_PATH_MAX]; /* HTTP: request path */
	int expect_status;	 /* HTTP */
	uint32_t interval_ms;
	uint32_t timeout_ms; /* below interval_ms */
	uint32_t rise;	     /* consecutive successes to go up */
	uint32_t fall;	     /* consecutive failures to go down */
};

struct cfg_backend {
	uint32_t id; /* 1..XLB_MAX_BACKENDS-1, same on every node */
	int family;  /* AF_INET */
	union xlb_addr addr;
	uint16_t port;	 /* host order; CFG_PORT_INHERIT: the VIP port */
	uint32_t weight; /* 0: no new flows */
	bool has_mac;
	uint8_t mac[6];
	bool drain; /* start drained */
};

/* A VIP with an empty name is a free slot (lbd: deleted at run time). */
struct cfg_vip {
	char name[CFG_NAME_MAX];
	uint32_t vip_id; /* index in cfg->vips (the parser assigns it) */
	int family;
	union xlb_addr addr;
	uint16_t port; /* host order */
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
	enum xlb_fwd_mode mode;
	struct cfg_healthcheck hc;
	size_t n_backends;
	struct cfg_backend backends[CFG_MAX_BACKENDS_PER_VIP];
};

struct cfg_timeouts { /* seconds */
	uint32_t tcp_syn;
	uint32_t tcp_established;
	uint32_t tcp_closing;
	uint32_t udp;
	/* sessions of a backend that is down or removed are aged this long
	 * after it left, whatever their activity; 0: never (they live on
	 * as long as their traffic) */
	uint32_t backend_gone;
	uint32_t ageing_interval_ms; /* how often the ageing scan runs */
};

struct cfg_peer {
	uint32_t node_id;
	char address[CFG_NAME_MAX]; /* "198.18.2.12:7400" */
	uint16_t snat_port_min;	    /* its SNAT port range (host order), 0: */
	uint16_t snat_port_max;	    /* not given (no reply bounce to it) */
	bool has_public_key;	    /* per-node keys: its X25519 public key */
	uint8_t public_key[CFG_NODE_KEY_LEN];
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
	bool builtin;			 /* plain name of a built-in map */
	struct cfg_sync_field timestamp; /* CLOCK_MONOTONIC ns, rebased on apply */
	struct cfg_sync_field owner;	 /* owning node id */
	struct cfg_sync_field version;	 /* per-key write version */
	struct cfg_sync_field backend;	 /* backend id: must exist in this config */
};

struct cfg_sync { /* for syncd; lbd parses and validates it and
				 * hands its user-space deletes to local_socket */
	bool enabled;
	char listen[CFG_NAME_MAX];
	char capture[16];		   /* auto | kprobe | fentry | inline */
	char key_file[CFG_PATH_MAX];	   /* shared secret for message authentication,
					 * "": none (only with auth_off) */
	bool auth_off;			   /* sync.auth: off, said explicitly */
	char node_key_file[CFG_PATH_MAX];  /* this node's X25519 secret key ("":
					    * per-node keys off) */
	char cipher[24];		   /* with key_file: chacha20-poly1305 | aes-256-gcm |
			  * none (HMAC-SHA256 tags, no encryption) */
	char local_socket[CFG_PATH_MAX];   /* lbd -> syncd deletes (datagrams) */
	char control_socket[CFG_PATH_MAX]; /* syncd status (lbctl sync) */
	char state_file[CFG_PATH_MAX];	   /* epochs kept across restarts */
	uint32_t heartbeat_ms;
	uint32_t dead_after_ms;
	uint32_t antientropy_ms;   /* or CFG_SYNC_ANTIENTROPY_OFF */
	uint32_t digest_settle_ms; /* younger sessions are not in digests */
	int nice;		   /* syncd's scheduling priority (setpriority) */
	size_t n_peers;
	struct cfg_peer peers[CFG_MAX_PEERS];
	size_t n_maps;
	char maps[CFG_SYNC_MAPS_MAX][CFG_NAME_MAX]; /* watched map names */
	struct cfg_sync_map map_opts[CFG_SYNC_MAPS_MAX];
};

/* The one top-level struct: everything the file says, defaults applied. */
struct node_config {
	char path[CFG_PATH_MAX]; /* file it was read from */
	uint32_t node_id;	 /* 1..65535 */
	char node_name[CFG_NAME_MAX];
	char interface[IF_NAMESIZE];
	char bpffs[CFG_PATH_MAX]; /* bpffs mount */
	char pin_dir[CFG_PATH_MAX];
	char control_socket[CFG_PATH_MAX];
	char xdp_mode[16]; /* "native" | "generic" */
	int snat_family;   /* AF_INET, or AF_UNSPEC: no snat.address */
	union xlb_addr snat_addr;
	uint16_t snat_port_min;	   /* host order */
	uint16_t snat_port_max;	   /* inclusive */
	uint32_t snat_port_hold_s; /* a TCP session's port back in the pool
				    * this long after its last packet; 0: at
				    * once */
	uint32_t max_sessions;
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
int cfg_load_file(const char *path, struct node_config *cfg, char *err, size_t errlen);

/* Same, from a memory buffer; name is used in error messages. */
int cfg_load_buffer(const char *name, const char *buf, size_t len, struct node_config *cfg,
		    char *err, size_t errlen);

/* ---- entries lbd adds at run time -------------------------------------- */

/* Inclusive range of a number. */
struct cfg_limit {
	uint64_t min, max;
};

/* The numbers of a VIP or backend; the parser reads the file's through them. */
extern const struct cfg_limit cfg_lim_vip_port;	    /* 1-65535 */
extern const struct cfg_limit cfg_lim_backend_port; /* 0-65535 (CFG_PORT_INHERIT) */
extern const struct cfg_limit cfg_lim_backend_id;   /* 1-(XLB_MAX_BACKENDS - 1) */
extern const struct cfg_limit cfg_lim_weight;	    /* 0-CFG_WEIGHT_MAX */

/* Is x in l? If not and why is given: "70000 is out of range 1-65535". */
bool cfg_in_limit(const struct cfg_limit *l, uint64_t x, char *why, size_t len);

/* A word of the file (and of lbctl) and the value it stands for; the tables
 * end with a NULL name. */
struct cfg_word {
	const char *name;
	int val;
};

extern const struct cfg_word cfg_protocols[]; /* tcp, udp: IPPROTO_* */
extern const struct cfg_word cfg_modes[];     /* fnat, dsr: enum xlb_fwd_mode */
extern const struct cfg_word cfg_hc_types[];  /* none, tcp, http: enum hc_type */

/* The word for val, NULL if none. */
const char *cfg_word_name(const struct cfg_word *t, int val);
/* The value of word s: 0 and *val, or -1. */
int cfg_word_value(const struct cfg_word *t, const char *s, int *val);

/* Field validators. */
bool cfg_valid_name(const char *s); /* 1-63 of A-Z a-z 0-9 _ . - */
bool cfg_valid_unicast(int family, const union xlb_addr *a);
bool cfg_valid_mac(const uint8_t mac[6]); /* unicast: not group, not zero */

/* An entry with the defaults of every optional key (and zeros elsewhere). */
void cfg_vip_init(struct cfg_vip *v);
void cfg_backend_init(struct cfg_backend *b);

/* The port a backend listens on. */
static inline uint16_t cfg_backend_port(const struct cfg_vip *v, const struct cfg_backend *b)
{
	return b->port != CFG_PORT_INHERIT ? b->port : v->port;
}

/* The field of an entry a check found wrong. */
enum cfg_field {
	CFG_F_NAME = 1,
	CFG_F_ADDRESS,
	CFG_F_PORT,
	CFG_F_PROTOCOL,
	CFG_F_MODE,
	CFG_F_ID,
	CFG_F_WEIGHT,
	CFG_F_MAC,
	CFG_F_ENDPOINT, /* address and port together: already taken */
};

/* Its key in the file ("name", ...); NULL for CFG_F_ENDPOINT, which is
 * about the entry as a whole (the parser points at its address). */
const char *cfg_field_key(enum cfg_field f);

/* What is wrong: the field, and why in one line that does not say where
 * (the caller knows: a position in the file, or the VIP lbctl named). */
struct cfg_fault {
	enum cfg_field field;
	char why[256];
};

/*
 * VIP v (with no backends yet) against the rules and against the VIPs of
 * cfg other than v: unique name and (address, port, protocol), fnat needing
 * snat.address. 0, or -EINVAL (invalid) / -EEXIST (clashes) with *f set.
 */
int cfg_check_vip(const struct node_config *cfg, const struct cfg_vip *v, struct cfg_fault *f);

/*
 * Backend b of VIP v against the rules and against v's backends[0 ..
 * n_backends - 1]: unique id and endpoint, DSR keeping the port. Backend
 * ids are cluster-wide: same_id is the backend with b's id in another VIP
 * (NULL: none), same_id_at names where it is for the message; b must
 * describe the same backend. 0, or -EINVAL / -EEXIST with *f set.
 */
int cfg_check_backend(const struct cfg_vip *v, const struct cfg_backend *b,
		      const struct cfg_backend *same_id, const char *same_id_at,
		      struct cfg_fault *f);

/* ---- helpers -------------------------------------------------------------- */

/* Parse "a.b.c.d" into family/addr. Returns 0 or -1. */
int cfg_parse_addr(const char *s, int *family, union xlb_addr *addr);

/* Format addr into buf ("a.b.c.d"). Returns buf. */
const char *cfg_format_addr(int family, const union xlb_addr *addr, char *buf, size_t len);

/* Parse "aa:bb:cc:dd:ee:ff". Returns 0 or -1. */
int cfg_parse_mac(const char *s, uint8_t mac[6]);

/* Look up helpers. */
struct cfg_vip *cfg_find_vip(struct node_config *cfg, const char *name);

#endif /* XLB_CONFIG_H */
