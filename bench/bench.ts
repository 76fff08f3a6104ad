// npm run bench [-- --quick] [--packets N] [--runs N] [--flows N,N,…] [--only TEXT] [--out DIR]
//
// xlb beside the ceiling of the topology and beside its peers, in one run, once per flow
// count (1,000, 100,000 and 1,000,000 distinct source address/port pairs; quick: 1,000):
//   limit       a trivial XDP forwarder (MACs + redirect): the most this topology passes;
//   xlb         each remote mode (dsr, nat, fullnat), IPv4 and IPv6, each scheduler;
//   nftables    DNAT with numgen inc mod N, kernel forwarding;
//   nginx       Debian's nginx stream module as UDP proxy, one worker, proxy_responses 0;
//   node-proxy  a minimal Node.js dgram round-robin proxy.
// The generator (live-frame BPF_PROG_TEST_RUN) and the load balancer's softirq work run
// on one CPU; forwarded packets are what the sink (XDP, counts and drops) saw. Then the
// per-packet cost of xlb's paths (bench/cost.ts: one flow chained, and the repeat=1
// method across 1 / 100,000 / 1,000,000 flows), what the programs and flow tables cost the
// kernel (bench/footprint.ts) and the control plane's figures (bench/control.ts). Results: bench/results/<date>-<commit>.{json,md,svg} and latest.*.
import { hostPort } from '../src/util/endpoint.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StatsSnapshot } from '../src/control/stats.js';
import { nsSh, sh } from '../src/lab/exec.js';
import { Instruments } from '../src/lab/instruments.js';
import { removeStaleNetns } from '../src/lab/netns.js';
import { XDP_PASS_OBJECT } from '../src/lab/topology.js';
import { CLI, startXlbRun, type Proc } from '../src/lab/proc.js';
import { flowTableSizeFor, measureCosts, measureFlowCosts } from './cost.js';
import { measureFootprint } from './footprint.js';
import { measureControlPlane } from './control.js';
import { measureDaemon } from './daemon.js';
import { measureMaglev } from './maglev.js';
import { PEERS, peerPrerequisites, type Peer } from './peers.js';
import { writeReport, markdownReport } from './report.js';
import { BENCH, benchFrame, buildBenchNet, type BenchNet } from './topology.js';
import type { BenchResults, ThroughputResult } from './types.js';

const PREFIX = 'xlbb-';
/** Peers that hold a socket per flow (nginx, node-proxy) run at the first flow count only. */
const USERSPACE_PEERS = ['nginx', 'node-proxy'];

interface Options {
  quick: boolean;
  packets: number;
  runs: number;
  /** Throughput flow counts. */
  flows: number[];
  /** repeat=1 cost: flow counts, calls per round, rounds. */
  costFlows: number[];
  costCalls: number;
  costRounds: number;
  only?: string;
  out: string;
}

