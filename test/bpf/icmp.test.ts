// Passive health signal: an ICMP port unreachable counts against a backend (icmp_unreach, per
// backend id) only as evidence: sent by the backend itself, quoting a datagram of a live flow to
// it. Forged errors (from anyone else, about no flow, in any number) change nothing. And an error
// whose outer datagram ends inside the quote is never translated (its checksum could not be kept).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction } from '../../src/kernel/program.js';
import { addrTo16 } from '../../src/model/addr.js';
import { parseConfig } from '../../src/model/config.js';
import { hostPort } from '../../src/util/endpoint.js';
import { buildPacket, type PacketSpec } from '../../src/testing/packet.js';
import {
  EXPIRED_NS,
  assertSame,
  ipSpec,
  loadDataplane,
  reasonDeltas,
  runXdp,
  type Fam,
} from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';
import { int, rng, testSeed } from '../helpers/random.js';

const BACKEND = { 4: '198.51.100.1', 6: 'fd00:198::1' } as const;
const NEW_BACKEND = { 4: '198.51.100.2', 6: 'fd00:198::2' } as const;
const VIP = { 4: '192.0.2.10', 6: 'fd00:192::10' } as const;
const CLIENT = { 4: '203.0.113.50', 6: 'fd00:203::50' } as const;
const ROUTER = { 4: '203.0.113.99', 6: 'fd00:203::99' } as const;
const UNREACH = { 4: { type: 3, code: 3 }, 6: { type: 1, code: 4 } } as const;

const config = (withNew: boolean) => `
interface: lo
services:
${([4, 6] as const)
  .map(
    (f) => `
  - name: dns${f}
    vip: "${VIP[f]}"
    port: 53
    backends:
      - { address: "${BACKEND[f]}", port: 5301 }${withNew ? `\n      - { address: "${NEW_BACKEND[f]}", port: 5302 }` : ''}`,
  )
  .join('')}
`;

/** The IP packet inside a frame: what an ICMP error quotes. */
const l3 = (frame: Buffer) => frame.subarray(14);

