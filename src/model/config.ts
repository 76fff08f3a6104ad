// Configuration model: turns the operator's YAML (or an already-parsed object) into a validated Config.
// Pure (no file or network I/O). Every problem names its path, its line (YAML input) and the fix.

import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Document, YAMLError } from 'yaml';
import {
  Checker,
  checkMapping,
  classifyAddress,
  field,
  formatPath,
  integer,
  list,
  oneOf,
  reportDuplicates,
  string,
} from './config-schema.js';
import type { Checked, Path, Rule } from './config-schema.js';

export type XdpMode = 'auto' | 'native' | 'generic';
export interface BackendConfig {
  address: string;
  port: number;
}
export interface ServiceConfig {
  name: string;
  /** '*' (any address: port-only service) or an IPv4 address. */
  vip: string;
  port: number;
  protocol: 'udp';
  scheduler: 'round-robin';
  mode: 'local';
  backends: BackendConfig[];
}
export interface Config {
  interfaces: string[];
  xdpMode: XdpMode;
  flowTableSize: number;
  services: ServiceConfig[];
}
export interface ConfigProblem {
  /** e.g. 'services[0].port'; '' for the whole document. */
  path: string;
  line?: number;
  /** Names the problem and the fix. */
  message: string;
}

export const LIMITS = {
  maxServices: 4096,
  maxBackendsPerService: 4096,
  maxBackendsTotal: 65536,
  minFlowTableSize: 1024,
  maxFlowTableSize: 16777216,
  maxInterfaceNameLength: 15,
  maxServiceNameLength: 63,
} as const;

export const DEFAULTS = {
  xdpMode: 'auto',
  flowTableSize: 65536,
  protocol: 'udp',
  scheduler: 'round-robin',
  mode: 'local',
} as const;

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

export function serviceKeyString(s: Pick<ServiceConfig, 'vip' | 'port' | 'protocol'>): string {
  return `${s.vip}:${s.port}/${s.protocol}`;
}

// ---- field rules -------------------------------------------------------------------------------

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const interfaceName: Rule<string> = (value, path, c) => {
  const s = string('an interface name', 'eth0')(value, path, c);
  if (s === undefined) return undefined;
  const bytes = Buffer.byteLength(s);
  if (bytes < 1 || bytes > LIMITS.maxInterfaceNameLength || s === '.' || s === '..' || /[/:\s]/.test(s)) {
    c.report(
      path,
      `invalid interface name ${JSON.stringify(s)}: Linux interface names are ` +
        `1 to ${LIMITS.maxInterfaceNameLength} bytes, contain no '/', ':' or whitespace ` +
        "and are not '.' or '..'; use a name shown by 'ip link'",
    );
    return undefined;
  }
  return s;
};

const serviceName: Rule<string> = (value, path, c) => {
  const s = string('the service name', 'dns')(value, path, c);
  if (s === undefined || NAME_RE.test(s)) return s;
  const fixed = s
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, LIMITS.maxServiceNameLength);
  c.report(
    path,
    `invalid service name ${JSON.stringify(s)}: it must match ${String(NAME_RE)} ` +
      "(a lowercase letter or digit, then up to 62 of a-z 0-9 '_' '.' '-')" +
      (fixed === '' ? '' : `; e.g. '${fixed}'`),
  );
  return undefined;
};

const port = (what: string): Rule<number> => integer(what, 1, 65535, 9875);

/** A service VIP: '*' or an IPv4 unicast address. */
const vip: Rule<string> = (value, path, c) => {
  const s = string('the vip', "192.0.2.10 or '*'")(value, path, c);
  if (s === undefined) return undefined;
  const kind = classifyAddress(s);
  if (kind === 'any' || kind === 'unicast') return s;
  c.report(path, addressProblem(`vip ${JSON.stringify(s)}`, kind, true));
  return undefined;
};

/** A backend address: IPv4 unicast only. */
const backendAddress: Rule<string> = (value, path, c) => {
  const s = string('the backend address', '192.0.2.10')(value, path, c);
  if (s === undefined) return undefined;
  const kind = classifyAddress(s);
  if (kind === 'unicast') return s;
  c.report(path, addressProblem(`backend address ${JSON.stringify(s)}`, kind, false));
  return undefined;
};

