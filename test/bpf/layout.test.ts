// The TypeScript codecs and constants agree with what clang laid out in the BPF
// object (its BTF and its maps): the two sides cannot drift apart silently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dirname, join } from 'node:path';
import { checkAbiVersion, defaultObjectPath, Dataplane } from '../../src/control/dataplane.js';
import { MAP_NAMES } from '../../src/control/maps.js';
import { BpfObject } from '../../src/kernel/object.js';
import { MapType } from '../../src/kernel/map.js';
import {
  ABI_VERSION,
  Bitmap,
  Family,
  HashKeyCode,
  Limits,
  Mode,
  Reasons,
  Sched,
  abiStructs,
} from '../../src/abi/abi.js';
import { layoutMismatches, struct } from '../../src/abi/codec.js';
import { rootSkip } from '../helpers/privileged.js';

describe('ABI layout', () => {
  it('every codec matches its struct in the object BTF, field by field', () => {
    const obj = BpfObject.open(defaultObjectPath());
    try {
      for (const codec of abiStructs) {
        const layout = obj.structLayout(codec.name);
        assert.ok(layout, `struct ${codec.name} is in the BTF`);
        assert.deepEqual(layoutMismatches(codec, layout), [], `struct ${codec.name}`);
      }
    } finally {
      obj.close();
    }
  });

  it('every enum constant has the same value on both sides', () => {
    const obj = BpfObject.open(defaultObjectPath());
    // TypeScript names map to C names: 'round-robin' -> ROUND_ROBIN, servicePorts -> SERVICE_PORTS.
    const cName = (prefix: string, ts: string) =>
      prefix +
      ts
        .replace(/([a-z])([A-Z])/g, '$1_$2')
        .replace(/-/g, '_')
        .toUpperCase();
    const expect = (cEnum: string, prefix: string, ts: Record<string, number>, count?: string) => {
      const c = obj.enumValues(cEnum);
      assert.ok(c, `enum ${cEnum} is in the BTF`);
      const wanted = new Map(Object.entries(ts).map(([k, v]) => [cName(prefix, k), v]));
      if (count) wanted.set(count, Object.keys(ts).length);
      assert.deepEqual(c, wanted, `enum ${cEnum}`);
    };
    try {
      expect('xlb_family', 'XLB_FAMILY_', Family);
      expect('xlb_mode', 'XLB_MODE_', Mode);
      expect('xlb_sched', 'XLB_SCHED_', Sched);
      expect('xlb_hash_key', 'XLB_HASH_KEY_', HashKeyCode);
      expect('xlb_bitmap', 'XLB_BITMAP_', Bitmap, 'XLB_BITMAP_COUNT');
      expect('xlb_reason', 'XLB_R_', Object.fromEntries(Reasons.map((r, i) => [r, i])), 'XLB_R_COUNT');
      // The ABI version and every limit are written once in C (enum xlb_abi) and mirrored here.
      expect('xlb_abi', 'XLB_ABI_', { version_: ABI_VERSION, ...Limits });
    } finally {
      obj.close();
    }
  });

  it('an object of another ABI version is refused at load, naming both versions', () => {
    const obj = BpfObject.open(defaultObjectPath());
    try {
      assert.doesNotThrow(() => checkAbiVersion(obj));
    } finally {
      obj.close();
    }
    // An XDP object that is not xlb's carries no version at all.
    const foreign = BpfObject.open(join(dirname(defaultObjectPath()), 'test', 'foreign.bpf.o'));
    try {
      assert.throws(
        () => checkAbiVersion(foreign),
        /carries no ABI version .*this xlb needs 7.*rebuild both/,
      );
    } finally {
      foreign.close();
    }
  });

  it('a codec that drifted is caught (offset, size, missing and extra fields)', () => {
    const obj = BpfObject.open(defaultObjectPath());
    try {
      const layout = obj.structLayout('xlb_svc_key')!;
      const drifted = struct('xlb_svc_key', {
        addr: { bytes: 16 },
        proto: 'u8',
        pad: 'u8',
        port: 'be16',
        extra: 'u32',
      });
      const problems = layoutMismatches(drifted, layout);
      assert.ok(
        problems.some((p) => p.startsWith('size')),
        problems.join('; '),
      );
      assert.ok(
        problems.some((p) => p.includes('field port')),
        problems.join('; '),
      );
      assert.ok(
        problems.some((p) => p.includes('field family: in the object')),
        problems.join('; '),
      );
      assert.ok(
        problems.some((p) => p.includes('field extra: in the codec')),
        problems.join('; '),
      );
      assert.throws(() => obj.checkCodecs([drifted]), /does not match this build of xlb/);
    } finally {
      obj.close();
    }
  });

  it('map names and sizes agree with the TypeScript limits', { skip: rootSkip() }, () => {
    const dp = Dataplane.load({ flowTableSize: 2048, schedEntries: 5000 });
    try {
      assert.deepEqual(
        [...dp.object.mapNames()].filter((n) => !n.includes('.')).sort(),
        [...MAP_NAMES].sort(),
      );
      const size = (n: string) => dp.object.map(n).info.maxEntries;
      assert.equal(size('services'), Limits.maxServices);
      assert.equal(size('stats_svc'), Limits.maxServices);
      assert.equal(size('rr_cursor'), Limits.maxServices);
      assert.equal(size('backends'), Limits.maxBackends);
      assert.equal(size('stats_backend'), Limits.maxBackends);
      assert.equal(size('icmp_unreach'), Limits.maxBackends, 'ICMP errors per backend id');
      assert.equal(dp.object.map('icmp_unreach').info.type, MapType.PERCPU_ARRAY, 'icmp_unreach cannot fill');
      assert.equal(size('sched_flat'), 5000, 'scheduling tables resized before load');
      assert.equal(dp.object.map('sched_flat').info.type, MapType.ARRAY, 'one flat array, no map of maps');
      assert.equal(size('svc_values'), Limits.svcSlots);
      assert.equal(size('svc_ports'), Limits.svcPortKeys);
      assert.equal(size('nh_cache'), Limits.nhCacheSize);
      assert.equal(size('flow_cache'), Limits.flowCacheSize);
      assert.equal(size('stats_reason'), Reasons.length, 'one counter per enum xlb_reason');
      assert.equal(size('rev_nat'), 2048, 'flow table resized before load');
      assert.equal(dp.object.map('port_bitmaps').info.valueSize, Limits.portBitmapBytes);
    } finally {
      dp.close();
    }
  });
});
