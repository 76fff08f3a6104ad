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
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb_shared.h"
#include "xlb_maps.h"
#include "csum.h"
#include "parsing.h"
#include "rewrite.h"
#include "forward.h"
#include "flows.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Layout version of the maps and structs; userspace refuses an object whose
 * version it does not know. Bump on any change to xlb_shared.h. */
const volatile __u32 xlb_abi_version = 4;

/* Not read by the programs: it carries types into BTF (see struct xlb_abi_anchor). */
const volatile struct xlb_abi_anchor xlb_abi_anchor;

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xlb_counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Counts the verdict and returns the action. */
static __always_inline int verdict(int action, int reason, __u64 len)
{
	count(&stats_reason, reason, len);
	return action;
}

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

/* The flow hash of a packet, over the fields the service's hash key names. */
static __always_inline __u32 flow_hash(struct xlb_pkt *p, const struct xlb_svc_key *vip, const struct xlb_svc *svc,
				       const int fam)
{
	struct xlb_flow_key k = {};

	addr_load(k.src, pkt_saddr(p, fam), fam);
	k.family = fam;
	if (svc->hash_key != XLB_HASH_KEY_SRC_ADDR)
		k.sport = p->udp->source;
	if (svc->hash_key == XLB_HASH_KEY_5_TUPLE) {
		__builtin_memcpy(k.dst, vip->addr, 16);
		k.dport = vip->port;
		k.proto = IPPROTO_UDP;
	}
	return murmur3_words((const __u32 *)&k, sizeof(k) / 4, svc->hash_seed);
}

/* Picks the backend of a service for this packet; NULL when it has none. */
static __always_inline const struct xlb_backend *pick(struct xlb_pkt *p, const struct xlb_svc_key *vip,
							const struct xlb_svc *svc, __u32 *bid_out, const int fam)
{
	__u32 n = svc->table_len, idx, *cur, *bid;
	void *table;

	if (n == 0)
		return NULL;
	if (svc->sched == XLB_SCHED_MAGLEV) {
		idx = fastrange32(flow_hash(p, vip, svc, fam), n);
	} else {
		cur = bpf_map_lookup_elem(&rr_cursor, &svc->id);
		if (!cur)
			return NULL;
		idx = *cur;
		if (idx >= n)
			idx = 0;
		*cur = idx + 1;
	}

	table = bpf_map_lookup_elem(&sched_tables, &svc->table_slot);
	if (!table)
		return NULL;
	bid = bpf_map_lookup_elem(table, &idx);
	if (!bid)
		return NULL;
	*bid_out = *bid;
	return bpf_map_lookup_elem(&backends, bid);
}

/* A backend that existing flows of `svc_id` may keep using. */
static __always_inline const struct xlb_backend *backend_live(__u32 bid, __u32 svc_id)
{
	const struct xlb_backend *be = bpf_map_lookup_elem(&backends, &bid);

	if (!be || !(be->flags & XLB_BE_F_ACTIVE) || be->svc_id != svc_id)
		return NULL;
	return be;
}

/* The client's tuple: the key of fwd_flows. */
static __always_inline void client_key(struct xlb_flow_key *k, struct xlb_pkt *p, const struct xlb_svc_key *vip,
				       const int fam)
{
	__builtin_memset(k, 0, sizeof(*k));
	addr_load(k->src, pkt_saddr(p, fam), fam);
	__builtin_memcpy(k->dst, vip->addr, 16);
	k->sport = p->udp->source;
	k->dport = vip->port;
	k->proto = IPPROTO_UDP;
	k->family = fam;
}

/*
 * The backend of a flow of a service with flow affinity (local, nat, dsr): the one it
 * had — from this CPU's flow cache, else from fwd_flows — while that backend lives,
 * else a new pick, remembered. A drained backend (weight 0) is out of the table but
 * still live: its flows stay; a removed one is not: its flows move.
 */
