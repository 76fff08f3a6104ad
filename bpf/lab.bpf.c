// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * lab.bpf.c — the measuring instruments of xlb's lab and benchmark (not the product).
 *
 *   xlb_gen    packet generator: run with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES
 *              and an ingress interface, every run rewrites the frame's headers from a
 *              template (live-frame pages are recycled without being copied again),
 *              varies the source port (and address) per packet so that flows spread,
 *              and sends the frame out with XDP_TX.
 *   xlb_sink   packet sink: counts UDP packets per destination address and port and
 *              drops them; everything else (ARP, ND) passes, so neighbours resolve.
 *   xlb_limit  the ceiling of a topology: rewrites the MACs to fixed values and
 *              redirects to a fixed interface, nothing else.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "parsing.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define GEN_HDR_BYTES 64 /* headers copied from the template: Ethernet + IPv6 + UDP fit */

/* Shared with src/lab/instruments.ts. */
struct xlb_gen_cfg {
	__u32 ifindex;    /* the sending interface: frames arriving anywhere else are not ours */
	__u32 flows;      /* distinct flows: source port (and address) vary modulo this */
	__u16 sport_base; /* host order */
	__u8 family;      /* 4 or 6 */
	__u8 vary_addr;   /* also add (flow / 65536... see below) to the source address's last byte */
	__u8 tmpl[GEN_HDR_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_gen_cfg);
} gen_config SEC(".maps");

/* Frames generated (= runs that returned XDP_TX), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_count SEC(".maps");

SEC("xdp")
int xlb_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_gen_cfg *cfg;
	__u32 zero = 0, flow, l4;
	__u64 *n;
	__be16 sport;
	__u32 acc;

	cfg = bpf_map_lookup_elem(&gen_config, &zero);
	n = bpf_map_lookup_elem(&gen_count, &zero);
	if (!cfg || !n || ctx->ingress_ifindex != cfg->ifindex)
		return XDP_PASS; /* a frame received where the program is parked */
	if (cfg->flows == 0 || data + GEN_HDR_BYTES > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, cfg->tmpl, GEN_HDR_BYTES);
	flow = *n % cfg->flows;
	(*n)++;

	/* The template's source port is sport_base; this flow's is sport_base + flow % 50000. */
	sport = bpf_htons(cfg->sport_base + flow % 50000);
	l4 = cfg->family == 4 ? 14 + 20 : 14 + 40;
	if (l4 == 34) {
		struct udphdr *udp = data + 34;
		struct iphdr *ip = data + 14;
		__u8 extra = cfg->vary_addr ? flow / 50000 : 0;

		if ((void *)(udp + 1) > data_end)
			return XDP_ABORTED;
		udp->source = sport; /* UDP checksum 0 in the template: legal on IPv4 */
		if (extra) {
			__be32 old = ip->saddr;
			__u8 *last = (__u8 *)&ip->saddr + 3;

			*last += extra;
			ip->check = csum_apply(ip->check, csum_acc32(0, old, ip->saddr));
		}
	} else {
		struct udphdr *udp = data + 54;
		struct ipv6hdr *ip6 = data + 14;

		if ((void *)(udp + 1) > data_end)
			return XDP_ABORTED;
		acc = csum_acc16(0, udp->source, sport);
		udp->source = sport;
		if (cfg->vary_addr && flow >= 50000) {
			__u8 old = ip6->saddr.in6_u.u6_addr8[15];
			__u8 now = old + flow / 50000;

			/* the last byte is the low half of a 16-bit word */
			acc = csum_acc16(acc, bpf_htons(old), bpf_htons(now));
			ip6->saddr.in6_u.u6_addr8[15] = now;
		}
		udp->check = csum_apply_udp(udp->check, acc);
	}
	return XDP_TX;
}

/* Sink counters: per destination address and port. */
struct xlb_sink_key {
	__u8 addr[16];
	__be16 port;
	__u8 family;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct xlb_sink_key);
	__type(value, __u64);
} sink_counts SEC(".maps");

SEC("xdp")
int xlb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_sink_key k = {};
	struct udphdr *udp;
	struct xlb_pkt p;
	__u64 one = 1, *v;

	if (xlb_parse(data, data_end, &p) != XLB_PARSE_OK)
		return XDP_PASS;
	/* Checked again behind a barrier: clang would otherwise rebuild the pointer from
	 * the IPv4 header length after the branch and lose the parser's bound. */
	udp = p.udp;
	asm volatile("" : "+r"(udp));
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (p.family == XLB_FAMILY_V4) {
		*(__be32 *)k.addr = p.ip4->daddr;
	} else {
		__builtin_memcpy(k.addr, &p.ip6->daddr, 16);
	}
	k.port = udp->dest;
	k.family = p.family;
	v = bpf_map_lookup_elem(&sink_counts, &k);
	if (v)
		(*v)++;
	else
		bpf_map_update_elem(&sink_counts, &k, &one, BPF_NOEXIST);
	return XDP_DROP;
}

/* The ceiling: MACs and interface from userspace, then redirect. */
struct xlb_limit_cfg {
	__u8 dmac[6];
	__u8 smac[6];
	__u32 ifindex;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_limit_cfg);
} limit_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} limit_port SEC(".maps");

SEC("xdp")
int xlb_limit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct xlb_limit_cfg *cfg;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&limit_config, &zero);
	if (!cfg)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, cfg->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	return bpf_redirect_map(&limit_port, 0, XDP_PASS);
}

/* Carries the structs shared with userspace into BTF (checked by the layout test). */
struct xlb_lab_anchor {
	struct xlb_gen_cfg gen;
	struct xlb_sink_key sink;
	struct xlb_limit_cfg limit;
};
const volatile struct xlb_lab_anchor xlb_lab_anchor;
