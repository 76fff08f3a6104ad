/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * xlb_maps.h — every map of the data plane, and why it exists.
 * Userspace finds them by name; sizes marked "resized" are set before load.
 */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb_shared.h"

/* Services by port and family: 0 = none, XLB_SVC_PORT_MULTI = several (look up
 * `services`), else 1 + the index of the only one in svc_values. Ports without a
 * service, the common case of non-matching traffic, cost one array load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SVC_PORT_KEYS);
	__type(key, __u32);
	__type(value, __u32);
} svc_ports SEC(".maps");

/* Service lookup for ports with several services: (address, port, protocol, family)
 * -> index in svc_values. A miss on the exact address is retried with the all-zero
 * address (port-only service). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, struct xlb_svc_key);
	__type(value, __u32);
} services SEC(".maps");

/* The services themselves, two slots each (see struct xlb_svc). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SVC_SLOTS);
	__type(key, __u32);
	__type(value, struct xlb_svc);
} svc_values SEC(".maps");

/* Every service's scheduling table (u32 backend ids, Maglev or round-robin), in one array.
 * Each service owns a block of two regions, the live one and the next; struct xlb_svc names
 * the live one (table_off, table_len), so a packet reads one entry with one array lookup.
 * A change writes the region no service value points at, then switches the service value:
 * nothing waits for running programs. BPF_F_MMAPABLE lets userspace write a region with one
 * copy. Resized before load (from the configuration). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, XLB_SCHED_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} sched_flat SEC(".maps");

/* Backend slots, indexed by backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
} backends SEC(".maps");

/* Round-robin cursor per service and CPU: no cross-CPU read-modify-write. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} rr_cursor SEC(".maps");

/* Reply translation: the reply's 5-tuple -> the service address it must come from.
 * LRU, so a full table evicts the coldest flow instead of failing. Resized. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_FLOW_ENTRIES);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_rev_nat);
} rev_nat SEC(".maps");

/* Forward flow state: client 5-tuple -> backend (and fullnat source port), for flows
 * that must stay on their backend. LRU; resized. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_FLOW_ENTRIES);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_fwd);
} fwd_flows SEC(".maps");

/* Interfaces XDP may redirect to (ifindex -> ifindex): the ones xlb is attached to. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XLB_MAX_INTERFACES);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

/* 65,536-bit maps (enum xlb_bitmap): packets from ports without a backend skip the
 * reply-table lookup. */
struct xlb_port_bitmap {
	__u8 bits[XLB_PORT_BITMAP_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_BITMAP_COUNT);
	__type(key, __u32);
	__type(value, struct xlb_port_bitmap);
} port_bitmaps SEC(".maps");

/* Per-CPU caches: next hops by destination (1 s), and flows seen in the last 10 ms. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_NH_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xlb_nh);
} nh_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_FLOW_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xlb_flow_cache);
} flow_cache SEC(".maps");

/* ICMP port-unreachable errors per backend id: the daemon counts them as failed health
 * probes of that backend. Only evidence counts (icmp.h): an error from the backend itself
 * about a live flow to it. An array, so forged errors can neither fill nor evict it;
 * userspace zeroes the counter of a backend id when it hands the id out. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} icmp_unreach SEC(".maps");

/* Counters: per verdict reason, per service id, per backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_R_COUNT);
	__type(key, __u32);
	__type(value, struct xlb_counter);
} stats_reason SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_counter);
} stats_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counter);
} stats_backend SEC(".maps");

#endif /* XLB_MAPS_H */
