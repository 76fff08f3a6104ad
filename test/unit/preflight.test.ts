// Warnings about the host: IP forwarding off where routed modes need it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardingWarnings } from '../../src/control/preflight.js';
import { parseConfig } from '../../src/model/config.js';

const config = parseConfig(`
interfaces: [eth0, eth1]
services:
  - { name: a, vip: 192.0.2.1, port: 53, mode: nat, backends: [{ address: 198.51.100.1, port: 53 }] }
  - { name: b, vip: "fd00::1", port: 53, mode: dsr, backends: [{ address: "fd00::2" }] }
  - { name: c, vip: 192.0.2.1, port: 54, backends: [{ address: 192.0.2.1, port: 5354 }] }
`);

describe('forwardingWarnings', () => {
  it('names the interface, family, services and the sysctl that fixes it', () => {
    const off = new Set([
      '/proc/sys/net/ipv4/conf/eth1/forwarding',
      '/proc/sys/net/ipv6/conf/eth0/forwarding',
    ]);
    const w = forwardingWarnings(config, ['eth0', 'eth1'], (p) => (off.has(p) ? '0' : '1'));
    assert.deepEqual(w.length, 2, w.join('\n'));
    assert.match(w[0]!, /^IPv6 forwarding is off on eth0: services b cannot route/);
    assert.match(w[0]!, /sysctl -w net\.ipv6\.conf\.eth0\.forwarding=1$/);
    assert.match(w[1]!, /^IPv4 forwarding is off on eth1: services a cannot/);
  });

  it('is silent when forwarding is on, for lo, and for local-only configs', () => {
    assert.deepEqual(
      forwardingWarnings(config, ['eth0', 'eth1'], () => '1'),
      [],
    );
    assert.deepEqual(
      forwardingWarnings(config, ['lo'], () => '0'),
      [],
    );
    const local = parseConfig(
      'interface: eth0\nservices:\n  - { name: c, vip: 192.0.2.1, port: 54, backends: [] }\n',
    );
    assert.deepEqual(
      forwardingWarnings(local, ['eth0'], () => '0'),
      [],
    );
  });
});
