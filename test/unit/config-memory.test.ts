// The kernel-memory budget (memory_limit) over the tables a configuration sizes: the flow
// tables (2 LRU hashes of flow_table_size entries) and each service's scheduling tables,
// checked on the whole config and on every API change (serviceConflicts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flowKey, fwdFlow, revNat } from '../../src/abi/abi.js';
import {
  ConfigError,
  DEFAULTS,
  parseConfig,
  validateConfig,
  validateService,
  type Config,
} from '../../src/model/config.js';
import { serviceConflicts } from '../../src/model/config-conflicts.js';
import { configToInput } from '../../src/model/config-io.js';
import { ApiError } from '../../src/daemon/contract.js';
import * as edit from '../../src/daemon/mutations.js';
import {
  MEMORY,
  SCHED_RESERVE,
  budgetInput,
  flowTablesBytes,
  parseBudget,
  serviceTableBytes,
} from '../../src/model/config-memory.js';

const GiB = 2 ** 30;

/** The documented large config: 1,000 services of 64 backends at table_size 16,381. */
function large(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    interface: 'lo',
    ...extra,
    services: Array.from({ length: 1000 }, (_, i) => ({
      name: `s${i}`,
      vip: '192.0.2.1',
      port: 1000 + i,
      table_size: 16381,
      backends: Array.from({ length: 64 }, (_, j) => ({ address: `198.51.100.${j + 1}`, port: 53 })),
    })),
  };
}

function problemOf(fn: () => unknown): { path: string; line?: number; code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.problems.length, 1, e.message);
    return e.problems[0]!;
  }
  return assert.fail('accepted');
}

describe('kernel memory: the estimate', () => {
  test('flow tables: per entry htab_elem (48) + key + value (rounded to 8), buckets of 16 to a power of two', () => {
    assert.deepEqual([flowKey.size, revNat.size, fwdFlow.size], [40, 64, 24]);
    // rev_nat 48 + 40 + 64 = 152, fwd_flows 48 + 40 + 24 = 112, buckets 2 x 16.
    assert.equal(flowTablesBytes(65536), 65536 * (152 + 112 + 32));
    assert.equal(flowTablesBytes(100_000), 100_000 * (152 + 112) + 2 * 131072 * 16);
    assert.equal(flowTablesBytes(16_777_216), 4_966_055_936); // 4.6 GiB
  });

  test('scheduling tables: a header page and entries of 8 bytes rounded to pages, twice', () => {
    const maglev = (tableSize: number) => ({ scheduler: 'maglev' as const, tableSize, backends: [] });
    assert.equal(serviceTableBytes(maglev(16381)), 2 * (4096 + 131072));
    // 1,048,573 entries of 8 bytes: 8,388,584 bytes, 2,048 pages.
    assert.equal(serviceTableBytes(maglev(1048573)), 2 * (4096 + 8388608)); // 16 MiB
    const rr = (weights: number[], scheduler: 'round-robin' | 'weighted-round-robin') => ({
      scheduler,
      tableSize: 0,
      backends: weights.map((weight) => ({ weight })),
    });
    assert.equal(serviceTableBytes(rr([1, 1, 0], 'round-robin')), 2 * (4096 + 4096));
    assert.equal(serviceTableBytes(rr([0, 0], 'round-robin')), 0); // the shared empty table
    // 1000 backends of weights 3 and 1 (500 each): a sequence of 2,000 entries, 16,000 bytes: 4 pages.
    const wrr = rr(
      Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 3 : 1)),
      'weighted-round-robin',
    );
    assert.equal(serviceTableBytes(wrr), 2 * (4096 + 4 * 4096));
  });

  test('memory_limit: bytes, or whole KiB, MiB or GiB', () => {
    assert.equal(MEMORY.defaultLimit, 2 * GiB);
    assert.equal(DEFAULTS.memoryLimit, 2 * GiB);
    for (const [input, bytes] of [
      ['2GiB', 2 * GiB],
      [' 512 MiB ', 512 * 2 ** 20],
      ['65536KiB', 64 * 2 ** 20],
      [1073741824, GiB],
      ['1073741824', GiB],
    ] as const) {
      assert.equal(parseBudget(input), bytes, String(input));
      assert.equal(validateConfig({ interface: 'lo', memory_limit: input, services: [] }).memoryLimit, bytes);
    }
    assert.equal(budgetInput(2 * GiB), '2GiB');
    assert.equal(budgetInput(3 * 2 ** 20), '3MiB');
    assert.equal(budgetInput(1025 * 1024), '1025KiB');
    assert.equal(budgetInput(1_500_000), 1_500_000);
  });

  test('memory_limit: other forms and sizes are refused with the forms and range, at their line', () => {
    for (const bad of ['2GB', '1.5GiB', '1.5', '2.0e9', '0x1p30', 'lots', 'true', '[1]', '{}', '~']) {
      const p = problemOf(() => parseConfig(`interface: lo\nmemory_limit: ${bad}\nservices: []\n`, 'f.yaml'));
      assert.deepEqual([p.path, p.line, p.code], ['memory_limit', 2, 'wrong_type'], bad);
      assert.match(
        p.message,
        /^memory_limit must be a number of bytes or a whole number of KiB, MiB or GiB \(from 1MiB to 1024GiB\), got .*; e\.g\. memory_limit: 2GiB$/,
      );
    }
    for (const [bad, shown] of [
      ['512KiB', '512.0 KiB'],
      ['1025GiB', '1025.0 GiB'],
      ['0', '0 bytes'],
      ['-1', '-1 bytes'],
      ['99999999999999999999GiB', '100000000000000000000.0 GiB'],
    ]) {
      const p = problemOf(() => parseConfig(`interface: lo\nmemory_limit: ${bad}\nservices: []\n`, 'f.yaml'));
      assert.deepEqual([p.path, p.line, p.code], ['memory_limit', 2, 'out_of_range'], bad);
      assert.equal(p.message, `memory_limit ${shown} is out of range; use from 1MiB to 1024GiB`);
    }
  });
});

