// The benchmark report writers: Markdown tables with rounded numbers and the bold headline
// column, a well-formed SVG with one bar per subject and escaped labels, and the files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { markdownReport, reportStamp, svgChart, writeReport } from '../../bench/report.js';
import type { BenchResults, ThroughputResult } from '../../bench/types.js';

function row(
  subject: string,
  pps: number,
  ratioToLimit: number,
  spread: Record<string, number> = {},
  flows = 1000,
  ratioToNftables?: number,
) {
  return {
    subject,
    family: 4,
    flows,
    ...(ratioToNftables === undefined ? {} : { ratioToNftables }),
    pps,
    offeredPps: 2_500_000,
    loss: 0.01234,
    spread,
    runs: [pps - 1000, pps, pps + 1000],
    ratioToLimit,
    sent: [1_000_000, 1_000_000, 1_000_000],
    received: [987_660, 987_660, 987_660],
  } satisfies ThroughputResult;
}

const fixture: BenchResults = {
  date: '2025-06-01T10:20:30.000Z',
  kernel: '6.18.0-test',
  cpu: 'Test CPU @ 3.00GHz',
  cpus: 8,
  commit: '0123456789abcdef0123456789abcdef01234567',
  quick: true,
  packetsPerRun: 1_000_000,
  flowCounts: [1000],
  throughput: [
    row('limit', 2_468_000, 1, {}, 1000, 2.4989),
    row(
      'xlb nat IPv4 round-robin',
      1_234_567,
      0.50023,
      {
        '198.51.100.11:5301': 334,
        '198.51.100.12:5301': 333,
        '198.51.100.13:5301': 333,
      },
      1000,
      1.25,
    ),
    row('nftables', 987_654.4, 0.4001849, {}, 1000, 1),
    row('nginx', 45_678, 0.01851, { a: 1, b: 3 }),
    row('weird <&> "subject"', 1000, 0.000405),
  ],
  cost: [
    { subject: 'XDP_PASS only', nsPerPacket: 21.04, overPassNs: 0, packets: 1_000_000, rounds: [21.0, 21.1] },
    { subject: 'xlb nat', nsPerPacket: 63.96, overPassNs: 42.92, packets: 1_000_000, rounds: [63.9, 64.0] },
  ],
  control: {
    services: 1000,
    backendsPerService: 64,
    applyLargeConfigMs: 812.4,
    applyLargeConfigWrites: 64_123,
    oneBackendChangeMs: 3.2,
    oneBackendChangeWrites: 2,
    runRssMiB: 123.46,
    statsRssMiB: 67.8,
  },
  notes: ['the generator ran on one core', 'nginx ran with one worker'],
};

