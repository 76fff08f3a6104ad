// From the operator's config to the data plane's state: service and backend ids,
// scheduling tables, port bitmaps. Pure and deterministic; ids are stable across
// plans (a service keeps its id while its name lives, a backend while its service,
// address and port do), and an id freed by this plan is not reused by it, because
// the live tables may still point at it until they are replaced.
import { hostPort } from '../util/endpoint.js';
import { addrTo16 } from './addr.js';
import { Family, HashKeyCode, IPPROTO_UDP, Limits, Mode, Sched, type FamilyNumber } from '../abi/abi.js';
import { buildMaglev } from './maglev.js';
import { smoothWrrSequence } from './wrr.js';
import type { Config, ServiceConfig } from './config.js';

export interface PlannedBackend {
  id: number;
  service: string;
  address: string;
  port: number;
  family: FamilyNumber;
  /** 0 = draining: live for its flows, out of the table. */
  weight: number;
}

export interface PlannedService {
  id: number;
  name: string;
  /** '*' for any address. */
  vip: string;
  port: number;
  family: FamilyNumber;
  mode: number;
  sched: number;
  /** enum xlb_hash_key of the maglev hash. */
  hashKey: number;
  hashSeed: number;
  /** Established flows keep their backend. */
  affinity: boolean;
  timeouts: { unreplied: number; assured: number };
  snat?: { address: string; portMin: number; portMax: number };
  /** Backend ids in the order the scheduler walks them (shared between plans: never write). */
  table: Uint32Array;
  backends: PlannedBackend[];
}

export interface Plan {
  services: PlannedService[];
  backends: Map<number, PlannedBackend>;
  /** Destination ports that have a service. */
  servicePorts: Set<number>;
  /** Source ports of backends whose replies are translated (all modes but dsr). */
  backendPorts: Set<number>;
}

export const emptyPlan = (): Plan => ({
  services: [],
  backends: new Map(),
  servicePorts: new Set(),
  backendPorts: new Set(),
});

const backendName = (service: string, address: string, port: number): string =>
  `${service}/${address}:${port}`;

class IdAllocator {
  private next = 0;
  constructor(
    private readonly taken: Set<number>,
    private readonly limit: number,
    private readonly what: string,
  ) {}
  alloc(): number {
    while (this.taken.has(this.next)) this.next++;
    if (this.next >= this.limit) throw new Error(`out of ${this.what} ids (limit ${this.limit})`);
    this.taken.add(this.next);
    return this.next;
  }
}

/**
 * The table a service's scheduler uses: round-robin visits its backends in config
 * order, weighted round-robin a smooth weighted sequence, maglev a Maglev lookup table
 * built from the backends' identities (address:port), weights and the cluster's seed.
 * Backends of weight 0 (draining) are in no table.
 */
export function buildTable(s: ServiceConfig, backends: PlannedBackend[], seed: number): Uint32Array {
  const live = backends.filter((b) => b.weight > 0);
  switch (s.scheduler) {
    case 'round-robin':
      return Uint32Array.from(live, (b) => b.id);
    case 'weighted-round-robin':
      return Uint32Array.from(smoothWrrSequence(live.map((b) => ({ id: b.id, weight: b.weight }))));
    case 'maglev':
      return buildMaglev(
        live.map((b) => ({ id: b.id, name: hostPort(b.address, b.port), weight: b.weight })),
        s.tableSize,
        seed,
      );
  }
}

/**
 * What a service's table depends on, remembered per planned service: a plan reuses the previous
 * plan's table when nothing it depends on changed (a maglev table of 16,381 entries costs ~1 ms to
 * build; a one-backend change in a config of 1,000 services must not rebuild the other 999).
 */
const tableInputs = new WeakMap<PlannedService, string>();

function tableKey(s: ServiceConfig, backends: PlannedBackend[], seed: number): string {
  const live = backends
    .filter((b) => b.weight > 0)
    .map((b) => `${b.id}=${hostPort(b.address, b.port)}*${b.weight}`)
    .join(',');
  return `${s.scheduler}|${s.tableSize}|${seed}|${live}`;
}

