/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * rewrite.h — reading and rewriting a parsed packet's addresses, ports and TTL, with
 * the IPv4 header and UDP checksums updated incrementally (csum.h). Every helper
 * takes the family as a compile-time constant (4 or 6), so that each caller is
 * specialised per family and the verifier sees straight-line code.
 *
 * Usage: struct xlb_rw rw = {}; rw_addr(...); rw_port(...); rw_ttl(...); rw_finish(...).
 */
#ifndef XLB_REWRITE_H
#define XLB_REWRITE_H

#include <bpf/bpf_endian.h>
#include "csum.h"
#include "parsing.h"

struct xlb_rw {
	__u32 ip_acc; /* delta of the IPv4 header checksum */
	__u32 l4_acc; /* delta of the UDP checksum (pseudo-header + ports) */
};

static __always_inline __u8 *pkt_saddr(struct xlb_pkt *p, const int fam)
{
	return fam == 4 ? (__u8 *)&p->ip4->saddr : (__u8 *)&p->ip6->saddr;
}

static __always_inline __u8 *pkt_daddr(struct xlb_pkt *p, const int fam)
{
	return fam == 4 ? (__u8 *)&p->ip4->daddr : (__u8 *)&p->ip6->daddr;
}

/* Copies an address (4 or 16 bytes) into a zeroed 16-byte field. */
static __always_inline void addr_load(__u8 *dst16, const __u8 *a, const int fam)
{
	if (fam == 4) {
		*(__u32 *)dst16 = *(const __u32 *)a;
	} else {
		((__u32 *)dst16)[0] = ((const __u32 *)a)[0];
		((__u32 *)dst16)[1] = ((const __u32 *)a)[1];
		((__u32 *)dst16)[2] = ((const __u32 *)a)[2];
		((__u32 *)dst16)[3] = ((const __u32 *)a)[3];
	}
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b, const int fam)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	if (fam == 4)
		return x[0] == y[0];
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

/*
 * A source address the kernel never forwards (ip_route_input's martians, ip6_rcv and
 * ip6_forward): IPv4 0/8, 127/8, multicast, 255.255.255.255; IPv6 ::, ::1, multicast,
 * link-local, IPv4-mapped. Routed from XDP, such a packet would skip those checks.
 */
static __always_inline int addr_martian(const __u8 *a, const int fam)
{
	const __u32 *w = (const __u32 *)a;

	if (fam == 4)
		return a[0] == 0 || a[0] == 127 || (a[0] & 0xf0) == 0xe0 || w[0] == 0xffffffff;
	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return 1;
	if (w[0] | w[1])
		return 0;
	return w[2] == bpf_htonl(0xffff) || (w[2] == 0 && (w[3] == 0 || w[3] == bpf_htonl(1)));
}

/* Replaces an address of the packet (field points into it) with `to`. */
static __always_inline void rw_addr(struct xlb_rw *rw, __u8 *field, const __u8 *to, const int fam)
{
	__u32 *f = (__u32 *)field;
	const __u32 *t = (const __u32 *)to;

	if (fam == 4) {
		rw->ip_acc = csum_acc32(rw->ip_acc, f[0], t[0]);
		rw->l4_acc = csum_acc32(rw->l4_acc, f[0], t[0]);
		f[0] = t[0];
		return;
	}
#pragma unroll
	for (int i = 0; i < 4; i++) {
		rw->l4_acc = csum_acc32(rw->l4_acc, f[i], t[i]);
		f[i] = t[i];
	}
}

static __always_inline void rw_port(struct xlb_rw *rw, __be16 *field, __be16 to)
{
	rw->l4_acc = csum_acc16(rw->l4_acc, *field, to);
	*field = to;
}

/* TTL / hop limit of a packet about to be routed; 0 when it must not be forwarded. */
static __always_inline int ttl_ok(struct xlb_pkt *p, const int fam)
{
	return (fam == 4 ? p->ip4->ttl : p->ip6->hop_limit) > 1;
}

static __always_inline void rw_ttl_dec(struct xlb_rw *rw, struct xlb_pkt *p, const int fam)
{
	if (fam == 4) {
		/* TTL shares a 16-bit word with the protocol field. */
		__be16 *word = (__be16 *)&p->ip4->ttl;
		__be16 old = *word;

		p->ip4->ttl--;
		rw->ip_acc = csum_acc16(rw->ip_acc, old, *word);
	} else {
		p->ip6->hop_limit--;
	}
}

static __always_inline void rw_finish(struct xlb_rw *rw, struct xlb_pkt *p, const int fam)
{
	if (fam == 4)
		p->ip4->check = csum_apply(p->ip4->check, rw->ip_acc);
	p->udp->check = csum_apply_udp(p->udp->check, rw->l4_acc);
}

#endif /* XLB_REWRITE_H */
