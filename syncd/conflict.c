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

	c = cmp_u64(a->version, b->version);		/* 1: higher version */
	if (c)
		return c;
	c = cmp_u64(b->node, a->node);			/* 2: lower node id */
	if (c)
		return c;
	if (a->op != b->op)				/* 3: DELETE over UPDATE */
		return a->op == SYNC_OP_DELETE ? 1 : -1;
	if (a->op == SYNC_OP_DELETE)
		return 0;
	n = a->value_len < b->value_len ? a->value_len : b->value_len;
	c = n ? memcmp(a->value, b->value, n) : 0;	/* 4: larger bytes */
	if (c)
		return c > 0 ? 1 : -1;
	return cmp_u64(a->value_len, b->value_len);
}

const struct sync_write *sync_conflict_resolve(const struct sync_write *a,
					       const struct sync_write *b)
{
	return sync_conflict_cmp(a, b) >= 0 ? a : b;
}

enum sync_apply sync_conflict_decide(const struct sync_write *incoming,
				     const struct sync_write *local)
{
	if (!local)
		return incoming->op == SYNC_OP_UPDATE ? SYNC_APPLY_WRITE : SYNC_APPLY_SKIP;
	if (sync_conflict_cmp(incoming, local) <= 0)
		return SYNC_APPLY_SKIP;
	if (incoming->op == SYNC_OP_UPDATE)
		return SYNC_APPLY_WRITE;
	/* a winning delete: only a present value needs deleting */
	return local->op == SYNC_OP_UPDATE ? SYNC_APPLY_DELETE : SYNC_APPLY_SKIP;
}
