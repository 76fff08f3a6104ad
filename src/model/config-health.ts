// The `health:` block of a service (active health checks of its backends) and the service-level
// `all_down:` policy. Pure: rules for the table-driven validator of config-schema.ts, so every problem
// carries its path (and, from YAML, its line). Plug in with `health: field(healthRule)` and
// `all_down: allDownField` in the service table of config.ts.

import { checkMapping, clip, field, integer, isMapping, list, oneOf, string } from './config-schema.js';
import type { Checked, Checker, Field, Path, Rule } from './config-schema.js';

export const HEALTH_TYPES = ['udp', 'dns', 'tcp', 'http', 'exec'] as const;
export type HealthType = (typeof HEALTH_TYPES)[number];
export const DNS_QTYPES = ['A', 'AAAA', 'SOA', 'NS', 'TXT'] as const;
export type DnsQtype = (typeof DNS_QTYPES)[number];
export const DNS_RCODES = ['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED'] as const;
export type DnsRcode = (typeof DNS_RCODES)[number];
export const ALL_DOWN_POLICIES = ['drop', 'keep-last'] as const;
/** What a service does when every backend is unhealthy: drop its packets, or keep using them all. */
export type AllDownPolicy = (typeof ALL_DOWN_POLICIES)[number];

/** A validated health check; the defaults of its type are filled in, keys of other types are absent. */
export interface HealthConfig {
  type: HealthType;
  /** Seconds between the starts of two probes. */
  interval: number;
  /** Seconds a probe may take; less than interval. */
  timeout: number;
  /** Consecutive successful probes that make a backend healthy. */
  rise: number;
  /** Consecutive failed probes that make a backend unhealthy. */
  fall: number;
  /** Probe this port instead of the backend's. */
  port?: number;
  /** udp: the payload sent. */
  send?: string;
  /** udp: the reply must contain it (absent: any reply). */
  expect?: string;
  /** dns: the name asked for (absolute; '.' is the root). */
  name?: string;
  /** dns: the question type. */
  qtype?: DnsQtype;
  /** dns: the response code that counts as healthy. */
  rcode?: DnsRcode;
  /** http: the path of the GET request. */
  path?: string;
  /** http: the expected status code. */
  status?: number;
  /** http: the Host header (default: the address and port probed). */
  host?: string;
  /**
   * exec: program and arguments; '{address}' (what is probed), '{port}' and '{backend}' (the
   * backend's own address) are substituted, exit status 0 = healthy.
   */
  command?: string[];
  /**
   * What a probe is sent to: 'backend' (its own address) or 'vip' (dsr only: the service address,
   * with the backend as next hop, as clients' packets reach it). Absent: vip in dsr, else backend.
   */
  target?: HealthTarget;
}

export type HealthTarget = 'vip' | 'backend';

export const HEALTH_DEFAULTS = {
  interval: 2,
  timeout: 1,
  rise: 2,
  fall: 3,
  send: 'xlb-health',
  name: '.',
  qtype: 'A',
  rcode: 'NOERROR',
  path: '/',
  status: 200,
  allDown: 'drop',
} as const;

export const HEALTH_LIMITS = {
  maxInterval: 3600,
  /** A probe every 100 ms per backend is plenty; faster is a flood, not a check. */
  minIntervalMs: 100,
  minTimeoutMs: 10,
  maxTimeout: 60,
  maxRiseFall: 100,
  /** A health datagram fits any path MTU. */
  maxPayloadBytes: 1024,
  maxCommandArgs: 64,
  maxHttpPathLength: 2048,
} as const;

/** The keys that only some types accept. */
const TYPE_KEYS: Record<HealthType, readonly string[]> = {
  udp: ['send', 'expect'],
  dns: ['name', 'qtype', 'rcode'],
  tcp: [],
  http: ['path', 'status', 'host'],
  exec: ['command'],
};
const KEY_TYPE: Record<string, HealthType> = Object.fromEntries(
  Object.entries(TYPE_KEYS).flatMap(([type, keys]) => keys.map((k) => [k, type as HealthType])),
);

// ---- field rules -------------------------------------------------------------------------------

