// SPDX-License-Identifier: BSD-2-Clause
/* Fixtures for the data-plane tests and benchmark; see dp_fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb.skel.h"
#include "dp_fixture.h"

const uint8_t dp_mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
const uint8_t dp_mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
const uint8_t dp_mac_client[6] = { 0x02, 0x00, 0x00, 0x00, 0x0c, 0x01 };
const uint8_t dp_mac_be1[6] = { 0x02, 0x00, 0x00, 0x00, 0x0b, 0x01 };
const uint8_t dp_mac_be2[6] = { 0x02, 0x00, 0x00, 0x00, 0x0b, 0x02 };
const uint8_t dp_mac_be3[6] = { 0x02, 0x00, 0x00, 0x00, 0x0b, 0x03 };
const uint8_t dp_mac_cfg[6] = { 0x02, 0x00, 0x00, 0x00, 0x0b, 0x04 };

static const char *const topo_cmds[] = {
	"ip link set lo up",
	"ip link add " DP_IF_A " address 02:00:00:00:00:01 type veth peer name " DP_IF_A "p",
	"ip link add " DP_IF_B " address 02:00:00:00:00:02 type veth peer name " DP_IF_B "p",
	"ip addr add 198.18.0.1/24 dev " DP_IF_A,
	"ip addr add 198.18.1.1/24 dev " DP_IF_B,
	"ip link set " DP_IF_A " up",
	"ip link set " DP_IF_A "p up",
	"ip link set " DP_IF_B " up",
	"ip link set " DP_IF_B "p up",
	"ip neigh replace 198.18.0.10 lladdr 02:00:00:00:0c:01 nud permanent dev " DP_IF_A,
	"ip neigh replace 198.18.0.20 lladdr 02:00:00:00:0b:01 nud permanent dev " DP_IF_A,
	"ip neigh replace 198.18.0.21 lladdr 02:00:00:00:0b:02 nud permanent dev " DP_IF_A,
	"ip neigh replace 198.18.1.20 lladdr 02:00:00:00:0b:03 nud permanent dev " DP_IF_B,
	/* clients of the port-allocation test and bench live behind .10 */
	"ip route add 198.18.64.0/18 via 198.18.0.10 dev " DP_IF_A,
};

static int write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fputs(val, f) >= 0;
	if (fclose(f) || !ok)
		return -EIO;
	return 0;
}

