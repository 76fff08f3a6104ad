// Prometheus metrics of the daemon (prom-client, on a registry of its own). The kernel's
// counters are cumulative, so every update() sets the counters to the snapshot's values
// (reset + inc): they are exposed as counters, services and backends that are gone
// disappear, and a counter that starts over (new data plane) reads as a counter reset.
import { xlbVersion } from '../util/paths.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatsView } from './contract.js';
import { Reasons } from '../abi/abi.js';

export interface MetricsSnapshot {
  instance: string;
  generation: number;
  stats: StatsView;
  mapFill: { map: string; entries: number; max: number }[];
  /** Seconds the last apply (reconcile) took; undefined before the first one. */
  reconcileSeconds?: number;
  healthTransitions: { service: string; backend: string; count: number }[];
  /** Reloads of the config file: whether the last one applied, failures so far, when (epoch seconds). */
  reloads?: { lastSuccess: boolean; failures: number; lastAt?: number };
}

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop, GC) as xlb_process_* and xlb_nodejs_*. */
  processMetrics?: boolean;
  /** xlb's version in xlb_info (default: package.json's). */
  version?: string;
}

type ServiceLabel = 'service';
type BackendLabels = 'service' | 'backend';

/** Counters never go down or become NaN in the exposition. */
const counted = (v: number): number => (Number.isFinite(v) && v > 0 ? v : 0);

/** Sets a counter family to cumulative values: reset, then one inc per series. */
function setCounter<L extends string>(c: Counter<L>, series: [Record<L, string>, number][]): void {
  c.reset();
  for (const [labels, value] of series) c.inc(labels, counted(value));
}

function setGauge<L extends string>(g: Gauge<L>, series: [Record<L, string>, number][]): void {
  g.reset();
  for (const [labels, value] of series) g.set(labels, value);
}

export class Metrics {
  readonly registry = new Registry();
  private readonly version: string;
  private readonly info: Gauge<'xlb_instance' | 'version'>;
  private readonly generation: Gauge;
  private readonly reconcile: Gauge;
  private reconcileRegistered = false;
  private readonly servicePackets: Counter<ServiceLabel>;
  private readonly serviceBytes: Counter<ServiceLabel>;
  private readonly backendPackets: Counter<BackendLabels>;
  private readonly backendBytes: Counter<BackendLabels>;
  private readonly backendFlows: Gauge<BackendLabels>;
  private readonly backendHealthy: Gauge<BackendLabels>;
  private readonly backendUp: Gauge<BackendLabels>;
  private readonly backendWeight: Gauge<BackendLabels>;
  private readonly healthTransitions: Counter<BackendLabels>;
  private readonly reasonPackets: Counter<'reason'>;
  private readonly reasonBytes: Counter<'reason'>;
  private readonly mapEntries: Gauge<'map'>;
  private readonly mapMax: Gauge<'map'>;
  private readonly reloadSuccess: Gauge;
  private readonly reloadFailures: Counter;
  private readonly reloadAt: Gauge;

  constructor(opts: MetricsOptions = {}) {
    this.version = opts.version ?? xlbVersion();
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const sb = ['service', 'backend'] as const;

    // Not 'instance': Prometheus sets that label to the scrape target (ours would become exported_instance).
    this.info = gauge('xlb_info', 'Always 1: the xlb instance name and the version', [
      'xlb_instance',
      'version',
    ]);
    this.generation = gauge('xlb_config_generation', 'Generation of the applied configuration', []);
    // Registered at the first apply, so that no made-up 0 is exposed before.
    this.reconcile = new Gauge({
      name: 'xlb_reconcile_duration_seconds',
      help: 'Seconds the last apply of a configuration change to the BPF maps took',
      registers: [],
    });
    this.servicePackets = counter('xlb_service_packets_total', 'Packets balanced to the service', [
      'service',
    ]);
    this.serviceBytes = counter('xlb_service_bytes_total', 'Bytes balanced to the service', ['service']);
    this.backendPackets = counter('xlb_backend_packets_total', 'Packets sent to the backend', sb);
    this.backendBytes = counter('xlb_backend_bytes_total', 'Bytes sent to the backend', sb);
    this.backendFlows = gauge(
      'xlb_backend_active_flows',
      'Flows in the flow table pointing at the backend',
      sb,
    );
    this.backendHealthy = gauge(
      'xlb_backend_healthy',
      '1 when the backend is healthy (or not health-checked), 0 when unhealthy or not known yet',
      sb,
    );
    this.backendUp = gauge('xlb_backend_up', '1 when the backend is in the scheduling table, else 0', sb);
    this.backendWeight = gauge('xlb_backend_weight', 'Weight of the backend (0 when drained)', sb);
    this.healthTransitions = counter(
      'xlb_health_transitions_total',
      'Changes of the backend between healthy and unhealthy',
      sb,
    );
    this.reasonPackets = counter('xlb_packets_total', 'Packets seen by the data plane, per verdict reason', [
      'reason',
    ]);
    this.reasonBytes = counter('xlb_bytes_total', 'Bytes seen by the data plane, per verdict reason', [
      'reason',
    ]);
    this.mapEntries = gauge('xlb_map_entries', 'Entries in the BPF map', ['map']);
    this.mapMax = gauge('xlb_map_max_entries', 'Capacity of the BPF map in entries', ['map']);
    this.reloadSuccess = gauge(
      'xlb_config_last_reload_success',
      '1 when the last read of the config file applied, 0 when the file had problems (the running configuration stays)',
      [],
    );
    this.reloadFailures = counter(
      'xlb_config_reload_failures_total',
      'Reads of the config file (reload, file change, SIGHUP) that had problems and applied nothing',
      [],
    );
    this.reloadAt = gauge(
      'xlb_config_last_reload_timestamp_seconds',
      'When the config file was last read (Unix time), applied or not',
      [],
    );
    if (opts.processMetrics ?? true) this.addProcessMetrics();
  }

