// Table-driven validation toolkit for the configuration model (see config.ts).
// Rules walk plain JS values, report problems against a structured path and never stop early;
// a rule returns the checked value, or undefined when it reported a problem.

import { formatIP, parseIP } from './addr.js';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/**
 * What kind of problem a config has, for programs (the message is for people): stable names,
 * so that callers never match message text. 'duplicate_*' name what is repeated.
 */
export type ProblemCode =
  | 'syntax'
  | 'too_large'
  | 'wrong_type'
  | 'unknown_key'
  | 'missing_key'
  | 'unknown_value'
  | 'out_of_range'
  | 'too_many'
  | 'duplicate_interface'
  | 'duplicate_service'
  | 'duplicate_listener'
  | 'duplicate_backend'
  | 'conflict'
  | 'invalid';

export interface Issue {
  path: Path;
  message: string;
  code: ProblemCode;
}

export interface ConfigProblem {
  /** e.g. 'services[0].port'; '' for the whole document. */
  path: string;
  line?: number;
  /** Names the problem and the fix. */
  message: string;
  /** The kind of problem, for programs; absent only on problems made outside the validator. */
  code?: ProblemCode;
}

export function formatProblem(source: string, p: ConfigProblem): string {
  const where = p.line === undefined ? source : `${source}:${p.line}`;
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: ConfigProblem[];
  readonly source: string;
  constructor(source: string, problems: ConfigProblem[]) {
    super(problems.map((p) => formatProblem(source, p)).join('\n'));
    this.source = source;
    this.problems = problems;
  }
}

/**
 * The most problems one validation lists. A hostile or badly broken file can hold millions
 * (one per list item); past this many the rest are counted, not kept, so that the work and the
 * message stay bounded. No reader goes through more than this many lines of problems anyway.
 */
export const MAX_PROBLEMS = 1000;

/** Thrown by a fail-fast Checker at its first issue. */
export class FirstIssue extends Error {
  constructor() {
    super('a fail-fast Checker was given an issue');
  }
}

/**
 * Collects issues. `literal` (YAML input only) returns the source text of the scalar at a path.
 * A `failFast` checker throws FirstIssue at the first issue: for a caller that only needs to
 * know whether the input is valid (the fast path of parseConfig).
 */
export class Checker {
  readonly issues: Issue[] = [];
  /** Issues reported beyond MAX_PROBLEMS: counted, not kept. */
  private dropped = 0;
  constructor(
    readonly literal?: (path: Path) => string | undefined,
    private readonly failFast = false,
  ) {}
  /** `message` may be a function, for a message that costs something to build (it is not
   * built for an issue that is counted, not kept). */
  report(path: Path, message: string | (() => string), code: ProblemCode = 'invalid'): void {
    if (this.failFast) throw new FirstIssue();
    if (this.issues.length >= MAX_PROBLEMS) this.dropped++;
    else
      this.issues.push({ path: [...path], message: typeof message === 'string' ? message : message(), code });
  }
  /** Every issue reported, kept or not. */
  get count(): number {
    return this.issues.length + this.dropped;
  }
  /**
   * The kept issues as problems (`line` gives each its line, in YAML input; then they are
   * sorted by line), followed, when some were not kept, by one that says how many more.
   */
  problems(line?: (path: Path) => number): ConfigProblem[] {
    const out: ConfigProblem[] = this.issues.map((i) => ({
      path: formatPath(i.path),
      ...(line === undefined ? {} : { line: line(i.path) }),
      message: i.message,
      code: i.code,
    }));
    if (line !== undefined) out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    if (this.dropped > 0) {
      out.push({
        path: '',
        code: 'too_many',
        message:
          `${this.dropped} more problem${this.dropped === 1 ? '' : 's'} not listed (only the first ` +
          `${MAX_PROBLEMS} are); fix these and validate again`,
      });
    }
    return out;
  }
}

export type Rule<T> = (value: unknown, path: Path, c: Checker) => T | undefined;

/** One key of a mapping: its rule, and either a message for when it is missing or a default. */
export interface Field<T> {
  rule: Rule<T>;
  required?: string;
  default?: T;
}
export type Fields = Record<string, Field<unknown>>;
export type Checked<F extends Fields> = {
  [K in keyof F]: F[K] extends Field<infer T> ? T | undefined : never;
};

export function field<T>(rule: Rule<T>, opts: { required?: string; default?: T } = {}): Field<T> {
  return { rule, ...opts };
}

/** 'services[0].backends[1].port'; a key of the operator's is clipped as messages clip it. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    const key = typeof seg === 'number' ? '' : clip(seg);
    out += typeof seg === 'number' ? `[${seg}]` : out === '' ? key : `.${key}`;
  }
  return out;
}

/** The most characters of the operator's text a message repeats (see clip). */
export const MAX_QUOTED = 80;

