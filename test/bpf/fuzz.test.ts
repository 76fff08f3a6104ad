// Hostile input: random frames and mutated service packets through the XDP program,
// checked against the reference model. The program must never abort, must leave
// every packet it does not balance bit for bit, and may only touch the destination
// and checksum fields of the packets it balances — with checksums still valid.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction } from '../../src/kernel/program.js';
import { addrTo16 } from '../../src/model/addr.js';
import { buildPacket, describePacket, parsePacket } from '../../src/testing/packet.js';
import { classify, localRewriteRanges } from '../../src/testing/reference.js';
import { loadDataplane, reasonDeltas, runXdp } from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';
import { int, pick, rng, testSeed } from '../helpers/random.js';

const CONFIG = `
interface: lo
services:
  - { name: a, vip: 192.0.2.10, port: 53, backends: [{ address: 198.51.100.1, port: 5301 }, { address: 198.51.100.2, port: 5302 }] }
  - { name: b, vip: "*", port: 123, backends: [{ address: 198.51.100.3, port: 1123 }] }
  - { name: c, vip: 192.0.2.11, port: 9000, backends: [] }
`;

function checksumsValid(frame: Buffer): { ip: boolean; udp: boolean } {
  try {
    const p = parsePacket(frame);
    return { ip: p.ipv4?.checksumValid ?? false, udp: p.udp?.checksumValid ?? false };
  } catch {
    return { ip: false, udp: false };
  }
}

describe('xlb_xdp under hostile input', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(CONFIG)));
  after(() => dp?.close());

  it('agrees with the reference model on 4,000 random and mutated frames', () => {
    const seed = testSeed();
    const r = rng(seed);
    const plan = dp.reconciler.applied;
    const isReply = (p: { family: 4 | 6; src: string; dst: string; sport: number; dport: number }) =>
      dp.maps.revNat.get({
        src: addrTo16(p.src),
        dst: addrTo16(p.dst),
        sport: p.sport,
        dport: p.dport,
        proto: 17,
        family: p.family,
      }) !== undefined;
    const counts = new Map<string, number>();

    for (let i = 0; i < 4000; i++) {
      let frame: Buffer<ArrayBufferLike>;
      if (r() < 0.25) {
        frame = Buffer.from(Array.from({ length: int(r, 14, 200) }, () => int(r, 0, 255)));
        if (r() < 0.5) frame.writeUInt16BE(pick(r, [0x0800, 0x8100, 0x86dd]), 12);
      } else {
        const sport = int(r, 1, 65535);
        const base = pick(r, [
          { dst: '192.0.2.10', dport: 53 },
          { dst: '192.0.2.99', dport: 123 },
          { dst: '192.0.2.11', dport: 9000 },
          { dst: '192.0.2.10', dport: 54 },
        ]);
        frame = buildPacket({
          eth: r() < 0.3 ? { vlan: int(r, 1, 4094) } : {},
          ipv4: {
            src: `203.0.113.${int(r, 1, 254)}`,
            dst: base.dst,
            options: r() < 0.3 ? Buffer.alloc(4 * int(r, 1, 10), int(r, 0, 255)) : undefined,
          },
          udp: { sport, dport: base.dport, checksum: r() < 0.2 ? 'zero' : 'auto' },
          payload: Buffer.alloc(int(r, 0, 64), int(r, 0, 255)),
        });
        const mutations = r() < 0.6 ? int(r, 1, 3) : 0;
        for (let m = 0; m < mutations; m++) frame[int(r, 0, frame.length - 1)] = int(r, 0, 255);
        if (r() < 0.2) frame = frame.subarray(0, int(r, 14, frame.length));
      }

      const want = classify(plan, frame, isReply);
      let out: Buffer<ArrayBufferLike> = Buffer.alloc(0);
      let retval = -1;
      const deltas = reasonDeltas(dp, () => {
        const res = runXdp(dp, frame);
        out = res.data;
        retval = res.retval;
      });
      const where = `seed ${seed}, frame ${i}: ${describePacket(frame)} [${frame.toString('hex')}]`;
      counts.set(want.reason, (counts.get(want.reason) ?? 0) + 1);

      assert.deepEqual(deltas, { [want.reason]: 1 }, where);
      assert.equal(retval, want.action === 'drop' ? XdpAction.DROP : XdpAction.PASS, where);
      if (want.reason !== 'local' && want.reason !== 'reply') {
        assert.ok(out.equals(frame), `must pass unchanged: ${where}`);
        continue;
      }
      if (want.reason === 'reply') continue; // covered by the fixtures
      // Balanced: only the allowed bytes changed, to a backend of the service.
      const allowed = localRewriteRanges(want.family!, want.l3!, want.l4!);
      for (let k = 0; k < frame.length; k++) {
        if (out[k] !== frame[k]) {
          assert.ok(
            allowed.some(([s, e]) => k >= s && k < e),
            `byte ${k} changed outside the rewrite: ${where}`,
          );
        }
      }
      const dst = `${out.subarray(want.l3! + 16, want.l3! + 20).join('.')}:${out.readUInt16BE(want.l4! + 2)}`;
      assert.ok(
        want.service!.backends.some((b) => `${b.address}:${b.port}` === dst),
        `${dst} is a backend of ${want.service!.name}: ${where}`,
      );
      const inOk = checksumsValid(frame);
      const outOk = checksumsValid(out);
      if (inOk.ip) assert.ok(outOk.ip, `IP checksum still valid: ${where}`);
      if (inOk.udp) assert.ok(outOk.udp, `UDP checksum still valid: ${where}`);
    }
    // The generator must reach the interesting cases, or the test proves little.
    for (const reason of [
      'local',
      'pass_no_service',
      'pass_truncated',
      'pass_malformed',
      'drop_no_backend',
    ]) {
      assert.ok((counts.get(reason) ?? 0) > 20, `only ${counts.get(reason) ?? 0} frames reached ${reason}`);
    }
  });
});
