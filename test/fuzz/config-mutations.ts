// The config fuzzer's mutations (config-cases.ts): the helpers they share, the neutral ones
// (the same configuration written otherwise) and the random ones (any verdict). The known-invalid
// ones are in config-invalid.ts.
import { parse as yamlParse, stringify } from 'yaml';
import { int, pick } from '../helpers/random.js';

export type R = () => number;
export type Obj = Record<string, unknown>;

// ---- helpers -------------------------------------------------------------------------------------

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const services = (o: Obj): Obj[] => (Array.isArray(o.services) ? o.services.filter(isObj) : []);
export const backendsOf = (s: Obj): Obj[] => (Array.isArray(s.backends) ? s.backends.filter(isObj) : []);
export const familyOf = (s: Obj): 4 | 6 => {
  const probe = [s.vip, ...backendsOf(s).map((b) => b.address), isObj(s.snat) ? s.snat.address : undefined];
  return probe.some((a) => typeof a === 'string' && a.includes(':')) ? 6 : 4;
};
export const modeOf = (s: Obj): string => (typeof s.mode === 'string' ? s.mode : 'local');
export const routed = (s: Obj): boolean => s.mode === 'nat' || s.mode === 'fullnat' || s.mode === 'dsr';
export const uniqueName = (o: Obj, r: R): string => {
  const names = new Set(services(o).map((s) => s.name));
  let n = `fz-${int(r, 0, 99999)}`;
  while (names.has(n)) n += 'x';
  return n;
};
/** A unicast address of the family that no seed uses, `k` making it unique. */
export const freshAddress = (family: 4 | 6, k: number): string =>
  family === 4 ? `203.0.113.${(k % 200) + 20}` : `fd00:fade::${(k % 60000).toString(16)}`;

/** The seed as data (aliases become shared objects, written back as anchors). */
export function parseSeed(text: string): Obj {
  // The seeds are valid YAML: the `yaml` package's own reader is enough here.
  return (yamlParse(text) ?? {}) as Obj;
}

export interface Written {
  obj: Obj;
  /** stringify options chosen by neutral mutations. */
  style: { flow: boolean; quote: boolean; indent: number; aliases: boolean };
  /** Text transformations applied after writing. */
  post: ((text: string, r: R) => string)[];
  /** Once, around the finished text: document markers, then a byte order mark before them. */
  markers: boolean;
  bom: boolean;
}

export function write(w: Written): string {
  return stringify(w.obj, {
    collectionStyle: w.style.flow ? 'flow' : 'any',
    defaultStringType: w.style.quote ? 'QUOTE_DOUBLE' : 'PLAIN',
    defaultKeyType: 'PLAIN',
    indent: w.style.indent,
    aliasDuplicateObjects: w.style.aliases,
    lineWidth: 0,
  });
}

/**
 * How often a mutation is picked, relative to 1: the costly ones (thousands of services or
 * backends, megabytes of text: a second or more each) rarely, so that a run of 2,000 files takes
 * seconds, and a long run still makes hundreds of them.
 */
const WEIGHTS: Record<string, number> = {
  'too-many-services': 0.08,
  'too-many-backends': 0.15,
  'over-the-size-limit': 0.3,
  'string-bomb': 0.5,
  'many-services': 0.5,
  'huge-string': 0.5,
};
export const weightOf = (name: string): number => WEIGHTS[name] ?? 1;

export function pickWeighted<T>(r: R, xs: readonly T[], weights: readonly number[]): T {
  const total = weights.reduce((a, w) => a + w, 0);
  let x = r() * total;
  for (let i = 0; i < xs.length; i++) {
    x -= weights[i] ?? 0;
    if (x < 0) return xs[i] as T;
  }
  return xs[xs.length - 1] as T;
}

// ---- neutral mutations ---------------------------------------------------------------------------

const HEX_KEYS = ['port', 'weight', 'flow_table_size', 'hash_seed', 'table_size'];

