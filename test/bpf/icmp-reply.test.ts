// ICMP errors about nat and fullnat flows are translated back for the client, as replies
// are: the quoted datagram becomes the client's own (client -> service address and port),
// the outer source the service address when the backend sent the error, fullnat's outer
// destination the client; every checksum is checked from scratch by comparing with a frame
// built from nothing. Local-mode errors (on lo) are translated in place and passed to the
// stack. Errors about anything else pass untouched.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction } from '../../src/kernel/program.js';
import { FX, type FixtureNet } from '../../src/lab/fixture-net.js';
import { buildPacket, describePacket, parsePacket, type PacketSpec } from '../../src/testing/packet.js';
import { assertSame, fixtureLb, ipSpec, ttlSpec, type Fam, type FixtureLb } from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';

const vip = (n: number, fam: Fam) => (fam === 4 ? `192.0.2.${110 + n}` : `fd00:192::${110 + n}`);

const CONFIG = `
interface: lo
services:
${([4, 6] as const)
  .map(
    (f) => `
  - name: nat${f}
    vip: "${vip(0, f)}"
    port: 53
    mode: nat
    backends:
      - { address: "${FX.backend(1, f)}", port: 5321 }
  - name: fullnat${f}
    vip: "${vip(1, f)}"
    port: 53
    mode: fullnat
    snat: { address: "${FX.be0[f]}", ports: 21000-21015 }
    backends:
      - { address: "${FX.backend(2, f)}", port: 5322 }
  - name: dsr${f}
    vip: "${vip(2, f)}"
    port: 53
    mode: dsr
    backends:
      - { address: "${FX.backend(3, f)}" }
  - name: local${f}
    vip: "${vip(3, f)}"
    port: 53
    mode: local
    backends:
      - { address: "${FX.cl0[f]}", port: 5323 }`,
  )
  .join('')}
`;

const ip = ipSpec;
const ttl = ttlSpec;
/** The IP packet inside a frame: what an ICMP error quotes (all of it fits here). */
const l3 = (frame: Buffer) => frame.subarray(14);
const UNREACH = { 4: { type: 3, code: 3 }, 6: { type: 1, code: 4 } } as const;

