// Time to build a Maglev table: the optimised buildMaglev against the plain
// transcription of the paper's pseudo-code (buildMaglevReference), in one run. Rounds
// are interleaved (each round builds every configuration with both implementations,
// which go first in turn) and the figures are the medians of the rounds. The two tables
// are compared on every build.
//
//   node dist/bench/maglev.js        prints the markdown table

import { buildMaglev, buildMaglevReference, tableBytes, type MaglevBackend } from '../src/model/maglev.js';
import type { MaglevBenchRow } from './types.js';

export interface MaglevBenchOptions {
  sizes?: number[];
  backendCounts?: number[];
  /** rounds per configuration and implementation (median taken); default 3 */
  rounds?: number;
}

const SEED = 0x5eed;

function backendPool(n: number): MaglevBackend[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    name: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5353`,
    weight: 1,
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function timed(f: () => Uint32Array): { ms: number; table: Uint32Array } {
  const t0 = process.hrtime.bigint();
  const table = f();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, table };
}

function sameTable(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function measureMaglev(opts: MaglevBenchOptions = {}): MaglevBenchRow[] {
  const sizes = opts.sizes ?? [65537];
  const counts = opts.backendCounts ?? [10, 100, 1000];
  const rounds = opts.rounds ?? 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`measureMaglev: rounds ${rounds} is not >= 1`);

  const configs = sizes.flatMap((size) => counts.map((n) => ({ size, pool: backendPool(n) })));
  // Warm-up (JIT), not measured: buildMaglev once per configuration (its first call at a
  // size costs several times a later one), the reference on a small table.
  for (const { size, pool } of configs) buildMaglev(pool, size, SEED);
  buildMaglevReference(backendPool(10), 1021, SEED);

  const times = configs.map(() => ({ build: [] as number[], reference: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    configs.forEach(({ size, pool }, c) => {
      const runBuild = (): Uint32Array => {
        const r = timed(() => buildMaglev(pool, size, SEED));
        times[c]!.build.push(r.ms);
        return r.table;
      };
      const runReference = (): Uint32Array => {
        const r = timed(() => buildMaglevReference(pool, size, SEED));
        times[c]!.reference.push(r.ms);
        return r.table;
      };
      const [a, b] = round % 2 === 0 ? [runBuild(), runReference()] : [runReference(), runBuild()];
      if (!sameTable(a, b)) {
        throw new Error(
          `measureMaglev: buildMaglev and buildMaglevReference differ (M=${size}, N=${pool.length})`,
        );
      }
    });
  }
  return configs.map(({ size, pool }, c) => {
    const buildMs = median(times[c]!.build);
    const referenceMs = median(times[c]!.reference);
    return {
      size,
      backends: pool.length,
      buildMs,
      referenceMs,
      speedup: referenceMs / buildMs,
      tableBytes: tableBytes(size),
    };
  });
}

const ms = (x: number): string => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

export function maglevTable(rows: readonly MaglevBenchRow[]): string {
  return [
    '| table size | backends | buildMaglev (ms) | reference (ms) | speedup | table bytes |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.size} | ${r.backends} | ${ms(r.buildMs)} | ${ms(r.referenceMs)} | ${r.speedup.toFixed(0)}x | ${r.tableBytes} |`,
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(maglevTable(measureMaglev()));
}
