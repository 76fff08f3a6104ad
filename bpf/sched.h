/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sched.h — choosing a packet's backend: the flow hash (over the fields the service's
 * enum xlb_hash_key names), a pick from the service's scheduling table (Maglev by hash,
 * or the per-CPU round-robin cursor), whether a backend is still live for a flow, and
 * flow affinity (a flow keeps its backend: flow cache, then fwd_flows, else a new pick).
 */
#ifndef XLB_SCHED_H
#define XLB_SCHED_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"
#include "parsing.h"
#include "rewrite.h"
#include "hash.h"
#include "counters.h"
#include "flows.h"

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

/* Picks the backend of a service for this packet; NULL when it has none. The entry is
 * sched_flat[table_off + idx] with idx < table_len: one array lookup, whose bounds check
 * (key < max_entries) is the only one it needs. */
static __always_inline const struct xlb_backend *pick(struct xlb_pkt *p, const struct xlb_svc_key *vip,
						      const struct xlb_svc *svc, __u32 *bid_out, const int fam)
{
	__u32 n = svc->table_len, idx, *cur, *bid;

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

	idx += svc->table_off;
	bid = bpf_map_lookup_elem(&sched_flat, &idx);
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
	if (fc_hit(c, &fk, XLB_FC_FLOW, svc, now)) {
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
							const struct xlb_svc *svc, __u32 *bid, __u64 now, const int fam)
{
	if (svc->flags & XLB_SVC_F_AFFINITY)
		return affine_pick(p, vip, svc, bid, now, fam);
	return pick(p, vip, svc, bid, fam);
}

#endif /* XLB_SCHED_H */
