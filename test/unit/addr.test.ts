// Unit tests for src/model/addr.ts: IPv4/IPv6/MAC parsing, RFC 5952 formatting, 16-byte map-key form.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addrFrom16,
  addrTo16,
  formatIP,
  formatMac,
  ipFamily,
  parseIP,
  parseIPv4,
  parseIPv6,
  parseMac,
} from '../../src/model/addr.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

describe('parseIPv4', () => {
  it('parses dotted quads to 4 bytes', () => {
    assert.deepEqual(parseIPv4('192.0.2.1'), Buffer.from([192, 0, 2, 1]));
    assert.deepEqual(parseIPv4('203.0.113.255'), Buffer.from([203, 0, 113, 255]));
    assert.deepEqual(parseIPv4('0.0.0.0'), Buffer.alloc(4));
    assert.deepEqual(parseIPv4('127.0.0.1'), Buffer.from([127, 0, 0, 1]));
    assert.deepEqual(parseIPv4('255.255.255.255'), Buffer.alloc(4, 255));
  });

  for (const bad of [
    '',
    '192.0.2',
    '192.0.2.1.5',
    '192.0.2.256',
    '192.0.2.-1',
    '192.0.2.01',
    '192.0.2.1 ',
    ' 192.0.2.1',
    '192.0..1',
    '192.0.2.0x1',
    '192.0.2.1/24',
    '2001:db8::1',
    '192.0.2.1.',
    '.192.0.2',
    '1.2.3.1000',
    '00.1.2.3',
    '1.2.3.４',
    '255.255.255.255.255',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseIPv4(bad), /invalid IPv4 address/);
    });
  }
});

describe('parseIPv6', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fd00:53::100', 'fd000053000000000000000000000100'],
    ['2001:DB8:0:0:0:0:0:1', '20010db8000000000000000000000001'],
    ['2001:db8:1:2:3:4:5:6', '20010db8000100020003000400050006'],
    ['2001:db8::', '20010db8000000000000000000000000'],
    ['2001:db8:1:2:3:4:5::', '20010db8000100020003000400050000'],
    ['::2001:db8:1:2:3:4:5', '00002001' + '0db80001000200030004' + '0005'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['::192.0.2.1', '000000000000000000000000c0000201'],
    ['2001:db8:1:2:3:4:192.0.2.1', '20010db8000100020003' + '0004c0000201'],
    ['2001:db8::203.0.113.7', '20010db8000000000000' + '0000cb007107'],
  ];
  for (const [text, bytes] of cases) {
    it(`parses ${text}`, () => {
      assert.equal(parseIPv6(text).toString('hex'), bytes);
    });
  }

  for (const bad of [
    '',
    ':',
    ':::',
    '1::2::3',
    '2001:db8:1:2:3:4:5:6:7',
    '2001:db8:1:2:3:4:5',
    '2001:db8::1::',
    ':2001:db8::1',
    '2001:db8::1:',
    '2001:db8::12345',
    '2001:db8::g',
    '2001:db8:1:2:3:4:5::6', // "::" must stand for at least one group
    '::ffff:192.0.2.256',
    '::ffff:192.0.2',
    '192.0.2.1::',
    '1.2.3.4',
    ':192.0.2.1',
    'fd00::1%eth0',
    '[fd00::1]',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseIPv6(bad), /invalid IPv6 address/);
    });
  }
});

describe('parseIP / ipFamily', () => {
  it('detects the family', () => {
    assert.equal(ipFamily('192.0.2.1'), 4);
    assert.equal(ipFamily('2001:db8::1'), 6);
    assert.equal(ipFamily('::ffff:192.0.2.1'), 6);
    assert.equal(ipFamily('example.com'), undefined);
    assert.equal(ipFamily('192.0.2.300'), undefined);
  });

  it('returns family and bytes', () => {
    assert.deepEqual(parseIP('198.51.100.7'), { family: 4, bytes: Buffer.from([198, 51, 100, 7]) });
    assert.deepEqual(parseIP('fd00::2'), {
      family: 6,
      bytes: hex('fd00 0000 0000 0000 0000 0000 0000 0002'),
    });
    assert.throws(() => parseIP('not an address'), /invalid IP address/);
  });
});

