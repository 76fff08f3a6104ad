// Where each service's scheduling tables live in sched_flat, the one array of every table's
// backend ids (bpf/xlb_maps.h). A service owns a block of two regions of equal size: the live
// table and the next one. A change writes the region no service value points at, then the
// service value is switched to it (reconcile.ts), so a packet reads the old table or the new
// one, never a mix, and nothing waits for running programs.
//
// Blocks are taken first fit from a list of free extents (sorted, adjacent ones merged) and
// never move: no compaction, so no live table is ever copied. A table that outgrows its
// regions gets a new block; the old block is freed once the service value points at the new
// one, and like a service's spare region it is written again at the earliest in the next
// apply (settle()), never by the apply that freed it. Pure: the reconciler does the writes.
import { SCHED_RESERVE, regionEntries } from './config-memory.js';

/** A service's place in sched_flat: regions [base, base + region) and [base + region, base + 2 region). */
export interface Placement {
  base: number;
  /** Entries of each of the two regions. */
  region: number;
  /** The region the service's live value points at (0 or 1); undefined when its table is empty. */
  live: 0 | 1 | undefined;
}

/** One region write: `table` goes to sched_flat[offset ...]. */
export interface RegionWrite {
  id: number;
  offset: number;
  table: Uint32Array;
}

/** What the next value of a service says about its table. */
export interface TableRef {
  offset: number;
  length: number;
}

/** Placements as the state file keeps them: [service id, base, region, live (-1: none)]. */
export type SavedPlacement = [number, number, number, number];

interface Extent {
  base: number;
  size: number;
}

/** sched_flat cannot hold a service's regions: says how full it is and what to do. */
export class RegionsFullError extends Error {
  constructor(
    readonly service: string,
    readonly needed: number,
    readonly capacity: number,
    readonly free: number,
    readonly largestFree: number,
  ) {
    const n = (x: number) => x.toLocaleString('en-US');
    super(
      `the scheduling tables are full: '${service}' needs ${n(needed)} entries of sched_flat (two regions of ` +
        `${n(needed / 2)}), ${n(free)} of its ${n(capacity)} are free` +
        (free >= needed ? ` but in pieces (the largest ${n(largestFree)})` : '') +
        '; its size was set when the data plane was loaded, from the configuration then (both regions of every ' +
        `service, and a reserve of ${n(SCHED_RESERVE)}). Remove services or lower table_size to make room, or ` +
        'start the data plane afresh so that it is sized for this configuration: ' +
        'systemctl stop xlb && xlb down && systemctl start xlb (forwarding stops meanwhile)',
    );
    this.name = 'RegionsFullError';
  }
}

function insertMerged(list: Extent[], e: Extent): void {
  let i = 0;
  while (i < list.length && list[i]!.base < e.base) i++;
  list.splice(i, 0, { ...e });
  // merge with the next, then with the previous
  const cur = list[i]!;
  const next = list[i + 1];
  if (next && cur.base + cur.size === next.base) {
    cur.size += next.size;
    list.splice(i + 1, 1);
  }
  const prev = list[i - 1];
  if (prev && prev.base + prev.size === cur.base) {
    prev.size += cur.size;
    list.splice(i, 1);
  }
}

