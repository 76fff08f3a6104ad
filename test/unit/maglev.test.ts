// Unit tests for src/model/maglev.ts: the optimised build against the paper's
// pseudo-code, balance with and without weights, disruption on removal and addition
// (printed as tables for the project's notes), determinism across input orders and
// processes, drain, and argument checks.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { murmur3Bytes } from '../../src/model/flowhash.js';
import {
  DEFAULT_TABLE_SIZE,
  buildMaglev,
  buildMaglevReference,
  disruption,
  isPrime,
  nextPrime,
  permutationParams,
  shares,
  tableBytes,
  type MaglevBackend,
} from '../../src/model/maglev.js';
import { int, rng, testSeed } from '../helpers/random.js';

const SEED = 0x5eed;

/** N backends named like 'addr:port', ids 1..N, weight from `w`. */
function pool(n: number, w: (i: number) => number = () => 1, base = 0): MaglevBackend[] {
  return Array.from({ length: n }, (_, k) => {
    const i = base + k;
    return { id: i + 1, name: `10.0.${i >> 8}.${i & 255}:5353`, weight: w(i) };
  });
}

function shuffled<T>(xs: readonly T[], r: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** buildMaglev(pool(5, (i) => i + 1), 251, SEED): its first 16 entries and its sha256. */
const PINNED_HEAD = [3, 1, 5, 5, 3, 5, 5, 5, 3, 5, 3, 5, 3, 5, 3, 5];
const PINNED_DIGEST = 'afc5eb8e2fc5f63a67a230f35e06c36f32fa376fab51d6308f88659d7772a37c';

const digest = (t: Uint32Array): string => createHash('sha256').update(t).digest('hex');

/** Largest |share - expected| / expected over the backends, expected = size * w / sum(w). */
function worstShareError(table: Uint32Array, backends: readonly MaglevBackend[]): number {
  const s = shares(table);
  const total = backends.reduce((a, b) => a + b.weight, 0);
  let worst = 0;
  for (const b of backends) {
    const expected = (table.length * b.weight) / total;
    worst = Math.max(worst, Math.abs((s.get(b.id) ?? 0) - expected) / expected);
  }
  return worst;
}

const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)} %`;

describe('primes', () => {
  it('isPrime and nextPrime', () => {
    const small = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];
    for (let n = -2; n < 50; n++) assert.equal(isPrime(n), small.includes(n), String(n));
    for (const p of [251, 1021, 16381, 65537, 131071, 1048573]) assert.ok(isPrime(p), String(p));
    for (const c of [1.5, 25, 49, 65535, 16383, 1048575, 2147 * 2153]) assert.ok(!isPrime(c), String(c));
    assert.equal(nextPrime(0), 2);
    assert.equal(nextPrime(14), 17);
    assert.equal(nextPrime(17), 17);
    assert.equal(nextPrime(16000), 16001);
    assert.equal(nextPrime(65536), 65537);
    assert.ok(isPrime(DEFAULT_TABLE_SIZE));
  });
});

describe('permutation', () => {
  it('offset and skip come from h1 and h2 of the UTF-8 name', () => {
    for (const name of ['192.0.2.1:53', '[2001:db8::1]:53', 'bäckend-ü', '']) {
      const bytes = Buffer.from(name, 'utf8');
      for (const [size, seed] of [
        [251, 0],
        [16381, SEED],
        [65537, 0xffffffff],
      ] as const) {
        const { offset, skip } = permutationParams(name, size, seed);
        assert.equal(offset, murmur3Bytes(bytes, seed) % size);
        assert.equal(skip, (murmur3Bytes(bytes, (seed ^ 0x9e3779b9) >>> 0) % (size - 1)) + 1);
        assert.ok(skip >= 1 && skip < size);
      }
    }
  });

  it('the first backend by name gets the slot at its offset', () => {
    const backends = pool(5);
    const table = buildMaglev(backends, 251, SEED);
    const first = [...backends].sort((a, b) => (a.name < b.name ? -1 : 1))[0]!;
    assert.equal(table[permutationParams(first.name, 251, SEED).offset], first.id);
  });
});

describe('buildMaglev', () => {
  it('equals the reference (paper pseudo-code) for random configurations', () => {
    const seed = testSeed();
    const r = rng(seed);
    const sizes = [251, 1021, 16381];
    for (let n = 0; n < 60; n++) {
      const size = sizes[n % sizes.length]!;
      const count = int(r, 1, 50);
      const names = new Set<string>();
      while (names.size < count) {
        names.add(
          r() < 0.8
            ? `${int(r, 1, 254)}.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 1, 254)}:${int(r, 1, 65535)}`
            : `[2001:db8::${int(r, 0, 0xffff).toString(16)}]:${int(r, 1, 65535)}/π${int(r, 0, 99)}`,
        );
      }
      const ids = new Set<number>();
      while (ids.size < count) ids.add(r() < 0.5 ? int(r, 0, 2 ** 32 - 1) : int(r, 0, 100));
      // Weights 0..5, at least one in the table.
      const backends = [...names].map((name, i) => ({ id: [...ids][i]!, name, weight: int(r, 0, 5) }));
      if (backends.every((b) => b.weight === 0)) backends[0]!.weight = 1;
      const tableSeed = int(r, 0, 0xffffffff);
      const got = buildMaglev(backends, size, tableSeed);
      const want = buildMaglevReference(backends, size, tableSeed);
      assert.equal(got.length, size);
      assert.deepEqual(got, want, `XLB_SEED=${seed}: configuration ${n}: ${JSON.stringify(backends)}`);
    }
  });

  it('equals the reference with equal weights (the path that skips the heap)', () => {
    const cases: [MaglevBackend[], number][] = [
      [pool(1, () => 1), 251],
      [pool(3, () => 1), 16381],
      [pool(64, () => 1), 16381],
      [pool(10, () => 7), 1021], // equal but not 1
      [pool(12, (i) => (i % 4 === 0 ? 0 : 2)), 1021], // drained ones left out, the rest equal
      [pool(251, () => 1), 251],
    ];
    for (const [backends, size] of cases) {
      assert.deepEqual(buildMaglev(backends, size, SEED), buildMaglevReference(backends, size, SEED));
    }
  });

  it('equals the reference with skewed and large weights', () => {
    const cases: [MaglevBackend[], number][] = [
      [pool(20, (i) => (i === 0 ? 1000 : 1)), 1021],
      [pool(10, (i) => 1 + i * i * 37), 1021],
      [pool(5, (i) => [0xffffffff, 1, 0xfffffffe, 3, 2 ** 31][i]!), 251],
      [pool(7, (i) => [3, 5, 7, 11, 13, 17, 19][i]!), 16381],
      [pool(251, (i) => 1 + (i % 3)), 251], // as many backends as slots
    ];
    for (const [backends, size] of cases) {
      assert.deepEqual(buildMaglev(backends, size, SEED), buildMaglevReference(backends, size, SEED));
    }
  });

  it('gives every backend its share within 1 % (equal weights)', () => {
    const rows: string[] = [];
    for (const n of [3, 10, 50, 100]) {
      const backends = pool(n);
      const table = buildMaglev(backends, DEFAULT_TABLE_SIZE, SEED);
      const s = shares(table);
      assert.equal(s.size, n);
      assert.equal(
        [...s.values()].reduce((a, b) => a + b, 0),
        DEFAULT_TABLE_SIZE,
      );
      const worst = worstShareError(table, backends);
      rows.push(
        `| ${n} | equal | ${Math.min(...s.values())}..${Math.max(...s.values())} | ${(DEFAULT_TABLE_SIZE / n).toFixed(1)} | ${pct(worst)} |`,
      );
      assert.ok(worst < 0.01, `N=${n}: worst share error ${pct(worst)}`);
    }
    for (const n of [4, 8, 12, 16, 20]) {
      const backends = pool(n, (i) => (i % 4) + 1);
      const table = buildMaglev(backends, DEFAULT_TABLE_SIZE, SEED);
      const worst = worstShareError(table, backends);
      rows.push(`| ${n} | 1,2,3,4,... | | | ${pct(worst)} |`);
      assert.ok(worst < 0.01, `N=${n} weighted: worst share error ${pct(worst)}`);
    }
    console.log(
      [
        `Maglev balance, M = ${DEFAULT_TABLE_SIZE}: worst |share - M*w/sum(w)| / (M*w/sum(w))`,
        '| N | weights | entries per backend | ideal | worst error |',
        '| ---: | --- | --- | ---: | ---: |',
        ...rows,
      ].join('\n'),
    );
  });

  it('gives weighted backends their share within 1 % for N = 1..20 (weights 1,2,3,4)', () => {
    for (let n = 1; n <= 20; n++) {
      const backends = pool(n, (i) => (i % 4) + 1);
      for (const size of [DEFAULT_TABLE_SIZE, 65537]) {
        const worst = worstShareError(buildMaglev(backends, size, SEED), backends);
        assert.ok(worst < 0.01, `N=${n} M=${size}: worst share error ${pct(worst)}`);
      }
    }
  });

  it('moves less than 2/N of the entries (3/N where M < 500 N) when one of N backends is removed or added', () => {
    const rows: string[] = [];
    const TRIALS = 10;
    for (const size of [DEFAULT_TABLE_SIZE, 65537]) {
      for (const n of [10, 100]) {
        const backends = pool(n);
        const base = buildMaglev(backends, size, SEED);
        const removed: number[] = [];
        const added: number[] = [];
        for (let k = 0; k < TRIALS; k++) {
          const victim = Math.floor(((k + 0.5) * n) / TRIALS);
          const without = buildMaglev(
            backends.filter((_, i) => i !== victim),
            size,
            SEED,
          );
          removed.push(disruption(base, without));
          const withOne = buildMaglev([...backends, ...pool(1, () => 1, 1000 + k)], size, SEED);
          added.push(disruption(base, withOne));
        }
        const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
        rows.push(
          `| ${size} | ${n} | remove 1 | ${pct(1 / n)} | ${pct(mean(removed))} | ${pct(Math.max(...removed))} | ${(mean(removed) * n).toFixed(2)} |`,
          `| ${size} | ${n} | add 1 | ${pct(1 / (n + 1))} | ${pct(mean(added))} | ${pct(Math.max(...added))} | ${(mean(added) * (n + 1)).toFixed(2)} |`,
        );
        // Near-minimal needs M >> N: at M/N ~ 160 (16381, 100) Maglev moves ~2.3/N, at ~650 ~1.6/N.
        const bound = size / n >= 500 ? 2 : 3;
        for (const d of [...removed, ...added]) {
          assert.ok(d < bound / n, `M=${size} N=${n}: disruption ${pct(d)} >= ${bound}/N`);
        }
        // Removal moves at least the removed backend's entries; addition at least the newcomer's.
        for (const d of removed)
          assert.ok(d >= 1 / n - 0.01 / n, `M=${size} N=${n}: removal moved ${pct(d)}`);
      }
    }
    console.log(
      [
        `Maglev disruption (fraction of entries that change), mean and max of ${TRIALS} trials`,
        '| M | N | change | minimal | measured (mean) | measured (max) | mean / minimal |',
        '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
        ...rows,
      ].join('\n'),
    );
  });

  it('does not depend on the order of the backends', () => {
    const seed = testSeed();
    const r = rng(seed);
    const backends = pool(40, (i) => 1 + (i % 5));
    const want = buildMaglev(backends, 1021, SEED);
    for (let k = 0; k < 10; k++) {
      assert.deepEqual(buildMaglev(shuffled(backends, r), 1021, SEED), want, `XLB_SEED=${seed}`);
    }
    assert.deepEqual(buildMaglevReference(shuffled(backends, r), 1021, SEED), want, `XLB_SEED=${seed}`);
  });

  it('gives the same table in other processes', () => {
    const backends = pool(100, (i) => 1 + (i % 3));
    const mine = digest(buildMaglev(backends, DEFAULT_TABLE_SIZE, SEED));
    const moduleUrl = new URL('../../src/model/maglev.js', import.meta.url).href;
    const code = [
      `const { buildMaglev } = await import(${JSON.stringify(moduleUrl)});`,
      `const { createHash } = await import('node:crypto');`,
      `const backends = JSON.parse(process.argv[1]);`,
      `const table = buildMaglev(backends, ${DEFAULT_TABLE_SIZE}, ${SEED});`,
      `console.log(createHash('sha256').update(table).digest('hex'));`,
    ].join('\n');
    const orders = [backends, [...backends].reverse()];
    for (const order of orders) {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', code, JSON.stringify(order)], {
        encoding: 'utf8',
      });
      assert.equal(child.status, 0, child.stderr);
      assert.equal(child.stdout.trim(), mine);
    }
  });

  it('matches the pinned table (a change reshuffles every flow on upgrade)', () => {
    const table = buildMaglev(
      pool(5, (i) => i + 1),
      251,
      SEED,
    );
    assert.deepEqual([...table.subarray(0, 16)], PINNED_HEAD);
    assert.equal(digest(table), PINNED_DIGEST);
  });

  it('depends on the seed', () => {
    const backends = pool(10);
    const a = buildMaglev(backends, DEFAULT_TABLE_SIZE, 1);
    const b = buildMaglev(backends, DEFAULT_TABLE_SIZE, 2);
    assert.ok(
      disruption(a, b) > 0.5,
      `tables of seeds 1 and 2 differ in ${pct(disruption(a, b))} of the entries`,
    );
  });

  it('drain: a weight-0 backend has no entries, as if removed', () => {
    const backends = pool(10);
    const full = buildMaglev(backends, DEFAULT_TABLE_SIZE, SEED);
    const drained = buildMaglev(
      backends.map((b) => (b.id === 4 ? { ...b, weight: 0 } : b)),
      DEFAULT_TABLE_SIZE,
      SEED,
    );
    const removed = buildMaglev(
      backends.filter((b) => b.id !== 4),
      DEFAULT_TABLE_SIZE,
      SEED,
    );
    assert.equal(shares(drained).get(4), undefined);
    assert.equal(shares(full).get(4)! > 0, true);
    assert.equal(disruption(full, drained), disruption(full, removed));
    assert.deepEqual(drained, removed);
  });

  it('empty or all weights 0 -> []', () => {
    assert.equal(buildMaglev([], DEFAULT_TABLE_SIZE, SEED).length, 0);
    assert.equal(
      buildMaglev(
        pool(3, () => 0),
        DEFAULT_TABLE_SIZE,
        SEED,
      ).length,
      0,
    );
    assert.equal(
      buildMaglevReference(
        pool(3, () => 0),
        DEFAULT_TABLE_SIZE,
        SEED,
      ).length,
      0,
    );
  });

  it('rejects bad sizes, weights, ids and duplicates', () => {
    const ok = pool(3);
    assert.throws(() => buildMaglev(ok, 16383, SEED), /not prime \(the next prime is 16411\)/);
    assert.throws(() => buildMaglev(ok, 2, SEED), /smaller than the 3 backends/);
    assert.throws(() => buildMaglev(ok, 2 ** 21 + 17, SEED), /not in 2\.\./);
    assert.throws(
      () =>
        buildMaglev(
          pool(3, () => 1.5),
          251,
          SEED,
        ),
      /weight 1\.5/,
    );
    assert.throws(
      () =>
        buildMaglev(
          pool(3, () => -1),
          251,
          SEED,
        ),
      /weight -1/,
    );
    assert.throws(() => buildMaglev([...ok, { ...ok[0]!, name: 'x' }], 251, SEED), /id 1 appears twice/);
    assert.throws(() => buildMaglev([...ok, { ...ok[0]!, id: 99 }], 251, SEED), /appears twice/);
    assert.throws(() => buildMaglev([{ id: -1, name: 'a', weight: 1 }], 251, SEED), /id -1/);
    assert.throws(() => buildMaglev(ok, 251, 1.5), /seed/);
  });
});

describe('disruption, shares, tableBytes', () => {
  it('count entries', () => {
    assert.equal(disruption([1, 2, 3, 4], [1, 2, 3, 4]), 0);
    assert.equal(disruption([1, 2, 3, 4], [1, 9, 3, 9]), 0.5);
    assert.equal(disruption([], []), 0);
    assert.throws(() => disruption([1], [1, 2]), /1 and 2 entries/);
    assert.deepEqual(
      shares(Uint32Array.from([5, 7, 5, 5])),
      new Map([
        [5, 3],
        [7, 1],
      ]),
    );
    assert.equal(tableBytes(DEFAULT_TABLE_SIZE), 65524);
    assert.equal(tableBytes(65537), 262148);
  });
});
