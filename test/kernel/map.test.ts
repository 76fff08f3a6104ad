// Filling an mmapable array through a shared mapping, whole or a run of entries at a time (how
// the reconciler writes scheduling tables) and reading an array's first keys in batches (how counters are read
// for large configs): what the kernel then holds, and the refusals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import {
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  BpfMap,
  MapType,
  numPossibleCpus,
  page,
} from '../../src/kernel/map.js';
import { rootSkip } from '../helpers/privileged.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

describe('BpfMap.writeMmapable', { skip: rootSkip() }, () => {
  it('writes every entry at a stride of 8 bytes, as lookups see them', () => {
    const n = 16381;
    const m = BpfMap.create(MapType.ARRAY, 'xlb_t_mmap', 4, 4, n, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
    try {
      const values = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) values[2 * i] = (i * 2654435761) >>> 0;
      m.writeMmapable(new Uint8Array(values.buffer));
      for (const i of [0, 1, 2, 4095, 4096, 8191, 12345, n - 1]) {
        assert.equal(m.lookup(u32(i))?.readUInt32LE(), (i * 2654435761) >>> 0, `entry ${i}`);
      }
      // A second write replaces the first.
      m.writeMmapable(new Uint8Array(8 * n));
      assert.equal(m.lookup(u32(n - 1))?.readUInt32LE(), 0);
    } finally {
      m.close();
    }
  });

  it('refuses a map without BPF_F_MMAPABLE, and a buffer of the wrong size', () => {
    const plain = BpfMap.create(MapType.ARRAY, 'xlb_t_plain', 4, 4, 8, BPF_F_INNER_MAP);
    const mm = BpfMap.create(MapType.ARRAY, 'xlb_t_mmap2', 4, 4, 8, BPF_F_MMAPABLE);
    try {
      assert.throws(
        () => plain.writeMmapable(new Uint8Array(64)),
        /not an array created with BPF_F_MMAPABLE/,
      );
      assert.throws(() => mm.writeMmapable(new Uint8Array(32)), /32 bytes given, its 8 entries take 64/);
      assert.equal(mm.lookup(u32(0))?.readUInt32LE(), 0, 'nothing was written');
    } finally {
      plain.close();
      mm.close();
    }
  });
});

describe('BpfMap.writeMmapableAt', { skip: rootSkip() }, () => {
  it("maps whole pages of the system's page size (getconf PAGESIZE), not an assumed 4 KiB", () => {
    assert.equal(page(), Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
  });

  it('writes runs at any entry, across page boundaries, and leaves every other entry as it was', () => {
    const n = 5000; // 40,000 bytes: ten pages, the last one partly
    const m = BpfMap.create(MapType.ARRAY, 'xlb_t_mmapat', 4, 4, n, BPF_F_MMAPABLE);
    try {
      const run = (index: number, count: number, base: number) => {
        const v = new Uint32Array(2 * count);
        for (let i = 0; i < count; i++) v[2 * i] = base + i;
        return { index, values: new Uint8Array(v.buffer) };
      };
      // 510..1535 spans pages 0 to 2; 4990..4999 ends at the last entry, inside the last page.
      m.writeMmapableAt([run(510, 1026, 1_000_000), run(4990, 10, 2_000_000)]);
      const at = (i: number) => m.lookup(u32(i))?.readUInt32LE();
      assert.deepEqual(
        [at(509), at(510), at(511), at(1023), at(1024), at(1535), at(1536)],
        [0, 1_000_000, 1_000_001, 1_000_513, 1_000_514, 1_001_025, 0],
      );
      assert.deepEqual([at(4989), at(4990), at(4999)], [0, 2_000_000, 2_000_009]);
      assert.throws(
        () => m.writeMmapableAt([run(4995, 6, 1)]),
        /48 bytes at entry 4995 do not fit its 5000 entries/,
      );
      assert.equal(at(4995), 2_000_005, 'a refused run writes nothing');
    } finally {
      m.close();
    }
  });
});

describe('BpfMap.lookupArrayPrefix', { skip: rootSkip() }, () => {
  it('reads keys 0..n-1 of a per-CPU array in batches, as per-key lookups see them', () => {
    const n = 5000;
    const m = BpfMap.create(MapType.PERCPU_ARRAY, 'xlb_t_pcpu', 4, 16, n);
    try {
      const cpus = numPossibleCpus();
      for (const i of [0, 1, 63, 64, 2047, n - 1]) {
        const v = Buffer.alloc(m.valueBufferSize);
        for (let c = 0; c < cpus; c++) {
          v.writeBigUInt64LE(BigInt(i * 10 + c), 16 * c);
          v.writeBigUInt64LE(BigInt(i * 1000 + c), 16 * c + 8);
        }
        m.update(u32(i), v);
      }
      const all = m.lookupArrayPrefix(n);
      assert.equal(all.length, n * m.valueBufferSize);
      for (const i of [0, 1, 2, 63, 64, 2047, 3000, n - 1]) {
        const one = all.subarray(i * m.valueBufferSize, (i + 1) * m.valueBufferSize);
        assert.deepEqual(one, m.lookup(u32(i)), `key ${i}`);
      }
      assert.equal(all.readBigUInt64LE(64 * m.valueBufferSize + 8), 64000n);
      assert.equal(m.lookupArrayPrefix(0).length, 0);
      assert.throws(() => m.lookupArrayPrefix(n + 1), /5001 keys asked, it has 5000/);
    } finally {
      m.close();
    }
  });

  it('refuses maps that are not arrays', () => {
    const h = BpfMap.create(MapType.HASH, 'xlb_t_hash', 4, 4, 8);
    try {
      assert.throws(() => h.lookupArrayPrefix(1), /reads array maps only/);
    } finally {
      h.close();
    }
  });
});
