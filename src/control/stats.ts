// Counters out of the per-CPU maps, summed over CPUs and named after the plan.
import { Reasons, type Reason } from '../model/abi.js';
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

export function readStats(maps: DataplaneMaps, plan: Plan): StatsSnapshot {
  const reasons = Object.fromEntries(
    Reasons.map((r, i) => [r, sum(maps.statsReason.getPerCpu(i))]),
  ) as Record<Reason, Count>;
  const services = plan.services.map((s) => ({
    id: s.id,
    name: s.name,
    vip: s.vip,
    port: s.port,
    ...sum(maps.statsSvc.getPerCpu(s.id)),
    backends: s.backends.map((b) => ({
      id: b.id,
      address: b.address,
      port: b.port,
      ...sum(maps.statsBackend.getPerCpu(b.id)),
    })),
  }));
  return { at: Date.now(), reasons, services };
}
