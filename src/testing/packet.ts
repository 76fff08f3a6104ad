// Packet builder and parser for test fixtures: buildPacket() turns a PacketSpec into an Ethernet frame
// (lengths and checksums computed from scratch by checksum.ts), parsePacket() decodes one, and
// describePacket()/hexdiff() render frames for assertion messages.
import { hostPort } from '../util/endpoint.js';

import { formatIP, formatMac, parseIPv4, parseIPv6, parseMac } from '../model/addr.js';
import {
  internetChecksum,
  ipv4HeaderChecksum,
  onesComplementSum,
  pseudoHeader,
  transportChecksum,
  udpChecksum,
} from './checksum.js';

export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd } as const;
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

/**
 * What to build. Exactly one of ipv4/ipv6/arp, or none (then eth.type is required and the payload
 * follows the Ethernet header). With an IP header, at most one of udp/tcp/icmp; with none the payload
 * follows the IP header and ipv4.protocol/ipv6.nextHeader must be given. Unset lengths and checksums
 * are computed; the override fields exist to build malformed packets.
 */
export interface PacketSpec {
  /** Defaults: src 02:00:00:00:00:01, dst 02:00:00:00:00:02, type from L3. One VID = 802.1Q; two = QinQ. */
  eth?: { src?: string; dst?: string; type?: number; vlan?: number | number[] };
  ipv4?: {
    src: string;
    dst: string;
    /** Default 64. */
    ttl?: number;
    id?: number;
    tos?: number;
    df?: boolean;
    mf?: boolean;
    /** In 8-byte units. */
    fragOffset?: number;
    /** Default from udp/tcp/icmp. */
    protocol?: number;
    /** Zero-padded to a multiple of 4; at most 40 bytes. */
    options?: Uint8Array;
    ihl?: number;
    totalLength?: number;
    checksum?: number;
    version?: number;
  };
  ipv6?: {
    src: string;
    dst: string;
    /** Default 64. */
    hopLimit?: number;
    flowLabel?: number;
    trafficClass?: number;
    /** Default: first extension header's type, else from udp/tcp/icmp. */
    nextHeader?: number;
    /** Next header of the last extension header; default from udp/tcp/icmp, else 59 (no next header). */
    upperProtocol?: number;
    /** Generic 8-byte-aligned headers (0, 43, 60, ...); a fragment header (44) is 8 bytes, data <= 6. */
    extHeaders?: { type: number; data?: Uint8Array }[];
    /** Override, for malformed tests. */
    payloadLength?: number;
  };
  /** checksum: 'auto' (default, correct), 'zero' or a literal value. */
  udp?: { sport: number; dport: number; checksum?: 'auto' | 'zero' | number; length?: number };
  /** 20-byte header, window 65535, correct checksum; flags default 0x02 (SYN). */
  tcp?: { sport: number; dport: number; flags?: number; seq?: number };
  /** ICMPv4 with ipv4; ICMPv6 (next header 58, pseudo-header checksum) with ipv6. */
  icmp?: { type: number; code?: number; id?: number; seq?: number };
  /** senderMac defaults to eth.src; targetMac to zeros for requests, eth.dst for replies. */
  arp?: { op?: 1 | 2; senderMac?: string; senderIp: string; targetMac?: string; targetIp: string };
  /** A string is encoded as UTF-8. */
  payload?: Uint8Array | string;
  /** Pad the frame with zeros to at least this length; not counted in IP/UDP lengths. */
  padTo?: number;
  /** Cut the finished (padded) frame to this many bytes. */
  truncateTo?: number;
}

export interface ParsedPacket {
  eth: { dst: string; src: string; vlans: number[]; type: number };
  l3Offset: number;
  ipv4?: {
    src: string;
    dst: string;
    ttl: number;
    id: number;
    tos: number;
    protocol: number;
    ihl: number;
    totalLength: number;
    checksum: number;
    checksumValid: boolean;
    df: boolean;
    mf: boolean;
    fragOffset: number;
    options: Buffer;
  };
  ipv6?: {
    src: string;
    dst: string;
    hopLimit: number;
    nextHeader: number;
    payloadLength: number;
    flowLabel: number;
    trafficClass: number;
    extHeaders: number[];
    upperProtocol: number;
    /** Present when there is a fragment header; offset in 8-byte units. */
    fragment?: { offset: number; more: boolean; id: number };
  };
  arp?: { op: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string };
  /** Where the L4 header starts; absent for non-IP frames and non-first fragments. */
  l4Offset?: number;
  /** Offset of `payload` in the frame. */
  payloadOffset: number;
  udp?: { sport: number; dport: number; length: number; checksum: number; checksumValid: boolean };
  tcp?: {
    sport: number;
    dport: number;
    seq: number;
    flags: number;
    checksum: number;
    checksumValid: boolean;
  };
  icmp?: { type: number; code: number; id: number; seq: number; checksum: number; checksumValid: boolean };
  /**
   * Bytes after the L4 header (or after L3 when no known L4), bounded by IP/UDP lengths, so excluding
   * Ethernet padding. For ARP and other ethertypes, everything after the header, padding included.
   */
  payload: Buffer;
}

