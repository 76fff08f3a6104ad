// Configuration model: turns the operator's YAML (or an already-parsed object) into a validated Config.
// Pure (no file or network I/O). Every problem names its path, its line (YAML input) and the fix.
import { Limits, type XdpMode } from '../abi/abi.js';
import { deepFreeze } from '../util/freeze.js';
import { hostPort } from '../util/endpoint.js';
import { IFNAME_MAX_BYTES, interfaceNameProblem } from '../util/ifname.js';

import {
  boolean,
  Checker,
  FirstIssue,
  checkMapping,
  classifyAddress,
  clip,
  describe,
  familyOf,
  field,
  integer,
  isMapping,
  list,
  oneOf,
  reportDuplicates,
  string,
} from './config-schema.js';
import type { Checked, Path, Rule } from './config-schema.js';
import { ConfigError } from './config-schema.js';

export { ConfigError, formatProblem, MAX_PROBLEMS, type ConfigProblem } from './config-schema.js';
import { fastLoad } from './config-fast.js';
import { YAML_LIMITS, checkSize, exhaustedProblem, mayHaveAnchors, readYaml } from './config-yaml.js';
import { snatOverlaps, snatRangeProblem, type SnatRange } from './config-snat.js';

export { tooLargeProblem } from './config-yaml.js';
import { address, routedAddressProblems } from './config-address.js';
import { allDownRule, healthRule, type AllDownPolicy, type HealthConfig } from './config-health.js';
import { isPrime, nextPrime } from './maglev.js';
import { wrrSequenceLength } from './wrr.js';
import {
  MEMORY,
  budgetInput,
  flowPart,
  reservePart,
  schedEntriesProblem,
  formatBytes,
  overBudgetProblem,
  parseBudget,
  servicePart,
} from './config-memory.js';

/**
 * How packets reach a backend: local (to a socket on this host), nat (destination rewritten),
 * fullnat (destination and source rewritten, see snat) or dsr (only the MAC address rewritten).
 */
export type ForwardingMode = 'local' | 'nat' | 'fullnat' | 'dsr';
export type Scheduler = 'maglev' | 'round-robin' | 'weighted-round-robin';
export type HashKey = '5-tuple' | 'src-addr' | 'src-addr-port';
export interface BackendConfig {
  /** Canonical address, of the service's family. */
  address: string;
  /** For mode dsr always the service port. */
  port: number;
  /** 0 = drain: keeps its flows, gets no new ones. */
  weight: number;
}
/** The source that fullnat gives to packets sent to backends. */
export interface SnatConfig {
  /** Canonical address of this load balancer, of the service's family. */
  address: string;
  portMin: number;
  portMax: number;
}
/** Seconds an idle flow is kept: before the backend has replied, and once it has. */
export interface FlowTimeouts {
  unreplied: number;
  assured: number;
}
export interface ServiceConfig {
  name: string;
  /** '*' (any address: port-only service) or an IPv4/IPv6 address in canonical form (RFC 5952 for IPv6). */
  vip: string;
  port: number;
  protocol: 'udp';
  scheduler: Scheduler;
  /** What the maglev hash covers. */
  hashKey: HashKey;
  /** Entries of the maglev table (a prime); 0 for the other schedulers. */
  tableSize: number;
  /** Established flows keep their backend (a flow table entry each). */
  flowAffinity: boolean;
  mode: ForwardingMode;
  /** The vip's family; for vip '*' that of the backends (or of snat without backends), else 4. */
  family: 4 | 6;
  /** Present exactly when mode is 'fullnat'. */
  snat?: SnatConfig;
  flowTimeouts: FlowTimeouts;
  /** Active health checks of the backends (run by the daemon); absent: every backend counts as up. */
  health?: HealthConfig;
  /** With health: what happens when every backend is down. Present exactly when health is. */
  allDown?: AllDownPolicy;
  backends: BackendConfig[];
}
export interface Config {
  interfaces: string[];
  xdpMode: XdpMode;
  flowTableSize: number;
  /** Seeds the maglev tables and flow hashes: nodes of a cluster with one seed agree. */
  hashSeed: number;
  /** Bytes of kernel memory the flow and scheduling tables may take (config-memory.ts). */
  memoryLimit: number;
  services: ServiceConfig[];
}
/** What a config may hold. The ones the data plane's maps bound come from the ABI (checked
 * against the BPF object by test/bpf/layout.test.ts); the others are the control plane's own. */
