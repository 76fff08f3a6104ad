// The kernel memory a configuration's tables take, estimated from how Linux allocates them,
// and the budget it must fit (`memory_limit`). Only what the configuration sizes counts: the
// two flow tables (flow_table_size) and the scheduling tables (per service); the fixed maps
// (backends, counters, caches) are the same for every configuration. Pure.
//
// Flow tables (rev_nat, fwd_flows): BPF_MAP_TYPE_LRU_HASH, preallocated. Each element is a
// struct htab_elem (48 bytes on 64-bit: its hash-list node, the LRU node, the hash) followed
// by the key and the value, each rounded up to 8 bytes; the bucket array holds
// roundup_pow_of_two(max_entries) buckets of 16 bytes (kernel/bpf/hashtab.c).
//
// Scheduling tables: one BPF_F_MMAPABLE array of u32 backend ids, sched_flat, sized when the
// data plane is loaded. An array's elements are rounded up to 8 bytes. Each service owns a
// block of two regions in it (the live table and the one a change writes), each region the
// table's entries rounded up to a page of entries (512) plus one page, so that a table may grow
// a little in place (regionEntries). A service without a live backend needs no region. The
// array also keeps a reserve (SCHED_RESERVE) for services added and tables grown at run time.
import { Limits, flowKey, fwdFlow, revNat } from '../abi/abi.js';
import { wrrSequenceLength } from './wrr.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const MEMORY = {
  /**
   * The default budget: the largest configuration the README documents (1,000 services of 64
   * backends at table_size 16,381: 270 MB of tables) with flow tables up to 4,194,304 entries
   * (1.2 GB). The largest flow_table_size, 16,777,216, alone takes 4.6 GiB: a host that can
   * give that much says so with memory_limit.
   */
  defaultLimit: 2 * GiB,
  minLimit: 1 * MiB,
  maxLimit: 1024 * GiB,
} as const;

const HTAB_ELEM = 48;
const HTAB_BUCKET = 16;
const PAGE = 4096;
/** Bytes of one entry of a scheduling table (a u32, at the array's stride of 8). */
const TABLE_ENTRY = 8;

const round = (n: number, to: number): number => Math.ceil(n / to) * to;
const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** One LRU hash of `entries` with the given key and value sizes. */
function lruHashBytes(entries: number, key: number, value: number): number {
  return entries * (HTAB_ELEM + round(key, 8) + round(value, 8)) + pow2(entries) * HTAB_BUCKET;
}

/** rev_nat and fwd_flows, `entries` each. */
export function flowTablesBytes(entries: number): number {
  return lruHashBytes(entries, flowKey.size, revNat.size) + lruHashBytes(entries, flowKey.size, fwdFlow.size);
}

/** What the estimate needs of a service; a backend's weight 0 (drain) keeps it out of the table. */
export interface TableInputs {
  scheduler: 'maglev' | 'round-robin' | 'weighted-round-robin';
  /** maglev's table_size. */
  tableSize: number;
  backends: readonly { weight: number }[];
}

/** Entries of the service's scheduling table (at most: health checks only take backends out). */
export function tableEntries(s: TableInputs): number {
  switch (s.scheduler) {
    case 'maglev':
      return s.tableSize;
    case 'round-robin':
      return s.backends.filter((b) => b.weight > 0).length;
    case 'weighted-round-robin':
      return wrrSequenceLength(s.backends.map((b) => b.weight));
  }
}

/** Entries of sched_flat in one page. */
const PAGE_ENTRIES = PAGE / TABLE_ENTRY;

/**
 * Entries of one region of sched_flat for a table of `entries`: rounded up to a page of
 * entries, plus one page (room to grow in place). 0 for an empty table: it needs none.
 */
export function regionEntries(entries: number): number {
  return entries === 0 ? 0 : PAGE_ENTRIES + round(entries, PAGE_ENTRIES);
}

/**
 * Entries of sched_flat kept free beyond what a configuration's tables need, for services added
 * and tables grown at run time (the array's size is fixed at load): 262,144 entries, 2 MiB.
 */
export const SCHED_RESERVE = 262_144;

/** The service's two regions of sched_flat (the live table and the one a switch writes). */
export function serviceTableBytes(s: TableInputs): number {
  return 2 * regionEntries(tableEntries(s)) * TABLE_ENTRY;
}

/**
 * Entries of sched_flat for a configuration: both regions of every service, and the reserve;
 * at most Limits.maxSchedEntries (checkSchedEntries refuses a configuration that needs more).
 */
