/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * xlb_shared.h — the structs, enums and limits that cross the kernel/user boundary.
 *
 * Every struct here is read or written by the TypeScript control plane as described in
 * src/abi/abi.ts (the ABI's mirror: structs, enums, limits), through the codecs of
 * src/abi/codec.ts. The codecs are checked against this object's BTF by a test
 * (test/bpf/layout.test.ts) and at load time, so the two can never drift: when you
 * change a struct here, change src/abi/abi.ts and XLB_ABI_VERSION in the same commit.
 *
 * Conventions: addresses are 16 bytes (IPv4 uses the first 4, the rest is zero);
 * ports are in network byte order; padding is explicit and must be zero.
 */
#ifndef XLB_SHARED_H
#define XLB_SHARED_H

#include <linux/types.h>

/* The version of this ABI: the structs and enums here and the maps of xlb_maps.h (names,
 * types, keys, values). Bump it on any change to them, together with ABI_VERSION in
 * src/abi/abi.ts. The object carries it in its BTF (enum xlb_abi below), where userspace
 * reads it at load and refuses an object whose version differs from its own. */
#define XLB_ABI_VERSION 7

/* Limits; each can be overridden at build time (-DXLB_MAX_SERVICES=...). */
#ifndef XLB_MAX_SERVICES
#define XLB_MAX_SERVICES 4096 /* services (virtual address, port, protocol) */
#endif
#ifndef XLB_MAX_BACKENDS
#define XLB_MAX_BACKENDS 65536 /* backend slots, shared by all services */
#endif
#ifndef XLB_SCHED_ENTRIES
#define XLB_SCHED_ENTRIES 1048576 /* sched_flat: backend ids of every table (default; resized before load) */
#endif
#define XLB_MAX_SCHED_ENTRIES 268435456      /* sched_flat at most (8 bytes an entry: 2 GiB) */
#define XLB_SVC_SLOTS (2 * XLB_MAX_SERVICES) /* service values, two per service: live + next */
#define XLB_SVC_PORT_KEYS (2 * 65536)        /* svc_ports: port, + 65536 for IPv6 */
#define XLB_SVC_PORT_MULTI 0xffffffffu       /* svc_ports: several services, look up `services` */
#ifndef XLB_NH_CACHE_SIZE
#define XLB_NH_CACHE_SIZE 1024 /* per-CPU next-hop cache entries (power of two) */
#endif
#ifndef XLB_FLOW_CACHE_SIZE
#define XLB_FLOW_CACHE_SIZE 16384 /* per-CPU flow cache entries (power of two; 64 bytes each) */
#endif
#ifndef XLB_CACHE_NS
#define XLB_CACHE_NS 1000000000ULL /* how long next hops are trusted: 1 s */
#endif
#ifndef XLB_FLOW_CACHE_NS
#define XLB_FLOW_CACHE_NS 10000000ULL /* how long flow-cache entries are trusted: 10 ms */
#endif
#ifndef XLB_FLOW_ENTRIES
#define XLB_FLOW_ENTRIES 65536 /* default; resized by userspace before load */
#endif
#define XLB_PORT_BITMAP_BYTES 8192 /* one bit per UDP port */
#ifndef XLB_MAX_INTERFACES
#define XLB_MAX_INTERFACES 64 /* interfaces xlb may transmit on (tx_ports) */
#endif
#ifndef XLB_SNAT_TRIES
#define XLB_SNAT_TRIES 8 /* random source ports tried per new fullnat flow */
#endif

/* Address families as stored in keys (not AF_* values, which differ by OS). */
enum xlb_family {
	XLB_FAMILY_V4 = 4,
	XLB_FAMILY_V6 = 6,
};

/* How a service forwards a packet to its backend. */
enum xlb_mode {
	XLB_MODE_LOCAL = 0,   /* rewrite dst addr/port, hand to this host's stack */
	XLB_MODE_NAT = 1,     /* rewrite dst addr/port, route to the backend; replies come back through us */
	XLB_MODE_FULLNAT = 2, /* rewrite dst and src (snat addr, allocated port), route; replies come to us */
	XLB_MODE_DSR = 3,     /* rewrite the destination MAC only; backends answer the client directly */
};

/* How a backend is picked from a service's table. */
enum xlb_sched {
	XLB_SCHED_ROUND_ROBIN = 0, /* per-CPU cursor walks the table (round-robin, weighted: a sequence) */
	XLB_SCHED_MAGLEV = 1,      /* the flow hash indexes the table (a Maglev lookup table) */
};

/* What the flow hash covers (fields of struct xlb_flow_key; the others are zero). */
enum xlb_hash_key {
	XLB_HASH_KEY_5_TUPLE = 0,       /* src, dst, sport, dport, proto */
	XLB_HASH_KEY_SRC_ADDR = 1,      /* src: a client sticks to one backend */
	XLB_HASH_KEY_SRC_ADDR_PORT = 2, /* src, sport */
};

/* Port bitmaps (index into the port_bitmaps map). */
enum xlb_bitmap {
	XLB_BITMAP_BACKEND_PORTS = 0, /* source ports of backends whose replies need translation */
	XLB_BITMAP_COUNT = 1,
};

/*
 * Why a packet got the verdict it got. One per-CPU counter each (stats_reason).
 * Values are stable once released: append only (dashboards depend on them).
 */
enum xlb_reason {
	XLB_R_PASS_NOT_IP = 0,          /* not IPv4/IPv6 (ARP, ...) after at most one VLAN tag */
	XLB_R_PASS_IPV6_EXT = 1,        /* IPv6 with extension headers (incl. fragments) */
	XLB_R_PASS_NOT_UDP = 2,         /* IP but not UDP (TCP, ICMP, ...) */
	XLB_R_PASS_FRAGMENT = 3,        /* IPv4 fragment (MF set or offset > 0) */
	XLB_R_PASS_TRUNCATED = 4,       /* frame ends inside a header or before the IP length */
	XLB_R_PASS_MALFORMED = 5,       /* bad version/IHL/lengths, or IPv6 UDP without checksum */
	XLB_R_PASS_NO_SERVICE = 6,      /* UDP with no service for its address and port */
	XLB_R_LOCAL = 7,                /* balanced to a local backend, passed to the stack */
	XLB_R_REPLY = 8,                /* backend reply translated back to the service address */
	XLB_R_DROP_NO_BACKEND = 9,      /* service has no backend in its table */
	XLB_R_FLOW_UPDATE_FAILED = 10,  /* could not record the flow; forwarded anyway */
	XLB_R_NAT = 11,                 /* balanced in nat mode (routed to the backend) */
	XLB_R_FULLNAT = 12,             /* balanced in fullnat mode */
	XLB_R_DSR = 13,                 /* balanced in dsr mode (MAC rewrite) */
	XLB_R_NEIGH_RESOLVE = 14,       /* next hop's MAC unknown: handed to TC, the kernel resolves it */
	XLB_R_PASS_NO_ROUTE = 15,       /* no route / forwarding disabled on the interface: passed untouched */
	XLB_R_PASS_FRAG_NEEDED = 16,    /* larger than the egress MTU: passed untouched */
	XLB_R_PASS_TTL = 17,            /* TTL / hop limit would expire: passed untouched */
	XLB_R_PASS_FLOW_EXPIRED = 18,   /* reply to a flow that timed out: passed untouched */
	XLB_R_SNAT_EXHAUSTED = 19,      /* fullnat found no free source port for a new flow: dropped */
	XLB_R_PASS_EGRESS_NOT_XLB = 20, /* egress interface not in tx_ports: the stack forwards */
	XLB_R_ICMP_REPLY = 21,          /* ICMP error about a nat/fullnat flow translated back to its client */
	XLB_R_PASS_VLAN = 22,           /* VLAN-tagged, to a routed-mode service or a reply: passed untouched */
	XLB_R_PASS_MARTIAN = 23,        /* routed, from a source the kernel never forwards: passed untouched */
	XLB_R_COUNT = 24,
};

/* Service flags. */
#define XLB_SVC_F_WILDCARD (1 << 0) /* vip "*": any destination address */
#define XLB_SVC_F_AFFINITY (1 << 1) /* established flows keep their backend (fwd_flows) */

/* Backend flags. */
#define XLB_BE_F_ACTIVE (1 << 0) /* slot holds a live backend (flows to it stay valid) */

/* Flow flags. */
#define XLB_FLOW_F_REPLIED (1 << 0)     /* a reply was seen: the assured timeout applies */
#define XLB_FLOW_F_REWRITE_DST (1 << 1) /* fullnat: the reply's destination is rewritten too */

/* Key of the services map. */
struct xlb_svc_key {
	__u8 addr[16]; /* virtual address; all zero = any address (port-only service) */
	__be16 port;   /* virtual port */
	__u8 proto;    /* IPPROTO_UDP */
	__u8 family;   /* enum xlb_family */
};

/* A service, in svc_values: everything the fast path needs. Each service has two
 * slots; a change is written to the spare one, then svc_ports and services switch to
 * it (one 4-byte write each), so a packet sees the old or the new service whole. */
struct xlb_svc {
	__u32 id;                  /* service index: stats_svc, rr_cursor */
	__u32 table_off;           /* where its table starts in sched_flat */
	__u32 table_len;           /* entries in that table; 0 = no backend */
	__u8 mode;                 /* enum xlb_mode */
	__u8 sched;                /* enum xlb_sched */
	__u8 flags;                /* XLB_SVC_F_* */
	__u8 family;               /* enum xlb_family */
	__u16 timeout_unreplied_s; /* idle timeout of a flow without reply, seconds */
	__u16 timeout_assured_s;   /* idle timeout of a flow that saw a reply, seconds */
	__u16 snat_port_min;       /* fullnat source ports, host order, inclusive */
	__u16 snat_port_max;
	__u8 snat_addr[16]; /* fullnat source address */
	__u8 vaddr[16];     /* the service address; zero with XLB_SVC_F_WILDCARD */
	__u8 hash_key;      /* enum xlb_hash_key */
	__u8 pad[3];
	__u32 hash_seed; /* seeds the flow hash: nodes with one seed agree */
};

/* A backend; slots are immutable while any table refers to them. */
struct xlb_backend {
	__u8 addr[16];
	__be16 port;
	__u8 family; /* enum xlb_family */
	__u8 flags;  /* XLB_BE_F_* */
	__u32 svc_id;
};

/* A flow as seen on the wire: the key of both flow tables. */
struct xlb_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* Forward flow state (client tuple -> backend), for flows that stay on one backend:
 * services with flow affinity, and fullnat (its source port belongs to the flow). */
struct xlb_fwd {
	__u64 last_seen_ns; /* bpf_ktime_get_coarse_ns() of the last packet */
	__u32 backend_id;
	__u32 svc_id;
	__be16 snat_port;
	__u8 flags; /* XLB_FLOW_F_* */
	__u8 pad;
	__u16 timeout_unreplied_s;
	__u16 timeout_assured_s;
};

/* What a backend's reply must be rewritten to, so it appears to come from the service. */
struct xlb_rev_nat {
	__u64 last_seen_ns; /* last forward or reply packet */
	__u8 vaddr[16];     /* service address: the reply's new source address */
	__u8 caddr[16];     /* client address: the reply's new destination (fullnat) */
	__be16 vport;       /* service port: the reply's new source port */
	__be16 cport;       /* client port: the reply's new destination port (fullnat) */
	__u32 svc_id;
	__u32 backend_id;
	__u16 timeout_unreplied_s;
	__u16 timeout_assured_s;
	__u8 flags; /* XLB_FLOW_F_* */
	__u8 mode;  /* enum xlb_mode of the service */
	__u8 pad[6];
};

/* Packets and bytes; per-CPU, summed by userspace. */
struct xlb_counter {
	__u64 packets;
	__u64 bytes;
};

/* A cached route (per CPU, keyed by destination address): bpf_fib_lookup's answer. */
struct xlb_nh {
	__u8 addr[16];    /* destination */
	__u64 expires_ns; /* trusted until then */
	__u32 ifindex;    /* egress interface */
	__u16 mtu;        /* largest L3 length that route takes */
	__u8 family;
	__u8 pad;
	__u8 dmac[6];
	__u8 smac[6];
	__u8 pad2[4];
};

/* Flow cache kinds. */
#define XLB_FC_REPLY_OK 1 /* the reply translation of this reply tuple was confirmed */
#define XLB_FC_FLOW 2     /* a flow's backend (and fullnat source port) */

/* A per-CPU, direct-mapped cache of flows seen in the last XLB_FLOW_CACHE_NS, so that busy
 * flows skip the shared LRU tables. Briefly: the entries it stands for live in LRU tables,
 * and a full LRU table evicts what is not looked up. A busy flow looks its entries up (keeps
 * them recent, records them again if they were evicted) whenever its cache entry expires. */
struct xlb_flow_cache {
	struct xlb_flow_key key;
	__u64 expires_ns;
	__u32 backend_id;
	__u32 svc_id;
	__be16 snat_port;
	__u8 kind; /* XLB_FC_* */
	__u8 pad[5];
};

/* Handed from XDP to the TC ingress program in the packet's metadata when the next
 * hop's MAC is unknown: TC asks the kernel to resolve it (bpf_redirect_neigh). */
#define XLB_META_MAGIC 0x786c6231 /* "xlb1" */
struct xlb_meta {
	__u32 magic;
	__u32 ifindex; /* egress interface */
	__u8 nexthop[16];
	__u32 family; /* enum xlb_family */
};

/*
 * The ABI version and the limits that size the maps, as BTF constants: userspace reads
 * XLB_ABI_VERSION_ at load (a mismatch is refused) and test/bpf/layout.test.ts compares
 * every limit with src/abi/abi.ts, so each is written once, here.
 */
enum xlb_abi {
	XLB_ABI_VERSION_ = XLB_ABI_VERSION,
	XLB_ABI_MAX_SERVICES = XLB_MAX_SERVICES,
	XLB_ABI_MAX_BACKENDS = XLB_MAX_BACKENDS,
	XLB_ABI_SCHED_ENTRIES = XLB_SCHED_ENTRIES,
	XLB_ABI_MAX_SCHED_ENTRIES = XLB_MAX_SCHED_ENTRIES,
	XLB_ABI_SVC_SLOTS = XLB_SVC_SLOTS,
	XLB_ABI_SVC_PORT_KEYS = XLB_SVC_PORT_KEYS,
	XLB_ABI_NH_CACHE_SIZE = XLB_NH_CACHE_SIZE,
	XLB_ABI_FLOW_CACHE_SIZE = XLB_FLOW_CACHE_SIZE,
	XLB_ABI_PORT_BITMAP_BYTES = XLB_PORT_BITMAP_BYTES,
	XLB_ABI_MAX_INTERFACES = XLB_MAX_INTERFACES,
};

/* Names every enum above, and the structs only the programs use, in one type, so
 * that they reach the object's BTF, where userspace checks its copies of them
 * (test/bpf/layout.test.ts). */
struct xlb_abi_anchor {
	struct xlb_meta meta;
	struct xlb_nh nh;
	struct xlb_flow_cache fc;
	enum xlb_family family;
	enum xlb_mode mode;
	enum xlb_sched sched;
	enum xlb_hash_key hash_key;
	enum xlb_bitmap bitmap;
	enum xlb_reason reason;
	enum xlb_abi abi;
};

#endif /* XLB_SHARED_H */
