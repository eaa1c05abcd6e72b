// SPDX-License-Identifier: BSD-2-Clause
/* Deterministic resolution of concurrent writes of one key (conflict.h). */
#include <string.h>

#include "conflict.h"

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

int sync_conflict_cmp(const struct sync_write *a, const struct sync_write *b)
{
	uint32_t n;
	int c;

	c = sync_version_cmp(a->version, b->version, a->vbits); /* 1: newer version */
	if (c)
		return c;
	c = cmp_u64(b->node, a->node); /* 2: lower node id */
	if (c)
		return c;
	if (a->op != b->op) /* 3: DELETE over UPDATE */
		return a->op == SYNC_OP_DELETE ? 1 : -1;
	if (a->op == SYNC_OP_DELETE)
		return 0;
	n = a->value_len < b->value_len ? a->value_len : b->value_len;
	c = n ? memcmp(a->value, b->value, n) : 0; /* 4: larger bytes */
	if (c)
		return c > 0 ? 1 : -1;
	return cmp_u64(a->value_len, b->value_len);
}

const struct sync_write *sync_conflict_resolve(const struct sync_write *a,
					       const struct sync_write *b)
{
	return sync_conflict_cmp(a, b) >= 0 ? a : b;
}

uint32_t sync_conflict_value_node(const struct sync_mapspec *ms, const void *value,
				  uint32_t fallback)
{
	uint64_t o;

	if (!sync_mapspec_has_owner(ms))
		return fallback;
	o = sync_mapspec_owner(ms, value);
	return o && o <= UINT32_MAX ? (uint32_t)o : fallback;
}

void sync_conflict_value_write(struct sync_write *w, const struct sync_mapspec *ms,
			       const void *value, uint32_t fallback, uint8_t *scratch)
{
	memcpy(scratch, value, ms->value_size);
	sync_field_set(&ms->ts, scratch, 0);
	memset(w, 0, sizeof(*w));
	w->op = SYNC_OP_UPDATE;
	w->version = sync_mapspec_version(ms, value);
	w->vbits = sync_mapspec_version_bits(ms);
	w->node = sync_conflict_value_node(ms, value, fallback);
	w->value = scratch;
	w->value_len = ms->value_size;
}

enum sync_apply sync_conflict_decide_key(const struct sync_write *incoming,
					 const struct sync_write *present,
					 const struct sync_write *tomb, bool *keep_tomb)
{
	const struct sync_write *local = present;

	*keep_tomb = false;
	if (tomb && (!present || sync_conflict_cmp(tomb, present) > 0))
		local = tomb;
	if (local && sync_conflict_cmp(incoming, local) <= 0)
		return SYNC_APPLY_SKIP;
	if (incoming->op == SYNC_OP_UPDATE)
		return SYNC_APPLY_WRITE;
	/* a winning delete: its tombstone stands against a late copy of
	 * what it deleted, whether or not there is anything to delete */
	*keep_tomb = true;
	return present ? SYNC_APPLY_DELETE : SYNC_APPLY_SKIP;
}

enum sync_apply sync_conflict_decide(const struct sync_write *incoming,
				     const struct sync_write *local)
{
	bool keep_tomb;

	if (local && local->op == SYNC_OP_DELETE)
		return sync_conflict_decide_key(incoming, NULL, local, &keep_tomb);
	return sync_conflict_decide_key(incoming, local, NULL, &keep_tomb);
}

bool sync_conflict_owner_deletes(const struct sync_mapspec *ms, const void *present,
				 uint32_t origin)
{
	return !sync_mapspec_has_owner(ms) || sync_mapspec_owner(ms, present) == origin;
}

bool sync_conflict_own_gone(const struct sync_mapspec *ms, const void *value, uint32_t self,
			    bool present, bool restoring)
{
	return !present && !restoring && sync_mapspec_has_owner(ms) &&
	       sync_mapspec_owner(ms, value) == self;
}

enum sync_apply sync_conflict_decide_unversioned(enum sync_op op, bool present)
{
	if (op == SYNC_OP_UPDATE)
		return SYNC_APPLY_WRITE;
	return present ? SYNC_APPLY_DELETE : SYNC_APPLY_SKIP;
}
