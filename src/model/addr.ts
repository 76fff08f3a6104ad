// Address helpers: strict IPv4/IPv6/MAC parsing and formatting (RFC 5952 canonical IPv6 text),
// and the 16-byte address form used in BPF map keys (IPv4 in the first 4 bytes, rest zero).

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function invalid(kind: string, s: unknown): Error {
  return new Error(`invalid ${kind} address: ${JSON.stringify(s)}`);
}

/** Dotted quad, exactly four decimal octets 0-255. Leading zeros are rejected (they read as octal elsewhere). */
export function parseIPv4(s: string): Buffer {
  const out = tryParseIPv4(s);
  if (out === undefined) throw invalid('IPv4', s);
  return out;
}

/** parseIPv4 without the exception (config validation tries every address as IPv4 first). */
function tryParseIPv4(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || s.length < 7 || s.length > 15) return undefined;
  const out = Buffer.alloc(4);
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // a final '.' closes the last octet
    if (c === 46) {
      if (digits === 0 || dots === 4) return undefined;
      out[dots++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return dots === 4 ? out : undefined;
}

/** Parses hex groups separated by ':' (none may be empty). */
function parseGroups(text: string, s: string): number[] {
  if (text === '') return [];
  return text.split(':').map((g) => {
    if (!HEX_GROUP.test(g)) throw invalid('IPv6', s);
    return parseInt(g, 16);
  });
}

/** Splits a trailing embedded IPv4 address (RFC 4291 2.2 form 3) off the text. */
function splitEmbeddedIPv4(s: string): { head: string; tail: Buffer | undefined } {
  if (!s.includes('.')) return { head: s, tail: undefined };
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) throw invalid('IPv6', s);
  let tail: Buffer;
  try {
    tail = parseIPv4(s.slice(lastColon + 1));
  } catch {
    throw invalid('IPv6', s);
  }
  const head = s.slice(0, lastColon + 1);
  // "::1.2.3.4" keeps its "::"; "::ffff:1.2.3.4" drops the separator before the IPv4 part.
  return { head: head.endsWith('::') ? head : head.slice(0, -1), tail };
}

/** RFC 4291 2.2 text forms: full, "::"-compressed (at most once), and with an embedded IPv4 tail. */
export function parseIPv6(s: string): Buffer {
  if (typeof s !== 'string') throw invalid('IPv6', s);
  const { head, tail } = splitEmbeddedIPv4(s);
  const tailGroups = tail ? 2 : 0;
  const halves = head.split('::');
  let groups: number[];
  if (halves.length === 1) {
    groups = parseGroups(head, s);
    if (head === '' || groups.length + tailGroups !== 8) throw invalid('IPv6', s);
  } else if (halves.length === 2) {
    const left = parseGroups(halves[0] ?? '', s);
    const right = parseGroups(halves[1] ?? '', s);
    const missing = 8 - tailGroups - left.length - right.length;
    if (missing < 1) throw invalid('IPv6', s); // "::" stands for at least one zero group
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    throw invalid('IPv6', s);
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail) tail.copy(out, 12);
  return out;
}

export function ipFamily(s: string): 4 | 6 | undefined {
  try {
    return parseIP(s).family;
  } catch {
    return undefined;
  }
}

export function parseIP(s: string): { family: 4 | 6; bytes: Buffer } {
  const v4 = tryParseIPv4(s);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  if (typeof s === 'string' && s.includes(':')) {
    try {
      return { family: 6, bytes: parseIPv6(s) };
    } catch {
      // reported below as neither family
    }
  }
  throw invalid('IP', s);
}

/** The longest run of at least two zero groups, leftmost on ties (RFC 5952 4.2.1-4.2.3). */
function longestZeroRun(groups: number[]): { start: number; len: number } {
  let best = { start: -1, len: 0 };
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > best.len) best = { start, len: i - start };
      start = -1;
    }
  }
  return best.len >= 2 ? best : { start: -1, len: 0 };
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** RFC 5952 canonical text: lowercase, no leading zeros, longest zero run compressed. */
function formatIPv6(b: Uint8Array): string {
  // RFC 5952 5: IPv4-mapped addresses are written with the IPv4 part in dotted-quad form.
  if (isV4Mapped(b)) return `::ffff:${formatIPv4(b.subarray(12))}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  const text = groups.map((g) => g.toString(16));
  const run = longestZeroRun(groups);
  if (run.start < 0) return text.join(':');
  const left = text.slice(0, run.start).join(':');
  const right = text.slice(run.start + run.len).join(':');
  return `${left}::${right}`;
}

function formatIPv4(b: Uint8Array): string {
  return `${b[0] ?? 0}.${b[1] ?? 0}.${b[2] ?? 0}.${b[3] ?? 0}`;
}

/** 4 bytes → dotted quad; 16 bytes → RFC 5952 text. */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIPv4(bytes);
  if (bytes.length === 16) return formatIPv6(bytes);
  throw new Error(`formatIP: expected 4 or 16 bytes, got ${bytes.length}`);
}

/** BPF map key form: IPv4 in the first 4 bytes followed by 12 zero bytes (not v4-mapped). */
export function addrTo16(s: string): Buffer {
  const { family, bytes } = parseIP(s);
  if (family === 6) return bytes;
  const out = Buffer.alloc(16);
  bytes.copy(out, 0);
  return out;
}

export function addrFrom16(b: Uint8Array, family: 4 | 6): string {
  if (b.length !== 16) throw new Error(`addrFrom16: expected 16 bytes, got ${b.length}`);
  return family === 4 ? formatIPv4(b.subarray(0, 4)) : formatIPv6(b);
}

/** 'aa:bb:cc:dd:ee:ff', hex digits in either case. */
export function parseMac(s: string): Buffer {
  if (typeof s !== 'string' || !MAC.test(s)) throw invalid('MAC', s);
  return Buffer.from(s.replaceAll(':', ''), 'hex');
}

export function formatMac(b: Uint8Array): string {
  if (b.length !== 6) throw new Error(`formatMac: expected 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
