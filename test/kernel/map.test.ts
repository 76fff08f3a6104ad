// Filling an mmapable array through a shared mapping (how the reconciler writes
// scheduling tables): what the kernel then reads back, and the refusals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BPF_F_INNER_MAP, BPF_F_MMAPABLE, BpfMap, MapType } from '../../src/kernel/map.js';
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