/** What plan() needs of the previous plan to keep ids stable (a saved daemon state is enough). */
export interface PlanIds {
  services: { name: string; id: number }[];
  backends: Map<number, { service: string; address: string; port: number; id: number }>;
}

/** The ids of a plan, as JSON-friendly lists. */
export function planIds(p: PlanIds): {
  services: [string, number][];
  backends: [string, string, number, number][];
} {
  return {
    services: p.services.map((s) => [s.name, s.id]),
    backends: [...p.backends.values()].map((b) => [b.service, b.address, b.port, b.id]),
  };
}

export function planIdsFrom(saved: {
  services: [string, number][];
  backends: [string, string, number, number][];
}): PlanIds {
  return {
    services: saved.services.map(([name, id]) => ({ name, id })),
    backends: new Map(
      saved.backends.map(([service, address, port, id]) => [id, { service, address, port, id }]),
    ),
  };
}

export function plan(config: Config, previous: PlanIds = emptyPlan()): Plan {
  const prevSvc = new Map(previous.services.map((s) => [s.name, s.id]));
  const prevPlanned = new Map(
    previous.services.flatMap((s) =>
      tableInputs.has(s as PlannedService) ? [[s.name, s as PlannedService]] : [],
    ),
  );
  const prevBe = new Map(
    [...previous.backends.values()].map((b) => [backendName(b.service, b.address, b.port), b.id]),
  );

  // Ids that survive keep their number; every id of the previous plan stays taken.
  const svcIds = new IdAllocator(new Set(prevSvc.values()), Limits.maxServices, 'service');
  const beIds = new IdAllocator(new Set(prevBe.values()), Limits.maxBackends, 'backend');

  const out = emptyPlan();
  for (const s of config.services) {
    const id = prevSvc.get(s.name) ?? svcIds.alloc();
    const family = s.family === 6 ? Family.V6 : Family.V4;
    const backends = s.backends.map((b) => {
      const pb: PlannedBackend = {
        id: prevBe.get(backendName(s.name, b.address, b.port)) ?? beIds.alloc(),
        service: s.name,
        address: b.address,
        port: b.port,
        family,
        weight: b.weight,
      };
      out.backends.set(pb.id, pb);
      if (s.mode !== 'dsr') out.backendPorts.add(b.port);
      return pb;
    });
    const key = tableKey(s, backends, config.hashSeed);
    const before = prevPlanned.get(s.name);
    const table =
      before !== undefined && tableInputs.get(before) === key
        ? before.table
        : buildTable(s, backends, config.hashSeed);
    const planned: PlannedService = {
      id,
      name: s.name,
      vip: s.vip,
      port: s.port,
      family,
      mode: Mode[s.mode],
      sched: s.scheduler === 'maglev' ? Sched.maglev : Sched['round-robin'],
      hashKey: HashKeyCode[s.hashKey],
      hashSeed: config.hashSeed,
      affinity: s.flowAffinity,
      timeouts: { ...s.flowTimeouts },
      ...(s.snat ? { snat: { ...s.snat } } : {}),
      table,
      backends,
    };
    tableInputs.set(planned, key);
    out.services.push(planned);
    out.servicePorts.add(s.port);
  }
  return out;
}

/** The services-map key of a planned service. */
export function serviceKey(s: Pick<PlannedService, 'vip' | 'port' | 'family'>) {
  return {
    addr: s.vip === '*' ? Buffer.alloc(16) : addrTo16(s.vip),
    port: s.port,
    proto: IPPROTO_UDP,
    family: s.family,
  };
}

/** Identity of a service key, for diffs. */
export const serviceKeyId = (s: Pick<PlannedService, 'vip' | 'port' | 'family'>): string =>
  `${s.family}/${s.vip}/${s.port}`;
