// Benchmark reports from a BenchResults: a Markdown page, a self-contained SVG bar chart
// of the throughput, and the files (dated and latest) they are written to.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonBenchResult } from './types.js';
import { maglevTable } from './maglev.js';
import { targetRows } from './targets.js';
import type { Footprint } from './footprint.js';
import type {
  BenchResults,
  ControlPlaneResult,
  CostResult,
  FlowCostResult,
  ThroughputResult,
} from './types.js';

// ---- numbers -----------------------------------------------------------------------------------

const finite = (n: number, f: (n: number) => string) => (Number.isFinite(n) ? f(n) : '—');
export const mpps = (pps: number) => finite(pps, (n) => (n / 1e6).toFixed(3));
export const ratio = (r: number) => finite(r, (n) => `${n.toFixed(3)}×`);
const percent = (fraction: number, digits: number) => finite(fraction, (n) => (n * 100).toFixed(digits));
const ns = (n: number) => finite(n, (v) => v.toFixed(1));
const signedNs = (n: number) => finite(n, (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`);
const count = (n: number) => finite(n, (v) => Math.round(v).toLocaleString('en-US'));
const family = (f: 4 | 6) => `IPv${f}`;

/** "33.4 / 33.3 / 33.3 %" in the order the harness wrote the backends; '—' when nothing arrived. */
export function spreadText(spread: Record<string, number>): string {
  const counts = Object.values(spread);
  const total = counts.reduce((a, b) => a + b, 0);
  if (counts.length === 0 || total <= 0) return '—';
  return `${counts.map((c) => percent(c / total, 1)).join(' / ')} %`;
}

// ---- Markdown ----------------------------------------------------------------------------------

/** A table cell: pipes escaped, one line. */
const cell = (text: string) =>
  text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');

function table(head: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)];
}

/** "1,000 flows", "1 flow". */
const flowsText = (n: number) => `${count(n)} flow${n === 1 ? '' : 's'}`;
/** "1k", "100k", "1M": flow counts in chart labels. */
export function shortCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}

function throughputRow(t: ThroughputResult): string[] {
  return [
    cell(t.subject),
    family(t.family),
    count(t.flows),
    mpps(t.pps),
    `**${ratio(t.ratioToLimit)}**`,
    t.ratioToNftables === undefined ? '—' : ratio(t.ratioToNftables),
    mpps(t.offeredPps),
    percent(t.loss, 2),
    spreadText(t.spread),
    t.runs.map(mpps).join(', '),
  ];
}

function costRow(c: CostResult): string[] {
  return [
    cell(c.subject),
    ns(c.nsPerPacket),
    signedNs(c.overPassNs),
    count(c.packets),
    c.rounds.map(ns).join(', '),
  ];
}

/** Rows of one subject and family, columns of the flow counts: the headline of the run. */
function flowSummary(r: BenchResults): string[] {
  const counts = r.flowCounts;
  const keys: { subject: string; family: 4 | 6 }[] = [];
  for (const t of r.throughput) {
    if (t.subject === 'limit' || keys.some((k) => k.subject === t.subject && k.family === t.family)) continue;
    keys.push({ subject: t.subject, family: t.family });
  }
  return table(
    ['subject', 'family', ...counts.map(flowsText)],
    keys.map((k) => [
      cell(k.subject),
      family(k.family),
      ...counts.map((n) => {
        const t = r.throughput.find((x) => x.subject === k.subject && x.family === k.family && x.flows === n);
        if (!t) return '—';
        const nft =
          t.ratioToNftables === undefined || t.subject === 'nftables'
            ? ''
            : `, ${ratio(t.ratioToNftables)} nftables`;
        return `**${ratio(t.ratioToLimit)}** (${mpps(t.pps)} Mpps${nft})`;
      }),
    ]),
  );
}

/** The repeat=1 cost: one row per path and family, the flow counts as columns. */
function flowCostSummary(rows: FlowCostResult[]): string[] {
  const counts = [...new Set(rows.map((c) => c.flows))];
  const keys: { subject: string; family: 4 | 6 }[] = [];
  for (const c of rows) {
    if (!keys.some((k) => k.subject === c.subject && k.family === c.family))
      keys.push({ subject: c.subject, family: c.family });
  }
  return table(
    ['path', 'family', ...counts.map((n) => `${flowsText(n)}: ns over XDP_PASS-only (ns)`)],
    keys.map((k) => [
      cell(k.subject),
      family(k.family),
      ...counts.map((n) => {
        const c = rows.find((x) => x.subject === k.subject && x.family === k.family && x.flows === n);
        if (!c) return '—';
        const off = c.expectedVerdictShare < 1 ? `, ${percent(c.expectedVerdictShare, 1)} % as expected` : '';
        return `${signedNs(c.overPassNs)} (${ns(c.nsPerPacket)}${off})`;
      }),
    ]),
  );
}

function flowCostRow(c: FlowCostResult): string[] {
  return [
    cell(c.subject),
    family(c.family),
    count(c.flows),
    count(c.flowTableSize),
    ns(c.nsPerPacket),
    signedNs(c.overPassNs),
    percent(c.expectedVerdictShare, 1),
    `${count(c.callsPerRound)} × ${c.rounds.length}`,
    c.rounds.map(ns).join(', '),
  ];
}

function footprintTables(f: Footprint): string[] {
  return [
    ...table(
      ['program', 'xlated bytes', 'xlated insns', 'JITed bytes', 'verifier: processed insns'],
      f.programs.map((p) => [
        cell(p.program),
        count(p.xlatedBytes),
        count(p.xlatedInsns),
        count(p.jitedBytes),
        count(p.verifiedInsns),
      ]),
    ),
    '',
    ...table(
      [
        'flow_table_size',
        'load (ms)',
        'fwd_flows bytes',
        'rev_nat bytes',
        'bytes per flow (one entry of each)',
      ],
      f.flowTables.map((t) => [
        count(t.entries),
        count(t.loadMs),
        count(t.fwdFlowsBytes),
        count(t.revNatBytes),
        finite(t.bytesPerFlow, (v) => v.toFixed(1)),
      ]),
    ),
    '',
    `Memory: ${f.memoryMethod}. Load: \`Dataplane.load()\` (open the object, verify every program, create every map).`,
  ];
}