describe('kernel memory: the budget of a whole configuration', () => {
  test('the default admits the documented large config, with flow tables up to 4,194,304 entries', () => {
    assert.equal(validateConfig(large()).services.length, 1000);
    assert.equal(validateConfig(large({ flow_table_size: 4_194_304 })).services.length, 1000);
  });

  test('over the budget: the estimate, the budget, the biggest parts and the fix, at memory_limit', () => {
    const p = problemOf(() => validateConfig(large({ flow_table_size: 8_388_608 })));
    assert.deepEqual([p.path, p.code], ['memory_limit', 'too_large']);
    assert.equal(
      p.message,
      'the flow and scheduling tables would take an estimated 2.6 GiB (2,755,461,120 bytes) of kernel memory, ' +
        'more than memory_limit 2.0 GiB (2,147,483,648 bytes): the flow tables (rev_nat and fwd_flows, ' +
        "8,388,608 entries each) 2.3 GiB, the scheduling tables' reserve (262,144 entries) 2.0 MiB, 's0' (maglev " +
        "table_size 16381) 264.0 KiB, 's1' (maglev table_size 16381) 264.0 KiB and 998 more services 257.3 MiB (each scheduling " +
        'table counted twice, as while a change builds its successor); lower flow_table_size or table_size, ' +
        'remove services, or raise the budget if this host can give it (memory_limit: 3GiB)',
    );
    assert.equal(
      validateConfig(large({ flow_table_size: 8_388_608, memory_limit: '3GiB' })).memoryLimit,
      3 * GiB,
    );
  });

  test('the largest flow_table_size needs a memory_limit that says so (4.6 GiB), with the line of the key', () => {
    const text = 'interface: lo\nflow_table_size: 16777216\nservices: []\n';
    const p = problemOf(() => parseConfig(text, 'f.yaml'));
    assert.deepEqual([p.path, p.line, p.code], ['memory_limit', 1, 'too_large']);
    assert.match(p.message, /estimated 4\.6 GiB .* \(memory_limit: 5GiB\)$/);
    const withLimit = parseConfig(`${text}memory_limit: 5GiB\n`, 'f.yaml');
    assert.equal(withLimit.memoryLimit, 5 * GiB);
    const low = problemOf(() => parseConfig(`${text}memory_limit: 4GiB\n`, 'f.yaml'));
    assert.equal(low.line, 4);
  });

  test('memory_limit survives the round trip through configToInput (as the largest unit)', () => {
    const c = validateConfig({ interface: 'lo', memory_limit: 3 * GiB, services: [] });
    assert.equal(configToInput(c).memory_limit, '3GiB');
    assert.deepEqual(validateConfig(configToInput(c)), c);
  });
});

