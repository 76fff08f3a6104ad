// Issue 13's targets in the bench report: each checked per subject it names, met or missed by
// how much; figures a run lacks give no row.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTargets } from '../../bench/targets.js';
import type { BenchResults, ThroughputResult } from '../../bench/types.js';

const t = (subject: string, family: 4 | 6, flows: number, ratioToLimit: number, ratioToNftables?: number) =>
  ({
    subject,
    family,
    flows,
    pps: 1,
    offeredPps: 1,
    loss: 0,
    spread: {},
    runs: [1],
    ratioToLimit,
    ...(ratioToNftables === undefined ? {} : { ratioToNftables }),
    sent: [1],
    received: [1],
  }) satisfies ThroughputResult;

const base: BenchResults = {
  date: '2026-12-01T00:00:00.000Z',
  kernel: 'k',
  cpu: 'c',
  cpus: 2,
  commit: 'x',
  quick: false,
  packetsPerRun: 1,
  flowCounts: [1000, 100_000, 1_000_000],
  throughput: [],
  cost: [],
  notes: [],
};

describe('bench targets (issue 13)', () => {
  it('maglev ratios: ≥ 0.95 × limit at 1,000 flows, ≥ 0.90 at 100,000, none at 1,000,000; ≥ 4.5 × nftables at each', () => {
    const r = checkTargets({
      ...base,
      throughput: [
        t('limit', 4, 1000, 1),
        t('xlb nat maglev', 4, 1000, 0.96, 5),
        t('xlb nat maglev', 4, 100_000, 0.45, 3),
        t('xlb nat maglev', 4, 1_000_000, 0.4, 4.6),
        t('xlb dsr maglev', 6, 100_000, 0.91),
        t('xlb nat round-robin', 4, 1000, 0.1, 1),
      ],
    });
    assert.deepEqual(
      r.map((c) => [c.target, c.met]),
      [
        ['xlb dsr maglev IPv6 at 100,000 flows: ≥ 0.9 × limit', true],
        ['xlb nat maglev IPv4 at 1,000 flows: ≥ 0.95 × limit', true],
        ['xlb nat maglev IPv4 at 1,000 flows: ≥ 4.5 × nftables', true],
        ['xlb nat maglev IPv4 at 100,000 flows: ≥ 0.9 × limit', false],
        ['xlb nat maglev IPv4 at 100,000 flows: ≥ 4.5 × nftables', false],
        ['xlb nat maglev IPv4 at 1,000,000 flows: ≥ 4.5 × nftables', true],
      ],
    );
    assert.equal(r[3]!.miss, '0.45 × short (50 % of the target)');
    assert.equal(r[3]!.measured, '0.45 ×');
  });

  it('repeat=1 cost: ≤ 80 ns at one flow, ≤ 200 ns (IPv4) / 250 ns (IPv6) at 100,000; the XDP_PASS row is not a target', () => {
    const fc = (subject: string, family: 4 | 6, flows: number, overPassNs: number) => ({
      subject,
      family,
      flows,
      flowTableSize: 1,
      nsPerPacket: overPassNs + 70,
      overPassNs,
      callsPerRound: 1,
      rounds: [1],
      expectedVerdictShare: 1,
    });
    const r = checkTargets({
      ...base,
      flowCost: [
        fc('XDP_PASS-only program', 4, 1, 0),
        fc('xlb nat maglev', 4, 1, 79),
        fc('xlb nat maglev', 4, 100_000, 300),
        fc('xlb nat maglev', 6, 100_000, 240),
        fc('xlb nat maglev', 4, 1_000_000, 900),
      ],
    });
    assert.deepEqual(
      r.map((c) => [c.target, c.met, c.miss]),
      [
        ['xlb nat maglev IPv4, 1 flow: ≤ 80 ns', true, ''],
        ['xlb nat maglev IPv4, 100,000 flows: ≤ 200 ns', false, '100.0 ns over (1.5 × the target)'],
        ['xlb nat maglev IPv6, 100,000 flows: ≤ 250 ns', true, ''],
      ],
    );
  });

  it('control plane, daemon, Maglev build and memory per million flows', () => {
    const r = checkTargets({
      ...base,
      control: {
        services: 1000,
        backendsPerService: 64,
        applyLargeConfigMs: 800,
        applyLargeConfigWrites: 1,
        oneBackendChangeMs: 2.5,
        oneBackendChangeWrites: 2,
        apiChange: { validateMs: 3, applyMs: 4 },
        runRssMiB: 1,
        statsRssMiB: 1,
      },
      daemon: {
        api: [
          {
            services: 1000,
            backends: 64_000,
            addMs: { median: 73, p95: 90 },
            removeMs: { median: 70, p95: 80 },
            applyMs: 5,
            writes: 3,
          },
        ],
        loss: [],
        offeredPps: 1,
      },
      maglev: [
        { size: 65_537, backends: 1000, buildMs: 1.5, referenceMs: 9, speedup: 6, tableBytes: 1 },
        { size: 65_537, backends: 100, buildMs: 9, referenceMs: 9, speedup: 1, tableBytes: 1 },
      ],
      footprint: {
        flowTables: [{ entries: 4096, loadMs: 1, fwdFlowsBytes: 1, revNatBytes: 1, bytesPerFlow: 296 }],
      } as unknown as BenchResults['footprint'],
    });
    assert.deepEqual(
      r.map((c) => [c.met, c.measured]),
      [
        [true, '2.5 ms'],
        [true, '7.0 ms'],
        [false, '73.0 ms'],
        [true, '1.50 ms'],
        [false, '282 MiB'],
      ],
    );
  });

  it('a run without figures has no targets', () => {
    assert.deepEqual(checkTargets(base), []);
  });
});
