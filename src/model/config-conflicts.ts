// The API's path: putting one service into a running configuration (added, or in place of one)
// checked against the others in O(the service), not O(the configuration). What a change can
// conflict with is kept in an index of the configuration (names, listeners, the services on each
// address, the fullnat ranges, the totals of backends and table bytes), built once and then moved
// from each configuration to the next one an API change makes, updated by the one service that
// changed. The rules are the whole validation's (config.ts: checkCross, checkBudget); the
// differential test (test/unit/api-incremental.test.ts) holds the two to the same verdicts. Pure.
import {
  backendTotalProblem,
  serviceKeyString,
  type Config,
  type ConfigProblem,
  type ServiceConfig,
} from './config.js';
import { catchesReplies, inSnatRangeProblem, snatRangeProblem, type Listener } from './config-snat.js';
import {
  flowPart,
  flowTablesBytes,
  overBudgetProblem,
  reservePart,
  schedEntriesProblem,
  servicePart,
  serviceTableBytes,
} from './config-memory.js';

/** The tables' bytes of each service, once (a Config's services are frozen and shared). */
const tableBytes = new WeakMap<ServiceConfig, number>();
function tableBytesOf(s: ServiceConfig): number {
  let bytes = tableBytes.get(s);
  if (bytes === undefined) tableBytes.set(s, (bytes = serviceTableBytes(s)));
  return bytes;
}

/** Where a service listens, for the services a fullnat range could catch: its vip, or '*' and its family. */
const addressKey = (vip: string, family: 4 | 6): string => (vip === '*' ? `*/${family}` : vip);

class ConfigIndex {
  /** Services by name. */
  readonly byName = new Map<string, ServiceConfig>();
  /** The name of the service on each listener (serviceKeyString). */
  readonly listeners = new Map<string, string>();
  /** Services by addressKey, by name. */
  readonly byAddress = new Map<string, Map<string, ServiceConfig>>();
  /** Fullnat services (with snat) by name. */
  readonly fullnat = new Map<string, ServiceConfig>();
  backends = 0;
  tableBytes = 0;

  constructor(services: readonly ServiceConfig[]) {
    for (const s of services) this.add(s);
  }

  add(s: ServiceConfig): void {
    this.byName.set(s.name, s);
    this.listeners.set(serviceKeyString(s), s.name);
    const key = addressKey(s.vip, s.family);
    let at = this.byAddress.get(key);
    if (at === undefined) this.byAddress.set(key, (at = new Map<string, ServiceConfig>()));
    at.set(s.name, s);
    if (s.snat !== undefined) this.fullnat.set(s.name, s);
    this.backends += s.backends.length;
    this.tableBytes += tableBytesOf(s);
  }

  remove(name: string): void {
    const s = this.byName.get(name);
    if (s === undefined) return;
    this.byName.delete(name);
    if (this.listeners.get(serviceKeyString(s)) === name) this.listeners.delete(serviceKeyString(s));
    const key = addressKey(s.vip, s.family);
    const at = this.byAddress.get(key);
    at?.delete(name);
    if (at?.size === 0) this.byAddress.delete(key);
    this.fullnat.delete(name);
    this.backends -= s.backends.length;
    this.tableBytes -= tableBytesOf(s);
  }
}

/**
 * The index of each configuration that has one. An API change moves it to the configuration it
 * makes (withService, withoutService); a configuration whose index moved on builds a new one when
 * it is used again (a refused apply that falls back to it, say): O(services), once.
 */
const indexes = new WeakMap<Config, ConfigIndex>();

function indexOf(config: Config): ConfigIndex {
  let index = indexes.get(config);
  if (index === undefined) indexes.set(config, (index = new ConfigIndex(config.services)));
  return index;
}

/** The service named `name`, found through the index. */
export function serviceNamed(config: Config, name: string): ServiceConfig | undefined {
  return indexOf(config).byName.get(name);
}

/** Where a service stands in the list: for the paths of problems (only when there are some). */
const position = (config: Config, name: string | undefined): number =>
  name === undefined ? -1 : config.services.findIndex((x) => x.name === name);

/**
 * The problems of putting `s` into `config` (as a new service, or in place of the service named
 * `replacing`): a name or a listener (vip, port, protocol, family) another service has, a
 * listener in the snat ports of a fullnat service or the other way round (config-snat.ts), the
 * total of backends, and the kernel-memory budget. Paths name the service as it would be listed.
 * O(the service, the fullnat services and the services on its snat address) through the index.
 */
