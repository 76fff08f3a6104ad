// The API's changes as typed edits (src/daemon/mutations.ts): each validates the one service
// it changes and refuses without touching the configuration it was given.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/daemon/contract.js';
import * as edit from '../../src/daemon/mutations.js';
import { parseConfig } from '../../src/model/config.js';

const base = parseConfig(`
interface: eth0
services:
  - name: rr
    vip: 192.0.2.10
    port: 53
    mode: nat
    scheduler: round-robin
    backends: [{ address: 198.51.100.11, port: 53 }, { address: 198.51.100.12, port: 53 }]
  - name: mg
    vip: 192.0.2.10
    port: 54
    mode: nat
    backends: [{ address: 198.51.100.11, port: 54 }]
`);

const refused = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ApiError, String(e));
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

describe('API mutations', () => {
  it('never take an exec health check: XLB_FORBIDDEN, nothing changed', () => {
    const input = { name: 'x', vip: '192.0.2.20', port: 9, health: { type: 'exec', command: ['id'] } };
    assert.throws(
      () => edit.addService(base, input, 'api'),
      refused('XLB_FORBIDDEN', /only be configured in the config file/),
    );
    assert.equal(base.services.length, 2);
  });

  it('add a service, validated alone and against the others', () => {
    const next = edit.addService(base, { name: 'x', vip: '192.0.2.20', port: 9 }, 'api');
    assert.deepEqual(
      next.services.map((s) => s.name),
      ['rr', 'mg', 'x'],
    );
    assert.equal(base.services.length, 2, 'the given configuration is untouched');
    assert.throws(
      () => edit.addService(base, { name: 'rr', vip: '192.0.2.20', port: 9 }, 'api'),
      refused('XLB_CONFLICT'),
    );
    assert.throws(
      () => edit.addService(base, { name: 'y', vip: '192.0.2.10', port: 53 }, 'api'),
      refused('XLB_INVALID_CONFIG', /already listens on 192\.0\.2\.10:53\/udp/),
    );
    assert.throws(
      () => edit.addService(base, { name: 'y', vip: '192.0.2.20', port: 70000 }, 'api'),
      refused('XLB_INVALID_CONFIG', /services\[2\]\.port/),
    );
  });

  it('a backend twice is a conflict, told by the problem code', () => {
    assert.throws(
      () => edit.addBackend(base, 'rr', { address: '198.51.100.11', port: 53 }, 'api'),
      refused('XLB_CONFLICT', /already has backend/),
    );
    const next = edit.addBackend(base, 'rr', { address: '198.51.100.13', port: 53 }, 'api');
    assert.equal(next.services[0]?.backends.length, 3);
  });

  it('weights are checked with the scheduler; unknown services and backends are not found', () => {
    assert.throws(
      () => edit.setWeight(base, 'rr', '198.51.100.11:53', 2, 'api'),
      refused('XLB_INVALID_CONFIG', /round-robin gives every backend the same share/),
    );
    assert.equal(
      edit.setWeight(base, 'mg', '198.51.100.11:54', 7, 'api').services[1]?.backends[0]?.weight,
      7,
    );
    assert.throws(() => edit.setWeight(base, 'nope', '198.51.100.11:54', 1, 'api'), refused('XLB_NOT_FOUND'));
    assert.throws(() => edit.removeBackend(base, 'rr', '198.51.100.99:53'), refused('XLB_NOT_FOUND'));
    assert.equal(edit.removeService(base, 'mg').services.length, 1);
  });
});
