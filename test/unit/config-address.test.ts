// Addresses that cannot work: refused everywhere (0.0.0.0/8, ::, 240/4, the broadcast address,
// multicast, IPv6 link-local), or in the routed modes only (loopback), each with the reason and
// what to use instead; loopback stays local mode's normal case. In files, and on the API's path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/daemon/contract.js';
import * as edit from '../../src/daemon/mutations.js';
import { ConfigError, parseConfig, validateService } from '../../src/model/config.js';
import { classifyAddress, type AddressKind } from '../../src/model/config-schema.js';
import { problemsOf } from '../helpers/config-problems.js';

type Mode = 'local' | 'nat' | 'fullnat' | 'dsr';
const ROUTED: Mode[] = ['nat', 'fullnat', 'dsr'];

/** One service in `mode`; the addresses (IPv4 or IPv6 alike) default to TEST-NET / fd00::/8. */
function yaml(mode: Mode, a: { vip?: string; backend?: string; snat?: string; v6?: boolean } = {}): string {
  const q = (s: string) => `'${s}'`;
  const vip = a.vip ?? (a.v6 ? 'fd00::10' : '192.0.2.10');
  const backend = a.backend ?? (a.v6 ? 'fd00::11' : '198.51.100.11');
  const snat = a.snat ?? (a.v6 ? 'fd00::1' : '198.51.100.1');
  return [
    'interface: eth0',
    'services:',
    '  - name: s',
    `    vip: ${q(vip)}`,
    '    port: 53',
    `    mode: ${mode}`,
    ...(mode === 'fullnat' ? [`    snat: { address: ${q(snat)} }`] : []),
    `    backends: [{ address: ${q(backend)}, port: 53 }]`,
    '',
  ].join('\n');
}

/** Exactly one problem, at `path` (line given by the generator's layout), matching every pattern. */
function refused(text: string, path: string, ...patterns: RegExp[]): void {
  const ps = problemsOf(text, 't.yaml');
  assert.equal(ps.length, 1, ps.map((p) => `${p.path}: ${p.message}`).join('\n'));
  const p = ps[0]!;
  assert.equal(p.path, path, p.message);
  assert.equal(p.code, 'invalid');
  const line = text
    .split('\n')
    .findIndex((l) =>
      l.includes(path.endsWith('vip') ? 'vip:' : path.includes('snat') ? 'snat:' : 'backends:'),
    );
  assert.equal(p.line, line + 1, 'the line of the address');
  for (const re of patterns) assert.match(p.message, re);
}

const at = (role: 'vip' | 'backend' | 'snat'): string =>
  role === 'vip'
    ? 'services[0].vip'
    : role === 'snat'
      ? 'services[0].snat.address'
      : 'services[0].backends[0].address';

