// `npm run bench -- --quick` as a smoke test of the harness: every subject produces a
// figure at the quick run's flow count, the counts reconcile, the repeat=1 cost and the
// programs' and flow tables' figures are there and sane. Speeds are never asserted (shared machines).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { BenchResults } from '../../bench/types.js';
import { rootSkip } from '../helpers/privileged.js';

const BENCH = fileURLToPath(new URL('../../bench/bench.js', import.meta.url));

describe('npm run bench -- --quick', { skip: rootSkip() }, () => {
  const out = mkdtempSync(join(tmpdir(), 'xlb-bench-out-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('measures every subject, and what was sent reconciles with what arrived', () => {
    const r = spawnSync(process.execPath, [BENCH, '--quick', '--out', out], {
      encoding: 'utf8',
      timeout: 360_000,
    });
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    const res = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResults;
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    const svg = readFileSync(join(out, 'latest.svg'), 'utf8');

    const expected = [
      ...[4, 6].flatMap((f) => [
        `limit IPv${f}`,
        ...['dsr', 'nat', 'fullnat'].flatMap((m) => [
          `xlb ${m} round-robin IPv${f}`,
          `xlb ${m} maglev IPv${f}`,
        ]),
      ]),
      'nftables IPv4',
      'nginx IPv4',
      'node-proxy IPv4',
    ];
    assert.deepEqual(res.flowCounts, [1000], 'the quick run measures 1,000 flows');
    assert.deepEqual(res.throughput.map((t) => `${t.subject} IPv${t.family}`).sort(), expected.sort());
    for (const t of res.throughput) {
      const what = `${t.subject} IPv${t.family}`;
      assert.equal(t.flows, 1000, `${what}: flows`);
      if (t.family === 4) {
        assert.ok(
          t.ratioToNftables !== undefined && Number.isFinite(t.ratioToNftables) && t.ratioToNftables > 0,
          `${what}: ratio to nftables ${t.ratioToNftables}`,
        );
      } else assert.equal(t.ratioToNftables, undefined, `${what}: nftables runs IPv4 only`);
      assert.equal(t.runs.length, 3, what);
      assert.ok(t.pps > 0 && Number.isFinite(t.pps) && Number.isFinite(t.ratioToLimit), `${what}: a figure`);
      t.sent.forEach((sent, i) => {
        assert.equal(sent, res.packetsPerRun, `${what}: the generator sent exactly what was asked`);
        assert.ok(t.received[i]! <= sent, `${what}: never more received than sent`);
      });
      // What arrived plus what was lost is what was sent: the loss figure is that of the runs.
      const losses = t.sent.map((sent, i) => 1 - t.received[i]! / sent).sort((x, y) => x - y);
      assert.ok(
        Math.abs(t.loss - losses[1]!) < 1e-9,
        `${what}: loss ${t.loss} is the median of ${losses.join(', ')}`,
      );
      assert.ok(
        t.received.every((r) => r > 0),
        `${what}: packets arrived`,
      );
      const spread = Object.values(t.spread).reduce((a, b) => a + b, 0);
      // The sink counts what it receives per destination: its spread adds up to a run's count
      // (dsr's spread comes from xlb's counters, which count what xlb sent: at least that).
      if (t.subject.includes('dsr'))
        assert.ok(spread >= Math.min(...t.received), `${what}: spread ${spread}`);
      else assert.ok(t.received.includes(spread), `${what}: spread ${spread} is one run's count`);
      assert.match(md, new RegExp(`\\| ${t.subject} \\| IPv${t.family} \\|`), `${what} in the markdown`);
      assert.ok(svg.includes(`${t.subject} IPv${t.family}`), `${what} in the chart`);
    }
    assert.ok(res.cost.length >= 15 && res.cost.every((c) => c.nsPerPacket > 0), 'per-packet costs');
    // The repeat=1 method: every path and family at 1 and 10,000 flows, beside XDP_PASS-only.
    const fc = res.flowCost ?? [];
    const paths = [
      'local round-robin',
      'nat round-robin',
      'nat maglev',
      'fullnat maglev',
      'dsr round-robin',
      'dsr maglev',
    ];
    const expectedCost = [1, 10_000].flatMap((flows) =>
      ([4, 6] as const).flatMap((f) => [
        `XDP_PASS-only program IPv${f} ${flows}`,
        ...paths.filter((p) => f === 4 || !p.startsWith('local')).map((p) => `xlb ${p} IPv${f} ${flows}`),
      ]),
    );
    assert.deepEqual(fc.map((c) => `${c.subject} IPv${c.family} ${c.flows}`).sort(), expectedCost.sort());
    for (const c of fc) {
      const what = `repeat=1 ${c.subject} IPv${c.family} ${c.flows} flows`;
      assert.ok(c.nsPerPacket > 0 && Number.isFinite(c.nsPerPacket) && Number.isFinite(c.overPassNs), what);
      assert.equal(c.rounds.length, 3, what);
      assert.ok(c.flowTableSize >= c.flows * 1.5, `${what}: table ${c.flowTableSize}`);
      // Every call gave the path's verdict: no flow was dropped for want of room or a port.
      assert.equal(c.expectedVerdictShare, 1, what);
    }
    assert.match(md, /## Per-packet cost across flows/);
    assert.match(md, /## Ratio to limit per flow count/);
    const fp = res.footprint;
    assert.ok(fp, 'footprint');
    assert.deepEqual(fp.programs.map((p) => p.program).sort(), ['xlb_egress', 'xlb_tc_ingress', 'xlb_xdp']);
    for (const p of fp.programs) {
      assert.ok(
        p.xlatedBytes > 0 && p.xlatedBytes % 8 === 0 && p.xlatedInsns === p.xlatedBytes / 8,
        p.program,
      );
      assert.ok(p.jitedBytes > 0 && p.verifiedInsns > 0, JSON.stringify(p));
    }
    assert.ok(fp.flowTables.length >= 1);
    for (const t of fp.flowTables) {
      // An LRU hash entry holds at least its key and value (fwd_flows 40 + 24 bytes).
      assert.ok(t.loadMs > 0 && t.bytesPerFlow >= 64 && Number.isFinite(t.bytesPerFlow), JSON.stringify(t));
      assert.ok(t.fwdFlowsBytes >= 64 * t.entries, JSON.stringify(t));
    }
    assert.ok(
      res.maglev && res.maglev.length >= 2 && res.maglev.every((m) => m.buildMs > 0),
      'maglev build times',
    );
    assert.ok(
      res.control && res.control.applyLargeConfigWrites > 0 && res.control.runRssMiB > 0,
      'control plane',
    );
    const d = res.daemon;
    assert.ok(d, 'daemon figures');
    assert.equal(d.api.length, 2);
    for (const a of d.api) {
      assert.ok(a.addMs.median > 0 && a.addMs.p95 >= a.addMs.median, `API add ${JSON.stringify(a.addMs)}`);
      assert.ok(a.writes > 0 && a.applyMs > 0, `apply ${a.writes} writes, ${a.applyMs} ms`);
    }
    assert.deepEqual(
      d.loss.map((l) => l.what),
      ['no restart', 'SIGKILL + restart', 'upgrade (SIGTERM + new object)'],
    );
    for (const l of d.loss) {
      assert.ok(l.sent > 0 && l.received <= l.sent && l.lost === l.sent - l.received, JSON.stringify(l));
    }
    assert.ok(
      d.loss.slice(1).every((l) => l.gapMs > 0),
      'a gap was measured',
    );
    assert.match(md, /## Daemon/);
  });
});
