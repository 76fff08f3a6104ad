// The daemon's state file text (instanceStateText: the JSON of each service made once and kept)
// against JSON.stringify(instanceState(...)) over random API edits, whose configs and plans share
// their unchanged services: the same JSON value after every edit (ids.backends compared as a set).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { instanceState, instanceStateText, type DaemonSnapshot } from '../../src/daemon/state.js';
import { plan, type Plan } from '../../src/model/plan.js';
import { randomEdit, rng, startConfig, verdictOf } from './api-edits.js';

function fakeDataplane(applied: Plan): Dataplane {
  return {
    reconciler: { applied, slots: { table: [[0, 1]], value: [[0, 0]] } },
    interfaceStates: () => [{ ifname: 'eth0', ifindex: 2, xdpMode: 'native', tc: 'tcx' }],
  } as unknown as Dataplane;
}

/** The state as a JSON value, ids.backends sorted. */
function normal(text: string): unknown {
  const v = JSON.parse(text) as { daemon: { ids: { backends: [string, string, number, number][] } } };
  v.daemon.ids.backends.sort((a, b) => a[3] - b[3]);
  return v;
}

describe('the state file text', () => {
  it('is the JSON of instanceState after every edit of a random sequence', () => {
    const r = rng(7);
    let config = startConfig();
    let p = plan(config);
    let checked = 0;
    for (let step = 0; step < 120; step++) {
      const v = verdictOf(randomEdit(config, r), config);
      if (!('next' in v)) continue;
      const applied = v.next;
      p = plan(applied, p);
      const d: DaemonSnapshot = {
        instance: 'test',
        startedAt: new Date(0),
        dataplane: fakeDataplane(p),
        generation: step,
        running: config, // the one before: running and applied differ, as with health or drains
        applied,
        drained: new Map([['s0/198.51.100.1:53', 2]]),
        unhealthy: ['s0/198.51.100.2:53'],
      };
      const text = instanceStateText(d).toString();
      assert.ok(text.endsWith('}\n'), 'one line of JSON');
      assert.deepEqual(normal(text), normal(JSON.stringify(instanceState(d))), `step ${step}`);
      config = applied;
      checked++;
    }
    assert.ok(checked > 30, `only ${checked} states compared`);
  });
});
