// The config fuzzer's known-invalid mutations (config-cases.ts): each makes one change that no
// valid config has, whatever else the config holds, so the file must be refused: of the data
// (INVALID: a wrong type, a value out of range, an unknown or missing key, a duplicate, an
// address that cannot work, a snat range over a listener, ...) or of the text (INVALID_TEXT: a
// duplicate YAML key, a prototype key, bombs of nesting, aliases or strings, a file over the
// size limit, an empty document).
import {
  aliasBomb,
  blockListBomb,
  flowListBomb,
  flowMapBomb,
  indentBomb,
  serviceBomb,
  stringBomb,
} from '../helpers/config-bombs.js';
import { int, pick } from '../helpers/random.js';
import {
  backendsOf,
  familyOf,
  freshAddress,
  isObj,
  modeOf,
  pickWeighted,
  routed,
  services,
  uniqueName,
  type Obj,
  type R,
} from './config-mutations.js';

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

export const INVALID: Record<string, Invalid> = {
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
export const INVALID_TEXT: Record<
  string,
  (text: string, r: R) => { text: string; what: string } | undefined
> = {
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
