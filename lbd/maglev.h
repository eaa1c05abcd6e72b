/* SPDX-License-Identifier: BSD-2-Clause */
/* Maglev consistent hashing lookup table (Eisenbud et al., NSDI'16). */
#ifndef LBD_MAGLEV_H
#define LBD_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

struct maglev_backend {
	uint32_t id;	  /* backend id written into the table */
	uint32_t weight;  /* 0 = not in the table */
	const void *name; /* bytes that identify the backend for hashing */
	size_t name_len;  /* (e.g. address + port) */
};

/*
 * Fill table[0..m) (m prime) with backend ids. Entries get a share of the
 * table proportional to weight. Deterministic: the same backend set (in any
 * order) gives the same table on every node. With no backend of non-zero
 * weight every entry is XLB_NO_BACKEND (0).
 * Returns 0, or -1 with errno set (EINVAL for m not prime or too small, ENOMEM).
 */
int maglev_build(const struct maglev_backend *be, size_t n, uint32_t *table, uint32_t m);

#endif
