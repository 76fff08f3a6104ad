// The config fuzzer (test/fuzz/configs.ts): 2,000 mutated files with a fixed seed find nothing
// (no crash, nothing slow, nothing known-invalid accepted, nothing valid refused, every accepted
// config re-validates to itself, `xlb validate` agrees with the verdict in-process), and the
// fuzzer does find each kind of defect when one is planted. `npm run fuzz` runs it longer.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../src/model/config.js';
import { fuzzCase } from '../fuzz/config-cases.js';
import { defaultSeeds, fuzzConfigs, type ConfigFuzzReport, type FindingKind } from '../fuzz/configs.js';

const SEED = 20261201;
const STUBS = new URL('../helpers/config-validator-stubs.js', import.meta.url).href;
const stub = (name: string) => ({ module: STUBS, name });
const kinds = (r: ConfigFuzzReport): Set<FindingKind> => new Set(r.findings.map((f) => f.kind));

describe('config fuzzer', () => {
  test("its seeds are valid: the README's examples, the built-in default, its own", () => {
    const seeds = defaultSeeds();
    assert.ok(seeds.filter((s) => s.name.startsWith('README')).length >= 3, 'the README examples are found');
    for (const s of seeds) assert.doesNotThrow(() => parseConfig(s.text, s.name), s.name);
  });

  test('a case is a function of the seed and its index (a finding replays alone)', () => {
    const seeds = defaultSeeds();
    assert.deepEqual(fuzzCase(SEED, 77, seeds), fuzzCase(SEED, 77, seeds));
    assert.notDeepEqual(fuzzCase(SEED, 77, seeds).text, fuzzCase(SEED + 1, 77, seeds).text);
  });

  test('2,000 files with a fixed seed, 16 of them through xlb validate: no finding', async () => {
    const r = await fuzzConfigs({ files: 2000, seed: SEED, cliFiles: 16 });
    console.log(
      `# seed ${r.seed}: ${r.files} files, ${r.accepted} accepted, ${r.refused} refused, ` +
        `${r.expected.invalid} known-invalid, ${r.expected.same} rewritten valid; slowest ` +
        `${r.slowestMs.toFixed(0)} ms of CPU (case ${r.slowestCase}); xlb validate ${r.cli.files} ` +
        `(${r.cli.accepted} ok, ${r.cli.refused} refused); ${r.seconds.toFixed(1)} s`,
    );
    for (const f of r.findings.slice(0, 20))
      console.log(`# finding: case ${f.case} ${f.kind}: ${f.detail} (${f.mutations.join('; ')})`);
    assert.equal(r.files, 2000);
    assert.ok(
      r.expected.invalid >= 600 && r.expected.same >= 150 && r.expected.any >= 600,
      JSON.stringify(r.expected),
    );
    assert.ok(
      r.accepted >= r.expected.same && r.refused >= r.expected.invalid,
      'both verdicts are exercised',
    );
    assert.deepEqual(r.cli, { files: 16, accepted: 8, refused: 8 });
    assert.deepEqual(r.findings, []);
  });
});

describe('config fuzzer: planted defects are found', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-fuzz-stub-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a validator that accepts everything: every known-invalid file is a finding', async () => {
    const r = await fuzzConfigs({ files: 60, seed: SEED, cliFiles: 0, validator: stub('acceptAll') });
    const accepted = r.findings.filter((f) => f.kind === 'accepted-invalid');
    assert.equal(accepted.length, r.expected.invalid);
    assert.ok(accepted.length >= 10, JSON.stringify(r.expected));
  });

  test('a crash, a refusal that breaks the error contract, an unstable result', async () => {
    const crash = await fuzzConfigs({ files: 60, seed: SEED, cliFiles: 0, validator: stub('crashOnFifth') });
    const crashes = crash.findings.filter((f) => f.kind === 'crash');
    assert.deepEqual(
      crashes.map((f) => f.case),
      [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55],
    );
    assert.equal(crash.crashed, 12);
    assert.match(
      crashes[0]!.detail,
      /^TypeError: Cannot read properties of undefined \(reading 'port'\) at /,
    );
    const bad = await fuzzConfigs({ files: 30, seed: SEED, cliFiles: 0, validator: stub('badProblems') });
    assert.ok(kinds(bad).has('bad-problem'));
    const unstable = await fuzzConfigs({ files: 30, seed: SEED, cliFiles: 0, validator: stub('unstable') });
    assert.ok(kinds(unstable).has('not-idempotent'));
  });

  test('a validator that never returns: the worker is stopped, the case reported, the run goes on', async () => {
    const r = await fuzzConfigs({
      files: 40,
      seed: SEED,
      cliFiles: 0,
      hangMs: 1500,
      validator: stub('hangOnSevenths'),
    });
    assert.deepEqual(
      r.findings.filter((f) => f.kind === 'hang').map((f) => f.case),
      [7, 17, 27, 37],
    );
    assert.equal(r.files, 36, 'every other case was run');
  });

  test('a validator over the time bound (CPU time, not wall time)', async () => {
    const r = await fuzzConfigs({ files: 5, seed: SEED, cliFiles: 0, boundMs: 10, validator: stub('slow') });
    assert.equal(r.findings.filter((f) => f.kind === 'slow').length, 5);
  });

  test('a CLI that exits otherwise, or prints something other than the verdict', async () => {
    const exits = join(dir, 'exits.js');
    writeFileSync(exits, 'process.exit(3);\n');
    const r1 = await fuzzConfigs({ files: 20, seed: SEED, cliFiles: 2, cli: exits });
    assert.deepEqual(
      r1.findings.map((f) => f.kind),
      ['cli-exit', 'cli-exit'],
    );
    assert.match(r1.findings[0]!.detail, /^xlb validate exited 3/);
    const stack = join(dir, 'stack.js');
    writeFileSync(
      stack,
      "console.error('xlb: error: TypeError: x is undefined\\n    at check (config.js:1:1)'); process.exit(1);\n",
    );
    const r2 = await fuzzConfigs({ files: 20, seed: SEED, cliFiles: 4, cli: stack });
    assert.ok(
      r2.findings.some((f) => f.kind === 'cli-output'),
      'a refusal that is not the in-process one',
    );
    assert.ok(
      r2.findings.some((f) => f.kind === 'cli-exit'),
      'a file accepted in-process, refused by the CLI',
    );
  });
});
