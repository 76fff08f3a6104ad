/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * egress.h — the TC egress program's work, on interfaces other than lo: the replies of
 * local-mode backends and the ICMP errors the stack sends about datagrams for them leave
 * this host without crossing XDP, so they are translated here (the source becomes the
 * service). Checksums are updated with the skb helpers, which keep CHECKSUM_PARTIAL
 * skbs (local senders) correct.
 */
#ifndef XLB_EGRESS_H
#define XLB_EGRESS_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "parsing.h"
#include "rewrite.h"
#include "counters.h"
#include "flows.h"
#include "reply.h"
#include "icmp.h"

/* Flags for an address inside the UDP pseudo-header. */
#define L4_CSUM_FLAGS(size) (BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | (size))

/* A local backend's reply: its source becomes the service address and port. */
static __always_inline int egress_reply(struct __sk_buff *skb, struct xlb_pkt *p, void *data, const int fam)
{
	struct xlb_rev_nat *r = reply_lookup(p, fam);
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 ip_off, udp_off, csum_off;
	__u8 old_saddr[16], vaddr[16];
	__be16 old_sport, vport;

	if (!r || r->mode != XLB_MODE_LOCAL || !rev_fresh(r, now))
		return TC_ACT_OK;
	ip_off = fam == 4 ? (void *)p->ip4 - data : (void *)p->ip6 - data;
	udp_off = (void *)p->udp - data;
	csum_off = udp_off + offsetof(struct udphdr, check);
	addr_load(old_saddr, pkt_saddr(p, fam), fam);
	__builtin_memcpy(vaddr, r->vaddr, 16);
	old_sport = p->udp->source;
	vport = r->vport;
	reply_seen(r, now);

	/* The helpers keep CHECKSUM_PARTIAL skbs (local senders) correct, and with
	 * BPF_F_MARK_MANGLED_0 leave a zero ("no checksum") UDP field alone. */
	if (fam == 4) {
		__be32 from = *(__be32 *)old_saddr, to = *(__be32 *)vaddr;

		bpf_l4_csum_replace(skb, csum_off, from, to, L4_CSUM_FLAGS(4));
		bpf_l3_csum_replace(skb, ip_off + offsetof(struct iphdr, check), from, to, 4);
		bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, saddr), &to, 4, 0);
	} else {
#pragma unroll
		for (int i = 0; i < 4; i++)
			bpf_l4_csum_replace(skb, csum_off, ((__be32 *)old_saddr)[i], ((__be32 *)vaddr)[i],
					    L4_CSUM_FLAGS(4));
		bpf_skb_store_bytes(skb, ip_off + offsetof(struct ipv6hdr, saddr), vaddr, 16, 0);
	}
	bpf_l4_csum_replace(skb, csum_off, old_sport, vport, BPF_F_MARK_MANGLED_0 | 2);
	bpf_skb_store_bytes(skb, udp_off + offsetof(struct udphdr, source), &vport, 2, 0);
	count(&stats_reason, XLB_R_REPLY, skb->len);
	return TC_ACT_OK;
}

/*
 * An ICMP error the stack sends about a datagram for a local backend (its port is closed,
 * say) leaves translated like a reply: see icmp_rewrite. The stack computed its checksums
 * in full (no offload for ICMP), so they are updated in place.
 */
static __always_inline int egress_icmp(struct __sk_buff *skb, void *data, void *data_end, const int fam)
{
	struct xlb_icmp_err e = {};

	if (icmp_parse(data, data_end, &e, fam) || icmp_flow(&e, fam) || e.r->mode != XLB_MODE_LOCAL)
		return TC_ACT_OK;
	icmp_rewrite(&e, 0, fam);
	count(&stats_reason, XLB_R_ICMP_REPLY, skb->len);
	return TC_ACT_OK;
}

#endif /* XLB_EGRESS_H */
