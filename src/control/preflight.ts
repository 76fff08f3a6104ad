// Checks of the host that the data plane depends on but cannot fix itself; they
// produce warnings that name the fix.
import { readFileSync } from 'node:fs';
import type { Config } from '../model/config.js';

export type SysctlReader = (path: string) => string | undefined;

const readProc: SysctlReader = (path) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * nat, fullnat and dsr route packets with bpf_fib_lookup, which refuses when IP
 * forwarding is off on the receiving interface (the packets are then passed to the
 * stack untouched and counted as pass_no_route).
 */
export function forwardingWarnings(
  config: Config,
  interfaces: string[],
  read: SysctlReader = readProc,
): string[] {
  const routed = config.services.filter((s) => s.mode !== 'local');
  const families = new Set(routed.map((s) => s.family));
  const out: string[] = [];
  for (const ifname of interfaces) {
    if (ifname === 'lo') continue;
    for (const fam of families) {
      const key = fam === 4 ? `net.ipv4.conf.${ifname}.forwarding` : `net.ipv6.conf.${ifname}.forwarding`;
      const value = read(`/proc/sys/${key.replace(/\./g, '/')}`);
      if (value === '0') {
        const names = routed.filter((s) => s.family === fam).map((s) => s.name);
        out.push(
          `IPv${fam} forwarding is off on ${ifname}: services ${names.join(', ')} cannot route their packets ` +
            `(they are passed to the stack, counted as pass_no_route); enable it: sysctl -w ${key}=1`,
        );
      }
    }
  }
  return out;
}
