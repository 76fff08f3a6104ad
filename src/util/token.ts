// The API's bearer token lives in a file (never on a command line, where `ps` shows it to
// every user): the daemon reads it, or makes one; the CLI reads the same file.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';

/** Where the packaged unit keeps the token; the CLI reads it when it can. */
export const DEFAULT_TOKEN_FILE = '/etc/xlb/api-token';
/** A token file larger than this is no token file. */
const MAX_TOKEN_FILE_BYTES = 4096;

/** The token in `path` (surrounding white space dropped); throws with the file, the errno and the fix. */
export function readTokenFile(path: string, what = 'token file'): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    throw new Error(`cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n > MAX_TOKEN_FILE_BYTES)
    throw new Error(`the ${what} ${path} is larger than ${MAX_TOKEN_FILE_BYTES} bytes: it holds one token`);
  const token = buf.subarray(0, n).toString('utf8').trim();
  if (token === '') throw new Error(`the ${what} ${path} is empty: write a token into it`);
  return token;
}

/** The token in `path`, made first (32 random bytes, hex, mode 0600) when the file does not exist. */
export function ensureTokenFile(path: string): { token: string; created: boolean } {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { token: readTokenFile(path), created: false };
    throw new Error(
      `cannot create the token file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  const token = randomBytes(32).toString('hex');
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return { token, created: true };
}

/** The token the CLI sends: --token-file, else $XLB_API_TOKEN, else the default file when readable. */
export function clientToken(file: string | undefined, env = process.env): string | undefined {
  if (file !== undefined) return readTokenFile(file);
  if (env.XLB_API_TOKEN) return env.XLB_API_TOKEN;
  try {
    return readTokenFile(env.XLB_TOKEN_FILE ?? DEFAULT_TOKEN_FILE);
  } catch {
    return undefined; // none, or not ours to read: the daemon says whether it wants one
  }
}
