// Per-packet cost of xlb's XDP paths, measured by the kernel (BPF_PROG_TEST_RUN)
// side by side with a program that only returns XDP_PASS, in one run.
//
// The repeat pitfall (DESIGN.md): with repeat > 1 the kernel runs the program again
// on the buffer the previous run rewrote. Every subject here is set up so that each
// run's output is a valid input of the same path:
//   - services point at each other in pairs (A's backend is B's address and port and
//     B's is A's), so every run rewrites a packet that matches the other service;
//   - the routed modes decrement the TTL, so packets start at TTL 255 and one call
//     makes 250 runs (each a fresh, matching packet); 4,000 calls make 1e6 packets;
//   - fullnat's established flows are two flow entries written beforehand that hand
//     the packet to each other (flow A's source port is flow B's client port);
//   - fullnat's new-flow path chains new flows (every run claims a source port), and
//     is measured over fewer packets, before the port range fills up.
// All subjects, the baseline included, are timed the same way: same calls, same
// repeat, rounds interleaved; the figure is the median of the rounds.
//
// A test run with repeat > 1 installs its program in the kernel's XDP dispatcher and
// removes it afterwards (a synchronize_rcu each, milliseconds), unless the program is
// already there: so each measured program is attached in native mode to an idle
// veth of the fixture namespace while the runs are made.
import { Dataplane } from '../src/control/dataplane.js';
import { sh } from '../src/lab/exec.js';
import { FX, createFixtureNet, type FixtureNet } from '../src/lab/fixture-net.js';
import type { BpfLink } from '../src/kernel/link.js';
import { loadConstantXdp, testRun, xdpContext, XdpAction } from '../src/kernel/program.js';
import { attachXdp } from '../src/kernel/xdp.js';
import { addrTo16 } from '../src/model/addr.js';
import { parseConfig } from '../src/model/config.js';
import { buildPacket, parsePacket, type PacketSpec } from '../src/testing/packet.js';

export interface CostRow {
  subject: string;
  /** Median of the rounds, ns per packet. */
  ns: number;
  rounds: number[];
  /** ns above the XDP_PASS-only program. */
  overPass: number;
  packets: number;
}

const RUNS_PER_CALL = 250;

const p1 = (f: 4 | 6) => FX.peer(1, f);
const p2 = (f: 4 | 6) => FX.peer(2, f);

