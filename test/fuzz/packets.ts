// The packet fuzzer: random bytes and structure-aware mutations of valid frames of every mode
// and family (client datagrams to local, nat, fullnat and dsr services over IPv4 and IPv6,
// backends' replies, ICMP errors quoting live flows) run through the loaded xlb_xdp with
// BPF_PROG_TEST_RUN, inside a fixture namespace whose routes and neighbours bpf_fib_lookup reads.
// Every frame is checked:
//   aborted    never XDP_ABORTED (nor an action XDP has no meaning for)
//   counters   the verdict counters move by exactly one (events such as flow_update_failed aside)
//   untouched  a frame passed or dropped without translation leaves bit for bit
//   model      the verdict agrees with the reference model (src/testing/reference.ts) and, for the
//              routed paths, with the fixture's routing table (route, neighbour, MTU, TTL)
//   rewrite    a rewritten frame differs from its input exactly in the fields its verdict rewrites,
//              to the values it must (a backend of the service, the snat address and a port of its
//              range, the reply's service address, the MACs of the next hop, TTL - 1, metadata)
//   checksum   every checksum of a rewritten frame is as valid as it was: the one's complement sum
//              of the IPv4 header, the UDP datagram (with its pseudo-header), the ICMP message and
//              the quoted headers is unchanged (so a valid one stays valid), a zero UDP checksum
//              stays zero
//   lengths    IP total / payload length and UDP length of a rewritten frame fit the frame
//   icmp_note  the passive-health counter (icmp_unreach) moves exactly when the model says
// `npm run fuzz` (test/fuzz/main.ts) and test/bpf/fuzz.test.ts drive it.
import {
  EventReasons,
  FlowFlags,
  META_MAGIC,
  Mode,
  Reason,
  Reasons,
  xdpMeta,
  type RevNat,
} from '../../src/abi/abi.js';
import { perCpuSums } from '../../src/control/stats.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { testRun, xdpContext, XdpAction } from '../../src/kernel/program.js';
import { FX } from '../../src/lab/fixture-net.js';
import { addrTo16, formatIP, parseMac } from '../../src/model/addr.js';
import type { Plan, PlannedService } from '../../src/model/plan.js';
import { onesComplementSum, pseudoHeader } from '../../src/testing/checksum.js';
import { buildPacket, ipv6FragmentData, type PacketSpec } from '../../src/testing/packet.js';
import {
  classify,
  udpFields,
  REWRITE_FIELDS,
  type Classified,
  type IcmpError,
  type LiveFlow,
  type ParsedUdp,
  type RewriteKind,
} from '../../src/testing/reference.js';
import { fixtureLb, type FixtureLb } from '../helpers/bpf.js';
import { int, pick, rng } from '../helpers/random.js';

type Fam = 4 | 6;
type ReasonName = (typeof Reasons)[number];

/** A frame that failed a check, with what it takes to replay it. */
export interface Finding {
  seed: number;
  /** The frame's index in the run (see Generator: what the seed and index reproduce). */
  index: number;
  /** The generator that made it (service, reply, icmp, other, random, flip). */
  kind: string;
  check: 'aborted' | 'counters' | 'untouched' | 'model' | 'rewrite' | 'checksum' | 'lengths' | 'icmp_note';
  message: string;
  action: number;
  reason?: ReasonName;
  input: string;
  output: string;
}

export interface FuzzOptions {
  frames: number;
  seed: number;
  /** Called for every finding as it is found. */
  onFinding?: (f: Finding) => void;
  /** Called every `progressEvery` frames (default 50,000). */
  onProgress?: (done: number) => void;
  progressEvery?: number;
  /** Findings kept in the result (every one is counted); default 100. */
  keepFindings?: number;
}

export interface FuzzResult {
  seed: number;
  frames: number;
  seconds: number;
  findings: Finding[];
  findingsByCheck: Record<string, number>;
  /** Frames per verdict reason, as the program counted them. */
  byVerdict: Record<string, number>;
  /** Frames per generator. */
  byKind: Record<string, number>;
  /** Frames whose model check was skipped because a flow was at its timeout's edge. */
  ambiguous: number;
}

// ---------------------------------------------------------------------------------------------
// The configuration: services of every mode and family, next hops of every kind.

const vip = (n: number, f: Fam) => (f === 4 ? `192.0.2.${120 + n}` : `fd00:192::${120 + n}`);
const SNAT_WIDE = [20000, 29999] as const;
const SNAT_NARROW = [30000, 30015] as const;

/** The config, as JSON (which YAML reads too): per family the same services. */
function config(): string {
  const be = (address: string, port?: number) => (port === undefined ? { address } : { address, port });
  const services = ([4, 6] as const).flatMap((f) => {
    const svc = (name: string, vip: string, mode: string, backends: object[], more: object = {}) => ({
      name: `${name}${f}`,
      vip,
      port: 53,
      mode,
      backends,
      ...more,
    });
    const snat = (ports: readonly [number, number]) => ({
      snat: { address: FX.be0[f], ports: ports.join('-') },
    });
    const local = [be(FX.cl0[f], 7001), be(FX.cl0[f], 7002)];
    return [
      svc('local', FX.cl0[f], 'local', local, { port: 7000 }),
      svc('lwild', '*', 'local', [be(FX.cl0[f], 7123)], { port: 123, scheduler: 'maglev' }),
      svc('lempty', vip(9, f), 'local', [], { port: 7009 }),
      svc(
        'nat',
        vip(0, f),
        'nat',
        [1, 2, 3].map((n) => be(FX.backend(n, f), 5300 + n)),
      ),
      svc('natmg', vip(1, f), 'nat', [be(FX.backend(1, f), 5311), be(FX.backend(2, f), 5312)], {
        scheduler: 'maglev',
        flow_affinity: true,
        flow_timeouts: { unreplied: 1, assured: 2 },
      }),
      svc(
        'fullnat',
        vip(2, f),
        'fullnat',
        [be(FX.backend(1, f), 5321), be(FX.backend(2, f), 5322)],
        snat(SNAT_WIDE),
      ),
      svc('fnsmall', vip(3, f), 'fullnat', [be(FX.backend(3, f), 5331)], {
        ...snat(SNAT_NARROW),
        flow_timeouts: { unreplied: 2, assured: 4 },
      }),
      svc('dsr', vip(4, f), 'dsr', [be(FX.backend(2, f)), be(FX.backend(3, f))]),
      svc('dsrside', vip(5, f), 'dsr', [be(FX.side[f])]),
      svc('noneigh', vip(6, f), 'nat', [be(FX.backend(4, f), 5304)]),
      svc('noroute', vip(7, f), 'nat', [be(FX.unrouted[f], 5307)]),
      svc('nempty', vip(8, f), 'nat', []),
    ];
  });
  return JSON.stringify({ interface: 'lo', services });
}

