/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * lookup.h — which traffic is xlb's: the port bitmaps (port_bitmaps, enum xlb_bitmap)
 * that let packets from ports without a backend skip the reply table, and the service
 * of a packet (svc_ports, then services for ports shared by several, then svc_values).
 */
#ifndef XLB_LOOKUP_H
#define XLB_LOOKUP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb_maps.h"
#include "parsing.h"
#include "rewrite.h"

/* Whether `port` is set in bitmap `which` (enum xlb_bitmap). */
static __always_inline int port_in(__u32 which, __be16 port)
{
	struct xlb_port_bitmap *bm = bpf_map_lookup_elem(&port_bitmaps, &which);
	__u16 n = bpf_ntohs(port);

	if (!bm)
		return 0;
	return bm->bits[(n >> 3) & (XLB_PORT_BITMAP_BYTES - 1)] & (1 << (n & 7));
}

/*
 * The service of a packet. `k` holds the packet's destination (address, port) on
 * return: the address the client used, which replies must come from. A port with one
 * service is an array load; several services on a port take the hash (exact address,
 * then the port-only service).
 */
static __always_inline const struct xlb_svc *svc_lookup(struct xlb_pkt *p, struct xlb_svc_key *k, const int fam)
{
	__u32 port_key = bpf_ntohs(p->udp->dest) | (fam == 6 ? 65536 : 0), idx, *ref;
	const struct xlb_svc *svc;

	ref = bpf_map_lookup_elem(&svc_ports, &port_key);
	if (!ref || *ref == 0)
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	k->port = p->udp->dest;
	k->proto = IPPROTO_UDP;
	k->family = fam;
	addr_load(k->addr, pkt_daddr(p, fam), fam);
	if (*ref != XLB_SVC_PORT_MULTI) {
		idx = *ref - 1;
		svc = bpf_map_lookup_elem(&svc_values, &idx);
		if (!svc || (!(svc->flags & XLB_SVC_F_WILDCARD) && !addr_eq(svc->vaddr, k->addr, fam)))
			return NULL;
		return svc;
	}
	ref = bpf_map_lookup_elem(&services, k);
	if (!ref) {
		struct xlb_svc_key any = *k;

		__builtin_memset(any.addr, 0, sizeof(any.addr));
		ref = bpf_map_lookup_elem(&services, &any);
		if (!ref)
			return NULL;
	}
	idx = *ref;
	return bpf_map_lookup_elem(&svc_values, &idx);
}

#endif /* XLB_LOOKUP_H */
