// A small seeded PRNG (mulberry32), so that randomized tests are reproducible: a
// failure prints its seed, and XLB_TEST_SEED=<seed> (or the older XLB_SEED) replays it.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function testSeed(): number {
  const env = process.env.XLB_TEST_SEED ?? process.env.XLB_SEED;
  return env !== undefined ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
export const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/**
 * `n` times XLB_TEST_SCALE (0 < scale ≤ 1, default 1), at least 1: how many random cases a
 * randomized comparison runs. The kernel guests, 10–40× slower under emulation, run a tenth.
 */
export function scaledCount(n: number): number {
  const raw = process.env.XLB_TEST_SCALE;
  const scale = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!(scale > 0 && scale <= 1))
    throw new Error(
      `XLB_TEST_SCALE='${raw}': expected a share of the cases to run, 0 < scale ≤ 1 (e.g. 0.1)`,
    );
  return Math.max(1, Math.round(n * scale));
}
