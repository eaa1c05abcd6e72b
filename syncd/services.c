// SPDX-License-Identifier: BSD-2-Clause
/* This node's installed backends, checked against incoming sessions
 * (services.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "bpfmap.h"
#include "services.h"
#include "svcset.h"

static int open_pin(const char *pin_dir, const char *name, int *fd, char *err, size_t errlen)
{
	char path[512];
	int e;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", pin_dir, name) >= sizeof(path)) {
		snprintf(err, errlen, "map %s: pin path too long", name);
		return -ENAMETOOLONG;
	}
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		e = errno;
		snprintf(err, errlen, "map %s: cannot open pin %s: %s", name, path, strerror(e));
		return -e;
	}
	return 0;
}

int svc_backends_open(struct svc_backends *b, const char *pin_dir, char *err, size_t errlen)
{
	int r;

	memset(b, 0, sizeof(*b));
	b->fd = b->fd_vips = b->fd_members = -1;
	b->slot = calloc(XLB_MAX_BACKENDS, sizeof(*b->slot));
	if (!b->slot) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = open_pin(pin_dir, XLB_MAP_BACKENDS, &b->fd, err, errlen);
	if (!r)
		r = open_pin(pin_dir, XLB_MAP_VIPS, &b->fd_vips, err, errlen);
	if (!r)
		r = open_pin(pin_dir, XLB_MAP_MEMBERS, &b->fd_members, err, errlen);
	if (r < 0)
		svc_backends_close(b);
	return r;
}

void svc_backends_close(struct svc_backends *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->fd_vips >= 0)
		close(b->fd_vips);
	if (b->fd_members >= 0)
		close(b->fd_members);
	b->fd = b->fd_vips = b->fd_members = -1;
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

const char *svc_snat_check(const struct svc_snat *sn, uint8_t family, const union xlb_addr *addr,
			   __be16 port_be, char *why, size_t len)
{
	char a[INET6_ADDRSTRLEN], here[INET6_ADDRSTRLEN];
	uint16_t port = ntohs(port_be);
	bool unknown = false;
	size_t i;

	if (!sn->family) {
		snprintf(why, len, "a full-NAT entry, but this node has no snat.address");
		return why;
	}
	/* the data plane reads 4 bytes of an IPv4 address */
	if (family != sn->family || memcmp(addr, &sn->addr, family == XLB_AF_INET6 ? 16 : 4)) {
		addr_str(family, addr, a, sizeof(a));
		addr_str(sn->family, &sn->addr, here, sizeof(here));
		snprintf(why, len, "SNAT address %s is not this node's snat.address %s", a, here);
		return why;
	}
	for (i = 0; i < sn->n; i++) {
		if (!sn->range[i].min && !sn->range[i].max)
			unknown = true;
		else if (port >= sn->range[i].min && port <= sn->range[i].max)
			return NULL;
	}
	if (unknown)
		return NULL;
	snprintf(why, len, "SNAT port %u is in no node's range", port);
	return why;
}

/* ---- the whole service set ---------------------------------------------- */

struct member {
	struct xlb_member_key k;
	struct xlb_member m;
};

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->k.vip_id != y->k.vip_id)
		return x->k.vip_id < y->k.vip_id ? -1 : 1;
	return (x->k.backend_id > y->k.backend_id) - (x->k.backend_id < y->k.backend_id);
}

/* Every member, sorted by VIP id (one map walk; a handful of entries per
 * VIP, at most XLB_MAX_MEMBERS). */
static int read_members(int fd, struct member **out, size_t *n)
{
	struct xlb_member_key k, next;
	struct member *v = NULL, *t;
	size_t cap = 0;

	*n = 0;
	memset(&k, 0xff, sizeof(k)); /* not a key: start at the first */
	while (xlb_map_next_key(fd, &k, &next) == 0) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			t = realloc(v, cap * sizeof(*v));
			if (!t) {
				free(v);
				return -ENOMEM;
			}
			v = t;
		}
		v[*n].k = next;
		/* removed since the key was read: skip it */
		if (bpf_map_lookup_elem(fd, &next, &v[*n].m) == 0)
			(*n)++;
		k = next;
		if (*n >= XLB_MAX_MEMBERS)
			break;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_member);
	*out = v;
	return 0;
}

int svc_read_set(struct svc_backends *b, struct svc_set *out)
{
	struct xlb_vip_key k, next;
	struct xlb_vip_info info;
	struct member *mem = NULL;
	size_t n_mem = 0, i;
	int r;

	memset(out, 0, sizeof(*out));
	if (b->fd < 0 || b->fd_vips < 0 || b->fd_members < 0)
		return -EBADF;
	r = read_all(b);
	if (r < 0)
		return r;
	r = read_members(b->fd_members, &mem, &n_mem);
	if (r < 0)
		return r;
	memset(&k, 0, sizeof(k)); /* family 0: not a key */
	while (xlb_map_next_key(b->fd_vips, &k, &next) == 0) {
		struct svc_vip *v;

		k = next;
		if (bpf_map_lookup_elem(b->fd_vips, &next, &info) < 0)
			continue; /* deleted meanwhile */
		v = svcset_add_vip(out, next.family, &next.addr, ntohs(next.port), next.proto,
				   info.mode);
		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		for (i = 0; i < n_mem; i++) {
			const struct xlb_backend *slot;
			struct svc_be be;

			if (mem[i].k.vip_id != info.vip_id ||
			    mem[i].k.backend_id >= XLB_MAX_BACKENDS)
				continue;
			slot = &b->slot[mem[i].k.backend_id];
			if (!(slot->flags & XLB_BE_F_ACTIVE))
				continue;
			memset(&be, 0, sizeof(be));
			be.id = mem[i].k.backend_id;
			be.family = slot->family;
			be.addr = slot->addr;
			be.port = slot->port ? ntohs(slot->port) : ntohs(next.port);
			be.weight = mem[i].m.weight;
			be.drain = mem[i].m.flags & XLB_MEMBER_F_DRAIN;
			r = svcset_add_be(v, &be);
			if (r < 0)
				goto out;
		}
	}
	r = svcset_finish(out);
out:
	free(mem);
	if (r < 0)
		svcset_free(out);
	return r;
}
