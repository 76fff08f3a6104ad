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
  /**
   * The verdict's reason. For the routed modes (nat, fullnat, dsr), routed replies and routed
   * ICMP errors it is the nominal one: the routing table may still make it neigh_resolve,
   * pass_no_route, pass_frag_needed or pass_ttl (and fullnat snat_exhausted).
   */
  reason: Reason;
  service?: PlannedService;
  /** Family and offsets of the IP and UDP headers, when the frame parsed that far. */
  family?: 4 | 6;
  l3?: number;
  l4?: number;
  /** An ICMP error about a live flow (reason icmp_reply): what it quotes, and the flow. */
  icmp?: IcmpError;
  flow?: LiveFlow;
  /** The backend id whose passive-health counter (icmp_unreach) this frame adds one to. */
  note?: number;
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
 * An ICMP error the data plane translates (bpf/icmp.h icmp_parse): an untagged IPv4 (no
 * options, not a fragment) destination unreachable or time exceeded, or ICMPv6 destination
 * unreachable, packet too big or time exceeded, quoting an IPv4 header without options or an
 * IPv6 header, and a UDP header, all of it inside the frame and the outer datagram's length.
 */
export interface IcmpError {
  family: 4 | 6;
  /** Offsets of the outer IP header, the ICMP header, the quoted IP and UDP headers. */
  l3: number;
  icmp: number;
  ql3: number;
  ql4: number;
  type: number;
  code: number;
  /** The outer addresses. */
  src: string;
  dst: string;
  /** The quoted datagram (as xlb sent it to the backend). */
  quoted: { src: string; dst: string; sport: number; dport: number };
}

export function parseIcmpError(f: Uint8Array): IcmpError | undefined {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (parseUdp4or6(b) !== 'pass_not_udp') return undefined;
  const proto = b.readUInt16BE(12);
  const l3 = 14;
  const v4 = proto === ETH_P_IP;
  if (!v4 && proto !== ETH_P_IPV6) return undefined; // tagged: not translated
  const ihl = v4 ? 20 : 40;
  const icmp = l3 + ihl;
  const ql3 = icmp + 8;
  const ql4 = ql3 + ihl;
  if (b.length < ql4 + 8) return undefined;
  const type = b[icmp] ?? 0;
  if (v4) {
    const ok =
      ((b[l3] ?? 0) & 0x0f) === 5 &&
      b[l3 + 9] === 1 &&
      (b.readUInt16BE(l3 + 6) & 0x3fff) === 0 &&
      (type === 3 || type === 11) &&
      ((b[ql3] ?? 0) & 0x0f) === 5 &&
      b[ql3 + 9] === 17 &&
      b.readUInt16BE(l3 + 2) >= ql4 + 8 - l3;
    if (!ok) return undefined;
  } else {
    const ok =
      b[l3 + 6] === 58 &&
      type >= 1 &&
      type <= 3 &&
      b[ql3 + 6] === 17 &&
      40 + b.readUInt16BE(l3 + 4) >= ql4 + 8 - l3;
    if (!ok) return undefined;
  }
  const addr = (at: number) => formatIP(b.subarray(at, at + (v4 ? 4 : 16)));
  const [s, d] = v4 ? [12, 16] : [8, 24];
  return {
    family: v4 ? 4 : 6,
    l3,
    icmp,
    ql3,
    ql4,
    type,
    code: b[icmp + 1] ?? 0,
    src: addr(l3 + s),
    dst: addr(l3 + d),
    quoted: {
      src: addr(ql3 + s),
      dst: addr(ql3 + d),
      sport: b.readUInt16BE(ql4),
      dport: b.readUInt16BE(ql4 + 2),
    },
  };
}

/** A live flow of the reply table (rev_nat), as far as the model needs it. */
export interface LiveFlow {
  mode: number;
  svcId: number;
  backendId: number;
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
 * Classifies a frame. `isReply` answers whether the reply-translation table holds the frame's
 * tuple, `icmpFlow` which live flow (if any) an ICMP error's quoted datagram belongs to (the
 * model does not own that table). For the routed modes the nominal verdict is given (the model
 * does not own the routing table either).
 */
