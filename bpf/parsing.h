/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * parsing.h — header-only packet parser shared by the XDP and TC programs.
 *
 * Contract: xlb_parse(data, data_end, &pkt) walks Ethernet, at most one 802.1Q/802.1ad
 * tag (noted in pkt->vlan), then IPv4 (any legal IHL: options are skipped, not read) or
 * IPv6 (no extension headers), then UDP. It returns XLB_PARSE_OK with every pointer in
 * pkt checked against data_end, or the enum xlb_reason that says why the packet is not
 * for us. It never writes.
 */
#ifndef XLB_PARSING_H
#define XLB_PARSING_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "xlb_shared.h"

#define XLB_PARSE_OK (-1)

#ifndef IP_MF
#define IP_MF 0x2000 /* "more fragments" flag */
#endif
#ifndef IP_OFFSET
#define IP_OFFSET 0x1fff /* fragment offset, in 8-byte units */
#endif

/*
 * A big-endian 16-bit header field in host order, in [0, 65535] as every verifier sees it.
 * Verifiers up to at least Linux 6.12 forget a register's bounds at a byte swap (BPF_END:
 * the result may be any 64-bit value), so a length read with bpf_ntohs() and added to a
 * packet pointer is refused ("math between pkt pointer and register with unbounded min
 * value"). The mask gives the bounds back; barrier_var() keeps clang from dropping a mask it
 * knows to be redundant. One AND more per field.
 */
static __always_inline __u32 xlb_ntohs(__be16 field)
{
	__u32 v = bpf_ntohs(field);

	barrier_var(v);
	return v & 0xffff;
}

struct xlb_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct xlb_pkt {
	struct ethhdr *eth;
	struct iphdr *ip4;   /* set for IPv4 */
	struct ipv6hdr *ip6; /* set for IPv6 */
	struct udphdr *udp;
	__u16 l3_len; /* IPv4 total length, or 40 + IPv6 payload length */
	__u8 family;  /* enum xlb_family */
	__u8 vlan;    /* 1 when the frame carries a VLAN tag */
};

/* IPv6 next-header values that are extension headers (RFC 8200 and the IANA list). */
static __always_inline int ipv6_is_ext(__u8 nh)
{
	switch (nh) {
	case 0:   /* hop-by-hop */
	case 43:  /* routing */
	case 44:  /* fragment */
	case 50:  /* ESP */
	case 51:  /* AH */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
	case 253:
	case 254: /* experimental */
		return 1;
	}
	return 0;
}

static __always_inline int parse_udp(struct xlb_pkt *pkt, void *l4, void *data_end, __u32 room)
{
	struct udphdr *udp = l4;
	__u16 ulen;

	if ((void *)(udp + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || ulen > room)
		return XLB_R_PASS_MALFORMED;
	pkt->udp = udp;
	return XLB_PARSE_OK;
}

static __always_inline int parse_ipv4(struct xlb_pkt *pkt, void *l3, void *data_end)
{
	struct iphdr *ip = l3;
	__u16 tot_len;
	__u32 hlen;

	if ((void *)(ip + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return XLB_R_PASS_MALFORMED;
	hlen = ip->ihl * 4;
	tot_len = xlb_ntohs(ip->tot_len);
	if (tot_len < hlen)
		return XLB_R_PASS_MALFORMED;
	if ((void *)ip + tot_len > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip->protocol != IPPROTO_UDP)
		return XLB_R_PASS_NOT_UDP;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return XLB_R_PASS_FRAGMENT;
	pkt->ip4 = ip;
	pkt->l3_len = tot_len;
	pkt->family = XLB_FAMILY_V4;
	return parse_udp(pkt, (void *)ip + hlen, data_end, tot_len - hlen);
}

static __always_inline int parse_ipv6(struct xlb_pkt *pkt, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	__u16 plen;
	int rc;

	if ((void *)(ip6 + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip6->version != 6)
		return XLB_R_PASS_MALFORMED;
	plen = xlb_ntohs(ip6->payload_len);
	if ((void *)(ip6 + 1) + plen > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip6->nexthdr != IPPROTO_UDP)
		return ipv6_is_ext(ip6->nexthdr) ? XLB_R_PASS_IPV6_EXT : XLB_R_PASS_NOT_UDP;
	pkt->ip6 = ip6;
	pkt->l3_len = sizeof(*ip6) + plen;
	pkt->family = XLB_FAMILY_V6;
	rc = parse_udp(pkt, ip6 + 1, data_end, plen);
	/* A zero UDP checksum is not allowed over IPv6 (RFC 8200 8.1). */
	if (rc == XLB_PARSE_OK && pkt->udp->check == 0)
		return XLB_R_PASS_MALFORMED;
	return rc;
}

static __always_inline int xlb_parse(void *data, void *data_end, struct xlb_pkt *pkt)
{
	struct ethhdr *eth = data;
	struct xlb_vlan_hdr *vlan;
	void *l3;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	pkt->eth = eth;
	pkt->ip4 = 0;
	pkt->ip6 = 0;
	pkt->vlan = 0;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		vlan = l3;
		if ((void *)(vlan + 1) > data_end)
			return XLB_R_PASS_TRUNCATED;
		proto = vlan->encap_proto;
		l3 = vlan + 1;
		pkt->vlan = 1;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(pkt, l3, data_end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(pkt, l3, data_end);
	return XLB_R_PASS_NOT_IP;
}

/* 4 or 6 for an IPv4 or IPv6 frame without a VLAN tag, else 0 (where ICMP errors are handled). */
static __always_inline int untagged_family(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return 4;
	return eth->h_proto == bpf_htons(ETH_P_IPV6) ? 6 : 0;
}

#endif /* XLB_PARSING_H */