static __always_inline const struct xlb_backend *affine_pick(struct xlb_pkt *p, const struct xlb_svc_key *vip,
							      const struct xlb_svc *svc, __u32 *bid, __u64 now,
							      const int fam)
{
	const struct xlb_backend *be;
	struct xlb_flow_cache *c;
	struct xlb_flow_key fk;
	struct xlb_fwd *f;

	client_key(&fk, p, vip, fam);
	c = fc_slot(&fk);
	if (c && c->kind == XLB_FC_FLOW && now < c->expires_ns && c->svc_id == svc->id && fkey_eq(&c->key, &fk)) {
		be = backend_live(c->backend_id, svc->id);
		if (be) {
			*bid = c->backend_id;
			return be;
		}
	}
	f = bpf_map_lookup_elem(&fwd_flows, &fk);
	if (f && f->svc_id == svc->id &&
	    flow_fresh(now, f->last_seen_ns, f->flags, f->timeout_unreplied_s, f->timeout_assured_s)) {
		be = backend_live(f->backend_id, svc->id);
		if (be) {
			*bid = f->backend_id;
			if (now - f->last_seen_ns > XLB_FLOW_REFRESH_NS) {
				f->last_seen_ns = now;
				f->flags |= rev_replied(p, be, fam);
			}
			fc_fill(c, &fk, XLB_FC_FLOW, svc->id, *bid, 0, now);
			return be;
		}
	}
	be = pick(p, vip, svc, bid, fam);
	if (!be)
		return NULL;
	struct xlb_fwd nf = {
		.last_seen_ns = now,
		.backend_id = *bid,
		.svc_id = svc->id,
		.timeout_unreplied_s = svc->timeout_unreplied_s,
		.timeout_assured_s = svc->timeout_assured_s,
	};
	if (bpf_map_update_elem(&fwd_flows, &fk, &nf, BPF_ANY))
		count(&stats_reason, XLB_R_FLOW_UPDATE_FAILED, 0);
	fc_fill(c, &fk, XLB_FC_FLOW, svc->id, *bid, 0, now);
	return be;
}

/* The backend for this packet: remembered for services with flow affinity, else picked. */
static __always_inline const struct xlb_backend *choose(struct xlb_pkt *p, const struct xlb_svc_key *vip,
							  const struct xlb_svc *svc, __u32 *bid, __u64 now,
							  const int fam)
{
	if (svc->flags & XLB_SVC_F_AFFINITY)
		return affine_pick(p, vip, svc, bid, now, fam);
	return pick(p, vip, svc, bid, fam);
}

static __always_inline void count_balanced(const struct xlb_svc *svc, __u32 bid, __u64 len)
{
	count(&stats_svc, svc->id, len);
	count(&stats_backend, bid, len);
}

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

