// Unit tests for src/model/checksum.ts against published vectors and hand-summed 16-bit words.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIPv4, parseIPv6 } from '../../src/model/addr.js';
import {
  internetChecksum,
  ipv4HeaderChecksum,
  onesComplementSum,
  pseudoHeader,
  transportChecksum,
  udpChecksum,
} from '../../src/testing/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const h16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** Independent reference: add 16-bit words given as numbers, fold, complement. */
function wordsChecksum(words: number[]): number {
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

describe('onesComplementSum', () => {
  // RFC 1071 section 3, numerical example.
  const rfc1071 = hex('00 01 f2 03 f4 f5 f6 f7');

  it('matches the RFC 1071 example (0xddf2)', () => {
    assert.equal(h16(onesComplementSum(rfc1071)), '0xddf2');
  });

  it('carries byte alignment across odd-length parts', () => {
    const splits = [1, 3, 5, 7];
    for (const at of splits) {
      const got = onesComplementSum(rfc1071.subarray(0, at), rfc1071.subarray(at));
      assert.equal(h16(got), '0xddf2', `split at byte ${at}`);
    }
    const three = onesComplementSum(rfc1071.subarray(0, 1), rfc1071.subarray(1, 4), rfc1071.subarray(4));
    assert.equal(h16(three), '0xddf2', 'split into 1+3+4 bytes');
    assert.equal(
      h16(onesComplementSum(new Uint8Array(0), rfc1071, new Uint8Array(0))),
      '0xddf2',
      'empty parts',
    );
  });

  it('pads a trailing odd byte with a zero low byte', () => {
    assert.equal(h16(onesComplementSum(hex('01'))), '0x0100');
    assert.equal(h16(onesComplementSum(hex('12 34 56'))), h16(0x1234 + 0x5600));
  });

  it('folds the end-around carry', () => {
    assert.equal(h16(onesComplementSum(hex('ff ff 00 01'))), '0x0001', '0xffff + 1 wraps to 1');
    assert.equal(h16(onesComplementSum(hex('ff ff ff ff'))), '0xffff');
    assert.equal(h16(onesComplementSum(hex('80 00 80 00'))), '0x0001');
    // 70,000 words of 0xffff: a sum far beyond 32 bits must still fold to 0xffff.
    assert.equal(h16(onesComplementSum(Buffer.alloc(140_000, 0xff))), '0xffff');
  });

  it('is 0 for empty or all-zero input', () => {
    assert.equal(onesComplementSum(), 0);
    assert.equal(onesComplementSum(new Uint8Array(9)), 0);
  });

  it('is byte-order independent (RFC 1071 2(B)): swapping bytes swaps the sum', () => {
    const swapped = hex('01 00 03 f2 f5 f4 f7 f6');
    assert.equal(h16(onesComplementSum(swapped)), '0xf2dd');
  });
});

describe('internetChecksum', () => {
  it('is the complement of the sum', () => {
    assert.equal(h16(internetChecksum(hex('00 01 f2 03 f4 f5 f6 f7'))), '0x220d');
    assert.equal(h16(internetChecksum()), '0xffff');
  });

  it('verifies to zero once the checksum is included', () => {
    const data = hex('00 01 f2 03 f4 f5 f6 f7 22 0d');
    assert.equal(h16(internetChecksum(data)), '0x0000');
  });
});

describe('ipv4HeaderChecksum', () => {
  // The widely published example header: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
  const header = hex('45 00 00 73 00 00 40 00 40 11 00 00 c0 a8 00 01 c0 a8 00 c7');

  it('computes the known checksum 0xb861', () => {
    assert.equal(h16(ipv4HeaderChecksum(header)), '0xb861');
  });

  it('ignores whatever the checksum field holds', () => {
    for (const junk of ['b8 61', 'ff ff', '12 34']) {
      const h = Buffer.from(header);
      hex(junk).copy(h, 10);
      assert.equal(h16(ipv4HeaderChecksum(h)), '0xb861', `field held ${junk}`);
    }
  });

  it('does not modify its input', () => {
    const h = Buffer.from(header);
    h.writeUInt16BE(0xabcd, 10);
    ipv4HeaderChecksum(h);
    assert.equal(h.readUInt16BE(10), 0xabcd);
  });

  it('covers options (IHL 6)', () => {
    const h = hex('46 00 00 1c 00 01 00 00 40 11 00 00 c0 00 02 01 c6 33 64 01 94 04 00 00');
    const words = [0x4600, 0x001c, 0x0001, 0x0000, 0x4011, 0xc000, 0x0201, 0xc633, 0x6401, 0x9404, 0x0000];
    assert.equal(h16(ipv4HeaderChecksum(h)), h16(wordsChecksum(words)));
  });

  it('detects a changed TTL', () => {
    const h = Buffer.from(header);
    h[8] = 0x3f;
    assert.notEqual(h16(ipv4HeaderChecksum(h)), '0xb861');
    assert.equal(h16(ipv4HeaderChecksum(h)), '0xb961', 'TTL -1 raises the checksum by 0x0100 (RFC 1624)');
  });

  it('rejects short headers', () => {
    assert.throws(() => ipv4HeaderChecksum(new Uint8Array(19)), /19 bytes, need >= 20/);
  });
});

describe('pseudoHeader', () => {
  it('lays out IPv4 as src, dst, 0, protocol, length', () => {
    const ph = pseudoHeader(4, parseIPv4('192.0.2.1'), parseIPv4('198.51.100.1'), 17, 11);
    assert.equal(ph.toString('hex'), 'c0000201' + 'c6336401' + '00' + '11' + '000b');
  });

  it('lays out IPv6 as src, dst, 32-bit length, 3 zero bytes, next header', () => {
    const ph = pseudoHeader(6, parseIPv6('2001:db8::1'), parseIPv6('fd00::2'), 58, 0x10203);
    const expected =
      '20010db8000000000000000000000001' + 'fd000000000000000000000000000002' + '00010203' + '000000' + '3a';
    assert.equal(ph.toString('hex'), expected);
  });

  it('rejects addresses of the wrong size', () => {
    assert.throws(
      () => pseudoHeader(4, parseIPv6('fd00::1'), parseIPv4('192.0.2.1'), 17, 8),
      /4-byte addresses/,
    );
    assert.throws(() => pseudoHeader(6, parseIPv4('192.0.2.1'), parseIPv6('fd00::1'), 17, 8), /16-byte/);
  });
});

describe('udpChecksum', () => {
  const v4src = parseIPv4('192.0.2.1');
  const v4dst = parseIPv4('198.51.100.1');
  // 192.0.2.1:1234 > 198.51.100.1:53, payload "abc" (odd length), checksum field junk.
  const v4seg = hex('04 d2 00 35 00 0b ee ee 61 62 63');

  it('matches a hand-summed IPv4 datagram with an odd-length payload', () => {
    const words = [
      ...[0xc000, 0x0201, 0xc633, 0x6401, 0x0011, 0x000b], // pseudo-header: src, dst, 0/17, length 11
      ...[0x04d2, 0x0035, 0x000b, 0x0000], // header, checksum as zero
      ...[0x6162, 0x6300], // "abc" padded with a zero byte
    ];
    assert.equal(h16(wordsChecksum(words)), '0x4a38', 'hand computation');
    assert.equal(h16(udpChecksum(4, v4src, v4dst, v4seg)), '0x4a38');
  });

  it('matches a hand-summed IPv6 datagram', () => {
    const src = parseIPv6('2001:db8::1');
    const dst = parseIPv6('fd00:53::100');
    const seg = hex('30 39 00 35 00 0a 00 00 ab cd'); // 12345 > 53, payload ab cd
    const words = [
      ...[0x2001, 0x0db8, 0, 0, 0, 0, 0, 0x0001],
      ...[0xfd00, 0x0053, 0, 0, 0, 0, 0, 0x0100],
      ...[0x0000, 0x000a, 0x0000, 0x0011], // 32-bit length 10, zeros, next header 17
      ...[0x3039, 0x0035, 0x000a, 0x0000, 0xabcd],
    ];
    assert.equal(h16(udpChecksum(6, src, dst, seg)), h16(wordsChecksum(words)));
  });

  it('verifies: summing the datagram with its checksum gives all ones', () => {
    const seg = Buffer.from(v4seg);
    seg.writeUInt16BE(udpChecksum(4, v4src, v4dst, seg), 6);
    const ph = pseudoHeader(4, v4src, v4dst, 17, seg.length);
    assert.equal(h16(onesComplementSum(ph, seg)), '0xffff');
  });

  it('sends a computed zero as 0xffff (RFC 768)', () => {
    // Choose the last payload word so the sum is exactly 0xffff and the complement 0.
    const seg = hex('04 d2 00 35 00 0c 00 00 61 62 00 00');
    const partial = onesComplementSum(pseudoHeader(4, v4src, v4dst, 17, seg.length), seg);
    seg.writeUInt16BE(0xffff - partial, 10);
    assert.equal(transportChecksum(4, v4src, v4dst, 17, seg, 6), 0, 'raw checksum is zero');
    assert.equal(h16(udpChecksum(4, v4src, v4dst, seg)), '0xffff');
  });

  it('depends on the addresses (pseudo-header is included)', () => {
    const other = udpChecksum(4, v4src, parseIPv4('198.51.100.2'), v4seg);
    assert.notEqual(h16(other), '0x4a38');
  });

  it('rejects segments shorter than a UDP header', () => {
    assert.throws(() => udpChecksum(4, v4src, v4dst, new Uint8Array(7)), /7 bytes, need >= 8/);
  });
});

describe('transportChecksum', () => {
  it('computes a TCP checksum with the field at offset 16', () => {
    const src = parseIPv4('203.0.113.1');
    const dst = parseIPv4('203.0.113.2');
    const seg = hex('c0 00 00 50 00 00 00 01 00 00 00 00 50 02 ff ff 99 99 00 00'); // SYN, junk checksum
    const words = [
      0xcb00, 0x7101, 0xcb00, 0x7102, 0x0006, 0x0014, 0xc000, 0x0050, 0, 1, 0, 0, 0x5002, 0xffff, 0, 0,
    ];
    assert.equal(h16(transportChecksum(4, src, dst, 6, seg, 16)), h16(wordsChecksum(words)));
  });

  it('rejects a checksum offset past the end', () => {
    const a = parseIPv4('192.0.2.1');
    assert.throws(
      () => transportChecksum(4, a, a, 6, new Uint8Array(17), 16),
      /no checksum field at offset 16/,
    );
  });
});
