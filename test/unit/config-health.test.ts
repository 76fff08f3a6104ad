// The `health:` block of a service and `all_down:`: the defaults of every type, every range, keys of
// another type, timeout against interval, exec's command; each problem with its path and its fix.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDocument } from 'yaml';
import { Checker, checkMapping, field, formatPath } from '../../src/model/config-schema.js';
import type { Path } from '../../src/model/config-schema.js';
import {
  HEALTH_DEFAULTS,
  allDownField,
  allDownRule,
  healthField,
  healthRule,
} from '../../src/model/config-health.js';
import type { HealthConfig } from '../../src/model/config-health.js';

const AT: Path = ['services', 0, 'health'];
const WHERE = 'services[0].health';

interface Problem {
  path: string;
  message: string;
}

function run(value: unknown, c = new Checker()): { config: HealthConfig | undefined; problems: Problem[] } {
  const config = healthRule(value, AT, c);
  return { config, problems: c.issues.map((i) => ({ path: formatPath(i.path), message: i.message })) };
}
function ok(value: unknown): HealthConfig {
  const { config, problems } = run(value);
  assert.deepEqual(problems, []);
  assert.ok(config !== undefined);
  return config;
}
/** The only problem of `value`: its path (relative to the health block) and message. */
function problem(value: unknown, key: string, message: RegExp): void {
  const { config, problems } = run(value);
  assert.equal(config, undefined, 'a config with a problem returned a value');
  assert.equal(problems.length, 1, JSON.stringify(problems, null, 1));
  assert.equal(problems[0]!.path, key === '' ? WHERE : `${WHERE}.${key}`);
  assert.match(problems[0]!.message, message);
}

describe('health: defaults', () => {
  test('every type with only its type', () => {
    const basics = { interval: 2, timeout: 1, rise: 2, fall: 3 };
    assert.deepEqual(ok({ type: 'udp' }), { type: 'udp', ...basics, send: 'xlb-health' });
    assert.deepEqual(ok({ type: 'dns' }), {
      type: 'dns',
      ...basics,
      name: '.',
      qtype: 'A',
      rcode: 'NOERROR',
    });
    assert.deepEqual(ok({ type: 'tcp' }), { type: 'tcp', ...basics });
    assert.deepEqual(ok({ type: 'http' }), { type: 'http', ...basics, path: '/', status: 200 });
    assert.deepEqual(ok({ type: 'exec', command: ['/bin/true'] }), {
      type: 'exec',
      ...basics,
      command: ['/bin/true'],
    });
    assert.deepEqual(
      [HEALTH_DEFAULTS.interval, HEALTH_DEFAULTS.timeout, HEALTH_DEFAULTS.rise, HEALTH_DEFAULTS.fall],
      [2, 1, 2, 3],
    );
  });

  test('every field given', () => {
    const common = { interval: 10, timeout: 9, rise: 1, fall: 100, port: 5353 };
    assert.deepEqual(ok({ type: 'udp', ...common, send: 'ping', expect: 'pong' }), {
      type: 'udp',
      ...common,
      send: 'ping',
      expect: 'pong',
    });
    for (const qtype of ['A', 'AAAA', 'SOA', 'NS', 'TXT']) {
      for (const rcode of ['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED']) {
        assert.deepEqual(ok({ type: 'dns', ...common, name: 'health.example.', qtype, rcode }), {
          type: 'dns',
          ...common,
          name: 'health.example.',
          qtype,
          rcode,
        });
      }
    }
    assert.deepEqual(ok({ type: 'tcp', ...common }), { type: 'tcp', ...common });
    assert.deepEqual(ok({ type: 'http', ...common, path: '/healthz?x=1', status: 204, host: 'h.example' }), {
      type: 'http',
      ...common,
      path: '/healthz?x=1',
      status: 204,
      host: 'h.example',
    });
    const command = ['/usr/local/bin/check', '{address}', '{port}'];
    assert.deepEqual(ok({ type: 'exec', ...common, command }), { type: 'exec', ...common, command });
  });

  test('a relative DNS name is made absolute; the bounds of every range are accepted', () => {
    assert.equal(ok({ type: 'dns', name: 'health.example' }).name, 'health.example.');
    ok({ type: 'tcp', interval: 3600, timeout: 60, rise: 100, fall: 100, port: 65535 });
    ok({ type: 'tcp', interval: 2, timeout: 1, rise: 1, fall: 1, port: 1 });
    const fast = ok({ type: 'udp', interval: '100ms', timeout: '10ms' });
    assert.deepEqual([fast.interval, fast.timeout], [0.1, 0.01]);
    const mixed = ok({ type: 'udp', interval: '1.5s', timeout: ' 750 ms ' });
    assert.deepEqual([mixed.interval, mixed.timeout], [1.5, 0.75]);
    ok({ type: 'http', status: 100 });
    ok({ type: 'http', status: 599 });
  });
});

