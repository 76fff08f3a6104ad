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
import { OverlayMap } from './overlay-map.js';
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
  /** Every backend of every service, by id (an OverlayMap when plan() made it: never write). */
  backends: ReadonlyMap<number, PlannedBackend>;
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

/**
 * Hands out the smallest ids that are neither taken before (`taken`) nor by this allocator,
 * scanning up from `floor` (every id below it must be taken).
 */
class IdAllocator {
  private readonly mine = new Set<number>();
  constructor(
    private readonly taken: { has(id: number): boolean },
    private readonly limit: number,
    private readonly what: string,
    /** Where the scan stands: every id below it is taken (before or here). */
    public next = 0,
  ) {}
  alloc(): number {
    while (this.taken.has(this.next) || this.mine.has(this.next)) this.next++;
    if (this.next >= this.limit) throw new Error(`out of ${this.what} ids (limit ${this.limit})`);
    this.mine.add(this.next);
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
  backends: ReadonlyMap<number, { service: string; address: string; port: number; id: number }>;
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

/**
 * What plan() remembers of a plan it made, so that the next plan costs O(what changed): the
 * service each planned service was made from (a Config's services are frozen and shared by the
 * configs an API change makes, so an unchanged service is the same object), the seed, the
 * lowest backend id that may be free, the count of backends per reply port, and the difference
 * from the plan it was made from (the reconciler writes only that).
 */
interface PlanMemo {
  seed: number;
  /** Every backend id below it is taken. */
  backendFloor: number;
  /** Non-dsr backends per source port (backendPorts is its key set). */
  portCounts: Map<number, number>;
  delta?: { from: PlanIds; added: PlannedBackend[]; removed: number[] };
}
const memos = new WeakMap<PlanIds, PlanMemo>();
const plannedFrom = new WeakMap<PlannedService, ServiceConfig>();

/** The backends of `next` that `prev` lacks, and the ids of `prev`'s backends that `next` lacks. */
export function backendChanges(prev: PlanIds, next: PlanIds): { added: PlannedBackend[]; removed: number[] } {
  const delta = memos.get(next)?.delta;
  if (delta !== undefined && delta.from === prev) return { added: delta.added, removed: delta.removed };
  const added: PlannedBackend[] = [];
  for (const b of next.backends.values()) if (!prev.backends.has(b.id)) added.push(b as PlannedBackend);
  const removed: number[] = [];
  for (const id of prev.backends.keys()) if (!next.backends.has(id)) removed.push(id);
  return { added, removed };
}

const countsReplies = (s: Pick<PlannedService, 'mode'>): boolean => s.mode !== Mode.dsr;

/**
 * The plan of `config`, with the ids of `previous` kept. When `previous` is a plan this function
 * made, the work is O(the services that changed) (plus a pass over the services' names): an
 * unchanged service (the same ServiceConfig object, the same seed) is the previous plan's
 * PlannedService itself, and the backends map is derived from the previous one. The result is
 * the same as from ids alone (`planIds`), only faster: test/unit/plan.test.ts compares the two.
 */
export function plan(config: Config, previous: PlanIds = emptyPlan()): Plan {
  const memo = memos.get(previous);
  const seed = config.hashSeed;
  const prevByName = new Map(previous.services.map((s) => [s.name, s]));
  /** Full path only: the previous ids of every backend by 'service/addr:port'. */
  let prevBe: Map<string, number> | undefined;
  const previousIdOf = (s: ServiceConfig): ((address: string, port: number) => number | undefined) => {
    if (memo !== undefined) {
      // A plan made here: the service's own backends hold every id its name had.
      const before = prevByName.get(s.name) as PlannedService | undefined;
      const ids = new Map((before?.backends ?? []).map((b) => [`${b.address}|${b.port}`, b.id]));
      return (address, port) => ids.get(`${address}|${port}`);
    }
    prevBe ??= new Map(
      [...previous.backends.values()].map((b) => [backendName(b.service, b.address, b.port), b.id]),
    );
    const all = prevBe;
    return (address, port) => all.get(backendName(s.name, address, port));
  };

  // Ids that survive keep their number; every id of the previous plan stays taken.
  const svcIds = new IdAllocator(new Set(previous.services.map((s) => s.id)), Limits.maxServices, 'service');
  const beIds = new IdAllocator(previous.backends, Limits.maxBackends, 'backend', memo?.backendFloor ?? 0);

  const services: PlannedService[] = [];
  const servicePorts = new Set<number>();
  const sets: [number, PlannedBackend][] = [];
  const deletes: number[] = [];
  const added: PlannedBackend[] = [];
  const portCounts = memo === undefined ? new Map<number, number>() : new Map(memo.portCounts);
  const count = (port: number, by: number): void => {
    const n = (portCounts.get(port) ?? 0) + by;
    if (n === 0) portCounts.delete(port);
    else portCounts.set(port, n);
  };
  const seen = new Set<string>();
  for (const s of config.services) {
    seen.add(s.name);
    const before = prevByName.get(s.name) as PlannedService | undefined;
    if (memo !== undefined && memo.seed === seed && before !== undefined && plannedFrom.get(before) === s) {
      services.push(before); // unchanged: its ids, table and backends as they were
      servicePorts.add(before.port);
      continue;
    }
    const planned = planService(s, seed, before, svcIds, beIds, previousIdOf(s), memo !== undefined);
    services.push(planned);
    servicePorts.add(planned.port);
    if (memo === undefined) {
      for (const b of planned.backends) {
        sets.push([b.id, b]);
        if (countsReplies(planned)) count(b.port, 1);
      }
      continue;
    }
    const kept = new Set<number>();
    for (const b of planned.backends) {
      kept.add(b.id);
      if (!previous.backends.has(b.id)) added.push(b);
      if (previous.backends.get(b.id) !== b) sets.push([b.id, b]);
      if (countsReplies(planned)) count(b.port, 1);
    }
    for (const b of before?.backends ?? []) {
      if (!kept.has(b.id)) deletes.push(b.id);
      if (countsReplies(before!)) count(b.port, -1);
    }
  }

  let backends: OverlayMap<number, PlannedBackend>;
  let backendFloor: number;
  let delta: PlanMemo['delta'];
  if (memo !== undefined) {
    for (const old of previous.services as PlannedService[]) {
      if (seen.has(old.name)) continue;
      for (const b of old.backends) {
        deletes.push(b.id);
        if (countsReplies(old)) count(b.port, -1);
      }
    }
    backends = (previous.backends as OverlayMap<number, PlannedBackend>).with(sets, deletes);
    backendFloor = deletes.reduce((low, id) => Math.min(low, id), beIds.next);
    delta = { from: previous, added, removed: deletes };
  } else {
    backends = OverlayMap.of(sets);
    backendFloor = 0;
    while (backends.has(backendFloor)) backendFloor++;
  }
  const out: Plan = { services, backends, servicePorts, backendPorts: new Set(portCounts.keys()) };
  memos.set(out, { seed, backendFloor, portCounts, ...(delta ? { delta } : {}) });
  return out;
}

/** One service planned anew: ids kept from `before` (or the previous ids), table reused when its inputs match. */
function planService(
  s: ServiceConfig,
  seed: number,
  before: PlannedService | undefined,
  svcIds: IdAllocator,
  beIds: IdAllocator,
  previousId: (address: string, port: number) => number | undefined,
  reuseBackends: boolean,
): PlannedService {
  const id = before?.id ?? svcIds.alloc();
  const family = s.family === 6 ? Family.V6 : Family.V4;
  const oldBackends = reuseBackends && before ? new Map(before.backends.map((b) => [b.id, b])) : undefined;
  const backends = s.backends.map((b) => {
    const pb: PlannedBackend = {
      id: previousId(b.address, b.port) ?? beIds.alloc(),
      service: s.name,
      address: b.address,
      port: b.port,
      family,
      weight: b.weight,
    };
    const old = oldBackends?.get(pb.id);
    return old !== undefined && sameBackend(old, pb) ? old : pb;
  });
  const key = tableKey(s, backends, seed);
  const table =
    before !== undefined && tableInputs.get(before) === key ? before.table : buildTable(s, backends, seed);
  const planned: PlannedService = {
    id,
    name: s.name,
    vip: s.vip,
    port: s.port,
    family,
    mode: Mode[s.mode],
    sched: s.scheduler === 'maglev' ? Sched.maglev : Sched['round-robin'],
    hashKey: HashKeyCode[s.hashKey],
    hashSeed: seed,
    affinity: s.flowAffinity,
    timeouts: { ...s.flowTimeouts },
    ...(s.snat ? { snat: { ...s.snat } } : {}),
    table,
    backends,
  };
  tableInputs.set(planned, key);
  plannedFrom.set(planned, s);
  return planned;
}

const sameBackend = (a: PlannedBackend, b: PlannedBackend): boolean =>
  a.id === b.id &&
  a.service === b.service &&
  a.address === b.address &&
  a.port === b.port &&
  a.family === b.family &&
  a.weight === b.weight;

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
