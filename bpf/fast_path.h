/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * fast_path.h — a UDP packet in XDP: to a service, it is sent to the backend chosen
 * for it (sched.h) in the service's mode (enum xlb_mode):
 *   local    rewrite destination, XDP_PASS to this host's stack
 *   nat      rewrite destination, route (forward.h)
 *   fullnat  rewrite destination and source (a claimed source port), route
 *   dsr      rewrite the MACs only, route towards the backend
 * from a backend, its reply is translated (reply.h); anything else passes. A VLAN-tagged
 * frame is balanced in local mode only: in a routed mode, or as a reply, it passes
 * untouched (pass_vlan), since it would leave with the client's tag on another segment;
 * so does a routed one from a source the kernel never forwards (pass_martian).
 * Every path returns through verdict(), which counts its reason.
 */
#ifndef XLB_FAST_PATH_H
#define XLB_FAST_PATH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"
#include "parsing.h"
#include "rewrite.h"
#include "counters.h"
#include "lookup.h"
#include "sched.h"
#include "flows.h"
#include "forward.h"
#include "reply.h"

/* local: the packet goes to a backend on this host through its stack. */
static __always_inline int fwd_local(struct xlb_pkt *p, const struct xlb_svc_key *vip, const struct xlb_svc *svc,
				     __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	const struct xlb_backend *be;
	struct xlb_rw rw = {};
	__u32 bid = 0;

	be = choose(p, vip, svc, &bid, now, fam);
	if (!be)
		return verdict(XDP_DROP, XLB_R_DROP_NO_BACKEND, len);
	rev_record(p, vip, svc, bid, be, now, fam);
	rw_addr(&rw, pkt_daddr(p, fam), be->addr, fam);
	rw_port(&rw, &p->udp->dest, be->port);
	rw_finish(&rw, p, fam);
	count_balanced(svc, bid, len);
	return verdict(XDP_PASS, XLB_R_LOCAL, len);
}

/* nat: the packet is routed to the backend; its replies come back through xlb. */
static __always_inline int fwd_nat(struct xdp_md *ctx, struct xlb_pkt *p, const struct xlb_svc_key *vip,
				   const struct xlb_svc *svc, __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	const struct xlb_backend *be;
	struct xlb_route rt;
	struct xlb_rw rw = {};
	int rc, pass;
	__u32 bid = 0;

	be = choose(p, vip, svc, &bid, now, fam);
	if (!be)
		return verdict(XDP_DROP, XLB_R_DROP_NO_BACKEND, len);
	rc = route(ctx, &rt, pkt_saddr(p, fam), be->addr, p->l3_len, now, fam);
	pass = route_pass_reason(rc, p, fam);
	if (pass)
		return verdict(XDP_PASS, pass, len);
	rev_record(p, vip, svc, bid, be, now, fam);
	rw_addr(&rw, pkt_daddr(p, fam), be->addr, fam);
	rw_port(&rw, &p->udp->dest, be->port);
	count_balanced(svc, bid, len);
	return send_routed(ctx, p, &rw, &rt, rc, XLB_R_NAT, len, fam);
}

/* fullnat: the packet comes from the service's source address and a source port that
 * belongs to the flow, so its replies come back to xlb wherever the backend is. */
