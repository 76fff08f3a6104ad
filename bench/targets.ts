// Issue 13's targets, checked against a run's results: each target once per subject it names,
// with the figure measured and, when it is missed, by how much. The report's "Targets" section;
// never asserted anywhere (timings on shared machines are noisy): it says where a run stands.
import type { BenchResults } from './types.js';

export interface TargetCheck {
  /** What is promised, e.g. 'xlb nat maglev IPv4 at 1,000 flows: ≥ 0.95 × limit'. */
  target: string;
  /** The figure measured, as text. */
  measured: string;
  met: boolean;
  /** How far from the target, as text ('' when met). */
  miss: string;
}

const n = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const flows = (x: number) => `${n(x)} flow${x === 1 ? '' : 's'}`;

/** ≥ `want` (ratios): met, or the shortfall as a share of the target. */
function atLeast(target: string, got: number, want: number, unit: string, digits = 2): TargetCheck {
  const met = got >= want;
  return {
    target,
    measured: `${n(got, digits)}${unit}`,
    met,
    miss: met ? '' : `${n(want - got, digits)}${unit} short (${n((got / want) * 100, 0)} % of the target)`,
  };
}

/** ≤ `want` (costs): met, or the excess. */
function atMost(target: string, got: number, want: number, unit: string, digits = 1): TargetCheck {
  const met = got <= want;
  return {
    target,
    measured: `${n(got, digits)}${unit}`,
    met,
    miss: met ? '' : `${n(got - want, digits)}${unit} over (${n(got / want, 1)} × the target)`,
  };
}

const MAGLEV_MODES = ['dsr', 'nat', 'fullnat'] as const;
const MIB = 1024 * 1024;

/** Every target the results have figures for (a quick run has fewer). */
export function checkTargets(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  // Throughput: maglev in every mode and family, against limit and nftables per flow count.
  for (const mode of MAGLEV_MODES) {
    for (const fam of [4, 6] as const) {
      const subject = `xlb ${mode} maglev`;
      for (const t of r.throughput.filter((x) => x.subject === subject && x.family === fam)) {
        const want = t.flows <= 1000 ? 0.95 : t.flows <= 100_000 ? 0.9 : undefined;
        const at = `${subject} IPv${fam} at ${flows(t.flows)}`;
        if (want !== undefined) out.push(atLeast(`${at}: ≥ ${want} × limit`, t.ratioToLimit, want, ' ×'));
        if (t.ratioToNftables !== undefined)
          out.push(atLeast(`${at}: ≥ 4.5 × nftables`, t.ratioToNftables, 4.5, ' ×', 1));
      }
    }
  }
  // repeat=1 cost over XDP_PASS-only: every xlb path, 1 flow and 100,000 flows.
  for (const c of r.flowCost ?? []) {
    if (!c.subject.startsWith('xlb ')) continue;
    const want = c.flows === 1 ? 80 : c.flows === 100_000 ? (c.family === 4 ? 200 : 250) : undefined;
    if (want === undefined) continue;
    out.push(
      atMost(`${c.subject} IPv${c.family}, ${flows(c.flows)}: ≤ ${want} ns`, c.overPassNs, want, ' ns'),
    );
  }
  // The control plane.
  if (r.control) {
    const c = r.control;
    out.push(atMost('one backend change applied, one service: ≤ 10 ms', c.oneBackendChangeMs, 10, ' ms'));
    if (c.apiChange) {
      const ms = c.apiChange.validateMs + c.apiChange.applyMs;
      out.push(
        atMost(
          `one backend change through the API without HTTP, ${n(c.services)} × ${n(c.backendsPerService)}: ≤ 50 ms`,
          ms,
          50,
          ' ms',
        ),
      );
    }
  }
  for (const a of r.daemon?.api ?? []) {
    out.push(
      atMost(
        `one backend change end to end through the API, ${n(a.services)} services × ${n(a.backends)} backends: ≤ 50 ms`,
        a.addMs.median,
        50,
        ' ms',
      ),
    );
  }
  for (const m of r.maglev ?? []) {
    if (m.size === 65_537 && m.backends === 1000)
      out.push(atMost('Maglev table build, M = 65,537, N = 1,000: ≤ 2 ms', m.buildMs, 2, ' ms', 2));
  }
  // Kernel memory of 1,000,000 flows: one entry of each flow table per flow.
  const perFlow = r.footprint?.flowTables.at(-1)?.bytesPerFlow;
  if (perFlow !== undefined && Number.isFinite(perFlow))
    out.push(
      atMost('1,000,000 flows held in ≤ 256 MiB of kernel memory', (perFlow * 1e6) / MIB, 256, ' MiB', 0),
    );
  return out;
}

/** The report's table rows: target, measured, met or the miss. */
export function targetRows(r: BenchResults): string[][] {
  return checkTargets(r).map((t) => [t.target, t.measured, t.met ? 'met' : `**missed**: ${t.miss}`]);
}
