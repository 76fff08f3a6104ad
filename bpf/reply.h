/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * reply.h — replies of backends, translated back so that they come from the service
 * (rev_nat, keyed by the reply's tuple): the lookup, marking a flow replied (assured),
 * and the XDP translation (local: source only, passed to the stack; nat: source,
 * routed; fullnat: source and destination, routed). The TC egress program uses the
 * lookup for local backends' replies that do not cross XDP (egress.h).
 */
#ifndef XLB_REPLY_H
#define XLB_REPLY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"
#include "parsing.h"
#include "rewrite.h"
#include "counters.h"
#include "lookup.h"
#include "flows.h"
#include "forward.h"

/* The reply-translation entry for a packet coming from a backend port, if any. */
static __always_inline struct xlb_rev_nat *reply_lookup(struct xlb_pkt *p, const int fam)
{
	struct xlb_flow_key k = {};

	if (!port_in(XLB_BITMAP_BACKEND_PORTS, p->udp->source))
		return NULL;
	addr_load(k.src, pkt_saddr(p, fam), fam);
	addr_load(k.dst, pkt_daddr(p, fam), fam);
	k.sport = p->udp->source;
	k.dport = p->udp->dest;
	k.proto = IPPROTO_UDP;
	k.family = fam;
	return bpf_map_lookup_elem(&rev_nat, &k);
}

/* A reply was seen: the flow is assured, and alive. */
static __always_inline void reply_seen(struct xlb_rev_nat *r, __u64 now)
{
	if (!(r->flags & XLB_FLOW_F_REPLIED))
		r->flags |= XLB_FLOW_F_REPLIED;
	if (now - r->last_seen_ns > XLB_FLOW_REFRESH_NS)
		r->last_seen_ns = now;
}

/* Translates a backend's reply in XDP (a flow that timed out passes untouched). */
static __always_inline int reply(struct xdp_md *ctx, struct xlb_pkt *p, struct xlb_rev_nat *r, __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	int rewrite_dst = r->flags & XLB_FLOW_F_REWRITE_DST;
	struct xlb_route rt;
	struct xlb_rw rw = {};
	int rc, pass;

	if (!rev_fresh(r, now))
		return verdict(XDP_PASS, XLB_R_PASS_FLOW_EXPIRED, len);
	if (r->mode == XLB_MODE_LOCAL) {
		rw_addr(&rw, pkt_saddr(p, fam), r->vaddr, fam);
		rw_port(&rw, &p->udp->source, r->vport);
		rw_finish(&rw, p, fam);
		reply_seen(r, now);
		return verdict(XDP_PASS, XLB_R_REPLY, len);
	}
	rc = route(ctx, &rt, r->vaddr, rewrite_dst ? r->caddr : pkt_daddr(p, fam), p->l3_len, now, fam);
	pass = route_pass_reason(rc, p, fam);
	if (pass)
		return verdict(XDP_PASS, pass, len);
	rw_addr(&rw, pkt_saddr(p, fam), r->vaddr, fam);
	rw_port(&rw, &p->udp->source, r->vport);
	if (rewrite_dst) {
		rw_addr(&rw, pkt_daddr(p, fam), r->caddr, fam);
		rw_port(&rw, &p->udp->dest, r->cport);
	}
	reply_seen(r, now);
	return send_routed(ctx, p, &rw, &rt, rc, XLB_R_REPLY, len, fam);
}

#endif /* XLB_REPLY_H */
