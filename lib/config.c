// SPDX-License-Identifier: BSD-2-Clause
/*
 * Node config file parser, shared by lbd and syncd.
 *
 * The file is loaded with libyaml's document API (yaml_parser_load), so every
 * node keeps the line and column it came from and every error can point at
 * the offending node: "FILE:LINE:COL: key.path: reason". JSON is YAML flow
 * style and goes through the same code.
 *
 * The schema is walked explicitly, section by section: each mapping is first
 * checked for unknown and duplicate keys, then its known keys are looked up
 * and converted. Cross-checks that need more than one node (unique VIPs,
 * cluster-wide backend ids, fnat needing snat.address...) run as soon as the
 * nodes they compare have been parsed, so they can still name a position.
 *
 * Every number is read through its limit (one table below), every optional
 * key starts at its default (config.h: set_defaults(), cfg_vip_init(),
 * cfg_backend_init(), and the defaults derived from the node's name where
 * that is known). A VIP or backend, once read, goes through cfg_check_vip()
 * or cfg_check_backend(): the same checks lbd runs on the ones lbctl adds,
 * which say what is wrong and leave where to the caller.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <sodium.h>

#include <yaml.h>

#include "config.h"

#define CFG_FILE_MAX (4u << 20) /* refuse bigger config files */
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))
#define NAME_RULE    "1-63 characters of A-Z a-z 0-9 _ . -"

/* Limits: the inclusive range of every number in the file (defaults are in
 * config.h). */
const struct cfg_limit cfg_lim_vip_port = { 1, 65535 };
const struct cfg_limit cfg_lim_backend_port = { CFG_PORT_INHERIT, 65535 };
const struct cfg_limit cfg_lim_backend_id = { 1, XLB_MAX_BACKENDS - 1 };
const struct cfg_limit cfg_lim_weight = { 0, CFG_WEIGHT_MAX };
static const struct cfg_limit lim_node_id = { 1, 65535 };
static const struct cfg_limit lim_snat_port = { 1024, 65535 };
static const struct cfg_limit lim_port_hold = { 0, 3600 };
static const struct cfg_limit lim_sessions = { 1024, 1u << 24 };
static const struct cfg_limit lim_ageing_ms = { 10, 60000 };
static const struct cfg_limit lim_timeout = { 1, 604800 }; /* a week, in seconds */
static const struct cfg_limit lim_gone = { 0, 604800 };	   /* 0: never */
static const struct cfg_limit lim_hc_port = { CFG_PORT_INHERIT, 65535 };
static const struct cfg_limit lim_hc_interval_ms = { 10, 3600000 };
static const struct cfg_limit lim_hc_timeout_ms = { 1, 3600000 };
static const struct cfg_limit lim_hc_count = { 1, 100 }; /* rise, fall */
static const struct cfg_limit lim_hc_status = { 100, 599 };
static const struct cfg_limit lim_heartbeat_ms = { 10, 10000 };
static const struct cfg_limit lim_dead_after_ms = { 50, 600000 };
static const struct cfg_limit lim_antientropy_ms = { CFG_SYNC_ANTIENTROPY_OFF, 86400000 };
static const struct cfg_limit lim_digest_settle_ms = { 100, 600000 };
static const struct cfg_limit lim_peer_node_id = { 1, 65535 };
static const struct cfg_limit lim_peer_port = { 1, 65535 };
static const struct cfg_limit lim_field_offset = { 0, 4095 };
static const struct cfg_limit lim_field_size = { 2, 8 };

/* The words of the file and what they stand for. */
const struct cfg_word cfg_protocols[] = {
	{ "tcp", IPPROTO_TCP },
	{ "udp", IPPROTO_UDP },
	{ NULL, 0 },
};
const struct cfg_word cfg_modes[] = {
	{ "fnat", XLB_MODE_FNAT },
	{ "dsr", XLB_MODE_DSR },
	{ NULL, 0 },
};
const struct cfg_word cfg_hc_types[] = {
	{ "none", HC_NONE },
	{ "tcp", HC_TCP },
	{ "http", HC_HTTP },
	{ NULL, 0 },
};
static const struct cfg_word xdp_modes[] = {
	{ "native", 0 },
	{ "generic", 1 },
	{ NULL, 0 },
};
static const struct cfg_word capture_modes[] = {
	{ "auto", 0 }, { "kprobe", 1 }, { "fentry", 2 }, { "inline", 3 }, { NULL, 0 },
};
static const struct cfg_word auth_modes[] = {
	{ "required", 0 },
	{ "off", 1 },
	{ NULL, 0 },
};

static const struct cfg_word ciphers[] = {
	{ "chacha20-poly1305", 1 },
	{ "aes-256-gcm", 2 },
	{ "none", 0 },
	{ NULL, 0 },
};

struct be_owner {
	uint16_t vip; /* vip index + 1; 0 = id not used yet */
	uint16_t be;  /* index in that VIP's backends */
};

struct pctx {
	const char *name; /* file name for messages */
	yaml_document_t *doc;
	struct node_config *cfg;
	char *err;
	size_t errlen;
	bool failed;
	struct be_owner owner[XLB_MAX_BACKENDS];
};

/* ---------------------------------------------------------------------- */
/* errors */

static int __attribute__((format(printf, 3, 4)))
perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	va_list ap;
	int off;

	if (c->failed)
		return -1;
	c->failed = true;
	if (!c->err || !c->errlen)
		return -1;
	if (n) {
		line = n->start_mark.line + 1;
		col = n->start_mark.column + 1;
	}
	off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, line, col);
	if (off < 0 || (size_t)off >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy a user supplied string for an error message: short, one line. */
static const char *shown(const char *s, char *buf, size_t len)
{
	size_t i, j = 0;

	for (i = 0; s[i] && j + 4 < len; i++)
		buf[j++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (s[i] && len >= 4) {
		j = j > len - 4 ? len - 4 : j;
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------- */
/* generic node helpers */

static yaml_node_t *node_at(struct pctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return "null";
		return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "a scalar" : "a string";
	default:
		return "nothing";
	}
}

static const char *pjoin(char *buf, size_t len, const char *base, const char *key)
{
	if ((size_t)snprintf(buf, len, "%s%s%s", base, *base ? "." : "", key) >= len)
		buf[len - 1] = '\0'; /* truncated key paths are still useful */
	return buf;
}

static const char *pindex(char *buf, size_t len, const char *base, size_t i)
{
	if ((size_t)snprintf(buf, len, "%s[%zu]", base, i) >= len)
		buf[len - 1] = '\0';
	return buf;
}

#define PATH_LEN 96

/*
 * Check that n is a mapping whose keys are unique strings from keys[]
 * (NULL terminated).
 */
static int check_map(struct pctx *c, yaml_node_t *n, const char *path, const char *const *keys)
{
	char p[PATH_LEN], expect[256], tmp[48];
	yaml_node_pair_t *pr, *q;
	size_t i, off = 0;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "%s: expected a mapping, got %s", *path ? path : "top level",
			    kind(n));
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(c, pr->key);
		bool known = false;

		if (!k || k->type != YAML_SCALAR_NODE || is_null(k))
			return perr(c, k, "%s: keys must be strings", *path ? path : "top level");
		if (strlen(sval(k)) != k->data.scalar.length)
			return perr(c, k, "%s: key contains a NUL byte",
				    *path ? path : "top level");
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], sval(k)))
				known = true;
		if (!known) {
			for (i = 0; keys[i] && off + 32 < sizeof(expect); i++)
				off += snprintf(expect + off, sizeof(expect) - off, "%s%s",
						i ? ", " : "", keys[i]);
			return perr(c, k, "%s: unknown key (expected one of: %s)",
				    pjoin(p, sizeof(p), path, shown(sval(k), tmp, sizeof(tmp))),
				    expect);
		}
		for (q = n->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *k2 = node_at(c, q->key);

			if (!strcmp(sval(k2), sval(k)))
				return perr(c, k, "%s: duplicate key (first at line %zu)",
					    pjoin(p, sizeof(p), path, sval(k)),
					    (size_t)k2->start_mark.line + 1);
		}
	}
	return 0;
}

/*
 * Value of key in a mapping already checked with check_map(). NULL if the
 * key is absent or its value is null; *keyn (if given) is the key node or
 * NULL.
 */
static yaml_node_t *map_get(struct pctx *c, yaml_node_t *map, const char *key, yaml_node_t **keyn)
{
	yaml_node_pair_t *pr;

	if (keyn)
		*keyn = NULL;
	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(c, pr->key);
		yaml_node_t *v = node_at(c, pr->value);

		if (strcmp(sval(k), key))
			continue;
		if (keyn)
			*keyn = k;
		return v && !is_null(v) ? v : NULL;
	}
	return NULL;
}