int dp_netns_setup(void)
{
	char cmd[256];
	size_t i;
	int err;

	if (unshare(CLONE_NEWNET))
		return -errno;
	for (i = 0; i < sizeof(topo_cmds) / sizeof(topo_cmds[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s >/dev/null 2>&1", topo_cmds[i]);
		if (system(cmd)) {
			fprintf(stderr, "failed to run '%s'\n", topo_cmds[i]);
			return -EIO;
		}
	}
	/* bpf_fib_lookup() refuses to forward without it */
	err = write_file("/proc/sys/net/ipv4/ip_forward", "1");
	if (err)
		return err;
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

uint32_t dp_birth_fixed = 1;

int dp_env_open(struct dp_env *e, uint32_t max_sessions)
{
	struct bpf_map *m;
	int err;

	memset(e, 0, sizeof(*e));
	libbpf_set_print(libbpf_quiet);
	e->ncpus = libbpf_num_possible_cpus();
	if (e->ncpus <= 0)
		return -EINVAL;
	e->skel = lb__open();
	if (!e->skel)
		return -errno;
	bpf_object__for_each_map (m, e->skel->obj)
		bpf_map__set_pin_path(m, NULL);
	bpf_map__set_max_entries(e->skel->maps.sessions, max_sessions);
	bpf_map__set_max_entries(e->skel->maps.reverse, max_sessions);
	e->skel->rodata->xlb_birth_fixed = dp_birth_fixed;
	err = lb__load(e->skel);
	if (err) {
		lb__destroy(e->skel);
		e->skel = NULL;
		return err;
	}
	e->prog_fd = bpf_program__fd(e->skel->progs.xdp_lb);
	e->ifindex_a = if_nametoindex(DP_IF_A);
	e->ifindex_b = if_nametoindex(DP_IF_B);
	return 0;
}

void dp_env_close(struct dp_env *e)
{
	if (e->skel)
		lb__destroy(e->skel);
	e->skel = NULL;
}

int dp_fd_sessions(struct dp_env *e)
{
	return bpf_map__fd(e->skel->maps.sessions);
}

int dp_fd_port_owner(struct dp_env *e)
{
	return bpf_map__fd(e->skel->maps.port_owner);
}

int dp_fd_reverse(struct dp_env *e)
{
	return bpf_map__fd(e->skel->maps.reverse);
}

int dp_fd_nh_fwd(struct dp_env *e)
{
	return bpf_map__fd(e->skel->maps.nh_fwd);
}

int dp_fd_nh_reply(struct dp_env *e)
{
	return bpf_map__fd(e->skel->maps.nh_reply);
}

int dp_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 32, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 32)
		return -EINVAL;
	strcat(cmd, " >/dev/null 2>&1");
	return system(cmd) ? -EIO : 0;
}

static int upd(int fd, const void *k, const void *v)
{
	return bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
}

int dp_set_config(struct dp_env *e, uint32_t node_id, uint32_t snat)
{
	struct xlb_config c;
	uint32_t zero = 0;

	memset(&c, 0, sizeof(c));
	c.node_id = node_id;
	c.snat.w[0] = htonl(snat);
	c.snat_family = XLB_AF_INET;
	return upd(bpf_map__fd(e->skel->maps.lb_config), &zero, &c);
}

int dp_add_vip(struct dp_env *e, uint32_t addr, uint16_t port, uint8_t proto, uint8_t mode,
	       uint32_t vip_id)
{
	struct xlb_vip_key k;
	struct xlb_vip_info v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.addr.w[0] = htonl(addr);
	k.port = htons(port);
	k.proto = proto;
	k.family = XLB_AF_INET;
	v.vip_id = vip_id;
	v.mode = mode;
	return upd(bpf_map__fd(e->skel->maps.vips), &k, &v);
}

int dp_add_backend(struct dp_env *e, uint32_t id, uint32_t addr, uint16_t port, uint8_t flags,
		   const uint8_t *mac)
{
	struct xlb_backend b;

	memset(&b, 0, sizeof(b));
	b.addr.w[0] = htonl(addr);
	b.port = htons(port);
	b.family = XLB_AF_INET;
	b.flags = flags;
	if (mac)
		memcpy(b.mac, mac, 6);
	return upd(bpf_map__fd(e->skel->maps.backends), &id, &b);
}

int dp_set_maglev(struct dp_env *e, uint32_t vip_id, const uint32_t *ids, unsigned int n)
{
	uint32_t *keys, *vals, i, count = XLB_MAGLEV_SIZE;
	int fd, err = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "maglev_t", 4, 4, XLB_MAGLEV_SIZE, NULL);
	if (fd < 0)
		return -errno;
	keys = calloc(XLB_MAGLEV_SIZE, sizeof(*keys));
	vals = calloc(XLB_MAGLEV_SIZE, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < XLB_MAGLEV_SIZE; i++) {
		keys[i] = i;
		vals[i] = n ? ids[i % n] : XLB_NO_BACKEND;
	}
	if (bpf_map_update_batch(fd, keys, vals, &count, &bo)) {
		err = -errno;
		goto out;
	}
	err = upd(bpf_map__fd(e->skel->maps.maglev), &vip_id, &fd);
out:
	free(keys);
	free(vals);
	close(fd); /* the outer map holds a reference */
	return err;
}

int dp_fill_pool(struct dp_env *e, uint32_t first, uint32_t count)
{
	int fd = bpf_map__fd(e->skel->maps.port_pool);
	uint32_t p;

	for (p = first; p < first + count; p++)
		if (bpf_map_update_elem(fd, NULL, &p, 0))
			return -errno;
	return 0;
}

int dp_drain_pool(struct dp_env *e, uint32_t *ports, int max)
{
	int fd = bpf_map__fd(e->skel->maps.port_pool);
	uint32_t p;
	int n = 0;

	while (!bpf_map_lookup_and_delete_elem(fd, NULL, &p)) {
		if (n < max)
			ports[n] = p;
		n++;
	}
	return n;
}

struct std_vip {
	uint32_t id;
	uint32_t addr;
	uint16_t port;
	uint8_t proto;
	uint8_t mode;
	uint32_t be; /* 0: empty table */
};

