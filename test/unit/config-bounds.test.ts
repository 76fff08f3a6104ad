// Reading a config is bounded whatever the file holds (issue 11): its size (checked before a
// file is read whole), nesting (flow and block), YAML aliases and what they expand to, and the
// problems listed. Every refusal is a ConfigError naming the file and a line, with the code
// too_large and a message that names the limit and the fix. No test here asserts on speed:
// each bomb's outcome is asserted, and what it cost is printed as a diagnostic.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { ConfigError, LIMITS, MAX_PROBLEMS, parseConfig, validateConfig } from '../../src/model/config.js';
import type { ConfigProblem } from '../../src/model/config.js';
import { loadConfig } from '../../src/cli/common/run.js';
import { readConfigFile } from '../../src/daemon/daemon.js';
import { FileTooLargeError, readTextFile } from '../../src/util/read-file.js';
import { cliMainPath } from '../../src/util/paths.js';
import {
  aliasBomb,
  blockListBomb,
  flowListBomb,
  flowMapBomb,
  indentBomb,
  serviceBomb,
  stringBomb,
} from '../helpers/config-bombs.js';
import { problemsOf } from '../helpers/config-problems.js';

const dir = mkdtempSync(join(tmpdir(), 'xlb-config-bounds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The one problem of parsing `text` as `source`, after checking that it is all there is. */
function refusal(t: TestContext, text: string, source = 'bomb.yaml'): ConfigProblem {
  const rss = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  let error: unknown;
  try {
    parseConfig(text, source);
  } catch (e) {
    error = e;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const grew = (process.memoryUsage().rss - rss) / 2 ** 20;
  t.diagnostic(
    `${(text.length / 1024).toFixed(1)} KB refused in ${ms.toFixed(0)} ms, rss +${grew.toFixed(0)} MiB`,
  );
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  assert.equal(error.problems.length, 1, error.message);
  const p = error.problems[0]!;
  assert.ok(p.line !== undefined && p.line >= 1, 'the problem has a line');
  assert.ok(error.message.startsWith(`${source}:${p.line}: `), error.message);
  return p;
}

/** A valid config whose only services hold `n` lines, one per list item (lines 4..). */
const listOf = (items: string[]): string => `interface: lo\nx: &a 1\nservices:\n${items.join('\n')}\n`;

describe('aliases: counted and their expansion added up before any value is built', () => {
  test('billion laughs (lists of aliases of lists) is refused at the alias that crosses the limit', (t) => {
    const p = refusal(t, aliasBomb(9, 9));
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 8); // x6: &a6 [*a5, …]: 9^6 values each, the third alias past 1,500,000
    assert.match(
      p.message,
      /^the YAML alias '\*a5' repeats 597,871 values, and with it the document expands to more than 1,500,000 /,
    );
    assert.match(p.message, /aliases of aliases multiply.*: write the values out or use fewer aliases$/);
  });

  test('the 24.7 KB service bomb (4,096 services of 4,096 shared backends) is refused before validation', (t) => {
    const text = serviceBomb(4096);
    assert.equal(text.length, 24694);
    const p = refusal(t, text);
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 4);
    assert.match(p.message, /alias '\*s' repeats 20,489 values.*more than 1,500,000/);
  });

  test('a document that holds more values than the limit without any alias is refused too', (t) => {
    const p = refusal(t, `interface: lo\nservices: [${'1,'.repeat(LIMITS.maxValues)}1]\n`);
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 2);
    assert.match(
      p.message,
      /^the document holds more than 1,500,000 values .*: remove what is not configuration$/,
    );
  });

  test('more aliases than the limit: refused at the first one past it', (t) => {
    const items = Array.from({ length: LIMITS.maxAliases + 1 }, () => '  - *a');
    const p = refusal(t, listOf(items));
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 3 + LIMITS.maxAliases + 1);
    assert.match(p.message, /^more than 65,536 YAML aliases \('\*name'\), .*: write the repeated values out/);
  });

  test('an alias inside the value it names is refused, naming the anchor', (t) => {
    const p = refusal(t, 'interface: lo\nservices: &s\n  - *s\n');
    assert.equal(p.code, 'syntax');
    assert.equal(p.line, 3);
    assert.match(
      p.message,
      /alias '\*s' is inside the value anchored '&s' \(line 3\).*move the alias out of it$/,
    );
  });

  test('anchors used more than 100 times (the yaml package refused that) read as their values', () => {
    const services = Array.from({ length: 300 }, (_, i) =>
      i === 0
        ? '  - { name: s0, vip: 192.0.2.1, port: 1000, health: &hc { type: udp }, backends: &b [{ address: 192.0.2.2, port: 53 }] }'
        : `  - { name: s${i}, vip: 192.0.2.1, port: ${1000 + i}, health: *hc, backends: *b }`,
    );
    const config = parseConfig(`interface: lo\nservices:\n${services.join('\n')}\n`);
    assert.equal(config.services.length, 300);
    const expanded = {
      interface: 'lo',
      services: Array.from({ length: 300 }, (_, i) => ({
        name: `s${i}`,
        vip: '192.0.2.1',
        port: 1000 + i,
        health: { type: 'udp' },
        backends: [{ address: '192.0.2.2', port: 53 }],
      })),
    };
    assert.deepEqual(config, validateConfig(expanded));
  });
});