/**
 * Text of the config as a message repeats it: whole up to MAX_QUOTED characters, else its start
 * and its length. A message names the value and the fix; it never echoes a megabyte (which an
 * alias could repeat in a thousand messages).
 */
export function clip(s: string): string {
  return s.length <= MAX_QUOTED
    ? s
    : `${s.slice(0, MAX_QUOTED - 20)}… (${s.length.toLocaleString('en-US')} characters)`;
}

/** Short human description of a value, for "got ..." parts of messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return `the string ${JSON.stringify(clip(value))}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${String(value)}`;
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = d[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, (d[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(v);
    }
    d.push(row);
  }
  return d[a.length]?.[b.length] ?? Math.max(a.length, b.length);
}

/**
 * The closest candidate within edit distance 2 (or equal ignoring case, '_' and '-'), if any.
 * A word that is 3 or more characters longer or shorter than a candidate is at least that far
 * from it: no distance is computed then, so a megabyte of text costs one pass, not a table.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');
  const normalized = norm(word);
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    let dist: number;
    if (normalized === norm(candidate)) dist = 0;
    else if (Math.abs(word.length - candidate.length) >= bestDistance) continue;
    else dist = editDistance(lower, candidate);
    if (dist < bestDistance && dist < Math.max(word.length, 2)) {
      best = candidate;
      bestDistance = dist;
    }
  }
  return best;
}

const didYouMean = (word: string, candidates: readonly string[]): string => {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean '${s}'?)`;
};

/**
 * Checks a mapping against a field table: reports unknown keys (with a suggestion), missing required
 * keys, and runs each field's rule. Returns the checked values (defaults filled in), or undefined
 * when `value` is not a mapping. `example` shows what a valid mapping looks like.
 */
export function checkMapping<F extends Fields>(
  value: unknown,
  path: Path,
  c: Checker,
  fields: F,
  what: string,
  example: string,
): Checked<F> | undefined {
  if (!isMapping(value)) {
    c.report(path, `${what} must be a mapping like ${example}, got ${describe(value)}`, 'wrong_type');
    return undefined;
  }
  const known = Object.keys(fields);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(fields, key)) {
      c.report(
        [...path, key],
        () =>
          `unknown key '${clip(key)}' in ${what}${didYouMean(key, known)}; remove it or use one of: ${known.join(', ')}`,
        'unknown_key',
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) {
    if (!Object.hasOwn(value, key)) {
      if (f.required !== undefined)
        c.report([...path, key], `missing required key '${key}'; ${f.required}`, 'missing_key');
      out[key] = f.default;
    } else {
      out[key] = f.rule(value[key], [...path, key], c);
    }
  }
  return out as Checked<F>;
}

export function string(what: string, example: string): Rule<string> {
  return (value, path, c) => {
    if (typeof value === 'string') return value;
    const quote =
      typeof value === 'number' || typeof value === 'boolean'
        ? ` (quote it if you meant "${String(value)}")`
        : '';
    c.report(path, `${what} must be a string, got ${describe(value)}${quote}; e.g. ${example}`, 'wrong_type');
    return undefined;
  };
}

/** true or false (not 'yes', not 1, not a quoted "true"). */
export function boolean(what: string): Rule<boolean> {
  return (value, path, c) => {
    if (typeof value === 'boolean') return value;
    const fix =
      typeof value === 'string' && /^(true|false)$/i.test(value.trim())
        ? `; remove the quotes: ${value.trim().toLowerCase()}`
        : '; write true or false';
    c.report(path, `${what} must be true or false, got ${describe(value)}${fix}`, 'wrong_type');
    return undefined;
  };
}

/** An integer in [min, max]: rejects booleans, numeric strings and non-integers (also `53.0` in YAML). */
export function integer(what: string, min: number, max: number, example: number): Rule<number> {
  const range = `an integer from ${min} to ${max}`;
  return (value, path, c) => {
    if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) {
      c.report(
        path,
        `${what} must be ${range}, got ${describe(value)}; remove the quotes: ${clip(value.trim())}`,
        'wrong_type',
      );
      return undefined;
    }
    if (typeof value !== 'number') {
      c.report(path, `${what} must be ${range}, got ${describe(value)}; e.g. ${example}`, 'wrong_type');
      return undefined;
    }
    const literal = c.literal?.(path);
    const intLiteral = literal === undefined || /^[-+]?(?:\d+|0x[0-9a-f]+|0o[0-7]+)$/i.test(literal.trim());
    if (!Number.isInteger(value) || !intLiteral) {
      const shown = clip(literal ?? String(value));
      const hint = Number.isFinite(value) ? `; write a whole number such as ${Math.round(value)}` : '';
      c.report(path, `${what} must be a whole number (${range}), got ${shown}${hint}`, 'wrong_type');
      return undefined;
    }
    if (value < min || value > max) {
      c.report(path, `${what} ${value} is out of range; use ${range}`, 'out_of_range');
      return undefined;
    }
    return value;
  };
}

