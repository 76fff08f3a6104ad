// Running code with the calling thread inside another network namespace (setns(2)),
// e.g. to test-run programs whose helpers (bpf_fib_lookup) read that namespace's
// routes, or to write interface indexes of that namespace into a devmap. `fn` must
// be synchronous: the event loop does not run while the thread is elsewhere.
import { closeSync, openSync } from 'node:fs';
import { kernelError } from './errors.js';
import { libbpf, lastErrno } from './libbpf.js';

const CLONE_NEWNET = 0x40000000;

export function withNetns<T>(path: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  let target: number | undefined;
  try {
    target = openSync(path, 'r');
    if (libbpf().setns(target, CLONE_NEWNET) !== 0) throw kernelError(`setns(${path})`, -lastErrno());
    try {
      return fn();
    } finally {
      // Cannot fail short of a kernel bug; going on in the wrong namespace would be worse.
      if (libbpf().setns(home, CLONE_NEWNET) !== 0) process.abort();
    }
  } finally {
    if (target !== undefined) closeSync(target);
    closeSync(home);
  }
}

/** withNetns for a namespace made with `ip netns add NAME`. */
export const inNetns = <T>(name: string, fn: () => T): T => withNetns(`/run/netns/${name}`, fn);