interface Subject {
  subject: string;
  family: 4 | 6;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Spread from another source than the sink (dsr keeps the service address). */
  spread?: () => Record<string, number>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Scheduler = 'round-robin' | 'maglev';

function xlbConfig(mode: 'dsr' | 'nat' | 'fullnat', scheduler: Scheduler, flowTableSize: number): string {
  const svc = (fam: 4 | 6) =>
    [
      `  - name: bench-v${fam}`,
      `    vip: "${BENCH.vip[fam]}"`,
      `    port: ${BENCH.port}`,
      `    mode: ${mode}`,
      `    scheduler: ${scheduler}`,
      ...(mode === 'fullnat' ? [`    snat: { address: "${BENCH.snat[fam]}", ports: 20000-60000 }`] : []),
      `    backends:`,
      ...BENCH.backends[fam].map((a) =>
        mode === 'dsr'
          ? `      - { address: "${a}" }`
          : `      - { address: "${a}", port: ${BENCH.backendPort} }`,
      ),
    ].join('\n');
  return `interfaces: [eth0, eth1]\nxdp_mode: native\nflow_table_size: ${flowTableSize}\nservices:\n${svc(4)}\n${svc(6)}\n`;
}

function xdpPass(net: BenchNet, on: boolean): void {
  const args = on ? ['xdpdrv', 'obj', XDP_PASS_OBJECT, 'sec', 'xdp'] : ['xdpdrv', 'off'];
  nsSh(net.lb, 'ip', ['link', 'set', 'dev', 'eth0', ...args]);
}

function subjects(net: BenchNet, inst: Instruments, tmp: string, flows: number): Subject[] {
  const out: Subject[] = [];
  for (const family of [4, 6] as const) {
    out.push({
      subject: 'limit',
      family,
      setup: () => {
        inst.attachLimit(net.lb, 'eth0', 'eth1', net.mac.s0, net.mac.eth1);
        return Promise.resolve();
      },
      teardown: () => {
        inst.detach('xlb_limit');
        return Promise.resolve();
      },
    });
  }
  for (const [mode, scheduler] of (['dsr', 'nat', 'fullnat'] as const).flatMap((m) =>
    (['round-robin', 'maglev'] as const).map((s) => [m, s] as const),
  )) {
    let xlb: Proc | undefined;
    const instance = `bench-${mode}-${scheduler}-${process.pid}`;
    const stats = () =>
      JSON.parse(
        nsSh(net.lb, process.execPath, [CLI, 'stats', '--instance', instance, '--json']),
      ) as StatsSnapshot;
    for (const family of [4, 6] as const) {
      let before: StatsSnapshot | undefined;
      out.push({
        subject: `xlb ${mode} ${scheduler}`,
        family,
        setup: async () => {
          const config = join(tmp, `xlb-${mode}-${scheduler}.yaml`);
          // One instance serves both families, one after the other: room for both's flows.
          writeFileSync(config, xlbConfig(mode, scheduler, flowTableSizeFor(2 * flows)));
          xlb = await startXlbRun(net.lb, config, instance);
        },
        teardown: async () => {
          await xlb?.stop();
        },
        spread:
          mode === 'dsr'
            ? () => {
                const now = stats();
                const svc = now.services.find((s) => s.name === `bench-v${family}`)!;
                const prev = before?.services.find((s) => s.name === `bench-v${family}`);
                before = now;
                return Object.fromEntries(
                  svc.backends.map((b) => [
                    hostPort(b.address, b.port),
                    b.packets - (prev?.backends.find((p) => p.id === b.id)?.packets ?? 0),
                  ]),
                );
              }
            : undefined,
      });
    }
  }
  for (const make of PEERS) {
    const peer: Peer = make();
    out.push({
      subject: peer.name,
      family: 4,
      setup: async () => {
        xdpPass(net, true);
        await peer.start({
          ns: net.lb,
          vip: BENCH.vip[4],
          port: BENCH.port,
          backends: BENCH.backends[4].map((address) => ({ address, port: BENCH.backendPort })),
          tmpDir: tmp,
        });
      },
      teardown: async () => {
        await peer.stop();
        xdpPass(net, false);
      },
    });
  }
  return out;
}

async function settle(inst: Instruments, expected: number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 40; i++) {
    const now = inst.sinkTotal();
    if (now >= expected || now === last) return now;
    last = now;
    await new Promise((r) => setTimeout(r, 50));
  }
  return inst.sinkTotal();
}