export function serviceConflicts(config: Config, s: ServiceConfig, replacing?: string): ConfigProblem[] {
  const index = indexOf(config);
  const at = replacing === undefined ? config.services.length : position(config, replacing);
  const path = `services[${at < 0 ? config.services.length : at}]`;
  const others = (name: string): boolean => name !== replacing;
  /** Problems with another service, ordered by that service's place (the whole validation's order). */
  const withOthers: { at: number; problem: ConfigProblem }[] = [];

  const named = index.byName.get(s.name);
  if (named !== undefined && others(named.name)) {
    const i = position(config, named.name);
    withOthers.push({
      at: i,
      problem: {
        path: `${path}.name`,
        code: 'duplicate_service',
        message: `duplicate service name '${s.name}' (services[${i}]); give each service a unique name`,
      },
    });
  }
  const key = serviceKeyString(s);
  const listening = index.listeners.get(key);
  if (listening !== undefined && others(listening)) {
    const i = position(config, listening);
    withOthers.push({
      at: i,
      problem: {
        path,
        code: 'duplicate_listener',
        message:
          `'${listening}' (services[${i}]) already listens on ${key}` +
          `${s.vip === '*' ? ` (any IPv${s.family} address)` : ''}; change the vip or port, or add the backends to '${listening}'`,
      },
    });
  }
  for (const o of index.fullnat.values()) {
    if (!others(o.name) || o.snat === undefined || !catchesReplies({ ...o, snat: o.snat }, s)) continue;
    withOthers.push({
      at: position(config, o.name),
      problem: {
        path: `${path}.port`,
        code: 'conflict',
        message: inSnatRangeProblem(s, { ...o, snat: o.snat }),
      },
    });
  }
  const problems = withOthers.sort((a, b) => a.at - b.at).map((x) => x.problem);

  if (s.snat !== undefined) {
    const range = { ...s, snat: s.snat };
    /** The services whose listener catches replies to the source ports of `s`, in list order. */
    const caught: Listener[] = [];
    for (const key of [s.snat.address, addressKey('*', s.family)]) {
      for (const o of index.byAddress.get(key)?.values() ?? []) {
        if (others(o.name) && catchesReplies(range, o)) caught.push(o);
      }
    }
    if (caught.length > 0) {
      const place = new Map(caught.map((l) => [l, position(config, l.name)]));
      caught.sort((a, b) => (place.get(a) ?? 0) - (place.get(b) ?? 0));
    }
    if (catchesReplies(range, s)) caught.unshift({ ...s, self: true });
    if (caught.length > 0) {
      problems.push({
        path: `${path}.snat.ports`,
        code: 'conflict',
        message: snatRangeProblem(range, caught),
      });
    }
  }

  const replaced = replacing === undefined ? undefined : index.byName.get(replacing);
  const total = index.backends - (replaced?.backends.length ?? 0) + s.backends.length;
  const over = backendTotalProblem(total);
  if (over !== undefined) problems.push({ path: 'services', code: 'too_many', message: over });
  const bytes =
    flowTablesBytes(config.flowTableSize) +
    reservePart().bytes +
    index.tableBytes -
    (replaced === undefined ? 0 : tableBytesOf(replaced)) +
    tableBytesOf(s);
  if (bytes > config.memoryLimit) {
    const rest = config.services.filter((o) => o.name !== replacing);
    const parts = [flowPart(config.flowTableSize), reservePart(), ...[s, ...rest].map(servicePart)];
    const overBudget = overBudgetProblem(parts, config.memoryLimit);
    if (overBudget !== undefined) problems.push({ path, code: 'too_large', message: overBudget });
  } else {
    // sched_flat's bound (2^28 entries) is far above what memory_limit lets through by
    // default; the sum over the services is cheap next to the change itself.
    const flat = schedEntriesProblem([s, ...config.services.filter((o) => o.name !== replacing)]);
    if (flat !== undefined) problems.push({ path, code: 'too_large', message: flat });
  }
  return problems;
}

/**
 * `config` with `s` added (or put in place of the service named `replacing`), already checked by
 * serviceConflicts; the index moves to the result in O(the service).
 */
export function withService(config: Config, s: ServiceConfig, replacing?: string): Config {
  const index = indexOf(config);
  const services =
    replacing === undefined
      ? [...config.services, s]
      : config.services.map((x) => (x.name === replacing ? s : x));
  const next: Config = { ...config, services };
  if (replacing !== undefined) index.remove(replacing);
  index.add(s);
  indexes.delete(config);
  indexes.set(next, index);
  return next;
}

/** `config` without the service named `name`; the index moves to the result. */
export function withoutService(config: Config, name: string): Config {
  const index = indexOf(config);
  const next: Config = { ...config, services: config.services.filter((s) => s.name !== name) };
  index.remove(name);
  indexes.delete(config);
  indexes.set(next, index);
  return next;
}
