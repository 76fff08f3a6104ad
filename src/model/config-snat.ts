// The rule between fullnat's source ports and the other services: a backend replies to the
// snat address and the port fullnat drew for the flow, and the data plane looks a packet's
// destination up among the services before it tries the reply translations. A service that
// listens on that address and port (its vip is the snat address, or it is a "*" service of
// the snat address's family) would take such a reply for a new request and send it to its
// own backends. So no service may listen on a port of a fullnat range of its address. Used by
// the whole-config validation (config.ts) and by serviceConflicts (the API's path). Pure.

/** What the rule needs of a service; fields that failed validation are undefined. */
export interface Listener {
  name?: string | undefined;
  /** Set on the fullnat service itself among what its range catches. */
  self?: boolean;
  vip?: string | undefined;
  port?: number | undefined;
  family?: 4 | 6 | undefined;
}

/** A fullnat service's source: the address and the ports backends reply to. */
export interface SnatRange {
  name?: string | undefined;
  family: 4 | 6;
  snat: { address: string; portMin: number; portMax: number };
}

const shown = (l: Listener): string => (l.name === undefined ? 'an unnamed service' : `'${l.name}'`);

/** Whether replies to `f`'s source ports can reach `l` instead of their translation. */
export function catchesReplies(f: SnatRange, l: Listener): boolean {
  const { address, portMin, portMax } = f.snat;
  if (l.port === undefined || l.port < portMin || l.port > portMax) return false;
  return l.vip === address || (l.vip === '*' && l.family === f.family);
}

const ports = (f: SnatRange): string => `${f.snat.portMin}-${f.snat.portMax}`;

/** How `l` listens: 'vip 192.0.2.1' or "vip '*', any IPv4 address". */
const where = (l: Listener): string =>
  l.vip === '*' ? `vip '*', any IPv${l.family ?? 4} address` : `vip ${l.vip ?? '?'}`;

/** The widest part of `f`'s range without any of `taken`, as 'LO-HI'; undefined: under 16 ports. */
function widestFree(f: SnatRange, taken: readonly number[]): string | undefined {
  const sorted = [...new Set(taken)].sort((a, b) => a - b);
  let best = { lo: 0, hi: -1 };
  let lo = f.snat.portMin;
  for (const p of [...sorted, f.snat.portMax + 1]) {
    if (p - 1 - lo > best.hi - best.lo) best = { lo, hi: p - 1 };
    lo = p + 1;
  }
  return best.hi - best.lo + 1 >= 16 ? `${best.lo}-${best.hi}` : undefined;
}

const LOOKUP = 'the data plane looks services up before reply translations, so a backend reply that drew';

/** The problem of fullnat service `f` whose source ports catch `caught` (at most 3 named). */
export function snatRangeProblem(f: SnatRange, caught: readonly Listener[]): string {
  const one = caught.length === 1 ? caught[0] : undefined;
  const named = caught
    .slice(0, 3)
    .map((l) => `port ${l.port} of ${shown(l)}${l.self === true ? ' itself' : ''} (${where(l)})`);
  const more = caught.length - named.length;
  const list =
    named.length === 1
      ? (named[0] ?? '')
      : `${named.slice(0, -1).join(', ')}${more > 0 ? ', ' : ' and '}${named.at(-1) ?? ''}`;
  const free = widestFree(
    f,
    caught.map((l) => l.port ?? 0),
  );
  return (
    `snat ports ${ports(f)} (address ${f.snat.address}) of ${shown(f)} include ${list}` +
    `${more > 0 ? ` and ${more} more` : ''}: ${LOOKUP} ` +
    (one === undefined
      ? 'one of these ports would go to that service as a new request; '
      : `port ${one.port} would go to ${shown(one)} as a new request; `) +
    (free === undefined
      ? `use a range without ${one ? 'it' : 'them'}`
      : `use a range without ${one ? 'it' : 'them'}, e.g. ports: ${free}`) +
    `, or move ${one === undefined ? 'those services to other ports' : `${shown(one)} to another port`}`
  );
}

/** The problem of `l` whose port lies in the source ports of fullnat service `f`. */
export function inSnatRangeProblem(l: Listener, f: SnatRange): string {
  const free = widestFree(f, [l.port ?? 0]);
  return (
    `port ${l.port} of ${shown(l)} (${where(l)}) lies in the snat ports ${ports(f)} (address ` +
    `${f.snat.address}) of ${shown(f)}: ${LOOKUP} port ${l.port} would go to ${shown(l)} as a new ` +
    `request; use a port outside ${ports(f)}, or give ${shown(f)} a range without ${l.port}` +
    (free === undefined ? '' : `, e.g. ports: ${free}`)
  );
}

/**
 * Every fullnat service of `services` whose source ports catch some service's listener (itself
 * included), with those services in list order. One pass and a sorted port list per address:
 * O(n log n) plus what is found.
 */
export function snatOverlaps<S extends Listener>(
  services: readonly (S | undefined)[],
  range: (s: S) => SnatRange | undefined,
): { index: number; caught: S[] }[] {
  const byAddress = new Map<string, { port: number; index: number }[]>();
  services.forEach((s, index) => {
    if (s?.vip === undefined || s.port === undefined || s.family === undefined) return;
    const key = s.vip === '*' ? `*${s.family}` : s.vip;
    let list = byAddress.get(key);
    if (list === undefined) byAddress.set(key, (list = []));
    list.push({ port: s.port, index });
  });
  for (const list of byAddress.values()) list.sort((a, b) => a.port - b.port || a.index - b.index);
  const out: { index: number; caught: S[] }[] = [];
  services.forEach((s, index) => {
    const f = s === undefined ? undefined : range(s);
    if (f === undefined) return;
    const hits = [byAddress.get(f.snat.address), byAddress.get(`*${f.family}`)].flatMap((list) =>
      list === undefined ? [] : inRange(list, f.snat.portMin, f.snat.portMax),
    );
    if (hits.length === 0) return;
    hits.sort((a, b) => a - b);
    out.push({ index, caught: hits.map((i) => services[i] as S) });
  });
  return out;
}

/** The indexes of the entries of `sorted` (by port) whose port is in [lo, hi]. */
function inRange(sorted: readonly { port: number; index: number }[], lo: number, hi: number): number[] {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if ((sorted[mid]?.port ?? 0) < lo) a = mid + 1;
    else b = mid;
  }
  const out: number[] = [];
  for (let i = a; i < sorted.length && (sorted[i]?.port ?? 0) <= hi; i++) out.push(sorted[i]?.index ?? 0);
  return out;
}
