// Unit tests for the configuration model: defaults, a valid round trip, and one test per kind of bad
// input, each checking the problem's path, its line (YAML input) and that the message names the fix.

// node:test tracks the promises that describe() and test() return; nothing here needs awaiting them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import {
  ConfigError,
  DEFAULT_CONFIG_YAML,
  DEFAULTS,
  LIMITS,
  defaultConfig,
  parseConfig,
  serviceKeyString,
  validateConfig,
} from '../../src/model/config.js';
import type { Config, ConfigProblem } from '../../src/model/config.js';

const BASE = [
  'interface: lo', // 1
  'xdp_mode: auto', // 2
  'flow_table_size: 65536', // 3
  'services:', // 4
  '  - name: dns', // 5
  '    vip: 192.0.2.1', // 6
  '    port: 53', // 7
  '    protocol: udp', // 8
  '    scheduler: round-robin', // 9
  '    mode: local', // 10
  '    backends:', // 11
  '      - { address: 198.51.100.1, port: 53 }', // 12
  '      - { address: 198.51.100.2, port: 53 }', // 13
  '  - name: ntp', // 14
  "    vip: '*'", // 15
  '    port: 123', // 16
  '    backends: []', // 17
];

/**
 * BASE with lines replaced, e.g. `{ 7: 'port: 0' }` keeps line 7's indentation and list dash ('    port: 0');
 * a replacement that starts with a space is used verbatim (it may hold several lines); null deletes the line.
 */
function edit(changes: Record<number, string | null>): string {
  return BASE.map((line, i) => {
    if (!Object.hasOwn(changes, i + 1)) return line;
    const repl = changes[i + 1];
    if (repl === null || repl === undefined || repl.startsWith(' ')) return repl;
    return `${/^[\s-]*/.exec(line)?.[0] ?? ''}${repl}`;
  })
    .filter((l) => l !== null && l !== undefined)
    .join('\n');
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e;
  }
  return assert.fail('expected a ConfigError, but the configuration was accepted');
}
const problemsOf = (fn: () => unknown): ConfigProblem[] => errorOf(fn).problems;

/** Exactly one problem, at `path` and `line`, whose message matches every pattern. */
function expectProblem(text: string, path: string, line: number, ...patterns: RegExp[]): ConfigProblem {
  const problems = problemsOf(() => parseConfig(text, 'test.yaml'));
  assert.equal(
    problems.length,
    1,
    `expected one problem, got:\n${problems.map((p) => p.message).join('\n')}`,
  );
  const p = problems[0]!;
  assert.deepEqual({ path: p.path, line: p.line }, { path, line });
  for (const re of patterns) assert.match(p.message, re);
  return p;
}

/** A Config written back in the YAML's shape (snake_case, snat ports as 'LO-HI', no family). */
function toInput(c: Config): Record<string, unknown> {
  return {
    interfaces: c.interfaces,
    xdp_mode: c.xdpMode,
    flow_table_size: c.flowTableSize,
    hash_seed: c.hashSeed,
    services: c.services.map(
      ({ family: _family, flowTimeouts, snat, hashKey, tableSize, flowAffinity, ...rest }) => ({
        ...rest,
        ...(rest.scheduler === 'maglev' ? { hash_key: hashKey, table_size: tableSize } : {}),
        flow_affinity: flowAffinity,
        flow_timeouts: flowTimeouts,
        ...(snat ? { snat: { address: snat.address, ports: `${snat.portMin}-${snat.portMax}` } } : {}),
      }),
    ),
  };
}

const EXPECTED_DEFAULT: Config = {
  interfaces: ['lo'],
  xdpMode: 'auto',
  flowTableSize: 65536,
  hashSeed: 0,
  memoryLimit: DEFAULTS.memoryLimit,
  services: [
    {
      name: 'demo',
      vip: '127.0.0.1',
      port: 9875,
      protocol: 'udp',
      scheduler: 'round-robin',
      hashKey: '5-tuple',
      tableSize: 0,
      flowAffinity: false,
      mode: 'local',
      family: 4,
      flowTimeouts: { unreplied: 30, assured: 120 },
      backends: [
        { address: '127.0.0.1', port: 9876, weight: 1 },
        { address: '127.0.0.1', port: 9877, weight: 1 },
        { address: '127.0.0.1', port: 9878, weight: 1 },
      ],
    },
  ],
};

