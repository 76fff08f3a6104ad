/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * forward.h — sending a rewritten packet on its way from XDP.
 *
 * The next hop comes from the kernel's routing and neighbour tables (bpf_fib_lookup),
 * never from MACs in the config; answers are cached per CPU for a second. Then:
 *   - neighbour known, same interface      -> XDP_TX (one-arm)
 *   - neighbour known, another interface   -> XDP_REDIRECT through tx_ports (two-arm)
 *   - neighbour unknown                    -> XDP_PASS with struct xlb_meta in the
 *     packet's metadata; xlb_tc_ingress then calls bpf_redirect_neigh(), which makes
 *     the kernel resolve the neighbour and send the packet.
 * A lookup that fails otherwise (no route, forwarding off, MTU), or a TTL that would
 * expire, leaves the packet untouched for the stack (route_pass_reason): callers route
 * first, rewrite after, and finish with send_routed().
 */
#ifndef XLB_FORWARD_H
#define XLB_FORWARD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"
#include "parsing.h"
#include "rewrite.h"
#include "hash.h"
#include "counters.h"

#define XLB_AF_INET 2   /* AF_INET */
#define XLB_AF_INET6 10 /* AF_INET6 */

/* Where a packet goes next: the interface, the MACs, and the next hop's address. */
struct xlb_route {
	__u32 ifindex;
	__u8 dmac[6];
	__u8 smac[6];
	__u8 nexthop[16];
};

/* Asks the kernel for the route from src to dst (addresses of the packet as it will leave). */
static __always_inline int fib_route(struct xdp_md *ctx, struct bpf_fib_lookup *fib, const __u8 *src, const __u8 *dst,
				     __u16 l3_len, const int fam)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = fam == 4 ? XLB_AF_INET : XLB_AF_INET6;
	fib->l4_protocol = IPPROTO_UDP;
	fib->tot_len = l3_len;
	fib->ifindex = ctx->ingress_ifindex;
	if (fam == 4) {
		fib->ipv4_src = *(const __be32 *)src;
		fib->ipv4_dst = *(const __be32 *)dst;
	} else {
		__builtin_memcpy(fib->ipv6_src, src, 16);
		__builtin_memcpy(fib->ipv6_dst, dst, 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/*
 * The route to dst: from this CPU's next-hop cache (trusted for XLB_CACHE_NS), else
 * from bpf_fib_lookup, whose successful answers are cached together with the route's
 * MTU (learnt by a second lookup with the largest length). Unknown neighbours and
 * failures are never cached. Returns a BPF_FIB_LKUP_RET_* code.
 */
static __always_inline int route(struct xdp_md *ctx, struct xlb_route *out, const __u8 *src, const __u8 *dst,
				 __u16 l3_len, __u64 now, const int fam)
{
	__u32 slot = addr_hash(dst, fam) & (XLB_NH_CACHE_SIZE - 1);
	struct xlb_nh *c = bpf_map_lookup_elem(&nh_cache, &slot);
	struct bpf_fib_lookup fib;
	int rc;

	if (c && c->family == fam && now < c->expires_ns && l3_len <= c->mtu && addr_eq(c->addr, dst, fam)) {
		out->ifindex = c->ifindex;
		__builtin_memcpy(out->dmac, c->dmac, ETH_ALEN);
		__builtin_memcpy(out->smac, c->smac, ETH_ALEN);
		return BPF_FIB_LKUP_RET_SUCCESS;
	}
	rc = fib_route(ctx, &fib, src, dst, l3_len, fam);
	out->ifindex = fib.ifindex;
	__builtin_memcpy(out->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(out->smac, fib.smac, ETH_ALEN);
	__builtin_memset(out->nexthop, 0, sizeof(out->nexthop));
	if (fam == 4)
		*(__be32 *)out->nexthop = fib.ipv4_dst;
	else
		__builtin_memcpy(out->nexthop, fib.ipv6_dst, 16);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !c)
		return rc;

	c->family = fam;
	c->ifindex = out->ifindex;
	__builtin_memcpy(c->dmac, out->dmac, ETH_ALEN);
	__builtin_memcpy(c->smac, out->smac, ETH_ALEN);
	__builtin_memset(c->addr, 0, sizeof(c->addr));
	addr_load(c->addr, dst, fam);
	c->mtu = 0xffff;
	if (fib_route(ctx, &fib, src, dst, 0xffff, fam) == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		c->mtu = fib.mtu_result;
	c->expires_ns = now + XLB_CACHE_NS;
	return rc;
}

/* The reason to pass a packet untouched after a failed lookup; 0 when it can be sent. */
static __always_inline int fib_pass_reason(int rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return 0;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return XLB_R_PASS_FRAG_NEEDED;
	default:
		return XLB_R_PASS_NO_ROUTE;
	}
}

/* The reason to pass a packet untouched after its route lookup: the lookup failed, or its
 * TTL would expire; 0 when it can be sent. */
static __always_inline int route_pass_reason(int rc, struct xlb_pkt *p, const int fam)
{
	if (fib_pass_reason(rc))
		return fib_pass_reason(rc);
	return ttl_ok(p, fam) ? 0 : XLB_R_PASS_TTL;
}

/* Hands the packet to xlb_tc_ingress to have its next hop resolved. */
static __always_inline int xmit_resolve(struct xdp_md *ctx, const struct xlb_route *rt, const int fam)
{
	struct xlb_meta *m;
	void *data;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)))
		return XDP_PASS; /* no metadata on this driver: the stack routes it */
	data = (void *)(long)ctx->data;
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > data)
		return XDP_PASS;
	m->magic = XLB_META_MAGIC;
	m->ifindex = rt->ifindex;
	m->family = fam;
	__builtin_memcpy(m->nexthop, rt->nexthop, 16);
	return XDP_PASS;
}

/* Sends a routed packet (already rewritten) according to its route. Returns the XDP
 * action and sets *reason when the verdict needs its own counter. */
static __always_inline int xmit(struct xdp_md *ctx, struct xlb_pkt *p, const struct xlb_route *rt, int rc,
				const int fam, int *reason)
{
	int action;

	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		*reason = XLB_R_NEIGH_RESOLVE;
		return xmit_resolve(ctx, rt, fam);
	}
	__builtin_memcpy(p->eth->h_dest, rt->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, rt->smac, ETH_ALEN);
	if (rt->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	action = bpf_redirect_map(&tx_ports, rt->ifindex, XDP_PASS);
	if (action == XDP_PASS)
		*reason = XLB_R_PASS_EGRESS_NOT_XLB;
	return action;
}

/* Sends a routed packet whose addresses and ports are rewritten (rw): decrements its TTL,
 * finishes its checksums, transmits it, and returns the verdict, counted under `reason`
 * unless the transmission needs its own (see xmit). */
static __always_inline int send_routed(struct xdp_md *ctx, struct xlb_pkt *p, struct xlb_rw *rw,
				       const struct xlb_route *rt, int rc, int reason, __u64 len, const int fam)
{
	rw_ttl_dec(rw, p, fam);
	rw_finish(rw, p, fam);
	rc = xmit(ctx, p, rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

#endif /* XLB_FORWARD_H */