async function measure(
  net: BenchNet,
  inst: Instruments,
  s: Subject,
  o: Options,
  flows: number,
): Promise<Omit<ThroughputResult, 'ratioToLimit'>> {
  const frame = benchFrame(net, s.family);
  const gen = (count: number) =>
    inst.generate({
      ns: net.gen,
      ifname: 'g0',
      template: frame,
      family: s.family,
      count,
      flows,
      maxSeconds: 30,
    });
  // Warm-up: neighbours resolved, every flow created once (the generator starts each call at
  // flow 0), proxies' sockets hot.
  gen(Math.max(Math.min(20_000, o.packets), flows));
  await settle(inst, 0);
  s.spread?.();
  const runs: {
    pps: number;
    offered: number;
    loss: number;
    sent: number;
    received: number;
    spread: Record<string, number>;
  }[] = [];
  for (let r = 0; r < o.runs; r++) {
    inst.resetSink();
    const g = gen(o.packets);
    const received = await settle(inst, g.sent);
    const spread = s.spread?.() ?? Object.fromEntries(inst.sinkCounts());
    runs.push({
      pps: received / g.seconds,
      offered: g.sent / g.seconds,
      loss: 1 - received / g.sent,
      sent: g.sent,
      received,
      spread,
    });
  }
  const byPps = [...runs].sort((a, b) => a.pps - b.pps);
  const mid = byPps[Math.floor(byPps.length / 2)]!;
  return {
    subject: s.subject,
    family: s.family,
    flows,
    pps: median(runs.map((r) => r.pps)),
    offeredPps: median(runs.map((r) => r.offered)),
    loss: median(runs.map((r) => r.loss)),
    spread: mid.spread,
    runs: runs.map((r) => r.pps),
    sent: runs.map((r) => r.sent),
    received: runs.map((r) => r.received),
  };
}

