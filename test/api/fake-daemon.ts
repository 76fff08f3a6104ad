// An in-memory DaemonApi for the API tests. It keeps the running configuration in the config
// file's shape (snake_case, as the API receives it), validates every change as a whole with the
// real config model (problems become ApiError XLB_INVALID_CONFIG / XLB_RELOAD_FAILED with details),
// and has a generation counter, a ready flag, a log of calls and one-shot fault injection.

import { stringify } from 'yaml';
import { ApiError } from '../../src/daemon/contract.js';
import { driftLines } from '../../src/daemon/drift.js';
import { hostPort } from '../../src/util/endpoint.js';
import type {
  BackendInput,
  BackendView,
  DaemonApi,
  DriftView,
  ErrorCode,
  ServiceInput,
  ServiceView,
  StatsView,
  StatusView,
} from '../../src/daemon/contract.js';
import { Reasons } from '../../src/abi/abi.js';
import type { Reason } from '../../src/abi/abi.js';
import { ConfigError, validateConfig } from '../../src/model/config.js';
import type { BackendConfig, Config, ServiceConfig } from '../../src/model/config.js';
import { classifyAddress } from '../../src/model/config-schema.js';

interface RawBackend {
  address: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}
interface RawService {
  name: string;
  backends: RawBackend[];
  [key: string]: unknown;
}
export interface RawConfig {
  services: RawService[];
  [key: string]: unknown;
}

/** Two services: IPv4 with two backends (weights 1 and 3), IPv6 with one. */
export function sampleConfig(): RawConfig {
  return {
    interface: 'lo',
    services: [
      {
        name: 'dns',
        vip: '192.0.2.10',
        port: 53,
        mode: 'nat',
        backends: [
          { address: '198.51.100.11', port: 53 },
          { address: '198.51.100.12', port: 53, weight: 3 },
        ],
      },
      {
        name: 'dns6',
        vip: '2001:db8::10',
        port: 53,
        mode: 'nat',
        backends: [{ address: '2001:db8::11', port: 53 }],
      },
    ],
  };
}

/** The methods that change the running configuration. */
export const MUTATIONS = [
  'addService',
  'removeService',
  'addBackend',
  'removeBackend',
  'setWeight',
  'drain',
  'undrain',
  'reload',
] as const;

const SINCE = '2024-01-01T00:00:00.000Z';

/** 'address:port', '[v6]:port' for IPv6. */
export const backendId = (address: string, port: number): string => hostPort(address, port);

/** A backend id in canonical form (the address as the config model writes it), if it parses. */
function canonicalId(id: string): string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(id) ?? /^([^:]+):(\d+)$/.exec(id);
  const canonical = m?.[1] === undefined ? undefined : classifyAddress(m[1]).canonical;
  return canonical === undefined ? id : backendId(canonical, Number(m?.[2]));
}

export class FakeDaemon implements DaemonApi {
  isReady = true;
  generation = 1;
  /** The config file: what reload() applies and drift() compares with. */
  file: RawConfig;
  /** Every DaemonApi call, by method name. */
  readonly calls: string[] = [];
  private raw: RawConfig;
  private config: Config;
  /** Drained backends ('service id') and the weight to restore. */
  private drained = new Map<string, number>();
  private fault: Error | undefined;

  constructor(initial: RawConfig = sampleConfig()) {
    this.file = structuredClone(initial);
    this.raw = structuredClone(initial);
    this.config = validateConfig(this.raw);
  }

  /** The next call (of any method) throws this. */
  failNext(error: Error): void {
    this.fault = error;
  }

  /** Everything a call may change, for before/after comparisons. */
  snapshot(): unknown {
    return structuredClone({
      raw: this.raw,
      generation: this.generation,
      drained: [...this.drained],
      file: this.file,
    });
  }

  mutationCalls(): string[] {
    return this.calls.filter((c) => (MUTATIONS as readonly string[]).includes(c));
  }

  // ---- DaemonApi ------------------------------------------------------------------------------

  status(): StatusView {
    this.enter('status');
    return this.statusView();
  }

  ready(): boolean {
    this.enter('ready');
    return this.isReady;
  }

  services(): ServiceView[] {
    this.enterReady('services');
    return this.config.services.map((s) => this.serviceView(s));
  }

  service(name: string): ServiceView {
    this.enterReady('service');
    return this.serviceView(this.findService(name));
  }

