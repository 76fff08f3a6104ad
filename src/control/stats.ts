// Counters out of the per-CPU maps, summed over CPUs and named after the plan.
import { counter, Reasons, type Reason } from '../abi/abi.js';
import type { Plan } from '../model/plan.js';
import type { DataplaneMaps } from './maps.js';
import type { BpfMap } from '../kernel/map.js';
import { u32 } from '../abi/codec.js';

export interface Count {
  packets: number;
  bytes: number;
}

export interface BackendStats extends Count {
  id: number;
  address: string;
  port: number;
}

export interface ServiceStats extends Count {
  id: number;
  name: string;
  vip: string;
  port: number;
  family: 4 | 6;
  backends: BackendStats[];
}

export interface StatsSnapshot {
  /** Milliseconds since the epoch when the counters were read. */
  at: number;
  reasons: Record<Reason, Count>;
  services: ServiceStats[];
}

function sum(values: { packets: bigint; bytes: bigint }[] | undefined): Count {
  let packets = 0n;
  let bytes = 0n;
  for (const v of values ?? []) {
    packets += v.packets;
    bytes += v.bytes;
  }
  return { packets: Number(packets), bytes: Number(bytes) };
}

type CounterMap = DataplaneMaps['statsSvc'];

/** Beyond this many ids a counter map is read in batches up to its highest id. */
export const BATCH_READ_MIN = 64;
/** ...when the ids are at least 1 in SPARSE of the keys up to the highest. */
const SPARSE = 8;

/**
 * Sums over CPUs of the u64 fields at byte offsets `fields` of entries `ids` of a per-CPU
 * array: one lookup per id for fewer than `batchFrom` ids, or ids spread over more than
 * SPARSE times as many keys; else one batched read of keys 0..max(ids). Summed straight from
 * the buffer (no objects, no bigints): exact to 2^53.
 */
export function perCpuSums(
  map: BpfMap,
  ids: number[],
  fields: readonly number[],
  batchFrom = BATCH_READ_MIN,
): (id: number) => number[] {
  const size = map.valueBufferSize;
  const stride = Math.ceil(map.info.valueSize / 8) * 8;
  const cpus = size / stride;
  const u64 = (b: Buffer, at: number) => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32;
  const sums = (b: Buffer | undefined, base: number) =>
    fields.map((f) => {
      let n = 0;
      if (b) for (let c = 0, at = base + f; c < cpus; c++, at += stride) n += u64(b, at);
      return n;
    });
  let max = 0;
  for (const id of ids) if (id > max) max = id;
  // Sparse ids (one service's backends among 64,000, say: one new backend has a high id) are
  // looked up one by one: a read up to the highest id would copy megabytes for a few entries.
  if (ids.length < batchFrom || max + 1 > SPARSE * ids.length)
    return (id) => sums(map.lookup(u32.encode(id)), 0);
  const raw = map.lookupArrayPrefix(max + 1);
  return (id) => sums(raw, id * size);
}

/** The counters (struct xlb_counter) of `ids` out of a per-CPU array. */
function counters(map: CounterMap, ids: number[]): (id: number) => Count {
  const read = perCpuSums(map.raw, ids, [PACKETS_AT, BYTES_AT]);
  return (id) => {
    const [packets = 0, bytes = 0] = read(id);
    return { packets, bytes };
  };
}

const offsetOf = (name: string): number => {
  const f = counter.fields.find((x) => x.name === name);
  if (!f || f.kind !== 'u64') throw new Error(`struct xlb_counter has no u64 field '${name}'`);
  return f.offset;
};
const PACKETS_AT = offsetOf('packets');
const BYTES_AT = offsetOf('bytes');

export function readStats(maps: DataplaneMaps, plan: Plan): StatsSnapshot {
  const reasons = Object.fromEntries(
    Reasons.map((r, i) => [r, sum(maps.statsReason.getPerCpu(i))]),
  ) as Record<Reason, Count>;
  const svc = counters(
    maps.statsSvc,
    plan.services.map((s) => s.id),
  );
  const be = counters(
    maps.statsBackend,
    plan.services.flatMap((s) => s.backends.map((b) => b.id)),
  );
  const services = plan.services.map((s) => ({
    id: s.id,
    name: s.name,
    vip: s.vip,
    port: s.port,
    family: s.family,
    ...svc(s.id),
    backends: s.backends.map((b) => ({
      id: b.id,
      address: b.address,
      port: b.port,
      ...be(b.id),
    })),
  }));
  return { at: Date.now(), reasons, services };
}
