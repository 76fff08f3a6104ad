/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * icmp.h — ICMP errors about datagrams xlb sent to a backend (port unreachable, time
 * exceeded, packet too big; untagged frames, no IPv4 options, no IPv6 extension
 * headers): the parse (struct xlb_icmp_err), the flow the quoted datagram belongs to
 * (rev_nat), the passive health note (icmp_unreach, per backend id), the rewrite that
 * makes the error one the client can match to its socket, and the XDP path that routes
 * it to the client. The TC egress program translates the stack's own errors (egress.h).
 */
#ifndef XLB_ICMP_H
#define XLB_ICMP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb_maps.h"
#include "csum.h"
#include "parsing.h"
#include "rewrite.h"
#include "counters.h"
#include "lookup.h"
#include "flows.h"
#include "sched.h"
#include "forward.h"

/* An ICMP error about a datagram xlb sent to a backend, and the flow it belongs to. */
struct xlb_icmp_err {
	struct xlb_pkt outer;  /* eth and the outer IP header */
	struct xlb_pkt quoted; /* the quoted IP and UDP headers */
	__u8 *icmp;
	struct xlb_rev_nat *r;
	__u8 backend[16];
	__u16 l3_len;
};

/*
 * Recognises an ICMP error (IPv4: destination unreachable, time exceeded; ICMPv6:
 * destination unreachable, packet too big, time exceeded) that quotes a UDP datagram.
 * 0 when it is one; -1 for anything else (no VLAN tag, no IPv4 options, no IPv6
 * extension headers). The quote must hold the whole of what a translation rewrites (the
 * quoted IP header and the UDP header) inside the outer datagram: bytes past its length
 * are not covered by the ICMP checksum, so rewriting them would break it.
 */
static __always_inline int icmp_parse(void *data, void *data_end, struct xlb_icmp_err *e, const int fam)
{
	const int ihl = fam == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	__u8 *ip = data + sizeof(struct ethhdr), *qip;
	struct udphdr *qudp;

	e->icmp = ip + ihl;
	qip = e->icmp + 8;
	qudp = (void *)(qip + ihl);
	if ((void *)(qudp + 1) > data_end)
		return -1;
	e->outer.eth = data;
	e->quoted.udp = qudp;
	if (fam == 4) {
		struct iphdr *o = (void *)ip, *qi = (void *)qip;

		if (o->ihl != 5 || o->protocol != IPPROTO_ICMP || (o->frag_off & bpf_htons(IP_MF | IP_OFFSET)) ||
		    (e->icmp[0] != 3 && e->icmp[0] != 11) || qi->ihl != 5 || qi->protocol != IPPROTO_UDP)
			return -1;
		e->l3_len = bpf_ntohs(o->tot_len);
		e->outer.ip4 = o;
		e->quoted.ip4 = qi;
	} else {
		struct ipv6hdr *o = (void *)ip, *qi = (void *)qip;

		if (o->nexthdr != IPPROTO_ICMPV6 || e->icmp[0] < 1 || e->icmp[0] > 3 || qi->nexthdr != IPPROTO_UDP)
			return -1;
		e->l3_len = sizeof(*o) + bpf_ntohs(o->payload_len);
		e->outer.ip6 = o;
		e->quoted.ip6 = qi;
	}
	if (e->l3_len < 2 * ihl + 8 + sizeof(*qudp))
		return -1;
	addr_load(e->backend, pkt_daddr(&e->quoted, fam), fam);
	return 0;
}

/*
 * Passive health signal: a port unreachable counts against a backend only as evidence,
 * or anyone could take backends out with forged errors. Only the destination host sends
 * one, so it must come from the quoted destination; and the quote must be a datagram of a
 * live flow to that very backend (e->r, found by icmp_flow). Counted per backend id.
 */
static __always_inline void icmp_note(struct xlb_icmp_err *e, const int fam)
{
	__u32 bid = e->r->backend_id;
	const struct xlb_backend *be;
	__u64 *n;

	if (e->icmp[0] != (fam == 4 ? 3 : 1) || e->icmp[1] != (fam == 4 ? 3 : 4))
		return;
	if (!addr_eq(pkt_saddr(&e->outer, fam), e->backend, fam))
		return;
	be = backend_live(bid, e->r->svc_id);
	if (!be || be->family != fam || be->port != e->quoted.udp->dest || !addr_eq(be->addr, e->backend, fam))
		return;
	n = bpf_map_lookup_elem(&icmp_unreach, &bid);
	if (n)
		(*n)++;
}

