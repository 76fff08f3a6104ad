// An instance's owner is alive only while the very process that wrote the state lives: a
// zombie, or another process that got the same pid later, must not keep an instance taken.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ownedByOther, stateFrom } from '../../src/control/instance.js';
import { instancePaths, ownerAlive, selfId } from '../../src/util/host.js';

const startOf = (pid: number): string => {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
};

describe('owner liveness', () => {
  it('this process is alive, with or without its start time', () => {
    assert.equal(ownerAlive(selfId()), true);
    assert.equal(ownerAlive({ pid: process.pid }), true);
    assert.ok(selfId().start, 'the start time is read from /proc');
  });

  it('a pid that now belongs to another process (other start time) is not the owner', () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      assert.equal(ownerAlive({ pid, start: startOf(pid) }), true);
      assert.equal(ownerAlive({ pid, start: String(Number(startOf(pid)) - 1) }), false);
      assert.equal(ownedByOther({ pid, pidStart: '1' }), false);
      assert.equal(ownedByOther({ pid, pidStart: startOf(pid) }), true);
    } finally {
      child.kill();
    }
  });

  it('a zombie is not alive', async () => {
    // sh starts a short sleep in the background and execs a long one, which never reaps it.
    const r = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = Number(
        await new Promise<string>((resolve) =>
          r.stdout.once('data', (d: Buffer) => resolve(String(d).trim())),
        ),
      );
      for (let i = 0; i < 100 && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'; i++) {
        spawnSync('sleep', ['0.02']);
      }
      assert.equal(
        readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0],
        'Z',
        'the child is a zombie',
      );
      assert.equal(ownerAlive({ pid }), false);
    } finally {
      r.kill();
    }
  });

  it('a pid that does not exist, or is no pid, is not alive', () => {
    assert.equal(ownerAlive({ pid: 2 ** 22 + 7 }), false);
    assert.equal(ownerAlive({ pid: 0 }), false);
    assert.equal(ownerAlive({ pid: -1 }), false);
  });

  it('the state file keeps the owner start time; an older file without it still reads', () => {
    const s = stateFrom({ format: 1, pid: 42, pidStart: '123', services: [], interfaces: [] }, 'x');
    assert.equal(s?.pidStart, '123');
    const old = stateFrom({ pid: 42, startedAt: 'then', services: [], interfaces: [] }, 'x');
    assert.equal(old?.pidStart, undefined);
    assert.equal(old?.daemon, undefined);
    assert.equal(stateFrom('garbage', 'x'), undefined);
  });

  it('instance names cannot escape their directories', () => {
    assert.throws(() => instancePaths('../etc'), /instance name '..\/etc' is invalid/);
    assert.throws(() => instancePaths('..'), /is invalid/);
    assert.match(instancePaths('a.b-c_1').socket, /a\.b-c_1\.sock$/);
  });
});
