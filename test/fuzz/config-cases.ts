// The config fuzzer's cases: valid seed configs (the README's examples, the built-in default,
// the configs of the tests, and seeds written here to cover every field) turned into files by
// mutations of three kinds:
//
//   neutral        the same configuration written otherwise (key order, flow style, quotes,
//                  comments, CRLF, a BOM, document markers, hex integers, anchors): must be
//                  accepted as exactly the seed's configuration;
//   known-invalid  one change that no valid config has (a wrong type, a value out of range, an
//                  unknown or missing key, a duplicate, an address that cannot work, a snat range
//                  over another service's port, a duplicate YAML key, too many of something, a
//                  nesting or alias bomb, a file over the size limit), perhaps with neutral ones:
//                  must be refused;
//   random         anything (bytes flipped, inserted, deleted; lines moved; values replaced with
//                  random values, huge strings, deep nesting, tags, control and unicode
//                  characters; many services; other documents): any verdict, but no crash, no
//                  hang, and what is accepted re-validates to itself.
//
// A case is a function of (seed, index) alone, so any finding replays with fuzzCase(seed, index).
import { parse as yamlParse, stringify } from 'yaml';
import { DEFAULT_CONFIG_YAML } from '../../src/model/config.js';
import {
  aliasBomb,
  blockListBomb,
  flowListBomb,
  flowMapBomb,
  indentBomb,
  serviceBomb,
  stringBomb,
} from '../helpers/config-bombs.js';
import { int, pick, rng } from '../helpers/random.js';

export type Expectation = 'same' | 'invalid' | 'any';

export interface SeedConfig {
  name: string;
  text: string;
}

export interface FuzzCase {
  index: number;
  seed: string;
  /** What was done, in order ('neutral:crlf', 'invalid:wrong-type services[0].port', …). */
  mutations: string[];
  expect: Expectation;
  text: string;
}

type R = () => number;
type Obj = Record<string, unknown>;

// ---- seeds ---------------------------------------------------------------------------------------

/** Seeds that cover what the README's examples do not: every mode, family, scheduler and block. */
const WRITTEN_SEEDS: SeedConfig[] = [
  {
    name: 'every-mode',
    text: `interfaces: [eth0, eth1]
xdp_mode: native
flow_table_size: 131072
hash_seed: 7
memory_limit: 1GiB
services:
  - name: dns-nat
    vip: 192.0.2.10
    port: 53
    mode: nat
    scheduler: maglev
    hash_key: src-addr
    table_size: 1021
    health: &hc { type: udp, interval: 500ms, timeout: 200ms, rise: 2, fall: 3, send: ping, expect: pong }
    all_down: keep-last
    backends:
      - { address: 198.51.100.11, port: 5301 }
      - { address: 198.51.100.12, port: 5301, weight: 3 }
  - name: dns-fullnat6
    vip: "fd00:192::10"
    port: 53
    mode: fullnat
    scheduler: weighted-round-robin
    snat: { address: "fd00:198::1", ports: 20000-60000 }
    flow_timeouts: { unreplied: 10, assured: 300 }
    health: { type: dns, name: health.example., qtype: AAAA, rcode: NOERROR }
    backends:
      - { address: "fd00:198::11", port: 53, weight: 2 }
      - { address: "fd00:198::12", port: 53, weight: 0 }
  - name: game-dsr
    vip: 203.0.113.7
    port: 27015
    mode: dsr
    scheduler: round-robin
    flow_affinity: true
    health: { type: tcp, port: 8080, target: backend }
    backends:
      - { address: 198.51.100.21 }
      - { address: 198.51.100.22, port: 27015 }
  - name: any-local
    vip: "*"
    port: 9875
    backends:
      - { address: 127.0.0.1, port: 9876 }
  - name: web-check
    vip: 192.0.2.10
    port: 443
    mode: nat
    health: { type: http, path: /healthz, status: 204, host: example.org }
    backends: []
  - name: same-health
    vip: 192.0.2.11
    port: 53
    mode: nat
    health: *hc
    backends: [{ address: 198.51.100.31, port: 53 }]
`,
  },
  {
    name: 'fullnat-v4-and-star',
    text: `interface: eth0
services:
  - name: fn
    vip: 192.0.2.20
    port: 5300
    mode: fullnat
    snat: { address: 192.0.2.1, ports: 30000-30999 }
    backends:
      - { address: 198.51.100.41, port: 5301 }
      - { address: 198.51.100.42, port: 5301 }
  - name: star6
    vip: '*'
    port: 5300
    mode: nat
    backends: [{ address: 'fd00:198::41', port: 5301 }]
  - name: local6
    vip: '::1'
    port: 9000
    scheduler: round-robin
    health: { type: exec, command: [/bin/true, '{address}', '{port}'], interval: 5, timeout: 2 }
    all_down: drop
    backends:
      - { address: '::1', port: 9001 }
      - { address: '::1', port: 9002, weight: 0 }
`,
  },
  { name: 'empty', text: 'interface: lo\nservices: []\n' },
];

