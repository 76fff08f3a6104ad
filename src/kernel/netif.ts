// Network interface names and indexes, in the calling process's network namespace.
import { interfaceNameProblem } from '../util/ifname.js';
import { InvalidInterfaceNameError, NoSuchInterfaceError } from './errors.js';
import { libbpf } from './libbpf.js';

/** The index of interface `name`; a name Linux could not have is refused before C sees it
 * (a NUL would end the C string early: 'lo\0x' would find 'lo'). */
export function ifindexOf(name: string): number {
  const problem = interfaceNameProblem(name);
  if (problem !== undefined) throw new InvalidInterfaceNameError(name, problem);
  const index = libbpf().if_nametoindex(name);
  if (index === 0) throw new NoSuchInterfaceError(name);
  return index;
}

export function ifnameOf(index: number): string | undefined {
  const buf = Buffer.alloc(16);
  const r = libbpf().if_indextoname(index, buf);
  return r === null ? undefined : buf.toString('latin1', 0, buf.indexOf(0));
}