describe('health: problems', () => {
  test('every range', () => {
    const cases: [string, number | string, RegExp][] = [
      ['interval', 0, /interval 0 is out of range; use from 100ms to 3600s/],
      ['interval', '99ms', /interval 99ms is out of range; use from 100ms to 3600s/],
      ['interval', 3601, /3601 is out of range; use from 100ms to 3600s/],
      ['timeout', 0, /timeout 0 is out of range; use from 10ms to 60s/],
      ['timeout', '9ms', /timeout 9ms is out of range/],
      ['timeout', 61, /61 is out of range; use from 10ms to 60s/],
      ['rise', 0, /rise .* 0 is out of range; use an integer from 1 to 100/],
      ['rise', 101, /101 is out of range; use an integer from 1 to 100/],
      ['fall', 0, /fall .* 0 is out of range; use an integer from 1 to 100/],
      ['fall', 101, /101 is out of range/],
      ['port', 0, /port 0 is out of range; use an integer from 1 to 65535/],
      ['port', 65536, /65536 is out of range/],
    ];
    for (const [key, value, message] of cases) {
      const extra = key === 'timeout' && value === 61 ? { interval: 3600 } : {};
      problem({ type: 'tcp', ...extra, [key]: value }, key, message);
    }
    problem(
      { type: 'http', status: 99 },
      'status',
      /HTTP status 99 is out of range; use an integer from 100 to 599/,
    );
    problem({ type: 'http', status: 600 }, 'status', /600 is out of range/);
  });

  test('not whole numbers, quoted numbers, other types', () => {
    problem(
      { type: 'tcp', interval: 2.5 },
      'interval',
      /interval 2\.5: fractions of a second need a unit.*'500ms'/,
    );
    problem({ type: 'tcp', interval: '2 minutes' }, 'interval', /"2 minutes" is not a duration/);
    problem({ type: 'tcp', interval: '1.0005s' }, 'interval', /finer than a millisecond/);
    problem({ type: 'tcp', timeout: [1] }, 'timeout', /must be a duration from 10ms to 60s, got a list/);
    problem({ type: 'tcp', rise: '2' }, 'rise', /remove the quotes: 2/);
    problem({ type: 'tcp', fall: true }, 'fall', /got the boolean true/);
    problem({ type: 'udp', send: 42 }, 'send', /must be a string.*quote it/);
  });

  test('type: missing, unknown (with a suggestion), not a string', () => {
    problem({ interval: 5 }, 'type', /missing required key 'type'; add the kind of probe: type: udp \| dns/);
    problem(
      { type: 'ud' },
      'type',
      /unknown health check type 'ud' \(did you mean 'udp'\?\); use 'udp', 'dns'/,
    );
    problem({ type: 'HTTP' }, 'type', /did you mean 'http'/);
    problem({ type: 7 }, 'type', /must be a string/);
  });

  test('health is not a mapping', () => {
    problem('udp', '', /health must be a mapping, got the string "udp"; write health: \{ type: udp \}/);
    problem(5, '', /health must be a mapping like \{ type: udp.*got the number 5/);
    problem(['udp'], '', /got a list/);
  });

  test('unknown keys get a suggestion', () => {
    problem(
      { type: 'tcp', intreval: 5 },
      'intreval',
      /unknown key 'intreval' in health \(did you mean 'interval'\?\)/,
    );
    problem(
      { type: 'tcp', bogus: 1 },
      'bogus',
      /unknown key 'bogus' in health; remove it or use one of: type, interval/,
    );
  });

  test('keys of another type are rejected, naming the type they belong to', () => {
    const samples: Record<string, [string, unknown][]> = {
      udp: [
        ['send', 'ping'],
        ['expect', 'pong'],
      ],
      dns: [
        ['name', 'a.example.'],
        ['qtype', 'A'],
        ['rcode', 'NOERROR'],
      ],
      http: [
        ['path', '/'],
        ['status', 200],
        ['host', 'h'],
      ],
      exec: [['command', ['/bin/true']]],
    };
    let checked = 0;
    for (const type of ['udp', 'dns', 'tcp', 'http', 'exec']) {
      for (const [owner, keys] of Object.entries(samples)) {
        if (owner === type) continue;
        for (const [key, value] of keys) {
          const cfg: Record<string, unknown> = { type, [key]: value };
          if (type === 'exec') cfg.command = ['/bin/true'];
          problem(
            cfg,
            key,
            new RegExp(`^${key} only applies to type ${owner} \\(this check has type ${type}\\); remove it$`),
          );
          checked++;
        }
      }
    }
    assert.equal(checked, 9 * 5 - 2 * 1 - 3 * 1 - 3 * 1 - 1 * 1);
  });

  test('timeout must be less than interval', () => {
    problem(
      { type: 'tcp', interval: 2, timeout: 2 },
      'timeout',
      /timeout 2 is not less than interval 2.*e\.g\. timeout: 1/,
    );
    problem({ type: 'tcp', interval: 5, timeout: 30 }, 'timeout', /timeout 30 is not less than interval 5/);
    problem(
      { type: 'tcp', interval: 1 },
      'interval',
      /the default timeout 1 is not less than interval 1: .*; lower timeout \(e\.g\. timeout: 500ms\) or raise interval/,
    );
    problem(
      { type: 'tcp', interval: '300ms', timeout: '0.3s' },
      'timeout',
      /timeout 0\.3 is not less than interval 0\.3/,
    );
    problem({ type: 'tcp', timeout: 3 }, 'timeout', /timeout 3 is not less than interval 2/);
  });

  test('exec: command required, a list of strings, not empty', () => {
    problem(
      { type: 'exec' },
      'command',
      /missing required key 'command': type exec runs a program, e\.g\. command: \[/,
    );
    problem(
      { type: 'exec', command: '/usr/bin/check {address} {port}' },
      'command',
      /must be a list of strings .* write it as \['\/usr\/bin\/check', '\{address\}', '\{port\}'\]/,
    );
    problem({ type: 'exec', command: [] }, 'command', /command is empty/);
    problem(
      { type: 'exec', command: ['/bin/check', 5] },
      'command[1]',
      /a command argument must be a string/,
    );
    problem({ type: 'exec', command: [''] }, 'command[0]', /the program of command is empty/);
    problem(
      { type: 'exec', command: Array.from({ length: 65 }, () => 'x') },
      'command',
      /65 command arguments, more than the limit of 64/,
    );
  });

  test('udp payloads, DNS names and values, HTTP paths and hosts', () => {
    problem({ type: 'udp', send: '' }, 'send', /payload \(send\) is empty/);
    problem({ type: 'udp', expect: 'x'.repeat(1025) }, 'expect', /1025 bytes, more than 1024/);
    problem({ type: 'dns', name: 'a..example' }, 'name', /empty label/);
    problem({ type: 'dns', name: '.example' }, 'name', /empty label/);
    problem({ type: 'dns', name: `${'a'.repeat(64)}.example` }, 'name', /longer than 63 bytes/);
    problem(
      { type: 'dns', name: Array.from({ length: 60 }, () => 'abcd').join('.') },
      'name',
      /longer than 255 bytes/,
    );
    problem({ type: 'dns', name: 'has space.example' }, 'name', /invalid DNS name/);
    problem(
      { type: 'dns', qtype: 'MX' },
      'qtype',
      /unknown DNS qtype 'MX'.*use 'A', 'AAAA', 'SOA', 'NS', 'TXT'/,
    );
    problem({ type: 'dns', qtype: 'a' }, 'qtype', /did you mean 'A'/);
    problem({ type: 'dns', rcode: 'FORMERR' }, 'rcode', /use NOERROR/);
    problem({ type: 'dns', rcode: 'nxdomain' }, 'rcode', /did you mean 'NXDOMAIN'/);
    problem({ type: 'http', path: 'healthz' }, 'path', /must start with '\/'.*e\.g\. path: \/healthz/);
    problem({ type: 'http', path: '/a b' }, 'path', /invalid HTTP path/);
    problem({ type: 'http', host: 'a b' }, 'host', /invalid HTTP host/);
  });

  test('every problem is reported at once', () => {
    const { config, problems } = run({ type: 'udp', interval: 0, rise: 0, name: 'x', command: 'c', frob: 1 });
    assert.equal(config, undefined);
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      `${WHERE}.command`,
      `${WHERE}.command`,
      `${WHERE}.frob`,
      `${WHERE}.interval`,
      `${WHERE}.name`,
      `${WHERE}.rise`,
    ]);
  });

  test('YAML floats such as 2.0 are rejected through the checker literal', () => {
    const doc = parseDocument('type: tcp\ninterval: 2.0\n');
    const c = new Checker((path) => (path.at(-1) === 'interval' ? '2.0' : undefined));
    const { problems } = run(doc.toJS(), c);
    assert.deepEqual(
      problems.map((p) => p.path),
      [`${WHERE}.interval`],
    );
    assert.match(problems[0]!.message, /interval 2\.0: fractions of a second need a unit/);
  });
});

