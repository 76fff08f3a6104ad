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

if (import.meta.url === `file://${process.argv[1]}`) {
  const packets = Number(process.env.XLB_BENCH_PACKETS ?? 1_000_000);
  console.log(costTable(measureCosts({ packets })));
}
