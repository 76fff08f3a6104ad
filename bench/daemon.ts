// The daemon's figures, in the bench topology (generator -> lb -> sink):
//  - a one-backend change through the API (add, then remove), round trip and apply time, with a
//    small config and with a large one (the change is validated as a whole configuration);
//  - packets lost while the daemon is SIGKILLed and restarted, and while it is upgraded to a
//    changed BPF object, under a steady generator load — beside the loss of the same load
//    without any restart (the load balancer's own loss at that rate), measured in the same run.
import { bpfObjectPath } from '../src/util/paths.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { nsSh, nsSpawn } from '../src/lab/exec.js';
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

/** The bench service (nat, round-robin over the sink's three addresses) and `extra` services. */
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
    '    scheduler: round-robin',
    '    backends:',
    ...BENCH.backends[4].map((a) => `      - { address: ${a}, port: ${BENCH.backendPort} }`),
  ];
  if (extraServices === 0) return `${head.join('\n')}\n`;
  // largeConfig's services, minus its header, on lo-less interfaces: same shapes as bench/control.
  const body = largeConfig(extraServices, backendsEach).split('\n').slice(3).join('\n');
  return `${head.join('\n')}\n${body}`;
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
  const applied = (p: Proc) =>
    p.lines.flatMap((l) => {
      try {
        const j = JSON.parse(l) as { event?: string; writes?: number; seconds?: number; why?: string };
        return j.event === 'applied' && j.why?.startsWith('api: add backend') ? [j] : [];
      } catch {
        return [];
      }
    });

  const apiFigures = async (services: number, backends: number): Promise<ApiChangeFigures> => {
    writeFileSync(configPath, benchConfig(services, backends));
    daemon = await start();
    const adds: number[] = [];
    const removes: number[] = [];
    const rounds = o.quick ? 5 : 20;
    try {
      for (let i = 0; i < rounds; i++) {
        let t = performance.now();
        await api.addBackend('bench', { address: '198.51.100.14', port: BENCH.backendPort });
        adds.push(performance.now() - t);
        t = performance.now();
        await api.removeBackend('bench', `198.51.100.14:${BENCH.backendPort}`);
        removes.push(performance.now() - t);
      }
      await daemon.waitForCount(/"why":"api: add backend/, rounds);
      const logs = applied(daemon);
      return {
        services: services + 1,
        backends: services * backends + BENCH.backends[4].length,
        addMs: { median: round1(median(adds)), p95: round1(p95(adds)) },
        removeMs: { median: round1(median(removes)), p95: round1(p95(removes)) },
        applyMs: round1(median(logs.map((l) => (l.seconds ?? NaN) * 1000))),
        writes: median(logs.map((l) => l.writes ?? NaN)),
      };
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
