// Reading a text file of bounded size: a regular file's size is checked before it is read,
// and anything (a pipe, a file in /proc, a file that grows meanwhile) is read at most one
// byte past the limit, so that a 10 GB file never enters memory. Used for config files by
// the CLI and the daemon; what the limit is and how its refusal reads is the caller's.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class FileTooLargeError extends Error {
  override readonly name = 'FileTooLargeError';
  constructor(
    readonly path: string,
    readonly limit: number,
    /** The file's size when known (a regular file); else it is only known to exceed `limit`. */
    readonly size: number | undefined,
  ) {
    super(`${path} is ${size === undefined ? 'larger than' : `${size} bytes, more than`} ${limit} bytes`);
  }
}

/** The file's text (UTF-8); throws FileTooLargeError past `limit` bytes, fs errors as they come. */
export function readTextFile(path: string, limit: number): string {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > limit) throw new FileTooLargeError(path, limit, st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > limit) throw new FileTooLargeError(path, limit, undefined);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
