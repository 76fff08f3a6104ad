// A running xlb instance as other processes see it: its maps pinned in bpffs and a
// small state file (owner pid, plan) under /run/xlb. `xlb stats` reads both; a new
// `xlb run` refuses to start over a live instance and clears a dead one's leftovers.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Plan, PlannedService, planIds } from '../model/plan.js';
import { removeClassicTc, type InterfaceState } from './attachments.js';
import type { ReconcilerSlots } from './reconcile.js';
import {
  bpffsRoot,
  instancePaths,
  ownerAlive,
  pinDirFix,
  runDir,
  runDirFix,
  selfId,
  type InstancePaths,
} from '../util/host.js';
import { accessHint } from '../util/users.js';

/**
 * Runs a file operation on `path`; a permission error (EACCES, EPERM) becomes one that names the
 * path, its owner and mode, who xlb runs as, and `fix`.
 */
function withAccess<T>(what: string, path: string, fix: () => string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw e;
    throw new Error(`${what} ${path}: ${code} — ${accessHint(path, fix())}`, { cause: e });
  }
}

/**
 * The state file's format: bumped when its shape changes (readState reads every older one).
 * 2: the daemon's slots name each service's regions of sched_flat (ABI 7) in place of the
 * sched_tables slots of format 1 (ABI 6 and older).
 */
export const STATE_FORMAT = 2;

/** What an instance's owner saves next to its pins: for `xlb stats`, `xlb down`, and the next daemon. */
export interface InstanceState {
  format: typeof STATE_FORMAT;
  name: string;
  pid: number;
  /** The owner's start time (/proc/PID/stat), so that a reused pid is not taken for it. */
  pidStart?: string;
  startedAt: string;
  /** The data plane's ABI version (src/abi/abi.ts) the pins were made with. */
  abi: number;
  /** The attached interfaces: XDP mode, and how the TC programs are attached (classic TC has no pins). */
  interfaces: InterfaceState[];
  /** The services as applied, without their tables: enough to name counters. */
  services: StateService[];
  /** A daemon's part (absent for `xlb run`): what the next daemon needs to adopt the pins. */
  daemon?: DaemonState;
}

/** Where each service's live table and value are (Reconciler.slots). */
export type SavedSlots = ReconcilerSlots;

export interface DaemonState {
  generation: number;
  /** The configuration the API changed last (input form). */
  running: Record<string, unknown>;
  /** What the maps hold: the running config with health and drains applied (input form). */
  applied: Record<string, unknown>;
  ids: ReturnType<typeof planIds>;
  slots: SavedSlots;
  /** Drained backends' configured weights, to undrain: 'service/addr:port' -> weight. */
  drained: [string, number][];
  /** Backends that were unhealthy ('service/addr:port'): kept out until a probe says otherwise. */
  unhealthy: string[];
}

/** A planned service as the state file keeps it: without its table (up to 65,537 ids). */
export type StateService = Omit<PlannedService, 'table'>;

export function planToState(plan: Plan): StateService[] {
  return plan.services.map(({ table: _table, ...s }) => s);
}

/** Rebuilds the parts of a plan that reading stats needs. */
export function stateToPlan(saved: StateService[]): Plan {
  const services = saved.map((s) => ({ ...s, table: new Uint32Array(0) }));
  const backends = new Map(services.flatMap((s) => s.backends.map((b) => [b.id, b] as const)));
  return { services, backends, servicePorts: new Set(), backendPorts: new Set() };
}

/**
 * The state of instance `name`, or undefined when it has none. A file of an earlier format is
 * read as the current one; a file this version cannot read (newer, or damaged) is returned
 * without its daemon part when its owner can still be told, so that nobody adopts what it
 * does not understand and nobody steals a live instance.
 */
