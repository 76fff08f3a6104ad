// Running commands, in this network namespace or another one, with errors that say
// which command failed and what it printed.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { scaledMs } from '../util/time.js';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string[],
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`\`${command.join(' ')}\` failed (exit ${status ?? 'signal'}): ${stderr.trim() || '(no output)'}`);
  }
}

/** Runs a command to completion; throws CommandError unless it exits 0. Returns stdout. */
export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: scaledMs(60_000) });
  if (r.error) throw new CommandError([cmd, ...args], null, r.error.message);
  if (r.status !== 0 && !opts.allowFail) throw new CommandError([cmd, ...args], r.status, r.stderr);
  return r.stdout;
}

/** argv that runs `cmd` inside network namespace `ns` (no new mount namespace, so bpffs pins are shared). */
export function nsArgv(ns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return ns === undefined ? [cmd, args] : ['nsenter', [`--net=/run/netns/${ns}`, '--', cmd, ...args]];
}

/** Runs a command inside a network namespace to completion. */
export function nsSh(
  ns: string | undefined,
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean } = {},
): string {
  const [c, a] = nsArgv(ns, cmd, args);
  return sh(c, a, opts);
}

/** Starts a long-running command inside a network namespace. */
export function nsSpawn(
  ns: string | undefined,
  cmd: string,
  args: string[],
  opts: SpawnOptions = {},
): ChildProcess {
  const [c, a] = nsArgv(ns, cmd, args);
  return spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