static __always_inline int fwd_nat(struct xdp_md *ctx, struct xlb_pkt *p, const struct xlb_svc_key *vip,
				   const struct xlb_svc *svc, __u64 len, const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	const struct xlb_backend *be;
	struct xlb_route rt;
	struct xlb_rw rw = {};
	int rc, reason = XLB_R_NAT;
	__u32 bid = 0;

	be = choose(p, vip, svc, &bid, now, fam);
	if (!be)
		return verdict(XDP_DROP, XLB_R_DROP_NO_BACKEND, len);
	rc = route(ctx, &rt, pkt_saddr(p, fam), be->addr, p->l3_len, now, fam);
	if (fib_pass_reason(rc))
		return verdict(XDP_PASS, fib_pass_reason(rc), len);
	if (!ttl_ok(p, fam))
		return verdict(XDP_PASS, XLB_R_PASS_TTL, len);
	rev_record(p, vip, svc, bid, be, now, fam);
	rw_addr(&rw, pkt_daddr(p, fam), be->addr, fam);
	rw_port(&rw, &p->udp->dest, be->port);
	rw_ttl_dec(&rw, p, fam);
	rw_finish(&rw, p, fam);
	count_balanced(svc, bid, len);
	rc = xmit(ctx, p, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

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
	int rc, reason = XLB_R_FULLNAT;
	__be16 port = 0;
	__u32 bid = 0;

	client_key(&fk, p, vip, fam);

	/* A flow this CPU saw in the last second: backend and port from its cache. */
	c = fc_slot(&fk);
	if (c && c->kind == XLB_FC_FLOW && now < c->expires_ns && c->svc_id == svc->id && fkey_eq(&c->key, &fk)) {
		bid = c->backend_id;
		port = c->snat_port;
		be = backend_live(bid, svc->id);
		if (be)
			goto routed;
	}

	/* fullnat keeps a flow on its backend: its source port belongs to the flow. */
	port = 0;
	f = bpf_map_lookup_elem(&fwd_flows, &fk);
	if (f && f->svc_id == svc->id &&
	    flow_fresh(now, f->last_seen_ns, f->flags, f->timeout_unreplied_s, f->timeout_assured_s))
		be = backend_live(f->backend_id, svc->id);
	if (be) {
		bid = f->backend_id;
		port = f->snat_port;
		if (now - f->last_seen_ns > XLB_FLOW_REFRESH_NS) {
			f->last_seen_ns = now;
			if (!snat_refresh(f, svc, be, fk.src, fk.sport, now, fam))
				port = 0;
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
	if (fib_pass_reason(rc))
		return verdict(XDP_PASS, fib_pass_reason(rc), len);
	if (!ttl_ok(p, fam))
		return verdict(XDP_PASS, XLB_R_PASS_TTL, len);
	rw_addr(&rw, pkt_saddr(p, fam), svc->snat_addr, fam);
	rw_addr(&rw, pkt_daddr(p, fam), be->addr, fam);
	rw_port(&rw, &p->udp->source, port);
	rw_port(&rw, &p->udp->dest, be->port);
	rw_ttl_dec(&rw, p, fam);
	rw_finish(&rw, p, fam);
	count_balanced(svc, bid, len);
	rc = xmit(ctx, p, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

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

/* The reply-translation entry for a packet coming from a backend port, if any. */
static __always_inline struct xlb_rev_nat *reply_lookup(struct xlb_pkt *p, const int fam)
{
	struct xlb_flow_key k = {};

	if (!port_in(XLB_BITMAP_BACKEND_PORTS, p->udp->source))
		return NULL;
	addr_load(k.src, pkt_saddr(p, fam), fam);
	addr_load(k.dst, pkt_daddr(p, fam), fam);
	k.sport = p->udp->source;
	k.dport = p->udp->dest;
	k.proto = IPPROTO_UDP;
	k.family = fam;
	return bpf_map_lookup_elem(&rev_nat, &k);
}

/* A reply was seen: the flow is assured, and alive. */
static __always_inline void reply_seen(struct xlb_rev_nat *r, __u64 now)
{
	if (!(r->flags & XLB_FLOW_F_REPLIED))
		r->flags |= XLB_FLOW_F_REPLIED;
	if (now - r->last_seen_ns > XLB_FLOW_REFRESH_NS)
		r->last_seen_ns = now;
}

static __always_inline int reply(struct xdp_md *ctx, struct xlb_pkt *p, struct xlb_rev_nat *r, __u64 len,
				 const int fam)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	int rewrite_dst = r->flags & XLB_FLOW_F_REWRITE_DST;
	struct xlb_route rt;
	struct xlb_rw rw = {};
	int rc, reason = XLB_R_REPLY;

	if (!rev_fresh(r, now))
		return verdict(XDP_PASS, XLB_R_PASS_FLOW_EXPIRED, len);
	if (r->mode == XLB_MODE_LOCAL) {
		rw_addr(&rw, pkt_saddr(p, fam), r->vaddr, fam);
		rw_port(&rw, &p->udp->source, r->vport);
		rw_finish(&rw, p, fam);
		reply_seen(r, now);
		return verdict(XDP_PASS, XLB_R_REPLY, len);
	}
	rc = route(ctx, &rt, r->vaddr, rewrite_dst ? r->caddr : pkt_daddr(p, fam), p->l3_len, now, fam);
	if (fib_pass_reason(rc))
		return verdict(XDP_PASS, fib_pass_reason(rc), len);
	if (!ttl_ok(p, fam))
		return verdict(XDP_PASS, XLB_R_PASS_TTL, len);
	rw_addr(&rw, pkt_saddr(p, fam), r->vaddr, fam);
	rw_port(&rw, &p->udp->source, r->vport);
	if (rewrite_dst) {
		rw_addr(&rw, pkt_daddr(p, fam), r->caddr, fam);
		rw_port(&rw, &p->udp->dest, r->cport);
	}
	rw_ttl_dec(&rw, p, fam);
	rw_finish(&rw, p, fam);
	reply_seen(r, now);
	rc = xmit(ctx, p, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

static __always_inline int process(struct xdp_md *ctx, struct xlb_pkt *p, __u64 len, const int fam)
{
	const struct xlb_svc *svc;
	struct xlb_rev_nat *r;
	struct xlb_svc_key k;

	svc = svc_lookup(p, &k, fam);
	if (svc) {
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
	if (r)
		return reply(ctx, p, r, len, fam);
	return verdict(XDP_PASS, XLB_R_PASS_NO_SERVICE, len);
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
 * extension headers, the quote must hold the whole UDP header).
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
	addr_load(e->backend, pkt_daddr(&e->quoted, fam), fam);
	return 0;
}

/*
 * Passive health signal: a port unreachable about a datagram to a backend is counted per
 * (address, port) of the quoted destination, whatever became of the flow.
 */
static __always_inline void icmp_note(const struct xlb_icmp_err *e, const int fam)
{
	struct xlb_icmp_key k = { .port = e->quoted.udp->dest, .family = fam };
	__u64 one = 1, *n;

	if (e->icmp[0] != (fam == 4 ? 3 : 1) || e->icmp[1] != (fam == 4 ? 3 : 4))
		return;
	__builtin_memcpy(k.addr, e->backend, 16);
	n = bpf_map_lookup_elem(&icmp_unreach, &k);
	if (n)
		(*n)++;
	else
		bpf_map_update_elem(&icmp_unreach, &k, &one, BPF_NOEXIST);
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
	int rc, reason = XLB_R_ICMP_REPLY;
	struct xlb_icmp_err e = {};
	struct xlb_route rt;

	if (icmp_parse(data, data_end, &e, fam))
		return -1;
	icmp_note(&e, fam);
	if (icmp_flow(&e, fam))
		return -1;
	if (e.r->mode == XLB_MODE_LOCAL) {
		icmp_rewrite(&e, 0, fam);
		return verdict(XDP_PASS, XLB_R_ICMP_REPLY, len);
	}
	if (e.r->mode != XLB_MODE_NAT && e.r->mode != XLB_MODE_FULLNAT)
		return -1;
	rc = route(ctx, &rt, e.r->vaddr,
		   e.r->flags & XLB_FLOW_F_REWRITE_DST ? e.r->caddr : pkt_daddr(&e.outer, fam), e.l3_len,
		   bpf_ktime_get_coarse_ns(), fam);
	if (fib_pass_reason(rc))
		return verdict(XDP_PASS, fib_pass_reason(rc), len);
	if (!ttl_ok(&e.outer, fam))
		return verdict(XDP_PASS, XLB_R_PASS_TTL, len);
	icmp_rewrite(&e, 1, fam);
	rc = xmit(ctx, &e.outer, &rt, rc, fam, &reason);
	return verdict(rc, reason, len);
}

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
		return process(ctx, &p, len, 4);
	return process(ctx, &p, len, 6);
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

/* Flags for an address inside the UDP pseudo-header. */
#define L4_CSUM_FLAGS(size) (BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | (size))

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
