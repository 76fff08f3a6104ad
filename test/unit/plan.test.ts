// plan(): ids stay stable across plans, freed ids are not handed out again by the same plan,
// and a service's table is reused from the previous plan exactly when nothing it depends on
// changed (so a one-backend change in a large config rebuilds one table, not all of them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planToState, stateToPlan } from '../../src/control/instance.js';
import { parseConfig } from '../../src/model/config.js';
import { buildTable, plan, planIds, planIdsFrom } from '../../src/model/plan.js';

function config(opts: { seed?: number; extra?: string; a?: string; b?: string } = {}): string {
  return [
    'interface: lo',
    `hash_seed: ${opts.seed ?? 1}`,
    'services:',
    '  - name: a',
    '    vip: 192.0.2.1',
    '    port: 53',
    '    scheduler: maglev',
    '    table_size: 1021',
    '    backends:',
    opts.a ?? '      - { address: 198.51.100.1, port: 53 }\n      - { address: 198.51.100.2, port: 53 }',
    '  - name: b',
    '    vip: 192.0.2.2',
    '    port: 53',
    '    scheduler: maglev',
    '    table_size: 1021',
    '    backends:',
    opts.b ?? '      - { address: 198.51.100.3, port: 53 }\n      - { address: 198.51.100.4, port: 53 }',
    opts.extra ?? '',
  ].join('\n');
}

const svc = (p: ReturnType<typeof plan>, name: string) => {
  const s = p.services.find((x) => x.name === name);
  assert.ok(s);
  return s;
};

describe('plan', () => {
  it('keeps ids of surviving services and backends; does not reuse freed ids in the same plan', () => {
    const p1 = plan(parseConfig(config()));
    const p2 = plan(
      parseConfig(
        config({
          a: '      - { address: 198.51.100.2, port: 53 }\n      - { address: 198.51.100.9, port: 53 }',
        }),
      ),
      p1,
    );
    assert.equal(svc(p2, 'a').id, svc(p1, 'a').id);
    const id = (p: ReturnType<typeof plan>, addr: string) =>
      svc(p, 'a').backends.find((b) => b.address === addr)?.id;
    assert.equal(id(p2, '198.51.100.2'), id(p1, '198.51.100.2'));
    const used = new Set([...p1.backends.keys()]);
    assert.ok(!used.has(id(p2, '198.51.100.9')!), 'the new backend does not take the freed id of .1');
    // Ids saved as JSON (the daemon's state) give the same plan.
    const p3 = plan(parseConfig(config()), planIdsFrom(JSON.parse(JSON.stringify(planIds(p1))) as never));
    assert.deepEqual(
      p3.services.map((s) => [s.name, s.id, s.table]),
      p1.services.map((s) => [s.name, s.id, s.table]),
    );
  });

  it('reuses the previous table of a service whose inputs did not change, and rebuilds the changed one', () => {
    const p1 = plan(parseConfig(config()));
    const p2 = plan(
      parseConfig(
        config({
          a: '      - { address: 198.51.100.1, port: 53, weight: 3 }\n      - { address: 198.51.100.2, port: 53 }',
        }),
      ),
      p1,
    );
    assert.equal(svc(p2, 'b').table, svc(p1, 'b').table, 'b unchanged: the same table object');
    assert.notEqual(svc(p2, 'a').table, svc(p1, 'a').table, 'a re-weighted: rebuilt');
    assert.notDeepEqual(svc(p2, 'a').table, svc(p1, 'a').table);
  });

  it('a reused table equals a fresh build', () => {
    const c = parseConfig(config());
    const p1 = plan(c);
    const p2 = plan(c, p1);
    for (const s of c.services) {
      const planned = svc(p2, s.name);
      assert.deepEqual(planned.table, buildTable(s, planned.backends, c.hashSeed));
    }
  });

  for (const [what, next] of [
    ['the hash seed', config({ seed: 2 })],
    ['the table size', config().replaceAll('table_size: 1021', 'table_size: 1031')],
    [
      'the scheduler',
      config()
        .replaceAll('scheduler: maglev', 'scheduler: weighted-round-robin')
        .replaceAll('    table_size: 1021\n', ''),
    ],
    [
      'a drain (weight 0)',
      config({
        b: '      - { address: 198.51.100.3, port: 53, weight: 0 }\n      - { address: 198.51.100.4, port: 53 }',
      }),
    ],
  ] as const) {
    it(`rebuilds when ${what} changes`, () => {
      const p1 = plan(parseConfig(config()));
      const c2 = parseConfig(next);
      const p2 = plan(c2, p1);
      const b = svc(p2, 'b');
      assert.notEqual(b.table, svc(p1, 'b').table);
      assert.deepEqual(b.table, buildTable(c2.services[1]!, b.backends, c2.hashSeed));
    });
  }
});

describe('the state file form of a plan', () => {
  it('leaves the tables out (1,021 ids a service here, up to 65,537) and reads back for stats', () => {
    const p = plan(parseConfig(config()));
    const saved = JSON.parse(JSON.stringify(planToState(p))) as ReturnType<typeof planToState>;
    for (const s of saved) assert.equal('table' in s, false, `${s.name} has no table`);
    assert.ok(JSON.stringify(saved).length < 2000, 'a few hundred bytes a service, not thousands of ids');
    const back = stateToPlan(saved);
    assert.deepEqual(
      back.services.map((s) => [s.name, s.id, s.backends.map((b) => b.id)]),
      p.services.map((s) => [s.name, s.id, s.backends.map((b) => b.id)]),
    );
    assert.deepEqual([...back.backends.keys()].sort(), [...p.backends.keys()].sort());
  });
});