const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
const DEFAULT_DST_MAC = '02:00:00:00:00:02';

// ---------------------------------------------------------------------------------------------------
// Building

function checkInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new Error(`${name} must be an integer 0..${max}, got ${v}`);
  return v;
}

function toBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
}

function checkShape(spec: PacketSpec): void {
  const l3 = [spec.ipv4, spec.ipv6, spec.arp].filter((x) => x !== undefined).length;
  const l4 = [spec.udp, spec.tcp, spec.icmp].filter((x) => x !== undefined).length;
  if (l3 > 1) throw new Error('PacketSpec: give at most one of ipv4, ipv6, arp');
  if (l4 > 1) throw new Error('PacketSpec: give at most one of udp, tcp, icmp');
  if (l4 > 0 && !spec.ipv4 && !spec.ipv6) throw new Error('PacketSpec: udp/tcp/icmp need ipv4 or ipv6');
  if (l3 === 0 && spec.eth?.type === undefined)
    throw new Error('PacketSpec: eth.type is required without L3');
}

/** 802.1Q tag (TPID 0x8100); two VIDs make QinQ (802.1ad outer 0x88a8, then 0x8100). */
function vlanTags(vlan: number | number[] | undefined): Buffer {
  const vids = vlan === undefined ? [] : Array.isArray(vlan) ? vlan : [vlan];
  if (vids.length > 2) throw new Error(`eth.vlan: at most two tags, got ${vids.length}`);
  const tpids = vids.length === 2 ? [ETHERTYPE.QINQ, ETHERTYPE.VLAN] : [ETHERTYPE.VLAN];
  const out = Buffer.alloc(4 * vids.length);
  vids.forEach((vid, i) => {
    out.writeUInt16BE(tpids[i] ?? ETHERTYPE.VLAN, 4 * i);
    out.writeUInt16BE(checkInt('VLAN id', vid, 4095), 4 * i + 2); // PCP and DEI zero
  });
  return out;
}

function buildEth(eth: PacketSpec['eth'], l3Type: number | undefined): Buffer {
  const type = eth?.type ?? l3Type;
  if (type === undefined) throw new Error('PacketSpec: eth.type is required without L3');
  const typeField = Buffer.alloc(2);
  typeField.writeUInt16BE(checkInt('eth.type', type, 0xffff));
  return Buffer.concat([
    parseMac(eth?.dst ?? DEFAULT_DST_MAC),
    parseMac(eth?.src ?? DEFAULT_SRC_MAC),
    vlanTags(eth?.vlan),
    typeField,
  ]);
}

interface L3Context {
  family: 4 | 6;
  src: Buffer;
  dst: Buffer;
}

interface L4Built {
  protocol: number | undefined;
  bytes: Buffer;
}

function buildUdp(udp: NonNullable<PacketSpec['udp']>, ctx: L3Context, payload: Buffer): Buffer {
  const seg = Buffer.concat([Buffer.alloc(8), payload]);
  seg.writeUInt16BE(checkInt('udp.sport', udp.sport, 0xffff), 0);
  seg.writeUInt16BE(checkInt('udp.dport', udp.dport, 0xffff), 2);
  seg.writeUInt16BE(checkInt('udp.length', udp.length ?? seg.length, 0xffff), 4);
  const mode = udp.checksum ?? 'auto';
  const csum = mode === 'auto' ? udpChecksum(ctx.family, ctx.src, ctx.dst, seg) : mode === 'zero' ? 0 : mode;
  seg.writeUInt16BE(checkInt('udp.checksum', csum, 0xffff), 6);
  return seg;
}

function buildTcp(tcp: NonNullable<PacketSpec['tcp']>, ctx: L3Context, payload: Buffer): Buffer {
  const seg = Buffer.concat([Buffer.alloc(20), payload]);
  seg.writeUInt16BE(checkInt('tcp.sport', tcp.sport, 0xffff), 0);
  seg.writeUInt16BE(checkInt('tcp.dport', tcp.dport, 0xffff), 2);
  seg.writeUInt32BE(checkInt('tcp.seq', tcp.seq ?? 0, 0xffffffff), 4);
  seg[12] = 5 << 4; // data offset: 5 words, no options
  seg[13] = checkInt('tcp.flags', tcp.flags ?? 0x02, 0xff); // default SYN
  seg.writeUInt16BE(0xffff, 14); // window
  seg.writeUInt16BE(transportChecksum(ctx.family, ctx.src, ctx.dst, IPPROTO.TCP, seg, 16), 16);
  return seg;
}

