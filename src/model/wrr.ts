// Weighted round-robin as a sequence of backend ids that the data plane's per-CPU
// cursor walks: nginx's smooth weighted round-robin (ngx_http_upstream_get_peer) over
// the weights divided by their gcd. One period of it: every backend appears exactly
// (reduced weight) times, spread out rather than in runs (5,1,1 -> a a b a c a a).

/** Longest sequence the data plane takes. */
export const MAX_WRR_SEQUENCE = 65536;

export interface WrrBackend {
  id: number;
  /** integer >= 0; 0 = not in the sequence */
  weight: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The length of the sequence of these weights: the sum of the positive ones divided by their gcd. */
export function wrrSequenceLength(weights: readonly number[]): number {
  const active = weights.filter((w) => w > 0);
  const g = active.reduce((acc, w) => gcd(acc, w), 0);
  return g === 0 ? 0 : active.reduce((a, w) => a + w / g, 0);
}

/**
 * nginx's smooth weighted round-robin over the weights divided by their gcd: length =
 * sum of reduced weights; weight-0 backends excluded; all equal weights -> each id
 * once, in input order. Empty or all-zero -> []. Throws if the sequence would be longer
 * than MAX_WRR_SEQUENCE. Cost O(length * backends).
 */
export function smoothWrrSequence(backends: readonly WrrBackend[]): number[] {
  for (const b of backends) {
    if (!Number.isInteger(b.id) || b.id < 0 || b.id > 0xffffffff) {
      throw new Error(`smoothWrrSequence: backend id ${b.id} is not a uint32`);
    }
    if (!Number.isSafeInteger(b.weight) || b.weight < 0) {
      throw new Error(`smoothWrrSequence: backend ${b.id}: weight ${b.weight} is not an integer >= 0`);
    }
  }
  const active = backends.filter((b) => b.weight > 0);
  if (active.length === 0) return [];
  const g = active.reduce((acc, b) => gcd(acc, b.weight), 0);
  const weights = active.map((b) => b.weight / g);
  const total = weights.reduce((a, w) => a + w, 0);
  if (total > MAX_WRR_SEQUENCE) {
    const heaviest = [...active].sort((a, b) => b.weight - a.weight);
    const listed = heaviest
      .slice(0, 8)
      .map((b) => `id ${b.id}: ${b.weight}`)
      .join(', ');
    const more = heaviest.length > 8 ? `, and ${heaviest.length - 8} more` : '';
    throw new Error(
      `smoothWrrSequence: the weights make a sequence of ${total} entries (their sum divided by their gcd ${g}), ` +
        `more than ${MAX_WRR_SEQUENCE}: reduce the weights (heaviest first: ${listed}${more}) ` +
        `to smaller numbers in about the same ratios, or to multiples of a common divisor`,
    );
  }
  if (total === active.length) return active.map((b) => b.id); // all equal: input order, as nginx

  const current = new Float64Array(active.length);
  const out: number[] = new Array<number>(total);
  for (let s = 0; s < total; s++) {
    let best = 0;
    for (let i = 0; i < active.length; i++) {
      const c = (current[i] as number) + (weights[i] as number);
      current[i] = c;
      if (c > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    out[s] = (active[best] as WrrBackend).id;
  }
  return out;
}