export const LIMITS = {
  maxServices: Limits.maxServices,
  maxBackendsPerService: 4096,
  maxBackendsTotal: Limits.maxBackends,
  maxInterfaces: Limits.maxInterfaces,
  minFlowTableSize: 1024,
  maxFlowTableSize: 16777216,
  maxInterfaceNameLength: IFNAME_MAX_BYTES,
  maxServiceNameLength: 63,
  maxWeight: 65535,
  minTableSize: 7,
  maxTableSize: 1048573,
  maxWrrSequence: 65536,
  /** How much YAML is read: file size, nesting, aliases, values (see config-yaml.ts). */
  ...YAML_LIMITS,
} as const;

export const DEFAULTS = {
  xdpMode: 'auto',
  flowTableSize: 65536,
  protocol: 'udp',
  scheduler: 'maglev',
  hashKey: '5-tuple',
  tableSize: 16381,
  weight: 1,
  hashSeed: 0,
  mode: 'local',
  /** Like conntrack's UDP timeouts (nf_conntrack_udp_timeout and _stream). */
  flowTimeouts: { unreplied: 30, assured: 120 },
  snatPorts: { portMin: 20000, portMax: 60000 },
  memoryLimit: MEMORY.defaultLimit,
} as const;

/** Flow timeouts are 1 second to 1 day. */
/** The data plane stores timeouts in 16 bits: about 18 hours. */
const MAX_FLOW_TIMEOUT = 65535;
/** SNAT ports stay out of the privileged range. */
const MIN_SNAT_PORT = 1024;
/** Fewest SNAT ports: one is taken per flow. */
const MIN_SNAT_PORTS = 16;

/**
 * 'vip:port/protocol', with an IPv6 vip in brackets: '192.0.2.1:53/udp', '[2001:db8::1]:53/udp'.
 * Vip '*' reads '*:53/udp' for an IPv4 service and '[*]:53/udp' for an IPv6 one (family 6).
 */
export function serviceKeyString(
  s: Pick<ServiceConfig, 'vip' | 'port' | 'protocol'> & { family?: 4 | 6 | undefined },
): string {
  const v6 = s.vip === '*' ? s.family === 6 : familyOf(s.vip) === 6;
  return `${v6 ? `[${s.vip}]` : s.vip}:${s.port}/${s.protocol}`;
}

// ---- field rules -------------------------------------------------------------------------------

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const interfaceName: Rule<string> = (value, path, c) => {
  const s = string('an interface name', 'eth0')(value, path, c);
  if (s === undefined) return undefined;
  const problem = interfaceNameProblem(s);
  if (problem === undefined) return s;
  c.report(
    path,
    `invalid interface name ${JSON.stringify(clip(s))}: ${problem}; use a name shown by 'ip link'`,
  );
  return undefined;
};

const serviceName: Rule<string> = (value, path, c) => {
  const s = string('the service name', 'dns')(value, path, c);
  if (s === undefined || NAME_RE.test(s)) return s;
  // A suggestion from the name's start (a name of megabytes costs no more than a long one).
  const fixed = s
    .slice(0, 4 * LIMITS.maxServiceNameLength)
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, LIMITS.maxServiceNameLength);
  c.report(
    path,
    `invalid service name ${JSON.stringify(clip(s))}: it must match ${String(NAME_RE)} ` +
      "(a lowercase letter or digit, then up to 62 of a-z 0-9 '_' '.' '-')" +
      (fixed === '' ? '' : `; e.g. '${fixed}'`),
  );
  return undefined;
};

const port = (what: string): Rule<number> => integer(what, 1, 65535, 9875);

/** snat ports: one port (an integer) or 'LO-HI' with 1024 <= LO <= HI <= 65535, at least 16 ports. */
const snatPorts: Rule<{ portMin: number; portMax: number }> = (value, path, c) => {
  const example = `${DEFAULTS.snatPorts.portMin}-${DEFAULTS.snatPorts.portMax}`;
  let lo: number;
  let hi: number;
  if (typeof value === 'number') {
    const p = integer('the snat port', MIN_SNAT_PORT, 65535, DEFAULTS.snatPorts.portMin)(value, path, c);
    if (p === undefined) return undefined;
    lo = hi = p;
  } else {
    const m = typeof value === 'string' ? /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value) : null;
    if (m === null) {
      c.report(
        path,
        `snat ports must be a range LO-HI (${MIN_SNAT_PORT} <= LO <= HI <= 65535), ` +
          `got ${describe(value)}; e.g. ports: ${example}`,
      );
      return undefined;
    }
    lo = Number(m[1]);
    hi = Number(m[2] ?? m[1]);
  }
  const shown = lo === hi ? String(lo) : `${lo}-${hi}`;
  if (lo < MIN_SNAT_PORT || hi > 65535 || lo > 65535) {
    c.report(
      path,
      `snat ports ${shown} are out of range: use ports from ${MIN_SNAT_PORT} to 65535 ` +
        `(lower ports are reserved for system services), e.g. ports: ${example}`,
    );
    return undefined;
  }
  if (lo > hi) {
    c.report(path, `snat ports ${shown}: the first port is above the last; write ports: ${hi}-${lo}`);
    return undefined;
  }
  const count = hi - lo + 1;
  if (count < MIN_SNAT_PORTS) {
    const from = Math.min(lo, 65536 - MIN_SNAT_PORTS);
    c.report(
      path,
      `snat ports ${shown} hold ${count} port${count === 1 ? '' : 's'}, fewer than ${MIN_SNAT_PORTS}: ` +
        'fullnat allocates one source port per flow, so the range bounds the flows per backend; ' +
        `write a wider range such as ports: ${from}-${from + MIN_SNAT_PORTS - 1} (default ${example})`,
    );
    return undefined;
  }
  return { portMin: lo, portMax: hi };
};

