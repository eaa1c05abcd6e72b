/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1071 arithmetic, RFC 1624
 * eqn. 3: HC' = ~(~HC + ~m + m')).
 *
 * Operands are used exactly as they sit in the packet (network byte order).
 * The one's complement sum is byte-order independent as long as every
 * operand is a 16-bit aligned field, which addresses, ports and checksum
 * fields of IPv4/TCP/UDP all are. A delta is accumulated in 64 bits: a sum
 * of 32-bit words folded to 16 bits equals the sum of their 16-bit halves
 * modulo 0xffff, so no carry is ever lost. The update only touches the
 * changed words, hence it is independent of the payload length (odd or
 * even) and never reads the payload.
 */
#ifndef XLB_LB_CSUM_H
#define XLB_LB_CSUM_H

#include <linux/types.h>

/* Fold a 64-bit one's complement accumulator to 16 bits. */
static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Add the change of a 32-bit field from @from to @to to @acc. */
static __always_inline __u64 csum_delta32(__u64 acc, __be32 from, __be32 to)
{
	return acc + (__u32)~from + (__u32)to;
}

/* Add the change of a 16-bit field from @from to @to to @acc. */
static __always_inline __u64 csum_delta16(__u64 acc, __be16 from, __be16 to)
{
	return acc + (__u16)~from + (__u16)to;
}

/* Apply an accumulated delta to a checksum field value. */
static __always_inline __u16 csum_apply(__u16 check, __u64 delta)
{
	return (__u16)~csum_fold64((__u16)~check + delta);
}

/*
 * UDP variant: a zero checksum means "none" (RFC 768) and stays zero; a
 * computed zero is transmitted as 0xffff.
 */
static __always_inline __u16 csum_apply_udp(__u16 check, __u64 delta)
{
	__u16 c;

	if (!check)
		return 0;
	c = csum_apply(check, delta);
	return c ? c : 0xffff;
}

#endif /* XLB_LB_CSUM_H */