describe('default configuration', () => {
  test('parses to exactly the tutorial setup', () => {
    assert.deepEqual(defaultConfig(), EXPECTED_DEFAULT);
    assert.deepEqual(parseConfig(DEFAULT_CONFIG_YAML), EXPECTED_DEFAULT);
  });

  test('comments every service field', () => {
    for (const key of ['name', 'vip', 'port', 'protocol', 'scheduler', 'mode', 'backends']) {
      const line = DEFAULT_CONFIG_YAML.split('\n').find((l) =>
        l.trimStart().replace(/^- /, '').startsWith(`${key}:`),
      );
      assert.match(line ?? '', /#\s*\S/, `field ${key} has no comment`);
    }
  });

  test('returns a fresh frozen object each time', () => {
    const a = defaultConfig();
    const b = defaultConfig();
    assert.notEqual(a, b);
    assert.notEqual(a.services[0], b.services[0]);
    assert.ok(Object.isFrozen(a.services[0]!.backends[0]));
    assert.throws(() => a.services.push(a.services[0]!), TypeError);
  });
});

describe('valid configurations', () => {
  test('BASE parses to the expected object', () => {
    const c = parseConfig(edit({}));
    assert.deepEqual(c, {
      interfaces: ['lo'],
      xdpMode: 'auto',
      flowTableSize: 65536,
      hashSeed: 0,
      memoryLimit: DEFAULTS.memoryLimit,
      services: [
        {
          name: 'dns',
          vip: '192.0.2.1',
          port: 53,
          protocol: 'udp',
          scheduler: 'round-robin',
          hashKey: '5-tuple',
          tableSize: 0,
          flowAffinity: false,
          mode: 'local',
          family: 4,
          flowTimeouts: { unreplied: 30, assured: 120 },
          backends: [
            { address: '198.51.100.1', port: 53, weight: 1 },
            { address: '198.51.100.2', port: 53, weight: 1 },
          ],
        },
        {
          name: 'ntp',
          vip: '*',
          port: 123,
          protocol: 'udp',
          scheduler: 'maglev',
          hashKey: '5-tuple',
          tableSize: 16381,
          flowAffinity: true,
          mode: 'local',
          family: 4,
          flowTimeouts: { unreplied: 30, assured: 120 },
          backends: [],
        },
      ],
    });
  });

  test('full config round trip: parse, write back as YAML, parse again', () => {
    const text = [
      'interfaces: [eth0, eth1.100, veth-a_b]',
      'xdp_mode: native',
      'flow_table_size: 1024',
      'services:',
      '  - { name: a.b-c_1, vip: 203.0.113.7, port: 65535, backends: [{ address: 198.51.100.9, port: 1 }] }',
      "  - {name: '0', vip: '*', port: 1, protocol: udp, scheduler: round-robin, mode: local, backends: []}",
    ].join('\n');
    const c = parseConfig(text);
    assert.deepEqual(c.interfaces, ['eth0', 'eth1.100', 'veth-a_b']);
    assert.equal(c.xdpMode, 'native');
    assert.equal(c.flowTableSize, 1024);
    assert.deepEqual(
      c.services.map((s) => [s.name, serviceKeyString(s), s.scheduler, s.mode, s.backends]),
      [
        [
          'a.b-c_1',
          '203.0.113.7:65535/udp',
          'maglev',
          'local',
          [{ address: '198.51.100.9', port: 1, weight: 1 }],
        ],
        ['0', '*:1/udp', 'round-robin', 'local', []],
      ],
    );
    const back = toInput(c);
    assert.deepEqual(parseConfig(stringify(back)), c);
    assert.deepEqual(validateConfig(back), c);
  });

  test("'*' and an exact vip may share a port", () => {
    const c = parseConfig(edit({ 15: "vip: '*'", 16: 'port: 53' }));
    assert.deepEqual(c.services.map(serviceKeyString), ['192.0.2.1:53/udp', '*:53/udp']);
  });

  test('limits are accepted exactly at the limit', () => {
    const backends = (n: number, net: string) =>
      Array.from({ length: n }, (_, i) => ({ address: net, port: i + 1 }));
    const services = Array.from(
      { length: LIMITS.maxBackendsTotal / LIMITS.maxBackendsPerService },
      (_, i) => ({
        name: `s${i}`,
        vip: '192.0.2.1',
        port: i + 1,
        backends: backends(LIMITS.maxBackendsPerService, `198.51.100.${i + 1}`),
      }),
    );
    const c = validateConfig({ interface: 'lo', services });
    assert.equal(
      c.services.reduce((n, s) => n + s.backends.length, 0),
      LIMITS.maxBackendsTotal,
    );
  });
});

describe('bad YAML input: one problem, right path, right line, names the value and the fix', () => {
  const S0 = 'services[0]';
  type Case = [
    title: string,
    input: Record<number, string | null> | string,
    path: string,
    line: number,
    fix: RegExp,
  ];
  // One row per bad input: a BASE edit (see edit()) or raw text, the expected path and line, and a pattern
  // that the message must match (the bad value and the fix).
  // prettier-ignore
  const cases: Case[] = [
    ['port 0', { 7: 'port: 0' }, `${S0}.port`, 7, /port 0 is out of range; use an integer from 1 to 65535/],
    ['port 65536', { 7: 'port: 65536' }, `${S0}.port`, 7,
      /65536 is out of range; use an integer from 1 to 65535/],
    ['port as a string', { 7: 'port: "53"' }, `${S0}.port`, 7, /got the string "53"; remove the quotes: 53$/],
    ['port 53.5', { 7: 'port: 53.5' }, `${S0}.port`, 7, /whole number .* got 53\.5; write a whole number/],
    ['port 53.0 (float literal)', { 7: 'port: 53.0' }, `${S0}.port`, 7,
      /got 53\.0; write a whole number such as 53$/],
    ['port true', { 7: 'port: true' }, `${S0}.port`, 7,
      /integer from 1 to 65535, got the boolean true; e\.g\./],
    ['backend port 0', { 13: '{ address: 198.51.100.2, port: 0 }' }, `${S0}.backends[1].port`, 13,
      /0 is out of range/],
    ['vip not an IP', { 6: 'vip: 192.0.2.300' }, `${S0}.vip`, 6,
      /"192\.0\.2\.300" is not an IPv4 .*dotted quad/],
    ['vip 0.0.0.0', { 6: 'vip: 0.0.0.0' }, `${S0}.vip`, 6, /"0\.0\.0\.0" is not a usable address.*vip: '\*'/],
    ['vip multicast', { 6: 'vip: 239.1.2.3' }, `${S0}.vip`, 6,
      /"239\.1\.2\.3" is a multicast address.*use an IPv4 unicast/],
    ['vip broadcast', { 6: 'vip: 255.255.255.255' }, `${S0}.vip`, 6,
      /is the broadcast address: it reaches every host of a link and is never routed; use an IPv4 unicast/],
    ['vip a number', { 6: 'vip: 5' }, `${S0}.vip`, 6,
      /must be a string, got the number 5 .*e\.g\. 192\.0\.2\.10/],
    ['vip: * unquoted', { 15: 'vip: *' }, '', 15,
      /YAML syntax error.*for 'any address' write vip: '\*' \(quoted\)/],
    ['duplicate names', { 14: 'name: dns' }, 'services[1].name', 14,
      /'dns' \(services\[0\] and services\[1\]\); give/],
    ['duplicate service key', { 15: 'vip: 192.0.2.1', 16: 'port: 53' }, 'services[1]', 14,
      /\('dns'\) and services\[1\] \('ntp'\) both listen on 192\.0\.2\.1:53\/udp; change the vip or port/],
    ['duplicate backend', { 13: '{ address: 198.51.100.1, port: 53 }' }, `${S0}.backends[1]`, 13,
      /198\.51\.100\.1:53 \(same as backends\[0\]\); remove one/],
    ['unknown key + suggestion', { 8: 'protocl: udp' }, `${S0}.protocl`, 8,
      /'protocl' .*did you mean 'protocol'\?\); remove it/],
    ['unknown top-level key', { 3: 'flowtable_size: 1024' }, 'flowtable_size', 3,
      /did you mean 'flow_table_size'\?\); remove/],
    ['unknown backend key', { 12: '{ address: 198.51.100.1, port: 53, wieght: 2 }' },
      `${S0}.backends[0].wieght`, 12,
      /'wieght'.*did you mean 'weight'/],
    ['interface + interfaces', { 2: 'interfaces: [eth0]' }, 'interfaces', 2,
      /both 'interface' and 'interfaces'.*keep only one/],
    ['no interface', { 1: null }, 'interface', 1, /no interface given; add 'interface: eth0'/],
    ['empty interface list', { 1: 'interfaces: []' }, 'interfaces', 1,
      /is empty; name at least one, e\.g\. interfaces: \[eth0\]/],
    ['interface name with /', { 1: 'interface: eth0/1' }, 'interface', 1,
      /"eth0\/1": .*no '\/'.*use a name shown by 'ip link'/],
    ['interface name too long', { 1: 'interface: abcdefghijklmnop' }, 'interface', 1,
      /"abcdefghijklmnop": .*1 to 15 bytes/],
    ['interface a number', { 1: 'interface: 0' }, 'interface', 1,
      /got the number 0 \(quote it if you meant "0"\)/],
    ['duplicate interface', { 1: 'interfaces: [eth0, eth1, eth0]' }, 'interfaces[2]', 1,
      /'eth0' is listed twice.*remove one/],
    ['tcp', { 8: 'protocol: tcp' }, `${S0}.protocol`, 8, /xlb balances UDP only; set protocol: udp/],
    ['unknown protocol', { 8: 'protocol: sctp' }, `${S0}.protocol`, 8, /unknown protocol 'sctp'; use 'udp'$/],
    ['unknown scheduler', { 9: 'scheduler: round_robin' }, `${S0}.scheduler`, 9,
      /'round_robin' \(did you mean 'round-robin'\?\)/],
    ['unknown mode', { 10: 'mode: direct' }, `${S0}.mode`, 10,
      /unknown mode 'direct'; use 'local', 'nat', 'fullnat', 'dsr'$/],
    ['unknown xdp_mode', { 2: 'xdp_mode: fast' }, 'xdp_mode', 2,
      /unknown xdp_mode 'fast'; use 'auto', 'native', 'generic'/],
    ['missing backends', { 11: null, 12: null, 13: null }, `${S0}.backends`, 5,
      /missing required key 'backends'; add a list/],
    ['backends not a list', { 11: 'backends: 198.51.100.1', 12: null, 13: null }, `${S0}.backends`, 11,
      /must be a list, got the string/],
    ['backend as a string', { 12: '"198.51.100.1:53"' }, `${S0}.backends[0]`, 12,
      /write it as \{ address: 198\.51\.100\.1, port: 53 \}/],
    ['backend address *', { 12: "{ address: '*', port: 53, weight: 1 }" }, `${S0}.backends[0].address`, 12,
      /only allowed as a service vip; use/],
    ['backend address 0.0.0.0', { 12: '{ address: 0.0.0.0, port: 53 }' }, `${S0}.backends[0].address`, 12,
      /not a usable address: it means "no address" and is never a destination; use/],
    ['backend address multicast', { 12: '{ address: 224.0.0.251, port: 53 }' }, `${S0}.backends[0].address`, 12,
      /"224\.0\.0\.251" is a multicast address .*; use an IPv4 unicast address/],
    ['backend without port', { 12: '{ address: 198.51.100.1 }' }, `${S0}.backends[0].port`, 12,
      /missing required key 'port'; add .*\(only mode dsr may omit it\)$/],
    ['name missing', { 14: "vip: '*'", 15: null }, 'services[1].name', 14,
      /missing required key 'name'; give the service/],
    ['name with capitals', { 5: 'name: DNS' }, `${S0}.name`, 5,
      /must match \/\^\[a-z0-9\]\[a-z0-9_\.-\]\{0,62\}\$\/.*e\.g\. 'dns'/],
    ['name too long', { 5: `name: ${'a'.repeat(64)}` }, `${S0}.name`, 5, /then up to 62 of a-z/],
    ['services missing', 'interface: lo\nxdp_mode: auto', 'services', 1,
      /missing required key 'services'.*services: \[\]/],
    ['services not a list', 'interface: lo\nservices: dns', 'services', 2,
      /must be a list, got the string "dns"; e\.g\./],
    ['service not a mapping', { 14: 'ntp', 15: null, 16: null, 17: null }, 'services[1]', 14,
      /must be a mapping like \{ name:/],
    ['flow_table_size too small', { 3: 'flow_table_size: 1023' }, 'flow_table_size', 3,
      /1023 is out of range; use .* 1024 to 16777216/],
    ['flow_table_size too large', { 3: 'flow_table_size: 16777217' }, 'flow_table_size', 3,
      /out of range; use .* 1024 to 16777216/],
    ['flow_table_size a string', { 3: 'flow_table_size: 64k' }, 'flow_table_size', 3,
      /got the string "64k"; e\.g\. 65536/],
    ['empty document', '', '', 1, /the configuration is empty; write at least 'interface: <name>'/],
    ['comments only', '# nothing here\n', '', 1, /the configuration is empty; write/],
    ['not a mapping', '- lo\n', '', 1,
      /must be a mapping like \{ interface: lo, services: \[\.\.\.\] \}, got a list/],
    ['YAML syntax error', { 7: '   port: 53' }, '', 7,
      /YAML syntax error at column 1: .*; fix the YAML syntax there \(\d+ more/],
    ['duplicate YAML key', { 8: 'port: 54' }, '', 8,
      /keys must be unique; remove or rename the repeated key/],
    ['several YAML documents', `${edit({})}\n---\ninterface: lo`, '', 18,
      /several YAML documents.*remove the extra '---'/],
    ['alias without anchor', { 7: 'port: *p' }, '', 7,
      /alias '\*p' has no anchor '&p' before it; define the anchor/],
  ];
  for (const [title, input, path, line, fix] of cases) {
    test(title, () => {
      expectProblem(typeof input === 'string' ? input : edit(input), path, line, fix);
    });
  }

  test('the base input itself is valid (so each case above fails for its own reason)', () => {
    assert.doesNotThrow(() => parseConfig(edit({})));
  });

  test('too many backends in one service (YAML): the problem is on the backends key', () => {
    const many = Array.from(
      { length: LIMITS.maxBackendsPerService + 1 },
      (_, i) => `      - { address: 198.51.100.1, port: ${i + 1} }`,
    );
    expectProblem(
      edit({ 12: many.join('\n'), 13: null }),
      'services[0].backends',
      11,
      /4097 backends/,
      /limit of 4096/,
      /remove 1\b/,
    );
  });

  test('anchors and aliases resolve, and a bad aliased value gets the line of its use', () => {
    const ok = parseConfig(edit({ 7: 'port: &p 53', 16: 'port: *p' }));
    assert.deepEqual(
      ok.services.map((s) => s.port),
      [53, 53],
    );
    const text = edit({ 3: 'flow_table_size: &big 70000', 16: 'port: *big' });
    expectProblem(text, 'services[1].port', 16, /70000 is out of range/);
  });
});

describe('several problems at once', () => {
  test('all are reported, in line order, and the message lists them one per line', () => {
    const text = edit({
      1: 'interfaces: [lo, lo]',
      2: 'xdp_mode: fast',
      7: 'port: 0',
      10: 'mode: dsx',
      13: '198.51.100.2',
      14: 'name: dns',
    });
    const problems = problemsOf(() => parseConfig(text, 'lb.yaml'));
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [
        [1, 'interfaces[1]'],
        [2, 'xdp_mode'],
        [7, 'services[0].port'],
        [10, 'services[0].mode'],
        [13, 'services[0].backends[1]'],
        [14, 'services[1].name'],
      ],
    );
    const e = errorOf(() => parseConfig(text, 'lb.yaml'));
    assert.equal(e.source, 'lb.yaml');
    const lines = e.message.split('\n');
    assert.equal(lines.length, 6);
    assert.equal(lines[2], `lb.yaml:7: services[0].port: ${problems[2]!.message}`);
    assert.match(lines[5]!, /^lb\.yaml:14: services\[1\]\.name: duplicate service name 'dns'/);
  });
});

