// The benchmark's instruments: the generator sends exactly the requested count, the
// sink counts exactly what arrives, and generated frames are well-formed and vary
// their source port per packet.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nsSh, sh } from '../../src/lab/exec.js';
import { GEN_HEADER_BYTES, Instruments } from '../../src/lab/instruments.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import { readMac } from '../../src/lab/topology.js';
import { testRun, xdpContext } from '../../src/kernel/program.js';
import { inNetns } from '../../src/kernel/netns.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { buildPacket, parsePacket } from '../../src/testing/packet.js';
import { rootSkip } from '../helpers/privileged.js';

describe('generator and sink', { skip: rootSkip() }, () => {
  const PREFIX = 'xlbt-';
  const gen = netnsName(PREFIX, 'gen');
  const sink = netnsName(PREFIX, 'sink');
  let inst: Instruments;
  let frames: Record<4 | 6, Buffer>;

  before(() => {
    removeStaleNetns(PREFIX);
    createNetns(gen);
    createNetns(sink);
    sh('ip', ['link', 'add', 'g0', 'netns', gen, 'type', 'veth', 'peer', 'name', 's0', 'netns', sink]);
    nsSh(gen, 'ip', ['addr', 'add', '203.0.113.10/24', 'dev', 'g0']);
    nsSh(sink, 'ip', ['addr', 'add', '203.0.113.20/24', 'dev', 's0']);
    nsSh(gen, 'ip', ['addr', 'add', 'fd00:203::10/64', 'dev', 'g0', 'nodad']);
    nsSh(sink, 'ip', ['addr', 'add', 'fd00:203::20/64', 'dev', 's0', 'nodad']);
    nsSh(gen, 'ip', ['link', 'set', 'g0', 'up']);
    nsSh(sink, 'ip', ['link', 'set', 's0', 'up']);
    const eth = { src: readMac(gen, 'g0'), dst: readMac(sink, 's0') };
    const payload = Buffer.alloc(32, 0x78);
    frames = {
      4: buildPacket({
        eth,
        ipv4: { src: '203.0.113.10', dst: '203.0.113.20' },
        udp: { sport: 10000, dport: 5300, checksum: 'zero' },
        payload,
      }),
      6: buildPacket({
        eth,
        ipv6: { src: 'fd00:203::10', dst: 'fd00:203::20' },
        udp: { sport: 10000, dport: 5300 },
        payload,
      }),
    };
    inst = Instruments.load();
    inst.attachSink(sink, 's0');
  });

  after(() => {
    inst?.close();
    deleteNetns(gen);
    deleteNetns(sink);
  });

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: sends exactly 200,000 frames, and the sink counts exactly 200,000`, async () => {
      inst.resetSink();
      const r = inst.generate({
        ns: gen,
        ifname: 'g0',
        template: frames[fam],
        family: fam,
        count: 200_000,
        flows: 1000,
      });
      assert.equal(r.sent, 200_000);
      for (let i = 0; i < 50 && inst.sinkTotal() < r.sent; i++)
        await new Promise((res) => setTimeout(res, 20));
      const dst = fam === 4 ? '203.0.113.20:5300' : '[fd00:203::20]:5300';
      assert.deepEqual(Object.fromEntries(inst.sinkCounts()), { [dst]: 200_000 });
    });

    it(`IPv${fam}: every frame is well-formed and the source port cycles over the flows`, () => {
      const seen = new Set<number>();
      for (let i = 0; i < 6; i++) {
        const out = inNetns(gen, () =>
          testRun(inst.generatorFd, {
            data: frames[fam],
            ctx: xdpContext(frames[fam].length, ifindexOf('g0')),
          }),
        ).data;
        const p = parsePacket(out);
        assert.ok(p.udp?.checksumValid, 'UDP checksum valid (0 on IPv4)');
        if (fam === 4) assert.ok(p.ipv4?.checksumValid);
        assert.ok(
          out.subarray(GEN_HEADER_BYTES).equals(frames[fam].subarray(GEN_HEADER_BYTES)),
          'payload untouched',
        );
        seen.add(p.udp.sport);
      }
      assert.ok(seen.size >= 5, `source ports ${[...seen].join(' ')}`);
    });
  }
});
