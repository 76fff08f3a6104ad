// The xlb daemon: owns the data plane for months. It applies its YAML config (again on
// SIGHUP or when the file changes: validated whole, only the difference written), takes
// API changes (reported as drift from the file), runs health checks (unhealthy backends
// leave the tables), keeps metrics, and survives itself: programs are attached through
// pinned links and maps are pinned, so forwarding goes on while no daemon runs, and a
// new daemon adopts what it finds — upgrading the programs in place, atomically.
import { hostPort } from '../util/endpoint.js';
import { existsSync, readFileSync, readdirSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pino, type Logger } from 'pino';
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
import { BpfLink } from '../kernel/link.js';
import { BpfMap } from '../kernel/map.js';
import type { XdpMode } from '../abi/abi.js';
import { ifindexOf } from '../kernel/netif.js';
import { ABI_VERSION } from '../abi/abi.js';
import {
  ConfigError,
  parseConfig,
  validateConfig,
  type Config,
  type ServiceConfig,
} from '../model/config.js';
import { configToInput, configToYaml } from '../model/config-io.js';
import { plan, planIds, planIdsFrom } from '../model/plan.js';
import { Dataplane, linkPins } from '../control/dataplane.js';
import { HealthChecker, type HealthEvent } from './health.js';
import { instancePaths, pidAlive } from '../util/host.js';
import { claimInstance, planToState, readState, removeInstance, writeState } from '../control/instance.js';
import { MAP_NAMES, type MapName } from '../control/maps.js';
import { Metrics } from './metrics.js';
import { forwardingWarnings } from '../control/preflight.js';
import type { ApplyReport } from '../control/reconcile.js';
import type { StatsSnapshot } from '../control/stats.js';

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

/** What a daemon saves next to its pins so that the next one can adopt them. */
export interface DaemonState {
  name: string;
  pid: number;
  startedAt: string;
  interfaces: { name: string; mode: string }[];
  /** For `xlb stats`: the services as applied, without their tables. */
  services: unknown[];
  abi: number;
  generation: number;
  /** The configuration the API changed last (input form). */
  running: Record<string, unknown>;
  /** What the maps hold: the running config with health and drains applied (input form). */
  applied: Record<string, unknown>;
  ids: ReturnType<typeof planIds>;
  slots: { table: [number, number][]; value: [number, number][] };
  /** Drained backends' configured weights, to undrain: 'service/addr:port' -> weight. */
  drained: [string, number][];
  /** Backends that were unhealthy ('service/addr:port'): kept out until a probe says otherwise. */
  unhealthy?: string[];
}

const beKey = (service: string, id: string) => `${service}/${id}`;

function configProblems(e: unknown): never {
  if (e instanceof ConfigError) {
    throw new ApiError('XLB_INVALID_CONFIG', e.message, e.problems);
  }
  throw e;
}

export class Daemon implements DaemonApi {
  private running: Config;
  private fileConfig: Config | undefined;
  private applied: Config;
  private generationNo = 1;
  private readyFlag = false;
  private readonly startedAt = new Date();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private health: HealthChecker | undefined;
  private readonly metricsReg = new Metrics();
  private readonly drained = new Map<string, number>();
  private lastReconcileSeconds = 0;
  private flowCounts:
    | { at: number; perBackend: Map<number, number>; fill: { map: string; entries: number; max: number }[] }
    | undefined;
  private transitions = new Map<string, number>();
  /**
   * Backends the previous daemon had taken out as unhealthy: they stay out until this
   * daemon's checks decide (a restart must not send traffic to a dead backend meanwhile).
   */
  private readonly heldOut = new Set<string>();
  /** When a passive (ICMP) failure was last counted per backend: at most one per interval. */
  private readonly passiveAt = new Map<string, number>();
  private icmpSeen = new Map<string, bigint>();
  private icmpTimer: NodeJS.Timeout | undefined;
  /** The config file's text as last read (the watcher reloads only when it changes). */
  private fileText = '';
  readonly log: Logger;

  private constructor(
    readonly opts: DaemonOptions,
    readonly instance: string,
    readonly dataplane: Dataplane,
    config: Config,
    readonly adopted: boolean,
    readonly warnings: string[],
  ) {
    this.running = config;
    this.fileConfig = config;
    this.applied = config;
    this.log = opts.log ?? pino({ base: { instance } });
  }

