// Linux capabilities: the ones xlb needs, and which of them this process has (CapEff in
// /proc/self/status), so that a refusal by the kernel can name what is missing.
//
// The set, found by running xlb as uid 65534 with capabilities taken away one at a time
// (test/lab/least-privilege.test.ts) on Linux 6.18:
//   CAP_BPF        create maps and BTF, load programs (bpf(2))
//   CAP_NET_ADMIN  load XDP and TC programs, attach them (bpf_link, netlink: XDP, tcx, clsact
//                  filters), policy routes of dsr health checks (`ip rule`, `ip route`)
//   CAP_PERFMON    the verifier's trusted mode: without it, arithmetic on packet pointers with
//                  a variable offset (every header after an optional VLAN tag or IPv4 options)
//                  and pointer subtraction are refused with EACCES
// Not needed: CAP_SYS_RESOURCE (kernels >= 5.11 charge BPF memory to the memory cgroup, not to
// RLIMIT_MEMLOCK), CAP_NET_RAW (no raw sockets: health probes are UDP, TCP and HTTP),
// CAP_SYS_ADMIN (only to replace another tool's XDP bpf_link with --force: links are found by id).
import { readFileSync } from 'node:fs';

/** Capability numbers (linux/capability.h) of the ones xlb talks about. */
export const CAP_NUMBERS = {
  CAP_CHOWN: 0,
  CAP_SETPCAP: 8,
  CAP_NET_RAW: 13,
  CAP_NET_ADMIN: 12,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

export type CapName = keyof typeof CAP_NUMBERS;

/** What `xlb run` and `xlb daemon` need, exactly (contrib/xlb.service grants these). */
export const XLB_CAPS: readonly CapName[] = ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON'];

/** The capability names set in a hexadecimal mask as /proc/PID/status shows it. */
export function capsFromMask(hex: string): Set<CapName> {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  const out = new Set<CapName>();
  for (const [name, bit] of Object.entries(CAP_NUMBERS) as [CapName, number][]) {
    if ((mask >> BigInt(bit)) & 1n) out.add(name);
  }
  return out;
}

/** The effective capabilities of this process; undefined where /proc cannot tell. */
export function effectiveCaps(statusText?: string): Set<CapName> | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(text);
  return m ? capsFromMask(m[1]!) : undefined;
}

/** CAP_SYS_ADMIN still grants what CAP_BPF and CAP_PERFMON were split from (Linux 5.8). */
const IMPLIED_BY_SYS_ADMIN: ReadonlySet<CapName> = new Set(['CAP_BPF', 'CAP_PERFMON']);

/** Those of `needed` this process lacks (none when it cannot tell). */
export function missingCaps(
  needed: readonly CapName[],
  have: ReadonlySet<CapName> | undefined = effectiveCaps(),
): CapName[] {
  if (have === undefined) return [];
  return needed.filter((c) => !have.has(c) && !(IMPLIED_BY_SYS_ADMIN.has(c) && have.has('CAP_SYS_ADMIN')));
}

/** 'CAP_BPF', 'CAP_BPF and CAP_PERFMON', 'CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON'. */
export function capList(caps: readonly string[]): string {
  if (caps.length <= 1) return caps.join('');
  return `${caps.slice(0, -1).join(', ')} and ${caps[caps.length - 1]}`;
}

/** How to grant the set without root, for hints. */
export const GRANT_HINT =
  `run xlb as root, or grant ${capList(XLB_CAPS)} (systemd: AmbientCapabilities=${XLB_CAPS.join(' ')}, ` +
  'as contrib/xlb.service does; see "Least privilege" in the README)';
