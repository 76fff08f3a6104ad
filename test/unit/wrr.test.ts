// Unit tests for src/model/wrr.ts: nginx's smooth weighted round-robin as a sequence.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_WRR_SEQUENCE, smoothWrrSequence } from '../../src/model/wrr.js';
import { int, rng, testSeed } from '../helpers/random.js';

const ids = (...weights: number[]): { id: number; weight: number }[] =>
  weights.map((weight, i) => ({ id: 10 + i, weight }));
const [A, B, C] = [10, 11, 12];

/** nginx's ngx_http_upstream_get_peer, transcribed over the unreduced weights: `count` picks. */
function nginxPicks(backends: { id: number; weight: number }[], count: number): number[] {
  const peers = backends.map((b) => ({ ...b, current: 0 }));
  const out: number[] = [];
  for (let n = 0; n < count; n++) {
    let best: (typeof peers)[number] | undefined;
    let total = 0;
    for (const p of peers) {
      p.current += p.weight;
      total += p.weight;
      if (best === undefined || p.current > best.current) best = p;
    }
    best!.current -= total;
    out.push(best!.id);
  }
  return out;
}

describe('smoothWrrSequence', () => {
  it('equal weights: each id once, in input order', () => {
    assert.deepEqual(smoothWrrSequence(ids(1, 1, 1)), [A, B, C]);
    assert.deepEqual(smoothWrrSequence(ids(7, 7, 7)), [A, B, C]);
    const shuffledIds = [
      { id: 5, weight: 2 },
      { id: 3, weight: 2 },
      { id: 9, weight: 2 },
    ];
    assert.deepEqual(smoothWrrSequence(shuffledIds), [5, 3, 9]);
  });

  it("5,1,1 is nginx's a a b a c a a", () => {
    assert.deepEqual(smoothWrrSequence(ids(5, 1, 1)), [A, A, B, A, C, A, A]);
  });

  it('2,0,3 leaves out the weight-0 backend', () => {
    assert.deepEqual(smoothWrrSequence(ids(2, 0, 3)), [C, A, C, A, C]);
  });

  it('reduces the weights by their gcd', () => {
    assert.deepEqual(smoothWrrSequence(ids(10, 20)), [B, A, B]);
    assert.deepEqual(smoothWrrSequence(ids(500, 100, 100)), [A, A, B, A, C, A, A]);
    assert.equal(smoothWrrSequence(ids(6, 9, 15)).length, 10);
  });

  it('empty or all weights 0 -> []', () => {
    assert.deepEqual(smoothWrrSequence([]), []);
    assert.deepEqual(smoothWrrSequence(ids(0, 0)), []);
  });

  it('is one period of nginx over random weights, with each id weight/gcd times', () => {
    const seed = testSeed();
    const r = rng(seed);
    for (let n = 0; n < 200; n++) {
      const scale = int(r, 1, 4);
      const backends = ids(...Array.from({ length: int(r, 1, 12) }, () => scale * int(r, 0, 9)));
      const seq = smoothWrrSequence(backends);
      const active = backends.filter((b) => b.weight > 0);
      const sum = active.reduce((a, b) => a + b.weight, 0);
      const g = active.reduce((a, b) => {
        let [x, y] = [a, b.weight];
        while (y) [x, y] = [y, x % y];
        return x;
      }, 0);
      const msg = `XLB_SEED=${seed}: weights ${backends.map((b) => b.weight).join(',')}`;
      assert.equal(seq.length, sum / (g || 1), msg);
      assert.deepEqual(seq, nginxPicks(active, seq.length), msg);
      for (const b of backends) {
        assert.equal(seq.filter((id) => id === b.id).length, b.weight / (g || 1), msg);
      }
    }
  });

  it(`accepts ${MAX_WRR_SEQUENCE} entries and refuses more, naming the weights`, () => {
    assert.equal(smoothWrrSequence(ids(MAX_WRR_SEQUENCE - 1, 1)).length, MAX_WRR_SEQUENCE);
    assert.equal(smoothWrrSequence(ids(2 * MAX_WRR_SEQUENCE, 2 * MAX_WRR_SEQUENCE)).length, 2);
    assert.throws(
      () => smoothWrrSequence(ids(MAX_WRR_SEQUENCE, 1)),
      (e: Error) =>
        /65537 entries/.test(e.message) &&
        /id 10: 65536/.test(e.message) &&
        /reduce the weights/.test(e.message),
    );
  });

  it('rejects bad weights and ids', () => {
    assert.throws(() => smoothWrrSequence(ids(1, -1)), /weight -1/);
    assert.throws(() => smoothWrrSequence(ids(1, 0.5)), /weight 0\.5/);
    assert.throws(() => smoothWrrSequence([{ id: -3, weight: 1 }]), /id -3/);
  });
});