const CONFIG = `
interface: lo
flow_table_size: 262144
services:
  - { name: local-a, vip: 192.0.2.10, port: 53, scheduler: round-robin, backends: [{ address: 198.51.100.10, port: 5353 }] }
  - { name: local-b, vip: 198.51.100.10, port: 5353, scheduler: round-robin, backends: [{ address: 192.0.2.10, port: 53 }] }
${([4, 6] as const)
  .map(
    (f) => `
  - { name: nat${f}-a, vip: "${p1(f)}", port: 53, mode: nat, scheduler: round-robin, backends: [{ address: "${p2(f)}", port: 54 }] }
  - { name: nat${f}-b, vip: "${p2(f)}", port: 54, mode: nat, scheduler: round-robin, backends: [{ address: "${p1(f)}", port: 53 }] }
  - { name: dsr${f}, vip: "${p1(f)}", port: 55, mode: dsr, scheduler: round-robin, backends: [{ address: "${p2(f)}" }] }
  - { name: natm${f}-a, vip: "${p1(f)}", port: 60, mode: nat, scheduler: maglev, backends: [{ address: "${p2(f)}", port: 61 }] }
  - { name: natm${f}-b, vip: "${p2(f)}", port: 61, mode: nat, scheduler: maglev, backends: [{ address: "${p1(f)}", port: 60 }] }
  - { name: nats${f}-a, vip: "${p1(f)}", port: 62, mode: nat, scheduler: maglev, flow_affinity: false, backends: [{ address: "${p2(f)}", port: 63 }] }
  - { name: nats${f}-b, vip: "${p2(f)}", port: 63, mode: nat, scheduler: maglev, flow_affinity: false, backends: [{ address: "${p1(f)}", port: 62 }] }
  - name: full${f}-a
    vip: "${p1(f)}"
    port: 56
    mode: fullnat
    snat: { address: "${FX.be0[f]}", ports: 20000-60000 }
    flow_timeouts: { unreplied: 60000, assured: 60000 }
    backends: [{ address: "${p2(f)}", port: 57 }]
  - name: full${f}-b
    vip: "${p2(f)}"
    port: 57
    mode: fullnat
    snat: { address: "${FX.be0[f]}", ports: 20000-60000 }
    flow_timeouts: { unreplied: 60000, assured: 60000 }
    backends: [{ address: "${p1(f)}", port: 56 }]`,
  )
  .join('')}
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function udp(f: 4 | 6, src: string, dst: string, sport: number, dport: number): PacketSpec {
  const ip = f === 4 ? { ipv4: { src, dst, ttl: 255 } } : { ipv6: { src, dst, hopLimit: 255 } };
  return {
    eth: { src: FX.peerMac(2), dst: FX.be0Mac },
    ...ip,
    udp: { sport, dport },
    payload: Buffer.alloc(32, 0x61),
  };
}

/**
 * Two fullnat flows that hand the packet to each other: (snat:1000 -> A) goes to B's
 * address from snat:1001, and (snat:1001 -> B) goes to A's from snat:1000.
 */
function pairFullnatFlows(dp: Dataplane, f: 4 | 6): void {
  const plan = dp.reconciler.applied;
  const svc = (name: string) => plan.services.find((s) => s.name === name)!;
  const a = svc(`full${f}-a`);
  const b = svc(`full${f}-b`);
  // CLOCK_MONOTONIC, a second back: bpf_ktime_get_coarse_ns() may lag the fine clock by
  // a tick, and a timestamp in its future would make the flow look expired.
  const now = process.hrtime.bigint() - 1_000_000_000n;
  const snat = addrTo16(FX.be0[f]);
  const flow = (
    s: typeof a,
    clientPort: number,
    snatPort: number,
    backendAddr: string,
    backendPort: number,
  ) => {
    const backend = s.backends[0]!;
    dp.maps.fwdFlows.set(
      { src: snat, dst: addrTo16(s.vip), sport: clientPort, dport: s.port, proto: 17, family: f },
      {
        last_seen_ns: now,
        backend_id: backend.id,
        svc_id: s.id,
        snat_port: snatPort,
        flags: 1,
        timeout_unreplied_s: 60000,
        timeout_assured_s: 60000,
      },
    );
    dp.maps.revNat.set(
      { src: addrTo16(backendAddr), dst: snat, sport: backendPort, dport: snatPort, proto: 17, family: f },
      {
        last_seen_ns: now,
        vaddr: addrTo16(s.vip),
        caddr: snat,
        vport: s.port,
        cport: clientPort,
        svc_id: s.id,
        backend_id: backend.id,
        timeout_unreplied_s: 60000,
        timeout_assured_s: 60000,
        flags: 3,
        mode: 2,
      },
    );
  };
  flow(a, 1000, 1001, p2(f), 57);
  flow(b, 1001, 1000, p1(f), 56);
}

interface Subject {
  name: string;
  fd: number;
  frame: Buffer;
  /** Packets per round (defaults to the run's). */
  packets?: number;
  /** What the first run must do, checked before timing. */
  expect: { action: number; changed: boolean };
}

export function measureCosts(opts: { packets?: number; rounds?: number } = {}): CostRow[] {
  const packets = opts.packets ?? 1_000_000;
  const rounds = opts.rounds ?? 5;
  const calls = Math.max(1, Math.round(packets / RUNS_PER_CALL));
  let fx: FixtureNet | undefined;
  let dp: Dataplane | undefined;
  const pass = loadConstantXdp(XdpAction.PASS, 'xdp_pass_only');
  const links: BpfLink[] = [];
  try {
    fx = createFixtureNet('cost', 'xlbb-');
    dp = Dataplane.load({ flowTableSize: 262144 });
    const d = dp;
    const net = fx;
    d.apply(parseConfig(CONFIG, 'bench'));
    net.run(() => d.maps.txPorts.set(net.be0, net.be0));
    for (const f of [4, 6] as const) pairFullnatFlows(d, f);
    // Keep both programs in the XDP dispatcher (see the header).
    links.push(net.run(() => attachXdp(d.xdpProgram.fd, 'clp', { mode: 'native' }).link));
    links.push(net.run(() => attachXdp(pass.fd, 'bep', { mode: 'native' }).link));

    const subjects: Subject[] = [
      {
        name: 'XDP_PASS-only program',
        fd: pass.fd,
        frame: buildPacket(udp(4, FX.client[4], p1(4), 1, 9)),
        expect: { action: XdpAction.PASS, changed: false },
      },
      {
        name: 'xlb: UDP to a port without a service',
        fd: d.xdpProgram.fd,
        frame: buildPacket(udp(4, FX.client[4], p1(4), 1, 9)),
        expect: { action: XdpAction.PASS, changed: false },
      },
      {
        name: 'xlb local round-robin, IPv4',
        fd: d.xdpProgram.fd,
        frame: buildPacket(udp(4, FX.client[4], '192.0.2.10', 40000, 53)),
        expect: { action: XdpAction.PASS, changed: true },
      },
    ];
    for (const f of [4, 6] as const) {
      subjects.push(
        {
          name: `xlb nat round-robin, IPv${f}`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.client[f], p1(f), 40000, 53)),
          expect: { action: XdpAction.TX, changed: true },
        },
        {
          name: `xlb fullnat maglev, IPv${f}, flow-table hit`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.be0[f], p1(f), 1000, 56)),
          expect: { action: XdpAction.TX, changed: true },
        },
        {
          name: `xlb fullnat maglev, IPv${f}, flow-table miss (new flow every packet)`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.client[f], p1(f), 40000, 56)),
          packets: 25_000,
          expect: { action: XdpAction.TX, changed: true },
        },
        {
          name: `xlb nat maglev, IPv${f}, flow-table hit`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.client[f], p1(f), 40000, 60)),
          expect: { action: XdpAction.TX, changed: true },
        },
        {
          name: `xlb nat maglev, IPv${f}, no flow table (hash every packet)`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.client[f], p1(f), 40000, 62)),
          expect: { action: XdpAction.TX, changed: true },
        },
        {
          name: `xlb dsr round-robin, IPv${f}`,
          fd: d.xdpProgram.fd,
          frame: buildPacket(udp(f, FX.client[f], p1(f), 40000, 55)),
          expect: { action: XdpAction.TX, changed: true },
        },
      );
    }

    const only = process.env.XLB_COST_ONLY;
    if (only) subjects.splice(1, subjects.length, ...subjects.slice(1).filter((x) => x.name.includes(only)));
    const samples = subjects.map(() => [] as number[]);
    net.run(() => {
      for (const s of subjects) {
        const r = testRun(s.fd, { data: s.frame, ctx: xdpContext(s.frame.length, net.be0) });
        if (r.retval !== s.expect.action || r.data.equals(s.frame) === s.expect.changed) {
          throw new Error(
            `cost setup: '${s.name}' returned ${r.retval} (${r.data.equals(s.frame) ? 'unchanged' : 'rewritten'})`,
          );
        }
        if (s.expect.changed) parsePacket(r.data); // rewritten into a well-formed packet
      }
      for (let round = 0; round < rounds; round++) {
        subjects.forEach((s, i) => {
          const n = Math.max(1, Math.round((s.packets ?? packets) / RUNS_PER_CALL));
          let total = 0;
          for (let c = 0; c < Math.min(n, calls); c++) {
            total += testRun(s.fd, {
              data: s.frame,
              ctx: xdpContext(s.frame.length, net.be0),
              repeat: RUNS_PER_CALL,
            }).durationNs;
          }
          samples[i]!.push(Math.round((total / Math.min(n, calls)) * 10) / 10);
        });
      }
    });
    const base = median(samples[0]!);
    return subjects.map((s, i) => {
      const ns = median(samples[i]!);
      return {
        subject: s.name,
        ns,
        rounds: samples[i]!,
        overPass: Math.round((ns - base) * 10) / 10,
        packets: Math.min(s.packets ?? packets, packets),
      };
    });
  } finally {
    for (const l of links) l.close();
    pass.close();
    dp?.close();
    fx?.destroy();
  }
}

export function costTable(rows: CostRow[]): string {
  const lines = [
    `| path | ns/packet (median) | over XDP_PASS-only | packets per round | rounds (ns) |`,
    `|---|---:|---:|---:|---|`,
    ...rows.map(
      (r) =>
        `| ${r.subject} | ${r.ns} | ${r.overPass >= 0 ? '+' : ''}${r.overPass} | ${r.packets} | ${r.rounds.join(', ')} |`,
    ),
  ];
  return `${lines.join('\n')}\n\nBPF_PROG_TEST_RUN, ${RUNS_PER_CALL} runs per call (TTL 255 → every run a fresh matching packet), ${rows[0]?.rounds.length ?? 0} interleaved rounds.`;
}

if (import.meta.url === `file://${process.argv[1]}` && !process.env.XLB_FLOW_COST) {
  const packets = Number(process.env.XLB_BENCH_PACKETS ?? 1_000_000);
  console.log(costTable(measureCosts({ packets })));
}

