/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * parsing.h — header-only packet parser shared by the XDP and TC programs.
 *
 * Contract: xlb_parse(data, data_end, &pkt) walks Ethernet, at most one 802.1Q/802.1ad
 * tag, IPv4 (any legal IHL: options are skipped, not read) and UDP. It returns
 * XLB_PARSE_OK with every pointer in pkt checked against data_end, or the
 * enum xlb_reason that says why the packet is not for us. It never writes.
 */
#ifndef XLB_PARSING_H
#define XLB_PARSING_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "xlb_shared.h"

#define XLB_PARSE_OK (-1)

#ifndef IP_MF
#define IP_MF 0x2000     /* "more fragments" flag */
#endif
#ifndef IP_OFFSET
#define IP_OFFSET 0x1fff /* fragment offset, in 8-byte units */
#endif

struct xlb_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct xlb_pkt {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct udphdr *udp;
};

static __always_inline int xlb_parse(void *data, void *data_end, struct xlb_pkt *pkt)
{
	struct ethhdr *eth = data;
	struct xlb_vlan_hdr *vlan;
	struct iphdr *ip;
	struct udphdr *udp;
	void *l3;
	__u16 proto, tot_len, ulen;
	__u32 hlen;

	if ((void *)(eth + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		vlan = l3;
		if ((void *)(vlan + 1) > data_end)
			return XLB_R_PASS_TRUNCATED;
		proto = vlan->encap_proto;
		l3 = vlan + 1;
	}
	if (proto == bpf_htons(ETH_P_IPV6))
		return XLB_R_PASS_IPV6;
	if (proto != bpf_htons(ETH_P_IP))
		return XLB_R_PASS_NOT_IP;

	ip = l3;
	if ((void *)(ip + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return XLB_R_PASS_MALFORMED;
	hlen = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < hlen)
		return XLB_R_PASS_MALFORMED;
	if ((void *)ip + tot_len > data_end)
		return XLB_R_PASS_TRUNCATED;
	if (ip->protocol != IPPROTO_UDP)
		return XLB_R_PASS_NOT_UDP;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return XLB_R_PASS_FRAGMENT;

	udp = (void *)ip + hlen;
	if ((void *)(udp + 1) > data_end)
		return XLB_R_PASS_TRUNCATED;
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || ulen > tot_len - hlen)
		return XLB_R_PASS_MALFORMED;

	pkt->eth = eth;
	pkt->ip4 = ip;
	pkt->udp = udp;
	return XLB_PARSE_OK;
}

#endif /* XLB_PARSING_H */
