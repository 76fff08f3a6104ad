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
import type { Plan, PlannedService } from '../model/plan.js';
import { bpffsRoot, instancePaths, pidAlive, runDir, type InstancePaths } from '../util/host.js';

export interface InstanceState {
  name: string;
  pid: number;
  startedAt: string;
  interfaces: { name: string; mode: string }[];
  services: StateService[];
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

export function readState(name: string): InstanceState | undefined {
  const { stateFile } = instancePaths(name);
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as InstanceState;
}

export function writeState(state: InstanceState): void {
  const { stateFile } = instancePaths(state.name);
  mkdirSync(runDir(), { recursive: true });
  // Written aside and renamed: a process killed mid-write leaves the old state, not half a file.
  const tmp = `${stateFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state) + '\n'); // compact: large configs make it megabytes
  renameSync(tmp, stateFile);
}

/** Removes the pins and the state file of an instance. */
export function removeInstance(name: string): void {
  const { pinDir, stateFile } = instancePaths(name);
  if (existsSync(pinDir)) {
    for (const f of readdirSync(pinDir)) rmSync(join(pinDir, f));
    rmdirSync(pinDir);
  }
  rmSync(stateFile, { force: true });
}

/**
 * Makes way for a new instance `name`: throws if a live process owns it, removes
 * what a dead one left. Returns the paths to use.
 */
export function claimInstance(name: string): InstancePaths {
  const paths = instancePaths(name);
  const state = readState(name);
  if (state && state.pid !== process.pid && pidAlive(state.pid)) {
    throw new Error(
      `xlb instance '${name}' is already running (pid ${state.pid}): stop it first, or start another with --instance NAME`,
    );
  }
  removeInstance(name);
  ensureBpffs();
  mkdirSync(paths.pinDir, { recursive: true });
  return paths;
}

const BPF_FS_MAGIC = 0xcafe4a11;

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
