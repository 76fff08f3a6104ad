// The daemon's figures, in the bench topology (generator -> lb -> sink):
//  - a one-backend change through the API (add, then remove), round trip and apply time, with a
//    small config and with a large one (the change is validated as a whole configuration);
//  - packets lost while the daemon is SIGKILLed and restarted, and while it is upgraded to a
//    changed BPF object, under a steady generator load — beside the loss of the same load
//    without any restart (the load balancer's own loss at that rate), measured in the same run.
import { bpfObjectPath } from '../src/util/paths.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { hostPort } from '../src/util/endpoint.js';
import { nsSh, nsSpawn } from '../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName } from '../src/lab/netns.js';
import type { Instruments } from '../src/lab/instruments.js';
import { CLI, Proc } from '../src/lab/proc.js';
import { largeConfig } from './control.js';
import { BENCH, benchFrame, type BenchNet } from './topology.js';
import type { ApiChangeFigures, DaemonBenchResult, LossFigures } from './types.js';

export const NEXT_OBJECT = bpfObjectPath('test/xlb-next.bpf.o');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]! : NaN;
};
const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bench service (nat, weighted round-robin over the sink's three addresses: equal weights until re-weighted) and `extra` services. */
function benchConfig(extraServices: number, backendsEach: number): string {
  const head = [
    'interfaces: [eth0, eth1]',
    'xdp_mode: native',
    'flow_table_size: 65536',
    'services:',
    '  - name: bench',
    `    vip: ${BENCH.vip[4]}`,
    `    port: ${BENCH.port}`,
    '    mode: nat',
    '    scheduler: weighted-round-robin',
    '    backends:',
    ...BENCH.backends[4].map((a) => `      - { address: ${a}, port: ${BENCH.backendPort} }`),
  ];
  if (extraServices === 0) return `${head.join('\n')}\n`;
  // largeConfig's services, minus its header, on lo-less interfaces: same shapes as bench/control.
  const body = largeConfig(extraServices, backendsEach).split('\n').slice(3).join('\n');
  return `${head.join('\n')}\n${body}`;
}

/** The kinds of one-backend change the API makes, as the daemon's log names them (`why`). */
const CHANGES = {
  add: /^api: add backend /,
  remove: /^api: remove backend /,
  weight: /^api: weight of /,
  drain: /^api: (?:un)?drain /,
} as const;

/** The daemon's 'applied' log lines of API changes to backends, newest last. */
function appliedLines(p: Proc): { why: string; writes: number; seconds: number }[] {
  return p.lines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as { event?: string; writes?: number; seconds?: number; why?: string };
      return j.event === 'applied' && typeof j.why === 'string' && j.why.startsWith('api: ')
        ? [{ why: j.why, writes: j.writes ?? NaN, seconds: j.seconds ?? NaN }]
        : [];
    } catch {
      return [];
    }
  });
}

const spread = (xs: number[]) => ({ median: round1(median(xs)), p95: round1(p95(xs)) });

/**
 * One-backend changes through a running daemon's API, `rounds` times each: add a backend and
 * remove it again, re-weight an existing one (to 2 and back), drain and undrain it. Round trips
 * as the client sees them; the apply part (plan and map writes) as the daemon logs it.
 */