/** memory_limit: bytes, or whole KiB, MiB or GiB ('2GiB'), from 1 MiB to 1024 GiB. */
const budget: Rule<number> = (value, path, c) => {
  // A number written as a fraction or an exponent (2.0e9) is refused as for every integer.
  const literal = typeof value === 'number' ? c.literal?.(path)?.trim() : undefined;
  const plain = literal === undefined || /^[-+]?(?:\d+|0x[0-9a-f]+|0o[0-7]+)$/i.test(literal);
  const bytes = plain ? parseBudget(value) : undefined;
  const range = `from ${String(budgetInput(MEMORY.minLimit))} to ${String(budgetInput(MEMORY.maxLimit))}`;
  if (bytes === undefined) {
    c.report(
      path,
      `memory_limit must be a number of bytes or a whole number of KiB, MiB or GiB (${range}), ` +
        `got ${literal === undefined ? describe(value) : clip(literal)}; e.g. memory_limit: ${String(budgetInput(MEMORY.defaultLimit))}`,
      'wrong_type',
    );
    return undefined;
  }
  if (bytes < MEMORY.minLimit || bytes > MEMORY.maxLimit) {
    c.report(path, `memory_limit ${formatBytes(bytes)} is out of range; use ${range}`, 'out_of_range');
    return undefined;
  }
  return bytes;
};

// ---- tables: one per mapping level (add new fields here) --------------------------------------

const backendFields = {
  address: field(address('backend'), {
    required: 'add the address of the backend, e.g. address: 192.0.2.10',
  }),
  // Required except in mode dsr: checked with the service (see checkModeFields).
  port: field(port('the backend port')),
  weight: field(integer('the backend weight', 0, LIMITS.maxWeight, 1), { default: DEFAULTS.weight }),
};
const BACKEND_EXAMPLE = '{ address: 192.0.2.10, port: 9876 }';
const backend: Rule<Checked<typeof backendFields>> = (value, path, c) => {
  const m =
    typeof value === 'string'
      ? (/^\s*\[([^\]\s]+)\]:(\d+)\s*$/.exec(value) ?? /^\s*([^\s:[\]]+):(\d+)\s*$/.exec(value))
      : null;
  if (m) {
    const addr = m[1] ?? '';
    const fix = `{ address: ${addr.includes(':') ? JSON.stringify(clip(addr)) : clip(addr)}, port: ${clip(m[2] ?? '')} }`;
    c.report(path, `a backend must be a mapping, got ${describe(value)}; write it as ${fix}`);
    return undefined;
  }
  return checkMapping(value, path, c, backendFields, 'a backend', BACKEND_EXAMPLE);
};

const snatFields = {
  address: field(address('snat'), {
    required: 'add an address of this load balancer that the backends reply to, e.g. address: 192.0.2.1',
  }),
  ports: field(snatPorts, { default: DEFAULTS.snatPorts }),
};
const SNAT_EXAMPLE = '{ address: 192.0.2.1, ports: 20000-60000 }';
const snat: Rule<Checked<typeof snatFields>> = (value, path, c) => {
  if (typeof value === 'string' && classifyAddress(value).family !== undefined) {
    c.report(
      path,
      `snat must be a mapping, got the string ${JSON.stringify(clip(value))}; ` +
        `write it as snat: { address: ${value.includes(':') ? JSON.stringify(clip(value)) : clip(value)} } ` +
        '(ports default to 20000-60000)',
    );
    return undefined;
  }
  return checkMapping(value, path, c, snatFields, 'snat', SNAT_EXAMPLE);
};

