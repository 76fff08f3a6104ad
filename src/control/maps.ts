// The data plane's maps, typed. Opened from a loaded object or from pins in bpffs:
// the same names either way.
import type { BpfMap } from '../kernel/map.js';
import { TypedMap } from '../kernel/typed-map.js';
import { backendValue, counter, flowKey, fwdFlow, revNat, svcKey, svcValue } from '../abi/abi.js';
import { u32, u64 } from '../abi/codec.js';

export const MAP_NAMES = [
  'svc_ports',
  'services',
  'svc_values',
  'sched_flat',
  'backends',
  'rr_cursor',
  'rev_nat',
  'fwd_flows',
  'tx_ports',
  'port_bitmaps',
  'nh_cache',
  'flow_cache',
  'icmp_unreach',
  'stats_reason',
  'stats_svc',
  'stats_backend',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

export function openMaps(get: (name: MapName) => BpfMap) {
  return {
    svcPorts: new TypedMap(get('svc_ports'), u32, u32),
    services: new TypedMap(get('services'), svcKey, u32),
    svcValues: new TypedMap(get('svc_values'), u32, svcValue),
    /** Every service's scheduling table, in regions (see regions.ts); written through mmap. */
    schedFlat: get('sched_flat'),
    backends: new TypedMap(get('backends'), u32, backendValue),
    rrCursor: new TypedMap(get('rr_cursor'), u32, u32),
    revNat: new TypedMap(get('rev_nat'), flowKey, revNat),
    fwdFlows: new TypedMap(get('fwd_flows'), flowKey, fwdFlow),
    txPorts: new TypedMap(get('tx_ports'), u32, u32),
    portBitmaps: get('port_bitmaps'),
    statsReason: new TypedMap(get('stats_reason'), u32, counter),
    statsSvc: new TypedMap(get('stats_svc'), u32, counter),
    statsBackend: new TypedMap(get('stats_backend'), u32, counter),
    /** ICMP port-unreachable errors per backend id (per CPU). */
    icmpUnreach: new TypedMap(get('icmp_unreach'), u32, u64),
  };
}

export type DataplaneMaps = ReturnType<typeof openMaps>;
