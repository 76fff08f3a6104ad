// Desired state -> map writes. Applies a Plan on top of the one applied before with
// the fewest writes, batched per map, in an order that keeps every packet consistent:
//   1. new backend slots (never referenced yet), counters of new ids zeroed (traffic, ICMP errors);
//   2. each changed table written to the service's spare region of sched_flat (regions.ts
//      says where), through one shared mapping: no program reads that region yet;
//   3. each changed service written whole to its spare value slot (with its table's offset and
//      length), then `services` and `svc_ports` switched to it (one 4-byte write each: the flip);
//   4. the reply-port bitmap (after services exist, before removed ones go);
//   5. removed services; their regions (and those a grown table left) are reused from the
//      next apply on.
// Nothing here waits for running programs (no map-in-map update, no synchronize_rcu). Where
// every region will go is decided before the first write: a configuration whose tables do not
// fit sched_flat is refused whole (RegionsFullError) and changes nothing.
import { numPossibleCpus, perCpuBuffer, type BpfMap } from '../kernel/map.js';
import {
  BackendFlags,
  Bitmap,
  Family,
  Limits,
  SVC_PORT_MULTI,
  ServiceFlags,
  backendValue,
  counter,
  svcKey,
  svcPortKey,
  svcValue,
} from '../abi/abi.js';
import { u32, u64 } from '../abi/codec.js';
import { addrTo16 } from '../model/addr.js';
import {
  backendChanges,
  emptyPlan,
  serviceKey,
  serviceKeyId,
  type Plan,
  type PlannedBackend,
  type PlannedService,
} from '../model/plan.js';
import { TableRegions, type RegionWrite, type SavedPlacement, type TableRef } from '../model/regions.js';
import type { DataplaneMaps } from './maps.js';

export interface ApplyReport {
  writes: number;
  servicesAdded: number;
  servicesChanged: number;
  servicesRemoved: number;
  backendsAdded: number;
  backendsRemoved: number;
}

const zeroCounter = { packets: 0n, bytes: 0n };

export function portBitmap(ports: Iterable<number>): Buffer {
  const b = Buffer.alloc(Limits.portBitmapBytes);
  for (const p of ports) b[p >> 3] = (b[p >> 3] ?? 0) | (1 << (p & 7));
  return b;
}

/** The svc_values value of a planned service whose table is at `table` in sched_flat. */
export function serviceValue(s: PlannedService, table: TableRef) {
  return {
    id: s.id,
    table_off: table.offset,
    table_len: table.length,
    mode: s.mode,
    sched: s.sched,
    flags: (s.vip === '*' ? ServiceFlags.wildcard : 0) | (s.affinity ? ServiceFlags.affinity : 0),
    family: s.family,
    timeout_unreplied_s: s.timeouts.unreplied,
    timeout_assured_s: s.timeouts.assured,
    snat_port_min: s.snat?.portMin ?? 0,
    snat_port_max: s.snat?.portMax ?? 0,
    snat_addr: s.snat ? addrTo16(s.snat.address) : Buffer.alloc(16),
    vaddr: s.vip === '*' ? Buffer.alloc(16) : addrTo16(s.vip),
    hash_key: s.hashKey,
    hash_seed: s.hashSeed,
  };
}

/** Encodes every value a plan will write, so that encoding errors come before any write. */
function encodeAll(plan: Plan, prev: Plan, added: readonly PlannedBackend[]): void {
  const before = new Set(prev.services);
  for (const s of plan.services) {
    if (before.has(s)) continue; // the same planned service: encoded when it was written
    svcKey.encode(serviceKey(s));
    svcValue.encode(serviceValue(s, { offset: 0, length: s.table.length }));
  }
  for (const b of added) {
    backendValue.encode({ addr: addrTo16(b.address), port: b.port, family: b.family, flags: 0, svc_id: 0 });
  }
}

/** svc_ports of a plan: 1 + the value index of a port's only service, or SVC_PORT_MULTI. */
function portRefs(plan: Plan, index: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of plan.services) {
    const key = svcPortKey(s.port, s.family);
    out.set(key, out.has(key) ? SVC_PORT_MULTI : 1 + (index.get(s.id) ?? 0));
  }
  return out;
}

/** Everything of a service's value but its table, for change detection. */
const serviceValueId = (s: PlannedService | undefined) =>
  s === undefined
    ? ''
    : JSON.stringify([
        s.mode,
        s.sched,
        s.family,
        s.timeouts,
        s.snat ?? null,
        s.hashKey,
        s.hashSeed,
        s.affinity,
      ]);

const sameTable = (a: Uint32Array, b: Uint32Array) =>
  a === b || (a.length === b.length && a.every((v, i) => v === b[i]));

/** Writes grouped per map and sent in batches (one system call per map and phase). */
class Batch {
  private readonly pending = new Map<BpfMap, { keys: Buffer[]; values: Buffer[] }>();
  writes = 0;