describe('nesting: refused while the parser reads, before the recursive composer sees it', () => {
  const cases: [string, (depth: number) => string, line: number][] = [
    ["flow lists '[[[['", flowListBomb, 2],
    ["flow mappings '{a: {a: …'", flowMapBomb, 2],
    ["block lists '- - - …'", blockListBomb, 3],
  ];
  for (const [what, bomb, line] of cases) {
    test(`${what}: 100,000 levels refused at the line they start`, (t) => {
      const p = refusal(t, bomb(100_000));
      assert.equal(p.code, 'too_large');
      assert.equal(p.line, line);
      assert.match(
        p.message,
        /^lists and mappings nest more than 64 levels deep here .*flatten the document$/,
      );
    });
    test(`${what}: 64 levels (the root and 63 more) are read`, () => {
      assert.throws(
        () => parseConfig(bomb(63)),
        (e: unknown) => e instanceof ConfigError && e.problems.every((p) => p.code === 'wrong_type'),
      );
      assert.throws(
        () => parseConfig(bomb(64)),
        (e: unknown) => e instanceof ConfigError && e.problems[0]?.code === 'too_large',
      );
    });
  }

  test('block mappings indented ever deeper: refused at the line of the 65th level', (t) => {
    const p = refusal(t, indentBomb(2000));
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 66); // lines 1-2: interface, services; line 3 + i: the mapping of level i + 2
    assert.match(p.message, /more than 64 levels/);
  });
});