static int missing(struct pctx *c, yaml_node_t *map, yaml_node_t *keyn, const char *path)
{
	return perr(c, keyn ? keyn : map, "%s: required%s", path,
		    keyn ? " (value is empty)" : " key is missing");
}

/* Scalar conversion ---------------------------------------------------- */

static int to_uint(struct pctx *c, yaml_node_t *v, const char *path, const struct cfg_limit *l,
		   uint64_t *out)
{
	char tmp[48], why[96];
	const char *s, *d;
	unsigned long long x;
	char *end;
	bool neg = false;

	if (v->type != YAML_SCALAR_NODE)
		return perr(c, v, "%s: expected an integer, got %s", path, kind(v));
	s = sval(v);
	if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return perr(c, v, "%s: expected an integer, got string \"%s\"", path,
			    shown(s, tmp, sizeof(tmp)));
	d = s;
	if (*d == '-' || *d == '+')
		neg = *d++ == '-';
	if (!isdigit((unsigned char)*d))
		goto bad;
	if (d[0] == '0' && d[1]) /* 010: octal in YAML 1.1, decimal in JSON */
		return perr(c, v, "%s: \"%s\": leading zeros are not allowed", path,
			    shown(s, tmp, sizeof(tmp)));
	for (end = (char *)d; *end; end++)
		if (!isdigit((unsigned char)*end))
			goto bad;
	errno = 0;
	x = strtoull(d, &end, 10);
	if (errno == ERANGE || (neg && x))
		return perr(c, v, "%s: %s is out of range %" PRIu64 "-%" PRIu64, path,
			    shown(s, tmp, sizeof(tmp)), l->min, l->max);
	if (!cfg_in_limit(l, x, why, sizeof(why)))
		return perr(c, v, "%s: %s", path, why);
	*out = x;
	return 0;
bad:
	return perr(c, v, "%s: expected an integer, got \"%s\"", path, shown(s, tmp, sizeof(tmp)));
}

static int to_str(struct pctx *c, yaml_node_t *v, const char *path, char *out, size_t outlen)
{
	if (v->type != YAML_SCALAR_NODE)
		return perr(c, v, "%s: expected a string, got %s", path, kind(v));
	if (strlen(sval(v)) != v->data.scalar.length)
		return perr(c, v, "%s: contains a NUL byte", path);
	if (v->data.scalar.length >= outlen)
		return perr(c, v, "%s: too long (at most %zu characters)", path, outlen - 1);
	memcpy(out, sval(v), v->data.scalar.length + 1);
	return 0;
}

static int to_bool(struct pctx *c, yaml_node_t *v, const char *path, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	char tmp[48];
	size_t i;

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		goto bad;
	for (i = 0; yes[i]; i++) {
		if (!strcasecmp(sval(v), yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(sval(v), no[i])) {
			*out = false;
			return 0;
		}
	}
bad:
	if (v->type != YAML_SCALAR_NODE)
		return perr(c, v, "%s: expected true or false, got %s", path, kind(v));
	return perr(c, v, "%s: expected true or false, got \"%s\"", path,
		    shown(sval(v), tmp, sizeof(tmp)));
}

/* Key lookups with conversion. Return 0 when set, 1 when absent (the
 * output is then left alone: it holds the default), -1 on error. */

static int get_uint(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		    bool required, const struct cfg_limit *l, uint64_t *out)
{
	char p[PATH_LEN];
	yaml_node_t *kn, *v = map_get(c, map, key, &kn);

	pjoin(p, sizeof(p), path, key);
	if (!v)
		return required ? missing(c, map, kn, p) : 1;
	return to_uint(c, v, p, l, out);
}

/* (The limits of the u32 and u16 fields fit their types.) */
static int get_u32(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		   bool required, const struct cfg_limit *l, uint32_t *out)
{
	uint64_t x;
	int ret = get_uint(c, map, path, key, required, l, &x);

	if (!ret)
		*out = (uint32_t)x;
	return ret;
}

static int get_u16(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		   bool required, const struct cfg_limit *l, uint16_t *out)
{
	uint64_t x;
	int ret = get_uint(c, map, path, key, required, l, &x);

	if (!ret)
		*out = (uint16_t)x;
	return ret;
}

/* A signed integer in [min, max] (a nice value). 0, 1 if absent, or -1. */
static int get_int(struct pctx *c, yaml_node_t *map, const char *path, const char *key, int min,
		   int max, int *out)
{
	char p[PATH_LEN], tmp[48];
	yaml_node_t *v = map_get(c, map, key, NULL);
	const char *s, *d;
	char *end;
	long x;

	pjoin(p, sizeof(p), path, key);
	if (!v)
		return 1;
	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return perr(c, v, "%s: expected an integer, got %s", p, kind(v));
	s = sval(v);
	d = *s == '-' || *s == '+' ? s + 1 : s;
	if (!isdigit((unsigned char)*d) || (d[0] == '0' && d[1]))
		return perr(c, v, "%s: expected an integer, got \"%s\"", p,
			    shown(s, tmp, sizeof(tmp)));
	errno = 0;
	x = strtol(s, &end, 10);
	if (*end)
		return perr(c, v, "%s: expected an integer, got \"%s\"", p,
			    shown(s, tmp, sizeof(tmp)));
	if (errno == ERANGE || x < min || x > max)
		return perr(c, v, "%s: %s is out of range %d-%d", p, shown(s, tmp, sizeof(tmp)),
			    min, max);
	*out = (int)x;
	return 0;
}

static int get_str(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		   bool required, char *out, size_t outlen, yaml_node_t **vout)
{
	char p[PATH_LEN];
	yaml_node_t *kn, *v = map_get(c, map, key, &kn);

	if (vout)
		*vout = v;
	pjoin(p, sizeof(p), path, key);
	if (!v)
		return required ? missing(c, map, kn, p) : 1;
	return to_str(c, v, p, out, outlen);
}

static int get_bool(struct pctx *c, yaml_node_t *map, const char *path, const char *key, bool *out)
{
	char p[PATH_LEN];
	yaml_node_t *v = map_get(c, map, key, NULL);

	if (!v)
		return 1;
	return to_bool(c, v, pjoin(p, sizeof(p), path, key), out);
}

/* "tcp | udp" */
static const char *word_list(const struct cfg_word *t, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; t->name && off < len; t++)
		off += snprintf(buf + off, len - off, "%s%s", off ? " | " : "", t->name);
	return buf;
}

/* One of the words of t: *out is its entry. */
static int get_word(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		    const struct cfg_word *t, const struct cfg_word **out)
{
	char p[PATH_LEN], tmp[48], expect[128];
	yaml_node_t *v = map_get(c, map, key, NULL);
	const struct cfg_word *w;

	if (!v)
		return 1;
	pjoin(p, sizeof(p), path, key);
	for (w = t; w->name; w++) {
		if (v->type == YAML_SCALAR_NODE && !strcmp(sval(v), w->name)) {
			*out = w;
			return 0;
		}
	}
	word_list(t, expect, sizeof(expect));
	if (v->type != YAML_SCALAR_NODE)
		return perr(c, v, "%s: expected one of %s, got %s", p, expect, kind(v));
	return perr(c, v, "%s: \"%s\" is not one of %s", p, shown(sval(v), tmp, sizeof(tmp)),
		    expect);
}

static yaml_node_t *get_section(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
				const char *const *keys, int *ret)
{
	char p[PATH_LEN];
	yaml_node_t *v = map_get(c, map, key, NULL);

	*ret = 0;
	if (!v)
		return NULL;
	if (check_map(c, v, pjoin(p, sizeof(p), path, key), keys) < 0) {
		*ret = -1;
		return NULL;
	}
	return v;
}

/* Value checks ------------------------------------------------------------ */

/* An IPv4 address (any: the rules of where it is used come later). */
static int get_addr(struct pctx *c, yaml_node_t *map, const char *path, const char *key,
		    bool required, int *family, union xlb_addr *addr, yaml_node_t **vout)
{
	char s[64], p[PATH_LEN], tmp[48];
	yaml_node_t *v;
	int ret;

	ret = get_str(c, map, path, key, required, s, sizeof(s), &v);
	if (vout)
		*vout = v;
	if (ret)
		return ret;
	if (cfg_parse_addr(s, family, addr))
		return perr(c, v, "%s: \"%s\" is not an IPv4 address",
			    pjoin(p, sizeof(p), path, key), shown(s, tmp, sizeof(tmp)));
	return 0;
}

/* The kernel's dev_valid_name(), restricted to printable ASCII. */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == '/' || *s == ':')
			return false;
	return true;
}

/* Absolute, no "." or ".." components, no empty components; trailing
 * slashes are removed. */
