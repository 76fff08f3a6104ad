// The state file across the flat scheduling tables (ABI 7, state format 2): a daemon saves
// where each service's regions of sched_flat are; a format 1 file (sched_tables slots, ABI 6)
// still reads, but its pins are never adopted: the new daemon starts fresh, as for any ABI change.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ABI_VERSION } from '../../src/abi/abi.js';
import { STATE_FORMAT, stateFrom } from '../../src/control/instance.js';
import { MAP_NAMES } from '../../src/control/maps.js';
import { canAdopt } from '../../src/daemon/start.js';

const daemonPart = (slots: unknown) => ({
  generation: 3,
  running: { interface: 'lo', services: [] },
  applied: { interface: 'lo', services: [] },
  ids: { services: [['dns', 0]], backends: [] },
  slots,
  drained: [],
  unhealthy: [],
});

describe('the state file and the flat scheduling tables', () => {
  const pins = mkdtempSync(join(tmpdir(), 'xlb-pins-'));
  for (const m of MAP_NAMES) writeFileSync(join(pins, m), '');

  it('format 2 keeps each service regions of sched_flat, and this ABI adopts it', () => {
    assert.equal(STATE_FORMAT, 2);
    const slots = { value: [[0, 1]], regions: [[0, 4096, 1024, 1]] };
    const s = stateFrom(
      { format: 2, pid: 1, abi: ABI_VERSION, interfaces: [], services: [], daemon: daemonPart(slots) },
      'x',
    );
    assert.deepEqual(s?.daemon?.slots, slots);
    assert.equal(canAdopt(s, pins), true);
  });

  it('format 1 (sched_tables slots, ABI 6) reads, without regions, and is not adopted', () => {
    const s = stateFrom(
      {
        format: 1,
        pid: 1,
        abi: 6,
        interfaces: [{ name: 'eth0', mode: 'native' }],
        services: [],
        daemon: daemonPart({ table: [[0, 1]], value: [[0, 0]] }),
      },
      'x',
    );
    assert.equal(s?.format, STATE_FORMAT);
    assert.deepEqual(s?.daemon?.slots, { value: [[0, 0]], regions: [] });
    assert.equal(s?.daemon?.generation, 3);
    assert.deepEqual(
      s?.interfaces,
      [{ name: 'eth0', mode: 'native' }],
      'what down and a fresh start need stays',
    );
    assert.equal(canAdopt(s, pins), false, 'another ABI: start fresh');
  });

  it('a format 2 state whose pins lack sched_flat (an older layout) is not adopted either', () => {
    const old = mkdtempSync(join(tmpdir(), 'xlb-pins-'));
    try {
      for (const m of MAP_NAMES) if (m !== 'sched_flat') writeFileSync(join(old, m), '');
      writeFileSync(join(old, 'sched_tables'), '');
      const s = stateFrom(
        {
          format: 2,
          pid: 1,
          abi: ABI_VERSION,
          interfaces: [],
          services: [],
          daemon: daemonPart({ value: [], regions: [] }),
        },
        'x',
      );
      assert.equal(canAdopt(s, old), false);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it('cleans up', () => rmSync(pins, { recursive: true, force: true }));
});
