/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * flows.h — the flow tables: idle timeouts, the per-CPU flow cache (slot, hit, fill),
 * the keys of fwd_flows (client tuple) and rev_nat (reply tuple), recording the reply
 * translation of a flow, and fullnat's forward state with its source-port allocation.
 *
 * Every entry carries the time it was last used and the two idle timeouts of its
 * service (unreplied, assured: like conntrack's UDP timeouts); an entry past its
 * timeout counts as absent. Timestamps are refreshed at most once per
 * XLB_FLOW_REFRESH_NS, so a busy flow does not write a shared cache line per packet.
 */
#ifndef XLB_FLOWS_H
#define XLB_FLOWS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"
#include "rewrite.h"
#include "hash.h"
#include "counters.h"

#define XLB_FLOW_REFRESH_NS XLB_CACHE_NS /* 1 s */
#define XLB_NS_PER_S 1000000000ULL

static __always_inline int flow_fresh(__u64 now, __u64 last, __u8 flags, __u16 unreplied_s, __u16 assured_s)
{
	__u64 timeout = (flags & XLB_FLOW_F_REPLIED) ? assured_s : unreplied_s;

	return now - last <= timeout * XLB_NS_PER_S;
}

static __always_inline int rev_fresh(const struct xlb_rev_nat *r, __u64 now)
{
	return flow_fresh(now, r->last_seen_ns, r->flags, r->timeout_unreplied_s, r->timeout_assured_s);
}

/* This CPU's flow-cache slot for a key. */
static __always_inline struct xlb_flow_cache *fc_slot(const struct xlb_flow_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0x811c9dc5u, slot;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = mix32(h, w[i]);
	slot = fmix32(h) & (XLB_FLOW_CACHE_SIZE - 1);
	return bpf_map_lookup_elem(&flow_cache, &slot);
}

static __always_inline int fkey_eq(const struct xlb_flow_key *a, const struct xlb_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/* Whether cache slot `c` (NULL: no slot) holds key `k` as an entry of `kind` (XLB_FC_*)
 * for service `svc`, still trusted at `now`. */
static __always_inline int fc_hit(const struct xlb_flow_cache *c, const struct xlb_flow_key *k, __u8 kind,
				  const struct xlb_svc *svc, __u64 now)
{
	return c && c->kind == kind && now < c->expires_ns && c->svc_id == svc->id && fkey_eq(&c->key, k);
}

static __always_inline void fc_fill(struct xlb_flow_cache *c, const struct xlb_flow_key *k, __u8 kind, __u32 svc_id,
				    __u32 bid, __be16 snat_port, __u64 now)
{
	if (!c)
		return;
	__builtin_memcpy(&c->key, k, sizeof(*k));
	c->kind = kind;
	c->svc_id = svc_id;
	c->backend_id = bid;
	c->snat_port = snat_port;
	c->expires_ns = now + XLB_FLOW_CACHE_NS;
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

/* The key under which a reply from `be` to (addr, port) is found. */
static __always_inline void reply_key(struct xlb_flow_key *k, const struct xlb_backend *be, const __u8 *addr,
				      __be16 port, const int fam)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->src, be->addr, 16);
	addr_load(k->dst, addr, fam);
	k->sport = be->port;
	k->dport = port;
	k->proto = IPPROTO_UDP;
	k->family = fam;
}

/* XLB_FLOW_F_REPLIED when the reply entry of this packet's flow to `be` saw a reply. */
static __always_inline __u8 rev_replied(struct xlb_pkt *p, const struct xlb_backend *be, const int fam)
{
	struct xlb_flow_key k;
	struct xlb_rev_nat *r;

	reply_key(&k, be, pkt_saddr(p, fam), p->udp->source, fam);
	r = bpf_map_lookup_elem(&rev_nat, &k);
	return r ? (r->flags & XLB_FLOW_F_REPLIED) : 0;
}

/* Makes sure the replies of a (local or nat) flow are translated: records or
 * refreshes reply tuple -> service address. A flow this CPU confirmed within
 * XLB_FLOW_CACHE_NS skips the shared table (not for wildcard services: their address
 * varies). */
static __always_inline void rev_record(struct xlb_pkt *p, const struct xlb_svc_key *vip, const struct xlb_svc *svc,
				       __u32 bid, const struct xlb_backend *be, __u64 now, const int fam)
{
	struct xlb_flow_cache *c = NULL;
	struct xlb_flow_key k;
	struct xlb_rev_nat *r;

	reply_key(&k, be, pkt_saddr(p, fam), p->udp->source, fam);
	if (!(svc->flags & XLB_SVC_F_WILDCARD)) {
		c = fc_slot(&k);
		if (fc_hit(c, &k, XLB_FC_REPLY_OK, svc, now) && c->backend_id == bid)
			return;
	}
	r = bpf_map_lookup_elem(&rev_nat, &k);
	if (r && r->svc_id == svc->id && r->backend_id == bid && r->vport == vip->port &&
	    addr_eq(r->vaddr, vip->addr, fam) && rev_fresh(r, now)) {
		if (now - r->last_seen_ns > XLB_FLOW_REFRESH_NS)
			r->last_seen_ns = now;
		fc_fill(c, &k, XLB_FC_REPLY_OK, svc->id, bid, 0, now);
		return;
	}

	struct xlb_rev_nat v = {
		.last_seen_ns = now,
		.vport = vip->port,
		.cport = p->udp->source,
		.svc_id = svc->id,
		.backend_id = bid,
		.timeout_unreplied_s = svc->timeout_unreplied_s,
		.timeout_assured_s = svc->timeout_assured_s,
		.mode = svc->mode,
	};
	__builtin_memcpy(v.vaddr, vip->addr, 16);
	addr_load(v.caddr, pkt_saddr(p, fam), fam);
	if (bpf_map_update_elem(&rev_nat, &k, &v, BPF_ANY)) {
		count(&stats_reason, XLB_R_FLOW_UPDATE_FAILED, 0);
		return;
	}
	fc_fill(c, &k, XLB_FC_REPLY_OK, svc->id, bid, 0, now);
}

/*
 * Claims a fullnat source port for a new flow: tries random ports of the service's
 * range, inserting reply tuple -> client with BPF_NOEXIST so that two flows can never
 * share one (an entry that has timed out is taken over). Returns the port (network
 * order), or 0 when every try collided.
 */
static __always_inline __be16 snat_claim(const struct xlb_svc *svc, const struct xlb_backend *be,
					 const struct xlb_rev_nat *v, __u64 now)
{
	__u32 range = (__u32)svc->snat_port_max - svc->snat_port_min + 1;
	struct xlb_flow_key k = {};
	struct xlb_rev_nat *old;

	__builtin_memcpy(k.src, be->addr, 16);
	__builtin_memcpy(k.dst, svc->snat_addr, 16);
	k.sport = be->port;
	k.proto = IPPROTO_UDP;
	k.family = svc->family;
	for (int i = 0; i < XLB_SNAT_TRIES; i++) {
		k.dport = bpf_htons(svc->snat_port_min + bpf_get_prandom_u32() % range);
		if (bpf_map_update_elem(&rev_nat, &k, v, BPF_NOEXIST) == 0)
			return k.dport;
		old = bpf_map_lookup_elem(&rev_nat, &k);
		if (old && !rev_fresh(old, now) && bpf_map_update_elem(&rev_nat, &k, v, BPF_ANY) == 0)
			return k.dport;
	}
	return 0;
}

/* The reply entry of a fullnat flow's source port while it still belongs to this flow (its
 * service and client); NULL when it is gone (a full LRU table evicts) or another flow took
 * the port since. A flow must not send from a port whose replies go to someone else. */
static __always_inline struct xlb_rev_nat *snat_entry(const struct xlb_svc *svc, const struct xlb_backend *be,
						      __be16 port, const __u8 *caddr, __be16 cport, const int fam)
{
	struct xlb_flow_key k = {};
	struct xlb_rev_nat *r;

	__builtin_memcpy(k.src, be->addr, 16);
	__builtin_memcpy(k.dst, svc->snat_addr, 16);
	k.sport = be->port;
	k.dport = port;
	k.proto = IPPROTO_UDP;
	k.family = fam;
	r = bpf_map_lookup_elem(&rev_nat, &k);
	if (!r || r->svc_id != svc->id || r->cport != cport || !addr_eq(r->caddr, caddr, fam))
		return NULL;
	return r;
}

#endif /* XLB_FLOWS_H */
