// SPDX-License-Identifier: BSD-2-Clause
/* A node's service set: canonical form, digest, comparison (svcset.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <xxhash.h>

#include "svcset.h"
#include "sync.pb-c.h"

static size_t addr_len(uint8_t family)
{
	return family == XLB_AF_INET6 ? 16 : 4;
}

struct svc_vip *svcset_add_vip(struct svc_set *s, uint8_t family, const union xlb_addr *addr,
			       uint16_t port, uint8_t proto, uint8_t mode)
{
	struct svc_vip *n = realloc(s->vips, (s->n + 1) * sizeof(*n)), *v;

	if (!n)
		return NULL;
	s->vips = n;
	v = &n[s->n++];
	memset(v, 0, sizeof(*v));
	v->family = family;
	memcpy(&v->addr, addr, addr_len(family));
	v->port = port;
	v->proto = proto;
	v->mode = mode;
	return v;
}

int svcset_add_be(struct svc_vip *v, const struct svc_be *be)
{
	struct svc_be *n = realloc(v->be, (v->n_be + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	v->be = n;
	n[v->n_be] = *be;
	memset(&n[v->n_be].addr, 0, sizeof(n[v->n_be].addr));
	memcpy(&n[v->n_be].addr, &be->addr, addr_len(be->family));
	v->n_be++;
	return 0;
}

void svcset_free(struct svc_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->vips[i].be);
	free(s->vips);
	free(s->enc);
	memset(s, 0, sizeof(*s));
}

static int cmp_vip(const void *a, const void *b)
{
	const struct svc_vip *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (x->proto > y->proto) - (x->proto < y->proto);
}

static int cmp_be(const void *a, const void *b)
{
	const struct svc_be *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void sort_set(struct svc_set *s)
{
	size_t i;

	if (s->n)
		qsort(s->vips, s->n, sizeof(s->vips[0]), cmp_vip);
	for (i = 0; i < s->n; i++)
		if (s->vips[i].n_be)
			qsort(s->vips[i].be, s->vips[i].n_be, sizeof(s->vips[i].be[0]), cmp_be);
}

/* Canonical encoding of a sorted set. */
static int encode(struct svc_set *s)
{
	Xlbsync__ServiceSet set = XLBSYNC__SERVICE_SET__INIT;
	Xlbsync__Service *sv = NULL, **psv = NULL;
	Xlbsync__ServiceBackend *sb = NULL, **psb = NULL;
	size_t i, j, nb = 0, k = 0;
	int r = -ENOMEM;

	for (i = 0; i < s->n; i++)
		nb += s->vips[i].n_be;
	sv = calloc(s->n ? s->n : 1, sizeof(*sv));
	psv = calloc(s->n ? s->n : 1, sizeof(*psv));
	sb = calloc(nb ? nb : 1, sizeof(*sb));
	psb = calloc(nb ? nb : 1, sizeof(*psb));
	if (!sv || !psv || !sb || !psb)
		goto out;
	for (i = 0; i < s->n; i++) {
		const struct svc_vip *v = &s->vips[i];

		xlbsync__service__init(&sv[i]);
		sv[i].has_address = 1;
		sv[i].address.data = (uint8_t *)&v->addr;
		sv[i].address.len = addr_len(v->family);
		sv[i].has_port = 1;
		sv[i].port = v->port;
		sv[i].has_protocol = 1;
		sv[i].protocol = v->proto;
		sv[i].has_mode = 1;
		sv[i].mode = v->mode;
		sv[i].n_backends = v->n_be;
		sv[i].backends = &psb[k];
		for (j = 0; j < v->n_be; j++, k++) {
			const struct svc_be *b = &v->be[j];

			xlbsync__service_backend__init(&sb[k]);
			sb[k].has_id = 1;
			sb[k].id = b->id;
			sb[k].has_address = 1;
			sb[k].address.data = (uint8_t *)&b->addr;
			sb[k].address.len = addr_len(b->family);
			sb[k].has_port = 1;
			sb[k].port = b->port;
			sb[k].has_weight = 1;
			sb[k].weight = b->weight;
			sb[k].has_drain = 1;
			sb[k].drain = b->drain;
			psb[k] = &sb[k];
		}
		psv[i] = &sv[i];
	}
	set.n_services = s->n;
	set.services = psv;
	free(s->enc);
	s->enc_len = xlbsync__service_set__get_packed_size(&set);
	s->enc = malloc(s->enc_len ? s->enc_len : 1);
	if (!s->enc)
		goto out;
	xlbsync__service_set__pack(&set, s->enc);
	s->digest = XXH3_64bits(s->enc, s->enc_len);
	r = 0;
out:
	free(sv);
	free(psv);
	free(sb);
	free(psb);
	return r;
}

