/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A node's service set (docs/design.md decision 13): its VIPs (address,
 * port, protocol, mode) and each VIP's backends (id, address, port,
 * weight, drain state), as the data plane has them installed. Nodes
 * compare theirs: a session of a VIP or a backend that a peer lacks is
 * refused there, so its connection breaks at failover.
 *
 * A set has one canonical encoding (proto/sync.proto ServiceSet: VIPs
 * sorted by family, address, port and protocol, backends by id), and its
 * digest is XXH3-64 of that encoding: equal sets, equal digests. The
 * heartbeat carries the digest; a peer whose digest differs is asked for
 * its encoding (engine), which svcset_decode() checks and
 * svcset_diff() compares line by line.
 */
#ifndef SYNCD_SVCSET_H
#define SYNCD_SVCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xdplb.h"

struct svc_be {
	uint32_t id;
	uint8_t family; /* XLB_AF_* */
	union xlb_addr addr;
	uint16_t port; /* resolved: never 0 */
	uint32_t weight;
	bool drain;
};

struct svc_vip {
	uint8_t family;
	union xlb_addr addr;
	uint16_t port;
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t mode;  /* enum xlb_fwd_mode */
	size_t n_be;
	struct svc_be *be; /* sorted by id */
};

struct svc_set {
	size_t n;
	struct svc_vip *vips; /* sorted (svcset_finish) */
	uint8_t *enc;	      /* canonical encoding */
	size_t enc_len;
	uint64_t digest; /* XXH3-64 of enc */
};

/* Adds a VIP (its backends with svcset_add_be()); NULL on ENOMEM. */
struct svc_vip *svcset_add_vip(struct svc_set *s, uint8_t family, const union xlb_addr *addr,
			       uint16_t port, uint8_t proto, uint8_t mode);
int svcset_add_be(struct svc_vip *v, const struct svc_be *be);
/* Sorts the set, encodes it and computes its digest. 0 or -ENOMEM. */
int svcset_finish(struct svc_set *s);
void svcset_free(struct svc_set *s);

/*
 * Decodes a peer's encoding buf[0..len) into *s (finished: sorted, with
 * its own encoding and digest). -EBADMSG with why[] (one line) if it is not
 * a service set this node would send: a bad address, port, protocol, mode
 * or backend id, a VIP or backend listed twice.
 */
int svcset_decode(struct svc_set *s, const uint8_t *buf, size_t len, char *why, size_t whylen);

/* "198.18.100.1:8080/tcp" */
const char *svcset_vip_str(const struct svc_vip *v, char *buf, size_t len);

/* The differences between this node's set (mine) and a peer's, one line
 * each ("VIP 198.18.100.1:8080/tcp: backend 21 (198.18.2.21:8080): weight
 * 1 here, 2 on node2"); refuses: the peer would refuse this node's
 * sessions it concerns (svcset_peer_serves()), as opposed to balancing new
 * connections otherwise (weight, drain) or lacking what only it has. */
typedef void (*svc_diff_fn)(void *arg, const char *line, bool refuses);

struct svc_diff_count {
	uint32_t vips_missing_there; /* VIPs the peer lacks */
	uint32_t vips_missing_here;  /* VIPs only the peer has */
	uint32_t vips_other_mode;
	uint32_t backends_missing_there; /* in a VIP both have */
	uint32_t backends_missing_here;
	uint32_t backends_other_address; /* same id, another address or port */
	uint32_t weights;		 /* another weight */
	uint32_t drains;		 /* drained on one node only */
	uint32_t total;
};

void svcset_diff(const struct svc_set *mine, const struct svc_set *peer, const char *peer_name,
		 struct svc_diff_count *c, svc_diff_fn fn, void *arg);

const struct svc_vip *svcset_find_vip(const struct svc_set *s, uint8_t family,
				      const union xlb_addr *addr, uint16_t port, uint8_t proto);
const struct svc_be *svcset_find_be(const struct svc_vip *v, uint32_t id);

/*
 * Would the peer whose set is @peer take a session of this node to the
 * VIP @v of mine, on backend @be_id (at address/port of mine)? No if it
 * lacks the VIP, or the backend in it, or has the backend at another
 * address or port (it refuses such entries: services.h).
 */
bool svcset_peer_serves(const struct svc_set *peer, const struct svc_vip *v, uint32_t be_id);

#endif /* SYNCD_SVCSET_H */