const flowTimeoutFields = {
  unreplied: field(integer('the unreplied timeout (seconds)', 1, MAX_FLOW_TIMEOUT, 30), {
    default: DEFAULTS.flowTimeouts.unreplied,
  }),
  assured: field(integer('the assured timeout (seconds)', 1, MAX_FLOW_TIMEOUT, 120), {
    default: DEFAULTS.flowTimeouts.assured,
  }),
};
const FLOW_TIMEOUTS_EXAMPLE = '{ unreplied: 30, assured: 120 }';
const flowTimeouts: Rule<Checked<typeof flowTimeoutFields>> = (value, path, c) =>
  checkMapping(value, path, c, flowTimeoutFields, 'flow_timeouts', FLOW_TIMEOUTS_EXAMPLE);

const serviceFields = {
  name: field(serviceName, { required: 'give the service a unique name, e.g. name: dns' }),
  vip: field(address('vip'), {
    required: "add the address clients send to, e.g. vip: 192.0.2.10, vip: '2001:db8::10' or vip: '*'",
  }),
  port: field(port('the service port'), { required: 'add the UDP port clients send to, e.g. port: 53' }),
  protocol: field(
    oneOf('protocol', ['udp'], {
      tcp: 'xlb balances UDP only; set protocol: udp (or remove the key: udp is the default)',
    }),
    { default: DEFAULTS.protocol },
  ),
  scheduler: field(oneOf('scheduler', ['maglev', 'round-robin', 'weighted-round-robin']), {
    default: DEFAULTS.scheduler,
  }),
  // Only with scheduler maglev: checked with the scheduler (see checkScheduler).
  hash_key: field(oneOf('hash_key', ['5-tuple', 'src-addr', 'src-addr-port'])),
  table_size: field(integer('table_size', LIMITS.minTableSize, LIMITS.maxTableSize, DEFAULTS.tableSize)),
  flow_affinity: field(boolean('flow_affinity')),
  mode: field(oneOf('mode', ['local', 'nat', 'fullnat', 'dsr']), { default: DEFAULTS.mode }),
  // Required for mode fullnat only: checked with the mode (see checkModeFields).
  snat: field(snat),
  flow_timeouts: field(flowTimeouts, { default: DEFAULTS.flowTimeouts }),
  health: field(healthRule),
  // Only with health: checked in the service rule.
  all_down: field(allDownRule),
  backends: field(list('backends', backend, LIMITS.maxBackendsPerService, `[${BACKEND_EXAMPLE}]`), {
    required: `add a list of backends, e.g. backends: [${BACKEND_EXAMPLE}] (an empty list drops the packets)`,
  }),
};
const SERVICE_EXAMPLE = '{ name: dns, vip: 192.0.2.10, port: 53, backends: [...] }';
type ServiceFields = Checked<typeof serviceFields>;
/** The checked fields and the family (undefined when it cannot be told, a problem was reported). */
type ServiceChecked = ServiceFields & { family: 4 | 6 | undefined };
const service: Rule<ServiceChecked> = (value, path, c) => {
  const s = checkMapping(value, path, c, serviceFields, 'a service', SERVICE_EXAMPLE);
  if (s === undefined || !isMapping(value)) return undefined;
  checkModeFields(s, value, path, c);
  routedAddressProblems(s, path, c);
  checkScheduler(s, value, path, c);
  if (s.health?.target === 'vip' && s.mode !== undefined && (s.mode !== 'dsr' || s.vip === '*')) {
    c.report(
      [...path, 'health', 'target'],
      s.mode !== 'dsr'
        ? `health target vip is for mode dsr (where backends serve the service address); this service has mode ${s.mode}: remove target`
        : "health target vip needs one service address to probe, and this service has vip '*': set target: backend",
    );
  }
  if (s.all_down !== undefined && !Object.hasOwn(value, 'health')) {
    c.report(
      [...path, 'all_down'],
      'all_down only applies to a service with health checks; add a health block (e.g. health: { type: udp }) or remove all_down',
    );
  }
  return { ...s, family: checkFamilies(s, path, c) };
};

const topFields = {
  interface: field(interfaceName),
  interfaces: field(list('interfaces', interfaceName, LIMITS.maxInterfaces, '[eth0, eth1]')),
  xdp_mode: field(oneOf('xdp_mode', ['auto', 'native', 'generic']), { default: DEFAULTS.xdpMode }),
  flow_table_size: field(
    integer('flow_table_size', LIMITS.minFlowTableSize, LIMITS.maxFlowTableSize, DEFAULTS.flowTableSize),
    { default: DEFAULTS.flowTableSize },
  ),
  hash_seed: field(integer('hash_seed', 0, 0xffffffff, 0), { default: DEFAULTS.hashSeed }),
  memory_limit: field(budget, { default: DEFAULTS.memoryLimit }),
  services: field(list('services', service, LIMITS.maxServices, SERVICE_EXAMPLE), {
    required: `add a list of services, e.g. services: [${SERVICE_EXAMPLE}] (it may be empty: services: [])`,
  }),
};

