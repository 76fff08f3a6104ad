// Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, section 3.4), with weights the way Envoy's Maglev load
// balancer does them.
//
// Each backend has a permutation of the table's slots, fixed by its name and the seed:
// entry j is (offset + j * skip) mod size, offset = h1(name) mod size and
// skip = h2(name) mod (size - 1) + 1 (size prime, so every permutation visits every
// slot). Backends take turns claiming their next preferred free slot until the table is
// full. Weights (Envoy): each backend has a target weight starting at 0; in iteration
// t = 1, 2, ... a backend takes a turn only if t * weight >= target, and its target
// then grows by the largest weight: a backend of weight w takes about w/max turns per
// iteration, so shares are proportional to the weights within about one entry.
// Backends are sorted by name first, so the table does not depend on input order.
//
// buildMaglev and buildMaglevReference compute the same table; the reference is the
// plain transcription of the paper's pseudo-code and the tests' oracle.

import { murmur3Bytes } from './flowhash.js';

export interface MaglevBackend {
  id: number;
  /** stable identity, e.g. 'addr:port' — the permutation depends only on it and the seed */
  name: string;
  /** integer >= 0; 0 = not in the table (drain) */
  weight: number;
}

export const DEFAULT_TABLE_SIZE = 16381; // prime

/** Largest table size: tableIndex is exact for lengths below 2^21. */
export const MAX_TABLE_SIZE = 0x200000 - 1;
/** Largest weight: keeps every product of the weighted population below 2^53. */
export const MAX_WEIGHT = 0xffffffff;
/** Seed of h2 is seed ^ H2_SEED_XOR. */
export const H2_SEED_XOR = 0x9e3779b9;

export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  if (n % 3 === 0) return n === 3;
  for (let d = 5; d * d <= n; d += 6) if (n % d === 0 || n % (d + 2) === 0) return false;
  return true;
}

/** The smallest prime >= n. */
export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  while (!isPrime(p)) p++;
  return p;
}

const encoder = new TextEncoder();

/** offset and skip of a backend's permutation. */
export function permutationParams(
  name: string,
  size: number,
  seed: number,
): { offset: number; skip: number } {
  const bytes = encoder.encode(name);
  const h1 = murmur3Bytes(bytes, seed >>> 0);
  const h2 = murmur3Bytes(bytes, (seed ^ H2_SEED_XOR) >>> 0);
  return { offset: h1 % size, skip: (h2 % (size - 1)) + 1 };
}

const byName = (a: MaglevBackend, b: MaglevBackend): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** Checks the arguments; returns the backends in the table (weight > 0), sorted by name. */
function prepare(backends: readonly MaglevBackend[], size: number, seed: number): MaglevBackend[] {
  if (!Number.isInteger(seed) || seed < -0x80000000 || seed > 0xffffffff) {
    throw new Error(`maglev: seed ${seed} is not a 32-bit integer`);
  }
  const ids = new Set<number>();
  const names = new Set<string>();
  for (const b of backends) {
    if (!Number.isInteger(b.id) || b.id < 0 || b.id > 0xffffffff) {
      throw new Error(`maglev: backend id ${b.id} is not a uint32`);
    }
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > MAX_WEIGHT) {
      throw new Error(
        `maglev: backend ${b.name} (id ${b.id}): weight ${b.weight} is not an integer in 0..${MAX_WEIGHT}`,
      );
    }
    if (ids.has(b.id)) throw new Error(`maglev: backend id ${b.id} appears twice`);
    if (names.has(b.name)) throw new Error(`maglev: backend name '${b.name}' appears twice`);
    ids.add(b.id);
    names.add(b.name);
  }
  const active = backends.filter((b) => b.weight > 0).sort(byName);
  if (active.length === 0) return active;
  if (!Number.isInteger(size) || size < 2 || size > MAX_TABLE_SIZE) {
    throw new Error(`maglev: table size ${size} is not in 2..${MAX_TABLE_SIZE}`);
  }
  if (!isPrime(size))
    throw new Error(`maglev: table size ${size} is not prime (the next prime is ${nextPrime(size)})`);
  if (size < active.length) {
    throw new Error(
      `maglev: table size ${size} is smaller than the ${active.length} backends in it (use at least ${nextPrime(active.length)})`,
    );
  }
  return active;
}

/**
 * Builds the table: `size` entries (a prime >= number of backends with weight > 0), each
 * a backend id. Deterministic given (backends as a set, weights, size, seed): the order
 * of `backends` in the array does not matter. Empty backends or all weights 0 -> [].
 *
 * Cost: the probes for free slots (about size * ln(size) in all), plus a heap of the
 * backends ordered by (iteration of their next turn, rank), so that backends of small
 * weight cost nothing in the iterations where they sit out: O(size * log N) whatever the
 * weights.
 */
