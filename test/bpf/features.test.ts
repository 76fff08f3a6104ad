// The feature catalogue (src/control/features.ts) against the compiled data plane: the probe
// asks about exactly the helpers each program calls, the map types and the map flags the
// object uses — so a new helper or map in bpf/ that older kernels lack cannot slip past the
// probe. Reads the object file only (no kernel).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultObjectPath } from '../../src/control/dataplane.js';
import { FEATURES } from '../../src/control/features.js';
import { BpfObject } from '../../src/kernel/object.js';
import { ProgType } from '../../src/kernel/program.js';

const BPF_F_RDONLY_PROG = 1 << 7;
const PROG_KIND: Record<number, 'xdp' | 'tc'> = { [ProgType.XDP]: 'xdp', [ProgType.SCHED_CLS]: 'tc' };

describe('the probed features are what bpf/xlb.bpf.c uses', () => {
  const obj = BpfObject.open(defaultObjectPath());
  const uses = obj.uses();
  obj.close();
  const uniq = <T>(xs: T[]) => [...new Set(xs)].sort();

  it('the helpers of each program type, exactly', () => {
    for (const kind of ['xdp', 'tc'] as const) {
      const called = uniq(uses.programs.filter((p) => PROG_KIND[p.type] === kind).flatMap((p) => p.helpers));
      const probed = uniq(
        FEATURES.flatMap((f) =>
          f.uses && 'helper' in f.uses && f.uses.prog === kind ? [f.uses.helper] : [],
        ),
      );
      assert.ok(called.length > 0, `the object has ${kind} programs`);
      assert.deepEqual(probed, called, `${kind} helpers (enum bpf_func_id) probed vs called`);
    }
    assert.deepEqual(
      uniq(uses.programs.map((p) => PROG_KIND[p.type] ?? `type ${p.type}`)),
      ['tc', 'xdp'],
      'only XDP and TC programs, whose types are probed',
    );
  });

  it('the map types, exactly', () => {
    const used = uniq(uses.maps.map((m) => m.type));
    const probed = uniq(FEATURES.flatMap((f) => (f.uses && 'mapType' in f.uses ? [f.uses.mapType] : [])));
    assert.deepEqual(probed, used);
  });

  it('every map flag (libbpf sets BPF_F_RDONLY_PROG on its .rodata itself)', () => {
    const probed = FEATURES.reduce((a, f) => a | (f.uses && 'mapFlags' in f.uses ? f.uses.mapFlags : 0), 0);
    for (const m of uses.maps) {
      const allowed = probed | (m.name.endsWith('.rodata') ? BPF_F_RDONLY_PROG : 0);
      for (const flags of [m.flags, m.innerFlags ?? 0]) {
        assert.equal(flags & ~allowed, 0, `map ${m.name}: flags 0x${flags.toString(16)} not all probed`);
      }
    }
    assert.ok(
      uses.maps.some((m) => m.name === 'sched_flat' && m.flags & probed),
      'the scheduling tables use the probed flag (BPF_F_MMAPABLE)',
    );
  });
});