function controlRows(c: ControlPlaneResult): string[][] {
  return [
    [
      `apply ${count(c.services)} services × ${count(c.backendsPerService)} backends from a file`,
      `${count(c.applyLargeConfigMs)} ms (${count(c.applyLargeConfigWrites)} map writes)`,
    ],
    [
      'apply a one-backend change',
      `${count(c.oneBackendChangeMs)} ms (${count(c.oneBackendChangeWrites)} map writes)`,
    ],
    ['`xlb run` resident memory, large config', `${c.runRssMiB.toFixed(1)} MiB`],
    ['`xlb stats` resident memory, large config', `${c.statsRssMiB.toFixed(1)} MiB`],
  ];
}

function daemonTables(d: DaemonBenchResult): string[] {
  return [
    ...table(
      [
        'one-backend change over the API',
        'add (median / p95)',
        'remove (median / p95)',
        'apply (daemon log)',
        'map writes',
      ],
      d.api.map((a) => [
        `${count(a.services)} services, ${count(a.backends)} backends`,
        `${a.addMs.median} / ${a.addMs.p95} ms`,
        `${a.removeMs.median} / ${a.removeMs.p95} ms`,
        `${a.applyMs} ms`,
        count(a.writes),
      ]),
    ),
    '',
    ...table(
      [`steady load, ${count(d.offeredPps)} pps offered`, 'sent', 'received', 'lost', 'no daemon for'],
      d.loss.map((l) => [
        l.what,
        count(l.sent),
        count(l.received),
        count(l.lost),
        l.gapMs ? `${count(l.gapMs)} ms` : '—',
      ]),
    ),
  ];
}

