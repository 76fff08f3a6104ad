/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * csum.h — incremental Internet checksum updates (RFC 1624, eqn. 3).
 *
 * A change is accumulated as a 32-bit one's complement delta: for every 16-bit
 * word that changes from m to m', add ~m + m'. csum_apply() folds the delta into
 * an existing checksum field: HC' = ~(~HC + delta). Words are added in the byte
 * order they have on the wire, which one's complement sums do not care about.
 * The accumulator holds at least 2^15 word changes before it can overflow.
 */
#ifndef XLB_CSUM_H
#define XLB_CSUM_H

#include <linux/types.h>

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Delta of one 16-bit word. */
static __always_inline __u32 csum_acc16(__u32 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

/* Delta of one 32-bit field (two words). */
static __always_inline __u32 csum_acc32(__u32 acc, __u32 from, __u32 to)
{
	acc = csum_acc16(acc, (__u16)from, (__u16)to);
	return csum_acc16(acc, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* Apply a delta to a checksum field. */
static __always_inline __u16 csum_apply(__u16 check, __u32 acc)
{
	return (__u16)~csum_fold32((__u32)(__u16)~check + csum_fold32(acc));
}

/* UDP over IPv4: a zero field means "no checksum" and stays zero; a computed
 * zero is sent as 0xffff (RFC 768). */
static __always_inline __u16 csum_apply_udp(__u16 check, __u32 acc)
{
	__u16 c;

	if (check == 0)
		return 0;
	c = csum_apply(check, acc);
	return c ? c : 0xffff;
}

#endif /* XLB_CSUM_H */