/** ICMPv4 checksums the message alone (RFC 792); ICMPv6 adds the IPv6 pseudo-header (RFC 4443 2.3). */
function buildIcmp(icmp: NonNullable<PacketSpec['icmp']>, ctx: L3Context, payload: Buffer): Buffer {
  const seg = Buffer.concat([Buffer.alloc(8), payload]);
  seg[0] = checkInt('icmp.type', icmp.type, 0xff);
  seg[1] = checkInt('icmp.code', icmp.code ?? 0, 0xff);
  seg.writeUInt16BE(checkInt('icmp.id', icmp.id ?? 0, 0xffff), 4);
  seg.writeUInt16BE(checkInt('icmp.seq', icmp.seq ?? 0, 0xffff), 6);
  const csum =
    ctx.family === 4 ? internetChecksum(seg) : transportChecksum(6, ctx.src, ctx.dst, IPPROTO.ICMPV6, seg, 2);
  seg.writeUInt16BE(csum, 2);
  return seg;
}

function buildL4(spec: PacketSpec, ctx: L3Context, payload: Buffer): L4Built {
  if (spec.udp) return { protocol: IPPROTO.UDP, bytes: buildUdp(spec.udp, ctx, payload) };
  if (spec.tcp) return { protocol: IPPROTO.TCP, bytes: buildTcp(spec.tcp, ctx, payload) };
  if (spec.icmp) {
    const protocol = ctx.family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6;
    return { protocol, bytes: buildIcmp(spec.icmp, ctx, payload) };
  }
  return { protocol: undefined, bytes: payload };
}

/** IPv4 options are padded with zeros (End of Option List) to a multiple of 4 bytes, at most 40 (RFC 791). */
function padOptions(options: Uint8Array | undefined): Buffer {
  const raw = toBytes(options);
  const padded = Buffer.alloc(Math.ceil(raw.length / 4) * 4);
  raw.copy(padded);
  if (padded.length > 40) throw new Error(`ipv4.options: at most 40 bytes, got ${raw.length}`);
  return padded;
}

