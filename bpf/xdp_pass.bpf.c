// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * xdp_pass.bpf.c — an XDP program that passes every frame.
 *
 * A frame that XDP sends into a veth (XDP_TX, XDP_REDIRECT) is only received by the
 * veth's peer when the peer runs an XDP program itself (on Linux 6.18 GRO on the peer
 * was not enough for XDP_TX). Attach this to the peer:
 *   ip link set dev PEER xdpdrv obj dist/bpf/xdp_pass.bpf.o sec xdp
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
