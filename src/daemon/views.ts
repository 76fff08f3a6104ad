// What the daemon shows of itself: services and backends with their counters, health, drain
// state and flows; the flow tables' fill. Read-only over the daemon's state.
import type { Dataplane } from '../control/dataplane.js';
import type { StatsSnapshot } from '../control/stats.js';
import type { Config } from '../model/config.js';
import type { BackendView, ServiceView } from './contract.js';
import type { HealthChecker } from './health.js';
import { backendIdOf, backendKey } from './mutations.js';

/** What the views read. */
export interface ViewSource {
  readonly dataplane: Dataplane;
  /** The running configuration (file + API changes). */
  readonly running: Config;
  readonly health: HealthChecker | undefined;
  /** 'service/addr:port' of drained backends. */
  readonly drained: ReadonlyMap<string, number>;
  /** Health transitions per 'service/addr:port'. */
  readonly transitions: ReadonlyMap<string, number>;
}

export interface MapFill {
  map: string;
  entries: number;
  max: number;
}

interface FlowCounts {
  at: number;
  perBackend: Map<number, number>;
  fill: MapFill[];
}

/** Flow tables are walked at most this often (a walk of a full table costs tens of ms). */
const FLOW_COUNT_MS = 5000;

export class Views {
  private counted: FlowCounts | undefined;

  constructor(private readonly src: ViewSource) {}

  /** Flows per backend id and the fill of the flow tables, counted at most every 5 s. */
  flows(): FlowCounts {
    if (this.counted && Date.now() - this.counted.at <= FLOW_COUNT_MS) return this.counted;
    const maps = this.src.dataplane.maps;
    const perBackend = new Map<number, number>();
    let fwd = 0;
    for (const [, v] of maps.fwdFlows.entries()) {
      perBackend.set(v.backend_id, (perBackend.get(v.backend_id) ?? 0) + 1);
      fwd++;
    }
    let rev = 0;
    for (const _ of maps.revNat.raw.keys()) rev++;
    const fill = [
      { map: 'fwd_flows', entries: fwd, max: maps.fwdFlows.raw.info.maxEntries },
      { map: 'rev_nat', entries: rev, max: maps.revNat.raw.info.maxEntries },
      { map: 'services', entries: this.src.running.services.length, max: maps.services.raw.info.maxEntries },
    ];
    this.counted = { at: Date.now(), perBackend, fill };
    return this.counted;
  }

  /** Every service (or the one named `only`) with its backends, counters, health and flows. */
  services(snapshot: StatsSnapshot, only?: string): ServiceView[] {
    const { running, dataplane, health, drained, transitions } = this.src;
    const flows = this.flows().perBackend;
    const statsByName = new Map(snapshot.services.map((x) => [x.name, x]));
    const plannedByName = new Map(dataplane.reconciler.applied.services.map((x) => [x.name, x]));
    const services = only === undefined ? running.services : running.services.filter((s) => s.name === only);
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
          const id = backendIdOf(b);
          const key = backendKey(s.name, id);
          const pb = planned?.backends.find((x) => x.address === b.address && x.port === b.port);
          const bs = stats?.backends.find((x) => x.address === b.address && x.port === b.port);
          const h = s.health && health ? health.state(s.name, id) : undefined;
          return {
            id,
            address: b.address,
            port: b.port,
            weight: b.weight,
            drained: drained.has(key),
            active: pb !== undefined && planned !== undefined && planned.table.includes(pb.id),
            health: h?.state ?? 'disabled',
            ...(h ? { healthSince: h.since.toISOString() } : {}),
            healthTransitions: transitions.get(key) ?? 0,
            packets: bs?.packets ?? 0,
            bytes: bs?.bytes ?? 0,
            ...(pb ? { flows: flows.get(pb.id) ?? 0 } : {}),
          };
        }),
      };
    });
  }
}