/* The reply state of the flow the quoted datagram belongs to (its reply tuple is the key). */
static __always_inline int icmp_flow(struct xlb_icmp_err *e, const int fam)
{
	struct udphdr *qudp = e->quoted.udp;
	struct xlb_flow_key k = {};

	if (!port_in(XLB_BITMAP_BACKEND_PORTS, qudp->dest))
		return -1;
	__builtin_memcpy(k.src, e->backend, 16);
	addr_load(k.dst, pkt_saddr(&e->quoted, fam), fam);
	k.sport = qudp->dest;
	k.dport = qudp->source;
	k.proto = IPPROTO_UDP;
	k.family = fam;
	e->r = bpf_map_lookup_elem(&rev_nat, &k);
	if (!e->r || !rev_fresh(e->r, bpf_ktime_get_coarse_ns()))
		return -1;
	return 0;
}

/*
 * Rewrites the error as the client must see it, as a reply would be: the quoted datagram
 * becomes the client's own (client -> service address and port), the outer source the
 * service address when the backend itself sent the error (a router on the way keeps its
 * address), fullnat's outer destination the client. Checksums are updated incrementally:
 * the quoted headers' own, the ICMP one (which covers them, and for ICMPv6 the outer
 * addresses) and the IPv4 header's. `routed`: xlb forwards it, so the TTL drops by one.
 */
static __always_inline void icmp_rewrite(struct xlb_icmp_err *e, int routed, const int fam)
{
	struct xlb_rev_nat *r = e->r;
	int rewrite_dst = r->flags & XLB_FLOW_F_REWRITE_DST;
	struct udphdr *qudp = e->quoted.udp;
	struct xlb_rw out = {}, in = {};
	__u16 *icheck, old;
	__u32 acc;

	rw_addr(&in, pkt_daddr(&e->quoted, fam), r->vaddr, fam);
	rw_port(&in, &qudp->dest, r->vport);
	if (rewrite_dst) {
		rw_addr(&in, pkt_saddr(&e->quoted, fam), r->caddr, fam);
		rw_port(&in, &qudp->source, r->cport);
	}
	acc = in.l4_acc;
	if (fam == 4) {
		old = e->quoted.ip4->check;
		e->quoted.ip4->check = csum_apply(old, in.ip_acc);
		acc = csum_acc16(acc, old, e->quoted.ip4->check);
	}
	old = qudp->check;
	qudp->check = csum_apply_udp(old, in.l4_acc);
	acc = csum_acc16(acc, old, qudp->check);

	if (addr_eq(pkt_saddr(&e->outer, fam), e->backend, fam))
		rw_addr(&out, pkt_saddr(&e->outer, fam), r->vaddr, fam);
	if (rewrite_dst)
		rw_addr(&out, pkt_daddr(&e->outer, fam), r->caddr, fam);
	if (routed)
		rw_ttl_dec(&out, &e->outer, fam);
	if (fam == 4)
		e->outer.ip4->check = csum_apply(e->outer.ip4->check, out.ip_acc);
	else
		acc += csum_fold32(out.l4_acc);
	icheck = (__u16 *)(e->icmp + 2);
	*icheck = csum_apply(*icheck, acc);
}

/*
 * XDP: an ICMP error about a nat or fullnat flow is translated and routed to the client
 * like a reply (so that the client's stack can match it to its socket: a connected socket
 * is refused at once instead of waiting out a timeout); about a local flow (`lo`) it is
 * translated and passed to the stack. dsr backends answer the client themselves.
 * Returns -1 when the packet is no such error (it passes as before).
 */
static __always_inline int icmp_error(struct xdp_md *ctx, void *data, void *data_end, __u64 len, const int fam)
{
	int rc, pass, reason = XLB_R_ICMP_REPLY;
	struct xlb_icmp_err e = {};
	struct xlb_route rt;

	if (icmp_parse(data, data_end, &e, fam) || icmp_flow(&e, fam))
		return -1;
	icmp_note(&e, fam);
	if (e.r->mode == XLB_MODE_LOCAL) {
		icmp_rewrite(&e, 0, fam);
		return verdict(XDP_PASS, XLB_R_ICMP_REPLY, len);
	}
	if (e.r->mode != XLB_MODE_NAT && e.r->mode != XLB_MODE_FULLNAT)
		return -1;
	if (addr_martian(pkt_saddr(&e.outer, fam), fam))
		return verdict(XDP_PASS, XLB_R_PASS_MARTIAN, len);
	rc = route(ctx, &rt, e.r->vaddr, e.r->flags & XLB_FLOW_F_REWRITE_DST ? e.r->caddr : pkt_daddr(&e.outer, fam),
		   e.l3_len, bpf_ktime_get_coarse_ns(), fam);
	pass = route_pass_reason(rc, &e.outer, fam);
	if (pass)
		return verdict(XDP_PASS, pass, len);
	icmp_rewrite(&e, 1, fam);
	rc = xmit(ctx, &e.outer, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

#endif /* XLB_ICMP_H */
