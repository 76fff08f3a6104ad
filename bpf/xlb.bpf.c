// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * xlb.bpf.c — the data plane.
 *
 *   xlb_xdp         XDP, on every interface xlb serves: parse -> service lookup ->
 *                   pick a backend -> rewrite -> verdict (PASS to the local stack,
 *                   TX, REDIRECT), and the reverse translation of backends' replies.
 *   xlb_tc_ingress  TC ingress, same interfaces: sends the packets XDP handed over
 *                   because their next hop's MAC was unknown (bpf_redirect_neigh).
 *   xlb_egress      TC egress, interfaces other than lo: translates the replies of
 *                   local-mode backends (on lo they pass the XDP hook themselves).
 *
 * Forwarding modes (enum xlb_mode): local (rewrite dst, pass to this host), nat
 * (rewrite dst, route), fullnat (rewrite dst and src, route), dsr (rewrite MACs).
 * No per-packet logging: every verdict is a per-CPU counter (enum xlb_reason).
 *
 * This file holds the ABI globals and the entry points; the work is in headers, one per
 * concern, each opening with what it holds (lower ones include the ones above them):
 *   xlb_shared.h   structs, enums and limits shared with userspace
 *   xlb_maps.h     every map, and why it exists
 *   csum.h         incremental Internet checksums
 *   hash.h         hashes of the per-CPU caches, the flow hash (MurmurHash3)
 *   parsing.h      the packet parser (struct xlb_pkt)
 *   rewrite.h      addresses, ports and TTL rewritten, checksums kept
 *   counters.h     per-CPU counters; verdict() counts every verdict's reason
 *   lookup.h       port bitmaps, the service of a packet
 *   flows.h        flow tables, the per-CPU flow cache, fullnat source ports
 *   sched.h        the backend of a packet: flow hash, table pick, flow affinity
 *   forward.h      route (bpf_fib_lookup, cached) and send from XDP
 *   reply.h        backends' replies translated back (rev_nat)
 *   fast_path.h    the modes (local, nat, fullnat, dsr); a UDP packet in XDP
 *   icmp.h         ICMP errors about backends' flows: health note, translation
 *   egress.h       TC egress: local backends' replies and ICMP errors
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "xlb_shared.h"
#include "xlb_maps.h"
#include "parsing.h"
#include "counters.h"
#include "fast_path.h"
#include "icmp.h"
#include "egress.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Not read by the programs: it carries types into BTF (see struct xlb_abi_anchor), among
 * them enum xlb_abi, the ABI version userspace checks at load. */
const volatile struct xlb_abi_anchor xlb_abi_anchor;

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct xlb_pkt p;
	int rc;

	rc = xlb_parse(data, data_end, &p);
	if (rc != XLB_PARSE_OK) {
		if (rc == XLB_R_PASS_NOT_UDP) {
			int fam = untagged_family(data, data_end), icmp_rc = -1;

			if (fam == 4)
				icmp_rc = icmp_error(ctx, data, data_end, len, 4);
			else if (fam == 6)
				icmp_rc = icmp_error(ctx, data, data_end, len, 6);
			if (icmp_rc >= 0)
				return icmp_rc;
		}
		return verdict(XDP_PASS, rc, len);
	}
	if (p.family == XLB_FAMILY_V4)
		return xdp_udp(ctx, &p, len, 4);
	return xdp_udp(ctx, &p, len, 6);
}

/* Sends what xlb_xdp handed over for neighbour resolution (see forward.h). */
SEC("tc")
int xlb_tc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct xlb_meta *m = (void *)(long)skb->data_meta;
	struct bpf_redir_neigh nh = {};

	if ((void *)(m + 1) > data || m->magic != XLB_META_MAGIC)
		return TC_ACT_OK;
	if (m->family == XLB_FAMILY_V4) {
		nh.nh_family = XLB_AF_INET;
		nh.ipv4_nh = *(__be32 *)m->nexthop;
	} else {
		nh.nh_family = XLB_AF_INET6;
		__builtin_memcpy(nh.ipv6_nh, m->nexthop, 16);
	}
	return bpf_redirect_neigh(m->ifindex, &nh, sizeof(nh), 0);
}

SEC("tc")
int xlb_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct xlb_pkt p;
	int rc;

	rc = xlb_parse(data, data_end, &p);
	if (rc == XLB_R_PASS_NOT_UDP) {
		int fam = untagged_family(data, data_end);

		if (fam == 4)
			return egress_icmp(skb, data, data_end, 4);
		if (fam == 6)
			return egress_icmp(skb, data, data_end, 6);
	}
	if (rc != XLB_PARSE_OK)
		return TC_ACT_OK;
	if (p.family == XLB_FAMILY_V4)
		return egress_reply(skb, &p, data, 4);
	return egress_reply(skb, &p, data, 6);
}