static const struct std_vip std_vips[] = {
	{ DP_VIP_TCP, DP_IP(198, 18, 100, 1), 80, IPPROTO_TCP, XLB_MODE_FNAT, 1 },
	{ DP_VIP_UDP, DP_IP(198, 18, 100, 1), 53, IPPROTO_UDP, XLB_MODE_FNAT, 6 },
	{ DP_VIP_DSR, DP_IP(198, 18, 100, 2), 80, IPPROTO_TCP, XLB_MODE_DSR, 2 },
	{ DP_VIP_EMPTY, DP_IP(198, 18, 100, 3), 80, IPPROTO_TCP, XLB_MODE_FNAT, 0 },
	{ DP_VIP_CFGMAC, DP_IP(198, 18, 100, 4), 80, IPPROTO_TCP, XLB_MODE_FNAT, 4 },
	{ DP_VIP_NONEIGH, DP_IP(198, 18, 100, 5), 80, IPPROTO_TCP, XLB_MODE_FNAT, 5 },
	{ DP_VIP_REDIR, DP_IP(198, 18, 100, 6), 80, IPPROTO_TCP, XLB_MODE_FNAT, 3 },
	{ DP_VIP_UDP_DSR, DP_IP(198, 18, 100, 2), 53, IPPROTO_UDP, XLB_MODE_DSR, 2 },
};

static const struct std_vip *std_vip(unsigned int id)
{
	size_t i;

	for (i = 0; i < sizeof(std_vips) / sizeof(std_vips[0]); i++)
		if (std_vips[i].id == id)
			return &std_vips[i];
	return NULL;
}

uint32_t dp_vip_addr(unsigned int vip_id)
{
	const struct std_vip *v = std_vip(vip_id);

	return v ? v->addr : 0;
}

uint16_t dp_vip_port(unsigned int vip_id)
{
	const struct std_vip *v = std_vip(vip_id);

	return v ? v->port : 0;
}

uint8_t dp_vip_proto(unsigned int vip_id)
{
	const struct std_vip *v = std_vip(vip_id);

	return v ? v->proto : 0;
}

int dp_std_config(struct dp_env *e, uint32_t pool_count)
{
	const uint8_t A = XLB_BE_F_ACTIVE;
	size_t i;
	int err;

	err = dp_set_config(e, DP_NODE_ID, DP_SNAT);
	err = err ?: dp_add_backend(e, 1, DP_BE1, 8080, A, NULL);
	err = err ?: dp_add_backend(e, 2, DP_BE2, 0, A, NULL);
	err = err ?: dp_add_backend(e, 3, DP_BE3, 0, A, NULL);
	err = err ?: dp_add_backend(e, 4, DP_BE_MAC, 8080, A | XLB_BE_F_HAS_MAC, dp_mac_cfg);
	err = err ?: dp_add_backend(e, 5, DP_BE_NONEIGH, 0, A, NULL);
	err = err ?: dp_add_backend(e, 6, DP_BE1, 5353, A, NULL);
	for (i = 0; !err && i < sizeof(std_vips) / sizeof(std_vips[0]); i++) {
		const struct std_vip *v = &std_vips[i];

		err = dp_add_vip(e, v->addr, v->port, v->proto, v->mode, v->id);
		err = err ?: dp_set_maglev(e, v->id, &v->be, v->be ? 1 : 0);
	}
	return err ?: dp_fill_pool(e, DP_POOL_FIRST, pool_count);
}

/* RFC 1071 sum over a buffer, added to @sum. */
static uint32_t csum_add_buf(uint32_t sum, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

static uint16_t csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* L4 checksum over pseudo-header + segment with the checksum field zeroed;
 * host order result. */
static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, size_t l4len, uint8_t proto,
			size_t check_off)
{
	uint8_t seg[DP_PKT_MAX];
	uint32_t sum = 0;

	memcpy(seg, l4, l4len);
	seg[check_off] = seg[check_off + 1] = 0;
	sum = csum_add_buf(sum, ip + 12, 8);
	sum += proto;
	sum += (uint32_t)l4len;
	sum = csum_add_buf(sum, seg, l4len);
	return csum_finish(sum);
}

