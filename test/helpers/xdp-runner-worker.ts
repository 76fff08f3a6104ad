// A worker thread that runs frames through an XDP program (BPF_PROG_TEST_RUN) until told to
// stop, while the main thread changes the maps: test/bpf/table-switch.test.ts. Program fds
// are the process's, so the worker uses the main thread's. Bounded by `max` runs and the
// stop flag. Posts, per run, the frame's index and the output's last byte of the IPv4
// destination address (which backend the packet went to).
import { parentPort, workerData } from 'node:worker_threads';
import { testRun } from '../../src/kernel/program.js';

interface Input {
  fd: number;
  frames: Uint8Array[];
  /** Int32 flags: [0] non-zero = stop (set by the caller); [1] runs so far (set here). */
  stop: SharedArrayBuffer;
  max: number;
  /** Where the byte to report is in the output frame. */
  at: number;
}

const { fd, frames, stop, max, at } = workerData as Input;
const flag = new Int32Array(stop);
const index: number[] = [];
const got: number[] = [];
for (let i = 0; Atomics.load(flag, 0) === 0 && i < max; i++) {
  const k = i % frames.length;
  const r = testRun(fd, { data: Buffer.from(frames[k]!) });
  index.push(k);
  got.push(r.retval === 2 ? (r.data[at] ?? -1) : -r.retval - 1);
  Atomics.store(flag, 1, i + 1);
}
parentPort!.postMessage({ index, got });
