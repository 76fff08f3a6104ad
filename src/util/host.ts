// Where an xlb instance lives on the host, and whether a process is alive. Below every
// layer that needs them (control, daemon, api, lab, cli), so that none of those has to
// import another for a path.
//
//   /sys/fs/bpf/xlb/NAME/   maps and links of instance NAME (XLB_BPFFS moves the root)
//   /run/xlb/NAME.json      its state file; /run/xlb/NAME.sock its API socket (XLB_RUN_DIR)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lookupUser } from './users.js';

export const bpffsRoot = (): string => process.env.XLB_BPFFS ?? '/sys/fs/bpf';
export const runDir = (): string => process.env.XLB_RUN_DIR ?? '/run/xlb';

/** This process's user name (or uid), for the commands a hint suggests. */
function userArg(): string {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? 'USER' : (lookupUser(uid)?.name ?? String(uid));
}

/** What gives xlb's user its bpffs directory: the fix of every permission error about pins. */
export function pinDirFix(): string {
  const dir = join(bpffsRoot(), 'xlb');
  const u = userArg();
  return (
    `as root, run \`xlb prepare --user ${u}\` (contrib/xlb.service runs it as ExecStartPre=+), or ` +
    `\`install -d -o ${u} ${dir} && chown -R ${u} ${dir}\` (pins that xlb made as root stay root's until then)`
  );
}

/** What gives xlb's user its run directory (state file, API socket). */
export function runDirFix(): string {
  const u = userArg();
  return (
    `as root, run \`xlb prepare --user ${u}\` or \`install -d -o ${u} ${runDir()}\` ` +
    '(contrib/xlb.service has RuntimeDirectory=xlb)'
  );
}

export interface InstancePaths {
  pinDir: string;
  stateFile: string;
  /** The daemon's API socket. */
  socket: string;
}

const INSTANCE_NAME = /^[a-zA-Z0-9_.-]{1,64}$/;

/** The paths of instance `name`; throws on a name that could escape its directories. */
export function instancePaths(name: string): InstancePaths {
  if (!INSTANCE_NAME.test(name) || name === '.' || name === '..') {
    throw new Error(`instance name '${name}' is invalid: use 1-64 letters, digits, '_', '.' or '-'`);
  }
  return {
    pinDir: join(bpffsRoot(), 'xlb', name),
    stateFile: join(runDir(), `${name}.json`),
    socket: join(runDir(), `${name}.sock`),
  };
}

/** What identifies a process for as long as it lives: its pid and its start time. */
export interface ProcessId {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot); absent where /proc cannot tell. */
  start?: string;
}

/** The fields of /proc/PID/stat after the command name (state first), or undefined. */
function procStat(pid: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold anything, ')' included: the fields
  // start after the last ')'.
  return text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

/** This process, as the state file records its owner. */
export function selfId(): ProcessId {
  const start = procStat(process.pid)?.[19];
  return start === undefined ? { pid: process.pid } : { pid: process.pid, start };
}

/**
 * Whether the process `id` names is still alive: it exists, is no zombie, and (when its start
 * time was recorded) started when it did — so a pid the kernel handed to another process since
 * is not mistaken for the owner. Without /proc, signal 0 decides (EPERM: it exists).
 */
export function ownerAlive(id: ProcessId): boolean {
  if (!Number.isInteger(id.pid) || id.pid <= 0) return false;
  const stat = procStat(id.pid);
  if (stat === undefined) {
    if (existsProc()) return false; // /proc is there and the pid is not: gone
    try {
      process.kill(id.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  if (stat[0] === 'Z' || stat[0] === 'X') return false; // exited, waiting to be reaped
  return id.start === undefined || stat[19] === id.start;
}

const existsProc = (): boolean => procStat(process.pid) !== undefined;

/** Whether a process `pid` exists (any process: see ownerAlive for an instance's owner). */
export function pidAlive(pid: number): boolean {
  return ownerAlive({ pid });
}
