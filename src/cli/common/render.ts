// Human output: tables and counters.
import { hostPort } from '../../util/endpoint.js';
import type { Count, StatsSnapshot } from '../../control/stats.js';
import type { BackendView, InterfaceView, KernelView } from '../../daemon/contract.js';

export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return cells
    .map((r) =>
      r
        .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `n` in the largest unit of `units` (each `base` times the one before) that keeps it >= 1. */
export function scaled(n: number, base: number, units: readonly string[]): { value: number; unit: number } {
  let value = n;
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  return { value, unit };
}

/** 512 B, 1.5 KiB, 3.0 MiB. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const { value, unit } = scaled(n, 1024, units);
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const rate = (now: Count, before: Count | undefined, seconds: number) =>
  before && seconds > 0 ? Math.round((now.packets - before.packets) / seconds) : 0;

/** Per-service and per-backend counters, with packet rates when `previous` is given. */
export function renderStats(s: StatsSnapshot, previous?: StatsSnapshot): string {
  const seconds = previous ? (s.at - previous.at) / 1000 : 0;
  const rows: (string | number)[][] = [];
  for (const svc of s.services) {
    const prevSvc = previous?.services.find((p) => p.id === svc.id);
    rows.push([
      svc.name,
      hostPort(svc.vip, svc.port, svc.family),
      svc.packets,
      humanBytes(svc.bytes),
      rate(svc, prevSvc, seconds),
    ]);
    for (const b of svc.backends) {
      const prevB = prevSvc?.backends.find((p) => p.id === b.id);
      rows.push([
        `  -> backend`,
        hostPort(b.address, b.port),
        b.packets,
        humanBytes(b.bytes),
        rate(b, prevB, seconds),
      ]);
    }
  }
  const reasons = Object.entries(s.reasons)
    .filter(([, c]) => c.packets > 0)
    .map(([r, c]) => `${r}=${c.packets}`)
    .join(' ');
  return `${table(['service', 'address', 'packets', 'bytes', 'pps'], rows)}\nverdicts: ${reasons || 'none yet'}`;
}

/** Aligned `key  value` lines. */
export function keyValues(rows: [string, string | number][]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`.trimEnd()).join('\n');
}

export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** 'drained', 'active' (in the scheduling table) or 'inactive' (unhealthy or weight 0). */
export const backendState = (b: BackendView): string =>
  b.drained ? 'drained' : b.active ? 'active' : 'inactive';

/** 'weight 2, active, health healthy'. */
export function describeBackend(b: BackendView): string {
  return `weight ${b.weight}, ${backendState(b)}, health ${b.health}`;
}

const methodText = (m: 'tcx' | 'classic'): string => (m === 'tcx' ? 'tcx' : 'classic TC');

/** 'eth0: xdp link (native), tc ingress tcx, tc egress tcx': how each hook of an interface is attached. */
export function renderHooks(i: InterfaceView): string {
  const { tcIngress, tcEgress } = i.hooks;
  return [
    `${i.name}: xdp link (${i.mode})`,
    ...(tcIngress ? [`tc ingress ${methodText(tcIngress)}`] : []),
    ...(tcEgress ? [`tc egress ${methodText(tcEgress)}`] : []),
  ].join(', ');
}

/** '27 probed, all present', or the missing ones with their versions and what xlb does instead. */
export function renderFeatures(k: KernelView): string {
  const missing = k.features.filter((f) => !f.available);
  if (missing.length === 0) return `${k.features.length} probed, all present`;
  const each = missing.map((f) => {
    const why = [`Linux ${f.since}`, ...(f.forced ? ['forced by XLB_FEATURES'] : [])].join(', ');
    return `${f.name} (${why})${f.fallback ? ` -> ${f.fallback}` : ''}`;
  });
  return `${k.features.length} probed, ${missing.length} missing: ${each.join('; ')}`;
}
