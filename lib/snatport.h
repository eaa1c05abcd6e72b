/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Whose SNAT port a full-NAT session holds (docs/design.md decisions 4 and
 * 12). Sessions move between nodes (adoption, takeover), ports do not: a
 * port belongs to the node whose SNAT address and range it is in, and only
 * that node gives it back to its pool, whoever ages the session. Shared by
 * lbd (the sessions it ages) and syncd (the sessions a peer removes).
 */
#ifndef XLB_SNATPORT_H
#define XLB_SNATPORT_H

#include <stdbool.h>
#include <string.h>
#include <arpa/inet.h>

#include "config.h"
#include "xdplb.h"

/* A full-NAT session whose SNAT port is in cfg's range. */
static inline bool xlb_snat_in_range(const struct node_config *cfg, const struct xlb_session *s)
{
	uint16_t p = ntohs(s->snat_port);

	return (s->flags & XLB_SF_FNAT) && p >= cfg->snat_port_min && p <= cfg->snat_port_max;
}

/* ... and at cfg's SNAT address: a port of this node's pool. */
static inline bool xlb_snat_holds_pool_port(const struct node_config *cfg,
					    const struct xlb_session *s)
{
	return xlb_snat_in_range(cfg, s) && !memcmp(&s->snat, &cfg->snat_addr, sizeof(s->snat));
}

#endif /* XLB_SNATPORT_H */
