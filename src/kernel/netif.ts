// Network interface names and indexes, in the calling process's network namespace.
import { NoSuchInterfaceError } from './errors.js';
import { libbpf } from './libbpf.js';

export function ifindexOf(name: string): number {
  const index = libbpf().if_nametoindex(name);
  if (index === 0) throw new NoSuchInterfaceError(name);
  return index;
}

export function ifnameOf(index: number): string | undefined {
  const buf = Buffer.alloc(16);
  const r = libbpf().if_indextoname(index, buf);
  return r === null ? undefined : buf.toString('latin1', 0, buf.indexOf(0));
}