/** The README's complete configs (code blocks with `services:`). */
export function readmeSeeds(readme: string): SeedConfig[] {
  const out: SeedConfig[] = [];
  for (const m of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const text = m[1] ?? '';
    if (/^services:/m.test(text)) out.push({ name: `README example ${out.length + 1}`, text });
  }
  return out;
}

/** Every seed: `extra` (the README's) first, then the built-in default and the written ones. */
export function seedConfigs(extra: SeedConfig[] = [], more: SeedConfig[] = []): SeedConfig[] {
  return [...extra, { name: 'built-in default', text: DEFAULT_CONFIG_YAML }, ...WRITTEN_SEEDS, ...more];
}

// ---- helpers -------------------------------------------------------------------------------------

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const services = (o: Obj): Obj[] => (Array.isArray(o.services) ? o.services.filter(isObj) : []);
const backendsOf = (s: Obj): Obj[] => (Array.isArray(s.backends) ? s.backends.filter(isObj) : []);
const familyOf = (s: Obj): 4 | 6 => {
  const probe = [s.vip, ...backendsOf(s).map((b) => b.address), isObj(s.snat) ? s.snat.address : undefined];
  return probe.some((a) => typeof a === 'string' && a.includes(':')) ? 6 : 4;
};
const modeOf = (s: Obj): string => (typeof s.mode === 'string' ? s.mode : 'local');
const routed = (s: Obj): boolean => s.mode === 'nat' || s.mode === 'fullnat' || s.mode === 'dsr';
const uniqueName = (o: Obj, r: R): string => {
  const names = new Set(services(o).map((s) => s.name));
  let n = `fz-${int(r, 0, 99999)}`;
  while (names.has(n)) n += 'x';
  return n;
};
/** A unicast address of the family that no seed uses, `k` making it unique. */
const freshAddress = (family: 4 | 6, k: number): string =>
  family === 4 ? `203.0.113.${(k % 200) + 20}` : `fd00:fade::${(k % 60000).toString(16)}`;

/** The seed as data (aliases become shared objects, written back as anchors). */
function parseSeed(text: string): Obj {
  // The seeds are valid YAML: the `yaml` package's own reader is enough here.
  return (yamlParse(text) ?? {}) as Obj;
}

interface Written {
  obj: Obj;
  /** stringify options chosen by neutral mutations. */
  style: { flow: boolean; quote: boolean; indent: number; aliases: boolean };
  /** Text transformations applied after writing. */
  post: ((text: string, r: R) => string)[];
  /** Once, around the finished text: document markers, then a byte order mark before them. */
  markers: boolean;
  bom: boolean;
}

function write(w: Written): string {
  return stringify(w.obj, {
    collectionStyle: w.style.flow ? 'flow' : 'any',
    defaultStringType: w.style.quote ? 'QUOTE_DOUBLE' : 'PLAIN',
    defaultKeyType: 'PLAIN',
    indent: w.style.indent,
    aliasDuplicateObjects: w.style.aliases,
    lineWidth: 0,
  });
}

