// A table switch is never seen half-written. A change writes a service's new table into the
// region of sched_flat that its live value does not name, then switches the value: a packet
// that read the old value finds the old table whole, one that reads the new value the new
// table whole. Checked two ways:
//   - after every apply of a random sequence (tables rebuilt, grown, shrunk, services added
//     and removed): the region the previous value names still holds the previous table, entry
//     for entry, and the new value's region the new table;
//   - under load: a worker thread sends packets through xlb_xdp while the main thread switches
//     a service between two maglev tables of different sizes and disjoint backends, hundreds
//     of times: every packet goes where the old table or the new one sends it, never elsewhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Dataplane } from '../../src/control/dataplane.js';
import { svcPortKey } from '../../src/abi/abi.js';
import { u32 } from '../../src/abi/codec.js';
import { parseConfig } from '../../src/model/config.js';
import type { Plan } from '../../src/model/plan.js';
import { buildPacket } from '../../src/testing/packet.js';
import { runXdp } from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';
import { int, pick, rng, testSeed } from '../helpers/random.js';

/** Each service's live value as the data plane holds it: table offset, length and the table there. */
function liveTables(dp: Dataplane): Map<number, { off: number; len: number; table: number[] }> {
  const out = new Map<number, { off: number; len: number; table: number[] }>();
  for (const [id, at] of dp.reconciler.slots.value) {
    const v = dp.maps.svcValues.get(at)!;
    out.set(id, { off: v.table_off, len: v.table_len, table: readFlat(dp, v.table_off, v.table_len) });
  }
  return out;
}

function readFlat(dp: Dataplane, off: number, len: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(dp.maps.schedFlat.lookup(u32.encode(off + i))!.readUInt32LE(0));
  return out;
}

/** 64 frames to 192.0.2.10:53 from as many clients. */
const clientFrames = () =>
  Array.from({ length: 64 }, (_, i) =>
    buildPacket({
      ipv4: { src: `203.0.113.${1 + i}`, dst: '192.0.2.10' },
      udp: { sport: 40000 + i, dport: 53 },
      payload: 'x',
    }),
  );
const AT = 14 + 19; // last byte of the IPv4 destination

const yaml = (services: string[]) =>
  [
    'interface: lo',
    'hash_seed: 11',
    services.length === 0 ? 'services: []' : 'services:',
    ...services,
    '',
  ].join('\n');

function randomService(r: () => number, i: number): string {
  const sched = pick(r, ['maglev', 'round-robin', 'weighted-round-robin'] as const);
  const n = int(r, 0, sched === 'maglev' ? 30 : 300);
  const backends = Array.from(
    { length: n },
    (_, b) =>
      `      - { address: 198.51.${100 + (b >> 8)}.${b & 255}, port: ${5000 + i}, weight: ${sched === 'round-robin' ? int(r, 0, 1) : int(r, 0, 5)} }`,
  );
  return [
    `  - name: s${i}`,
    '    vip: 192.0.2.10',
    `    port: ${100 + i}`,
    `    scheduler: ${sched}`,
    ...(sched === 'maglev' ? [`    table_size: ${pick(r, [251, 1021, 4093])}`] : []),
    `    backends:${n === 0 ? ' []' : ''}`,
    ...backends,
  ].join('\n');
}

