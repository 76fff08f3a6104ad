// Data-plane fixtures (Katran style): map state from a config + an input packet ->
// the expected verdict, counter and output bytes, through BPF_PROG_TEST_RUN.
// Expected outputs are built from scratch by src/model/packet.ts, so every rewrite's
// checksums are checked against a full recomputation, not against the same
// incremental arithmetic.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction, TcAction } from '../../src/kernel/program.js';
import { numPossibleCpus } from '../../src/kernel/map.js';
import { BATCH_READ_MIN } from '../../src/control/stats.js';
import type { Reason } from '../../src/abi/abi.js';
import { addrFrom16, addrTo16 } from '../../src/model/addr.js';
import { buildPacket, describePacket, parsePacket, type PacketSpec } from '../../src/testing/packet.js';
import {
  assertSame,
  backendCount,
  loadDataplane,
  reasonDeltas,
  runEgress,
  runXdp,
  serviceCount,
  serviceId,
} from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';

const wideBackends = Array.from(
  { length: 256 },
  (_, i) => `      - { address: 203.0.113.${1 + (i % 254)}, port: ${10000 + i} }`,
);

const CONFIG = `
interface: lo
services:
  - name: dns
    vip: 192.0.2.10
    port: 53
    scheduler: round-robin
    backends:
      - { address: 198.51.100.1, port: 5301 }
      - { address: 198.51.100.2, port: 5302 }
      - { address: 198.51.100.3, port: 5303 }
  - name: any5353
    vip: "*"
    port: 5353
    backends:
      - { address: 198.51.100.9, port: 6000 }
  - name: exact5353
    vip: 192.0.2.20
    port: 5353
    backends:
      - { address: 198.51.100.8, port: 7000 }
  - name: empty
    vip: 192.0.2.30
    port: 9999
    backends: []
  - name: wide
    vip: 192.0.2.40
    port: 4000
    scheduler: round-robin
    backends:
${wideBackends.join('\n')}
`;

const CLIENT = '203.0.113.50';

function udp4(dst: string, dport: number, extra: Partial<PacketSpec> = {}, sport = 40000): PacketSpec {
  return {
    ipv4: { src: CLIENT, dst, ...extra.ipv4 },
    udp: { sport, dport, ...extra.udp },
    payload: 'hello xlb',
    ...(extra.eth ? { eth: extra.eth } : {}),
  };
}

