// The benchmark report writers: Markdown tables with rounded numbers and the bold headline
// column, a well-formed SVG with one bar per subject and escaped labels, and the files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { markdownReport, reportStamp, svgChart, writeReport } from '../../bench/report.js';
import type { BenchResults, ThroughputResult } from '../../bench/types.js';

function row(subject: string, pps: number, ratioToLimit: number, spread: Record<string, number> = {}) {
  return {
    subject,
    family: 4,
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
  throughput: [
    row('limit', 2_468_000, 1),
    row('xlb nat IPv4 round-robin', 1_234_567, 0.50023, {
      '198.51.100.11:5301': 334,
      '198.51.100.12:5301': 333,
      '198.51.100.13:5301': 333,
    }),
    row('nftables', 987_654.4, 0.4001849),
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
        '| subject | family | Mpps (median) | **ratio to limit** | offered Mpps | loss % | spread across backends | runs (Mpps) |',
      ),
    );
    for (const t of fixture.throughput) assert.ok(md.includes(`| ${t.subject} | IPv4 |`), t.subject);
    assert.ok(md.includes('| limit | IPv4 | 2.468 | **1.000×** | 2.500 | 1.23 | — | 2.467, 2.468, 2.469 |'));
    assert.ok(md.includes('| xlb nat IPv4 round-robin | IPv4 | 1.235 | **0.500×** |'));
    assert.ok(md.includes('| 33.4 / 33.3 / 33.3 % |'));
    assert.ok(md.includes('| nftables | IPv4 | 0.988 | **0.400×** |'));
    assert.ok(md.includes('| nginx | IPv4 | 0.046 | **0.019×** | 2.500 | 1.23 | 25.0 / 75.0 % |'));
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