// ---- neutral mutations ---------------------------------------------------------------------------

const HEX_KEYS = ['port', 'weight', 'flow_table_size', 'hash_seed', 'table_size'];

const NEUTRAL: Record<string, (w: Written, r: R) => void> = {
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

// ---- known-invalid mutations -----------------------------------------------------------------------

/** Where a field lives and which values it can never take (each alone makes a config invalid). */
interface Target {
  path: string;
  holder: Obj;
  key: string;
}

const INTEGER_BAD = ['x', '53', true, [], {}, null, 1.5, -0.5];
const ENUM_BAD = [5, true, [], {}, null, 'bogus', 'NAT', ''];
const ADDRESS_BAD = [
  5,
  true,
  [],
  {},
  null,
  'bogus',
  '1.2.3',
  '01.2.3.4',
  '192.0.2.1/24',
  '[fd00::1]',
  '192.0.2.1:53',
  '0.0.0.0',
  '0.1.2.3',
  '240.0.0.1',
  '255.255.255.255',
  '224.0.0.1',
  'ff02::1',
  'fe80::1',
  '::',
  '::ffff:192.0.2.1',
  ' 192.0.2.1 x',
];
const NAME_BAD = [
  5,
  true,
  [],
  {},
  null,
  'Upper',
  'has space',
  'a/b',
  '',
  'x'.repeat(64),
  'é',
  '-lead',
  'a\u0000b',
];
const IFNAME_BAD = [
  5,
  [],
  {},
  null,
  'a'.repeat(16),
  'a/b',
  'a b',
  'lo\u0000x',
  'eth0\n',
  'tab\t',
  '.',
  '..',
  'a:b',
];
const LIST_BAD = [5, 'x', {}, null, true];
const MAP_BAD = [5, 'x', [], true];
const BOOL_BAD = ['yes', 1, 'true', 'on', [], null];

/** Out-of-range values per integer field. */
const RANGE_BAD: Record<string, unknown[]> = {
  port: [0, 65536, -1, 70000, 2 ** 53],
  flow_table_size: [1023, 16777217, 0, -65536],
  hash_seed: [-1, 4294967296],
  weight: [-1, 65536],
  table_size: [4, 1000, 1048583, 65536],
  unreplied: [0, 65536],
  assured: [0, 70000],
  rise: [0, 101],
  fall: [0, 101],
  status: [99, 600],
  memory_limit: ['512KiB', '2TiB', '1025GiB', '2GB', 0, -1, '1.5GiB'],
};

type Invalid = (o: Obj, r: R) => string | undefined;

/** Every field a known-invalid value can go in, with the values that field can never take. */
function targets(o: Obj): { t: Target; bad: unknown[]; range?: unknown[] }[] {
  const out: { t: Target; bad: unknown[]; range?: unknown[] }[] = [];
  const add = (holder: Obj, path: string, key: string, bad: unknown[], range?: unknown[]) =>
    out.push({
      t: { holder, path: path === '' ? key : `${path}.${key}`, key },
      bad,
      ...(range ? { range } : {}),
    });
  add(o, '', 'flow_table_size', INTEGER_BAD, RANGE_BAD.flow_table_size);
  add(o, '', 'hash_seed', INTEGER_BAD, RANGE_BAD.hash_seed);
  add(o, '', 'xdp_mode', ENUM_BAD);
  add(o, '', 'services', LIST_BAD);
  add(o, '', 'memory_limit', [true, [], {}, null, 'lots', 1.5], RANGE_BAD.memory_limit);
  if (Object.hasOwn(o, 'interface')) add(o, '', 'interface', IFNAME_BAD);
  services(o).forEach((s, i) => {
    const p = `services[${i}]`;
    add(s, p, 'name', NAME_BAD);
    add(s, p, 'vip', ADDRESS_BAD);
    add(s, p, 'port', INTEGER_BAD, RANGE_BAD.port);
    add(s, p, 'mode', ENUM_BAD);
    add(s, p, 'scheduler', ENUM_BAD);
    add(s, p, 'protocol', [...ENUM_BAD, 'tcp']);
    add(s, p, 'backends', LIST_BAD);
    add(s, p, 'flow_timeouts', MAP_BAD);
    if (s.flow_affinity !== undefined) add(s, p, 'flow_affinity', BOOL_BAD);
    if (s.scheduler === 'maglev' || s.scheduler === undefined) {
      add(s, p, 'table_size', INTEGER_BAD, RANGE_BAD.table_size);
      add(s, p, 'hash_key', ENUM_BAD);
    }
    if (isObj(s.flow_timeouts)) {
      add(s.flow_timeouts, `${p}.flow_timeouts`, 'unreplied', INTEGER_BAD, RANGE_BAD.unreplied);
      add(s.flow_timeouts, `${p}.flow_timeouts`, 'assured', INTEGER_BAD, RANGE_BAD.assured);
    }
    if (isObj(s.snat)) {
      add(s, p, 'snat', MAP_BAD);
      add(s.snat, `${p}.snat`, 'address', ADDRESS_BAD);
      add(s.snat, `${p}.snat`, 'ports', [
        true,
        [],
        {},
        null,
        'x',
        '20000-',
        '1000-2000',
        '30000-20000',
        '20000-20005',
        70000,
      ]);
    }
    if (isObj(s.health)) {
      add(s, p, 'health', [5, [], true, 'udp']);
      add(s.health, `${p}.health`, 'type', ENUM_BAD);
      add(s.health, `${p}.health`, 'rise', INTEGER_BAD, RANGE_BAD.rise);
      add(s.health, `${p}.health`, 'fall', INTEGER_BAD, RANGE_BAD.fall);
      add(s.health, `${p}.health`, 'interval', [true, [], {}, null, 'soon', '50ms', 0, -1, 3601]);
    }
    backendsOf(s).forEach((b, j) => {
      const q = `${p}.backends[${j}]`;
      add(b, q, 'address', ADDRESS_BAD);
      add(b, q, 'weight', INTEGER_BAD, RANGE_BAD.weight);
      if (Object.hasOwn(b, 'port') || s.mode !== 'dsr') add(b, q, 'port', INTEGER_BAD, RANGE_BAD.port);
    });
  });
  return out;
}

/** Every mapping the validator checks key by key (an unknown key there is refused). */
function mappings(o: Obj): { holder: Obj; path: string }[] {
  const out = [{ holder: o, path: '' }];
  services(o).forEach((s, i) => {
    const p = `services[${i}]`;
    out.push({ holder: s, path: p });
    for (const k of ['snat', 'flow_timeouts', 'health'])
      if (isObj(s[k])) out.push({ holder: s[k], path: `${p}.${k}` });
    backendsOf(s).forEach((b, j) => out.push({ holder: b, path: `${p}.backends[${j}]` }));
  });
  return out;
}

/** Unshares what a mutation is about to change (a value written through an alias is shared). */
function own(holder: Obj, key: string): Obj {
  const v = holder[key];
  if (isObj(v)) holder[key] = structuredClone(v);
  return holder[key] as Obj;
}

const INVALID: Record<string, Invalid> = {
  'wrong-type': (o, r) => {
    const { t, bad } = pick(r, targets(o));
    const v = pick(r, bad);
    t.holder[t.key] = structuredClone(v);
    return `${t.path} = ${JSON.stringify(v)}`;
  },
  'out-of-range': (o, r) => {
    const ts = targets(o).filter((x) => x.range !== undefined);
    const { t, range } = pick(r, ts);
    const v = pick(r, range ?? []);
    t.holder[t.key] = v;
    return `${t.path} = ${JSON.stringify(v)}`;
  },
  'unknown-key': (o, r) => {
    const m = pick(r, mappings(o));
    const key = pick(r, [
      'bogus',
      'Port',
      'vipp',
      'backend',
      'services_',
      'snat_ports',
      '__proto_',
      `k${int(r, 0, 999)}`,
    ]);
    if (Object.hasOwn(m.holder, key)) return undefined;
    m.holder[key] = pick(r, [1, 'x', null, [], {}]);
    return `${m.path === '' ? '' : `${m.path}.`}${key}`;
  },
  'missing-key': (o, r) => {
    const choices: [Obj, string, string][] = [[o, 'services', 'services']];
    if (Object.hasOwn(o, 'interface')) choices.push([o, 'interface', 'interface']);
    if (Object.hasOwn(o, 'interfaces')) choices.push([o, 'interfaces', 'interfaces']);
    services(o).forEach((s, i) => {
      for (const k of ['name', 'vip', 'port', 'backends']) choices.push([s, k, `services[${i}].${k}`]);
      if (s.mode === 'fullnat') {
        choices.push([s, 'snat', `services[${i}].snat`]);
        if (isObj(s.snat)) choices.push([own(s, 'snat'), 'address', `services[${i}].snat.address`]);
      }
      if (isObj(s.health)) choices.push([own(s, 'health'), 'type', `services[${i}].health.type`]);
      backendsOf(s).forEach((b, j) => {
        choices.push([b, 'address', `services[${i}].backends[${j}].address`]);
        if (s.mode !== 'dsr' && Object.hasOwn(b, 'port'))
          choices.push([b, 'port', `services[${i}].backends[${j}].port`]);
      });
    });
    const [holder, key, path] = pick(r, choices);
    delete holder[key];
    return path;
  },
  'duplicate-name': (o, r) => {
    const ss = services(o);
    if (ss.length < 2) return undefined;
    const a = int(r, 0, ss.length - 1);
    const b = (a + int(r, 1, ss.length - 1)) % ss.length;
    ss[b]!.name = ss[a]!.name;
    return `services[${b}].name = services[${a}].name`;
  },
  'duplicate-listener': (o, r) => {
    const ss = services(o);
    if (ss.length === 0) return undefined;
    const i = int(r, 0, ss.length - 1);
    const copy = structuredClone(ss[i]!);
    copy.name = uniqueName(o, r);
    (o.services as unknown[]).push(copy);
    return `a copy of services[${i}] under another name`;
  },
  'duplicate-backend': (o, r) => {
    const withBackends = services(o).filter((s) => backendsOf(s).length > 0);
    if (withBackends.length === 0) return undefined;
    const s = pick(r, withBackends);
    const b = pick(r, backendsOf(s));
    (s.backends as unknown[]).splice(int(r, 0, backendsOf(s).length), 0, structuredClone(b));
    return `backend ${JSON.stringify(b)} twice in ${String(s.name)}`;
  },
  'loopback-in-routed-mode': (o, r) => {
    const rs = services(o).filter(routed);
    if (rs.length === 0) return undefined;
    const s = pick(r, rs);
    const lo = familyOf(s) === 6 ? '::1' : pick(r, ['127.0.0.1', '127.1.2.3']);
    const where: string[] = ['vip'];
    if (backendsOf(s).length > 0) where.push('backend');
    if (isObj(s.snat)) where.push('snat');
    const w = pick(r, where);
    if (w === 'vip') s.vip = lo;
    else if (w === 'snat') own(s, 'snat').address = lo;
    else pick(r, backendsOf(s)).address = lo;
    return `${w} of ${String(s.name)} (${String(s.mode)}) = ${lo}`;
  },
  'other-family-backend': (o, r) => {
    const ss = services(o).filter((s) => s.vip !== '*' && backendsOf(s).length > 0);
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    const b = pick(r, backendsOf(s));
    b.address = freshAddress(familyOf(s) === 4 ? 6 : 4, int(r, 0, 9999));
    return `a backend of ${String(s.name)} in the other family`;
  },
  'snat-over-a-listener': (o, r) => {
    const fs = services(o).filter((s) => s.mode === 'fullnat' && isObj(s.snat));
    if (fs.length === 0) return undefined;
    const f = pick(r, fs);
    const snat = f.snat as Obj;
    const m = typeof snat.ports === 'string' ? /^(\d+)-(\d+)$/.exec(snat.ports) : null;
    const lo = m ? Number(m[1]) : typeof snat.ports === 'number' ? snat.ports : 20000;
    const hi = m ? Number(m[2]) : typeof snat.ports === 'number' ? snat.ports : 60000;
    const family = familyOf(f);
    const star = r() < 0.4;
    (o.services as unknown[]).push({
      name: uniqueName(o, r),
      vip: star ? '*' : snat.address,
      port: int(r, lo, hi),
      backends: star ? [{ address: freshAddress(family, int(r, 0, 9999)), port: 53 }] : [],
    });
    return `a service on ${star ? `'*' (IPv${family})` : String(snat.address)} at a port of ${String(f.name)}'s snat range`;
  },
  'snat-outside-fullnat': (o, r) => {
    const ss = services(o).filter((s) => s.mode !== 'fullnat');
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    s.snat = { address: freshAddress(familyOf(s), 1), ports: '20000-60000' };
    return `snat on ${String(s.name)} (mode ${modeOf(s)})`;
  },
  'maglev-field-elsewhere': (o, r) => {
    const ss = services(o).filter(
      (s) => s.scheduler === 'round-robin' || s.scheduler === 'weighted-round-robin',
    );
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    const k = pick(r, ['table_size', 'hash_key']);
    s[k] = k === 'table_size' ? 1021 : 'src-addr';
    return `${k} on ${String(s.name)} (${String(s.scheduler)})`;
  },
  'weight-in-round-robin': (o, r) => {
    const ss = services(o).filter((s) => s.scheduler === 'round-robin' && backendsOf(s).length > 0);
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    pick(r, backendsOf(s)).weight = int(r, 2, 100);
    return `a weight > 1 in ${String(s.name)} (round-robin)`;
  },
  'dsr-port-mismatch': (o, r) => {
    const ss = services(o).filter(
      (s) => s.mode === 'dsr' && backendsOf(s).length > 0 && typeof s.port === 'number',
    );
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    pick(r, backendsOf(s)).port = ((s.port as number) % 65535) + 1;
    return `a dsr backend of ${String(s.name)} on another port`;
  },
  'fullnat-without-affinity': (o, r) => {
    const ss = services(o).filter((s) => s.mode === 'fullnat');
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    s.flow_affinity = false;
    return `flow_affinity: false on ${String(s.name)} (fullnat)`;
  },
  'vip-health-target-outside-dsr': (o, r) => {
    const ss = services(o).filter((s) => s.mode !== 'dsr');
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    s.health = { ...(isObj(s.health) ? s.health : { type: 'udp' }), target: 'vip' };
    return `health target vip on ${String(s.name)} (mode ${modeOf(s)})`;
  },
  'all-down-without-health': (o, r) => {
    const ss = services(o).filter((s) => !isObj(s.health));
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    s.all_down = pick(r, ['drop', 'keep-last']);
    return `all_down on ${String(s.name)} without health`;
  },
  'interface-and-interfaces': (o) => {
    o.interface = 'eth0';
    o.interfaces = ['eth1'];
    return 'both interface and interfaces';
  },
  'duplicate-interface': (o) => {
    o.interfaces = ['eth0', 'eth0'];
    delete o.interface;
    return 'interfaces: [eth0, eth0]';
  },
  'too-many-backends': (o, r) => {
    const ss = services(o);
    if (ss.length === 0) return undefined;
    const s = pick(r, ss);
    const family = familyOf(s);
    s.scheduler = 'maglev';
    s.backends = Array.from({ length: 4097 }, (_, k) => ({ address: freshAddress(family, k), port: 53 }));
    if (family === 4)
      s.backends = (s.backends as Obj[]).map((b, k) => ({ ...b, port: 1000 + Math.floor(k / 200) }));
    return `4,097 backends in ${String(s.name)}`;
  },
  'too-many-services': (o) => {
    o.services = Array.from({ length: 4097 }, (_, k) => ({
      name: `s${k}`,
      vip: '192.0.2.1',
      port: k + 1,
      backends: [],
    }));
    return '4,097 services';
  },
  'over-memory-limit': (o) => {
    o.flow_table_size = 65536;
    o.memory_limit = '1MiB';
    return 'flow tables of 18.5 MiB within memory_limit 1MiB';
  },
};

/**
 * Lists or mappings `lo` to `hi` deep as the value of services: never a valid one (deeper than
 * 64, refused as such; else not a list of services).
 */
function nesting(r: R, lo: number, hi: number): { text: string; what: string } {
  const depth = int(r, lo, hi);
  const kind = int(r, 0, 3);
  const text = [flowListBomb, flowMapBomb, blockListBomb, indentBomb][kind]!(depth);
  return {
    text,
    what: `${['flow lists', 'flow mappings', 'block lists', 'indented mappings'][kind]} ${depth} deep`,
  };
}

/** Known-invalid mutations of the text itself. */
const INVALID_TEXT: Record<string, (text: string, r: R) => { text: string; what: string } | undefined> = {
  'duplicate-yaml-key': (text, r) => {
    const lines = text.split('\n');
    const indentOf = (l: string): number => /^ */.exec(l)?.[0].length ?? 0;
    const keyLines = lines.flatMap((l, i) => (/^ *[a-z_]+:/.test(l) && !/^ *- /.test(l) ? [i] : []));
    if (keyLines.length === 0) return undefined;
    const i = pick(r, keyLines);
    const line = lines[i] ?? '';
    const key = /^ *[a-z_]+:/.exec(line)?.[0] ?? '';
    // After the key's nested block, if it has one: the repeat belongs to the key's own mapping.
    let j = i + 1;
    while (
      j < lines.length &&
      (indentOf(lines[j] ?? '') > indentOf(line) || /^\s*(#.*)?\r?$/.test(lines[j] ?? ''))
    )
      j++;
    lines.splice(j, 0, `${key} ${pick(r, ['1', 'x', '[]', '{}'])}`);
    return { text: lines.join('\n'), what: `${key.trim()} twice (lines ${i + 1} and ${j + 1})` };
  },
  'prototype-key': (text, r) => {
    const key = pick(r, ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString']);
    const value = pick(r, ['{ interface: eth9 }', '1', '[]', 'null']);
    return { text: `${key}: ${value}\n${text.replace(/^\ufeff/, '')}`, what: `a top-level key ${key}` };
  },
  'nesting-bomb': (_text, r) => nesting(r, 65, 5000),
  'small-nesting': (_text, r) => nesting(r, 2, 64),
  'alias-bomb': (_text, r) => {
    const levels = int(r, 1, 12);
    const fanout = int(r, 2, 12);
    return { text: aliasBomb(levels, fanout), what: `aliases ${levels} levels of ${fanout}` };
  },
  'string-bomb': (_text, r) => {
    const chars = pickWeighted(r, [40_000, 1_000_000, 3_000_000], [4, 1, 0.5]);
    const aliases = Math.floor((32 * 1024 * 1024) / chars) + int(r, 1, 1000);
    return { text: stringBomb(chars, aliases), what: `${aliases} aliases of a string of ${chars}` };
  },
  'service-bomb': (_text, r) => {
    const n = pickWeighted(r, [2, 3, 64, 500, 4096], [4, 4, 4, 1, 0.3]);
    return { text: serviceBomb(n), what: `${n} aliased services of ${n} aliased backends` };
  },
  'over-the-size-limit': (text) => ({
    text: `${text}\n# ${'x'.repeat(16 * 1024 * 1024)}\n`,
    what: 'a comment past 16 MiB',
  }),
  'empty-document': (_text, r) => ({
    text: pick(r, ['', '\n', '# nothing\n', '---\n', '...\n', '~\n']),
    what: 'empty',
  }),
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

const RANDOM_OBJ: Record<string, (o: Obj, r: R) => string | undefined> = {
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

const RANDOM_TEXT: Record<string, (t: string, r: R) => string> = {
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

// ---- the case ------------------------------------------------------------------------------------

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
const weightOf = (name: string): number => WEIGHTS[name] ?? 1;

function pickWeighted<T>(r: R, xs: readonly T[], weights: readonly number[]): T {
  const total = weights.reduce((a, w) => a + w, 0);
  let x = r() * total;
  for (let i = 0; i < xs.length; i++) {
    x -= weights[i] ?? 0;
    if (x < 0) return xs[i] as T;
  }
  return xs[xs.length - 1] as T;
}

/** A well-mixed 32-bit seed for case `index` of the run seeded with `seed`. */
function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The same data, written anew. */
function written(seed: SeedConfig): Written {
  return {
    obj: parseSeed(seed.text),
    style: { flow: false, quote: false, indent: 2, aliases: true },
    post: [],
    markers: false,
    bom: false,
  };
}

function neutral(w: Written, r: R, count: number, log: string[]): void {
  const names = Object.keys(NEUTRAL);
  for (let i = 0; i < count; i++) {
    const n = pick(r, names);
    NEUTRAL[n]!(w, r);
    log.push(`neutral:${n}`);
  }
}

function finish(w: Written, r: R): string {
  let text = write(w);
  for (const f of w.post) text = f(text, r);
  if (w.markers) text = `---\n${text}...\n`;
  return w.bom ? `\ufeff${text}` : text;
}

/**
 * Case `index` of the run seeded with `seed` over `seeds`: its text, what was done to it and
 * what the validator must say.
 */
export function fuzzCase(seed: number, index: number, seeds: SeedConfig[]): FuzzCase {
  const r = rng(caseSeed(seed, index));
  const from = pick(r, seeds);
  const mutations: string[] = [];
  const w = written(from);
  const kind = r();
  if (kind < 0.12) {
    neutral(w, r, int(r, 1, 3), mutations);
    return { index, seed: from.name, mutations, expect: 'same', text: finish(w, r) };
  }
  if (kind < 0.57) {
    // One known-invalid change (retried until one applies), then neutral ones.
    const textual = r() < 0.12;
    if (textual) {
      neutral(w, r, int(r, 0, 2), mutations);
      const names = Object.keys(INVALID_TEXT);
      for (let tries = 0; tries < 20; tries++) {
        const n = pickWeighted(r, names, names.map(weightOf));
        const got = INVALID_TEXT[n]!(finish(w, r), r);
        if (got === undefined) continue;
        mutations.push(`invalid:${n} ${got.what}`);
        return { index, seed: from.name, mutations, expect: 'invalid', text: got.text };
      }
    } else {
      const names = Object.keys(INVALID);
      for (let tries = 0; tries < 50; tries++) {
        const n = pickWeighted(r, names, names.map(weightOf));
        const what = INVALID[n]!(w.obj, r);
        if (what === undefined) continue;
        mutations.push(`invalid:${n} ${what}`);
        neutral(w, r, int(r, 0, 2), mutations);
        return { index, seed: from.name, mutations, expect: 'invalid', text: finish(w, r) };
      }
    }
  }
  // Random: one to three changes of the data, the text, or both.
  if (r() < 0.3) neutral(w, r, 1, mutations);
  const objNames = Object.keys(RANDOM_OBJ);
  for (let i = int(r, 0, 2); i > 0; i--) {
    const n = pickWeighted(r, objNames, objNames.map(weightOf));
    const what = RANDOM_OBJ[n]!(w.obj, r);
    if (what !== undefined) mutations.push(`random:${n} ${what}`);
  }
  let text = finish(w, r);
  const textNames = Object.keys(RANDOM_TEXT);
  for (let i = mutations.some((m) => m.startsWith('random:')) ? int(r, 0, 2) : int(r, 1, 3); i > 0; i--) {
    const n = pick(r, textNames);
    text = RANDOM_TEXT[n]!(text, r);
    mutations.push(`random:${n}`);
  }
  return { index, seed: from.name, mutations, expect: 'any', text };
}
