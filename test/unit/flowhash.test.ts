// Unit tests for src/model/flowhash.ts: MurmurHash3 x86_32 against published vectors and
// an independent BigInt transcription, the xlb_flow_key layouts per hash key, and the
// hash-to-index map. The data plane (C) must produce the pinned values bit for bit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addrTo16, parseIPv4, parseIPv6 } from '../../src/model/addr.js';
import {
  FLOW_KEY_BYTES,
  HASH_KEYS,
  flowHash,
  flowKeyBytes,
  murmur3Bytes,
  murmur3Words,
  tableIndex,
  type FlowTuple,
  type HashKey,
} from '../../src/model/flowhash.js';
import { int, rng, testSeed } from '../helpers/random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const h32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Independent reference: MurmurHash3_x86_32 over bytes in BigInt arithmetic mod 2^32. */
function murmurBig(bytes: Uint8Array, seed: number): number {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
  const mixK = (k: bigint): bigint => mul(rotl(mul(k, 0xcc9e2d51n), 15n), 0x1b873593n);
  let h = BigInt(seed >>> 0);
  const body = bytes.length - (bytes.length % 4);
  for (let i = 0; i < body; i += 4) {
    const k =
      BigInt(bytes[i]!) |
      (BigInt(bytes[i + 1]!) << 8n) |
      (BigInt(bytes[i + 2]!) << 16n) |
      (BigInt(bytes[i + 3]!) << 24n);
    h ^= mixK(k);
    h = (mul(rotl(h, 13n), 5n) + 0xe6546b64n) & M;
  }
  let k = 0n;
  for (let i = bytes.length - 1; i >= body; i--) k = (k << 8n) | BigInt(bytes[i]!);
  if (bytes.length > body) h ^= mixK(k);
  h ^= BigInt(bytes.length);
  h ^= h >> 16n;
  h = mul(h, 0x85ebca6bn);
  h ^= h >> 13n;
  h = mul(h, 0xc2b2ae35n);
  h ^= h >> 16n;
  return Number(h);
}

const leWords = (bytes: Uint8Array): Uint32Array => {
  const words = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = Buffer.from(bytes).readUInt32LE(4 * i);
  return words;
};

