// Struct layouts read from a BPF object's BTF, so that the TypeScript codecs can be
// checked against what the C compiler actually laid out.
import type { StructLayout } from '../abi/codec.js';
import { libbpf, readNative, type Ptr } from './libbpf.js';

const BTF_KIND_STRUCT = 4;

/** The layout of `struct name` in a BTF object, or undefined when it has none. */
export function structLayout(btf: Ptr, name: string): StructLayout | undefined {
  const b = libbpf();
  const id = b.btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
  if (id < 0) return undefined;
  const t = b.btf__type_by_id(btf, id);
  const head = readNative(t, 12);
  const info = head.readUInt32LE(4);
  const vlen = info & 0xffff;
  const kindFlag = info >>> 31;
  const size = head.readUInt32LE(8);
  const raw = readNative(t, 12 + 12 * vlen);
  const members = [];
  for (let i = 0; i < vlen; i++) {
    const at = 12 + 12 * i;
    const memberName = b.btf__name_by_offset(btf, raw.readUInt32LE(at));
    const type = raw.readUInt32LE(at + 4);
    const offBits = kindFlag ? raw.readUInt32LE(at + 8) & 0xffffff : raw.readUInt32LE(at + 8);
    members.push({ name: memberName, offset: offBits / 8, size: Number(b.btf__resolve_size(btf, type)) });
  }
  return { name, size, members };
}

const BTF_KIND_ENUM = 6;

/** The constants of `enum name` in a BTF object, or undefined when it has none. */
export function enumValues(btf: Ptr, name: string): Map<string, number> | undefined {
  const b = libbpf();
  const id = b.btf__find_by_name_kind(btf, name, BTF_KIND_ENUM);
  if (id < 0) return undefined;
  const t = b.btf__type_by_id(btf, id);
  const vlen = readNative(t, 12).readUInt32LE(4) & 0xffff;
  const raw = readNative(t, 12 + 8 * vlen);
  const out = new Map<string, number>();
  for (let i = 0; i < vlen; i++) {
    out.set(b.btf__name_by_offset(btf, raw.readUInt32LE(12 + 8 * i)), raw.readInt32LE(16 + 8 * i));
  }
  return out;
}