  put(map: BpfMap, key: Buffer, value: Buffer): void {
    let p = this.pending.get(map);
    if (!p) this.pending.set(map, (p = { keys: [], values: [] }));
    p.keys.push(key);
    p.values.push(map.perCpu ? perCpuBuffer(map, Array<Buffer>(numPossibleCpus()).fill(value)) : value);
  }

  flush(): void {
    for (const [map, p] of this.pending) {
      map.updateBatch(Buffer.concat(p.keys), Buffer.concat(p.values));
      this.writes += p.keys.length;
    }
    this.pending.clear();
  }
}

/** Where each service's live table and value are (saved so that a new daemon can adopt). */
export interface ReconcilerSlots {
  /** [service id, svc_values index of its live value]. */
  value: [number, number][];
  /** Each service's block of sched_flat and its live region (regions.ts). */
  regions: SavedPlacement[];
}

export class Reconciler {
  private actual: Plan = emptyPlan();
  /** Service id -> the svc_values index of its live value. */
  private readonly liveValue = new Map<number, number>();
  /** svc_ports as written: key -> reference. */
  private ports = new Map<number, number>();
  /** Where each service's tables are in sched_flat. */
  private regions: TableRegions;

  constructor(private readonly maps: DataplaneMaps) {
    this.regions = new TableRegions(maps.schedFlat.info.maxEntries);
  }

  get applied(): Plan {
    return this.actual;
  }

  /** Where each service's live table and value are (saved so that a new daemon can adopt). */
  get slots(): ReconcilerSlots {
    return { value: [...this.liveValue], regions: this.regions.save() };
  }

  /**
   * Takes over maps an earlier daemon filled: `plan` is what they hold (rebuilt from
   * its saved config and ids), `slots` where its live tables and values are.
   */
  restore(plan: Plan, slots: ReconcilerSlots): void {
    const regions = TableRegions.restore(this.maps.schedFlat.info.maxEntries, slots.regions);
    for (const s of plan.services) {
      if (s.table.length > 0 && regions.placement(s.id)?.live === undefined) {
        throw new Error(`the saved state places no live table for service '${s.name}' (id ${s.id})`);
      }
    }
    this.regions = regions;
    this.actual = plan;
    this.liveValue.clear();
    for (const [id, at] of slots.value) this.liveValue.set(id, at);
    this.ports = portRefs(plan, this.liveValue);
  }

