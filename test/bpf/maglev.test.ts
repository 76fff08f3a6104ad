// Maglev in the data plane against the TypeScript reference, and flow affinity:
//   - differential: 100,000 random packets over 20 random configurations of 1 to 3 services
//     (family, backends, weights, table size, hash key, seed, affinity), applied in turn to one
//     data plane so that the tables move about sched_flat: the BPF program and
//     src/model/reference.ts choose the same backend and produce the same bytes —
//     which also proves the C flow hash equals src/model/flowhash.ts bit for bit;
//   - flow affinity: established flows keep their backend through a change of the
//     backend set, a drained backend keeps its flows and gets no new ones, a removed
//     backend's flows move;
//   - two instances with the same config and seed agree on 10,000 flows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction } from '../../src/kernel/program.js';
import { parseConfig } from '../../src/model/config.js';
import { buildPacket, parsePacket, type PacketSpec } from '../../src/testing/packet.js';
import { maglevPick, parseUdp4or6 } from '../../src/testing/reference.js';
import { assertSame, loadDataplane, runXdp } from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';
import { int, pick, rng, scaledCount, testSeed } from '../helpers/random.js';

const HASH_KEYS = ['5-tuple', 'src-addr', 'src-addr-port'] as const;

/** One maglev service of a random configuration: its YAML lines and what the description says. */
function randomService(r: () => number, family: 4 | 6, index: number) {
  const n = int(r, 1, 40);
  const vip = pick(r, family === 4 ? ['192.0.2.10', '*'] : ['fd00:192::10', '*']);
  const backends = Array.from({ length: n }, (_, i) => {
    const address = family === 4 ? `198.51.100.${10 + i}` : `fd00:198::${(10 + i).toString(16)}`;
    return `      - { address: "${address}", port: ${5000 + i}, weight: ${i === 0 ? int(r, 1, 4) : int(r, 0, 4)} }`;
  });
  const tableSize = pick(
    r,
    [251, 1021, 4093, 16381].filter((m) => m >= n),
  );
  const hashKey = pick(r, HASH_KEYS);
  const affinity = r() < 0.5;
  return {
    lines: [
      `  - name: m${index}`,
      `    vip: "${vip}"`,
      `    port: ${53 + index}`,
      '    scheduler: maglev',
      `    hash_key: ${hashKey}`,
      `    table_size: ${tableSize}`,
      `    flow_affinity: ${affinity}`,
      '    backends:',
      ...backends,
    ],
    desc: `m${index}: n=${n} M=${tableSize} key=${hashKey} affinity=${affinity} vip=${vip}`,
  };
}

/**
 * A random configuration of 1 to 3 maglev services (ports 53..55). Applied one after the
 * other to one data plane, services come and go and tables change size, so their regions of
 * sched_flat move, and the live region alternates.
 */
function randomConfig(r: () => number, family: 4 | 6) {
  const seed = int(r, 0, 0xffffffff);
  const services = Array.from({ length: int(r, 1, 3) }, (_, i) => randomService(r, family, i)).filter(
    (_, i) => i === 0 || r() < 0.7,
  );
  const yaml = [
    'interface: lo',
    `hash_seed: ${seed}`,
    'services:',
    ...services.flatMap((s) => s.lines),
    '',
  ].join('\n');
  return { yaml, desc: `IPv${family} seed=${seed} ${services.map((s) => s.desc).join('; ')}` };
}

function randomPacket(r: () => number, family: 4 | 6, vip: string, port: number): PacketSpec {
  const dst =
    vip !== '*'
      ? vip
      : family === 4
        ? `203.0.113.${int(r, 1, 254)}`
        : `fd00:203::${int(r, 1, 0xffff).toString(16)}`;
  const src =
    family === 4
      ? `${int(r, 1, 223)}.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 1, 254)}`
      : `fd00:${int(r, 0, 0xffff).toString(16)}::${int(r, 1, 0xffff).toString(16)}`;
  const ip = family === 4 ? { ipv4: { src, dst } } : { ipv6: { src, dst } };
  return { ...ip, udp: { sport: int(r, 1, 65535), dport: port }, payload: Buffer.alloc(int(r, 0, 32), 7) };
}

