// Per-packet cost of the XDP program, measured by the kernel (BPF_PROG_TEST_RUN),
// side by side with a program that only returns XDP_PASS, in one run.
//
// The repeat pitfall (DESIGN.md): with repeat > 1 the kernel runs the program again
// on the buffer the previous run rewrote. For the balancing path two services point
// at each other (A's backend is B's address and port, and B's is A's), so every run
// rewrites a packet that matches the other service: each of the N runs is a full
// lookup + schedule + flow record + rewrite with checksum updates.
import { Dataplane } from '../src/control/dataplane.js';
import { loadConstantXdp, testRun, XdpAction } from '../src/kernel/program.js';
import { parseConfig } from '../src/model/config.js';
import { buildPacket, parsePacket } from '../src/model/packet.js';

export interface CostRow {
  subject: string;
  /** Median of the rounds, ns per packet. */
  ns: number;
  rounds: number[];
  /** ns above the XDP_PASS-only program. */
  overPass: number;
}

const PING_PONG = `
interface: lo
services:
  - { name: a, vip: 192.0.2.10, port: 53, backends: [{ address: 198.51.100.10, port: 5353 }] }
  - { name: b, vip: 198.51.100.10, port: 5353, backends: [{ address: 192.0.2.10, port: 53 }] }
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function measureCosts(opts: { packets?: number; rounds?: number } = {}): CostRow[] {
  const packets = opts.packets ?? 1_000_000;
  const rounds = opts.rounds ?? 5;
  const dp = Dataplane.load({ flowTableSize: 65536 });
  const pass = loadConstantXdp(XdpAction.PASS, 'xdp_pass_only');
  try {
    dp.apply(parseConfig(PING_PONG, 'bench'));
    const matching = buildPacket({
      ipv4: { src: '203.0.113.7', dst: '192.0.2.10' },
      udp: { sport: 40000, dport: 53 },
      payload: Buffer.alloc(32, 0x61),
    });
    const nonMatching = buildPacket({
      ipv4: { src: '203.0.113.7', dst: '192.0.2.10' },
      udp: { sport: 40000, dport: 9 },
      payload: Buffer.alloc(32, 0x61),
    });
    // The ping-pong really rewrites: one run sends the packet to service b's address.
    const once = testRun(dp.xdpProgram.fd, { data: matching });
    const p = parsePacket(once.data);
    if (p.ipv4?.dst !== '198.51.100.10' || p.udp?.dport !== 5353 || !p.udp.checksumValid) {
      throw new Error('bench setup: the matching packet was not rewritten as expected');
    }
    const subjects: [string, number, Buffer][] = [
      ['xdp-pass-only', pass.fd, nonMatching],
      ['xlb non-matching (no service on port)', dp.xdpProgram.fd, nonMatching],
      ['xlb matching (local mode, rewrite + flow hit)', dp.xdpProgram.fd, matching],
    ];
    const samples = subjects.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      subjects.forEach(([, fd, frame], i) => {
        samples[i]!.push(testRun(fd, { data: frame, repeat: packets }).durationNs);
      });
    }
    const base = median(samples[0]!);
    return subjects.map(([subject], i) => {
      const ns = median(samples[i]!);
      return { subject, ns, rounds: samples[i]!, overPass: ns - base };
    });
  } finally {
    pass.close();
    dp.close();
  }
}

export function costTable(rows: CostRow[], packets: number): string {
  const lines = [
    `| path | ns/packet (median) | over XDP_PASS-only | rounds (ns) |`,
    `|---|---:|---:|---|`,
    ...rows.map(
      (r) =>
        `| ${r.subject} | ${r.ns} | ${r.overPass >= 0 ? '+' : ''}${r.overPass} | ${r.rounds.join(', ')} |`,
    ),
  ];
  return `${lines.join('\n')}\n\nBPF_PROG_TEST_RUN, repeat=${packets} per round, ${rows[0]?.rounds.length ?? 0} rounds interleaved.`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const packets = Number(process.env.XLB_BENCH_PACKETS ?? 1_000_000);
  console.log(costTable(measureCosts({ packets }), packets));
}