describe('a table switch is never seen half-written', { skip: rootSkip() }, () => {
  it('after every change the previous value still names the previous table whole, and the new value the new one', () => {
    const seed = testSeed();
    const r = rng(seed);
    const dp = Dataplane.load({ flowTableSize: 1024, schedEntries: 60_000 });
    try {
      let present = new Set<number>();
      let checked = 0;
      for (let step = 0; step < 40; step++) {
        const before = liveTables(dp);
        // Keep some services, rebuild others, add and remove some.
        const next = new Set([...present].filter(() => r() < 0.8));
        for (let k = 0; k < int(r, 0, 3); k++) next.add(int(r, 0, 7));
        const config = parseConfig(yaml([...next].sort().map((i) => randomService(r, i))), 'test-config');
        try {
          dp.apply(config);
        } catch (e) {
          // A full sched_flat refuses the change whole: every value and table is as it was.
          assert.match(String(e), /the scheduling tables are full/, `seed ${seed}, step ${step}`);
          assert.deepEqual(
            liveTables(dp),
            before,
            `seed ${seed}, step ${step}: a refused change wrote nothing`,
          );
          continue;
        }
        present = next;
        const plan: Plan = dp.reconciler.applied;
        const after = liveTables(dp);
        for (const s of plan.services) {
          const now = after.get(s.id)!;
          assert.deepEqual(
            now.table,
            [...s.table],
            `seed ${seed}, step ${step}: ${s.name}'s new table, whole`,
          );
          const old = before.get(s.id);
          if (!old || old.len === 0) continue;
          assert.deepEqual(
            readFlat(dp, old.off, old.len),
            old.table,
            `seed ${seed}, step ${step}: ${s.name}'s previous table still whole where its previous value points`,
          );
          checked++;
        }
      }
      assert.ok(checked > 40, `${checked} switches checked`);
    } finally {
      dp.close();
    }
  });

  it('under load: 300 switches between two tables while a worker sends packets; each goes by the old table or the new', async () => {
    // Both configurations hold all six backends, three of them drained (weight 0: live, out of
    // the table), so no backend slot is emptied by a switch: what is checked is the tables.
    const backends = (live: number) =>
      [1, 2, 3, 11, 12, 13]
        .map(
          (n) =>
            `      - { address: 198.51.100.${n}, port: 5000, weight: ${n >= live && n < live + 3 ? 1 : 0} }`,
        )
        .join('\n');
    const svc = (size: number, live: number) =>
      [
        '  - name: sw',
        '    vip: 192.0.2.10',
        '    port: 53',
        '    scheduler: maglev',
        `    table_size: ${size}`,
        '    flow_affinity: false',
        '    backends:',
        backends(live),
      ].join('\n');
    // Different sizes: a packet that read one value and the other's entries would land on an
    // index of the wrong table, and (disjoint live backends) on a backend neither table gives it.
    const A = parseConfig(yaml([svc(251, 1)]));
    const B = parseConfig(yaml([svc(1021, 11)]));
    const frames = clientFrames();
    const dp = Dataplane.load({ flowTableSize: 1024, schedEntries: 20_000 });
    try {
      dp.apply(A);
      const wantA = frames.map((f) => runXdp(dp, f).data[AT]!);
      dp.apply(B);
      const wantB = frames.map((f) => runXdp(dp, f).data[AT]!);
      assert.ok(wantA.every((a) => a >= 1 && a <= 3) && wantB.every((b) => b >= 11 && b <= 13));

      const stop = new SharedArrayBuffer(8);
      const flags = new Int32Array(stop);
      const worker = new Worker(fileURLToPath(new URL('../helpers/xdp-runner-worker.js', import.meta.url)), {
        workerData: { fd: dp.xdpProgram.fd, frames, stop, max: 2_000_000, at: AT },
      });
      const done = new Promise<{ index: number[]; got: number[] }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      const deadline = Date.now() + 20_000;
      let switches = 0;
      try {
        // Until the worker is sending (it loads libbpf first).
        while (Atomics.load(flags, 1) === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        for (; switches < 300 && Date.now() < deadline; switches++) dp.apply(switches % 2 === 0 ? A : B);
      } finally {
        Atomics.store(flags, 0, 1);
      }
      const { index, got } = await done;
      await worker.terminate();
      let fromA = 0;
      let fromB = 0;
      for (let i = 0; i < index.length; i++) {
        const k = index[i]!;
        const g = got[i]!;
        assert.ok(
          g === wantA[k] || g === wantB[k],
          `run ${i}, frame ${k}: went to .${g}, the tables say .${wantA[k]} or .${wantB[k]}`,
        );
        if (g === wantA[k]) fromA++;
        else fromB++;
      }
      assert.ok(switches >= 50, `${switches} switches`);
      assert.ok(index.length >= 1000, `${index.length} packets during the switches`);
      assert.ok(fromA > 0 && fromB > 0, `packets saw both tables: ${fromA} the first, ${fromB} the second`);
    } finally {
      dp.close();
    }
  });
});

describe('a removed backend, seen through the previous table', { skip: rootSkip() }, () => {
  it('a packet that read the service value just before the flip goes where that table sent it (never to 0.0.0.0); flows that remembered it move', () => {
    const svc = (hosts: number[], affinity: boolean) =>
      [
        '  - name: rm',
        '    vip: 192.0.2.10',
        '    port: 53',
        '    scheduler: maglev',
        '    table_size: 251',
        `    flow_affinity: ${affinity}`,
        '    backends:',
        ...hosts.map((n) => `      - { address: 198.51.100.${n}, port: 5000 }`),
      ].join('\n');
    const frames = clientFrames();
    for (const affinity of [false, true]) {
      const dp = Dataplane.load({ flowTableSize: 1024, schedEntries: 4096 });
      try {
        dp.apply(parseConfig(yaml([svc([1, 2, 3], affinity)])));
        const before = frames.map((f) => runXdp(dp, f).data[AT]!);
        assert.ok(before.includes(3), 'some frames go to .3');
        dp.apply(parseConfig(yaml([svc([1, 2], affinity)])));
        const after = frames.map((f) => runXdp(dp, f).data[AT]!);
        assert.ok(
          after.every((b) => b === 1 || b === 2),
          `with affinity ${affinity}, after the removal: ${after.join(',')}`,
        );
        // Back to the previous value slot, as a packet that read svc_ports before the flip sees it.
        const id = dp.reconciler.applied.services[0]!.id;
        const live = new Map(dp.reconciler.slots.value).get(id)!;
        dp.maps.svcPorts.set(svcPortKey(53, 4), 1 + (live ^ 1));
        const stale = frames.map((f) => {
          const out = runXdp(dp, f);
          return out.data[AT]!;
        });
        for (let i = 0; i < frames.length; i++) {
          if (affinity) {
            // The flows remembered a live backend (.1/.2) after the removal and keep it.
            assert.equal(stale[i], after[i], `frame ${i}: kept its backend`);
          } else {
            assert.equal(stale[i], before[i], `frame ${i}: the previous table's backend, .${before[i]}`);
          }
        }
      } finally {
        dp.close();
      }
    }
  });
});