describe('validateConfig on objects', () => {
  const valid = () => ({
    interfaces: ['eth0'],
    services: [
      {
        name: 'dns',
        vip: '192.0.2.1',
        port: 53,
        backends: [{ address: '198.51.100.1', port: 53, weight: 1 }],
      },
    ],
  });

  test('fills in defaults and never shares structure with the input', () => {
    const input = valid();
    const c = validateConfig(input);
    assert.deepEqual(c, {
      interfaces: ['eth0'],
      xdpMode: 'auto',
      flowTableSize: 65536,
      hashSeed: 0,
      memoryLimit: DEFAULTS.memoryLimit,
      services: [
        {
          name: 'dns',
          vip: '192.0.2.1',
          port: 53,
          protocol: 'udp',
          scheduler: 'maglev',
          hashKey: '5-tuple',
          tableSize: 16381,
          flowAffinity: true,
          mode: 'local',
          family: 4,
          flowTimeouts: { unreplied: 30, assured: 120 },
          backends: [{ address: '198.51.100.1', port: 53, weight: 1 }],
        },
      ],
    });
    assert.notEqual(c.interfaces, input.interfaces);
    assert.notEqual(c.services[0]!.backends[0], input.services[0]!.backends[0]);
    input.services[0]!.backends[0]!.port = 99;
    input.interfaces.push('eth1');
    assert.equal(c.services[0]!.backends[0]!.port, 53);
    assert.deepEqual(c.interfaces, ['eth0']);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.services[0]!.backends), 'the result is deep-frozen');
  });

  test('problems have paths, no lines, and the <object> source', () => {
    const input = { ...valid(), xdpMode: 'native' };
    input.services[0]!.port = 53.5;
    const problems = problemsOf(() => validateConfig(input));
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['xdpMode', undefined],
        ['services[0].port', undefined],
      ],
    );
    assert.match(problems[0]!.message, /did you mean 'xdp_mode'\?/);
    assert.throws(() => validateConfig(input), /^ConfigError: <object>: xdpMode: unknown key/);
  });

  test('numeric strings and booleans are not numbers', () => {
    const input: Record<string, unknown> = valid();
    input.flow_table_size = '65536';
    (input.services as { port: unknown }[])[0]!.port = false;
    const problems = problemsOf(() => validateConfig(input, 'api'));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['flow_table_size', 'services[0].port'],
    );
    assert.match(problems[0]!.message, /remove the quotes: 65536/);
    assert.match(problems[1]!.message, /boolean false/);
  });

  for (const [what, input] of [
    ['null', null],
    ['a string', 'interface: lo'],
    ['a list', []],
  ] as const) {
    test(`rejects ${what} as the whole configuration`, () => {
      const problems = problemsOf(() => validateConfig(input));
      assert.deepEqual(
        problems.map((p) => p.path),
        [''],
      );
      assert.match(problems[0]!.message, /must be a mapping like \{ interface: lo/);
    });
  }

  test('too many backends in one service (LIMITS + 1)', () => {
    const input = valid();
    input.services[0]!.backends = Array.from({ length: LIMITS.maxBackendsPerService + 1 }, (_, i) => ({
      address: '198.51.100.1',
      port: i + 1,
      weight: 1,
    }));
    const problems = problemsOf(() => validateConfig(input));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['services[0].backends'],
    );
    assert.match(problems[0]!.message, /4097 backends, more than the limit of 4096; remove 1$/);
  });

  test('too many backends in total (LIMITS + 1)', () => {
    const perService = LIMITS.maxBackendsPerService;
    const count = LIMITS.maxBackendsTotal / perService;
    const services = Array.from({ length: count }, (_, i) => ({
      name: `s${i}`,
      vip: '192.0.2.1',
      port: i + 1,
      backends: Array.from({ length: perService }, (_, j) => ({
        address: `198.51.100.${i + 1}`,
        port: j + 1,
      })),
    }));
    services.push({
      name: 'last',
      vip: '192.0.2.2',
      port: 1,
      backends: [{ address: '203.0.113.1', port: 1 }],
    });
    const problems = problemsOf(() => validateConfig({ interface: 'lo', services }));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['services'],
    );
    assert.match(problems[0]!.message, /65537 backends in total, more than the limit of 65536/);
  });

  test('too many services (LIMITS + 1)', () => {
    const services = Array.from({ length: LIMITS.maxServices + 1 }, (_, i) => ({
      name: `s${i}`,
      vip: '*',
      port: i + 1,
      backends: [],
    }));
    assert.equal(
      validateConfig({ interface: 'lo', services: services.slice(1) }).services.length,
      LIMITS.maxServices,
    );
    const problems = problemsOf(() => validateConfig({ interface: 'lo', services }));
    assert.deepEqual(
      problems.map((p) => p.path),
      ['services'],
    );
    assert.match(problems[0]!.message, /4097 services, more than the limit of 4096/);
  });
});