function conntrackMax(): string {
  try {
    return readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function commit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      packets: { type: 'string' },
      runs: { type: 'string' },
      flows: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  return {
    quick,
    packets: Number(values.packets ?? (quick ? 50_000 : 3_000_000)),
    runs: Number(values.runs ?? 3),
    flows: values.flows ? values.flows.split(',').map(Number) : quick ? [1000] : [1000, 100_000, 1_000_000],
    costFlows: quick ? [1, 10_000] : [1, 100_000, 1_000_000],
    costCalls: quick ? 1000 : 10_000,
    costRounds: quick ? 3 : 5,
    only: values.only,
    out: values.out ?? fileURLToPath(new URL('../../bench/results', import.meta.url)),
  };
}

export async function runBench(o: Options): Promise<BenchResults> {
  const missing = peerPrerequisites();
  if (missing.length) throw new Error(`the benchmark needs: ${missing.join('; ')}`);
  // Generator, load balancer and sink share one CPU (the softirq work follows the sender).
  sh('taskset', ['-cp', '0', String(process.pid)]);
  removeStaleNetns(PREFIX);
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-bench-'));
  const net = buildBenchNet(`${PREFIX}${process.pid}-`);
  const inst = Instruments.load();
  const results: BenchResults = {
    date: new Date().toISOString(),
    kernel: release(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    commit: commit(),
    quick: o.quick,
    packetsPerRun: o.packets,
    flowCounts: o.flows,
    throughput: [],
    cost: [],
    notes: [],
  };
  try {
    inst.attachSink(net.sink, 's0');
    const measured: Omit<ThroughputResult, 'ratioToLimit'>[] = [];
    for (const flows of o.flows) {
      for (const s of subjects(net, inst, tmp, flows)) {
        if (o.only && !`${s.subject} IPv${s.family}`.includes(o.only) && s.subject !== 'limit') continue;
        if (flows !== o.flows[0] && USERSPACE_PEERS.includes(s.subject)) continue;
        await s.setup();
        try {
          measured.push(await measure(net, inst, s, o, flows));
        } finally {
          await s.teardown();
        }
        const m = measured.at(-1)!;
        process.stderr.write(
          `bench: ${m.subject} IPv${m.family}, ${m.flows} flows: ${(m.pps / 1e6).toFixed(3)} Mpps\n`,
        );
      }
    }
    const pps = (subject: string, f: 4 | 6, flows: number) =>
      measured.find((m) => m.subject === subject && m.family === f && m.flows === flows)?.pps;
    results.throughput = measured.map((m) => {
      const nft = pps('nftables', m.family, m.flows);
      return {
        ...m,
        ratioToLimit: m.pps / (pps('limit', m.family, m.flows) ?? NaN),
        ...(nft === undefined ? {} : { ratioToNftables: m.pps / nft }),
      };
    });
    // Each later stage on its own: one that fails is named in failures, the others still report.
    const stage = async (name: string, body: () => unknown) => {
      try {
        await body();
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        results.failures = [...(results.failures ?? []), `${name}: ${why}`];
        process.stderr.write(`bench: ${name} failed: ${why}\n`);
      }
    };
    await stage('chained cost', () => {
      results.cost = measureCosts({ packets: o.quick ? 100_000 : 1_000_000, rounds: o.quick ? 3 : 5 }).map(
        (c) => ({
          subject: c.subject,
          nsPerPacket: c.ns,
          overPassNs: c.overPass,
          packets: c.packets,
          rounds: c.rounds,
        }),
      );
    });
    await stage('repeat=1 cost', () => {
      results.flowCost = measureFlowCosts({
        flows: o.costFlows,
        callsPerRound: o.costCalls,
        rounds: o.costRounds,
        progress: (line) => process.stderr.write(`bench: ${line}\n`),
      }).map((c) => ({
        subject: c.subject,
        family: c.family,
        flows: c.flows,
        flowTableSize: c.flowTableSize,
        nsPerPacket: c.ns,
        overPassNs: c.overPass,
        callsPerRound: c.callsPerRound,
        rounds: c.rounds,
        expectedVerdictShare: c.expected,
      }));
    });
    await stage('footprint', () => {
      results.footprint = measureFootprint([...new Set(o.flows.map((f) => flowTableSizeFor(2 * f)))]);
    });
    await stage('control plane', async () => {
      results.control = await measureControlPlane({
        services: o.quick ? 100 : 1000,
        backendsPerService: 64,
        tmpDir: tmp,
      });
    });
    await stage('maglev', () => {
      results.maglev = measureMaglev({
        sizes: [65537],
        backendCounts: o.quick ? [10, 100] : [10, 100, 1000],
        rounds: o.quick ? 1 : 3,
      });
    });
    await stage('daemon', async () => {
      results.daemon = await measureDaemon({ net, inst, tmpDir: tmp, quick: o.quick });
    });
    results.notes.push(
      `one CPU (taskset 0) runs the generator, the load balancer's XDP/softirq work and the sink; userspace proxies run where the scheduler puts them`,
      `flows: ${o.flows.join(', ')} (source ports 10000-59999, then the source address's last byte); one run of every subject per flow count, each after a warm-up that sends every flow once; ${o.packets} packets per run, ${o.runs} runs per subject, median shown`,
      `xlb's flow tables sized per flow count (flow_table_size a power of two ≥ 1.5 × the flows of both families); nginx and node-proxy hold a socket per flow and run at ${o.flows[0]} flows only; nftables uses the kernel's conntrack (nf_conntrack_max ${conntrackMax()})`,
      `fullnat: one snat address, ports 20000-60000, 3 backends: 120,003 source ports, so at more flows than that new flows find no port and are dropped (loss)`,
      `repeat=1 cost: ${o.costRounds} interleaved rounds × ${o.costCalls} calls per subject, each call one packet of the next flow, after one call per flow; kernel-reported ns per call minus XDP_PASS-only measured the same way (cold caches: JS runs between calls, so these are far above the chained figures)`,
      "dsr keeps the service address: its spread comes from xlb's per-backend counters, the others' from the sink",
    );
    return results;
  } finally {
    inst.close();
    net.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = options();
  const results = await runBench(o);
  const paths = writeReport(results, o.out);
  console.log(markdownReport(results));
  console.error(`bench: wrote ${paths.markdown}, ${paths.json}, ${paths.svg}`);
  if (results.failures?.length) {
    console.error(`bench: ${results.failures.length} stage(s) failed:\n${results.failures.join('\n')}`);
    process.exitCode = 1;
  }
}
