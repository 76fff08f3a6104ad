// Control-plane figures: applying a large config from a file, applying a one-backend
// change, and the resident memory of `xlb run` holding that config and of `xlb stats`
// reading it. The data plane is loaded but only attached (in a scratch namespace) for
// the memory figure.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dataplane } from '../src/control/dataplane.js';
import { createNetns, deleteNetns, netnsName } from '../src/lab/netns.js';
import { CLI, Proc, startXlbRun } from '../src/lab/proc.js';
import * as edit from '../src/daemon/mutations.js';
import { parseConfig, type Config } from '../src/model/config.js';
import { schedEntriesFor } from '../src/model/config-memory.js';
import { hostPort } from '../src/util/endpoint.js';
import type { ControlPlaneResult } from './types.js';

export interface ControlOptions {
  services: number;
  backendsPerService: number;
  tmpDir: string;
}

/** `services` services on 192.0.2.1, ports 10000.., each with `backends` backends. */
export function largeConfig(services: number, backends: number, extraBackend = false): string {
  const lines = ['interface: lo', 'flow_table_size: 65536', 'services:'];
  for (let s = 0; s < services; s++) {
    lines.push(`  - name: svc${s}`, '    vip: 192.0.2.1', `    port: ${10000 + s}`, '    backends:');
    const n = s === 0 && extraBackend ? backends + 1 : backends;
    for (let b = 0; b < n; b++)
      lines.push(`      - { address: 198.51.100.${1 + (b % 250)}, port: ${20000 + b} }`);
  }
  return `${lines.join('\n')}\n`;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};

/**
 * The API's path without HTTP: a backend added to (and removed from) the first service as a typed
 * edit of the running config (validated against the others: mutations.ts), then applied (plan and
 * map writes). `rounds` of each; medians.
 */
function apiChanges(
  dp: Dataplane,
  config: Config,
  rounds = 10,
): NonNullable<ControlPlaneResult['apiChange']> {
  const name = config.services[0]?.name ?? '';
  const backend = { address: '198.51.100.1', port: 30000 };
  const validate: number[] = [];
  const apply: number[] = [];
  let running = config;
  dp.apply(running);
  for (let i = 0; i < 2 * rounds; i++) {
    let t = performance.now();
    const next =
      i % 2 === 0
        ? edit.addBackend(running, name, backend, 'bench')
        : edit.removeBackend(running, name, hostPort(backend.address, backend.port));
    validate.push(performance.now() - t);
    t = performance.now();
    dp.apply(next);
    apply.push(performance.now() - t);
    running = next;
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  return { validateMs: r(median(validate)), applyMs: r(median(apply)) };
}

const rssMiB = (pid: number): number => {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
};

export async function measureControlPlane(o: ControlOptions): Promise<ControlPlaneResult> {
  const big = join(o.tmpDir, 'large.yaml');
  const changed = join(o.tmpDir, 'large-plus-one.yaml');
  writeFileSync(big, largeConfig(o.services, o.backendsPerService));
  writeFileSync(changed, largeConfig(o.services, o.backendsPerService, true));

  const dp = Dataplane.load({
    flowTableSize: 65536,
    schedEntries: schedEntriesFor(parseConfig(readFileSync(changed, 'utf8'), changed).services),
  });
  let applyLargeConfigMs: number;
  let applyLargeConfigWrites: number;
  let oneBackendChangeMs: number;
  let oneBackendChangeWrites: number;
  let apiChange: ControlPlaneResult['apiChange'];
  try {
    let t = process.hrtime.bigint();
    const first = dp.apply(parseConfig(readFileSync(big, 'utf8'), big));
    applyLargeConfigMs = Number(process.hrtime.bigint() - t) / 1e6;
    applyLargeConfigWrites = first.writes;
    t = process.hrtime.bigint();
    const second = dp.apply(parseConfig(readFileSync(changed, 'utf8'), changed));
    oneBackendChangeMs = Number(process.hrtime.bigint() - t) / 1e6;
    oneBackendChangeWrites = second.writes;
    apiChange = apiChanges(dp, parseConfig(readFileSync(big, 'utf8'), big));
  } finally {
    dp.close();
  }

  // Memory: xlb run holding the large config, and xlb stats reading it.
  const ns = netnsName('xlbb-', 'rss');
  createNetns(ns);
  const instance = `bench-rss-${process.pid}`;
  let run: Proc | undefined;
  let stats: Proc | undefined;
  try {
    run = await startXlbRun(ns, big, instance, { timeoutMs: 120_000 });
    const runRssMiB = rssMiB(run.child.pid!);
    stats = Proc.start(ns, process.execPath, [
      CLI,
      'stats',
      '--instance',
      instance,
      '--json',
      '--watch',
      '1',
    ]);
    await stats.waitFor(/^\{/, 60_000);
    const statsRssMiB = rssMiB(stats.child.pid!);
    return {
      services: o.services,
      backendsPerService: o.backendsPerService,
      applyLargeConfigMs: Math.round(applyLargeConfigMs),
      applyLargeConfigWrites,
      oneBackendChangeMs: Math.round(oneBackendChangeMs * 10) / 10,
      oneBackendChangeWrites,
      ...(apiChange ? { apiChange } : {}),
      runRssMiB,
      statsRssMiB,
    };
  } finally {
    await stats?.stop();
    await run?.stop();
    deleteNetns(ns);
  }
}

/** `node dist/bench/control.js [services] [backends]` (root): the API path's figures alone. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const [services = 1000, backends = 64] = process.argv.slice(2).map(Number);
  const dp = Dataplane.load({ flowTableSize: 65536 });
  try {
    console.log(JSON.stringify(apiChanges(dp, parseConfig(largeConfig(services, backends)))));
  } finally {
    dp.close();
  }
}
