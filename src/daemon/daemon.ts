// The xlb daemon: owns the data plane for months. It applies its YAML config (again on
// SIGHUP or when the file changes: validated whole, only the difference written), takes
// API changes (reported as drift from the file), runs health checks (unhealthy backends
// leave the tables), keeps metrics, and survives itself: programs are attached through
// pinned links and maps are pinned, so forwarding goes on while no daemon runs, and a
// new daemon adopts what it finds — upgrading the programs in place, atomically.
//
// The parts: start.ts (adopt or start fresh), mutations.ts (API changes as typed edits),
// views.ts (what the API shows), passive.ts (ICMP errors as health signals), drift.ts,
// down.ts; this file holds the state that ties them together and the order of things.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import type { XdpMode } from '../abi/abi.js';
import type { Dataplane } from '../control/dataplane.js';
import { ownedByOther, readState, writeStateText } from '../control/instance.js';
import type { ApplyReport } from '../control/reconcile.js';
import { ifindexOf } from '../kernel/netif.js';
import {
  ConfigError,
  formatProblem,
  LIMITS,
  parseConfig,
  tooLargeProblem,
  type Config,
  type ConfigProblem,
  type ServiceConfig,
} from '../model/config.js';
import { FileTooLargeError, readTextFile } from '../util/read-file.js';
import { configToYaml } from '../model/config-io.js';
import { instancePaths } from '../util/host.js';
import {
  ApiError,
  type BackendInput,
  type BackendView,
  type DaemonApi,
  type DriftView,
  type ServiceInput,
  type ServiceView,
  type StatsView,
  type StatusView,
} from './contract.js';
import { driftLines } from './drift.js';
import { HealthChecker, type HealthCheck, type HealthEvent } from './health.js';
import { Metrics } from './metrics.js';
import * as edit from './mutations.js';
import { backendIdOf, backendKey } from './mutations.js';
import { PassiveHealth } from './passive.js';
import { openDataplane } from './start.js';
import { requireKernel, type KernelFeatures } from '../control/features.js';
import { ProbePorts, ProbeRoutes, type ProbeRoute } from '../control/probe-routes.js';
import { instanceStateText } from './state.js';
import { Views } from './views.js';

export interface DaemonOptions {
  configPath: string;
  instance?: string;
  /** Overrides the config's xdp_mode. */
  mode?: XdpMode;
  force?: boolean;
  objectPath?: string;
  /** Run health checks (default true). */
  health?: boolean;
  /** Reload when the file changes (default true; SIGHUP always reloads). */
  watch?: boolean;
  log?: Logger;
  version?: string;
}

export class Daemon implements DaemonApi {
  /** The file's configuration plus the API's changes. */
  running: Config;
  /** The file's configuration as last read successfully. */
  private fileConfig: Config;
  /** What the maps hold: `running` with drains and health applied. */
  private applied: Config;
  private generationNo = 1;
  private readyFlag = false;
  private readonly startedAt = new Date();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  health: HealthChecker | undefined;
  private passive: PassiveHealth | undefined;
  private readonly metricsReg = new Metrics();
  private readonly views: Views;
  /** Drained backends ('service/addr:port') and the weight to give back on undrain. */
  readonly drained = new Map<string, number>();
  readonly transitions = new Map<string, number>();
  private lastReconcileSeconds = 0;
  /**
   * Backends the previous daemon had taken out as unhealthy: they stay out until this
   * daemon's checks decide (a restart must not send traffic to a dead backend meanwhile).
   */
  private readonly heldOut = new Set<string>();
  private readonly probePorts = new ProbePorts();
  private readonly probeRoutes = new ProbeRoutes();
  private probeRoutesUsed = false;
  /** The config file's text as last read (the watcher reloads only when it changes). */
  private fileText: string;
  /** The file as last read: valid, or since when it is not and its first problem. */
  private fileProblem: { since: Date; message: string } | undefined;
  private reloads = { failures: 0, lastSuccess: true, lastAt: undefined as number | undefined };
  readonly log: Logger;

  private constructor(
    readonly opts: DaemonOptions,
    readonly instance: string,
    readonly dataplane: Dataplane,
    config: Config,
    text: string,
    readonly adopted: boolean,
    log: Logger,
    /** The kernel and what the probe found at start. */
    readonly kernel: KernelFeatures,
  ) {
    this.running = config;
    this.fileConfig = config;
    this.applied = config;
    this.fileText = text;
    this.log = log;
    this.views = new Views(this);
  }

