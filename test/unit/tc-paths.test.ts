// Every test that attaches xlb to interfaces other than lo (so its TC programs too) runs on
// both TC attach paths: it carries the `// xlb-test: both-tc-paths` line that makes
// scripts/run-tests.js run it again with XLB_FEATURES=-tcx, and names its path in its suites.
// A test that starts xlb and does not need it says why below.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const STARTS_XLB = /createLab\(|buildTopology\(|startXlbRun\(|'daemon',|withFuzzDaemon\(|\.attach\(\[/;
const MARKER = /^\/\/ xlb-test: both-tc-paths\b/m;

/** Test files that start xlb but attach no TC program, and why. */
const ONE_PATH: Record<string, string> = {
  'test/kernel/features.test.ts': 'xlb is refused before it attaches anything (lo only)',
  'test/lab/api-fuzz.test.ts': 'the fuzzed daemon runs on lo, which gets no TC programs',
  'test/lab/peers.test.ts': 'benchmark peers (nginx, nftables) only: no xlb',
  'test/lab/topology.test.ts': 'namespace topologies only: no xlb is attached',
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

describe('TC attach paths of the tests', () => {
  const files = walk(join(root, 'test'))
    .filter((f) => f.endsWith('.test.ts') && !f.endsWith('tc-paths.test.ts'))
    .map((f) => ({ name: relative(root, f), text: readFileSync(f, 'utf8') }));

  it('every test that starts xlb on interfaces runs on tcx and on classic TC, and says which', () => {
    const starting = files.filter((f) => STARTS_XLB.test(f.text));
    assert.ok(starting.length >= 8, `found ${starting.length} such tests`);
    for (const f of starting) {
      if (ONE_PATH[f.name] !== undefined) {
        assert.doesNotMatch(f.text, MARKER, `${f.name} is listed as one-path`);
        continue;
      }
      assert.match(f.text, MARKER, `${f.name}: add the line // xlb-test: both-tc-paths`);
      assert.match(
        f.text,
        /\$\{tcPathLabel\(\)\}`/,
        `${f.name}: name the path in its suites (tcPathLabel())`,
      );
    }
  });

  it('lists only files that exist and start xlb', () => {
    for (const name of Object.keys(ONE_PATH)) {
      const f = files.find((x) => x.name === name);
      assert.ok(f && STARTS_XLB.test(f.text), name);
    }
  });
});