export function schedEntriesFor(services: readonly TableInputs[]): number {
  const need = services.reduce((a, s) => a + 2 * regionEntries(tableEntries(s)), 0);
  return Math.min(Limits.maxSchedEntries, need + SCHED_RESERVE);
}

/** The refusal of tables that need more of sched_flat than it can have (2^28 entries). */
export function schedEntriesProblem(services: readonly TableInputs[]): string | undefined {
  const need = services.reduce((a, s) => a + 2 * regionEntries(tableEntries(s)), 0);
  if (need + SCHED_RESERVE <= Limits.maxSchedEntries) return undefined;
  return (
    `the scheduling tables need ${need.toLocaleString('en-US')} entries (two regions a service), more than ` +
    `the ${(Limits.maxSchedEntries - SCHED_RESERVE).toLocaleString('en-US')} one data plane can hold; ` +
    'lower table_size, remove services, or spread the services over several xlb instances'
  );
}

/** 1536 -> '1.5 KiB', 2147483648 -> '2.0 GiB'. */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** A budget as the config writes it: the largest unit that divides it ('2GiB'), else bytes. */
export function budgetInput(n: number): number | string {
  for (const [unit, size] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (n % size === 0) return `${n / size}${unit}`;
  }
  return n;
}

/**
 * '2GiB', '512 MiB', '65536KiB', 1073741824: bytes (perhaps out of range: the caller checks);
 * undefined for anything else (fractions, other units, other types).
 */
export function parseBudget(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d{1,20})\s*(KiB|MiB|GiB)?\s*$/.exec(value);
  if (m === null) return undefined;
  const unit = m[2] === 'GiB' ? GiB : m[2] === 'MiB' ? MiB : m[2] === 'KiB' ? KiB : 1;
  return Number(m[1]) * unit;
}

/** One part of an estimate: the flow tables, the tables' reserve, or a service's tables. */
export interface Part {
  what: string;
  bytes: number;
  /** A service's tables (the others are always named). */
  service?: true;
}

/**
 * The refusal of `parts` (flow tables first, then services) over `limit`: the estimate, the
 * budget, the biggest parts and what to do.
 */
export function overBudgetProblem(parts: readonly Part[], limit: number): string | undefined {
  const total = parts.reduce((a, p) => a + p.bytes, 0);
  if (total <= limit) return undefined;
  const fixed = parts.filter((p) => p.service === undefined && p.bytes > 0);
  const biggest = parts.filter((p) => p.service !== undefined).sort((a, b) => b.bytes - a.bytes);
  const top = biggest.slice(0, Math.max(0, 4 - fixed.length)).filter((p) => p.bytes > 0);
  const named = [...fixed, ...top].sort((a, b) => b.bytes - a.bytes);
  const rest = biggest.slice(top.length).filter((p) => p.bytes > 0);
  const restBytes = rest.reduce((a, p) => a + p.bytes, 0);
  const list =
    named.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ') +
    (rest.length > 0
      ? ` and ${rest.length} more service${rest.length === 1 ? '' : 's'} ${formatBytes(restBytes)}`
      : '');
  const raise = budgetInput(round(total, total > GiB ? GiB : MiB));
  const exact = (n: number): string => `${formatBytes(n)} (${n.toLocaleString('en-US')} bytes)`;
  return (
    `the flow and scheduling tables would take an estimated ${exact(total)} of kernel memory, ` +
    `more than memory_limit ${exact(limit)}: ${list} (each scheduling table counted twice, as while ` +
    'a change builds its successor); lower flow_table_size or table_size, remove services, or raise ' +
    `the budget if this host can give it (memory_limit: ${String(raise)})`
  );
}

/** How the estimate names a service's tables. */
export function servicePart(s: TableInputs & { name: string }): Part {
  const entries = tableEntries(s);
  const kind =
    s.scheduler === 'maglev' ? `maglev table_size ${s.tableSize}` : `${s.scheduler}, ${entries} entries`;
  return { what: `'${s.name}' (${kind})`, bytes: serviceTableBytes(s), service: true };
}

/** How the estimate names sched_flat's reserve (its size, not a service's). */
export function reservePart(): Part {
  return {
    what: `the scheduling tables' reserve (${SCHED_RESERVE.toLocaleString('en-US')} entries)`,
    bytes: SCHED_RESERVE * TABLE_ENTRY,
  };
}

/** How the estimate names the flow tables. */
export function flowPart(entries: number): Part {
  return {
    what: `the flow tables (rev_nat and fwd_flows, ${entries.toLocaleString('en-US')} entries each)`,
    bytes: flowTablesBytes(entries),
  };
}