describe('kernel memory: the budget of API changes (serviceConflicts)', () => {
  const big = (i: number) =>
    validateService({ name: `big${i}`, vip: '192.0.2.1', port: 2000 + i, table_size: 1048573, backends: [] });

  test('services of 16 MiB of tables are added until the budget is spent, then refused', () => {
    let config: Config = validateConfig({ interface: 'lo', services: [] });
    // 2 GiB - 18.5 MiB of default flow tables - 2 MiB of reserve = 126 services of 16,785,408 bytes.
    for (let i = 0; i < 126; i++) {
      assert.deepEqual(serviceConflicts(config, big(i)), [], `service ${i}`);
      config = { ...config, services: [...config.services, big(i)] };
    }
    const problems = serviceConflicts(config, big(126));
    assert.deepEqual(
      problems.map((p) => [p.path, p.code]),
      [['services[126]', 'too_large']],
    );
    assert.match(
      problems[0]!.message,
      /^the flow and scheduling tables would take an estimated 2\.0 GiB \(2,153,242,624 bytes\) of kernel memory, more than memory_limit 2\.0 GiB .*'big126' \(maglev table_size 1048573\) 16\.0 MiB.*the scheduling tables' reserve \(262,144 entries\) 2\.0 MiB and 125 more services 2\.0 GiB .*\(memory_limit: 3GiB\)$/,
    );
    // Replacing a big service by a small one fits; by a big one too (it frees what it takes).
    const small = validateService({ name: 'big0', vip: '192.0.2.1', port: 2000, backends: [] });
    assert.deepEqual(serviceConflicts(config, small, 'big0'), []);
    assert.deepEqual(serviceConflicts(config, big(0), 'big0'), []);
  });

  test('a weighted table may grow up to the budget, not past it; shrinking it is never refused', () => {
    const flows = flowTablesBytes(DEFAULTS.flowTableSize);
    // Room for a sequence of 32,768 entries (2 x (4 KiB + 256 KiB)) and not one page more,
    // beside the reserve of sched_flat (2 MiB).
    const limit = flows + 2 * 1024 * 1024 + 2 * (4096 + 32768 * 8);
    const weights = (w: number[]) =>
      validateService({
        name: 'w',
        vip: '192.0.2.1',
        port: 53,
        scheduler: 'weighted-round-robin',
        backends: w.map((weight, i) => ({ address: `198.51.100.${i + 1}`, port: 53, weight })),
      });
    const config = validateConfig({ interface: 'lo', memory_limit: limit, services: [] });
    const fits = weights([32767, 1]);
    assert.deepEqual(serviceConflicts(config, fits), []);
    const full: Config = { ...config, services: [fits] };
    // One more backend of weight 1: 32,769 entries, a page more than the budget.
    const grown = serviceConflicts(full, weights([32767, 1, 1]), 'w');
    assert.deepEqual(
      grown.map((p) => [p.path, p.code]),
      [['services[0]', 'too_large']],
    );
    assert.match(grown[0]!.message, /'w' \(weighted-round-robin, 32769 entries\) 528\.0 KiB/);
    // Draining (weight 0) or lowering weights shrinks the table: always accepted.
    assert.deepEqual(serviceConflicts(full, weights([32767, 0]), 'w'), []);
    assert.deepEqual(serviceConflicts(full, weights([3, 1]), 'w'), []);
  });
});