  apply(next: Plan): ApplyReport {
    // The backends to write and to free: O(the change) when `next` was planned from the applied plan.
    const { added, removed } = backendChanges(this.actual, next);
    encodeAll(next, this.actual, added); // anything that cannot be encoded fails here, before the first write
    const m = this.maps;
    const batch = new Batch();
    const r: ApplyReport = {
      writes: 0,
      servicesAdded: 0,
      servicesChanged: 0,
      servicesRemoved: 0,
      backendsAdded: 0,
      backendsRemoved: 0,
    };
    const prev = this.actual;
    const prevById = new Map(prev.services.map((s) => [s.id, s]));
    const nextIds = new Set(next.services.map((s) => s.id));
    const nextKeys = new Set(next.services.map(serviceKeyId));
    const svcIdByName = new Map(next.services.map((s) => [s.name, s.id]));
    let deletes = 0;

    // Where every changed table goes, decided before the first write: a full sched_flat
    // refuses the whole plan here (RegionsFullError) and nothing is written.
    const regions = this.regions.clone();
    regions.settle();
    for (const old of prev.services) if (!nextIds.has(old.id)) regions.release(old.id);
    const tableRefs = new Map<number, TableRef>();
    const writes: RegionWrite[] = [];
    for (const s of next.services) {
      const old = prevById.get(s.id);
      if (old && sameTable(old.table, s.table)) continue;
      const { ref, write } = regions.place(s.id, s.name, s.table.length);
      tableRefs.set(s.id, ref);
      if (write) writes.push({ id: s.id, offset: ref.offset, table: s.table });
    }

    // 1. backends never referenced yet, and the counters of new ids
    for (const b of added) {
      const id = u32.encode(b.id);
      batch.put(m.statsBackend.raw, id, counter.encode(zeroCounter));
      batch.put(m.icmpUnreach.raw, id, u64.encode(0n));
      batch.put(
        m.backends.raw,
        id,
        backendValue.encode({
          addr: addrTo16(b.address),
          port: b.port,
          family: b.family,
          flags: BackendFlags.active,
          svc_id: svcIdByName.get(b.service) ?? 0,
        }),
      );
      r.backendsAdded++;
    }
    for (const s of next.services) {
      if (prevById.has(s.id)) continue;
      batch.put(m.statsSvc.raw, u32.encode(s.id), counter.encode(zeroCounter));
      batch.put(m.rrCursor.raw, u32.encode(s.id), u32.encode(0));
      r.servicesAdded++;
    }
    batch.flush();

    // 2. changed tables, each in its service's spare region: one shared mapping for all
    m.schedFlat.writeMmapableAt(writes.map((w) => ({ index: w.offset, values: strided(w.table) })));
    batch.writes += writes.reduce((a, w) => a + w.table.length, 0);

    // 3. the flip. A changed service is written whole to its spare value slot, then
    //    `services` and `svc_ports` switch to that slot (one 4-byte value each).
    const index = new Map<number, number>();
    for (const s of next.services) {
      const old = prevById.get(s.id);
      const live = this.liveValue.get(s.id);
      const table = tableRefs.get(s.id);
      const changed =
        !old ||
        live === undefined ||
        table !== undefined ||
        (old !== s && serviceValueId(old) !== serviceValueId(s));
      const at = !changed ? live : live === 2 * s.id ? 2 * s.id + 1 : 2 * s.id;
      index.set(s.id, at);
      if (changed) {
        const ref = table ?? liveRef(regions, s);
        batch.put(m.svcValues.raw, u32.encode(at), svcValue.encode(serviceValue(s, ref)));
        if (old) r.servicesChanged++;
      }
    }
    batch.flush();
    for (const s of next.services) {
      const old = prevById.get(s.id);
      const at = index.get(s.id) ?? 0;
      if (!old || at !== this.liveValue.get(s.id) || serviceKeyId(old) !== serviceKeyId(s)) {
        batch.put(m.services.raw, svcKey.encode(serviceKey(s)), u32.encode(at));
      }
    }
    batch.flush();
    const ports = portRefs(next, index);
    for (const [key, ref] of ports) {
      if (this.ports.get(key) !== ref) batch.put(m.svcPorts.raw, u32.encode(key), u32.encode(ref));
    }
    for (const key of this.ports.keys()) {
      if (!ports.has(key)) batch.put(m.svcPorts.raw, u32.encode(key), u32.encode(0));
    }
    batch.flush();
    this.ports = ports;
    this.regions = regions; // the values point where `regions` says
    for (const s of next.services) {
      const old = prevById.get(s.id);
      if (old && serviceKeyId(old) !== serviceKeyId(s) && !nextKeys.has(serviceKeyId(old))) {
        if (m.services.delete(serviceKey(old))) deletes++;
      }
      this.liveValue.set(s.id, index.get(s.id) ?? 2 * s.id);
    }

    // 4. reply ports: after new services exist, before removed ones go
    deletes += this.writeBitmap(Bitmap.backendPorts, prev.backendPorts, next.backendPorts);

    // 5. removals (their regions were released above: reused from the next apply on)
    for (const old of prev.services) {
      if (nextIds.has(old.id)) continue;
      if (!nextKeys.has(serviceKeyId(old)) && m.services.delete(serviceKey(old))) deletes++;
      this.liveValue.delete(old.id);
      r.servicesRemoved++;
    }
    // A removed backend's slot loses its active flag, so flows that remembered it move, but keeps
    // its address: a packet that read the previous service value just before the flip may still
    // pick it from the previous table, and goes where that table sent it, never to a zeroed
    // 0.0.0.0. The id is not reused by this plan (plan.ts); the next one may rewrite the slot.
    for (const id of removed) {
      const b = prev.backends.get(id);
      batch.put(
        m.backends.raw,
        u32.encode(id),
        backendValue.encode(
          b
            ? { addr: addrTo16(b.address), port: b.port, family: b.family, flags: 0, svc_id: 0 }
            : { addr: Buffer.alloc(16), port: 0, family: Family.V4, flags: 0, svc_id: 0 },
        ),
      );
      r.backendsRemoved++;
    }
    batch.flush();

    this.actual = next;
    r.writes = batch.writes + deletes;
    return r;
  }

  private writeBitmap(index: number, before: Set<number>, after: Set<number>): number {
    const same = before.size === after.size && [...after].every((p) => before.has(p));
    if (same) return 0;
    this.maps.portBitmaps.update(u32.encode(index), portBitmap(after));
    return 1;
  }

  close(): void {
    /* nothing of its own: every map belongs to the data plane's object */
  }
}

/** Where a service's unchanged table is: its live region. */
function liveRef(regions: TableRegions, s: PlannedService): TableRef {
  const p = regions.placement(s.id);
  if (s.table.length === 0 || p?.live === undefined) return { offset: 0, length: 0 };
  return { offset: p.base + p.live * p.region, length: s.table.length };
}

/** A table as sched_flat's mapping holds it: one u32 per entry at a stride of 8 bytes. */
function strided(table: Uint32Array): Uint8Array {
  const values = new Uint32Array(2 * table.length);
  for (let i = 0; i < table.length; i++) values[2 * i] = table[i]!;
  return new Uint8Array(values.buffer);
}