export function buildMaglev(backends: readonly MaglevBackend[], size: number, seed: number): Uint32Array {
  const active = prepare(backends, size, seed);
  const n = active.length;
  if (n === 0) return new Uint32Array(0);

  const weight = new Float64Array(n);
  const cur = new Int32Array(n); // the slot of the backend's next preference
  const skip = new Int32Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const b = active[i] as MaglevBackend;
    const p = permutationParams(b.name, size, seed);
    cur[i] = p.offset;
    skip[i] = p.skip;
    weight[i] = b.weight;
    if (b.weight > maxWeight) maxWeight = b.weight;
  }

  // turns[i]: turns taken (so the target weight is turns * maxWeight). The heap holds
  // each backend once, keyed iteration * n + rank: ascending keys are the reference's
  // order of turns (iterations in order, ranks in order within one). Keys < 2^42.
  const turns = new Float64Array(n);
  const heap = new Float64Array(n);
  for (let i = 0; i < n; i++) heap[i] = n + i; // iteration 1 for all: sorted, so a heap

  // Equal weights (the common case): every iteration is one turn of each backend in rank
  // order, which is what the heap yields too, without its cost.
  let uniform = true;
  for (let i = 1; i < n; i++) if ((weight[i] as number) !== weight[0]) uniform = false;
  let nextRank = 0;

  const owner = new Int32Array(size);
  const taken = new Uint8Array(size); // the probes' working set: a quarter of owner's
  for (let filled = 0; filled < size; filled++) {
    let i: number;
    if (uniform) {
      i = nextRank;
      nextRank = nextRank + 1 === n ? 0 : nextRank + 1;
    } else {
      const key = heap[0] as number;
      i = key % n;
      const t = (key - i) / n;

      // Next turn: the first iteration t' > t with t' * w >= turns * maxWeight.
      const k = (turns[i] as number) + 1;
      turns[i] = k;
      const w = weight[i] as number;
      const target = k * maxWeight;
      let next = Math.ceil(target / w);
      while (next * w < target) next++; // exact whatever the rounding of the division
      while (next > 1 && (next - 1) * w >= target) next--;
      if (next <= t) next = t + 1;

      // Replace the top and sift it down.
      const nk = next * n + i;
      let pos = 0;
      for (;;) {
        const l = 2 * pos + 1;
        if (l >= n) break;
        const r = l + 1;
        let m = l;
        if (r < n && (heap[r] as number) < (heap[l] as number)) m = r;
        if ((heap[m] as number) >= nk) break;
        heap[pos] = heap[m] as number;
        pos = m;
      }
      heap[pos] = nk;
    }

    let c = cur[i] as number;
    const s = skip[i] as number;
    while ((taken[c] as number) !== 0) {
      c += s;
      if (c >= size) c -= size;
    }
    owner[c] = i;
    taken[c] = 1;
    c += s;
    cur[i] = c >= size ? c - size : c;
  }

  const table = new Uint32Array(size);
  for (let j = 0; j < size; j++) table[j] = (active[owner[j] as number] as MaglevBackend).id;
  return table;
}

/**
 * The paper's pseudo-code (section 3.4, Pseudocode 1) with Envoy's weights, transcribed
 * without optimisation: permutations precomputed as arrays, one pass over all backends
 * per iteration. Same result as buildMaglev; slow and memory-hungry (N * size numbers).
 */
export function buildMaglevReference(
  backends: readonly MaglevBackend[],
  size: number,
  seed: number,
): Uint32Array {
  const active = prepare(backends, size, seed);
  const N = active.length;
  const M = size;
  if (N === 0) return new Uint32Array(0);

  const permutation: number[][] = [];
  for (const b of active) {
    const { offset, skip } = permutationParams(b.name, M, seed);
    const row: number[] = [];
    for (let j = 0; j < M; j++) row.push((offset + j * skip) % M);
    permutation.push(row);
  }

  const maxWeight = Math.max(...active.map((b) => b.weight));
  const next: number[] = active.map(() => 0);
  const targetWeight: number[] = active.map(() => 0);
  const entry: number[] = new Array<number>(M).fill(-1);
  let n = 0;
  for (let t = 1; n < M; t++) {
    for (let i = 0; i < N && n < M; i++) {
      if (t * active[i]!.weight < targetWeight[i]!) continue;
      targetWeight[i]! += maxWeight;
      let c = permutation[i]![next[i]!]!;
      while (entry[c]! >= 0) {
        next[i]!++;
        c = permutation[i]![next[i]!]!;
      }
      entry[c] = i;
      next[i]!++;
      n++;
    }
  }
  return Uint32Array.from(entry, (i) => active[i]!.id);
}

/** Fraction of entries that differ between two tables of the same size. */
export function disruption(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`disruption: tables of ${a.length} and ${b.length} entries`);
  if (a.length === 0) return 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  return diff / a.length;
}

/** Entries per backend id. */
export function shares(table: ArrayLike<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < table.length; i++) {
    const id = table[i] as number;
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Kernel memory per table: 4 bytes (a backend id) per entry. */
export function tableBytes(size: number): number {
  return 4 * size;
}
