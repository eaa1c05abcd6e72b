// SPDX-License-Identifier: BSD-2-Clause
/*
 * Maglev lookup table population (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI'16, section 3.4).
 *
 * Every backend has a preference list over the M slots, a permutation
 * derived from two hashes of its name:
 *
 *	offset = h1(name) % M,  skip = h2(name) % (M - 1) + 1
 *	permutation[j] = (offset + j * skip) % M
 *
 * (M prime, so any skip in [1, M-1] visits every slot.) Backends then take
 * turns; on its turn a backend claims the first slot of its list that is
 * still free. h1 and h2 are XXH64 with two different seeds.
 *
 * Weights: the paper's round robin gives every backend one turn per round.
 * Here every backend earns `weight` credits per round and spends `wmax`
 * credits per turn (wmax = the largest weight), so the heaviest backends
 * take one turn every round and the others proportionally fewer. Over the
 * R rounds needed to fill the table a backend takes floor(R * w / wmax) or
 * one more turn: its share is weight-proportional to within one slot. With
 * equal weights this is exactly the paper's algorithm.
 *
 * The turn order is the backends sorted by name (then id), so the table does
 * not depend on the order the caller lists them in.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "maglev.h"
#include "xdplb.h"

#define MAGLEV_SEED_OFFSET 0x786c622d6f666673ull /* "xlb-offs" */
#define MAGLEV_SEED_SKIP   0x786c622d736b6970ull /* "xlb-skip" */

struct mg_slot {
	const struct maglev_backend *be;
	uint64_t offset;
	uint64_t skip;
	uint64_t next; /* next index in the permutation */
	uint64_t credit;
};

static bool is_prime(uint32_t m)
{
	uint32_t d;

	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

static int cmp_backend(const void *a, const void *b)
{
	const struct mg_slot *x = a, *y = b;
	size_t l = x->be->name_len < y->be->name_len ? x->be->name_len : y->be->name_len;
	int r = l ? memcmp(x->be->name, y->be->name, l) : 0;

	if (r)
		return r;
	if (x->be->name_len != y->be->name_len)
		return x->be->name_len < y->be->name_len ? -1 : 1;
	if (x->be->id != y->be->id)
		return x->be->id < y->be->id ? -1 : 1;
	return 0;
}

int maglev_build(const struct maglev_backend *be, size_t n, uint32_t *table, uint32_t m)
{
	struct mg_slot *s;
	uint64_t wmax = 0;
	uint32_t filled = 0;
	size_t i, k = 0;
	bool *taken;

	if (!table || !is_prime(m) || (n && !be)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		if (be[i].weight)
			k++;
	if (k > m) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < m; i++)
		table[i] = XLB_NO_BACKEND;
	if (!k)
		return 0;

	s = calloc(k, sizeof(*s));
	taken = calloc(m, sizeof(*taken));
	if (!s || !taken) {
		free(s);
		free(taken);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0, k = 0; i < n; i++) {
		if (!be[i].weight)
			continue;
		s[k].be = &be[i];
		s[k].offset = XXH64(be[i].name, be[i].name_len, MAGLEV_SEED_OFFSET) % m;
		s[k].skip =
			m > 2 ? XXH64(be[i].name, be[i].name_len, MAGLEV_SEED_SKIP) % (m - 1) + 1
			      : 1;
		if (be[i].weight > wmax)
			wmax = be[i].weight;
		k++;
	}
	qsort(s, k, sizeof(*s), cmp_backend);

	while (filled < m) {
		for (i = 0; i < k && filled < m; i++) {
			struct mg_slot *b = &s[i];
			uint64_t c;

			b->credit += b->be->weight;
			if (b->credit < wmax)
				continue;
			b->credit -= wmax;
			/* At most m probes: the permutation visits every slot. */
			do {
				c = (b->offset + b->next * b->skip) % m;
				b->next++;
			} while (taken[c]);
			taken[c] = true;
			table[c] = b->be->id;
			filled++;
		}
	}
	free(s);
	free(taken);
	return 0;
}
