// Active health checks of backends: one probe of each kind (udp, dns, tcp, http, exec), each bounded
// by its timeout and never rejecting, and the HealthChecker that runs them on an interval and turns
// the results (and passive signals such as ICMP port unreachable) into health states with rise/fall.
import { effectiveCaps } from '../util/caps.js';
import { hostPort } from '../util/endpoint.js';

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HealthState } from './contract.js';
import type { DnsQtype, DnsRcode, HealthConfig } from '../model/config-health.js';

export interface ProbeTarget {
  address: string;
  port: number;
  family: 4 | 6;
  /**
   * The probe's own port. Set for probes that policy routing steers to a next hop of their own
   * (dsr's probes of the service address through one backend: src/control/probe-routes.ts); TCP
   * probes from it end with a reset, so that the next one can use the port at once.
   */
  localPort?: number;
  /** exec: the backend's own address, for '{backend}' (address is what the probe targets). */
  backend?: string;
  /** Set when the probe cannot be sent as configured (e.g. its route could not be made): it fails with this. */
  blocked?: string;
}
export type ProbeResult = { ok: true; ms: number } | { ok: false; ms: number; reason: string };

/** A probe's verdict: a failure reason. */
class ProbeFailure extends Error {}

interface ProbeContext {
  /** Aborts when the probe is over (timeout, caller's abort, or settled): release everything. */
  signal: AbortSignal;
  /** Remembers why a reply did not count, for the reason of a timeout. */
  note: (reason: string) => void;
  /** ProbeTarget.localPort. */
  localPort?: number;
  /** ProbeTarget.backend. */
  backend?: string;
}
/** Runs until it succeeds (resolves), fails (rejects with a ProbeFailure) or ctx.signal aborts. */
type ProbeBody = (
  cfg: HealthConfig,
  address: string,
  port: number,
  family: 4 | 6,
  ctx: ProbeContext,
) => Promise<void>;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Text for a reason: printable, one line, at most 80 characters. */
function short(text: string): string {
  const one = text.replace(/[^\x20-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

/**
 * One probe of `target` (the port probed is cfg.port when set). Never rejects; resolves within
 * cfg.timeout seconds (plus scheduling noise) with ok or the reason of the failure, and sooner when
 * `signal` aborts (reason 'aborted'). Everything it opened is closed or killed once it resolves.
 */
export async function probe(
  cfg: HealthConfig,
  target: ProbeTarget,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const started = performance.now();
  const ms = (): number => Math.round((performance.now() - started) * 1000) / 1000;
  const port = cfg.port ?? target.port;
  if (target.blocked !== undefined) return { ok: false, ms: 0, reason: target.blocked };
  const body = BODIES[cfg.type];
  const inner = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  let noted: string | undefined;
  const bounded = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(noted === undefined ? timeoutReason(cfg) : `${timeoutReason(cfg)} (ignored ${noted})`),
      cfg.timeout * 1000,
    );
    onAbort = () => resolve('aborted');
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  let reason: string | undefined;
  try {
    const ctx: ProbeContext = {
      signal: inner.signal,
      note: (r) => void (noted = r),
      ...(target.localPort === undefined ? {} : { localPort: target.localPort }),
      ...(target.backend === undefined ? {} : { backend: target.backend }),
    };
    const run = body(cfg, target.address, port, target.family, ctx).then(
      () => undefined,
      (e: unknown) => (e instanceof ProbeFailure ? e.message : `probe error: ${(e as Error).message}`),
    );
    reason = await Promise.race([run, bounded]);
  } catch (e) {
    reason = `probe error: ${(e as Error).message}`;
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    inner.abort();
  }
  return reason === undefined ? { ok: true, ms: ms() } : { ok: false, ms: ms(), reason };
}

function timeoutReason(cfg: HealthConfig): string {
  const t = `${cfg.timeout}s`;
  switch (cfg.type) {
    case 'udp':
      return `no reply within ${t}`;
    case 'dns':
      return `no DNS response within ${t}`;
    case 'tcp':
      return `connect timed out after ${t}`;
    case 'http':
      return `no HTTP response within ${t}`;
    case 'exec':
      return `command killed after the ${t} timeout`;
  }
}

// ---- udp and dns -------------------------------------------------------------------------------

/** What to make of a reply: success (undefined), a final failure, or one to skip (noted for the reason). */
type Verdict = undefined | { fail: string } | { skip: string };

/**
 * A dgram socket connected to the target: sends `payload`, then waits for a reply that `judge`
 * accepts or fails. An ICMP port unreachable arrives as ECONNREFUSED on the connected socket.
 */
function datagramExchange(
  address: string,
  port: number,
  family: 4 | 6,
  payload: Buffer,
  judge: (reply: Buffer) => Verdict,
  ctx: ProbeContext,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err?: ProbeFailure): void => {
      if (done) return;
      done = true;
      ctx.signal.removeEventListener('abort', onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(new ProbeFailure('aborted'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (e) => {
      const code = errno(e);
      finish(
        new ProbeFailure(
          code === 'ECONNREFUSED'
            ? `port unreachable (ICMP) at ${hostPort(address, port)}`
            : `udp ${hostPort(address, port)}: ${code ?? e.message}`,
        ),
      );
    });
    socket.on('message', (msg) => {
      const v = judge(msg);
      if (v === undefined) finish();
      else if ('fail' in v) finish(new ProbeFailure(v.fail));
      else ctx.note(v.skip); // a stray or stale datagram: keep waiting
    });
    if (ctx.signal.aborted) {
      onAbort();
      return;
    }
    const start = (): void => {
      try {
        socket.connect(port, address, () => {
          if (done) return;
          socket.send(payload, (e) => {
            if (e)
              finish(new ProbeFailure(`udp send to ${hostPort(address, port)}: ${errno(e) ?? e.message}`));
          });
        });
      } catch (e) {
        finish(new ProbeFailure(`udp ${hostPort(address, port)}: ${(e as Error).message}`));
      }
    };
    if (ctx.localPort === undefined) start();
    else socket.bind({ port: ctx.localPort, exclusive: true }, start);
  });
}

const udpBody: ProbeBody = (cfg, address, port, family, ctx) => {
  const expect = cfg.expect === undefined ? undefined : Buffer.from(cfg.expect);
  return datagramExchange(
    address,
    port,
    family,
    Buffer.from(cfg.send ?? 'xlb-health'),
    (reply) =>
      expect === undefined || reply.includes(expect)
        ? undefined
        : { skip: `reply without ${JSON.stringify(cfg.expect)}: ${short(reply.toString('latin1'))}` },
    ctx,
  );
};

const QTYPES: Record<DnsQtype, number> = { A: 1, NS: 2, SOA: 6, TXT: 16, AAAA: 28 };
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
/** The name of a DNS response code ('RCODE9' for the ones without a name here). */
export const rcodeName = (rcode: number): string => RCODE_NAMES[rcode] ?? `RCODE${rcode}`;

/** An RFC 1035 query: header (id, RD=1, QDCOUNT=1) and one question (name, qtype, class IN). */
export function buildDnsQuery(name: string, qtype: DnsQtype, id: number): Buffer {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad DNS label in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  const t = QTYPES[qtype];
  parts.push(Buffer.from([0, t >> 8, t & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  tc: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
}

/** The header of a DNS message, or undefined when it is shorter than a header. */
export function parseDnsHeader(msg: Buffer): DnsHeader | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  return {
    id: msg.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    qdcount: msg.readUInt16BE(4),
    ancount: msg.readUInt16BE(6),
  };
}

const dnsBody: ProbeBody = (cfg, address, port, family, ctx) => {
  const id = randomInt(0, 0x10000);
  const expected: DnsRcode = cfg.rcode ?? 'NOERROR';
  const query = buildDnsQuery(cfg.name ?? '.', cfg.qtype ?? 'A', id);
  return datagramExchange(
    address,
    port,
    family,
    query,
    (reply) => {
      const h = parseDnsHeader(reply);
      if (h === undefined) return { skip: `not a DNS response (${reply.length} bytes)` };
      if (h.id !== id) return { skip: `a DNS response with another id (${h.id}, sent ${id})` };
      if (!h.qr) return { skip: 'a DNS message without the QR bit (not a response)' };
      const got = rcodeName(h.rcode);
      return got === expected ? undefined : { fail: `DNS rcode ${got} (expected ${expected})` };
    },
    ctx,
  );
};

// ---- tcp and http ------------------------------------------------------------------------------

/** Closes a probe's TCP connection; from a pinned port with a reset (no TIME_WAIT to wait out). */
function closeTcp(socket: Socket, pinned: boolean): void {
  if (pinned && socket.readyState === 'open') socket.resetAndDestroy();
  else socket.destroy();
}

const tcpBody: ProbeBody = (_cfg, address, port, family, { signal, localPort }) =>
  new Promise<void>((resolve, reject) => {
    const socket = connect({
      host: address,
      port,
      family,
      ...(localPort === undefined ? {} : { localPort }),
    });
    let done = false;
    const finish = (err?: ProbeFailure): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      closeTcp(socket, localPort !== undefined);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(new ProbeFailure('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => finish());
    socket.on('error', (e) => {
      const code = errno(e);
      finish(
        new ProbeFailure(
          code === 'ECONNREFUSED'
            ? `connection refused by ${hostPort(address, port)}`
            : `tcp ${hostPort(address, port)}: ${code ?? e.message}`,
        ),
      );
    });
    if (signal.aborted) onAbort();
  });

const httpBody: ProbeBody = (cfg, address, port, _family, { signal, localPort }) =>
  new Promise<void>((resolve, reject) => {
    const url = `http://${hostPort(address, port)}${cfg.path ?? '/'}`;
    const expected = cfg.status ?? 200;
    let done = false;
    const finish = (err?: ProbeFailure): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      if (req.socket) closeTcp(req.socket, localPort !== undefined);
      req.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(new ProbeFailure('aborted'));
    const headers: Record<string, string> = { 'user-agent': 'xlb-health', connection: 'close' };
    if (cfg.host !== undefined) headers.host = cfg.host;
    const options = {
      method: 'GET',
      headers,
      agent: false,
      ...(localPort === undefined ? {} : { localPort }),
    };
    const req = request(url, options, (res) => {
      res.on('error', () => undefined);
      res.resume();
      const status = res.statusCode ?? 0;
      finish(
        status === expected
          ? undefined
          : new ProbeFailure(`HTTP ${status} from ${url} (expected ${expected})`),
      );
    });
    req.on('error', (e) => {
      const code = errno(e);
      finish(
        new ProbeFailure(
          code === 'ECONNREFUSED'
            ? `connection refused by ${hostPort(address, port)}`
            : `GET ${url}: ${code ?? e.message}`,
        ),
      );
    });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    else req.end();
  });

// ---- exec --------------------------------------------------------------------------------------

/**
 * The command's argv with '{address}' (what the probe targets: the backend, or in dsr the
 * service address), '{port}' and '{backend}' (the backend's own address) substituted.
 */
export function execArgv(
  command: readonly string[],
  address: string,
  port: number,
  backend = address,
): string[] {
  return command.map((a) =>
    a.replaceAll('{address}', address).replaceAll('{port}', String(port)).replaceAll('{backend}', backend),
  );
}

/** Kills the child's process group (it runs detached: a shell's children die with it). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Bytes of stderr kept for the reason. */
const MAX_STDERR = 4096;

/** util-linux's setpriv (Essential in Debian): runs a program with capabilities dropped. */
export const SETPRIV = '/usr/bin/setpriv';

/**
 * The argv that runs an exec check without xlb's capabilities: the daemon's ambient set
 * (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON under systemd) would otherwise pass to the check, and
 * a root daemon's full set. setpriv clears the inheritable and ambient sets, and the bounding
 * set where the daemon may (CAP_SETPCAP: root), and sets no_new_privs, so neither the check
 * nor anything it runs (a setuid program included) gains a capability.
 */
export function unprivilegedArgv(
  file: string,
  args: readonly string[],
  caps: ReadonlySet<string> | undefined = effectiveCaps(),
): [string, string[]] {
  const bounding = caps?.has('CAP_SETPCAP') ? ['--bounding-set=-all'] : [];
  return [
    SETPRIV,
    ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', ...bounding, '--', file, ...args],
  ];
}

const STRERROR: Record<string, string> = {
  'No such file or directory': 'ENOENT',
  'Permission denied': 'EACCES',
  'Exec format error': 'ENOEXEC',
  'Not a directory': 'ENOTDIR',
};

/**
 * Runs the command without a shell, in a process group of its own (spawn with detached: execFile
 * would not pass that on), so that on timeout the whole group is killed, also a shell's children.
 */
const execBody: ProbeBody = (cfg, address, port, _family, { signal, backend }) =>
  new Promise<void>((resolve, reject) => {
    const [file, ...args] = execArgv(cfg.command ?? [], address, port, backend);
    if (file === undefined || file === '') {
      reject(new ProbeFailure('exec health check without a command'));
      return;
    }
    let done = false;
    const finish = (err?: ProbeFailure): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    if (!existsSync(SETPRIV)) {
      reject(
        new ProbeFailure(
          `exec health checks run through ${SETPRIV}, which is missing: apt-get install util-linux`,
        ),
      );
      return;
    }
    const [wrapper, wrapped] = unprivilegedArgv(file, args);
    const child = spawn(wrapper, wrapped, {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (kept >= MAX_STDERR) return;
      chunks.push(chunk);
      kept += chunk.length;
    });
    child.stderr?.on('error', () => undefined);
    child.on('error', (e) => finish(new ProbeFailure(`cannot run ${file}: ${errno(e) ?? e.message}`)));
    child.on('close', (code, sig) => {
      if (code === 0) return finish();
      const text = Buffer.concat(chunks).toString('utf8');
      const line = short((text.split('\n').find((l) => l.trim() !== '') ?? '').trim());
      // setpriv could not execute the command: say so as spawn would have.
      const notRun = /^setpriv: failed to execute .*: (.+)$/.exec(line);
      if ((code === 126 || code === 127) && notRun)
        return finish(new ProbeFailure(`cannot run ${file}: ${STRERROR[notRun[1]!] ?? notRun[1]}`));
      const tail = line === '' ? '' : `: ${line}`;
      finish(
        new ProbeFailure(
          code === null
            ? `${file} killed by ${sig ?? 'a signal'}${tail}`
            : `${file} exited with status ${code}${tail}`,
        ),
      );
    });
    const onAbort = (): void => {
      killGroup(child);
      child.stderr?.destroy();
      finish(new ProbeFailure('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });

const BODIES: Record<HealthConfig['type'], ProbeBody> = {
  udp: udpBody,
  dns: dnsBody,
  tcp: tcpBody,
  http: httpBody,
  exec: execBody,
};

// ---- the checker -------------------------------------------------------------------------------

export interface HealthEvent {
  service: string;
  /** 'addr:port' */
  backend: string;
  from: HealthState;
  to: HealthState;
  reason?: string;
  at: Date;
}

export interface HealthCheck {
  service: string;
  backend: string;
  config: HealthConfig;
  target: ProbeTarget;
}

export interface HealthStatus {
  state: HealthState;
  since: Date;
  transitions: number;
  lastReason?: string;
}

interface Entry {
  check: HealthCheck;
  /** Identity of config and target: a changed one restarts the check. */
  fingerprint: string;
  state: HealthState;
  since: Date;
  transitions: number;
  lastReason?: string;
  successes: number;
  failures: number;
  timer?: NodeJS.Timeout;
  /** Set while a probe runs. */
  inflight?: AbortController;
  /** Bumped when the check is restarted or removed: results of older probes are dropped. */
  generation: number;
}

const keyOf = (service: string, backend: string): string => `${service}\u0000${backend}`;

/** A stable text of a config and target (keys sorted), to tell changed checks from unchanged ones. */
function fingerprint(config: HealthConfig, target: ProbeTarget): string {
  const sorted = (o: object): unknown[] =>
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([sorted(config), sorted(target)]);
}

export interface HealthCheckerOptions {
  onChange: (e: HealthEvent) => void;
  /** Clock for `since` and `at` (ms since the epoch); default Date.now. */
  now?: () => number;
  /** Injectable probe (tests). */
  probe?: typeof probe;
  /** Delay of a new check's first probe, given its interval in ms; default uniform in [0, interval). */
  jitter?: (intervalMs: number) => number;
}

/**
 * Runs health checks: each check probes every `interval` seconds (the first probe after a random
 * part of the interval, so that checks spread out; never two probes of one check at once), and its
 * state goes from 'unknown' to 'healthy' after `rise` consecutive successes and to 'unhealthy' after
 * `fall` consecutive failures. Every transition is reported to onChange. Timers are unref'd.
 */
export class HealthChecker {
  private readonly entries = new Map<string, Entry>();
  private readonly onChange: (e: HealthEvent) => void;
  private readonly now: () => number;
  private readonly probe: typeof probe;
  private readonly jitter: (intervalMs: number) => number;
  private readonly created: Date;
  private stopped = false;

  constructor(opts: HealthCheckerOptions) {
    this.onChange = opts.onChange;
    this.now = opts.now ?? Date.now;
    this.probe = opts.probe ?? probe;
    this.jitter = opts.jitter ?? ((ms) => Math.floor(Math.random() * ms));
    this.created = new Date(this.now());
  }

  /**
   * Replaces the set of checks. A check whose service, backend, config and target stay the same
   * keeps running with its state and counters. A check whose config or target changed keeps its
   * state (since, transitions) but restarts: its consecutive counts start from zero and an
   * in-flight probe's result is dropped. Removed checks stop (no event). A (service, backend) pair
   * given twice is an error (TypeError, nothing changed).
   */
  update(checks: readonly HealthCheck[]): void {
    if (this.stopped) return;
    const wanted = new Map<string, HealthCheck>();
    for (const check of checks) {
      const key = keyOf(check.service, check.backend);
      if (wanted.has(key)) {
        throw new TypeError(`health check for ${check.backend} of service ${check.service} given twice`);
      }
      wanted.set(key, check);
    }
    for (const [key, entry] of this.entries) {
      if (!wanted.has(key)) {
        this.halt(entry);
        this.entries.delete(key);
      }
    }
    for (const [key, check] of wanted) {
      const fp = fingerprint(check.config, check.target);
      const entry = this.entries.get(key);
      if (entry === undefined) {
        const fresh: Entry = {
          check,
          fingerprint: fp,
          state: 'unknown',
          since: new Date(this.now()),
          transitions: 0,
          successes: 0,
          failures: 0,
          generation: 0,
        };
        this.entries.set(key, fresh);
        this.schedule(fresh, this.jitter(intervalMs(check.config)));
      } else if (entry.fingerprint !== fp) {
        this.halt(entry);
        entry.check = check;
        entry.fingerprint = fp;
        entry.successes = 0;
        entry.failures = 0;
        this.schedule(entry, this.jitter(intervalMs(check.config)));
      } else {
        entry.check = check;
      }
    }
  }

  /** The state of a check; for a (service, backend) without a check: 'disabled' since the checker started. */
  state(service: string, backend: string): HealthStatus {
    const e = this.entries.get(keyOf(service, backend));
    if (e === undefined) return { state: 'disabled', since: this.created, transitions: 0 };
    return {
      state: e.state,
      since: e.since,
      transitions: e.transitions,
      ...(e.lastReason === undefined ? {} : { lastReason: e.lastReason }),
    };
  }

  /** Passive signal: counts as one failed probe of the check (ignored when there is no such check). */
  reportFailure(service: string, backend: string, reason: string): void {
    const e = this.entries.get(keyOf(service, backend));
    if (e === undefined || this.stopped) return;
    this.record(e, { ok: false, ms: 0, reason });
  }

  /** Stops every check: clears the timers, aborts the probes in flight, forgets the checks. */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) this.halt(e);
    this.entries.clear();
  }

  private halt(e: Entry): void {
    e.generation++;
    clearTimeout(e.timer);
    e.timer = undefined;
    e.inflight?.abort();
    e.inflight = undefined;
  }

  private schedule(e: Entry, delayMs: number): void {
    clearTimeout(e.timer);
    const generation = e.generation;
    e.timer = setTimeout(() => this.run(e, generation), Math.max(0, delayMs));
    e.timer.unref();
  }

  private run(e: Entry, generation: number): void {
    e.timer = undefined;
    if (this.stopped || generation !== e.generation || e.inflight !== undefined) return;
    const ac = new AbortController();
    e.inflight = ac;
    const started = performance.now();
    const done = (r: ProbeResult): void => {
      if (generation !== e.generation || this.stopped) return; // restarted, removed or stopped
      e.inflight = undefined;
      const interval = intervalMs(e.check.config);
      this.schedule(e, interval - (performance.now() - started));
      this.record(e, r);
    };
    let pending: Promise<ProbeResult>;
    try {
      pending = this.probe(e.check.config, e.check.target, ac.signal);
    } catch (err) {
      pending = Promise.resolve({ ok: false, ms: 0, reason: `probe error: ${(err as Error).message}` });
    }
    pending.then(done, (err: unknown) =>
      done({ ok: false, ms: performance.now() - started, reason: `probe error: ${(err as Error).message}` }),
    );
  }

  private record(e: Entry, r: ProbeResult): void {
    const cfg = e.check.config;
    if (r.ok) {
      e.successes++;
      e.failures = 0;
      if (e.state !== 'healthy' && e.successes >= cfg.rise) {
        this.transition(
          e,
          'healthy',
          `${e.successes} consecutive successful probe${e.successes === 1 ? '' : 's'}`,
        );
      }
    } else {
      e.failures++;
      e.successes = 0;
      e.lastReason = r.reason;
      if (e.state !== 'unhealthy' && e.failures >= cfg.fall) this.transition(e, 'unhealthy', r.reason);
    }
  }

  private transition(e: Entry, to: HealthState, reason: string): void {
    const from = e.state;
    const at = new Date(this.now());
    e.state = to;
    e.since = at;
    e.transitions++;
    if (to === 'healthy') e.lastReason = undefined;
    this.onChange({ service: e.check.service, backend: e.check.backend, from, to, reason, at });
  }
}

const intervalMs = (cfg: HealthConfig): number => cfg.interval * 1000;