int svcset_finish(struct svc_set *s)
{
	sort_set(s);
	return encode(s);
}

static int family_of(const ProtobufCBinaryData *a, uint8_t *family)
{
	if (a->len == 4)
		*family = XLB_AF_INET;
	else if (a->len == 16)
		*family = XLB_AF_INET6;
	else
		return -1;
	return 0;
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
		r = -EBADMSG;                                                                      \
		goto out;                                                                          \
	} while (0)

int svcset_decode(struct svc_set *s, const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	Xlbsync__ServiceSet *set;
	size_t i, j;
	int r = 0;

	memset(s, 0, sizeof(*s));
	set = xlbsync__service_set__unpack(NULL, len, buf);
	if (!set) {
		snprintf(why, whylen, "not a service set encoding (%zu bytes)", len);
		return -EBADMSG;
	}
	if (set->n_services > XLB_MAX_VIPS)
		BAD("%zu services, at most %d", set->n_services, XLB_MAX_VIPS);
	for (i = 0; i < set->n_services; i++) {
		const Xlbsync__Service *sv = set->services[i];
		union xlb_addr a;
		struct svc_vip *v;
		uint8_t fam;

		if (!sv->has_address || family_of(&sv->address, &fam) < 0)
			BAD("service %zu: no address of 4 or 16 bytes", i);
		if (!sv->has_port || !sv->port || sv->port > 65535)
			BAD("service %zu: port %u out of range 1-65535", i, sv->port);
		if (!sv->has_protocol ||
		    (sv->protocol != IPPROTO_TCP && sv->protocol != IPPROTO_UDP))
			BAD("service %zu: protocol %u is neither tcp nor udp", i, sv->protocol);
		if (!sv->has_mode || (sv->mode != XLB_MODE_FNAT && sv->mode != XLB_MODE_DSR))
			BAD("service %zu: mode %u is neither full-NAT nor DSR", i, sv->mode);
		if (sv->n_backends > 256)
			BAD("service %zu: %zu backends, at most 256", i, sv->n_backends);
		memset(&a, 0, sizeof(a));
		memcpy(&a, sv->address.data, sv->address.len);
		if (svcset_find_vip(s, fam, &a, (uint16_t)sv->port, (uint8_t)sv->protocol))
			BAD("service %zu: listed twice", i);
		v = svcset_add_vip(s, fam, &a, (uint16_t)sv->port, (uint8_t)sv->protocol,
				   (uint8_t)sv->mode);
		if (!v)
			BAD("out of memory");
		for (j = 0; j < sv->n_backends; j++) {
			const Xlbsync__ServiceBackend *sb = sv->backends[j];
			struct svc_be be;

			memset(&be, 0, sizeof(be));
			if (!sb->has_id || sb->id == XLB_NO_BACKEND || sb->id >= XLB_MAX_BACKENDS)
				BAD("service %zu backend %zu: id %u out of range 1-%d", i, j,
				    sb->id, XLB_MAX_BACKENDS - 1);
			if (!sb->has_address || family_of(&sb->address, &be.family) < 0)
				BAD("service %zu backend %u: no address of 4 or 16 bytes", i,
				    sb->id);
			if (!sb->has_port || !sb->port || sb->port > 65535)
				BAD("service %zu backend %u: port %u out of range 1-65535", i,
				    sb->id, sb->port);
			if (svcset_find_be(v, sb->id))
				BAD("service %zu: backend %u listed twice", i, sb->id);
			be.id = sb->id;
			memcpy(&be.addr, sb->address.data, sb->address.len);
			be.port = (uint16_t)sb->port;
			be.weight = sb->has_weight ? sb->weight : 0;
			be.drain = sb->has_drain && sb->drain;
			if (svcset_add_be(v, &be) < 0)
				BAD("out of memory");
		}
	}
	if (svcset_finish(s) < 0)
		BAD("out of memory");
out:
	xlbsync__service_set__free_unpacked(set, NULL);
	if (r < 0)
		svcset_free(s);
	return r;
}

static const char *proto_str(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static const char *mode_str(uint8_t mode)
{
	return mode == XLB_MODE_DSR ? "DSR" : "full-NAT";
}

static void ep_str(uint8_t family, const union xlb_addr *a, uint16_t port, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == XLB_AF_INET6 ? AF_INET6 : AF_INET, a, s, sizeof(s)))
		snprintf(s, sizeof(s), "?");
	snprintf(buf, len, family == XLB_AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
}

const char *svcset_vip_str(const struct svc_vip *v, char *buf, size_t len)
{
	char e[64];

	ep_str(v->family, &v->addr, v->port, e, sizeof(e));
	snprintf(buf, len, "%s/%s", e, proto_str(v->proto));
	return buf;
}