describe('kernel memory: the API refuses a service over the budget and changes nothing', () => {
  test('POST /v1/services (mutations.addService): XLB_INVALID_CONFIG with the figure', () => {
    const config = parseConfig(
      'interface: eth0\nmemory_limit: 64MiB\nservices:\n' +
        '  - { name: a, vip: 192.0.2.1, port: 53, mode: nat, table_size: 1048573, backends: [] }\n' +
        '  - { name: b, vip: 192.0.2.1, port: 54, mode: nat, table_size: 1048573, backends: [] }\n',
    );
    const before = structuredClone(config);
    const input = { name: 'c', vip: '192.0.2.1', port: 55, mode: 'nat' as const, table_size: 1048573 };
    let refused: unknown;
    try {
      edit.addService(config, input, 'add service c');
    } catch (e) {
      refused = e;
    }
    assert.ok(refused instanceof ApiError, String(refused));
    assert.equal(refused.code, 'XLB_INVALID_CONFIG');
    const details = refused.details as { path: string; code: string; message: string }[];
    assert.deepEqual(
      details.map((p) => [p.path, p.code]),
      [['services[2]', 'too_large']],
    );
    // 18.5 MiB of flow tables + 2 MiB of reserve + 3 x 16 MiB of maglev tables: 71,852,032 bytes.
    assert.match(
      refused.message,
      /^add service c: services\[2\]: the flow and scheduling tables would take an estimated 68\.5 MiB \(71,852,032 bytes\) of kernel memory, more than memory_limit 64\.0 MiB \(67,108,864 bytes\)/,
    );
    assert.deepEqual(config, before, 'the running configuration is untouched');
    // A smaller table fits, and so does the same service once another is gone.
    assert.equal(edit.addService(config, { ...input, table_size: 16381 }, 'add').services.length, 3);
    const fewer = edit.removeService(config, 'a');
    assert.equal(edit.addService(fewer, input, 'add').services.length, 2);
  });

  test('a backend or weight change that grows a table past the budget is refused too', () => {
    const config = parseConfig(
      `interface: eth0\nmemory_limit: ${flowTablesBytes(DEFAULTS.flowTableSize) + SCHED_RESERVE * 8 + 1_000_000}\nservices:\n` +
        '  - name: w\n    vip: 192.0.2.1\n    port: 53\n    mode: nat\n    scheduler: weighted-round-robin\n' +
        '    backends: [{ address: 198.51.100.1, port: 53, weight: 60000 }, { address: 198.51.100.2, port: 53 }]\n',
    );
    const before = structuredClone(config);
    const tooMuch = (fn: () => unknown) =>
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof ApiError, String(e));
        assert.equal(e.code, 'XLB_INVALID_CONFIG');
        assert.match(e.message, /more than memory_limit 21\.5 MiB \(22,495,808 bytes\)/);
        return true;
      });
    // 60,000 + 1: a sequence of 60,001 entries (2 x 476 KiB) fits; 60,000 + 5,533 (65,533
    // entries) or another backend of weight 5,000 (65,001) take 2 x 516 KiB and do not.
    tooMuch(() => edit.setWeight(config, 'w', '198.51.100.2:53', 5533, 'weight'));
    tooMuch(() => edit.addBackend(config, 'w', { address: '198.51.100.3', port: 53, weight: 5000 }, 'add'));
    assert.equal(
      edit.setWeight(config, 'w', '198.51.100.2:53', 2, 'weight').services[0]!.backends[1]!.weight,
      2,
    );
    assert.deepEqual(config, before);
  });
});