export function classify(
  plan: Plan,
  frame: Uint8Array,
  isReply: (p: ParsedUdp) => boolean = () => false,
  icmpFlow: (e: IcmpError) => LiveFlow | undefined = () => undefined,
): Classified {
  const p = parseUdp4or6(frame);
  if (p === 'pass_not_udp') return classifyIcmp(plan, frame, icmpFlow);
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

/**
 * An ICMP error about a live local, nat or fullnat flow is translated (icmp_reply); anything
 * else that is not UDP passes. A port unreachable is evidence against a backend (passive
 * health) only when the backend itself sent it, about a live flow to that backend.
 */
function classifyIcmp(
  plan: Plan,
  frame: Uint8Array,
  icmpFlow: (e: IcmpError) => LiveFlow | undefined,
): Classified {
  const pass: Classified = { action: 'pass', reason: 'pass_not_udp' };
  const e = parseIcmpError(frame);
  if (!e || !plan.backendPorts.has(e.quoted.dport)) return pass;
  const flow = icmpFlow(e);
  if (!flow) return pass;
  const portUnreachable = e.family === 4 ? e.type === 3 && e.code === 3 : e.type === 1 && e.code === 4;
  const be = plan.backends.get(flow.backendId);
  const svc = plan.services.find((s) => s.id === flow.svcId);
  const evidence =
    portUnreachable &&
    e.src === e.quoted.dst &&
    be !== undefined &&
    be.service === svc?.name &&
    be.family === e.family &&
    be.address === e.quoted.dst &&
    be.port === e.quoted.dport;
  const note = evidence ? { note: flow.backendId } : {};
  if (flow.mode === Mode.dsr) return { ...pass, ...note };
  const routedFromMartian = flow.mode !== Mode.local && isMartianSource(e.src, e.family);
  if (routedFromMartian) return { action: 'pass', reason: 'pass_martian', ...note };
  return { action: 'pass', reason: 'icmp_reply', family: e.family, l3: e.l3, icmp: e, flow, ...note };
}

/** What a data-plane rewrite changes (besides checksums): see REWRITE_FIELDS. */
export type RewriteKind = 'local' | 'nat' | 'fullnat' | 'dsr' | 'reply_local' | 'reply_nat' | 'reply_fullnat';

/** Where the fields of a UDP packet are: [offset, length]. */
export function udpFields(family: 4 | 6, l3: number, l4: number) {
  const a = family === 4 ? 4 : 16;
  return {
    macs: [0, 12] as const,
    ttl: [l3 + (family === 4 ? 8 : 7), 1] as const,
    src: [l3 + (family === 4 ? 12 : 8), a] as const,
    dst: [l3 + (family === 4 ? 16 : 24), a] as const,
    sport: [l4, 2] as const,
    dport: [l4 + 2, 2] as const,
    /** The checksums a rewrite keeps right: the IPv4 header's (absent on IPv6) and UDP's. */
    checksums: [...(family === 4 ? [[l3 + 10, 2] as const] : []), [l4 + 6, 2] as const],
  };
}

/** The fields (besides checksums) each kind of rewrite changes. */
export const REWRITE_FIELDS: Record<
  RewriteKind,
  readonly ('macs' | 'ttl' | 'src' | 'dst' | 'sport' | 'dport')[]
> = {
  local: ['dst', 'dport'],
  nat: ['macs', 'ttl', 'dst', 'dport'],
  fullnat: ['macs', 'ttl', 'src', 'sport', 'dst', 'dport'],
  dsr: ['macs'],
  reply_local: ['src', 'sport'],
  reply_nat: ['macs', 'ttl', 'src', 'sport'],
  reply_fullnat: ['macs', 'ttl', 'src', 'sport', 'dst', 'dport'],
};

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