export const NEUTRAL: Record<string, (w: Written, r: R) => void> = {
  'reorder-keys': (w, r) => {
    const shuffle = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(shuffle);
      else if (isObj(v)) {
        const entries = Object.entries(v).sort(() => r() - 0.5);
        for (const k of Object.keys(v)) delete v[k];
        for (const [k, x] of entries) {
          v[k] = x;
          shuffle(x);
        }
      }
    };
    shuffle(w.obj);
  },
  'flow-style': (w) => {
    w.style.flow = true;
  },
  'quote-strings': (w) => {
    w.style.quote = true;
  },
  indent: (w, r) => {
    w.style.indent = int(r, 1, 8);
  },
  comments: (w) =>
    w.post.push((t, r) =>
      t
        .split('\n')
        .map((l) =>
          r() < 0.3
            ? `${' '.repeat(int(r, 0, 6))}# ${pick(r, ['note', 'services:', '- x', 'é 🙂', '&a *a'])}\n${l}`
            : l,
        )
        .join('\n'),
    ),
  'trailing-spaces': (w) => w.post.push((t, r) => t.replace(/\n/g, () => `${' '.repeat(int(r, 0, 3))}\n`)),
  crlf: (w) => w.post.push((t) => t.replace(/\n/g, '\r\n')),
  bom: (w) => {
    w.bom = true;
  },
  'document-markers': (w) => {
    w.markers = true;
  },
  'hex-integers': (w) =>
    w.post.push((t, r) =>
      t.replace(new RegExp(`\\b(${HEX_KEYS.join('|')}): (\\d+)\\b`, 'g'), (m, k: string, n: string) =>
        r() < 0.5 ? `${k}: 0x${Number(n).toString(16)}` : m,
      ),
    ),
  'share-equal-values': (w) => {
    // Equal health blocks and snat blocks become one object: written once with an anchor.
    const seen = new Map<string, unknown>();
    for (const s of services(w.obj)) {
      for (const k of ['health', 'flow_timeouts', 'snat']) {
        if (!isObj(s[k])) continue;
        const key = `${k}:${JSON.stringify(s[k])}`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, s[k]);
        else s[k] = first;
      }
    }
    w.style.aliases = true;
  },
};

// ---- random mutations ----------------------------------------------------------------------------

const ODD_CHARS = [
  ...':-[]{}#&*!|>\'"%@`,?',
  '\u0000',
  '\u0007',
  '\u001b',
  '\t',
  '\r',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ufffd',
  'é',
  '🙂',
  '\ud800',
  '\\',
  '\n',
  ' ',
];
const ODD_SCALARS: unknown[] = [
  null,
  true,
  0,
  -0,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  2 ** 64,
  -(2 ** 63),
  0.1,
  '',
  ' ',
  '*',
  '~',
  'null',
  '0x1g',
  '1e3',
  '.inf',
  '!!str',
  '&a',
  '*a',
  '192.0.2.1',
  'fd00::1',
  '127.0.0.1',
  '20000-60000',
  '500ms',
  '2GiB',
  '\u0000',
  'é🙂',
];

function randomValue(r: R, depth = 0): unknown {
  const x = r();
  if (x < 0.5 || depth > 3) return pick(r, ODD_SCALARS);
  if (x < 0.75) return Array.from({ length: int(r, 0, 3) }, () => randomValue(r, depth + 1));
  const out: Obj = {};
  for (let i = int(r, 0, 3); i > 0; i--)
    out[pick(r, ['name', 'vip', 'port', 'address', 'x', ''])] = randomValue(r, depth + 1);
  return out;
}

/** Every (holder, key) of the document, for replacing what is there. */
function slots(
  v: unknown,
  out: { holder: Obj | unknown[]; key: string | number }[] = [],
  depth = 0,
): typeof out {
  if (depth > 8) return out;
  if (Array.isArray(v))
    v.forEach((x, i) => {
      out.push({ holder: v, key: i });
      slots(x, out, depth + 1);
    });
  else if (isObj(v))
    for (const [k, x] of Object.entries(v)) {
      out.push({ holder: v, key: k });
      slots(x, out, depth + 1);
    }
  return out;
}

function setSlot(s: { holder: Obj | unknown[]; key: string | number }, v: unknown): void {
  (s.holder as Record<string | number, unknown>)[s.key] = v;
}

