// A BpfMap seen through codecs: keys and values as objects, per-CPU values as arrays.
import type { StructCodec, StructInput } from '../abi/codec.js';
import type { BpfMap } from './map.js';
import { UpdateFlags, numPossibleCpus, perCpuBuffer, perCpuValues } from './map.js';

export class TypedMap<K, V> {
  constructor(
    readonly raw: BpfMap,
    readonly key: StructCodec<K>,
    readonly value: StructCodec<V>,
  ) {
    if (raw.info.keySize !== key.size || raw.info.valueSize !== value.size) {
      throw new Error(
        `map '${raw.name}' has key/value ${raw.info.keySize}/${raw.info.valueSize} bytes, ` +
          `codecs ${key.name}/${value.name} have ${key.size}/${value.size}: the BPF object and xlb disagree (rebuild)`,
      );
    }
  }

  get(k: StructInput<K>): V | undefined {
    const v = this.raw.lookup(this.key.encode(k));
    return v === undefined ? undefined : this.value.decode(v);
  }

  /** Per-CPU maps: one value per possible CPU. */
  getPerCpu(k: StructInput<K>): V[] | undefined {
    const v = this.raw.lookup(this.key.encode(k));
    return v === undefined ? undefined : perCpuValues(this.raw, v).map((b) => this.value.decode(b));
  }

  /** Per-CPU maps: every CPU gets the same value. */
  set(k: StructInput<K>, v: StructInput<V>, flags: number = UpdateFlags.ANY): void {
    const value = this.value.encode(v);
    const buf = this.raw.perCpu
      ? perCpuBuffer(this.raw, Array<Buffer>(numPossibleCpus()).fill(value))
      : value;
    this.raw.update(this.key.encode(k), buf, flags);
  }

  delete(k: StructInput<K>): boolean {
    return this.raw.delete(this.key.encode(k));
  }

  /** Per-CPU maps yield the value of CPU 0; use getPerCpu() for all. */
  *entries(): Generator<[K, V]> {
    for (const [k, v] of this.raw.entries()) yield [this.key.decode(k), this.value.decode(v)];
  }
}
