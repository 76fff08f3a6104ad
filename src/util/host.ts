// Where an xlb instance lives on the host, and whether a process is alive. Below every
// layer that needs them (control, daemon, api, lab, cli), so that none of those has to
// import another for a path.
//
//   /sys/fs/bpf/xlb/NAME/   maps and links of instance NAME (XLB_BPFFS moves the root)
//   /run/xlb/NAME.json      its state file; /run/xlb/NAME.sock its API socket (XLB_RUN_DIR)
import { join } from 'node:path';

export const bpffsRoot = (): string => process.env.XLB_BPFFS ?? '/sys/fs/bpf';
export const runDir = (): string => process.env.XLB_RUN_DIR ?? '/run/xlb';

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

/** Whether process `pid` exists (signal 0; EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