// ---- per-service checks ------------------------------------------------------------------------

/** The backend port in effect: mode dsr fills a missing one with the service port. */
function backendPort(s: ServiceFields, b: Checked<typeof backendFields>): number | undefined {
  return b.port ?? (s.mode === 'dsr' ? s.port : undefined);
}

/** What depends on the mode: backend ports (required, or equal to the service port for dsr) and snat. */
function checkModeFields(s: ServiceFields, raw: Record<string, unknown>, path: Path, c: Checker): void {
  const mode = s.mode;
  if (mode === undefined) return; // an unknown mode was reported; what it would need is unknown
  const rawBackends: unknown[] = Array.isArray(raw.backends) ? raw.backends : [];
  s.backends?.forEach((b, j) => {
    if (b === undefined) return;
    const rawBackend = rawBackends[j];
    const portPath = [...path, 'backends', j, 'port'];
    if (mode !== 'dsr') {
      if (!isMapping(rawBackend) || !Object.hasOwn(rawBackend, 'port')) {
        c.report(
          portPath,
          "missing required key 'port'; add the UDP port of the backend, e.g. port: 9876 " +
            '(only mode dsr may omit it)',
        );
      }
    } else if (b.port !== undefined && s.port !== undefined && b.port !== s.port) {
      c.report(
        portPath,
        `backend port ${b.port}: dsr only rewrites MAC addresses: the backend must listen on the ` +
          `service port ${s.port}; remove port or set it to ${s.port}`,
      );
    }
  });
  const hasSnat = Object.hasOwn(raw, 'snat');
  if (mode === 'fullnat' && !hasSnat) {
    c.report(
      [...path, 'snat'],
      "missing required key 'snat': fullnat needs snat: { address: <an address of this load balancer>, " +
        'ports: 20000-60000 } (the source address and ports the backends see and reply to); add it',
    );
  } else if (mode !== 'fullnat' && hasSnat) {
    c.report(
      [...path, 'snat'],
      `snat is only used by mode fullnat (this service has mode ${mode}); remove it or set mode: fullnat`,
    );
  }
}

/** Scheduler-specific fields and weights: maglev's hash_key and table_size, weights per scheduler. */
function checkScheduler(s: ServiceFields, raw: Record<string, unknown>, path: Path, c: Checker): void {
  const sched = s.scheduler;
  if (sched === undefined) return;
  const live = (s.backends ?? []).filter((b) => b !== undefined && (b.weight ?? 1) > 0);
  for (const key of ['hash_key', 'table_size'] as const) {
    if (sched !== 'maglev' && Object.hasOwn(raw, key)) {
      c.report(
        [...path, key],
        `${key} only applies to scheduler maglev (this service uses ${sched}); remove it`,
      );
    }
  }
  if (sched === 'maglev' && s.table_size !== undefined) {
    if (!isPrime(s.table_size)) {
      c.report(
        [...path, 'table_size'],
        `table_size ${s.table_size} is not a prime; use one, e.g. ${nextPrime(s.table_size)} (maglev needs a prime)`,
      );
    } else if (s.table_size < live.length) {
      c.report(
        [...path, 'table_size'],
        `table_size ${s.table_size} is smaller than the ${live.length} backends; use at least ` +
          `${nextPrime(100 * live.length)} (about 100 entries per backend keeps every share within 1 %)`,
      );
    }
  }
  if (sched === 'round-robin') {
    s.backends?.forEach((b, j) => {
      if (b?.weight !== undefined && b.weight > 1) {
        c.report(
          [...path, 'backends', j, 'weight'],
          `weight ${b.weight}: round-robin gives every backend the same share (weight 1, or 0 to drain); ` +
            'use scheduler: weighted-round-robin or maglev for weights',
        );
      }
    });
  }
  if (sched === 'weighted-round-robin') {
    const length = wrrSequenceLength(live.map((b) => b?.weight ?? 1));
    if (length > LIMITS.maxWrrSequence) {
      c.report(
        [...path, 'backends'],
        `the weights make a round-robin sequence of ${length} entries, more than ${LIMITS.maxWrrSequence}; ` +
          'use smaller weights with the same ratios, or scheduler: maglev',
      );
    }
  }
  if (s.mode === 'fullnat' && s.flow_affinity === false) {
    c.report(
      [...path, 'flow_affinity'],
      'fullnat keeps every flow on its backend (its source port belongs to the flow); remove flow_affinity: false',
    );
  }
}

