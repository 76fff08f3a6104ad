// The tutorial's setup end to end, with real sockets, in a network namespace of the
// test's own (its own lo): `xlb run` on the built-in config, the three echo backends,
// clients sending to 127.0.0.1:9875. Round-robin must spread evenly, every echo must
// come back from 127.0.0.1:9875, and stopping xlb must leave nothing behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { instancePaths } from '../../src/util/host.js';
import type { StatsSnapshot } from '../../src/control/stats.js';
import { nsSh, sh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript } from '../helpers/proc.js';

const PREFIX = 'xlbt-';

describe('local mode on lo: the tutorial setup', { skip: rootSkip() }, () => {
  const ns = netnsName(PREFIX, 'lo');
  const instance = `test-lo-${process.pid}`;
  const procs: Proc[] = [];
  let xlb: Proc;
  let echo: Proc;
  let mapIds: number[] = [];

  before(async () => {
    removeStaleNetns(PREFIX);
    createNetns(ns);
    echo = Proc.start(ns, process.execPath, [
      CLI,
      'echo-server',
      '--port',
      '9876',
      '--port',
      '9877',
      '--port',
      '9878',
    ]);
    procs.push(echo);
    await echo.waitFor(/^listening on/);
    xlb = Proc.start(ns, process.execPath, [CLI, 'run', '--instance', instance, '--interval', '0']);
    procs.push(xlb);
    await xlb.waitFor(/^xlb: attached to lo \(generic\)/);
  });

  after(async () => {
    for (const p of procs) await p.stop(); // SIGTERM: xlb run removes its pins
    deleteNetns(ns);
  });

  it('spreads 3,000 datagrams from 8 sockets evenly, and every echo comes from 127.0.0.1:9875', async () => {
    const out = nsSh(ns, process.execPath, [
      helperScript('udp-client-cli.js'),
      '127.0.0.1',
      '9875',
      '3000',
      '8',
    ]);
    const r = JSON.parse(out) as RoundTripResult;
    assert.equal(r.sent, 3000);
    assert.equal(r.lost, 0, 'no datagram lost on lo');
    assert.equal(r.mismatched, 0);
    assert.deepEqual(
      r.replySources,
      { '127.0.0.1:9875': 3000 },
      'replies translated back to the service port',
    );

    const stats = JSON.parse(
      nsSh(ns, process.execPath, [CLI, 'stats', '--instance', instance, '--json']),
    ) as StatsSnapshot;
    const svc = stats.services[0]!;
    assert.equal(svc.packets, 3000);
    for (const b of svc.backends) {
      // Round-robin: each backend within ±1% of a third.
      assert.ok(Math.abs(b.packets - 1000) <= 10, `backend ${b.port} got ${b.packets} of 3000`);
    }
    assert.equal(stats.reasons.local.packets, 3000);
    assert.equal(stats.reasons.reply.packets, 3000);

    // The echo servers saw what the counters say.
    await echo.waitForCount(/^port \d+: /, 3000);
    const perPort = new Map<number, number>();
    for (const line of echo.lines) {
      const m = /^port (\d+): /.exec(line);
      if (m) perPort.set(Number(m[1]), (perPort.get(Number(m[1])) ?? 0) + 1);
    }
    for (const b of svc.backends) assert.equal(perPort.get(b.port), b.packets, `echo server on ${b.port}`);

    const { pinDir } = instancePaths(instance);
    mapIds = ['services', 'rev_nat', 'stats_backend'].map(
      (m) =>
        (JSON.parse(sh('bpftool', ['-j', 'map', 'show', 'pinned', `${pinDir}/${m}`])) as { id: number }).id,
    );
  });

  it('detaches, unpins and frees its maps on SIGTERM', async () => {
    const { pinDir, stateFile } = instancePaths(instance);
    assert.ok(existsSync(pinDir), 'pinned while running');
    assert.match(nsSh(ns, 'ip', ['link', 'show', 'lo']), /xdpgeneric/);
    assert.equal(await xlb.stop('SIGTERM'), 0, xlb.stderr.join('\n'));
    assert.ok(xlb.lines.some((l) => /detached, maps removed/.test(l)));
    assert.doesNotMatch(nsSh(ns, 'ip', ['link', 'show', 'lo']), /xdp/, 'no XDP program left on lo');
    assert.ok(!existsSync(pinDir), 'pins removed');
    assert.ok(!existsSync(stateFile), 'state file removed');
    assert.ok(mapIds.length === 3);
    // The kernel frees maps after an RCU grace period and a work item: poll.
    const alive = () =>
      mapIds.filter((id) => sh('bpftool', ['map', 'show', 'id', String(id)], { allowFail: true }) !== '');
    for (let i = 0; i < 150 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(alive(), [], 'maps freed by the kernel');
  });
});