test('serviceKeyString and LIMITS', () => {
  assert.equal(serviceKeyString(EXPECTED_DEFAULT.services[0]!), '127.0.0.1:9875/udp');
  assert.deepEqual(
    [LIMITS.maxServices, LIMITS.maxBackendsPerService, LIMITS.maxBackendsTotal],
    [4096, 4096, 65536],
  );
});

// ---- forwarding modes, IPv6, full-NAT, flow timeouts ------------------------------------------

/** Replaces BASE line 10 (mode) by `mode: <mode>` followed by `extra` service lines (lines 11, 12, ...). */
const withMode = (mode: string, ...extra: string[]): string =>
  [`    mode: ${mode}`, ...extra.map((l) => `    ${l}`)].join('\n');

const TIMEOUTS = { unreplied: 30, assured: 120 };

describe('forwarding modes, IPv6 and full-NAT: valid configurations', () => {
  test("the brief's example parses to the expected Config", () => {
    const text = [
      'interfaces: [eth0, eth1]',
      'xdp_mode: auto',
      'flow_table_size: 65536',
      'services:',
      '  - name: dns',
      '    vip: 203.0.113.100',
      '    port: 53',
      '    protocol: udp',
      '    scheduler: round-robin',
      '    mode: nat',
      '    flow_timeouts: { unreplied: 10, assured: 300 }',
      '    backends:',
      '      - { address: 198.51.100.11, port: 5353 }',
      '  - name: dns-v6',
      '    vip: "fd00:53::100"',
      '    port: 53',
      '    mode: fullnat',
      '    snat: { address: "fd00:53::1", ports: 20000-60000 }',
      '    backends:',
      '      - { address: "fd00:53::11", port: 53 }',
      '  - name: dns-dsr',
      '    vip: 203.0.113.101',
      '    port: 53',
      '    mode: dsr',
      '    backends:',
      '      - { address: 198.51.100.21 }',
      '      - { address: 198.51.100.22, port: 53 }',
    ].join('\n');
    const common = {
      port: 53,
      protocol: 'udp',
      scheduler: 'maglev',
      hashKey: '5-tuple',
      tableSize: 16381,
      flowAffinity: true,
    } as const;
    const expected: Config = {
      interfaces: ['eth0', 'eth1'],
      xdpMode: 'auto',
      flowTableSize: 65536,
      hashSeed: 0,
      memoryLimit: DEFAULTS.memoryLimit,
      services: [
        {
          name: 'dns',
          vip: '203.0.113.100',
          ...common,
          scheduler: 'round-robin',
          tableSize: 0,
          flowAffinity: false,
          mode: 'nat',
          family: 4,
          flowTimeouts: { unreplied: 10, assured: 300 },
          backends: [{ address: '198.51.100.11', port: 5353, weight: 1 }],
        },
        {
          name: 'dns-v6',
          vip: 'fd00:53::100',
          ...common,
          mode: 'fullnat',
          flowAffinity: true,
          family: 6,
          snat: { address: 'fd00:53::1', portMin: 20000, portMax: 60000 },
          flowTimeouts: TIMEOUTS,
          backends: [{ address: 'fd00:53::11', port: 53, weight: 1 }],
        },
        {
          name: 'dns-dsr',
          vip: '203.0.113.101',
          ...common,
          mode: 'dsr',
          family: 4,
          flowTimeouts: TIMEOUTS,
          backends: [
            { address: '198.51.100.21', port: 53, weight: 1 },
            { address: '198.51.100.22', port: 53, weight: 1 },
          ],
        },
      ],
    };
    assert.deepEqual(parseConfig(text), expected);
    assert.deepEqual(validateConfig(toInput(expected)), expected);
  });

  test('IPv6 addresses are canonicalised (RFC 5952), IPv4 ones kept', () => {
    const c = parseConfig(
      edit({
        6: "vip: 'FD00:0053:0000:0000:0000:0000:0000:0100'",
        10: withMode('fullnat', 'snat: { address: 2001:DB8:0:0:1:0:0:1, ports: 1024-1039 }'),
        12: '{ address: FD00:53::0011, port: 53 }',
        13: "{ address: '2001:db8::192.0.2.1', port: 53, weight: 1 }",
      }),
    );
    const s = c.services[0]!;
    assert.equal(s.vip, 'fd00:53::100');
    assert.equal(s.family, 6);
    assert.deepEqual(s.snat, { address: '2001:db8::1:0:0:1', portMin: 1024, portMax: 1039 });
    assert.deepEqual(s.backends, [
      { address: 'fd00:53::11', port: 53, weight: 1 },
      { address: '2001:db8::c000:201', port: 53, weight: 1 },
    ]);
    assert.equal(serviceKeyString(s), '[fd00:53::100]:53/udp');
    // validateConfig canonicalises the same way.
    const v = validateConfig({
      interface: 'lo',
      services: [
        { name: 'a', vip: '2001:0DB8::0:1', port: 1, backends: [{ address: 'FD00::A', port: 2, weight: 1 }] },
      ],
    });
    assert.deepEqual(
      [v.services[0]!.vip, v.services[0]!.backends[0]!.address, v.services[0]!.family],
      ['2001:db8::1', 'fd00::a', 6],
    );
  });

  test('each mode is accepted in both families; only fullnat carries snat', () => {
    for (const [mode, extra] of [
      ['local', []],
      ['nat', []],
      ['dsr', []],
      ['fullnat', ['snat: { address: 192.0.2.5 }']],
    ] as const) {
      const v4 = parseConfig(edit({ 10: withMode(mode, ...extra) })).services[0]!;
      assert.deepEqual([v4.mode, v4.family, 'snat' in v4], [mode, 4, mode === 'fullnat'], mode);
      const v6 = parseConfig(
        edit({
          6: 'vip: 2001:db8::53',
          10: withMode(mode, ...extra.map(() => "snat: { address: '2001:db8::5' }")),
          12: '{ address: 2001:db8::11, port: 53 }',
          13: '{ address: 2001:db8::12, port: 53 }',
        }),
      ).services[0]!;
      assert.deepEqual(
        [v6.mode, v6.family, v6.snat?.address],
        [mode, 6, extra.length ? '2001:db8::5' : undefined],
      );
    }
  });

  test('snat ports: default 20000-60000, a range with spaces, exactly 16 ports, up to 65535', () => {
    const snatOf = (ports: string) =>
      parseConfig(edit({ 10: withMode('fullnat', `snat: { address: 192.0.2.5${ports} }`) })).services[0]!
        .snat;
    assert.deepEqual(snatOf(''), { address: '192.0.2.5', portMin: 20000, portMax: 60000 });
    assert.deepEqual(snatOf(', ports: 1024 - 1039'), { address: '192.0.2.5', portMin: 1024, portMax: 1039 });
    assert.deepEqual(snatOf(', ports: 65520-65535'), {
      address: '192.0.2.5',
      portMin: 65520,
      portMax: 65535,
    });
  });

  test('dsr: a backend without port gets the service port; the same port is accepted', () => {
    const c = parseConfig(
      edit({
        7: 'port: 5300',
        10: 'mode: dsr',
        12: '{ address: 198.51.100.1 }',
        13: '{ address: 198.51.100.2, port: 5300 }',
      }),
    );
    assert.deepEqual(c.services[0]!.backends, [
      { address: '198.51.100.1', port: 5300, weight: 1 },
      { address: '198.51.100.2', port: 5300, weight: 1 },
    ]);
  });

  test('flow_timeouts: defaults, one key given, the bounds 1 and 65535', () => {
    const timeoutsOf = (line: string | null) =>
      parseConfig(edit({ 10: line === null ? 'mode: local' : withMode('local', line) })).services[0]!
        .flowTimeouts;
    assert.deepEqual(timeoutsOf(null), { unreplied: 30, assured: 120 });
    assert.deepEqual(timeoutsOf('flow_timeouts: { assured: 600 }'), { unreplied: 30, assured: 600 });
    assert.deepEqual(timeoutsOf('flow_timeouts: { unreplied: 1, assured: 65535 }'), {
      unreplied: 1,
      assured: 65535,
    });
    assert.deepEqual(timeoutsOf('flow_timeouts: {}'), { unreplied: 30, assured: 120 });
    assert.deepEqual(DEFAULTS.flowTimeouts, { unreplied: 30, assured: 120 });
  });

  test("vip '*': family from the backends, else from snat, else 4; one '*' per family and port", () => {
    const c = parseConfig(
      [
        'interface: lo',
        'services:',
        "  - { name: any4, vip: '*', port: 53, backends: [{ address: 198.51.100.1, port: 53 }] }",
        "  - { name: any6, vip: '*', port: 53, backends: [{ address: 'fd00::1', port: 53, weight: 1 }] }",
        "  - { name: empty, vip: '*', port: 54, backends: [] }",
        "  - { name: nat6, vip: '*', port: 54, mode: fullnat, snat: { address: 'fd00::5' }, backends: [] }",
      ].join('\n'),
    );
    assert.deepEqual(
      c.services.map((s) => [s.name, s.family, serviceKeyString(s)]),
      [
        ['any4', 4, '*:53/udp'],
        ['any6', 6, '[*]:53/udp'],
        ['empty', 4, '*:54/udp'],
        ['nat6', 6, '[*]:54/udp'],
      ],
    );
  });

  test('round trip of every mode and family: parse, write back as YAML, parse again', () => {
    const c = parseConfig(
      [
        'interface: lo',
        'services:',
        '  - { name: a, vip: 2001:db8::1, port: 53, mode: nat, backends: [{ address: 2001:db8::2, port: 5353 }] }',
        '  - name: b',
        '    vip: 192.0.2.1',
        '    port: 53',
        '    mode: fullnat',
        '    snat: { address: 192.0.2.2, ports: 30000-30100 }',
        '    flow_timeouts: { unreplied: 5, assured: 3600 }',
        '    backends: [{ address: 198.51.100.1, port: 53 }]',
        "  - { name: c, vip: '*', port: 53, mode: dsr, backends: [{ address: 'fd00::1' }] }",
      ].join('\n'),
    );
    assert.deepEqual(
      c.services.map((s) => [s.mode, s.family]),
      [
        ['nat', 6],
        ['fullnat', 4],
        ['dsr', 6],
      ],
    );
    assert.deepEqual(parseConfig(stringify(toInput(c))), c);
    assert.deepEqual(validateConfig(toInput(c)), c);
  });

  test('snat and flowTimeouts are fresh frozen objects, never the shared defaults', () => {
    const a = parseConfig(edit({ 10: withMode('fullnat', 'snat: { address: 192.0.2.5 }') })).services[0]!;
    const b = parseConfig(edit({ 10: withMode('fullnat', 'snat: { address: 192.0.2.5 }') })).services[0]!;
    assert.ok(Object.isFrozen(a.snat) && Object.isFrozen(a.flowTimeouts));
    assert.notEqual(a.flowTimeouts, b.flowTimeouts);
    assert.notEqual(a.flowTimeouts, DEFAULTS.flowTimeouts);
    assert.ok(!Object.isFrozen(DEFAULTS.flowTimeouts) && !Object.isFrozen(DEFAULTS.snatPorts));
  });
});