describe('xlb_xdp: packets that are not for a service pass untouched', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(CONFIG)));
  after(() => dp?.close());

  const cases: { name: string; frame: Buffer; reason: Reason }[] = [
    {
      name: 'non-IP ethertype',
      frame: buildPacket({ eth: { type: 0x88b5 }, payload: 'x'.repeat(46) }),
      reason: 'pass_not_ip',
    },
    {
      name: 'ARP request',
      frame: buildPacket({ arp: { senderIp: CLIENT, targetIp: '192.0.2.10' }, padTo: 60 }),
      reason: 'pass_not_ip',
    },
    {
      name: 'IPv6 UDP to a port of an IPv4 service',
      frame: buildPacket({
        ipv6: { src: 'fd00::1', dst: 'fd00::10' },
        udp: { sport: 1, dport: 53 },
        payload: 'x',
      }),
      reason: 'pass_no_service',
    },
    {
      name: 'IPv6 with a hop-by-hop extension header',
      frame: buildPacket({
        ipv6: { src: 'fd00::1', dst: 'fd00::10', extHeaders: [{ type: 0 }] },
        udp: { sport: 1, dport: 53 },
        payload: 'x',
      }),
      reason: 'pass_ipv6_ext',
    },
    {
      name: 'IPv6 fragment',
      frame: buildPacket({
        ipv6: { src: 'fd00::1', dst: 'fd00::10', extHeaders: [{ type: 44 }] },
        udp: { sport: 1, dport: 53 },
        payload: 'x',
      }),
      reason: 'pass_ipv6_ext',
    },
    {
      name: 'TCP to the service address and port',
      frame: buildPacket({ ipv4: { src: CLIENT, dst: '192.0.2.10' }, tcp: { sport: 40000, dport: 53 } }),
      reason: 'pass_not_udp',
    },
    {
      name: 'ICMP echo to the service address',
      frame: buildPacket({ ipv4: { src: CLIENT, dst: '192.0.2.10' }, icmp: { type: 8 }, payload: 'ping' }),
      reason: 'pass_not_udp',
    },
    {
      name: 'UDP to a port without a service',
      frame: buildPacket(udp4('192.0.2.10', 54)),
      reason: 'pass_no_service',
    },
    {
      name: 'UDP to a service port on another address',
      frame: buildPacket(udp4('192.0.2.99', 53)),
      reason: 'pass_no_service',
    },
    {
      name: 'IPv4 with options, unknown port',
      frame: buildPacket(
        udp4('192.0.2.10', 54, {
          ipv4: { src: CLIENT, dst: '192.0.2.10', options: Buffer.from([1, 1, 1, 0]) },
        }),
      ),
      reason: 'pass_no_service',
    },
    {
      name: 'VLAN-tagged, unknown port',
      frame: buildPacket(udp4('192.0.2.10', 54, { eth: { vlan: 7 } })),
      reason: 'pass_no_service',
    },
    {
      name: 'QinQ (two tags) is not parsed',
      frame: buildPacket(udp4('192.0.2.10', 53, { eth: { vlan: [7, 8] } })),
      reason: 'pass_not_ip',
    },
    {
      name: 'first fragment (MF) to a service',
      frame: buildPacket(udp4('192.0.2.10', 53, { ipv4: { src: CLIENT, dst: '192.0.2.10', mf: true } })),
      reason: 'pass_fragment',
    },
    {
      name: 'later fragment (offset) to a service',
      frame: buildPacket({
        ipv4: { src: CLIENT, dst: '192.0.2.10', fragOffset: 3, protocol: 17 },
        payload: 'tail of a datagram',
      }),
      reason: 'pass_fragment',
    },
    {
      name: 'IP version 5',
      frame: buildPacket(udp4('192.0.2.10', 53, { ipv4: { src: CLIENT, dst: '192.0.2.10', version: 5 } })),
      reason: 'pass_malformed',
    },
    {
      name: 'IHL 4',
      frame: buildPacket(udp4('192.0.2.10', 53, { ipv4: { src: CLIENT, dst: '192.0.2.10', ihl: 4 } })),
      reason: 'pass_malformed',
    },
    {
      name: 'total length shorter than the header',
      frame: buildPacket(
        udp4('192.0.2.10', 53, { ipv4: { src: CLIENT, dst: '192.0.2.10', totalLength: 19 } }),
      ),
      reason: 'pass_malformed',
    },
    {
      name: 'total length beyond the frame',
      frame: buildPacket(
        udp4('192.0.2.10', 53, { ipv4: { src: CLIENT, dst: '192.0.2.10', totalLength: 1400 } }),
      ),
      reason: 'pass_truncated',
    },
    {
      name: 'UDP length below 8',
      frame: buildPacket(udp4('192.0.2.10', 53, { udp: { sport: 40000, dport: 53, length: 7 } })),
      reason: 'pass_malformed',
    },
    {
      name: 'UDP length beyond the IP payload',
      frame: buildPacket(udp4('192.0.2.10', 53, { udp: { sport: 40000, dport: 53, length: 200 } })),
      reason: 'pass_malformed',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: XDP_PASS, unchanged, counted as ${c.reason}`, () => {
      let out: Buffer | undefined;
      let retval = -1;
      const deltas = reasonDeltas(dp, () => {
        const r = runXdp(dp, c.frame);
        out = r.data;
        retval = r.retval;
      });
      assert.equal(retval, XdpAction.PASS);
      assertSame(out ?? Buffer.alloc(0), c.frame, 'the packet must pass bit for bit');
      assert.deepEqual(deltas, { [c.reason]: 1 });
    });
  }

  it('truncated at every byte of a VLAN + IPv4-with-options + UDP packet to a service', () => {
    const full = buildPacket(
      udp4('192.0.2.10', 53, {
        eth: { vlan: 100 },
        ipv4: { src: CLIENT, dst: '192.0.2.10', options: Buffer.alloc(8, 1) },
      }),
    );
    // BPF_PROG_TEST_RUN needs at least an Ethernet header (14 bytes).
    for (let len = 14; len < full.length; len++) {
      const frame = full.subarray(0, len);
      let out: Buffer | undefined;
      const deltas = reasonDeltas(dp, () => {
        const r = runXdp(dp, frame);
        assert.equal(r.retval, XdpAction.PASS, `cut at ${len}`);
        out = r.data;
      });
      assertSame(out ?? Buffer.alloc(0), Buffer.from(frame), `cut at ${len} must pass unchanged`);
      assert.deepEqual(deltas, { pass_truncated: 1 }, `cut at ${len}`);
    }
  });
});

describe('xlb_xdp: local mode balancing', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(CONFIG)));
  after(() => dp?.close());

  /** Runs one packet; returns the output and which backend (address:port) it went to. */
  function balance(spec: PacketSpec) {
    const frame = buildPacket(spec);
    const r = runXdp(dp, frame);
    assert.equal(r.retval, XdpAction.PASS, describePacket(r.data));
    const p = parsePacket(r.data);
    return { frame, out: r.data, to: `${p.ipv4?.dst}:${p.udp?.dport}`, parsed: p };
  }

  it('rewrites destination address and port; checksums equal a from-scratch computation', () => {
    for (const extra of [
      {},
      { eth: { vlan: 42 } },
      { ipv4: { src: CLIENT, dst: '192.0.2.10', options: Buffer.from([0x94, 0x04, 0, 0]) } },
      { ipv4: { src: CLIENT, dst: '192.0.2.10', options: Buffer.alloc(40, 1) } }, // IHL 15
      { ipv4: { src: CLIENT, dst: '192.0.2.10', df: true, ttl: 3, tos: 0xb8, id: 4242 } },
    ] as Partial<PacketSpec>[]) {
      const spec = udp4('192.0.2.10', 53, extra);
      const { out, to } = balance(spec);
      const [addr, port] = to.split(':');
      const expected = buildPacket({
        ...spec,
        ipv4: { ...spec.ipv4!, dst: addr! },
        udp: { ...spec.udp!, dport: Number(port) },
      });
      assertSame(out, expected, `rewrite of ${describePacket(buildPacket(spec))}`);
      const p = parsePacket(out);
      assert.ok(p.ipv4?.checksumValid && p.udp?.checksumValid, 'checksums valid');
    }
  });

  it('keeps a zero UDP checksum zero (IPv4: no checksum)', () => {
    const spec = udp4('192.0.2.10', 53, { udp: { sport: 40000, dport: 53, checksum: 'zero' } });
    const { out, parsed } = balance(spec);
    assert.equal(parsed.udp?.checksum, 0);
    assert.ok(parsed.ipv4?.checksumValid);
    const expected = buildPacket({
      ...spec,
      ipv4: { ...spec.ipv4!, dst: parsed.ipv4.dst },
      udp: { ...spec.udp!, dport: parsed.udp.dport },
    });
    assertSame(out, expected, 'zero checksum kept');
  });

  it('writes a computed UDP checksum of zero as 0xffff', () => {
    // The single-backend service makes the rewrite deterministic. A payload word equal to
    // the checksum of the same datagram with a zero word makes the one's complement sum
    // 0xffff, i.e. a computed checksum of 0, which UDP must send as 0xffff (RFC 768).
    const rewritten = (payload: Buffer): PacketSpec => ({
      ipv4: { src: CLIENT, dst: '198.51.100.8' },
      udp: { sport: 40000, dport: 7000 },
      payload,
    });
    const c0 = parsePacket(buildPacket(rewritten(Buffer.alloc(2)))).udp!.checksum;
    assert.notEqual(c0, 0xffff);
    const payload = Buffer.from([c0 >> 8, c0 & 0xff]);
    const { out, parsed } = balance({
      ipv4: { src: CLIENT, dst: '192.0.2.20' },
      udp: { sport: 40000, dport: 5353 },
      payload,
    });
    assert.equal(parsed.udp?.checksum, 0xffff);
    assert.ok(parsed.udp?.checksumValid);
    assertSame(out, buildPacket(rewritten(payload)), 'checksum 0 must be sent as 0xffff');
  });

  it('counts packets and bytes per service and per backend', () => {
    const id = serviceId(dp, 'dns');
    const svc = dp.reconciler.applied.services.find((s) => s.id === id)!;
    const beforeSvc = serviceCount(dp, id);
    const beforeBe = svc.backends.map((b) => backendCount(dp, b.id));
    const frame = buildPacket(udp4('192.0.2.10', 53));
    for (let i = 0; i < 30; i++) runXdp(dp, frame);
    const afterSvc = serviceCount(dp, id);
    assert.equal(afterSvc.packets - beforeSvc.packets, 30);
    assert.equal(afterSvc.bytes - beforeSvc.bytes, 30 * frame.length);
    const grown = svc.backends.map((b, i) => backendCount(dp, b.id) - (beforeBe[i] ?? 0));
    assert.equal(
      grown.reduce((a, b) => a + b, 0),
      30,
    );
    assert.ok(
      grown.every((g) => g >= 30 / 3 - numPossibleCpus() && g <= 30 / 3 + numPossibleCpus()),
      `spread ${grown.join(',')}`,
    );
  });

  for (const [name, vip, port, n] of [
    ['dns', '192.0.2.10', 53, 3],
    ['wide', '192.0.2.40', 4000, 256],
  ] as const) {
    it(`round-robin spreads evenly over ${n} backends`, () => {
      const svc = dp.reconciler.applied.services.find((s) => s.name === name)!;
      const seen = new Map<string, number>();
      const rounds = 3;
      for (let i = 0; i < rounds * n; i++) {
        const { to } = balance(udp4(vip, port, {}, 20000 + (i % 500)));
        seen.set(to, (seen.get(to) ?? 0) + 1);
      }
      assert.equal(seen.size, n, `every backend chosen (${seen.size} of ${n})`);
      const wanted = new Set(svc.backends.map((b) => `${b.address}:${b.port}`));
      for (const [to, count] of seen) {
        assert.ok(wanted.has(to), `${to} is a backend of ${name}`);
        // Each CPU walks its own cursor, so a migration of the test between CPUs may shift counts by one per CPU.
        assert.ok(Math.abs(count - rounds) <= numPossibleCpus(), `${to} got ${count}, expected ${rounds}`);
      }
    });
  }

  it('stats read many backends in batches and agree with per-backend lookups', () => {
    // 'wide' has 256 backends: more than BATCH_READ_MIN, so readStats reads the arrays in batches.
    assert.ok(256 >= BATCH_READ_MIN);
    for (let i = 0; i < 300; i++) balance(udp4('192.0.2.40', 4000, {}, 30000 + i));
    const all = dp.stats();
    const few = dp.stats('dns'); // one service, 3 backends: one lookup per id
    const wide = all.services.find((s) => s.name === 'wide')!;
    assert.equal(wide.backends.length, 256);
    assert.ok(wide.packets >= 300, `wide counted ${wide.packets}`);
    assert.deepEqual({ packets: wide.packets, bytes: wide.bytes }, serviceCount(dp, serviceId(dp, 'wide')));
    for (const b of wide.backends) assert.equal(b.packets, backendCount(dp, b.id), `backend ${b.id}`);
    assert.equal(
      wide.backends.reduce((a, b) => a + b.packets, 0),
      wide.packets,
    );
    assert.deepEqual(
      few.services,
      all.services.filter((s) => s.name === 'dns'),
    );
  });

  it('exact address wins over the wildcard service on the same port', () => {
    assert.equal(balance(udp4('192.0.2.20', 5353)).to, '198.51.100.8:7000');
    assert.equal(balance(udp4('192.0.2.77', 5353)).to, '198.51.100.9:6000');
    assert.equal(balance(udp4('127.0.0.1', 5353)).to, '198.51.100.9:6000');
  });

  it('drops (counted) packets for a service without backends', () => {
    const frame = buildPacket(udp4('192.0.2.30', 9999));
    let retval = -1;
    const deltas = reasonDeltas(dp, () => (retval = runXdp(dp, frame).retval));
    assert.equal(retval, XdpAction.DROP);
    assert.deepEqual(deltas, { drop_no_backend: 1 });
  });

  it('records the flow: reply tuple -> service address, with service and backend ids', () => {
    const { to } = balance(udp4('192.0.2.77', 5353, {}, 41234));
    assert.equal(to, '198.51.100.9:6000');
    const entry = dp.maps.revNat.get({
      src: addrTo16('198.51.100.9'),
      dst: addrTo16(CLIENT),
      sport: 6000,
      dport: 41234,
      proto: 17,
      family: 4,
    });
    assert.ok(entry, 'flow recorded under the reply 5-tuple');
    assert.equal(addrFrom16(entry.vaddr, 4), '192.0.2.77', 'the address the client used, not the wildcard');
    assert.equal(entry.vport, 5353);
    assert.equal(entry.svc_id, serviceId(dp, 'any5353'));
    assert.ok(entry.last_seen_ns > 0n);
  });
});

describe('reply translation (XDP on lo, TC egress elsewhere)', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(CONFIG)));
  after(() => dp?.close());

  const replySpec = (from: string, fromPort: number, toPort: number): PacketSpec => ({
    ipv4: { src: from, dst: CLIENT },
    udp: { sport: fromPort, dport: toPort },
    payload: 'answer',
  });

  function forward(sport: number): string {
    const r = runXdp(dp, buildPacket(udp4('192.0.2.10', 53, {}, sport)));
    const p = parsePacket(r.data);
    return `${p.ipv4?.dst}:${p.udp?.dport}`;
  }

  for (const [hook, run, ok] of [
    ['XDP', runXdp, XdpAction.PASS],
    ['TC egress', runEgress, TcAction.OK],
  ] as const) {
    it(`${hook}: a backend's reply leaves from the service address and port`, () => {
      const sport = hook === 'XDP' ? 45000 : 45001;
      const [addr, port] = forward(sport).split(':');
      for (const extra of [{}, { udp: { checksum: 'zero' as const } }]) {
        const spec = replySpec(addr!, Number(port), sport);
        spec.udp = { ...spec.udp!, ...extra.udp };
        const frame = buildPacket(spec);
        let out: Buffer | undefined;
        let retval = -1;
        const deltas = reasonDeltas(dp, () => {
          const r = run(dp, frame);
          out = r.data;
          retval = r.retval;
        });
        assert.equal(retval, ok);
        assert.deepEqual(deltas, { reply: 1 });
        const expected = buildPacket({
          ...spec,
          ipv4: { ...spec.ipv4!, src: '192.0.2.10' },
          udp: { ...spec.udp, sport: 53 },
        });
        assertSame(out!, expected, `${hook} reply translation`);
      }
    });
  }

  it('a packet from a backend port without a recorded flow passes unchanged', () => {
    const frame = buildPacket(replySpec('198.51.100.1', 5301, 12345));
    const r = runXdp(dp, frame);
    assert.equal(r.retval, XdpAction.PASS);
    assertSame(r.data, frame, 'no flow, no translation');
    const e = runEgress(dp, frame);
    assert.equal(e.retval, TcAction.OK);
    assertSame(e.data, frame, 'no flow, no translation (egress)');
  });
});
