// Unit tests for src/model/packet.ts: exact bytes of a hand-assembled frame, build→parse round trips for
// every PacketSpec option, checksums checked by an independent word sum, malformed/truncated input.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIPv4, parseIPv6 } from '../../src/model/addr.js';
import type { PacketSpec, ParsedPacket } from '../../src/testing/packet.js';
import {
  ETHERTYPE,
  IPPROTO,
  buildPacket,
  describePacket,
  hexdiff,
  ipv6FragmentData,
  parsePacket,
} from '../../src/testing/packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const V4 = { src: '192.0.2.1', dst: '198.51.100.1' };
const V6 = { src: '2001:db8::1', dst: 'fd00:53::100' };
const UDP = { sport: 1234, dport: 53 };

/** Independent of checksum.ts: one's complement sum of 16-bit words of the concatenation, folded. */
function naiveSum(...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += ((all[i] ?? 0) << 8) + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Pseudo-header assembled by hand (RFC 768 / RFC 8200 8.1), for the independent checks. */
function pseudo(family: 4 | 6, src: string, dst: string, proto: number, len: number): Buffer {
  if (family === 4) {
    const tail = Buffer.from([0, proto, len >> 8, len & 0xff]);
    return Buffer.concat([parseIPv4(src), parseIPv4(dst), tail]);
  }
  const tail = Buffer.from([len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 0, 0, 0, proto]);
  return Buffer.concat([parseIPv6(src), parseIPv6(dst), tail]);
}

function l4Bytes(frame: Buffer, p: ParsedPacket): Buffer {
  assert.ok(p.l4Offset !== undefined, `no L4 in ${describePacket(frame)}`);
  const end = p.ipv4 ? p.l3Offset + p.ipv4.totalLength : p.l3Offset + 40 + (p.ipv6?.payloadLength ?? 0);
  return frame.subarray(p.l4Offset, end);
}

/** Asserts the transport checksum verifies (sum of pseudo-header and segment is all ones). */
function assertL4ChecksumVerifies(frame: Buffer, proto: number): void {
  const p = parsePacket(frame);
  const seg = l4Bytes(frame, p);
  const ip = p.ipv4 ?? p.ipv6;
  assert.ok(ip);
  const ph = pseudo(p.ipv4 ? 4 : 6, ip.src, ip.dst, proto, seg.length);
  assert.equal(naiveSum(ph, seg), 0xffff, `checksum does not verify: ${describePacket(frame)}`);
}

describe('buildPacket: exact bytes', () => {
  it('builds a default IPv4/UDP frame identical to a hand-assembled one', () => {
    const frame = buildPacket({ ipv4: V4, udp: UDP, payload: 'abc' });
    const expected = hex(
      '020000000002 020000000001 0800' +
        '4500 001f 0000 0000 4011 8e98 c0000201 c6336401' + // checksum summed by hand
        '04d2 0035 000b 4a38' + // checksum summed by hand, see checksum.test.ts
        '616263',
    );
    assert.deepEqual(frame, expected, hexdiff(frame, expected));
  });

  it('puts the ethertype after one 802.1Q tag', () => {
    const frame = buildPacket({ eth: { vlan: 10 }, ipv4: V4, udp: UDP });
    assert.equal(frame.subarray(12, 18).toString('hex'), '8100000a0800');
  });

  it('uses 802.1ad outer and 802.1Q inner tags for QinQ', () => {
    const frame = buildPacket({ eth: { vlan: [100, 200] }, ipv6: V6, udp: UDP });
    assert.equal(frame.subarray(12, 22).toString('hex'), '88a80064810000c886dd');
  });

  it('encodes IPv6 version, traffic class, flow label, lengths and hop limit', () => {
    const frame = buildPacket({
      ipv6: { ...V6, trafficClass: 0xb8, flowLabel: 0x12345, hopLimit: 7 },
      udp: UDP,
    });
    assert.equal(frame.subarray(14, 22).toString('hex'), '6b812345' + '0008' + '11' + '07');
    assert.equal(frame.length, 14 + 40 + 8);
  });

  it('encodes generic extension headers and chains next headers', () => {
    const frame = buildPacket({
      ipv6: {
        ...V6,
        extHeaders: [
          { type: 0, data: hex('0102 0304') },
          { type: 60, data: hex('aa'.repeat(10)) },
        ],
      },
      udp: UDP,
    });
    assert.equal(frame[20], 0, 'IPv6 next header = hop-by-hop');
    assert.equal(frame.subarray(54, 62).toString('hex'), '3c00' + '01020304' + '0000', 'HBH: next 60, len 0');
    assert.equal(
      frame.subarray(62, 78).toString('hex'),
      '1101' + 'aa'.repeat(10) + '00000000',
      'DO: next 17, len 1',
    );
    assert.equal(frame.readUInt16BE(18), 8 + 16 + 8, 'payload length counts extension headers');
  });

  it('encodes a fixed 8-byte fragment header', () => {
    const frame = buildPacket({
      ipv6: { ...V6, extHeaders: [{ type: 44, data: ipv6FragmentData(0x1ff, true, 0xdeadbeef) }] },
      udp: UDP,
    });
    assert.equal(frame.subarray(54, 62).toString('hex'), '1100' + '0ff9' + 'deadbeef');
  });

  it('encodes ARP requests', () => {
    const frame = buildPacket({
      eth: { dst: 'ff:ff:ff:ff:ff:ff' },
      arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' },
    });
    const expected = hex(
      'ffffffffffff 020000000001 0806' + '0001 0800 06 04 0001 020000000001 c0000201 000000000000 c0000202',
    );
    assert.deepEqual(frame, expected, hexdiff(frame, expected));
  });

  it('writes IPv4 flags, fragment offset, TOS, id and TTL', () => {
    const frame = buildPacket({
      ipv4: { ...V4, df: true, mf: true, fragOffset: 0x123, tos: 0x2e, id: 0xbeef, ttl: 1, protocol: 17 },
    });
    assert.equal(frame.subarray(14, 23).toString('hex'), '452e' + '0014' + 'beef' + '6123' + '01');
  });
});

describe('build → parse round trips', () => {
  it('IPv4/UDP with defaults', () => {
    const frame = buildPacket({ ipv4: V4, udp: UDP, payload: 'hello' });
    const p = parsePacket(frame);
    assert.deepEqual(p.eth, { dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', vlans: [], type: 0x0800 });
    assert.equal(p.l3Offset, 14);
    assert.equal(p.l4Offset, 34);
    assert.equal(p.payloadOffset, 42);
    assert.deepEqual(p.ipv4, {
      ...V4,
      ttl: 64,
      id: 0,
      tos: 0,
      protocol: 17,
      ihl: 5,
      totalLength: 33,
      checksum: frame.readUInt16BE(24),
      checksumValid: true,
      df: false,
      mf: false,
      fragOffset: 0,
      options: Buffer.alloc(0),
    });
    assert.equal(naiveSum(frame.subarray(14, 34)), 0xffff, 'IPv4 header checksum verifies independently');
    assert.deepEqual(p.udp, { ...UDP, length: 13, checksum: frame.readUInt16BE(40), checksumValid: true });
    assert.equal(p.payload.toString(), 'hello');
    assertL4ChecksumVerifies(frame, 17);
  });

  it('custom MACs, VLAN and QinQ', () => {
    const eth = { src: 'AA:BB:CC:00:00:01', dst: '02:00:5e:00:53:01' };
    for (const vlan of [undefined, 10, 4095, [100, 200]]) {
      const p = parsePacket(buildPacket({ eth: { ...eth, vlan }, ipv4: V4, udp: UDP }));
      const vlans = vlan === undefined ? [] : Array.isArray(vlan) ? vlan : [vlan];
      assert.deepEqual(
        p.eth,
        { src: 'aa:bb:cc:00:00:01', dst: eth.dst, vlans, type: 0x0800 },
        `vlan ${JSON.stringify(vlan)}`,
      );
      assert.equal(p.l3Offset, 14 + 4 * vlans.length);
      assert.equal(p.udp?.checksumValid, true);
    }
  });

  it('IPv4 options are padded to 4 bytes and counted in IHL', () => {
    const frame = buildPacket({
      ipv4: { ...V4, options: hex('94 04 00 00 07 03 04') },
      udp: UDP,
      payload: 'x',
    });
    const p = parsePacket(frame);
    assert.equal(p.ipv4?.ihl, 7);
    assert.equal(p.ipv4?.options.toString('hex'), '94040000' + '07030400');
    assert.equal(p.ipv4?.totalLength, 28 + 8 + 1);
    assert.equal(p.ipv4?.checksumValid, true);
    assert.equal(naiveSum(frame.subarray(14, 42)), 0xffff, 'header checksum covers the options');
    assert.equal(p.l4Offset, 42);
    assert.deepEqual([p.udp?.sport, p.udp?.checksumValid, p.payload.toString()], [1234, true, 'x']);
  });

  it('IPv4 first fragment: UDP header parsed, checksum unverifiable', () => {
    const frame = buildPacket({
      ipv4: { ...V4, id: 77, mf: true },
      udp: { ...UDP, length: 8 + 1000, checksum: 0x1234 },
      payload: Buffer.alloc(16, 1),
    });
    const p = parsePacket(frame);
    assert.deepEqual([p.ipv4?.mf, p.ipv4?.fragOffset, p.ipv4?.id], [true, 0, 77]);
    assert.deepEqual(p.udp, { ...UDP, length: 1008, checksum: 0x1234, checksumValid: false });
    assert.equal(p.payload.length, 16, 'payload bounded by the IP total length');
  });

  it('IPv4 later fragment: no L4 header', () => {
    const frame = buildPacket({ ipv4: { ...V4, fragOffset: 3, protocol: 17 }, payload: 'raw fragment' });
    const p = parsePacket(frame);
    assert.deepEqual([p.ipv4?.mf, p.ipv4?.fragOffset, p.ipv4?.protocol], [false, 3, 17]);
    assert.equal(p.udp, undefined);
    assert.equal(p.l4Offset, undefined);
    assert.equal(p.payload.toString(), 'raw fragment');
  });

  it('IPv6/UDP with extension headers', () => {
    const extHeaders = [
      { type: 0 },
      { type: 43, data: hex('0002 0000 0000') },
      { type: 60, data: hex('01'.repeat(9)) },
    ];
    const frame = buildPacket({ ipv6: { ...V6, extHeaders }, udp: UDP, payload: 'q' });
    const p = parsePacket(frame);
    assert.deepEqual(p.ipv6, {
      ...V6,
      hopLimit: 64,
      nextHeader: 0,
      payloadLength: 8 + 8 + 16 + 9,
      flowLabel: 0,
      trafficClass: 0,
      extHeaders: [0, 43, 60],
      upperProtocol: 17,
    });
    assert.equal(p.l4Offset, 14 + 40 + 32);
    assert.deepEqual([p.udp?.length, p.udp?.checksumValid, p.payload.toString()], [9, true, 'q']);
    assertL4ChecksumVerifies(frame, 17);
  });

  it('IPv6 fragments: first parsed to UDP, later ones not', () => {
    const first = parsePacket(
      buildPacket({
        ipv6: { ...V6, extHeaders: [{ type: 44, data: ipv6FragmentData(0, true, 0xcafe) }] },
        udp: { ...UDP, length: 500, checksum: 0x1111 },
        payload: 'abcd',
      }),
    );
    assert.deepEqual(first.ipv6?.fragment, { offset: 0, more: true, id: 0xcafe });
    assert.deepEqual(
      [first.udp?.length, first.udp?.checksumValid, first.payload.toString()],
      [500, false, 'abcd'],
    );

    const later = parsePacket(
      buildPacket({
        ipv6: {
          ...V6,
          upperProtocol: 17,
          extHeaders: [{ type: 44, data: ipv6FragmentData(61, false, 0xcafe) }],
        },
        payload: 'tail',
      }),
    );
    assert.deepEqual(later.ipv6?.fragment, { offset: 61, more: false, id: 0xcafe });
    assert.deepEqual([later.ipv6?.extHeaders, later.ipv6?.upperProtocol], [[44], 17]);
    assert.equal(later.udp, undefined);
    assert.equal(later.l4Offset, undefined);
    assert.equal(later.payload.toString(), 'tail');
  });

  it('IPv6 extension headers without L4 end in "no next header"', () => {
    const p = parsePacket(buildPacket({ ipv6: { ...V6, extHeaders: [{ type: 60 }] } }));
    assert.deepEqual([p.ipv6?.nextHeader, p.ipv6?.upperProtocol, p.payload.length], [60, IPPROTO.NONE, 0]);
  });

  for (const family of [4, 6] as const) {
    it(`TCP over IPv${family}`, () => {
      const l3 = family === 4 ? { ipv4: V4 } : { ipv6: V6 };
      const frame = buildPacket({
        ...l3,
        tcp: { sport: 40000, dport: 80, flags: 0x12, seq: 0xfffffffe },
        payload: 'GET',
      });
      const p = parsePacket(frame);
      assert.deepEqual(p.tcp, {
        sport: 40000,
        dport: 80,
        seq: 0xfffffffe,
        flags: 0x12,
        checksum: frame.readUInt16BE((p.l4Offset ?? 0) + 16),
        checksumValid: true,
      });
      assert.equal(p.ipv4?.protocol ?? p.ipv6?.nextHeader, 6);
      assert.equal(p.payload.toString(), 'GET');
      assertL4ChecksumVerifies(frame, 6);
    });
  }

  it('ICMPv4 echo: checksum over the message only', () => {
    const frame = buildPacket({ ipv4: V4, icmp: { type: 8, id: 0x1234, seq: 9 }, payload: 'ping!' });
    const p = parsePacket(frame);
    assert.equal(p.ipv4?.protocol, 1);
    assert.deepEqual(p.icmp, {
      type: 8,
      code: 0,
      id: 0x1234,
      seq: 9,
      checksum: frame.readUInt16BE(36),
      checksumValid: true,
    });
    assert.equal(naiveSum(frame.subarray(34)), 0xffff, 'ICMPv4 message verifies without a pseudo-header');
    assert.equal(p.payload.toString(), 'ping!');
  });

  it('ICMPv6 echo: next header 58 and pseudo-header checksum', () => {
    const frame = buildPacket({ ipv6: V6, icmp: { type: 128, code: 0, id: 1, seq: 2 }, payload: 'ping6' });
    const p = parsePacket(frame);
    assert.equal(p.ipv6?.nextHeader, 58);
    assert.deepEqual([p.icmp?.type, p.icmp?.id, p.icmp?.seq, p.icmp?.checksumValid], [128, 1, 2, true]);
    assertL4ChecksumVerifies(frame, 58);
    assert.notEqual(naiveSum(frame.subarray(54)), 0xffff, 'message alone must not verify');
  });

  it('ICMP error types keep their code', () => {
    const p = parsePacket(buildPacket({ ipv4: V4, icmp: { type: 3, code: 4 } }));
    assert.deepEqual([p.icmp?.type, p.icmp?.code, p.icmp?.checksumValid], [3, 4, true]);
  });

  it('ARP request and reply', () => {
    const eth = { src: '02:00:00:00:00:aa', dst: '02:00:00:00:00:bb' };
    const req = parsePacket(buildPacket({ eth, arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' } }));
    assert.equal(req.eth.type, ETHERTYPE.ARP);
    assert.deepEqual(req.arp, {
      op: 1,
      senderMac: eth.src,
      senderIp: '192.0.2.1',
      targetMac: '00:00:00:00:00:00',
      targetIp: '192.0.2.2',
    });
    const reply = parsePacket(
      buildPacket({
        eth,
        arp: { op: 2, senderMac: '02:00:00:00:00:cc', senderIp: '192.0.2.2', targetIp: '192.0.2.1' },
      }),
    );
    assert.deepEqual(
      [reply.arp?.op, reply.arp?.senderMac, reply.arp?.targetMac],
      [2, '02:00:00:00:00:cc', eth.dst],
    );
  });

  it('raw ethertype with payload', () => {
    const frame = buildPacket({ eth: { type: 0x88b5, vlan: 5 }, payload: hex('0102 03') });
    const p = parsePacket(frame);
    assert.deepEqual([p.eth.type, p.eth.vlans, p.payload.toString('hex')], [0x88b5, [5], '010203']);
  });

  it('payload directly after IP with an explicit protocol', () => {
    const v4 = parsePacket(buildPacket({ ipv4: { ...V4, protocol: 47 }, payload: 'gre' }));
    assert.deepEqual([v4.ipv4?.protocol, v4.l4Offset, v4.payload.toString()], [47, 34, 'gre']);
    const v6 = parsePacket(buildPacket({ ipv6: { ...V6, nextHeader: 47 }, payload: 'gre' }));
    assert.deepEqual([v6.ipv6?.upperProtocol, v6.l4Offset, v6.payload.toString()], [47, 54, 'gre']);
  });

  it('IPv6 fields round trip', () => {
    const frame = buildPacket({
      ipv6: { ...V6, hopLimit: 1, flowLabel: 0xfffff, trafficClass: 0xff },
      udp: UDP,
    });
    const p = parsePacket(frame);
    assert.deepEqual([p.ipv6?.hopLimit, p.ipv6?.flowLabel, p.ipv6?.trafficClass], [1, 0xfffff, 0xff]);
  });

  for (const len of [0, 1, 2, 3, 7, 255, 1401]) {
    for (const family of [4, 6] as const) {
      it(`UDP over IPv${family} with a ${len}-byte payload`, () => {
        const payload = Buffer.from(Array.from({ length: len }, (_, i) => (i * 37 + 11) & 0xff));
        const l3 = family === 4 ? { ipv4: V4 } : { ipv6: V6 };
        const frame = buildPacket({ ...l3, udp: UDP, payload });
        const p = parsePacket(frame);
        assert.equal(p.udp?.length, 8 + len);
        assert.equal(p.udp?.checksumValid, true, describePacket(frame));
        assert.deepEqual(p.payload, payload);
        assertL4ChecksumVerifies(frame, 17);
      });
    }
  }

  it('string payloads are UTF-8', () => {
    const p = parsePacket(buildPacket({ ipv4: V4, udp: UDP, payload: 'é€' }));
    assert.equal(p.payload.toString('hex'), 'c3a9e282ac');
  });

  it('parse results do not alias the input frame', () => {
    const frame = buildPacket({ ipv4: V4, udp: UDP, payload: 'abc' });
    const p = parsePacket(frame);
    frame.fill(0);
    assert.equal(p.payload.toString(), 'abc');
  });
});

describe('padding and truncation', () => {
  it('pads short frames without counting the padding', () => {
    const frame = buildPacket({ ipv4: V4, udp: UDP, payload: 'ab', padTo: 60 });
    assert.equal(frame.length, 60);
    assert.ok(
      frame.subarray(44).every((b) => b === 0),
      'padding is zeros',
    );
    const p = parsePacket(frame);
    assert.deepEqual([p.ipv4?.totalLength, p.udp?.length, p.udp?.checksumValid], [30, 10, true]);
    assert.equal(p.payload.toString(), 'ab', 'payload excludes Ethernet padding');
  });

  it('does not pad frames that are already long enough', () => {
    const unpadded = buildPacket({ ipv6: V6, udp: UDP });
    assert.deepEqual(buildPacket({ ipv6: V6, udp: UDP, padTo: 60 }), unpadded);
  });

  it('pads ARP to the Ethernet minimum', () => {
    const frame = buildPacket({ arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' }, padTo: 60 });
    assert.equal(frame.length, 60);
    assert.equal(parsePacket(frame).arp?.targetIp, '192.0.2.2');
  });

  it('payload is bounded by the UDP length when IP says more', () => {
    const frame = buildPacket({
      ipv4: { ...V4, totalLength: 20 + 8 + 3 + 5 },
      udp: UDP,
      payload: 'abc',
      padTo: 60,
    });
    const p = parsePacket(frame);
    assert.deepEqual([p.udp?.length, p.udp?.checksumValid, p.payload.toString()], [11, true, 'abc']);
  });

  const specs: [string, PacketSpec][] = [
    ['IPv4/UDP', { eth: { vlan: 7 }, ipv4: { ...V4, options: hex('94040000') }, udp: UDP, payload: 'abc' }],
    ['IPv6/ext/UDP', { ipv6: { ...V6, extHeaders: [{ type: 0 }, { type: 44 }] }, udp: UDP, payload: 'abc' }],
    ['IPv4/TCP', { ipv4: V4, tcp: { sport: 1, dport: 2 } }],
    ['IPv6/ICMPv6', { ipv6: V6, icmp: { type: 128 } }],
    ['ARP', { arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' } }],
  ];
  for (const [name, spec] of specs) {
    it(`${name}: every truncation throws a "truncated" error`, () => {
      const full = buildPacket(spec);
      assert.doesNotThrow(() => parsePacket(full));
      for (let n = 0; n < full.length; n++) {
        const cut = buildPacket({ ...spec, truncateTo: n });
        assert.equal(cut.length, n);
        assert.throws(() => parsePacket(cut), /truncated/, `cut to ${n} of ${full.length} bytes`);
      }
    });
  }

  it('names the layer that is cut', () => {
    const full = buildPacket({ ipv4: V4, udp: UDP, payload: 'abcdef' });
    assert.throws(() => parsePacket(full.subarray(0, 10)), /truncated Ethernet header/);
    assert.throws(() => parsePacket(full.subarray(0, 30)), /truncated IPv4 header/);
    assert.throws(() => parsePacket(full.subarray(0, 40)), /truncated IPv4 packet \(total length\)/);
  });
});

describe('malformed input', () => {
  const cases: [string, PacketSpec, RegExp][] = [
    ['IHL below 5', { ipv4: { ...V4, ihl: 4 }, udp: UDP }, /IHL 4 < 5/],
    ['IHL beyond the frame', { ipv4: { ...V4, ihl: 15 }, udp: UDP }, /truncated IPv4 header with options/],
    ['IPv4 version 5', { ipv4: { ...V4, version: 5 }, udp: UDP }, /IPv4 header: version 5/],
    ['total length below IHL', { ipv4: { ...V4, totalLength: 19 }, udp: UDP }, /total length 19 < 20/],
    ['total length beyond frame', { ipv4: { ...V4, totalLength: 100 }, udp: UDP }, /truncated IPv4 packet/],
    [
      'IPv6 payload length beyond frame',
      { ipv6: { ...V6, payloadLength: 9 }, udp: UDP },
      /truncated IPv6 payload/,
    ],
    ['UDP length below 8', { ipv4: V4, udp: { ...UDP, length: 7 } }, /UDP header: length 7 < 8/],
    ['UDP length beyond IP', { ipv4: V4, udp: { ...UDP, length: 9 } }, /length 9 exceeds the 8 bytes/],
    [
      'IPv6 ethertype on IPv4',
      { eth: { type: ETHERTYPE.IPV6 }, ipv4: V4, udp: UDP },
      /truncated IPv6 header|version 4/,
    ],
  ];
  for (const [name, spec, error] of cases) {
    it(`${name} throws`, () => {
      assert.throws(() => parsePacket(buildPacket(spec)), error);
    });
  }

  it('IPv6 version field is checked', () => {
    const frame = buildPacket({ ipv6: V6, udp: UDP });
    frame[14] = 0x40;
    assert.throws(() => parsePacket(frame), /IPv6 header: version 4/);
  });

  it('TCP data offset below 5 throws', () => {
    const frame = buildPacket({ ipv4: V4, tcp: { sport: 1, dport: 2 } });
    frame[34 + 12] = 0x40;
    assert.throws(() => parsePacket(frame), /TCP header: data offset 4 < 5/);
  });

  it('reports bad IPv4 header checksums', () => {
    const p = parsePacket(buildPacket({ ipv4: { ...V4, checksum: 0x1234 }, udp: UDP }));
    assert.deepEqual([p.ipv4?.checksum, p.ipv4?.checksumValid, p.udp?.checksumValid], [0x1234, false, true]);
  });

  it('accepts the 0xffff form of a zero IPv4 header checksum (RFC 1071 verification)', () => {
    // Raising the id by the id-0 checksum C makes the header sum 0xffff, so the computed checksum is 0;
    // an incremental update may produce its one's complement twin 0xffff instead, which also verifies.
    const spec = { ipv4: { ...V4, protocol: 253 } };
    const id = buildPacket(spec).readUInt16BE(24);
    assert.equal(buildPacket({ ipv4: { ...spec.ipv4, id } }).readUInt16BE(24), 0, 'computed checksum is 0');
    const p = parsePacket(buildPacket({ ipv4: { ...spec.ipv4, id, checksum: 0xffff } }));
    assert.equal(p.ipv4?.checksumValid, true);
  });

  it('reports bad and absent UDP checksums', () => {
    const wrong = parsePacket(buildPacket({ ipv4: V4, udp: { ...UDP, checksum: 0x1234 } }));
    assert.equal(wrong.udp?.checksumValid, false);
    const zero4 = parsePacket(buildPacket({ ipv4: V4, udp: { ...UDP, checksum: 'zero' } }));
    assert.deepEqual(
      [zero4.udp?.checksum, zero4.udp?.checksumValid],
      [0, true],
      'IPv4: zero means no checksum',
    );
    const zero6 = parsePacket(buildPacket({ ipv6: V6, udp: { ...UDP, checksum: 'zero' } }));
    assert.deepEqual([zero6.udp?.checksum, zero6.udp?.checksumValid], [0, false], 'IPv6: zero is invalid');
  });

  it('detects a corrupted payload byte through the UDP checksum', () => {
    const frame = buildPacket({ ipv6: V6, udp: UDP, payload: 'abcdef' });
    frame.writeUInt8(frame.readUInt8(frame.length - 1) ^ 0x01, frame.length - 1);
    assert.equal(parsePacket(frame).udp?.checksumValid, false);
  });

  it('unsupported ARP hardware types throw', () => {
    const frame = buildPacket({ arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' } });
    frame[15] = 6;
    assert.throws(() => parsePacket(frame), /unsupported ARP/);
  });
});

describe('buildPacket rejects bad specs', () => {
  const cases: [string, PacketSpec, RegExp][] = [
    ['two L3 headers', { ipv4: V4, ipv6: V6 }, /at most one of ipv4, ipv6, arp/],
    ['two L4 headers', { ipv4: V4, udp: UDP, tcp: UDP }, /at most one of udp, tcp, icmp/],
    ['L4 without IP', { eth: { type: 0x0800 }, udp: UDP }, /need ipv4 or ipv6/],
    ['no L3 and no ethertype', { payload: 'x' }, /eth.type is required/],
    ['IPv4 without L4 or protocol', { ipv4: V4 }, /ipv4.protocol is required/],
    ['IPv6 without L4 or next header', { ipv6: V6 }, /ipv6.nextHeader is required/],
    ['long IPv4 options', { ipv4: { ...V4, options: new Uint8Array(41) }, udp: UDP }, /at most 40 bytes/],
    ['VLAN id above 4095', { eth: { vlan: 4096 }, ipv4: V4, udp: UDP }, /VLAN id must be an integer 0..4095/],
    ['three VLAN tags', { eth: { vlan: [1, 2, 3] }, ipv4: V4, udp: UDP }, /at most two tags/],
    ['port above 65535', { ipv4: V4, udp: { sport: 65536, dport: 1 } }, /udp.sport/],
    ['bad address', { ipv4: { src: '192.0.2.300', dst: V4.dst }, udp: UDP }, /invalid IPv4 address/],
    ['IPv6 address in ipv4', { ipv4: { src: V6.src, dst: V4.dst }, udp: UDP }, /invalid IPv4 address/],
    ['bad MAC', { eth: { src: '02:00:00:00:00' }, ipv4: V4, udp: UDP }, /invalid MAC address/],
    [
      'long fragment data',
      { ipv6: { ...V6, extHeaders: [{ type: 44, data: new Uint8Array(7) }] }, udp: UDP },
      /at most 6/,
    ],
  ];
  for (const [name, spec, error] of cases) {
    it(name, () => {
      assert.throws(() => buildPacket(spec), error);
    });
  }
});

describe('describePacket', () => {
  it('summarises UDP over VLAN/IPv4 on one line', () => {
    const frame = buildPacket({ eth: { vlan: 10 }, ipv4: V4, udp: UDP, payload: 'twelve bytes' });
    assert.equal(
      describePacket(frame),
      'vlan 10 IPv4 192.0.2.1:1234 > 198.51.100.1:53 ttl 64 udp len 12 csum ok',
    );
  });

  it('brackets IPv6 addresses and lists extension headers and fragments', () => {
    const frame = buildPacket({
      ipv6: { ...V6, hopLimit: 3, extHeaders: [{ type: 44, data: ipv6FragmentData(0, true, 5) }] },
      udp: { ...UDP, length: 100, checksum: 1 },
    });
    assert.equal(
      describePacket(frame),
      'IPv6 [2001:db8::1]:1234 > [fd00:53::100]:53 hlim 3 ext [44] frag id 5 off 0 + udp len 0 csum BAD',
    );
  });

  it('flags bad checksums and shows TCP flags, ICMP, ARP and raw frames', () => {
    const bad = describePacket(
      buildPacket({ eth: { vlan: [1, 2] }, ipv4: { ...V4, checksum: 0 }, udp: UDP }),
    );
    assert.match(bad, /^vlan 1\.2 IPv4 .* ip-csum BAD udp len 0 csum ok$/);
    assert.match(
      describePacket(buildPacket({ ipv4: V4, tcp: { sport: 1, dport: 2, flags: 0x12 } })),
      /tcp \[SA\] seq 0/,
    );
    assert.match(
      describePacket(buildPacket({ ipv6: V6, icmp: { type: 128 } })),
      /icmp6 type 128 code 0 len 0 csum ok/,
    );
    assert.equal(
      describePacket(buildPacket({ arp: { senderIp: '192.0.2.1', targetIp: '192.0.2.2' } })),
      'ARP request 192.0.2.1 (02:00:00:00:00:01) > 192.0.2.2 (00:00:00:00:00:00)',
    );
    assert.equal(
      describePacket(buildPacket({ eth: { type: 0x88b5 }, payload: 'x' })),
      'ethertype 0x88b5 len 1',
    );
  });

  it('describes unparseable frames instead of throwing', () => {
    const cut = buildPacket({ ipv4: V4, udp: UDP, truncateTo: 20 });
    assert.match(describePacket(cut), /^unparseable 20-byte frame: truncated IPv4 header/);
  });
});

describe('hexdiff', () => {
  const a = buildPacket({ ipv4: V4, udp: UDP, payload: 'abcdefgh' });

  it('says when frames are identical', () => {
    assert.equal(hexdiff(a, Buffer.from(a)), `frames are identical (${a.length} bytes)`);
  });

  it('lists differing offsets with context and the layer', () => {
    const b = Buffer.from(a);
    b[22] = 63; // TTL
    b.writeUInt8(b.readUInt8(24) ^ 0xff, 24); // IP checksum
    const text = hexdiff(a, b);
    assert.match(text, /at 2 offsets: 22 \(0x16\), 24 \(0x18\); first in IPv4 header/);
    assert.match(text, /a @14: 45 00 00 24 00 00 00 00 \[40\] 11 \[[0-9a-f]{2}\]/);
    assert.match(text, /b @14: 45 00 00 24 00 00 00 00 \[3f\] 11 \[[0-9a-f]{2}\]/);
  });

  it('reports payload differences and length mismatches', () => {
    const b = Buffer.concat([a, Buffer.from([0])]);
    b[a.length - 1] = 0x7a;
    const text = hexdiff(a, b);
    assert.match(text, new RegExp(`lengths ${a.length} vs ${a.length + 1}`));
    assert.match(text, /first in payload/);
    assert.match(text, /a @\d+: .* \[68\] \[--\]/);
  });

  it('caps the offset list', () => {
    const b = Buffer.from(a).fill(0xee, 42);
    assert.match(hexdiff(a, b), /at 8 offsets/);
    const c = Buffer.alloc(a.length, 0xaa);
    assert.match(
      hexdiff(a, c),
      new RegExp(`at ${a.length} offsets: 0 \\(0x0\\),.* and ${a.length - 8} more; first in Ethernet`),
    );
  });
});