describe('markdownReport', () => {
  const md = markdownReport(fixture);

  it('has a heading with date, kernel, CPU, commit and the kind of run', () => {
    assert.match(md, /^# xlb benchmark: 2025-06-01T10:20:30\.000Z \(quick run\)/);
    for (const s of [
      '6.18.0-test',
      'Test CPU @ 3.00GHz (8 CPUs)',
      fixture.commit,
      '1,000,000 packets per run',
    ]) {
      assert.ok(md.includes(s), s);
    }
    assert.match(markdownReport({ ...fixture, quick: false }), /\(full run\)/);
  });

  it('lists every subject with rounded numbers and the bold ratio column', () => {
    assert.ok(
      md.includes(
        '| subject | family | flows | Mpps (median) | **ratio to limit** | ratio to nftables | offered Mpps | loss % | spread across backends | runs (Mpps) |',
      ),
    );
    for (const t of fixture.throughput) assert.ok(md.includes(`| ${t.subject} | IPv4 |`), t.subject);
    assert.ok(
      md.includes(
        '| limit | IPv4 | 1,000 | 2.468 | **1.000×** | 2.499× | 2.500 | 1.23 | — | 2.467, 2.468, 2.469 |',
      ),
    );
    assert.ok(md.includes('| xlb nat IPv4 round-robin | IPv4 | 1,000 | 1.235 | **0.500×** | 1.250× |'));
    assert.ok(md.includes('| 33.4 / 33.3 / 33.3 % |'));
    assert.ok(md.includes('| nftables | IPv4 | 1,000 | 0.988 | **0.400×** | 1.000× |'));
    assert.ok(
      md.includes('| nginx | IPv4 | 1,000 | 0.046 | **0.019×** | — | 2.500 | 1.23 | 25.0 / 75.0 % |'),
    );
  });

  it('has the cost table, the control-plane figures and the notes', () => {
    assert.ok(md.includes('| subject | ns/packet | over XDP_PASS-only | packets | rounds |'));
    assert.ok(md.includes('| XDP_PASS only | 21.0 | +0.0 | 1,000,000 | 21.0, 21.1 |'));
    assert.ok(md.includes('| xlb nat | 64.0 | +42.9 | 1,000,000 | 63.9, 64.0 |'));
    assert.ok(md.includes('812 ms (64,123 map writes)'));
    assert.ok(md.includes('123.5 MiB'));
    assert.ok(md.includes('- the generator ran on one core\n- nginx ran with one worker\n'));
    const bare = markdownReport({ ...fixture, control: undefined, notes: [] });
    assert.ok(!bare.includes('## Control plane') && !bare.includes('## Notes'));
  });

  it("heads the run with each subject's ratio to limit per flow count, and nftables beside it", () => {
    const many: BenchResults = {
      ...fixture,
      flowCounts: [1000, 1_000_000],
      throughput: [
        row('limit', 2_000_000, 1, {}, 1000),
        row('limit', 1_900_000, 1, {}, 1_000_000),
        row('xlb nat maglev', 1_500_000, 0.75, {}, 1000, 3),
        row('xlb nat maglev', 950_000, 0.5, {}, 1_000_000, 4.75),
        row('nftables', 500_000, 0.25, {}, 1000, 1),
        row('nginx', 20_000, 0.01, {}, 1000),
      ],
    };
    const md2 = markdownReport(many);
    assert.ok(md2.includes('## Ratio to limit per flow count'));
    assert.ok(md2.includes('| subject | family | 1,000 flows | 1,000,000 flows |'));
    assert.ok(
      md2.includes(
        '| xlb nat maglev | IPv4 | **0.750×** (1.500 Mpps, 3.000× nftables) | **0.500×** (0.950 Mpps, 4.750× nftables) |',
      ),
    );
    assert.ok(md2.includes('| nftables | IPv4 | **0.250×** (0.500 Mpps) | — |'));
    assert.ok(md2.includes('| nginx | IPv4 | **0.010×** (0.020 Mpps) | — |'));
    assert.ok(!/\| limit \| IPv4 \| \*\*/.test(md2), 'limit is the unit, not a row of the summary');
    // The chart tells the flow counts apart.
    const svg2 = svgChart(many);
    assert.ok(
      svg2.includes('>xlb nat maglev IPv4 · 1k</text>') && svg2.includes('>xlb nat maglev IPv4 · 1M</text>'),
    );
  });

  it("has the repeat=1 cost per flow count, flagging calls that did not give the path's verdict", () => {
    const flowCost = [1, 100_000].flatMap((flows) => [
      {
        subject: 'XDP_PASS-only program',
        family: 4 as const,
        flows,
        flowTableSize: 1024,
        nsPerPacket: 60,
        overPassNs: 0,
        callsPerRound: 1000,
        rounds: [60, 61, 59],
        expectedVerdictShare: 1,
      },
      {
        subject: 'xlb fullnat maglev',
        family: 4 as const,
        flows,
        flowTableSize: flows === 1 ? 1024 : 1_048_576,
        nsPerPacket: flows === 1 ? 500 : 1500.04,
        overPassNs: flows === 1 ? 440 : 1440.04,
        callsPerRound: 1000,
        rounds: [1500, 1500.04, 1600],
        expectedVerdictShare: flows === 1 ? 1 : 0.9876,
      },
    ]);
    const md2 = markdownReport({ ...fixture, flowCost });
    assert.ok(md2.includes('## Per-packet cost across flows (BPF_PROG_TEST_RUN, repeat=1)'));
    assert.ok(
      md2.includes(
        '| path | family | 1 flow: ns over XDP_PASS-only (ns) | 100,000 flows: ns over XDP_PASS-only (ns) |',
      ),
    );
    assert.ok(
      md2.includes('| xlb fullnat maglev | IPv4 | +440.0 (500.0) | +1440.0 (1500.0, 98.8 % as expected) |'),
    );
    assert.ok(
      md2.includes(
        '| xlb fullnat maglev | IPv4 | 100,000 | 1,048,576 | 1500.0 | +1440.0 | 98.8 | 1,000 × 3 |',
      ),
    );
    assert.ok(!markdownReport(fixture).includes('repeat=1'), 'no section without figures');
  });

  it("has the programs' sizes, the verifier's work, load times and memory per flow", () => {
    const md2 = markdownReport({
      ...fixture,
      footprint: {
        programs: [
          {
            program: 'xlb_xdp',
            xlatedBytes: 139776,
            xlatedInsns: 17472,
            jitedBytes: 78747,
            verifiedInsns: 65143,
          },
        ],
        flowTables: [
          { entries: 1024, loadMs: 738, fwdFlowsBytes: 131968, revNatBytes: 172928, bytesPerFlow: 297.75 },
        ],
        memoryMethod: 'memlock / max_entries',
      },
    });
    assert.ok(md2.includes('| xlb_xdp | 139,776 | 17,472 | 78,747 | 65,143 |'));
    assert.ok(md2.includes('| 1,024 | 738 | 131,968 | 172,928 | 297.8 |'));
    assert.ok(md2.includes('Memory: memlock / max_entries.'));
  });

  it('escapes pipes in cells', () => {
    const md2 = markdownReport({ ...fixture, throughput: [row('a|b', 1e6, 1)] });
    assert.ok(md2.includes('| a\\|b | IPv4 |'));
  });
});

/** A small structural XML check: tags balance, attributes are quoted, text has no raw < or bare &. */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<\?xml[^>]*\?>/g;
  let last = 0;
  for (const m of xml.matchAll(token)) {
    const between = xml.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray markup before ${m[0]}: ${between}`);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(between), `bare & in ${between}`);
    last = m.index + m[0].length;
    const [, closing, name, attrs = '', selfClosing] = m;
    if (name === undefined) continue;
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(attrs), `bare & in ${attrs}`);
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the open tag`);
    else if (!selfClosing) stack.push(name);
  }
  assert.equal(xml.slice(last).trim(), '', 'nothing after the root');
  assert.deepEqual(stack, [], 'every tag closed');
}