export function readState(name: string): InstanceState | undefined {
  const { stateFile } = instancePaths(name);
  if (!existsSync(stateFile)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch {
    return undefined;
  }
  return stateFrom(raw, name);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The slots of a format 0 or 1 state (sched_tables slots): the values' only. */
function slotsFrom(raw: unknown): SavedSlots {
  const value = isRecord(raw) && Array.isArray(raw.value) ? (raw.value as [number, number][]) : [];
  return { value, regions: [] };
}

/** A parsed state file in the current format (see readState). Exported for tests. */
export function stateFrom(raw: unknown, name: string): InstanceState | undefined {
  if (!isRecord(raw) || typeof raw.pid !== 'number') return undefined;
  const base: InstanceState = {
    format: STATE_FORMAT,
    name,
    pid: raw.pid,
    ...(typeof raw.pidStart === 'string' ? { pidStart: raw.pidStart } : {}),
    startedAt: typeof raw.startedAt === 'string' ? raw.startedAt : '',
    abi: typeof raw.abi === 'number' ? raw.abi : 0,
    interfaces: Array.isArray(raw.interfaces) ? (raw.interfaces as InstanceState['interfaces']) : [],
    services: Array.isArray(raw.services) ? (raw.services as StateService[]) : [],
  };
  if (raw.format === STATE_FORMAT) {
    return isRecord(raw.daemon) ? { ...base, daemon: raw.daemon as unknown as DaemonState } : base;
  }
  if (raw.format === 1 && isRecord(raw.daemon)) {
    // Format 1: slots of sched_tables (ABI 6 and older), which no table of this ABI has. Its
    // abi number keeps a daemon from adopting those pins; the rest reads as it was.
    return {
      ...base,
      daemon: { ...(raw.daemon as unknown as DaemonState), slots: slotsFrom(raw.daemon.slots) },
    };
  }
  if (raw.format === 1) return base;
  if (raw.format === undefined && isRecord(raw.applied) && isRecord(raw.running)) {
    // Format 0 (xlb 0.1): the daemon's fields at the top level.
    return {
      ...base,
      daemon: {
        generation: typeof raw.generation === 'number' ? raw.generation : 1,
        running: raw.running,
        applied: raw.applied,
        ids: raw.ids as DaemonState['ids'],
        slots: slotsFrom(raw.slots),
        drained: Array.isArray(raw.drained) ? (raw.drained as [string, number][]) : [],
        unhealthy: Array.isArray(raw.unhealthy) ? (raw.unhealthy as string[]) : [],
      },
    };
  }
  return base; // xlb run's format 0, or a format this version does not know: no daemon part
}

export function writeState(state: InstanceState): void {
  writeStateText(state.name, Buffer.from(JSON.stringify(state) + '\n')); // compact: large configs make it megabytes
}

/** Writes instance `name`'s state file from its JSON text (InstanceState), atomically. */
export function writeStateText(name: string, text: Buffer): void {
  const { stateFile } = instancePaths(name);
  withAccess('cannot write the state file', stateFile, runDirFix, () => {
    mkdirSync(runDir(), { recursive: true });
    // Written aside and renamed: a process killed mid-write leaves the old state, not half a file.
    const tmp = `${stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, stateFile);
  });
}

/** The owner fields of a state this process writes. */
export function selfIdFields(): { pid: number; pidStart?: string } {
  const id = selfId();
  return id.start === undefined ? { pid: id.pid } : { pid: id.pid, pidStart: id.start };
}

/**
 * Whether another live process owns the instance: its recorded owner exists, is no zombie and
 * is the same process (same start time), not a later one that got its pid.
 */
export function ownedByOther(state: Pick<InstanceState, 'pid' | 'pidStart'>): boolean {
  return (
    state.pid !== process.pid &&
    ownerAlive({ pid: state.pid, ...(state.pidStart ? { start: state.pidStart } : {}) })
  );
}

/** Removes the pins and the state file of an instance. */
export function removeInstance(name: string): void {
  const { pinDir, stateFile } = instancePaths(name);
  withAccess('cannot remove the pins in', pinDir, pinDirFix, () => {
    if (existsSync(pinDir)) {
      for (const f of readdirSync(pinDir)) rmSync(join(pinDir, f));
      rmdirSync(pinDir);
    }
  });
  withAccess('cannot remove the state file', stateFile, runDirFix, () => rmSync(stateFile, { force: true }));
}

/**
 * Makes way for a new instance `name`: throws if a live process owns it, removes
 * what a dead one left (its pins, so its links detach; its classic TC filters). Returns
 * the paths to use.
 */
export function claimInstance(name: string): InstancePaths {
  const paths = instancePaths(name);
  const state = readState(name);
  if (state && ownedByOther(state)) {
    throw new Error(
      `xlb instance '${name}' is already running (pid ${state.pid}): stop it first, or start another with --instance NAME`,
    );
  }
  if (state) removeClassicTc(state.interfaces);
  removeInstance(name);
  ensureBpffs();
  withAccess('cannot make the pin directory', paths.pinDir, pinDirFix, () =>
    mkdirSync(paths.pinDir, { recursive: true }),
  );
  return paths;
}

export const BPF_FS_MAGIC = 0xcafe4a11;

/** Throws unless the pin root is a mounted bpffs (pins elsewhere fail, or worse, on sysfs). */
export function ensureBpffs(): void {
  const root = bpffsRoot();
  let type: number;
  try {
    type = statfsSync(root).type;
  } catch {
    throw new Error(`${root} does not exist: mount bpffs (mount -t bpf bpf /sys/fs/bpf)`);
  }
  if (type !== BPF_FS_MAGIC) {
    throw new Error(
      `${root} is not a bpffs mount, so xlb cannot pin its maps and links there: mount -t bpf bpf ${root} ` +
        '(inside `ip netns exec`, which remounts /sys, prefer `nsenter --net=/run/netns/NAME`)',
    );
  }
}
