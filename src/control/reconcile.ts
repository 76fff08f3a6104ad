// Desired state -> map writes. Applies a Plan on top of the one applied before with
// the fewest writes, in an order that keeps every packet consistent:
//   1. new backend slots (never referenced yet), counters of new ids zeroed;
//   2. each changed table built in the service's spare slot, then the service entry
//      updated in one write (slot + length together: the flip);
//   3. port bitmaps (after services exist, before removed ones go);
//   4. removed services, then the spare slots they no longer need.
import { BPF_F_INNER_MAP, BpfMap, MapType } from '../kernel/map.js';
import { BackendFlags, Bitmap, Family, Limits, backendValue, svcKey, svcValue } from '../model/abi.js';
import { addrTo16 } from '../model/addr.js';
import { emptyPlan, serviceKey, serviceKeyId, type Plan, type PlannedService } from '../model/plan.js';
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

/** The services-map value of a planned service whose table lives in `slot`. */
export function serviceValue(s: PlannedService, slot: number) {
  return {
    id: s.id,
    table_slot: slot,
    table_len: s.table.length,
    mode: s.mode,
    sched: s.sched,
    flags: 0,
    family: s.family,
    timeout_unreplied_s: s.timeouts.unreplied,
    timeout_assured_s: s.timeouts.assured,
    snat_port_min: s.snat?.portMin ?? 0,
    snat_port_max: s.snat?.portMax ?? 0,
    snat_addr: s.snat ? addrTo16(s.snat.address) : Buffer.alloc(16),
  };
}

/** Encodes every value a plan will write, so that encoding errors come before any write. */
function encodeAll(plan: Plan): void {
  for (const s of plan.services) {
    svcKey.encode(serviceKey(s));
    svcValue.encode(serviceValue(s, 0));
  }
  for (const b of plan.backends.values()) {
    backendValue.encode({ addr: addrTo16(b.address), port: b.port, family: b.family, flags: 0, svc_id: 0 });
  }
}

/** Everything of a service's value but its table, for change detection. */
const serviceValueId = (s: PlannedService) =>
  JSON.stringify([s.mode, s.sched, s.family, s.timeouts, s.snat ?? null]);

const sameTable = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

export class Reconciler {
  private actual: Plan = emptyPlan();
  /** Service id -> the table slot its live entry points at. */
  private readonly liveSlot = new Map<number, number>();

  constructor(private readonly maps: DataplaneMaps) {}

  get applied(): Plan {
    return this.actual;
  }

  apply(next: Plan): ApplyReport {
    encodeAll(next); // anything that cannot be encoded fails here, before the first write
    const m = this.maps;
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

    // 1. backends
    for (const b of next.backends.values()) {
      if (prev.backends.has(b.id)) continue;
      m.statsBackend.set(b.id, zeroCounter);
      m.backends.set(b.id, {
        addr: addrTo16(b.address),
        port: b.port,
        family: b.family,
        flags: BackendFlags.active,
        svc_id: next.services.find((s) => s.name === b.service)?.id ?? 0,
      });
      r.writes += 2;
      r.backendsAdded++;
    }

    // 2. services and their tables
    const staleSlots: number[] = [];
    for (const s of next.services) {
      const old = prevById.get(s.id);
      if (!old) {
        m.statsSvc.set(s.id, zeroCounter);
        m.rrCursor.set(s.id, 0);
        r.writes += 2;
        r.servicesAdded++;
      }
      const tableChanged = !old || !sameTable(old.table, s.table);
      const live = this.liveSlot.get(s.id);
      let slot = live ?? 2 * s.id;
      if (tableChanged) {
        slot = live === undefined ? 2 * s.id : live === 2 * s.id ? 2 * s.id + 1 : 2 * s.id;
        r.writes += this.writeTable(slot, s.table);
      }
      const keyChanged = !old || serviceKeyId(old) !== serviceKeyId(s);
      if (keyChanged || tableChanged || serviceValueId(old) !== serviceValueId(s)) {
        m.services.set(serviceKey(s), serviceValue(s, slot));
        r.writes++;
        if (old) r.servicesChanged++;
      }
      if (old && keyChanged && !nextKeys.has(serviceKeyId(old))) {
        m.services.delete(serviceKey(old));
        r.writes++;
      }
      if (tableChanged && live !== undefined) staleSlots.push(live);
      this.liveSlot.set(s.id, slot);
    }

    // 3. port bitmaps
    r.writes += this.writeBitmap(Bitmap.servicePorts, prev.servicePorts, next.servicePorts);
    r.writes += this.writeBitmap(Bitmap.backendPorts, prev.backendPorts, next.backendPorts);

    // 4. removals
    for (const old of prev.services) {
      if (nextIds.has(old.id)) continue;
      if (!nextKeys.has(serviceKeyId(old))) {
        m.services.delete(serviceKey(old));
        r.writes++;
      }
      staleSlots.push(2 * old.id, 2 * old.id + 1);
      this.liveSlot.delete(old.id);
      r.servicesRemoved++;
    }
    for (const slot of staleSlots) {
      if (m.schedTables.delete(slot)) r.writes++;
    }
    for (const id of prev.backends.keys()) {
      if (next.backends.has(id)) continue;
      m.backends.set(id, { addr: Buffer.alloc(16), port: 0, family: Family.V4, flags: 0, svc_id: 0 });
      r.writes++;
      r.backendsRemoved++;
    }

    this.actual = next;
    return r;
  }

  /** Builds a table in `slot` (an inner array map); returns the writes made. */
  private writeTable(slot: number, table: number[]): number {
    if (table.length === 0) return this.maps.schedTables.delete(slot) ? 1 : 0;
    const inner = BpfMap.create(MapType.ARRAY, `xlb_table_${slot}`, 4, 4, table.length, BPF_F_INNER_MAP);
    try {
      const key = Buffer.alloc(4);
      const value = Buffer.alloc(4);
      table.forEach((id, i) => {
        key.writeUInt32LE(i);
        value.writeUInt32LE(id);
        inner.update(key, value);
      });
      this.maps.schedTables.set(slot, inner.fd);
    } finally {
      inner.close();
    }
    return table.length + 1;
  }

  private writeBitmap(index: number, before: Set<number>, after: Set<number>): number {
    const same = before.size === after.size && [...after].every((p) => before.has(p));
    if (same) return 0;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(index);
    this.maps.portBitmaps.update(key, portBitmap(after));
    return 1;
  }
}