// ---- the repeat=1 method: one packet of the next flow per call ---------------------------------
//
// The chained method above measures one flow (or one new flow after another). This one
// measures a path across many flows: every BPF_PROG_TEST_RUN call (repeat=1, no chaining)
// carries a packet of the next flow, flows cycling through `flows` distinct source
// addresses and ports, after a warm-up call per flow so that the flow tables hold them
// all. The figure is the duration the kernel measured for each call (JS's own microseconds
// per call through koffi are not in it), minus the XDP_PASS-only program measured the
// same way in the same rounds. The subjects of a family share one data plane, with tables sized
// for the flows all its subjects hold (flowTableSizeFor), so no flow is evicted.

/** Source ports vary over this many values (from 1024) before the source address does. */
const FLOW_PORTS = 50_000;
/** Backends per service: fullnat's source ports are claimed per backend (32 × 64,512 for 1e6 flows). */
const FLOW_BACKENDS = 32;

/** The flow tables (fwd_flows, rev_nat) for a flow count: a power of two ≥ 1.5 × flows, within xlb's limits. */
export function flowTableSizeFor(flows: number): number {
  let size = 1024;
  while (size < flows * 1.5 && size < 16_777_216) size *= 2;
  return size;
}

const flowBackend = (f: 4 | 6, n: number) => (f === 4 ? `198.51.100.${100 + n}` : `fd00:198::${100 + n}`);

