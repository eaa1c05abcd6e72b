// SPDX-License-Identifier: BSD-2-Clause
/* Watched-map descriptions: validation, field access, timestamp rebase. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "mapspec.h"
#include "xdplb.h"

enum { F_TS, F_OWNER, F_VERSION };

static int field_ok(const struct sync_field *f, uint32_t value_size, int i, const char **why)
{
	static const char *const bad_size[] = {
		[F_TS] = "timestamp field size must be 2, 4 or 8",
		[F_OWNER] = "owner field size must be 2, 4 or 8",
		[F_VERSION] = "version field size must be 2, 4 or 8",
	};
	static const char *const outside[] = {
		[F_TS] = "timestamp field lies outside the value",
		[F_OWNER] = "owner field lies outside the value",
		[F_VERSION] = "version field lies outside the value",
	};

	if (!f->size)
		return 1;
	if (f->size != 2 && f->size != 4 && f->size != 8) {
		*why = bad_size[i];
		return 0;
	}
	if (f->off > value_size || f->size > value_size - f->off) {
		*why = outside[i];
		return 0;
	}
	return 1;
}

static int overlap(const struct sync_field *a, const struct sync_field *b)
{
	if (!a->size || !b->size)
		return 0;
	return a->off < b->off + b->size && b->off < a->off + a->size;
}

int sync_mapspec_init(struct sync_mapspec *ms, const char *name, uint32_t key_size,
		      uint32_t value_size, struct sync_field ts, struct sync_field owner,
		      struct sync_field version, const struct sync_limits *lim, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	memset(ms, 0, sizeof(*ms));
	if (sync_map_name_check(name) != SYNC_OK) {
		*why = "map name must be 1-63 characters of [A-Za-z0-9_.]";
		return -EINVAL;
	}
	if (!key_size || key_size > lim->max_key) {
		*why = "key size out of range";
		return -EINVAL;
	}
	if (!value_size || value_size > lim->max_value) {
		*why = "value size out of range";
		return -EINVAL;
	}
	if (!field_ok(&ts, value_size, F_TS, why) || !field_ok(&owner, value_size, F_OWNER, why) ||
	    !field_ok(&version, value_size, F_VERSION, why))
		return -EINVAL;
	if (overlap(&ts, &owner) || overlap(&ts, &version) || overlap(&owner, &version)) {
		*why = "timestamp, owner and version fields overlap";
		return -EINVAL;
	}
	strcpy(ms->name, name); /* length checked above */
	ms->key_size = key_size;
	ms->value_size = value_size;
	ms->ts = ts;
	ms->owner = owner;
	ms->version = version;
	return 0;
}

uint64_t sync_field_get(const struct sync_field *f, const void *value)
{
	const uint8_t *p = (const uint8_t *)value + f->off;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (f->size) {
	case 2:
		memcpy(&v16, p, sizeof(v16));
		return v16;
	case 4:
		memcpy(&v32, p, sizeof(v32));
		return v32;
	case 8:
		memcpy(&v64, p, sizeof(v64));
		return v64;
	}
	return 0;
}

void sync_field_set(const struct sync_field *f, void *value, uint64_t v)
{
	uint8_t *p = (uint8_t *)value + f->off;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (f->size) {
	case 2:
		memcpy(p, &v16, sizeof(v16));
		break;
	case 4:
		memcpy(p, &v32, sizeof(v32));
		break;
	case 8:
		memcpy(p, &v, sizeof(v));
		break;
	}
}

void sync_mapspec_rebase_ts(const struct sync_mapspec *ms, void *value, int64_t delta)
{
	uint64_t t, max, v;

	if (!ms->ts.size)
		return;
	t = sync_field_get(&ms->ts, value);
	if (!t)
		return;
	max = ms->ts.size == 8 ? UINT64_MAX : (1ull << (ms->ts.size * 8)) - 1;
	if (delta >= 0) {
		uint64_t d = (uint64_t)delta;

		v = d > max - t ? max : t + d;
	} else {
		/* -(delta + 1) + 1: no overflow for INT64_MIN */
		uint64_t d = (uint64_t)(-(delta + 1)) + 1;

		v = d >= t ? 1 : t - d;
	}
	sync_field_set(&ms->ts, value, v);
}

enum sync_reason sync_mapspec_check_entry(const struct sync_mapspec *ms, const struct sync_entry *e)
{
	if (!e->map || strcmp(e->map, ms->name))
		return SYNC_E_UNKNOWN_MAP;
	if (e->key_len != ms->key_size)
		return SYNC_E_KEY_SIZE;
	if (e->op == SYNC_OP_UPDATE ? e->value_len != ms->value_size : e->value_len != 0)
		return SYNC_E_VALUE_SIZE;
	return SYNC_OK;
}

/* ---- xdplb's maps ---- */

_Static_assert(sizeof(struct xlb_flow_key) == 40, "xlb_flow_key layout changed");
_Static_assert(sizeof(struct xlb_session) == 64, "xlb_session layout changed");

int sync_mapspec_xdplb_sessions(struct sync_mapspec *ms)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	int r;

	r = sync_mapspec_init(
		ms, XLB_MAP_SESSIONS, sizeof(struct xlb_flow_key), sizeof(struct xlb_session),
		SYNC_FIELD(struct xlb_session, last_seen_ns), SYNC_FIELD(struct xlb_session, owner),
		SYNC_FIELD(struct xlb_session, version), &lim, NULL);
	ms->version_clock = r == 0; /* birth_version() */
	return r;
}

/* Reverse entries (backend side -> client side flow key) carry the owner
 * that created them and a version, like sessions; no time: they live and
 * die with their session. */
int sync_mapspec_xdplb_reverse(struct sync_mapspec *ms)
{
	const struct sync_limits lim = SYNC_LIMITS_DEFAULT;
	int r;

	r = sync_mapspec_init(ms, XLB_MAP_REVERSE, sizeof(struct xlb_flow_key),
			      sizeof(struct xlb_reverse), SYNC_FIELD_NONE,
			      SYNC_FIELD(struct xlb_reverse, owner),
			      SYNC_FIELD(struct xlb_reverse, version), &lim, NULL);
	ms->version_clock = r == 0; /* the session's birth version */
	return r;
}
