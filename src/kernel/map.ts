// BPF maps by file descriptor: raw (Buffer keys and values) and typed (through a
// codec). A map comes from a loaded object, from a pin in bpffs, or is created here
// (the inner maps of a map-in-map). Per-CPU maps read and write one value per
// possible CPU.
import { check, kernelError, pinError } from './errors.js';
import { lastErrno, libbpf } from './libbpf.js';
import { constants } from 'node:os';

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  DEVMAP_HASH: 25,
} as const;

const PERCPU_TYPES = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  21,
]);

export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
export const BPF_F_INNER_MAP = 1 << 12;
/** An array map that userspace can mmap (its entries then sit at a stride of value_size rounded to 8). */
export const BPF_F_MMAPABLE = 1 << 10;

const PROT_READ_WRITE = 0x3;
const MAP_SHARED = 0x1;
const MAP_FAILED = 0xffffffffffffffffn;
/** The mmap offsets of a BPF array are in pages: the system's page size (4 KiB on x86-64, up to
 * 64 KiB on arm64 and ppc64le kernels). */
const SC_PAGESIZE = 30;
let pageSize = 0;
export function page(): number {
  if (pageSize === 0) {
    const n = libbpf().sysconf(SC_PAGESIZE);
    pageSize = n > 0 ? n : 4096;
  }
  return pageSize;
}

export interface MapInfo {
  name: string;
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
  possibleCpus ??= check('libbpf_num_possible_cpus', libbpf().libbpf_num_possible_cpus());
  return possibleCpus;
}

/** Reads struct bpf_map_info of a map fd (layout: include/uapi/linux/bpf.h). */
export function mapInfoByFd(fd: number): MapInfo {
  const buf = Buffer.alloc(128);
  const len = [buf.length];
  check('bpf_obj_get_info_by_fd(map)', libbpf().bpf_obj_get_info_by_fd(fd, buf, len));
  const nameEnd = buf.indexOf(0, 24);
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12),
    maxEntries: buf.readUInt32LE(16),
    flags: buf.readUInt32LE(20),
    name: buf.toString('latin1', 24, nameEnd < 0 || nameEnd > 40 ? 40 : nameEnd),
  };
}

export class BpfMap {
  readonly perCpu: boolean;
  /** Bytes of one lookup result: value_size, or value_size rounded to 8 × CPUs. */
  readonly valueBufferSize: number;
  private closed = false;

  constructor(
    readonly fd: number,
    readonly info: MapInfo,
    /** Whether close() releases the fd (false for maps owned by a BpfObject). */
    private readonly ownsFd: boolean,
  ) {
    this.perCpu = PERCPU_TYPES.has(info.type);
    this.valueBufferSize = this.perCpu
      ? Math.ceil(info.valueSize / 8) * 8 * numPossibleCpus()
      : info.valueSize;
  }

  get name(): string {
    return this.info.name;
  }

  /** Opens a map pinned in bpffs. */
  static fromPin(path: string): BpfMap {
    const fd = libbpf().bpf_obj_get(path);
    if (fd < 0) throw pinError(`open pinned map ${path} (bpf_obj_get)`, fd, path, 'open');
    return new BpfMap(fd, mapInfoByFd(fd), true);
  }

  /** Opens a map by kernel id (e.g. an inner map found in a map-in-map). */
  static fromId(id: number): BpfMap {
    const fd = libbpf().bpf_map_get_fd_by_id(id);
    if (fd < 0) throw kernelError(`bpf_map_get_fd_by_id(${id})`, fd);
    return new BpfMap(fd, mapInfoByFd(fd), true);
  }

  /** Creates a map, e.g. an inner array (flags BPF_F_INNER_MAP) of a map-in-map. */
  static create(
    type: number,
    name: string,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    flags = 0,
  ): BpfMap {
    const b = libbpf();
    const opts = { sz: 48, map_flags: flags };
    const fd = b.bpf_map_create(type, name, keySize, valueSize, maxEntries, opts);
    if (fd < 0) throw kernelError(`bpf_map_create(${name}, ${maxEntries} entries)`, fd);
    return new BpfMap(fd, mapInfoByFd(fd), true);
  }

  private op(what: string): string {
    return `${what} on map '${this.info.name}'`;
  }