static bool path_ok(char *s)
{
	size_t n = strlen(s);
	const char *p;

	if (s[0] != '/')
		return false;
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	for (p = s; *p;) {
		const char *e;
		size_t l;

		p++; /* skip '/' */
		e = strchrnul(p, '/');
		l = e - p;
		if ((l == 0 && *e) || (l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p = e;
	}
	return true;
}

static int get_path(struct pctx *c, yaml_node_t *map, const char *key, char *out, size_t outlen,
		    yaml_node_t **vout)
{
	int ret = get_str(c, map, "", key, false, out, outlen, vout);

	if (ret)
		return ret;
	if (!path_ok(out))
		return perr(c, *vout,
			    "%s: \"%s\" must be an absolute path without "
			    "empty, \".\" or \"..\" components",
			    key, out);
	return 0;
}

/* "[tcp://]a.b.c.d:port" */
static bool endpoint_ok(const char *s)
{
	char host[INET_ADDRSTRLEN];
	const char *colon, *port;
	union xlb_addr a;
	unsigned long x;
	char *end;
	int fam;

	if (!strncmp(s, "tcp://", 6))
		s += 6;
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return false;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	if (cfg_parse_addr(host, &fam, &a))
		return false;
	port = colon + 1;
	if (!isdigit((unsigned char)*port))
		return false;
	errno = 0;
	x = strtoul(port, &end, 10);
	return !errno && !*end && x >= 1 && x <= 65535;
}

/* ---------------------------------------------------------------------- */
/* rules of a VIP and a backend: the parser's and lbd's run-time changes' */

bool cfg_in_limit(const struct cfg_limit *l, uint64_t x, char *why, size_t len)
{
	if (x >= l->min && x <= l->max)
		return true;
	if (why && len)
		snprintf(why, len, "%" PRIu64 " is out of range %" PRIu64 "-%" PRIu64, x, l->min,
			 l->max);
	return false;
}

const char *cfg_word_name(const struct cfg_word *t, int val)
{
	for (; t->name; t++)
		if (t->val == val)
			return t->name;
	return NULL;
}

int cfg_word_value(const struct cfg_word *t, const char *s, int *val)
{
	for (; t->name; t++) {
		if (!strcmp(t->name, s)) {
			*val = t->val;
			return 0;
		}
	}
	return -1;
}

/* ASCII whatever the locale. */
bool cfg_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= CFG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

bool cfg_valid_unicast(int family, const union xlb_addr *a)
{
	uint32_t x = ntohl(a->w[0]);

	return family == AF_INET && x != 0 && x != 0xffffffffu && (x >> 28) != 0xe;
}

bool cfg_valid_mac(const uint8_t mac[6])
{
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

void cfg_vip_init(struct cfg_vip *v)
{
	memset(v, 0, sizeof(*v));
	v->proto = CFG_DEF_VIP_PROTO;
	v->mode = CFG_DEF_VIP_MODE;
	v->hc.type = CFG_DEF_HC_TYPE;
	v->hc.port = CFG_DEF_HC_PORT;
	snprintf(v->hc.path, sizeof(v->hc.path), "%s", CFG_DEF_HC_PATH);
	v->hc.expect_status = CFG_DEF_HC_EXPECT_STATUS;
	v->hc.interval_ms = CFG_DEF_HC_INTERVAL_MS;
	v->hc.timeout_ms = CFG_DEF_HC_TIMEOUT_MS;
	v->hc.rise = CFG_DEF_HC_RISE;
	v->hc.fall = CFG_DEF_HC_FALL;
}

void cfg_backend_init(struct cfg_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->port = CFG_DEF_BACKEND_PORT;
	b->weight = CFG_DEF_WEIGHT;
	b->drain = CFG_DEF_DRAIN;
}

const char *cfg_field_key(enum cfg_field f)
{
	switch (f) {
	case CFG_F_NAME:
		return "name";
	case CFG_F_ADDRESS:
		return "address";
	case CFG_F_PORT:
		return "port";
	case CFG_F_PROTOCOL:
		return "protocol";
	case CFG_F_MODE:
		return "mode";
	case CFG_F_ID:
		return "id";
	case CFG_F_WEIGHT:
		return "weight";
	case CFG_F_MAC:
		return "mac";
	case CFG_F_ENDPOINT:
		break;
	}
	return NULL;
}

static int __attribute__((format(printf, 4, 5)))
fault(struct cfg_fault *f, enum cfg_field field, int ret, const char *fmt, ...)
{
	va_list ap;

	f->field = field;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return ret;
}

static void fmt_ep(char *buf, size_t len, int family, const union xlb_addr *a, uint16_t port)
{
	char ab[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u", cfg_format_addr(family, a, ab, sizeof(ab)), port);
}

static void fmt_mac(char *buf, size_t len, const uint8_t mac[6])
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/* "a.b.c.d:port" or "a.b.c.d:port mac aa:bb:cc:dd:ee:ff" */
static void fmt_be(char *buf, size_t len, const struct cfg_backend *b)
{
	char ep[64], mac[18];

	fmt_ep(ep, sizeof(ep), b->family, &b->addr, b->port);
	if (!b->has_mac) {
		snprintf(buf, len, "%s", ep);
		return;
	}
	fmt_mac(mac, sizeof(mac), b->mac);
	snprintf(buf, len, "%s mac %s", ep, mac);
}

int cfg_check_vip(const struct node_config *cfg, const struct cfg_vip *v, struct cfg_fault *f)
{
	char name[CFG_NAME_MAX + 4], a[INET6_ADDRSTRLEN], why[96], e[64];
	const char *proto;
	size_t i;

	if (!cfg_valid_name(v->name))
		return fault(f, CFG_F_NAME, -EINVAL, "\"%s\" must be " NAME_RULE,
			     shown(v->name, name, sizeof(name)));
	for (i = 0; i < cfg->n_vips; i++)
		if (&cfg->vips[i] != v && !strcmp(cfg->vips[i].name, v->name))
			return fault(f, CFG_F_NAME, -EEXIST,
				     "\"%s\" is already the name "
				     "of vips[%zu]",
				     v->name, i);
	if (!cfg_valid_unicast(v->family, &v->addr))
		return fault(f, CFG_F_ADDRESS, -EINVAL, "%s is not a unicast address",
			     cfg_format_addr(v->family, &v->addr, a, sizeof(a)));
	if (!cfg_in_limit(&cfg_lim_vip_port, v->port, why, sizeof(why)))
		return fault(f, CFG_F_PORT, -EINVAL, "%s", why);
	proto = cfg_word_name(cfg_protocols, v->proto);
	if (!proto)
		return fault(f, CFG_F_PROTOCOL, -EINVAL, "%u is not one of %s", v->proto,
			     word_list(cfg_protocols, why, sizeof(why)));
	if (!cfg_word_name(cfg_modes, v->mode))
		return fault(f, CFG_F_MODE, -EINVAL, "%d is not one of %s", (int)v->mode,
			     word_list(cfg_modes, why, sizeof(why)));
	for (i = 0; i < cfg->n_vips; i++) {
		const struct cfg_vip *o = &cfg->vips[i];

		if (o != v && o->name[0] && o->family == v->family && o->port == v->port &&
		    o->proto == v->proto && !memcmp(&o->addr, &v->addr, sizeof(o->addr))) {
			fmt_ep(e, sizeof(e), v->family, &v->addr, v->port);
			return fault(f, CFG_F_ENDPOINT, -EEXIST, "%s/%s is already vips[%zu] (%s)",
				     e, proto, i, o->name);
		}
	}
	if (v->mode == XLB_MODE_FNAT && cfg->snat_family == AF_UNSPEC)
		return fault(f, CFG_F_MODE, -EINVAL, "fnat (the default mode) needs snat.address");
	return 0;
}

int cfg_check_backend(const struct cfg_vip *v, const struct cfg_backend *b,
		      const struct cfg_backend *same_id, const char *same_id_at,
		      struct cfg_fault *f)
{
	char a[INET6_ADDRSTRLEN], why[96], e1[96], e2[96];
	uint16_t port = cfg_backend_port(v, b);
	size_t i;

	if (!cfg_in_limit(&cfg_lim_backend_id, b->id, why, sizeof(why)))
		return fault(f, CFG_F_ID, -EINVAL, "%s", why);
	if (!cfg_valid_unicast(b->family, &b->addr))
		return fault(f, CFG_F_ADDRESS, -EINVAL, "%s is not a unicast address",
			     cfg_format_addr(b->family, &b->addr, a, sizeof(a)));
	if (!cfg_in_limit(&cfg_lim_backend_port, b->port, why, sizeof(why)))
		return fault(f, CFG_F_PORT, -EINVAL, "%s", why);
	if (!cfg_in_limit(&cfg_lim_weight, b->weight, why, sizeof(why)))
		return fault(f, CFG_F_WEIGHT, -EINVAL, "%s", why);
	if (b->has_mac && !cfg_valid_mac(b->mac)) {
		fmt_mac(e1, sizeof(e1), b->mac);
		return fault(f, CFG_F_MAC, -EINVAL, "%s is not a unicast MAC address", e1);
	}
	if (v->mode == XLB_MODE_DSR && port != v->port)
		return fault(f, CFG_F_PORT, -EINVAL,
			     "%u differs from the VIP port %u: a DSR "
			     "backend cannot change the port (use %u or %u)",
			     b->port, v->port, CFG_PORT_INHERIT, v->port);

	for (i = 0; i < v->n_backends; i++) {
		const struct cfg_backend *o = &v->backends[i];

		if (o == b)
			continue;
		if (o->id == b->id)
			return fault(f, CFG_F_ID, -EEXIST,
				     "backend id %u is used twice in this "
				     "VIP (also backends[%zu])",
				     b->id, i);
		if (o->family == b->family && cfg_backend_port(v, o) == port &&
		    !memcmp(&o->addr, &b->addr, sizeof(o->addr))) {
			fmt_ep(e1, sizeof(e1), b->family, &b->addr, port);
			return fault(f, CFG_F_ENDPOINT, -EEXIST,
				     "%s is already backends[%zu] of "
				     "this VIP",
				     e1, i);
		}
	}

	/* Backend ids are cluster-wide and index one backends map: the same
	 * id must describe the same backend in every VIP. */
	if (same_id &&
	    (same_id->family != b->family || same_id->port != b->port ||
	     memcmp(&same_id->addr, &b->addr, sizeof(b->addr)) || same_id->has_mac != b->has_mac ||
	     (b->has_mac && memcmp(same_id->mac, b->mac, 6)))) {
		fmt_be(e1, sizeof(e1), b);
		fmt_be(e2, sizeof(e2), same_id);
		return fault(f, CFG_F_ID, -EEXIST,
			     "backend id %u is %s here but %s in %s "
			     "(backend ids are cluster-wide: same id, same address, port and "
			     "mac)",
			     b->id, e1, e2, same_id_at);
	}
	return 0;
}

/* A fault of the entry at node n (path): at the field's value, or at the
 * entry when that key is absent; CFG_F_ENDPOINT at the address. */
static int perr_fault(struct pctx *c, yaml_node_t *n, const char *path, const struct cfg_fault *f)
{
	const char *key = cfg_field_key(f->field);
	yaml_node_t *v = map_get(c, n, key ? key : "address", NULL);

	return perr(c, v ? v : n, "%s%s%s: %s", path, key ? "." : "", key ? key : "", f->why);
}

/* ---------------------------------------------------------------------- */
/* sections */

static const char *const top_keys[] = { "node",		  "bpffs", "pin_dir",
					"control_socket", "snat",  "sessions",
					"vips",		  "sync",  NULL };
static const char *const node_keys[] = { "id", "name", "interface", "xdp_mode", NULL };
static const char *const snat_keys[] = { "address", "port_min", "port_max", "port_hold_s", NULL };
static const char *const sess_keys[] = { "max", "ageing_interval_ms", "timeouts", NULL };
static const char *const timeout_keys[] = { "tcp_syn", "tcp_established", "tcp_closing",
					    "udp",     "backend_gone",	  NULL };
static const char *const vip_keys[] = { "name", "address",     "port",	   "protocol",
					"mode", "healthcheck", "backends", NULL };
static const char *const hc_keys[] = { "type",		"port",	       "path",
				       "expect_status", "interval_ms", "timeout_ms",
				       "rise",		"fall",	       NULL };
static const char *const be_keys[] = { "id", "address", "port", "weight", "mac", "drain", NULL };
static const char *const sync_keys[] = { "enabled",	   "listen",
					 "peers",	   "maps",
					 "capture",	   "key_file",
					 "cipher",	   "auth",
					 "node_key_file",  "local_socket",
					 "control_socket", "state_file",
					 "heartbeat_ms",   "dead_after_ms",
					 "antientropy_ms", "digest_settle_ms",
					 "nice",	   NULL };
static const char *const sync_map_keys[] = { "name",	"timestamp", "owner",
					     "version", "backend",   NULL };
static const char *const sync_field_keys[] = { "offset", "size", NULL };
static const char *const peer_keys[] = { "node_id",	  "address",	"snat_port_min",
					 "snat_port_max", "public_key", NULL };
static const char *const sync_map_names[] = { XLB_MAP_SESSIONS, XLB_MAP_REVERSE, NULL };

static int parse_node(struct pctx *c, yaml_node_t *root)
{
	struct node_config *cfg = c->cfg;
	const struct cfg_word *mode;
	char ifname[64], tmp[48], name[CFG_NAME_MAX + 4];
	yaml_node_t *n, *v;
	int ret;

	n = get_section(c, root, "", "node", node_keys, &ret);
	if (ret)
		return ret;
	if (!n)
		return perr(c, root, "node: required section is missing");
	if (get_u32(c, n, "node", "id", true, &lim_node_id, &cfg->node_id) < 0)
		return -1;
	ret = get_str(c, n, "node", "name", false, cfg->node_name, sizeof(cfg->node_name), &v);
	if (ret < 0)
		return -1;
	if (ret == 1)
		snprintf(cfg->node_name, sizeof(cfg->node_name), CFG_DEF_NODE_NAME_FMT,
			 cfg->node_id);
	else if (!cfg_valid_name(cfg->node_name))
		return perr(c, v, "node.name: \"%s\" must be " NAME_RULE,
			    shown(cfg->node_name, name, sizeof(name)));
	if (get_str(c, n, "node", "interface", true, ifname, sizeof(ifname), &v) < 0)
		return -1;
	if (!ifname_ok(ifname))
		return perr(c, v,
			    "node.interface: \"%s\" is not a valid "
			    "interface name (1-%d characters, no / : or spaces)",
			    shown(ifname, tmp, sizeof(tmp)), IF_NAMESIZE - 1);
	memcpy(cfg->interface, ifname, strlen(ifname) + 1);
	ret = get_word(c, n, "node", "xdp_mode", xdp_modes, &mode);
	if (ret < 0)
		return -1;
	if (!ret)
		snprintf(cfg->xdp_mode, sizeof(cfg->xdp_mode), "%s", mode->name);
	return 0;
}

static int parse_paths(struct pctx *c, yaml_node_t *root)
{
	struct node_config *cfg = c->cfg;
	yaml_node_t *v;
	size_t bl;
	int ret;

	if (get_path(c, root, "bpffs", cfg->bpffs, sizeof(cfg->bpffs), &v) < 0)
		return -1;
	bl = strlen(cfg->bpffs);
	if (bl == 1)
		bl = 0; /* bpffs at "/" */

	ret = get_path(c, root, "pin_dir", cfg->pin_dir, sizeof(cfg->pin_dir), &v);
	if (ret < 0)
		return -1;
	if (ret == 1) {
		if ((size_t)snprintf(cfg->pin_dir, sizeof(cfg->pin_dir), CFG_DEF_PIN_DIR_FMT,
				     bl ? cfg->bpffs : "", cfg->node_name) >= sizeof(cfg->pin_dir))
			return perr(c, map_get(c, root, "bpffs", NULL),
				    "pin_dir: default %s/%s is too long", cfg->bpffs,
				    cfg->node_name);
	} else if (strncmp(cfg->pin_dir, cfg->bpffs, bl) || cfg->pin_dir[bl] != '/' ||
		   !cfg->pin_dir[bl + 1]) {
		return perr(c, v, "pin_dir: %s is not under bpffs (%s)", cfg->pin_dir, cfg->bpffs);
	}

	ret = get_path(c, root, "control_socket", cfg->control_socket, sizeof(cfg->control_socket),
		       &v);
	if (ret < 0)
		return -1;
	if (ret == 1)
		snprintf(cfg->control_socket, sizeof(cfg->control_socket),
			 CFG_DEF_CONTROL_SOCKET_FMT, cfg->node_name);
	if (strlen(cfg->control_socket) >= SUN_PATH_MAX)
		return perr(c, v ? v : root,
			    "control_socket: %s is too long for "
			    "a Unix socket (at most %zu characters)",
			    cfg->control_socket, SUN_PATH_MAX - 1);
	return 0;
}

static int parse_snat(struct pctx *c, yaml_node_t *root)
{
	struct node_config *cfg = c->cfg;
	yaml_node_t *n, *v, *vmax;
	char a[INET6_ADDRSTRLEN];
	int ret;

	n = get_section(c, root, "", "snat", snat_keys, &ret);
	if (ret)
		return ret;
	if (!n)
		return 0;
	ret = get_addr(c, n, "snat", "address", false, &cfg->snat_family, &cfg->snat_addr, &v);
	if (ret < 0)
		return -1;
	if (!ret && !cfg_valid_unicast(cfg->snat_family, &cfg->snat_addr))
		return perr(c, v, "snat.address: %s is not a unicast address",
			    cfg_format_addr(cfg->snat_family, &cfg->snat_addr, a, sizeof(a)));
	if (get_u16(c, n, "snat", "port_min", false, &lim_snat_port, &cfg->snat_port_min) < 0 ||
	    get_u16(c, n, "snat", "port_max", false, &lim_snat_port, &cfg->snat_port_max) < 0 ||
	    get_u32(c, n, "snat", "port_hold_s", false, &lim_port_hold, &cfg->snat_port_hold_s) < 0)
		return -1;
	if (cfg->snat_port_min > cfg->snat_port_max) {
		vmax = map_get(c, n, "port_max", NULL);
		if (!vmax)
			vmax = map_get(c, n, "port_min", NULL);
		return perr(c, vmax, "snat: port_max %u is below port_min %u", cfg->snat_port_max,
			    cfg->snat_port_min);
	}
	if ((uint32_t)cfg->snat_port_max - cfg->snat_port_min + 1 > XLB_PORT_POOL_MAX)
		return perr(c, n, "snat: port range is larger than %u ports", XLB_PORT_POOL_MAX);
	return 0;
}

static int parse_sessions(struct pctx *c, yaml_node_t *root)
{
	struct node_config *cfg = c->cfg;
	struct cfg_timeouts *t = &cfg->timeouts;
	yaml_node_t *n, *tn;
	int ret;

	n = get_section(c, root, "", "sessions", sess_keys, &ret);
	if (ret || !n)
		return ret;
	if (get_u32(c, n, "sessions", "max", false, &lim_sessions, &cfg->max_sessions) < 0 ||
	    get_u32(c, n, "sessions", "ageing_interval_ms", false, &lim_ageing_ms,
		    &t->ageing_interval_ms) < 0)
		return -1;
	tn = get_section(c, n, "sessions", "timeouts", timeout_keys, &ret);
	if (ret || !tn)
		return ret;
	if (get_u32(c, tn, "sessions.timeouts", "tcp_syn", false, &lim_timeout, &t->tcp_syn) < 0 ||
	    get_u32(c, tn, "sessions.timeouts", "tcp_established", false, &lim_timeout,
		    &t->tcp_established) < 0 ||
	    get_u32(c, tn, "sessions.timeouts", "tcp_closing", false, &lim_timeout,
		    &t->tcp_closing) < 0 ||
	    get_u32(c, tn, "sessions.timeouts", "udp", false, &lim_timeout, &t->udp) < 0 ||
	    get_u32(c, tn, "sessions.timeouts", "backend_gone", false, &lim_gone,
		    &t->backend_gone) < 0)
		return -1;
	return 0;
}

/* The health check of a VIP: its defaults are in place (cfg_vip_init()). */
static int parse_hc(struct pctx *c, yaml_node_t *vn, const char *vpath, struct cfg_healthcheck *hc)
{
	const struct cfg_word *type;
	yaml_node_t *n, *v;
	char path[PATH_LEN], p2[PATH_LEN];
	int ret;

	pjoin(path, sizeof(path), vpath, "healthcheck");
	n = get_section(c, vn, vpath, "healthcheck", hc_keys, &ret);
	if (ret || !n)
		return ret;
	ret = get_word(c, n, path, "type", cfg_hc_types, &type);
	if (ret < 0)
		return -1;
	if (!ret)
		hc->type = type->val;
	if (get_u16(c, n, path, "port", false, &lim_hc_port, &hc->port) < 0 ||
	    get_u32(c, n, path, "interval_ms", false, &lim_hc_interval_ms, &hc->interval_ms) < 0 ||
	    get_u32(c, n, path, "timeout_ms", false, &lim_hc_timeout_ms, &hc->timeout_ms) < 0 ||
	    get_u32(c, n, path, "rise", false, &lim_hc_count, &hc->rise) < 0 ||
	    get_u32(c, n, path, "fall", false, &lim_hc_count, &hc->fall) < 0)
		return -1;
	if (hc->timeout_ms >= hc->interval_ms) {
		v = map_get(c, n, "timeout_ms", NULL);
		return perr(c, v ? v : n,
			    "%s: timeout_ms %u must be below "
			    "interval_ms %u",
			    path, hc->timeout_ms, hc->interval_ms);
	}

	ret = get_str(c, n, path, "path", false, hc->path, sizeof(hc->path), &v);
	if (ret < 0)
		return -1;
	if (!ret) {
		const char *s;

		pjoin(p2, sizeof(p2), path, "path");
		if (hc->type != HC_HTTP)
			return perr(c, v, "%s: only valid with type http", p2);
		if (hc->path[0] != '/')
			return perr(c, v, "%s: must start with /", p2);
		for (s = hc->path; *s; s++)
			if (!isgraph((unsigned char)*s))
				return perr(c, v,
					    "%s: must not contain spaces "
					    "or control characters",
					    p2);
	}
	v = map_get(c, n, "expect_status", NULL);
	if (v && hc->type != HC_HTTP)
		return perr(c, v, "%s.expect_status: only valid with type http", path);
	if (v) {
		uint64_t x;

		if (to_uint(c, v, pjoin(p2, sizeof(p2), path, "expect_status"), &lim_hc_status,
			    &x) < 0)
			return -1;
		hc->expect_status = (int)x;
	}
	return 0;
}

static int parse_backend(struct pctx *c, yaml_node_t *bn, const char *bpath, struct cfg_vip *vip,
			 size_t bi)
{
	struct cfg_backend *be = &vip->backends[bi];
	const struct cfg_backend *same_id = NULL;
	struct be_owner *o;
	struct cfg_fault f;
	char mac[32], tmp[48], at[48] = "";
	yaml_node_t *macn;
	int ret;

	cfg_backend_init(be);
	if (check_map(c, bn, bpath, be_keys) < 0 ||
	    get_u32(c, bn, bpath, "id", true, &cfg_lim_backend_id, &be->id) < 0 ||
	    get_addr(c, bn, bpath, "address", true, &be->family, &be->addr, NULL) < 0 ||
	    get_u16(c, bn, bpath, "port", false, &cfg_lim_backend_port, &be->port) < 0 ||
	    get_u32(c, bn, bpath, "weight", false, &cfg_lim_weight, &be->weight) < 0 ||
	    get_bool(c, bn, bpath, "drain", &be->drain) < 0)
		return -1;
	ret = get_str(c, bn, bpath, "mac", false, mac, sizeof(mac), &macn);
	if (ret < 0)
		return -1;
	if (!ret) {
		if (cfg_parse_mac(mac, be->mac))
			return perr(c, macn,
				    "%s.mac: \"%s\" is not a MAC address "
				    "(aa:bb:cc:dd:ee:ff)",
				    bpath, shown(mac, tmp, sizeof(tmp)));
		be->has_mac = true;
	}

	/* The first backend with this id, which every other must equal. */
	o = &c->owner[be->id];
	if (o->vip) {
		same_id = &c->cfg->vips[o->vip - 1].backends[o->be];
		snprintf(at, sizeof(at), "vips[%u].backends[%u]", o->vip - 1, o->be);
	}
	if (cfg_check_backend(vip, be, same_id, at, &f) < 0)
		return perr_fault(c, bn, bpath, &f);
	if (!o->vip) {
		o->vip = (uint16_t)(vip->vip_id + 1);
		o->be = (uint16_t)bi;
	}
	return 0;
}

static int parse_vip(struct pctx *c, yaml_node_t *vn, const char *vpath, struct cfg_vip *vip)
{
	const struct cfg_word *proto, *mode;
	yaml_node_t *bl;
	struct cfg_fault f;
	char p[PATH_LEN], bp[PATH_LEN];
	size_t i;
	int ret;

	if (check_map(c, vn, vpath, vip_keys) < 0 ||
	    get_str(c, vn, vpath, "name", true, vip->name, sizeof(vip->name), NULL) < 0 ||
	    get_addr(c, vn, vpath, "address", true, &vip->family, &vip->addr, NULL) < 0 ||
	    get_u16(c, vn, vpath, "port", true, &cfg_lim_vip_port, &vip->port) < 0)
		return -1;
	ret = get_word(c, vn, vpath, "protocol", cfg_protocols, &proto);
	if (ret < 0)
		return -1;
	if (!ret)
		vip->proto = (uint8_t)proto->val;
	ret = get_word(c, vn, vpath, "mode", cfg_modes, &mode);
	if (ret < 0)
		return -1;
	if (!ret)
		vip->mode = mode->val;
	if (cfg_check_vip(c->cfg, vip, &f) < 0)
		return perr_fault(c, vn, vpath, &f);
	if (parse_hc(c, vn, vpath, &vip->hc) < 0)
		return -1;

	bl = map_get(c, vn, "backends", NULL);
	if (!bl)
		return 0;
	pjoin(p, sizeof(p), vpath, "backends");
	if (bl->type != YAML_SEQUENCE_NODE)
		return perr(c, bl, "%s: expected a list, got %s", p, kind(bl));
	if (bl->data.sequence.items.top - bl->data.sequence.items.start > CFG_MAX_BACKENDS_PER_VIP)
		return perr(c, bl, "%s: more than %d backends", p, CFG_MAX_BACKENDS_PER_VIP);
	for (i = 0; bl->data.sequence.items.start + i < bl->data.sequence.items.top; i++) {
		yaml_node_t *bn = node_at(c, bl->data.sequence.items.start[i]);

		if (parse_backend(c, bn, pindex(bp, sizeof(bp), p, i), vip, i) < 0)
			return -1;
		vip->n_backends = i + 1;
	}
	return 0;
}

static int parse_vips(struct pctx *c, yaml_node_t *root)
{
	struct node_config *cfg = c->cfg;
	yaml_node_t *l = map_get(c, root, "vips", NULL);
	char p[PATH_LEN];
	size_t i, n;

	if (!l)
		return 0;
	if (l->type != YAML_SEQUENCE_NODE)
		return perr(c, l, "vips: expected a list, got %s", kind(l));
	n = l->data.sequence.items.top - l->data.sequence.items.start;
	if (n > CFG_MAX_VIPS)
		return perr(c, l, "vips: more than %d VIPs", CFG_MAX_VIPS);
	for (i = 0; i < n; i++) {
		yaml_node_t *vn = node_at(c, l->data.sequence.items.start[i]);

		cfg_vip_init(&cfg->vips[i]);
		cfg->vips[i].vip_id = (uint32_t)i;
		if (parse_vip(c, vn, pindex(p, sizeof(p), "vips", i), &cfg->vips[i]) < 0)
			return -1;
		cfg->n_vips = i + 1;
	}
	return 0;
}

static bool ranges_overlap(uint16_t a0, uint16_t a1, uint16_t b0, uint16_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* A peer's SNAT port range (both bounds or neither): it must not overlap
 * this node's range or another peer's (docs/design.md decision 4). */
static int parse_peer_ports(struct pctx *c, yaml_node_t *pn, const char *p, struct cfg_peer *peer,
			    size_t idx)
{
	const struct node_config *cfg = c->cfg;
	yaml_node_t *vmin = map_get(c, pn, "snat_port_min", NULL);
	yaml_node_t *vmax = map_get(c, pn, "snat_port_max", NULL);
	size_t j;

	if (!vmin && !vmax)
		return 0;
	if (!vmin || !vmax)
		return perr(c, vmin ? vmin : vmax,
			    "%s: give both snat_port_min and "
			    "snat_port_max, or neither",
			    p);
	if (get_u16(c, pn, p, "snat_port_min", true, &lim_peer_port, &peer->snat_port_min) < 0 ||
	    get_u16(c, pn, p, "snat_port_max", true, &lim_peer_port, &peer->snat_port_max) < 0)
		return -1;
	if (peer->snat_port_max < peer->snat_port_min)
		return perr(c, vmax, "%s.snat_port_max: %u is below snat_port_min %u", p,
			    peer->snat_port_max, peer->snat_port_min);
	if (ranges_overlap(peer->snat_port_min, peer->snat_port_max, cfg->snat_port_min,
			   cfg->snat_port_max))
		return perr(c, vmin,
			    "%s: ports %u-%u overlap this node's snat ports %u-%u: "
			    "the nodes' ranges must partition the shared SNAT address",
			    p, peer->snat_port_min, peer->snat_port_max, cfg->snat_port_min,
			    cfg->snat_port_max);
	for (j = 0; j < idx; j++) {
		const struct cfg_peer *o = &cfg->sync.peers[j];

		if (o->snat_port_min && ranges_overlap(peer->snat_port_min, peer->snat_port_max,
						       o->snat_port_min, o->snat_port_max))
			return perr(c, vmin, "%s: ports %u-%u overlap sync.peers[%zu]'s", p,
				    peer->snat_port_min, peer->snat_port_max, j);
	}
	return 0;
}

/* A peer's X25519 public key (sync.node_key_file): 64 hex digits. */
static int parse_peer_public_key(struct pctx *c, yaml_node_t *pn, const char *p,
				 struct cfg_peer *peer)
{
	char hex[2 * CFG_NODE_KEY_LEN + 2];
	yaml_node_t *v = NULL;
	size_t n = 0;
	int ret = get_str(c, pn, p, "public_key", false, hex, sizeof(hex), &v);

	if (ret < 0)
		return -1;
	if (ret)
		return 0;
	if (strlen(hex) != 2 * CFG_NODE_KEY_LEN ||
	    sodium_hex2bin(peer->public_key, sizeof(peer->public_key), hex, strlen(hex), NULL, &n,
			   NULL) ||
	    n != CFG_NODE_KEY_LEN)
		return perr(c, v, "%s.public_key: expected %d hexadecimal digits (syncd keygen)", p,
			    2 * CFG_NODE_KEY_LEN);
	peer->has_public_key = true;
	return 0;
}

static int parse_peers(struct pctx *c, yaml_node_t *l)
{
	struct cfg_sync *s = &c->cfg->sync;
	char p[PATH_LEN], tmp[48];
	size_t i, j, n;

	if (l->type != YAML_SEQUENCE_NODE)
		return perr(c, l, "sync.peers: expected a list, got %s", kind(l));
	n = l->data.sequence.items.top - l->data.sequence.items.start;
	if (n > CFG_MAX_PEERS)
		return perr(c, l, "sync.peers: more than %d peers", CFG_MAX_PEERS);
	for (i = 0; i < n; i++) {
		yaml_node_t *pn = node_at(c, l->data.sequence.items.start[i]);
		struct cfg_peer *peer = &s->peers[i];
		yaml_node_t *v;

		pindex(p, sizeof(p), "sync.peers", i);
		if (check_map(c, pn, p, peer_keys) < 0 ||
		    get_u32(c, pn, p, "node_id", true, &lim_peer_node_id, &peer->node_id) < 0)
			return -1;
		v = map_get(c, pn, "node_id", NULL);
		if (peer->node_id == c->cfg->node_id)
			return perr(c, v, "%s.node_id: %u is this node's own id", p, peer->node_id);
		for (j = 0; j < i; j++)
			if (s->peers[j].node_id == peer->node_id)
				return perr(c, v,
					    "%s.node_id: %u is already "
					    "sync.peers[%zu]",
					    p, peer->node_id, j);
		if (get_str(c, pn, p, "address", true, peer->address, sizeof(peer->address), &v) <
		    0)
			return -1;
		if (!endpoint_ok(peer->address))
			return perr(c, v,
				    "%s.address: \"%s\" is not "
				    "[tcp://]a.b.c.d:port",
				    p, shown(peer->address, tmp, sizeof(tmp)));
		for (j = 0; j < i; j++)
			if (!strcmp(s->peers[j].address, peer->address))
				return perr(c, v,
					    "%s.address: %s is already "
					    "sync.peers[%zu]",
					    p, peer->address, j);
		if (parse_peer_ports(c, pn, p, peer, i) < 0)
			return -1;
		if (parse_peer_public_key(c, pn, p, peer) < 0)
			return -1;
		s->n_peers = i + 1;
	}
	return 0;
}

/* One {offset, size} field of a synced map's value. */
static int parse_sync_field(struct pctx *c, yaml_node_t *mn, const char *path, const char *key,
			    struct cfg_sync_field *f)
{
	char p[PATH_LEN];
	yaml_node_t *fn;
	int ret;

	fn = get_section(c, mn, path, key, sync_field_keys, &ret);
	if (ret)
		return -1;
	if (!fn)
		return 0;
	pjoin(p, sizeof(p), path, key);
	if (get_u32(c, fn, p, "offset", true, &lim_field_offset, &f->off) < 0 ||
	    get_u32(c, fn, p, "size", true, &lim_field_size, &f->size) < 0)
		return -1;
	if (f->size != 2 && f->size != 4 && f->size != 8)
		return perr(c, map_get(c, fn, "size", NULL), "%s.size: %u is not 2, 4 or 8", p,
			    f->size);
	return 0;
}

static bool fields_overlap(const struct cfg_sync_field *a, const struct cfg_sync_field *b)
{
	return a->size && b->size && a->off < b->off + b->size && b->off < a->off + a->size;
}

static int parse_sync_maps(struct pctx *c, yaml_node_t *l)
{
	struct cfg_sync *s = &c->cfg->sync;
	char p[PATH_LEN], tmp[48];
	size_t i, j, k, n;

	if (l->type != YAML_SEQUENCE_NODE)
		return perr(c, l, "sync.maps: expected a list, got %s", kind(l));
	n = l->data.sequence.items.top - l->data.sequence.items.start;
	if (n > CFG_SYNC_MAPS_MAX)
		return perr(c, l, "sync.maps: more than %d maps", CFG_SYNC_MAPS_MAX);
	s->n_maps = 0;
	for (i = 0; i < n; i++) {
		yaml_node_t *v = node_at(c, l->data.sequence.items.start[i]);
		struct cfg_sync_map *o = &s->map_opts[i];
		yaml_node_t *namev = v;

		memset(o, 0, sizeof(*o));
		pindex(p, sizeof(p), "sync.maps", i);
		if (v->type == YAML_MAPPING_NODE) {
			const struct cfg_sync_field *f[4] = { &o->timestamp, &o->owner, &o->version,
							      &o->backend };
			size_t a, b;

			if (check_map(c, v, p, sync_map_keys) < 0 ||
			    get_str(c, v, p, "name", true, s->maps[i], sizeof(s->maps[i]), &namev) <
				    0 ||
			    parse_sync_field(c, v, p, "timestamp", &o->timestamp) < 0 ||
			    parse_sync_field(c, v, p, "owner", &o->owner) < 0 ||
			    parse_sync_field(c, v, p, "version", &o->version) < 0 ||
			    parse_sync_field(c, v, p, "backend", &o->backend) < 0)
				return -1;
			for (a = 0; a < 4; a++)
				for (b = a + 1; b < 4; b++)
					if (fields_overlap(f[a], f[b]))
						return perr(c, v,
							    "%s: fields overlap "
							    "(offsets %u and %u)",
							    p, f[a]->off, f[b]->off);
			if (!cfg_valid_name(s->maps[i]) || strchr(s->maps[i], '-'))
				return perr(c, namev,
					    "%s.name: \"%s\" must be 1-63 "
					    "characters of A-Z a-z 0-9 _ .",
					    p, shown(s->maps[i], tmp, sizeof(tmp)));
		} else {
			if (to_str(c, v, p, s->maps[i], sizeof(s->maps[i])) < 0)
				return -1;
			for (k = 0; sync_map_names[k]; k++)
				if (!strcmp(sync_map_names[k], s->maps[i]))
					break;
			if (!sync_map_names[k])
				return perr(c, v,
					    "%s: \"%s\" is not a map that can be "
					    "synced by name alone (%s, %s); give any other "
					    "map as {name, timestamp, owner, version, backend}",
					    p, shown(s->maps[i], tmp, sizeof(tmp)),
					    XLB_MAP_SESSIONS, XLB_MAP_REVERSE);
			o->builtin = true;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(s->maps[j], s->maps[i]))
				return perr(c, namev, "%s: \"%s\" is listed twice", p, s->maps[i]);
		s->n_maps = i + 1;
	}
	return 0;
}

/* A socket of syncd's: given in section n (NULL: there is none), or the
 * default already in out. */
static int sync_sock_path(struct pctx *c, yaml_node_t *n, const char *key, char *out, size_t outlen)
{
	char p[PATH_LEN];
	yaml_node_t *v = NULL;
	int ret = n ? get_str(c, n, "sync", key, false, out, outlen, &v) : 1;

	pjoin(p, sizeof(p), "sync", key);
	if (ret < 0)
		return -1;
	if (ret == 0 && !path_ok(out))
		return perr(c, v,
			    "%s: \"%s\" must be an absolute path without "
			    "empty, \".\" or \"..\" components",
			    p, out);
	if (strlen(out) >= SUN_PATH_MAX)
		return perr(c, v ? v : n,
			    "%s: %s is too long for a Unix socket "
			    "(at most %zu characters)",
			    p, out, SUN_PATH_MAX - 1);
	return 0;
}

static int parse_sync(struct pctx *c, yaml_node_t *root)
{
	struct cfg_sync *s = &c->cfg->sync;
	const struct cfg_word *mode;
	yaml_node_t *n, *v;
	char tmp[48];
	int ret;

	n = get_section(c, root, "", "sync", sync_keys, &ret);
	if (ret)
		return ret;
	if (n) {
		ret = get_word(c, n, "sync", "capture", capture_modes, &mode);
		if (ret < 0)
			return -1;
		if (!ret)
			snprintf(s->capture, sizeof(s->capture), "%s", mode->name);
		ret = get_str(c, n, "sync", "key_file", false, s->key_file, sizeof(s->key_file),
			      &v);
		if (ret < 0)
			return -1;
		if (!ret && !path_ok(s->key_file))
			return perr(c, v,
				    "sync.key_file: \"%s\" must be an absolute path "
				    "without empty, \".\" or \"..\" components",
				    s->key_file);
		ret = get_word(c, n, "sync", "cipher", ciphers, &mode);
		if (ret < 0)
			return -1;
		if (!ret && !s->key_file[0])
			return perr(c, map_get(c, n, "cipher", NULL),
				    "sync.cipher: \"%s\" needs sync.key_file (the key it "
				    "encrypts with)",
				    mode->name);
		if (!ret)
			snprintf(s->cipher, sizeof(s->cipher), "%s", mode->name);
		ret = get_word(c, n, "sync", "auth", auth_modes, &mode);
		if (ret < 0)
			return -1;
		if (!ret)
			s->auth_off = mode->val == 1;
		if (s->auth_off && s->key_file[0])
			return perr(c, map_get(c, n, "auth", NULL),
				    "sync.auth: \"off\" contradicts sync.key_file (remove one)");
		ret = get_str(c, n, "sync", "node_key_file", false, s->node_key_file,
			      sizeof(s->node_key_file), &v);
		if (ret < 0)
			return -1;
		if (!ret && !path_ok(s->node_key_file))
			return perr(c, v,
				    "sync.node_key_file: \"%s\" must be an absolute path without "
				    "empty, \".\" or \"..\" components",
				    s->node_key_file);
		if (!ret && (!s->key_file[0] || !strcmp(s->cipher, "none")))
			return perr(c, v,
				    "sync.node_key_file: per-node keys need sync.key_file and a "
				    "cipher other than none");
	}
	/* Defaults under the node's name, for the keys not given. */
	snprintf(s->local_socket, sizeof(s->local_socket), CFG_DEF_SYNC_LOCAL_SOCKET_FMT,
		 c->cfg->node_name);
	snprintf(s->control_socket, sizeof(s->control_socket), CFG_DEF_SYNC_CONTROL_SOCKET_FMT,
		 c->cfg->node_name);
	snprintf(s->state_file, sizeof(s->state_file), CFG_DEF_SYNC_STATE_FILE_FMT,
		 c->cfg->node_name);
	if (sync_sock_path(c, n, "local_socket", s->local_socket, sizeof(s->local_socket)) < 0 ||
	    sync_sock_path(c, n, "control_socket", s->control_socket, sizeof(s->control_socket)) <
		    0)
		return -1;
	if (n) {
		v = NULL;
		ret = get_str(c, n, "sync", "state_file", false, s->state_file,
			      sizeof(s->state_file), &v);
		if (ret < 0)
			return -1;
		if (!ret && !path_ok(s->state_file))
			return perr(c, v,
				    "sync.state_file: \"%s\" must be an absolute path without "
				    "empty, \".\" or \"..\" components",
				    s->state_file);
	}
	if (!n)
		return 0;
	if (get_u32(c, n, "sync", "heartbeat_ms", false, &lim_heartbeat_ms, &s->heartbeat_ms) < 0 ||
	    get_u32(c, n, "sync", "dead_after_ms", false, &lim_dead_after_ms, &s->dead_after_ms) <
		    0 ||
	    get_u32(c, n, "sync", "antientropy_ms", false, &lim_antientropy_ms,
		    &s->antientropy_ms) < 0 ||
	    get_u32(c, n, "sync", "digest_settle_ms", false, &lim_digest_settle_ms,
		    &s->digest_settle_ms) < 0 ||
	    get_int(c, n, "sync", "nice", -20, 19, &s->nice) < 0)
		return -1;
	if (s->dead_after_ms < 2 * s->heartbeat_ms)
		return perr(c,
			    map_get(c, n, "dead_after_ms", NULL)
				    ? map_get(c, n, "dead_after_ms", NULL)
				    : n,
			    "sync.dead_after_ms: %u must be at least twice "
			    "heartbeat_ms (%u)",
			    s->dead_after_ms, s->heartbeat_ms);
	if (get_bool(c, n, "sync", "enabled", &s->enabled) < 0)
		return -1;
	ret = get_str(c, n, "sync", "listen", s->enabled, s->listen, sizeof(s->listen), &v);
	if (ret < 0)
		return -1;
	if (!ret && !endpoint_ok(s->listen))
		return perr(c, v, "sync.listen: \"%s\" is not [tcp://]a.b.c.d:port",
			    shown(s->listen, tmp, sizeof(tmp)));
	v = map_get(c, n, "peers", NULL);
	if (v && parse_peers(c, v) < 0)
		return -1;
	v = map_get(c, n, "maps", NULL);
	if (v && parse_sync_maps(c, v) < 0)
		return -1;
	for (size_t i = 0; i < s->n_peers; i++) {
		if (s->node_key_file[0] && !s->peers[i].has_public_key)
			return perr(
				c, map_get(c, n, "peers", NULL),
				"sync.peers[%zu].public_key: missing, and sync.node_key_file is "
				"set (every peer needs its public key: syncd keygen)",
				i);
		if (!s->node_key_file[0] && s->peers[i].has_public_key)
			return perr(
				c, map_get(c, n, "peers", NULL),
				"sync.peers[%zu].public_key: given, but sync.node_key_file (this "
				"node's own key) is not set",
				i);
	}
	if (s->enabled && !s->key_file[0] && !s->auth_off)
		return perr(c, n,
			    "sync.key_file: not set, and sync is enabled: peers' messages are "
			    "authenticated with a key the nodes share (or say sync.auth: off, "
			    "and anyone who reaches sync.listen can write this node's sessions)");
	return 0;
}

/* The defaults (config.h) of every key that does not derive from another
 * one; the parser overwrites those the file gives. */
static void set_defaults(struct node_config *cfg)
{
	static const char *const sync_maps[] = CFG_DEF_SYNC_MAPS;
	struct cfg_timeouts *t = &cfg->timeouts;
	struct cfg_sync *s = &cfg->sync;
	size_t i;

	snprintf(cfg->xdp_mode, sizeof(cfg->xdp_mode), "%s", CFG_DEF_XDP_MODE);
	snprintf(cfg->bpffs, sizeof(cfg->bpffs), "%s", CFG_DEF_BPFFS);
	cfg->snat_family = AF_UNSPEC;
	cfg->snat_port_min = CFG_DEF_SNAT_PORT_MIN;
	cfg->snat_port_max = CFG_DEF_SNAT_PORT_MAX;
	cfg->snat_port_hold_s = CFG_DEF_SNAT_PORT_HOLD_S;
	cfg->max_sessions = CFG_DEF_MAX_SESSIONS;
	t->tcp_syn = CFG_DEF_TIMEOUT_TCP_SYN;
	t->tcp_established = CFG_DEF_TIMEOUT_TCP_ESTABLISHED;
	t->tcp_closing = CFG_DEF_TIMEOUT_TCP_CLOSING;
	t->udp = CFG_DEF_TIMEOUT_UDP;
	t->ageing_interval_ms = CFG_DEF_AGEING_INTERVAL_MS;
	s->enabled = CFG_DEF_SYNC_ENABLED;
	snprintf(s->capture, sizeof(s->capture), "%s", CFG_DEF_SYNC_CAPTURE);
	snprintf(s->cipher, sizeof(s->cipher), "%s", CFG_DEF_SYNC_CIPHER);
	s->heartbeat_ms = CFG_DEF_SYNC_HEARTBEAT_MS;
	s->dead_after_ms = CFG_DEF_SYNC_DEAD_AFTER_MS;
	s->antientropy_ms = CFG_DEF_SYNC_ANTIENTROPY_MS;
	s->digest_settle_ms = CFG_DEF_SYNC_DIGEST_SETTLE_MS;
	s->nice = CFG_DEF_SYNC_NICE;
	s->n_maps = sizeof(sync_maps) / sizeof(sync_maps[0]);
	for (i = 0; i < s->n_maps; i++) {
		snprintf(s->maps[i], sizeof(s->maps[i]), "%s", sync_maps[i]);
		s->map_opts[i].builtin = true;
	}
}

static int parse_root(struct pctx *c, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE)
		return perr(c, root, "top level: expected a mapping, got %s", kind(root));
	set_defaults(c->cfg);
	if (check_map(c, root, "", top_keys) < 0 || parse_node(c, root) < 0 ||
	    parse_paths(c, root) < 0 || parse_snat(c, root) < 0 || parse_sessions(c, root) < 0 ||
	    parse_vips(c, root) < 0 || parse_sync(c, root) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* entry points */

static void yaml_error(struct pctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *what = p->problem ? p->problem : "unknown error";
	size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;

	if (!c->err || !c->errlen) {
		/* nothing to write into */
	} else if (p->error == YAML_MEMORY_ERROR) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
	} else if (p->error == YAML_READER_ERROR) {
		size_t i, end = p->problem_offset < len ? p->problem_offset : len;

		/* the reader has no mark: count lines up to the bad byte */
		line = col = 1;
		for (i = 0; i < end; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		snprintf(c->err, c->errlen,
			 "%s:%zu:%zu: invalid input: %s "
			 "(byte %zu)",
			 c->name, line, col, what, p->problem_offset);
	} else if (p->context) {
		snprintf(c->err, c->errlen,
			 "%s:%zu:%zu: YAML syntax error: %s %s "
			 "started at line %zu",
			 c->name, line, col, what, p->context, (size_t)p->context_mark.line + 1);
	} else {
		snprintf(c->err, c->errlen, "%s:%zu:%zu: YAML syntax error: %s", c->name, line, col,
			 what);
	}
	c->failed = true;
}

int cfg_load_buffer(const char *name, const char *buf, size_t len, struct node_config *cfg,
		    char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root, *r2;
	struct pctx *c;
	int ret = -1;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	c->name = name;
	c->cfg = cfg;
	c->err = err;
	c->errlen = errlen;
	c->doc = &doc;
	if (err && errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	if (strlen(name) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%s: file name too long", name);
		goto out;
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_error(c, &parser, buf, len);
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		perr(c, NULL,
		     "empty configuration (expected a mapping with at "
		     "least a node section)");
		goto out_doc;
	}
	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(&parser, &extra)) {
		yaml_error(c, &parser, buf, len);
		goto out_doc;
	}
	r2 = yaml_document_get_root_node(&extra);
	if (r2) {
		snprintf(err, errlen, "%s:%zu:%zu: more than one YAML document", name,
			 (size_t)extra.start_mark.line + 1, (size_t)extra.start_mark.column + 1);
		c->failed = true;
	}
	yaml_document_delete(&extra);
	if (c->failed)
		goto out_doc;

	ret = parse_root(c, root);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
out:
	free(c);
	return ret;
}

int cfg_load_file(const char *path, struct node_config *cfg, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int ret;

	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: failed to open: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;

			if (cap >= CFG_FILE_MAX) {
				snprintf(err, errlen, "%s: larger than %u bytes", path,
					 CFG_FILE_MAX);
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap);
			if (!nb) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: failed to read: %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	ret = cfg_load_buffer(path, buf ? buf : "", len, cfg, err, errlen);
	free(buf);
	return ret;
fail:
	fclose(f);
	free(buf);
	return -1;
}

int cfg_parse_addr(const char *s, int *family, union xlb_addr *addr)
{
	struct in_addr in;

	if (!s || inet_pton(AF_INET, s, &in) != 1)
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->w[0] = in.s_addr;
	*family = AF_INET;
	return 0;
}

const char *cfg_format_addr(int family, const union xlb_addr *addr, char *buf, size_t len)
{
	const void *src = family == AF_INET ? (const void *)&addr->w[0] : (const void *)addr->b;

	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, src, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int cfg_parse_mac(const char *s, uint8_t mac[6])
{
	int i, j;

	if (!s)
		return -1;
	for (i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (j = 0; j < 2; j++, s++) {
			if (!isxdigit((unsigned char)*s))
				return -1;
			v = v * 16 + (isdigit((unsigned char)*s)
					      ? *s - '0'
					      : (tolower((unsigned char)*s) - 'a' + 10));
		}
		mac[i] = (uint8_t)v;
		if (*s != (i < 5 ? ':' : '\0'))
			return -1;
		s++;
	}
	return 0;
}

struct cfg_vip *cfg_find_vip(struct node_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_vips; i++)
		if (!strcmp(cfg->vips[i].name, name))
			return &cfg->vips[i];
	return NULL;
}
