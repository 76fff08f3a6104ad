// The API's bearer token lives in a file (never on a command line, where `ps` shows it to
// every user): the daemon reads it, or makes one; the CLI reads the same file.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { accessHint } from './users.js';

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

/** What the token file is readable by: its owner only, or its owner and the members of a group. */
export interface TokenFileAccess {
  /** The group whose members may read the token (the API socket's group); none: owner only. */
  gid?: number;
}

/**
 * The token in `path`, made first (32 random bytes, hex) when the file does not exist: mode 0600,
 * or 0640 and group `access.gid` when a group may read it. An existing file is left as it is; see
 * tokenFileWarning.
 */
export function ensureTokenFile(
  path: string,
  access: TokenFileAccess = {},
): { token: string; created: boolean } {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { token: readTokenFile(path), created: false };
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? ` — ${accessHint(path, `let xlb's user make it (as root: \`xlb prepare --user USER --api-token-file ${path}\`, which contrib/xlb.service runs), or make it yourself and give it to that user`)}`
        : '';
    throw new Error(`cannot create the token file ${path}: ${code ?? String(e)}${why}`);
  }
  const token = randomBytes(32).toString('hex');
  try {
    if (access.gid !== undefined) {
      // Group first, then the mode: the token is never readable by another group.
      fchownSync(fd, -1, access.gid);
      fchmodSync(fd, 0o640);
    }
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return { token, created: true };
}

/** Why the members of group `gid` cannot read an existing token file, with the fix; undefined if they can. */
export function tokenFileWarning(path: string, gid: number, groupName: string): string | undefined {
  const st = statSync(path);
  if (st.gid === gid && (st.mode & 0o040) !== 0) return undefined;
  return (
    `the members of group ${groupName} cannot read the token file ${path}, so the CLI cannot authenticate ` +
    `for them: chgrp ${groupName} ${path} && chmod 0640 ${path} (or, as root, ` +
    `\`xlb prepare --user USER --api-token-file ${path} --api-socket-group ${groupName}\`)`
  );
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