describe('murmur3', () => {
  // Published MurmurHash3_x86_32 test vectors (SMHasher's reference implementation).
  const byteVectors: [number[], number, number][] = [
    [[], 0, 0],
    [[], 1, 0x514e28b7],
    [[], 0xffffffff, 0x81f16f39],
    [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
    [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
    [[0x21, 0x43, 0x65, 0x87], 0x5082edee, 0x2362f9de],
    [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
    [[0x21, 0x43], 0, 0xa0f7b07a],
    [[0x21], 0, 0x72661cf4],
    [[0, 0, 0, 0], 0, 0x2362f9de],
    [[0, 0, 0], 0, 0x85f0b427],
    [[0, 0], 0, 0x30f4c306],
    [[0], 0, 0x514e28b7],
  ];
  const stringVectors: [string, number, number][] = [
    ['', 0x9747b28c, 0xebb6c228],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['aa', 0x9747b28c, 0x5d211726],
    ['aaa', 0x9747b28c, 0x283e0130],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['ab', 0x9747b28c, 0x74875592],
    ['abc', 0x9747b28c, 0xc84a62dd],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
    ['a'.repeat(256), 0x9747b28c, 0x37405bdc],
    ['abc', 0, 0xb3dd93fa],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 0, 0xee925b90],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ];

  it('murmur3Bytes matches the published vectors', () => {
    for (const [bytes, seed, want] of byteVectors) {
      assert.equal(
        h32(murmur3Bytes(Uint8Array.from(bytes), seed)),
        h32(want),
        `${bytes.join(',')} seed ${seed}`,
      );
    }
    for (const [s, seed, want] of stringVectors) {
      assert.equal(h32(murmur3Bytes(Buffer.from(s, 'utf8'), seed)), h32(want), `'${s}' seed ${seed}`);
    }
  });

  it('murmur3Words matches the vectors whose length is a multiple of 4', () => {
    assert.equal(h32(murmur3Words([0x87654321], 0)), '0xf55b516b');
    assert.equal(h32(murmur3Words([0x87654321], 0x5082edee)), '0x2362f9de');
    assert.equal(h32(murmur3Words([], 1)), '0x514e28b7');
    assert.equal(h32(murmur3Words([], 0)), '0x00000000');
    assert.equal(h32(murmur3Words([0xffffffff], 0)), '0x76293b50');
    assert.equal(h32(murmur3Words([0], 0)), '0x2362f9de');
    assert.equal(h32(murmur3Words(leWords(Buffer.from('aaaa')), 0x9747b28c)), '0x5a97808a');
    assert.equal(h32(murmur3Words(leWords(Buffer.from('abcd')), 0x9747b28c)), '0xf0478627');
  });

  it('negative seeds and words are taken mod 2^32', () => {
    assert.equal(murmur3Words([-1], -1), murmur3Words([0xffffffff], 0xffffffff));
    assert.equal(murmur3Bytes(Buffer.alloc(3), -2), murmur3Bytes(Buffer.alloc(3), 0xfffffffe));
  });

  it('agrees with an independent BigInt transcription on random input', () => {
    const seed = testSeed();
    const r = rng(seed);
    for (let n = 0; n < 500; n++) {
      const bytes = Uint8Array.from({ length: int(r, 0, 64) }, () => int(r, 0, 255));
      const s = int(r, 0, 0xffffffff);
      const want = murmurBig(bytes, s);
      assert.equal(
        murmur3Bytes(bytes, s),
        want,
        `XLB_SEED=${seed}: bytes ${Buffer.from(bytes).toString('hex')}`,
      );
      if (bytes.length % 4 === 0) assert.equal(murmur3Words(leWords(bytes), s), want, `XLB_SEED=${seed}`);
    }
  });

  it('returns uint32 values', () => {
    for (let i = 0; i < 100; i++) {
      const h = murmur3Words([i, i * 7919], i);
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, String(h));
    }
  });
});

const v4: FlowTuple = {
  family: 4,
  src: addrTo16('192.0.2.1'),
  dst: addrTo16('198.51.100.7'),
  sport: 0x1234,
  dport: 53,
  proto: 17,
};
const v6: FlowTuple = {
  family: 6,
  src: parseIPv6('2001:db8::1'),
  dst: parseIPv6('2001:db8:ffff::abcd'),
  sport: 40000,
  dport: 443,
  proto: 17,
};

/** flowHash of v4 and v6 under each hash key, seed 0x5eed: the data plane's C implementation must give these. */
const PINNED: Record<string, string> = {
  'v4 5-tuple': '0x96c15832',
  'v6 5-tuple': '0xdb4109b2',
  'v4 src-addr': '0xa8b8461a',
  'v6 src-addr': '0xaac69aa1',
  'v4 src-addr-port': '0xbe199df1',
  'v6 src-addr-port': '0x504e5246',
};

describe('flowKeyBytes', () => {
  const z12 = '00'.repeat(12);
  const v4Layouts: Record<HashKey, string> = {
    '5-tuple': `c0000201 ${z12} c6336407 ${z12} 1234 0035 11 04 0000`,
    'src-addr': `c0000201 ${z12} 00000000 ${z12} 0000 0000 00 04 0000`,
    'src-addr-port': `c0000201 ${z12} 00000000 ${z12} 1234 0000 00 04 0000`,
  };
  const v6src = '20010db8 00000000 00000000 00000001';
  const v6dst = '20010db8 ffff0000 00000000 0000abcd';
  const v6Layouts: Record<HashKey, string> = {
    '5-tuple': `${v6src} ${v6dst} 9c40 01bb 11 06 0000`,
    'src-addr': `${v6src} ${'00'.repeat(16)} 0000 0000 00 06 0000`,
    'src-addr-port': `${v6src} ${'00'.repeat(16)} 9c40 0000 00 06 0000`,
  };

  for (const key of HASH_KEYS) {
    it(`lays out an IPv4 ${key} key`, () => {
      const b = flowKeyBytes(v4, key);
      assert.equal(b.length, FLOW_KEY_BYTES);
      assert.equal(b.toString('hex'), hex(v4Layouts[key]).toString('hex'));
    });
    it(`lays out an IPv6 ${key} key`, () => {
      const b = flowKeyBytes(v6, key);
      assert.equal(b.length, FLOW_KEY_BYTES);
      assert.equal(b.toString('hex'), hex(v6Layouts[key]).toString('hex'));
    });
  }

  it('takes only the first 4 bytes of an IPv4 address (4- or 16-byte form)', () => {
    const dirty = { ...v4, src: Buffer.alloc(16, 0xee), dst: Buffer.alloc(16, 0xdd) };
    dirty.src.set(parseIPv4('192.0.2.1'));
    dirty.dst.set(parseIPv4('198.51.100.7'));
    const short = { ...v4, src: parseIPv4('192.0.2.1'), dst: parseIPv4('198.51.100.7') };
    for (const key of HASH_KEYS) {
      assert.deepEqual(flowKeyBytes(dirty, key), flowKeyBytes(v4, key), key);
      assert.deepEqual(flowKeyBytes(short, key), flowKeyBytes(v4, key), key);
    }
  });

  it('keeps exactly the fields of its hash key', () => {
    const other: FlowTuple = { ...v4, dst: addrTo16('203.0.113.9'), dport: 54, proto: 6 };
    const otherPort: FlowTuple = { ...v4, sport: 0x4321 };
    const otherSrc: FlowTuple = { ...v4, src: addrTo16('192.0.2.2') };
    assert.deepEqual(flowKeyBytes(other, 'src-addr'), flowKeyBytes(v4, 'src-addr'));
    assert.deepEqual(flowKeyBytes(other, 'src-addr-port'), flowKeyBytes(v4, 'src-addr-port'));
    assert.notDeepEqual(flowKeyBytes(other, '5-tuple'), flowKeyBytes(v4, '5-tuple'));
    assert.deepEqual(flowKeyBytes(otherPort, 'src-addr'), flowKeyBytes(v4, 'src-addr'));
    assert.notDeepEqual(flowKeyBytes(otherPort, 'src-addr-port'), flowKeyBytes(v4, 'src-addr-port'));
    for (const key of HASH_KEYS) assert.notDeepEqual(flowKeyBytes(otherSrc, key), flowKeyBytes(v4, key), key);
  });

  it('rejects malformed tuples', () => {
    assert.throws(
      () => flowKeyBytes({ ...v6, src: parseIPv4('192.0.2.1') }, '5-tuple'),
      /src of IPv6 is 4 bytes/,
    );
    assert.throws(() => flowKeyBytes({ ...v4, dst: Buffer.alloc(5) }, '5-tuple'), /dst of IPv4 is 5 bytes/);
    assert.throws(() => flowKeyBytes({ ...v4, sport: 65536 }, '5-tuple'), /sport 65536/);
    assert.throws(() => flowKeyBytes({ ...v4, dport: -1 }, '5-tuple'), /dport -1/);
    assert.throws(() => flowKeyBytes({ ...v4, proto: 256 }, '5-tuple'), /proto 256/);
    assert.throws(() => flowKeyBytes({ ...v4, family: 5 as 4 }, '5-tuple'), /family 5/);
    assert.throws(() => flowKeyBytes(v4, 'dst-addr' as HashKey), /unknown hash key/);
  });
});

describe('flowHash', () => {
  it('is murmur3 of the 40 key bytes, as words and as bytes', () => {
    for (const t of [v4, v6]) {
      for (const key of HASH_KEYS) {
        const b = flowKeyBytes(t, key);
        for (const seed of [0, 1, 0xdeadbeef]) {
          const h = flowHash(b, seed);
          assert.equal(h, murmur3Words(leWords(b), seed));
          assert.equal(h, murmur3Bytes(b, seed));
          assert.equal(h, murmurBig(b, seed));
        }
      }
    }
  });

  it('matches the pinned values', () => {
    const got = Object.fromEntries(
      HASH_KEYS.flatMap((key) => [
        [`v4 ${key}`, h32(flowHash(flowKeyBytes(v4, key), 0x5eed))],
        [`v6 ${key}`, h32(flowHash(flowKeyBytes(v6, key), 0x5eed))],
      ]),
    );
    assert.deepEqual(got, PINNED);
  });

  it('is deterministic and depends on the seed', () => {
    const b = flowKeyBytes(v4, '5-tuple');
    assert.equal(flowHash(b, 7), flowHash(Buffer.from(b), 7));
    assert.equal(flowHash(b, 7), flowHash(flowKeyBytes({ ...v4 }, '5-tuple'), 7));
    assert.notEqual(flowHash(b, 7), flowHash(b, 8));
  });

  it('rejects keys that are not 40 bytes', () => {
    assert.throws(() => flowHash(Buffer.alloc(39), 0), /39 bytes, need 40/);
    assert.throws(() => flowHash(Buffer.alloc(44), 0), /44 bytes, need 40/);
  });
});

/** Pearson's chi-square statistic of `counts` against a uniform expectation. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
}
// Chi-square with 6 degrees of freedom exceeds 22.46 with probability 0.001.
const CHI2_6DF_P001 = 22.46;

describe('tableIndex', () => {
  it('maps the hash range onto 0..len-1, ends included', () => {
    for (const len of [1, 2, 7, 251, 16381, 65537, 0x1fffff]) {
      assert.equal(tableIndex(0, len), 0);
      assert.equal(tableIndex(0xffffffff, len), len - 1, `len ${len}`);
      // The first hash of each slot: ceil(j * 2^32 / len).
      for (const j of [1, Math.floor(len / 2), len - 1].filter((j) => j > 0 && j < len)) {
        const first = Number((BigInt(j) * 2n ** 32n + BigInt(len) - 1n) / BigInt(len));
        assert.equal(tableIndex(first, len), j, `len ${len} j ${j}`);
        assert.equal(tableIndex(first - 1, len), j - 1, `len ${len} j ${j}`);
      }
    }
  });

  it('is exactly floor(hash * len / 2^32)', () => {
    const seed = testSeed();
    const r = rng(seed);
    for (let n = 0; n < 10000; n++) {
      const hash = int(r, 0, 0xffffffff);
      const len = int(r, 1, 0x1fffff);
      const want = Number((BigInt(hash) * BigInt(len)) >> 32n);
      assert.equal(tableIndex(hash, len), want, `XLB_SEED=${seed}: hash ${hash} len ${len}`);
    }
  });

  it('rejects lengths outside 1..2^21-1', () => {
    for (const len of [0, -1, 1.5, 0x200000]) assert.throws(() => tableIndex(1, len), /tableIndex: length/);
  });

  it('spreads 1e5 random hashes evenly over 7 buckets', () => {
    const r = rng(12345);
    const counts = new Array<number>(7).fill(0);
    for (let n = 0; n < 100000; n++) counts[tableIndex(Math.floor(r() * 2 ** 32), 7)]!++;
    const chi2 = chiSquare(counts);
    assert.ok(chi2 < CHI2_6DF_P001, `chi-square ${chi2.toFixed(2)} for ${counts.join(' ')}`);
  });

  it('spreads 1e5 neighbouring flows (sequential addresses and ports) evenly over 7 buckets', () => {
    for (const key of HASH_KEYS) {
      const counts = new Array<number>(7).fill(0);
      const src = addrTo16('10.0.0.0');
      for (let n = 0; n < 100000; n++) {
        const t: FlowTuple = { ...v4, src: Buffer.from(src), sport: 1024 + (n % 50000) };
        t.src[1] = n >> 16;
        t.src[2] = (n >> 8) & 0xff;
        t.src[3] = n & 0xff;
        counts[tableIndex(flowHash(flowKeyBytes(t, key), 0x5eed), 7)]!++;
      }
      const chi2 = chiSquare(counts);
      assert.ok(chi2 < CHI2_6DF_P001, `${key}: chi-square ${chi2.toFixed(2)} for ${counts.join(' ')}`);
    }
  });
});