  /** Starts the daemon: adopts pinned state or creates it, applies the config, attaches. */
  static start(opts: DaemonOptions): Daemon {
    const instance = opts.instance ?? 'default';
    const log = opts.log ?? pino({ base: { instance } });
    const { text, config } = readConfigFile(opts.configPath);
    const kernel = requireKernel(); // what the kernel lacks stops the start before anything changes
    const paths = instancePaths(instance);
    const prev = readState(instance);
    if (prev && ownedByOther(prev)) {
      throw new Error(
        `xlb instance '${instance}' is already running (pid ${prev.pid}): stop it first (systemctl stop xlb)`,
      );
    }
    for (const i of config.interfaces) ifindexOf(i); // a missing interface fails before anything is loaded
    const started = openDataplane(config, prev, { ...opts, instance, pinDir: paths.pinDir }, log);
    const daemon = new Daemon(
      opts,
      instance,
      started.dataplane,
      config,
      text,
      started.adopted !== undefined,
      log,
      kernel,
    );
    if (started.adopted) {
      const { state, applied } = started.adopted;
      daemon.applied = applied;
      daemon.generationNo = state.generation;
      for (const [k, w] of state.drained) daemon.drained.set(k, w);
      for (const k of state.unhealthy) daemon.heldOut.add(k);
    } else {
      log.info(
        { event: 'started', pinDir: paths.pinDir, writes: started.writes },
        `data plane loaded (${started.writes} map writes) and attached`,
      );
    }
    // The file is the truth at start: apply it over whatever was adopted.
    daemon.startHealth(); // first: backends an earlier daemon found unhealthy stay out
    daemon.reapply('start');
    daemon.readyFlag = true;
    daemon.startPassiveHealth();
    if (opts.watch !== false) daemon.watchFile();
    for (const w of started.warnings) log.warn({ event: 'warning' }, w);
    return daemon;
  }

  // ---- applying ------------------------------------------------------------------------------

  /** A backend the health checker (or the previous daemon) took out of the tables. */
  private isOut(service: string, id: string): boolean {
    const state = this.health?.state(service, id).state;
    return state === 'unhealthy' || (state === 'unknown' && this.heldOut.has(backendKey(service, id)));
  }

  /** A service's backends as the tables must hold them: health applied, all_down policy. */
  private effectiveService(s: ServiceConfig): ServiceConfig {
    if (!s.health || !this.health) return s;
    const up = s.backends.filter((b) => !this.isOut(s.name, backendIdOf(b)));
    if (up.length > 0 || s.backends.length === 0) return { ...s, backends: up };
    if (s.allDown === 'keep-last') {
      const before = this.applied.services.find((x) => x.name === s.name);
      this.log.warn(
        { event: 'all_down', service: s.name },
        `every backend of ${s.name} is down: keeping the last healthy set`,
      );
      if (!before) return s;
      return {
        ...s,
        backends: before.backends.filter((b) =>
          s.backends.some((c) => c.address === b.address && c.port === b.port),
        ),
      };
    }
    this.log.error(
      { event: 'all_down', service: s.name },
      `every backend of ${s.name} is down: its packets are dropped`,
    );
    return { ...s, backends: [] };
  }

  /** Applies the running configuration with drains and health; persists the state. */
  private reapply(why: string): ApplyReport {
    const want: Config = {
      ...this.running,
      services: this.running.services.map((s) => this.effectiveService(s)),
    };
    const t = process.hrtime.bigint();
    const report = this.dataplane.apply(want);
    this.lastReconcileSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    this.applied = want;
    this.save();
    this.health?.update(this.checks());
    this.log.info(
      {
        event: 'applied',
        why,
        generation: this.generationNo,
        writes: report.writes,
        seconds: this.lastReconcileSeconds,
      },
      `configuration applied (${why}): ${report.writes} map writes`,
    );
    return report;
  }

  /** Makes `next` (already validated) the running configuration and applies it. */
  private change(next: Config, why: string): void {
    if (next.interfaces.join(',') !== this.running.interfaces.join(',')) {
      throw new ApiError(
        'XLB_INVALID_CONFIG',
        'interfaces cannot change while running: restart the daemon (systemctl restart xlb)',
      );
    }
    const before = this.running;
    this.running = next;
    this.generationNo++;
    try {
      this.reapply(why);
    } catch (e) {
      this.running = before;
      this.generationNo--;
      throw new ApiError('XLB_KERNEL', (e as Error).message);
    }
  }