/**
 * One family per service: that of the vip, or for vip '*' that of the first backend (else of snat,
 * else 4). Reports every backend and a fullnat snat address of another family; returns the family.
 */
function checkFamilies(s: ServiceFields, path: Path, c: Checker): 4 | 6 | undefined {
  const who = s.name === undefined ? 'this service' : `service '${s.name}'`;
  const backends = (s.backends ?? []).flatMap((b, j) =>
    b?.address === undefined ? [] : [{ j, address: b.address }],
  );
  const first = backends[0];
  const snatAddress = s.mode === 'fullnat' ? s.snat?.address : undefined;
  const vip = s.vip;
  const v = (f: 4 | 6): string => `IPv${f}`;
  let family: 4 | 6;
  let reason: string;
  /** The problem of a backend `address` of family `f`, not the service's. */
  let mismatch: (address: string, f: 4 | 6) => string;
  if (vip !== undefined && vip !== '*') {
    family = familyOf(vip);
    reason = `vip ${vip}`;
    mismatch = (address, f) =>
      `${address} is ${v(f)} but ${who} is ${v(family)} (${reason}): xlb does not translate between ` +
      `IPv4 and IPv6; use an ${v(family)} backend or an ${v(f)} vip`;
  } else if (first !== undefined) {
    family = familyOf(first.address);
    reason = `${vip === '*' ? "vip '*', " : ''}backends[${first.j}] is ${first.address}`;
    mismatch = (address, f) =>
      `${address} is ${v(f)} but backends[${first.j}] (${first.address}) is ${v(family)}: ` +
      'all backends of a service must have one family' +
      (vip === '*' ? " (with vip '*' the service takes it from its backends)" : '') +
      ` and xlb does not translate between IPv4 and IPv6; use an ${v(family)} backend, ` +
      `or move the ${v(f)} backends to a service of their own`;
  } else if (vip === '*' && s.backends?.length === 0) {
    family = snatAddress === undefined ? 4 : familyOf(snatAddress);
    reason = "vip '*'";
    mismatch = () => '';
  } else {
    return undefined; // a bad vip, or vip '*' and only bad backends: reported already
  }
  for (const { j, address } of backends) {
    const f = familyOf(address);
    if (f !== family) c.report([...path, 'backends', j, 'address'], mismatch(address, f));
  }
  if (snatAddress !== undefined && familyOf(snatAddress) !== family) {
    const f = familyOf(snatAddress);
    c.report(
      [...path, 'snat', 'address'],
      `${snatAddress} is ${v(f)} but ${who} is ${v(family)} (${reason}): the snat address must have ` +
        `the service's family (xlb does not translate between IPv4 and IPv6); ` +
        `use an ${v(family)} address of this load balancer`,
    );
  }
  return family;
}

// ---- whole-document checks ---------------------------------------------------------------------

type TopChecked = Checked<typeof topFields>;

function check(input: unknown, c: Checker): Config | undefined {
  const example = '{ interface: lo, services: [...] }';
  const top = checkMapping(input, [], c, topFields, 'the configuration', example);
  if (top === undefined) return undefined;
  checkInterfaces(top, input as object, c);
  const services = top.services ?? [];
  checkAcrossServices(services, c);
  checkBudget(top, services, c);
  return c.count > 0 ? undefined : build(top, services);
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
    'duplicate_interface',
  );
}

/**
 * Unique names, unique (vip, port, protocol, family) keys, unique backends (canonical address and
 * port in effect) per service, total backend count.
 */
function checkAcrossServices(services: (ServiceChecked | undefined)[], c: Checker): void {
  reportDuplicates(
    services,
    (s) => s.name,
    (i) => ['services', i, 'name'],
    (k, first, again) =>
      `duplicate service name '${k}' (services[${first}] and services[${again}]); ` +
      'give each service a unique name',
    c,
    'duplicate_service',
  );
  reportDuplicates(
    services,
    ({ vip, port, protocol, family }) =>
      vip === undefined || port === undefined || protocol === undefined || family === undefined
        ? undefined
        : serviceKeyString({ vip, port, protocol, family }),
    (i) => ['services', i],
    (k, first, again) =>
      `services[${first}] (${nameOf(services[first])}) and services[${again}] (${nameOf(services[again])}) ` +
      `both listen on ${k}${services[first]?.vip === '*' ? ` (any IPv${services[first]?.family} address)` : ''}; ` +
      'change the vip or port of one, or merge their backends',
    c,
    'duplicate_listener',
  );
  let total = 0;
  services.forEach((s, i) => {
    if (s === undefined) return;
    total += (s.backends ?? []).length;
    checkBackendRepeats(s, ['services', i], c);
  });
  const over = backendTotalProblem(total);
  if (over !== undefined) c.report(['services'], over, 'too_many');
  for (const { index, caught } of snatOverlaps(services, snatRangeOf)) {
    const f = services[index];
    const range = f === undefined ? undefined : snatRangeOf(f);
    if (range === undefined) continue;
    const listeners = caught.map((l) => ({ ...l, self: l === f }));
    c.report(['services', index, 'snat', 'ports'], snatRangeProblem(range, listeners), 'conflict');
  }
}