const payload =
  (what: string, example: string): Rule<string> =>
  (value, path, c) => {
    const s = string(what, example)(value, path, c);
    if (s === undefined) return undefined;
    const bytes = Buffer.byteLength(s);
    if (bytes === 0) {
      c.report(path, `${what} is empty; write some text, e.g. ${example}`);
      return undefined;
    }
    if (bytes > HEALTH_LIMITS.maxPayloadBytes) {
      c.report(path, `${what} is ${bytes} bytes, more than ${HEALTH_LIMITS.maxPayloadBytes}; shorten it`);
      return undefined;
    }
    return s;
  };

/** A DNS name in presentation form without escapes: labels of 1..63 bytes, at most 255 bytes encoded. */
const dnsName: Rule<string> = (value, path, c) => {
  const s = string('the DNS name', "'health.example.'")(value, path, c);
  if (s === undefined) return undefined;
  if (s === '.') return s;
  const fix = "write a domain name such as 'health.example.' or '.' for the root";
  if (s === '' || /[\s\\]/.test(s) || !/^[\x21-\x7e]+$/.test(s)) {
    c.report(path, `invalid DNS name ${JSON.stringify(clip(s))}: ${fix}`);
    return undefined;
  }
  const labels = (s.endsWith('.') ? s.slice(0, -1) : s).split('.');
  if (labels.some((l) => l.length === 0)) {
    c.report(
      path,
      `invalid DNS name ${JSON.stringify(clip(s))}: it has an empty label ('..' or a leading '.'); ${fix}`,
    );
    return undefined;
  }
  const long = labels.find((l) => l.length > 63);
  if (long !== undefined) {
    c.report(
      path,
      `invalid DNS name ${JSON.stringify(clip(s))}: the label '${clip(long)}' is longer than 63 bytes; ${fix}`,
    );
    return undefined;
  }
  const encoded = labels.reduce((n, l) => n + 1 + l.length, 1);
  if (encoded > 255) {
    c.report(
      path,
      `invalid DNS name ${JSON.stringify(clip(s))}: it is longer than 255 bytes encoded; ${fix}`,
    );
    return undefined;
  }
  return s.endsWith('.') ? s : `${s}.`;
};

const httpPath: Rule<string> = (value, path, c) => {
  const s = string('the HTTP path', "'/healthz'")(value, path, c);
  if (s === undefined) return undefined;
  if (!s.startsWith('/') || !/^[\x21-\x7e]+$/.test(s) || s.length > HEALTH_LIMITS.maxHttpPathLength) {
    c.report(
      path,
      `invalid HTTP path ${JSON.stringify(clip(s))}: it must start with '/' and hold no spaces or control ` +
        `characters (at most ${HEALTH_LIMITS.maxHttpPathLength} characters); e.g. path: /healthz`,
    );
    return undefined;
  }
  return s;
};

const httpHost: Rule<string> = (value, path, c) => {
  const s = string('the HTTP Host header', "'health.example'")(value, path, c);
  if (s === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(s)) {
    c.report(
      path,
      `invalid HTTP host ${JSON.stringify(clip(s))}: write a host name (optionally with ':port') without spaces, ` +
        'e.g. host: health.example',
    );
    return undefined;
  }
  return s;
};

