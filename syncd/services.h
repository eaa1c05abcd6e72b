/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * This node's backends as lbd installed them (docs/design.md decisions 8
 * and 12): the pinned backends map, not syncd's own reading of the config
 * file, so a backend added, removed or changed at run time (lbctl, reload)
 * counts here at once. An incoming session is applied only if its backend
 * is installed on this node with the address and port the session names.
 *
 * The map is read whole (one batch lookup) at most every
 * SVC_REFRESH_NS; a slot that would refuse an entry is read again first,
 * so a backend just added is never refused, and one just removed is
 * accepted for at most SVC_REFRESH_NS.
 */
#ifndef SYNCD_SERVICES_H
#define SYNCD_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "xdplb.h"

#define SVC_REFRESH_NS (100ull * 1000 * 1000)

struct svc_set;

struct svc_backends {
	int fd;			  /* pinned backends map, -1: not checked */
	int fd_vips, fd_members;  /* pinned vips and vip_members, -1: none */
	struct xlb_backend *slot; /* [XLB_MAX_BACKENDS] */
	uint64_t read_ns;	  /* last whole read, 0: never */
	uint64_t reads, rereads;  /* whole reads, single slots read again */
	uint64_t read_errors;
};

/* Opens pin_dir/backends, vips and vip_members. -errno (err says what)
 * if it cannot. */
int svc_backends_open(struct svc_backends *b, const char *pin_dir, char *err, size_t errlen);
void svc_backends_close(struct svc_backends *b);

/*
 * Why backend slot @be does not serve the entry: NULL if it does. @k and @s
 * are the session's key and value (NULL for another map that names a
 * backend id: then only the slot's presence counts).
 */
const char *svc_backend_mismatch(const struct xlb_backend *be, const struct xlb_flow_key *k,
				 const struct xlb_session *s);

/*
 * 0 if backend @id serves the entry on this node at @now_ns; otherwise -1
 * with one line in why[len] that names the VIP (sessions), the backend and
 * the reason.
 */
int svc_backends_check(struct svc_backends *b, uint32_t id, const struct xlb_flow_key *k,
		       const struct xlb_session *s, uint64_t now_ns, char *why, size_t len);

/*
 * This node's service set as the data plane has it (svcset.h): the vips
 * map, each VIP's members (vip_members, written by lbd) and their
 * addresses (backends). Fills *out (finished: sorted, encoded, digest);
 * 0 or -errno.
 */
int svc_read_set(struct svc_backends *b, struct svc_set *out);

/*
 * The SNAT addresses and ports a peer's full-NAT entry may name: this
 * node's snat.address (the cluster shares it; family 0: none) and the
 * port ranges of the cluster's nodes (this one's first; a session keeps its
 * port when another node adopts it). A range of 0-0 is a peer whose range
 * is not configured: then any port is taken.
 */
#define SVC_SNAT_RANGES_MAX 65
struct svc_snat {
	uint8_t family; /* XLB_AF_INET / XLB_AF_INET6; 0: no snat.address */
	union xlb_addr addr;
	size_t n;
	struct {
		uint16_t min, max; /* host order, inclusive */
	} range[SVC_SNAT_RANGES_MAX];
};

/* NULL if (family, addr, port) is a SNAT address and port of the cluster
 * (above), else why not, in why[0..len). */
const char *svc_snat_check(const struct svc_snat *sn, uint8_t family, const union xlb_addr *addr,
			   __be16 port, char *why, size_t len);

#endif
