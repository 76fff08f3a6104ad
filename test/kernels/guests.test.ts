// The suite on Debian's own kernels: each kernel of XLB_KERNELS (default: 6.1, Debian 12's
// stock kernel, and 6.12, its optional one) is booted once in a QEMU guest (guest.ts) that
// runs the groups of suite.ts against this checkout's build, and each group's TAP report
// is checked here: no failure, no cancelled test, at least one test. `npm run
// test:kernels` runs only this file; README "Supported kernels" says how to run more.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { rootSkip, toolSkip } from '../helpers/privileged.js';
import { SERIES, bootGuest, prepareKernel, resolvePackage, type GuestRun } from './guest.js';
import {
  groupName,
  guestScale,
  jobScript,
  selectGroups,
  statusFile,
  tapFile,
  tapSummary,
  type TapSummary,
} from './suite.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const minutes = Number(process.env.XLB_KERNEL_TIMEOUT_MIN ?? 40);

function skipReason(): false | string {
  // The guest runs this checkout's tests; never a guest in a guest.
  if (process.env.XLB_GUEST) return 'already inside a kernel guest';
  return (
    rootSkip() ||
    toolSkip('qemu-system-x86_64', 'qemu-system-x86') ||
    toolSkip('busybox', 'busybox-static') ||
    toolSkip('depmod', 'kmod')
  );
}

function selectedSeries() {
  const wanted = (process.env.XLB_KERNELS ?? '').split(/[\s,]+/).filter(Boolean);
  const unknown = wanted.filter((w) => !SERIES.some((s) => s.name === w));
  if (unknown.length)
    throw new Error(
      `XLB_KERNELS: unknown kernel ${unknown.join(', ')}: use ${SERIES.map((s) => s.name).join(', ')}`,
    );
  return wanted.length ? SERIES.filter((s) => wanted.includes(s.name)) : SERIES;
}

const groups = selectGroups(process.env.XLB_KERNEL_TESTS);
const guestPath = [
  ...new Set([dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']),
]
  .filter(Boolean)
  .join(':');
const report: string[] = [];

interface GroupResult {
  summary: TapSummary | undefined;
  /** The exit status run-tests.js wrote, or undefined when it never finished. */
  status: string | undefined;
}

for (const series of selectedSeries()) {
  describe(`Linux ${series.name} (${series.role}) in a QEMU guest`, { skip: skipReason() }, () => {
    let guest: GuestRun | undefined;
    const results: GroupResult[] = [];
    const tail = (g: GuestRun) => g.console.split('\n').slice(-40).join('\n');

    before(
      async () => {
        const kernel = prepareKernel(series, resolvePackage(series));
        guest = await bootGuest(kernel, {
          job: jobScript(repo, groups, guestPath, guestScale(process.env)),
          timeoutMs: minutes * 60_000,
          onConsole: process.env.XLB_KERNEL_CONSOLE ? (t) => process.stderr.write(t) : undefined,
        });
        const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
        groups.forEach((_, i) => {
          const tap = read(join(guest!.dir, tapFile(i)));
          results.push({
            summary: tap === undefined ? undefined : tapSummary(tap),
            status: read(join(guest!.dir, statusFile(i)))?.trim(),
          });
        });
      },
      { timeout: minutes * 60_000 + 600_000 },
    );

    after(() => {
      if (!guest) return;
      const k = guest.kernel;
      let tests = 0;
      let passed = 0;
      for (const { summary: s } of results) {
        tests += s?.tests ?? 0;
        passed += s?.pass ?? 0;
      }
      const ok = guest.status === 0 && results.every((r) => r.status === '0');
      report.push(
        `${k.package} ${k.version} (${k.release}): ${tests} tests, ${passed} passed, ${tests - passed} not; ` +
          `boot ${((guest.bootMs ?? NaN) / 1000).toFixed(1)} s, total ${(guest.totalMs / 1000).toFixed(0)} s` +
          (ok ? '' : `; console and reports kept in ${guest.dir}`),
      );
      if (ok) rmSync(guest.dir, { recursive: true, force: true });
    });

    it('boots, runs every group and powers off', () => {
      assert.ok(guest, 'the guest never started');
      assert.ok(
        !guest.timedOut,
        `the guest was still running after ${minutes} min (XLB_KERNEL_TIMEOUT_MIN); console:\n${tail(guest)}`,
      );
      assert.notEqual(guest.status, null, `the job did not finish (no status); console:\n${tail(guest)}`);
      assert.ok(guest.bootMs !== null, 'the job never started');
    });

    groups.forEach((g, i) => {
      it(`${groupName(g)}: ${g.what}`, (t) => {
        assert.ok(guest, 'the guest never started');
        const r = results[i];
        const s = r?.summary;
        assert.ok(s, `no TAP report from group ${i} in ${guest.dir}; console:\n${tail(guest)}`);
        t.diagnostic(
          `${s.tests} tests: ${s.pass} passed, ${s.fail} failed, ${s.cancelled} cancelled, ${s.skipped} skipped, ${s.todo} todo` +
            (s.tcPaths.length ? `; TC: ${s.tcPaths.join(', ')}` : ''),
        );
        const where = `on ${guest.kernel.release} (console and reports in ${guest.dir})`;
        const failed = s.failures.map(
          (f, k) => `${f}\n    ${(s.errors[k] || '(no error text)').replace(/\n/g, '\n    ')}`,
        );
        assert.deepEqual(s.failures, [], `failed ${where}:\n  ${failed.join('\n  ')}`);
        assert.equal(s.cancelled, 0, `cancelled tests ${where}`);
        assert.equal(r.status, '0', `the test runner exited with ${r.status ?? 'nothing'} ${where}`);
        assert.ok(s.tests > 0, 'the group ran no test');
        // The attach path is the one the probe picks on this kernel, never forced.
        if (g.tcLabelled || s.tcPaths.length) assert.deepEqual(s.tcPaths, [series.tc], `TC paths ${where}`);
      });
    });
  });
}

after(() => {
  if (report.length) console.log(`kernel guests:\n  ${report.join('\n  ')}`);
});
