// A fresh Debian 12 machine for package tests: a copy of the cached debootstrap root
// (scripts/debian-root.sh), unpacked anew per test, entered with chroot. It shares this
// machine's kernel; /proc, /sys and /dev are bound in and bpffs is a fresh instance of its
// own, so the pins made inside are not this machine's. Every mount sits under a private
// bind of the root itself (nothing propagates out, /dev is a slave) and is undone by
// destroy(), which refuses to delete anything while a mount remains. Root directories
// carry the creating pid, so a crashed run's leftovers are found and removed.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsArgv, nsSpawn, sh } from '../../src/lab/exec.js';
import { Proc } from '../../src/lab/proc.js';
import { pidAlive } from '../../src/util/host.js';

const PREFIX = 'xlbt-root-';
const DEBIAN_ROOT_SCRIPT = fileURLToPath(new URL('../../../scripts/debian-root.sh', import.meta.url));

/** What commands inside see: nothing of this process's environment (NODE_OPTIONS, XLB_*). */
export const CHROOT_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
};

/**
 * The cached Debian 12 root tarball. Made by scripts/debian-root.sh (npm test runs it first:
 * debootstrap takes minutes, longer than a test file may run); missing, the error says so.
 */
export function debianRootTarball(): string {
  const r = spawnSync('bash', [DEBIAN_ROOT_SCRIPT, '--cached'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim() || `scripts/debian-root.sh --cached: exit ${r.status}`);
  return r.stdout.trim();
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Processes whose root directory is `dir` or below it. */
function processesIn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const r = readlinkSync(`/proc/${p}/root`);
        return r === dir || r.startsWith(`${dir}/`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

export class DebianChroot {
  private constructor(readonly dir: string) {}

  /** Unpacks the tarball into a new directory and mounts /proc, /sys (+ a fresh bpffs) and /dev. */
  static create(tarball: string): DebianChroot {
    DebianChroot.removeStale();
    const root = new DebianChroot(mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`)));
    try {
      sh('tar', ['--numeric-owner', '-xpf', tarball, '-C', root.dir]);
      chmodSync(root.dir, 0o755);
      root.mount();
      copyFileSync('/etc/resolv.conf', root.path('/etc/resolv.conf'));
      // Nothing installed here may start a service (Debian's policy-rc.d protocol: 101 = forbidden).
      writeFileSync(root.path('/usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    } catch (e) {
      root.destroy();
      throw e;
    }
    return root;
  }

  private mount(): void {
    const d = this.dir;
    // A private mount of the root itself: mounts below it propagate nowhere.
    sh('mount', ['--bind', d, d]);
    sh('mount', ['--make-private', d]);
    sh('mount', ['-t', 'proc', 'proc', `${d}/proc`]);
    sh('mount', ['--bind', '/sys', `${d}/sys`]);
    sh('mount', ['--make-private', `${d}/sys`]);
    sh('mount', ['-t', 'bpf', 'bpf', `${d}/sys/fs/bpf`]);
    sh('mount', ['--rbind', '/dev', `${d}/dev`]);
    // A slave: unmounting it later never unmounts this machine's /dev/pts and friends.
    sh('mount', ['--make-rslave', `${d}/dev`]);
  }

  /** A path inside the root, as this machine sees it. */
  path(inside: string): string {
    return join(this.dir, inside);
  }

  /** argv (for nsSpawn and friends) running `argv` inside the root. */
  argv(argv: string[]): [string, string[]] {
    return ['chroot', [this.dir, ...argv]];
  }

  /** Runs a command inside to completion; returns its status and output. */
  run(argv: string[], o: { timeoutMs?: number; ns?: string } = {}) {
    const [cmd, args] = nsArgv(o.ns, ...this.argv(argv));
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: CHROOT_ENV, timeout: o.timeoutMs ?? 60_000 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
  }

  /** Runs a command inside; throws with its output unless it exits 0. Returns stdout. */
  sh(argv: string[], o: { timeoutMs?: number; ns?: string } = {}): string {
    const r = this.run(argv, o);
    if (r.status !== 0) {
      throw new Error(
        `in the chroot: \`${argv.join(' ')}\` failed (exit ${r.status ?? r.error?.message}):\n${r.stderr}${r.stdout}`,
      );
    }
    return r.stdout;
  }

  /** Starts a long-running command inside, in network namespace `ns`. */
  spawn(ns: string, argv: string[]): Proc {
    const [cmd, args] = this.argv(argv);
    return new Proc(nsSpawn(ns, cmd, args, { env: CHROOT_ENV }));
  }

  /** The pids of the processes running inside. */
  processes(): number[] {
    return processesIn(this.dir);
  }

  /** Kills what runs inside, undoes every mount and deletes the directory. */
  destroy(): void {
    for (const pid of processesIn(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 50 && processesIn(this.dir).length > 0; i++) spawnSync('sleep', ['0.1']);
    for (const m of mountsUnder(this.dir)) {
      if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['--lazy', m]);
    }
    const left = mountsUnder(this.dir);
    if (left.length > 0) {
      throw new Error(
        `not deleting ${this.dir}: still mounted there: ${left.join(', ')} (umount them, then rm -rf it)`,
      );
    }
    // --one-file-system: even so, never descend into another file system.
    if (existsSync(this.dir)) sh('rm', ['-rf', '--one-file-system', this.dir]);
  }

  /** Removes the roots of test runs whose process is gone. */
  static removeStale(): void {
    for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX))) {
      const pid = Number(name.slice(PREFIX.length).split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
      new DebianChroot(join(tmpdir(), name)).destroy();
    }
  }
}