describe('plugged into a field table', () => {
  const serviceFields = { name: field((v) => v as string), health: healthField, all_down: allDownField };
  const check = (value: unknown) => {
    const c = new Checker();
    const out = checkMapping(value, ['services', 0], c, serviceFields, 'a service', '{}');
    return { out, problems: c.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  };

  test('health is optional; all_down defaults to drop', () => {
    const { out, problems } = check({ name: 's' });
    assert.deepEqual(problems, []);
    assert.equal(out?.health, undefined);
    assert.equal(out?.all_down, 'drop');
    const both = check({ name: 's', health: { type: 'tcp' }, all_down: 'keep-last' });
    assert.deepEqual(both.problems, []);
    assert.deepEqual(both.out?.health, { type: 'tcp', interval: 2, timeout: 1, rise: 2, fall: 3 });
    assert.equal(both.out?.all_down, 'keep-last');
  });

  test('all_down: drop or keep-last', () => {
    assert.deepEqual(check({ all_down: 'kep-last' }).problems, [
      "services[0].all_down: unknown all_down 'kep-last' (did you mean 'keep-last'?); use 'drop', 'keep-last'",
    ]);
    assert.match(
      check({ all_down: 'keep' }).problems[0] ?? '',
      /^services\[0\]\.all_down: write all_down: keep-last/,
    );
    assert.match(check({ all_down: true }).problems[0] ?? '', /all_down must be a string/);
    const c = new Checker();
    assert.equal(allDownRule('drop', ['all_down'], c), 'drop');
    assert.deepEqual(c.issues, []);
  });

  test('a problem inside health carries the full path', () => {
    assert.deepEqual(check({ health: { type: 'udp', qtype: 'A' } }).problems, [
      'services[0].health.qtype: qtype only applies to type dns (this check has type udp); remove it',
    ]);
  });
});