/** One of `values`; `special` maps known-but-rejected values to a dedicated message. */
export function oneOf<const V extends string>(
  what: string,
  values: readonly V[],
  special: Readonly<Record<string, string>> = {},
): Rule<V> {
  const asString = string(what, `'${values[0] ?? ''}'`);
  const allowed = values.map((v) => `'${v}'`).join(', ');
  return (value, path, c) => {
    const s = asString(value, path, c);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as V;
    const msg = Object.hasOwn(special, s) ? special[s] : undefined;
    if (msg !== undefined) c.report(path, msg, 'unknown_value');
    else
      c.report(path, `unknown ${what} '${clip(s)}'${didYouMean(s, values)}; use ${allowed}`, 'unknown_value');
    return undefined;
  };
}

/** A list whose items are checked by `item`; more than `max` items is a problem (items still checked). */
export function list<T>(what: string, item: Rule<T>, max: number, example: string): Rule<(T | undefined)[]> {
  return (value, path, c) => {
    if (!Array.isArray(value)) {
      c.report(path, `${what} must be a list, got ${describe(value)}; e.g. ${example}`, 'wrong_type');
      return undefined;
    }
    if (value.length > max) {
      c.report(
        path,
        `${value.length} ${what}, more than the limit of ${max}; remove ${value.length - max}`,
        'too_many',
      );
    }
    return value.map((v, i) => item(v, [...path, i], c));
  };
}

/**
 * Reports every item whose key was already used by an earlier item. `message` receives the key and
 * the indexes of the first and the repeated item.
 */
export function reportDuplicates<T>(
  items: readonly (T | undefined)[],
  key: (item: T) => string | undefined,
  path: (index: number) => Path,
  message: (key: string, first: number, again: number) => string,
  c: Checker,
  code: ProblemCode,
): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = item === undefined ? undefined : key(item);
    if (k === undefined) return;
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else c.report(path(i), message(k, first, i), code);
  });
}

export type AddressKind =
  | 'any'
  | 'unspecified'
  | 'this-network'
  | 'loopback'
  | 'reserved'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'v4mapped'
  | 'unicast'
  | 'invalid';

export interface AddressInfo {
  kind: AddressKind;
  /** Set for every kind but 'any' and 'invalid'. */
  family?: 4 | 6;
  /** Canonical text (dotted quad, or RFC 5952 IPv6); set with `family`. */
  canonical?: string;
}

/**
 * Classifies an address with the strict parser of addr.ts: '*'; IPv4 unspecified (0.0.0.0),
 * "this network" (the rest of 0.0.0.0/8), loopback (127/8), reserved (240/4 but the limited
 * broadcast), limited broadcast, multicast (224/4), unicast; IPv6 unspecified (::), loopback
 * (::1), link-local (fe80::/10), multicast (ff00::/8), IPv4-mapped (::ffff:0:0/96), unicast.
 * Which kinds a config accepts where is config-address.ts' part.
 */
export function classifyAddress(s: string): AddressInfo {
  let info = classified.get(s);
  if (info === undefined) {
    if (classified.size >= CLASSIFIED_MAX) classified.clear();
    info = Object.freeze(classify(s));
    classified.set(s, info);
  }
  return info;
}

// Configs repeat addresses (every backend of a host, every re-validation of the running config
// on an API change): classifications are remembered, up to a bound.
const CLASSIFIED_MAX = 1 << 18;
const classified = new Map<string, Readonly<AddressInfo>>();

function classify(s: string): AddressInfo {
  if (s === '*') return { kind: 'any' };
  let ip: { family: 4 | 6; bytes: Buffer };
  try {
    ip = parseIP(s);
  } catch {
    return { kind: 'invalid' };
  }
  const canonical = formatIP(ip.bytes);
  return { kind: ip.family === 4 ? kindOf4(ip.bytes) : kindOf6(ip.bytes), family: ip.family, canonical };
}

function kindOf4(b: Buffer): AddressKind {
  const first = b[0] ?? 0;
  if (b.every((x) => x === 0)) return 'unspecified';
  if (b.every((x) => x === 255)) return 'broadcast';
  if (first === 0) return 'this-network';
  if (first === 127) return 'loopback';
  if (first >= 224 && first <= 239) return 'multicast';
  if (first >= 240) return 'reserved';
  return 'unicast';
}

function kindOf6(b: Buffer): AddressKind {
  const zeros = (from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 16)) return 'unspecified';
  if (zeros(0, 15) && b[15] === 1) return 'loopback';
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'link-local';
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return 'v4mapped';
  return 'unicast';
}

/** The family of a canonical address (as returned by classifyAddress). */
export const familyOf = (canonical: string): 4 | 6 => (canonical.includes(':') ? 6 : 4);