function addressProblem(what: string, kind: ReturnType<typeof classifyAddress>, isVip: boolean): string {
  const fix = `use an IPv4 unicast address such as 192.0.2.10${isVip ? ", or '*' for any address" : ''}`;
  switch (kind) {
    case 'any':
      return `${what}: '*' (any address) is only allowed as a service vip; ${fix}`;
    case 'unspecified':
      return isVip
        ? `${what} is not a usable address; to accept packets to any address write vip: '*' (quoted)`
        : `${what} is not a usable address; ${fix}`;
    case 'ipv6':
      return `${what} is IPv6: IPv6 services are not supported yet; ${fix}`;
    case 'multicast':
      return `${what} is a multicast address (224.0.0.0/4); ${fix}`;
    case 'broadcast':
      return `${what} is the broadcast address; ${fix}`;
    case 'invalid':
    case 'unicast':
      return `${what} is not an IPv4 address; write a dotted quad: ${fix}`;
  }
}

// ---- tables: one per mapping level (add new fields here) --------------------------------------

const backendFields = {
  address: field(backendAddress, {
    required: 'add the IPv4 address of the backend, e.g. address: 192.0.2.10',
  }),
  port: field(port('the backend port'), { required: 'add the UDP port of the backend, e.g. port: 9876' }),
};
const BACKEND_EXAMPLE = '{ address: 192.0.2.10, port: 9876 }';
const backend: Rule<Checked<typeof backendFields>> = (value, path, c) => {
  const m = typeof value === 'string' ? /^\s*([^\s]+):(\d+)\s*$/.exec(value) : null;
  if (m) {
    const fix = `{ address: ${m[1] ?? ''}, port: ${m[2] ?? ''} }`;
    c.report(
      path,
      `a backend must be a mapping, got the string ${JSON.stringify(value)}; write it as ${fix}`,
    );
    return undefined;
  }
  return checkMapping(value, path, c, backendFields, 'a backend', BACKEND_EXAMPLE);
};

const notYet = (what: string, values: string[], fix: string): Record<string, string> =>
  Object.fromEntries(values.map((v) => [v, `${what} '${v}' is not supported yet; ${fix}`]));

const serviceFields = {
  name: field(serviceName, { required: 'give the service a unique name, e.g. name: dns' }),
  vip: field(vip, { required: "add the IPv4 address clients send to, e.g. vip: 192.0.2.10, or vip: '*'" }),
  port: field(port('the service port'), { required: 'add the UDP port clients send to, e.g. port: 53' }),
  protocol: field(
    oneOf('protocol', ['udp'], {
      tcp: 'xlb balances UDP only; set protocol: udp (or remove the key: udp is the default)',
    }),
    { default: DEFAULTS.protocol },
  ),
  scheduler: field(oneOf('scheduler', ['round-robin']), { default: DEFAULTS.scheduler }),
  mode: field(
    oneOf(
      'mode',
      ['local'],
      notYet('mode', ['nat', 'fullnat', 'dsr'], 'use mode: local (or remove the key)'),
    ),
    { default: DEFAULTS.mode },
  ),
  backends: field(list('backends', backend, LIMITS.maxBackendsPerService, `[${BACKEND_EXAMPLE}]`), {
    required: `add a list of backends, e.g. backends: [${BACKEND_EXAMPLE}] (an empty list drops the packets)`,
  }),
};
const SERVICE_EXAMPLE = '{ name: dns, vip: 192.0.2.10, port: 53, backends: [...] }';
const service: Rule<Checked<typeof serviceFields>> = (value, path, c) =>
  checkMapping(value, path, c, serviceFields, 'a service', SERVICE_EXAMPLE);

const topFields = {
  interface: field(interfaceName),
  interfaces: field(list('interfaces', interfaceName, Number.MAX_SAFE_INTEGER, '[eth0, eth1]')),
  xdp_mode: field(oneOf('xdp_mode', ['auto', 'native', 'generic']), { default: DEFAULTS.xdpMode }),
  flow_table_size: field(
    integer('flow_table_size', LIMITS.minFlowTableSize, LIMITS.maxFlowTableSize, DEFAULTS.flowTableSize),
    { default: DEFAULTS.flowTableSize },
  ),
  services: field(list('services', service, LIMITS.maxServices, SERVICE_EXAMPLE), {
    required: `add a list of services, e.g. services: [${SERVICE_EXAMPLE}] (it may be empty: services: [])`,
  }),
};

// ---- whole-document checks ---------------------------------------------------------------------

type TopChecked = Checked<typeof topFields>;
type ServiceChecked = Checked<typeof serviceFields>;

function check(input: unknown, c: Checker): Config | undefined {
  const example = '{ interface: lo, services: [...] }';
  const top = checkMapping(input, [], c, topFields, 'the configuration', example);
  if (top === undefined) return undefined;
  checkInterfaces(top, input as object, c);
  const services = top.services ?? [];
  checkAcrossServices(services, c);
  return c.issues.length > 0 ? undefined : build(top, services);
}

