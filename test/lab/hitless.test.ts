// Hitless changes with maglev and flow affinity, through the CLI (SIGHUP reloads), in a
// nat lab with real sockets. 40 established flows keep sending round trips for the
// whole test while backends are added, drained, re-weighted and removed; between the
// changes, batches of new flows show where new traffic goes. Asserted: not one round
// trip lost; every established flow stays on its backend unless that backend is
// removed (then it moves once); a drained backend keeps its flows and gets no new
// ones; new flows follow the new weights.
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nsSh } from '../../src/lab/exec.js';
import { createLab, type Lab } from '../../src/lab/lab.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript, startXlbRun } from '../helpers/proc.js';
import { tcPathLabel } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';
const PORT = 5300;
const BPORT = 5301;
const ESTABLISHED = { flows: 40, first: 41000 };

const SUITE = `hitless changes: add, drain, re-weight, remove under traffic ${tcPathLabel()}`;
describe(SUITE, { skip: rootSkip() }, () => {
  let lab: Lab;
  let xlb: Proc;
  const echo = new Map<number, Proc>(); // backend number -> its echo server
  const procs: Proc[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-hitless-'));
  const config = join(tmp, 'xlb.yaml');
  const instance = `hitless-${process.pid}`;

  /** The config with these backends (number -> weight). */
  const write = (weights: Record<number, number>) => {
    const lines = [
      `interfaces: [${lab.lb.interfaces.map((i) => i.ifname).join(', ')}]`,
      'xdp_mode: native',
      'hash_seed: 7',
      'services:',
      '  - name: hitless',
      `    vip: ${lab.vip.v4}`,
      `    port: ${PORT}`,
      '    mode: nat',
      '    scheduler: maglev',
      '    table_size: 4093',
      '    backends:',
      ...Object.entries(weights).map(
        ([n, w]) => `      - { address: ${lab.backends[Number(n) - 1]!.v4}, port: ${BPORT}, weight: ${w} }`,
      ),
      '',
    ];
    writeFileSync(config, lines.join('\n'));
  };

  const reload = async (weights: Record<number, number>) => {
    const before = xlb.lines.filter((l) => l.includes('SIGHUP: config applied')).length;
    write(weights);
    xlb.child.kill('SIGHUP');
    for (let i = 0; i < 100; i++) {
      if (xlb.lines.filter((l) => l.includes('SIGHUP: config applied')).length > before) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`reload not applied: ${xlb.lines.slice(-3).join(' | ')} ${xlb.stderr.join(' | ')}`);
  };

  /** Which backends served each source port, in the order of the flows' sequence numbers. */
  const served = () => {
    const hits = new Map<number, [number, number][]>(); // sport -> [seq, backend]
    for (const [n, p] of echo) {
      for (const l of p.lines) {
        const m = /^port \d+: \d+ bytes from [0-9.]+:(\d+): (?:flow \d+|xlb \d+) (\d+)/.exec(l);
        if (!m) continue;
        const sport = Number(m[1]);
        const list = hits.get(sport) ?? [];
        list.push([Number(m[2]), n]);
        hits.set(sport, list);
      }
    }
    const out = new Map<number, number[]>();
    for (const [sport, list] of hits) {
      const path: number[] = [];
      for (const [, n] of list.sort((a, b) => a[0] - b[0])) if (path.at(-1) !== n) path.push(n);
      out.set(sport, path);
    }
    return out;
  };

  /** 200 new flows, 3 round trips each, from ports first..first+199; returns where they went. */
  const newFlows = async (first: number) => {
    const r = JSON.parse(
      nsSh(lab.clients[0]!.ns, process.execPath, [
        helperScript('udp-client-cli.js'),
        lab.vip.v4,
        String(PORT),
        '600',
        '200',
        String(first),
      ]),
    ) as RoundTripResult;
    assert.equal(r.lost, 0, `new flows from ${first}: ${r.lost} lost`);
    await new Promise((res) => setTimeout(res, 200)); // echo lines arrive
    const where = new Map<number, number>();
    const s = served();
    for (let p = first; p < first + 200; p++) {
      const b = s.get(p);
      assert.equal(b?.length, 1, `new flow ${p} used one backend (${b?.join(',')})`);
      where.set(b[0]!, (where.get(b[0]!) ?? 0) + 1);
    }
    return where;
  };

  before(async () => {
    removeStaleNetns(PREFIX);
    lab = createLab({ prefix: `${PREFIX}${process.pid}-hl-`, mode: 'nat', backends: 4 });
    for (const l of lab.listeners()) {
      if (l.address.includes(':')) continue;
      const n = Number(l.node.replace('be', ''));
      const p = Proc.start(l.ns, process.execPath, [
        CLI,
        'echo-server',
        '--address',
        l.address,
        '-p',
        String(BPORT),
      ]);
      procs.push(p);
      echo.set(n, p);
      await p.waitFor(/^listening/);
    }
    write({ 1: 1, 2: 1, 3: 1 });
    xlb = await startXlbRun(lab.lb.ns, config, instance);
    procs.push(xlb);
  });

  after(async () => {
    for (const p of procs) await p.stop(); // SIGTERM: xlb run removes its pins
    lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps every round trip and every established flow, and steers new flows as configured', async () => {
    const flows = Proc.start(lab.clients[0]!.ns, process.execPath, [
      helperScript('udp-flows-cli.js'),
      lab.vip.v4,
      String(PORT),
      String(ESTABLISHED.flows),
      String(ESTABLISHED.first),
      '11000',
      '20',
    ]);
    procs.push(flows);
    // Until every established flow has had an answer (a busy machine starts the flows' process slowly).
    const established = () =>
      [...served().keys()].filter((p) => p >= ESTABLISHED.first && p < ESTABLISHED.first + ESTABLISHED.flows);
    for (let i = 0; i < 200 && established().length < ESTABLISHED.flows; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const home = new Map(
      [...served()]
        .filter(([p]) => p >= ESTABLISHED.first && p < ESTABLISHED.first + ESTABLISHED.flows)
        .map(([p, b]) => [p, b[0]!]),
    );
    assert.equal(home.size, ESTABLISHED.flows, 'every established flow has a backend');
    assert.deepEqual(new Set(home.values()), new Set([1, 2, 3]), 'spread over the three backends');

    await reload({ 1: 1, 2: 1, 3: 1, 4: 1 }); // add be4
    const added = await newFlows(50000);
    assert.ok((added.get(4) ?? 0) > 20, `new flows reach the new backend: ${JSON.stringify([...added])}`);

    await reload({ 1: 0, 2: 1, 3: 1, 4: 1 }); // drain be1
    const drained = await newFlows(50200);
    assert.equal(drained.get(1) ?? 0, 0, 'no new flow on the drained backend');

    await reload({ 1: 0, 2: 3, 3: 1, 4: 1 }); // re-weight be2
    const weighted = await newFlows(50400);
    const share2 = (weighted.get(2) ?? 0) / 200;
    assert.ok(share2 > 0.45 && share2 < 0.75, `be2 weighted 3 of 5 takes ${share2} of new flows`);

    await reload({ 1: 0, 2: 3, 4: 1 }); // remove be3
    const removed = await newFlows(50600);
    assert.equal(removed.get(3) ?? 0, 0, 'no new flow on the removed backend');

    const code = await flows.wait();
    assert.equal(code, 0, flows.stderr.join('\n'));
    const counts = JSON.parse(flows.lines.find((l) => l.startsWith('{'))!) as Record<
      string,
      { sent: number; received: number }
    >;
    for (const [port, c] of Object.entries(counts)) {
      assert.ok(c.sent > 100, `flow ${port} kept sending (${c.sent})`);
      assert.equal(c.received, c.sent, `flow ${port}: ${c.sent - c.received} round trips lost`);
    }
    const after = served();
    for (const [port, b] of home) {
      const path = after.get(port)!;
      if (b === 3) {
        assert.equal(path.length, 2, `flow ${port} moved once, off the removed backend: ${path.join('>')}`);
        assert.notEqual(path[1], 3);
      } else {
        assert.deepEqual(path, [b], `flow ${port} stayed on be${b} (drained or not): ${path.join('>')}`);
      }
    }
  });
});
