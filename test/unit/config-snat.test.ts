// A fullnat service's source ports may hold no port of a service that listens on its snat
// address (that vip, or "*" of its family): services are looked up before reply translations,
// so such a service would take the backends' replies for new requests. Refused both ways (the
// range covers a service; a service's port lies in a range), by the whole-config validation
// (with lines) and by serviceConflicts (the API's path), in IPv4 and IPv6.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, validateConfig, validateService } from '../../src/model/config.js';
import { serviceConflicts } from '../../src/model/config-conflicts.js';
import type { ConfigProblem } from '../../src/model/config.js';

const FAMILIES = {
  4: {
    vip: '192.0.2.1',
    other: '192.0.2.2',
    snat: '192.0.2.9',
    backend: '198.51.100.1',
    otherFamily: 'fd00::5',
  },
  6: {
    vip: 'fd00::1',
    other: 'fd00::2',
    snat: 'fd00::9',
    backend: 'fd00:198::1',
    otherFamily: '198.51.100.5',
  },
} as const;

/** Services as the config writes them: the fullnat one with ports 20000-20999, and a listener. */
function fullnat(f: 4 | 6, name = 'front'): Record<string, unknown> {
  const a = FAMILIES[f];
  return {
    name,
    vip: a.vip,
    port: 53,
    mode: 'fullnat',
    snat: { address: a.snat, ports: '20000-20999' },
    backends: [{ address: a.backend, port: 53 }],
  };
}
function listener(f: 4 | 6, vip: string, port: number, name = 'other'): Record<string, unknown> {
  // A '*' service takes its family from its backends.
  return { name, vip, port, backends: [{ address: FAMILIES[f].backend, port: 53 }] };
}

const yamlOf = (services: Record<string, unknown>[]): string =>
  `interface: lo\nservices:\n${services.map((s) => `  - ${JSON.stringify(s)}`).join('\n')}\n`;

function problemsOf(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return [];
}

describe('fullnat source ports and the services that listen on the snat address', () => {
  for (const f of [4, 6] as const) {
    const a = FAMILIES[f];
    const v = `IPv${f}`;
    const catching: [string, string, number][] = [
      ["vip '*' of the family", '*', 20500],
      ['vip the snat address', a.snat, 20000],
      ['vip the snat address, the last port', a.snat, 20999],
    ];
    for (const [what, vip, port] of catching) {
      const other = listener(f, vip, port);
      for (const [order, services, at] of [
        ['fullnat first', [fullnat(f), other], 0],
        ['fullnat second', [other, fullnat(f)], 1],
      ] as const) {
        test(`${v}, ${what}, ${order}: refused at the fullnat service's snat ports, with its line`, () => {
          for (const problems of [
            problemsOf(() => parseConfig(yamlOf([...services]), 'f.yaml')),
            problemsOf(() => validateConfig({ interface: 'lo', services })),
          ]) {
            assert.equal(problems.length, 1, problems.map((p) => p.message).join('\n'));
            const p = problems[0]!;
            assert.equal(p.code, 'conflict');
            assert.equal(p.path, `services[${at}].snat.ports`);
            assert.ok(p.line === undefined || p.line === 3 + at);
            const star = vip === '*' ? `vip '\\*', any IPv${f} address` : `vip ${vip}`;
            assert.match(
              p.message,
              new RegExp(
                `^snat ports 20000-20999 \\(address ${a.snat}\\) of 'front' include port ${port} of 'other' \\(${star}\\): ` +
                  `the data plane looks services up before reply translations, so a backend reply that drew port ${port} ` +
                  `would go to 'other' as a new request; use a range without it, e\\.g\\. ports: \\d+-\\d+, or move 'other' to another port$`,
              ),
            );
          }
        });
      }

      test(`${v}, ${what}: serviceConflicts refuses adding either one to the other`, () => {
        const withFullnat = validateConfig({ interface: 'lo', services: [fullnat(f)] });
        const withOther = validateConfig({ interface: 'lo', services: [other] });
        // The listener added to a config with the fullnat service: its port is the problem.
        const p1 = serviceConflicts(withFullnat, validateService(other));
        assert.deepEqual(
          p1.map((p) => [p.path, p.code]),
          [['services[1].port', 'conflict']],
        );
        assert.match(
          p1[0]!.message,
          new RegExp(
            `^port ${port} of 'other' \\(.*\\) lies in the snat ports 20000-20999 \\(address ${a.snat}\\) of 'front': .*` +
              `use a port outside 20000-20999, or give 'front' a range without ${port}, e\\.g\\. ports: \\d+-\\d+$`,
          ),
        );
        // The fullnat service added to a config with the listener: its range is the problem.
        const p2 = serviceConflicts(withOther, validateService(fullnat(f)));
        assert.deepEqual(
          p2.map((p) => [p.path, p.code]),
          [['services[1].snat.ports', 'conflict']],
        );
        assert.match(p2[0]!.message, new RegExp(`include port ${port} of 'other'`));
        // Replacing the listener by one on a free port, or the fullnat service by one with a free range.
        const both = validateConfig({ interface: 'lo', services: [fullnat(f), listener(f, vip, 21000)] });
        assert.deepEqual(serviceConflicts(both, validateService(other), 'other').length, 1);
        assert.deepEqual(serviceConflicts(both, validateService(listener(f, vip, 19999)), 'other'), []);
        assert.deepEqual(
          serviceConflicts(
            withOther,
            validateService({ ...fullnat(f), snat: { address: a.snat, ports: '30000-30999' } }),
          ),
          [],
        );
      });
    }

    test(`${v}: listeners that cannot catch the replies are accepted`, () => {
      const fine = [
        fullnat(f),
        listener(f, a.other, 20500, 'exact-elsewhere'), // another address
        listener(f, a.snat, 21000, 'outside-range'), // the snat address, outside the range
        listener(f === 4 ? 6 : 4, '*', 20500, 'other-family'), // '*' of the other family
      ];
      assert.doesNotThrow(() => parseConfig(yamlOf(fine)));
      const config = validateConfig({ interface: 'lo', services: [fullnat(f)] });
      for (const s of fine.slice(1)) assert.deepEqual(serviceConflicts(config, validateService(s)), []);
    });

    test(`${v}: a fullnat service whose own vip and port lie in its range catches its own replies`, () => {
      const self = { ...fullnat(f), vip: a.snat, port: 20100 };
      const problems = problemsOf(() => parseConfig(yamlOf([self]), 'f.yaml'));
      assert.deepEqual(
        problems.map((p) => [p.path, p.line, p.code]),
        [['services[0].snat.ports', 3, 'conflict']],
      );
      assert.match(
        problems[0]!.message,
        /include port 20100 of 'front' itself .*or move 'front' to another port$/,
      );
      const empty = validateConfig({ interface: 'lo', services: [] });
      assert.deepEqual(
        serviceConflicts(empty, validateService(self)).map((p) => p.path),
        ['services[0].snat.ports'],
      );
    });
  }

  test('several caught services: the first three named, the others counted, the widest free range offered', () => {
    const services = [
      fullnat(4),
      ...[20100, 20200, 20300, 20900].map((p, i) => listener(4, '*', p, `s${i}`)),
    ];
    const problems = problemsOf(() => validateConfig({ interface: 'lo', services }));
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!.message,
      /include port 20100 of 's0' .*, port 20200 of 's1' .*, port 20300 of 's2' \(.*\) and 1 more: .*one of these ports would go to that service as a new request; use a range without them, e\.g\. ports: 20301-20899, or move those services to other ports$/,
    );
  });
});
