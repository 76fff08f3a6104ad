/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * counters.h — the per-CPU counters (struct xlb_counter): a packet and its bytes per
 * verdict reason (stats_reason), per service (stats_svc) and per backend
 * (stats_backend). The data plane logs nothing per packet: every verdict goes through
 * verdict(), which counts its reason.
 */
#ifndef XLB_COUNTERS_H
#define XLB_COUNTERS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_maps.h"

/* Adds one packet of `bytes` bytes to entry `key` of a counter map. */
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

/* A packet balanced to backend `bid` of `svc`. */
static __always_inline void count_balanced(const struct xlb_svc *svc, __u32 bid, __u64 len)
{
	count(&stats_svc, svc->id, len);
	count(&stats_backend, bid, len);
}

#endif /* XLB_COUNTERS_H */
