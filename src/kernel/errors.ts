// The kernel layer's errors. Every failure of a kernel operation is a KernelError
// carrying the operation, errno (number and name) and a hint that says what to do.
// A rejected program is a VerifierError whose message ends with the useful tail of
// the verifier log; the whole log stays on the error.
import { constants } from 'node:os';
import { type CapName, GRANT_HINT, capList, missingCaps } from '../util/caps.js';
import { pinDirFix } from '../util/host.js';
import { accessHint, whoAmI } from '../util/users.js';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Where Linux has two names for one number, use the one its BPF code returns.
errnoNames.set(constants.errno.EOPNOTSUPP, 'EOPNOTSUPP');
errnoNames.set(constants.errno.EAGAIN, 'EAGAIN');

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

const E = constants.errno;

const CLASSIC_TC_HINT =
  'classic TC needs the clsact qdisc and the bpf classifier (CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF); ' +
  'an `ingress` qdisc on the interface blocks clsact: replace it (tc qdisc del dev IF ingress)';

/**
 * The capabilities an operation needs, by its kind: the kernel refuses bpf() commands without
 * CAP_BPF, XDP and TC programs (their loading too) and netlink changes of links and routes
 * without CAP_NET_ADMIN, and finding objects by id without CAP_SYS_ADMIN.
 */
export function capsForOp(op: string): CapName[] {
  if (/by id|by_id|next_id|setns/i.test(op)) return ['CAP_SYS_ADMIN'];
  if (/^load |create|prog_load|BTF/i.test(op)) return ['CAP_BPF', 'CAP_NET_ADMIN'];
  if (/attach|detach|update .*link|xdp|tcx|clsact|\btc\b/i.test(op)) return ['CAP_NET_ADMIN'];
  return ['CAP_BPF'];
}

/** Names the capabilities an operation needs that this process lacks; undefined if none is. */
function missingCapsHint(op: string, have?: ReadonlySet<CapName>): string | undefined {
  const missing = missingCaps(capsForOp(op), have);
  if (missing.length === 0) return undefined;
  const need = missing.includes('CAP_SYS_ADMIN')
    ? 'run this step as root (it needs CAP_SYS_ADMIN, which xlb otherwise does without)'
    : GRANT_HINT;
  return `${missingPhrase(missing)}: ${need}`;
}

/** 'CAP_BPF is missing (xlb runs as uid 65534 (nobody) without it)'. */
function missingPhrase(missing: readonly CapName[]): string {
  const [verb, pronoun] = missing.length === 1 ? ['is', 'it'] : ['are', 'them'];
  return `${capList(missing)} ${verb} missing (xlb runs as ${whoAmI()} without ${pronoun})`;
}

/**
 * What to do about an errno, for an operation of the given kind. `have`: the effective
 * capabilities (default: this process's).
 */
export function hintFor(op: string, errno: number, have?: ReadonlySet<CapName>): string {
  switch (errno) {
    case E.EPERM:
    case E.EACCES:
      return (
        missingCapsHint(op, have) ??
        'the kernel refused although xlb has the capabilities it needs: check kernel.unprivileged_bpf_disabled, ' +
          'lockdown mode and seccomp/LSM policy (containers often block bpf())'
      );
    case E.ENOSYS:
      return 'this kernel has no BPF system call (built without CONFIG_BPF_SYSCALL): xlb needs Linux >= 5.15 with BPF enabled';
    case E.ENOMEM:
      return 'the kernel could not allocate the map or program: lower flow_table_size, or check the memory cgroup limit';
    case E.E2BIG:
      return 'a size is beyond what this kernel accepts (map too large, or program too complex)';
    case E.EOPNOTSUPP:
      if (/xdp/i.test(op)) {
        return "this interface's driver has no native XDP: use --mode generic (or auto, which falls back)";
      }
      return /classic TC|clsact/.test(op)
        ? CLASSIC_TC_HINT
        : 'this kernel does not support the operation: xlb needs Linux >= 5.15';
    case E.EBUSY:
      return 'another program already holds this attach point: see `xlb run --force` or detach it with ip link';
    case E.ENODEV:
    case E.ENXIO:
      return 'no such network interface: `ip link` lists them';
    case E.EEXIST:
      return 'the entry or pin already exists: remove it first';
    case E.ENOENT:
      return op.includes('pin') || op.includes('obj_get')
        ? 'nothing is pinned there: is bpffs mounted (mount -t bpf bpf /sys/fs/bpf) and is xlb running?'
        : 'no such entry';
    case E.EAGAIN:
      return /^load /.test(op)
        ? 'the verifier gave up because signals kept arriving while it ran (libbpf retried 5 times): ' +
            'a profiler (node --cpu-prof) or a fast timer interrupts it; load without them'
        : 'the kernel is busy: try again';
    case E.EINVAL:
      return /classic TC|clsact/.test(op)
        ? CLASSIC_TC_HINT
        : 'the kernel rejected the arguments: this kernel may be too old for this feature (xlb needs Linux >= 5.15)';
    default:
      return '';
  }
}

