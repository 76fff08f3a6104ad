/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * xlb_shared.h — the structs, enums and limits that cross the kernel/user boundary.
 *
 * Every struct here is read or written by the TypeScript control plane through
 * src/model/codecs.ts. The codecs are checked against this object's BTF by a test
 * (test/bpf/layout.test.ts) and at load time, so the two can never drift: when you
 * change a struct here, change the codec in the same commit.
 *
 * Conventions: addresses are 16 bytes (IPv4 uses the first 4, the rest is zero);
 * ports are in network byte order; padding is explicit and must be zero.
 */
#ifndef XLB_SHARED_H
#define XLB_SHARED_H

#include <linux/types.h>

/* Limits; each can be overridden at build time (-DXLB_MAX_SERVICES=...). */
#ifndef XLB_MAX_SERVICES
#define XLB_MAX_SERVICES 4096 /* services (virtual address, port, protocol) */
#endif
#ifndef XLB_MAX_BACKENDS
#define XLB_MAX_BACKENDS 65536 /* backend slots, shared by all services */
#endif
#ifndef XLB_TABLE_SLOTS
#define XLB_TABLE_SLOTS (2 * XLB_MAX_SERVICES) /* two per service: live + next */
#endif
#ifndef XLB_FLOW_ENTRIES
#define XLB_FLOW_ENTRIES 65536 /* default; resized by userspace before load */
#endif
#define XLB_PORT_BITMAP_BYTES 8192 /* one bit per UDP port */

/* Address families as stored in keys (not AF_* values, which differ by OS). */
enum xlb_family {
	XLB_FAMILY_V4 = 4,
	XLB_FAMILY_V6 = 6,
};

/* How a service forwards a packet to its backend. */
enum xlb_mode {
	XLB_MODE_LOCAL = 0, /* rewrite dst addr/port, hand to this host's stack */
};

/* How a backend is picked from a service's table. */
enum xlb_sched {
	XLB_SCHED_ROUND_ROBIN = 0, /* per-CPU cursor walks the table, one step per packet */
};

/* Port bitmaps (index into the port_bitmaps map). */
enum xlb_bitmap {
	XLB_BITMAP_SERVICE_PORTS = 0, /* destination ports that have a service */
	XLB_BITMAP_BACKEND_PORTS = 1, /* source ports of backends whose replies need translation */
	XLB_BITMAP_COUNT = 2,
};

/*
 * Why a packet got the verdict it got. One per-CPU counter each (stats_reason).
 * Values are stable: append only, never renumber (dashboards depend on them).
 */
enum xlb_reason {
	XLB_R_PASS_NOT_IP = 0,     /* ethertype is not IPv4 (ARP, ...) after at most one VLAN tag */
	XLB_R_PASS_IPV6 = 1,       /* IPv6: not balanced yet */
	XLB_R_PASS_NOT_UDP = 2,    /* IPv4 but not UDP (TCP, ICMP, ...) */
	XLB_R_PASS_FRAGMENT = 3,   /* IPv4 fragment (MF set or offset > 0) */
	XLB_R_PASS_TRUNCATED = 4,  /* frame ends inside a header or before IPv4 total length */
	XLB_R_PASS_MALFORMED = 5,  /* bad IPv4 version/IHL/total length or UDP length */
	XLB_R_PASS_NO_SERVICE = 6, /* UDP with no service for its address and port */
	XLB_R_LOCAL = 7,           /* balanced to a local backend, passed to the stack */
	XLB_R_REPLY = 8,           /* backend reply translated back to the service address */
	XLB_R_DROP_NO_BACKEND = 9, /* service has no backend in its table */
	XLB_R_FLOW_UPDATE_FAILED = 10, /* could not record the flow; balanced anyway */
	XLB_R_COUNT = 11,
};

/* Key of the services map. */
struct xlb_svc_key {
	__u8 addr[16]; /* virtual address; all zero = any address (port-only service) */
	__be16 port;   /* virtual port */
	__u8 proto;    /* IPPROTO_UDP */
	__u8 family;   /* enum xlb_family */
};

/* Value of the services map: everything the fast path needs, replaced as one. */
struct xlb_svc {
	__u32 id;         /* service index: stats_svc, rr_cursor */
	__u32 table_slot; /* index into sched_tables */
	__u32 table_len;  /* entries in that table; 0 = no backend */
	__u8 mode;        /* enum xlb_mode */
	__u8 sched;       /* enum xlb_sched */
	__u8 flags;       /* reserved, zero */
	__u8 pad;
};

/* A backend; slots are immutable while any table refers to them. */
struct xlb_backend {
	__u8 addr[16];
	__be16 port;
	__u8 family; /* enum xlb_family */
	__u8 flags;  /* reserved, zero */
	__u32 svc_id;
};

/* A flow as seen on the wire: the key of the reverse-translation table. */
struct xlb_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* What a backend's reply must be rewritten to, so it appears to come from the service. */
struct xlb_rev_nat {
	__u64 last_seen_ns; /* bpf_ktime_get_coarse_ns() of the last forward packet */
	__u8 vaddr[16];     /* service address: the reply's new source address */
	__be16 vport;       /* service port: the reply's new source port */
	__u16 pad;
	__u32 svc_id;
	__u32 backend_id;
	__u32 pad2;
};

/* Packets and bytes; per-CPU, summed by userspace. */
struct xlb_counter {
	__u64 packets;
	__u64 bytes;
};

/* Names every enum above in one type, so that they reach the object's BTF, where
 * userspace checks its copies of them (test/bpf/layout.test.ts). */
struct xlb_abi_enums {
	enum xlb_family family;
	enum xlb_mode mode;
	enum xlb_sched sched;
	enum xlb_bitmap bitmap;
	enum xlb_reason reason;
};

#endif /* XLB_SHARED_H */
