// Configuration of schedulers, hash keys, table sizes, flow affinity, weights and the
// cluster's hash seed: defaults, and each mistake named with its path, line and fix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/model/config.js';

const yaml = (service: string[], top: string[] = []) =>
  [
    'interface: lo',
    ...top,
    'services:',
    '  - name: s',
    '    vip: 192.0.2.1',
    '    port: 53',
    ...service.map((l) => `    ${l}`),
    '',
  ].join('\n');
const BACKENDS = [
  'backends:',
  '  - { address: 198.51.100.1, port: 53 }',
  '  - { address: 198.51.100.2, port: 53 }',
];

function problem(text: string): { path: string; line?: number; message: string } {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.problems.length, 1, e.message);
    return e.problems[0]!;
  }
  assert.fail('the config was accepted');
}

describe('schedulers and their fields', () => {
  test('defaults: maglev, 5-tuple hash, a 16381-entry table, flow affinity, seed 0, weight 1', () => {
    const c = parseConfig(yaml(BACKENDS));
    const s = c.services[0]!;
    assert.equal(c.hashSeed, 0);
    assert.deepEqual(
      [s.scheduler, s.hashKey, s.tableSize, s.flowAffinity],
      ['maglev', '5-tuple', 16381, true],
    );
    assert.deepEqual(
      s.backends.map((b) => b.weight),
      [1, 1],
    );
  });

  test('round-robin and weighted round-robin: no table size, no affinity unless asked', () => {
    for (const sched of ['round-robin', 'weighted-round-robin']) {
      const s = parseConfig(yaml([`scheduler: ${sched}`, ...BACKENDS])).services[0]!;
      assert.deepEqual([s.tableSize, s.flowAffinity], [0, false]);
      const sticky = parseConfig(yaml([`scheduler: ${sched}`, 'flow_affinity: true', ...BACKENDS]))
        .services[0]!;
      assert.equal(sticky.flowAffinity, true);
    }
  });

  test('every field given', () => {
    const c = parseConfig(
      yaml(
        [
          'scheduler: maglev',
          'hash_key: src-addr-port',
          'table_size: 65537',
          'flow_affinity: false',
          'backends:',
          '  - { address: 198.51.100.1, port: 53, weight: 0 }',
          '  - { address: 198.51.100.2, port: 53, weight: 7 }',
        ],
        ['hash_seed: 4294967295'],
      ),
    );
    const s = c.services[0]!;
    assert.equal(c.hashSeed, 4294967295);
    assert.deepEqual([s.hashKey, s.tableSize, s.flowAffinity], ['src-addr-port', 65537, false]);
    assert.deepEqual(
      s.backends.map((b) => b.weight),
      [0, 7],
    );
  });

  const mistakes: [string, string, string, number, RegExp][] = [
    [
      'unknown scheduler',
      yaml(['scheduler: magleev', ...BACKENDS]),
      'services[0].scheduler',
      6,
      /did you mean 'maglev'/,
    ],
    [
      'table size not a prime',
      yaml(['table_size: 16384', ...BACKENDS]),
      'services[0].table_size',
      6,
      /16384 is not a prime; use one, e\.g\. 16411/,
    ],
    [
      'table smaller than the backends',
      yaml([
        'table_size: 7',
        'backends:',
        ...Array.from({ length: 8 }, (_, i) => `  - { address: 198.51.100.${i + 1}, port: 53 }`),
      ]),
      'services[0].table_size',
      6,
      /smaller than the 8 backends; use at least 809/,
    ],
    [
      'hash_key with round-robin',
      yaml(['scheduler: round-robin', 'hash_key: src-addr', ...BACKENDS]),
      'services[0].hash_key',
      7,
      /only applies to scheduler maglev \(this service uses round-robin\); remove it/,
    ],
    [
      'table_size with weighted round-robin',
      yaml(['scheduler: weighted-round-robin', 'table_size: 251', ...BACKENDS]),
      'services[0].table_size',
      7,
      /only applies to scheduler maglev/,
    ],
    [
      'unknown hash key',
      yaml(['hash_key: 4-tuple', ...BACKENDS]),
      'services[0].hash_key',
      6,
      /unknown hash_key '4-tuple'.*'5-tuple'/,
    ],
    [
      'a weight with plain round-robin',
      yaml(['scheduler: round-robin', 'backends:', '  - { address: 198.51.100.1, port: 53, weight: 2 }']),
      'services[0].backends[0].weight',
      8,
      /use scheduler: weighted-round-robin or maglev for weights/,
    ],
    [
      'a weighted sequence too long',
      yaml([
        'scheduler: weighted-round-robin',
        'backends:',
        '  - { address: 198.51.100.1, port: 53, weight: 65535 }',
        '  - { address: 198.51.100.2, port: 53, weight: 2 }',
      ]),
      'services[0].backends',
      7,
      /65537 entries, more than 65536; use smaller weights/,
    ],
    [
      'fullnat without affinity',
      yaml(['mode: fullnat', 'snat: { address: 198.51.100.254 }', 'flow_affinity: false', ...BACKENDS]),
      'services[0].flow_affinity',
      8,
      /fullnat keeps every flow on its backend/,
    ],
    [
      'affinity as a string',
      yaml(['flow_affinity: "true"', ...BACKENDS]),
      'services[0].flow_affinity',
      6,
      /remove the quotes: true/,
    ],
    [
      'affinity as yes',
      yaml(['flow_affinity: yes', ...BACKENDS]),
      'services[0].flow_affinity',
      6,
      /must be true or false.*write true or false/,
    ],
    [
      'negative weight',
      yaml(['backends:', '  - { address: 198.51.100.1, port: 53, weight: -1 }']),
      'services[0].backends[0].weight',
      7,
      /-1 is out of range; use an integer from 0 to 65535/,
    ],
    [
      'fractional weight',
      yaml(['backends:', '  - { address: 198.51.100.1, port: 53, weight: 1.5 }']),
      'services[0].backends[0].weight',
      7,
      /whole number/,
    ],
    [
      'seed out of range',
      yaml(BACKENDS, ['hash_seed: 4294967296']),
      'hash_seed',
      2,
      /out of range; use an integer from 0 to 4294967295/,
    ],
  ];
  for (const [name, text, path, line, re] of mistakes) {
    test(`${name}: ${path}, line ${line}`, () => {
      const p = problem(text);
      assert.equal(p.path, path);
      assert.equal(p.line, line);
      assert.match(p.message, re);
    });
  }
});