/** Exactly one of 'interface' / 'interfaces' (given as keys of `input`), a non-empty list, no repeats. */
function checkInterfaces(top: TopChecked, input: object, c: Checker): void {
  const hasOne = Object.hasOwn(input, 'interface');
  const hasMany = Object.hasOwn(input, 'interfaces');
  if (hasOne && hasMany) {
    c.report(['interfaces'], "both 'interface' and 'interfaces' are set; keep only one (interfaces: [a, b])");
  } else if (!hasOne && !hasMany) {
    c.report(['interface'], "no interface given; add 'interface: eth0' or 'interfaces: [eth0, eth1]'");
  }
  if (top.interfaces?.length === 0) {
    c.report(['interfaces'], 'the interface list is empty; name at least one, e.g. interfaces: [eth0]');
  }
  reportDuplicates(
    top.interfaces ?? [],
    (s) => s,
    (i) => ['interfaces', i],
    (k, first) => `interface '${k}' is listed twice (also interfaces[${first}]); remove one`,
    c,
  );
}

/** Unique names, unique vip:port/protocol keys, unique backends per service, total backend count. */
function checkAcrossServices(services: (ServiceChecked | undefined)[], c: Checker): void {
  reportDuplicates(
    services,
    (s) => s.name,
    (i) => ['services', i, 'name'],
    (k, first, again) =>
      `duplicate service name '${k}' (services[${first}] and services[${again}]); ` +
      'give each service a unique name',
    c,
  );
  reportDuplicates(
    services,
    ({ vip, port, protocol }) =>
      vip === undefined || port === undefined || protocol === undefined
        ? undefined
        : serviceKeyString({ vip, port, protocol }),
    (i) => ['services', i],
    (k, first, again) =>
      `services[${first}] (${nameOf(services[first])}) and services[${again}] (${nameOf(services[again])}) ` +
      `both listen on ${k}; change the vip or port of one, or merge their backends`,
    c,
  );
  let total = 0;
  services.forEach((s, i) => {
    const backends = s?.backends ?? [];
    total += backends.length;
    reportDuplicates(
      backends,
      (b) => (b.address === undefined || b.port === undefined ? undefined : `${b.address}:${b.port}`),
      (j) => ['services', i, 'backends', j],
      (k, first) => `duplicate backend ${k} (same as backends[${first}]); remove one of them`,
      c,
    );
  });
  if (total > LIMITS.maxBackendsTotal) {
    c.report(
      ['services'],
      `${total} backends in total, more than the limit of ${LIMITS.maxBackendsTotal}; ` +
        `remove ${total - LIMITS.maxBackendsTotal} or spread the services over several xlb instances`,
    );
  }
}

/** Builds the fresh Config; only called once no problem was reported, so every value is present. */
function build(top: TopChecked, services: (ServiceChecked | undefined)[]): Config {
  return {
    interfaces: top.interfaces ? top.interfaces.map(req) : [req(top.interface)],
    xdpMode: req(top.xdp_mode),
    flowTableSize: req(top.flow_table_size),
    services: services.map(req).map((s) => ({
      name: req(s.name),
      vip: req(s.vip),
      port: req(s.port),
      protocol: req(s.protocol),
      scheduler: req(s.scheduler),
      mode: req(s.mode),
      backends: req(s.backends)
        .map(req)
        .map((b) => ({ address: req(b.address), port: req(b.port) })),
    })),
  };
}

const nameOf = (s: { name?: string | undefined } | undefined): string =>
  s?.name === undefined ? 'unnamed' : `'${s.name}'`;

/** Unwraps a value that is known to be present once validation reported no problem. */
function req<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('xlb internal error: validated configuration has a missing value');
  return v;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

// ---- entry points ------------------------------------------------------------------------------

/**
 * Validates an already-parsed object shaped like the YAML (snake_case keys, e.g. flow_table_size).
 * Throws ConfigError listing all problems (without line numbers).
 */
export function validateConfig(input: unknown, source = '<object>'): Config {
  const c = new Checker();
  const config = check(input, c);
  if (config === undefined) {
    const problems = c.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    throw new ConfigError(source, problems);
  }
  return deepFreeze(config);
}