/** The source addresses and ports of a fullnat service whose every part passed its checks. */
function snatRangeOf(s: ServiceChecked): SnatRange | undefined {
  const address = s.snat?.address;
  const ports = s.snat?.ports;
  if (s.mode !== 'fullnat' || address === undefined || ports === undefined || s.family === undefined)
    return undefined;
  return { name: s.name, family: s.family, snat: { address, ...ports } };
}

/** The tables' estimated kernel memory within memory_limit (services that failed a check aside). */
function checkBudget(top: TopChecked, services: (ServiceChecked | undefined)[], c: Checker): void {
  if (top.flow_table_size === undefined || top.memory_limit === undefined) return;
  const parts = [flowPart(top.flow_table_size), reservePart()];
  const tables = [];
  for (const s of services) {
    if (s?.scheduler === undefined || s.name === undefined) continue;
    const t = {
      name: s.name,
      scheduler: s.scheduler,
      tableSize: s.table_size ?? DEFAULTS.tableSize,
      backends: (s.backends ?? []).map((b) => ({ weight: b?.weight ?? 1 })),
    };
    tables.push(t);
    parts.push(servicePart(t));
  }
  const over = overBudgetProblem(parts, top.memory_limit);
  if (over !== undefined) c.report(['memory_limit'], over, 'too_large');
  const flat = schedEntriesProblem(tables);
  if (flat !== undefined) c.report(['services'], flat, 'too_large');
}

/** Each backend (canonical address, port in effect) once per service. */
function checkBackendRepeats(s: ServiceChecked, path: Path, c: Checker): void {
  reportDuplicates(
    s.backends ?? [],
    (b) => {
      const p = backendPort(s, b);
      return b.address === undefined || p === undefined ? undefined : hostPort(b.address, p);
    },
    (j) => [...path, 'backends', j],
    (k, first) => `duplicate backend ${k} (same as backends[${first}]); remove one of them`,
    c,
    'duplicate_backend',
  );
}

export function backendTotalProblem(total: number): string | undefined {
  return total > LIMITS.maxBackendsTotal
    ? `${total} backends in total, more than the limit of ${LIMITS.maxBackendsTotal}; ` +
        `remove ${total - LIMITS.maxBackendsTotal} or spread the services over several xlb instances`
    : undefined;
}

/** Builds the fresh Config; only called once no problem was reported, so every value is present. */
function build(top: TopChecked, services: (ServiceChecked | undefined)[]): Config {
  return {
    interfaces: top.interfaces ? top.interfaces.map(req) : [req(top.interface)],
    xdpMode: req(top.xdp_mode),
    flowTableSize: req(top.flow_table_size),
    hashSeed: req(top.hash_seed),
    memoryLimit: req(top.memory_limit),
    services: services.map((s) => buildService(req(s))),
  };
}

/** One fresh ServiceConfig out of a service that passed every check. */
function buildService(s: ServiceChecked): ServiceConfig {
  const mode = req(s.mode);
  const timeouts = req(s.flow_timeouts);
  const snatChecked = mode === 'fullnat' ? req(s.snat) : undefined;
  const ports = snatChecked === undefined ? undefined : req(snatChecked.ports);
  return {
    name: req(s.name),
    vip: req(s.vip),
    port: req(s.port),
    protocol: req(s.protocol),
    scheduler: req(s.scheduler),
    hashKey: s.hash_key ?? DEFAULTS.hashKey,
    tableSize: s.scheduler === 'maglev' ? (s.table_size ?? DEFAULTS.tableSize) : 0,
    flowAffinity: s.flow_affinity ?? (s.scheduler === 'maglev' || mode === 'fullnat'),
    mode,
    family: req(s.family),
    ...(snatChecked === undefined || ports === undefined
      ? {}
      : {
          snat: { address: req(snatChecked.address), portMin: ports.portMin, portMax: ports.portMax },
        }),
    flowTimeouts: { unreplied: req(timeouts.unreplied), assured: req(timeouts.assured) },
    ...(s.health === undefined ? {} : { health: s.health, allDown: s.all_down ?? 'drop' }),
    backends: req(s.backends)
      .map(req)
      .map((b) => ({ address: req(b.address), port: req(backendPort(s, b)), weight: req(b.weight) })),
  };
}