function buildIPv4(ip: NonNullable<PacketSpec['ipv4']>, l4: L4Built): Buffer {
  const options = padOptions(ip.options);
  const h = Buffer.alloc(20 + options.length);
  const version = checkInt('ipv4.version', ip.version ?? 4, 15);
  h[0] = (version << 4) | checkInt('ipv4.ihl', ip.ihl ?? h.length / 4, 15);
  h[1] = checkInt('ipv4.tos', ip.tos ?? 0, 0xff);
  h.writeUInt16BE(checkInt('ipv4.totalLength', ip.totalLength ?? h.length + l4.bytes.length, 0xffff), 2);
  h.writeUInt16BE(checkInt('ipv4.id', ip.id ?? 0, 0xffff), 4);
  const frag = checkInt('ipv4.fragOffset', ip.fragOffset ?? 0, 0x1fff);
  h.writeUInt16BE((ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | frag, 6);
  h[8] = checkInt('ipv4.ttl', ip.ttl ?? 64, 0xff);
  const protocol = ip.protocol ?? l4.protocol;
  if (protocol === undefined) throw new Error('PacketSpec: ipv4.protocol is required without udp/tcp/icmp');
  h[9] = checkInt('ipv4.protocol', protocol, 0xff);
  parseIPv4(ip.src).copy(h, 12);
  parseIPv4(ip.dst).copy(h, 16);
  options.copy(h, 20);
  h.writeUInt16BE(checkInt('ipv4.checksum', ip.checksum ?? ipv4HeaderChecksum(h), 0xffff), 10);
  return Buffer.concat([h, l4.bytes]);
}

/** Data (up to 6 bytes) for an IPv6 fragment header: offset in 8-byte units, M flag, identification. */
export function ipv6FragmentData(offset: number, more: boolean, id: number): Buffer {
  const d = Buffer.alloc(6);
  d.writeUInt16BE((checkInt('fragment offset', offset, 0x1fff) << 3) | (more ? 1 : 0), 0);
  d.writeUInt32BE(checkInt('fragment id', id, 0xffffffff), 2);
  return d;
}

/**
 * One extension header. The fragment header is fixed at 8 bytes (RFC 8200 4.5); the others use
 * the generic layout (RFC 8200 4.2-4.6): next header, length in 8-byte units minus one, data
 * zero-padded to a multiple of 8 (zero bytes are Pad1 options in hop-by-hop/destination options).
 */
function buildExtHeader(ext: { type: number; data?: Uint8Array }, next: number): Buffer {
  const data = toBytes(ext.data);
  const fixed = ext.type === IPPROTO.FRAGMENT;
  if (fixed && data.length > 6)
    throw new Error(`fragment header data is at most 6 bytes, got ${data.length}`);
  const len = fixed ? 8 : Math.max(8, Math.ceil((2 + data.length) / 8) * 8);
  if (len / 8 - 1 > 0xff) throw new Error(`extension header data too long: ${data.length} bytes`);
  const h = Buffer.alloc(len);
  h[0] = checkInt('next header', next, 0xff);
  h[1] = fixed ? 0 : len / 8 - 1;
  data.copy(h, 2);
  return h;
}

function buildIPv6(ip: NonNullable<PacketSpec['ipv6']>, l4: L4Built): Buffer {
  const exts = ip.extHeaders ?? [];
  const upper = ip.upperProtocol ?? l4.protocol ?? IPPROTO.NONE;
  const extBytes = exts.map((ext, i) => buildExtHeader(ext, exts[i + 1]?.type ?? upper));
  const first = ip.nextHeader ?? exts[0]?.type ?? l4.protocol;
  if (first === undefined) throw new Error('PacketSpec: ipv6.nextHeader is required without udp/tcp/icmp');
  const body = Buffer.concat([...extBytes, l4.bytes]);
  const h = Buffer.alloc(40);
  const tc = checkInt('ipv6.trafficClass', ip.trafficClass ?? 0, 0xff);
  const flow = checkInt('ipv6.flowLabel', ip.flowLabel ?? 0, 0xfffff);
  h.writeUInt32BE(((6 << 28) | (tc << 20) | flow) >>> 0, 0);
  h.writeUInt16BE(checkInt('ipv6.payloadLength', ip.payloadLength ?? body.length, 0xffff), 4);
  h[6] = checkInt('ipv6.nextHeader', first, 0xff);
  h[7] = checkInt('ipv6.hopLimit', ip.hopLimit ?? 64, 0xff);
  parseIPv6(ip.src).copy(h, 8);
  parseIPv6(ip.dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

function buildArp(arp: NonNullable<PacketSpec['arp']>, eth: PacketSpec['eth'], tail: Buffer): Buffer {
  const op = arp.op ?? 1;
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0); // hardware type: Ethernet
  b.writeUInt16BE(ETHERTYPE.IPV4, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  parseMac(arp.senderMac ?? eth?.src ?? DEFAULT_SRC_MAC).copy(b, 8);
  parseIPv4(arp.senderIp).copy(b, 14);
  parseMac(arp.targetMac ?? (op === 1 ? '00:00:00:00:00:00' : (eth?.dst ?? DEFAULT_DST_MAC))).copy(b, 18);
  parseIPv4(arp.targetIp).copy(b, 24);
  return Buffer.concat([b, tail]);
}

function l3Context(ip: { src: string; dst: string }, family: 4 | 6): L3Context {
  const parse = family === 4 ? parseIPv4 : parseIPv6;
  return { family, src: parse(ip.src), dst: parse(ip.dst) };
}

function buildL3(spec: PacketSpec, payload: Buffer): { type: number | undefined; bytes: Buffer } {
  if (spec.ipv4) {
    const l4 = buildL4(spec, l3Context(spec.ipv4, 4), payload);
    return { type: ETHERTYPE.IPV4, bytes: buildIPv4(spec.ipv4, l4) };
  }
  if (spec.ipv6) {
    const l4 = buildL4(spec, l3Context(spec.ipv6, 6), payload);
    return { type: ETHERTYPE.IPV6, bytes: buildIPv6(spec.ipv6, l4) };
  }
  if (spec.arp) return { type: ETHERTYPE.ARP, bytes: buildArp(spec.arp, spec.eth, payload) };
  return { type: undefined, bytes: payload };
}

/** Builds an Ethernet frame; see PacketSpec. Padding is added after all lengths are computed. */
export function buildPacket(spec: PacketSpec): Buffer {
  checkShape(spec);
  const l3 = buildL3(spec, toBytes(spec.payload));
  let frame = Buffer.concat([buildEth(spec.eth, l3.type), l3.bytes]);
  if (spec.padTo !== undefined && frame.length < spec.padTo) {
    frame = Buffer.concat([frame, Buffer.alloc(spec.padTo - frame.length)]);
  }
  if (spec.truncateTo !== undefined) frame = frame.subarray(0, spec.truncateTo);
  return frame;
}

// ---------------------------------------------------------------------------------------------------
// Parsing

function need(buf: Buffer, offset: number, len: number, what: string, end = buf.length): void {
  if (offset + len > end) {
    throw new Error(
      `truncated ${what}: need ${len} bytes at offset ${offset}, only ${Math.max(0, end - offset)}`,
    );
  }
}

/** RFC 1071 verification: the sum over the data including its checksum field is all ones. */
function verifies(...parts: Uint8Array[]): boolean {
  return onesComplementSum(...parts) === 0xffff;
}

function parseEth(buf: Buffer): { eth: ParsedPacket['eth']; l3Offset: number } {
  need(buf, 0, 14, 'Ethernet header');
  const vlans: number[] = [];
  let off = 12;
  let type = buf.readUInt16BE(off);
  while (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ) {
    need(buf, off, 6, 'VLAN tag');
    vlans.push(buf.readUInt16BE(off + 2) & 0x0fff);
    off += 4;
    type = buf.readUInt16BE(off);
  }
  const eth = { dst: formatMac(buf.subarray(0, 6)), src: formatMac(buf.subarray(6, 12)), vlans, type };
  return { eth, l3Offset: off + 2 };
}

interface L4Context {
  family: 4 | 6;
  src: Buffer;
  dst: Buffer;
  /** A first fragment: more upper-layer data follows, so TCP/ICMP checksums cannot be verified. */
  partial: boolean;
}

type L4Parsed = Pick<ParsedPacket, 'udp' | 'tcp' | 'icmp' | 'payload'>;

/**
 * RFC 768: a zero UDP checksum on IPv4 means "none" (valid); RFC 8200 8.1: on IPv6 it is invalid.
 * A datagram that is not all here (first fragment) cannot be verified and is reported invalid.
 */
function udpChecksumValid(seg: Buffer, length: number, checksum: number, ctx: L4Context): boolean {
  if (checksum === 0) return ctx.family === 4;
  if (seg.length < length) return false;
  return verifies(pseudoHeader(ctx.family, ctx.src, ctx.dst, IPPROTO.UDP, length), seg);
}

function parseUdp(buf: Buffer, off: number, end: number, ctx: L4Context): L4Parsed {
  need(buf, off, 8, 'UDP header', end);
  const length = buf.readUInt16BE(off + 4);
  const checksum = buf.readUInt16BE(off + 6);
  if (length < 8) throw new Error(`malformed UDP header: length ${length} < 8`);
  if (off + length > end && !ctx.partial) {
    throw new Error(`malformed UDP header: length ${length} exceeds the ${end - off} bytes of IP payload`);
  }
  const segEnd = Math.min(off + length, end);
  const checksumValid = udpChecksumValid(buf.subarray(off, segEnd), length, checksum, ctx);
  const udp = {
    sport: buf.readUInt16BE(off),
    dport: buf.readUInt16BE(off + 2),
    length,
    checksum,
    checksumValid,
  };
  return { udp, payload: buf.subarray(off + 8, segEnd) };
}

function parseTcp(buf: Buffer, off: number, end: number, ctx: L4Context): L4Parsed {
  need(buf, off, 20, 'TCP header', end);
  const hlen = (buf[off + 12] ?? 0) >> 4;
  if (hlen < 5) throw new Error(`malformed TCP header: data offset ${hlen} < 5`);
  need(buf, off, hlen * 4, 'TCP header with options', end);
  const pseudo = pseudoHeader(ctx.family, ctx.src, ctx.dst, IPPROTO.TCP, end - off);
  const tcp = {
    sport: buf.readUInt16BE(off),
    dport: buf.readUInt16BE(off + 2),
    seq: buf.readUInt32BE(off + 4),
    flags: buf[off + 13] ?? 0,
    checksum: buf.readUInt16BE(off + 16),
    checksumValid: !ctx.partial && verifies(pseudo, buf.subarray(off, end)),
  };
  return { tcp, payload: buf.subarray(off + hlen * 4, end) };
}

function parseIcmp(buf: Buffer, off: number, end: number, ctx: L4Context): L4Parsed {
  need(buf, off, 8, ctx.family === 4 ? 'ICMP header' : 'ICMPv6 header', end);
  const seg = buf.subarray(off, end);
  const parts =
    ctx.family === 4 ? [seg] : [pseudoHeader(6, ctx.src, ctx.dst, IPPROTO.ICMPV6, seg.length), seg];
  const icmp = {
    type: buf[off] ?? 0,
    code: buf[off + 1] ?? 0,
    id: buf.readUInt16BE(off + 4),
    seq: buf.readUInt16BE(off + 6),
    checksum: buf.readUInt16BE(off + 2),
    checksumValid: !ctx.partial && verifies(...parts),
  };
  return { icmp, payload: buf.subarray(off + 8, end) };
}

function parseL4(buf: Buffer, protocol: number, off: number, end: number, ctx: L4Context): L4Parsed {
  if (protocol === IPPROTO.UDP) return parseUdp(buf, off, end, ctx);
  if (protocol === IPPROTO.TCP) return parseTcp(buf, off, end, ctx);
  const icmp = ctx.family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6;
  if (protocol === icmp) return parseIcmp(buf, off, end, ctx);
  return { payload: buf.subarray(off, end) };
}

function parseIPv4Packet(buf: Buffer, l3: number): Partial<ParsedPacket> {
  need(buf, l3, 20, 'IPv4 header');
  const version = (buf[l3] ?? 0) >> 4;
  const ihl = (buf[l3] ?? 0) & 0x0f;
  if (version !== 4) throw new Error(`malformed IPv4 header: version ${version}`);
  if (ihl < 5) throw new Error(`malformed IPv4 header: IHL ${ihl} < 5`);
  need(buf, l3, ihl * 4, 'IPv4 header with options');
  const totalLength = buf.readUInt16BE(l3 + 2);
  if (totalLength < ihl * 4)
    throw new Error(`malformed IPv4 header: total length ${totalLength} < ${ihl * 4}`);
  need(buf, l3, totalLength, 'IPv4 packet (total length)');
  const header = buf.subarray(l3, l3 + ihl * 4);
  const flags = buf.readUInt16BE(l3 + 6);
  const ipv4 = {
    src: formatIP(buf.subarray(l3 + 12, l3 + 16)),
    dst: formatIP(buf.subarray(l3 + 16, l3 + 20)),
    ttl: buf[l3 + 8] ?? 0,
    id: buf.readUInt16BE(l3 + 4),
    tos: buf[l3 + 1] ?? 0,
    protocol: buf[l3 + 9] ?? 0,
    ihl,
    totalLength,
    checksum: buf.readUInt16BE(l3 + 10),
    checksumValid: verifies(header),
    df: (flags & 0x4000) !== 0,
    mf: (flags & 0x2000) !== 0,
    fragOffset: flags & 0x1fff,
    options: header.subarray(20),
  };
  const l4Offset = l3 + ihl * 4;
  const end = l3 + totalLength;
  // Only the first fragment carries the L4 header (RFC 791).
  if (ipv4.fragOffset !== 0) return { ipv4, payload: buf.subarray(l4Offset, end) };
  const ctx = {
    family: 4 as const,
    src: header.subarray(12, 16),
    dst: header.subarray(16, 20),
    partial: ipv4.mf,
  };
  return { ipv4, l4Offset, ...parseL4(buf, ipv4.protocol, l4Offset, end, ctx) };
}

/** Extension headers with the RFC 8200 4.2 length rule: hop-by-hop, routing, dest opts, mobility, HIP, shim6. */
const GENERIC_EXT_HEADERS: number[] = [IPPROTO.HOPOPTS, IPPROTO.ROUTING, IPPROTO.DSTOPTS, 135, 139, 140];

/** Length of the extension header at `off`, or undefined when `nh` is not an extension header. */
function extHeaderLength(buf: Buffer, nh: number, off: number): number | undefined {
  if (nh === IPPROTO.FRAGMENT) return 8;
  if (nh === IPPROTO.AH) return ((buf[off + 1] ?? 0) + 2) * 4; // RFC 4302 2.2: 4-byte units minus 2
  return GENERIC_EXT_HEADERS.includes(nh) ? ((buf[off + 1] ?? 0) + 1) * 8 : undefined;
}

function parseIPv6Packet(buf: Buffer, l3: number): Partial<ParsedPacket> {
  need(buf, l3, 40, 'IPv6 header');
  const word0 = buf.readUInt32BE(l3);
  if (word0 >>> 28 !== 6) throw new Error(`malformed IPv6 header: version ${word0 >>> 28}`);
  const payloadLength = buf.readUInt16BE(l3 + 4);
  need(buf, l3 + 40, payloadLength, 'IPv6 payload (payload length)');
  const end = l3 + 40 + payloadLength;
  const extHeaders: number[] = [];
  let fragment: { offset: number; more: boolean; id: number } | undefined;
  let nh = buf[l3 + 6] ?? 0;
  let off = l3 + 40;
  for (let len = extHeaderLength(buf, nh, off); len !== undefined; len = extHeaderLength(buf, nh, off)) {
    need(buf, off, len, `IPv6 extension header ${nh}`, end);
    if (nh === IPPROTO.FRAGMENT) {
      const fo = buf.readUInt16BE(off + 2);
      fragment = { offset: fo >> 3, more: (fo & 1) !== 0, id: buf.readUInt32BE(off + 4) };
    }
    extHeaders.push(nh);
    nh = buf[off] ?? 0;
    off += len;
  }
  const ipv6 = {
    src: formatIP(buf.subarray(l3 + 8, l3 + 24)),
    dst: formatIP(buf.subarray(l3 + 24, l3 + 40)),
    hopLimit: buf[l3 + 7] ?? 0,
    nextHeader: buf[l3 + 6] ?? 0,
    payloadLength,
    flowLabel: word0 & 0xfffff,
    trafficClass: (word0 >>> 20) & 0xff,
    extHeaders,
    upperProtocol: nh,
    ...(fragment ? { fragment } : {}),
  };
  // Non-first fragments and "no next header" carry no upper-layer header (RFC 8200 4.5, 4.7).
  const noUpperHeader = (fragment !== undefined && fragment.offset !== 0) || nh === IPPROTO.NONE;
  if (noUpperHeader) return { ipv6, payload: buf.subarray(off, end) };
  const ctx = { family: 6 as const, src: buf.subarray(l3 + 8, l3 + 24), dst: buf.subarray(l3 + 24, l3 + 40) };
  return { ipv6, l4Offset: off, ...parseL4(buf, nh, off, end, { ...ctx, partial: fragment?.more ?? false }) };
}

function parseArp(buf: Buffer, l3: number): Partial<ParsedPacket> {
  need(buf, l3, 28, 'ARP packet');
  if (buf.readUInt16BE(l3) !== 1 || buf.readUInt16BE(l3 + 2) !== ETHERTYPE.IPV4 || buf[l3 + 4] !== 6) {
    throw new Error('unsupported ARP: only Ethernet/IPv4 is parsed');
  }
  const arp = {
    op: buf.readUInt16BE(l3 + 6),
    senderMac: formatMac(buf.subarray(l3 + 8, l3 + 14)),
    senderIp: formatIP(buf.subarray(l3 + 14, l3 + 18)),
    targetMac: formatMac(buf.subarray(l3 + 18, l3 + 24)),
    targetIp: formatIP(buf.subarray(l3 + 24, l3 + 28)),
  };
  return { arp, payload: buf.subarray(l3 + 28) };
}

/** Decodes a frame; throws an Error naming the layer on truncated or malformed input. */
export function parsePacket(frame: Uint8Array): ParsedPacket {
  const buf = Buffer.from(frame); // a copy: results never alias the caller's bytes
  const { eth, l3Offset } = parseEth(buf);
  let rest: Partial<ParsedPacket>;
  if (eth.type === ETHERTYPE.IPV4) rest = parseIPv4Packet(buf, l3Offset);
  else if (eth.type === ETHERTYPE.IPV6) rest = parseIPv6Packet(buf, l3Offset);
  else if (eth.type === ETHERTYPE.ARP) rest = parseArp(buf, l3Offset);
  else rest = { payload: buf.subarray(l3Offset) };
  const payload = rest.payload ?? buf.subarray(buf.length);
  return { eth, l3Offset, ...rest, payload, payloadOffset: payload.byteOffset - buf.byteOffset };
}

// ---------------------------------------------------------------------------------------------------
// Rendering for assertion messages

const TCP_FLAGS = 'FSRPAUEC';

function describeL4(p: ParsedPacket): string {
  const len = `len ${p.payload.length}`;
  if (p.udp)
    return `udp ${len} csum ${p.udp.checksumValid ? 'ok' : 'BAD'}${p.udp.checksum === 0 ? ' (none)' : ''}`;
  if (p.tcp) {
    const flags = [...TCP_FLAGS].filter((_, i) => (p.tcp?.flags ?? 0) & (1 << i)).join('');
    return `tcp [${flags}] seq ${p.tcp.seq} ${len} csum ${p.tcp.checksumValid ? 'ok' : 'BAD'}`;
  }
  if (p.icmp) {
    const name = p.ipv6 ? 'icmp6' : 'icmp';
    return `${name} type ${p.icmp.type} code ${p.icmp.code} ${len} csum ${p.icmp.checksumValid ? 'ok' : 'BAD'}`;
  }
  const proto = p.ipv4?.protocol ?? p.ipv6?.upperProtocol;
  return `proto ${proto} ${len}`;
}

function endpoint(addr: string, port: number | undefined, v6: boolean): string {
  return port === undefined ? addr : hostPort(addr, port, v6 ? 6 : 4);
}

function describeIP(p: ParsedPacket): string {
  const sport = p.udp?.sport ?? p.tcp?.sport;
  const dport = p.udp?.dport ?? p.tcp?.dport;
  const parts: string[] = [];
  if (p.ipv4) {
    const ip = p.ipv4;
    parts.push(`IPv4 ${endpoint(ip.src, sport, false)} > ${endpoint(ip.dst, dport, false)} ttl ${ip.ttl}`);
    if (ip.mf || ip.fragOffset) parts.push(`frag id ${ip.id} off ${ip.fragOffset * 8}${ip.mf ? ' +' : ''}`);
    if (!ip.checksumValid) parts.push('ip-csum BAD');
  } else if (p.ipv6) {
    const ip = p.ipv6;
    parts.push(
      `IPv6 ${endpoint(ip.src, sport, true)} > ${endpoint(ip.dst, dport, true)} hlim ${ip.hopLimit}`,
    );
    if (ip.extHeaders.length) parts.push(`ext [${ip.extHeaders.join(',')}]`);
    const f = ip.fragment;
    if (f) parts.push(`frag id ${f.id} off ${f.offset * 8}${f.more ? ' +' : ''}`);
  }
  parts.push(describeL4(p));
  return parts.join(' ');
}

function describeParsed(p: ParsedPacket): string {
  const vlan = p.eth.vlans.length ? `vlan ${p.eth.vlans.join('.')} ` : '';
  if (p.ipv4 || p.ipv6) return vlan + describeIP(p);
  if (p.arp) {
    const a = p.arp;
    const op = a.op === 1 ? 'request' : a.op === 2 ? 'reply' : `op ${a.op}`;
    return `${vlan}ARP ${op} ${a.senderIp} (${a.senderMac}) > ${a.targetIp} (${a.targetMac})`;
  }
  return `${vlan}ethertype 0x${p.eth.type.toString(16).padStart(4, '0')} len ${p.payload.length}`;
}

/** One-line summary, e.g. `vlan 10 IPv4 192.0.2.1:1234 > 198.51.100.1:53 ttl 64 udp len 12 csum ok`. */
export function describePacket(frame: Uint8Array): string {
  try {
    return describeParsed(parsePacket(frame));
  } catch (e) {
    return `unparseable ${frame.length}-byte frame: ${(e as Error).message}`;
  }
}

function hexRow(b: Uint8Array, from: number, to: number, diffs: Set<number>): string {
  const cells: string[] = [];
  for (let i = from; i < to; i++) {
    const x = b[i];
    const hex = x === undefined ? '--' : x.toString(16).padStart(2, '0');
    cells.push(diffs.has(i) ? `[${hex}]` : hex);
  }
  return cells.join(' ');
}

/** Which layer of `frame` contains `offset`, for orientation in diffs. */
function layerAt(frame: Uint8Array, offset: number): string {
  try {
    const p = parsePacket(frame);
    if (offset < p.l3Offset) return 'Ethernet';
    const l3 = p.ipv4 ? 'IPv4' : p.ipv6 ? 'IPv6' : p.arp ? 'ARP' : 'L3';
    if (p.l4Offset === undefined || offset < p.l4Offset) return `${l3} header`;
    const l4 = p.udp ? 'UDP' : p.tcp ? 'TCP' : p.icmp ? 'ICMP' : 'L4';
    if (offset < p.payloadOffset) return `${l4} header`;
    return offset < p.payloadOffset + p.payload.length ? 'payload' : 'trailer/padding';
  } catch {
    return 'unparsed';
  }
}

/** Differing offsets of two frames (the first 8) with hex context around the first one. */
export function hexdiff(a: Uint8Array, b: Uint8Array, context = 8): string {
  const diffs: number[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) diffs.push(i);
  if (diffs.length === 0) return `frames are identical (${a.length} bytes)`;
  const first = diffs[0] ?? 0;
  const shown = new Set(diffs);
  const from = Math.max(0, first - context);
  const to = Math.min(n, first + context + 1);
  const lengths = a.length === b.length ? `${a.length} bytes` : `lengths ${a.length} vs ${b.length}`;
  const list = diffs.slice(0, 8).map((o) => `${o} (0x${o.toString(16)})`);
  const more = diffs.length > 8 ? ` and ${diffs.length - 8} more` : '';
  return [
    `frames differ (${lengths}) at ${diffs.length} offsets: ${list.join(', ')}${more}; first in ${layerAt(a, first)}`,
    `  a @${from}: ${hexRow(a, from, to, shown)}`,
    `  b @${from}: ${hexRow(b, from, to, shown)}`,
  ].join('\n');
}