static uint16_t ip_csum(const uint8_t *ip, size_t ihl_bytes)
{
	uint8_t h[60];

	memcpy(h, ip, ihl_bytes);
	h[10] = h[11] = 0;
	return csum_finish(csum_add_buf(0, h, ihl_bytes));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

size_t dp_build(uint8_t *buf, size_t cap, const struct dp_pkt_spec *s)
{
	size_t ihl = 20 + 4u * s->opt_words, l4len, len, i;
	uint16_t eth_proto = s->eth_proto ? s->eth_proto : 0x0800;
	uint8_t *ip = buf + 14, *l4;

	memset(buf, 0, cap);
	memcpy(buf, s->dmac ? s->dmac : dp_mac_a, 6);
	memcpy(buf + 6, s->smac ? s->smac : dp_mac_client, 6);
	put16(buf + 12, eth_proto);
	if (eth_proto != 0x0800) {
		/* some opaque payload */
		for (i = 14; i < 74; i++)
			buf[i] = (uint8_t)i;
		return 74;
	}
	if (s->proto == IPPROTO_TCP)
		l4len = 20 + s->payload_len;
	else if (s->proto == IPPROTO_UDP)
		l4len = 8 + s->payload_len;
	else
		l4len = 8 + s->payload_len;
	len = 14 + ihl + l4len;
	if (len > cap)
		return 0;

	ip[0] = 0x40 | (s->ihl ? s->ihl : ihl / 4);
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(ihl + l4len));
	put16(ip + 4, s->ip_id);
	put16(ip + 6, s->frag);
	ip[8] = s->ttl ? s->ttl : 64;
	ip[9] = s->proto;
	put32(ip + 12, s->saddr);
	put32(ip + 16, s->daddr);
	for (i = 20; i < ihl; i++) /* options: NOPs then an EOL */
		ip[i] = i + 1 < ihl ? 1 : 0;
	l4 = ip + ihl;
	for (i = 0; i < s->payload_len; i++)
		l4[l4len - s->payload_len + i] = (uint8_t)(0xa5 ^ i);
	if (s->proto == IPPROTO_TCP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, s->seq);
		put32(l4 + 8, (s->tcp_flags & DP_TCP_ACK) ? 1000 : 0);
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 65535);
		put16(l4 + 16, l4_csum(ip, l4, l4len, IPPROTO_TCP, 16));
	} else if (s->proto == IPPROTO_UDP) {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (uint16_t)l4len);
		if (!s->udp_csum_zero) {
			uint16_t c = l4_csum(ip, l4, l4len, IPPROTO_UDP, 6);

			put16(l4 + 6, c ? c : 0xffff);
		}
	} else {
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
	}
	put16(ip + 10, ip_csum(ip, ihl));
	if (s->truncate && s->truncate < len)
		len = s->truncate;
	return len;
}

int dp_parse(const uint8_t *buf, size_t len, struct dp_parsed *p)
{
	const uint8_t *ip = buf + 14, *l4;
	size_t ihl, l4len;

	memset(p, 0, sizeof(*p));
	if (len < 14)
		return -EINVAL;
	memcpy(p->dmac, buf, 6);
	memcpy(p->smac, buf + 6, 6);
	p->eth_proto = get16(buf + 12);
	if (p->eth_proto != 0x0800 || len < 34)
		return -EINVAL;
	p->ihl = ip[0] & 0xf;
	ihl = p->ihl * 4u;
	p->tos = ip[1];
	p->tot_len = get16(ip + 2);
	p->ip_id = get16(ip + 4);
	p->frag = get16(ip + 6);
	p->ttl = ip[8];
	p->proto = ip[9];
	p->ip_check = get16(ip + 10);
	p->saddr = get32(ip + 12);
	p->daddr = get32(ip + 16);
	if (ihl < 20 || 14 + (size_t)p->tot_len > len || p->tot_len < ihl + 8)
		return -EINVAL;
	p->ip_csum_ok = ip_csum(ip, ihl) == p->ip_check;
	l4 = ip + ihl;
	l4len = p->tot_len - ihl;
	p->sport = get16(l4);
	p->dport = get16(l4 + 2);
	if (p->proto == IPPROTO_TCP) {
		if (l4len < 20)
			return -EINVAL;
		p->tcp_flags = l4[13];
		p->l4_check = get16(l4 + 16);
		p->l4_csum_ok = l4_csum(ip, l4, l4len, IPPROTO_TCP, 16) == p->l4_check;
	} else if (p->proto == IPPROTO_UDP) {
		uint16_t c;

		p->l4_check = get16(l4 + 6);
		c = l4_csum(ip, l4, l4len, IPPROTO_UDP, 6);
		p->l4_csum_ok = p->l4_check == (c ? c : 0xffff);
	}
	return 0;
}

int dp_test_run(int prog_fd, int ifindex, const uint8_t *in, size_t len, uint8_t *out,
		size_t *out_len, uint32_t repeat, uint32_t *retval, uint32_t *duration)
{
	uint8_t scratch[DP_PKT_MAX];
	struct xdp_md ctx;
	LIBBPF_OPTS(bpf_test_run_opts, o);

	memset(&ctx, 0, sizeof(ctx));
	ctx.data_end = (uint32_t)len;
	ctx.ingress_ifindex = ifindex;
	o.data_in = in;
	o.data_size_in = (uint32_t)len;
	o.data_out = out ? out : scratch;
	o.data_size_out = out ? (uint32_t)*out_len : sizeof(scratch);
	o.ctx_in = &ctx;
	o.ctx_size_in = sizeof(ctx);
	o.repeat = repeat;
	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	if (out_len)
		*out_len = o.data_size_out;
	*retval = o.retval;
	if (duration)
		*duration = o.duration;
	return 0;
}

