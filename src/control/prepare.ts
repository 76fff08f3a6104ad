// What root does once so that xlb can run as a user of its own with a few capabilities
// (contrib/xlb.service runs it as ExecStartPre=+): bpffs mounted, a bpffs directory and a run
// directory owned by that user (with what a root-run xlb left in them), and the API token file
// made and readable by it (and by the socket's group). Idempotent; checks every name first.
import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { bpffsRoot, runDir } from '../util/host.js';
import { ensureTokenFile } from '../util/token.js';
import { type GroupEntry, type UserEntry, lookupGroup, lookupUser, ownerName } from '../util/users.js';
import { BPF_FS_MAGIC, ensureBpffs } from './instance.js';

export interface PrepareOptions {
  /** The user xlb runs as (name or uid). */
  user: string;
  /** Its group; default the user's primary group. */
  group?: string;
  /** The API token file to make (when missing) and give to the user. */
  tokenFile?: string;
  /** The group of the API socket: may read the token file too. */
  socketGroup?: string;
}

/** A line per change made (nothing when everything was already so). */
export type PrepareReport = string[];

function mustUser(name: string): UserEntry {
  const u = lookupUser(name);
  if (u === undefined) {
    throw new Error(
      `there is no user '${name}': create it (adduser --system --group --no-create-home ${name}) or pass --user NAME`,
    );
  }
  return u;
}

function mustGroup(name: string, flag: string): GroupEntry {
  const g = lookupGroup(name);
  if (g === undefined)
    throw new Error(`${flag}: there is no group '${name}': create it (addgroup --system ${name})`);
  return g;
}

/** Gives `path` (and, for a directory, everything below it) to uid:gid; reports what changed. */
function chownTree(path: string, uid: number, gid: number, report: PrepareReport): void {
  const st = lstatSync(path);
  if (st.uid !== uid || st.gid !== gid) {
    report.push(`${path}: owner ${ownerName(st.uid, st.gid)} -> ${ownerName(uid, gid)}`);
    lchownSync(path, uid, gid);
  }
  if (st.isDirectory()) for (const f of readdirSync(path)) chownTree(join(path, f), uid, gid, report);
}

function ensureMode(path: string, mode: number, report: PrepareReport): void {
  if ((lstatSync(path).mode & 0o7777) === mode) return;
  chmodSync(path, mode);
  report.push(`${path}: mode ${mode.toString(8).padStart(4, '0')}`);
}

/** A directory owned by uid:gid with `mode`, made when missing. */
function ownedDir(path: string, uid: number, gid: number, mode: number, report: PrepareReport): void {
  if (mkdirSync(path, { recursive: true, mode }) !== undefined) report.push(`${path}: made`);
  chownTree(path, uid, gid, report);
  ensureMode(path, mode, report);
}

function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

export function prepareHost(opts: PrepareOptions): PrepareReport {
  // Every name first: a typo changes nothing.
  const user = mustUser(opts.user);
  const gid = opts.group === undefined ? user.gid : mustGroup(opts.group, '--group').gid;
  const socketGroup =
    opts.socketGroup === undefined ? undefined : mustGroup(opts.socketGroup, '--api-socket-group');
  if (process.geteuid?.() !== 0) {
    throw new Error(
      'xlb prepare runs as root (in the unit: ExecStartPre=+…): it mounts bpffs and gives directories to ' +
        `${user.name}; run it with sudo`,
    );
  }
  const report: PrepareReport = [];
  const root = bpffsRoot();
  mkdirSync(root, { recursive: true }); // below a bpffs mount (XLB_BPFFS), a directory is enough
  if (!isBpffs(root)) {
    execFileSync('mount', ['-t', 'bpf', 'bpf', root], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 10_000,
    });
    report.push(`${root}: mounted bpffs`);
  }
  ensureBpffs();
  ownedDir(join(root, 'xlb'), user.uid, gid, 0o750, report);
  ownedDir(runDir(), user.uid, gid, 0o755, report);
  if (opts.tokenFile !== undefined) {
    if (ensureTokenFile(opts.tokenFile).created) report.push(`${opts.tokenFile}: made a token`);
    chownTree(opts.tokenFile, user.uid, socketGroup?.gid ?? gid, report);
    ensureMode(opts.tokenFile, socketGroup ? 0o640 : 0o600, report);
  }
  return report;
}