describe('maglev in the data plane', { skip: rootSkip() }, () => {
  const PER_CONFIG = scaledCount(5000);
  it(`chooses what the TypeScript reference chooses: ${(20 * PER_CONFIG).toLocaleString('en')} packets, 20 random configurations applied in turn`, () => {
    const seed = testSeed();
    const r = rng(seed);
    let packets = 0;
    // One data plane for all: each configuration is a change of the one before (services added
    // and removed, tables rebuilt and resized), so tables sit at many offsets of sched_flat.
    const dp = Dataplane.load({ flowTableSize: 4096 });
    const offsets = new Set<number>();
    try {
      for (let c = 0; c < 20; c++) {
        const family = c % 2 === 0 ? 4 : 6;
        const { yaml, desc } = randomConfig(r, family);
        dp.apply(parseConfig(yaml, 'test-config'));
        const plan = dp.reconciler.applied;
        for (const [, at] of dp.reconciler.slots.value) offsets.add(dp.maps.svcValues.get(at)!.table_off);
        for (let i = 0; i < PER_CONFIG; i++, packets++) {
          const svc = plan.services[int(r, 0, plan.services.length - 1)]!;
          const spec = randomPacket(r, family, svc.vip, svc.port);
          const frame = buildPacket(spec);
          const parsed = parseUdp4or6(frame);
          assert.ok(typeof parsed !== 'string');
          const want = maglevPick(svc, plan, parsed);
          assert.ok(want, desc);
          const res = runXdp(dp, frame);
          const where = `seed ${seed}, config ${c}: ${desc}, packet ${i} to ${svc.name}`;
          assert.equal(res.retval, XdpAction.PASS, where);
          const expected = buildPacket({
            ...spec,
            ...(family === 4
              ? { ipv4: { ...spec.ipv4!, dst: want.address } }
              : { ipv6: { ...spec.ipv6!, dst: want.address } }),
            udp: { ...spec.udp!, dport: want.port },
          });
          assertSame(res.data, expected, where);
        }
      }
    } finally {
      dp.close();
    }
    assert.equal(packets, 20 * PER_CONFIG);
    assert.ok(offsets.size >= 6, `tables were read at ${offsets.size} offsets of sched_flat`);
  });

  const BASE = (backends: string[]) =>
    [
      'interface: lo',
      'services:',
      '  - name: m',
      '    vip: 192.0.2.10',
      '    port: 53',
      '    scheduler: maglev',
      '    table_size: 1021',
      '    backends:',
      ...backends.map((b) => `      - ${b}`),
      '',
    ].join('\n');
  const be = (n: number, weight = 1) => `{ address: 198.51.100.${n}, port: ${5000 + n}, weight: ${weight} }`;
  const flow = (sport: number) =>
    buildPacket({ ipv4: { src: '203.0.113.7', dst: '192.0.2.10' }, udp: { sport, dport: 53 }, payload: 'x' });
  const backendOf = (dp: Dataplane, sport: number) => {
    const p = parsePacket(runXdp(dp, flow(sport)).data);
    return Number(p.ipv4!.dst.split('.')[3]);
  };

  it('flow affinity: flows stay through changes; drained backends keep theirs; removed ones lose theirs', () => {
    const dp = Dataplane.load({ flowTableSize: 65536 });
    try {
      dp.apply(parseConfig(BASE([be(1), be(2), be(3)])));
      const ports = Array.from({ length: 600 }, (_, i) => 30000 + i);
      const first = new Map(ports.map((p) => [p, backendOf(dp, p)]));
      assert.deepEqual(new Set(first.values()), new Set([1, 2, 3]), 'all three in use');

      // A fourth backend: established flows stay, new flows use it too.
      dp.apply(parseConfig(BASE([be(1), be(2), be(3), be(4)])));
      for (const p of ports) assert.equal(backendOf(dp, p), first.get(p), `flow ${p} kept its backend`);
      const fresh = Array.from({ length: 600 }, (_, i) => 40000 + i).map((p) => backendOf(dp, p));
      assert.ok(fresh.includes(4), 'new flows reach the new backend');

      // Drain 1: its flows stay, no new flow goes there.
      dp.apply(parseConfig(BASE([be(1, 0), be(2), be(3), be(4)])));
      for (const p of ports)
        assert.equal(backendOf(dp, p), first.get(p), `flow ${p} kept its backend while 1 drains`);
      const afterDrain = Array.from({ length: 600 }, (_, i) => 50000 + i).map((p) => backendOf(dp, p));
      assert.ok(!afterDrain.includes(1), 'no new flow on the drained backend');

      // Remove 2: its flows move, the others stay.
      dp.apply(parseConfig(BASE([be(1, 0), be(3), be(4)])));
      for (const p of ports) {
        const now = backendOf(dp, p);
        if (first.get(p) === 2) assert.notEqual(now, 2, `flow ${p} left the removed backend`);
        else assert.equal(now, first.get(p), `flow ${p} stayed`);
      }
    } finally {
      dp.close();
    }
  });

  it('without affinity the table decides every packet: a change moves flows (the stateless mode)', () => {
    const dp = Dataplane.load({ flowTableSize: 65536 });
    try {
      const yaml = (b: string[]) =>
        BASE(b).replace('    table_size: 1021', '    table_size: 1021\n    flow_affinity: false');
      dp.apply(parseConfig(yaml([be(1), be(2), be(3)])));
      const ports = Array.from({ length: 600 }, (_, i) => 30000 + i);
      const first = ports.map((p) => backendOf(dp, p));
      dp.apply(parseConfig(yaml([be(1), be(2), be(3), be(4)])));
      const moved = ports.filter((p, i) => backendOf(dp, p) !== first[i]).length;
      assert.ok(moved > 0 && moved < 300, `${moved} of 600 flows moved: about a quarter, as Maglev promises`);
    } finally {
      dp.close();
    }
  });

  it('two instances with one config and seed send 10,000 flows to the same backends', () => {
    const yaml = BASE(Array.from({ length: 10 }, (_, i) => be(i + 1))).replace(
      'interface: lo',
      'interface: lo\nhash_seed: 424242',
    );
    const a = loadDataplane(yaml);
    const b = loadDataplane(yaml);
    try {
      for (let i = 0; i < 10_000; i++) {
        const frame = buildPacket({
          ipv4: { src: `203.0.${(i >> 8) & 255}.${i & 255}`, dst: '192.0.2.10' },
          udp: { sport: 1024 + (i % 60000), dport: 53 },
          payload: 'x',
        });
        assert.ok(runXdp(a, frame).data.equals(runXdp(b, frame).data), `flow ${i}`);
      }
    } finally {
      a.close();
      b.close();
    }
  });
});
