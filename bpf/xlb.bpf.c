// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * xlb.bpf.c — the data plane.
 *
 *   xlb_xdp      XDP, on every interface that receives service traffic:
 *                parse -> service lookup -> pick a backend -> rewrite -> verdict;
 *                and on lo, where replies pass the same hook, reply translation.
 *   xlb_egress   TC egress, on interfaces other than lo that have local services:
 *                translates replies of local backends back to the service address.
 *
 * No per-packet logging: every verdict is a per-CPU counter (enum xlb_reason).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb_shared.h"
#include "xlb_maps.h"
#include "csum.h"
#include "parsing.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Layout version of the maps and structs; userspace refuses an object whose
 * version it does not know. Bump on any change to xlb_shared.h. */
const volatile __u32 xlb_abi_version = 1;

/* Not read by the programs: it carries the enums into BTF (see struct xlb_abi_enums). */
const volatile struct xlb_abi_enums xlb_abi_enums_anchor;

/* How often a live flow's timestamp is refreshed, in ns (fewer shared writes). */
#define XLB_FLOW_REFRESH_NS 1000000000ULL

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xlb_counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int port_in(__u32 which, __be16 port)
{
	struct xlb_port_bitmap *bm = bpf_map_lookup_elem(&port_bitmaps, &which);
	__u16 p = bpf_ntohs(port);

	if (!bm)
		return 0;
	return bm->bits[(p >> 3) & (XLB_PORT_BITMAP_BYTES - 1)] & (1 << (p & 7));
}

static __always_inline void addr4_copy(__u8 *dst16, __be32 a)
{
	*(__be32 *)dst16 = a;
}

/* Remember where the backend's replies must appear to come from. Refreshes an
 * existing entry at most once per XLB_FLOW_REFRESH_NS. */
static __always_inline void flow_record(struct xlb_pkt *p, const struct xlb_svc_key *vip,
					const struct xlb_svc *svc, __u32 bid,
					const struct xlb_backend *be)
{
	struct xlb_flow_key k = {};
	struct xlb_rev_nat *r;
	__u64 now = bpf_ktime_get_coarse_ns();

	__builtin_memcpy(k.src, be->addr, 16);
	addr4_copy(k.dst, p->ip4->saddr);
	k.sport = be->port;
	k.dport = p->udp->source;
	k.proto = IPPROTO_UDP;
	k.family = XLB_FAMILY_V4;

	r = bpf_map_lookup_elem(&rev_nat, &k);
	if (r && r->svc_id == svc->id && r->backend_id == bid && r->vport == vip->port &&
	    *(__u32 *)r->vaddr == *(__u32 *)vip->addr) {
		if (now - r->last_seen_ns > XLB_FLOW_REFRESH_NS)
			r->last_seen_ns = now;
		return;
	}

	struct xlb_rev_nat v = {
		.last_seen_ns = now,
		.vport = vip->port,
		.svc_id = svc->id,
		.backend_id = bid,
	};
	__builtin_memcpy(v.vaddr, vip->addr, 16);
	if (bpf_map_update_elem(&rev_nat, &k, &v, BPF_ANY))
		count(&stats_reason, XLB_R_FLOW_UPDATE_FAILED, 0);
}

/* Pick the backend of a service for this packet; NULL when it has none. */
static __always_inline const struct xlb_backend *pick(const struct xlb_svc *svc, __u32 *bid_out)
{
	__u32 n = svc->table_len, idx, *cur, *bid;
	void *table;

	if (n == 0)
		return NULL;
	cur = bpf_map_lookup_elem(&rr_cursor, &svc->id);
	if (!cur)
		return NULL;
	idx = *cur;
	if (idx >= n)
		idx = 0;
	*cur = idx + 1;

	table = bpf_map_lookup_elem(&sched_tables, &svc->table_slot);
	if (!table)
		return NULL;
	bid = bpf_map_lookup_elem(table, &idx);
	if (!bid)
		return NULL;
	*bid_out = *bid;
	return bpf_map_lookup_elem(&backends, bid);
}

static __always_inline int balance(struct xlb_pkt *p, const struct xlb_svc_key *vip,
				   const struct xlb_svc *svc, __u64 len)
{
	const struct xlb_backend *be;
	__u32 bid = 0, acc;
	__be32 new_daddr;

	be = pick(svc, &bid);
	if (!be) {
		count(&stats_reason, XLB_R_DROP_NO_BACKEND, len);
		return XDP_DROP;
	}
	flow_record(p, vip, svc, bid, be);

	new_daddr = *(__be32 *)be->addr;
	acc = csum_acc32(0, p->ip4->daddr, new_daddr);
	p->ip4->check = csum_apply(p->ip4->check, acc);
	acc = csum_acc16(acc, p->udp->dest, be->port);
	p->udp->check = csum_apply_udp(p->udp->check, acc);
	p->ip4->daddr = new_daddr;
	p->udp->dest = be->port;

	count(&stats_svc, svc->id, len);
	count(&stats_backend, bid, len);
	count(&stats_reason, XLB_R_LOCAL, len);
	return XDP_PASS;
}