function flowConfig(f: 4 | 6, tableSize: number): string {
  const backends = (port?: number) =>
    `[${Array.from({ length: FLOW_BACKENDS }, (_, n) =>
      port === undefined
        ? `{ address: "${flowBackend(f, n)}" }`
        : `{ address: "${flowBackend(f, n)}", port: ${port} }`,
    ).join(', ')}]`;
  const svc = (name: string, port: number, rest: string) =>
    `  - { name: ${name}, vip: "${p1(f)}", port: ${port}, ${rest} }`;
  return [
    `interface: lo`,
    `flow_table_size: ${tableSize}`,
    // 1,000,000 flows of five paths: 8,388,608 entries per table, 2.3 GiB, above the default budget.
    `memory_limit: 8GiB`,
    `services:`,
    ...(f === 4
      ? [
          `  - { name: local-rr, vip: 192.0.2.10, port: 53, scheduler: round-robin, backends: [{ address: 198.51.100.10, port: 5353 }] }`,
        ]
      : []),
    svc('nat-rr', 53, `mode: nat, scheduler: round-robin, backends: ${backends(54)}`),
    svc('nat-maglev', 60, `mode: nat, scheduler: maglev, backends: ${backends(61)}`),
    svc('dsr-rr', 55, `mode: dsr, scheduler: round-robin, backends: ${backends()}`),
    svc('dsr-maglev', 58, `mode: dsr, scheduler: maglev, backends: ${backends()}`),
    svc(
      'fullnat-maglev',
      56,
      `mode: fullnat, scheduler: maglev, snat: { address: "${FX.be0[f]}", ports: 1024-65535 }, ` +
        `flow_timeouts: { unreplied: 60000, assured: 60000 }, backends: ${backends(57)}`,
    ),
    '',
  ].join('\n');
}