  /** prom-client's process metrics, without its gauges named *_total (promtool rejects those). */
  private addProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry, prefix: 'xlb_' });
    for (const m of this.registry.getMetricsAsArray()) {
      if (!(m instanceof Counter) && m.name.endsWith('_total')) this.registry.removeSingleMetric(m.name);
    }
  }

  /** Sets every metric from the snapshot (call it before each scrape, or on each stats read). */
  update(s: MetricsSnapshot): void {
    setGauge(this.info, [[{ xlb_instance: s.instance, version: this.version }, 1]]);
    this.generation.set(s.generation);
    this.updateReconcile(s.reconcileSeconds);
    if (s.reloads) {
      this.reloadSuccess.set(s.reloads.lastSuccess ? 1 : 0);
      setCounter(this.reloadFailures, [[{}, s.reloads.failures]]);
      if (s.reloads.lastAt !== undefined) this.reloadAt.set(s.reloads.lastAt);
    }
    this.updateServices(s.stats);
    this.updateReasons(s.stats);
    setCounter(
      this.healthTransitions,
      s.healthTransitions.map((h) => [{ service: h.service, backend: h.backend }, h.count]),
    );
    setGauge(
      this.mapEntries,
      s.mapFill.map((m) => [{ map: m.map }, m.entries]),
    );
    setGauge(
      this.mapMax,
      s.mapFill.map((m) => [{ map: m.map }, m.max]),
    );
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type of text(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  private updateReconcile(seconds: number | undefined): void {
    if (seconds === undefined) return;
    if (!this.reconcileRegistered) {
      this.registry.registerMetric(this.reconcile);
      this.reconcileRegistered = true;
    }
    this.reconcile.set(seconds);
  }

  private updateServices(stats: StatsView): void {
    const backends = stats.services.flatMap((svc) =>
      svc.backends.map((b) => ({ labels: { service: svc.name, backend: b.id }, b })),
    );
    setCounter(
      this.servicePackets,
      stats.services.map((svc) => [{ service: svc.name }, svc.packets]),
    );
    setCounter(
      this.serviceBytes,
      stats.services.map((svc) => [{ service: svc.name }, svc.bytes]),
    );
    setCounter(
      this.backendPackets,
      backends.map(({ labels, b }) => [labels, b.packets]),
    );
    setCounter(
      this.backendBytes,
      backends.map(({ labels, b }) => [labels, b.bytes]),
    );
    setGauge(
      this.backendFlows,
      backends.flatMap(({ labels, b }) => (b.flows === undefined ? [] : [[labels, b.flows]])),
    );
    setGauge(
      this.backendHealthy,
      backends.map(({ labels, b }) => [labels, b.health === 'healthy' || b.health === 'disabled' ? 1 : 0]),
    );
    setGauge(
      this.backendUp,
      backends.map(({ labels, b }) => [labels, b.active ? 1 : 0]),
    );
    setGauge(
      this.backendWeight,
      backends.map(({ labels, b }) => [labels, b.weight]),
    );
  }

  /** Every reason of the data plane, also those that counted nothing yet. */
  private updateReasons(stats: StatsView): void {
    const count = (r: (typeof Reasons)[number]) => stats.reasons[r] ?? { packets: 0, bytes: 0 };
    setCounter(
      this.reasonPackets,
      Reasons.map((r) => [{ reason: r }, count(r).packets]),
    );
    setCounter(
      this.reasonBytes,
      Reasons.map((r) => [{ reason: r }, count(r).bytes]),
    );
  }
}
