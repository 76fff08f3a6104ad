// Child processes of tests and benchmarks: started inside a namespace, their output
// collected line by line, awaited with timeouts, and always stopped at the end.
import { cliMainPath } from '../util/paths.js';
import { scaledMs } from '../util/time.js';
import type { ChildProcess } from 'node:child_process';
import { nsSpawn } from './exec.js';
import type { LabListener } from './lab.js';

/** The compiled xlb CLI. */
export const CLI = cliMainPath();

export class Proc {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  private readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    const collect = (into: string[]) => {
      let partial = '';
      return (chunk: Buffer) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop() ?? '';
        into.push(...parts);
        this.waiters.forEach((w) => w());
      };
    };
    child.stdout?.on('data', collect(this.lines));
    child.stderr?.on('data', collect(this.stderr));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(ns: string | undefined, cmd: string, args: string[]): Proc {
    return new Proc(nsSpawn(ns, cmd, args));
  }

  /** Waits until a stdout line matches; throws with the output so far on timeout or exit. */
  async waitFor(re: RegExp, timeoutMs = 20_000): Promise<string> {
    await this.waitUntil(() => this.lines.some((l) => re.test(l)), `a line matching ${re}`, timeoutMs);
    return this.lines.find((l) => re.test(l)) ?? '';
  }

  /** Waits until `count` stdout lines match. */
  async waitForCount(re: RegExp, count: number, timeoutMs = 20_000): Promise<void> {
    const n = () => this.lines.filter((l) => re.test(l)).length;
    await this.waitUntil(() => n() >= count, `${count} lines matching ${re} (have ${n()})`, timeoutMs);
  }

  /** Waits (timeoutMs times XLB_TIME_SCALE) until `done()`. */
  private async waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + scaledMs(timeoutMs);
    for (;;) {
      if (done()) return;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `waited in vain for ${what} (exit ${this.child.exitCode}):\n${this.lines.slice(-20).join('\n')}\n${this.stderr.join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  /** Sends a signal and waits for the exit code (SIGKILL after the timeout). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), scaledMs(timeoutMs));
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  wait(): Promise<number | null> {
    return this.exited;
  }

  /** Whether the process has ended (exit code or signal). */
  get ended(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }
}

/**
 * Starts `xlb run --config CONFIG --instance NAME --interval 0` in `ns` and waits until it has
 * attached (`attached`: the line to wait for). Stopped again when it does not get there.
 */
export async function startXlbRun(
  ns: string | undefined,
  config: string,
  instance: string,
  o: { attached?: RegExp; timeoutMs?: number } = {},
): Promise<Proc> {
  const p = Proc.start(ns, process.execPath, [
    CLI,
    'run',
    '--config',
    config,
    '--instance',
    instance,
    '--interval',
    '0',
  ]);
  try {
    await p.waitFor(o.attached ?? /^xlb: attached to/, o.timeoutMs);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

/**
 * Starts the echo server a lab listener describes (its namespace, address and ports) and waits
 * until it listens. `quiet`: no line per datagram.
 */
export async function startListener(l: LabListener, o: { quiet?: boolean } = {}): Promise<Proc> {
  const p = Proc.start(l.ns, process.execPath, [
    CLI,
    'echo-server',
    ...(o.quiet ? ['--quiet'] : []),
    '--address',
    l.address,
    ...l.ports.flatMap((x) => ['-p', String(x)]),
  ]);
  await p.waitFor(/^listening/);
  return p;
}