export class KernelError extends Error {
  override readonly name: string = 'KernelError';
  readonly code: string;
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly hint: string = hintFor(op, errno),
    detail?: string,
  ) {
    const code = errnoName(errno);
    super(`${op}: ${detail ?? code}${detail ? ` (${code})` : ''}${hint ? ` — ${hint}` : ''}`);
    this.code = code;
  }
}

/** Builds a KernelError from a libbpf return value (-errno) or a saved errno. */
export function kernelError(op: string, rc: number, detail?: string): KernelError {
  const errno = Math.abs(rc) || E.EINVAL;
  return new KernelError(op, errno, hintFor(op, errno), detail);
}

/** Throws unless `rc` is >= 0; returns it otherwise. */
export function check(op: string, rc: number): number {
  if (rc < 0) throw kernelError(op, rc);
  return rc;
}

/**
 * A failed pin (`make`) or open of a pin (`open`): EACCES/EPERM are the file's or the directory's
 * permissions (bpffs is a file system; opening a pin needs no capability), so the hint names the
 * path, its owner and mode, and the fix: for a pin to make, giving the directory to xlb's user;
 * for one to open, running as its owner (or reading the daemon's API instead).
 */
export function pinError(op: string, rc: number, path: string, purpose: 'make' | 'open'): KernelError {
  const errno = Math.abs(rc) || E.EINVAL;
  if (errno !== E.EACCES && errno !== E.EPERM) return kernelError(op, rc);
  const fix =
    purpose === 'make'
      ? pinDirFix()
      : "run this as root or as the pin's owner, ask the daemon over its API instead (xlb top, " +
        `xlb service ls), or give xlb's pins to this user: ${pinDirFix()}`;
  return new KernelError(op, errno, accessHint(path, fix));
}

/** The capability whose absence makes the verifier refuse xlb's programs with EACCES. */
const VERIFIER_CAP: CapName = 'CAP_PERFMON';

export class VerifierError extends KernelError {
  override readonly name = 'VerifierError';
  constructor(
    op: string,
    errno: number,
    readonly program: string,
    readonly log: string,
  ) {
    super(op, errno, verifierHint(program, errno, log), `program '${program}' rejected by the verifier`);
  }
}

/**
 * Without CAP_PERFMON the verifier checks a program as if an unprivileged user loaded it: it
 * refuses pointer arithmetic it would accept otherwise, with EACCES ("pointer -= pointer
 * prohibited", "pointer arithmetic with it prohibited for !root"). That is no bug of the
 * program, so the hint says so first.
 */
function verifierHint(program: string, errno: number, log: string): string {
  const tail = `its log ends with:\n${verifierTail(log)}`;
  if (errno === E.EACCES && missingCaps([VERIFIER_CAP]).length > 0) {
    return (
      `${missingPhrase([VERIFIER_CAP])}: without it the verifier applies the rules for unprivileged users ` +
      `and refuses the arithmetic on packet pointers that xlb's programs do; ${GRANT_HINT}; ${tail}`
    );
  }
  return `the verifier rejected program '${program}'; ${tail}`;
}

/** The last lines of a verifier log that say why (skipping the statistics footer). */
export function verifierTail(log: string, lines = 12): string {
  const all = log
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/^(processed \d+ insns|verification time|stack depth)/.test(l));
  return all
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

/** An interface already carries an XDP program that is not ours. */
export class XdpBusyError extends Error {
  override readonly name = 'XdpBusyError';
  constructor(
    readonly ifname: string,
    readonly progId: number,
    readonly progName: string,
    readonly mode: string,
  ) {
    super(
      `interface ${ifname} already has XDP program '${progName}' (id ${progId}, ${mode} mode): ` +
        `detach it (ip link set dev ${ifname} xdp off) or pass --force to replace it`,
    );
  }
}

/** A named network interface does not exist (in this network namespace). */
export class InvalidInterfaceNameError extends Error {
  override readonly name = 'InvalidInterfaceNameError';
  constructor(
    readonly ifname: string,
    readonly problem: string,
  ) {
    super(`invalid interface name ${JSON.stringify(ifname)}: ${problem}; \`ip link\` lists the interfaces`);
  }
}

export class NoSuchInterfaceError extends Error {
  override readonly name = 'NoSuchInterfaceError';
  constructor(readonly ifname: string) {
    super(`interface '${ifname}' does not exist in this network namespace: \`ip link\` lists the interfaces`);
  }
}
