// Policy routes that send a health probe of a dsr service the way a balanced packet goes: to
// the service address, with one backend as the next hop. Each probed (service, backend) gets a
// local port of its own; a rule sends what leaves from that port to the service address through
// a routing table of its own, whose one route has the backend as gateway. The backend answers
// from the service address, as it answers clients, and its reply reaches the probe's socket.
//
//   ip rule  pref 30500 to VIP ipproto udp|tcp sport PORT lookup TABLE protocol 245
//   ip route VIP via BACKEND dev IF onlink table TABLE proto 245
//
// Everything xlb adds carries protocol 245, so that what a killed daemon left is found and
// replaced. Only `ip` (iproute2) is run, without a shell, with addresses that were validated.
import { execFileSync } from 'node:child_process';

/** Probe ports (above Linux's default ephemeral range, 32768-60999) and their tables. */
export const PROBE_PORTS = { first: 61000, last: 61999 } as const;
const TABLE_BASE = 7_800_000;
const RULE_PREF = 30500;
const RT_PROTO = '245';

export interface ProbeRoute {
  family: 4 | 6;
  /** The service address the probe is sent to. */
  vip: string;
  /** The next hop: the backend's own address. */
  backend: string;
  localPort: number;
  proto: 'udp' | 'tcp';
}

/** Runs `ip ARGS`; returns stdout. Injectable for tests. */
export type IpRunner = (args: string[]) => string;

const runIp: IpRunner = (args) =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });

const tableOf = (port: number): number => TABLE_BASE + (port - PROBE_PORTS.first);
const key = (r: ProbeRoute): string => `${r.family}|${r.vip}|${r.backend}|${r.localPort}|${r.proto}`;

export class ProbeRoutes {
  private readonly installed = new Map<string, ProbeRoute>();

  constructor(private readonly ip: IpRunner = runIp) {}

  /**
   * Makes the installed routes exactly `wanted`. Returns a problem per route that could not be
   * installed (its probes then fail with it); the others stand.
   */
  sync(wanted: readonly ProbeRoute[]): Map<string, string> {
    const problems = new Map<string, string>();
    const want = new Map(wanted.map((r) => [key(r), r]));
    for (const [k, r] of this.installed) {
      if (want.has(k)) continue;
      this.remove(r);
      this.installed.delete(k);
    }
    for (const [k, r] of want) {
      if (this.installed.has(k)) continue;
      try {
        this.add(r);
        this.installed.set(k, r);
      } catch (e) {
        problems.set(k, (e as Error).message);
      }
    }
    return problems;
  }

  /** Removes every rule and route xlb installed, also those of an earlier daemon. */
  clear(): void {
    for (const family of [4, 6] as const) {
      let rules: { priority?: number; table?: string; protocol?: string }[] = [];
      try {
        rules = JSON.parse(this.ip([`-${family}`, '-j', 'rule', 'show'])) as typeof rules;
      } catch {
        continue; // no iproute2, or no IPv6: nothing of ours either
      }
      for (const rule of rules) {
        if (rule.protocol !== RT_PROTO || rule.priority !== RULE_PREF || rule.table === undefined) continue;
        this.tryIp([
          `-${family}`,
          'rule',
          'del',
          'pref',
          String(RULE_PREF),
          'lookup',
          rule.table,
          'protocol',
          RT_PROTO,
        ]);
        this.tryIp([`-${family}`, 'route', 'flush', 'table', rule.table, 'proto', RT_PROTO]);
      }
    }
    this.installed.clear();
  }

  private add(r: ProbeRoute): void {
    const f = `-${r.family}`;
    const table = String(tableOf(r.localPort));
    const prefix = `${r.vip}/${r.family === 4 ? 32 : 128}`;
    const dev = this.deviceTo(r);
    this.run([
      f,
      'route',
      'replace',
      prefix,
      'via',
      r.backend,
      'dev',
      dev,
      'onlink',
      'table',
      table,
      'proto',
      RT_PROTO,
    ]);
    this.tryIp([f, 'rule', 'del', 'pref', String(RULE_PREF), 'lookup', table]);
    this.run([
      f,
      'rule',
      'add',
      'pref',
      String(RULE_PREF),
      'to',
      prefix,
      'ipproto',
      r.proto,
      'sport',
      String(r.localPort),
      'lookup',
      table,
      'protocol',
      RT_PROTO,
    ]);
  }

  private remove(r: ProbeRoute): void {
    const f = `-${r.family}`;
    const table = String(tableOf(r.localPort));
    this.tryIp([f, 'rule', 'del', 'pref', String(RULE_PREF), 'lookup', table]);
    this.tryIp([f, 'route', 'flush', 'table', table, 'proto', RT_PROTO]);
  }

  /** The interface the backend is reached through (the main table's route to it), refusing a local VIP. */
  private deviceTo(r: ProbeRoute): string {
    const f = `-${r.family}`;
    let vip: { type?: string } | undefined;
    try {
      vip = (JSON.parse(this.ip([f, '-j', 'route', 'get', r.vip])) as { type?: string }[])[0];
    } catch {
      vip = undefined; // no route to it at all: certainly not local
    }
    if (vip?.type === 'local') {
      throw new Error(
        `${r.vip} is an address of this host, so probes to it never leave it: remove the address (XDP receives ` +
          "the service's packets without it) or set health.target: backend",
      );
    }
    const route = (
      JSON.parse(this.run([f, '-j', 'route', 'get', r.backend])) as { dev?: string; gateway?: string }[]
    )[0];
    if (route?.dev === undefined) throw new Error(`no route to the backend ${r.backend}`);
    if (route.gateway !== undefined) {
      throw new Error(
        `the backend ${r.backend} is behind the router ${route.gateway}, not on a segment of this host: dsr needs ` +
          'its backends on the same L2 segment',
      );
    }
    return route.dev;
  }

  private run(args: string[]): string {
    try {
      return this.ip(args);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
    }
  }

  private tryIp(args: string[]): void {
    try {
      this.ip(args);
    } catch {
      // not there: nothing to remove
    }
  }
}

/** Hands out one probe port per (service, backend), kept while the pair lives. */
export class ProbePorts {
  private readonly byKey = new Map<string, number>();

  /** Ports for exactly `keys` (those of pairs that are gone are freed); undefined when none is left. */
  assign(keys: readonly string[]): Map<string, number | undefined> {
    const wanted = new Set(keys);
    for (const k of this.byKey.keys()) if (!wanted.has(k)) this.byKey.delete(k);
    const used = new Set(this.byKey.values());
    let next = PROBE_PORTS.first;
    const out = new Map<string, number | undefined>();
    for (const k of keys) {
      let port = this.byKey.get(k);
      if (port === undefined) {
        while (used.has(next) && next <= PROBE_PORTS.last) next++;
        if (next <= PROBE_PORTS.last) {
          port = next;
          used.add(port);
          this.byKey.set(k, port);
        }
      }
      out.set(k, port);
    }
    return out;
  }
}
