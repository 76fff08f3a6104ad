// The incremental plan (a plan made from the previous plan, O(what changed)) against a plan from
// scratch (the previous plan's ids alone, as a restarted daemon has them), over random sequences
// of API edits: services, backends, ids, tables and port sets must be the same, and the backends
// the reconciler writes and frees (backendChanges) the same as a full comparison gives. Also the
// OverlayMap the backends live in, against a plain Map.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/model/config.js';
import { OverlayMap } from '../../src/model/overlay-map.js';
import { backendChanges, plan, planIds, planIdsFrom, type Plan } from '../../src/model/plan.js';
import { randomEdit, rng, startConfig, verdictOf } from './api-edits.js';

/** A plan as plain data (tables as arrays, maps and sets sorted). */
function normal(p: Plan) {
  return {
    services: p.services.map((s) => ({ ...s, table: [...s.table] })),
    backends: [...p.backends.entries()].sort((a, b) => a[0] - b[0]),
    servicePorts: [...p.servicePorts].sort((a, b) => a - b),
    backendPorts: [...p.backendPorts].sort((a, b) => a - b),
  };
}

const sortedIds = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('incremental plan', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equals a plan from scratch after every edit of a random sequence (seed ${seed})`, () => {
      const r = rng(seed);
      let config: Config = startConfig();
      let previous = plan(config);
      let accepted = 0;
      for (let step = 0; step < 150; step++) {
        const e = randomEdit(config, r);
        const v = verdictOf(e, config);
        if (!('next' in v)) continue;
        accepted++;
        const prevConfig = config;
        config = v.next;
        const incremental = plan(config, previous);
        const scratch = plan(config, planIdsFrom(JSON.parse(JSON.stringify(planIds(previous))) as never));
        assert.deepEqual(normal(incremental), normal(scratch), `step ${step}: ${e.what}`);
        const changes = backendChanges(previous, incremental);
        const full = backendChanges(previous, scratch); // scratch was not derived from previous: compared whole
        assert.deepEqual(
          sortedIds(changes.added.map((b) => b.id)),
          sortedIds(full.added.map((b) => b.id)),
          `step ${step}: added backends`,
        );
        assert.deepEqual(
          sortedIds(changes.removed),
          sortedIds(full.removed),
          `step ${step}: removed backends`,
        );
        // Services the edit did not touch (the same frozen object) are the previous plan's own.
        for (const s of incremental.services) {
          const before = previous.services.find((x) => x.name === s.name);
          const was = prevConfig.services.find((x) => x.name === s.name);
          if (before && was && was === config.services.find((x) => x.name === s.name))
            assert.equal(s, before, `step ${step}: ${s.name}, untouched by '${e.what}', is reused`);
        }
        previous = incremental;
      }
      assert.ok(accepted > 30, `only ${accepted} edits accepted: the sequence tests little`);
    });
  }

  it('a changed seed replans every service, with the same ids', () => {
    const c = startConfig();
    const p1 = plan(c);
    const c2 = { ...c, hashSeed: c.hashSeed + 1 };
    const p2 = plan(c2, p1);
    assert.deepEqual(normal(p2), normal(plan(c2, planIdsFrom(planIds(p1)))));
    for (const s of p2.services)
      assert.notEqual(
        s,
        p1.services.find((x) => x.name === s.name),
      );
  });
});

describe('OverlayMap', () => {
  it('reads like a Map through random sets and deletes, folds, and leaves the map it came from alone', () => {
    const r = rng(42);
    let m = OverlayMap.of<number, number>([]);
    const ref = new Map<number, number>();
    const history: [OverlayMap<number, number>, Map<number, number>][] = [];
    for (let step = 0; step < 3000; step++) {
      const sets: [number, number][] = [];
      const deletes: number[] = [];
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
        const key = Math.floor(r() * 600);
        if (r() < 0.4) deletes.push(key);
        else sets.push([key, step]);
      }
      m = m.with(sets, deletes);
      for (const k of deletes) ref.delete(k);
      for (const [k, v] of sets) ref.set(k, v);
      if (step % 97 === 0) history.push([m, new Map(ref)]);
      assert.equal(m.size, ref.size, `step ${step}: size`);
      const key = Math.floor(r() * 600);
      assert.equal(m.get(key), ref.get(key), `step ${step}: get ${key}`);
      assert.equal(m.has(key), ref.has(key), `step ${step}: has ${key}`);
    }
    for (const [old, was] of history) {
      assert.deepEqual(
        [...old.entries()].sort((a, b) => a[0] - b[0]),
        [...was.entries()].sort((a, b) => a[0] - b[0]),
      );
      assert.equal(old.size, was.size);
    }
  });
});