export function markdownReport(r: BenchResults): string {
  const out = [
    `# xlb benchmark: ${r.date} (${r.quick ? 'quick' : 'full'} run)`,
    '',
    `- kernel: ${r.kernel}`,
    `- CPU: ${r.cpu} (${r.cpus} CPUs)`,
    `- commit: ${r.commit}`,
    `- run: ${r.quick ? 'quick' : 'full'}, ${count(r.packetsPerRun)} packets per run per subject, flows: ${r.flowCounts.map(count).join(', ')}`,
    '',
    '## Ratio to limit per flow count',
    '',
    ...flowSummary(r),
    '',
    '## Throughput',
    '',
    ...table(
      [
        'subject',
        'family',
        'flows',
        'Mpps (median)',
        '**ratio to limit**',
        'ratio to nftables',
        'offered Mpps',
        'loss %',
        'spread across backends',
        'runs (Mpps)',
      ],
      r.throughput.map(throughputRow),
    ),
    '',
    '## Per-packet cost (BPF_PROG_TEST_RUN)',
    '',
    ...table(['subject', 'ns/packet', 'over XDP_PASS-only', 'packets', 'rounds'], r.cost.map(costRow)),
  ];
  if (r.flowCost?.length)
    out.push(
      '',
      '## Per-packet cost across flows (BPF_PROG_TEST_RUN, repeat=1)',
      '',
      ...flowCostSummary(r.flowCost),
      '',
      ...table(
        [
          'path',
          'family',
          'flows',
          'flow_table_size',
          'ns/packet',
          'over XDP_PASS-only',
          'verdict as expected %',
          'calls × rounds',
          'rounds (ns)',
        ],
        r.flowCost.map(flowCostRow),
      ),
    );
  if (r.footprint)
    out.push('', '## Programs and flow tables in the kernel', '', ...footprintTables(r.footprint));
  if (r.control) out.push('', '## Control plane', '', ...table(['figure', 'value'], controlRows(r.control)));
  if (r.maglev?.length) out.push('', '## Maglev table build (TypeScript)', '', maglevTable(r.maglev));
  if (r.daemon) out.push('', '## Daemon', '', ...daemonTables(r.daemon));
  const targets = targetRows(r);
  if (targets.length)
    out.push(
      '',
      '## Targets (issue 13)',
      '',
      ...table(
        ['target', 'measured', 'result'],
        targets.map((t) => t.map(cell)),
      ),
    );
  if (r.failures?.length)
    out.push('', '## Failed stages', '', ...r.failures.map((f) => `- ${f.replace(/\s*\n\s*/g, ' ')}`));
  if (r.notes.length > 0)
    out.push('', '## Notes', '', ...r.notes.map((n) => `- ${n.replace(/\s*\n\s*/g, ' ')}`));
  return `${out.join('\n')}\n`;
}

// ---- SVG ---------------------------------------------------------------------------------------

/** Characters XML 1.0 allows: tab, newline, carriage return, and the rest above the controls. */
function xmlChar(c: string): boolean {
  const n = c.codePointAt(0) ?? 0;
  return (
    n === 0x09 ||
    n === 0x0a ||
    n === 0x0d ||
    (n >= 0x20 && n !== 0xfffe && n !== 0xffff && (n < 0xd800 || n > 0xdfff))
  );
}

/** Text for XML content and attribute values; characters XML 1.0 forbids are dropped. */
export function xmlEscape(text: string): string {
  return [...text]
    .filter(xmlChar)
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const CHART = {
  width: 900,
  labelWidth: 250,
  valueWidth: 200,
  margin: 16,
  top: 64,
  bar: 22,
  gap: 10,
  font: 'font-family="sans-serif"',
};
const COLOURS = { limit: '#8a8f98', xlb: '#2563c9', peer: '#d9822b' };

function colour(subject: string): string {
  if (subject === 'limit') return COLOURS.limit;
  return subject.startsWith('xlb') ? COLOURS.xlb : COLOURS.peer;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x}" y="${y}" ${CHART.font}${attrs ? ` ${attrs}` : ''}>${xmlEscape(content)}</text>`;
}

/** At most `max` characters (a label wider than its column would leave the picture). */
const clip = (label: string, max: number) =>
  [...label].length > max ? `${[...label].slice(0, max - 1).join('')}…` : label;

