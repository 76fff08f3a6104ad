// A reference model of the data plane's decisions, written from the contract rather
// than from the C: given the plan (what the maps hold) and a frame, which verdict
// and reason the XDP program must reach, and where the rewritten fields are.
// Tests run the BPF program and this model side by side on hostile input.
import { Mode, type Reason } from '../abi/abi.js';
import { addrTo16, formatIP } from '../model/addr.js';
import { flowHash, flowKeyBytes, tableIndex, type HashKey } from '../model/flowhash.js';
import type { Plan, PlannedBackend, PlannedService } from '../model/plan.js';

export interface Classified {
  action: 'pass' | 'drop';
  reason: Reason;
  service?: PlannedService;
  /** Family and offsets of the IP and UDP headers, when the frame parsed that far. */
  family?: 4 | 6;
  l3?: number;
  l4?: number;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8]);

export interface ParsedUdp {
  family: 4 | 6;
  /** The frame carries one VLAN tag (802.1Q or 802.1ad). */
  vlan: boolean;
  l3: number;
  l4: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** IPv6 next headers that are extension headers (bpf/parsing.h ipv6_is_ext). */
const IPV6_EXT = new Set([0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);

function parseUdp(b: Buffer, l4: number, room: number): number | Reason {
  if (l4 + 8 > b.length) return 'pass_truncated';
  const ulen = b.readUInt16BE(l4 + 4);
  if (ulen < 8 || ulen > room) return 'pass_malformed';
  return l4;
}

function parseIpv4(b: Buffer, l3: number): Omit<ParsedUdp, 'vlan'> | Reason {
  if (b.length < l3 + 20) return 'pass_truncated';
  const version = (b[l3] ?? 0) >> 4;
  const ihl = (b[l3] ?? 0) & 0x0f;
  if (version !== 4 || ihl < 5) return 'pass_malformed';
  const hlen = ihl * 4;
  const tot = b.readUInt16BE(l3 + 2);
  if (tot < hlen) return 'pass_malformed';
  if (l3 + tot > b.length) return 'pass_truncated';
  if (b[l3 + 9] !== 17) return 'pass_not_udp';
  if ((b.readUInt16BE(l3 + 6) & 0x3fff) !== 0) return 'pass_fragment';
  const l4 = parseUdp(b, l3 + hlen, tot - hlen);
  if (typeof l4 === 'string') return l4;
  return {
    family: 4,
    l3,
    l4,
    src: formatIP(b.subarray(l3 + 12, l3 + 16)),
    dst: formatIP(b.subarray(l3 + 16, l3 + 20)),
    sport: b.readUInt16BE(l4),
    dport: b.readUInt16BE(l4 + 2),
  };
}

function parseIpv6(b: Buffer, l3: number): Omit<ParsedUdp, 'vlan'> | Reason {
  if (b.length < l3 + 40) return 'pass_truncated';
  if ((b[l3] ?? 0) >> 4 !== 6) return 'pass_malformed';
  const plen = b.readUInt16BE(l3 + 4);
  if (l3 + 40 + plen > b.length) return 'pass_truncated';
  const nh = b[l3 + 6] ?? 0;
  if (nh !== 17) return IPV6_EXT.has(nh) ? 'pass_ipv6_ext' : 'pass_not_udp';
  const l4 = parseUdp(b, l3 + 40, plen);
  if (typeof l4 === 'string') return l4;
  if (b.readUInt16BE(l4 + 6) === 0) return 'pass_malformed'; // no UDP checksum on IPv6
  return {
    family: 6,
    l3,
    l4,
    src: formatIP(b.subarray(l3 + 8, l3 + 24)),
    dst: formatIP(b.subarray(l3 + 24, l3 + 40)),
    sport: b.readUInt16BE(l4),
    dport: b.readUInt16BE(l4 + 2),
  };
}

/** The parser's contract (bpf/parsing.h): a UDP packet over IPv4 or IPv6, or the reason it is not one. */
export function parseUdp4or6(f: Uint8Array): ParsedUdp | Reason {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b.length < 14) return 'pass_truncated';
  let proto = b.readUInt16BE(12);
  let l3 = 14;
  const vlan = VLAN_TPIDS.has(proto);
  if (vlan) {
    if (b.length < 18) return 'pass_truncated';
    proto = b.readUInt16BE(16);
    l3 = 18;
  }
  const p = proto === ETH_P_IP ? parseIpv4(b, l3) : proto === ETH_P_IPV6 ? parseIpv6(b, l3) : 'pass_not_ip';
  return typeof p === 'string' ? p : { ...p, vlan };
}

/**
 * A source address the kernel never forwards (bpf/rewrite.h addr_martian): IPv4 0/8, 127/8,
 * multicast, 255.255.255.255; IPv6 ::, ::1, multicast, link-local, IPv4-mapped.
 */
export function isMartianSource(addr: string, family: 4 | 6): boolean {
  const a = addrTo16(addr);
  if (family === 4)
    return a[0] === 0 || a[0] === 127 || ((a[0] ?? 0) & 0xf0) === 0xe0 || addr === '255.255.255.255';
  if (a[0] === 0xff || (a[0] === 0xfe && ((a[1] ?? 0) & 0xc0) === 0x80)) return true;
  if (a.subarray(0, 10).some((x) => x !== 0)) return false;
  const w2 = a.readUInt16BE(10);
  const low = a.readUInt32BE(12);
  return w2 === 0xffff || (w2 === 0 && (low === 0 || low === 1));
}

/** The service a destination maps to: exact address first, then the wildcard. */
export function lookupService(
  plan: Plan,
  p: Pick<ParsedUdp, 'family' | 'dst' | 'dport'>,
): PlannedService | undefined {
  if (!plan.servicePorts.has(p.dport)) return undefined;
  const on = (s: PlannedService) => s.port === p.dport && s.family === p.family;
  return (
    plan.services.find((s) => on(s) && s.vip === p.dst) ?? plan.services.find((s) => on(s) && s.vip === '*')
  );
}

const MODE_REASON: Record<number, Reason> = {
  [Mode.local]: 'local',
  [Mode.nat]: 'nat',
  [Mode.fullnat]: 'fullnat',
  [Mode.dsr]: 'dsr',
};

/**
 * Classifies a frame. `isReply` answers whether the reply-translation table holds
 * the frame's tuple (the model does not own that table). For the routed modes the
 * nominal verdict is given (the model does not own the routing table either).
 */
export function classify(
  plan: Plan,
  frame: Uint8Array,
  isReply: (p: ParsedUdp) => boolean = () => false,
): Classified {
  const p = parseUdp4or6(frame);
  if (typeof p === 'string') return { action: 'pass', reason: p };
  const at = { family: p.family, l3: p.l3, l4: p.l4 };
  const service = lookupService(plan, p);
  if (service) {
    // A tagged frame is balanced in local mode only: routed, it would leave with a foreign tag.
    // Nor is a frame routed from a source the kernel would not forward.
    if (service.mode !== Mode.local) {
      if (p.vlan) return { action: 'pass', reason: 'pass_vlan', service, ...at };
      if (isMartianSource(p.src, p.family)) return { action: 'pass', reason: 'pass_martian', service, ...at };
    }
    if (service.table.length === 0) return { action: 'drop', reason: 'drop_no_backend', service, ...at };
    return { action: 'pass', reason: MODE_REASON[service.mode] ?? 'local', service, ...at };
  }
  if (plan.backendPorts.has(p.sport) && isReply(p)) {
    return { action: 'pass', reason: p.vlan ? 'pass_vlan' : 'reply', ...at };
  }
  return { action: 'pass', reason: 'pass_no_service', ...at };
}

/** Byte ranges [start, end) that a local-mode rewrite may change. */
export function localRewriteRanges(family: 4 | 6, l3: number, l4: number): [number, number][] {
  const dst: [number, number] = family === 4 ? [l3 + 16, l3 + 20] : [l3 + 24, l3 + 40];
  return [
    ...(family === 4 ? [[l3 + 10, l3 + 12] as [number, number]] : []), // IPv4 header checksum
    dst, // destination address
    [l4 + 2, l4 + 4], // destination port
    [l4 + 6, l4 + 8], // UDP checksum
  ];
}

const HASH_KEY_NAMES: readonly HashKey[] = ['5-tuple', 'src-addr', 'src-addr-port'];

/**
 * The backend a service's maglev table gives a packet: the table entry at
 * tableIndex(flowHash(the packet's key, seed), length). What the data plane picks for
 * a new flow (and for every packet without flow affinity).
 */
export function maglevPick(service: PlannedService, plan: Plan, p: ParsedUdp): PlannedBackend | undefined {
  if (service.table.length === 0) return undefined;
  const key = flowKeyBytes(
    {
      family: p.family,
      src: addrTo16(p.src),
      dst: addrTo16(p.dst),
      sport: p.sport,
      dport: p.dport,
      proto: 17,
    },
    HASH_KEY_NAMES[service.hashKey] ?? '5-tuple',
  );
  const id = service.table[tableIndex(flowHash(key, service.hashSeed), service.table.length)];
  return id === undefined ? undefined : plan.backends.get(id);
}
