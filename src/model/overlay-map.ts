// A read-only map that a change derives from another in O(the change): a shared base map that
// is never written, and a small overlay of entries set and keys deleted since. A plan of 64,000
// backends changed by one backend must not copy 64,000 entries; the overlay is folded into a
// fresh base once it outgrows a fraction of the base, so a lookup stays two hash lookups and the
// copies cost O(1) per change, amortised.

/** Entries the overlay may hold before it is folded into a new base: at least this many... */
const MIN_OVERLAY = 256;
/** ...or this fraction of the base's size. */
const OVERLAY_FRACTION = 1 / 16;

export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    /** Entries set since the base (they win over the base). */
    private readonly set: ReadonlyMap<K, V>,
    /** Keys of the base deleted since (never in `set`). */
    private readonly deleted: ReadonlySet<K>,
    readonly size: number,
  ) {}

  static of<K, V>(entries: Iterable<readonly [K, V]> = []): OverlayMap<K, V> {
    const base = new Map(entries);
    return new OverlayMap<K, V>(base, new Map<K, V>(), new Set<K>(), base.size);
  }

  get(key: K): V | undefined {
    const v = this.set.get(key);
    if (v !== undefined || this.set.has(key)) return v;
    return this.deleted.has(key) ? undefined : this.base.get(key);
  }

  has(key: K): boolean {
    return this.set.has(key) || (!this.deleted.has(key) && this.base.has(key));
  }

  /**
   * This map with `deletes` removed, then `sets` set (a key in both is set). O(the change and the
   * overlay); this map is left as it was.
   */
  with(sets: Iterable<readonly [K, V]>, deletes: Iterable<K> = []): OverlayMap<K, V> {
    const set = new Map(this.set);
    const deleted = new Set(this.deleted);
    let size = this.size;
    for (const k of deletes) {
      if (set.delete(k)) {
        if (this.base.has(k) && !deleted.has(k)) deleted.add(k);
        size--;
      } else if (!deleted.has(k) && this.base.has(k)) {
        deleted.add(k);
        size--;
      }
    }
    for (const [k, v] of sets) {
      const present = set.has(k) || (!deleted.has(k) && this.base.has(k));
      set.set(k, v);
      deleted.delete(k);
      if (!present) size++;
    }
    // A key set again over a deleted base key is in `set` only: shadowing is what `get` reads.
    if (set.size + deleted.size > Math.max(MIN_OVERLAY, this.base.size * OVERLAY_FRACTION)) {
      const folded = new Map<K, V>();
      for (const [k, v] of this.base) if (!deleted.has(k) && !set.has(k)) folded.set(k, v);
      for (const [k, v] of set) folded.set(k, v);
      return new OverlayMap<K, V>(folded, new Map<K, V>(), new Set<K>(), folded.size);
    }
    return new OverlayMap(this.base, set, deleted, size);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) if (!this.deleted.has(k) && !this.set.has(k)) yield [k, v];
    for (const [k, v] of this.set) yield [k, v];
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
