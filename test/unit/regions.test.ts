// Where the scheduling tables live in sched_flat (src/model/regions.ts): two regions per
// service, the spare one written while the live one serves, blocks that never move, freed
// blocks reused only from the next apply on, a full array refused with what to do, and the
// placements read back after a restart. Also the array's size for a configuration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCHED_RESERVE, regionEntries, schedEntriesFor } from '../../src/model/config-memory.js';
import { RegionsFullError, TableRegions, type SavedPlacement } from '../../src/model/regions.js';
import { int, rng } from '../helpers/random.js';

/** Every block inside the array and no two overlapping; returns the entries they hold. */
function assertDisjoint(r: TableRegions, ids: Iterable<number>): number {
  const blocks = [...ids]
    .map((id) => ({ id, p: r.placement(id) }))
    .filter((b) => b.p !== undefined)
    .map(({ id, p }) => ({ id, start: p!.base, end: p!.base + 2 * p!.region }))
    .sort((a, b) => a.start - b.start);
  let end = 0;
  for (const b of blocks) {
    assert.ok(b.start >= end, `service ${b.id}'s block at ${b.start} overlaps the one ending at ${end}`);
    assert.ok(b.end <= r.capacity, `service ${b.id}'s block ends at ${b.end}, past ${r.capacity}`);
    end = b.end;
  }
  return blocks.reduce((a, b) => a + b.end - b.start, 0);
}