  private save(): void {
    writeStateText(
      this.instance,
      instanceStateText({
        instance: this.instance,
        startedAt: this.startedAt,
        dataplane: this.dataplane,
        generation: this.generationNo,
        running: this.running,
        applied: this.applied,
        drained: this.drained,
        unhealthy: this.running.services.flatMap((s) =>
          s.health && this.health
            ? s.backends
                .map(backendIdOf)
                .filter((id) => this.isOut(s.name, id))
                .map((id) => backendKey(s.name, id))
            : [],
        ),
      }),
    );
  }

  // ---- file and signals ----------------------------------------------------------------------

  reload(): StatusView {
    this.reloads.lastAt = Date.now() / 1000;
    let next: Config;
    try {
      const read = readConfigFile(this.opts.configPath);
      this.fileText = read.text;
      next = read.config;
    } catch (e) {
      const problems = e instanceof ConfigError ? e.problems : [{ path: '', message: (e as Error).message }];
      throw this.reloadFailed(problems, (e as Error).message, 'XLB_RELOAD_FAILED');
    }
    try {
      this.change(next, 'reload');
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const problems = Array.isArray(e.details)
        ? (e.details as ConfigProblem[])
        : [{ path: '', message: e.message }];
      throw this.reloadFailed(
        problems,
        e.message,
        e.code === 'XLB_KERNEL' ? 'XLB_KERNEL' : 'XLB_RELOAD_FAILED',
      );
    }
    this.fileConfig = next;
    this.fileProblem = undefined;
    this.reloads.lastSuccess = true;
    this.drained.clear();
    return this.status();
  }

  /** A read of the file that applied nothing: logged, counted, shown by status and drift until a good one. */
  private reloadFailed(
    problems: ConfigProblem[],
    message: string,
    code: 'XLB_RELOAD_FAILED' | 'XLB_KERNEL',
  ): ApiError {
    this.reloads.failures++;
    this.reloads.lastSuccess = false;
    const first = problems[0];
    const firstText = first ? formatProblem(this.opts.configPath, first) : message;
    this.fileProblem = { since: this.fileProblem?.since ?? new Date(), message: firstText };
    this.log.error({ event: 'reload_failed', problems }, `config not applied: ${message}`);
    return new ApiError(
      code,
      `config ${this.opts.configPath} not applied, the running one stays: ${message}`,
      problems,
    );
  }