const COMMAND_EXAMPLE = `['/usr/local/bin/check', '{address}', '{port}']`;
const commandArg: Rule<string> = string('a command argument', "'{address}'");
const command: Rule<string[]> = (value, path, c) => {
  if (typeof value === 'string') {
    c.report(
      path,
      `command must be a list of strings (the program, then its arguments; no shell), got the string ` +
        `${JSON.stringify(clip(value))}; write it as [${clip(
          value
            .trim()
            .split(/\s+/)
            .map((w) => `'${w.replace(/'/g, "''")}'`)
            .join(', '),
        )}]`,
    );
    return undefined;
  }
  const args = list(
    'command arguments',
    commandArg,
    HEALTH_LIMITS.maxCommandArgs,
    COMMAND_EXAMPLE,
  )(value, path, c);
  if (args === undefined) return undefined;
  if (args.length === 0) {
    c.report(
      path,
      `command is empty; name the program to run and its arguments, e.g. command: ${COMMAND_EXAMPLE}`,
    );
    return undefined;
  }
  if (args[0] === '') {
    c.report([...path, 0], `the program of command is empty; e.g. command: ${COMMAND_EXAMPLE}`);
    return undefined;
  }
  if (args.some((a) => a === undefined) || args.length > HEALTH_LIMITS.maxCommandArgs) return undefined;
  return args as string[];
};

/**
 * A duration: whole seconds (2) or a string with a unit ('500ms', '1.5s'), at millisecond
 * resolution, from minMs to maxS seconds. The value is in seconds (fractions allowed).
 */
export function duration(what: string, minMs: number, maxS: number, example: string): Rule<number> {
  const range = `from ${minMs}ms to ${maxS}s`;
  const hint = `write whole seconds (e.g. 2) or a string with a unit (e.g. ${example})`;
  return (value, path, c) => {
    let ms: number | undefined;
    if (typeof value === 'number') {
      const literal = c.literal?.(path)?.trim();
      const plain = literal === undefined || /^[+]?\d+$/.test(literal);
      if (!Number.isInteger(value) || !plain) {
        c.report(
          path,
          `${what} ${clip(literal ?? String(value))}: fractions of a second need a unit; ${hint}`,
        );
        return undefined;
      }
      ms = value * 1000;
    } else if (typeof value === 'string') {
      const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$/.exec(value);
      if (!m) {
        c.report(path, `${what} ${JSON.stringify(clip(value))} is not a duration; ${hint}`);
        return undefined;
      }
      ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
      if (!Number.isInteger(Math.round(ms * 1000) / 1000) || ms !== Math.round(ms)) {
        c.report(
          path,
          `${what} ${JSON.stringify(clip(value))} is finer than a millisecond; round it, e.g. ${example}`,
        );
        return undefined;
      }
    } else {
      c.report(path, `${what} must be a duration ${range}, got ${describeValue(value)}; ${hint}`);
      return undefined;
    }
    if (ms < minMs || ms > maxS * 1000) {
      c.report(
        path,
        `${what} ${typeof value === 'string' ? value.trim() : String(value)} is out of range; use ${range}`,
      );
      return undefined;
    }
    return ms / 1000;
  };
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(typeof v === 'string' ? clip(v) : v)}`;
}

const healthFields = {
  type: field(oneOf('health check type', HEALTH_TYPES), {
    required: `add the kind of probe: type: ${HEALTH_TYPES.join(' | ')}`,
  }),
  interval: field(
    duration('the health interval', HEALTH_LIMITS.minIntervalMs, HEALTH_LIMITS.maxInterval, "'500ms'"),
    {
      default: HEALTH_DEFAULTS.interval,
    },
  ),
  timeout: field(
    duration('the health timeout', HEALTH_LIMITS.minTimeoutMs, HEALTH_LIMITS.maxTimeout, "'300ms'"),
    {
      default: HEALTH_DEFAULTS.timeout,
    },
  ),
  rise: field(
    integer('rise (successes to become healthy)', 1, HEALTH_LIMITS.maxRiseFall, HEALTH_DEFAULTS.rise),
    {
      default: HEALTH_DEFAULTS.rise,
    },
  ),
  fall: field(
    integer('fall (failures to become unhealthy)', 1, HEALTH_LIMITS.maxRiseFall, HEALTH_DEFAULTS.fall),
    {
      default: HEALTH_DEFAULTS.fall,
    },
  ),
  port: field(integer('the health check port', 1, 65535, 5353)),
  send: field(payload('the udp health payload (send)', "send: 'ping'")),
  expect: field(payload('the expected udp reply (expect)', "expect: 'pong'")),
  name: field(dnsName),
  qtype: field(oneOf('DNS qtype', DNS_QTYPES)),
  rcode: field(
    oneOf('DNS rcode', DNS_RCODES, {
      FORMERR: 'rcode FORMERR means the query was malformed, not a health signal; use NOERROR (the default)',
      NOTIMP: 'rcode NOTIMP means the server does not implement the query; use NOERROR (the default)',
    }),
  ),
  path: field(httpPath),
  status: field(integer('the expected HTTP status', 100, 599, HEALTH_DEFAULTS.status)),
  host: field(httpHost),
  command: field(command),
  target: field(oneOf('health target', ['vip', 'backend'] as const)),
};