export async function measureApiChanges(o: {
  api: ApiClient;
  daemon: Proc;
  service: string;
  /** A backend the service does not have (added and removed). */
  backend: { address: string; port: number };
  /** The id ('addr:port') of a backend the service has (re-weighted, drained). */
  existing: string;
  rounds: number;
  /** What the configuration holds, for the report. */
  services: number;
  backends: number;
}): Promise<ApiChangeFigures> {
  const { api } = o;
  const times = {
    add: [] as number[],
    remove: [] as number[],
    weight: [] as number[],
    drain: [] as number[],
  };
  const timed = async (into: number[], f: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await f();
    into.push(performance.now() - t);
  };
  const before = appliedLines(o.daemon).length;
  for (let i = 0; i < o.rounds; i++) {
    await timed(times.add, () => api.addBackend(o.service, o.backend));
    await timed(times.remove, () =>
      api.removeBackend(o.service, hostPort(o.backend.address, o.backend.port)),
    );
    await timed(times.weight, () => api.setWeight(o.service, o.existing, 2));
    await timed(times.weight, () => api.setWeight(o.service, o.existing, 1));
    await timed(times.drain, () => api.drain(o.service, o.existing));
    await timed(times.drain, () => api.undrain(o.service, o.existing));
  }
  await o.daemon.waitForCount(/"why":"api: /, before + 6 * o.rounds);
  const logs = appliedLines(o.daemon).slice(before);
  const applyOf = (re: RegExp) =>
    round1(median(logs.filter((l) => re.test(l.why)).map((l) => l.seconds * 1000)));
  return {
    services: o.services,
    backends: o.backends,
    addMs: spread(times.add),
    removeMs: spread(times.remove),
    weightMs: spread(times.weight),
    drainMs: spread(times.drain),
    applyMs: applyOf(CHANGES.add),
    applyByChangeMs: {
      add: applyOf(CHANGES.add),
      remove: applyOf(CHANGES.remove),
      weight: applyOf(CHANGES.weight),
      drain: applyOf(CHANGES.drain),
    },
    writes: median(logs.filter((l) => CHANGES.add.test(l.why)).map((l) => l.writes)),
  };
}

export async function measureDaemon(o: {
  net: BenchNet;
  inst: Instruments;
  tmpDir: string;
  quick: boolean;
}): Promise<DaemonBenchResult> {
  const { net, inst } = o;
  const configPath = join(o.tmpDir, 'daemon.yaml');
  const socket = join(o.tmpDir, 'daemon.sock');
  const instance = `bench-daemon-${process.pid}`;
  const api = new ApiClient({ socket, timeoutMs: 120_000 });
  let daemon: Proc | undefined;

  const start = async (env: NodeJS.ProcessEnv = {}): Promise<Proc> => {
    const p = new Proc(
      nsSpawn(
        net.lb,
        process.execPath,
        [CLI, 'daemon', '--config', configPath, '--instance', instance, '--api-socket', socket, '--no-watch'],
        { env: { ...process.env, ...env } },
      ),
    );
    await p.waitFor(/"event":"ready"/, 180_000);
    return p;
  };
  const apiFigures = async (services: number, backends: number): Promise<ApiChangeFigures> => {
    writeFileSync(configPath, benchConfig(services, backends));
    daemon = await start();
    try {
      return await measureApiChanges({
        api,
        daemon,
        service: 'bench',
        backend: { address: '198.51.100.14', port: BENCH.backendPort },
        existing: `${BENCH.backends[4][0]}:${BENCH.backendPort}`,
        rounds: o.quick ? 5 : 20,
        services: services + 1,
        backends: services * backends + BENCH.backends[4].length,
      });
    } finally {
      await daemon.stop();
      nsSh(net.lb, process.execPath, [CLI, 'down', '--instance', instance]);
      daemon = undefined;
    }
  };

  /** Bursts of the generator for `ms`, while `during` runs; what was sent and what arrived. */
  const load = async (ms: number, during: () => Promise<number>) => {
    inst.resetSink();
    let sent = 0;
    let stop = false;
    const frame = benchFrame(net, 4);
    const t0 = performance.now();
    const sender = (async () => {
      while (!stop) {
        sent += inst.generate({
          ns: net.gen,
          ifname: 'g0',
          template: frame,
          family: 4,
          count: 50_000,
          flows: 1000,
        }).sent;
        await sleep(1);
      }
    })();
    const gap = await during();
    while (performance.now() - t0 < ms) await sleep(20);
    stop = true;
    await sender;
    const seconds = (performance.now() - t0) / 1000;
    for (let i = 0; i < 100 && inst.sinkTotal() < sent; i++) await sleep(20);
    return { sent, received: inst.sinkTotal(), gapMs: gap, pps: sent / seconds };
  };

  try {
    const api = [await apiFigures(0, 0), await apiFigures(o.quick ? 100 : 1000, o.quick ? 16 : 64)];

    writeFileSync(configPath, benchConfig(0, 0));
    daemon = await start();
    // Warm-up: neighbours resolved before anything is counted.
    inst.generate({
      ns: net.gen,
      ifname: 'g0',
      template: benchFrame(net, 4),
      family: 4,
      count: 2000,
      flows: 1000,
    });
    await sleep(300);
    const seconds = o.quick ? 3000 : 6000;
    const runs: { what: LossFigures['what']; r: Awaited<ReturnType<typeof load>> }[] = [];
    runs.push({ what: 'no restart', r: await load(seconds, () => Promise.resolve(0)) });
    runs.push({
      what: 'SIGKILL + restart',
      r: await load(seconds, async () => {
        await sleep(seconds / 4);
        const t = performance.now();
        await daemon!.stop('SIGKILL');
        daemon = await start();
        return performance.now() - t;
      }),
    });
    runs.push({
      what: 'upgrade (SIGTERM + new object)',
      r: await load(seconds, async () => {
        await sleep(seconds / 4);
        const t = performance.now();
        await daemon!.stop('SIGTERM');
        daemon = await start({ XLB_BPF_OBJECT: NEXT_OBJECT });
        return performance.now() - t;
      }),
    });
    return {
      api,
      loss: runs.map(({ what, r }) => ({
        what,
        sent: r.sent,
        received: r.received,
        lost: r.sent - r.received,
        gapMs: Math.round(r.gapMs),
      })),
      offeredPps: Math.round(median(runs.map((x) => x.r.pps))),
    };
  } finally {
    await daemon?.stop();
    nsSh(net.lb, process.execPath, [CLI, 'down', '--instance', instance], { allowFail: true });
  }
}

/**
 * The one-backend changes alone, without the bench topology: a daemon on `lo` in a scratch
 * namespace holding `services` services of `backends` backends (bench/control.ts's large
 * config, maglev), changes to the first service.
 *
 *   node dist/bench/daemon.js [services] [backends] [rounds]     (as root; default 1000 64 10)
 */
export async function measureApiChangesAlone(o: {
  services: number;
  backends: number;
  rounds: number;
  tmpDir: string;
}): Promise<ApiChangeFigures> {
  const configPath = join(o.tmpDir, 'api.yaml');
  const socket = join(o.tmpDir, 'api.sock');
  const instance = `bench-api-${process.pid}`;
  writeFileSync(configPath, largeConfig(o.services, o.backends));
  const ns = netnsName('xlbb-', 'api');
  createNetns(ns);
  let daemon: Proc | undefined;
  try {
    daemon = new Proc(
      nsSpawn(ns, process.execPath, [
        CLI,
        'daemon',
        '--config',
        configPath,
        '--instance',
        instance,
        '--api-socket',
        socket,
        '--no-watch',
      ]),
    );
    await daemon.waitFor(/"event":"ready"/, 300_000);
    return await measureApiChanges({
      api: new ApiClient({ socket, timeoutMs: 120_000 }),
      daemon,
      service: 'svc0',
      backend: { address: '198.51.100.1', port: 30000 },
      existing: '198.51.100.1:20000',
      rounds: o.rounds,
      services: o.services,
      backends: o.services * o.backends,
    });
  } finally {
    await daemon?.stop();
    nsSh(ns, process.execPath, [CLI, 'down', '--instance', instance], { allowFail: true });
    deleteNetns(ns);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [services = 1000, backends = 64, rounds = 10] = process.argv.slice(2).map(Number);
  const tmpDir = mkdtempSync(join(tmpdir(), 'xlb-bench-api-'));
  try {
    const f = await measureApiChangesAlone({ services, backends, rounds, tmpDir });
    console.log(JSON.stringify(f, null, 2));
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}
