// Building the Debian package in tests: `npm run package` (scripts/package-deb.js) into a
// directory of the test's own, from this checkout or another one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh } from '../../src/lab/exec.js';
import { pidAlive } from '../../src/util/host.js';

/** The checkout these tests were compiled from. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface Build {
  deb: string;
  version: string;
}

/** Builds the package of checkout `src` into `out` (env: XLB_DEB_VERSION, SOURCE_DATE_EPOCH, …). */
export function buildPackage(src: string, out: string, env: NodeJS.ProcessEnv = {}): Build {
  const r = spawnSync(process.execPath, [join(src, 'scripts/package-deb.js'), '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 15 * 60_000,
  });
  assert.equal(r.status, 0, `package-deb.js failed:\n${r.stderr}`);
  const deb = r.stdout.trim().split('\n').pop()!;
  return { deb, version: sh('dpkg-deb', ['-f', deb, 'Version']).trim() };
}

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

const TMP_PREFIX = 'xlbt-pkg-';

/**
 * A scratch directory for packages (xlbt-pkg-PID-…, tens of MB each). Those of runs whose
 * process is gone (killed by the runner's timeout before their after hook) are removed first.
 */
export function packageScratch(): string {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(TMP_PREFIX))) {
    const pid = Number(name.slice(TMP_PREFIX.length).split('-')[0]);
    if (!(Number.isInteger(pid) && pid > 0 && pidAlive(pid))) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
  return mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${process.pid}-`));
}
