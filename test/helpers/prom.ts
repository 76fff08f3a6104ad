// A strict parser of the Prometheus text format (0.0.4), strict where promtool is: names,
// labels, TYPE/HELP order, counters ending in _total, base units. Shared by the metrics tests.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** Go's ParseFloat, as Prometheus reads values: Inf and NaN in any case (prom-client writes 'Nan'). */
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|[+-]?inf(?:inity)?|nan)$/i;

export function numberOf(text: string): number {
  const t = text.toLowerCase();
  if (t === 'nan') return NaN;
  if (/^[+-]?inf/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}
export interface Exposition {
  families: Map<string, Family>;
  /** `name{a="x",b="y"}` (labels sorted) -> value. */
  series: Map<string, number>;
}

function fail(n: number, line: string, why: string): never {
  throw new Error(`line ${n}: ${why}: ${JSON.stringify(line)}`);
}

/** Label pairs of `{...}`, with the format's escapes (\\, \", \n) and nothing else. */
function parseLabels(text: string, n: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail(n, line, 'label without =');
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name) || name.startsWith('__')) fail(n, line, `bad label name '${name}'`);
    if (Object.hasOwn(labels, name)) fail(n, line, `label '${name}' twice`);
    if (text[eq + 1] !== '"') fail(n, line, 'label value not quoted');
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      const c = text[j];
      if (c === '\\') {
        const e = text[++j];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else fail(n, line, `bad escape \\${e ?? ''}`);
      } else value += c;
    }
    if (j >= text.length) fail(n, line, 'unterminated label value');
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') fail(n, line, 'labels not separated by ,');
      i++;
    }
  }
  return labels;
}

/** The family a sample belongs to: its own name, or a histogram's/summary's parts. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(name);
  if (own) return own;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m ? families.get(m[1] ?? '') : undefined;
  if (!base || !m) return undefined;
  if (base.type === 'histogram') return base;
  if (base.type === 'summary' && m[2] !== 'bucket') return base;
  return undefined;
}

export const seriesKey = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

function parseComment(line: string, n: number, families: Map<string, Family>, sampled: Set<string>) {
  const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
  if (!m) return; // a plain comment
  const [, kind, name = '', rest = ''] = m;
  if (!METRIC_NAME.test(name)) fail(n, line, 'bad metric name');
  if (sampled.has(name)) fail(n, line, `${kind} after the samples of ${name}`);
  const family = families.get(name) ?? { name, samples: [] };
  families.set(name, family);
  if (kind === 'HELP') {
    if (family.help !== undefined) fail(n, line, 'second HELP');
    if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) fail(n, line, 'bad escape in HELP');
    family.help = rest;
  } else {
    if (family.type !== undefined) fail(n, line, 'second TYPE');
    if (!TYPES.has(rest)) fail(n, line, `unknown type '${rest}'`);
    family.type = rest;
  }
}

export function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const series = new Map<string, number>();
  const sampled = new Set<string>();
  let current: Family | undefined;
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const n = i + 1;
      if (line === '') return;
      if (line.startsWith('#')) return parseComment(line, n, families, sampled);
      const m = /^([^\s{]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
      if (!m) fail(n, line, 'not a sample');
      const [, name = '', labelText = '', valueText = ''] = m;
      if (!METRIC_NAME.test(name)) fail(n, line, 'bad metric name');
      if (!VALUE.test(valueText)) fail(n, line, 'bad value');
      const family = familyOf(name, families);
      if (!family?.type) fail(n, line, 'sample without a TYPE line before it');
      if (family.help === undefined) fail(n, line, 'sample without a HELP line before it');
      if (current !== family && sampled.has(family.name)) fail(n, line, 'family not contiguous');
      current = family;
      sampled.add(family.name);
      const labels = parseLabels(labelText, n, line);
      if (family.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined)
        fail(n, line, 'bucket without le');
      const key = seriesKey(name, labels);
      if (series.has(key)) fail(n, line, 'duplicate series');
      const value = numberOf(valueText);
      series.set(key, value);
      family.samples.push({ name, labels, value });
    });
  for (const f of families.values()) {
    if (f.type === undefined) throw new Error(`${f.name}: HELP without TYPE`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} lacks _total`);
    if (f.type !== 'counter' && f.name.endsWith('_total'))
      throw new Error(`${f.type} ${f.name} ends in _total`);
    if (!/^[a-z_:][a-z0-9_:]*$/.test(f.name)) throw new Error(`${f.name} is not snake_case`);
    const unit =
      /_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes|percent)(_|$)/;
    if (unit.test(f.name)) throw new Error(`${f.name}: use base units (seconds, bytes, ratio)`);
  }
  return { families, series };
}