const nameOf = (s: { name?: string | undefined } | undefined): string =>
  s?.name === undefined ? 'unnamed' : `'${s.name}'`;

/** Unwraps a value that is known to be present once validation reported no problem. */
function req<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('xlb internal error: validated configuration has a missing value');
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
  if (config === undefined) throw new ConfigError(source, c.problems());
  return deepFreeze(config);
}

/**
 * Validates one service in its input form (as the API or a file writes it) with every rule that
 * concerns the service alone. Throws ConfigError listing all problems (paths relative to the
 * service). What concerns other services is `serviceConflicts`' part: together they check a
 * change in O(the service), not O(the configuration).
 */
export function validateService(input: unknown, source = '<object>'): ServiceConfig {
  const c = new Checker();
  const s = service(input, [], c);
  if (s !== undefined) checkBackendRepeats(s, [], c);
  if (s === undefined || c.count > 0) throw new ConfigError(source, c.problems());
  return deepFreeze(buildService(s));
}

/**
 * Parses and validates YAML text. Throws ConfigError listing all problems, each with its line.
 * Reading is bounded (YAML_LIMITS in config-yaml.ts: size, nesting, aliases and what they
 * expand to), whatever the text. `fastPath: false` skips the fast path (tests compare the two).
 */
export function parseConfig(text: string, source = '<config>', opts: { fastPath?: boolean } = {}): Config {
  try {
    return parseBounded(text, source, opts.fastPath !== false);
  } catch (e) {
    // The reader turns its own stack overflows into problems with the line of the deepest
    // nesting; one elsewhere (the fast path, the validator: the caller left little stack) or
    // an allocation beyond V8's limits still says which file, never crashes the caller.
    if (e instanceof RangeError) throw new ConfigError(source, [exhaustedProblem(1, e.message)]);
    throw e;
  }
}

function parseBounded(raw: string, source: string, fastPath: boolean): Config {
  checkSize(raw, source);
  // Line breaks as YAML defines them (CRLF, and a lone CR too) become LF before either reader
  // sees the text: the two readers disagree on a lone CR, and the lines of problems count LFs.
  const text = raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw;
  // Fast path (src/model/config-fast.ts): a valid file is accepted without positions. Only a
  // document without anchors takes it: js-yaml shares an anchor's value among its aliases, so
  // that walking it could cost what the expansion would; the slow path counts that first.
  if (fastPath && !mayHaveAnchors(text)) {
    const fast = fastLoad(text);
    if (fast !== undefined && fast !== null) {
      try {
        const config = check(fast, new Checker(undefined, true));
        if (config !== undefined) return deepFreeze(config);
      } catch (e) {
        if (!(e instanceof FirstIssue)) throw e;
      }
    }
  }
  const read = readYaml(text, source);
  if (read.value === null || read.value === undefined) {
    throw new ConfigError(source, [
      {
        path: '',
        code: 'syntax',
        line: 1,
        message:
          "the configuration is empty; write at least 'interface: <name>' and 'services:' " +
          '(see the default configuration)',
      },
    ]);
  }
  const c = new Checker((path) => read.locate(path).source);
  const config = check(read.value, c);
  if (config === undefined)
    throw new ConfigError(
      source,
      c.problems((path) => read.locate(path).line),
    );
  return deepFreeze(config);
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
    vip: 127.0.0.1         # IPv4 or IPv6 address clients send to, or '*' (quoted) for any local address
    port: 9875             # UDP port clients send to, 1..65535
    protocol: udp          # xlb balances UDP only (default udp)
    scheduler: round-robin # how a backend is chosen: maglev (the default), round-robin or weighted-round-robin
    mode: local            # forwarding mode: local (default), nat, fullnat (needs snat, below) or dsr
    # Optional: flow_timeouts: { unreplied: 30, assured: 120 } (seconds an idle flow is kept before and
    # after its backend replies), and for mode fullnat snat: { address: <an address of this host>,
    # ports: 20000-60000 } (the source the backends see).
    backends:              # where packets go; an empty list drops the service's packets (counted)
      # Backends have the vip's family; with mode dsr, port may be omitted (it is the service port).
      - { address: 127.0.0.1, port: 9876 }
      - { address: 127.0.0.1, port: 9877 }
      - { address: 127.0.0.1, port: 9878 }
`;

export function defaultConfig(): Config {
  return parseConfig(DEFAULT_CONFIG_YAML, '<built-in default>');
}
