// The flow hash: which backend a packet goes to is tableIndex(flowHash(key, seed), len).
// The BPF data plane implements the same function in C, and tests compare the two bit
// for bit: change nothing here without changing the data plane.
//
// MurmurHash3 x86_32 (Austin Appleby, public domain). The flow key is hashed as ten
// little-endian 32-bit words, which is exactly MurmurHash3_x86_32 of its 40 bytes.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

const rotl32 = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/** One block of the body: mixes the 32-bit word `k` into `h`. */
function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = rotl32(k, 15);
  k = Math.imul(k, C2);
  h ^= k;
  h = rotl32(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** The final avalanche (fmix32). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 over `words` (uint32 values), seeded; returns uint32. */
export function murmur3Words(words: ArrayLike<number>, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < words.length; i++) h = mixBlock(h, (words[i] as number) >>> 0);
  h ^= 4 * words.length;
  return fmix32(h);
}

/** MurmurHash3 x86_32 over `bytes` (any length: the 1-3 trailing bytes are mixed as the tail), seeded; returns uint32. */
export function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  const len = bytes.length;
  const body = len - (len % 4);
  let h = seed >>> 0;
  for (let i = 0; i < body; i += 4) {
    const k =
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24)) >>>
      0;
    h = mixBlock(h, k);
  }
  const tail = len - body;
  if (tail > 0) {
    let k = bytes[body] as number;
    if (tail > 1) k |= (bytes[body + 1] as number) << 8;
    if (tail > 2) k |= (bytes[body + 2] as number) << 16;
    k = Math.imul(k, C1);
    k = rotl32(k, 15);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  return fmix32(h);
}

export type HashKey = '5-tuple' | 'src-addr' | 'src-addr-port';

export const HASH_KEYS: readonly HashKey[] = ['5-tuple', 'src-addr', 'src-addr-port'];

/** Size of struct xlb_flow_key. */
export const FLOW_KEY_BYTES = 40;

/** Offsets in struct xlb_flow_key. */
export const FlowKeyOffsets = {
  src: 0,
  dst: 16,
  sport: 32,
  dport: 34,
  proto: 36,
  family: 37,
  pad: 38,
} as const;

export interface FlowTuple {
  family: 4 | 6;
  /** 16 bytes (IPv4: the address in the first 4, as addrTo16 makes it); IPv4 also takes 4 bytes. */
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  proto: number;
}

function checkAddr(what: string, a: Uint8Array, family: 4 | 6): void {
  const ok = family === 4 ? a.length === 4 || a.length === 16 : a.length === 16;
  if (!ok) throw new Error(`flowKeyBytes: ${what} of IPv${family} is ${a.length} bytes, need 16`);
}

function checkInt(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new Error(`flowKeyBytes: ${what} ${v} is not in 0..${max}`);
}

/**
 * The flow key the data plane hashes: 40 bytes laid out as struct xlb_flow_key
 * {u8 src[16]; u8 dst[16]; be16 sport; be16 dport; u8 proto; u8 family; u8 pad[2];}.
 * IPv4 addresses are in the first 4 bytes of their 16, the rest zero (whatever the 16
 * bytes given hold there); ports are big-endian. Fields not part of the hash key are
 * zero: src-addr keeps only src and family; src-addr-port keeps src, sport and family;
 * 5-tuple keeps all (pad zero).
 */
export function flowKeyBytes(k: FlowTuple, key: HashKey): Buffer {
  if (k.family !== 4 && k.family !== 6)
    throw new Error(`flowKeyBytes: family ${String(k.family)} is not 4 or 6`);
  checkAddr('src', k.src, k.family);
  checkAddr('dst', k.dst, k.family);
  checkInt('sport', k.sport, 0xffff);
  checkInt('dport', k.dport, 0xffff);
  checkInt('proto', k.proto, 0xff);
  const alen = k.family === 4 ? 4 : 16;
  const out = Buffer.alloc(FLOW_KEY_BYTES);
  out.set(k.src.subarray(0, alen), FlowKeyOffsets.src);
  out[FlowKeyOffsets.family] = k.family;
  switch (key) {
    case 'src-addr':
      break;
    case 'src-addr-port':
      out.writeUInt16BE(k.sport, FlowKeyOffsets.sport);
      break;
    case '5-tuple':
      out.set(k.dst.subarray(0, alen), FlowKeyOffsets.dst);
      out.writeUInt16BE(k.sport, FlowKeyOffsets.sport);
      out.writeUInt16BE(k.dport, FlowKeyOffsets.dport);
      out[FlowKeyOffsets.proto] = k.proto;
      break;
    default: {
      const never: never = key;
      throw new Error(`flowKeyBytes: unknown hash key ${String(never)}`);
    }
  }
  return out;
}

/** murmur3Words of the 10 little-endian uint32 words of flowKeyBytes. */
export function flowHash(bytes: Uint8Array, seed: number): number {
  if (bytes.length !== FLOW_KEY_BYTES) {
    throw new Error(`flowHash: key is ${bytes.length} bytes, need ${FLOW_KEY_BYTES}`);
  }
  const words = new Uint32Array(FLOW_KEY_BYTES / 4);
  for (let i = 0; i < words.length; i++) {
    const o = 4 * i;
    words[i] =
      (bytes[o] as number) |
      ((bytes[o + 1] as number) << 8) |
      ((bytes[o + 2] as number) << 16) |
      ((bytes[o + 3] as number) << 24);
  }
  return murmur3Words(words, seed);
}

/** Index into a table of `len` entries: Math.floor(hash * len / 2^32) (exact in doubles: hash < 2^32, len < 2^21). */
export function tableIndex(hash: number, len: number): number {
  if (!Number.isInteger(len) || len < 1 || len >= 0x200000)
    throw new Error(`tableIndex: length ${len} is not in 1..2^21-1`);
  return Math.floor(((hash >>> 0) * len) / 4294967296);
}