/** Parses and validates YAML text. Throws ConfigError listing all problems, each with its line. */
export function parseConfig(text: string, source = '<config>'): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true });
  // Only the first YAML error is reported: the following ones usually cascade from it.
  const syntax = doc.errors.slice(0, 1).map((e) => syntaxProblem(e, doc.errors.length - 1));
  visit(doc, {
    Alias(_, node) {
      if (node.source !== '' && node.resolve(doc) === undefined) {
        const line = node.range ? lc.linePos(node.range[0]).line : undefined;
        syntax.push({
          path: '',
          line,
          message:
            `YAML alias '*${node.source}' has no anchor '&${node.source}' before it; ` +
            'define the anchor or quote the value',
        });
      }
    },
  });
  if (syntax.length > 0) throw new ConfigError(source, syntax);

  let input: unknown;
  try {
    input = doc.toJS();
  } catch (e) {
    throw new ConfigError(source, [
      {
        path: '',
        line: 1,
        message: `cannot read the YAML document (${(e as Error).message}); simplify its anchors and aliases`,
      },
    ]);
  }
  if (input === null || input === undefined) {
    throw new ConfigError(source, [
      {
        path: '',
        line: 1,
        message:
          "the configuration is empty; write at least 'interface: <name>' and 'services:' " +
          '(see the default configuration)',
      },
    ]);
  }
  const c = new Checker((path) => {
    const node = locate(doc, lc, path).node;
    return isScalar(node) && typeof node.value === 'number' ? node.source : undefined;
  });
  const config = check(input, c);
  if (config === undefined) {
    const problems = c.issues.map((i) => ({
      path: formatPath(i.path),
      line: locate(doc, lc, i.path).line,
      message: i.message,
    }));
    problems.sort((a, b) => a.line - b.line);
    throw new ConfigError(source, problems);
  }
  return deepFreeze(config);
}

function syntaxProblem(e: YAMLError, more: number): ConfigProblem {
  const pos = e.linePos?.[0];
  const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  let fix = 'fix the YAML syntax there';
  if (e.code === 'BAD_ALIAS')
    fix = "a bare '*' starts a YAML alias; for 'any address' write vip: '*' (quoted)";
  if (e.code === 'DUPLICATE_KEY') fix = 'remove or rename the repeated key';
  if (e.code === 'MULTIPLE_DOCS') {
    return {
      path: '',
      line: pos?.line,
      message:
        "the file holds several YAML documents ('---'); xlb reads one: " +
        "remove the extra '---' and what follows, or merge it",
    };
  }
  return {
    path: '',
    line: pos?.line,
    message:
      `YAML syntax error${pos ? ` at column ${pos.col}` : ''}: ${first}; ${fix}` +
      (more > 0 ? ` (${more} more YAML error${more > 1 ? 's' : ''} may follow from this one)` : ''),
  };
}

/**
 * Finds the YAML node at `path` and the line to report for it: for a mapping key, the key's line;
 * for a list item, the item's line; for a missing node, the line of its deepest existing ancestor.
 */
function locate(doc: Document, lc: LineCounter, path: Path): { line: number; node?: unknown } {
  let node: unknown = doc.contents;
  const lineOf = (n: unknown, dflt: number): number => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    return range ? lc.linePos(range[0]).line : dflt;
  };
  let line = lineOf(node, 1);
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return { line };
      line = lineOf(pair.key, line);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      line = lineOf(node, line);
    } else {
      return { line };
    }
  }
  if (isAlias(node)) node = node.resolve(doc);
  return { line, node };
}

// ---- built-in default --------------------------------------------------------------------------

export const DEFAULT_CONFIG_YAML = `# xlb configuration (format v0): the tutorial setup.
# Network interface to attach the XDP program to; for several, write interfaces: [eth0, eth1].
interface: lo
# How the XDP program is attached: auto (let xlb choose), native (in the driver) or generic (kernel, slower).
xdp_mode: auto
# Number of entries of the flow table (one per client flow): an integer from 1024 to 16777216.
flow_table_size: 65536
# The services to balance; each receives packets on a vip and port and spreads them over its backends.
services:
  - name: demo             # unique name: a lowercase letter or digit, then a-z 0-9 _ . -
    vip: 127.0.0.1         # IPv4 address clients send to, or '*' (quoted) for any local address
    port: 9875             # UDP port clients send to, 1..65535
    protocol: udp          # xlb balances UDP only (default udp)
    scheduler: round-robin # how a backend is chosen for a new flow (default and only value: round-robin)
    mode: local            # forwarding mode (default and only value for now: local)
    backends:              # where packets go; an empty list drops the service's packets (counted)
      - { address: 127.0.0.1, port: 9876 }
      - { address: 127.0.0.1, port: 9877 }
      - { address: 127.0.0.1, port: 9878 }
`;

export function defaultConfig(): Config {
  return parseConfig(DEFAULT_CONFIG_YAML, '<built-in default>');
}