describe(
  'xlb_xdp: ICMP errors about nat and fullnat flows go back to the client',
  { skip: rootSkip() },
  () => {
    let lb: FixtureLb;
    let dp: Dataplane;
    let fx: FixtureNet;

    before(() => {
      lb = fixtureLb(CONFIG, 'icmpx');
      ({ dp, fx } = lb);
    });
    after(() => lb?.close());

    const run = (frame: Buffer, ingress: number) => lb.run(frame, ingress);

    const client = (fam: Fam, dst: string, sport: number, extra: object = {}): PacketSpec => ({
      eth: { src: FX.clientMac, dst: FX.cl0Mac },
      ...ip(fam, FX.client[fam], dst, extra),
      udp: { sport, dport: 53 },
      payload: 'query over udp',
    });

    /** Sends the client's datagram through xlb; returns what went to the backend. */
    function forward(fam: Fam, service: number, sport: number): Buffer {
      const r = run(buildPacket(client(fam, vip(service, fam), sport)), fx.cl0);
      assert.equal(r.action, XdpAction.REDIRECT, describePacket(r.out));
      return r.out;
    }

    /** An ICMP error about `sent` (a frame xlb sent to a backend), from `from`, arriving on be0. */
    function error(fam: Fam, sent: Buffer, from: string, icmp: PacketSpec['icmp'] = UNREACH[fam]): Buffer {
      const p = parsePacket(sent);
      const to = fam === 4 ? p.ipv4!.src : p.ipv6!.src;
      return buildPacket({
        eth: { src: FX.backendMac(1), dst: FX.be0Mac },
        ...ip(fam, from, to),
        icmp,
        payload: l3(sent),
      });
    }

    for (const fam of [4, 6] as const) {
      describe(`IPv${fam}`, () => {
        it('nat: port unreachable from the backend reaches the client from the service address, quoting its own datagram', () => {
          const sent = forward(fam, 0, 45000);
          const { action, out, reasons } = run(error(fam, sent, FX.backend(1, fam)), fx.be0);
          assert.equal(action, XdpAction.REDIRECT, describePacket(out));
          assert.deepEqual(reasons, { icmp_reply: 1 });
          const expected = buildPacket({
            eth: { src: FX.cl0Mac, dst: FX.clientMac },
            ...ip(fam, vip(0, fam), FX.client[fam], ttl(fam, 63)),
            icmp: UNREACH[fam],
            // The client's datagram as the backend got it but for xlb's rewrite: the TTL xlb took stays taken.
            payload: l3(buildPacket(client(fam, vip(0, fam), 45000, ttl(fam, 63)))),
          });
          assertSame(out, expected, 'translated ICMP error');
        });

        it('nat: an error from a router on the way keeps the router as its source', () => {
          const sent = forward(fam, 0, 45001);
          const router = FX.peer(1, fam);
          const tooBig = fam === 4 ? { type: 3, code: 4, seq: 1400 } : { type: 2, code: 0, seq: 1400 };
          const { action, out, reasons } = run(error(fam, sent, router, tooBig), fx.be0);
          assert.equal(action, XdpAction.REDIRECT, describePacket(out));
          assert.deepEqual(reasons, { icmp_reply: 1 });
          assertSame(
            out,
            buildPacket({
              eth: { src: FX.cl0Mac, dst: FX.clientMac },
              ...ip(fam, router, FX.client[fam], ttl(fam, 63)),
              icmp: tooBig,
              payload: l3(buildPacket(client(fam, vip(0, fam), 45001, ttl(fam, 63)))),
            }),
            'translated error from a router (MTU field kept)',
          );
        });

        it('fullnat: the error addressed to the snat address goes to the client, quoting the client tuple', () => {
          const sent = forward(fam, 1, 45002);
          const p = parsePacket(sent);
          assert.equal(fam === 4 ? p.ipv4!.src : p.ipv6!.src, FX.be0[fam], 'fullnat source');
          const { action, out, reasons } = run(error(fam, sent, FX.backend(2, fam)), fx.be0);
          assert.equal(action, XdpAction.REDIRECT, describePacket(out));
          assert.deepEqual(reasons, { icmp_reply: 1 });
          assertSame(
            out,
            buildPacket({
              eth: { src: FX.cl0Mac, dst: FX.clientMac },
              ...ip(fam, vip(1, fam), FX.client[fam], ttl(fam, 63)),
              icmp: UNREACH[fam],
              payload: l3(buildPacket(client(fam, vip(1, fam), 45002, ttl(fam, 63)))),
            }),
            'translated fullnat ICMP error',
          );
        });

        it('local (on lo): the error is translated and passed to the stack, TTL untouched', () => {
          const fwd = run(buildPacket(client(fam, vip(3, fam), 45007)), fx.cl0);
          assert.equal(fwd.action, XdpAction.PASS);
          assert.deepEqual(fwd.reasons, { local: 1 });
          const frame = buildPacket({
            eth: { src: FX.cl0Mac, dst: FX.cl0Mac },
            ...ip(fam, FX.cl0[fam], FX.client[fam]),
            icmp: UNREACH[fam],
            payload: l3(fwd.out),
          });
          const { action, out, reasons } = run(frame, fx.cl0);
          assert.equal(action, XdpAction.PASS, describePacket(out));
          assert.deepEqual(reasons, { icmp_reply: 1 });
          assertSame(
            out,
            buildPacket({
              eth: { src: FX.cl0Mac, dst: FX.cl0Mac },
              ...ip(fam, vip(3, fam), FX.client[fam]),
              icmp: UNREACH[fam],
              payload: l3(buildPacket(client(fam, vip(3, fam), 45007))),
            }),
            'translated local ICMP error',
          );
        });

        it('time exceeded is translated too; the passive health count still sees the backend', () => {
          const sent = forward(fam, 0, 45003);
          const timeExceeded = fam === 4 ? { type: 11, code: 0 } : { type: 3, code: 0 };
          const { action, reasons } = run(error(fam, sent, FX.peer(2, fam), timeExceeded), fx.be0);
          assert.equal(action, XdpAction.REDIRECT);
          assert.deepEqual(reasons, { icmp_reply: 1 });
          const id = fam === 4 ? `${FX.backend(1, fam)}:5321` : `[${FX.backend(1, fam)}]:5321`;
          const before = dp.icmpUnreachable().get(id) ?? 0n;
          run(error(fam, forward(fam, 0, 45004), FX.backend(1, fam)), fx.be0);
          assert.equal(
            (dp.icmpUnreachable().get(id) ?? 0n) - before,
            1n,
            'port unreachable counted for the backend',
          );
        });

        it('an error from a source the kernel never forwards is not routed: passed untouched, pass_martian', () => {
          const sent = forward(fam, 0, 45010);
          const frame = error(fam, sent, fam === 4 ? '127.0.0.1' : 'ff02::1');
          const { action, out, reasons } = run(frame, fx.be0);
          assert.equal(action, XdpAction.PASS);
          assert.deepEqual(reasons, { pass_martian: 1 });
          assertSame(out, frame, 'untouched');
        });

        it('errors about no flow of xlb, other ICMP and truncated quotes pass untouched', () => {
          const sent = forward(fam, 0, 45005);
          const unknown = buildPacket({
            eth: { src: FX.backendMac(1), dst: FX.be0Mac },
            ...ip(fam, FX.backend(1, fam), FX.client[fam]),
            icmp: UNREACH[fam],
            // To the backend's port (past the port bitmap) from a client port xlb never used.
            payload: l3(
              buildPacket({
                ...ip(fam, FX.client[fam], FX.backend(1, fam)),
                udp: { sport: 45999, dport: 5321 },
              }),
            ),
          });
          const echo = buildPacket({
            eth: { src: FX.backendMac(1), dst: FX.be0Mac },
            ...ip(fam, FX.backend(1, fam), FX.client[fam]),
            icmp: { type: fam === 4 ? 8 : 128, code: 0, id: 1, seq: 1 },
            payload: l3(sent),
          });
          // A well-formed error whose quote ends inside the UDP header (4 of its 8 bytes).
          const cut = buildPacket({
            eth: { src: FX.backendMac(1), dst: FX.be0Mac },
            ...ip(fam, FX.backend(1, fam), FX.client[fam]),
            icmp: UNREACH[fam],
            payload: l3(sent).subarray(0, (fam === 4 ? 20 : 40) + 4),
          });
          // A dsr flow has no reply state in xlb: the backend answers the client itself.
          const dsr = forward(fam, 2, 45006);
          for (const [what, frame] of [
            ['unknown flow', unknown],
            ['echo request', echo],
            ['quote cut inside the UDP header', cut],
            ['about a dsr datagram', error(fam, dsr, FX.backend(3, fam))],
          ] as const) {
            const { action, out, reasons } = run(frame, fx.be0);
            assert.equal(action, XdpAction.PASS, what);
            assertSame(out, frame, what);
            assert.deepEqual(reasons, { pass_not_udp: 1 }, what);
          }
        });
      });
    }
  },
);
