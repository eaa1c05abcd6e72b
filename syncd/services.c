// SPDX-License-Identifier: BSD-2-Clause
/* This node's installed backends, checked against incoming sessions
 * (services.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "services.h"

int svc_backends_open(struct svc_backends *b, const char *pin_dir, char *err, size_t errlen)
{
	char path[512];
	int e;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", pin_dir, XLB_MAP_BACKENDS) >=
	    sizeof(path)) {
		snprintf(err, errlen, "map %s: pin path too long", XLB_MAP_BACKENDS);
		return -ENAMETOOLONG;
	}
	b->slot = calloc(XLB_MAX_BACKENDS, sizeof(*b->slot));
	if (!b->slot) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->fd = bpf_obj_get(path);
	if (b->fd < 0) {
		e = errno;
		snprintf(err, errlen, "map %s: cannot open pin %s: %s", XLB_MAP_BACKENDS, path,
			 strerror(e));
		svc_backends_close(b);
		return -e;
	}
	return 0;
}

void svc_backends_close(struct svc_backends *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	free(b->slot);
	b->slot = NULL;
}

/* The whole map in one BPF_MAP_LOOKUP_BATCH (one element at a time on a
 * kernel without batch lookups on arrays). */
static int read_all(struct svc_backends *b)
{
	static uint32_t keys[XLB_MAX_BACKENDS];
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 out = 0, count = XLB_MAX_BACKENDS, i;
	int r;

	r = bpf_map_lookup_batch(b->fd, NULL, &out, keys, b->slot, &count, &opts);
	if (r == 0 || (r == -ENOENT && count == XLB_MAX_BACKENDS))
		return 0;
	for (i = 0; i < XLB_MAX_BACKENDS; i++)
		if (bpf_map_lookup_elem(b->fd, &i, &b->slot[i]) < 0)
			return -errno;
	return 0;
}

const char *svc_backend_mismatch(const struct xlb_backend *be, const struct xlb_flow_key *k,
				 const struct xlb_session *s)
{
	__be16 port;

	if (!(be->flags & XLB_BE_F_ACTIVE))
		return "not installed on this node";
	if (!k || !s)
		return NULL;
	if (be->family != k->family || memcmp(&be->addr, &s->backend, sizeof(be->addr)))
		return "installed here with another address";
	port = be->port ? be->port : k->dport;
	if (port != s->backend_port)
		return "installed here with another port";
	return NULL;
}

static void addr_str(uint8_t family, const union xlb_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(family == XLB_AF_INET6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

int svc_backends_check(struct svc_backends *b, uint32_t id, const struct xlb_flow_key *k,
		       const struct xlb_session *s, uint64_t now_ns, char *why, size_t len)
{
	char vip[INET6_ADDRSTRLEN], be[INET6_ADDRSTRLEN], here[INET6_ADDRSTRLEN];
	const struct xlb_backend *slot;
	const char *r;

	if (id == XLB_NO_BACKEND || id >= XLB_MAX_BACKENDS) {
		snprintf(why, len, "backend id %u out of range", id);
		return -1;
	}
	if (b->fd < 0)
		return 0;
	if (!b->read_ns || now_ns - b->read_ns > SVC_REFRESH_NS) {
		if (read_all(b) < 0)
			b->read_errors++;
		else
			b->reads++;
		b->read_ns = now_ns ? now_ns : 1;
	}
	slot = &b->slot[id];
	if (!svc_backend_mismatch(slot, k, s))
		return 0;
	/* changed since the last read? (a backend just added) */
	b->rereads++;
	if (bpf_map_lookup_elem(b->fd, &id, &b->slot[id]) < 0)
		b->read_errors++;
	r = svc_backend_mismatch(slot, k, s);
	if (!r)
		return 0;
	if (!k || !s) {
		snprintf(why, len, "backend %u: %s", id, r);
		return -1;
	}
	addr_str(k->family, &k->daddr, vip, sizeof(vip));
	addr_str(k->family, &s->backend, be, sizeof(be));
	if (slot->flags & XLB_BE_F_ACTIVE) {
		addr_str(slot->family, &slot->addr, here, sizeof(here));
		snprintf(why, len, "vip %s:%u/%s backend %u (%s:%u in the entry): %s (%s:%u)", vip,
			 ntohs(k->dport), k->proto == IPPROTO_UDP ? "udp" : "tcp", id, be,
			 ntohs(s->backend_port), r, here,
			 ntohs(slot->port ? slot->port : k->dport));
	} else {
		snprintf(why, len, "vip %s:%u/%s backend %u (%s:%u in the entry): %s", vip,
			 ntohs(k->dport), k->proto == IPPROTO_UDP ? "udp" : "tcp", id, be,
			 ntohs(s->backend_port), r);
	}
	return -1;
}
