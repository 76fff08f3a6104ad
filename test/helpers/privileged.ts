import { spawnSync } from 'node:child_process';
// Privileged tests run as root. Elsewhere they skip and say why; under CI (CI=true)
// a missing privilege is a failure, so that a skip can never hide a regression.
export function rootSkip(): false | string {
  if (process.getuid?.() === 0) return false;
  const why =
    'needs root (CAP_BPF + CAP_NET_ADMIN to load XDP programs and make namespaces): run `npm test` as root';
  if (process.env.CI) throw new Error(`CI=true but ${why}`);
  return why;
}

/**
 * For tests that need a program the bootstrap installs (systemd-analyze, promtool, …): a
 * reason to skip when it is missing, outside CI; under CI a missing tool is a failure.
 */
export function toolSkip(tool: string, pkg: string): false | string {
  const found = spawnSync(tool, ['--version'], { stdio: 'ignore' }).error === undefined;
  if (found) return false;
  const why = `needs ${tool} (Debian package ${pkg}; bash scripts/bootstrap.sh installs it)`;
  if (process.env.CI) throw new Error(`CI=true but ${why}`);
  return why;
}