  /** Starts the daemon: adopts pinned state or creates it, applies the config, attaches. */
  static start(opts: DaemonOptions): Daemon {
    const instance = opts.instance ?? 'default';
    const log = opts.log ?? pino({ base: { instance } });
    let text: string;
    try {
      text = readFileSync(opts.configPath, 'utf8');
    } catch (e) {
      throw new Error(
        `cannot read config ${opts.configPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (give one with --config FILE)`,
      );
    }
    const config = parseConfig(text, opts.configPath);
    const paths = instancePaths(instance);
    const prev = readState(instance) as DaemonState | undefined;
    if (prev && prev.pid !== process.pid && pidAlive(prev.pid)) {
      throw new Error(
        `xlb instance '${instance}' is already running (pid ${prev.pid}): stop it first (systemctl stop xlb)`,
      );
    }
    const mode = opts.mode ?? config.xdpMode;
    for (const i of config.interfaces) ifindexOf(i);

    const canAdopt =
      prev !== undefined &&
      prev.abi === ABI_VERSION &&
      prev.applied !== undefined &&
      MAP_NAMES.every((m) => existsSync(join(paths.pinDir, m)));
    let dp: Dataplane;
    let daemon: Daemon;
    if (canAdopt) {
      const reuse = new Map<MapName, BpfMap>(
        MAP_NAMES.map((m) => [m, BpfMap.fromPin(join(paths.pinDir, m))]),
      );
      try {
        dp = Dataplane.load({ objectPath: opts.objectPath, reuse });
      } finally {
        for (const m of reuse.values()) m.close();
      }
      dp.keepAttached = true;
      const flowEntries = dp.maps.revNat.raw.info.maxEntries;
      if (flowEntries !== config.flowTableSize) {
        log.warn(
          { event: 'warning', flowTableSize: flowEntries },
          `flow_table_size ${config.flowTableSize} not applied: the adopted flow tables keep ` +
            `${flowEntries} entries (and their flows); xlb down and start again to resize them`,
        );
      }
      const applied = validateConfig(prev.applied, 'saved state');
      dp.reconciler.restore(plan(applied, planIdsFrom(prev.ids)), prev.slots);
      for (const ifname of config.interfaces) {
        const m = prev.interfaces.find((i) => i.name === ifname)?.mode === 'generic' ? 'generic' : 'native';
        if (!dp.adoptLinks(ifname, paths.pinDir, m)) {
          dp.attach([ifname], { mode, force: opts.force, pinDir: paths.pinDir });
        } else if (mode !== 'auto' && mode !== m) {
          log.warn(
            { event: 'warning', interface: ifname },
            `${ifname} stays in ${m} mode (asked: ${mode}): a running attachment keeps its mode; ` +
              'xlb down and start again to change it',
          );
        }
      }
      for (const old of prev.interfaces) {
        if (config.interfaces.includes(old.name)) continue;
        detachPinned(paths.pinDir, old.name, dp);
        log.info({ event: 'detached', interface: old.name }, `${old.name} left the config: detached`);
      }
      daemon = new Daemon(opts, instance, dp, validateConfig(prev.running, 'saved state'), true, []);
      daemon.applied = applied;
      daemon.generationNo = prev.generation;
      for (const [k, w] of prev.drained ?? []) daemon.drained.set(k, w);
      for (const k of prev.unhealthy ?? []) daemon.heldOut.add(k);
      log.info(
        { event: 'adopted', generation: prev.generation, pinDir: paths.pinDir },
        'adopted the pinned data plane',
      );
    } else {
      claimInstance(instance);
      dp = Dataplane.load({ objectPath: opts.objectPath, flowTableSize: config.flowTableSize });
      dp.keepAttached = true;
      let writes = 0;
      try {
        writes = dp.apply(config).writes;
        dp.pinMaps(paths.pinDir);
        dp.attach(config.interfaces, { mode, force: opts.force, pinDir: paths.pinDir });
      } catch (e) {
        dp.keepAttached = false;
        dp.close();
        throw e;
      }
      daemon = new Daemon(opts, instance, dp, config, false, forwardingWarnings(config, config.interfaces));
      log.info(
        { event: 'started', pinDir: paths.pinDir, writes },
        `data plane loaded (${writes} map writes) and attached`,
      );
    }
    // The file is the truth at start: apply it over whatever was adopted.
    daemon.running = config;
    daemon.fileConfig = config;
    daemon.fileText = text;
    daemon.startHealth(); // first: backends an earlier daemon found unhealthy stay out
    daemon.reapply('start');
    daemon.readyFlag = true;
    daemon.startIcmpWatch();
    if (opts.watch !== false) daemon.watchFile();
    for (const w of daemon.warnings) log.warn({ event: 'warning' }, w);
    return daemon;
  }