export class TableRegions {
  private free: Extent[];
  /** Blocks freed by the current apply: free from the next one on. */
  private freed: Extent[] = [];
  private readonly placements = new Map<number, Placement>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0)
      throw new RangeError(`sched_flat of ${capacity} entries`);
    this.free = [{ base: 0, size: capacity }];
  }

  /**
   * The regions an earlier daemon left (its saved placements) in an array of `capacity`
   * entries. Refuses placements that overlap or lie outside the array.
   */
  static restore(capacity: number, saved: readonly SavedPlacement[]): TableRegions {
    const r = new TableRegions(capacity);
    const blocks = [...saved].sort((a, b) => a[1] - b[1]);
    let end = 0;
    r.free = [];
    for (const [id, base, region, live] of blocks) {
      if (!Number.isInteger(base) || !Number.isInteger(region) || region <= 0 || base < end) {
        throw new Error(`saved table regions overlap or are malformed at service ${id} (base ${base})`);
      }
      if (base + 2 * region > capacity) {
        throw new Error(
          `saved table regions of service ${id} end at ${base + 2 * region}, past sched_flat's ${capacity} entries`,
        );
      }
      if (base > end) r.free.push({ base: end, size: base - end });
      end = base + 2 * region;
      r.placements.set(id, { base, region, live: live === 0 || live === 1 ? live : undefined });
    }
    if (end < capacity) r.free.push({ base: end, size: capacity - end });
    return r;
  }

  /** The placements, for the state file. */
  save(): SavedPlacement[] {
    return [...this.placements].map(([id, p]) => [id, p.base, p.region, p.live ?? -1]);
  }

  placement(id: number): Readonly<Placement> | undefined {
    return this.placements.get(id);
  }

  /** Entries no block holds (those freed by the current apply included). */
  get freeEntries(): number {
    return [...this.free, ...this.freed].reduce((a, e) => a + e.size, 0);
  }

  /** A copy to plan an apply on: the caller keeps it only when every placement succeeded. */
  clone(): TableRegions {
    const c = new TableRegions(this.capacity);
    c.free = this.free.map((e) => ({ ...e }));
    c.freed = this.freed.map((e) => ({ ...e }));
    for (const [id, p] of this.placements) c.placements.set(id, { ...p });
    return c;
  }

  /** Starts an apply: blocks freed by the previous one may be taken again. */
  settle(): void {
    for (const e of this.freed) insertMerged(this.free, e);
    this.freed = [];
  }

  /**
   * Where service `id`'s new table of `length` entries goes, and what its value will then
   * say. An empty table needs no write (its value has length 0; the block is kept for when
   * backends come back). Otherwise the region the live value does not point at, or, when the
   * table no longer fits its regions (or fits a quarter of them), a new block, the old one freed.
   * Throws RegionsFullError when no block is large enough.
   */
  place(id: number, name: string, length: number): { ref: TableRef; write: boolean } {
    const p = this.placements.get(id);
    if (length === 0) {
      if (p) p.live = undefined;
      return { ref: { offset: 0, length: 0 }, write: false };
    }
    const need = regionEntries(length);
    if (p && length <= p.region && need * 4 > p.region) {
      p.live = p.live === 0 ? 1 : 0;
      return { ref: { offset: p.base + p.live * p.region, length }, write: true };
    }
    const base = this.take(2 * need);
    if (base === undefined) {
      if (p && length <= p.region) {
        // Shrinking: stay in the larger block rather than fail.
        p.live = p.live === 0 ? 1 : 0;
        return { ref: { offset: p.base + p.live * p.region, length }, write: true };
      }
      const largest = this.free.reduce((a, e) => Math.max(a, e.size), 0);
      throw new RegionsFullError(name, 2 * need, this.capacity, this.freeEntries, largest);
    }
    if (p) this.freed.push({ base: p.base, size: 2 * p.region });
    this.placements.set(id, { base, region: need, live: 0 });
    return { ref: { offset: base, length }, write: true };
  }

  /** A removed service's block: free from the next apply on. */
  release(id: number): void {
    const p = this.placements.get(id);
    if (!p) return;
    this.placements.delete(id);
    this.freed.push({ base: p.base, size: 2 * p.region });
  }

  private take(size: number): number | undefined {
    const i = this.free.findIndex((e) => e.size >= size);
    if (i < 0) return undefined;
    const e = this.free[i]!;
    const base = e.base;
    if (e.size === size) this.free.splice(i, 1);
    else {
      e.base += size;
      e.size -= size;
    }
    return base;
  }
}