describe('size: refused before parsing, and before a file is read whole', () => {
  test('a text of more than 1,000,000 lines is refused at the first line past the limit', (t) => {
    const p = refusal(t, `interface: lo\nservices: []\n${'#\n'.repeat(LIMITS.maxLines)}`);
    assert.equal(p.code, 'too_large');
    assert.equal(p.line, 1_000_001);
    assert.match(
      p.message,
      /^the file has more than 1,000,000 lines, .*remove what is not configuration \(comments, blank lines\)/,
    );
    // Exactly the limit (the last line ending in a newline or not) is read.
    const lines = (n: number): string => `interface: lo\nservices: []\n${'#\n'.repeat(n - 3)}#`;
    assert.equal(parseConfig(lines(LIMITS.maxLines)).services.length, 0);
    assert.equal(parseConfig(`${lines(LIMITS.maxLines)}\n`).services.length, 0);
  });

  test('a text over 16 MiB (counted in UTF-8 bytes) is refused at line 1', (t) => {
    const ascii = refusal(t, `interface: lo\n#${'x'.repeat(LIMITS.maxFileBytes)}\n`);
    assert.equal(ascii.code, 'too_large');
    assert.equal(ascii.line, 1);
    assert.match(
      ascii.message,
      /^the file is 16\.0 MiB \(16,777,232 bytes\), more than the limit of 16\.0 MiB \(16,777,216 bytes\) .*; remove what is not configuration, or split the services over several xlb instances$/,
    );
    // 'é' is 2 bytes: half as many characters as the limit, as many bytes and 16 more.
    const wide = refusal(t, `interface: lo\n#${'é'.repeat(LIMITS.maxFileBytes / 2)}\n`);
    assert.match(wide.message, /\(16,777,232 bytes\)/);
  });

  // A 10 GB sparse file: reading it whole would take 10 GB of memory.
  const sparse = join(dir, 'ten-gigabytes.yaml');
  writeFileSync(sparse, 'interface: lo\n');
  truncateSync(sparse, 10 * 2 ** 30);

  test('readTextFile refuses a 10 GB file by its size, and reads at most one byte past the limit of a stream', () => {
    assert.throws(
      () => readTextFile(sparse, LIMITS.maxFileBytes),
      (e: unknown) =>
        e instanceof FileTooLargeError && e.size === 10 * 2 ** 30 && e.limit === LIMITS.maxFileBytes,
    );
    // /dev/zero never ends and has no size.
    assert.throws(
      () => readTextFile('/dev/zero', 4096),
      (e: unknown) => e instanceof FileTooLargeError && e.size === undefined,
    );
    const small = join(dir, 'small.yaml');
    writeFileSync(small, 'é'.repeat(10));
    assert.equal(readTextFile(small, 20), 'é'.repeat(10));
    assert.throws(() => readTextFile(small, 19), FileTooLargeError);
  });

  test('xlb validate/run (loadConfig) and the daemon (readConfigFile) refuse it with the file and line 1', () => {
    for (const read of [() => loadConfig(sparse), () => readConfigFile(sparse)]) {
      assert.throws(read, (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.deepEqual(
          e.problems.map((p) => [p.code, p.line]),
          [['too_large', 1]],
        );
        assert.match(
          e.message,
          new RegExp(`^${sparse}:1: the file is 10240\\.0 MiB \\(10,737,418,240 bytes\\)`),
        );
        return true;
      });
    }
  });

  test('the daemon reads a bomb through the same bounds', () => {
    const file = join(dir, 'daemon-bomb.yaml');
    writeFileSync(file, serviceBomb(4096));
    assert.throws(
      () => readConfigFile(file),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${file}:4: the YAML alias '*s'`),
    );
  });

  test('xlb validate FILE finishes on the bombs, with the file and line of each', (t) => {
    for (const [name, text, line] of [
      ['service-bomb.yaml', serviceBomb(4096), 4],
      ['laughs.yaml', aliasBomb(9, 9), 8],
      ['deep.yaml', flowListBomb(100_000), 2],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const r = spawnSync(process.execPath, [cliMainPath(), 'validate', file], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      t.diagnostic(`${name}: exit ${r.status}, ${r.stderr.split('\n')[0]?.slice(0, 100)}`);
      assert.equal(r.signal, null, `${name}: killed by ${r.signal}`);
      assert.equal(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(`${file}:${line}: `), r.stderr);
    }
  });
});

describe('problems: at most MAX_PROBLEMS listed, then how many more', () => {
  test('3,000 bad services give 1,000 problems and a count of the others', () => {
    const items = Array.from({ length: 3000 }, () => '  - 1');
    let error: unknown;
    try {
      parseConfig(`interface: lo\nservices:\n${items.join('\n')}\n`, 'many.yaml');
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems.length, MAX_PROBLEMS + 1);
    assert.deepEqual(error.problems[0]?.line, 3);
    assert.deepEqual(error.problems.at(-1), {
      path: '',
      code: 'too_many',
      message: '2000 more problems not listed (only the first 1000 are); fix these and validate again',
    });
  });

  test('a duplicate key is found in a mapping of 100,000 keys, with both lines', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}: 1`);
    keys.push('k7: 2');
    assert.throws(
      () => parseConfig(`interface: lo\nservices: []\n${keys.join('\n')}\n`, 'dup.yaml'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 1 &&
        e.problems[0]?.line === 100_003 &&
        /"k7" is already a key of this mapping \(line 10\), and keys must be unique; remove or rename the repeated key$/.test(
          e.problems[0].message,
        ),
    );
  });
});

// Found by the config fuzzer (test/fuzz/configs.ts): each has its own test here.
describe('hostile values: bounded messages and suggestions, YAML line breaks', () => {
  const MB = 'é'.repeat(3_000_000);

  test('a megabyte value is named by its start and length, never echoed whole', () => {
    const cases: [string, string, RegExp][] = [
      [
        `interface: lo\nxdp_mode: ${MB}\nservices: []\n`,
        'xdp_mode',
        /^unknown xdp_mode 'é{60}… \(3,000,000 characters\)'; use 'auto', 'native', 'generic'$/,
      ],
      [
        `interface: ${MB}\nservices: []\n`,
        'interface',
        /^invalid interface name "é{60}… \(3,000,000 characters\)": /,
      ],
      [
        `interface: lo\nservices:\n  - { name: ${MB}, vip: 192.0.2.1, port: 53, backends: [] }\n`,
        'services[0].name',
        /^invalid service name "é{60}… \(3,000,000 characters\)": .*; e\.g\. 'é?-?'$|^invalid service name "é{60}… \(3,000,000 characters\)"/,
      ],
      [
        `interface: lo\nservices:\n  - { name: a, vip: ${MB}, port: 53, backends: [] }\n`,
        'services[0].vip',
        /^vip "é{60}… \(3,000,000 characters\)" is not an IPv4 or IPv6 address/,
      ],
      [
        `interface: lo\nservices: ${MB}\n`,
        'services',
        /^services must be a list, got the string "é{60}… \(3,000,000 characters\)"; e\.g\./,
      ],
      [
        `interface: lo\n? ${MB}\n: 1\nservices: []\n`,
        `${'é'.repeat(60)}… (3,000,000 characters)`,
        /^unknown key 'é{60}… \(3,000,000 characters\)' in the configuration; remove it/,
      ],
      [
        `interface: lo\nservices:\n  - { name: a, vip: 192.0.2.1, port: '${'1'.repeat(100_000)}', backends: [] }\n`,
        'services[0].port',
        /; remove the quotes: 1{60}… \(100,000 characters\)$/,
      ],
    ];
    for (const [text, path, message] of cases) {
      const p = problemsOf(text);
      assert.equal(p.length, 1, p.map((x) => x.message.slice(0, 200)).join('\n'));
      assert.equal(p[0]!.path, path);
      assert.ok(p[0]!.message.length < 1000, `${p[0]!.message.length} characters`);
      assert.match(p[0]!.message, message);
    }
  });

  test('a long string aliased thousands of times is refused by its expanded text, before validation', () => {
    const p = problemsOf(stringBomb(3_000_000, 60_000));
    assert.deepEqual([p.length, p[0]!.line, p[0]!.code], [1, 4, 'too_large']);
    assert.match(
      p[0]!.message,
      /^the YAML alias '\*b' repeats 3,000,000 characters, and with it the document expands to more than 33,554,432 characters of text \(twice the largest file; an alias repeats the whole text of its anchor\): write long values once, without aliases, or shorten them$/,
    );
    // Ten of them (30,000,000 characters) are read: the service's problems are its own.
    const ten = problemsOf(stringBomb(3_000_000, 10));
    assert.ok(
      ten.every((x) => x.code !== 'too_large'),
      ten.map((x) => x.message.slice(0, 100)).join('\n'),
    );
  });

  test('a suggestion is still made for a key written otherwise, whatever the length of a wrong one', () => {
    assert.match(
      problemsOf('interface: lo\nFLOW-TABLE-SIZE: 1024\nservices: []\n')[0]!.message,
      /did you mean 'flow_table_size'/,
    );
    assert.match(
      problemsOf(`interface: lo\nxdp_mode: ${'x'.repeat(1_000_000)}\nservices: []\n`)[0]!.message,
      /; use 'auto'/,
    );
  });

  test('CRLF and a lone CR end lines as LF does (YAML 1.2): the same config, problems at their lines', () => {
    const lf =
      'interface: lo\nservices:\n  - name: dns\n    vip: "192.0.2.1"\n    port: 53\n    backends: []\n';
    const config = parseConfig(lf, 'lf.yaml');
    for (const eol of ['\r\n', '\r', '\r\r\n']) {
      const text = lf.replace(/\n/g, eol);
      assert.deepEqual(parseConfig(text, 'eol.yaml'), config, JSON.stringify(eol));
      assert.deepEqual(parseConfig(text, 'eol.yaml', { fastPath: false }), config, JSON.stringify(eol));
      const bad = problemsOf(text.replace('53', '0'));
      const lines = eol === '\r\r\n' ? 9 : 5;
      assert.deepEqual([bad[0]!.path, bad[0]!.line], ['services[0].port', lines], JSON.stringify(eol));
    }
  });
});