  /**
   * Watches the file's directory (editors and config managers replace the file by renaming
   * a new one over it, which a watch on the file itself would miss) and reloads, after a
   * quiet 200 ms, when the file's text differs from what was last read.
   */
  private watchFile(): void {
    const file = basename(this.opts.configPath);
    try {
      this.watcher = watch(dirname(this.opts.configPath), (_event, name) => {
        if (name !== null && name !== file) return;
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          let text: string | undefined;
          try {
            text = readTextFile(this.opts.configPath, LIMITS.maxFileBytes);
          } catch (e) {
            // Being replaced: the rename's event follows. Too large: reload() says so.
            if (!(e instanceof FileTooLargeError)) return;
          }
          if (text === this.fileText) return;
          try {
            this.reload();
          } catch {
            /* logged */
          }
        }, 200);
      });
    } catch (e) {
      this.log.warn(
        { event: 'watch_failed' },
        `cannot watch ${this.opts.configPath}: ${(e as Error).message}; SIGHUP still reloads`,
      );
    }
  }

  // ---- health --------------------------------------------------------------------------------

  /**
   * The health checks of the running configuration. A dsr service's probes go to the service
   * address with each backend as next hop (health.target vip, the default in dsr): each gets a
   * probe port and a policy route of its own (src/control/probe-routes.ts).
   */
  private checks(): HealthCheck[] {
    const viaVip = (s: ServiceConfig): boolean =>
      s.health !== undefined &&
      (s.health.target ?? (s.mode === 'dsr' && s.vip !== '*' ? 'vip' : 'backend')) === 'vip';
    const pairs = this.running.services
      .filter(viaVip)
      .flatMap((s) => s.backends.map((b) => backendKey(s.name, backendIdOf(b))));
    const ports = this.probePorts.assign(pairs);
    const routes: ProbeRoute[] = [];
    const checks = this.running.services.flatMap((s) => {
      const health = s.health;
      if (!health) return [];
      return s.backends.map((b): HealthCheck => {
        const backend = backendIdOf(b);
        const check = { service: s.name, backend, config: health };
        if (!viaVip(s))
          return { ...check, target: { address: b.address, port: health.port ?? b.port, family: s.family } };
        const localPort = ports.get(backendKey(s.name, backend));
        const target = { address: s.vip, port: health.port ?? s.port, family: s.family, backend: b.address };
        if (localPort === undefined) {
          return {
            ...check,
            target: {
              ...target,
              blocked: 'no probe port left (at most 1,000 dsr backends are probed through the VIP)',
            },
          };
        }
        const proto = health.type === 'tcp' || health.type === 'http' ? 'tcp' : 'udp';
        if (health.type !== 'exec')
          routes.push({ family: s.family, vip: s.vip, backend: b.address, localPort, proto });
        return { ...check, target: { ...target, localPort } };
      });
    });
    if (routes.length === 0 && !this.probeRoutesUsed) return checks;
    this.probeRoutesUsed = true;
    const problems = this.probeRoutes.sync(routes);
    if (problems.size === 0) return checks;
    for (const [, message] of problems) this.log.warn({ event: 'warning' }, `health probe route: ${message}`);
    return checks.map((c) => {
      const t = c.target;
      if (t.localPort === undefined || t.backend === undefined) return c;
      const problem = [...problems].find(([k]) => k.includes(`|${t.backend}|${t.localPort}|`))?.[1];
      return problem === undefined ? c : { ...c, target: { ...t, blocked: problem } };
    });
  }

  private startHealth(): void {
    if (this.opts.health === false) return;
    this.probeRoutes.clear(); // what a killed daemon left
    this.health = new HealthChecker({ onChange: (e) => this.onHealth(e) });
    this.health.update(this.checks());
  }

  private onHealth(e: HealthEvent): void {
    const key = backendKey(e.service, e.backend);
    this.transitions.set(key, (this.transitions.get(key) ?? 0) + 1);
    this.log.info(
      { event: 'health', ...e },
      `backend ${e.backend} of ${e.service}: ${e.from} -> ${e.to}${e.reason ? ` (${e.reason})` : ''}`,
    );
    const wasHeld = this.heldOut.delete(key);
    if (e.from === 'unhealthy' || e.to === 'unhealthy' || wasHeld) {
      try {
        this.reapply(`health ${e.backend} ${e.to}`);
      } catch (err) {
        this.log.error({ event: 'apply_failed' }, (err as Error).message);
      }
    }
  }

  private startPassiveHealth(): void {
    const health = this.health;
    if (!health) return;
    this.passive = new PassiveHealth({
      read: (services) => this.dataplane.icmpUnreachable(services),
      services: () => this.running.services,
      fail: (service, backend, reason) => health.reportFailure(service, backend, reason),
      log: this.log,
    });
    this.passive.start();
  }

  // ---- views ---------------------------------------------------------------------------------

  ready(): boolean {
    return this.readyFlag;
  }

  get generation(): number {
    return this.generationNo;
  }

  status(): StatusView {
    return {
      instance: this.instance,
      version: this.opts.version ?? 'unknown',
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      generation: this.generationNo,
      configFile: this.opts.configPath,
      configValid: this.fileProblem === undefined,
      ...(this.fileProblem
        ? {
            configInvalidSince: this.fileProblem.since.toISOString(),
            configProblem: this.fileProblem.message,
          }
        : {}),
      drift: this.drift().drift,
      ready: this.readyFlag,
      interfaces: this.dataplane.interfaceHooks(),
      kernel: this.kernel,
      services: this.running.services.length,
      backends: this.running.services.reduce((n, s) => n + s.backends.length, 0),
      adopted: this.adopted,
    };
  }

  services(): ServiceView[] {
    return this.views.services(this.dataplane.stats());
  }

  service(name: string): ServiceView {
    const v = this.views.services(this.dataplane.stats(name), name)[0];
    if (!v) throw new ApiError('XLB_NOT_FOUND', `no service '${name}' (xlb service ls lists them)`);
    return v;
  }

  stats(): StatsView {
    const snapshot = this.dataplane.stats();
    return {
      generation: this.generationNo,
      at: new Date(snapshot.at).toISOString(),
      reasons: snapshot.reasons,
      services: this.views.services(snapshot),
    };
  }

  drift(): DriftView {
    const changes = driftLines(this.fileConfig, this.running);
    const p = this.fileProblem;
    return {
      drift: changes.length > 0,
      fileValid: p === undefined,
      ...(p ? { fileProblem: `file invalid since ${p.since.toISOString()}: ${p.message}` } : {}),
      changes,
    };
  }

  dumpConfig(): string {
    return configToYaml(
      this.running,
      `xlb running configuration, instance ${this.instance}, generation ${this.generationNo}`,
    );
  }

  async metrics(): Promise<string> {
    const stats = this.stats();
    this.metricsReg.update({
      instance: this.instance,
      generation: this.generationNo,
      stats,
      mapFill: this.views.flows().fill,
      reconcileSeconds: this.lastReconcileSeconds,
      reloads: { ...this.reloads },
      healthTransitions: [...this.transitions].map(([k, count]) => {
        const [service = '', backend = ''] = k.split(/\/(.*)/s);
        return { service, backend, count };
      }),
    });
    return this.metricsReg.text();
  }

  // ---- mutations (typed edits, validated, then applied) -------------------------------------

  addService(input: ServiceInput): ServiceView {
    const why = `api: add service ${input.name}`;
    this.change(edit.addService(this.running, input, why), why);
    return this.service(input.name);
  }

  removeService(name: string): void {
    this.change(edit.removeService(this.running, name), `api: remove service ${name}`);
  }

  addBackend(service: string, input: BackendInput): BackendView {
    const why = `api: add backend to ${service}`;
    this.change(edit.addBackend(this.running, service, input, why), why);
    const v = this.service(service).backends.at(-1);
    if (!v) throw new ApiError('XLB_INTERNAL', 'backend vanished');
    return v;
  }

  removeBackend(service: string, backendId: string): void {
    this.change(
      edit.removeBackend(this.running, service, backendId),
      `api: remove backend ${backendId} of ${service}`,
    );
    this.drained.delete(backendKey(service, backendId));
  }

  /** Sets a backend's weight; `drain` records (true) or forgets (false) a drain, after the change applied. */
  private weigh(service: string, backendId: string, weight: number, why: string): BackendView {
    this.change(edit.setWeight(this.running, service, backendId, weight, why), why);
    return this.backendView(service, backendId);
  }

  private backendView(service: string, backendId: string): BackendView {
    const v = this.service(service).backends.find((b) => b.id === backendId);
    if (!v) throw new ApiError('XLB_INTERNAL', 'backend vanished');
    return v;
  }

  setWeight(service: string, backendId: string, weight: number): BackendView {
    const key = backendKey(service, backendId);
    const wasDrained = this.drained.get(key);
    this.drained.delete(key);
    try {
      return this.weigh(service, backendId, weight, `api: weight of ${backendId} in ${service} -> ${weight}`);
    } catch (e) {
      if (wasDrained !== undefined) this.drained.set(key, wasDrained); // refused: nothing changed
      throw e;
    }
  }

  drain(service: string, backendId: string): BackendView {
    const s = edit.findService(this.running, service);
    const current = s.backends[edit.findBackend(s, backendId)];
    const key = backendKey(service, backendId);
    const first = !this.drained.has(key);
    if (first && current) this.drained.set(key, current.weight);
    try {
      return { ...this.weigh(service, backendId, 0, `api: drain ${backendId} of ${service}`), drained: true };
    } catch (e) {
      if (first) this.drained.delete(key);
      throw e;
    }
  }

  undrain(service: string, backendId: string): BackendView {
    const key = backendKey(service, backendId);
    const weight = this.drained.get(key);
    this.drained.delete(key);
    try {
      return this.weigh(service, backendId, weight || 1, `api: undrain ${backendId} of ${service}`);
    } catch (e) {
      if (weight !== undefined) this.drained.set(key, weight);
      throw e;
    }
  }

  // ---- the end -------------------------------------------------------------------------------

  /** Stops the daemon; the data plane keeps forwarding (its links and maps stay pinned). */
  stop(): void {
    this.watcher?.close();
    clearTimeout(this.reloadTimer);
    this.passive?.stop();
    this.health?.stop();
    if (this.probeRoutesUsed) this.probeRoutes.clear();
    this.dataplane.keepAttached = true;
    this.dataplane.close();
    this.log.info({ event: 'stopped' }, 'daemon stopped; the data plane keeps forwarding');
  }
}

/**
 * Reads and validates the config file (at start and on every reload): a file over the size
 * limit is refused before it is read, a file that cannot be read says how to give another.
 */
export function readConfigFile(path: string): { text: string; config: Config } {
  let text: string;
  try {
    text = readTextFile(path, LIMITS.maxFileBytes);
  } catch (e) {
    if (e instanceof FileTooLargeError) throw new ConfigError(path, [tooLargeProblem(e.size)]);
    throw new Error(
      `cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (give one with --config FILE)`,
    );
  }
  return { text, config: parseConfig(text, path) };
}
