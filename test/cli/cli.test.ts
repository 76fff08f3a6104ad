// The command line: help everywhere, clear errors with the right exit codes
// (2 = usage, 1 = failure), and bad configs rejected before anything is touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { instancePaths } from '../../src/util/host.js';
import { DEFAULT_CONFIG_YAML } from '../../src/model/config.js';
import { CLI } from '../helpers/proc.js';

function xlb(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'xlb-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('xlb CLI', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists its commands with --help, and exits 2 without a command', () => {
    const h = xlb('--help');
    assert.equal(h.status, 0);
    for (const c of ['run', 'demo', 'echo-server', 'stats', 'validate'])
      assert.match(h.out, new RegExp(`^  ${c} `, 'm'));
    const none = xlb();
    assert.equal(none.status, 2);
    assert.match(none.out, /usage: xlb COMMAND/);
  });

  for (const c of ['run', 'demo', 'echo-server', 'stats', 'validate']) {
    it(`xlb ${c} --help and xlb help ${c} describe the command`, () => {
      for (const args of [
        [c, '--help'],
        [c, '-h'],
        ['help', c],
      ]) {
        const r = xlb(...args);
        assert.equal(r.status, 0, r.err);
        assert.match(r.out, new RegExp(`^usage: xlb ${c}`));
        assert.match(r.out, /--help/);
      }
    });
  }

  it('prints its version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(xlb('--version').out.trim(), pkg.version);
  });

  const usageErrors: [string[], RegExp][] = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', '--bogus'], /run: Unknown option '--bogus'/],
    [['run', '--mode', 'fast'], /--mode must be auto, native or generic, got 'fast'/],
    [['run', '--interval=-1'], /--interval must be a whole number/],
    [['run', 'extra'], /unexpected argument 'extra'/],
    [['echo-server'], /give at least one --port/],
    [['echo-server', '--port', '0'], /--port must be a whole number from 1 to 65535, got '0'/],
    [['echo-server', '--port', 'http'], /--port must be a whole number/],
    [['validate'], /validate: missing argument/],
    [['validate', join(dir, 'missing.yaml')], /cannot read config .*missing\.yaml: ENOENT/],
  ];
  for (const [args, re] of usageErrors) {
    it(`\`xlb ${args.join(' ')}\` is a usage error (exit 2)`, () => {
      const r = xlb(...args);
      assert.equal(r.status, 2, r.err);
      assert.match(r.err, re);
      assert.match(r.err, /^xlb: error: /);
    });
  }

  it('validate accepts the built-in config', () => {
    const r = xlb('validate', file('good.yaml', DEFAULT_CONFIG_YAML));
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /ok — 1 service\(s\), 3 backend\(s\), interfaces lo/);
  });

  it('validate reports every problem with file, line, field and fix (exit 1)', () => {
    const bad = file(
      'bad.yaml',
      [
        'interface: lo',
        'services:',
        '  - name: dns',
        '    vip: 192.0.2.300',
        '    port: 0',
        '    backends: []',
        '',
      ].join('\n'),
    );
    const r = xlb('validate', bad);
    assert.equal(r.status, 1);
    assert.match(r.err, new RegExp(`${bad}:4: services\\[0\\]\\.vip: .*192\\.0\\.2\\.300`));
    assert.match(r.err, new RegExp(`${bad}:5: services\\[0\\]\\.port: .*1.*65535`));
  });

  it('run with a bad config fails before touching the kernel', () => {
    const instance = `cli-${process.pid}`;
    const r = xlb(
      'run',
      '--config',
      file('bad2.yaml', 'interface: lo\nservices: 7\n'),
      '--instance',
      instance,
    );
    assert.equal(r.status, 1);
    assert.match(r.err, /services/);
    assert.ok(!existsSync(instancePaths(instance).pinDir), 'nothing pinned');
    assert.ok(!existsSync(instancePaths(instance).stateFile), 'no state written');
  });

  it('stats without a running instance says how to start one', () => {
    const r = xlb('stats', '--instance', `none-${process.pid}`);
    assert.equal(r.status, 1);
    assert.match(r.err, /no running xlb instance 'none-\d+': start one with `xlb run`/);
  });
});