describe('sched_flat regions', () => {
  it('a region is the table rounded up to 512 entries, plus 512; an empty table needs none', () => {
    assert.equal(regionEntries(0), 0);
    assert.equal(regionEntries(1), 1024);
    assert.equal(regionEntries(512), 1024);
    assert.equal(regionEntries(513), 1536);
    assert.equal(regionEntries(16381), 16896);
  });

  it('the array holds both regions of every service and the reserve', () => {
    const maglev = { scheduler: 'maglev' as const, tableSize: 16381, backends: [{ weight: 1 }] };
    const rr = { scheduler: 'round-robin' as const, tableSize: 0, backends: [{ weight: 1 }, { weight: 0 }] };
    assert.equal(schedEntriesFor([]), SCHED_RESERVE);
    assert.equal(schedEntriesFor([maglev, rr]), 2 * 16896 + 2 * 1024 + SCHED_RESERVE);
  });

  it('a change writes the spare region; the live one is never written while it is live', () => {
    const r = new TableRegions(10_000);
    const first = r.place(1, 'a', 100);
    assert.deepEqual(first, { ref: { offset: 0, length: 100 }, write: true });
    const seen: number[] = [first.ref.offset];
    for (let i = 0; i < 6; i++) {
      const live = seen[seen.length - 1]!;
      const next = r.place(1, 'a', 100 + i);
      assert.notEqual(next.ref.offset, live, `change ${i} writes the region the live value does not name`);
      assert.equal(next.ref.length, 100 + i);
      seen.push(next.ref.offset);
    }
    assert.deepEqual([...new Set(seen)].sort(), [0, 1024], 'two regions, alternating');
    assert.deepEqual(r.place(1, 'a', 0), { ref: { offset: 0, length: 0 }, write: false }, 'empty: no write');
    assert.equal(r.placement(1)?.region, 1024, 'the block stays for when backends come back');
  });

  it('growth: a table that outgrows its regions gets a new block; the old one is reused only after the next settle', () => {
    const r = new TableRegions(8192);
    r.place(1, 'grows', 500); // block [0, 2048)
    r.place(2, 'other', 10); // block [2048, 4096)
    const grown = r.place(1, 'grows', 1500); // regions of 2048: a new block [4096, 8192)
    assert.deepEqual(grown.ref, { offset: 4096, length: 1500 });
    assert.equal(r.placement(1)?.region, 2048);
    // The block it left may still be read by packets that saw the old value: not in this apply.
    assert.throws(() => r.place(3, 'new', 10), RegionsFullError);
    r.settle();
    assert.deepEqual(r.place(3, 'new', 10).ref, { offset: 0, length: 10 }, 'reused from the next apply on');
    assertDisjoint(r, [1, 2, 3]);
  });

  it('freed neighbours merge into one block (no compaction needed for a larger table)', () => {
    const r = new TableRegions(6144);
    r.place(1, 'a', 10); // [0, 2048)
    r.place(2, 'b', 10); // [2048, 4096)
    r.place(3, 'c', 10); // [4096, 6144)
    r.release(1);
    r.release(2);
    r.settle();
    const big = r.place(4, 'd', 1500); // two regions of 2048: exactly the merged [0, 4096)
    assert.deepEqual(big.ref, { offset: 0, length: 1500 });
    assert.equal(r.freeEntries, 0);
  });

  it('a shrunk table moves to a smaller block when it fits a quarter of its regions, and stays when none is free', () => {
    const r = new TableRegions(40_000);
    r.place(1, 's', 16381); // regions of 16896: [0, 33792)
    const small = r.place(1, 's', 100); // 1024-entry regions at [33792, 35840)
    assert.equal(r.placement(1)?.region, 1024);
    assert.equal(small.ref.offset, 33792);
    const tight = new TableRegions(33792);
    tight.place(1, 's', 16381);
    const stays = tight.place(1, 's', 100);
    assert.equal(tight.placement(1)?.region, 16896, 'no room for a smaller block: it keeps its own');
    assert.equal(stays.ref.offset, 16896, 'and writes its spare region');
  });

  it('many services: 300 random applies of adds, changes and removals keep every block disjoint', () => {
    const r0 = rng(7);
    let r = new TableRegions(400_000);
    const lengths = new Map<number, number>();
    const live = new Map<number, number>();
    let nextId = 0;
    for (let apply = 0; apply < 300; apply++) {
      const trial = r.clone();
      trial.settle();
      const changes = new Map<number, number>(); // id -> new length, -1: removed
      for (let k = 0; k < int(r0, 1, 6); k++) {
        const roll = r0();
        if (roll < 0.35 || lengths.size === 0) changes.set(nextId++, int(r0, 1, 6000));
        else {
          const ids = [...lengths.keys()];
          const id = ids[int(r0, 0, ids.length - 1)]!;
          if (changes.has(id)) continue;
          changes.set(id, roll < 0.55 ? -1 : int(r0, 0, 6000));
        }
      }
      for (const [id, len] of changes) if (len < 0) trial.release(id);
      try {
        const refs = new Map<number, number>();
        for (const [id, len] of changes) {
          if (len < 0) continue;
          const { ref } = trial.place(id, `s${id}`, len);
          if (len > 0) {
            assert.notEqual(ref.offset, live.get(id), `apply ${apply}: service ${id} writes its live region`);
            refs.set(id, ref.offset);
          }
        }
        r = trial; // the apply went through
        for (const [id, len] of changes) {
          if (len < 0) {
            lengths.delete(id);
            live.delete(id);
          } else {
            lengths.set(id, len);
            if (refs.has(id)) live.set(id, refs.get(id)!);
            else live.delete(id);
          }
        }
      } catch (e) {
        assert.ok(e instanceof RegionsFullError, String(e)); // refused whole: r is unchanged
      }
      const held = assertDisjoint(r, lengths.keys());
      assert.equal(held + r.freeEntries, r.capacity, `apply ${apply}: every entry is held or free`);
    }
    assert.ok(lengths.size > 5, `${lengths.size} services at the end`);
  });

  it('a full array refuses with the figures and what to do', () => {
    const r = new TableRegions(5000);
    r.place(1, 'a', 1000); // [0, 3072)
    let err: unknown;
    try {
      r.place(2, 'dns', 16381);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RegionsFullError);
    assert.equal(err.needed, 2 * 16896);
    assert.match(
      err.message,
      /^the scheduling tables are full: 'dns' needs 33,792 entries of sched_flat \(two regions of 16,896\), 1,928 of its 5,000 are free; .*Remove services or lower table_size to make room, or start the data plane afresh .*systemctl stop xlb && xlb down && systemctl start xlb/,
    );
    // Free entries in pieces are named as such.
    const p = new TableRegions(6144);
    p.place(1, 'a', 10);
    p.place(2, 'b', 10);
    p.place(3, 'c', 10);
    p.release(1);
    p.release(3);
    p.settle();
    assert.throws(
      () => p.place(4, 'd', 1500),
      /4,096 of its 6,144 are free but in pieces \(the largest 2,048\)/,
    );
  });

  it('restore after a restart: the saved placements come back, new blocks go around them', () => {
    const r = new TableRegions(20_000);
    r.place(1, 'a', 100); // [0, 2048)
    r.place(2, 'b', 3000); // [2048, 9216)
    r.place(3, 'c', 10); // [9216, 11264)
    r.place(2, 'b', 3000); // spare region of b: live 1
    r.release(1);
    r.place(3, 'c', 0); // empty: no live region, block kept
    const saved: SavedPlacement[] = JSON.parse(JSON.stringify(r.save())) as SavedPlacement[];
    assert.deepEqual(
      saved.sort((a, b) => a[0] - b[0]),
      [
        [2, 2048, 3584, 1],
        [3, 9216, 1024, -1],
      ],
    );
    const back = TableRegions.restore(20_000, saved);
    assert.deepEqual(back.placement(2), { base: 2048, region: 3584, live: 1 });
    assert.deepEqual(back.placement(3), { base: 9216, region: 1024, live: undefined });
    assert.deepEqual(back.place(2, 'b', 3000).ref, { offset: 2048, length: 3000 }, 'writes the spare region');
    assert.deepEqual(back.place(4, 'd', 10).ref, { offset: 0, length: 10 }, "the gap the removed 'a' left");
    assert.equal(assertDisjoint(back, [2, 3, 4]) + back.freeEntries, 20_000);
    assert.throws(
      () =>
        TableRegions.restore(20_000, [
          [1, 0, 1024, 0],
          [2, 1024, 1024, 0],
        ]),
      /overlap/,
    );
    assert.throws(() => TableRegions.restore(4096, [[1, 2048, 2048, 0]]), /past sched_flat's 4096 entries/);
  });
});