describe('forwarding modes, IPv6 and full-NAT: one problem, right path and line, names the fix', () => {
  const S0 = 'services[0]';
  const FULLNAT = (snat: string) => withMode('fullnat', `snat: ${snat}`);
  const V6 = {
    6: "vip: '2001:db8::53'",
    12: '{ address: 2001:db8::11, port: 53 }',
    13: '{ address: 2001:db8::12, port: 53 }',
  };
  // prettier-ignore
  const cases: [title: string, input: Record<number, string | null> | string, path: string, line: number,
    fix: RegExp][] = [
    // vip and addresses
    ["vip '::'", { 6: "vip: '::'" }, `${S0}.vip`, 6,
      /^vip "::" is not a usable address \(it means "no address"\); to accept packets to any IPv6 address write vip: '\*' \(quoted\)$/],
    ['vip IPv6 multicast', { 6: 'vip: ff02::fb' }, `${S0}.vip`, 6,
      /"ff02::fb" is a multicast address \(ff00::\/8\): it names a group .*; use an IPv6 unicast address such as 2001:db8::10/],
    ['vip IPv4-mapped', { 6: "vip: '::ffff:192.0.2.1'" }, `${S0}.vip`, 6,
      /"::ffff:192\.0\.2\.1" is an IPv4-mapped IPv6 address .*write the plain IPv4 form: 192\.0\.2\.1$/],
    ['vip IPv4-mapped in hex', { 6: 'vip: ::FFFF:c000:0201' }, `${S0}.vip`, 6,
      /IPv4-mapped .*write the plain IPv4 form: 192\.0\.2\.1$/],
    ['vip bad IPv6', { 6: 'vip: fd00::1::2' }, `${S0}.vip`, 6,
      /"fd00::1::2" is not an IPv4 or IPv6 address; .*such as 2001:db8::10, or '\*' for any address$/],
    ["vip fd00:: unquoted (YAML)", { 6: 'vip: fd00::' }, '', 6,
      /YAML syntax error.*an IPv6 address ending in '::' must be quoted: write 'fd00::'$/],
    ["vip :: unquoted (YAML)", { 6: 'vip: ::' }, '', 6, /YAML syntax error.*write vip: '\*' \(quoted\)$/],
    ['backend IPv4-mapped', { 12: "{ address: '::ffff:198.51.100.1', port: 53, weight: 1 }" }, `${S0}.backends[0].address`,
      12, /backend address "::ffff:198\.51\.100\.1" is an IPv4-mapped .*plain IPv4 form: 198\.51\.100\.1$/],
    ["backend '::'", { ...V6, 12: "{ address: '::', port: 53, weight: 1 }" }, `${S0}.backends[0].address`, 12,
      /"::" is not a usable address: it means "no address" and is never a destination; use an IPv6 unicast address such as 2001:db8::10$/],
    ['backend IPv6 multicast', { ...V6, 13: '{ address: ff05::1:3, port: 53 }' }, `${S0}.backends[1].address`,
      13, /"ff05::1:3" is a multicast address \(ff00::\/8\)/],
    ['backend as an [IPv6]:port string', { 12: "'[fd00::1]:53'" }, `${S0}.backends[0]`, 12,
      /write it as \{ address: "fd00::1", port: 53 \}$/],
    // families
    ['IPv6 backend in an IPv4 service', { 13: '{ address: FD00::3, port: 53 }' }, `${S0}.backends[1].address`, 13,
      /^fd00::3 is IPv6 but service 'dns' is IPv4 \(vip 192\.0\.2\.1\): xlb does not translate between IPv4 and IPv6; use an IPv4 backend or an IPv6 vip$/],
    ['IPv4 backend in an IPv6 service', { ...V6, 12: '{ address: 198.51.100.1, port: 53 }' },
      `${S0}.backends[0].address`, 12,
      /^198\.51\.100\.1 is IPv4 but service 'dns' is IPv6 \(vip 2001:db8::53\): .*use an IPv6 backend or an IPv4 vip$/],
    ["vip '*' with backends of both families",
      { 17: "    backends: [{ address: 198.51.100.5, port: 123 }, { address: 'fd00::5', port: 123, weight: 1 }]" },
      'services[1].backends[1].address', 17,
      /^fd00::5 is IPv6 but backends\[0\] \(198\.51\.100\.5\) is IPv4: all backends .* one family \(with vip '\*'.*use an IPv4 backend, or move the IPv6 backends to a service of their own$/],
    ['snat address of the other family', { 10: FULLNAT("{ address: 'fd00::5' }") }, `${S0}.snat.address`, 11,
      /^fd00::5 is IPv6 but service 'dns' is IPv4 \(vip 192\.0\.2\.1\): the snat address must have the service's family.*use an IPv4 address of this load balancer$/],
    ["snat address of the other family, vip '*'",
      { 15: "    vip: '*'\n    mode: fullnat\n    snat: { address: 192.0.2.5 }",
        17: "    backends: [{ address: 'fd00::5', port: 123, weight: 1 }]" },
      'services[1].snat.address', 17,
      /192\.0\.2\.5 is IPv4 but service 'ntp' is IPv6 \(vip '\*', backends\[0\] is fd00::5\)/],
    // mode and snat
    ['unknown mode with a suggestion', { 10: 'mode: full-nat' }, `${S0}.mode`, 10,
      /unknown mode 'full-nat' \(did you mean 'fullnat'\?\); use 'local', 'nat', 'fullnat', 'dsr'$/],
    ['fullnat without snat', { 10: 'mode: fullnat' }, `${S0}.snat`, 5,
      /fullnat needs snat: \{ address: <an address of this load balancer>, ports: 20000-60000 \}/],
    ['snat with mode nat', { 10: withMode('nat', 'snat: { address: 192.0.2.5 }') }, `${S0}.snat`, 11,
      /^snat is only used by mode fullnat \(this service has mode nat\); remove it or set mode: fullnat$/],
    ['snat with the default mode', { 10: 'snat: { address: 192.0.2.5 }' }, `${S0}.snat`, 10,
      /\(this service has mode local\); remove it or set mode: fullnat$/],
    ['snat as an address string', { 10: FULLNAT('192.0.2.5') }, `${S0}.snat`, 11,
      /snat must be a mapping, got the string "192\.0\.2\.5"; write it as snat: \{ address: 192\.0\.2\.5 \}/],
    ['snat as a list', { 10: FULLNAT('[192.0.2.5]') }, `${S0}.snat`, 11,
      /snat must be a mapping like \{ address: 192\.0\.2\.1, ports: 20000-60000 \}, got a list$/],
    ['snat without address', { 10: FULLNAT('{ ports: 20000-60000 }') }, `${S0}.snat.address`, 11,
      /missing required key 'address'; add an address of this load balancer/],
    ["snat address '*'", { 10: FULLNAT("{ address: '*' }") }, `${S0}.snat.address`, 11,
      /'\*' \(any address\) is only allowed as a service vip/],
    ['snat unknown key', { 10: FULLNAT('{ address: 192.0.2.5, port: 20000-60000 }') }, `${S0}.snat.port`, 11,
      /unknown key 'port' in snat \(did you mean 'ports'\?\); remove it or use one of: address, ports$/],
    ['snat ports: 15 ports', { 10: FULLNAT('{ address: 192.0.2.5, ports: 20000-20014 }') }, `${S0}.snat.ports`,
      11, /20000-20014 hold 15 ports, fewer than 16: fullnat allocates one source port per flow.*20000-20015/],
    ['snat ports: one port', { 10: FULLNAT('{ address: 192.0.2.5, ports: 40000 }') }, `${S0}.snat.ports`, 11,
      /ports 40000 hold 1 port, fewer than 16: .*ports: 40000-40015/],
    ['snat ports: one port near the top', { 10: FULLNAT('{ address: 192.0.2.5, ports: 65535 }') },
      `${S0}.snat.ports`, 11, /ports: 65520-65535/],
    ['snat ports: reversed', { 10: FULLNAT('{ address: 192.0.2.5, ports: 60000-20000 }') }, `${S0}.snat.ports`,
      11, /60000-20000: the first port is above the last; write ports: 20000-60000$/],
    ['snat ports: below 1024', { 10: FULLNAT('{ address: 192.0.2.5, ports: 1000-2000 }') }, `${S0}.snat.ports`,
      11, /ports 1000-2000 are out of range: use ports from 1024 to 65535/],
    ['snat ports: above 65535', { 10: FULLNAT('{ address: 192.0.2.5, ports: 60000-70000 }') },
      `${S0}.snat.ports`, 11, /60000-70000 are out of range: use ports from 1024 to 65535/],
    ['snat ports: one privileged port', { 10: FULLNAT('{ address: 192.0.2.5, ports: 53 }') }, `${S0}.snat.ports`,
      11, /the snat port 53 is out of range; use an integer from 1024 to 65535/],
    ['snat ports: not a range', { 10: FULLNAT('{ address: 192.0.2.5, ports: many }') }, `${S0}.snat.ports`, 11,
      /must be a range LO-HI \(1024 <= LO <= HI <= 65535\), got the string "many"; e\.g\. ports: 20000-60000$/],
    // dsr backend ports
    ['dsr backend on another port', { 10: 'mode: dsr', 13: '{ address: 198.51.100.2, port: 5353 }' },
      `${S0}.backends[1].port`, 13,
      /^backend port 5353: dsr only rewrites MAC addresses: the backend must listen on the service port 53; remove port or set it to 53$/],
    ['nat backend without port', { 10: 'mode: nat', 13: '{ address: 198.51.100.2 }' }, `${S0}.backends[1].port`,
      13, /missing required key 'port'; .*\(only mode dsr may omit it\)$/],
    // flow_timeouts
    ['unreplied timeout 0', { 10: withMode('nat', 'flow_timeouts: { unreplied: 0 }') },
      `${S0}.flow_timeouts.unreplied`, 11, /unreplied timeout \(seconds\) 0 is out of range; use an integer from 1 to 65535$/],
    ['assured timeout 65536', { 10: withMode('nat', 'flow_timeouts: { assured: 65536 }') },
      `${S0}.flow_timeouts.assured`, 11, /assured timeout \(seconds\) 65536 is out of range; use an integer from 1 to 65535$/],
    ['timeout 1.5', { 10: withMode('nat', 'flow_timeouts: { unreplied: 1.5 }') },
      `${S0}.flow_timeouts.unreplied`, 11, /whole number .*got 1\.5; write a whole number such as 2$/],
    ['timeout as a string', { 10: withMode('nat', 'flow_timeouts: { assured: "120" }') },
      `${S0}.flow_timeouts.assured`, 11, /remove the quotes: 120$/],
    ['flow_timeouts typo', { 10: withMode('nat', 'flow_timeouts: { asured: 60 }') },
      `${S0}.flow_timeouts.asured`, 11,
      /unknown key 'asured' in flow_timeouts \(did you mean 'assured'\?\); remove it or use one of: unreplied, assured$/],
    ['flow_timeouts a number', { 10: withMode('nat', 'flow_timeouts: 30') }, `${S0}.flow_timeouts`, 11,
      /flow_timeouts must be a mapping like \{ unreplied: 30, assured: 120 \}, got the number 30$/],
    // duplicates
    ['same IPv6 vip written twice differently',
      { ...V6, 6: "vip: 'FD00::1'", 15: "vip: 'fd00:0::1'", 16: 'port: 53', 17: "    backends: [{ address: 'fd00::13', port: 53, weight: 1 }]" },
      'services[1]', 14, /\('dns'\) and services\[1\] \('ntp'\) both listen on \[fd00::1\]:53\/udp; change the vip/],
    ["two '*' IPv6 services on one port",
      { ...V6, 6: "vip: '*'", 16: 'port: 53', 17: "    backends: [{ address: 'fd00::13', port: 53, weight: 1 }]" },
      'services[1]', 14, /both listen on \[\*\]:53\/udp \(any IPv6 address\); change the vip or port/],
    ["two '*' IPv4 services on one port", { 6: "vip: '*'", 16: 'port: 53' }, 'services[1]', 14,
      /both listen on \*:53\/udp \(any IPv4 address\)/],
    ['same IPv6 backend written twice differently',
      { ...V6, 12: "{ address: 'FD00::1', port: 53, weight: 1 }", 13: "{ address: 'fd00:0::1', port: 53, weight: 1 }" },
      `${S0}.backends[1]`, 13, /^duplicate backend \[fd00::1\]:53 \(same as backends\[0\]\); remove one of them$/],
    ['dsr backend with and without the port', { 10: 'mode: dsr', 12: '{ address: 198.51.100.1 }',
      13: '{ address: 198.51.100.1, port: 53 }' }, `${S0}.backends[1]`, 13,
      /duplicate backend 198\.51\.100\.1:53 \(same as backends\[0\]\)/],
  ];
  for (const [title, input, path, line, fix] of cases) {
    test(title, () => {
      expectProblem(typeof input === 'string' ? input : edit(input), path, line, fix);
    });
  }

  test('the IPv6 base of the cases above is valid', () => {
    assert.equal(parseConfig(edit(V6)).services[0]!.family, 6);
  });

  test('a bad vip or mode does not cause follow-up problems', () => {
    // Unknown mode: backend ports and snat are not judged; bad vip: the backends still agree.
    const problems = problemsOf(() =>
      parseConfig(
        edit({
          6: 'vip: 192.0.2',
          10: withMode('fulnat', 'snat: { address: 192.0.2.5 }'),
          12: '{ address: 198.51.100.1 }',
        }),
      ),
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      [`${S0}.vip`, `${S0}.mode`],
    );
    // vip '*' whose only backend is bad: the family is unknown, so no duplicate '*' key is claimed.
    const more = problemsOf(() =>
      parseConfig(edit({ 6: "vip: '*'", 12: "'[fd00::1]:53'", 13: null, 16: 'port: 53' })),
    );
    assert.deepEqual(
      more.map((p) => p.path),
      [`${S0}.backends[0]`],
    );
  });

  test('validateConfig: the same rules, with paths and no lines', () => {
    const problems = problemsOf(() =>
      validateConfig({
        interface: 'lo',
        services: [
          {
            name: 'a',
            vip: '2001:db8::1',
            port: 53,
            mode: 'dsr',
            snat: { address: '2001:db8::2' },
            backends: [{ address: '198.51.100.1' }, { address: '2001:db8::3', port: 54, weight: 1 }],
          },
        ],
      }),
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['services[0].backends[1].port', undefined],
        ['services[0].snat', undefined],
        ['services[0].backends[0].address', undefined],
      ],
    );
    assert.match(problems[2]!.message, /^198\.51\.100\.1 is IPv4 but service 'a' is IPv6/);
  });
});

describe('fast path (js-yaml) and slow path (yaml, with lines) agree', () => {
  test('valid configurations give the same Config both ways', async () => {
    const { parse } = await import('yaml');
    const texts = [
      DEFAULT_CONFIG_YAML,
      [
        'interfaces: [eth0, eth1]',
        'xdp_mode: native',
        'flow_table_size: 4096',
        'services:',
        '  - { name: a, vip: "fd00::1", port: 53, mode: fullnat, snat: { address: "fd00::2", ports: 30000-30100 }, backends: [{ address: "FD00::0:3", port: 53 }] }',
        '  - { name: b, vip: "*", port: 54, mode: dsr, flow_timeouts: { unreplied: 5 }, backends: [{ address: 198.51.100.1 }] }',
        '  - { name: c, vip: 192.0.2.1, port: 55, backends: [] }',
        '',
      ].join('\n'),
    ];
    for (const text of texts) assert.deepEqual(parseConfig(text), validateConfig(parse(text)));
  });

  test('a hex integer is read the same both ways', () => {
    const text = 'interface: lo\nservices:\n  - { name: a, vip: 192.0.2.1, port: 0x35, backends: [] }\n';
    assert.equal(parseConfig(text).services[0]!.port, 53);
  });

  test('numbers not written as plain integers take the slow path and get its message and line', () => {
    for (const [value, re] of [
      ['53.0', /services\[0\]\.port/],
      ['.inf', /services\[0\]\.port/],
    ] as const) {
      const text = `interface: lo\nservices:\n  - name: a\n    vip: 192.0.2.1\n    port: ${value}\n    backends: []\n`;
      assert.throws(
        () => parseConfig(text, 'f.yaml'),
        (e: unknown) => e instanceof ConfigError && re.test(e.message) && /^f\.yaml:5: /.test(e.message),
        value,
      );
    }
  });
});