describe('formatIP', () => {
  it('formats IPv4', () => {
    assert.equal(formatIP(Buffer.from([192, 0, 2, 1])), '192.0.2.1');
    assert.equal(formatIP(new Uint8Array([198, 51, 100, 255])), '198.51.100.255');
  });

  // RFC 5952 section 4: lowercase, no leading zeros, "::" only for the longest run of >= 2 zero groups,
  // leftmost on ties. Section 5: IPv4-mapped addresses in mixed notation.
  const canonical: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['fd00:0053:0000:0000:0000:0000:0000:0100', 'fd00:53::100'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'], // single zero group kept
    ['2001:0db8:0000:0000:0001:0000:0000:0000', '2001:db8:0:0:1::'], // longest run wins
    ['2001:0000:0000:0001:0000:0000:0001:0001', '2001::1:0:0:1:1'], // tie: leftmost
    ['2001:0DB8:00AA:000B:0000:0000:0000:0000', '2001:db8:aa:b::'],
    ['0000:0000:0001:0000:0000:0000:0000:0000', '0:0:1::'],
    ['0000:0000:0000:0001:0000:0000:0000:0000', '0:0:0:1::'], // runs of 3 and 4: the longer one
    ['2001:0db8:0001:0002:0003:0004:0005:0006', '2001:db8:1:2:3:4:5:6'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'],
    ['0000:0000:0000:0000:0000:0000:c000:0201', '::c000:201'], // deprecated IPv4-compatible: plain hex
  ];
  for (const [full, text] of canonical) {
    it(`${full} -> ${text}`, () => {
      assert.equal(formatIP(hex(full)), text);
    });
  }

  it('round-trips canonical text through parse', () => {
    for (const [, text] of canonical) assert.equal(formatIP(parseIPv6(text)), text, `round trip of ${text}`);
  });

  it('rejects other lengths', () => {
    assert.throws(() => formatIP(new Uint8Array(5)), /expected 4 or 16 bytes, got 5/);
    assert.throws(() => formatIP(new Uint8Array(0)), /got 0/);
  });
});

describe('addrTo16 / addrFrom16', () => {
  it('puts IPv4 in the first 4 bytes followed by zeros (not v4-mapped)', () => {
    assert.equal(addrTo16('192.0.2.1').toString('hex'), 'c0000201' + '00'.repeat(12));
    assert.equal(addrTo16('127.0.0.1').toString('hex'), '7f000001' + '00'.repeat(12));
  });

  it('keeps IPv6 as its 16 bytes', () => {
    assert.equal(addrTo16('2001:db8::1').toString('hex'), '20010db8' + '00'.repeat(11) + '01');
    assert.equal(addrTo16('::ffff:192.0.2.1').toString('hex'), '00'.repeat(10) + 'ffffc0000201');
  });

  it('round-trips', () => {
    for (const a of ['192.0.2.1', '203.0.113.0', '0.0.0.0']) assert.equal(addrFrom16(addrTo16(a), 4), a);
    for (const a of ['2001:db8::1', 'fd00:53::100', '::']) assert.equal(addrFrom16(addrTo16(a), 6), a);
  });

  it('reads only the first 4 bytes for family 4', () => {
    const b = addrTo16('198.51.100.9');
    assert.equal(addrFrom16(b, 4), '198.51.100.9');
    assert.equal(addrFrom16(b, 6), 'c633:6409::', 'same bytes read as IPv6');
  });

  it('rejects bad input', () => {
    assert.throws(() => addrTo16('192.0.2.999'), /invalid IP address/);
    assert.throws(() => addrFrom16(new Uint8Array(4), 4), /expected 16 bytes, got 4/);
  });
});

describe('MAC addresses', () => {
  it('parses case-insensitively', () => {
    assert.equal(parseMac('aa:bb:cc:dd:ee:ff').toString('hex'), 'aabbccddeeff');
    assert.equal(parseMac('AA:Bb:0C:dD:00:01').toString('hex'), 'aabb0cdd0001');
  });

  it('formats lowercase with colons', () => {
    assert.equal(formatMac(Buffer.from([0x02, 0, 0, 0xab, 0xcd, 0x0f])), '02:00:00:ab:cd:0f');
    assert.equal(formatMac(parseMac('DE:AD:BE:EF:00:01')), 'de:ad:be:ef:00:01');
  });

  for (const bad of [
    '',
    'aa:bb:cc:dd:ee',
    'aa:bb:cc:dd:ee:ff:00',
    'aa-bb-cc-dd-ee-ff',
    'a:bb:cc:dd:ee:ff',
    'gg:bb:cc:dd:ee:ff',
    'aabbccddeeff',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseMac(bad), /invalid MAC address/);
    });
  }

  it('formatMac rejects wrong lengths', () => {
    assert.throws(() => formatMac(new Uint8Array(5)), /expected 6 bytes, got 5/);
  });
});