function barRow(t: ThroughputResult, i: number, scale: number, withFlows: boolean): string[] {
  const { labelWidth, margin, top, bar, gap } = CHART;
  const y = top + i * (bar + gap);
  const x = margin + labelWidth;
  const length = Math.max(1, Number.isFinite(t.pps) ? t.pps * scale : 0);
  const mid = y + bar / 2 + 5;
  return [
    text(
      x - 8,
      mid,
      clip(`${t.subject} ${family(t.family)}${withFlows ? ` · ${shortCount(t.flows)}` : ''}`, 36),
      'font-size="13" text-anchor="end"',
    ),
    `<rect class="bar" x="${x}" y="${y}" width="${length.toFixed(1)}" height="${bar}" fill="${colour(t.subject)}"/>`,
    text(x + length + 6, mid, `${mpps(t.pps)} Mpps (${ratio(t.ratioToLimit)} limit)`, 'font-size="12"'),
  ];
}

function legend(y: number): string[] {
  const items: [string, string][] = [
    [COLOURS.limit, 'limit'],
    [COLOURS.xlb, 'xlb'],
    [COLOURS.peer, 'peers'],
  ];
  let x = CHART.margin;
  return items.flatMap(([fill, label]) => {
    const parts = [
      `<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${fill}"/>`,
      text(x + 16, y, label, 'font-size="12"'),
    ];
    x += 28 + label.length * 6.5;
    return parts;
  });
}

export function svgChart(r: BenchResults): string {
  const { width, labelWidth, valueWidth, margin, top, bar, gap } = CHART;
  const rows = r.throughput;
  const max = Math.max(0, ...rows.map((t) => (Number.isFinite(t.pps) ? t.pps : 0)));
  const scale = max > 0 ? (width - 2 * margin - labelWidth - valueWidth) / max : 0;
  const bottom = top + Math.max(1, rows.length) * (bar + gap);
  const height = bottom + 32;
  const body = [
    text(margin, 26, `xlb throughput, ${r.date}, Linux ${r.kernel}`, 'font-size="17" font-weight="bold"'),
    text(
      margin,
      46,
      `${r.cpu} (${r.cpus} CPUs), commit ${r.commit}, ${r.quick ? 'quick' : 'full'} run; forwarded Mpps, median`,
      'font-size="12" fill="#555"',
    ),
    ...(rows.length === 0
      ? [text(margin, top + bar, 'no throughput results', 'font-size="13"')]
      : rows.flatMap((t, i) => barRow(t, i, scale, new Set(rows.map((x) => x.flows)).size > 1))),
    ...legend(bottom + 14),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

// ---- files -------------------------------------------------------------------------------------

/** YYYY-MM-DD-<short commit>: the name of a run's report files. */
export function reportStamp(r: BenchResults): string {
  const day = /^\d{4}-\d{2}-\d{2}/.exec(r.date)?.[0];
  const parsed = new Date(r.date);
  const date = day ?? (Number.isNaN(parsed.getTime()) ? 'undated' : parsed.toISOString().slice(0, 10));
  const hex = /^[0-9a-f]{7,}/i.exec(r.commit)?.[0];
  const commit = hex ? hex.slice(0, 7) : r.commit.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 20) || 'unknown';
  return `${date}-${commit}`;
}

/** Writes `${dir}/${stamp}.{json,md,svg}` and `${dir}/latest.{json,md,svg}`; returns the stamped paths. */
export function writeReport(r: BenchResults, dir: string): { json: string; markdown: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const contents = { json: `${JSON.stringify(r, null, 2)}\n`, md: markdownReport(r), svg: svgChart(r) };
  const write = (base: string) => {
    const paths = {
      json: join(dir, `${base}.json`),
      markdown: join(dir, `${base}.md`),
      svg: join(dir, `${base}.svg`),
    };
    writeFileSync(paths.json, contents.json);
    writeFileSync(paths.markdown, contents.md);
    writeFileSync(paths.svg, contents.svg);
    return paths;
  };
  write('latest');
  return write(reportStamp(r));
}