  // ---- applying ------------------------------------------------------------------------------

  /** The running config with drains and health applied: what the tables must hold. */
  private effective(): Config {
    const services = this.running.services.map((s): ServiceConfig => {
      let backends = s.backends;
      if (s.health && this.health) {
        const up = backends.filter((b) => {
          const id = hostPort(b.address, b.port);
          const state = this.health?.state(s.name, id).state;
          return state !== 'unhealthy' && !(state === 'unknown' && this.heldOut.has(beKey(s.name, id)));
        });
        if (up.length === 0 && backends.length > 0 && s.allDown === 'keep-last') {
          const before = this.applied.services.find((x) => x.name === s.name);
          backends = before
            ? before.backends.filter((b) =>
                backends.some((c) => c.address === b.address && c.port === b.port),
              )
            : backends;
          this.log.warn(
            { event: 'all_down', service: s.name },
            `every backend of ${s.name} is down: keeping the last healthy set`,
          );
        } else {
          if (up.length === 0 && backends.length > 0) {
            this.log.error(
              { event: 'all_down', service: s.name },
              `every backend of ${s.name} is down: its packets are dropped`,
            );
          }
          backends = up;
        }
      }
      return { ...s, backends };
    });
    return { ...this.running, services };
  }

  /** Applies the effective configuration; persists the state. */
  private reapply(why: string): ApplyReport {
    const want = this.effective();
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

  /** Validates a new running configuration as a whole and applies it. */
  private change(input: Record<string, unknown>, why: string): void {
    let next: Config;
    try {
      next = validateConfig(input, why);
    } catch (e) {
      configProblems(e);
    }
    if (next.interfaces.join(',') !== this.running.interfaces.join(',')) {
      throw new ApiError(
        'XLB_INVALID_CONFIG',
        'interfaces cannot change while running: restart the daemon (systemctl restart xlb)',
      );
    }
    const before = this.running;
    this.running = next;
    try {
      this.generationNo++;
      this.reapply(why);
    } catch (e) {
      this.running = before;
      this.generationNo--;
      throw new ApiError('XLB_KERNEL', (e as Error).message);
    }
  }

  private save(): void {
    const p = this.dataplane.reconciler.applied;
    const state: DaemonState = {
      name: this.instance,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      interfaces: this.dataplane.xdp.map((a) => ({ name: a.ifname, mode: a.mode })),
      services: planToState(p),
      abi: ABI_VERSION,
      generation: this.generationNo,
      running: configToInput(this.running),
      applied: configToInput(this.applied),
      ids: planIds(p),
      slots: this.dataplane.reconciler.slots,
      drained: [...this.drained],
      unhealthy: this.running.services.flatMap((s) =>
        s.health && this.health
          ? s.backends
              .map((b) => hostPort(b.address, b.port))
              .filter(
                (id) =>
                  this.health?.state(s.name, id).state === 'unhealthy' || this.heldOut.has(beKey(s.name, id)),
              )
              .map((id) => beKey(s.name, id))
          : [],
      ),
    };
    writeState(state as unknown as Parameters<typeof writeState>[0]);
  }

  // ---- file and signals ----------------------------------------------------------------------

  reload(): StatusView {
    let next: Config;
    try {
      const text = readFileSync(this.opts.configPath, 'utf8');
      this.fileText = text;
      next = parseConfig(text, this.opts.configPath);
    } catch (e) {
      const problems = e instanceof ConfigError ? e.problems : [{ path: '', message: (e as Error).message }];
      this.log.error({ event: 'reload_failed', problems }, `config not applied: ${(e as Error).message}`);
      throw new ApiError(
        'XLB_RELOAD_FAILED',
        `config ${this.opts.configPath} not applied, the running one stays: ${(e as Error).message}`,
        problems,
      );
    }
    this.fileConfig = next;
    this.change(configToInput(next), 'reload');
    this.drained.clear();
    return this.status();
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
          let text: string;
          try {
            text = readFileSync(this.opts.configPath, 'utf8');
          } catch {
            return; // being replaced; the rename's event follows
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

  private checks() {
    return this.running.services.flatMap((s) =>
      s.health
        ? s.backends.map((b) => ({
            service: s.name,
            backend: hostPort(b.address, b.port),
            config: s.health!,
            target: { address: b.address, port: s.health!.port ?? b.port, family: s.family },
          }))
        : [],
    );
  }

  private startHealth(): void {
    if (this.opts.health === false) return;
    this.health = new HealthChecker({ onChange: (e) => this.onHealth(e) });
    this.health.update(this.checks());
  }

  private onHealth(e: HealthEvent): void {
    const key = beKey(e.service, e.backend);
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

  /** Passive health: ICMP port-unreachable errors from backends count as failed probes. */
  private startIcmpWatch(): void {
    const health = this.health;
    if (!health) return;
    // Errors counted before this daemon started (an adopted data plane) are not news.
    this.icmpSeen = this.dataplane.icmpUnreachable();
    this.icmpTimer = setInterval(() => {
      let now: Map<string, bigint>;
      try {
        now = this.dataplane.icmpUnreachable();
      } catch (e) {
        this.log.warn({ event: 'icmp_read_failed' }, (e as Error).message);
        return;
      }
      for (const [key, n] of now) {
        const seen = this.icmpSeen.get(key) ?? 0n;
        this.icmpSeen.set(key, n);
        if (n <= seen) continue;
        for (const s of this.running.services) {
          if (!s.health) continue;
          for (const b of s.backends) {
            if (hostPort(b.address, b.port) !== key) continue;
            // The daemon's own failed probes cause these errors too: count at most one per
            // interval, so that passive errors speed detection up without halving `fall`.
            const k = beKey(s.name, key);
            const at = Date.now();
            if (at - (this.passiveAt.get(k) ?? 0) < s.health.interval * 1000) continue;
            this.passiveAt.set(k, at);
            health.reportFailure(s.name, key, 'ICMP port unreachable (passive)');
          }
        }
      }
    }, 250);
    this.icmpTimer.unref();
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
      drift: this.drift().drift,
      ready: this.readyFlag,
      interfaces: this.dataplane.xdp.map((a) => ({ name: a.ifname, mode: a.mode })),
      services: this.running.services.length,
      backends: this.running.services.reduce((n, s) => n + s.backends.length, 0),
      adopted: this.adopted,
    };
  }

  private flows(): NonNullable<Daemon['flowCounts']> {
    if (!this.flowCounts || Date.now() - this.flowCounts.at > 5000) {
      const perBackend = new Map<number, number>();
      let fwd = 0;
      for (const [, v] of this.dataplane.maps.fwdFlows.entries()) {
        perBackend.set(v.backend_id, (perBackend.get(v.backend_id) ?? 0) + 1);
        fwd++;
      }
      const fill = [
        { map: 'fwd_flows', entries: fwd, max: this.dataplane.maps.fwdFlows.raw.info.maxEntries },
      ];
      let rev = 0;
      for (const _ of this.dataplane.maps.revNat.raw.keys()) rev++;
      fill.push({ map: 'rev_nat', entries: rev, max: this.dataplane.maps.revNat.raw.info.maxEntries });
      fill.push({
        map: 'services',
        entries: this.running.services.length,
        max: this.dataplane.maps.services.raw.info.maxEntries,
      });
      this.flowCounts = { at: Date.now(), perBackend, fill };
    }
    return this.flowCounts;
  }

  private serviceViews(snapshot: StatsSnapshot, only?: string): ServiceView[] {
    const flows = this.flows().perBackend;
    const statsByName = new Map(snapshot.services.map((x) => [x.name, x]));
    const plannedByName = new Map(this.dataplane.reconciler.applied.services.map((x) => [x.name, x]));
    const services =
      only === undefined ? this.running.services : this.running.services.filter((s) => s.name === only);
    return services.map((s) => {
      const stats = statsByName.get(s.name);
      const planned = plannedByName.get(s.name);
      return {
        name: s.name,
        vip: s.vip,
        port: s.port,
        protocol: s.protocol,
        family: s.family,
        mode: s.mode,
        scheduler: s.scheduler,
        packets: stats?.packets ?? 0,
        bytes: stats?.bytes ?? 0,
        ...(s.health ? { allDown: s.allDown } : {}),
        backends: s.backends.map((b): BackendView => {
          const id = hostPort(b.address, b.port);
          const pb = planned?.backends.find((x) => x.address === b.address && x.port === b.port);
          const bs = stats?.backends.find((x) => x.address === b.address && x.port === b.port);
          const h = s.health && this.health ? this.health.state(s.name, id) : undefined;
          const inTable = pb !== undefined && planned!.table.includes(pb.id);
          return {
            id,
            address: b.address,
            port: b.port,
            weight: b.weight,
            drained: this.drained.has(beKey(s.name, id)),
            active: inTable,
            health: h?.state ?? 'disabled',
            ...(h ? { healthSince: h.since.toISOString() } : {}),
            healthTransitions: this.transitions.get(beKey(s.name, id)) ?? 0,
            packets: bs?.packets ?? 0,
            bytes: bs?.bytes ?? 0,
            ...(pb ? { flows: flows.get(pb.id) ?? 0 } : {}),
          };
        }),
      };
    });
  }

  services(): ServiceView[] {
    return this.serviceViews(this.dataplane.stats());
  }

  service(name: string): ServiceView {
    const v = this.serviceViews(this.dataplane.stats(name), name)[0];
    if (!v) throw new ApiError('XLB_NOT_FOUND', `no service '${name}' (xlb service ls lists them)`);
    return v;
  }

  stats(): StatsView {
    const snapshot = this.dataplane.stats();
    return {
      generation: this.generationNo,
      at: new Date(snapshot.at).toISOString(),
      reasons: snapshot.reasons,
      services: this.serviceViews(snapshot),
    };
  }

  drift(): DriftView {
    const changes = this.fileConfig ? driftLines(this.fileConfig, this.running) : [];
    return { drift: changes.length > 0, changes };
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
      mapFill: this.flows().fill,
      reconcileSeconds: this.lastReconcileSeconds,
      healthTransitions: [...this.transitions].map(([k, count]) => {
        const [service = '', backend = ''] = k.split(/\/(.*)/s);
        return { service, backend, count };
      }),
    });
    return this.metricsReg.text();
  }

  // ---- mutations (validated whole, then applied) ---------------------------------------------

  private input(): { services: Record<string, unknown>[] } & Record<string, unknown> {
    return configToInput(this.running) as { services: Record<string, unknown>[] } & Record<string, unknown>;
  }

  private svcInput(cfg: ReturnType<Daemon['input']>, name: string) {
    const s = cfg.services.find((x) => x.name === name);
    if (!s) throw new ApiError('XLB_NOT_FOUND', `no service '${name}' (xlb service ls lists them)`);
    return s as { backends: Record<string, unknown>[] } & Record<string, unknown>;
  }

  private backendIndex(s: { backends: Record<string, unknown>[]; name?: unknown }, id: string): number {
    const i = s.backends.findIndex((b) => hostPort(String(b.address), Number(b.port)) === id);
    if (i < 0) throw new ApiError('XLB_NOT_FOUND', `service '${String(s.name)}' has no backend ${id}`);
    return i;
  }

  addService(input: ServiceInput): ServiceView {
    const cfg = this.input();
    if (cfg.services.some((s) => s.name === input.name)) {
      throw new ApiError(
        'XLB_CONFLICT',
        `service '${input.name}' exists; remove it first or choose another name`,
      );
    }
    cfg.services.push({ backends: [], ...input });
    this.change(cfg, `api: add service ${input.name}`);
    return this.service(input.name);
  }

  removeService(name: string): void {
    const cfg = this.input();
    this.svcInput(cfg, name);
    cfg.services = cfg.services.filter((s) => s.name !== name);
    this.change(cfg, `api: remove service ${name}`);
  }

  addBackend(service: string, input: BackendInput): BackendView {
    const cfg = this.input();
    const s = this.svcInput(cfg, service);
    s.backends.push({ ...input });
    try {
      this.change(cfg, `api: add backend to ${service}`);
    } catch (e) {
      if (e instanceof ApiError && /duplicate backend/.test(e.message)) {
        throw new ApiError(
          'XLB_CONFLICT',
          `service '${service}' already has backend ${String(input.address)}:${String(input.port)}`,
        );
      }
      throw e;
    }
    const v = this.service(service).backends.at(-1);
    if (!v) throw new ApiError('XLB_INTERNAL', 'backend vanished');
    return v;
  }

  removeBackend(service: string, backendId: string): void {
    const cfg = this.input();
    const s = this.svcInput(cfg, service);
    s.backends.splice(this.backendIndex(s, backendId), 1);
    this.change(cfg, `api: remove backend ${backendId} of ${service}`);
    this.drained.delete(beKey(service, backendId));
  }

  private withWeight(service: string, backendId: string, weight: number, why: string): BackendView {
    const cfg = this.input();
    const s = this.svcInput(cfg, service);
    const i = this.backendIndex(s, backendId);
    s.backends[i] = { ...s.backends[i], weight };
    this.change(cfg, why);
    return this.service(service).backends.find((b) => b.id === backendId)!;
  }

  setWeight(service: string, backendId: string, weight: number): BackendView {
    this.drained.delete(beKey(service, backendId));
    return this.withWeight(
      service,
      backendId,
      weight,
      `api: weight of ${backendId} in ${service} -> ${weight}`,
    );
  }

  drain(service: string, backendId: string): BackendView {
    const current = this.running.services
      .find((s) => s.name === service)
      ?.backends.find((b) => hostPort(b.address, b.port) === backendId);
    if (current && !this.drained.has(beKey(service, backendId)))
      this.drained.set(beKey(service, backendId), current.weight);
    const v = this.withWeight(service, backendId, 0, `api: drain ${backendId} of ${service}`);
    return { ...v, drained: true };
  }

  undrain(service: string, backendId: string): BackendView {
    const weight = this.drained.get(beKey(service, backendId)) ?? 1;
    this.drained.delete(beKey(service, backendId));
    return this.withWeight(service, backendId, weight || 1, `api: undrain ${backendId} of ${service}`);
  }

  // ---- the end -------------------------------------------------------------------------------

  /** Stops the daemon; the data plane keeps forwarding (its links and maps stay pinned). */
  stop(): void {
    this.watcher?.close();
    clearTimeout(this.reloadTimer);
    clearInterval(this.icmpTimer);
    this.health?.stop();
    this.dataplane.keepAttached = true;
    this.dataplane.close();
    this.log.info({ event: 'stopped' }, 'daemon stopped; the data plane keeps forwarding');
  }
}

/** Human lines of what differs between the file's config and the running one. */
export function driftLines(file: Config, running: Config): string[] {
  const out: string[] = [];
  const byName = (c: Config) => new Map(c.services.map((s) => [s.name, s]));
  const f = byName(file);
  const r = byName(running);
  for (const [name, s] of r) {
    const fs = f.get(name);
    if (!fs) {
      out.push(`+ service ${name} (${hostPort(s.vip, s.port, s.family)})`);
      continue;
    }
    const fb = new Map(fs.backends.map((b) => [hostPort(b.address, b.port), b]));
    const rb = new Map(s.backends.map((b) => [hostPort(b.address, b.port), b]));
    for (const [id, b] of rb) {
      const was = fb.get(id);
      if (!was) out.push(`+ backend ${id} of ${name}`);
      else if (was.weight !== b.weight)
        out.push(`~ weight of ${id} in ${name}: ${was.weight} -> ${b.weight}`);
    }
    for (const id of fb.keys()) if (!rb.has(id)) out.push(`- backend ${id} of ${name}`);
    const { backends: _a, ...restR } = s;
    const { backends: _b, ...restF } = fs;
    if (JSON.stringify(restR) !== JSON.stringify(restF)) out.push(`~ settings of service ${name}`);
  }
  for (const name of f.keys()) if (!r.has(name)) out.push(`- service ${name}`);
  return out;
}

/** Detaches and unpins the links of one interface (it left the config). */
function detachPinned(pinDir: string, ifname: string, dp: Dataplane): void {
  for (const file of Object.values(linkPins(ifname))) {
    const path = join(pinDir, file);
    if (!existsSync(path)) continue;
    const l = BpfLink.fromPin(path);
    try {
      if (file === linkPins(ifname).xdp) dp.maps.txPorts.delete(l.info.ifindex);
      l.detach();
    } finally {
      l.close();
    }
    rmSync(path);
  }
}

/** `xlb down`: detaches and removes everything an instance pinned. */
export function down(instance: string): { detached: number; removed: boolean } {
  const { pinDir, stateFile } = instancePaths(instance);
  const state = readState(instance);
  if (state && state.pid !== process.pid && pidAlive(state.pid)) {
    throw new Error(
      `instance '${instance}' is served by a running process (pid ${state.pid}): stop it first (systemctl stop xlb)`,
    );
  }
  let detached = 0;
  if (existsSync(pinDir)) {
    for (const f of readdirSync(pinDir)) {
      if (!f.startsWith('link-')) continue;
      const l = BpfLink.fromPin(join(pinDir, f));
      try {
        l.detach();
        detached++;
      } finally {
        l.close();
      }
    }
  }
  const existed = existsSync(pinDir) || existsSync(stateFile);
  removeInstance(instance);
  return { detached, removed: existed };
}