export const RANDOM_OBJ: Record<string, (o: Obj, r: R) => string | undefined> = {
  'random-value': (o, r) => {
    const ss = slots(o);
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    const v = randomValue(r);
    setSlot(s, v);
    return `${String(s.key)} = ${JSON.stringify(v)?.slice(0, 60)}`;
  },
  'huge-string': (o, r) => {
    const ss = slots(o);
    if (ss.length === 0) return undefined;
    const n = pickWeighted(r, [100, 1000, 70_000, 1_000_000, 3_000_000], [8, 8, 4, 0.4, 0.2]);
    setSlot(pick(r, ss), pick(r, ['a', 'é', '1', ' ', '🙂']).repeat(n));
    return `a string of ${n}`;
  },
  'deep-value': (o, r) => {
    const ss = slots(o);
    if (ss.length === 0) return undefined;
    const depth = int(r, 1, 100);
    let v: unknown = pick(r, ODD_SCALARS);
    for (let i = 0; i < depth; i++) v = r() < 0.5 ? [v] : { k: v };
    setSlot(pick(r, ss), v);
    return `a value ${depth} deep`;
  },
  'control-or-unicode-in-a-string': (o, r) => {
    const ss = slots(o).filter(
      (s) => typeof (s.holder as Record<string | number, unknown>)[s.key] === 'string',
    );
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    const old = (s.holder as Record<string | number, unknown>)[s.key] as string;
    const at = int(r, 0, old.length);
    setSlot(s, old.slice(0, at) + pick(r, ODD_CHARS) + old.slice(at));
    return `an odd character in ${String(s.key)}`;
  },
  'swap-values': (o, r) => {
    const ss = slots(o);
    if (ss.length < 2) return undefined;
    const a = pick(r, ss);
    const b = pick(r, ss);
    const va = (a.holder as Record<string | number, unknown>)[a.key];
    setSlot(a, structuredClone((b.holder as Record<string | number, unknown>)[b.key]));
    setSlot(b, structuredClone(va));
    return `${String(a.key)} <-> ${String(b.key)}`;
  },
  'many-services': (o, r) => {
    const n = pickWeighted(r, [0, 1, 10, 100, 1000, 4096, 4097], [4, 4, 4, 2, 0.4, 0.1, 0.1]);
    const family = r() < 0.5 ? 4 : 6;
    o.services = Array.from({ length: n }, (_, k) => ({
      name: `m${k}`,
      vip: r() < 0.05 ? '*' : freshAddress(family, Math.floor(k / 100)),
      port: (k % 100) + 1 + int(r, 0, 2),
      mode: pick(r, ['local', 'nat', 'dsr']),
      backends: Array.from({ length: int(r, 0, 3) }, (_2, j) => ({
        address: freshAddress(family, 1000 + j),
        port: 53,
      })),
    }));
    return `${n} services`;
  },
  'overlapping-services': (o, r) => {
    const ss = services(o);
    if (ss.length < 2) return undefined;
    const a = pick(r, ss);
    const b = pick(r, ss);
    b.port = a.port;
    if (r() < 0.5) b.vip = a.vip;
    if (isObj(a.snat) && r() < 0.5) b.port = int(r, 20000, 60000);
    return `${String(b.name)} moved next to ${String(a.name)}`;
  },
  'drop-a-node': (o, r) => {
    const ss = slots(o);
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    if (Array.isArray(s.holder)) s.holder.splice(s.key as number, 1);
    else delete s.holder[s.key as string];
    return `without ${String(s.key)}`;
  },
};

export const RANDOM_TEXT: Record<string, (t: string, r: R) => string> = {
  'flip-chars': (t, r) => {
    const a = [...t];
    for (let i = int(r, 1, 8); i > 0 && a.length > 0; i--) a[int(r, 0, a.length - 1)] = pick(r, ODD_CHARS);
    return a.join('');
  },
  'insert-chars': (t, r) => {
    const at = int(r, 0, t.length);
    return (
      t.slice(0, at) + Array.from({ length: int(r, 1, 6) }, () => pick(r, ODD_CHARS)).join('') + t.slice(at)
    );
  },
  'delete-range': (t, r) => {
    const at = int(r, 0, t.length);
    return t.slice(0, at) + t.slice(at + int(r, 1, 40));
  },
  'duplicate-range': (t, r) => {
    const at = int(r, 0, t.length);
    const n = int(r, 1, 200);
    return t.slice(0, at + n) + t.slice(at, at + n) + t.slice(at + n);
  },
  truncate: (t, r) => t.slice(0, int(r, 0, t.length)),
  'lines-moved': (t, r) => {
    const ls = t.split('\n');
    if (ls.length < 2) return t;
    const i = int(r, 0, ls.length - 1);
    const j = int(r, 0, ls.length - 1);
    const op = int(r, 0, 2);
    if (op === 0) ls.splice(i, 1);
    else if (op === 1) ls.splice(i, 0, ls[j] ?? '');
    else [ls[i], ls[j]] = [ls[j] ?? '', ls[i] ?? ''];
    return ls.join('\n');
  },
  reindent: (t, r) => {
    const ls = t.split('\n');
    const i = int(r, 0, ls.length - 1);
    const d = int(r, -4, 4);
    ls[i] = d >= 0 ? ' '.repeat(d) + (ls[i] ?? '') : (ls[i] ?? '').replace(new RegExp(`^ {0,${-d}}`), '');
    return ls.join('\n');
  },
  'yaml-tag': (t, r) =>
    t.replace(
      /: (\S)/,
      (_m, c: string) =>
        `: ${pick(r, ['!!str', '!!int', '!!float', '!!binary', '!!set', '!!omap', '!!timestamp', '!custom', '!<tag:x>'])} ${c}`,
    ),
  'another-document': (t, r) => `${t}\n---\n${pick(r, ['services: []', 'interface: lo', '- 1', t])}\n`,
  'anchor-games': (t, r) =>
    t.replace(
      /: (\S)/,
      (_m, c: string) => `: ${pick(r, ['&a', '*a', '&a *a', '*undefined', '&x &y', '<<: *a'])} ${c}`,
    ),
  'tabs-for-spaces': (t) => t.replace(/^( {2})/gm, '\t'),
  'merge-key': (t) =>
    t
      .replace(/^services:/m, 'base: &base { port: 53 }\nservices:')
      .replace(/- name:/, '- <<: *base\n    name:'),
};