describe('addresses: the classes', () => {
  test('each address falls in its class', () => {
    const cases: [string, AddressKind][] = [
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'this-network'],
      ['0.255.255.255', 'this-network'],
      ['1.0.0.0', 'unicast'],
      ['126.255.255.255', 'unicast'],
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['128.0.0.0', 'unicast'],
      ['169.254.1.1', 'unicast'],
      ['223.255.255.255', 'unicast'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.255', 'multicast'],
      ['240.0.0.0', 'reserved'],
      ['255.255.255.254', 'reserved'],
      ['255.255.255.255', 'broadcast'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::2', 'unicast'],
      ['1::1', 'unicast'],
      ['fe80::1', 'link-local'],
      ['febf:ffff::1', 'link-local'],
      ['fec0::1', 'unicast'],
      ['fe7f::1', 'unicast'],
      ['fd00::1', 'unicast'],
      ['ff02::1', 'multicast'],
      ['::ffff:192.0.2.1', 'v4mapped'],
    ];
    for (const [a, kind] of cases) assert.equal(classifyAddress(a).kind, kind, a);
  });
});

describe('addresses no mode can use: refused with the reason and the fix', () => {
  const cases: [what: string, address: string, v6: boolean, why: RegExp][] = [
    [
      '0.0.0.0/8',
      '0.1.2.3',
      false,
      /is in 0\.0\.0\.0\/8 \("this network", RFC 1122\), which is never a destination: Linux drops packets to or from it as martians; use an IPv4 unicast address such as 192\.0\.2\.10/,
    ],
    [
      '240/4',
      '240.0.0.1',
      false,
      /is in 240\.0\.0\.0\/4, reserved for future use \(RFC 1112\): routers do not forward it and most systems drop packets to or from it; use an IPv4 unicast address such as 192\.0\.2\.10/,
    ],
    ['255.255.255.254 (240/4)', '255.255.255.254', false, /is in 240\.0\.0\.0\/4/],
    [
      'broadcast',
      '255.255.255.255',
      false,
      /is the broadcast address: it reaches every host of a link and is never routed; use an IPv4 unicast address/,
    ],
    [
      'IPv4 multicast',
      '224.0.0.5',
      false,
      /is a multicast address \(224\.0\.0\.0\/4\): it names a group of receivers, not one host, and xlb balances and answers unicast datagrams only; use an IPv4 unicast/,
    ],
    [
      'IPv6 multicast',
      'ff02::1',
      true,
      /is a multicast address \(ff00::\/8\): it names a group of receivers, not one host.*; use an IPv6 unicast address such as 2001:db8::10/,
    ],
    [
      'IPv6 link-local',
      'fe80::1',
      true,
      /is an IPv6 link-local address \(fe80::\/10\): it names a host only together with an interface \(fe80::1%eth0\), and a config has no scope to give it; use a global or unique local address \(fd00::\/8\) such as fd00::10/,
    ],
    ['IPv6 link-local, upper end', 'febf::1', true, /link-local address \(fe80::\/10\)/],
    ['0.0.0.0', '0.0.0.0', false, /is not a usable address/],
    ['::', '::', true, /is not a usable address/],
  ];
  for (const [what, address, v6, why] of cases) {
    test(`${what} (${address}): as vip, backend and snat address, in every mode`, () => {
      for (const mode of ['local', ...ROUTED] as Mode[]) {
        for (const role of ['vip', 'backend', 'snat'] as const) {
          if (role === 'snat' && mode !== 'fullnat') continue;
          const text = yaml(mode, { v6, [role]: address });
          const named = role === 'vip' ? 'vip' : `${role} address`;
          refused(text, at(role), new RegExp(`^${named} "${address.replace(/\./g, '\\.')}"`), why);
        }
      }
    });
  }
  test("the vip 0.0.0.0 or :: points to '*'", () => {
    refused(
      yaml('nat', { vip: '0.0.0.0' }),
      'services[0].vip',
      /to accept packets to any address write vip: '\*' \(quoted\)$/,
    );
    refused(yaml('local', { vip: '::', v6: true }), 'services[0].vip', /any IPv6 address write vip: '\*'/);
  });
});

describe('loopback: local mode only', () => {
  test('local: a loopback vip and loopback backends, IPv4 (all of 127/8) and IPv6, are accepted', () => {
    for (const [vip, backend] of [
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.53', '127.1.2.3'],
      ['192.0.2.10', '127.0.0.1'],
      ['::1', '::1'],
      ['fd00::10', '::1'],
    ] as const) {
      const c = parseConfig(yaml('local', { vip, backend, v6: vip.includes(':') }), 't.yaml');
      assert.equal(c.services[0]!.backends[0]!.address, backend);
    }
  });

  const reasons = {
    vip: /^vip (127\.0\.0\.1|::1) is a loopback address \((127\.0\.0\.0\/8|::1)\): mode (nat|fullnat|dsr) forwards packets to backends on other hosts, and Linux never routes a packet to or from a loopback address; use an address of this host that clients reach \(or '\*'\), or mode local for backends on this host$/,
    backend:
      /^backend address (127\.1\.2\.3|::1) is a loopback address \((127\.0\.0\.0\/8|::1)\): mode (nat|fullnat|dsr) sends packets through the network to the backend, and Linux never routes a packet to or from a loopback address; use the backend's address on the network, or mode local for sockets on this host$/,
    snat: /^snat address (127\.0\.0\.1|::1) is a loopback address \((127\.0\.0\.0\/8|::1)\): the backends must reply to it through the network, and Linux never routes a packet to or from a loopback address; use an address of this load balancer that the backends reach$/,
  };
  for (const mode of ROUTED) {
    test(`${mode}: a loopback vip, backend or snat address is refused, IPv4 and IPv6`, () => {
      for (const v6 of [false, true]) {
        refused(
          yaml(mode, { v6, vip: v6 ? '::1' : '127.0.0.1' }),
          at('vip'),
          reasons.vip,
          new RegExp(`mode ${mode} `),
        );
        refused(yaml(mode, { v6, backend: v6 ? '::1' : '127.1.2.3' }), at('backend'), reasons.backend);
        if (mode === 'fullnat')
          refused(yaml(mode, { v6, snat: v6 ? '::1' : '127.0.0.1' }), at('snat'), reasons.snat);
      }
    });
  }

  test('every loopback address of a service is named, each at its line', () => {
    const text = [
      'interface: eth0',
      'services:',
      '  - name: s',
      '    vip: 127.0.0.1',
      '    port: 53',
      '    mode: fullnat',
      '    snat: { address: 127.0.0.2 }',
      '    backends:',
      '      - { address: 198.51.100.1, port: 53 }',
      '      - { address: 127.0.0.3, port: 53 }',
      '',
    ].join('\n');
    assert.deepEqual(
      problemsOf(text, 't.yaml').map((p) => [p.path, p.line]),
      [
        ['services[0].vip', 4],
        ['services[0].snat.address', 7],
        ['services[0].backends[1].address', 10],
      ],
    );
  });

  test("the API's path: a service or a backend on loopback in nat is refused, nothing changed", () => {
    assert.throws(
      () =>
        validateService({
          name: 's',
          vip: '192.0.2.10',
          port: 53,
          mode: 'dsr',
          backends: [{ address: '127.0.0.1' }],
        }),
      (e: unknown) => e instanceof ConfigError && e.problems[0]?.path === 'backends[0].address',
    );
    const config = parseConfig(yaml('nat'), 't.yaml');
    const before = structuredClone(config);
    const apiRefusal = (e: unknown): boolean => {
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.code, 'XLB_INVALID_CONFIG');
      assert.match(e.message, /is a loopback address \(127\.0\.0\.0\/8\): mode nat /);
      return true;
    };
    assert.throws(
      () => edit.addBackend(config, 's', { address: '127.0.0.1', port: 53 }, 'add backend'),
      apiRefusal,
    );
    assert.throws(
      () => edit.addService(config, { name: 't', vip: '127.0.0.1', port: 54, mode: 'nat' }, 'add service'),
      apiRefusal,
    );
    assert.deepEqual(config, before);
    // The same backend on a local service is its normal case.
    const local = parseConfig(yaml('local'), 't.yaml');
    assert.equal(
      edit.addBackend(local, 's', { address: '127.0.0.1', port: 5301 }, 'add').services[0]!.backends.length,
      2,
    );
  });
});
