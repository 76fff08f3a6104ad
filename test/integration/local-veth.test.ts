// Local mode on a real (veth) interface in native XDP mode: a client in its own
// namespace sends to the service address of the load balancer's namespace; local
// backends answer, and the TC egress program translates their replies on the way
// out, so the client sees the service port answer. On both TC attach paths (tcx, and
// classic TC with XLB_FEATURES=-tcx).
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readState } from '../../src/control/instance.js';
import { nsSh, sh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript, startXlbRun } from '../helpers/proc.js';
import { NO_TC_HOOKS, tcHooks, tcPath, tcPathLabel, xlbTcHooks } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';

describe(`local mode on veth, replies translated by TC egress ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  const path = tcPath();
  const client = netnsName(PREFIX, 'vc');
  const lb = netnsName(PREFIX, 'vl');
  const procs: Proc[] = [];
  const instance = `test-veth-${process.pid}`;
  let xlb: Proc;
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-veth-'));

  before(async () => {
    removeStaleNetns(PREFIX);
    createNetns(client);
    createNetns(lb);
    sh('ip', ['link', 'add', 'c0', 'netns', client, 'type', 'veth', 'peer', 'name', 'l0', 'netns', lb]);
    nsSh(client, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'c0']);
    nsSh(lb, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'l0']);
    nsSh(client, 'ip', ['link', 'set', 'c0', 'up']);
    nsSh(lb, 'ip', ['link', 'set', 'l0', 'up']);
    // Full checksums on the wire, as a real NIC delivers them (see DESIGN.md).
    nsSh(client, 'ethtool', ['-K', 'c0', 'tx', 'off']);
    const echo = Proc.start(lb, process.execPath, [
      CLI,
      'echo-server',
      '--address',
      '192.0.2.1',
      '-p',
      '5301',
      '-p',
      '5302',
      '-p',
      '5303',
      '--quiet',
    ]);
    procs.push(echo);
    await echo.waitFor(/^listening/);
    const config = [
      'interface: l0',
      'xdp_mode: native',
      'services:',
      '  - name: dns',
      '    vip: 192.0.2.1',
      '    port: 5300',
      '    scheduler: round-robin',
      '    backends:',
      ...[5301, 5302, 5303].map((p) => `      - { address: 192.0.2.1, port: ${p} }`),
      '',
    ].join('\n');
    const cfgPath = join(tmp, 'config.yaml');
    writeFileSync(cfgPath, config);
    xlb = await startXlbRun(lb, cfgPath, instance, { attached: /^xlb: attached to l0 \(native\)/ });
    procs.push(xlb);
  });

  after(async () => {
    for (const p of procs) await p.stop(); // SIGTERM: xlb run removes its pins
    deleteNetns(client);
    deleteNetns(lb);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('balances 600 datagrams from 12 sockets; every reply comes from 192.0.2.1:5300', () => {
    const r = JSON.parse(
      nsSh(client, process.execPath, [helperScript('udp-client-cli.js'), '192.0.2.1', '5300', '600', '12']),
    ) as RoundTripResult;
    assert.equal(r.lost, 0);
    assert.deepEqual(r.replySources, { '192.0.2.1:5300': 600 });
    const stats = JSON.parse(
      nsSh(lb, process.execPath, [CLI, 'stats', '--instance', instance, '--json']),
    ) as {
      services: { backends: { packets: number }[] }[];
      reasons: Record<string, { packets: number }>;
    };
    const counts = stats.services[0]!.backends.map((b) => b.packets);
    assert.deepEqual(
      counts.map((c) => Math.abs(c - 200) <= 2),
      [true, true, true],
      `spread ${counts.join(' ')}`,
    );
    assert.equal(stats.reasons.reply?.packets, 600, 'replies translated by the egress program');
    assert.match(nsSh(lb, 'ip', ['-details', 'link', 'show', 'l0']), /prog\/xdp id \d+ name xlb_xdp/);
  });

  it(`attached on the ${path} path, which the start-up output and the state file name`, async () => {
    assert.deepEqual(tcHooks(lb, 'l0'), xlbTcHooks(path));
    const method = path === 'tcx' ? 'tcx' : 'classic TC';
    await xlb.waitFor(/^xlb: l0: xdp link/); // printed right after the line startXlbRun waits for
    assert.ok(
      xlb.lines.includes(`xlb: l0: xdp link (native), tc ingress ${method}, tc egress ${method}`),
      xlb.lines.join('\n'),
    );
    assert.ok(
      xlb.lines.some((l) => /^xlb: kernel Linux \S+; features: \d+ probed, /.test(l)),
      'the kernel and the probe results are shown',
    );
    const iface = readState(instance)?.interfaces.find((i) => i.name === 'l0');
    assert.equal(iface?.tc, path);
    // The lb namespace had no qdisc before: on the classic path xlb made the clsact qdisc.
    assert.equal(iface?.clsactCreated === true, path === 'classic');
  });

  it('Ctrl-C (SIGINT) detaches both the XDP and the TC programs (and the clsact qdisc xlb made)', async () => {
    assert.equal(await xlb.stop('SIGINT'), 0, xlb.stderr.join('\n'));
    assert.doesNotMatch(nsSh(lb, 'ip', ['link', 'show', 'l0']), /xdp/);
    assert.deepEqual(tcHooks(lb, 'l0'), NO_TC_HOOKS, 'no TC program is left on l0');
    assert.doesNotMatch(nsSh(lb, 'tc', ['qdisc', 'show', 'dev', 'l0']), /clsact/);
  });
});
