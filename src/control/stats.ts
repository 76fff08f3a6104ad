// Counters out of the per-CPU maps, summed over CPUs and named after the plan.
import { counter, Reasons, type Reason } from '../abi/abi.js';
import type { Plan } from '../model/plan.js';
import type { DataplaneMaps } from './maps.js';

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

/**
 * The counters of `ids` out of a per-CPU array: one lookup per id for a few ids; for many, one
 * batched read of keys 0..max(ids) (ids are handed out low first, so that is about as many).
 */
function counters(map: CounterMap, ids: number[]): (id: number) => Count {
  if (ids.length < BATCH_READ_MIN) return (id) => sum(map.getPerCpu(id));
  let max = 0;
  for (const id of ids) if (id > max) max = id;
  const raw = map.raw.lookupArrayPrefix(max + 1);
  const size = map.raw.valueBufferSize;
  const stride = Math.ceil(map.raw.info.valueSize / 8) * 8;
  const cpus = size / stride;
  // Summed straight from the buffer (no objects, no bigints: exact to 2^53 packets or bytes).
  const u64 = (at: number) => raw.readUInt32LE(at) + raw.readUInt32LE(at + 4) * 2 ** 32;
  return (id) => {
    let packets = 0;
    let bytes = 0;
    for (let c = 0, at = id * size; c < cpus; c++, at += stride) {
      packets += u64(at + PACKETS_AT);
      bytes += u64(at + BYTES_AT);
    }
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