int dp_run_if(struct dp_env *e, int ifindex, const uint8_t *in, size_t len, uint8_t *out,
	      size_t *out_len, uint32_t *retval)
{
	return dp_test_run(e->prog_fd, ifindex ? ifindex : e->ifindex_a, in, len, out, out_len, 1,
			   retval, NULL);
}

struct dp_pkt_spec dp_tcp_to(unsigned int vip, uint16_t sport, uint8_t flags)
{
	struct dp_pkt_spec s;

	memset(&s, 0, sizeof(s));
	s.saddr = DP_CLIENT;
	s.daddr = dp_vip_addr(vip);
	s.proto = dp_vip_proto(vip);
	s.sport = sport;
	s.dport = dp_vip_port(vip);
	s.tcp_flags = flags;
	s.ip_id = 0x1234;
	s.ttl = 61;
	return s;
}

struct dp_pkt_spec dp_reply_to(uint16_t snat_port, uint8_t flags)
{
	struct dp_pkt_spec s;

	memset(&s, 0, sizeof(s));
	s.smac = dp_mac_be1;
	s.saddr = DP_BE1;
	s.daddr = DP_SNAT;
	s.proto = IPPROTO_TCP;
	s.sport = 8080;
	s.dport = snat_port;
	s.tcp_flags = flags;
	s.ip_id = 0x4321;
	s.ttl = 63;
	s.payload_len = 11;
	return s;
}

int dp_run(struct dp_env *e, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
	   uint32_t *retval)
{
	return dp_run_if(e, 0, in, len, out, out_len, retval);
}

void dp_stats_all(struct dp_env *e, uint64_t *v)
{
	int fd = bpf_map__fd(e->skel->maps.stats);
	uint64_t percpu[512];
	uint32_t i;
	int c;

	for (i = 0; i < XLB_STAT_MAX; i++) {
		v[i] = 0;
		if (e->ncpus > 512 || bpf_map_lookup_elem(fd, &i, percpu))
			continue;
		for (c = 0; c < e->ncpus; c++)
			v[i] += percpu[c];
	}
}

uint64_t dp_stat(struct dp_env *e, unsigned int idx)
{
	uint64_t v[XLB_STAT_MAX];

	dp_stats_all(e, v);
	return idx < XLB_STAT_MAX ? v[idx] : 0;
}

int dp_vip_stats(struct dp_env *e, uint32_t vip_id, struct xlb_vip_stats *s)
{
	int fd = bpf_map__fd(e->skel->maps.vip_stats);
	struct xlb_vip_stats *pc;
	int c;

	memset(s, 0, sizeof(*s));
	pc = calloc(e->ncpus, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &vip_id, pc)) {
		free(pc);
		return -errno;
	}
	for (c = 0; c < e->ncpus; c++) {
		s->packets += pc[c].packets;
		s->bytes += pc[c].bytes;
		s->reply_packets += pc[c].reply_packets;
		s->reply_bytes += pc[c].reply_bytes;
		s->new_sessions += pc[c].new_sessions;
		s->drops += pc[c].drops;
	}
	free(pc);
	return 0;
}

void dp_flow_key(struct xlb_flow_key *k, uint32_t saddr, uint32_t daddr, uint16_t sport,
		 uint16_t dport, uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	k->saddr.w[0] = htonl(saddr);
	k->daddr.w[0] = htonl(daddr);
	k->sport = htons(sport);
	k->dport = htons(dport);
	k->proto = proto;
	k->family = XLB_AF_INET;
}

int dp_session_get(struct dp_env *e, const struct xlb_flow_key *k, struct xlb_session *s)
{
	return bpf_map_lookup_elem(dp_fd_sessions(e), k, s) ? -errno : 0;
}

int dp_reverse_get(struct dp_env *e, const struct xlb_flow_key *k, struct xlb_reverse *rv)
{
	return bpf_map_lookup_elem(dp_fd_reverse(e), k, rv) ? -errno : 0;
}

int dp_map_count(int map_fd, size_t key_size)
{
	uint8_t k[64], nk[64];
	void *prev = NULL;
	int n = 0;

	if (key_size > sizeof(k))
		return -EINVAL;
	while (!bpf_map_get_next_key(map_fd, prev, nk)) {
		n++;
		memcpy(k, nk, key_size);
		prev = k;
	}
	return n;
}
