// Users and groups by name or number, through the system's name service (`getent`, so that
// LDAP and systemd's dynamic users count as well as /etc/passwd), and who may open a path:
// what errors about file permissions say.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
}

/** One line of `getent DATABASE KEY`, split at ':'; undefined when there is no such entry. */
function getent(database: 'group' | 'passwd', key: string): string[] | undefined {
  try {
    const out = execFileSync('getent', [database, key], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    const line = out.split('\n')[0];
    return line ? line.split(':') : undefined;
  } catch {
    return undefined; // exit 2: no such entry (or no getent: names are then unknown)
  }
}

/** A group by name or number. */
export function lookupGroup(key: string | number): GroupEntry | undefined {
  const f = getent('group', String(key));
  if (!f || f[0] === undefined || f[2] === undefined) return undefined;
  return { name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
}

/** A user by name or number. */
export function lookupUser(key: string | number): UserEntry | undefined {
  const f = getent('passwd', String(key));
  if (!f || f[0] === undefined || f[2] === undefined || f[3] === undefined) return undefined;
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]) };
}

/** 'root:root' style owner of numbers, with the numbers where a name is unknown. */
export function ownerName(uid: number, gid: number): string {
  return `${lookupUser(uid)?.name ?? uid}:${lookupGroup(gid)?.name ?? gid}`;
}

/** Whether this process belongs to group `gid` (its own group or a supplementary one). */
export function inGroup(gid: number): boolean {
  return process.getegid?.() === gid || (process.getgroups?.() ?? []).includes(gid);
}

/** This process as `uid 65534 (nobody)`. */
export function whoAmI(): string {
  const uid = process.geteuid?.() ?? 0;
  const name = lookupUser(uid)?.name;
  return name === undefined ? `uid ${uid}` : `uid ${uid} (${name})`;
}

/**
 * Says why `path` could not be opened or made: its owner and mode, or those of the nearest
 * directory above it that exists (where the new entry would go), and who this process is.
 * `fix` says what to do; for an EACCES/EPERM message.
 */
export function accessHint(path: string, fix: string): string {
  let at = path;
  for (;;) {
    try {
      const st = statSync(at);
      const what = at === path ? at : `${at} (where ${path} would be made)`;
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      return `${what} is owned by ${ownerName(st.uid, st.gid)} with mode ${mode}, and xlb runs as ${whoAmI()}: ${fix}`;
    } catch {
      const up = dirname(at);
      if (up === at) return `${path}: ${fix}`;
      at = up;
    }
  }
}