// ---------------------------------------------------------------------------------------------
// The fixture's routing table, as bpf_fib_lookup answers from it.

interface Hop {
  ifindex: number;
  smac: Buffer;
  dmac: Buffer;
}
type RouteAnswer = Hop | 'no_neigh' | 'no_route' | undefined;

function routeOracle(lb: FixtureLb): (addr: string, fam: Fam) => RouteAnswer {
  const { fx } = lb;
  const neigh = new Map<string, string>();
  for (const f of [4, 6] as const) {
    neigh.set(FX.client[f], FX.clientMac);
    neigh.set(FX.side[f], FX.sideMac);
    for (const n of [1, 2, 3]) neigh.set(FX.backend(n, f), FX.backendMac(n));
    for (const n of [1, 2]) neigh.set(FX.peer(n, f), FX.peerMac(n));
  }
  const side = (ifindex: number, mac: string) => ({ ifindex, smac: parseMac(mac) });
  const subnets: [string, string, { ifindex: number; smac: Buffer }][] = [
    ['203.0.113.', FX.cl0[4], side(fx.cl0, FX.cl0Mac)],
    ['198.51.100.', FX.be0[4], side(fx.be0, FX.be0Mac)],
    ['fd00:203::', FX.cl0[6], side(fx.cl0, FX.cl0Mac)],
    ['fd00:198::', FX.be0[6], side(fx.be0, FX.be0Mac)],
  ];
  return (addr, fam) => {
    for (const [prefix, own, dev] of subnets) {
      if (!addr.startsWith(prefix) || (fam === 4) !== !addr.includes(':')) continue;
      const host = addr.slice(prefix.length);
      if (fam === 6 && host.includes(':')) return undefined; // not one of the generator's addresses
      if (addr === own) return 'no_route'; // a local address: not forwarded
      if (host === '' || host === '0' || host === '255') return undefined; // broadcast, anycast
      const mac = neigh.get(addr);
      return mac ? { ...dev, dmac: parseMac(mac) } : 'no_neigh';
    }
    // The generator's addresses outside the fixture's subnets are unrouted; others are not known.
    return addr.startsWith('192.0.2.') || addr.startsWith('fd00:192::') ? 'no_route' : undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Frames.

interface Frame {
  bytes: Buffer;
  ingress: number;
  kind: string;
}

/** A flow xlb balanced: what it sent to the backend, for replies and ICMP errors about it. */
interface Flow {
  fam: Fam;
  mode: number;
  /** The frame as it left for the backend (metadata stripped). */
  sent: Buffer;
  /** Where the backend's answers arrive. */
  ingress: number;
}

/** Where the IP header of a frame with at most one VLAN tag starts. */
const l3of = (frame: Buffer) => {
  const type = frame.readUInt16BE(12);
  return type === 0x8100 || type === 0x88a8 ? 18 : 14;
};
const addrAt = (b: Buffer, at: number, fam: Fam) => formatIP(b.subarray(at, at + (fam === 4 ? 4 : 16)));

/**
 * ICMP messages an error generator sends, per family: port unreachable (twice as often),
 * fragmentation needed / packet too big (with an MTU), time exceeded, host unreachable, and a
 * type xlb does not translate (parameter problem).
 */
const ICMP_ERRORS = {
  4: [3, 3, 4, 11, 3, 12].map((type, i) => ({ type, code: [3, 3, 4, 0, 1, 0][i], seq: i === 2 ? 1400 : 0 })),
  6: [1, 1, 2, 3, 1, 4].map((type, i) => ({ type, code: [4, 4, 0, 0, 3, 0][i], seq: i === 2 ? 1280 : 0 })),
} as const;

/**
 * Makes the frames. Frame `index` draws from its own generator, seeded by (seed, index), so that
 * what the data plane did with earlier frames never shifts the randomness of later ones: a frame
 * not built from a flow (a client's datagram, other traffic, random bytes) is the same for the
 * same seed and index; replies and ICMP errors also depend on the flows made before them
 * (fullnat's source ports are the kernel's random pick). A finding's input is the exact replay.
 */
class Generator {
  readonly flows: Flow[] = [];
  private readonly services: PlannedService[];
  private r: () => number = Math.random;

  constructor(
    private readonly seed: number,
    plan: Plan,
    private readonly lb: FixtureLb,
  ) {
    this.services = plan.services;
  }

  private chance = (p: number) => this.r() < p;
  private bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(this.r, 0, 255)));

  /** A client address: one with a neighbour entry mostly, else one without, an unrouted one, or
   * one the kernel never forwards. */
  private client(fam: Fam): string {
    const x = this.r();
    if (x < 0.7) return FX.client[fam];
    if (x < 0.8) return FX.side[fam];
    const host = int(this.r, 2, 254);
    if (x < 0.88) return fam === 4 ? `203.0.113.${host}` : `fd00:203::${host.toString(16)}`;
    if (x < 0.97)
      return fam === 4 ? `192.0.2.${int(this.r, 1, 99)}` : `fd00:192::${int(this.r, 1, 0x99).toString(16)}`;
    return fam === 4
      ? pick(this.r, [
          '0.0.0.0',
          '127.0.0.1',
          '224.0.0.251',
          '255.255.255.255',
          `240.0.0.${host}`,
          `169.254.0.${host}`,
        ])
      : pick(this.r, ['::', '::1', 'fe80::1', 'ff02::fb', '::ffff:203.0.113.50', 'fec0::1']);
  }

  private payload(): Buffer {
    if (this.chance(0.02)) return Buffer.alloc(int(this.r, 1400, 1480), int(this.r, 0, 255));
    return this.bytes(int(this.r, 0, 64));
  }

  next(index: number): Frame {
    this.r = rng((this.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    const x = this.r();
    let f: Frame;
    if (x < 0.08) f = this.random();
    else if (x < 0.5) f = this.toService();
    else if (x < 0.6) f = this.other();
    else if (x < 0.77 && this.flows.length) f = this.reply();
    else if (this.flows.length) f = this.icmp();
    else f = this.toService();
    if (this.chance(0.05)) return { ...f, bytes: this.flip(f.bytes), kind: `flip-${f.kind}` };
    return f;
  }

  /** Random bytes, sometimes behind an IP, VLAN or QinQ ethertype. */
  private random(): Frame {
    const b = this.bytes(int(this.r, 14, 300));
    if (this.chance(0.6)) b.writeUInt16BE(pick(this.r, [0x0800, 0x86dd, 0x8100, 0x88a8]), 12);
    if (this.chance(0.3) && b.length > 18) b.writeUInt16BE(pick(this.r, [0x0800, 0x86dd]), 16);
    return { bytes: b, ingress: pick(this.r, [this.lb.fx.cl0, this.lb.fx.be0]), kind: 'random' };
  }

  /** A few random bytes changed, or the frame cut. */
  private flip(b: Buffer): Buffer {
    const out = Buffer.from(b);
    const n = int(this.r, 1, 4);
    for (let i = 0; i < n; i++) {
      const at = this.chance(0.7)
        ? int(this.r, 0, Math.min(out.length, 110) - 1)
        : int(this.r, 0, out.length - 1);
      out[at] = this.chance(0.5) ? int(this.r, 0, 255) : (out[at] ?? 0) ^ (1 << int(this.r, 0, 7));
    }
    return this.chance(0.2) ? out.subarray(0, int(this.r, 14, out.length)) : out;
  }

  /** Structure-aware mutations of a frame's spec: VLAN tags, IP and UDP header fields, lengths. */
  private mutate(spec: PacketSpec, fam: Fam): void {
    const n = int(this.r, 1, 3);
    for (let i = 0; i < n; i++) {
      const ip4 = spec.ipv4;
      const ip6 = spec.ipv6;
      switch (int(this.r, 0, 9)) {
        case 0:
          spec.eth = {
            ...spec.eth,
            vlan: this.chance(0.7) ? int(this.r, 1, 4094) : [int(this.r, 1, 4094), 100],
          };
          break;
        case 1:
          if (ip4) ip4.options = this.bytes(int(this.r, 1, 40));
          if (ip6) ip6.extHeaders = this.extHeaders();
          break;
        case 2:
          if (ip4) ip4.ihl = int(this.r, 0, 15);
          if (ip6) ip6.payloadLength = this.length();
          break;
        case 3:
          if (ip4) ip4.totalLength = this.length();
          if (ip6) ip6.nextHeader = pick(this.r, [0, 6, 17, 43, 44, 58, 59, 60, 135, 253]);
          break;
        case 4:
          if (ip4) {
            ip4.mf = this.chance(0.5);
            ip4.fragOffset = this.chance(0.5) ? int(this.r, 0, 0x1fff) : 0;
            ip4.df = this.chance(0.5);
          }
          if (ip6)
            ip6.extHeaders = [{ type: 44, data: ipv6FragmentData(int(this.r, 0, 2), this.chance(0.5), 7) }];
          break;
        case 5:
          if (ip4) ip4.ttl = pick(this.r, [0, 1, 2, int(this.r, 0, 255)]);
          if (ip6) ip6.hopLimit = pick(this.r, [0, 1, 2, int(this.r, 0, 255)]);
          break;
        case 6:
          if (ip4) ip4.version = int(this.r, 0, 15);
          if (ip4 && this.chance(0.5)) ip4.checksum = int(this.r, 0, 0xffff);
          if (ip6) ip6.flowLabel = int(this.r, 0, 0xfffff);
          break;
        case 7:
          if (spec.udp) spec.udp.checksum = pick(this.r, ['zero', int(this.r, 0, 0xffff)] as const);
          break;
        case 8:
          if (spec.udp) spec.udp.length = this.length();
          break;
        default:
          if (this.chance(0.5)) spec.truncateTo = int(this.r, 14, 120);
          else spec.padTo = int(this.r, 60, 200);
      }
    }
    if (fam === 6 && spec.ipv6 && spec.udp?.checksum === 'zero' && this.chance(0.5))
      spec.udp.checksum = 'auto';
  }

  /** A length near a header boundary or anywhere. */
  private length(): number {
    return this.chance(0.7) ? int(this.r, 0, 120) : int(this.r, 0, 0xffff);
  }

  private extHeaders(): NonNullable<PacketSpec['ipv6']>['extHeaders'] {
    return Array.from({ length: int(this.r, 1, 2) }, () => {
      const type = pick(this.r, [0, 43, 44, 51, 60]);
      return type === 44
        ? { type, data: ipv6FragmentData(int(this.r, 0, 1), this.chance(0.5), 1) }
        : { type, data: this.bytes(int(this.r, 0, 14)) };
    });
  }

  /** A client's datagram to a service (any mode and family), maybe mutated. */
  private toService(): Frame {
    const s = pick(this.r, this.services);
    const fam = s.family;
    const any =
      fam === 4 ? `192.0.2.${int(this.r, 1, 99)}` : `fd00:192::${int(this.r, 1, 0x99).toString(16)}`;
    const dst = s.vip === '*' ? any : s.vip;
    const spec: PacketSpec = {
      eth: { src: FX.clientMac, dst: FX.cl0Mac },
      ...(fam === 4
        ? { ipv4: { src: this.client(4), dst, ttl: 64, id: int(this.r, 0, 0xffff) } }
        : { ipv6: { src: this.client(6), dst, hopLimit: 64 } }),
      udp: {
        sport: this.chance(0.9) ? int(this.r, 1024, 65535) : int(this.r, 0, 65535),
        dport: this.chance(0.95) ? s.port : int(this.r, 0, 65535),
        checksum: fam === 4 && this.chance(0.1) ? 'zero' : 'auto',
      },
      payload: this.payload(),
    };
    if (this.chance(0.4)) this.mutate(spec, fam);
    const bytes = buildPacket(spec);
    if (this.chance(0.02) && bytes.length > 18) {
      const l3 = l3of(bytes); // another IP version behind the family's ethertype
      bytes[l3] = (int(this.r, 0, 15) << 4) | ((bytes[l3] ?? 0) & 0x0f);
    }
    return { bytes, ingress: this.lb.fx.cl0, kind: 'service' };
  }

  /** Traffic that is not for a service: other ports and addresses, TCP, ICMP echo, ARP, IPv6 extension headers, fragments. */
  private other(): Frame {
    const fam: Fam = this.chance(0.5) ? 4 : 6;
    const ip = (src: string, dst: string, extra: object = {}) =>
      fam === 4 ? { ipv4: { src, dst, ...extra } } : { ipv6: { src, dst, ...extra } };
    const src = this.client(fam);
    const dst = pick(this.r, [vip(int(this.r, 0, 9), fam), FX.cl0[fam], FX.backend(1, fam)]);
    let spec: PacketSpec;
    switch (int(this.r, 0, 5)) {
      case 0:
        spec = {
          ...ip(src, dst),
          udp: { sport: int(this.r, 1, 65535), dport: int(this.r, 1, 65535) },
          payload: 'x',
        };
        break;
      case 1:
        spec = { ...ip(src, dst), tcp: { sport: int(this.r, 1, 65535), dport: 53 } };
        break;
      case 2:
        spec = { ...ip(src, dst), icmp: { type: fam === 4 ? 8 : 128, id: 1, seq: 1 }, payload: 'ping' };
        break;
      case 3:
        spec = { arp: { senderIp: FX.client[4], targetIp: FX.cl0[4] } };
        break;
      case 4:
        spec =
          fam === 4
            ? { ipv4: { src, dst, mf: true }, udp: { sport: 40000, dport: 53 }, payload: 'fragment' }
            : {
                ipv6: { src, dst, extHeaders: this.extHeaders() },
                udp: { sport: 40000, dport: 53 },
                payload: 'ext',
              };
        break;
      default:
        spec = { ...ip(src, dst), udp: { sport: int(this.r, 1, 65535), dport: 53 }, payload: this.payload() };
        if (this.chance(0.5)) this.mutate(spec, fam);
    }
    return { bytes: buildPacket(spec), ingress: this.lb.fx.cl0, kind: 'other' };
  }

  /** A backend's reply to a flow xlb balanced, maybe mutated. */
  private reply(): Frame {
    const flow = pick(this.r, this.flows);
    const { fam, sent } = flow;
    const l3 = l3of(sent);
    const f = udpFields(fam, l3, l3 + (fam === 4 ? (sent[l3]! & 0x0f) * 4 : 40));
    const spec: PacketSpec = {
      eth: { src: macString(sent, 0), dst: macString(sent, 6) },
      ...(fam === 4
        ? { ipv4: { src: addrAt(sent, f.dst[0], 4), dst: addrAt(sent, f.src[0], 4), ttl: 64 } }
        : { ipv6: { src: addrAt(sent, f.dst[0], 6), dst: addrAt(sent, f.src[0], 6), hopLimit: 64 } }),
      udp: {
        sport: sent.readUInt16BE(f.dport[0]),
        dport: sent.readUInt16BE(f.sport[0]),
        checksum: fam === 4 && this.chance(0.1) ? 'zero' : 'auto',
      },
      payload: this.payload(),
    };
    if (this.chance(0.3)) this.mutate(spec, fam);
    return { bytes: buildPacket(spec), ingress: flow.ingress, kind: 'reply' };
  }

  /** An ICMP error about a flow's datagram: from the backend, a router or anyone; quotes cut or mutated. */
  private icmp(): Frame {
    const flow = pick(this.r, this.flows);
    const { fam, sent } = flow;
    const l3 = l3of(sent);
    const ihl = fam === 4 ? (sent[l3]! & 0x0f) * 4 : 40;
    const f = udpFields(fam, l3, l3 + ihl);
    const backend = addrAt(sent, f.dst[0], fam);
    const x = this.r();
    const anyone =
      fam === 4 ? `198.51.100.${int(this.r, 2, 254)}` : `fd00:198::${int(this.r, 2, 0xfff).toString(16)}`;
    const martian = fam === 4 ? pick(this.r, ['127.0.0.1', '224.0.0.1']) : pick(this.r, ['::1', 'fe80::1']);
    const from = x < 0.55 ? backend : x < 0.75 ? FX.peer(1, fam) : x < 0.97 ? anyone : martian;
    const to = this.chance(0.9) ? addrAt(sent, f.src[0], fam) : this.client(fam);
    let quote = Buffer.from(sent.subarray(l3));
    const y = this.r();
    if (y < 0.3)
      quote = quote.subarray(0, ihl + 8); // what routers quote
    else if (y < 0.4) quote = quote.subarray(0, int(this.r, 0, ihl + 8));
    if (this.chance(0.15)) {
      const at = int(this.r, 0, Math.min(quote.length, ihl + 8) - 1);
      if (at >= 0) quote[at] = int(this.r, 0, 255);
    }
    const outer = fam === 4 ? { src: from, dst: to, ttl: 64 } : { src: from, dst: to, hopLimit: 64 };
    const spec: PacketSpec = {
      eth: { src: FX.backendMac(1), dst: FX.be0Mac },
      ...(fam === 4 ? { ipv4: outer } : { ipv6: outer }),
      icmp: pick(this.r, ICMP_ERRORS[fam]),
      payload: quote,
    };
    const z = this.r();
    if (z < 0.1) {
      // The outer datagram ends inside the quote while the frame goes on.
      const length = int(this.r, ihl + 8, 2 * ihl + 16);
      if (spec.ipv4) spec.ipv4.totalLength = length;
      if (spec.ipv6) spec.ipv6.payloadLength = length - 40;
    } else if (z < 0.25) {
      this.mutate(spec, fam);
    }
    return { bytes: buildPacket(spec), ingress: flow.ingress, kind: 'icmp' };
  }

  /** Remembers a balanced flow: at most 512, one new one in ten replacing a random one (so that
   * some live for seconds, and time out). */
  remember(flow: Flow): void {
    if (this.flows.length < 512) this.flows.push(flow);
    else if (this.chance(0.1)) this.flows[int(this.r, 0, 511)] = flow;
  }
}

const macString = (b: Buffer, at: number) =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

// ---------------------------------------------------------------------------------------------
// Checks.

const NON_EVENT = Reasons.filter((r) => !EventReasons.includes(r));
const DROPS = new Set<ReasonName>(['drop_no_backend', 'snat_exhausted']);
/** Verdicts that leave the frame as it came: the drops, and every pass_ reason but
 * pass_egress_not_xlb (rewritten, then passed to the stack). */
const UNTOUCHED = new Set<ReasonName>([
  ...Reasons.filter((r) => r.startsWith('pass_') && r !== 'pass_egress_not_xlb'),
  ...DROPS,
]);

/** Folded one's complement sum (0xffff when a checksum over these bytes verifies). */
const sum = (...parts: Uint8Array[]) => onesComplementSum(...parts);

/** Whether a flow entry is live now: 'ambiguous' within 20 ms of its timeout. */
function freshness(r: RevNat): 'fresh' | 'expired' | 'ambiguous' {
  const timeout =
    BigInt(r.flags & FlowFlags.replied ? r.timeout_assured_s : r.timeout_unreplied_s) * 1_000_000_000n;
  const age = process.hrtime.bigint() - r.last_seen_ns;
  const margin = 20_000_000n;
  if (age < timeout - margin) return 'fresh';
  return age > timeout + margin ? 'expired' : 'ambiguous';
}

class Failed extends Error {
  constructor(
    readonly check: Finding['check'],
    message: string,
  ) {
    super(message);
  }
}
const fail = (check: Finding['check'], message: string): never => {
  throw new Failed(check, message);
};

interface Run {
  frame: Frame;
  want: Classified;
  /** The rev_nat entry the model consulted (replies, ICMP errors). */
  rev?: RevNat;
  ambiguous: boolean;
  action: number;
  reason: ReasonName;
  out: Buffer;
  /** The flow_update_failed event was counted: the flow's state may be missing. */
  updateFailed: boolean;
}

/** Everything a run needs: the data plane, the routing oracle and the plan. */
class Checker {
  readonly route: (addr: string, fam: Fam) => RouteAnswer;
  readonly plan: Plan;

  constructor(readonly lb: FixtureLb) {
    this.route = routeOracle(lb);
    this.plan = lb.dp.reconciler.applied;
  }

  /** The model's verdict, with the rev_nat entry it looked at. */
  model(frame: Buffer): { want: Classified; rev?: RevNat; ambiguous: boolean } {
    let rev: RevNat | undefined;
    let ambiguous = false;
    const lookup = (src: string, dst: string, sport: number, dport: number, family: Fam) =>
      this.lb.dp.maps.revNat.get({
        src: addrTo16(src),
        dst: addrTo16(dst),
        sport,
        dport,
        proto: 17,
        family,
      });
    const isReply = (p: ParsedUdp) => {
      rev = lookup(p.src, p.dst, p.sport, p.dport, p.family);
      return rev !== undefined;
    };
    const icmpFlow = (e: IcmpError): LiveFlow | undefined => {
      const q = e.quoted;
      const r = lookup(q.dst, q.src, q.dport, q.sport, e.family);
      if (!r) return undefined;
      const fresh = freshness(r);
      if (fresh === 'ambiguous') ambiguous = true;
      if (fresh !== 'fresh') return undefined;
      rev = r;
      return { mode: r.mode, svcId: r.svc_id, backendId: r.backend_id };
    };
    const want = classify(this.plan, frame, isReply, icmpFlow);
    return { want, ...(rev ? { rev } : {}), ambiguous };
  }

  /** Runs every check on one run; throws Failed. */
  check(run: Run): void {
    const { frame, want, action, reason, out } = run;
    const input = frame.bytes;
    if (action === XdpAction.ABORTED) fail('aborted', 'XDP_ABORTED');
    if (action < XdpAction.DROP || action > XdpAction.REDIRECT) fail('aborted', `action ${action}`);
    if (UNTOUCHED.has(reason)) {
      if (!out.equals(input)) fail('untouched', `${reason}: the frame was changed`);
      const wantAction = DROPS.has(reason) ? XdpAction.DROP : XdpAction.PASS;
      if (action !== wantAction) fail('model', `${reason} with action ${action}`);
    }
    if (run.ambiguous) return;
    const accept = this.expected(run);
    if (run.ambiguous) return;
    if (!accept.has(reason)) fail('model', `verdict ${reason}, the model says ${[...accept].join(' or ')}`);
    if (UNTOUCHED.has(reason)) return;
    if (want.icmp) this.checkIcmp(run);
    else this.checkUdp(run);
  }

  /** The verdicts the model and the routing table allow for this frame. */
  private expected(run: Run): Set<ReasonName> {
    const { want, rev } = run;
    const fam = want.family as Fam;
    const input = run.frame.bytes;
    const l3 = want.l3 ?? 0;
    const l3len = fam === 4 ? input.readUInt16BE(l3 + 2) : 40 + input.readUInt16BE(l3 + 4);
    const ttl = input[l3 + (fam === 4 ? 8 : 7)] ?? 0;
    /**
     * What the routing table makes of a frame to `dst` (its TTL does not count in dsr): every
     * routed outcome for an address the oracle does not know.
     */
    const routedTo = (nominal: ReasonName, dst: string, ttlCounts = true): ReasonName[] => {
      const r = this.route(dst, fam);
      if (r === undefined) return [nominal, 'neigh_resolve', 'pass_no_route', 'pass_frag_needed', 'pass_ttl'];
      if (r === 'no_route') return ['pass_no_route'];
      if (l3len > 1500) return ['pass_frag_needed'];
      if (ttlCounts && ttl <= 1) return ['pass_ttl'];
      return [r === 'no_neigh' ? 'neigh_resolve' : nominal];
    };
    const reason = want.reason;
    if (reason === 'nat' || reason === 'fullnat' || reason === 'dsr') {
      const out = want.service!.backends.flatMap((b) => routedTo(reason, b.address, reason !== 'dsr'));
      return new Set(reason === 'fullnat' ? [...out, 'snat_exhausted'] : out);
    }
    if (reason === 'reply') {
      const fresh = freshness(rev!);
      if (fresh === 'ambiguous') run.ambiguous = true;
      if (fresh !== 'fresh') return new Set(['pass_flow_expired']);
      if (rev!.mode === Mode.local) return new Set(['reply']);
      const dst =
        rev!.flags & FlowFlags.rewriteDst
          ? addrOf16(rev!.caddr, fam)
          : addrAt(input, udpFields(fam, l3, want.l4!).dst[0], fam);
      return new Set(routedTo('reply', dst));
    }
    if (reason === 'icmp_reply') {
      if (rev!.mode === Mode.local) return new Set(['icmp_reply']);
      const dst = rev!.flags & FlowFlags.rewriteDst ? addrOf16(rev!.caddr, fam) : want.icmp!.dst;
      return new Set(routedTo('icmp_reply', dst));
    }
    return new Set([reason]);
  }

  /** The metadata of a frame handed to TC for neighbour resolution: strips and checks it. */
  private meta(run: Run, nexthop: string, fam: Fam): Buffer {
    const m = xdpMeta.decode(run.out);
    if (m.magic !== META_MAGIC) fail('rewrite', 'neigh_resolve without metadata');
    const r = this.route(nexthop, fam);
    const ifindex = typeof r === 'object' ? r.ifindex : undefined;
    if (
      m.family !== fam ||
      !m.nexthop.equals(addrTo16(nexthop)) ||
      (ifindex !== undefined && m.ifindex !== ifindex)
    ) {
      fail(
        'rewrite',
        `metadata ${JSON.stringify({ ...m, nexthop: m.nexthop.toString('hex') })} for next hop ${nexthop}`,
      );
    }
    return run.out.subarray(xdpMeta.size);
  }

  /**
   * The MACs and action of a frame sent towards `to`: routed, the next hop's MACs and XDP_TX
   * (back out of the ingress) or XDP_REDIRECT; handed over for neighbour resolution or passed
   * to this host, MACs untouched and XDP_PASS.
   */
  private hop(run: Run, exp: Buffer, to: string, fam: Fam, routed: boolean): void {
    let want: number = XdpAction.PASS;
    if (routed && run.reason !== 'neigh_resolve') {
      const hop = this.route(to, fam);
      if (typeof hop !== 'object') return fail('rewrite', `sent to ${to}, which has no next hop`);
      hop.dmac.copy(exp, 0);
      hop.smac.copy(exp, 6);
      want = hop.ifindex === run.frame.ingress ? XdpAction.TX : XdpAction.REDIRECT;
    }
    if (run.action !== want) fail('model', `${run.reason} with action ${run.action}, expected ${want}`);
  }

  /** A balanced or translated UDP datagram: fields, checksums, lengths. */
  private checkUdp(run: Run): void {
    const { want, reason, rev } = run;
    const fam = want.family as Fam;
    const input = run.frame.bytes;
    const l3 = want.l3!;
    const l4 = want.l4!;
    const f = udpFields(fam, l3, l4);
    const isReply = want.reason === 'reply';
    const mode = isReply ? rev!.mode : want.service!.mode;
    const kind: RewriteKind = isReply
      ? ((['reply_local', 'reply_nat', 'reply_fullnat'] as const)[mode] ?? 'reply_nat')
      : ((['local', 'nat', 'fullnat', 'dsr'] as const)[mode] ?? 'local');
    // Which address the frame was routed to, and so which next hop.
    let out = run.out;
    let to: string;
    if (isReply) {
      to = rev!.flags & FlowFlags.rewriteDst ? addrOf16(rev!.caddr, fam) : addrAt(input, f.dst[0], fam);
    } else if (kind === 'dsr') {
      const backends = want.service!.backends.map((b) => b.address);
      if (reason === 'neigh_resolve') {
        to = addrOf16(xdpMeta.decode(out).nexthop, fam);
      } else {
        const dmac = out.subarray(0, 6);
        const b = backends.find((a) => {
          const r = this.route(a, fam);
          return typeof r === 'object' && r.dmac.equals(dmac);
        });
        if (!b) fail('rewrite', `dsr: destination MAC ${macString(out, 0)} is no backend's`);
        to = b!;
      }
      if (!backends.includes(to)) fail('rewrite', `dsr: ${to} is no backend of ${want.service!.name}`);
    } else {
      const o = reason === 'neigh_resolve' ? out.subarray(xdpMeta.size) : out;
      to = addrAt(o, f.dst[0], fam);
    }
    if (reason === 'neigh_resolve') out = this.meta(run, to, fam);
    if (out.length !== input.length) fail('rewrite', `length ${out.length}, was ${input.length}`);

    const exp = Buffer.from(input);
    const set = writer(exp);
    const fields = REWRITE_FIELDS[kind];
    if (isReply) {
      set.addr(f.src, rev!.vaddr);
      set.port(f.sport, rev!.vport);
      if (fields.includes('dst')) {
        set.addr(f.dst, rev!.caddr);
        set.port(f.dport, rev!.cport);
      }
    } else if (kind !== 'dsr') {
      const dport = out.readUInt16BE(f.dport[0]);
      const be = want.service!.backends.find((b) => b.address === to && b.port === dport);
      if (!be) fail('rewrite', `${to} port ${dport} is no backend of ${want.service!.name}`);
      set.addr(f.dst, to);
      set.port(f.dport, dport);
      if (kind === 'fullnat') {
        const snat = want.service!.snat!;
        const sport = out.readUInt16BE(f.sport[0]);
        if (sport < snat.portMin || sport > snat.portMax)
          fail('rewrite', `fullnat source port ${sport} out of range`);
        set.addr(f.src, snat.address);
        set.port(f.sport, sport);
      }
    }
    if (fields.includes('ttl')) exp[f.ttl[0]] = (exp[f.ttl[0]] ?? 0) - 1;
    this.hop(run, exp, to, fam, fields.includes('macs'));
    for (const [at, n] of kind === 'dsr' ? [] : f.checksums) out.copy(exp, at, at, at + n);
    if (!exp.equals(out))
      fail('rewrite', `${kind}: differs from the expected rewrite at ${diffAt(exp, out)}`);
    if (kind === 'dsr') return;
    this.checkLengths(out, fam, l3, l4);
    if (fam === 4) ipv4Residual(input, out, l3, 'IPv4 header');
    udpResidual(input, out, fam, l3, l4, 'UDP');
    if (!isReply) this.checkRecorded(run, out, f, fam);
  }

  /** A balanced datagram's replies will be translated: rev_nat holds its reply tuple, pointing
   * back at the service address (and, in fullnat, the client). */
  private checkRecorded(run: Run, out: Buffer, f: ReturnType<typeof udpFields>, fam: Fam): void {
    const input = run.frame.bytes;
    const r = this.lb.dp.maps.revNat.get({
      src: addrTo16(addrAt(out, f.dst[0], fam)),
      dst: addrTo16(addrAt(out, f.src[0], fam)),
      sport: out.readUInt16BE(f.dport[0]),
      dport: out.readUInt16BE(f.sport[0]),
      proto: 17,
      family: fam,
    });
    if (!r) {
      if (!run.updateFailed) fail('rewrite', 'no reply translation (rev_nat) recorded for the datagram sent');
      return;
    }
    const svc = run.want.service!;
    const ok =
      r.mode === svc.mode &&
      r.svc_id === svc.id &&
      r.vaddr.subarray(0, f.dst[1]).equals(input.subarray(f.dst[0], f.dst[0] + f.dst[1])) &&
      r.vport === input.readUInt16BE(f.dport[0]) &&
      r.caddr.subarray(0, f.src[1]).equals(input.subarray(f.src[0], f.src[0] + f.src[1])) &&
      r.cport === input.readUInt16BE(f.sport[0]);
    if (!ok) fail('rewrite', 'the reply translation (rev_nat) recorded does not lead back to the client');
  }

  /** A translated ICMP error: fields, checksums (outer, ICMP, quoted), lengths. */
  private checkIcmp(run: Run): void {
    const { want, reason } = run;
    const rev = run.rev!;
    const e = want.icmp!;
    const fam = e.family;
    const input = run.frame.bytes;
    const fullnat = (rev.flags & FlowFlags.rewriteDst) !== 0;
    const routed = rev.mode !== Mode.local;
    const to = fullnat ? addrOf16(rev.caddr, fam) : e.dst;
    const out = reason === 'neigh_resolve' ? this.meta(run, to, fam) : run.out;
    if (out.length !== input.length) fail('rewrite', `length ${out.length}, was ${input.length}`);
    const outer = udpFields(fam, e.l3, e.icmp);
    const quoted = udpFields(fam, e.ql3, e.ql4);
    const exp = Buffer.from(input);
    const set = writer(exp);
    set.addr(quoted.dst, rev.vaddr);
    set.port(quoted.dport, rev.vport);
    if (fullnat) {
      set.addr(quoted.src, rev.caddr);
      set.port(quoted.sport, rev.cport);
      set.addr(outer.dst, to);
    }
    if (e.src === e.quoted.dst) set.addr(outer.src, rev.vaddr);
    if (routed) exp[outer.ttl[0]] = (exp[outer.ttl[0]] ?? 0) - 1;
    this.hop(run, exp, to, fam, routed);
    const icmpCheck = e.icmp + 2;
    const csums = [icmpCheck, quoted.checksums.at(-1)![0], ...(fam === 4 ? [e.l3 + 10, e.ql3 + 10] : [])];
    for (const at of csums) out.copy(exp, at, at, at + 2);
    if (!exp.equals(out))
      fail('rewrite', `ICMP error: differs from the expected translation at ${diffAt(exp, out)}`);
    // Lengths: the outer datagram, and the ICMP checksum over all of it.
    const l3len = fam === 4 ? input.readUInt16BE(e.l3 + 2) : 40 + input.readUInt16BE(e.l3 + 4);
    if (e.l3 + l3len > out.length) fail('lengths', `outer IP length ${l3len} beyond the frame`);
    if (fam === 4) {
      ipv4Residual(input, out, e.l3, 'outer IPv4 header');
      ipv4Residual(input, out, e.ql3, 'quoted IPv4 header');
      if (sum(input.subarray(e.icmp, e.l3 + l3len)) !== sum(out.subarray(e.icmp, e.l3 + l3len)))
        fail('checksum', 'ICMP checksum changed validity');
    } else {
      const icmpSum = (b: Buffer) =>
        sum(
          pseudoHeader(6, b.subarray(e.l3 + 8, e.l3 + 24), b.subarray(e.l3 + 24, e.l3 + 40), 58, l3len - 40),
          b.subarray(e.icmp, e.l3 + l3len),
        );
      if (icmpSum(input) !== icmpSum(out)) fail('checksum', 'ICMPv6 checksum changed validity');
    }
    // The quoted UDP checksum, over the quoted pseudo-header and UDP header (the rest is unchanged).
    const qcheck = quoted.checksums.at(-1)![0];
    if (input.readUInt16BE(qcheck) === 0) {
      if (out.readUInt16BE(qcheck) !== 0) fail('checksum', 'a zero quoted UDP checksum became non-zero');
    } else {
      const a = fam === 4 ? 4 : 16;
      const qsum = (b: Buffer) =>
        sum(
          pseudoHeader(
            fam,
            b.subarray(quoted.src[0], quoted.src[0] + a),
            b.subarray(quoted.dst[0], quoted.dst[0] + a),
            17,
            b.readUInt16BE(e.ql4 + 4),
          ),
          b.subarray(e.ql4, e.ql4 + 8),
        );
      if (qsum(input) !== qsum(out)) fail('checksum', 'quoted UDP checksum changed validity');
    }
  }

  private checkLengths(b: Buffer, fam: Fam, l3: number, l4: number): void {
    const l3len = fam === 4 ? b.readUInt16BE(l3 + 2) : 40 + b.readUInt16BE(l3 + 4);
    const hlen = l4 - l3;
    if (l3len < hlen + 8 || l3 + l3len > b.length)
      fail('lengths', `IP length ${l3len} does not fit the frame`);
    const ulen = b.readUInt16BE(l4 + 4);
    if (ulen < 8 || ulen > l3len - hlen)
      fail('lengths', `UDP length ${ulen} does not fit IP length ${l3len}`);
  }
}

const addrOf16 = (b: Buffer, fam: Fam) => addrAt(b, 0, fam);

/** Writes fields of an expected frame: an address (a string, or the start of a 16-byte one), a port. */
function writer(exp: Buffer) {
  return {
    addr: (field: readonly [number, number], a: string | Buffer) =>
      (typeof a === 'string' ? addrTo16(a) : a).copy(exp, field[0], 0, field[1]),
    port: (field: readonly [number, number], v: number) => exp.writeUInt16BE(v, field[0]),
  };
}

function diffAt(a: Buffer, b: Buffer): string {
  const at: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && at.length < 8; i++) if (a[i] !== b[i]) at.push(i);
  return `offsets ${at.join(', ')}`;
}

function ipv4Residual(input: Buffer, out: Buffer, l3: number, what: string): void {
  const n = ((input[l3] ?? 0) & 0x0f) * 4;
  if (sum(input.subarray(l3, l3 + n)) !== sum(out.subarray(l3, l3 + n)))
    fail('checksum', `${what} checksum changed validity`);
}

function udpResidual(input: Buffer, out: Buffer, fam: Fam, l3: number, l4: number, what: string): void {
  const at = l4 + 6;
  if (fam === 4 && input.readUInt16BE(at) === 0) {
    if (out.readUInt16BE(at) !== 0) fail('checksum', `a zero ${what} checksum (none) became non-zero`);
    return;
  }
  const a = fam === 4 ? 4 : 16;
  const [s, d] = fam === 4 ? [l3 + 12, l3 + 16] : [l3 + 8, l3 + 24];
  const ulen = input.readUInt16BE(l4 + 4);
  const total = (b: Buffer) =>
    sum(pseudoHeader(fam, b.subarray(s, s + a), b.subarray(d, d + a), 17, ulen), b.subarray(l4, l4 + ulen));
  if (total(input) !== total(out)) fail('checksum', `${what} checksum changed validity`);
}

// ---------------------------------------------------------------------------------------------
// The run.

/** Reads entries 0..n-1 of a per-CPU counter array (the u64 at offset 0, summed over CPUs) in one
 * system call: the packets of stats_reason, the errors of icmp_unreach. */
function arrayReader(map: BpfMap, n: number): () => number[] {
  const ids = Array.from({ length: n }, (_, i) => i);
  return () => {
    const read = perCpuSums(map, ids, [0], 0);
    return ids.map((id) => read(id)[0] ?? 0);
  };
}

const isIcmp = (b: Buffer) => {
  const l3 = l3of(b);
  if (b.length < l3 + 10) return false;
  const type = b.readUInt16BE(l3 - 2);
  return (type === 0x0800 && b[l3 + 9] === 1) || (type === 0x86dd && b[l3 + 6] === 58);
};

/**
 * Runs `frames` generated frames (seeded by `seed`: the same seed gives the same frames)
 * through xlb_xdp in a fixture namespace, checking each one. Needs root.
 */
export async function fuzzPackets(opts: FuzzOptions): Promise<FuzzResult> {
  const started = process.hrtime.bigint();
  const lb = fixtureLb(config(), `fuzz${opts.seed % 100000}`);
  const result: FuzzResult = {
    seed: opts.seed,
    frames: 0,
    seconds: 0,
    findings: [],
    findingsByCheck: {},
    byVerdict: {},
    byKind: {},
    ambiguous: 0,
  };
  try {
    lb.dp.flushCaches();
    const checker = new Checker(lb);
    const gen = new Generator(opts.seed, checker.plan, lb);
    const reasons = arrayReader(lb.dp.maps.statsReason.raw, Reasons.length);
    const maxBackend = Math.max(...checker.plan.backends.keys()) + 1;
    const icmp = arrayReader(lb.dp.maps.icmpUnreach.raw, maxBackend);
    const keep = opts.keepFindings ?? 100;
    const every = opts.progressEvery ?? 50_000;
    let before = reasons();

    const one = (index: number) => {
      const frame = gen.next(index);
      const { want, rev, ambiguous } = checker.model(frame.bytes);
      const icmpBefore = isIcmp(frame.bytes) ? icmp() : undefined;
      const res = testRun(lb.dp.xdpProgram.fd, {
        data: frame.bytes,
        ctx: xdpContext(frame.bytes.length, frame.ingress),
      });
      const after = reasons();
      const moved = NON_EVENT.filter((name) => (after[Reason[name]] ?? 0) !== (before[Reason[name]] ?? 0));
      const delta = moved.map((name) => (after[Reason[name]] ?? 0) - (before[Reason[name]] ?? 0));
      const updateFailed = after[Reason.flow_update_failed] !== before[Reason.flow_update_failed];
      before = after;
      const reason = moved[0];
      result.byKind[frame.kind] = (result.byKind[frame.kind] ?? 0) + 1;
      if (reason) result.byVerdict[reason] = (result.byVerdict[reason] ?? 0) + 1;
      const run: Run = {
        frame,
        want,
        ...(rev ? { rev } : {}),
        ambiguous,
        action: res.retval,
        reason: reason!,
        out: res.data,
        updateFailed,
      };
      try {
        if (moved.length !== 1 || delta[0] !== 1) {
          fail(
            'counters',
            `verdict counters moved: ${moved.map((m, i) => `${m} +${delta[i]}`).join(', ') || 'none'}`,
          );
        }
        checker.check(run);
        if (icmpBefore) {
          const icmpAfter = icmp();
          const changed = icmpAfter.flatMap((n, id) =>
            n !== icmpBefore[id] ? [`${id} +${n - (icmpBefore[id] ?? 0)}`] : [],
          );
          const wanted = want.note === undefined ? [] : [`${want.note} +1`];
          if (!run.ambiguous && changed.join() !== wanted.join()) {
            fail(
              'icmp_note',
              `icmp_unreach moved [${changed.join(', ')}], the model says [${wanted.join(', ')}]`,
            );
          }
        }
      } catch (e) {
        if (!(e instanceof Failed)) throw e;
        const finding: Finding = {
          seed: opts.seed,
          index,
          kind: frame.kind,
          check: e.check,
          message: e.message,
          action: res.retval,
          ...(reason ? { reason } : {}),
          input: frame.bytes.toString('hex'),
          output: res.data.toString('hex'),
        };
        result.findingsByCheck[e.check] = (result.findingsByCheck[e.check] ?? 0) + 1;
        if (result.findings.length < keep) result.findings.push(finding);
        opts.onFinding?.(finding);
        return;
      }
      if (run.ambiguous) result.ambiguous++;
      // A balanced client datagram starts a flow the generator can answer and quote.
      const balanced = ['local', 'nat', 'fullnat', 'dsr', 'neigh_resolve'].includes(reason!);
      if (balanced && want.service && !want.icmp) {
        const sent = reason === 'neigh_resolve' ? res.data.subarray(xdpMeta.size) : res.data;
        const ingress = want.service.mode === Mode.local ? lb.fx.cl0 : lb.fx.be0;
        gen.remember({ fam: want.family as Fam, mode: want.service.mode, sent: Buffer.from(sent), ingress });
      }
    };

    for (let done = 0; done < opts.frames;) {
      const chunk = Math.min(every, opts.frames - done, 10_000);
      lb.fx.run(() => {
        for (let i = 0; i < chunk; i++) one(done + i);
      });
      done += chunk;
      result.frames = done;
      if (done % every === 0 || done === opts.frames) opts.onProgress?.(done);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    lb.close();
  }
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}
