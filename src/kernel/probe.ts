// Kernel feature probes: each asks the running kernel one yes/no question as cheaply as it
// can, and never attaches anything to an interface. Program types, map types and helpers
// go through libbpf's own probes; map flags, tcx and XDP links are asked directly, with
// arguments the kernel can only refuse (the answer is in *how* it refuses). A probe that
// cannot tell (no privilege, a kernel error it does not expect) throws a KernelError
// rather than answer "no": a missing capability must not read as an old kernel.
import { constants, release } from 'node:os';
import { kernelError } from './errors.js';
import { libbpf, withLibbpfLog } from './libbpf.js';
import { ProgType, loadConstantProgram } from './program.js';

const E = constants.errno;

const BPF_XDP = 37; // enum bpf_attach_type
const BPF_TCX_INGRESS = 46;
const XDP_FLAGS_HW_MODE = 1 << 3;

/** The running kernel's release (uname -r). */
export function kernelRelease(): string {
  return release();
}

/** A libbpf probe's answer: 1 yes, 0 no, < 0 it could not tell. */
function answer(what: string, rc: number): boolean {
  if (rc < 0) throw kernelError(`probe ${what}`, rc);
  return rc === 1;
}

/** Runs a libbpf probe with libbpf's own messages (it warns on "no") kept quiet. */
const quietly = (fn: () => number): number =>
  withLibbpfLog(
    () => undefined,
    () => fn(),
  );

/**
 * Throws (with the errno and its hint) unless this process may load BPF programs: libbpf's
 * probes answer "no" when they are not allowed to ask, so run this first.
 */
export function checkProbePrivilege(): void {
  loadConstantProgram(ProgType.SCHED_CLS, 0, 'xlb_probe').close();
}

/** Whether the kernel loads programs of this type (enum bpf_prog_type). */
export function probeProgType(type: number): boolean {
  return answer(
    `program type ${type}`,
    quietly(() => libbpf().libbpf_probe_bpf_prog_type(type, null)),
  );
}

/** Whether the kernel creates maps of this type (enum bpf_map_type). */
export function probeMapType(type: number): boolean {
  return answer(
    `map type ${type}`,
    quietly(() => libbpf().libbpf_probe_bpf_map_type(type, null)),
  );
}

/** Whether programs of type `progType` may call helper `helperId` (enum bpf_func_id). */
export function probeHelper(progType: number, helperId: number): boolean {
  return answer(
    `helper ${helperId} in program type ${progType}`,
    quietly(() => libbpf().libbpf_probe_bpf_helper(progType, helperId, null)),
  );
}

/** Whether the kernel creates a one-entry map of `type` (u32 -> u32) with `flags`: unknown flags are EINVAL. */
export function probeMapFlags(type: number, flags: number): boolean {
  const b = libbpf();
  const fd = b.bpf_map_create(type, 'xlb_probe', 4, 4, 1, { sz: 48, map_flags: flags });
  if (fd >= 0) {
    b.close(fd);
    return true;
  }
  if (-fd === E.EINVAL) return false;
  throw kernelError(`probe map flags 0x${flags.toString(16)}`, fd);
}

/**
 * A do-nothing program of `type` for the link probes. Loading it is also the probe of
 * privilege: without CAP_BPF the libbpf probes would answer "no" to everything.
 */
function withProbeProgram<T>(type: number, fn: (fd: number) => T): T {
  const prog = loadConstantProgram(type, 0, 'xlb_probe');
  try {
    return fn(prog.fd);
  } finally {
    prog.close();
  }
}

/**
 * tcx (Linux 6.6): a TC link to an interface that does not exist. A kernel with tcx looks
 * the interface up and answers ENODEV; one without does not know the attach type: EINVAL.
 */
export function probeTcx(): boolean {
  return withProbeProgram(ProgType.SCHED_CLS, (progFd) => {
    const rc = libbpf().bpf_link_create(progFd, 0, BPF_TCX_INGRESS, null);
    if (rc >= 0) {
      libbpf().close(rc); // cannot happen (no interface 0); closing the link detaches it
      return true;
    }
    if (-rc === E.ENODEV) return true;
    if (-rc === E.EINVAL) return false;
    throw kernelError('probe tcx (bpf_link_create, BPF_TCX_INGRESS)', rc);
  });
}

/**
 * bpf_link for XDP (Linux 5.9): an XDP link to the loopback device in offload (hardware)
 * mode, which lo can never take. A kernel with XDP links reaches the device and refuses
 * the mode: EOPNOTSUPP; one without does not know the attach type: EINVAL.
 */
export function probeXdpLink(): boolean {
  const lo = libbpf().if_nametoindex('lo') || 1;
  return withProbeProgram(ProgType.XDP, (progFd) => {
    const rc = libbpf().bpf_link_create(progFd, lo, BPF_XDP, { sz: 64, flags: XDP_FLAGS_HW_MODE });
    if (rc >= 0) {
      libbpf().bpf_link_detach(rc); // cannot happen (lo has no offload); never leave it attached
      libbpf().close(rc);
      return true;
    }
    if (-rc === E.EOPNOTSUPP) return true;
    if (-rc === E.EINVAL) return false;
    throw kernelError('probe XDP links (bpf_link_create, BPF_XDP)', rc);
  });
}

/** Whether a kernel release string (uname -r) is at least `version` ('6.6'); undefined when unreadable. */
export function releaseAtLeast(releaseText: string, version: string): boolean | undefined {
  const m = /^(\d+)\.(\d+)/.exec(releaseText);
  const v = /^(\d+)\.(\d+)$/.exec(version);
  if (!m || !v) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  const [c, d] = [Number(v[1]), Number(v[2])];
  return a > c || (a === c && b >= d);
}