static __always_inline int fwd_fullnat(struct xdp_md *ctx, struct xlb_pkt *p, const struct xlb_svc_key *vip,
				       const struct xlb_svc *svc, __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	const struct xlb_backend *be = NULL;
	struct xlb_flow_cache *c;
	struct xlb_flow_key fk;
	struct xlb_route rt;
	struct xlb_rw rw = {};
	struct xlb_fwd *f;
	int rc, pass;
	__be16 port = 0;
	__u32 bid = 0;

	client_key(&fk, p, vip, fam);

	/* A flow this CPU saw within XLB_FLOW_CACHE_NS: backend and port from its cache. */
	c = fc_slot(&fk);
	if (fc_hit(c, &fk, XLB_FC_FLOW, svc, now)) {
		bid = c->backend_id;
		port = c->snat_port;
		be = backend_live(bid, svc->id);
		if (be)
			goto routed;
	}

	/* fullnat keeps a flow on its backend: its source port belongs to the flow, while
	 * the port's reply entry does (else the flow claims another). */
	port = 0;
	f = bpf_map_lookup_elem(&fwd_flows, &fk);
	if (f && f->svc_id == svc->id &&
	    flow_fresh(now, f->last_seen_ns, f->flags, f->timeout_unreplied_s, f->timeout_assured_s))
		be = backend_live(f->backend_id, svc->id);
	if (be) {
		struct xlb_rev_nat *r = snat_entry(svc, be, f->snat_port, fk.src, fk.sport, fam);

		bid = f->backend_id;
		if (r) {
			port = f->snat_port;
			if (now - f->last_seen_ns > XLB_FLOW_REFRESH_NS) {
				f->last_seen_ns = now;
				r->last_seen_ns = now;
				f->flags |= r->flags & XLB_FLOW_F_REPLIED;
			}
		}
	} else {
		be = pick(p, vip, svc, &bid, fam);
		if (!be)
			return verdict(XDP_DROP, XLB_R_DROP_NO_BACKEND, len);
	}
	if (!port) {
		struct xlb_rev_nat v = {
			.last_seen_ns = now,
			.vport = vip->port,
			.cport = fk.sport,
			.svc_id = svc->id,
			.backend_id = bid,
			.timeout_unreplied_s = svc->timeout_unreplied_s,
			.timeout_assured_s = svc->timeout_assured_s,
			.flags = XLB_FLOW_F_REWRITE_DST,
			.mode = XLB_MODE_FULLNAT,
		};
		__builtin_memcpy(v.vaddr, vip->addr, 16);
		__builtin_memcpy(v.caddr, fk.src, 16);
		port = snat_claim(svc, be, &v, now);
		/* Any port we made up could belong to a live flow, whose replies would
		 * then reach this client: drop, counted. */
		if (!port)
			return verdict(XDP_DROP, XLB_R_SNAT_EXHAUSTED, len);
		struct xlb_fwd nf = {
			.last_seen_ns = now,
			.backend_id = bid,
			.svc_id = svc->id,
			.snat_port = port,
			.timeout_unreplied_s = svc->timeout_unreplied_s,
			.timeout_assured_s = svc->timeout_assured_s,
		};
		if (bpf_map_update_elem(&fwd_flows, &fk, &nf, BPF_ANY))
			count(&stats_reason, XLB_R_FLOW_UPDATE_FAILED, 0);
	}
	fc_fill(c, &fk, XLB_FC_FLOW, svc->id, bid, port, now);

routed:
	rc = route(ctx, &rt, svc->snat_addr, be->addr, p->l3_len, now, fam);
	pass = route_pass_reason(rc, p, fam);
	if (pass)
		return verdict(XDP_PASS, pass, len);
	rw_addr(&rw, pkt_saddr(p, fam), svc->snat_addr, fam);
	rw_addr(&rw, pkt_daddr(p, fam), be->addr, fam);
	rw_port(&rw, &p->udp->source, port);
	rw_port(&rw, &p->udp->dest, be->port);
	count_balanced(svc, bid, len);
	return send_routed(ctx, p, &rw, &rt, rc, XLB_R_FULLNAT, len, fam);
}

/* dsr: only the MACs change; the backend, which has the service address, answers the
 * client itself. */
static __always_inline int fwd_dsr(struct xdp_md *ctx, struct xlb_pkt *p, const struct xlb_svc_key *vip,
				   const struct xlb_svc *svc, __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	const struct xlb_backend *be;
	struct xlb_route rt;
	int rc, reason = XLB_R_DSR;
	__u32 bid = 0;

	be = choose(p, vip, svc, &bid, now, fam);
	if (!be)
		return verdict(XDP_DROP, XLB_R_DROP_NO_BACKEND, len);
	/* Only the next hop changes: route towards the backend's own address. */
	rc = route(ctx, &rt, pkt_saddr(p, fam), be->addr, p->l3_len, now, fam);
	if (fib_pass_reason(rc))
		return verdict(XDP_PASS, fib_pass_reason(rc), len);
	count_balanced(svc, bid, len);
	rc = xmit(ctx, p, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

/* A parsed UDP packet: balanced when it is for a service, translated when it is a reply. */
static __always_inline int xdp_udp(struct xdp_md *ctx, struct xlb_pkt *p, __u64 len, const int fam)
{
	const struct xlb_svc *svc;
	struct xlb_rev_nat *r;
	struct xlb_svc_key k;

	svc = svc_lookup(p, &k, fam);
	if (svc) {
		/* A routed frame would leave with the client's VLAN tag on another segment:
		 * tagged frames are balanced in local mode only (this host's stack owns the tag).
		 * Nor is a frame routed from a source the kernel would not forward. */
		if (svc->mode != XLB_MODE_LOCAL) {
			if (p->vlan)
				return verdict(XDP_PASS, XLB_R_PASS_VLAN, len);
			if (addr_martian(pkt_saddr(p, fam), fam))
				return verdict(XDP_PASS, XLB_R_PASS_MARTIAN, len);
		}
		/* The hit may have been on the wildcard: replies must come from the
		 * address the client used, not from the all-zero key. */
		addr_load(k.addr, pkt_daddr(p, fam), fam);
		switch (svc->mode) {
		case XLB_MODE_NAT:
			return fwd_nat(ctx, p, &k, svc, len, fam);
		case XLB_MODE_FULLNAT:
			return fwd_fullnat(ctx, p, &k, svc, len, fam);
		case XLB_MODE_DSR:
			return fwd_dsr(ctx, p, &k, svc, len, fam);
		default:
			return fwd_local(p, &k, svc, len, fam);
		}
	}
	r = reply_lookup(p, fam);
	if (r && p->vlan)
		return verdict(XDP_PASS, XLB_R_PASS_VLAN, len);
	if (r)
		return reply(ctx, p, r, len, fam);
	return verdict(XDP_PASS, XLB_R_PASS_NO_SERVICE, len);
}

#endif /* XLB_FAST_PATH_H */