/** RFC 1624: a 16-bit one's-complement checksum after one 16-bit word changed from `old` to `now`. */
function csumReplace(check: number, old: number, now: number): number {
  let sum = (~check & 0xffff) + (~old & 0xffff) + now;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * A frame rewritten in place per flow: flow i sends from port 1024 + i mod 50,000 and from
 * the template's source address plus ⌊i / 50,000⌋ (last 16 bits); checksums kept valid.
 */
export function flowFrames(template: Buffer, f: 4 | 6): { frame: Buffer; set(flow: number): void } {
  const frame = Buffer.from(template);
  const addrWord = f === 4 ? 14 + 14 : 14 + 22;
  const sportAt = f === 4 ? 34 : 54;
  const udpCheckAt = sportAt + 6;
  const baseAddr = template.readUInt16BE(addrWord);
  const baseSport = template.readUInt16BE(sportAt);
  const ipCheck = template.readUInt16BE(24);
  const udpCheck = template.readUInt16BE(udpCheckAt);
  return {
    frame,
    set(flow: number) {
      const sport = 1024 + (flow % FLOW_PORTS);
      const addr = baseAddr + Math.floor(flow / FLOW_PORTS);
      if (addr > 0xffff || (addr & 0xff) < (baseAddr & 0xff)) throw new Error(`flow ${flow}: too many flows`);
      frame.writeUInt16BE(sport, sportAt);
      frame.writeUInt16BE(addr, addrWord);
      if (f === 4) frame.writeUInt16BE(csumReplace(ipCheck, baseAddr, addr), 24);
      if (udpCheck !== 0) {
        const c = csumReplace(csumReplace(udpCheck, baseSport, sport), baseAddr, addr);
        frame.writeUInt16BE(c === 0 ? 0xffff : c, udpCheckAt);
      }
    },
  };
}

export interface FlowCostRow {
  subject: string;
  family: 4 | 6;
  /** Distinct flows the calls cycle through. */
  flows: number;
  /** fwd_flows / rev_nat entries of the subject's data plane. */
  flowTableSize: number;
  /** Median over the rounds of the mean kernel-reported ns per call. */
  ns: number;
  /** ns above the XDP_PASS-only program measured the same way in the same rounds. */
  overPass: number;
  callsPerRound: number;
  rounds: number[];
  /** Share of the measured calls that returned the path's verdict (0..1). */
  expected: number;
}

interface FlowSubject {
  name: string;
  family: 4 | 6;
  port: number;
  dst: string;
  /** Records every flow (rev_nat, fwd_flows): warmed up with one call per flow. */
  stateful: boolean;
  action: number;
}

function flowSubjects(): FlowSubject[] {
  const out: FlowSubject[] = [
    {
      name: 'local round-robin',
      family: 4,
      port: 53,
      dst: '192.0.2.10',
      stateful: true,
      action: XdpAction.PASS,
    },
  ];
  for (const f of [4, 6] as const) {
    const tx = { family: f, dst: p1(f), action: XdpAction.TX };
    out.push(
      { ...tx, name: 'nat round-robin', port: 53, stateful: true },
      { ...tx, name: 'nat maglev', port: 60, stateful: true },
      { ...tx, name: 'fullnat maglev', port: 56, stateful: true },
      { ...tx, name: 'dsr round-robin', port: 55, stateful: false },
      { ...tx, name: 'dsr maglev', port: 58, stateful: true },
    );
  }
  return out;
}

/** The subjects' names as the rows show them, e.g. 'xlb nat maglev' (family in its own column). */
export const flowSubjectNames = (): string[] => flowSubjects().map((s) => `xlb ${s.name}`);

export interface FlowCostOptions {
  /** Flow counts, e.g. [1, 100_000, 1_000_000]. */
  flows: number[];
  callsPerRound: number;
  rounds: number;
  /** Stop warming up and measuring after this long per flow count and family (then fewer calls count). */
  maxSeconds?: number;
  progress?: (line: string) => void;
}

export function measureFlowCosts(o: FlowCostOptions): FlowCostRow[] {
  const rows: FlowCostRow[] = [];
  const all = flowSubjects();
  const net = createFixtureNet('flowcost', 'xlbb-');
  try {
    const neighbours = ([4, 6] as const).flatMap((f) =>
      Array.from(
        { length: FLOW_BACKENDS },
        (_, n) =>
          `neigh replace ${flowBackend(f, n)} lladdr 02:00:00:00:03:${n.toString(16).padStart(2, '0')} dev be0 nud permanent`,
      ),
    );
    sh('ip', ['-n', net.ns, '-batch', '-'], { input: `${neighbours.join('\n')}\n` });
    for (const flows of o.flows) {
      for (const f of [4, 6] as const) {
        const subjects = all.filter((s) => s.family === f);
        rows.push(...measureFlowGroup(net, flows, f, subjects, o));
      }
    }
    return rows;
  } finally {
    net.destroy();
  }
}

function measureFlowGroup(
  net: FixtureNet,
  flows: number,
  f: 4 | 6,
  subjects: FlowSubject[],
  o: FlowCostOptions,
): FlowCostRow[] {
  // Every subject's flows in one data plane, as a host's services share its tables: rev_nat
  // holds a flow of each subject that records replies, so the tables are sized for that.
  const tableSize = flowTableSizeFor(flows * Math.max(1, subjects.filter((s) => s.stateful).length));
  const deadline = Date.now() + (o.maxSeconds ?? 600) * 1000;
  let dp: Dataplane | undefined;
  const pass = loadConstantXdp(XdpAction.PASS, 'xdp_pass_only');
  try {
    o.progress?.(`repeat=1 cost: ${flows} flows, IPv${f}`);
    const d = Dataplane.load({ flowTableSize: tableSize });
    dp = d;
    d.apply(parseConfig(flowConfig(f, tableSize), 'bench'));
    net.run(() => d.maps.txPorts.set(net.be0, net.be0));
    const runs = [
      {
        name: 'XDP_PASS-only program',
        fd: pass.fd,
        port: 9,
        dst: p1(f),
        action: XdpAction.PASS,
        stateful: false,
      },
      ...subjects.map((s) => ({ ...s, name: `xlb ${s.name}`, fd: d.xdpProgram.fd })),
    ].map((s) => {
      const gen = flowFrames(buildPacket(udp(f, FX.client[f], s.dst, 1024, s.port)), f);
      return {
        ...s,
        gen,
        ctx: xdpContext(gen.frame.length, net.be0),
        next: 0,
        ok: 0,
        calls: 0,
        samples: [] as number[],
      };
    });
    const call = (s: (typeof runs)[number]) => {
      s.gen.set(s.next++ % flows);
      return testRun(s.fd, { data: s.gen.frame, ctx: s.ctx });
    };
    net.run(() => {
      // The frames are well formed for the first and last flow, and the path gives its verdict.
      for (const s of runs) {
        for (const flow of [flows - 1, 0]) {
          s.gen.set(flow);
          const p = parsePacket(s.gen.frame);
          if (p.udp?.checksumValid !== true || (f === 4 && p.ipv4?.checksumValid !== true))
            throw new Error(`flow cost: flow ${flow}'s frame has a bad checksum`);
        }
        const r = testRun(s.fd, { data: s.gen.frame, ctx: s.ctx });
        if (r.retval !== s.action)
          throw new Error(`flow cost setup: '${s.name}' IPv${f} returned ${r.retval}`);
      }
      // Warm-up: one call per flow, so the tables hold every flow before anything is timed.
      for (const s of runs.filter((x) => x.stateful)) {
        for (let i = 0; i < flows && Date.now() < deadline; i++) call(s);
      }
      for (let round = 0; round < o.rounds; round++) {
        for (const s of runs) {
          let total = 0;
          let n = 0;
          for (; n < o.callsPerRound && (n === 0 || Date.now() < deadline); n++) {
            const r = call(s);
            total += r.durationNs;
            s.calls++;
            if (r.retval === s.action) s.ok++;
          }
          s.samples.push(Math.round((total / n) * 10) / 10);
        }
      }
    });
    const base = median(runs[0]!.samples);
    return runs.map((s) => {
      const ns = median(s.samples);
      return {
        subject: s.name,
        family: f,
        flows,
        flowTableSize: tableSize,
        ns,
        overPass: Math.round((ns - base) * 10) / 10,
        callsPerRound: o.callsPerRound,
        rounds: s.samples,
        expected: s.calls ? s.ok / s.calls : NaN,
      };
    });
  } finally {
    dp?.close();
    pass.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}` && process.env.XLB_FLOW_COST) {
  const flows = process.env.XLB_FLOW_COST.split(',').map(Number);
  const t = Date.now();
  console.log(
    JSON.stringify(
      measureFlowCosts({
        flows,
        callsPerRound: Number(process.env.XLB_FLOW_COST_CALLS ?? 2000),
        rounds: Number(process.env.XLB_FLOW_COST_ROUNDS ?? 3),
        progress: (l) => console.error(l),
      }),
      null,
      1,
    ),
  );
  console.error(`${(Date.now() - t) / 1000} s`);
}