  /** The value for `key`, or undefined when there is none. */
  lookup(key: Uint8Array): Buffer | undefined {
    this.checkKey(key);
    const value = Buffer.alloc(this.valueBufferSize);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -constants.errno.ENOENT) return undefined;
    if (rc < 0) throw kernelError(this.op('lookup'), rc);
    return value;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.ANY): void {
    this.checkKey(key);
    if (value.length !== this.valueBufferSize) {
      throw new RangeError(
        `map '${this.info.name}': value is ${value.length} bytes, the map takes ${this.valueBufferSize}`,
      );
    }
    const rc = libbpf().bpf_map_update_elem(this.fd, key, value, flags);
    if (rc < 0) throw kernelError(this.op('update'), rc);
  }

  /**
   * Writes many entries in one system call (BPF_MAP_UPDATE_BATCH): `keys` and `values`
   * are the entries laid end to end. For map-in-map types the kernel waits for running
   * programs once per call instead of once per entry.
   */
  updateBatch(keys: Uint8Array, values: Uint8Array, flags: number = UpdateFlags.ANY): void {
    const count = keys.length / this.info.keySize;
    if (!Number.isInteger(count) || values.length !== count * this.valueBufferSize) {
      throw new RangeError(
        `map '${this.info.name}': batch of ${keys.length} key bytes and ${values.length} value bytes does not fit`,
      );
    }
    if (count === 0) return;
    if (flags !== UpdateFlags.ANY) throw new RangeError('updateBatch: only UpdateFlags.ANY is supported');
    const n = [count];
    const rc = libbpf().bpf_map_update_batch(this.fd, keys, values, n, null);
    if (rc < 0) throw kernelError(this.op(`update batch (${n[0]} of ${count} written)`), rc);
  }

  /**
   * Overwrites every entry of a BPF_F_MMAPABLE array through a shared mapping: one copy in
   * place of one kernel update per entry (a 16,381-entry table: ~0.2 ms instead of ~5 ms).
   * `values` holds all max_entries values, each at a stride of value_size rounded up to 8.
   * Readers see each 4-byte value change atomically, not the whole array at once: write only
   * arrays no program reads yet (a fresh inner map before it enters its outer map).
   */
  writeMmapable(values: Uint8Array): void {
    const stride = Math.ceil(this.info.valueSize / 8) * 8;
    const len = this.info.maxEntries * stride;
    if (this.info.type !== MapType.ARRAY || (this.info.flags & BPF_F_MMAPABLE) === 0) {
      throw new RangeError(`map '${this.info.name}' is not an array created with BPF_F_MMAPABLE`);
    }
    if (values.length !== len) {
      throw new RangeError(
        `map '${this.info.name}': ${values.length} bytes given, its ${this.info.maxEntries} entries take ${len}`,
      );
    }
    const b = libbpf();
    const addr = b.mmap(null, len, PROT_READ_WRITE, MAP_SHARED, this.fd, 0);
    if (addr === MAP_FAILED || addr === -1n) throw kernelError(this.op(`mmap ${len} bytes`), -lastErrno());
    try {
      b.memcpyTo(addr, values, len);
    } finally {
      b.munmap(addr, len);
    }
  }

  /**
   * Overwrites runs of entries of a BPF_F_MMAPABLE array through shared mappings: each
   * `values` (entries at a stride of value_size rounded up to 8) from entry `index` on. One
   * copy per run, whatever its length, and no system call per entry. Readers see each 4-byte
   * value change atomically, not a run at once: write only entries no program reads.
   */
  writeMmapableAt(runs: readonly { index: number; values: Uint8Array }[]): void {
    const stride = Math.ceil(this.info.valueSize / 8) * 8;
    const len = this.info.maxEntries * stride;
    if (this.info.type !== MapType.ARRAY || (this.info.flags & BPF_F_MMAPABLE) === 0) {
      throw new RangeError(`map '${this.info.name}' is not an array created with BPF_F_MMAPABLE`);
    }
    for (const r of runs) {
      const at = r.index * stride;
      if (
        !Number.isInteger(r.index) ||
        r.index < 0 ||
        r.values.length % stride !== 0 ||
        at + r.values.length > len
      ) {
        throw new RangeError(
          `map '${this.info.name}': ${r.values.length} bytes at entry ${r.index} do not fit its ${this.info.maxEntries} entries`,
        );
      }
    }
    // Each run through a mapping of the pages it covers only: the kernel maps every page of a
    // BPF array's mapping at mmap time, so mapping a large array whole costs its size each time.
    const b = libbpf();
    const PAGE = page();
    for (const r of runs) {
      if (r.values.length === 0) continue;
      const at = r.index * stride;
      const from = Math.floor(at / PAGE) * PAGE;
      const to = Math.min(Math.ceil((at + r.values.length) / PAGE) * PAGE, Math.ceil(len / PAGE) * PAGE);
      const addr = b.mmap(null, to - from, PROT_READ_WRITE, MAP_SHARED, this.fd, from);
      if (addr === MAP_FAILED || addr === -1n) {
        throw kernelError(this.op(`mmap ${to - from} bytes at ${from}`), -lastErrno());
      }
      try {
        b.memcpyTo(addr + BigInt(at - from), r.values, r.values.length);
      } finally {
        b.munmap(addr, to - from);
      }
    }
  }

  /**
   * The values of keys 0..count-1 of an array or per-CPU array, read with BPF_MAP_LOOKUP_BATCH
   * (a few system calls instead of one per key): key i's value at i × valueBufferSize.
   */
  lookupArrayPrefix(count: number): Buffer {
    const { type, keySize, maxEntries } = this.info;
    if ((type !== MapType.ARRAY && type !== MapType.PERCPU_ARRAY) || keySize !== 4) {
      throw new RangeError(`map '${this.info.name}': lookupArrayPrefix reads array maps only`);
    }
    if (!Number.isInteger(count) || count < 0 || count > maxEntries) {
      throw new RangeError(`map '${this.info.name}': ${count} keys asked, it has ${maxEntries}`);
    }
    const out = Buffer.alloc(count * this.valueBufferSize);
    const b = libbpf();
    const keys = Buffer.alloc(4 * count);
    const cursor = Buffer.alloc(4);
    let done = 0;
    while (done < count) {
      const n = [count - done];
      const rc = b.bpf_map_lookup_batch(
        this.fd,
        done === 0 ? null : cursor,
        cursor,
        keys.subarray(4 * done),
        out.subarray(done * this.valueBufferSize),
        n,
        null,
      );
      // Arrays hand out keys in order; ENOENT means the end of the map was reached.
      if (rc < 0 && rc !== -constants.errno.ENOENT)
        throw kernelError(this.op(`lookup batch (${done} of ${count} read)`), rc);
      done += n[0] ?? 0;
      if (rc < 0 || (n[0] ?? 0) === 0) break;
    }
    if (done < count)
      throw kernelError(this.op(`lookup batch (${done} of ${count} read)`), -constants.errno.EIO);
    return out;
  }

  /** Removes many keys in one system call; keys that are absent are an error (ENOENT). */
  deleteBatch(keys: Uint8Array): void {
    const count = keys.length / this.info.keySize;
    if (count === 0) return;
    const n = [count];
    const rc = libbpf().bpf_map_delete_batch(this.fd, keys, n, null);
    if (rc < 0) throw kernelError(this.op(`delete batch (${n[0]} of ${count} removed)`), rc);
  }

  /** Removes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.checkKey(key);
    const rc = libbpf().bpf_map_delete_elem(this.fd, key);
    if (rc === -constants.errno.ENOENT) return false;
    if (rc < 0) throw kernelError(this.op('delete'), rc);
    return true;
  }

  /**
   * Every key, in the kernel's order. While the map changes keys may be skipped or
   * repeated — and updating keys of a hash map while walking it may revisit them
   * endlessly: collect first, then write.
   */
  *keys(): Generator<Buffer> {
    const b = libbpf();
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.info.keySize);
      const rc = b.bpf_map_get_next_key(this.fd, prev, next);
      if (rc === -constants.errno.ENOENT) return;
      if (rc < 0) throw kernelError(this.op('get_next_key'), rc);
      yield next;
      prev = next;
    }
  }

  *entries(): Generator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) yield [key, value];
    }
  }

  /** Pins the map at `path` in bpffs. */
  pin(path: string): void {
    const rc = libbpf().bpf_obj_pin(this.fd, path);
    if (rc < 0) throw pinError(`pin map '${this.info.name}' at ${path}`, rc, path, 'make');
  }

  close(): void {
    if (this.ownsFd && !this.closed) {
      libbpf().close(this.fd);
      this.closed = true;
    }
  }

  private checkKey(key: Uint8Array): void {
    if (key.length !== this.info.keySize) {
      throw new RangeError(
        `map '${this.info.name}': key is ${key.length} bytes, the map takes ${this.info.keySize}`,
      );
    }
  }
}

/** Splits a per-CPU lookup result into one buffer per CPU. */
export function perCpuValues(map: BpfMap, raw: Buffer): Buffer[] {
  const stride = Math.ceil(map.info.valueSize / 8) * 8;
  const out: Buffer[] = [];
  for (let off = 0; off < raw.length; off += stride) out.push(raw.subarray(off, off + map.info.valueSize));
  return out;
}

/** Joins per-CPU values into the buffer the kernel expects for an update. */
export function perCpuBuffer(map: BpfMap, values: Uint8Array[]): Buffer {
  const stride = Math.ceil(map.info.valueSize / 8) * 8;
  const buf = Buffer.alloc(map.valueBufferSize);
  values.forEach((v, i) => buf.set(v, i * stride));
  return buf;
}
