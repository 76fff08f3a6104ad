// Internet checksum (RFC 1071) computed from scratch over whole headers and segments.
// Deliberately not incremental: this is the oracle the data plane's RFC 1624 updates are tested against.

/** Folds carries above bit 15 back into the low 16 bits (end-around carry, RFC 1071 4.1). */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * 16-bit one's complement sum of the concatenation of `parts`, folded but not complemented.
 * Byte alignment carries across parts: an odd-length part leaves the next part starting on a low byte.
 * A trailing odd byte is padded with a zero low byte (RFC 1071 4.1).
 */
export function onesComplementSum(...parts: Uint8Array[]): number {
  let sum = 0;
  let high = true;
  for (const part of parts) {
    for (const byte of part) {
      sum += high ? byte << 8 : byte;
      high = !high;
    }
    sum = fold(sum); // keeps the accumulator small whatever the input size
  }
  return fold(sum);
}

export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesComplementSum(...parts) & 0xffff;
}

/** A copy of `bytes` with the 16-bit field at `offset` zeroed (the checksum field during computation). */
function withZeroField(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[offset] = 0;
  copy[offset + 1] = 0;
  return copy;
}

/** IPv4 header checksum over exactly the given header bytes, with the checksum field (bytes 10-11) as zero. */
export function ipv4HeaderChecksum(header: Uint8Array): number {
  if (header.length < 20) throw new Error(`ipv4HeaderChecksum: header is ${header.length} bytes, need >= 20`);
  return internetChecksum(withZeroField(header, 10));
}

function checkAddrs(family: 4 | 6, src: Uint8Array, dst: Uint8Array): void {
  const len = family === 4 ? 4 : 16;
  if (src.length !== len || dst.length !== len) {
    throw new Error(
      `IPv${family} pseudo-header needs ${len}-byte addresses, got ${src.length} and ${dst.length}`,
    );
  }
}

/**
 * Transport pseudo-header.
 * IPv4 (RFC 768/793): src, dst, zero, protocol, 16-bit length.
 * IPv6 (RFC 8200 8.1): src, dst, 32-bit upper-layer length, three zero bytes, next header.
 */
export function pseudoHeader(
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): Buffer {
  checkAddrs(family, src, dst);
  if (family === 4) {
    const h = Buffer.alloc(12);
    h.set(src, 0);
    h.set(dst, 4);
    h[9] = protocol;
    h.writeUInt16BE(length & 0xffff, 10);
    return h;
  }
  const h = Buffer.alloc(40);
  h.set(src, 0);
  h.set(dst, 16);
  h.writeUInt32BE(length >>> 0, 32);
  h[39] = protocol;
  return h;
}

/**
 * Checksum of a transport segment (TCP, UDP, ICMPv6) with its pseudo-header, the checksum field at
 * `checksumOffset` treated as zero. The pseudo-header length is the segment's byte length.
 * No zero substitution: see udpChecksum for UDP's rule.
 */
export function transportChecksum(
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  segment: Uint8Array,
  checksumOffset: number,
): number {
  if (segment.length < checksumOffset + 2) {
    throw new Error(`segment of ${segment.length} bytes has no checksum field at offset ${checksumOffset}`);
  }
  const pseudo = pseudoHeader(family, src, dst, protocol, segment.length);
  return internetChecksum(pseudo, withZeroField(segment, checksumOffset));
}

/**
 * UDP checksum of `udpSegment` (header + data; its checksum field is treated as zero).
 * A computed 0 is sent as 0xffff, since 0 means "no checksum" on IPv4 (RFC 768) and is
 * forbidden on IPv6 (RFC 8200 8.1).
 */
export function udpChecksum(family: 4 | 6, src: Uint8Array, dst: Uint8Array, udpSegment: Uint8Array): number {
  if (udpSegment.length < 8) throw new Error(`udpChecksum: segment is ${udpSegment.length} bytes, need >= 8`);
  const c = transportChecksum(family, src, dst, 17, udpSegment, 6);
  return c === 0 ? 0xffff : c;
}