/* A reply from a local backend: rewrite its source to the service address. */
static __always_inline struct xlb_rev_nat *reply_lookup(struct xlb_pkt *p)
{
	struct xlb_flow_key k = {};

	if (!port_in(XLB_BITMAP_BACKEND_PORTS, p->udp->source))
		return NULL;
	addr4_copy(k.src, p->ip4->saddr);
	addr4_copy(k.dst, p->ip4->daddr);
	k.sport = p->udp->source;
	k.dport = p->udp->dest;
	k.proto = IPPROTO_UDP;
	k.family = XLB_FAMILY_V4;
	return bpf_map_lookup_elem(&rev_nat, &k);
}

static __always_inline const struct xlb_svc *svc_lookup(struct xlb_pkt *p, struct xlb_svc_key *k)
{
	const struct xlb_svc *svc;

	if (!port_in(XLB_BITMAP_SERVICE_PORTS, p->udp->dest))
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	k->port = p->udp->dest;
	k->proto = IPPROTO_UDP;
	k->family = XLB_FAMILY_V4;
	addr4_copy(k->addr, p->ip4->daddr);
	svc = bpf_map_lookup_elem(&services, k);
	if (svc)
		return svc;
	*(__u32 *)k->addr = 0;
	return bpf_map_lookup_elem(&services, k);
}

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	const struct xlb_svc *svc;
	struct xlb_rev_nat *r;
	struct xlb_svc_key k;
	struct xlb_pkt p;
	__u32 acc;
	int rc;

	rc = xlb_parse(data, data_end, &p);
	if (rc != XLB_PARSE_OK) {
		count(&stats_reason, rc, len);
		return XDP_PASS;
	}

	svc = svc_lookup(&p, &k);
	if (svc) {
		/* The hit may have been on the wildcard: the reply must come from the
		 * address the client used, not from the all-zero key. */
		addr4_copy(k.addr, p.ip4->daddr);
		return balance(&p, &k, svc, len);
	}

	r = reply_lookup(&p);
	if (r) {
		__be32 vaddr = *(__be32 *)r->vaddr;

		acc = csum_acc32(0, p.ip4->saddr, vaddr);
		p.ip4->check = csum_apply(p.ip4->check, acc);
		acc = csum_acc16(acc, p.udp->source, r->vport);
		p.udp->check = csum_apply_udp(p.udp->check, acc);
		p.ip4->saddr = vaddr;
		p.udp->source = r->vport;
		count(&stats_reason, XLB_R_REPLY, len);
		return XDP_PASS;
	}

	count(&stats_reason, XLB_R_PASS_NO_SERVICE, len);
	return XDP_PASS;
}

/* Flags for an address inside the UDP pseudo-header. */
#define L4_CSUM_FLAGS(size) (BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | (size))

SEC("tc")
int xlb_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct xlb_rev_nat *r;
	struct xlb_pkt p;
	__u32 ip_off, udp_off;
	__be32 old_saddr, vaddr;
	__be16 old_sport, vport;

	if (xlb_parse(data, data_end, &p) != XLB_PARSE_OK)
		return TC_ACT_OK;
	r = reply_lookup(&p);
	if (!r)
		return TC_ACT_OK;

	ip_off = (void *)p.ip4 - data;
	udp_off = (void *)p.udp - data;
	old_saddr = p.ip4->saddr;
	old_sport = p.udp->source;
	vaddr = *(__be32 *)r->vaddr;
	vport = r->vport;

	/* The helpers keep CHECKSUM_PARTIAL skbs (local senders) correct, and with
	 * BPF_F_MARK_MANGLED_0 leave a zero ("no checksum") UDP field alone. */
	bpf_l4_csum_replace(skb, udp_off + offsetof(struct udphdr, check), old_saddr, vaddr,
			    L4_CSUM_FLAGS(4));
	bpf_l4_csum_replace(skb, udp_off + offsetof(struct udphdr, check), old_sport, vport,
			    BPF_F_MARK_MANGLED_0 | 2);
	bpf_l3_csum_replace(skb, ip_off + offsetof(struct iphdr, check), old_saddr, vaddr, 4);
	bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, saddr), &vaddr, 4, 0);
	bpf_skb_store_bytes(skb, udp_off + offsetof(struct udphdr, source), &vport, 2, 0);
	count(&stats_reason, XLB_R_REPLY, skb->len);
	return TC_ACT_OK;
}
