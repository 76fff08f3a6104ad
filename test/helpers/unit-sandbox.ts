// contrib/xlb.service as a test can apply it without systemd (PID 1 here is not systemd, so
// `systemd-run` cannot start it): its user and capabilities through setpriv, its file system
// sandbox through a private mount namespace, and its system call and address family filters by
// checking what a traced daemon used against them.
//
//   unit directive                                  emulated by
//   User=, Group=, SupplementaryGroups=             setpriv --reuid --regid --groups (uid 65534)
//   AmbientCapabilities=, CapabilityBoundingSet=,   setpriv --inh-caps --ambient-caps
//   NoNewPrivileges=                                  --bounding-set --no-new-privs
//   ProtectSystem=strict, ProtectKernelTunables=     every mount read-only but /proc and /dev,
//                                                    /proc/sys read-only
//   ReadWritePaths=, RuntimeDirectory=               those paths bound writable again
//   PrivateTmp=, ProtectHome=                        empty tmpfs on /tmp, /var/tmp; inaccessible
//                                                    /home, /root, /run/user
//   UMask=                                           umask in the shell that starts the daemon
//   SystemCallFilter=, RestrictAddressFamilies=      strace of the daemon: what it used ⊆ allowed
// Not emulated (no effect on BPF or netlink to check): PrivateDevices=, DevicePolicy=,
// ProtectKernelModules/Logs=, ProtectClock=, ProtectHostname=, ProtectControlGroups=,
// RestrictNamespaces/Realtime/SUIDSGID=, LockPersonality=, RemoveIPC=, KeyringMode=,
// SystemCallArchitectures=.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const UNIT_PATH = fileURLToPath(new URL('../../../contrib/xlb.service', import.meta.url));

export class Unit {
  /** `text`: another copy of the unit (e.g. the one a package installed); default contrib/'s. */
  constructor(readonly text = readFileSync(UNIT_PATH, 'utf8')) {}

  /** The values of a directive, one per line that sets it. */
  directive(name: string): string[] {
    return this.text
      .split('\n')
      .filter((l) => l.startsWith(`${name}=`))
      .map((l) => l.slice(name.length + 1));
  }

  /** The capabilities it grants, e.g. ['CAP_BPF', …]. */
  get caps(): string[] {
    return (this.directive('AmbientCapabilities')[0] ?? '').split(/\s+/).filter(Boolean);
  }
}

/** setpriv's name of a capability: CAP_NET_ADMIN -> net_admin. */
const setprivCap = (cap: string): string => cap.replace(/^CAP_/, '').toLowerCase();

/**
 * setpriv argv that runs a command as `uid` (and the same gid; default 65534, nobody) with exactly
 * `caps` (effective, permitted, inheritable, ambient, bounding), no new privileges, and the
 * supplementary `groups`. uid and gid may be names (User=, Group=).
 */
export function asNobody(
  caps: readonly string[],
  groups: readonly number[] = [],
  uid: number | string = 65534,
  gid: number | string = uid,
): string[] {
  const set = ['-all', ...caps.map((c) => `+${setprivCap(c)}`)].join(',');
  return [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${gid}`,
    groups.length ? `--groups=${groups.join(',')}` : '--clear-groups',
    '--no-new-privs',
    `--inh-caps=${set}`,
    `--ambient-caps=${set}`,
    `--bounding-set=${set}`,
  ];
}

/**
 * A shell script (for `unshare --mount --propagation private -- sh -ec SCRIPT sandbox CMD…`) that
 * makes the mount namespace look as the unit's sandbox makes it, then runs CMD with the umask.
 * `writable`: ReadWritePaths= and RuntimeDirectory=, translated to the test's paths; they must
 * lie outside /tmp, /var/tmp and the home directories, which the sandbox hides.
 */
export function sandboxScript(
  writable: readonly string[],
  umask: string,
  keep: readonly string[] = [],
): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const hidden = (p: string) =>
    ['/tmp', '/var/tmp', '/home', '/root', '/run/user'].some((h) => p === h || p.startsWith(`${h}/`));
  // What the test runs from (its checkout: an installed xlb lives in /usr/lib) stays visible,
  // read-only, where the sandbox hides its parent (a checkout in /tmp, say): bound aside first,
  // then back in place over the empty tmpfs, with the directories above it traversable.
  const kept = keep.filter(hidden);
  return [
    ...(kept.length > 0 ? ['stash=$(mktemp -d /dev/shm/xlb-sandbox.XXXXXX)'] : []),
    ...kept.map((p, i) => `mkdir "$stash/${i}" && mount --bind ${quote(p)} "$stash/${i}"`),
    // ProtectSystem=strict (all but /dev, /proc, /sys) + ProtectKernelTunables (/sys, /proc/sys).
    `for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do`,
    '  case "$m" in /proc|/proc/*|/dev|/dev/*) continue;; esac',
    '  mount -o remount,bind,ro "$m"',
    'done',
    'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys',
    // PrivateTmp, ProtectHome.
    'for t in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$t"; done',
    `for h in /home /root /run/user; do [ -d "$h" ] && mount -t tmpfs -o mode=${kept.length > 0 ? '711' : '000'} tmpfs "$h"; done`,
    ...kept.map(
      (p, i) =>
        `mkdir -p ${quote(p)} && mount --bind "$stash/${i}" ${quote(p)} && mount -o remount,bind,ro ${quote(p)}` +
        ` && d=${quote(p)} && while [ "$d" != / ]; do d=$(dirname "$d"); chmod a+x "$d" 2>/dev/null || true; done`,
    ),
    'for h in /home /root /run/user; do [ -d "$h" ] && mount -o remount,ro "$h"; done',
    // ReadWritePaths, RuntimeDirectory.
    ...writable.map((p) => `mount --bind ${quote(p)} ${quote(p)} && mount -o remount,bind,rw ${quote(p)}`),
    `umask ${umask}`,
    'exec "$@"',
  ].join('\n');
}

/** The system calls an allow list of SystemCallFilter= names (groups expanded by systemd). */
export function allowedSyscalls(filter: readonly string[]): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  const expand = (name: string): void => {
    if (!name.startsWith('@')) {
      out.add(name);
      return;
    }
    if (seen.has(name)) return;
    seen.add(name);
    const r = spawnSync('systemd-analyze', ['syscall-filter', name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`systemd-analyze syscall-filter ${name}: ${r.stderr}`);
    for (const line of r.stdout.split('\n').slice(1)) {
      const item = line.trim();
      if (item !== '' && !item.startsWith('#')) expand(item);
    }
  };
  filter.forEach(expand);
  return out;
}

/** What a daemon traced with `strace -f -o LOG` used after it became `program` (execve). */
export function tracedUse(log: string, program: string): { syscalls: Set<string>; families: Set<string> } {
  const lines = log.split('\n');
  const start = lines.findIndex((l) => l.includes(`execve("${program}"`) && / = 0$/.test(l));
  if (start < 0) throw new Error(`the trace has no successful execve of ${program}`);
  const syscalls = new Set<string>();
  const families = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    const m = /^\d+\s+(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()/.exec(line);
    const name = m?.[1] ?? m?.[2];
    if (name !== undefined) syscalls.add(name);
    const fam = /^\d+\s+socket\((AF_[A-Z0-9]+)/.exec(line)?.[1];
    if (fam !== undefined) families.add(fam);
  }
  return { syscalls, families };
}
