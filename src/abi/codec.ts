// Fixed-layout struct codecs: the TypeScript side of the structs declared in
// bpf/xlb_shared.h. A codec lays its fields out with C's natural alignment, so the
// layout can be compared field by field with the object's BTF (see
// src/kernel/btf.ts and layoutMismatches below). Pure: no I/O.

export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'be16' | 'be32' | { bytes: number };

type FieldValue<K> = K extends 'u64' ? bigint : K extends { bytes: number } ? Buffer : number;

export type StructValue<F extends Record<string, FieldKind>> = { [K in keyof F]: FieldValue<F[K]> };

/** Fields named pad* may be left out when encoding (they are zero). */
type PadKeys<T> = { [K in keyof T]: K extends `pad${string}` ? K : never }[keyof T];
export type StructInput<T> = T extends object ? Omit<T, PadKeys<T>> & Partial<Pick<T, PadKeys<T>>> : T;

export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
}

export interface StructCodec<T> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly (FieldLayout & { kind: FieldKind })[];
  encode(value: StructInput<T>): Buffer;
  encodeInto(value: StructInput<T>, buf: Buffer, offset?: number): void;
  decode(buf: Uint8Array, offset?: number): T;
}

function sizeOf(kind: FieldKind): number {
  if (typeof kind === 'object') return kind.bytes;
  return { u8: 1, u16: 2, u32: 4, u64: 8, be16: 2, be32: 4 }[kind];
}

function alignOf(kind: FieldKind): number {
  return typeof kind === 'object' ? 1 : sizeOf(kind);
}

function write(buf: Buffer, off: number, kind: FieldKind, v: unknown, where: string): void {
  if (typeof kind === 'object') {
    const b = v as Uint8Array | undefined;
    if (b === undefined) return;
    if (!(b instanceof Uint8Array) || b.length > kind.bytes) {
      throw new TypeError(`${where}: expected at most ${kind.bytes} bytes`);
    }
    buf.set(b, off);
    return;
  }
  if (kind === 'u64') {
    buf.writeBigUInt64LE(BigInt((v as bigint | number | undefined) ?? 0n), off);
    return;
  }
  const n = (v as number | undefined) ?? 0;
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** (8 * sizeOf(kind))) {
    throw new RangeError(`${where}: ${String(v)} does not fit ${kind}`);
  }
  switch (kind) {
    case 'u8':
      buf.writeUInt8(n, off);
      break;
    case 'u16':
      buf.writeUInt16LE(n, off);
      break;
    case 'u32':
      buf.writeUInt32LE(n, off);
      break;
    case 'be16':
      buf.writeUInt16BE(n, off);
      break;
    case 'be32':
      buf.writeUInt32BE(n, off);
      break;
  }
}

function read(buf: Uint8Array, off: number, kind: FieldKind): unknown {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (typeof kind === 'object') return Buffer.from(b.subarray(off, off + kind.bytes));
  switch (kind) {
    case 'u8':
      return b.readUInt8(off);
    case 'u16':
      return b.readUInt16LE(off);
    case 'u32':
      return b.readUInt32LE(off);
    case 'u64':
      return b.readBigUInt64LE(off);
    case 'be16':
      return b.readUInt16BE(off);
    case 'be32':
      return b.readUInt32BE(off);
  }
}

/**
 * Declares a struct. Fields are laid out in order with natural alignment; C's
 * implicit padding is not allowed (declare `pad` fields), so that an unnoticed hole
 * shows up as a layout mismatch rather than as garbage in a map.
 */
export function struct<F extends Record<string, FieldKind>>(
  name: string,
  spec: F,
): StructCodec<StructValue<F>> {
  let offset = 0;
  let maxAlign = 1;
  const fields = Object.entries(spec).map(([field, kind]) => {
    const align = alignOf(kind);
    if (offset % align !== 0) {
      throw new Error(
        `struct ${name}: field ${field} at offset ${offset} is not ${align}-aligned; add padding`,
      );
    }
    maxAlign = Math.max(maxAlign, align);
    const f = { name: field, offset, size: sizeOf(kind), kind };
    offset += f.size;
    return f;
  });
  if (offset % maxAlign !== 0) {
    throw new Error(`struct ${name}: size ${offset} leaves tail padding to ${maxAlign}; add a pad field`);
  }
  const size = offset;
  const codec: StructCodec<StructValue<F>> = {
    name,
    size,
    fields,
    encodeInto(value, buf, at = 0) {
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        if (!(f.name in v) && !f.name.startsWith('pad')) {
          throw new TypeError(`struct ${name}: missing field ${f.name}`);
        }
        write(buf, at + f.offset, f.kind, v[f.name], `${name}.${f.name}`);
      }
    },
    encode(value) {
      const buf = Buffer.alloc(size);
      codec.encodeInto(value, buf);
      return buf;
    },
    decode(buf, at = 0) {
      if (buf.length - at < size)
        throw new RangeError(`struct ${name}: need ${size} bytes, got ${buf.length - at}`);
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.name] = read(buf, at + f.offset, f.kind);
      return out as StructValue<F>;
    },
  };
  return codec;
}

/** A scalar codec (u32 keys and values). */
export const u32: StructCodec<number> = {
  name: '__u32',
  size: 4,
  fields: [],
  encodeInto(v, buf, at = 0) {
    buf.writeUInt32LE(v, at);
  },
  encode(v) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  },
  decode(buf, at = 0) {
    return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readUInt32LE(at);
  },
};

/** A scalar u64 codec (per-CPU event counters). */
export const u64: StructCodec<bigint> = {
  name: '__u64',
  size: 8,
  fields: [],
  encodeInto(v, buf, at = 0) {
    buf.writeBigUInt64LE(v, at);
  },
  encode(v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  },
  decode(buf, at = 0) {
    return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readBigUInt64LE(at);
  },
};

export interface StructLayout {
  name: string;
  size: number;
  members: FieldLayout[];
}

/** Differences between a codec and the layout the object declares (empty = same). */
export function layoutMismatches(codec: StructCodec<unknown>, layout: StructLayout): string[] {
  const out: string[] = [];
  if (codec.size !== layout.size) out.push(`size: codec ${codec.size}, object ${layout.size}`);
  const names = new Set([...codec.fields.map((f) => f.name), ...layout.members.map((m) => m.name)]);
  for (const n of names) {
    const c = codec.fields.find((f) => f.name === n);
    const m = layout.members.find((f) => f.name === n);
    if (!c) out.push(`field ${n}: in the object, missing from the codec`);
    else if (!m) out.push(`field ${n}: in the codec, missing from the object`);
    else if (c.offset !== m.offset || c.size !== m.size) {
      out.push(
        `field ${n}: codec offset ${c.offset} size ${c.size}, object offset ${m.offset} size ${m.size}`,
      );
    }
  }
  return out;
}
