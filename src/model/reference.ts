// A reference model of the data plane's decisions, written from the contract rather
// than from the C: given the plan (what the maps hold) and a frame, which verdict
// and reason the XDP program must reach, and where the rewritten fields are.
// Tests run the BPF program and this model side by side on hostile input.
import type { Reason } from './abi.js';
import { formatIP } from './addr.js';
import type { Plan, PlannedService } from './plan.js';

export interface Classified {
  action: 'pass' | 'drop';
  reason: Reason;
  service?: PlannedService;
  /** Offsets of the IPv4 and UDP headers, when the frame parsed that far. */
  l3?: number;
  l4?: number;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8]);

export interface ParsedUdp4 {
  l3: number;
  l4: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** The parser's contract (bpf/parsing.h): a UDP/IPv4 packet, or the reason it is not one. */
export function parseUdp4(f: Uint8Array): ParsedUdp4 | Reason {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b.length < 14) return 'pass_truncated';
  let proto = b.readUInt16BE(12);
  let l3 = 14;
  if (VLAN_TPIDS.has(proto)) {
    if (b.length < 18) return 'pass_truncated';
    proto = b.readUInt16BE(16);
    l3 = 18;
  }
  if (proto === ETH_P_IPV6) return 'pass_ipv6';
  if (proto !== ETH_P_IP) return 'pass_not_ip';
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
  const l4 = l3 + hlen;
  if (l4 + 8 > b.length) return 'pass_truncated';
  const ulen = b.readUInt16BE(l4 + 4);
  if (ulen < 8 || ulen > tot - hlen) return 'pass_malformed';
  return {
    l3,
    l4,
    src: formatIP(b.subarray(l3 + 12, l3 + 16)),
    dst: formatIP(b.subarray(l3 + 16, l3 + 20)),
    sport: b.readUInt16BE(l4),
    dport: b.readUInt16BE(l4 + 2),
  };
}

/** The service a destination maps to: exact address first, then the wildcard. */
export function lookupService(plan: Plan, dst: string, dport: number): PlannedService | undefined {
  if (!plan.servicePorts.has(dport)) return undefined;
  return (
    plan.services.find((s) => s.vip === dst && s.port === dport) ??
    plan.services.find((s) => s.vip === '*' && s.port === dport)
  );
}

/**
 * Classifies a frame. `isReply` answers whether the reply-translation table holds
 * the frame's tuple (the model does not own that table).
 */
export function classify(
  plan: Plan,
  frame: Uint8Array,
  isReply: (p: ParsedUdp4) => boolean = () => false,
): Classified {
  const p = parseUdp4(frame);
  if (typeof p === 'string') return { action: 'pass', reason: p };
  const service = lookupService(plan, p.dst, p.dport);
  if (service) {
    if (service.table.length === 0)
      return { action: 'drop', reason: 'drop_no_backend', service, l3: p.l3, l4: p.l4 };
    return { action: 'pass', reason: 'local', service, l3: p.l3, l4: p.l4 };
  }
  if (plan.backendPorts.has(p.sport) && isReply(p))
    return { action: 'pass', reason: 'reply', l3: p.l3, l4: p.l4 };
  return { action: 'pass', reason: 'pass_no_service', l3: p.l3, l4: p.l4 };
}

/** Byte ranges [start, end) that a local-mode rewrite may change. */
export function localRewriteRanges(l3: number, l4: number): [number, number][] {
  return [
    [l3 + 10, l3 + 12], // IPv4 header checksum
    [l3 + 16, l3 + 20], // destination address
    [l4 + 2, l4 + 4], // destination port
    [l4 + 6, l4 + 8], // UDP checksum
  ];
}
