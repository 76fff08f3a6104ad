// Passive health signal: ICMP port-unreachable errors about datagrams sent to a backend are
// counted per (backend address, port) in icmp_unreach, and the error itself passes untouched.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Dataplane } from '../../src/control/dataplane.js';
import { XdpAction } from '../../src/kernel/program.js';
import { buildPacket } from '../../src/testing/packet.js';
import { assertSame, loadDataplane, reasonDeltas, runXdp } from '../helpers/bpf.js';
import { rootSkip } from '../helpers/privileged.js';

const CONFIG = `
interface: lo
services:
  - name: dns
    vip: 192.0.2.10
    port: 53
    backends:
      - { address: 198.51.100.1, port: 5301 }
`;

/** The first bytes of the datagram the error is about (IP header + 8 bytes of UDP), as a router quotes it. */
function quoted4(dst: string, dport: number, proto: 'udp' | 'tcp' = 'udp'): Buffer {
  const full = buildPacket({
    ipv4: { src: '203.0.113.50', dst },
    ...(proto === 'udp' ? { udp: { sport: 40000, dport } } : { tcp: { sport: 40000, dport } }),
    payload: 'query',
  });
  return full.subarray(14, 14 + 20 + 8);
}

function quoted6(dst: string, dport: number): Buffer {
  const full = buildPacket({
    ipv6: { src: 'fd00::50', dst },
    udp: { sport: 40000, dport },
    payload: 'query',
  });
  return full.subarray(14, 14 + 40 + 8);
}

describe('xlb_xdp: ICMP port unreachable (passive health)', { skip: rootSkip() }, () => {
  let dp: Dataplane;
  before(() => (dp = loadDataplane(CONFIG)));
  after(() => dp?.close());

  const count = (id: string) => dp.icmpUnreachable().get(id) ?? 0n;

  it('counts an IPv4 port unreachable per quoted destination and passes it unchanged', () => {
    const frame = buildPacket({
      ipv4: { src: '198.51.100.1', dst: '203.0.113.50' },
      icmp: { type: 3, code: 3 },
      payload: quoted4('198.51.100.1', 5301),
    });
    const before = count('198.51.100.1:5301');
    let r = runXdp(dp, frame);
    assert.equal(r.retval, XdpAction.PASS);
    assertSame(r.data, frame, 'ICMP error');
    r = runXdp(dp, frame);
    assert.equal(count('198.51.100.1:5301') - before, 2n);
  });

  it('counts an ICMPv6 port unreachable under [addr]:port', () => {
    const frame = buildPacket({
      ipv6: { src: 'fd00::11', dst: 'fd00::50' },
      icmp: { type: 1, code: 4 },
      payload: quoted6('fd00::11', 53),
    });
    const deltas = reasonDeltas(dp, () => assert.equal(runXdp(dp, frame).retval, XdpAction.PASS));
    assert.deepEqual(deltas, { pass_not_udp: 1 });
    assert.equal(count('[fd00::11]:53'), 1n);
  });

  const ignored: [string, Buffer][] = [
    [
      'host unreachable (code 1)',
      buildPacket({
        ipv4: { src: '198.51.100.1', dst: '203.0.113.50' },
        icmp: { type: 3, code: 1 },
        payload: quoted4('198.51.100.2', 5301),
      }),
    ],
    [
      'port unreachable about a TCP segment',
      buildPacket({
        ipv4: { src: '198.51.100.1', dst: '203.0.113.50' },
        icmp: { type: 3, code: 3 },
        payload: quoted4('198.51.100.3', 5301, 'tcp'),
      }),
    ],
    [
      'echo request',
      buildPacket({ ipv4: { src: '198.51.100.1', dst: '203.0.113.50' }, icmp: { type: 8 }, payload: 'ping' }),
    ],
    [
      'port unreachable with the quote cut short',
      buildPacket({
        ipv4: { src: '198.51.100.1', dst: '203.0.113.50' },
        icmp: { type: 3, code: 3 },
        payload: quoted4('198.51.100.4', 5301).subarray(0, 24),
      }),
    ],
    [
      'ICMPv6 destination unreachable, address unreachable (code 3)',
      buildPacket({
        ipv6: { src: 'fd00::12', dst: 'fd00::50' },
        icmp: { type: 1, code: 3 },
        payload: quoted6('fd00::12', 53),
      }),
    ],
  ];
  for (const [name, frame] of ignored) {
    it(`ignores ${name} (passes it, counts nothing)`, () => {
      const before = new Map(dp.icmpUnreachable());
      const r = runXdp(dp, frame);
      assert.equal(r.retval, XdpAction.PASS);
      assertSame(r.data, frame, name);
      assert.deepEqual(dp.icmpUnreachable(), before);
    });
  }
});