  addService(input: ServiceInput): ServiceView {
    this.enterReady('addService');
    if (this.config.services.some((s) => s.name === input.name)) {
      throw new ApiError('XLB_CONFLICT', `service '${input.name}' already exists`);
    }
    this.apply((raw) => raw.services.push({ backends: [], ...structuredClone(input) }));
    return this.serviceView(this.findService(input.name));
  }

  removeService(name: string): void {
    this.enterReady('removeService');
    const index = this.config.services.indexOf(this.findService(name));
    this.apply((raw) => raw.services.splice(index, 1));
    this.forgetDrained(name);
  }

  addBackend(service: string, input: BackendInput): BackendView {
    this.enterReady('addBackend');
    const s = this.findService(service);
    const canonical = classifyAddress(input.address).canonical;
    const id = canonical === undefined ? undefined : backendId(canonical, input.port ?? s.port);
    if (id !== undefined && s.backends.some((b) => backendId(b.address, b.port) === id)) {
      throw new ApiError('XLB_CONFLICT', `service '${service}' already has backend ${id}`);
    }
    const index = this.config.services.indexOf(s);
    this.apply((raw) => raw.services[index]?.backends.push(structuredClone(input)));
    const added = this.config.services[index]?.backends.at(-1);
    if (added === undefined) throw new Error('fake daemon: the added backend is missing');
    return this.backendView(this.findService(service), added);
  }

  removeBackend(service: string, backendId: string): void {
    this.enterReady('removeBackend');
    const { s, b } = this.findBackend(service, backendId);
    this.apply((raw) => raw.services[s]?.backends.splice(b, 1));
    this.forgetDrained(service, canonicalId(backendId));
  }

  setWeight(service: string, backendId: string, weight: number): BackendView {
    this.enterReady('setWeight');
    const at = this.findBackend(service, backendId);
    this.setRawWeight(at, weight);
    this.drained.delete(`${service} ${canonicalId(backendId)}`);
    return this.backendAt(at);
  }

  drain(service: string, backendId: string): BackendView {
    this.enterReady('drain');
    const at = this.findBackend(service, backendId);
    const key = `${service} ${canonicalId(backendId)}`;
    if (!this.drained.has(key)) {
      const weight = this.config.services[at.s]?.backends[at.b]?.weight ?? 1;
      this.setRawWeight(at, 0);
      this.drained.set(key, weight);
    }
    return this.backendAt(at);
  }

  undrain(service: string, backendId: string): BackendView {
    this.enterReady('undrain');
    const at = this.findBackend(service, backendId);
    const key = `${service} ${canonicalId(backendId)}`;
    const weight = this.drained.get(key);
    if (weight !== undefined) {
      this.setRawWeight(at, weight);
      this.drained.delete(key);
    }
    return this.backendAt(at);
  }

  stats(): StatsView {
    this.enterReady('stats');
    const reasons = Object.fromEntries(
      Reasons.map((r) => [r, { packets: 0, bytes: 0 }]),
    ) as StatsView['reasons'];
    const local: Reason = 'local';
    reasons[local] = { packets: 12, bytes: 768 };
    return {
      generation: this.generation,
      at: SINCE,
      reasons,
      services: this.config.services.map((s) => this.serviceView(s)),
    };
  }

  drift(): DriftView {
    this.enterReady('drift');
    const changes = driftLines(validateConfig(this.file), this.config);
    return { drift: changes.length > 0, fileValid: true, changes };
  }

  dumpConfig(): string {
    this.enterReady('dumpConfig');
    return stringify(this.raw);
  }

  reload(): StatusView {
    this.enter('reload');
    const next = structuredClone(this.file);
    this.config = this.validate(next, 'XLB_RELOAD_FAILED');
    this.raw = next;
    this.generation++;
    this.drained.clear();
    this.isReady = true;
    return this.statusView();
  }