describe('xlb_xdp: ICMP port unreachable (passive health)', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(config(false))));
  after(() => dp?.close());

  const count = (addr: string, port: number, fam: Fam) =>
    dp.icmpUnreachable().get(hostPort(addr, port, fam)) ?? 0n;

  const client = (fam: Fam, sport: number): PacketSpec => ({
    ...ipSpec(fam, CLIENT[fam], VIP[fam]),
    udp: { sport, dport: 53 },
    payload: 'query',
  });

  /** Sends the client's datagram (local mode: a live flow); returns what the backend got. */
  function forward(fam: Fam, sport: number): Buffer {
    const r = runXdp(dp, buildPacket(client(fam, sport)));
    assert.equal(r.retval, XdpAction.PASS);
    return r.data;
  }

  /** An ICMP error from `from` about the datagram `sent` (an IP packet). */
  const error = (fam: Fam, from: string, sent: Buffer, icmp: PacketSpec['icmp'] = UNREACH[fam], extra = {}) =>
    buildPacket({ ...ipSpec(fam, from, CLIENT[fam], extra), icmp, payload: sent });

  /** A datagram from the client to a backend port that xlb never sent. */
  const stray = (fam: Fam, to: string, dport: number, sport = 45999) =>
    l3(buildPacket({ ...ipSpec(fam, CLIENT[fam], to), udp: { sport, dport }, payload: 'query' }));

  for (const fam of [4, 6] as const) {
    describe(`IPv${fam}`, () => {
      it('a port unreachable from the backend about a live flow is counted for that backend', () => {
        const sent = forward(fam, 40000);
        const before = count(BACKEND[fam], 5301, fam);
        const deltas = reasonDeltas(dp, () =>
          assert.equal(runXdp(dp, error(fam, BACKEND[fam], l3(sent))).retval, XdpAction.PASS),
        );
        assert.deepEqual(deltas, { icmp_reply: 1 }, 'translated for the client');
        assert.equal(count(BACKEND[fam], 5301, fam) - before, 1n);
        const id = dp.reconciler.applied.services.find((s) => s.name === `dns${fam}`)!.backends[0]!.id;
        const raw = dp.maps.icmpUnreach.getPerCpu(id)!.reduce((a, b) => a + b, 0n);
        assert.ok(raw >= 1n, `counted under backend id ${id} in icmp_unreach`);
      });

      it('one from a third-party address about a live flow is not counted (it is still translated)', () => {
        const sent = forward(fam, 40001);
        const before = count(BACKEND[fam], 5301, fam);
        const deltas = reasonDeltas(dp, () => runXdp(dp, error(fam, ROUTER[fam], l3(sent))));
        assert.deepEqual(deltas, { icmp_reply: 1 });
        assert.equal(count(BACKEND[fam], 5301, fam) - before, 0n);
      });

      it('one from the backend about a tuple with no live flow is not counted, and passes untouched', () => {
        const before = count(BACKEND[fam], 5301, fam);
        const frame = error(fam, BACKEND[fam], stray(fam, BACKEND[fam], 5301));
        let out!: Buffer;
        const deltas = reasonDeltas(dp, () => (out = runXdp(dp, frame).data));
        assert.deepEqual(deltas, { pass_not_udp: 1 });
        assertSame(out, frame, 'untouched');
        assert.equal(count(BACKEND[fam], 5301, fam) - before, 0n);
      });

      it('one from the backend about a flow that timed out is not counted', () => {
        const sent = forward(fam, 40002);
        const key = {
          src: addrTo16(BACKEND[fam]),
          dst: addrTo16(CLIENT[fam]),
          sport: 5301,
          dport: 40002,
          proto: 17,
          family: fam,
        };
        const entry = dp.maps.revNat.get(key);
        assert.ok(entry, 'the flow was recorded');
        dp.maps.revNat.set(key, { ...entry, last_seen_ns: EXPIRED_NS(), flags: 0 });
        const before = count(BACKEND[fam], 5301, fam);
        const deltas = reasonDeltas(dp, () => runXdp(dp, error(fam, BACKEND[fam], l3(sent))));
        assert.deepEqual(deltas, { pass_not_udp: 1 });
        assert.equal(count(BACKEND[fam], 5301, fam) - before, 0n);
      });

      const notCounted: [string, (sent: Buffer) => Buffer][] = [
        [
          'host unreachable',
          (sent) => error(fam, BACKEND[fam], l3(sent), { type: fam === 4 ? 3 : 1, code: 1 }),
        ],
        [
          'time exceeded',
          (sent) => error(fam, BACKEND[fam], l3(sent), { type: fam === 4 ? 11 : 3, code: 0 }),
        ],
        ['echo request', (sent) => error(fam, BACKEND[fam], l3(sent), { type: fam === 4 ? 8 : 128 })],
        [
          'a quote cut inside the UDP header',
          (sent) => error(fam, BACKEND[fam], l3(sent).subarray(0, 4 + (fam === 4 ? 20 : 40))),
        ],
        [
          'a port unreachable about a TCP segment',
          () =>
            error(
              fam,
              BACKEND[fam],
              l3(
                buildPacket({
                  ...ipSpec(fam, CLIENT[fam], BACKEND[fam]),
                  tcp: { sport: 40010, dport: 5301 },
                }),
              ),
            ),
        ],
      ];
      for (const [what, make] of notCounted) {
        it(`${what} about a live flow is not counted`, () => {
          const frame = make(forward(fam, 40010));
          const before = count(BACKEND[fam], 5301, fam);
          assert.equal(runXdp(dp, frame).retval, XdpAction.PASS);
          assert.equal(count(BACKEND[fam], 5301, fam) - before, 0n);
        });
      }

      // The outer datagram's length ends inside the quote (the frame goes on): the bytes a
      // translation would rewrite are not all covered by the ICMP checksum.
      const ihl = fam === 4 ? 20 : 40;
      for (const [where, quoted] of [
        ['inside the quoted IP header', ihl - 4],
        ['inside the quoted UDP header', ihl + 4],
      ] as const) {
        it(`an error whose outer length ends ${where} passes untouched, not counted`, () => {
          const sent = forward(fam, 40020);
          const length = ihl + 8 + quoted;
          const frame = error(
            fam,
            BACKEND[fam],
            l3(sent),
            UNREACH[fam],
            fam === 4 ? { totalLength: length } : { payloadLength: length - 40 },
          );
          const before = count(BACKEND[fam], 5301, fam);
          let out!: Buffer;
          const deltas = reasonDeltas(dp, () => {
            const r = runXdp(dp, frame);
            assert.equal(r.retval, XdpAction.PASS);
            out = r.data;
          });
          assert.deepEqual(deltas, { pass_not_udp: 1 });
          assertSame(out, frame, 'untouched');
          assert.equal(count(BACKEND[fam], 5301, fam) - before, 0n);
        });
      }
    });
  }

  it('5,000 forged errors change nothing; a genuine one for a new backend is counted afterwards', () => {
    const seed = testSeed();
    const r = rng(seed);
    const live = { 4: l3(forward(4, 41000)), 6: l3(forward(6, 41000)) };
    const before = dp.icmpUnreachable();
    for (let i = 0; i < 5000; i++) {
      const fam: Fam = i % 2 ? 6 : 4;
      // Anyone but the backend; client ports below those of the live flows (40000 and up).
      const addr = () =>
        fam === 4 ? `203.0.113.${int(r, 1, 254)}` : `fd00:203::${int(r, 1, 0xffff).toString(16)}`;
      const port = () => int(r, 1, 39999);
      const to = addr();
      const kind = i % 5;
      // Anyone about the live flow; the backend's address about strays; random sources about
      // random datagrams.
      const frame =
        kind === 0
          ? error(fam, addr(), live[fam])
          : kind === 1
            ? error(fam, BACKEND[fam], stray(fam, BACKEND[fam], 5301, port()))
            : error(fam, to, stray(fam, to, int(r, 1, 65535), port()));
      runXdp(dp, frame);
    }
    assert.deepEqual(dp.icmpUnreachable(), before, `XLB_TEST_SEED=${seed}: forged errors counted`);

    dp.apply(parseConfig(config(true), 'test-config'));
    for (const fam of [4, 6] as const) {
      // Maglev or round-robin may pick either backend: send until the new one gets a flow.
      let sent: Buffer | undefined;
      for (let port = 42000; port < 42100 && !sent; port++) {
        const out = forward(fam, port);
        if (out.includes(addrTo16(NEW_BACKEND[fam]).subarray(0, fam === 4 ? 4 : 16))) sent = out;
      }
      assert.ok(sent, 'a flow to the new backend');
      runXdp(dp, error(fam, NEW_BACKEND[fam], l3(sent)));
      assert.equal(count(NEW_BACKEND[fam], 5302, fam), 1n, `IPv${fam}: the new backend's error is counted`);
    }
  });
});
