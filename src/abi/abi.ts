// The data plane's ABI as TypeScript sees it: the mirror of bpf/xlb_shared.h.
// Codecs are checked against the BPF object's BTF at load and by
// test/bpf/layout.test.ts; enums and limits are checked against the object by the
// same test. Change both sides in one commit.
import { struct } from './codec.js';

export const ABI_VERSION = 7;

/** How an XDP program is attached: the driver's hook, the generic (skb) one, or native
 * with a fallback to generic. Shared by the config (`xdp_mode`) and the kernel layer. */
export type XdpMode = 'auto' | 'native' | 'generic';

export const Limits = {
  maxServices: 4096,
  maxBackends: 65536,
  /** sched_flat's entries when it is not resized before load (Dataplane.load's schedEntries). */
  schedEntries: 1048576,
  /** sched_flat's entries at most (8 bytes each: 2 GiB). */
  maxSchedEntries: 268435456,
  portBitmapBytes: 8192,
  maxInterfaces: 64,
  svcSlots: 2 * 4096,
  svcPortKeys: 2 * 65536,
  nhCacheSize: 1024,
  flowCacheSize: 16384,
} as const;

/** svc_ports: several services on this port and family (look up `services`). */
export const SVC_PORT_MULTI = 0xffffffff;
/** svc_ports key of a port and family. */
export const svcPortKey = (port: number, family: FamilyNumber): number => port | (family === 6 ? 65536 : 0);

export const Family = { V4: 4, V6: 6 } as const;
export type FamilyNumber = (typeof Family)[keyof typeof Family];

export const Mode = { local: 0, nat: 1, fullnat: 2, dsr: 3 } as const;
export type ModeName = keyof typeof Mode;

/** enum xlb_sched: how the data plane walks a table (weighted round-robin is a round-robin table). */
export const Sched = { 'round-robin': 0, maglev: 1 } as const;
export type SchedName = keyof typeof Sched;

/** enum xlb_hash_key. */
export const HashKeyCode = { '5-tuple': 0, 'src-addr': 1, 'src-addr-port': 2 } as const;

export const Bitmap = { backendPorts: 0 } as const;

/** Verdict reasons, in enum xlb_reason order; the names are the stable metric labels. */
export const Reasons = [
  'pass_not_ip',
  'pass_ipv6_ext',
  'pass_not_udp',
  'pass_fragment',
  'pass_truncated',
  'pass_malformed',
  'pass_no_service',
  'local',
  'reply',
  'drop_no_backend',
  'flow_update_failed',
  'nat',
  'fullnat',
  'dsr',
  'neigh_resolve',
  'pass_no_route',
  'pass_frag_needed',
  'pass_ttl',
  'pass_flow_expired',
  'snat_exhausted',
  'pass_egress_not_xlb',
  'icmp_reply',
  'pass_vlan',
  'pass_martian',
] as const;

/** Reasons that count events on packets also counted under their verdict. */
export const EventReasons: readonly Reason[] = ['flow_update_failed'];
export type Reason = (typeof Reasons)[number];
export const Reason = Object.fromEntries(Reasons.map((r, i) => [r, i])) as { [K in Reason]: number };

export const IPPROTO_UDP = 17;

export const svcKey = struct('xlb_svc_key', {
  addr: { bytes: 16 },
  port: 'be16',
  proto: 'u8',
  family: 'u8',
});
export type SvcKey = ReturnType<typeof svcKey.decode>;

export const svcValue = struct('xlb_svc', {
  id: 'u32',
  table_off: 'u32',
  table_len: 'u32',
  mode: 'u8',
  sched: 'u8',
  flags: 'u8',
  family: 'u8',
  timeout_unreplied_s: 'u16',
  timeout_assured_s: 'u16',
  snat_port_min: 'u16',
  snat_port_max: 'u16',
  snat_addr: { bytes: 16 },
  vaddr: { bytes: 16 },
  hash_key: 'u8',
  pad: { bytes: 3 },
  hash_seed: 'u32',
});
/** Service flags. */
export const ServiceFlags = { wildcard: 1, affinity: 2 } as const;
export type SvcValue = ReturnType<typeof svcValue.decode>;

export const backendValue = struct('xlb_backend', {
  addr: { bytes: 16 },
  port: 'be16',
  family: 'u8',
  flags: 'u8',
  svc_id: 'u32',
});
export type BackendValue = ReturnType<typeof backendValue.decode>;

export const flowKey = struct('xlb_flow_key', {
  src: { bytes: 16 },
  dst: { bytes: 16 },
  sport: 'be16',
  dport: 'be16',
  proto: 'u8',
  family: 'u8',
  pad: { bytes: 2 },
});
export type FlowKey = ReturnType<typeof flowKey.decode>;

/** Backend flags. */
export const BackendFlags = { active: 1 } as const;
/** Flow flags. */
export const FlowFlags = { replied: 1, rewriteDst: 2 } as const;

export const fwdFlow = struct('xlb_fwd', {
  last_seen_ns: 'u64',
  backend_id: 'u32',
  svc_id: 'u32',
  snat_port: 'be16',
  flags: 'u8',
  pad: 'u8',
  timeout_unreplied_s: 'u16',
  timeout_assured_s: 'u16',
});
export type FwdFlow = ReturnType<typeof fwdFlow.decode>;

export const revNat = struct('xlb_rev_nat', {
  last_seen_ns: 'u64',
  vaddr: { bytes: 16 },
  caddr: { bytes: 16 },
  vport: 'be16',
  cport: 'be16',
  svc_id: 'u32',
  backend_id: 'u32',
  timeout_unreplied_s: 'u16',
  timeout_assured_s: 'u16',
  flags: 'u8',
  mode: 'u8',
  pad: { bytes: 6 },
});
export type RevNat = ReturnType<typeof revNat.decode>;

export const counter = struct('xlb_counter', { packets: 'u64', bytes: 'u64' });
export type Counter = ReturnType<typeof counter.decode>;

/** Every struct that crosses the boundary, for the layout check. */
export const xdpMeta = struct('xlb_meta', {
  magic: 'u32',
  ifindex: 'u32',
  nexthop: { bytes: 16 },
  family: 'u32',
});
export const META_MAGIC = 0x786c6231;

export const nextHop = struct('xlb_nh', {
  addr: { bytes: 16 },
  expires_ns: 'u64',
  ifindex: 'u32',
  mtu: 'u16',
  family: 'u8',
  pad: 'u8',
  dmac: { bytes: 6 },
  smac: { bytes: 6 },
  pad2: { bytes: 4 },
});

export const flowCache = struct('xlb_flow_cache', {
  key: { bytes: 40 },
  expires_ns: 'u64',
  backend_id: 'u32',
  svc_id: 'u32',
  snat_port: 'be16',
  kind: 'u8',
  pad: { bytes: 5 },
});

export const abiStructs = [
  svcKey,
  svcValue,
  backendValue,
  flowKey,
  fwdFlow,
  revNat,
  counter,
  xdpMeta,
  nextHop,
  flowCache,
] as const;