  metrics(): Promise<string> {
    try {
      this.enter('metrics');
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const lines = this.config.services.map((s) => `xlb_service_packets_total{service="${s.name}"} 0`);
    return Promise.resolve(`# TYPE xlb_service_packets_total counter\n${lines.join('\n')}\n`);
  }

  // ---- internals ------------------------------------------------------------------------------

  private enter(method: string): void {
    this.calls.push(method);
    if (this.fault === undefined) return;
    const fault = this.fault;
    this.fault = undefined;
    throw fault;
  }

  private enterReady(method: string): void {
    this.enter(method);
    if (!this.isReady)
      throw new ApiError('XLB_NOT_READY', 'the daemon has not applied its configuration yet');
  }

  /** Applies a change to a copy, validates the whole, then commits it (or changes nothing). */
  private apply(change: (raw: RawConfig) => void): void {
    const next = structuredClone(this.raw);
    change(next);
    this.config = this.validate(next, 'XLB_INVALID_CONFIG');
    this.raw = next;
    this.generation++;
  }

  private validate(raw: RawConfig, code: ErrorCode): Config {
    try {
      return validateConfig(raw, '<api>');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const what = code === 'XLB_RELOAD_FAILED' ? 'the config file has problems' : 'the change is invalid';
      throw new ApiError(code, `${what}: ${e.problems[0]?.message ?? ''}`, e.problems);
    }
  }

  private setRawWeight(at: { s: number; b: number }, weight: number): void {
    this.apply((raw) => {
      const b = raw.services[at.s]?.backends[at.b];
      if (b !== undefined) b.weight = weight;
    });
  }

  private forgetDrained(service: string, id?: string): void {
    for (const key of [...this.drained.keys()]) {
      if (id === undefined ? key.startsWith(`${service} `) : key === `${service} ${id}`)
        this.drained.delete(key);
    }
  }

  private findService(name: string): ServiceConfig {
    const s = this.config.services.find((x) => x.name === name);
    if (s === undefined) throw new ApiError('XLB_NOT_FOUND', `no service '${name}'`);
    return s;
  }

  private findBackend(service: string, id: string): { s: number; b: number } {
    const s = this.config.services.indexOf(this.findService(service));
    const wanted = canonicalId(id);
    const b =
      this.config.services[s]?.backends.findIndex((x) => backendId(x.address, x.port) === wanted) ?? -1;
    if (b < 0) throw new ApiError('XLB_NOT_FOUND', `service '${service}' has no backend '${id}'`);
    return { s, b };
  }

  private backendAt(at: { s: number; b: number }): BackendView {
    const s = this.config.services[at.s];
    const b = s?.backends[at.b];
    if (s === undefined || b === undefined) throw new Error('fake daemon: no backend there');
    return this.backendView(s, b);
  }

  private statusView(): StatusView {
    return {
      instance: 'test',
      version: '0.1.0',
      pid: 4242,
      startedAt: SINCE,
      generation: this.generation,
      configFile: '/etc/xlb/xlb.yaml',
      configValid: true,
      drift: JSON.stringify(this.raw) !== JSON.stringify(this.file),
      ready: this.isReady,
      interfaces: this.config.interfaces.map((name) => ({
        name,
        mode: 'generic',
        hooks: name === 'lo' ? { xdp: 'link' } : { xdp: 'link', tcIngress: 'tcx', tcEgress: 'tcx' },
      })),
      kernel: {
        release: '6.18.0-test',
        forced: ['tcx'],
        features: [
          {
            name: 'tcx',
            what: 'tcx: TC programs attached through bpf_link',
            since: '6.6',
            fallback: 'classic TC',
            available: false,
            forced: true,
          },
        ],
      },
      services: this.config.services.length,
      backends: this.config.services.reduce((n, s) => n + s.backends.length, 0),
      adopted: false,
    };
  }

  private serviceView(s: ServiceConfig): ServiceView {
    const backends = s.backends.map((b) => this.backendView(s, b));
    return {
      name: s.name,
      vip: s.vip,
      port: s.port,
      protocol: s.protocol,
      family: s.family,
      mode: s.mode,
      scheduler: s.scheduler,
      packets: backends.reduce((n, b) => n + b.packets, 0),
      bytes: backends.reduce((n, b) => n + b.bytes, 0),
      allDown: 'drop',
      backends,
    };
  }

  private backendView(s: ServiceConfig, b: BackendConfig): BackendView {
    const id = backendId(b.address, b.port);
    return {
      id,
      address: b.address,
      port: b.port,
      weight: b.weight,
      drained: this.drained.has(`${s.name} ${id}`),
      active: b.weight > 0,
      health: 'healthy',
      healthSince: SINCE,
      healthTransitions: 1,
      packets: 3,
      bytes: 192,
      ...(s.flowAffinity ? { flows: 1 } : {}),
    };
  }
}