describe('svgChart', () => {
  const svg = svgChart(fixture);

  it('is well-formed, self-contained SVG about 900 px wide', () => {
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="900"/);
    assert.ok(!/<(script|style|image|link|foreignObject)\b|@import|url\(|href=/.test(svg));
  });

  it('has one bar per subject, with label and value, limit in its own colour', () => {
    const bars = [...svg.matchAll(/<rect class="bar"[^>]*width="([\d.]+)"[^>]*fill="([^"]+)"/g)];
    assert.equal(bars.length, fixture.throughput.length);
    const widths = bars.map((b) => Number(b[1]));
    assert.ok(
      widths[0]! > widths[1]! && widths[1]! > widths[2]! && widths[2]! > widths[3]!,
      widths.join(' '),
    );
    const colours = bars.map((b) => b[2]);
    assert.ok(
      colours.slice(1).every((c) => c !== colours[0]),
      'limit differs from the others',
    );
    assert.ok(svg.includes('>xlb nat IPv4 round-robin IPv4</text>'));
    assert.ok(svg.includes('>1.235 Mpps (0.500× limit)</text>'));
    assert.ok(svg.includes('2025-06-01T10:20:30.000Z') && svg.includes('6.18.0-test'));
  });

  it('escapes labels', () => {
    assert.ok(svg.includes('>weird &lt;&amp;&gt; &quot;subject&quot; IPv4</text>'));
    assert.ok(!svg.includes('<&>'));
    assertWellFormed(svgChart({ ...fixture, kernel: '6.18 <x & y>', cpu: "a'b\u0001c" }));
  });

  it('clips labels wider than their column', () => {
    const long = svgChart({ ...fixture, throughput: [row('x'.repeat(60), 1e6, 1)] });
    assert.ok(long.includes(`>${'x'.repeat(35)}…</text>`));
  });

  it('copes with no throughput results', () => {
    const empty = svgChart({ ...fixture, throughput: [] });
    assertWellFormed(empty);
    assert.ok(empty.includes('no throughput results'));
  });
});

describe('writeReport', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-report-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes dated and latest JSON, Markdown and SVG; latest.json round-trips', () => {
    const out = join(dir, 'results', 'nested');
    const paths = writeReport(fixture, out);
    assert.deepEqual(paths, {
      json: join(out, '2025-06-01-0123456.json'),
      markdown: join(out, '2025-06-01-0123456.md'),
      svg: join(out, '2025-06-01-0123456.svg'),
    });
    assert.deepEqual(readdirSync(out).sort(), [
      '2025-06-01-0123456.json',
      '2025-06-01-0123456.md',
      '2025-06-01-0123456.svg',
      'latest.json',
      'latest.md',
      'latest.svg',
    ]);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')), fixture);
    assert.equal(readFileSync(join(out, 'latest.md'), 'utf8'), markdownReport(fixture));
    assert.equal(readFileSync(paths.svg, 'utf8'), svgChart(fixture));
  });

  it('names the files after the day and the short commit, whatever they look like', () => {
    assert.equal(reportStamp({ ...fixture, date: 'Sun, 01 Jun 2025 12:00:00 GMT' }), '2025-06-01-0123456');
    assert.equal(reportStamp({ ...fixture, commit: 'unknown' }), '2025-06-01-unknown');
    assert.equal(reportStamp({ ...fixture, commit: 'a/b c' }), '2025-06-01-a_b_c');
    assert.equal(reportStamp({ ...fixture, date: 'never', commit: '' }), 'undated-unknown');
  });
});
