// Interface names: one rule (src/util/ifname.ts, the kernel's dev_valid_name plus no control
// characters) wherever a name enters: the config, `xlb run/demo --iface`, and ifindexOf, which
// refuses a bad name before C sees it ('lo\0x' would otherwise find 'lo').
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, LIMITS, parseConfig, validateConfig } from '../../src/model/config.js';
import { ifaceOption } from '../../src/cli/common/run.js';
import { UsageError } from '../../src/cli/common/args.js';
import { InvalidInterfaceNameError } from '../../src/kernel/errors.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { IFNAME_MAX_BYTES, interfaceNameProblem } from '../../src/util/ifname.js';

const RULE =
  "Linux interface names are 1 to 15 bytes, contain no '/', ':', whitespace or control characters and are not '.' or '..'";

// [name, why it is refused]
const BAD: [string, string][] = [
  ['lo\0x', 'it contains the control character U+0000 (NUL, where a C string ends)'],
  ['\0', 'it contains the control character U+0000 (NUL, where a C string ends)'],
  ['eth0\n', 'it contains the control character U+000A'],
  ['eth\t0', 'it contains the control character U+0009'],
  ['eth0\x1b[31m', 'it contains the control character U+001B'],
  ['eth0\x7f', 'it contains the control character U+007F'],
  ['eth0\x85', 'it contains the control character U+0085'],
  ['', 'it is empty'],
  ['a'.repeat(16), 'it is 16 bytes long'],
  ['é'.repeat(8), 'it is 16 bytes long'],
  ['.', "'.' names a directory"],
  ['..', "'..' names a directory"],
  ['eth0/1', "it contains '/'"],
  ['eth0:1', "it contains ':'"],
  ['eth 0', 'it contains a space'],
  ['eth\u00a00', 'it contains the whitespace character U+00A0'],
];
const GOOD = ['lo', 'eth0', 'a'.repeat(15), 'é'.repeat(7), 'vlan.10', 'br-lan', 'wg_0', '...', 'ÿ'];

describe('interface names', () => {
  test('the predicate: the kernel rule, and no control characters', () => {
    assert.equal(IFNAME_MAX_BYTES, 15);
    assert.equal(LIMITS.maxInterfaceNameLength, IFNAME_MAX_BYTES);
    for (const [name, why] of BAD)
      assert.equal(interfaceNameProblem(name), `${why}; ${RULE}`, JSON.stringify(name));
    for (const name of GOOD) assert.equal(interfaceNameProblem(name), undefined, JSON.stringify(name));
  });

  test('the config: interface and interfaces refuse them, with the fix', () => {
    for (const [name, why] of BAD) {
      const shown = JSON.stringify(name);
      for (const [input, path] of [
        [{ interface: name, services: [] }, 'interface'],
        [{ interfaces: ['lo', name], services: [] }, 'interfaces[1]'],
      ] as const) {
        assert.throws(
          () => validateConfig(input),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.problems.length === 1 &&
            e.problems[0]?.path === path &&
            e.problems[0].message ===
              `invalid interface name ${shown}: ${why}; ${RULE}; use a name shown by 'ip link'`,
          shown,
        );
      }
    }
    // From YAML: a NUL and a tab written as escapes, with the line.
    for (const written of ['"lo\\0x"', '"lo\\tx"', '"lo\\x85"']) {
      assert.throws(
        () => parseConfig(`services: []\ninterface: ${written}\n`, 'f.yaml'),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^f\.yaml:2: interface: invalid interface name .*control character/.test(e.message),
        written,
      );
    }
    for (const name of GOOD)
      assert.deepEqual(validateConfig({ interface: name, services: [] }).interfaces, [name]);
  });

  test('xlb run/demo --iface: refused before anything is loaded', () => {
    for (const [name, why] of BAD) {
      assert.throws(
        () => ifaceOption(['lo', name]),
        (e: unknown) =>
          e instanceof UsageError &&
          e.message === `--iface ${JSON.stringify(name)}: ${why}; ${RULE}; use a name shown by 'ip link'`,
      );
    }
    assert.deepEqual(ifaceOption(GOOD), GOOD);
    assert.equal(ifaceOption(undefined), undefined);
  });

  test('ifindexOf refuses them before calling into C (lo\\0x would find lo)', () => {
    for (const [name, why] of BAD) {
      assert.throws(
        () => ifindexOf(name),
        (e: unknown) =>
          e instanceof InvalidInterfaceNameError &&
          e.ifname === name &&
          e.message ===
            `invalid interface name ${JSON.stringify(name)}: ${why}; ${RULE}; \`ip link\` lists the interfaces`,
      );
    }
  });
});