const struct svc_vip *svcset_find_vip(const struct svc_set *s, uint8_t family,
				      const union xlb_addr *addr, uint16_t port, uint8_t proto)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct svc_vip *v = &s->vips[i];

		if (v->family == family && v->port == port && v->proto == proto &&
		    !memcmp(&v->addr, addr, addr_len(family)))
			return v;
	}
	return NULL;
}

const struct svc_be *svcset_find_be(const struct svc_vip *v, uint32_t id)
{
	size_t i;

	for (i = 0; i < v->n_be; i++)
		if (v->be[i].id == id)
			return &v->be[i];
	return NULL;
}

static bool same_endpoint(const struct svc_be *a, const struct svc_be *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(&a->addr, &b->addr, addr_len(a->family));
}

bool svcset_peer_serves(const struct svc_set *peer, const struct svc_vip *v, uint32_t be_id)
{
	const struct svc_vip *pv = svcset_find_vip(peer, v->family, &v->addr, v->port, v->proto);
	const struct svc_be *mine, *theirs;

	if (!pv || pv->mode != v->mode)
		return false;
	mine = svcset_find_be(v, be_id);
	theirs = svcset_find_be(pv, be_id);
	return mine && theirs && same_endpoint(mine, theirs);
}

#define LINE(refuses, ...)                                                                         \
	do {                                                                                       \
		snprintf(line, sizeof(line), __VA_ARGS__);                                         \
		c->total++;                                                                        \
		if (fn)                                                                            \
			fn(arg, line, refuses);                                                    \
	} while (0)

static void diff_backends(const struct svc_vip *m, const struct svc_vip *p, const char *peer,
			  const char *vs, struct svc_diff_count *c, svc_diff_fn fn, void *arg)
{
	char line[320], e1[64], e2[64];
	size_t i;

	for (i = 0; i < m->n_be; i++) {
		const struct svc_be *a = &m->be[i], *b = svcset_find_be(p, a->id);

		ep_str(a->family, &a->addr, a->port, e1, sizeof(e1));
		if (!b) {
			c->backends_missing_there++;
			LINE(true, "VIP %s: backend %u (%s): missing on %s", vs, a->id, e1, peer);
			continue;
		}
		if (!same_endpoint(a, b)) {
			c->backends_other_address++;
			ep_str(b->family, &b->addr, b->port, e2, sizeof(e2));
			LINE(true, "VIP %s: backend %u: %s here, %s on %s", vs, a->id, e1, e2,
			     peer);
		}
		if (a->weight != b->weight) {
			c->weights++;
			LINE(false, "VIP %s: backend %u (%s): weight %u here, %u on %s", vs, a->id,
			     e1, a->weight, b->weight, peer);
		}
		if (a->drain != b->drain) {
			c->drains++;
			LINE(false, "VIP %s: backend %u (%s): %s here, %s on %s", vs, a->id, e1,
			     a->drain ? "drained" : "not drained",
			     b->drain ? "drained" : "not drained", peer);
		}
	}
	for (i = 0; i < p->n_be; i++) {
		const struct svc_be *b = &p->be[i];

		if (svcset_find_be(m, b->id))
			continue;
		c->backends_missing_here++;
		ep_str(b->family, &b->addr, b->port, e2, sizeof(e2));
		LINE(false, "VIP %s: backend %u: missing here, %s has it (%s)", vs, b->id, peer,
		     e2);
	}
}

void svcset_diff(const struct svc_set *mine, const struct svc_set *peer, const char *peer_name,
		 struct svc_diff_count *c, svc_diff_fn fn, void *arg)
{
	char line[320], vs[80];
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < mine->n; i++) {
		const struct svc_vip *m = &mine->vips[i], *p;

		svcset_vip_str(m, vs, sizeof(vs));
		p = svcset_find_vip(peer, m->family, &m->addr, m->port, m->proto);
		if (!p) {
			c->vips_missing_there++;
			LINE(true, "VIP %s (%s, %zu backends): missing on %s", vs,
			     mode_str(m->mode), m->n_be, peer_name);
			continue;
		}
		if (p->mode != m->mode) {
			c->vips_other_mode++;
			LINE(true, "VIP %s: %s here, %s on %s", vs, mode_str(m->mode),
			     mode_str(p->mode), peer_name);
		}
		diff_backends(m, p, peer_name, vs, c, fn, arg);
	}
	for (i = 0; i < peer->n; i++) {
		const struct svc_vip *p = &peer->vips[i];

		if (svcset_find_vip(mine, p->family, &p->addr, p->port, p->proto))
			continue;
		svcset_vip_str(p, vs, sizeof(vs));
		c->vips_missing_here++;
		LINE(false, "VIP %s: missing here, %s has it (%s, %zu backends)", vs, peer_name,
		     mode_str(p->mode), p->n_be);
	}
}