const HEALTH_EXAMPLE = '{ type: udp, interval: 2, timeout: 1, rise: 2, fall: 3 }';

/**
 * The `health:` mapping of a service. Returns the HealthConfig with the defaults of its type, or
 * undefined when it reported a problem (all problems are reported, with their paths).
 */
export const healthRule: Rule<HealthConfig> = (value, path, c) => {
  if (typeof value === 'string' && (HEALTH_TYPES as readonly string[]).includes(value)) {
    c.report(
      path,
      `health must be a mapping, got the string ${JSON.stringify(value)}; write health: { type: ${value} }`,
    );
    return undefined;
  }
  const before = c.issues.length;
  const h = checkMapping(value, path, c, healthFields, 'health', HEALTH_EXAMPLE);
  if (h === undefined || !isMapping(value)) return undefined;
  const type = h.type;
  if (type !== undefined) {
    for (const key of Object.keys(value)) {
      const owner = KEY_TYPE[key];
      if (owner !== undefined && owner !== type) {
        c.report(
          [...path, key],
          `${key} only applies to type ${owner} (this check has type ${type}); remove it`,
        );
      }
    }
    if (type === 'exec' && !Object.hasOwn(value, 'command')) {
      c.report(
        [...path, 'command'],
        `missing required key 'command': type exec runs a program, e.g. command: ${COMMAND_EXAMPLE} ` +
          '(exit status 0 = healthy)',
      );
    }
  }
  checkTimeout(h.interval, h.timeout, value, path, c);
  if (c.issues.length > before || type === undefined) return undefined;
  return build(type, h);
};

function checkTimeout(
  interval: number | undefined,
  timeout: number | undefined,
  raw: Record<string, unknown>,
  path: Path,
  c: Checker,
): void {
  if (interval === undefined || timeout === undefined || timeout < interval) return;
  const given = Object.hasOwn(raw, 'timeout');
  const shown = given ? `timeout ${timeout}` : `the default timeout ${timeout}`;
  c.report(
    [...path, given ? 'timeout' : 'interval'],
    `${shown} is not less than interval ${interval}: a probe must end before the next one starts; ` +
      `lower timeout (e.g. timeout: ${Math.max(HEALTH_LIMITS.minTimeoutMs, Math.round(interval * 500))}ms) or raise interval`,
  );
}

type HealthChecked = Checked<typeof healthFields>;

function build(type: HealthType, h: HealthChecked): HealthConfig {
  const out: HealthConfig = {
    type,
    interval: h.interval ?? HEALTH_DEFAULTS.interval,
    timeout: h.timeout ?? HEALTH_DEFAULTS.timeout,
    rise: h.rise ?? HEALTH_DEFAULTS.rise,
    fall: h.fall ?? HEALTH_DEFAULTS.fall,
  };
  if (h.port !== undefined) out.port = h.port;
  if (h.target !== undefined) out.target = h.target;
  switch (type) {
    case 'udp':
      out.send = h.send ?? HEALTH_DEFAULTS.send;
      if (h.expect !== undefined) out.expect = h.expect;
      break;
    case 'dns':
      out.name = h.name ?? HEALTH_DEFAULTS.name;
      out.qtype = h.qtype ?? HEALTH_DEFAULTS.qtype;
      out.rcode = h.rcode ?? HEALTH_DEFAULTS.rcode;
      break;
    case 'tcp':
      break;
    case 'http':
      out.path = h.path ?? HEALTH_DEFAULTS.path;
      out.status = h.status ?? HEALTH_DEFAULTS.status;
      if (h.host !== undefined) out.host = h.host;
      break;
    case 'exec':
      out.command = [...(h.command ?? [])];
      break;
  }
  return out;
}

/** The service-level `all_down:` key: drop (default) or keep-last. */
export const allDownRule: Rule<AllDownPolicy> = oneOf('all_down', ALL_DOWN_POLICIES, {
  keep: 'write all_down: keep-last (keep sending to all backends when all are unhealthy) or all_down: drop',
});

/** Ready-made table entries for the service fields of config.ts. */
export const healthField: Field<HealthConfig> = field(healthRule);
export const allDownField: Field<AllDownPolicy> = field(allDownRule, { default: HEALTH_DEFAULTS.allDown });
